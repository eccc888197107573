import { ValidationError } from '../errors.ts';
import {
  type BootstrapOptions,
  bootstrapMean,
  EMPTY_ESTIMATE,
  pairedBootstrapDiff,
  type Seed,
} from './stats.ts';
import type { Estimate } from './types.ts';

/**
 * The non-inferiority gate of a paired comparison: a candidate run against a baseline run on the same
 * items, metric by metric.
 *
 * The rule "f1 may not drop by more than max(0.02, the paired CI)" reads, for each gated metric:
 *
 * - diff = the mean over items of candidate − baseline, with a paired percentile bootstrap interval;
 * - margin = max(minMargin, half-width of that interval), half-width = (ci[1] − ci[0]) / 2;
 * - fail when the point estimate moves the wrong way by more than the margin: diff.value < −margin
 *   when higher is better, diff.value > margin when lower is better; pass otherwise (equal and better
 *   candidates pass).
 *
 * So a drop fails only when it is larger than both the fixed margin and the run's own noise. Margins
 * are in the metric's units.
 *
 * Other verdicts:
 * - `uncalibrated`: a judge metric whose rubric is not calibrated (`calibrated: false`) is reported
 *   and ignored: it neither passes nor blocks the gate. A metric without `calibrated` is not a judge
 *   metric and always gates.
 * - `insufficient`: fewer than `minPairs` items were scored on both sides (a small slice, such as
 *   the few unanswerable items of a suite): reported, and decides nothing either way.
 *
 * Failed items (`null`) are never scored as 0: they leave the paired comparison and are counted. A
 * candidate that fails on a larger share of items than the baseline, by more than
 * `maxExtraFailedShare`, fails the metric: otherwise a candidate could pass by failing on the items it
 * would have scored badly.
 *
 * The gate passes when no metric fails and at least one metric was decided (`pass`): a comparison in
 * which nothing could be decided is no evidence of non-inferiority, so it does not pass.
 */

export type GateVerdict = 'pass' | 'fail' | 'uncalibrated' | 'insufficient';

/** One metric of the comparison, aligned item by item: `candidate[i]` and `baseline[i]` score the same item. */
export interface GateMetricInput {
  readonly name: string;
  readonly higherIsBetter: boolean;
  readonly candidate: readonly (number | null)[];
  readonly baseline: readonly (number | null)[];
  /** The least drop tolerated, in the metric's units. @default 0.02 */
  readonly minMargin?: number;
  /**
   * Judge metrics only: whether the judge's rubric is calibrated (see {@link calibratedToGate}).
   * `false`: reported as `uncalibrated` and ignored. Absent: not a judge metric, always gated.
   */
  readonly calibrated?: boolean;
  /**
   * Judge metrics: items the caller left out of `candidate` and `baseline` because the judge's repeats
   * disagreed on either side (unstable, not a number). Only named in the reason. @default 0
   */
  readonly unstable?: number;
}

export interface GateOptions {
  readonly metrics: readonly GateMetricInput[];
  readonly seed: Seed;
  /** @default 2000 */
  readonly resamples?: number;
  /** @default 0.95 */
  readonly confidence?: number;
  /** Fewest items scored on both sides for a metric to be decided. @default 10 */
  readonly minPairs?: number;
  /**
   * How much larger the candidate's share of failed items may be than the baseline's. `Infinity`
   * turns the check off. @default 0.02
   */
  readonly maxExtraFailedShare?: number;
}

export interface GateMetricResult {
  readonly name: string;
  readonly higherIsBetter: boolean;
  readonly verdict: GateVerdict;
  /** Why, in one sentence, with the numbers. */
  readonly reason: string;
  /** The candidate's mean over the paired items (those both sides scored). */
  readonly candidate: Estimate;
  /** The baseline's mean over the paired items. */
  readonly baseline: Estimate;
  /** Mean of candidate − baseline over the paired items, with its paired bootstrap interval. */
  readonly diff: Estimate;
  /** max(minMargin, half-width of diff.ci); minMargin when there is no interval. */
  readonly margin: number;
  /** Items failed (`null`) on each side, and pairs left out of the comparison for it. */
  readonly failed: { readonly candidate: number; readonly baseline: number; readonly pairsDropped: number };
}

export interface GateResult {
  readonly pass: boolean;
  /** Metrics that took part in the decision (all but the uncalibrated ones). */
  readonly gated: number;
  readonly metrics: readonly GateMetricResult[];
}

export const DEFAULT_MIN_MARGIN = 0.02;
export const DEFAULT_MIN_PAIRS = 10;
export const DEFAULT_MAX_EXTRA_FAILED_SHARE = 0.02;

/** A judge may gate only when it agrees with humans at least this well (Cohen's kappa)... */
export const MIN_CALIBRATION_KAPPA = 0.6;
/** ...measured on at least this many human labels. */
export const MIN_CALIBRATION_LABELS = 50;

/**
 * Whether a judge is calibrated well enough to gate: its agreement with human labels has kappa
 * ≥ 0.6 (the point estimate) on at least 50 labels. `labels` defaults to the estimate's `n`. A NaN
 * kappa (undefined agreement) is never calibrated.
 */
export function calibratedToGate(kappa: Estimate, labels: number = kappa.n): boolean {
  return kappa.value >= MIN_CALIBRATION_KAPPA && labels >= MIN_CALIBRATION_LABELS;
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : String(x));
const signed = (x: number) => (x >= 0 ? `+${fmt(x)}` : fmt(x));

function countNulls(values: readonly (number | null)[]): number {
  let c = 0;
  for (const v of values) if (v === null || v === undefined) c++;
  return c;
}

