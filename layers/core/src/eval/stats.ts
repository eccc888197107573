import { ValidationError } from '../errors.ts';
import { fmix32, fnv1a } from '../hash32.ts';
import type { Estimate, MetricSummary } from './types.ts';

/**
 * The evaluation engine's statistics, pure and deterministic: a seeded generator, percentile bootstrap
 * intervals (one mean, or the mean paired difference of two runs), agreement between two raters
 * (Cohen's kappa), precision and recall, measures for repeated judging, and a metric's summary.
 *
 * Every resampling takes a seed: the same inputs and the same seed give the same interval, bit for bit.
 *
 * An empty sample has no mean: its estimate is {@link EMPTY_ESTIMATE} (`value` NaN, `n` 0, `ci`
 * [NaN, NaN]) rather than `null`, so an `Estimate` stays an `Estimate`; test `n === 0` before
 * reading the value (NaN turns into `null` in JSON).
 */

/** A seed: any string or number; the same seed always gives the same stream. */
export type Seed = string | number;

/** A stream of pseudo-random numbers (xoshiro128**). */
export interface Rng {
  /** The next unsigned 32-bit integer. */
  nextUint32(): number;
  /** The next float in [0, 1), with 32 random bits. */
  next(): number;
  /** The next integer in [0, n), for 0 < n ≤ 2^21 (bias below n / 2^32). */
  nextInt(n: number): number;
}

const TWO_POW_MINUS_32 = 2 ** -32;
const MAX_INT_RANGE = 2 ** 21;

/** The four 32-bit words of a generator's state, spread from one seed by splitmix32. */
function seedState(seed: Seed): Uint32Array {
  let h = fmix32(fnv1a(typeof seed === 'number' ? `#${seed}` : seed));
  const state = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    h = (h + 0x9e3779b9) | 0;
    state[i] = fmix32(h) >>> 0;
  }
  // xoshiro must never start from all zeros (splitmix32 output makes this practically impossible).
  if (state.every((word) => word === 0)) state[0] = 1;
  return state;
}

/**
 * A xoshiro128** generator seeded from a string or number (hashed with FNV-1a, then spread by
 * splitmix32). Not for secrets: for reproducible resampling only.
 */
export function createRng(seed: Seed): Rng {
  const state = seedState(seed);
  let s0 = state[0] as number;
  let s1 = state[1] as number;
  let s2 = state[2] as number;
  let s3 = state[3] as number;
  const nextUint32 = (): number => {
    const x = Math.imul(s1, 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    return result;
  };
  return {
    nextUint32,
    next: () => nextUint32() * TWO_POW_MINUS_32,
    nextInt: (n: number) => {
      if (!Number.isInteger(n) || n <= 0 || n > MAX_INT_RANGE) {
        throw new ValidationError('n', `must be an integer in [1, ${MAX_INT_RANGE}]`);
      }
      return Math.floor(nextUint32() * n * TWO_POW_MINUS_32);
    },
  };
}

/** The estimate of an empty sample: no value, no interval. */
export const EMPTY_ESTIMATE: Estimate = Object.freeze({
  value: Number.NaN,
  n: 0,
  ci: Object.freeze([Number.NaN, Number.NaN] as const),
});

export interface BootstrapOptions {
  readonly seed: Seed;
  /** @default 2000 */
  readonly resamples?: number;
  /** Two-sided coverage of the interval. @default 0.95 */
  readonly confidence?: number;
}

export const DEFAULT_RESAMPLES = 2000;
export const DEFAULT_CONFIDENCE = 0.95;

/** The resamples and confidence of bootstrap options, checked (a `ValidationError` names the bad one). */
export function checkOptions(opts: BootstrapOptions): { resamples: number; confidence: number } {
  const resamples = opts.resamples ?? DEFAULT_RESAMPLES;
  const confidence = opts.confidence ?? DEFAULT_CONFIDENCE;
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new ValidationError('resamples', 'must be a positive integer');
  }
  if (!(confidence > 0 && confidence < 1)) throw new ValidationError('confidence', 'must be in (0, 1)');
  return { resamples, confidence };
}

/** The p-quantile of sorted values, interpolated linearly between order statistics (type 7). */
export function quantileSorted(sorted: Float64Array, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const a = sorted[lo] as number;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] as number;
  return a + (h - lo) * (b - a);
}

