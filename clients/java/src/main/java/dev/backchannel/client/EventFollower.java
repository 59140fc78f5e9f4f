package dev.backchannel.client;

import backchannel.v1.FeedbackServiceGrpc;
import backchannel.v1.FeedbackServiceOuterClass.EventFilter;
import backchannel.v1.FeedbackServiceOuterClass.StreamFeedbackEventsRequest;
import backchannel.v1.FeedbackServiceOuterClass.StreamFeedbackEventsResponse;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Set;

/**
 * A live event stream as a blocking iterator. When the stream breaks it reconnects with
 * backoff and resumes after the last cursor it handed out (events and heartbeats move it),
 * so nothing is missed or repeated. {@link #hasNext()} throws the
 * {@link StatusRuntimeException} of a failure reconnecting cannot fix (OUT_OF_RANGE for a
 * cursor past retention, INVALID_ARGUMENT...). {@link #close()} (from any thread) ends it.
 */
public final class EventFollower implements Iterator<StreamFeedbackEventsResponse>, AutoCloseable {
  private static final Set<Status.Code> RESUMABLE =
      Set.of(
          Status.Code.UNAVAILABLE,
          Status.Code.RESOURCE_EXHAUSTED,
          Status.Code.DEADLINE_EXCEEDED,
          Status.Code.ABORTED,
          Status.Code.INTERNAL,
          Status.Code.UNKNOWN);

  private final FeedbackServiceGrpc.FeedbackServiceBlockingStub stub;
  private final EventFilter filter;
  private final FollowOptions options;
  private final RetryPolicy reconnect;
  private volatile String cursor;
  private volatile boolean closed;
  private Context.CancellableContext context;
  private Iterator<StreamFeedbackEventsResponse> current;
  private StreamFeedbackEventsResponse pending;
  private int failures;

  EventFollower(
      FeedbackServiceGrpc.FeedbackServiceBlockingStub stub,
      EventFilter filter,
      String afterCursor,
      FollowOptions options) {
    this.stub = stub;
    this.filter = filter == null ? EventFilter.getDefaultInstance() : filter;
    this.options = options == null ? FollowOptions.DEFAULT : options;
    this.reconnect = this.options.reconnect() == null ? RetryPolicy.RECONNECT : this.options.reconnect();
    this.cursor = afterCursor == null ? "" : afterCursor;
  }

  /** The cursor of the last item handed out: resume after it. */
  public String cursor() {
    return cursor;
  }

  @Override
  public boolean hasNext() {
    while (pending == null) {
      if (closed) {
        return false;
      }
      try {
        if (current == null) {
          open();
        }
        if (!current.hasNext()) {
          // The server ended the stream (e.g. shutting down): resume after the cursor.
          throw Status.UNAVAILABLE.withDescription("stream ended by the server").asRuntimeException();
        }
        StreamFeedbackEventsResponse item = current.next();
        failures = 0;
        if (item.hasHeartbeat() && !options.includeHeartbeats()) {
          advance(item);
        } else {
          pending = item;
        }
      } catch (StatusRuntimeException e) {
        dropStream();
        if (closed) {
          return false;
        }
        failures++;
        if (!RESUMABLE.contains(e.getStatus().getCode())
            || (reconnect.maxAttempts() > 0 && failures >= reconnect.maxAttempts())) {
          throw e;
        }
        try {
          Thread.sleep(reconnect.backoff(failures - 1).toMillis());
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          close();
          return false;
        }
      }
    }
    return true;
  }

  @Override
  public StreamFeedbackEventsResponse next() {
    if (!hasNext()) {
      throw new NoSuchElementException();
    }
    StreamFeedbackEventsResponse item = pending;
    pending = null;
    advance(item);
    return item;
  }

  private void advance(StreamFeedbackEventsResponse item) {
    String next =
        switch (item.getItemCase()) {
          case EVENT -> item.getEvent().getCursor();
          case HEARTBEAT -> item.getHeartbeat().getCursor();
          case OPERATOR_EVENT -> item.getOperatorEvent().getCursor();
          default -> "";
        };
    if (!next.isEmpty()) {
      cursor = next;
    }
  }

  private synchronized void open() {
    StreamFeedbackEventsRequest.Builder request = StreamFeedbackEventsRequest.newBuilder().setFilter(filter);
    if (!cursor.isEmpty()) {
      request.setAfterCursor(cursor);
    } else if (options.fromBeginning()) {
      request.setFromBeginning(true);
    }
    context = Context.current().withCancellation();
    Context previous = context.attach();
    try {
      current = stub.streamFeedbackEvents(request.build());
    } finally {
      context.detach(previous);
    }
  }

  private synchronized void dropStream() {
    if (context != null) {
      context.cancel(null);
      context = null;
    }
    current = null;
  }

  /** Ends the stream; a blocked {@link #hasNext()} returns false. */
  @Override
  public void close() {
    closed = true;
    dropStream();
  }
}
