import {
  AccessDeniedException,
  ModelErrorException,
  ServiceQuotaExceededException,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { ModelError } from '@aws-sdk/client-sagemaker-runtime';
import { describe, expect, it, vi } from 'vitest';
import { ContextWindowExceededError, ModelProviderError, ThrottledError } from '#aws/errors.ts';
import { classifyError, retryAfterSeconds, withRetry, withRetryUntilOutput } from '#aws/models/retry.ts';
import { errorOf } from '../../support/async.ts';

const meta = { $metadata: {} };
const throttling = (headers?: Record<string, string>) => {
  const error = new ThrottlingException({ message: 'Too many requests, please wait', ...meta });
  if (headers !== undefined)
    Object.defineProperty(error, '$response', { value: { statusCode: 429, headers } });
  return error;
};
const validation = (message: string) => new ValidationException({ message, ...meta });

/** Instant sleep that records the delays it was asked for. */
const recorder = () => {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number) => void delays.push(ms) };
};

/** A function failing with each error in turn, then answering 'ok'. */
const failing = (...errors: unknown[]) => {
  const fn = vi.fn(async (_signal: AbortSignal) => {
    const error = errors.shift();
    if (error !== undefined) throw error;
    return 'ok';
  });
  return fn;
};

describe('classifyError', () => {
  it('sorts provider errors into throttled, transient, timeout, context-window and fatal', () => {
    expect(classifyError(throttling())).toBe('throttled');
    expect(classifyError({ name: 'Whatever', $metadata: { httpStatusCode: 429 } })).toBe('throttled');
    expect(
      classifyError(new ServiceQuotaExceededException({ message: 'Too many requests per minute', ...meta })),
    ).toBe('throttled');
    expect(
      classifyError(new ServiceQuotaExceededException({ message: 'Model quota reached', ...meta })),
    ).toBe('fatal');
    expect(classifyError({ name: 'ModelNotReadyException' })).toBe('transient');
    expect(classifyError({ name: 'InternalServerException' })).toBe('transient');
    expect(classifyError({ name: 'Unknown', $metadata: { httpStatusCode: 503 } })).toBe('transient');
    expect(classifyError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe(
      'transient',
    );
    expect(classifyError({ name: 'TimeoutError' })).toBe('timeout');
    expect(classifyError(validation('Input is too long for requested model.'))).toBe('context-window');
    expect(classifyError(validation('prompt is too long: 210000 tokens > 200000 maximum'))).toBe(
      'context-window',
    );
    expect(classifyError(validation('temperature must be <= 1'))).toBe('fatal');
    expect(classifyError(validation('Malformed input request'))).toBe('fatal');
    expect(classifyError(new AccessDeniedException({ message: 'no', ...meta }))).toBe('fatal');
    expect(classifyError(new ModelErrorException({ message: 'bad', originalStatusCode: 400, ...meta }))).toBe(
      'fatal',
    );
    expect(classifyError(new ModelError({ message: 'busy', OriginalStatusCode: 429, ...meta }))).toBe(
      'throttled',
    );
    expect(classifyError(new ModelError({ message: 'oops', OriginalStatusCode: 503, ...meta }))).toBe(
      'transient',
    );
    expect(
      classifyError(
        new ModelError({
          message: 'Received client error (422)',
          OriginalStatusCode: 422,
          OriginalMessage: 'Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096',
          ...meta,
        }),
      ),
    ).toBe('context-window');
  });
});

describe('retryAfterSeconds', () => {
  it('reads delta-seconds and HTTP dates, whatever the header case', () => {
    expect(retryAfterSeconds(throttling({ 'retry-after': '7' }))).toBe(7);
    expect(retryAfterSeconds(throttling({ 'Retry-After': '3' }))).toBe(3);
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterSeconds(throttling({ 'retry-after': 'Wed, 01 Jan 2025 00:00:10 GMT' }), now)).toBe(10);
    expect(retryAfterSeconds(throttling())).toBeUndefined();
  });
});

