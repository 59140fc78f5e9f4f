package dev.backchannel.client;

import backchannel.v1.DeliveryServiceGrpc;
import backchannel.v1.FeedbackOuterClass.Feedback;
import backchannel.v1.FeedbackServiceGrpc;
import backchannel.v1.FeedbackServiceOuterClass.EventFilter;
import backchannel.v1.FeedbackServiceOuterClass.SendFeedbackRequest;
import backchannel.v1.FeedbackServiceOuterClass.SendFeedbackResponse;
import backchannel.v1.RecipientServiceGrpc;
import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * A thin client over Backchannel's generated stubs: {@link #sendFeedback} with a request id
 * and safe retries, {@link #followEvents} that reconnects and resumes after its last cursor.
 * The generated blocking stubs are public fields for everything else.
 */
public final class BackchannelClient implements AutoCloseable {
  public final FeedbackServiceGrpc.FeedbackServiceBlockingStub feedback;
  public final RecipientServiceGrpc.RecipientServiceBlockingStub recipients;
  public final DeliveryServiceGrpc.DeliveryServiceBlockingStub deliveries;
  private final ManagedChannel owned;
  private final RetryPolicy retry;

  /** A plaintext client for {@code target}, e.g. {@code "127.0.0.1:50051"}. */
  public static BackchannelClient connect(String target) {
    ManagedChannel channel = ManagedChannelBuilder.forTarget(target).usePlaintext().build();
    return new BackchannelClient(channel, channel, RetryPolicy.DEFAULT);
  }

  /**
   * A client for {@code target} over TLS with {@code tls} (the CAs to trust, and a client
   * certificate for a server that requires one), without a token.
   *
   * @throws IOException when a file cannot be read
   */
  public static BackchannelClient connect(String target, TlsFiles tls) throws IOException {
    return connect(target, tls, null);
  }

  /**
   * A client for {@code target}: over TLS with {@code tls} ({@code null}: plaintext), sending
   * {@code authorization: Bearer <token>} with every call, the token asked of {@code token}
   * for each ({@code null}: none).
   *
   * @throws IOException when a TLS file cannot be read
   */
  public static BackchannelClient connect(String target, TlsFiles tls, Supplier<String> token)
      throws IOException {
    ChannelCredentials credentials =
        tls == null ? InsecureChannelCredentials.create() : tls.credentials();
    ManagedChannelBuilder<?> builder = Grpc.newChannelBuilder(target, credentials);
    if (token != null) {
      builder.intercept(new BearerToken(token));
    }
    ManagedChannel channel = builder.build();
    return new BackchannelClient(channel, channel, RetryPolicy.DEFAULT);
  }

  /**
   * A client over a channel the caller built (TLS, interceptors, call credentials...) and
   * closes.
   */
  public static BackchannelClient over(Channel channel, RetryPolicy retry) {
    return new BackchannelClient(channel, null, retry == null ? RetryPolicy.DEFAULT : retry);
  }

  private BackchannelClient(Channel channel, ManagedChannel owned, RetryPolicy retry) {
    this.feedback = FeedbackServiceGrpc.newBlockingStub(channel);
    this.recipients = RecipientServiceGrpc.newBlockingStub(channel);
    this.deliveries = DeliveryServiceGrpc.newBlockingStub(channel);
    this.owned = owned;
    this.retry = retry;
  }

  /**
   * Stores feedback for delivery to {@code recipientIds} (empty: every recipient whose
   * subscription matches). UNAVAILABLE and DEADLINE_EXCEEDED are retried with backoff and
   * jitter, always with the same request id, so a retry never stores it twice.
   *
   * @throws StatusRuntimeException the last failure; see {@link BackchannelErrors}
   */
  public SendFeedbackResponse sendFeedback(Feedback feedback, List<String> recipientIds, SendOptions options) {
    RetryPolicy policy = options != null && options.retry() != null ? options.retry() : retry;
    String requestId = options != null ? options.requestId() : null;
    if (requestId == null || requestId.isEmpty()) {
      requestId = UUID.randomUUID().toString();
    }
    SendFeedbackRequest request =
        SendFeedbackRequest.newBuilder()
            .setRequestId(requestId)
            .setFeedback(feedback)
            .addAllRecipientIds(recipientIds == null ? List.of() : recipientIds)
            .build();
    int attempts = Math.max(policy.maxAttempts(), 1);
    for (int attempt = 1; ; attempt++) {
      try {
        FeedbackServiceGrpc.FeedbackServiceBlockingStub stub = this.feedback;
        if (!policy.attemptTimeout().isZero()) {
          stub = stub.withDeadlineAfter(policy.attemptTimeout().toNanos(), TimeUnit.NANOSECONDS);
        }
        return stub.sendFeedback(request);
      } catch (StatusRuntimeException e) {
        Status.Code code = e.getStatus().getCode();
        boolean retryable = code == Status.Code.UNAVAILABLE || code == Status.Code.DEADLINE_EXCEEDED;
        if (!retryable || attempt >= attempts) {
          throw e;
        }
        try {
          Thread.sleep(policy.backoff(attempt - 1).toMillis());
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          throw e;
        }
      }
    }
  }

  /** {@link #sendFeedback(Feedback, List, SendOptions)} with a new request id. */
  public SendFeedbackResponse sendFeedback(Feedback feedback, List<String> recipientIds) {
    return sendFeedback(feedback, recipientIds, null);
  }

  /**
   * Follows feedback-sent events matching {@code filter}, after {@code afterCursor}
   * ({@code null} or empty: from now, or from the beginning with {@link
   * FollowOptions#fromBeginning()}). Iterate it; close it to stop.
   */
  public EventFollower followEvents(EventFilter filter, String afterCursor, FollowOptions options) {
    return new EventFollower(feedback, filter, afterCursor, options);
  }

  @Override
  public void close() {
    if (owned != null) {
      owned.shutdownNow();
      try {
        owned.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
