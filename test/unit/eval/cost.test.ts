import { describe, expect, it } from 'vitest';
import { COST_ASSUMPTIONS, estimateRunCost } from '#core/eval/cost.ts';
import type { EvalItem } from '#core/eval/types.ts';
import { catalogModel } from '../../support/gateway-fixtures.ts';

/** A 500-item run with k = 3 on the default judge: the figure docs/evaluation.md quotes. */
const item = (i: number): EvalItem => ({
  id: `q${i}`,
  // "How long can a function run": 5 short words of one token and "function" (8 letters) of 2: 7 tokens.
  messages: [{ role: 'user', content: 'How long can a function run' }],
  references: ['15 minutes'],
  tags: [],
  unanswerable: false,
});
const ITEMS = Array.from({ length: 500 }, (_, i) => item(i));
const novaMicro = catalogModel('nova-micro', { pricePer1kInputUsd: 0.000035, pricePer1kOutputUsd: 0.00014 });
const haiku = catalogModel('claude-haiku-4-5', { pricePer1kInputUsd: 0.001, pricePer1kOutputUsd: 0.005 });

describe('estimateRunCost', () => {
  it('prices 500 RAG items, two judged metrics, k = 3 on Claude Haiku 4.5 (hand-checked)', () => {
    const estimate = estimateRunCost({
      items: ITEMS,
      target: novaMicro,
      judge: haiku,
      judgedMetrics: 2,
      k: 3,
      rag: true,
      baseline: false,
    });
    const a = COST_ASSUMPTIONS;
    // Judge call input: 400 instructions + 7 question + 1500 passages + 150 answer = 2057 tokens.
    expect(a.judgeInstructionTokens + 7 + a.passageTokens + a.answerTokens).toBe(2057);
    // 500 × 2 × 3 = 3000 calls: 6.171M input × $0.001/1k = $6.171; 750k output × $0.005/1k = $3.75.
    expect(estimate.judgeCalls).toBe(3000);
    expect(estimate.judgeUsd).toBeCloseTo(9.921, 6);
    // Answers: 500 × (300 + 7 + 1500) = 903.5k input × $0.000035/1k + 75k output × $0.00014/1k.
    expect(estimate.answersUsd).toBeCloseTo(0.0316225 + 0.0105, 6);
    expect(estimate.totalUsd).toBeCloseTo(9.9631225, 6);
  });

  it('doubles answers and judge calls with a baseline, and drops passages without retrieval', () => {
    const base = { items: ITEMS, target: novaMicro, judge: haiku, judgedMetrics: 2, k: 3 } as const;
    const one = estimateRunCost({ ...base, rag: false, baseline: false });
    const two = estimateRunCost({ ...base, rag: false, baseline: true });
    expect(two.judgeCalls).toBe(2 * one.judgeCalls);
    expect(two.totalUsd).toBeCloseTo(2 * one.totalUsd, 9);
    expect(one.tokens.input).toBeLessThan(
      estimateRunCost({ ...base, rag: true, baseline: false }).tokens.input,
    );
  });

  it('adds the pairwise judge: 2 calls per item (both orders, whatever k), each reading both answers', () => {
    const base = {
      items: ITEMS,
      target: novaMicro,
      judge: haiku,
      judgedMetrics: 2,
      k: 3,
      rag: true,
      baseline: true,
    } as const;
    const plain = estimateRunCost(base);
    const pairwise = estimateRunCost({ ...base, pairwise: true });
    const a = COST_ASSUMPTIONS;
    // 500 × 2 = 1000 calls of 2057 + 150 (the second answer) = 2207 input tokens and 250 output.
    expect(pairwise.judgeCalls - plain.judgeCalls).toBe(1000);
    expect(pairwise.judgeUsd - plain.judgeUsd).toBeCloseTo(
      (1000 * (2057 + a.answerTokens) * 0.001) / 1000 + (1000 * a.judgeOutputTokens * 0.005) / 1000,
      9,
    );
    expect(pairwise.judgeUsd - plain.judgeUsd).toBeCloseTo(3.457, 9);
    expect(pairwise.answersUsd).toBe(plain.answersUsd);
  });
});