describe('withRetry', () => {
  it('retries throttling with full-jitter exponential backoff, then succeeds', async () => {
    const { delays, sleep } = recorder();
    const fn = failing(throttling(), throttling(), throttling());
    await expect(withRetry(fn, { sleep, random: () => 0.5 })).resolves.toBe('ok');
    expect(fn).toHaveBeenCalledTimes(4);
    expect(delays).toEqual([100, 200, 400]);
  });

  it('caps the backoff', async () => {
    const { delays, sleep } = recorder();
    const fn = failing(...Array.from({ length: 5 }, () => ({ name: 'ServiceUnavailableException' })));
    await withRetry(fn, { sleep, random: () => 0.999, maxAttempts: 6, baseDelayMs: 1000, maxDelayMs: 3000 });
    expect(delays).toEqual([999, 1998, 2997, 2997, 2997]);
  });

  it('throws ThrottledError after the last attempt, with the next backoff as Retry-After', async () => {
    const { sleep } = recorder();
    const fn = failing(throttling(), throttling(), throttling(), throttling());
    const error = await errorOf(withRetry(fn, { sleep, random: () => 0, label: 'Bedrock' }));
    expect(fn).toHaveBeenCalledTimes(4);
    expect(error).toBeInstanceOf(ThrottledError);
    // Attempt 4's backoff ceiling would be 200 ms * 2^3 = 1.6 s, rounded up.
    expect((error as ThrottledError).retryAfterSeconds).toBe(2);
    expect((error as ThrottledError).message).toBe('Bedrock is throttling requests; retry later');
    expect((error as ThrottledError).cause).toBeInstanceOf(ThrottlingException);
  });

  it("honors the provider's Retry-After header between attempts and in the final error", async () => {
    const { delays, sleep } = recorder();
    const fn = failing(throttling({ 'retry-after': '2' }), throttling({ 'retry-after': '3' }));
    const error = await errorOf(withRetry(fn, { sleep, random: () => 0, maxAttempts: 2 }));
    expect(delays).toEqual([2000]);
    expect((error as ThrottledError).retryAfterSeconds).toBe(3);
  });

  it('gives up at once when Retry-After is longer than the largest backoff', async () => {
    const { sleep } = recorder();
    const fn = failing(throttling({ 'retry-after': '30' }));
    const error = await errorOf(withRetry(fn, { sleep }));
    expect(fn).toHaveBeenCalledTimes(1);
    expect((error as ThrottledError).retryAfterSeconds).toBe(30);
  });

  it('does not retry validation errors, and hides their message', async () => {
    const { sleep } = recorder();
    const fn = failing(validation('The provided model identifier is invalid: secret-arn'));
    const error = await errorOf(withRetry(fn, { sleep }));
    expect(fn).toHaveBeenCalledTimes(1);
    expect(error).toBeInstanceOf(ModelProviderError);
    expect((error as ModelProviderError).timedOut).toBe(false);
    expect((error as Error).message).not.toContain('secret');
    expect((error as Error).cause).toBeInstanceOf(ValidationException);
  });

  it('maps an input that is too long to ContextWindowExceededError', async () => {
    const fn = failing(validation('Input is too long for requested model.'));
    const error = await errorOf(withRetry(fn));
    expect(fn).toHaveBeenCalledTimes(1);
    expect(error).toBeInstanceOf(ContextWindowExceededError);
    expect(error).toMatchObject({ field: 'messages', rule: 'the input exceeds the model context window' });
  });

  it('maps a server error that outlasts every attempt to ModelProviderError', async () => {
    const { sleep } = recorder();
    const fn = failing(...Array.from({ length: 4 }, () => ({ name: 'InternalServerException' })));
    const error = await errorOf(withRetry(fn, { sleep }));
    expect(fn).toHaveBeenCalledTimes(4);
    expect(error).toBeInstanceOf(ModelProviderError);
    expect((error as ModelProviderError).timedOut).toBe(false);
  });

  it('aborts an attempt that runs past its timeout, retries it, then reports a timeout', async () => {
    const { sleep } = recorder();
    const signals: AbortSignal[] = [];
    const hang = vi.fn(
      (signal: AbortSignal) =>
        new Promise<string>((_, reject) => {
          signals.push(signal);
          signal.addEventListener('abort', () =>
            reject(Object.assign(new Error('aborted'), { name: 'AbortError' })),
          );
        }),
    );
    const error = await errorOf(withRetry(hang, { sleep, attemptTimeoutMs: 10, maxAttempts: 2 }));
    expect(hang).toHaveBeenCalledTimes(2);
    expect(signals.every((s) => s.aborted)).toBe(true);
    expect(error).toBeInstanceOf(ModelProviderError);
    expect((error as ModelProviderError).timedOut).toBe(true);
  });

  it('times out even when the work ignores its signal', async () => {
    const never = vi.fn(() => new Promise<string>(() => {}));
    const error = await errorOf(withRetry(never, { attemptTimeoutMs: 5, maxAttempts: 1 }));
    expect((error as ModelProviderError).timedOut).toBe(true);
  });

  it("does not retry after the caller's own abort", async () => {
    const controller = new AbortController();
    const fn = vi.fn(async (signal: AbortSignal) => {
      controller.abort();
      expect(signal.aborted).toBe(true);
      throw Object.assign(new Error('Request aborted'), { name: 'AbortError' });
    });
    const error = await errorOf(withRetry(fn, { signal: controller.signal, sleep: async () => {} }));
    expect(fn).toHaveBeenCalledTimes(1);
    expect(error).toBeInstanceOf(ModelProviderError);
    expect((error as ModelProviderError).timedOut).toBe(false);
  });

  it("reports the caller's own timeout as a timeout, without retrying", async () => {
    const hang = vi.fn(() => new Promise<string>(() => {}));
    const error = await errorOf(withRetry(hang, { signal: AbortSignal.timeout(5), sleep: async () => {} }));
    expect(hang).toHaveBeenCalledTimes(1);
    expect(error).toBeInstanceOf(ModelProviderError);
    expect((error as ModelProviderError).timedOut).toBe(true);
  });

  it('never starts when the caller has already aborted', async () => {
    const fn = vi.fn(async () => 'ok');
    expect(await errorOf(withRetry(fn, { signal: AbortSignal.abort() }))).toBeInstanceOf(ModelProviderError);
    expect(fn).not.toHaveBeenCalled();
  });

  it('stops waiting between attempts when the caller aborts', async () => {
    const controller = new AbortController();
    const fn = failing(throttling(), throttling());
    const pending = withRetry(fn, {
      signal: controller.signal,
      baseDelayMs: 60_000,
      maxDelayMs: 60_000,
      random: () => 1,
    });
    setTimeout(() => controller.abort(), 5);
    const error = await errorOf(pending);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(error).toBeInstanceOf(ModelProviderError);
  });
});

