import { ValidationError } from '../errors.ts';
import { createRng, type Rng } from '../eval/stats.ts';
import type { DriftSeed, TwoSampleResult } from './types.ts';

/**
 * Two-sample tests on embedding vectors (no AWS imports): has the current window of embeddings moved
 * away from the reference window? Three tests, from cheap to thorough:
 *
 * - {@link centroidDistance}: the cosine distance between the two windows' mean vectors, with a
 *   permutation p-value. Sees a shift of the mean's direction only.
 * - {@link mmdTest}: the squared maximum mean discrepancy with an RBF kernel, with a permutation
 *   p-value. Sees any difference of the distributions (mean, spread, shape), at O((n+m)²) cost.
 * - {@link classifierTest}: a domain classifier (logistic regression) cross-validated to tell the
 *   windows apart; its out-of-fold AUC, with a Mann–Whitney normal p-value corrected for the
 *   cross-validation (or, on request, a permutation p-value).
 *
 * Every test validates its windows (non-empty, one dimension, finite values), takes a seed (the same
 * windows, options and seed give the same result, bit for bit), and reports a window below
 * `minWindow` as insufficient data: `insufficient: true`, `drift: false`, `pValue: null` (no p-value,
 * so that no multiple-testing correction counts it), the statistic still computed where it is defined.
 */

/** Default significance level of every test. */
const DEFAULT_ALPHA = 0.05;
/** Default number of label permutations of the centroid and MMD tests. */
export const DEFAULT_EMBEDDING_PERMUTATIONS = 200;
/** Default number of cross-validation folds of the classifier test. */
export const DEFAULT_FOLDS = 5;
/**
 * Default cap on n + m for the MMD and classifier tests. MMD keeps the pooled kernel matrix (half of
 * it: (n+m)²/2 doubles, 16 MB at 2,000) and sums it once per permutation; the classifier makes
 * `iterations` passes over the pooled vectors per fold. Larger windows are subsampled, with the seed.
 */
export const DEFAULT_MAX_POOLED = 2000;
/** Default gradient-descent iterations of the classifier test's logistic regression. */
export const DEFAULT_ITERATIONS = 100;
/** Default L2 penalty λ of the classifier test (on the mean log-loss: loss + λ/2·‖w‖²). */
export const DEFAULT_L2 = 0.01;
/** Most pairs whose distances feed the median heuristic. */
export const MEDIAN_PAIRS = 1000;
/**
 * Permuted statistics within this of the observed one count as ties (≥ observed): every statistic
 * here lies in [−2, 2], and differences this small are float noise from summing in another order.
 */
const TIE_TOLERANCE = 1e-10;

// ---------------------------------------------------------------------------------------------------
// The standard normal distribution.

const SQRT2 = Math.SQRT2;
const SQRT_PI = Math.sqrt(Math.PI);
const SQRT_2PI = Math.sqrt(2 * Math.PI);

/**
 * erfc(x) for x ≥ 0, to about 1e-13 relative. Below 2.5: 1 − erf(x), erf by its series of positive
 * terms erf(x) = (2/√π)·e^(−x²)·Σₖ 2ᵏ x^(2k+1) / (1·3·…·(2k+1)) (no cancellation; the absolute error of
 * 1 − erf stays near 1e-16, erfc(2.5) being 4e-4). From 2.5: the continued fraction
 * erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), by the modified Lentz method,
 * accurate relative to erfc itself deep into the tail.
 */
function erfcNonNegative(x: number): number {
  if (x < 2.5) {
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let k = 1; k < 200; k++) {
      term *= (2 * x2) / (2 * k + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return 1 - (2 / SQRT_PI) * Math.exp(-x2) * sum;
  }
  if (x > 27) return 0; // e^(−729) underflows.
  const tiny = 1e-300;
  let f = x;
  let c = f;
  let d = 0;
  for (let k = 1; k < 1000; k++) {
    const a = k / 2;
    d = x + a * d;
    d = 1 / (d === 0 ? tiny : d);
    c = x + a / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / (SQRT_PI * f);
}

/**
 * The standard normal CDF Φ(z) = ½·erfc(−z/√2), to about 1e-13 relative in the lower tail (so
 * Φ(−10) ≈ 7.6e-24 keeps its digits; use Φ(−z) for an upper-tail probability, not 1 − Φ(z)).
 */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  const t = -z / SQRT2;
  return t >= 0 ? 0.5 * erfcNonNegative(t) : 1 - 0.5 * erfcNonNegative(-t);
}

// Acklam's rational approximation of the normal quantile (relative error below 1.15e-9).
const ACKLAM_A = [
  -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
  2.506628277459239,
] as const;
const ACKLAM_B = [
  -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1,
] as const;
const ACKLAM_C = [
  -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
  2.938163982698783,
] as const;
const ACKLAM_D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416] as const;
const ACKLAM_LOW = 0.02425;