/** Percentile bootstrap of the mean of finite values already in a typed array. */
function bootstrapTyped(values: Float64Array, opts: BootstrapOptions): Estimate {
  const { resamples, confidence } = checkOptions(opts);
  const n = values.length;
  if (n === 0) return EMPTY_ESTIMATE;
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  // Constant samples (n = 1 included): every resample has this mean; no float drift.
  if (min === max) return { value: min, n, ci: [min, min] };
  if (n > MAX_INT_RANGE) throw new ValidationError('values', `must hold at most ${MAX_INT_RANGE} values`);
  const value = Math.min(max, Math.max(min, sum / n));
  const rng = createRng(opts.seed);
  const means = new Float64Array(resamples);
  const scale = n * TWO_POW_MINUS_32;
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[Math.floor(rng.nextUint32() * scale)] as number;
    means[r] = s / n;
  }
  means.sort();
  const alpha = (1 - confidence) / 2;
  // A mean of resampled values lies in [min, max]; clamping only removes float drift.
  const lo = Math.min(max, Math.max(min, quantileSorted(means, alpha)));
  const hi = Math.min(max, Math.max(min, quantileSorted(means, 1 - alpha)));
  return { value, n, ci: [lo, hi] };
}

function toFinite(values: readonly number[], field: string): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ValidationError(`${field}.${i}`, 'must be a finite number');
    }
    out[i] = v;
  }
  return out;
}

/**
 * The mean of `values` with a percentile bootstrap interval (`resamples` resamples of all n values
 * with replacement; the interval's ends are the (1 − confidence)/2 and (1 + confidence)/2 quantiles
 * of the resampled means). n = 0 gives {@link EMPTY_ESTIMATE}; a constant sample (n = 1 included)
 * gives `ci` [v, v]. Throws a `ValidationError` on a value that is not a finite number.
 */
export function bootstrapMean(values: readonly number[], opts: BootstrapOptions): Estimate {
  return bootstrapTyped(toFinite(values, 'values'), opts);
}

/** A paired difference, with the pairs left out because a side had no value. */
export interface PairedEstimate extends Estimate {
  /** Pairs dropped because the candidate, the baseline or both were `null` (failed items). */
  readonly dropped: number;
}

/**
 * The mean of `candidate[i] − baseline[i]` over the items both sides scored, with a paired percentile
 * bootstrap interval (items are resampled, each keeping its pair). A pair with `null` on either side
 * is dropped and counted in `dropped`, never scored as 0. Throws a `ValidationError` when the two
 * arrays differ in length (they must be aligned item by item).
 */
export function pairedBootstrapDiff(
  candidate: readonly (number | null)[],
  baseline: readonly (number | null)[],
  opts: BootstrapOptions,
): PairedEstimate {
  if (candidate.length !== baseline.length) {
    throw new ValidationError(
      'baseline',
      `must have one value per candidate item (${baseline.length} for ${candidate.length})`,
    );
  }
  const diffs = new Float64Array(candidate.length);
  let n = 0;
  for (let i = 0; i < candidate.length; i++) {
    const c = candidate[i] ?? null;
    const b = baseline[i] ?? null;
    if (c === null || b === null) continue;
    if (!Number.isFinite(c)) throw new ValidationError(`candidate.${i}`, 'must be a finite number or null');
    if (!Number.isFinite(b)) throw new ValidationError(`baseline.${i}`, 'must be a finite number or null');
    diffs[n++] = c - b;
  }
  return { ...bootstrapTyped(diffs.subarray(0, n), opts), dropped: candidate.length - n };
}

/** A categorical label given by a rater. */
export type Label = string | number | boolean;

/** Cohen's kappa between two raters: an `Estimate` whose `value` is kappa. */
export interface Kappa extends Estimate {
  /** Observed agreement p_o: the share of items both raters labelled the same. */
  readonly observed: number;
  /** Agreement expected by chance p_e, from each rater's label frequencies. */
  readonly expected: number;
  /** Large-sample standard error of kappa (Fleiss, Cohen & Everitt 1969). */
  readonly se: number;
  /** Items dropped because a rater gave no label (`null`). */
  readonly dropped: number;
}

