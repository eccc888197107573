import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cosine,
  hashEmbedding,
  OFFLINE_NO_ANSWER,
  OfflineProvider,
  splitSentences,
} from '#core/models/offline.ts';
import type { ChatRequest } from '#core/models/types.ts';
import { collect } from '../../support/async.ts';

const provider = new OfflineProvider();

const passages = [
  'Refunds are issued within 14 days of the return being received. Items must be unused.',
  'To reset your password, open Settings and choose Security. A reset link is sent to your email address.',
  'Shipping to the European Union takes 3 to 5 business days. Express delivery costs extra.',
  'API rate limits are 100 requests per second per account.',
];

const ask = (question: string, extra: Partial<ChatRequest> = {}): ChatRequest => ({
  modelId: 'offline-extractive',
  messages: [{ role: 'user', content: question }],
  context: passages,
  ...extra,
});

const norm = (v: readonly number[]): number => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));

describe('hashEmbedding', () => {
  it('is deterministic and has the requested dimension', () => {
    expect(hashEmbedding('Reset my password', 256)).toEqual(hashEmbedding('Reset my password', 256));
    expect(hashEmbedding('Reset my password', 256)).toHaveLength(256);
    expect(hashEmbedding('Reset my password')).toHaveLength(1024);
  });

  it('is L2-normalized unless asked not to be, and zero for a text without words', () => {
    expect(norm(hashEmbedding('How long does shipping take?'))).toBeCloseTo(1, 10);
    expect(norm(hashEmbedding('How long does shipping take?', 1024, false))).toBeGreaterThan(1);
    expect(hashEmbedding(' ... ', 64).every((x) => x === 0)).toBe(true);
  });

  it('ignores case and compatibility forms (NFKC)', () => {
    expect(hashEmbedding('ＲＥＳＥＴ password')).toEqual(hashEmbedding('reset PASSWORD'));
  });

  it('places similar texts closer than unrelated ones', () => {
    const query = hashEmbedding('How do I reset my password?');
    const paraphrase = cosine(query, hashEmbedding('How can I reset my password'));
    const related = cosine(query, hashEmbedding('resetting passwords'));
    const unrelated = cosine(
      query,
      hashEmbedding('Shipping to the European Union takes 3 to 5 business days.'),
    );
    expect(paraphrase).toBeGreaterThan(0.7);
    expect(related).toBeGreaterThan(unrelated);
    expect(paraphrase).toBeGreaterThan(related);
    expect(unrelated).toBeLessThan(0.1);
  });

  it('rejects a dimension that is not a positive whole number', () => {
    expect(() => hashEmbedding('x', 0)).toThrow(/dimensions/);
  });

  it('gives unit vectors and a self-cosine of 1 for any text with a word (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 200 }),
        fc.integer({ min: 8, max: 512 }),
        (text, dims) => {
          const v = hashEmbedding(`w ${text}`, dims);
          expect(v).toHaveLength(dims);
          expect(norm(v)).toBeCloseTo(1, 9);
          expect(cosine(v, v)).toBeCloseTo(1, 9);
          expect(hashEmbedding(`w ${text}`, dims)).toEqual(v);
        },
      ),
    );
  });
});

describe('cosine', () => {
  it('is 0 for a zero vector and refuses vectors of different lengths', () => {
    expect(cosine([0, 0], [1, 0])).toBe(0);
    expect(cosine([1, 0], [0, 1])).toBe(0);
    expect(() => cosine([1], [1, 2])).toThrow(RangeError);
  });
});

describe('splitSentences', () => {
  it('splits on sentence ends and line breaks, dropping blanks and repeats', () => {
    expect(splitSentences(['One. Two!\n\nThree?', 'One.'])).toEqual(['One.', 'Two!', 'Three?']);
  });
});