function acklamTail(q: number): number {
  const [c0, c1, c2, c3, c4, c5] = ACKLAM_C;
  const [d0, d1, d2, d3] = ACKLAM_D;
  return (
    (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1)
  );
}

/**
 * The standard normal quantile Φ⁻¹(p) for p in (0, 1): Acklam's rational approximation (relative
 * error below 1.15e-9), refined by one Halley step on {@link normalCdf}, which brings it to about
 * 1e-13 relative. p = 0 and p = 1 give −∞ and +∞; anything else outside [0, 1] throws a `ValidationError`.
 */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) throw new ValidationError('p', 'must be a probability in [0, 1]');
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  let x: number;
  if (p < ACKLAM_LOW) {
    x = acklamTail(Math.sqrt(-2 * Math.log(p)));
  } else if (p > 1 - ACKLAM_LOW) {
    x = -acklamTail(Math.sqrt(-2 * Math.log1p(-p)));
  } else {
    const [a0, a1, a2, a3, a4, a5] = ACKLAM_A;
    const [b0, b1, b2, b3, b4] = ACKLAM_B;
    const q = p - 0.5;
    const r = q * q;
    x =
      ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) /
      (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
  }
  // Halley's step on Φ(x) − p = 0; in the upper half on the upper tail, whose digits normalCdf keeps.
  const e = x > 0 ? 1 - p - normalCdf(-x) : normalCdf(x) - p;
  const u = e * SQRT_2PI * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

// ---------------------------------------------------------------------------------------------------
// Window sizes.

export interface MinWindowOptions {
  /** The standardized mean shift to detect (shift / standard deviation), > 0. */
  readonly effect: number;
  /** One-sided significance level, in (0, 1). */
  readonly alpha: number;
  /** The wanted probability of detecting the effect, in (alpha, 1). */
  readonly power: number;
}

/**
 * The smallest per-window n at which a two-sample test detects a standardized mean shift `effect`
 * with probability `power` at one-sided level `alpha`, by the two-sample z-test approximation
 * n = 2·((z₁₋α + z_power) / effect)², rounded up (and at least 2). An approximation: it is exact for
 * a z-test on a known-variance normal statistic, and only a guide for the tests here, whose power on
 * a multivariate shift differs; it sets the default `minWindow` below which a test reports
 * insufficient data instead of "no drift". With effect 0.5, alpha 0.05 and power 0.8 it is 50.
 */
export function minWindowSize(opts: MinWindowOptions): number {
  const { effect, alpha, power } = opts;
  if (!(Number.isFinite(effect) && effect > 0))
    throw new ValidationError('effect', 'must be a positive number');
  checkAlpha(alpha);
  if (!(power > alpha && power < 1)) throw new ValidationError('power', 'must be in (alpha, 1)');
  const z = normalQuantile(1 - alpha) + normalQuantile(power);
  const n = 2 * (z / effect) ** 2;
  // The tolerance keeps float noise on an exact integer from adding one.
  return Math.max(2, Math.ceil(n - 1e-9));
}

// ---------------------------------------------------------------------------------------------------
// Options and validation.

export interface EmbeddingTestOptions {
  /** Seed of every random choice (permutations, subsamples, folds). */
  readonly seed: DriftSeed;
  /** Significance level: drift when the p-value is below it. @default 0.05 */
  readonly alpha?: number;
  /**
   * Windows smaller than this (either one) are reported as insufficient data; a window of one vector
   * always is. @default minWindowSize({ effect: 0.5, alpha, power: 0.8 }) (50 at alpha 0.05)
   */
  readonly minWindow?: number;
}

export interface PermutationOptions extends EmbeddingTestOptions {
  /** Label permutations for the p-value (its smallest value is 1 / (1 + permutations)). @default 200 */
  readonly permutations?: number;
}

export interface MmdOptions extends PermutationOptions {
  /** σ of the RBF kernel. @default the median heuristic (median pairwise distance in the pooled sample) */
  readonly bandwidth?: number;
  /** Cap on n + m; larger windows are subsampled with the seed. @default 2000 */
  readonly maxPooled?: number;
}

export interface ClassifierOptions extends EmbeddingTestOptions {
  /** Cross-validation folds (stratified: each window spread evenly over them). @default 5 */
  readonly folds?: number;
  /** Gradient-descent iterations per fold. @default 100 */
  readonly iterations?: number;
  /** L2 penalty λ on the weights (not the intercept), on the mean log-loss. @default 0.01 */
  readonly l2?: number;
  /**
   * 0: the p-value by the normal approximation (corrected for cross-validation, see
   * {@link classifierTest}); more: by that many label permutations, each refitting every fold. @default 0
   */
  readonly permutations?: number;
  /** Cap on n + m; larger windows are subsampled with the seed. @default 2000 */
  readonly maxPooled?: number;
}

/** Window sizes. */
export interface WindowSizes {
  readonly reference: number;
  readonly current: number;
}

