import { describe, expect, it } from 'vitest';
import {
  centroidDistance,
  classifierTest,
  minWindowSize,
  mmdTest,
  normalCdf,
  normalQuantile,
} from '#core/drift/embedding.ts';
import { ValidationError } from '#core/errors.ts';
import { createRng } from '#core/eval/stats.ts';

/** `count` vectors of `dim` independent N(shift, 1) values, by Box–Muller on a seeded generator. */
function gaussian(seed: string, count: number, dim: number, shift = 0): number[][] {
  const rng = createRng(seed);
  const normal = () => {
    const u = 1 - rng.next(); // (0, 1]: log(u) is finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  };
  return Array.from({ length: count }, () => Array.from({ length: dim }, () => shift + normal()));
}

const reference = gaussian('reference', 100, 16);
const shifted = gaussian('current', 100, 16, 1);
const sameDistribution = gaussian('current', 100, 16);
const tiny = { minWindow: 2, seed: 's' };

describe('the standard normal distribution', () => {
  it('gives Φ and Φ⁻¹ to 1e-9 at reference values (scipy.stats.norm)', () => {
    expect(normalCdf(-1.96)).toBeCloseTo(0.024997895148220435, 15);
    expect(normalCdf(1)).toBeCloseTo(0.8413447460685429, 15);
    expect(normalCdf(-5) / 2.866515718791933e-7).toBeCloseTo(1, 12);
    expect(normalCdf(-10) / 7.61985302416047e-24).toBeCloseTo(1, 12);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 12);
    expect(normalQuantile(0.05)).toBeCloseTo(-1.6448536269514729, 12);
    expect(normalQuantile(0.8)).toBeCloseTo(0.8416212335729143, 12);
    expect(normalQuantile(1e-10)).toBeCloseTo(-6.361340902404056, 12);
    expect(normalQuantile(0.999999)).toBeCloseTo(4.753424308817087, 12);
    expect(normalQuantile(0.5)).toBe(0);
    expect(normalQuantile(0)).toBe(Number.NEGATIVE_INFINITY);
  });

  it('inverts Φ across the range, tails included', () => {
    for (const p of [1e-15, 1e-6, 0.001, 0.02, 0.02425, 0.1, 0.3, 0.6, 0.9, 0.99, 0.999]) {
      expect(Math.abs(normalCdf(normalQuantile(p)) - p) / p).toBeLessThan(1e-9);
    }
  });

  it('rejects a probability outside [0, 1]', () => {
    expect(() => normalQuantile(1.5)).toThrow(ValidationError);
    expect(() => normalQuantile(Number.NaN)).toThrow(ValidationError);
  });
});

describe('minWindowSize', () => {
  it('is 2·((z₁₋α + z_power)/effect)² rounded up: 50 for a half-σ shift at α 0.05 and power 0.8', () => {
    // 2 · ((1.6448536 + 0.8416212) / 0.5)² = 49.46 → 50.
    expect(minWindowSize({ effect: 0.5, alpha: 0.05, power: 0.8 })).toBe(50);
    // 2 · ((2.3263479 + 0.8416212) / 0.5)² = 80.30 → 81.
    expect(minWindowSize({ effect: 0.5, alpha: 0.01, power: 0.8 })).toBe(81);
    // 2 · ((1.6448536 + 1.2815516) / 1)² = 17.13 → 18.
    expect(minWindowSize({ effect: 1, alpha: 0.05, power: 0.9 })).toBe(18);
    expect(minWindowSize({ effect: 100, alpha: 0.05, power: 0.8 })).toBe(2);
  });

  it('rejects an effect, alpha or power out of range', () => {
    expect(() => minWindowSize({ effect: 0, alpha: 0.05, power: 0.8 })).toThrow(ValidationError);
    expect(() => minWindowSize({ effect: 0.5, alpha: 1, power: 0.8 })).toThrow(ValidationError);
    expect(() => minWindowSize({ effect: 0.5, alpha: 0.05, power: 0.05 })).toThrow(/power/);
  });
});

describe('centroidDistance', () => {
  it('is 1 − cos of the mean vectors (worked example)', () => {
    // Means (1, 1) and (1, 0): cos = 1 / √2, distance 1 − 1/√2.
    const r = centroidDistance(
      [
        [1, 0],
        [1, 2],
      ],
      [
        [2, 0],
        [0, 0],
      ],
      { ...tiny, permutations: 5 },
    );
    expect(r.test).toBe('centroid');
    expect(r.statistic).toBeCloseTo(1 - 1 / Math.SQRT2, 12);
    expect(r.n).toEqual({ reference: 2, current: 2 });
  });

  it('is 0 for parallel means and 2 for opposite ones', () => {
    expect(centroidDistance([[1, 1]], [[3, 3]], tiny).statistic).toBeCloseTo(0, 12);
    expect(centroidDistance([[1, -2]], [[-1, 2]], tiny).statistic).toBeCloseTo(2, 12);
  });

  it('takes a zero mean as having no direction: 0 against another zero, 1 against anything else', () => {
    expect(centroidDistance([[0, 0]], [[0, 0]], tiny).statistic).toBe(0);
    expect(centroidDistance([[0, 0]], [[0, 3]], tiny).statistic).toBe(1);
  });
});

