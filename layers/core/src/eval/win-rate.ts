import { ValidationError } from '../errors.ts';
import type { Preference } from './judge.ts';
import { type BootstrapOptions, checkOptions, createRng, EMPTY_ESTIMATE, quantileSorted } from './stats.ts';
import type { Estimate } from './types.ts';

/**
 * The pairwise win rate of a candidate against its baseline, raw and length-controlled, pure and
 * deterministic.
 *
 * Each item was judged once in each order (`judgePair`): `A` is the candidate, `B` the baseline. Its
 * outcome y is 1 when the candidate won, 0 when the baseline won, ½ for a tie, and ½ for an
 * `inconsistent` pair too: a preference that flips when the answers swap places says the judge followed
 * the position, not the answers, so it could not tell them apart (MT-Bench's conservative rule, Zheng et
 * al. 2023, counts such a pair as a tie). An item whose judgement failed (`null`: an answer or a judge
 * call missing) is left out of both rates and counted in `failed`, never scored 0 or ½.
 *
 * - **Raw**: the mean of y over the judged items (wins plus half the ties, over n).
 * - **Length-controlled** (in the manner of AlpacaEval 2.0's LC win rate, Dubois et al. 2024): judges
 *   prefer longer answers, so a candidate can win by verbosity alone. A logistic regression (a binomial
 *   GLM with an intercept) of y on the squashed, standardized length difference
 *
 *       logit P(candidate wins | item i) = β₀ + β₁ · tanh(Δᵢ / s),   Δᵢ = len(Aᵢ) − len(Bᵢ),
 *
 *   with s the sample standard deviation of Δ (n − 1 denominator; not centred, so that Δ = 0 still means
 *   equal lengths), is fitted, and the LC win rate is the model's win probability at zero length
 *   difference, σ(β₀). Lengths are in characters (Unicode code points), as AlpacaEval counts them.
 *   Fractional outcomes (ties) enter the binomial likelihood as they are (y log p + (1 − y) log(1 − p)),
 *   which is the same as counting a tie as half a win and half a loss.
 *
 *   Why tanh rather than the plain difference: it bounds the length term's effect, so that a few
 *   answers many times longer than the rest cannot take over the slope (AlpacaEval's choice too). The
 *   instruction-difficulty term of AlpacaEval is left out: it is estimated across many models on a
 *   fixed leaderboard, which one run against one baseline does not have.
 *
 *   The fit maximizes the log-likelihood minus a ridge (λ/2)(β₀² + β₁²), λ = {@link DEFAULT_RIDGE},
 *   by Newton–Raphson (for the logit link, the same steps as IRLS) from β = 0, halving a step that
 *   does not improve the objective. Without the ridge the fit has no finite solution when every item
 *   goes one way (all wins) or the length separates the outcomes perfectly; with it the objective is
 *   strictly concave, the solution is unique and finite, and an all-wins run gets an LC win rate near 1,
 *   not 1. The ridge is on both coefficients so that swapping A and B maps β to −β exactly, hence the
 *   LC win rate p to 1 − p; it adds to the curvature what a twenty-fifth of one undecided item does
 *   (p(1 − p) = ¼), so it moves an ordinary fit by far less than its interval.
 *
 * Both rates get a 95% percentile interval from one seeded paired bootstrap over items: each resample
 * draws n items with replacement, each keeping its outcome and both lengths; the raw rate is its mean,
 * and the LC rate is refitted on it (s recomputed), so the two intervals come from the same resamples.
 * The same judgements and seed give the same numbers, bit for bit.
 */

/** The ridge λ on both coefficients of the length model (see the module's documentation). */
export const DEFAULT_RIDGE = 0.01;
/** Newton steps before the fit gives up improving (it converges in well under 30 in practice). */
const MAX_ITERATIONS = 100;
/** Largest coefficient change at which the fit has converged. */
const TOLERANCE = 1e-10;
/** Step halvings tried before a Newton step is taken as it is. */
const MAX_HALVINGS = 40;
/** Relative change of the objective below which it is float rounding, not a worse fit. */
const ROUNDING = 1e-12;

/** What the pairwise judge said of one item: `A` the candidate won, `B` the baseline; `null`: failed. */
export type PairOutcome = Preference | 'inconsistent' | null;

/** One item's pairwise judgement, with the lengths of both answers. */
export interface PairedPreference {
  readonly preference: PairOutcome;
  /** The candidate's (A's) answer length, in characters ({@link answerLength}). */
  readonly lengthA: number;
  /** The baseline's (B's) answer length, in characters. */
  readonly lengthB: number;
}

export interface WinRateOptions extends BootstrapOptions {
  /** The ridge λ of the length model. @default DEFAULT_RIDGE */
  readonly ridge?: number;
}