export interface MmdResult extends TwoSampleResult {
  readonly test: 'mmd';
  /** The unbiased estimate of MMD² (it can be slightly negative when the windows agree). */
  readonly statistic: number;
  /** σ of the RBF kernel used (given, or from the median heuristic). */
  readonly bandwidth: number;
  /** The window sizes given; `n` holds the sizes tested (smaller when n + m was over `maxPooled`). */
  readonly given: WindowSizes;
}

export interface ClassifierResult extends TwoSampleResult {
  readonly test: 'classifier';
  /** The out-of-fold AUC (within folds) of telling current (positive) from reference; 0.5 is chance. */
  readonly statistic: number;
  readonly folds: number;
  /** The window sizes given; `n` holds the sizes tested (smaller when n + m was over `maxPooled`). */
  readonly given: WindowSizes;
}

export interface CentroidResult extends TwoSampleResult {
  readonly test: 'centroid';
  /** 1 − cos(mean of reference, mean of current), in [0, 2]. */
  readonly statistic: number;
}

function checkAlpha(alpha: number): void {
  if (!(alpha > 0 && alpha < 1)) throw new ValidationError('alpha', 'must be in (0, 1)');
}

function positiveInteger(value: number, field: string, min = 1): number {
  if (!Number.isInteger(value) || value < min) {
    throw new ValidationError(field, `must be an integer of at least ${min}`);
  }
  return value;
}

/** alpha and the window size below which the data are insufficient (never below 2). */
function common(opts: EmbeddingTestOptions): { alpha: number; minWindow: number } {
  const alpha = opts.alpha ?? DEFAULT_ALPHA;
  checkAlpha(alpha);
  const minWindow =
    opts.minWindow === undefined
      ? minWindowSize({ effect: 0.5, alpha, power: 0.8 })
      : positiveInteger(opts.minWindow, 'minWindow');
  return { alpha, minWindow: Math.max(2, minWindow) };
}

/** Checks a window: non-empty, every vector of `dim` finite values (`dim` of its first vector when absent). */
function checkWindow(vectors: readonly (readonly number[])[], field: string, dim?: number): number {
  if (!Array.isArray(vectors) || vectors.length === 0) {
    throw new ValidationError(field, 'must hold at least one vector');
  }
  let d = dim;
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i];
    if (!Array.isArray(v)) throw new ValidationError(`${field}.${i}`, 'must be an array of numbers');
    if (d === undefined) {
      if (v.length === 0) throw new ValidationError(`${field}.${i}`, 'must have at least one dimension');
      d = v.length;
    } else if (v.length !== d) {
      throw new ValidationError(
        `${field}.${i}`,
        `must have dimension ${d} like reference.0 (has ${v.length})`,
      );
    }
    for (let j = 0; j < v.length; j++) {
      const x = v[j];
      if (typeof x !== 'number' || !Number.isFinite(x)) {
        throw new ValidationError(`${field}.${i}.${j}`, 'must be a finite number');
      }
    }
  }
  return d as number;
}

/** Validates both windows; returns the dimension. */
function checkWindows(
  reference: readonly (readonly number[])[],
  current: readonly (readonly number[])[],
): number {
  const dim = checkWindow(reference, 'reference');
  checkWindow(current, 'current', dim);
  return dim;
}

/** A sub-seed for one purpose, so that the tests' random streams are independent of each other. */
function rngFor(seed: DriftSeed, purpose: string): Rng {
  return createRng(`${typeof seed === 'number' ? `#${seed}` : seed}\u0000${purpose}`);
}

/** A uniform integer in [0, n) (any n up to 2^32; bias below n / 2^32). */
function below(rng: Rng, n: number): number {
  return Math.floor(rng.next() * n);
}

/** Shuffles `a` in place (Fisher–Yates). */
function shuffle(a: Int32Array | Float64Array | Uint8Array, rng: Rng): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = below(rng, i + 1);
    const t = a[i] as number;
    a[i] = a[j] as number;
    a[j] = t;
  }
}

/** 0, 1, …, count − 1. */
function identity(count: number): Int32Array {
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = i;
  return out;
}

/** `keep` of the indices 0..count−1, chosen uniformly without replacement, in increasing order. */
function sampleIndices(count: number, keep: number, rng: Rng): Int32Array {
  const all = identity(count);
  if (keep >= count) return all;
  for (let i = 0; i < keep; i++) {
    const j = i + below(rng, count - i);
    const t = all[i] as number;
    all[i] = all[j] as number;
    all[j] = t;
  }
  return all.slice(0, keep).sort();
}

/**
 * The sizes kept under a cap on n + m: the smaller window keeps up to half the cap, the larger one
 * the rest (a balanced split gives a two-sample test the most power for its cost).
 */
function cappedSizes(n: number, m: number, cap: number): WindowSizes {
  if (n + m <= cap) return { reference: n, current: m };
  const half = Math.floor(cap / 2);
  if (n <= m) {
    const keepN = Math.min(n, half);
    return { reference: keepN, current: cap - keepN };
  }
  const keepM = Math.min(m, half);
  return { reference: cap - keepM, current: keepM };
}

