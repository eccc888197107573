import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import { bootstrapMean } from '#core/eval/stats.ts';
import {
  answerLength,
  DEFAULT_RIDGE,
  fitLengthModel,
  outcomeOf,
  type PairedPreference,
  type PairOutcome,
  winRate,
} from '#core/eval/win-rate.ts';

/*
 * Reference values come from NumPy 2.4.6 / SciPy 1.17.1 (float64), computed once and pasted here: the
 * tests never call Python. The same penalized likelihood was maximized twice, by scipy.optimize's BFGS
 * (an algorithm unlike the module's Newton steps) and by a plain NumPy Newton iteration; the two agree
 * to 1e-10 and the Newton values are quoted:
 *
 *   import numpy as np; from scipy.special import expit; from scipy.optimize import minimize
 *   def fit(pref, la, lb, ridge=0.01):
 *       y = np.array([{'A': 1.0, 'B': 0.0, 'tie': 0.5, 'inconsistent': 0.5}[p] for p in pref])
 *       d = np.array(la, float) - np.array(lb, float)
 *       s = d.std(ddof=1) if len(d) > 1 else 0.0
 *       x = np.tanh(d / s) if s > 0 else np.zeros_like(d)
 *       X = np.column_stack([np.ones_like(x), x]); b = np.zeros(2)
 *       for _ in range(200):
 *           p = expit(X @ b); g = X.T @ (y - p) - ridge * b
 *           H = X.T @ (X * (p * (1 - p))[:, None]) + ridge * np.eye(2)
 *           step = np.linalg.solve(H, g); b = b + step
 *           if abs(step).max() < 1e-15: break
 *       return y.mean(), expit(b[0]), b, s
 */

type Row = readonly [Exclude<PairOutcome, null>, number, number];
const items = (rows: readonly Row[]): PairedPreference[] =>
  rows.map(([preference, lengthA, lengthB]) => ({ preference, lengthA, lengthB }));

/** The candidate wins mostly where its answer is longer, and loses mostly where it is shorter. */
const LONGER_WINS: Row[] = [
  ['A', 140, 100],
  ['A', 160, 100],
  ['A', 180, 100],
  ['A', 130, 100],
  ['A', 150, 100],
  ['A', 170, 100],
  ['A', 125, 100],
  ['A', 145, 100],
  ['A', 165, 100],
  ['A', 135, 100],
  ['A', 155, 100],
  ['A', 175, 100],
  ['B', 120, 100],
  ['B', 110, 100],
  ['A', 90, 100],
  ['B', 80, 100],
  ['B', 70, 100],
  ['B', 60, 100],
  ['tie', 100, 100],
  ['inconsistent', 100, 100],
];

/** Every item won, the candidate never shorter: lengths 100 + (7i mod 50) against 100. */
const ALL_WINS: Row[] = Array.from({ length: 20 }, (_, i): Row => ['A', 100 + ((7 * i) % 50), 100]);

/** Each row with its mirror (preference and lengths swapped): nothing favours either side. */
const MIRROR = { A: 'B', B: 'A', tie: 'tie', inconsistent: 'inconsistent' } as const;
const HALF: Row[] = [
  ['A', 150, 100],
  ['B', 120, 100],
  ['tie', 90, 100],
  ['A', 80, 100],
  ['inconsistent', 110, 100],
];
const SYMMETRIC: Row[] = [...HALF, ...HALF.map(([p, a, b]): Row => [MIRROR[p], b, a])];

const OPTS = { seed: 'win-rate', resamples: 400 };