/** The fitted length model: logit P(A wins) = intercept + slope · tanh(Δ / scale). */
export interface LengthModel {
  readonly intercept: number;
  readonly slope: number;
  /** s, the standard deviation of the length differences; 0 when they do not vary (no length term). */
  readonly scale: number;
  readonly iterations: number;
  readonly converged: boolean;
}

/** A run's win rates and the counts they rest on. */
export interface WinRate {
  /** Wins plus half the ties (inconsistent pairs included), over the judged items. */
  readonly raw: Estimate;
  /** σ(β₀): the win probability at zero length difference. */
  readonly lengthControlled: Estimate;
  /** The length model fitted on every judged item (absent when none was judged). */
  readonly model?: LengthModel;
  /** Items judged (both orders answered): wins + losses + ties + inconsistent. */
  readonly n: number;
  readonly wins: number;
  readonly losses: number;
  /** Both orders said tie. */
  readonly ties: number;
  /** The orders disagreed: counted as a tie. */
  readonly inconsistent: number;
  /** Items left out: no judgement (an answer or a judge call failed). */
  readonly failed: number;
}

/** An answer's length in characters: Unicode code points, as Python's `len` counts them. */
export function answerLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** y of one judgement: 1 the candidate won, 0 it lost, ½ a tie or inconsistent; `null` when failed. */
export function outcomeOf(preference: PairOutcome): number | null {
  switch (preference) {
    case 'A':
      return 1;
    case 'B':
      return 0;
    case 'tie':
    case 'inconsistent':
      return 0.5;
    default:
      return null;
  }
}

/** The logistic function, without overflow. */
function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** log(1 + e^z), without overflow. */
function softplus(z: number): number {
  return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
}

/** The sample standard deviation (n − 1) of `values[index[i]]`; 0 for fewer than two. */
function stdev(values: Float64Array, index: Int32Array): number {
  const n = index.length;
  if (n < 2) return 0;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[index[i] as number] as number;
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += ((values[index[i] as number] as number) - mean) ** 2;
  return Math.sqrt(ss / (n - 1));
}

/**
 * Fits the ridge-penalized logistic regression of `y` on tanh(Δ / s) over the rows `index` (repeats
 * allowed: a bootstrap resample), from `start`. See the module's documentation.
 */
function fitRows(
  y: Float64Array,
  delta: Float64Array,
  index: Int32Array,
  ridge: number,
  start: readonly [number, number],
): LengthModel {
  const n = index.length;
  const scale = stdev(delta, index);
  const x = new Float64Array(n);
  if (scale > 0 && Number.isFinite(scale)) {
    for (let i = 0; i < n; i++) x[i] = Math.tanh((delta[index[i] as number] as number) / scale);
  }
  const yi = new Float64Array(n);
  for (let i = 0; i < n; i++) yi[i] = y[index[i] as number] as number;
  /** The penalized log-likelihood at (b0, b1). */
  const objective = (b0: number, b1: number): number => {
    let ll = 0;
    for (let i = 0; i < n; i++) {
      const eta = b0 + b1 * (x[i] as number);
      const t = yi[i] as number;
      ll -= t * softplus(-eta) + (1 - t) * softplus(eta);
    }
    return ll - (ridge / 2) * (b0 * b0 + b1 * b1);
  };
  let [b0, b1] = start;
  let current = objective(b0, b1);
  let converged = false;
  let iterations = 0;
  while (iterations < MAX_ITERATIONS) {
    iterations++;
    // Gradient and negative Hessian of the penalized log-likelihood.
    let g0 = -ridge * b0;
    let g1 = -ridge * b1;
    let h00 = ridge;
    let h01 = 0;
    let h11 = ridge;
    for (let i = 0; i < n; i++) {
      const xi = x[i] as number;
      const p = sigmoid(b0 + b1 * xi);
      const r = (yi[i] as number) - p;
      const w = p * (1 - p);
      g0 += r;
      g1 += r * xi;
      h00 += w;
      h01 += w * xi;
      h11 += w * xi * xi;
    }
    // The Newton step solves H·s = g (H positive definite: the ridge alone makes it so).
    const det = h00 * h11 - h01 * h01;
    let s0 = (h11 * g0 - h01 * g1) / det;
    let s1 = (h00 * g1 - h01 * g0) / det;
    let next = objective(b0 + s0, b1 + s1);
    // Near the optimum a full step changes the objective by less than its rounding: taken as it is.
    const noise = ROUNDING * (1 + Math.abs(current));
    for (let halving = 0; halving < MAX_HALVINGS && !(next >= current - noise); halving++) {
      s0 /= 2;
      s1 /= 2;
      next = objective(b0 + s0, b1 + s1);
    }
    b0 += s0;
    b1 += s1;
    current = next;
    if (Math.max(Math.abs(s0), Math.abs(s1)) < TOLERANCE) {
      converged = true;
      break;
    }
  }
  return { intercept: b0, slope: b1, scale, iterations, converged };
}