/** Rows `indices` of `vectors`, one after the other in a flat array. */
function flatten(
  out: Float64Array,
  offset: number,
  vectors: readonly (readonly number[])[],
  indices: Int32Array,
  dim: number,
): void {
  let p = offset * dim;
  for (const i of indices) {
    const v = vectors[i] as readonly number[];
    for (let j = 0; j < dim; j++) out[p++] = v[j] as number;
  }
}

/** The pooled sample (reference rows first), subsampled under `cap` with `rng`. */
function pool(
  reference: readonly (readonly number[])[],
  current: readonly (readonly number[])[],
  dim: number,
  cap: number,
  rng: Rng,
): { x: Float64Array; n: number; m: number } {
  const sizes = cappedSizes(reference.length, current.length, cap);
  const refIdx = sampleIndices(reference.length, sizes.reference, rng);
  const curIdx = sampleIndices(current.length, sizes.current, rng);
  const x = new Float64Array((sizes.reference + sizes.current) * dim);
  flatten(x, 0, reference, refIdx, dim);
  flatten(x, sizes.reference, current, curIdx, dim);
  return { x, n: sizes.reference, m: sizes.current };
}

/** The add-one permutation p-value (1 + #{permuted ≥ observed}) / (1 + permutations). */
function permutationP(exceed: number, permutations: number): number {
  return (1 + exceed) / (1 + permutations);
}

// ---------------------------------------------------------------------------------------------------
// Centroid distance.

/** 1 − cos(a, b) in [0, 2]; 0 when both are zero vectors, 1 when only one is (no direction to compare). */
function cosineDistance(a: Float64Array, b: Float64Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let j = 0; j < a.length; j++) {
    const x = a[j] as number;
    const y = b[j] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (na === 0 && nb === 0) return 0;
  if (na === 0 || nb === 0) return 1;
  return Math.min(2, Math.max(0, 1 - dot / Math.sqrt(na * nb)));
}

/**
 * The cosine distance 1 − cos(μ_ref, μ_cur) between the two windows' mean vectors, in [0, 2]
 * (0: same direction). Sees a change of the mean's direction only: not a change of spread, nor a
 * shift along the mean's own direction. A zero mean has no direction: two zero means are at distance
 * 0, one zero mean is at distance 1 from anything.
 *
 * p-value: a permutation test on the pooled sample: the n + m vectors are re-split at random into
 * windows of n and m, `permutations` times, and p = (1 + #{permuted distance ≥ observed}) /
 * (1 + permutations) (the add-one estimator, never 0). Cosine ignores scale, so each split needs only
 * the sum of the smaller window's vectors (the other's is the pooled sum minus it): O(min(n, m)·d)
 * per permutation, O((n + m)·d) at most.
 */
export function centroidDistance(
  reference: readonly (readonly number[])[],
  current: readonly (readonly number[])[],
  opts: PermutationOptions,
): CentroidResult {
  const dim = checkWindows(reference, current);
  const { alpha, minWindow } = common(opts);
  const permutations = positiveInteger(opts.permutations ?? DEFAULT_EMBEDDING_PERMUTATIONS, 'permutations');
  const n = reference.length;
  const m = current.length;
  const size = n + m;
  const x = new Float64Array(size * dim);
  flatten(x, 0, reference, identity(n), dim);
  flatten(x, n, current, identity(m), dim);
  const total = new Float64Array(dim);
  for (let i = 0; i < size; i++)
    for (let j = 0; j < dim; j++) total[j] = (total[j] as number) + (x[i * dim + j] as number);

  // The smaller window's sum (its rows: `rows`), the other's as the pooled sum minus it.
  const small = Math.min(n, m);
  const a = new Float64Array(dim);
  const b = new Float64Array(dim);
  const distance = (rows: ArrayLike<number>): number => {
    a.fill(0);
    for (let r = 0; r < small; r++) {
      const base = (rows[r] as number) * dim;
      for (let j = 0; j < dim; j++) a[j] = (a[j] as number) + (x[base + j] as number);
    }
    for (let j = 0; j < dim; j++) b[j] = (total[j] as number) - (a[j] as number);
    return cosineDistance(a, b);
  };
  // The observed split: the smaller window's own rows.
  const observed = distance(n <= m ? identity(n) : identity(m).map((i) => n + i));
  const sizes = { reference: n, current: m };
  if (Math.min(n, m) < minWindow) {
    return {
      test: 'centroid',
      statistic: observed,
      pValue: null,
      drift: false,
      n: sizes,
      insufficient: true,
    };
  }

  const rng = rngFor(opts.seed, 'centroid');
  const order = identity(size);
  let exceed = 0;
  for (let p = 0; p < permutations; p++) {
    // A uniformly random `small`-subset: the first `small` places of a partial Fisher–Yates shuffle.
    for (let i = 0; i < small; i++) {
      const j = i + below(rng, size - i);
      const t = order[i] as number;
      order[i] = order[j] as number;
      order[j] = t;
    }
    if (distance(order) >= observed - TIE_TOLERANCE) exceed++;
  }
  const pValue = permutationP(exceed, permutations);
  return { test: 'centroid', statistic: observed, pValue, drift: pValue < alpha, n: sizes };
}