describe('outcomeOf and answerLength', () => {
  it('scores a win 1, a loss 0, a tie and an inconsistent pair ½, and a failed judgement null', () => {
    expect(['A', 'B', 'tie', 'inconsistent', null].map((p) => outcomeOf(p as PairOutcome))).toEqual([
      1,
      0,
      0.5,
      0.5,
      null,
    ]);
  });

  it('counts characters as code points, as Python’s len does', () => {
    expect(answerLength('30 days')).toBe(7);
    expect(answerLength('')).toBe(0);
    // An astral character (two UTF-16 units) counts once; a combining accent counts on its own.
    expect(answerLength('ok \u{1F44D} e\u0301')).toBe(7);
    expect('ok \u{1F44D} e\u0301'.length).toBe(8);
  });
});

describe('winRate', () => {
  it('counts wins, losses, ties and inconsistent pairs, and leaves failed items out (hand-computed)', () => {
    const result = winRate(
      [
        ...items([
          ['A', 10, 10],
          ['A', 12, 10],
          ['A', 8, 10],
          ['B', 10, 10],
          ['tie', 10, 10],
          ['inconsistent', 10, 12],
        ]),
        { preference: null, lengthA: 0, lengthB: 10 },
      ],
      OPTS,
    );
    expect(result).toMatchObject({ n: 6, wins: 3, losses: 1, ties: 1, inconsistent: 1, failed: 1 });
    // (3 wins + ½ tie + ½ inconsistent) / 6 judged items; the failed one is not a loss.
    expect(result.raw.value).toBe(4 / 6);
    expect(result.raw.n).toBe(6);
    expect(result.lengthControlled.n).toBe(6);
  });

  it('matches the reference fit where the candidate wins by being longer: LC below raw', () => {
    const result = winRate(items(LONGER_WINS), OPTS);
    expect(result.raw.value).toBe(0.7);
    expect(result.model?.scale).toBeCloseTo(35.887250338276196, 12);
    expect(result.model?.intercept).toBeCloseTo(-0.2381985313800099, 10);
    expect(result.model?.slope).toBeCloseTo(3.380592619659897, 9);
    expect(result.lengthControlled.value).toBeCloseTo(0.4407303419963521, 10);
    expect(result.lengthControlled.value).toBeLessThan(result.raw.value);
    expect(result.model?.converged).toBe(true);
  });

  it('gives a run of all wins an LC win rate near 1, not 1, thanks to the ridge (reference value)', () => {
    const result = winRate(items(ALL_WINS), OPTS);
    expect(result.raw).toEqual({ value: 1, n: 20, ci: [1, 1] });
    expect(result.lengthControlled.value).toBeCloseTo(0.9892004846558636, 9);
    expect(result.lengthControlled.value).toBeLessThan(1);
    expect(result.model?.intercept).toBeCloseTo(4.517395769831362, 8);
    // Every resample is all wins too: the interval stays near 1.
    expect(result.lengthControlled.ci[0]).toBeGreaterThan(0.95);
    expect(result.lengthControlled.ci[1]).toBeLessThanOrEqual(1);
  });

  it('is one half on data that favours neither side', () => {
    const result = winRate(items(SYMMETRIC), OPTS);
    expect(result.raw.value).toBe(0.5);
    expect(result.lengthControlled.value).toBeCloseTo(0.5, 12);
    expect(result.model?.intercept).toBeCloseTo(0, 12);
    expect(result.model?.slope).toBeCloseTo(-0.29914055377130094, 9);
  });

  it('fits the intercept alone when the lengths never differ: the ridge-shrunk logit of the raw rate', () => {
    const rows: Row[] = [...Array<Row>(7).fill(['A', 50, 50]), ...Array<Row>(3).fill(['B', 50, 50])];
    const result = winRate(items(rows), OPTS);
    expect(result.model).toMatchObject({ scale: 0, slope: 0 });
    // The score equation n(ȳ − σ(β₀)) = λβ₀, solved: β₀ = 0.84329, a little below logit(0.7) = 0.84730.
    const b0 = result.model?.intercept ?? Number.NaN;
    expect(10 * (0.7 - 1 / (1 + Math.exp(-b0)))).toBeCloseTo(DEFAULT_RIDGE * b0, 12);
    expect(b0).toBeCloseTo(0.8432854325797096, 10);
    expect(result.lengthControlled.value).toBeCloseTo(0.6991567145674203, 12);
  });

  it('takes its raw interval from the same resamples as stats.bootstrapMean of the outcomes', () => {
    const rows = items(LONGER_WINS);
    const result = winRate(rows, OPTS);
    const outcomes = rows.map((r) => outcomeOf(r.preference) as number);
    expect(result.raw.ci).toEqual(bootstrapMean(outcomes, OPTS).ci);
    expect(result.raw.ci[0]).toBeLessThan(0.7);
    expect(result.raw.ci[1]).toBeGreaterThan(0.7);
  });

  it('gives the same numbers for the same seed, and other intervals for another seed', () => {
    const rows = items(LONGER_WINS);
    expect(winRate(rows, OPTS)).toEqual(winRate(rows, OPTS));
    expect(winRate(rows, { ...OPTS, seed: 'other' }).lengthControlled.ci).not.toEqual(
      winRate(rows, OPTS).lengthControlled.ci,
    );
  });

  it('reports no value when nothing was judged', () => {
    const result = winRate([{ preference: null, lengthA: 1, lengthB: 2 }], OPTS);
    expect(result).toMatchObject({ n: 0, failed: 1, wins: 0 });
    expect(result.raw.value).toBeNaN();
    expect(result.lengthControlled.value).toBeNaN();
    expect(result.model).toBeUndefined();
  });

  it('names a length that is not a count, and a ridge that is not positive', () => {
    expect(() => winRate([{ preference: 'A', lengthA: -1, lengthB: 2 }], OPTS)).toThrow(
      new ValidationError('items.0.lengthA', 'must be a non-negative finite number'),
    );
    expect(() => winRate(items(SYMMETRIC), { ...OPTS, ridge: 0 })).toThrow(ValidationError);
    expect(() => winRate(items(SYMMETRIC), { ...OPTS, resamples: 0 })).toThrow(ValidationError);
  });
});