describe('OfflineProvider.chat', () => {
  it('answers with the sentence that matches the question', async () => {
    const result = await provider.chat(ask('How do I reset my password?'));
    expect(result.text).toContain('To reset your password, open Settings and choose Security.');
    expect(result.text).not.toContain('Shipping');
    expect(result).toMatchObject({
      provider: 'offline',
      modelId: 'offline-extractive',
      stopReason: 'end_turn',
    });
    expect(result.usage.inputTokens).toBeGreaterThan(20);
    expect(result.usage.outputTokens).toBeGreaterThan(0);
  });

  it('matches word forms (refund / refunds)', async () => {
    const result = await provider.chat(ask('When will I get my refund?'));
    expect(result.text).toBe('Refunds are issued within 14 days of the return being received.');
  });

  it('says honestly when nothing in the context answers', async () => {
    const result = await provider.chat(ask('What is the weather on Mars?'));
    expect(result.text).toBe(OFFLINE_NO_ANSWER);
    expect((await provider.chat(ask('hi'))).text).toBe(OFFLINE_NO_ANSWER);
  });

  it('uses the system prompt and earlier turns when no context is given', async () => {
    const result = await provider.chat({
      modelId: 'm',
      system: 'You support Acme. Acme support is open Monday to Friday from 9 to 5.',
      messages: [
        { role: 'user', content: 'Our office moved to Lyon last year.' },
        { role: 'assistant', content: 'Noted.' },
        { role: 'user', content: 'When is support open?' },
      ],
    });
    expect(result.text).toContain('Acme support is open Monday to Friday from 9 to 5.');
    expect(result.text).not.toContain('Lyon');
  });

  it('returns several matching sentences in source order', async () => {
    const result = await provider.chat({
      modelId: 'm',
      messages: [{ role: 'user', content: 'How long do shipping and delivery take?' }],
      context: ['Delivery takes 2 days in France.', 'Cats are mammals. Shipping takes 3 days abroad.'],
    });
    expect(result.text).toBe('Delivery takes 2 days in France. Shipping takes 3 days abroad.');
  });

  it('stays within maxTokens and says so', async () => {
    const result = await provider.chat(ask('How do I reset my password?', { maxTokens: 3 }));
    expect(result.stopReason).toBe('max_tokens');
    expect(result.usage.outputTokens).toBeLessThanOrEqual(3);
    expect(result.text.length).toBeGreaterThan(0);
  });

  it('stops at a stop sequence', async () => {
    const result = await provider.chat(ask('How do I reset my password?', { stopSequences: [', open'] }));
    expect(result.text).toBe('To reset your password');
    expect(result.stopReason).toBe('stop_sequence');
  });

  it('refuses an aborted request', async () => {
    await expect(provider.chat(ask('x', { signal: AbortSignal.abort() }))).rejects.toThrow();
  });
});

describe('OfflineProvider.chatStream', () => {
  const stream = (request: ChatRequest) => collect(provider.chatStream(request));

  it('streams word-sized deltas that concatenate to the chat text, then done', async () => {
    const request = ask('How do I reset my password?');
    const events = await stream(request);
    const deltas = events.filter((e) => e.type === 'delta').map((e) => e.text);
    const last = events.at(-1);
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.join('')).toBe((await provider.chat(request)).text);
    expect(last?.type === 'done' && last.result.text).toBe(deltas.join(''));
    expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
  });

  it('streams the same text as chat for any question (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 80 }), async (question) => {
        const request = ask(question);
        const events = await stream(request);
        const text = events.map((e) => (e.type === 'delta' ? e.text : '')).join('');
        expect(text).toBe((await provider.chat(request)).text);
      }),
      { numRuns: 50 },
    );
  });
});

describe('OfflineProvider.embed', () => {
  it('embeds every text in order with the requested dimension', async () => {
    const result = await provider.embed({ modelId: 'offline-embed', texts: ['a b', 'c d'], dimensions: 32 });
    expect(result.vectors).toEqual([hashEmbedding('a b', 32), hashEmbedding('c d', 32)]);
    expect(result).toMatchObject({ dimensions: 32, provider: 'offline', modelId: 'offline-embed' });
    expect(result.usage.inputTokens).toBeGreaterThan(0);
  });

  it('skips normalization when asked', async () => {
    const result = await provider.embed({ modelId: 'm', texts: ['word word word'], normalize: false });
    expect(norm(result.vectors[0] ?? [])).toBeGreaterThan(1);
  });
});