// ---------------------------------------------------------------------------------------------------
// Maximum mean discrepancy.

/** The median of `values` (the mean of the two middle ones for an even count); sorts in place. */
function median(values: Float64Array): number {
  values.sort();
  const h = values.length >> 1;
  return values.length % 2 === 1
    ? (values[h] as number)
    : ((values[h - 1] as number) + (values[h] as number)) / 2;
}

/**
 * Squared distances of every pair i < j of the `size` rows of `x`, row after row:
 * (0,1), (0,2), …, (0,size−1), (1,2), … — size·(size−1)/2 values.
 */
function pairwiseSquared(x: Float64Array, size: number, dim: number): Float64Array {
  const out = new Float64Array((size * (size - 1)) / 2);
  let p = 0;
  for (let i = 0; i < size; i++) {
    const bi = i * dim;
    for (let k = i + 1; k < size; k++) {
      const bk = k * dim;
      let s = 0;
      for (let j = 0; j < dim; j++) {
        const diff = (x[bi + j] as number) - (x[bk + j] as number);
        s += diff * diff;
      }
      out[p++] = s;
    }
  }
  return out;
}

/** Index of pair (i, k), i < k, in the row-after-row layout of {@link pairwiseSquared}. */
function pairIndex(i: number, k: number, size: number): number {
  return i * size - (i * (i + 1)) / 2 + (k - i - 1);
}

/**
 * The median heuristic: σ = the median distance ‖x − y‖ over pairs of the pooled sample (all pairs
 * when there are at most {@link MEDIAN_PAIRS}, else that many pairs drawn with the seed). When that
 * median is 0 (most vectors repeated), the median of the non-zero sampled distances; 1 when every
 * distance is 0 (the kernel is then 1 everywhere and MMD² is 0 whatever σ).
 */
function medianBandwidth(sq: Float64Array, size: number, rng: Rng): number {
  const pairs = sq.length;
  let sample: Float64Array;
  if (pairs <= MEDIAN_PAIRS) {
    sample = Float64Array.from(sq);
  } else {
    sample = new Float64Array(MEDIAN_PAIRS);
    for (let s = 0; s < MEDIAN_PAIRS; s++) {
      const i = below(rng, size);
      let k = below(rng, size - 1);
      if (k >= i) k++;
      sample[s] = sq[i < k ? pairIndex(i, k, size) : pairIndex(k, i, size)] as number;
    }
  }
  // Distances, not squared ones: the two differ in the mean of the middle pair of an even count.
  for (let s = 0; s < sample.length; s++) sample[s] = Math.sqrt(sample[s] as number);
  const med = median(sample);
  if (med > 0) return med;
  const positive = sample.filter((v) => v > 0);
  return positive.length === 0 ? 1 : median(positive);
}

/**
 * The squared maximum mean discrepancy between the windows, with an RBF kernel
 * k(x, y) = exp(−‖x − y‖² / (2σ²)), by the unbiased estimator of Gretton et al. (2012, eq. 3):
 *
 *   MMD²ᵤ = 1/(n(n−1)) Σ_{i≠j} k(xᵢ, xⱼ) + 1/(m(m−1)) Σ_{i≠j} k(yᵢ, yⱼ) − 2/(nm) Σ_{i,j} k(xᵢ, yⱼ)
 *
 * (x: reference, y: current; it can be slightly negative when the windows agree, and is NaN when a
 * window has a single vector). σ, unless given, by the median heuristic on the POOLED sample: the
 * median pairwise distance, over at most {@link MEDIAN_PAIRS} pairs drawn with the seed.
 *
 * p-value: a permutation test on the pooled sample. The labels (reference / current) of the n + m
 * pooled vectors are permuted `permutations` times and p = (1 + #{permuted MMD² ≥ observed}) /
 * (1 + permutations). It permutes the labels of the pooled set; it does NOT resample the reference
 * alone to build a null: a null drawn from the reference alone leaves out the current window's own
 * sampling noise, underestimates the null spread, and fires on nearly every window.
 *
 * Cost: the pooled kernel matrix is computed once (O((n+m)²·d)), each permutation sums it again under
 * new labels (O((n+m)²)); it takes (n+m)²/2 doubles of memory. So n + m is capped at `maxPooled`
 * (default {@link DEFAULT_MAX_POOLED}) by seeded subsampling of each window (the smaller window keeps
 * up to half the cap); `n` reports the sizes tested, `given` the sizes given.
 */
