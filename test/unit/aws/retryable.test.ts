import { describe, expect, it } from 'vitest';
import { ThrottledError, TransientError } from '#aws/errors.ts';
import { forEachDocument } from '#aws/rag/document-loop.ts';
import { asRetryable, isRetryable } from '#aws/retryable.ts';
import { RETRYABLE_ERROR_NAMES } from '#contracts/retryable-errors.ts';

const named = (name: string, cause?: unknown): Error => Object.assign(new Error(name), { name, cause });

describe('isRetryable', () => {
  it.each(RETRYABLE_ERROR_NAMES)('retries %s, a name the state machines retry', (name) => {
    expect(isRetryable(named(name))).toBe(true);
  });

  it('retries a vector store write that ran out of retries on throttling, and no other write failure', () => {
    expect(isRetryable(named('VectorStoreWriteError', named('ThrottledError')))).toBe(true);
    expect(isRetryable(named('VectorStoreWriteError', named('ValidationError')))).toBe(false);
  });

  it('fails the item on anything else', () => {
    expect(isRetryable(named('ValidationError'))).toBe(false);
    expect(isRetryable(new Error('boom'))).toBe(false);
    expect(isRetryable('a string')).toBe(false);
    expect(isRetryable(null)).toBe(false);
  });
});

describe('asRetryable', () => {
  it('keeps an error whose name the state machine retries', () => {
    const throttled = new ThrottledError('slow down', 1);
    expect(asRetryable(throttled)).toBe(throttled);
  });

  it('wraps any other error in a TransientError that keeps it as the cause', () => {
    const write = named('VectorStoreWriteError', named('ThrottledError'));
    const wrapped = asRetryable(write);
    expect(wrapped).toBeInstanceOf(TransientError);
    expect(wrapped.message).toBe('VectorStoreWriteError');
    expect(wrapped.cause).toBe(write);
  });
});

describe('forEachDocument', () => {
  const doc = (docId: string) => ({ docId, version: 'v1', collection: 'default' });

  function recorder(superseded: readonly string[] = []) {
    const failures: string[] = [];
    return {
      failures,
      context: {
        table: { markFailed: async () => true },
        reporter: {
          fail: async (_table: unknown, d: { docId: string }, error: unknown) => {
            failures.push(`${d.docId}: ${(error as Error).message}`);
            return !superseded.includes(d.docId);
          },
        },
        runId: 'run-1',
        now: () => new Date(0),
      },
    };
  }

  it('counts each document once: done, superseded, or failed alone with its reason', async () => {
    const { failures, context } = recorder(['d4']);
    const done: string[] = [];
    const counts = await forEachDocument([doc('d1'), doc('d2'), doc('d3'), doc('d4')], context, async (d) => {
      if (d.docId === 'd2') return 'superseded';
      if (d.docId === 'd3' || d.docId === 'd4') throw new Error(`cannot read ${d.docId}`);
      done.push(d.docId);
      return 'done';
    });
    expect(done).toEqual(['d1']);
    expect(counts).toEqual({ failed: 1, superseded: 2 });
    expect(failures).toEqual(['d3: cannot read d3', 'd4: cannot read d4']);
  });

  it('rethrows a retryable failure under a retryable name and stops, recording nothing', async () => {
    const { failures, context } = recorder();
    const seen: string[] = [];
    const run = forEachDocument([doc('d1'), doc('d2')], context, async (d) => {
      seen.push(d.docId);
      throw named('VectorStoreWriteError', named('ThrottledError'));
    });
    await expect(run).rejects.toMatchObject({ name: 'TransientError' });
    expect(seen).toEqual(['d1']);
    expect(failures).toEqual([]);
  });
});