function decideMetric(metric: GateMetricInput, opts: GateOptions): GateMetricResult {
  const { name, higherIsBetter, candidate, baseline } = metric;
  const minMargin = metric.minMargin ?? DEFAULT_MIN_MARGIN;
  if (!(minMargin >= 0 && Number.isFinite(minMargin))) {
    throw new ValidationError(`metrics.${name}.minMargin`, 'must be a finite number ≥ 0');
  }
  const seed = (part: string): BootstrapOptions => ({
    seed: `${opts.seed}\u0000${name}\u0000${part}`,
    ...(opts.resamples === undefined ? {} : { resamples: opts.resamples }),
    ...(opts.confidence === undefined ? {} : { confidence: opts.confidence }),
  });
  const diff = pairedBootstrapDiff(candidate, baseline, seed('diff'));
  const pairedC: number[] = [];
  const pairedB: number[] = [];
  for (let i = 0; i < candidate.length; i++) {
    const c = candidate[i] ?? null;
    const b = baseline[i] ?? null;
    if (c !== null && b !== null) {
      pairedC.push(c);
      pairedB.push(b);
    }
  }
  const candidateEstimate = pairedC.length === 0 ? EMPTY_ESTIMATE : bootstrapMean(pairedC, seed('candidate'));
  const baselineEstimate = pairedB.length === 0 ? EMPTY_ESTIMATE : bootstrapMean(pairedB, seed('baseline'));
  const halfWidth = diff.n === 0 ? 0 : (diff.ci[1] - diff.ci[0]) / 2;
  const margin = Math.max(minMargin, halfWidth);
  const failed = {
    candidate: countNulls(candidate),
    baseline: countNulls(baseline),
    pairsDropped: diff.dropped,
  };
  const { dropped: _dropped, ...diffEstimate } = diff;
  const base = {
    name,
    higherIsBetter,
    candidate: candidateEstimate,
    baseline: baselineEstimate,
    diff: diffEstimate,
    margin,
    failed,
  };
  const leftOut =
    (metric.unstable ?? 0) > 0
      ? `; ${metric.unstable} unstable item${metric.unstable === 1 ? '' : 's'} left out`
      : '';
  const verdict = (v: GateVerdict, reason: string): GateMetricResult => ({
    ...base,
    verdict: v,
    reason: `${reason}${leftOut}`,
  });

  if (metric.calibrated === false) {
    return verdict('uncalibrated', `${name}: the judge's rubric is not calibrated; reported, not gated`);
  }
  const minPairs = opts.minPairs ?? DEFAULT_MIN_PAIRS;
  if (diff.n < minPairs) {
    return verdict(
      'insufficient',
      `${name}: ${diff.n} items scored on both sides, fewer than the ${minPairs} needed to decide`,
    );
  }
  const maxExtra = opts.maxExtraFailedShare ?? DEFAULT_MAX_EXTRA_FAILED_SHARE;
  const items = candidate.length;
  const extraFailedShare = (failed.candidate - failed.baseline) / items;
  if (extraFailedShare > maxExtra) {
    return verdict(
      'fail',
      `${name}: the candidate failed on ${failed.candidate} of ${items} items against ${failed.baseline} ` +
        `for the baseline (${fmt(extraFailedShare)} more of the items, above ${fmt(maxExtra)})`,
    );
  }
  const worse = higherIsBetter ? -diff.value : diff.value;
  const numbers =
    `candidate ${fmt(candidateEstimate.value)} vs baseline ${fmt(baselineEstimate.value)} on ${diff.n} paired items, ` +
    `diff ${signed(diff.value)} [${fmt(diff.ci[0])}, ${fmt(diff.ci[1])}], ` +
    `margin ${fmt(margin)} = max(minMargin ${fmt(minMargin)}, CI half-width ${fmt(halfWidth)})`;
  if (worse > margin) {
    return verdict('fail', `${name} got worse by more than the margin: ${numbers}`);
  }
  return verdict('pass', `${name} is within the margin or better: ${numbers}`);
}

/**
 * Decides the gate metric by metric (see the module comment for the rule). Each metric's intervals
 * come from a seed derived from `seed` and the metric's name, so adding a metric changes no other
 * metric's result. Throws a `ValidationError` on an empty or duplicated metric name, or on candidate
 * and baseline arrays of different lengths.
 */
export function decideGate(opts: GateOptions): GateResult {
  const minPairs = opts.minPairs ?? DEFAULT_MIN_PAIRS;
  if (!Number.isInteger(minPairs) || minPairs < 1) {
    throw new ValidationError('minPairs', 'must be a positive integer');
  }
  const maxExtra = opts.maxExtraFailedShare ?? DEFAULT_MAX_EXTRA_FAILED_SHARE;
  if (!(maxExtra >= 0)) throw new ValidationError('maxExtraFailedShare', 'must be a number ≥ 0');
  const names = new Set<string>();
  for (const [i, metric] of opts.metrics.entries()) {
    if (metric.name === '') throw new ValidationError(`metrics.${i}.name`, 'must not be empty');
    if (names.has(metric.name))
      throw new ValidationError(`metrics.${i}.name`, `${metric.name} appears twice`);
    names.add(metric.name);
  }
  const metrics = opts.metrics.map((metric) => decideMetric(metric, opts));
  const gated = metrics.filter((m) => m.verdict === 'pass' || m.verdict === 'fail').length;
  const pass = gated > 0 && metrics.every((m) => m.verdict !== 'fail');
  return { pass, gated, metrics };
}