export function mmdTest(
  reference: readonly (readonly number[])[],
  current: readonly (readonly number[])[],
  opts: MmdOptions,
): MmdResult {
  const dim = checkWindows(reference, current);
  const { alpha, minWindow } = common(opts);
  const permutations = positiveInteger(opts.permutations ?? DEFAULT_EMBEDDING_PERMUTATIONS, 'permutations');
  const cap = positiveInteger(opts.maxPooled ?? DEFAULT_MAX_POOLED, 'maxPooled', 4);
  if (opts.bandwidth !== undefined && !(Number.isFinite(opts.bandwidth) && opts.bandwidth > 0)) {
    throw new ValidationError('bandwidth', 'must be a positive number');
  }
  const given = { reference: reference.length, current: current.length };
  const { x, n, m } = pool(reference, current, dim, cap, rngFor(opts.seed, 'mmd-subsample'));
  const size = n + m;

  // The kernel matrix's upper triangle, in place of the squared distances, and each row's total.
  const k = pairwiseSquared(x, size, dim);
  const bandwidth = opts.bandwidth ?? medianBandwidth(k, size, rngFor(opts.seed, 'mmd-median'));
  const scale = -1 / (2 * bandwidth * bandwidth);
  for (let p = 0; p < k.length; p++) k[p] = Math.exp((k[p] as number) * scale);
  const rowTotal = new Float64Array(size);
  for (let i = 0, p = 0; i < size; i++) {
    let s = 0;
    for (let j = i + 1; j < size; j++) s += k[p++] as number;
    rowTotal[i] = s;
  }

  // label[i] = 1 for a reference vector. Upper-triangle sums: a (reference pairs), b (current
  // pairs), c (mixed pairs); Σ_{i≠j} counts each unordered pair twice, Σ_{i,j} over x, y once.
  const label = new Float64Array(size);
  const mmd = (): number => {
    let a = 0;
    let b = 0;
    let c = 0;
    for (let i = 0, p = 0; i < size; i++) {
      let withRef = 0;
      for (let j = i + 1; j < size; j++) withRef += (k[p++] as number) * (label[j] as number);
      const withCur = (rowTotal[i] as number) - withRef;
      if (label[i] === 1) {
        a += withRef;
        c += withCur;
      } else {
        b += withCur;
        c += withRef;
      }
    }
    return (2 * a) / (n * (n - 1)) + (2 * b) / (m * (m - 1)) - (2 * c) / (n * m);
  };
  for (let i = 0; i < n; i++) label[i] = 1;
  const observed = mmd();
  const sizes = { reference: n, current: m };
  if (Math.min(n, m) < minWindow) {
    return {
      test: 'mmd',
      statistic: observed,
      pValue: null,
      drift: false,
      n: sizes,
      insufficient: true,
      bandwidth,
      given,
    };
  }

  const rng = rngFor(opts.seed, 'mmd-permutation');
  let exceed = 0;
  for (let p = 0; p < permutations; p++) {
    shuffle(label, rng);
    if (mmd() >= observed - TIE_TOLERANCE) exceed++;
  }
  const pValue = permutationP(exceed, permutations);
  return { test: 'mmd', statistic: observed, pValue, drift: pValue < alpha, n: sizes, bandwidth, given };
}

// ---------------------------------------------------------------------------------------------------
// Domain classifier.

/** The logistic function, without overflow. */
function sigmoid(s: number): number {
  if (s >= 0) return 1 / (1 + Math.exp(-s));
  const e = Math.exp(s);
  return e / (1 + e);
}

/**
 * Fits an L2-regularized logistic regression to rows `train` of `x` (labels `y`: 1 current, 0
 * reference) and returns the logits of rows `test`. Features are standardized with the training
 * rows' mean and standard deviation (a constant feature becomes 0). Plain gradient descent on
 * (1/T)·Σ log-loss + (λ/2)·‖w‖² (intercept not penalized), from zero, `iterations` steps of size
 * 1/L with L = λ_max/4 + λ, λ_max the largest eigenvalue of the standardized second-moment matrix
 * (at least 1, the intercept's) estimated by 20 power iterations: the log-loss curvature is at most
 * a quarter of it, so the step is stable, and no step size needs tuning.
 */