describe('mmdTest', () => {
  it('computes the unbiased MMD² by hand in 1-D with σ = 1', () => {
    // X = {0, 1}, Y = {2, 3}, k = exp(−d²/2).
    // Within X: k(0,1) = e^−½, twice over n(n−1) = 2 → e^−½; within Y the same.
    // Across: d = 2, 3, 1, 2 → (2e^−2 + e^−4.5 + e^−½), times 2/(nm) = ½.
    // MMD² = 2e^−½ − ½(2e^−2 + e^−4.5 + e^−½) = 1.5e^−½ − e^−2 − ½e^−4.5.
    const r = mmdTest([[0], [1]], [[2], [3]], { ...tiny, bandwidth: 1, permutations: 5 });
    expect(r.statistic).toBeCloseTo(1.5 * Math.exp(-0.5) - Math.exp(-2) - 0.5 * Math.exp(-4.5), 12);
    expect(r.bandwidth).toBe(1);
  });

  it('uses the median pairwise distance of the pooled sample as σ (1-D worked example)', () => {
    // Pooled {0, 1, 2, 3}: distances 1, 2, 3, 1, 2, 1 → median (1 + 2)/2 = 1.5, so 2σ² = 4.5.
    // MMD² = 2e^(−1/4.5) − ½(2e^(−4/4.5) + e^(−9/4.5) + e^(−1/4.5)).
    const r = mmdTest([[0], [1]], [[2], [3]], { ...tiny, permutations: 5 });
    expect(r.bandwidth).toBe(1.5);
    const k = (d: number) => Math.exp(-(d * d) / 4.5);
    expect(r.statistic).toBeCloseTo(2 * k(1) - 0.5 * (2 * k(2) + k(3) + k(1)), 12);
  });

  it('computes the unbiased MMD² by hand in 2-D with σ = 1', () => {
    // X = {(0,0), (1,0)}, Y = {(0,1), (1,1)}: within each d² = 1 → e^−½ each;
    // across d² = 1, 2, 2, 1 → ½(2e^−½ + 2e^−1). MMD² = 2e^−½ − e^−½ − e^−1 = e^−½ − e^−1.
    const r = mmdTest(
      [
        [0, 0],
        [1, 0],
      ],
      [
        [0, 1],
        [1, 1],
      ],
      { ...tiny, bandwidth: 1, permutations: 5 },
    );
    expect(r.statistic).toBeCloseTo(Math.exp(-0.5) - Math.exp(-1), 12);
  });

  it('is negative for identical tiny windows (the estimator is unbiased, not non-negative)', () => {
    // X = Y = {0, 1}, σ = 1: e^−½ + e^−½ − ½(1 + e^−½ + e^−½ + 1) = e^−½ − 1.
    const r = mmdTest([[0], [1]], [[0], [1]], { ...tiny, bandwidth: 1, permutations: 5 });
    expect(r.statistic).toBeCloseTo(Math.exp(-0.5) - 1, 12);
  });

  it('subsamples the pooled sample to maxPooled with the seed and reports the sizes tested', () => {
    const opts = { seed: 'cap', permutations: 20, maxPooled: 60, minWindow: 10 };
    const r = mmdTest(reference, shifted.slice(0, 20), opts);
    expect(r.given).toEqual({ reference: 100, current: 20 });
    expect(r.n).toEqual({ reference: 40, current: 20 });
    expect(mmdTest(reference, shifted.slice(0, 20), opts)).toEqual(r);
    const big = mmdTest(reference, shifted, opts);
    expect(big.n).toEqual({ reference: 30, current: 30 });
  });
});

