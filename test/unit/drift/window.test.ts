import { describe, expect, it } from 'vitest';
import { encodeEmbedding } from '#core/drift/compact-embedding.ts';
import {
  driftRecordOf,
  EVALUATION_APP,
  type InteractionLike,
  inTraffic,
  isWatched,
  sampleByKey,
  windowEndingAt,
} from '#core/drift/window.ts';
import { ValidationError } from '#core/errors.ts';

const START = new Date('2026-12-01T06:00:00.000Z');
const END = new Date('2026-12-01T12:00:00.000Z');
const WINDOW = { start: START, end: END };

/** A sampled, answered call of app `web` with prompt `support`, in the window; each test changes one thing. */
function call(overrides: Partial<InteractionLike> = {}): InteractionLike {
  return {
    interactionId: 'i-1',
    occurredAt: '2026-12-01T08:00:00.000Z',
    app: 'web',
    prompt: { name: 'support' },
    status: 'ok',
    payload: {
      messages: [{ role: 'user', content: { text: 'How do I raise the memory of my function?' } }],
      answer: { text: 'Set MemorySize.' },
    },
    ...overrides,
  };
}

/** The deterministic shuffle of a list (a seeded LCG), to feed the same items in another order. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

describe('isWatched', () => {
  it('takes a sampled, answered call of the filter inside the window', () => {
    expect(isWatched(call(), WINDOW, {})).toBe(true);
    expect(isWatched(call(), WINDOW, { app: 'web', prompt: 'support' })).toBe(true);
  });

  it('bounds the window half-open: the start is in, the end is out', () => {
    expect(isWatched(call({ occurredAt: START.toISOString() }), WINDOW, {})).toBe(true);
    expect(isWatched(call({ occurredAt: '2026-12-01T05:59:59.999Z' }), WINDOW, {})).toBe(false);
    expect(isWatched(call({ occurredAt: '2026-12-01T11:59:59.999Z' }), WINDOW, {})).toBe(true);
    expect(isWatched(call({ occurredAt: END.toISOString() }), WINDOW, {})).toBe(false);
    expect(isWatched(call({ occurredAt: 'not a date' }), WINDOW, {})).toBe(false);
  });

  it('never watches the evaluation runs’ own calls, whatever the filter', () => {
    expect(EVALUATION_APP).toBe('evaluation');
    expect(isWatched(call({ app: 'evaluation' }), WINDOW, {})).toBe(false);
    expect(isWatched(call({ app: 'evaluation' }), WINDOW, { app: 'evaluation' })).toBe(false);
  });

  it('keeps to the check’s app and prompt', () => {
    expect(isWatched(call({ app: 'mobile' }), WINDOW, { app: 'web' })).toBe(false);
    expect(isWatched(call({ app: 'mobile' }), WINDOW, {})).toBe(true);
    expect(isWatched(call({ prompt: { name: 'billing' } }), WINDOW, { prompt: 'support' })).toBe(false);
    expect(isWatched(call({ prompt: null }), WINDOW, { prompt: 'support' })).toBe(false);
    expect(isWatched(call({ prompt: null }), WINDOW, { app: 'web' })).toBe(true);
  });

  it('leaves out failed calls and calls without a payload (not sampled)', () => {
    for (const status of ['client_error', 'throttled', 'provider_error', 'error']) {
      expect(isWatched(call({ status }), WINDOW, {}), status).toBe(false);
    }
    expect(isWatched(call({ payload: null }), WINDOW, {})).toBe(false);
  });
});

describe('inTraffic', () => {
  it('is what isWatched asks of time, app and prompt, whatever the status and whether sampled', () => {
    for (const status of ['ok', 'client_error', 'throttled', 'provider_error', 'error']) {
      expect(
        inTraffic(call({ status, payload: null }), WINDOW, { app: 'web', prompt: 'support' }),
        status,
      ).toBe(true);
    }
    expect(inTraffic(call({ occurredAt: START.toISOString() }), WINDOW, {})).toBe(true);
    expect(inTraffic(call({ occurredAt: END.toISOString() }), WINDOW, {})).toBe(false);
    expect(inTraffic(call({ occurredAt: 'not a date' }), WINDOW, {})).toBe(false);
    expect(inTraffic(call({ app: 'evaluation' }), WINDOW, { app: 'evaluation' })).toBe(false);
    expect(inTraffic(call({ app: 'mobile' }), WINDOW, { app: 'web' })).toBe(false);
    expect(inTraffic(call({ prompt: null }), WINDOW, { prompt: 'support' })).toBe(false);
  });

  it('agrees with isWatched on every answered, sampled call', () => {
    const calls = [
      call(),
      call({ occurredAt: END.toISOString() }),
      call({ app: 'evaluation' }),
      call({ app: 'mobile' }),
      call({ prompt: { name: 'billing' } }),
      call({ prompt: null }),
    ];
    for (const filter of [{}, { app: 'web' }, { prompt: 'support' }, { app: 'mobile' }]) {
      for (const c of calls) expect(isWatched(c, WINDOW, filter)).toBe(inTraffic(c, WINDOW, filter));
    }
  });
});

describe('driftRecordOf', () => {
  it('reads the last user message, the answer, the best similarity and the compact embedding', () => {
    const vector = [0.5, -0.25, 0.125, 0, 1];
    const record = driftRecordOf(
      call({
        payload: {
          messages: [
            { role: 'user', content: { text: 'first question' } },
            { role: 'assistant', content: { text: 'first answer' } },
            { role: 'user', content: { text: 'the follow-up' } },
            { role: 'assistant', content: { text: 'a prefilled assistant turn' } },
          ],
          answer: { text: 'the answer' },
        },
        retrieval: {
          chunks: [{ similarity: 0.41 }, { similarity: 0.83 }, { similarity: 0.2 }],
          queryEmbedding: encodeEmbedding(vector),
        },
      }),
    );
    expect(record).toMatchObject({ text: 'the follow-up', answer: 'the answer', retrievalTopScore: 0.83 });
    const embedding = record?.embedding as number[];
    expect(embedding).toHaveLength(5);
    const scale = 1 / 127;
    embedding.forEach((x, i) => {
      expect(Math.abs(x - (vector[i] as number))).toBeLessThanOrEqual(scale / 2 + 1e-12);
    });
  });

  it('leaves out what the call does not have', () => {
    const bare = driftRecordOf(
      call({ payload: { messages: [{ role: 'user', content: { text: 'q' } }], answer: null } }),
    );
    expect(bare).toEqual({ text: 'q' });
    // Retrieval that found nothing has no top score (never -Infinity), and no embedding unless kept.
    const empty = driftRecordOf(call({ retrieval: { chunks: [] } }));
    expect(empty).toEqual({ text: 'How do I raise the memory of my function?', answer: 'Set MemorySize.' });
    expect(Object.keys(empty ?? {})).not.toContain('retrievalTopScore');
    // A negative similarity is still the best one.
    expect(driftRecordOf(call({ retrieval: { chunks: [{ similarity: -0.3 }] } }))?.retrievalTopScore).toBe(
      -0.3,
    );
  });

  it('is undefined for a call without a user message', () => {
    expect(
      driftRecordOf(
        call({
          payload: { messages: [{ role: 'assistant', content: { text: 'hello' } }], answer: { text: 'x' } },
        }),
      ),
    ).toBeUndefined();
    expect(driftRecordOf(call({ payload: null }))).toBeUndefined();
  });
});

describe('sampleByKey', () => {
  const items = Array.from({ length: 200 }, (_, i) => ({ id: `call-${i}`, at: i }));
  const key = (item: { id: string }) => item.id;

  it('keeps everything, in order, when there are at most max', () => {
    expect(sampleByKey(items.slice(0, 10), key, 10, 's')).toEqual(items.slice(0, 10));
    expect(sampleByKey([], key, 5, 's')).toEqual([]);
  });

  it('chooses exactly max, in input order', () => {
    const chosen = sampleByKey(items, key, 37, 'seed');
    expect(chosen).toHaveLength(37);
    expect(chosen.map((c) => c.at)).toEqual([...chosen.map((c) => c.at)].sort((a, b) => a - b));
    expect(new Set(chosen.map(key)).size).toBe(37);
  });

  it('chooses the same items whatever the order they were read in', () => {
    const ids = (list: readonly { id: string }[]) => list.map(key).sort();
    const once = sampleByKey(items, key, 50, 'support:2026-12-01T12:00:00.000Z');
    for (const seed of [1, 2, 3]) {
      const input = shuffled(items, seed);
      const again = sampleByKey(input, key, 50, 'support:2026-12-01T12:00:00.000Z');
      expect(ids(again)).toEqual(ids(once));
      // The chosen ones keep this input's order.
      const positions = again.map((item) => input.indexOf(item));
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
    }
  });

  it('chooses differently with another seed', () => {
    const a = sampleByKey(items, key, 50, 'window-a').map(key);
    const b = sampleByKey(items, key, 50, 'window-b').map(key);
    expect(a).not.toEqual(b);
    expect(sampleByKey(items, key, 50, 'window-a').map(key)).toEqual(a);
  });

  it('refuses a max that is not a positive integer', () => {
    for (const max of [0, -1, 2.5, Number.NaN]) {
      expect(() => sampleByKey(items, key, max, 's'), String(max)).toThrow(ValidationError);
    }
  });
});

describe('windowEndingAt', () => {
  it('is the cadence that ends at the given time', () => {
    expect(windowEndingAt(END, 360)).toEqual({ start: START, end: END });
    expect(windowEndingAt(END, 60).start.toISOString()).toBe('2026-12-01T11:00:00.000Z');
  });

  it('refuses an invalid end or cadence', () => {
    expect(() => windowEndingAt(new Date('nope'), 60)).toThrow(
      expect.objectContaining({ field: 'windowEnd' }),
    );
    expect(() => windowEndingAt(END, 0)).toThrow(expect.objectContaining({ field: 'cadenceMinutes' }));
    expect(() => windowEndingAt(END, Number.NaN)).toThrow(
      expect.objectContaining({ field: 'cadenceMinutes' }),
    );
  });
});