function fitAndScore(
  x: Float64Array,
  dim: number,
  y: Uint8Array,
  train: Int32Array,
  test: Int32Array,
  iterations: number,
  l2: number,
  rng: Rng,
): Float64Array {
  const t = train.length;
  const mean = new Float64Array(dim);
  const inv = new Float64Array(dim);
  for (const i of train)
    for (let j = 0; j < dim; j++) mean[j] = (mean[j] as number) + (x[i * dim + j] as number);
  for (let j = 0; j < dim; j++) mean[j] = (mean[j] as number) / t;
  for (const i of train) {
    for (let j = 0; j < dim; j++) {
      const dv = (x[i * dim + j] as number) - (mean[j] as number);
      inv[j] = (inv[j] as number) + dv * dv;
    }
  }
  for (let j = 0; j < dim; j++) {
    const sd = Math.sqrt((inv[j] as number) / t);
    inv[j] = sd > 1e-12 ? 1 / sd : 0;
  }
  const z = new Float64Array(t * dim);
  for (let r = 0; r < t; r++) {
    const base = (train[r] as number) * dim;
    for (let j = 0; j < dim; j++)
      z[r * dim + j] = ((x[base + j] as number) - (mean[j] as number)) * (inv[j] as number);
  }

  // λ_max of ZᵀZ/T by power iteration (a random start, so no eigenvector is missed by symmetry).
  let v = new Float64Array(dim);
  for (let j = 0; j < dim; j++) v[j] = rng.next() - 0.5;
  const zv = new Float64Array(t);
  let lambdaMax = 0;
  for (let it = 0; it < 20; it++) {
    let norm = 0;
    for (let j = 0; j < dim; j++) norm += (v[j] as number) ** 2;
    norm = Math.sqrt(norm);
    if (norm === 0) break;
    for (let j = 0; j < dim; j++) v[j] = (v[j] as number) / norm;
    for (let r = 0; r < t; r++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += (z[r * dim + j] as number) * (v[j] as number);
      zv[r] = s;
    }
    const next = new Float64Array(dim);
    for (let r = 0; r < t; r++) {
      const s = (zv[r] as number) / t;
      for (let j = 0; j < dim; j++) next[j] = (next[j] as number) + s * (z[r * dim + j] as number);
    }
    lambdaMax = 0;
    for (let j = 0; j < dim; j++) lambdaMax += (next[j] as number) * (v[j] as number);
    v = next;
  }
  const step = 1 / (Math.max(1, lambdaMax) / 4 + l2);

  const w = new Float64Array(dim);
  const grad = new Float64Array(dim);
  let bias = 0;
  for (let it = 0; it < iterations; it++) {
    grad.fill(0);
    let gb = 0;
    for (let r = 0; r < t; r++) {
      let s = bias;
      for (let j = 0; j < dim; j++) s += (w[j] as number) * (z[r * dim + j] as number);
      const e = (sigmoid(s) - (y[train[r] as number] as number)) / t;
      gb += e;
      for (let j = 0; j < dim; j++) grad[j] = (grad[j] as number) + e * (z[r * dim + j] as number);
    }
    for (let j = 0; j < dim; j++)
      w[j] = (w[j] as number) - step * ((grad[j] as number) + l2 * (w[j] as number));
    bias -= step * gb;
  }

  const scores = new Float64Array(test.length);
  for (let r = 0; r < test.length; r++) {
    const base = (test[r] as number) * dim;
    let s = bias;
    for (let j = 0; j < dim; j++)
      s += (w[j] as number) * ((x[base + j] as number) - (mean[j] as number)) * (inv[j] as number);
    scores[r] = s;
  }
  return scores;
}

/**
 * The Mann–Whitney U of the `positives` label-1 scores against the label-0 ones: the number of
 * (positive, negative) pairs the positive wins, ties counted ½ (by mid-ranks).
 */
function mannWhitneyU(scores: Float64Array, y: Uint8Array, positives: number): number {
  const order = Array.from(scores.keys()).sort((a, b) => (scores[a] as number) - (scores[b] as number));
  let rankSum = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1] as number] === scores[order[i] as number]) j++;
    const midRank = (i + j) / 2 + 1;
    for (let q = i; q <= j; q++) if (y[order[q] as number] === 1) rankSum += midRank;
    i = j + 1;
  }
  return rankSum - (positives * (positives + 1)) / 2;
}

/** The cross-validated comparison of one labelling: per-fold Mann–Whitney U's, summed. */
interface CrossValidated {
  /** Σ over folds of U_f (held-out current vectors against held-out reference ones). */
  readonly u: number;
  /** Σ over folds of cur_f · ref_f: the pairs compared. */
  readonly pairs: number;
  /** Σ over folds of the tie-free null variance cur_f · ref_f · (cur_f + ref_f + 1) / 12. */
  readonly variance: number;
}

/**
 * Stratified k-fold cross-validation of the domain classifier on labels `y` (1 current): each class's
 * rows dealt round-robin over the folds in a random order; each fold scored by the model fitted on
 * the others, and compared within the fold (a fold missing a class compares nothing).
 */
function crossValidate(
  x: Float64Array,
  dim: number,
  y: Uint8Array,
  folds: number,
  iterations: number,
  l2: number,
  rng: Rng,
): CrossValidated {
  const size = y.length;
  const fold = new Int32Array(size);
  for (const label of [0, 1]) {
    const rows: number[] = [];
    for (let i = 0; i < size; i++) if (y[i] === label) rows.push(i);
    const idx = Int32Array.from(rows);
    shuffle(idx, rng);
    for (let r = 0; r < idx.length; r++) fold[idx[r] as number] = r % folds;
  }
  let u = 0;
  let pairs = 0;
  let variance = 0;
  for (let f = 0; f < folds; f++) {
    const test: number[] = [];
    const train: number[] = [];
    for (let i = 0; i < size; i++) (fold[i] === f ? test : train).push(i);
    const testY = Uint8Array.from(test, (i) => y[i] as number);
    const cur = testY.reduce((c, v) => c + v, 0);
    const ref = test.length - cur;
    if (cur === 0 || ref === 0) continue;
    const scores = fitAndScore(x, dim, y, Int32Array.from(train), Int32Array.from(test), iterations, l2, rng);
    u += mannWhitneyU(scores, testY, cur);
    pairs += cur * ref;
    variance += (cur * ref * (test.length + 1)) / 12;
  }
  return { u, pairs, variance };
}

