package dev.backchannel.client;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * How a call is tried again: exponential backoff from {@code initialBackoff}, times
 * {@code multiplier} per retry, capped at {@code maxBackoff}, each delay jittered (50% to
 * 100%).
 *
 * @param maxAttempts the most attempts in all, the first included (for following events:
 *     failures in a row, 0 meaning unlimited)
 * @param attemptTimeout the deadline of one unary attempt ({@code Duration.ZERO}: none)
 */
public record RetryPolicy(
    int maxAttempts,
    Duration initialBackoff,
    Duration maxBackoff,
    double multiplier,
    Duration attemptTimeout) {

  /** 5 attempts, 200 ms doubling up to 5 s, 10 s per attempt. */
  public static final RetryPolicy DEFAULT =
      new RetryPolicy(5, Duration.ofMillis(200), Duration.ofSeconds(5), 2.0, Duration.ofSeconds(10));

  /** Reconnection of an event stream: unlimited, 200 ms doubling up to 5 s. */
  public static final RetryPolicy RECONNECT =
      new RetryPolicy(0, Duration.ofMillis(200), Duration.ofSeconds(5), 2.0, Duration.ZERO);

  /** The jittered delay before retry number {@code retry} (0 for the first retry). */
  public Duration backoff(int retry) {
    double delay = initialBackoff.toNanos();
    for (int i = 0; i < retry && delay < maxBackoff.toNanos(); i++) {
      delay *= multiplier;
    }
    delay = Math.min(delay, maxBackoff.toNanos());
    double jittered = delay / 2 + ThreadLocalRandom.current().nextDouble() * delay / 2;
    return Duration.ofNanos((long) jittered);
  }
}