/** z for a two-sided 95% interval. */
const Z_95 = 1.959963984540054;

/**
 * Cohen's kappa of two raters over the same items, κ = (p_o − p_e) / (1 − p_e), with a 95% interval
 * from the large-sample standard error of Fleiss, Cohen & Everitt (1969) — the one SAS and
 * statsmodels report — so it needs no seed; the interval is clipped to [−1, 1]. Items where either
 * rater gave `null` are dropped and counted. Labels compare with `===`.
 *
 * Undefined cases give NaN: no items (n = 0), or both raters giving one and the same label to every
 * item (p_e = 1: agreement cannot be told apart from chance).
 */
export function cohensKappa(a: readonly (Label | null)[], b: readonly (Label | null)[]): Kappa {
  if (a.length !== b.length) {
    throw new ValidationError('b', `must label the same items as a (${b.length} labels for ${a.length})`);
  }
  const index = new Map<Label, number>();
  const pairs: [number, number][] = [];
  const category = (label: Label): number => {
    let k = index.get(label);
    if (k === undefined) {
      k = index.size;
      index.set(label, k);
    }
    return k;
  };
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? null;
    const y = b[i] ?? null;
    if (x === null || y === null) continue;
    pairs.push([category(x), category(y)]);
  }
  const n = pairs.length;
  const dropped = a.length - n;
  const nan = Number.NaN;
  if (n === 0) return { value: nan, n, ci: [nan, nan], observed: nan, expected: nan, se: nan, dropped };
  const k = index.size;
  // Joint proportions p[i][j] (rater a said i, rater b said j) and their margins.
  // Counted as integers, divided once: p_o = 1 exactly when the raters always agree.
  const counts = new Uint32Array(k * k);
  const rowCounts = new Uint32Array(k);
  const colCounts = new Uint32Array(k);
  let agreed = 0;
  for (const [i, j] of pairs) {
    counts[i * k + j] = (counts[i * k + j] as number) + 1;
    rowCounts[i] = (rowCounts[i] as number) + 1;
    colCounts[j] = (colCounts[j] as number) + 1;
    if (i === j) agreed++;
  }
  const p = Float64Array.from(counts, (c) => c / n);
  const rowA = Float64Array.from(rowCounts, (c) => c / n);
  const colB = Float64Array.from(colCounts, (c) => c / n);
  const po = agreed / n;
  let chance = 0;
  for (let i = 0; i < k; i++) chance += (rowCounts[i] as number) * (colCounts[i] as number);
  const pe = chance / (n * n);
  if (chance === n * n)
    return { value: nan, n, ci: [nan, nan], observed: po, expected: pe, se: nan, dropped };
  const kappa = (po - pe) / (1 - pe);
  // Var(κ) = [Σ_i p_ii (1 − (p_i. + p_.i)(1 − κ))² + (1 − κ)² Σ_{i≠j} p_ij (p_.i + p_j.)²
  //           − (κ − p_e (1 − κ))²] / ((1 − p_e)² n)
  let termA = 0;
  let termB = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const pij = p[i * k + j] as number;
      if (pij === 0) continue;
      if (i === j) {
        termA += pij * (1 - ((rowA[i] as number) + (colB[i] as number)) * (1 - kappa)) ** 2;
      } else {
        termB += pij * ((colB[i] as number) + (rowA[j] as number)) ** 2;
      }
    }
  }
  termB *= (1 - kappa) ** 2;
  const termC = (kappa - pe * (1 - kappa)) ** 2;
  const variance = Math.max(0, (termA + termB - termC) / ((1 - pe) ** 2 * n));
  const se = Math.sqrt(variance);
  const ci: [number, number] = [Math.max(-1, kappa - Z_95 * se), Math.min(1, kappa + Z_95 * se)];
  return { value: kappa, n, ci, observed: po, expected: pe, se, dropped };
}

/** Precision, recall and F1 of boolean predictions against the truth, with the confusion counts. */
export interface PrecisionRecall {
  /** tp / (tp + fp); NaN when nothing was predicted positive. */
  readonly precision: number;
  /** tp / (tp + fn); NaN when nothing is actually positive. */
  readonly recall: number;
  /** 2tp / (2tp + fp + fn), the harmonic mean of the two; NaN when there is no positive on either side. */
  readonly f1: number;
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
  readonly tn: number;
  readonly n: number;
}

