/**
 * The one backoff policy of the project: exponential from `baseDelayMs`, doubling per failed attempt up
 * to `maxDelayMs`, with full jitter, never shorter than what the service asked for (`Retry-After`).
 * Model calls (`models/retry.ts`), the vector stores and the local API client all wait through it.
 */

export interface BackoffOptions {
  /** Attempts in all, the first included. @default 4 */
  readonly maxAttempts?: number;
  /** Backoff before the second attempt; it doubles each time, up to `maxDelayMs`. @default 200 */
  readonly baseDelayMs?: number;
  /** Largest backoff between two attempts. @default 5000 */
  readonly maxDelayMs?: number;
  /** Waits `ms` milliseconds; rejects when `signal` aborts. Tests inject an instant one. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Uniform random number in [0, 1), for the jitter. @default Math.random */
  readonly random?: () => number;
}

export interface Backoff {
  readonly maxAttempts: number;
  readonly maxDelayMs: number;
  /** The longest backoff after `attempt` failed attempts. */
  ceiling(attempt: number): number;
  /** The wait before attempt `attempt + 1`: full jitter under the ceiling, at least `hintedMs`. */
  delay(attempt: number, hintedMs?: number): number;
  /** Waits `delay(attempt, hintedMs)`; rejects with the signal's reason once it aborts. */
  sleep(attempt: number, hintedMs?: number, signal?: AbortSignal): Promise<void>;
}

export function makeBackoff(options: BackoffOptions = {}): Backoff {
  const maxAttempts = Math.max(1, options.maxAttempts ?? 4);
  const baseDelayMs = options.baseDelayMs ?? 200;
  const maxDelayMs = options.maxDelayMs ?? 5000;
  const wait = options.sleep ?? abortableSleep;
  const random = options.random ?? Math.random;
  const ceiling = (attempt: number): number => Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  const delay = (attempt: number, hintedMs?: number): number =>
    Math.max(Math.floor(random() * ceiling(attempt)), hintedMs ?? 0);
  return {
    maxAttempts,
    maxDelayMs,
    ceiling,
    delay,
    sleep: (attempt, hintedMs, signal) => wait(delay(attempt, hintedMs), signal),
  };
}

/**
 * Milliseconds a `Retry-After` value asks for: delta-seconds or an HTTP date (a date in the past, or a
 * negative delay, is 0); `undefined` when absent or unreadable.
 */
export function retryAfterMs(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Waits `ms`, rejecting with the signal's reason as soon as it aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
