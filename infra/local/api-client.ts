/**
 * The client `npm start` calls the local API with (and any API of the same contract): JSON over HTTP
 * with the `x-api-key` header, and retries where the API asks for them. A 429 (the usage plan's
 * throttle, or a throttled model) and a 503 are retried with exponential backoff and full jitter,
 * waiting at least what `Retry-After` asks (delta-seconds or an HTTP date), never longer than
 * `maxDelayMs` at a time and at most `maxAttempts` times in all (`#aws/backoff.ts` computes the waits). A 429 whose body says the quota is used
 * up is not retried: the quota resets at 00:00 UTC, not in seconds.
 */
import {
  abortableSleep,
  type Backoff,
  type BackoffOptions,
  makeBackoff,
  retryAfterMs,
} from '#aws/backoff.ts';

/**
 * The policy the local runner uses (the project's one backoff helper, with more attempts and a longer
 * single wait than model calls): enough to ride out the usage plan's throttle on any question file.
 */
export const DEFAULT_RETRY_POLICY = {
  maxAttempts: 8,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
} as const satisfies BackoffOptions;

/** Statuses worth another attempt: the caller is throttled, or the service is briefly unavailable. */
const RETRYABLE_STATUSES = new Set([429, 503]);

/** A retry the client is about to make, for progress reporting. */
export interface RetryNotice {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** The attempt that just failed (1 for the first). */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly waitMs: number;
}

/** A call answered with another status than expected (after the last attempt, for retried statuses). */
export class ApiCallError extends Error {
  /** What was called, e.g. `POST /v1/chat (rag)`. */
  readonly step: string;
  readonly status: number;
  readonly body: string;
  /** Attempts made, the first included. */
  readonly attempts: number;
  constructor(step: string, status: number, body: string, attempts = 1) {
    super(
      `${step} answered ${status}${attempts > 1 ? ` after ${attempts} attempts` : ''}: ${body.slice(0, 500)}`,
    );
    this.name = 'ApiCallError';
    this.step = step;
    this.status = status;
    this.body = body;
    this.attempts = attempts;
  }
}

/** A response, with how many attempts it took. */
export interface RetriedResponse {
  readonly response: Response;
  readonly attempts: number;
}

/** Options of {@link LocalApiClient}. */
export interface LocalApiClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  readonly apiKey: string;
  /** Overrides of {@link DEFAULT_RETRY_POLICY} (tests inject `sleep` and `random`). */
  readonly retry?: BackoffOptions;
  /** Hears about each retry before its wait. */
  readonly onRetry?: (notice: RetryNotice) => void;
}

/** True when a 429 body says the quota (not the rate) is used up: waiting seconds would not help. */
function quotaExceeded(body: string): boolean {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown } };
    return parsed.error?.code === 'quota_exceeded';
  } catch {
    return false;
  }
}

/** Calls an API of this project's contract with its key, retrying 429 and 503 with bounded backoff. */
export class LocalApiClient {
  readonly url: string;
  readonly apiKey: string;
  readonly #backoff: Backoff;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #onRetry: ((notice: RetryNotice) => void) | undefined;

  constructor(options: LocalApiClientOptions) {
    this.url = options.url;
    this.apiKey = options.apiKey;
    this.#backoff = makeBackoff({ ...DEFAULT_RETRY_POLICY, ...options.retry });
    this.#sleep = options.retry?.sleep ?? abortableSleep;
    this.#onRetry = options.onRetry;
  }

  /**
   * Sends one request, again after each retryable answer, and resolves to the last response (its body
   * unread) whatever its status. `body` is sent as JSON.
   */
  async send(
    method: string,
    path: string,
    body?: unknown,
    headers: Readonly<Record<string, string>> = {},
  ): Promise<RetriedResponse> {
    const { maxAttempts, maxDelayMs } = this.#backoff;
    for (let attempt = 1; ; attempt++) {
      const response = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          'x-api-key': this.apiKey,
          'content-type': 'application/json',
          accept: 'application/json',
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      if (!RETRYABLE_STATUSES.has(response.status) || attempt >= maxAttempts) {
        return { response, attempts: attempt };
      }
      const text = await response.text();
      if (response.status === 429 && quotaExceeded(text)) {
        return {
          response: new Response(text, { status: response.status, headers: response.headers }),
          attempts: attempt,
        };
      }
      // The server's Retry-After is a floor, but no single wait is longer than maxDelayMs.
      const asked = retryAfterMs(response.headers.get('retry-after'));
      const hintedMs = asked === undefined ? undefined : Math.min(asked, maxDelayMs);
      const waitMs = this.#backoff.delay(attempt, hintedMs);
      this.#onRetry?.({ method, path, status: response.status, attempt, maxAttempts, waitMs });
      await this.#sleep(waitMs);
    }
  }

  /**
   * Sends a JSON request and parses the JSON answer. Rejects with {@link ApiCallError}, labelled `step`,
   * when the final answer's status is not `expected`.
   */
  async call<T>(step: string, method: string, path: string, body?: unknown, expected = 200): Promise<T> {
    const { response, attempts } = await this.send(method, path, body);
    const text = await response.text();
    if (response.status !== expected) throw new ApiCallError(step, response.status, text, attempts);
    return JSON.parse(text) as T;
  }
}