describe('the three tests on Gaussian windows', () => {
  const tests = [
    ['centroid', (a: number[][], b: number[][], seed: string) => centroidDistance(a, b, { seed })],
    ['mmd', (a: number[][], b: number[][], seed: string) => mmdTest(a, b, { seed })],
    ['classifier', (a: number[][], b: number[][], seed: string) => classifierTest(a, b, { seed })],
  ] as const;

  it.each(tests)('%s: finds a 1σ shift in every dimension (100 vs 100, d = 16) at p < 0.01', (_n, run) => {
    const r = run(reference, shifted, 'shift');
    expect(r.insufficient).toBeUndefined();
    expect(r.pValue).toBeLessThan(0.01);
    expect(r.drift).toBe(true);
    expect(r.n).toEqual({ reference: 100, current: 100 });
  });

  it.each(tests)('%s: finds no drift between identical windows', (_n, run) => {
    const r = run(
      reference,
      reference.map((v) => [...v]),
      'same',
    );
    expect(r.pValue).toBeGreaterThan(0.5);
    expect(r.drift).toBe(false);
  });

  it.each(tests)('%s: finds no drift between two samples of one distribution', (_n, run) => {
    const r = run(reference, sameDistribution, 'null');
    expect(r.pValue).toBeGreaterThan(0.05);
    expect(r.drift).toBe(false);
  });

  it.each(tests)('%s: gives the same result for the same seed', (_n, run) => {
    const a = run(reference, shifted.slice(0, 60), 'seed');
    expect(run(reference, shifted.slice(0, 60), 'seed')).toEqual(a);
  });

  it.each(tests)('%s: reports tiny windows as insufficient, never as no drift', (_n, run) => {
    const r = run(reference.slice(0, 10), shifted.slice(0, 10), 'tiny');
    expect(r).toMatchObject({ insufficient: true, drift: false, pValue: null });
    expect(r.n).toEqual({ reference: 10, current: 10 });
    expect(Number.isFinite(r.statistic)).toBe(true);
  });

  it('takes the insufficient threshold from minWindow when given', () => {
    const r = centroidDistance(reference.slice(0, 10), shifted.slice(0, 10), { seed: 't', minWindow: 10 });
    expect(r.insufficient).toBeUndefined();
    expect(r.pValue).not.toBeNull();
  });

  it('classifier: scores a separable shift near AUC 1, with the corrected normal p-value', () => {
    const r = classifierTest(reference, shifted, { seed: 'auc', folds: 4 });
    expect(r.statistic).toBeGreaterThan(0.95);
    expect(r.folds).toBe(4);
    // Four folds of 25 + 25: Σ pairs = 4·625, Σ Var U_f = 4·625·51/12, inflated by 1 + 4/3.
    const pairs = 4 * 625;
    const z = (r.statistic * pairs - pairs / 2) / Math.sqrt((1 + 4 / 3) * ((pairs * 51) / 12));
    expect(r.pValue).toBe(normalCdf(-z));
  });

  it('classifier: fires on few null windows (the corrected variance keeps it near alpha)', () => {
    let fired = 0;
    for (let t = 0; t < 40; t++) {
      const a = gaussian(`null-a${t}`, 60, 8);
      const b = gaussian(`null-b${t}`, 60, 8);
      if (classifierTest(a, b, { seed: t }).drift) fired++;
    }
    expect(fired).toBeLessThanOrEqual(4);
  });

  it('classifier: gives an exact permutation p-value when asked for permutations', () => {
    const opts = { seed: 'perm', permutations: 39, iterations: 30 };
    const drifted = classifierTest(reference, shifted, opts);
    expect(drifted.pValue).toBe(1 / 40);
    expect(drifted.drift).toBe(true);
    const same = classifierTest(reference, sameDistribution, opts);
    expect(same.pValue).toBeGreaterThan(0.05);
    expect(same.statistic).toBe(
      classifierTest(reference, sameDistribution, { ...opts, permutations: 1 }).statistic,
    );
  });
});

describe('validation', () => {
  const run = [
    (a: number[][], b: number[][]) => centroidDistance(a, b, { seed: 1 }),
    (a: number[][], b: number[][]) => mmdTest(a, b, { seed: 1 }),
    (a: number[][], b: number[][]) => classifierTest(a, b, { seed: 1 }),
  ];

  it.each(run.map((f, i) => [i, f] as const))('test %i names the argument and index at fault', (_i, f) => {
    const field = (thunk: () => unknown) => {
      try {
        thunk();
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        return (err as ValidationError).field;
      }
      throw new Error('no error');
    };
    expect(field(() => f([], [[1]]))).toBe('reference');
    expect(field(() => f([[1]], []))).toBe('current');
    expect(field(() => f([[]], [[1]]))).toBe('reference.0');
    expect(field(() => f([[1, 2]], [[1, 2], [3]]))).toBe('current.1');
    expect(
      field(() =>
        f(
          [
            [1, 2],
            [1, 2, 3],
          ],
          [[1, 2]],
        ),
      ),
    ).toBe('reference.1');
    expect(field(() => f([[1, Number.NaN]], [[1, 2]]))).toBe('reference.0.1');
    expect(
      field(() =>
        f(
          [[1, 2]],
          [
            [1, 2],
            [Number.POSITIVE_INFINITY, 0],
          ],
        ),
      ),
    ).toBe('current.1.0');
  });

  it('rejects options out of range', () => {
    const a = [[1], [2]];
    expect(() => centroidDistance(a, a, { seed: 1, permutations: 0 })).toThrow(/permutations/);
    expect(() => centroidDistance(a, a, { seed: 1, alpha: 0 })).toThrow(/alpha/);
    expect(() => mmdTest(a, a, { seed: 1, bandwidth: -1 })).toThrow(/bandwidth/);
    expect(() => mmdTest(a, a, { seed: 1, maxPooled: 3 })).toThrow(/maxPooled/);
    expect(() => classifierTest(a, a, { seed: 1, folds: 1 })).toThrow(/folds/);
    expect(() => classifierTest(a, a, { seed: 1, minWindow: 0.5 })).toThrow(/minWindow/);
  });
});