/**
 * Precision, recall and F1 of `predicted` against `actual` (aligned item by item). A ratio with a
 * zero denominator is NaN (undefined), never silently 0 or 1.
 */
export function precisionRecall(predicted: readonly boolean[], actual: readonly boolean[]): PrecisionRecall {
  if (predicted.length !== actual.length) {
    throw new ValidationError(
      'actual',
      `must have one value per prediction (${actual.length} for ${predicted.length})`,
    );
  }
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let i = 0; i < predicted.length; i++) {
    const p = predicted[i] === true;
    const t = actual[i] === true;
    if (p && t) tp++;
    else if (p) fp++;
    else if (t) fn++;
    else tn++;
  }
  const ratio = (num: number, den: number) => (den === 0 ? Number.NaN : num / den);
  return {
    precision: ratio(tp, tp + fp),
    recall: ratio(tp, tp + fn),
    f1: ratio(2 * tp, 2 * tp + fp + fn),
    tp,
    fp,
    fn,
    tn,
    n: predicted.length,
  };
}

/** C(a, b) / C(c, b) for b ≤ c, as a product (no factorials, no overflow). */
function binomialRatio(a: number, c: number, b: number): number {
  if (b > a) return 0;
  let r = 1;
  for (let i = 0; i < b; i++) r *= (a - i) / (c - i);
  return r;
}

/** One item's repeated pass/fail verdicts. */
export interface RepeatedItem {
  readonly trials: number;
  readonly passes: number;
  /** Every trial passed. */
  readonly allPassed: boolean;
  /** At least one trial passed. */
  readonly anyPassed: boolean;
  /** The trials disagree (some passed, some failed). */
  readonly unstable: boolean;
  /** Probability that k trials drawn from this item's trials all pass: C(passes, k) / C(trials, k). */
  readonly passHatK: number;
  /** Probability that at least one of k drawn trials passes: 1 − C(trials − passes, k) / C(trials, k). */
  readonly passAtK: number;
}

/** Repeated pass/fail judging over items. */
export interface RepeatedVerdicts {
  readonly k: number;
  /** Items judged. */
  readonly n: number;
  readonly perItem: readonly RepeatedItem[];
  /** Mean over items of pass^k: with k = every item's trial count, the share of items whose k repeats all pass. */
  readonly passHatK: number;
  /** Mean over items of pass@k. */
  readonly passAtK: number;
  /** Share of items whose verdicts disagree across repeats. */
  readonly unstableShare: number;
}

/**
 * pass^k and pass@k over items judged several times each (`repeats[item][trial]`). `k` defaults to
 * the fewest trials any item had; an item with more trials than `k` uses the unbiased estimators
 * C(c, k)/C(n, k) (pass^k) and 1 − C(n − c, k)/C(n, k) (pass@k) of its n trials with c passes. With
 * exactly k trials, pass^k is 1 when all passed and 0 otherwise. No items: NaN measures.
 */
export function repeatedVerdicts(
  repeats: readonly (readonly boolean[])[],
  opts: { readonly k?: number } = {},
): RepeatedVerdicts {
  repeats.forEach((trials, i) => {
    if (trials.length === 0) throw new ValidationError(`repeats.${i}`, 'must hold at least one verdict');
  });
  const fewest = repeats.reduce((m, t) => Math.min(m, t.length), Number.POSITIVE_INFINITY);
  const k = opts.k ?? (repeats.length === 0 ? 1 : fewest);
  if (!Number.isInteger(k) || k < 1) throw new ValidationError('k', 'must be a positive integer');
  if (repeats.length > 0 && k > fewest) {
    throw new ValidationError('k', `must be at most the fewest trials of an item (${fewest})`);
  }
  const perItem = repeats.map((trials): RepeatedItem => {
    const passes = trials.reduce((c, v) => c + (v ? 1 : 0), 0);
    const n = trials.length;
    return {
      trials: n,
      passes,
      allPassed: passes === n,
      anyPassed: passes > 0,
      unstable: passes > 0 && passes < n,
      passHatK: binomialRatio(passes, n, k),
      passAtK: 1 - binomialRatio(n - passes, n, k),
    };
  });
  const mean = (f: (item: RepeatedItem) => number) =>
    perItem.length === 0 ? Number.NaN : perItem.reduce((s, item) => s + f(item), 0) / perItem.length;
  return {
    k,
    n: perItem.length,
    perItem,
    passHatK: mean((item) => item.passHatK),
    passAtK: mean((item) => item.passAtK),
    unstableShare: mean((item) => (item.unstable ? 1 : 0)),
  };
}