/**
 * A domain-classifier two-sample test: can a classifier tell current vectors from reference ones?
 * An L2-regularized logistic regression (standardized features, plain gradient descent: `iterations`
 * steps of a safe fixed size, see {@link fitAndScore}) is trained by stratified k-fold
 * cross-validation (`folds` folds, each window dealt over them at random with the seed); every vector
 * is scored by the model that did not see it. The statistic is the out-of-fold AUC (current the
 * positive class, ties ½), compared within each fold and pooled over folds: Σ U_f / Σ cur_f·ref_f,
 * U_f the Mann–Whitney U of fold f's held-out current scores against its held-out reference scores
 * (scores of different folds come from different models, so they are not compared with each other).
 * 0.5 when the windows cannot be told apart.
 *
 * p-value (one-sided: only AUC > 0.5 means drift). Under H0 a fold's held-out vectors are
 * exchangeable given its model, so U_f is a null Mann–Whitney U, about Normal(cur_f·ref_f/2,
 * cur_f·ref_f·(cur_f + ref_f + 1)/12) (the tie-free variance), and the p-value is
 * Φ(−(Σ U_f − Σ cur_f·ref_f/2) / √(c · Σ Var U_f)). The folds' U's are not independent, though:
 * each fold's model was trained on the other folds' vectors, which makes them positively correlated,
 * and with c = 1 the test fires on 10–15% of null windows at alpha 0.05 (measured: 300 pairs of
 * Gaussian windows, n 60–200, d 8–64). So c = 1 + k/(k − 1), the Nadeau & Bengio (2003) correction
 * for the overlap of cross-validation training sets (2.25 at k = 5), which measured 2–6% at alpha
 * 0.05. An approximation still; `permutations` > 0 gives an exact test instead: the labels of the
 * pooled set are permuted and the whole cross-validation refitted each time, p = (1 + #{permuted AUC ≥
 * observed}) / (1 + permutations), at `permutations` times the cost. n + m is capped at `maxPooled`
 * by seeded subsampling, as for {@link mmdTest}.
 */
export function classifierTest(
  reference: readonly (readonly number[])[],
  current: readonly (readonly number[])[],
  opts: ClassifierOptions,
): ClassifierResult {
  const dim = checkWindows(reference, current);
  const { alpha, minWindow } = common(opts);
  const folds = positiveInteger(opts.folds ?? DEFAULT_FOLDS, 'folds', 2);
  const iterations = positiveInteger(opts.iterations ?? DEFAULT_ITERATIONS, 'iterations');
  const permutations = opts.permutations ?? 0;
  if (permutations !== 0) positiveInteger(permutations, 'permutations');
  const l2 = opts.l2 ?? DEFAULT_L2;
  if (!(Number.isFinite(l2) && l2 >= 0)) throw new ValidationError('l2', 'must be a non-negative number');
  const cap = positiveInteger(opts.maxPooled ?? DEFAULT_MAX_POOLED, 'maxPooled', 4);
  const given = { reference: reference.length, current: current.length };
  const { x, n, m } = pool(reference, current, dim, cap, rngFor(opts.seed, 'classifier-subsample'));
  const size = n + m;
  const y = new Uint8Array(size);
  for (let i = n; i < size; i++) y[i] = 1;

  const rng = rngFor(opts.seed, 'classifier');
  const observed = crossValidate(x, dim, y, folds, iterations, l2, rng);
  // No fold holding both windows (a window of one vector): no comparison, AUC undefined.
  const statistic = observed.pairs === 0 ? Number.NaN : observed.u / observed.pairs;
  const sizes = { reference: n, current: m };
  const base = { test: 'classifier' as const, statistic, n: sizes, folds, given };
  if (Math.min(n, m) < minWindow) return { ...base, pValue: null, drift: false, insufficient: true };

  let pValue: number;
  if (permutations === 0) {
    const inflation = 1 + folds / (folds - 1);
    pValue = normalCdf(-(observed.u - observed.pairs / 2) / Math.sqrt(inflation * observed.variance));
  } else {
    const permuted = Uint8Array.from(y);
    let exceed = 0;
    for (let p = 0; p < permutations; p++) {
      shuffle(permuted, rng);
      const cv = crossValidate(x, dim, permuted, folds, iterations, l2, rng);
      if (cv.u / cv.pairs >= statistic - TIE_TOLERANCE) exceed++;
    }
    pValue = permutationP(exceed, permutations);
  }
  return { ...base, pValue, drift: pValue < alpha };
}
