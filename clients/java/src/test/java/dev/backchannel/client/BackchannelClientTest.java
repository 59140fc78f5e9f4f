package dev.backchannel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import backchannel.v1.Event.FeedbackSentEvent;
import backchannel.v1.Event.ProcessingStatus;
import backchannel.v1.FeedbackOuterClass.Attribution;
import backchannel.v1.FeedbackOuterClass.Feedback;
import backchannel.v1.FeedbackOuterClass.FeedbackKind;
import backchannel.v1.FeedbackOuterClass.LeadReference;
import backchannel.v1.FeedbackOuterClass.Money;
import backchannel.v1.FeedbackOuterClass.Outcome;
import backchannel.v1.FeedbackOuterClass.QualityScores;
import backchannel.v1.FeedbackServiceOuterClass.EventFilter;
import backchannel.v1.FeedbackServiceOuterClass.SendFeedbackRequest;
import backchannel.v1.FeedbackServiceOuterClass.SendFeedbackResponse;
import backchannel.v1.RecipientOuterClass.Recipient;
import backchannel.v1.RecipientOuterClass.RecipientType;
import backchannel.v1.RecipientServiceOuterClass.CreateRecipientRequest;
import backchannel.v1.RecipientServiceOuterClass.ListRecipientsRequest;
import com.google.protobuf.Struct;
import com.google.protobuf.Timestamp;
import com.google.protobuf.Value;
import com.google.rpc.BadRequest;
import com.sun.net.httpserver.HttpServer;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 3, unit = TimeUnit.MINUTES)
class BackchannelClientTest {
  private static TestServer server;
  private static final ExecutorService readers = Executors.newCachedThreadPool();

  @BeforeAll
  static void startServer() throws Exception {
    server = TestServer.start(0, "none", true);
  }

  @AfterAll
  static void stopServer() {
    readers.shutdownNow();
    if (server != null) {
      server.close();
    }
  }

  static Timestamp at(String instant) {
    Instant t = Instant.parse(instant);
    return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
  }

  /** The brief's example: a conversion worth USD 1250.00. */
  static Feedback exampleFeedback(String leadId) {
    return Feedback.newBuilder()
        .setKind(FeedbackKind.FEEDBACK_KIND_CONVERSION)
        .setLead(LeadReference.newBuilder().setLeadId(leadId).setSourceId("SOURCE_ABC"))
        .setFeedbackTime(at("2024-01-15T10:30:00Z"))
        .setOutcome(
            Outcome.newBuilder()
                .setStatus("converted")
                .setOccurTime(at("2024-01-14T15:45:00Z"))
                .setValue(Money.newBuilder().setCurrencyCode("USD").setAmount("1250.00"))
                .setProduct("home_insurance"))
        .setQuality(
            QualityScores.newBuilder()
                .setOverallScore(85)
                .putDimensions("data_quality", 90)
                .putDimensions("conversion_likelihood", 80)
                .putDimensions("customer_satisfaction", 88))
        .setAttribution(
            Attribution.newBuilder()
                .setCampaign("winter_2024")
                .setCreative("banner_v2")
                .setKeyword("home insurance quotes"))
        .build();
  }

  static String suffix() {
    return UUID.randomUUID().toString().substring(0, 8);
  }

  /** A webhook endpoint on 127.0.0.1 answering 204, keeping each webhook-id. */
  static final class Receiver implements AutoCloseable {
    final HttpServer http;
    final List<String> webhookIds = new CopyOnWriteArrayList<>();

    Receiver() throws Exception {
      http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
      http.createContext(
          "/",
          exchange -> {
            webhookIds.add(exchange.getRequestHeaders().getFirst("webhook-id"));
            exchange.getRequestBody().readAllBytes();
            exchange.sendResponseHeaders(204, -1);
            exchange.close();
          });
      http.start();
    }

    String url() {
      return "http://127.0.0.1:" + http.getAddress().getPort() + "/feedback";
    }

    @Override
    public void close() {
      http.stop(0);
    }
  }

