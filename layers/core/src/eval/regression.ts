/**
 * Between runs: a seeded sample of a suite's items (a scheduled run evaluates the same items every time,
 * so that two runs pair up), and the regression check of a run against the previous run of the same
 * target on the same suite — the gate's paired non-inferiority test, items paired by id.
 */
import { createHash } from 'node:crypto';
import { decideGate, type GateMetricInput } from './gate.ts';
import type { ItemRecord, RunGate } from './report/types.ts';
import { BUILT_IN_RUBRICS } from './rubrics/index.ts';
import type { ItemMetric } from './run.ts';
import type { EvalItem, MetricSummary } from './types.ts';

/**
 * At most `max` items, chosen by the smallest SHA-256 of `seed` and each item id (bottom-k): the same
 * items for the same seed whatever their order, and most of them again after items are added. Returned
 * in the suite's order; all items when there are no more than `max`.
 */
export function sampleItems(items: readonly EvalItem[], max: number, seed: string): EvalItem[] {
  if (items.length <= max) return [...items];
  const rank = (item: EvalItem) => createHash('sha256').update(`${seed}\u0000${item.id}`).digest('hex');
  const kept = new Set(
    items
      .map((item) => ({ id: item.id, rank: rank(item) }))
      .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0))
      .slice(0, Math.max(0, max))
      .map((r) => r.id),
  );
  return items.filter((item) => kept.has(item.id));
}

/**
 * What the regression check reads of an item: its id, scores and the metrics its judge was unstable on
 * (an `items.jsonl` line has them).
 */
export type RegressionItem = Pick<ItemRecord, 'id' | 'scores' | 'unstable'>;

export interface RegressionInput {
  /**
   * This run's items and metric summaries (of a summary, only the name and the judge's calibration are
   * read).
   */
  readonly current: {
    readonly items: readonly RegressionItem[];
    readonly metrics: readonly Pick<MetricSummary, 'name' | 'judge'>[];
  };
  /** The previous run's items (same suite version and target). */
  readonly previous: readonly RegressionItem[];
  /** The run's non-judge metrics, for their direction. */
  readonly metrics: readonly Pick<ItemMetric, 'name' | 'higherIsBetter'>[];
  readonly seed: string;
}

/**
 * This run against the previous one, paired by item id, with the gate's rule: a metric regresses when
 * it drops beyond max(0.02, the paired interval's half-width). Judge metrics keep their calibration
 * (an uncalibrated one is reported and decides nothing), and an item unstable on either run leaves
 * that metric's comparison, as in the gate; descriptions (sentiment) and bias gaps are not compared.
 * Undefined when the runs share no item.
 */
export function regressionGate(input: RegressionInput): RunGate | undefined {
  const previous = new Map(input.previous.map((item) => [item.id, item]));
  const paired = input.current.items.filter((item) => previous.has(item.id));
  if (paired.length === 0) return undefined;
  const direction = (name: string): boolean | undefined => {
    const metric = input.metrics.find((m) => m.name === name);
    if (metric) return metric.higherIsBetter;
    const rubric = BUILT_IN_RUBRICS[name];
    if (rubric === undefined || rubric.better === 'none') return undefined;
    return rubric.better === 'higher';
  };
  const gated: GateMetricInput[] = [];
  for (const summary of input.current.metrics) {
    const higherIsBetter = direction(summary.name);
    if (higherIsBetter === undefined) continue;
    // The items the metric applies to (on either side); a side without a value there failed it.
    const name = summary.name;
    const applies = paired.filter(
      (item) => name in item.scores || name in (previous.get(item.id)?.scores ?? {}),
    );
    const unstableOn = (item: RegressionItem | undefined) => item?.unstable?.includes(name) === true;
    const scored = applies.filter((item) => !unstableOn(item) && !unstableOn(previous.get(item.id)));
    const unstable = applies.length - scored.length;
    gated.push({
      name,
      higherIsBetter,
      candidate: scored.map((item) => item.scores[name] ?? null),
      baseline: scored.map((item) => previous.get(item.id)?.scores[name] ?? null),
      ...(summary.judge ? { calibrated: summary.judge.calibrated } : {}),
      ...(unstable > 0 ? { unstable } : {}),
    });
  }
  const decided = decideGate({ metrics: gated, seed: `${input.seed}/regression` });
  return {
    pass: decided.pass,
    metrics: decided.metrics.map((m) => ({
      name: m.name,
      verdict: m.verdict,
      diff: m.diff,
      margin: m.margin,
      reason: m.reason,
    })),
  };
}

/** Whether a regression check found a metric that dropped beyond its margin. */
export function regressed(gate: RunGate | undefined): boolean {
  return gate?.metrics.some((m) => m.verdict === 'fail') ?? false;
}
