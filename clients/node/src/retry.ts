// Exponential backoff with jitter, and which failures are worth another try.
import { status as Status } from "@grpc/grpc-js";

export interface RetryOptions {
  /** Attempts in all, the first included (default 6; 1 disables retries). */
  maxAttempts?: number;
  /** The first pause's upper bound, in ms (default 100). */
  initialBackoffMs?: number;
  /** The largest pause, in ms (default 5000). */
  maxBackoffMs?: number;
  /** Growth of the pause bound per attempt (default 2). */
  multiplier?: number;
}

export const DEFAULT_RETRY: Required<RetryOptions> = {
  maxAttempts: 6,
  initialBackoffMs: 100,
  maxBackoffMs: 5000,
  multiplier: 2,
};

/** Codes a unary call with the same request id may safely be sent again on. */
export const RETRYABLE = new Set<Status>([Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED]);

/** Codes an event stream resumes after its last cursor on. */
export const RESUMABLE = new Set<Status>([
  Status.UNAVAILABLE,
  Status.RESOURCE_EXHAUSTED,
  Status.DEADLINE_EXCEEDED,
  Status.CANCELLED,
]);

/** The pause before retry number `retry` (0 for the first retry): a random point in the upper half of an exponentially growing bound. */
export function backoffMs(retry: number, options: Required<RetryOptions>): number {
  const bound = Math.min(options.maxBackoffMs, options.initialBackoffMs * options.multiplier ** retry);
  return bound / 2 + Math.random() * (bound / 2);
}

/** Resolves after `ms`, or rejects at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