  static String createWebhookRecipient(BackchannelClient client, String url) {
    String id = "java-acme-" + suffix();
    client.recipients.createRecipient(
        CreateRecipientRequest.newBuilder()
            .setRecipient(
                Recipient.newBuilder()
                    .setId(id)
                    .setRecipientType(RecipientType.RECIPIENT_TYPE_SOURCE)
                    .setTransport("webhook")
                    .setFormat("json")
                    .setTransportSettings(
                        Struct.newBuilder().putFields("url", Value.newBuilder().setStringValue(url).build())))
            .build());
    return id;
  }

  /** The follower's next feedback-sent event, waiting at most {@code within}. */
  static FeedbackSentEvent nextEvent(EventFollower follower, Duration within) throws Exception {
    return readers
        .submit(
            () -> {
              while (true) {
                var item = follower.next();
                if (item.hasEvent()) {
                  return item.getEvent();
                }
              }
            })
        .get(within.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Test
  void sendsTheExampleFeedbackAndFollowsItsEvent() throws Exception {
    try (BackchannelClient client = BackchannelClient.connect(server.address, server.token());
        Receiver hook = new Receiver()) {
      String recipient = createWebhookRecipient(client, hook.url());
      try (EventFollower follower =
          client.followEvents(
              EventFilter.newBuilder().addRecipientIds(recipient).build(),
              null,
              FollowOptions.replayingFromBeginning())) {
        SendFeedbackResponse sent = client.sendFeedback(exampleFeedback("LC123456789"), List.of(recipient));
        assertFalse(sent.getFeedback().getId().isEmpty());
        assertFalse(sent.getFeedback().getRequestId().isEmpty(), "a request id is generated");
        assertEquals("1250.00", sent.getFeedback().getOutcome().getValue().getAmount());
        assertEquals(1, sent.getDeliveriesCount());

        FeedbackSentEvent event = nextEvent(follower, Duration.ofSeconds(30));
        assertEquals(sent.getFeedback().getId(), event.getFeedbackId());
        assertEquals(sent.getDeliveries(0).getId(), event.getDeliveryId());
        assertEquals(ProcessingStatus.PROCESSING_STATUS_SUCCEEDED, event.getProcessingStatus());
        assertEquals(204, event.getResponseStatus().getCode());
        assertEquals(event.getCursor(), follower.cursor());
        assertEquals(List.of(event.getDeliveryId()), hook.webhookIds);
      }
    }
  }

  @Test
  void followerReconnectsAndResumesAfterItsCursor() throws Exception {
    try (BackchannelClient direct = BackchannelClient.connect(server.address, server.token());
        TcpProxy link = new TcpProxy(server.address);
        BackchannelClient viaProxy = BackchannelClient.connect(link.address(), server.token());
        Receiver hook = new Receiver()) {
      String recipient = createWebhookRecipient(direct, hook.url());
      EventFilter filter = EventFilter.newBuilder().addRecipientIds(recipient).build();
      try (EventFollower follower = viaProxy.followEvents(filter, null, FollowOptions.replayingFromBeginning())) {
        SendFeedbackResponse first = direct.sendFeedback(exampleFeedback("LC-" + suffix()), List.of(recipient));
        assertEquals(first.getFeedback().getId(), nextEvent(follower, Duration.ofSeconds(30)).getFeedbackId());
        String afterFirst = follower.cursor();

        link.dropAll(); // the stream breaks; the follower reconnects after its cursor
        SendFeedbackResponse second = direct.sendFeedback(exampleFeedback("LC-" + suffix()), List.of(recipient));
        assertEquals(
            second.getFeedback().getId(),
            nextEvent(follower, Duration.ofSeconds(30)).getFeedbackId(),
            "after reconnecting: the second feedback's event, the first not repeated");
        assertTrue(link.accepted.get() >= 2, "the follower reconnected");

        try (EventFollower resumed = direct.followEvents(filter, afterFirst, null)) {
          assertEquals(second.getFeedback().getId(), nextEvent(resumed, Duration.ofSeconds(30)).getFeedbackId());
        }
      }
    }
  }

  @Test
  void retriesKeepTheSameRequestId() throws Exception {
    int port = TestServer.freePort();
    List<String> requestIds = new CopyOnWriteArrayList<>();
    ClientInterceptor record =
        new ClientInterceptor() {
          @Override
          public <Q, A> ClientCall<Q, A> interceptCall(
              MethodDescriptor<Q, A> method, CallOptions options, Channel next) {
            return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
              @Override
              public void sendMessage(Q message) {
                if (message instanceof SendFeedbackRequest request) {
                  requestIds.add(request.getRequestId());
                }
                super.sendMessage(message);
              }
            };
          }
        };
    // The client starts before the server listens on its port: the first attempts fail with
    // UNAVAILABLE and are retried.
    ManagedChannel channel =
        ManagedChannelBuilder.forTarget("127.0.0.1:" + port).usePlaintext().intercept(record).build();
    CompletableFuture<TestServer> second =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                return TestServer.start(port);
              } catch (Exception e) {
                throw new RuntimeException(e);
              }
            });
    try {
      RetryPolicy patient =
          new RetryPolicy(1000, Duration.ofMillis(50), Duration.ofMillis(500), 2.0, Duration.ofSeconds(10));
      BackchannelClient client = BackchannelClient.over(channel, patient);
      SendFeedbackResponse sent = client.sendFeedback(exampleFeedback("LC-" + suffix()), List.of());
      assertTrue(requestIds.size() >= 2, "retried: " + requestIds.size() + " attempt(s)");
      assertEquals(1, requestIds.stream().distinct().count(), "one request id: " + requestIds);
      assertEquals(requestIds.get(0), sent.getFeedback().getRequestId());

      // Repeating the request id returns the first answer: one feedback stored.
      SendFeedbackResponse again =
          client.sendFeedback(
              exampleFeedback(sent.getFeedback().getLead().getLeadId()),
              List.of(),
              SendOptions.withRequestId(requestIds.get(0)));
      assertEquals(sent.getFeedback().getId(), again.getFeedback().getId());
      assertEquals(sent.getFeedback().getAcceptTime(), again.getFeedback().getAcceptTime());
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      second.get(3, TimeUnit.MINUTES).close();
    }
  }

  @Test
  void invalidArgumentExposesFieldViolations() {
    try (BackchannelClient client = BackchannelClient.connect(server.address, server.token())) {
      Feedback bad =
          exampleFeedback("").toBuilder()
              .setKind(FeedbackKind.FEEDBACK_KIND_UNSPECIFIED)
              .setOutcome(
                  exampleFeedback("").getOutcome().toBuilder()
                      .setValue(Money.newBuilder().setCurrencyCode("dollars").setAmount("1250.00")))
              .build();
      StatusRuntimeException error =
          assertThrows(StatusRuntimeException.class, () -> client.sendFeedback(bad, List.of()));
      assertEquals(Status.Code.INVALID_ARGUMENT, error.getStatus().getCode());
      Map<String, String> fields =
          BackchannelErrors.fieldViolations(error).stream()
              .collect(
                  Collectors.toMap(
                      BadRequest.FieldViolation::getField,
                      BadRequest.FieldViolation::getDescription,
                      (a, b) -> a));
      for (String field :
          List.of("feedback.kind", "feedback.lead.lead_id", "feedback.outcome.value.currency_code")) {
        assertTrue(fields.containsKey(field), "no violation for " + field + " in " + fields);
      }
      assertEquals("backchannel.dev", BackchannelErrors.errorInfo(error).orElseThrow().getDomain());
    }
  }

  @Test
  void theServerRefusesCallsWithoutTheToken() {
    try (BackchannelClient anonymous = BackchannelClient.connect(server.address);
        BackchannelClient forged = BackchannelClient.connect(server.address, "bck_" + "A".repeat(43))) {
      for (BackchannelClient client : List.of(anonymous, forged)) {
        StatusRuntimeException error =
            assertThrows(
                StatusRuntimeException.class,
                () -> client.recipients.listRecipients(ListRecipientsRequest.getDefaultInstance()));
        assertEquals(Status.Code.UNAUTHENTICATED, error.getStatus().getCode());
      }
    }
  }

  @Test
  void aTokenIsNeverSentInPlaintextToAnotherMachine() {
    IllegalArgumentException refused =
        assertThrows(
            IllegalArgumentException.class,
            () -> BackchannelClient.connect("10.1.2.3:50051", "bck_" + "A".repeat(43)));
    assertTrue(refused.getMessage().contains("plaintext connection to 10.1.2.3:50051"));
    BackchannelClient.connect("localhost:50051", "bck_" + "A".repeat(43)).close();
  }
}