describe('withRetryUntilOutput', () => {
  async function* events(items: readonly (string | Error)[]): AsyncGenerator<string> {
    for (const item of items) {
      if (item instanceof Error) throw item;
      yield item;
    }
  }
  const inspect = (event: string): 'output' | 'other' => (event.startsWith('text:') ? 'output' : 'other');
  const drain = async (stream: AsyncIterable<string>): Promise<string[]> => {
    const out: string[] = [];
    for await (const e of stream) out.push(e);
    return out;
  };

  it('retries a failure before the first output and replays the events it read', async () => {
    const { sleep } = recorder();
    const open = vi
      .fn()
      .mockResolvedValueOnce(events(['start', throttling()]))
      .mockResolvedValueOnce(events(['start', 'text:a', 'text:b', 'stop']));
    const stream = await withRetryUntilOutput(open, inspect, { sleep });
    expect(await drain(stream)).toEqual(['start', 'text:a', 'text:b', 'stop']);
    expect(open).toHaveBeenCalledTimes(2);
  });

  it('does not retry a failure after the first output', async () => {
    const open = vi
      .fn()
      .mockResolvedValue(events(['text:a', { name: 'ModelStreamErrorException' } as Error]));
    const stream = await withRetryUntilOutput(open, inspect, { sleep: async () => {} });
    const seen: string[] = [];
    const error = await errorOf(
      (async () => {
        for await (const e of stream) seen.push(e);
      })(),
    );
    expect(seen).toEqual(['text:a']);
    expect(error).toBeInstanceOf(ModelProviderError);
    expect(open).toHaveBeenCalledTimes(1);
  });
});
