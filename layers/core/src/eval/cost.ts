/**
 * What an evaluation run will cost before it runs, from catalog prices: the answers of the target (and
 * of the baseline), each judge call (k repeats per judged metric per item), and with `pairwise` the
 * pairwise judge's two calls per item (both orders, once per item whatever k). Token counts are
 * estimated from the items' own text and a per-call allowance for instructions, passages and output;
 * the estimate is meant to refuse a run over its budget, so it errs high.
 */
import type { CatalogModel } from '#contracts/models/catalog.ts';
import { estimateTokens } from '../models/estimate.ts';
import { costUsd } from '../models/select.ts';
import type { EvalItem } from './types.ts';

/** Per-call token allowances (instructions, retrieved passages, the answer, the judge's output). */
export const COST_ASSUMPTIONS = {
  /** System prompt and template around the question. */
  promptTokens: 300,
  /** Retrieved passages per answer, when the run uses retrieval (5 × 300). */
  passageTokens: 1500,
  /** An answer. */
  answerTokens: 150,
  /** A judge's instructions and rubric. */
  judgeInstructionTokens: 400,
  /** A judge's structured output (claims and verdicts, reasons). */
  judgeOutputTokens: 250,
} as const;

export interface CostEstimateInput {
  readonly items: readonly EvalItem[];
  /** The model that answers (target and baseline alike). */
  readonly target: CatalogModel;
  readonly judge: CatalogModel;
  /** Judged metrics per item (e.g. faithfulness and answer relevance: 2). */
  readonly judgedMetrics: number;
  /** Repeats per judged metric. */
  readonly k: number;
  /** Whether answers come with retrieved passages. */
  readonly rag: boolean;
  /** A baseline answered and judged on the same items (doubles answers and judge calls). */
  readonly baseline: boolean;
  /**
   * Candidate and baseline compared by the pairwise judge: 2 calls per item (both orders), each
   * reading both answers. Counted once per item, so a caller pricing each side on its own sets it on
   * one side only. @default false
   */
  readonly pairwise?: boolean;
}

export interface CostEstimate {
  readonly answersUsd: number;
  readonly judgeUsd: number;
  readonly totalUsd: number;
  readonly judgeCalls: number;
  readonly tokens: { readonly input: number; readonly output: number };
}

/** The estimated cost of a run, in US dollars, with the token counts it rests on. */
export function estimateRunCost(input: CostEstimateInput): CostEstimate {
  const a = COST_ASSUMPTIONS;
  const sides = input.baseline ? 2 : 1;
  let answerIn = 0;
  let judgeIn = 0;
  for (const item of input.items) {
    const question = item.messages.reduce((sum, m) => sum + estimateTokens(m.content), 0);
    const passages = input.rag ? a.passageTokens : 0;
    answerIn += a.promptTokens + question + passages;
    judgeIn += a.judgeInstructionTokens + question + passages + a.answerTokens;
  }
  const answerOut = input.items.length * a.answerTokens;
  const metricCalls = input.items.length * input.judgedMetrics * input.k * sides;
  const pairCalls = input.pairwise ? input.items.length * 2 : 0;
  const judgeCalls = metricCalls + pairCalls;
  const perJudgeCall = input.items.length === 0 ? 0 : judgeIn / input.items.length;
  // A pairwise call reads what a metric's call reads, plus the second answer.
  const judgeInput = perJudgeCall * metricCalls + (perJudgeCall + a.answerTokens) * pairCalls;
  const judgeOutput = a.judgeOutputTokens * judgeCalls;
  const answersUsd = sides * costUsd(input.target, { inputTokens: answerIn, outputTokens: answerOut });
  const judgeUsd = costUsd(input.judge, { inputTokens: judgeInput, outputTokens: judgeOutput });
  return {
    answersUsd,
    judgeUsd,
    totalUsd: answersUsd + judgeUsd,
    judgeCalls,
    tokens: { input: sides * answerIn + judgeInput, output: sides * answerOut + judgeOutput },
  };
}