/**
 * The length model fitted to outcomes `y` (each in [0, 1]) and length differences `delta`
 * (candidate − baseline), aligned item by item. Throws a `ValidationError` on misaligned arrays, an
 * outcome outside [0, 1] or a difference that is not finite.
 */
export function fitLengthModel(
  y: readonly number[],
  delta: readonly number[],
  opts: { readonly ridge?: number } = {},
): LengthModel {
  if (y.length !== delta.length) {
    throw new ValidationError(
      'delta',
      `must have one length difference per outcome (${delta.length} for ${y.length})`,
    );
  }
  const ridge = checkRidge(opts.ridge);
  y.forEach((v, i) => {
    if (!(v >= 0 && v <= 1)) throw new ValidationError(`y.${i}`, 'must be a number in [0, 1]');
  });
  delta.forEach((d, i) => {
    if (!Number.isFinite(d)) throw new ValidationError(`delta.${i}`, 'must be a finite number');
  });
  const index = Int32Array.from(y, (_, i) => i);
  return fitRows(Float64Array.from(y), Float64Array.from(delta), index, ridge, [0, 0]);
}

function checkRidge(ridge: number | undefined): number {
  const value = ridge ?? DEFAULT_RIDGE;
  if (!(value > 0 && Number.isFinite(value))) throw new ValidationError('ridge', 'must be a positive number');
  return value;
}

/** The clamped percentile interval of sorted resampled values. */
function interval(sorted: Float64Array, confidence: number, lo: number, hi: number): [number, number] {
  const alpha = (1 - confidence) / 2;
  const clamp = (v: number) => Math.min(hi, Math.max(lo, v));
  return [clamp(quantileSorted(sorted, alpha)), clamp(quantileSorted(sorted, 1 - alpha))];
}

/**
 * The raw and length-controlled win rates of a candidate (A) against its baseline (B) over items
 * judged pairwise, each with its seeded paired bootstrap interval, and the counts. No judged item:
 * both rates are {@link EMPTY_ESTIMATE} (n 0, NaN). Throws a `ValidationError` on a length that is not
 * a non-negative finite number, or on bad bootstrap options.
 */
export function winRate(items: readonly PairedPreference[], opts: WinRateOptions): WinRate {
  const { resamples, confidence } = checkOptions(opts);
  const ridge = checkRidge(opts.ridge);
  const counts = { wins: 0, losses: 0, ties: 0, inconsistent: 0, failed: 0 };
  const ys: number[] = [];
  const deltas: number[] = [];
  items.forEach((item, i) => {
    const y = outcomeOf(item.preference);
    if (y === null) {
      counts.failed++;
      return;
    }
    for (const side of ['lengthA', 'lengthB'] as const) {
      const length = item[side];
      if (!(Number.isFinite(length) && length >= 0)) {
        throw new ValidationError(`items.${i}.${side}`, 'must be a non-negative finite number');
      }
    }
    if (item.preference === 'A') counts.wins++;
    else if (item.preference === 'B') counts.losses++;
    else if (item.preference === 'tie') counts.ties++;
    else counts.inconsistent++;
    ys.push(y);
    deltas.push(item.lengthA - item.lengthB);
  });
  const n = ys.length;
  if (n === 0) return { raw: EMPTY_ESTIMATE, lengthControlled: EMPTY_ESTIMATE, n, ...counts };

  const y = Float64Array.from(ys);
  const delta = Float64Array.from(deltas);
  const all = Int32Array.from(ys, (_, i) => i);
  const model = fitRows(y, delta, all, ridge, [0, 0]);
  let sum = 0;
  let min = 1;
  let max = 0;
  for (const v of y) {
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const raw = Math.min(max, Math.max(min, sum / n));
  const lc = sigmoid(model.intercept);

  const rng = createRng(opts.seed);
  const rawMeans = new Float64Array(resamples);
  const lcValues = new Float64Array(resamples);
  const index = new Int32Array(n);
  const scale = n * 2 ** -32;
  const start: [number, number] = [model.intercept, model.slope];
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const k = Math.floor(rng.nextUint32() * scale);
      index[i] = k;
      s += y[k] as number;
    }
    rawMeans[r] = s / n;
    // Warm-started at the full sample's fit: the same optimum, in fewer steps.
    lcValues[r] = sigmoid(fitRows(y, delta, index, ridge, start).intercept);
  }
  rawMeans.sort();
  lcValues.sort();
  return {
    raw: { value: raw, n, ci: interval(rawMeans, confidence, min, max) },
    lengthControlled: { value: lc, n, ci: interval(lcValues, confidence, 0, 1) },
    model,
    n,
    ...counts,
  };
}
