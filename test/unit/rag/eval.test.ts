import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import { distinctInOrder, evaluateRetrieval, recallAtK, reciprocalRank } from '#core/rag/eval.ts';

describe('recallAtK', () => {
  it('is the share of relevant documents among the first k distinct ones', () => {
    // distinct: x, a, y, b
    expect(recallAtK(['a', 'b'], ['x', 'a', 'a', 'y', 'b'], 3)).toBe(0.5);
    expect(recallAtK(['a', 'b'], ['x', 'a', 'a', 'y', 'b'], 4)).toBe(1);
    expect(recallAtK(['a', 'b'], ['x', 'a', 'a', 'y', 'b'], 1)).toBe(0);
  });

  it('counts a document repeated by several chunks once, at its first position', () => {
    // Three chunks of a would push b out of the first two chunks, but not out of the first two documents.
    expect(recallAtK(['b'], ['a', 'a', 'a', 'b'], 2)).toBe(1);
    expect(recallAtK(['a'], ['a', 'a', 'a'], 1)).toBe(1);
  });

  it('ignores repeats in the relevant list', () => {
    expect(recallAtK(['a', 'a', 'b'], ['a'], 5)).toBe(0.5);
  });

  it('is 0 when nothing relevant was retrieved, or nothing at all', () => {
    expect(recallAtK(['z'], ['a', 'b', 'c'], 3)).toBe(0);
    expect(recallAtK(['z'], [], 3)).toBe(0);
  });

  it('takes a list shorter than k as it is', () => {
    expect(recallAtK(['a', 'b', 'c'], ['b'], 100)).toBeCloseTo(1 / 3, 12);
    expect(recallAtK(['a', 'b'], ['b', 'a'], 100)).toBe(1);
  });

  it('refuses a k that is not a positive whole number, and an empty relevant list', () => {
    for (const k of [0, -1, 1.5, Number.NaN])
      expect(() => recallAtK(['a'], ['a'], k)).toThrow(ValidationError);
    expect(() => recallAtK([], ['a'], 1)).toThrow(ValidationError);
  });
});

describe('reciprocalRank', () => {
  it('is 1 / the rank of the first relevant document among the distinct ones', () => {
    expect(reciprocalRank(['a'], ['a', 'b'])).toBe(1);
    // distinct: a, c, b; c comes first of the relevant ones, at rank 2
    expect(reciprocalRank(['b', 'c'], ['a', 'a', 'c', 'b'])).toBe(0.5);
    expect(reciprocalRank(['d'], ['a', 'b', 'a', 'c', 'd'])).toBe(0.25);
  });

  it('is 0 when no relevant document was retrieved', () => {
    expect(reciprocalRank(['z'], ['a', 'b'])).toBe(0);
    expect(reciprocalRank(['z'], [])).toBe(0);
  });

  it('refuses an empty relevant list', () => {
    expect(() => reciprocalRank([], ['a'])).toThrow(ValidationError);
  });
});

describe('evaluateRetrieval', () => {
  it('averages recall@k and reciprocal rank over the questions (hand-computed)', () => {
    const evaluation = evaluateRetrieval(
      [
        { id: 'q1', relevant: ['a'], retrieved: ['a', 'b'] },
        // distinct: x, c, y, d; top 2: x, c
        { id: 'q2', relevant: ['c', 'd'], retrieved: ['x', 'x', 'c', 'y', 'd'] },
        { id: 'q3', relevant: ['z'], retrieved: ['x', 'y'] },
      ],
      2,
    );
    expect(evaluation.k).toBe(2);
    expect(evaluation.recallAtK).toBeCloseTo((1 + 0.5 + 0) / 3, 12);
    expect(evaluation.mrr).toBeCloseTo((1 + 0.5 + 0) / 3, 12);
    expect(evaluation.perQuestion).toEqual([
      { id: 'q1', recallAtK: 1, reciprocalRank: 1, firstRelevantRank: 1, ranking: ['a', 'b'], missed: [] },
      {
        id: 'q2',
        recallAtK: 0.5,
        reciprocalRank: 0.5,
        firstRelevantRank: 2,
        ranking: ['x', 'c', 'y', 'd'],
        missed: ['d'],
      },
      { id: 'q3', recallAtK: 0, reciprocalRank: 0, ranking: ['x', 'y'], missed: ['z'] },
    ]);
  });

  it('gives the same figures as recallAtK and reciprocalRank, question by question', () => {
    const doc = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h');
    const question = fc.record({
      id: fc.string(),
      relevant: fc.array(doc, { minLength: 1, maxLength: 4 }),
      retrieved: fc.array(doc, { maxLength: 12 }),
    });
    fc.assert(
      fc.property(
        fc.array(question, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 10 }),
        (qs, k) => {
          const evaluation = evaluateRetrieval(qs, k);
          qs.forEach((q, i) => {
            const score = evaluation.perQuestion[i];
            expect(score?.recallAtK).toBe(recallAtK(q.relevant, q.retrieved, k));
            expect(score?.reciprocalRank).toBe(reciprocalRank(q.relevant, q.retrieved));
            expect(score?.ranking).toEqual(distinctInOrder(q.retrieved));
            // Recall never falls as k grows, and MRR is at least the recall@1.
            expect(recallAtK(q.relevant, q.retrieved, k + 1)).toBeGreaterThanOrEqual(score?.recallAtK ?? 0);
            expect(score?.reciprocalRank ?? 0).toBeGreaterThanOrEqual(
              recallAtK(q.relevant, q.retrieved, 1) > 0 ? 1 : 0,
            );
          });
          expect(evaluation.recallAtK).toBeGreaterThanOrEqual(0);
          expect(evaluation.recallAtK).toBeLessThanOrEqual(1);
          expect(evaluation.mrr).toBeGreaterThanOrEqual(0);
          expect(evaluation.mrr).toBeLessThanOrEqual(1);
        },
      ),
    );
  });

  it('refuses an empty question set, a bad k, and a question without relevant documents (naming it)', () => {
    expect(() => evaluateRetrieval([], 5)).toThrow(ValidationError);
    expect(() => evaluateRetrieval([{ id: 'q', relevant: ['a'], retrieved: [] }], 0)).toThrow(
      ValidationError,
    );
    let error: unknown;
    try {
      evaluateRetrieval(
        [
          { id: 'q1', relevant: ['a'], retrieved: [] },
          { id: 'q2', relevant: [], retrieved: ['a'] },
        ],
        5,
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('results.1.relevant');
  });
});

describe('distinctInOrder', () => {
  it('keeps each id once, at its first position', () => {
    expect(distinctInOrder(['b', 'a', 'b', 'c', 'a'])).toEqual(['b', 'a', 'c']);
    expect(distinctInOrder([])).toEqual([]);
  });
});
