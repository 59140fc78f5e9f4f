package dev.backchannel.client;

/**
 * Optional parts of {@link BackchannelClient#followEvents}.
 *
 * @param fromBeginning replay every retained event when there is no cursor to start after
 * @param includeHeartbeats also hand out heartbeats (they move the cursor either way)
 * @param reconnect how reconnections are paced; {@code null}: {@link RetryPolicy#RECONNECT}
 */
public record FollowOptions(boolean fromBeginning, boolean includeHeartbeats, RetryPolicy reconnect) {
  public static final FollowOptions DEFAULT = new FollowOptions(false, false, null);

  public static FollowOptions replayingFromBeginning() {
    return new FollowOptions(true, false, null);
  }
}