/** The spread of one item's repeated numeric scores. */
export interface Spread {
  readonly n: number;
  readonly mean: number;
  /** Sample standard deviation (n − 1 denominator); 0 for a single score. */
  readonly stdev: number;
  readonly min: number;
  readonly max: number;
  /** max − min. */
  readonly range: number;
}

/** Mean and spread of repeated numeric scores of one item. No scores: NaN everywhere, n 0. */
export function repeatSpread(scores: readonly number[]): Spread {
  const values = toFinite(scores, 'scores');
  const n = values.length;
  if (n === 0) {
    const nan = Number.NaN;
    return { n, mean: nan, stdev: nan, min: nan, max: nan, range: nan };
  }
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = min === max ? min : sum / n;
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  const stdev = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
  return { n, mean, stdev, min, max, range: max - min };
}

/** Float noise forgiven when comparing a numeric range with the tolerance. */
const RANGE_EPSILON = 1e-9;

/**
 * Whether one item's repeated verdicts disagree: booleans that are not all equal, or numbers whose
 * range (max − min) is above `tolerance` (default 0: any difference beyond float noise). A judge that
 * flips its verdict on the same input is unstable. Fewer than two repeats: never unstable.
 */
export function isUnstable(
  repeats: readonly boolean[] | readonly number[],
  opts: { readonly tolerance?: number } = {},
): boolean {
  const tolerance = opts.tolerance ?? 0;
  if (!(tolerance >= 0)) throw new ValidationError('tolerance', 'must be a non-negative number');
  if (repeats.length < 2) return false;
  const first = repeats[0];
  if (typeof first === 'boolean') return repeats.some((v) => v !== first);
  const { range } = repeatSpread(repeats as readonly number[]);
  return range > tolerance + RANGE_EPSILON;
}

/** One item's value for a metric, with the item's tags. `null`: the metric failed on the item. */
export interface TaggedValue {
  readonly value: number | null;
  readonly tags: readonly string[];
}

export interface SummarizeOptions extends BootstrapOptions {
  readonly judge?: MetricSummary['judge'];
}

/**
 * A metric over a run: the bootstrap mean of the items it scored, overall and for each tag (tags in
 * sorted order; a tag whose items all failed gets {@link EMPTY_ESTIMATE}), and how many items failed
 * (`null`). Failed items are left out of every mean, never counted as 0. Each estimate has its own
 * seed derived from `seed`, the metric's name and the tag, so adding a tag changes no other interval.
 */
export function summarize(
  name: string,
  perItem: readonly TaggedValue[],
  opts: SummarizeOptions,
): MetricSummary {
  checkOptions(opts);
  const all: number[] = [];
  const byTagValues = new Map<string, number[]>();
  let failed = 0;
  perItem.forEach((item, i) => {
    const tags = new Set(item.tags);
    for (const tag of tags) if (!byTagValues.has(tag)) byTagValues.set(tag, []);
    if (item.value === null) {
      failed++;
      return;
    }
    if (!Number.isFinite(item.value)) {
      throw new ValidationError(`perItem.${i}.value`, 'must be a finite number or null');
    }
    all.push(item.value);
    for (const tag of tags) byTagValues.get(tag)?.push(item.value);
  });
  const estimate = (values: number[], scope: string) =>
    bootstrapMean(values, { ...opts, seed: `${opts.seed}\u0000${name}\u0000${scope}` });
  const byTag: Record<string, Estimate> = {};
  for (const tag of [...byTagValues.keys()].sort()) {
    byTag[tag] = estimate(byTagValues.get(tag) ?? [], `tag:${tag}`);
  }
  const overall = estimate(all, 'all');
  return {
    name,
    value: overall.value,
    n: overall.n,
    ci: overall.ci,
    failed,
    byTag,
    ...(opts.judge === undefined ? {} : { judge: opts.judge }),
  };
}