describe('fitLengthModel', () => {
  it('solves the penalized score equations: Σ(y − p) = λβ₀ and Σ(y − p)x = λβ₁', () => {
    const y = LONGER_WINS.map(([p]) => outcomeOf(p) as number);
    const delta = LONGER_WINS.map(([, a, b]) => a - b);
    const model = fitLengthModel(y, delta);
    const x = delta.map((d) => Math.tanh(d / model.scale));
    let g0 = 0;
    let g1 = 0;
    x.forEach((xi, i) => {
      const r = (y[i] as number) - 1 / (1 + Math.exp(-(model.intercept + model.slope * xi)));
      g0 += r;
      g1 += r * xi;
    });
    expect(g0).toBeCloseTo(DEFAULT_RIDGE * model.intercept, 12);
    expect(g1).toBeCloseTo(DEFAULT_RIDGE * model.slope, 12);
  });

  it('keeps a perfectly separating length finite, and pulls harder with a larger ridge', () => {
    const y = [1, 1, 1, 0, 0, 0];
    const delta = [30, 20, 10, -10, -20, -30];
    const weak = fitLengthModel(y, delta);
    const strong = fitLengthModel(y, delta, { ridge: 1 });
    expect(Number.isFinite(weak.slope)).toBe(true);
    expect(weak.slope).toBeGreaterThan(strong.slope);
    expect(strong.slope).toBeGreaterThan(0);
    expect(weak.intercept).toBeCloseTo(0, 9);
  });

  it('refuses misaligned input and outcomes outside [0, 1]', () => {
    expect(() => fitLengthModel([1], [1, 2])).toThrow(ValidationError);
    expect(() => fitLengthModel([2], [1])).toThrow(new ValidationError('y.0', 'must be a number in [0, 1]'));
    expect(() => fitLengthModel([1], [Number.NaN])).toThrow(ValidationError);
  });
});
