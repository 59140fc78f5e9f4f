package dev.backchannel.client;

/**
 * Optional parts of {@link BackchannelClient#sendFeedback}.
 *
 * @param requestId the idempotency key; {@code null} or empty: a new UUID
 * @param retry the retry policy of this call; {@code null}: the client's
 */
public record SendOptions(String requestId, RetryPolicy retry) {
  public static SendOptions withRequestId(String requestId) {
    return new SendOptions(requestId, null);
  }
}
