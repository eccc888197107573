import { describe, expect, it } from 'vitest';
import { abortableSleep, makeBackoff, retryAfterMs } from '#aws/backoff.ts';

describe('makeBackoff', () => {
  it('doubles the ceiling from the base delay per failed attempt, up to the largest delay', () => {
    const backoff = makeBackoff({ baseDelayMs: 100, maxDelayMs: 1000 });
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoff.ceiling(attempt))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });

  it('waits a full-jitter fraction of the ceiling, never less than what the service asked for', () => {
    const backoff = makeBackoff({ baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.5 });
    expect(backoff.delay(3)).toBe(200);
    expect(backoff.delay(3, 350)).toBe(350);
    expect(makeBackoff({ random: () => 0.999999 }).delay(1)).toBeLessThan(200);
    expect(makeBackoff({ random: () => 0 }).delay(4)).toBe(0);
  });

  it('defaults to four attempts, 200 ms doubling up to 5 s, and at least one attempt', () => {
    const backoff = makeBackoff();
    expect(backoff.maxAttempts).toBe(4);
    expect(backoff.ceiling(1)).toBe(200);
    expect(backoff.ceiling(10)).toBe(5000);
    expect(makeBackoff({ maxAttempts: 0 }).maxAttempts).toBe(1);
  });

  it('sleeps through the injected sleep with the computed delay and the signal', async () => {
    const waits: Array<[number, AbortSignal | undefined]> = [];
    const signal = new AbortController().signal;
    const backoff = makeBackoff({
      baseDelayMs: 10,
      random: () => 0.5,
      sleep: async (ms, s) => {
        waits.push([ms, s]);
      },
    });
    await backoff.sleep(2, undefined, signal);
    await backoff.sleep(1, 30);
    expect(waits).toEqual([
      [10, signal],
      [30, undefined],
    ]);
  });
});

describe('abortableSleep', () => {
  it('rejects with the reason of a signal that aborts while it waits, or was aborted before', async () => {
    const controller = new AbortController();
    const waiting = abortableSleep(60_000, controller.signal);
    controller.abort(new Error('caller went away'));
    await expect(waiting).rejects.toThrow('caller went away');
    await expect(abortableSleep(10, AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
  });

  it('resolves after the wait when nothing aborts', async () => {
    await expect(abortableSleep(1)).resolves.toBeUndefined();
  });
});

describe('retryAfterMs', () => {
  it('reads delta-seconds and HTTP dates, and nothing else', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:03 GMT', now)).toBe(3000);
    expect(retryAfterMs('Wed, 31 Dec 2025 23:59:00 GMT', now)).toBe(0);
    expect(retryAfterMs(null, now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
  });
});
