/**
 * Retries for model calls: exponential backoff with full jitter, a timeout per attempt, and one
 * classification of provider errors into the project's named errors. The SDK clients run with
 * `maxAttempts: 1` so that this module alone decides what is retried and how long a call may take.
 */
import { type BackoffOptions, makeBackoff, retryAfterMs } from '../backoff.ts';
import { ContextWindowExceededError, ModelProviderError, ThrottledError } from '../errors.ts';

export interface RetryOptions extends BackoffOptions {
  /** Time one attempt may take before it is aborted (and retried). @default 60000 */
  readonly attemptTimeoutMs?: number;
  /** The caller's signal: once it aborts, nothing more is tried. */
  readonly signal?: AbortSignal | undefined;
  /** Names the service in error messages, e.g. `Bedrock`. @default 'The model provider' */
  readonly label?: string;
}

/** How a failed attempt is handled. */
export type FailureKind = 'throttled' | 'transient' | 'timeout' | 'context-window' | 'fatal';

const THROTTLED = new Set(['ThrottlingException', 'TooManyRequestsException', 'ThrottledException']);
const TRANSIENT = new Set([
  'ModelNotReadyException',
  'ServiceUnavailableException',
  'ServiceUnavailable',
  'InternalServerException',
  'InternalFailure',
  'InternalDependencyException',
  'ModelStreamErrorException',
  'ModelStreamError',
  'InternalStreamFailure',
]);
const NETWORK_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'ECONNREFUSED', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);
/** Model-side errors that wrap the model server's own HTTP status. */
const MODEL_ERRORS = new Set(['ModelErrorException', 'ModelError']);
const INPUT_TOO_LONG =
  /input is too long|too many (input )?tokens|prompt is too long|maximum context length|context (length|window)|max_new_tokens`? must be <= \d+|must have less than \d+ tokens/i;
const RATE = /rate|too many requests|per (second|minute)|throttl/i;

function field(error: unknown, key: string): unknown {
  return typeof error === 'object' && error !== null ? (error as Record<string, unknown>)[key] : undefined;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function httpStatus(error: unknown): number | undefined {
  const status = field(field(error, '$metadata'), 'httpStatusCode');
  return typeof status === 'number' ? status : undefined;
}

/** The status code the model server answered with, for errors that wrap one. */
function originalStatus(error: unknown): number | undefined {
  const status = field(error, 'OriginalStatusCode') ?? field(error, 'originalStatusCode');
  return typeof status === 'number' ? status : undefined;
}

function errorMessage(error: unknown): string {
  return `${text(field(error, 'message'))} ${text(field(error, 'OriginalMessage'))}`;
}

/** Classifies a provider error (an AWS SDK exception, a network error, an abort). */
export function classifyError(error: unknown): FailureKind {
  const name = text(field(error, 'name'));
  const status = httpStatus(error);
  if (name === 'TimeoutError' || name === 'RequestTimeout' || name === 'ModelTimeoutException')
    return 'timeout';
  if (THROTTLED.has(name) || status === 429) return 'throttled';
  if (name === 'ServiceQuotaExceededException') return RATE.test(errorMessage(error)) ? 'throttled' : 'fatal';
  if (MODEL_ERRORS.has(name)) {
    const original = originalStatus(error);
    if (original === 429) return 'throttled';
    if (original !== undefined && original >= 500) return 'transient';
    return INPUT_TOO_LONG.test(errorMessage(error)) ? 'context-window' : 'fatal';
  }
  if (name === 'ValidationException' || name === 'ValidationError') {
    return INPUT_TOO_LONG.test(errorMessage(error)) ? 'context-window' : 'fatal';
  }
  if (TRANSIENT.has(name) || (status !== undefined && status >= 500)) return 'transient';
  if (field(error, '$retryable') !== undefined) return 'transient';
  const code = text(field(error, 'code')) || text(field(field(error, 'cause'), 'code'));
  if (NETWORK_CODES.has(code)) return 'transient';
  return 'fatal';
}

/** Seconds from a `Retry-After` header (delta-seconds or an HTTP date) on an SDK error, if any. */
export function retryAfterSeconds(error: unknown, now = Date.now()): number | undefined {
  const headers = field(field(error, '$response'), 'headers');
  if (typeof headers !== 'object' || headers === null) return undefined;
  let value: unknown;
  for (const [key, v] of Object.entries(headers)) if (key.toLowerCase() === 'retry-after') value = v;
  const ms = retryAfterMs(value, now);
  return ms === undefined ? undefined : ms / 1000;
}

/**
 * The named error a final failure becomes. Messages name the service but never repeat the provider's
 * own message; the original error stays available as `cause`.
 */
export function toFinalError(
  error: unknown,
  options: { label?: string; kind?: FailureKind; retryAfterSeconds?: number; signal?: AbortSignal } = {},
): Error {
  if (error instanceof ThrottledError || error instanceof ModelProviderError) return error;
  if (error instanceof ContextWindowExceededError) return error;
  const label = options.label ?? 'The model provider';
  if (options.signal?.aborted) return callerAborted(options.signal, label);
  const kind = options.kind ?? classifyError(error);
  switch (kind) {
    case 'throttled':
      return new ThrottledError(
        `${label} is throttling requests; retry later`,
        retryAfterSeconds(error) ?? options.retryAfterSeconds ?? 1,
        { cause: error },
      );
    case 'context-window':
      return new ContextWindowExceededError('messages', 'the input exceeds the model context window', {
        cause: error,
      });
    case 'timeout':
      return new ModelProviderError(`${label} did not answer in time`, { cause: error, timedOut: true });
    default:
      return new ModelProviderError(`${label} failed to answer`, { cause: error });
  }
}

/** Rejects with the signal's reason once it aborts: a guard for work that ignores its signal. */
function whenAborted(signal: AbortSignal): { promise: Promise<never>; dispose: () => void } {
  let onAbort = (): void => {};
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  // Raced below, but marked handled in case `fn` throws before the race subscribes.
  promise.catch(() => {});
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}

/** The error for a call the caller aborted itself: a timeout of its own, or a client that went away. */
function callerAborted(signal: AbortSignal, label: string): ModelProviderError {
  const timedOut = text(field(signal.reason, 'name')) === 'TimeoutError';
  return new ModelProviderError(`${label} call was ${timedOut ? 'timed out' : 'cancelled'} by the caller`, {
    cause: signal.reason,
    timedOut,
  });
}

/**
 * Runs `fn` until it succeeds, retrying throttling, transient server and network errors and attempt
 * timeouts with exponential backoff and full jitter. Each attempt gets a signal that aborts on the
 * attempt timeout or on the caller's signal. Final failures become `ThrottledError` (with the
 * provider's `Retry-After`, else the next backoff), `ContextWindowExceededError` or
 * `ModelProviderError`; client errors fail at once, and the caller's own abort is never retried.
 */
export async function withRetry<T>(
  fn: (attemptSignal: AbortSignal) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const backoff = makeBackoff(options);
  const attemptTimeoutMs = options.attemptTimeoutMs ?? 60_000;
  const label = options.label ?? 'The model provider';
  const caller = options.signal;

  for (let attempt = 1; ; attempt++) {
    if (caller?.aborted) throw callerAborted(caller, label);
    const timeout = AbortSignal.timeout(attemptTimeoutMs);
    const signal = caller === undefined ? timeout : AbortSignal.any([caller, timeout]);
    const guard = whenAborted(signal);
    let error: unknown;
    try {
      return await Promise.race([fn(signal), guard.promise]);
    } catch (e) {
      error = e;
    } finally {
      guard.dispose();
    }
    if (caller?.aborted) throw callerAborted(caller, label);
    const kind = timeout.aborted ? 'timeout' : classifyError(error);
    const retryable = kind === 'throttled' || kind === 'transient' || kind === 'timeout';
    const hinted = kind === 'throttled' ? retryAfterSeconds(error) : undefined;
    // A provider that asks for a longer pause than we would ever wait is answered by the caller instead.
    const giveUp = hinted !== undefined && hinted * 1000 > backoff.maxDelayMs;
    if (!retryable || attempt >= backoff.maxAttempts || giveUp) {
      throw toFinalError(error, { label, kind, retryAfterSeconds: backoff.ceiling(attempt) / 1000 });
    }
    try {
      await backoff.sleep(attempt, (hinted ?? 0) * 1000, caller);
    } catch (e) {
      if (caller?.aborted) throw callerAborted(caller, label);
      throw e;
    }
  }
}

interface OpenedStream<E> {
  readonly iterator: AsyncIterator<E>;
  readonly head: readonly E[];
  readonly ended: boolean;
  readonly controller: AbortController;
}

/**
 * Opens a streaming call with `withRetry`, retrying only what fails before the first output: the
 * stream is read until `inspect` says an event is output (or the stream ends), and those events are
 * replayed first. Later failures end the stream with the same named errors, without retry. `inspect`
 * may throw for error events; the attempt timeout covers the wait for the first output only, while the
 * caller's signal aborts the stream at any time. Breaking out of the loop closes the stream.
 */
export async function withRetryUntilOutput<E>(
  open: (signal: AbortSignal) => Promise<AsyncIterable<E>>,
  inspect: (event: E) => 'output' | 'other',
  options: RetryOptions = {},
): Promise<AsyncGenerator<E, void, undefined>> {
  const opened = await withRetry(async (attemptSignal): Promise<OpenedStream<E>> => {
    const controller = new AbortController();
    const relay = (): void => controller.abort(attemptSignal.reason);
    attemptSignal.addEventListener('abort', relay, { once: true });
    try {
      const iterator = (await open(controller.signal))[Symbol.asyncIterator]();
      const head: E[] = [];
      for (;;) {
        const next = await iterator.next();
        if (next.done === true) return { iterator, head, ended: true, controller };
        head.push(next.value);
        if (inspect(next.value) === 'output') return { iterator, head, ended: false, controller };
      }
    } catch (error) {
      controller.abort();
      throw error;
    } finally {
      attemptSignal.removeEventListener('abort', relay);
    }
  }, options);
  return replay(opened, inspect, options);
}

async function* replay<E>(
  { iterator, head, ended, controller }: OpenedStream<E>,
  inspect: (event: E) => 'output' | 'other',
  options: RetryOptions,
): AsyncGenerator<E, void, undefined> {
  const caller = options.signal;
  const label = options.label ?? 'The model provider';
  const relay = (): void => controller.abort(caller?.reason);
  caller?.addEventListener('abort', relay, { once: true });
  let finished = ended;
  try {
    yield* head;
    while (!finished) {
      if (caller?.aborted) throw callerAborted(caller, label);
      let next: IteratorResult<E>;
      try {
        next = await iterator.next();
        if (next.done !== true) inspect(next.value);
      } catch (error) {
        finished = true;
        throw toFinalError(error, { label, signal: caller });
      }
      if (next.done === true) finished = true;
      else yield next.value;
    }
  } finally {
    caller?.removeEventListener('abort', relay);
    if (!finished) {
      controller.abort();
      await iterator.return?.().catch(() => undefined);
    }
  }
}
