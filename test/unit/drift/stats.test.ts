import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  benjaminiHochberg,
  bhAdjusted,
  binEdges,
  bonferroni,
  chiSquaredSf,
  chiSquaredTest,
  histogram,
  ksTwoSample,
  kstwoSf,
  permutationPValue,
  psi,
  wasserstein1,
  wassersteinTest,
} from '#core/drift/stats.ts';
import { ValidationError } from '#core/errors.ts';

/*
 * Reference values come from SciPy 1.17.1 (NumPy float64), computed once and pasted here: the tests
 * never call Python. Each block gives the Python that produced its numbers. Shared definitions:
 *
 *   import numpy as np, scipy.stats as st
 *   def seq(n, k, s): return [((i * k) % 10007) / 10007 + s for i in range(n)]
 *   A, B, C, D, E, F = <the arrays below>
 *
 * `seq` is a scrambled grid in [s, s + 1): integer arithmetic and one correctly rounded division, so
 * TypeScript and Python build the very same doubles.
 */
const seq = (n: number, k: number, s: number): number[] =>
  Array.from({ length: n }, (_, i) => ((i * k) % 10007) / 10007 + s);

const A = [0.61, 0.29, 0.06, 0.59, -1.73, -0.74, 0.51, -0.56, 0.39, 1.64, 0.05, -0.06, 0.64, -0.49, -0.94];
const B = [-0.21, 1.99, 1.8, 1.37, 1.01, 0.77, 0.86, 0.31, 1.12, 0.42, 0.97, 1.7];
/** Integer samples with ties within and across them. */
const C = [1, 2, 2, 3, 3, 3, 4, 4, 5];
const D = [2, 3, 3, 4, 4, 4, 5, 5, 6, 6];
/** Two samples of the same size (the exact "square" method). */
const E = [0.12, 0.45, 0.33, 0.91, 0.27, 0.58, 0.74, 0.05, 0.66, 0.39];
const F = [0.52, 0.95, 0.81, 0.47, 0.99, 0.63, 0.88, 0.71, 0.36, 0.78];

/** |actual − expected| ≤ rel · |expected| (exact when expected is 0). */
function expectRel(actual: number | null, expected: number, rel: number): void {
  expect(actual).not.toBeNull();
  const a = actual as number;
  if (Math.abs(a - expected) > rel * Math.abs(expected)) {
    expect.fail(`${a} is not within ${rel} (relative) of ${expected}`);
  }
}

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).field;
  }
  return expect.fail('did not throw');
}

describe('ksTwoSample', () => {
  // r = st.ks_2samp(x, y); (r.statistic, r.pvalue)
  const exact: [string, number[], number[], number, number][] = [
    // ks_2samp(A, B) and ks_2samp(B, A): the inside method (15 × 12)
    ['A vs B', A, B, 0.6833333333333333, 0.0017609437719815968],
    ['B vs A', B, A, 0.6833333333333333, 0.0017609437719815968],
    // ks_2samp(C, D): ties within and across the samples
    ['C vs D (ties)', C, D, 0.36666666666666664, 0.4424646560869471],
    // ks_2samp(E, F): the square method (10 × 10)
    ['E vs F (n = m)', E, F, 0.5, 0.16782134274394334],
    // ks_2samp(seq(200, 7919, 0), seq(200, 104729, 0.1))
    ['200 vs 200', seq(200, 7919, 0), seq(200, 104729, 0.1), 0.11, 0.17793352788293415],
    // ks_2samp(seq(200, 7919, 0), seq(230, 104729, 0.1))
    ['200 vs 230', seq(200, 7919, 0), seq(230, 104729, 0.1), 0.10804347826086956, 0.15026208637914648],
  ];
  for (const [name, x, y, d, p] of exact) {
    it(`matches scipy's exact ks_2samp for ${name}`, () => {
      const r = ksTwoSample(x, y);
      expect(r.method).toBe('exact');
      expect(r.statistic).toBe(d);
      expectRel(r.pValue, p, 1e-12);
      expect(r.n).toEqual({ reference: x.length, current: y.length });
      expect(r.drift).toBe(p < 0.05);
    });
  }

  // Above 10 000 values in a sample, scipy uses kstwo.sf(D, round(n·m/(n + m))).
  const asymptotic: [string, number[], number[], number, number][] = [
    // ks_2samp(seq(10001, 7919, 0), seq(300, 104729, 0.05)): effective n 291, Pelz–Good
    ['10001 vs 300', seq(10001, 7919, 0), seq(300, 104729, 0.05), 0.05542745725427456, 0.3211494627703716],
    // ks_2samp(seq(10001, 7919, 0), seq(300, 104729, 0.2)): effective n 291, the far tail (smirnov)
    [
      '10001 vs 300, shifted',
      seq(10001, 7919, 0),
      seq(300, 104729, 0.2),
      0.2054124587541245,
      3.0326047203840864e-11,
    ],
    // ks_2samp(seq(10001, 7919, 0), seq(12000, 104729, 0.01)): effective n 5455
    [
      '10001 vs 12000',
      seq(10001, 7919, 0),
      seq(12000, 104729, 0.01),
      0.010159159084091596,
      0.6228283650664592,
    ],
    // ks_2samp(seq(10001, 7919, 0), [0.5, 0.6, 0.7, 0.8, 0.9]): effective n 5, Pomeranz
    ['10001 vs 5', seq(10001, 7919, 0), [0.5, 0.6, 0.7, 0.8, 0.9], 0.49995000499950004, 0.11206630836851283],
  ];
  for (const [name, x, y, d, p] of asymptotic) {
    it(`matches scipy's asymptotic ks_2samp for ${name}`, () => {
      const r = ksTwoSample(x, y);
      expect(r.method).toBe('asymptotic');
      expect(r.statistic).toBe(d);
      expectRel(r.pValue, p, 1e-10);
    });
  }

  it('gives D = 0 and p = 1 when both sides hold one and the same value', () => {
    for (const [x, y] of [
      [
        [3, 3, 3],
        [3, 3],
      ],
      [new Array<number>(10_001).fill(3), [3, 3]],
    ] as const) {
      const r = ksTwoSample(x, y);
      expect(r.statistic).toBe(0);
      expect(r.pValue).toBe(1);
      expect(r.drift).toBe(false);
    }
  });

  it('reports drift at the configured alpha', () => {
    // p = 0.00176 (A vs B above)
    expect(ksTwoSample(A, B, { alpha: 0.01 }).drift).toBe(true);
    expect(ksTwoSample(A, B, { alpha: 0.001 }).drift).toBe(false);
    expect(() => ksTwoSample(A, B, { alpha: 1 })).toThrow(ValidationError);
  });

  it('names the empty sample and the index of a value that is not finite', () => {
    expect(fieldOf(() => ksTwoSample([], B))).toBe('reference');
    expect(fieldOf(() => ksTwoSample(A, []))).toBe('current');
    expect(fieldOf(() => ksTwoSample(A, [1, 2, Number.NaN]))).toBe('current.2');
    expect(fieldOf(() => ksTwoSample([Number.POSITIVE_INFINITY], B))).toBe('reference.0');
  });

  it('keeps D in [0, 1], symmetric in its samples, with p in (0, 1] (exact sizes)', () => {
    const sample = fc.array(fc.integer({ min: -20, max: 20 }), { minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(sample, sample, (x, y) => {
        const r = ksTwoSample(x, y);
        const s = ksTwoSample(y, x);
        expect(r.statistic).toBeGreaterThanOrEqual(0);
        expect(r.statistic).toBeLessThanOrEqual(1);
        expect(s.statistic).toBe(r.statistic);
        expect(s.pValue).toBe(r.pValue);
        expect(r.pValue).toBeGreaterThan(0);
        expect(r.pValue).toBeLessThanOrEqual(1);
      }),
      { numRuns: 150 },
    );
  });
});

describe('kstwoSf', () => {
  // st.kstwo.sf(x, n), one point per branch of scipy's _kolmogn
  const points: [string, number, number, number][] = [
    ['Ruben–Gambino, nx ≤ 1', 0.3, 3, 0.8862222222222222],
    ['Ruben–Gambino, nx ≤ 1, n > 140', 0.004, 200, 1.0],
    ['Ruben–Gambino, nx ≥ n − 1', 0.85, 5, 0.0001518750000000001],
    ['x ≥ 0.5: 2·smirnov', 0.6, 20, 2.0483011649719853e-7],
    ['n ≤ 140, Durbin', 0.08, 100, 0.5182193645480672],
    ['n ≤ 140, Pomeranz', 0.15, 100, 0.019839242125641813],
    ['n ≤ 140, 2·smirnov', 0.25, 100, 5.408871776434847e-6],
    ['n > 140, 2·smirnov', 0.06, 1000, 0.001428597887952891],
    ['n > 140, Durbin', 0.012, 1000, 0.9984464668620097],
    ['n > 140, Pelz–Good', 0.03, 1000, 0.3226902143914636],
    ['nx² ≥ 370', 0.2, 10000, 0],
    ['n = 200 000, 2·smirnov', 0.004, 200_000, 0.003314212822560255],
    ['n = 200 000, Pelz–Good', 0.002, 200_000, 0.39995085369038097],
  ];
  for (const [branch, x, n, p] of points) {
    it(`matches scipy's kstwo.sf(${x}, ${n}) (${branch})`, () => {
      expectRel(kstwoSf(x, n), p, 1e-10);
    });
  }

  it('is 1 at or below 1/(2n) and 0 at 1', () => {
    expect(kstwoSf(0.05, 10)).toBe(1);
    expect(kstwoSf(1, 10)).toBe(0);
    expect(() => kstwoSf(0.5, 2.5)).toThrow(ValidationError);
  });
});

describe('wasserstein1', () => {
  it("matches scipy's wasserstein_distance", () => {
    // st.wasserstein_distance(A, B)
    expectRel(wasserstein1(A, B), 0.9918333333333335, 1e-13);
    // st.wasserstein_distance(C, D)
    expectRel(wasserstein1(C, D), 1.1999999999999997, 1e-13);
    // sq = lambda v: [u * u for u in v]
    // st.wasserstein_distance(sq(seq(200, 7919, 0)), sq(seq(230, 104729, 0.1)))
    const sq = (v: number[]) => v.map((u) => u * u);
    expectRel(wasserstein1(sq(seq(200, 7919, 0)), sq(seq(230, 104729, 0.1))), 0.105311231605857, 1e-13);
  });

  it('is symmetric, and a shift of a whole sample by c moves it by |c|', () => {
    const sample = fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 50 });
    fc.assert(
      fc.property(sample, sample, fc.integer({ min: -50, max: 50 }), (x, y, c) => {
        expect(wasserstein1(x, y)).toBeGreaterThanOrEqual(0);
        expect(wasserstein1(y, x)).toBeCloseTo(wasserstein1(x, y), 9);
        expect(
          wasserstein1(
            x,
            x.map((v) => v + c),
          ),
        ).toBeCloseTo(Math.abs(c), 9);
      }),
      { numRuns: 100 },
    );
  });
});

describe('wassersteinTest and permutationPValue', () => {
  const ref = seq(120, 7919, 0);
  const same = seq(100, 104729, 0);
  const shifted = seq(100, 104729, 0.3);

  it('gives the generic permutation p-value of W1, bit for bit, for the same seed', () => {
    for (const cur of [same, shifted, seq(90, 3, 0.02)]) {
      const test = wassersteinTest(ref, cur, { seed: 'drift', permutations: 200 });
      const generic = permutationPValue(wasserstein1, ref, cur, { seed: 'drift', permutations: 200 });
      expect(test.pValue).toBe(generic);
      expect(test.statistic).toBe(wasserstein1(ref, cur));
    }
  });

  it('reproduces its p-value from the seed, and finds a clear shift at the smallest p it can give', () => {
    const a = wassersteinTest(ref, shifted, { seed: 7 });
    expect(wassersteinTest(ref, shifted, { seed: 7 })).toEqual(a);
    expect(a.pValue).toBe(1 / 1001);
    expect(a.drift).toBe(true);
    const b = wassersteinTest(ref, same, { seed: 7 });
    expect(b.pValue).toBeGreaterThan(0.2);
    expect(b.drift).toBe(false);
  });

  it('needs W1 above the threshold as well when one is given, and only that without permutations', () => {
    const w = wasserstein1(ref, shifted); // ≈ 0.3
    expect(wassersteinTest(ref, shifted, { seed: 1, threshold: 0.5 }).drift).toBe(false);
    expect(wassersteinTest(ref, shifted, { seed: 1, threshold: 0.1 }).drift).toBe(true);
    const noPerm = wassersteinTest(ref, shifted, { seed: 1, permutations: 0, threshold: 0.1 });
    expect(noPerm).toMatchObject({ pValue: null, threshold: 0.1, drift: true, statistic: w });
    expect(fieldOf(() => wassersteinTest(ref, shifted, { seed: 1, permutations: 0 }))).toBe('threshold');
  });

  it("normalizes W1 by the reference's standard deviation, and gives null for a constant reference", () => {
    const x = [1, 2, 3, 4]; // population sd √1.25
    const y = [2, 3, 4, 5]; // W1 = 1
    expect(wassersteinTest(x, y, { seed: 1, permutations: 10 }).normalized).toBeCloseTo(
      1 / Math.sqrt(1.25),
      12,
    );
    expect(wassersteinTest([2, 2, 2], y, { seed: 1, permutations: 10 }).normalized).toBeNull();
  });

  it('never gives a permutation p-value below 1/(permutations + 1), nor above 1', () => {
    const sample = fc.array(fc.integer({ min: -30, max: 30 }), { minLength: 1, maxLength: 20 });
    fc.assert(
      fc.property(
        sample,
        sample,
        fc.integer({ min: 1, max: 60 }),
        fc.string(),
        (x, y, permutations, seed) => {
          const p = permutationPValue(wasserstein1, x, y, { seed, permutations });
          expect(p).toBeGreaterThanOrEqual(1 / (permutations + 1));
          expect(p).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('refuses empty samples and bad permutation counts', () => {
    expect(fieldOf(() => wassersteinTest([], B, { seed: 1 }))).toBe('reference');
    expect(fieldOf(() => permutationPValue(wasserstein1, A, [], { seed: 1 }))).toBe('current');
    expect(fieldOf(() => permutationPValue(wasserstein1, A, B, { seed: 1, permutations: 0 }))).toBe(
      'permutations',
    );
  });
});

describe('chiSquaredSf', () => {
  // st.chi2.sf(x, dof)
  const points: [number, number, number][] = [
    [3.84, 1, 0.05004352124870519],
    [0.5, 1, 0.47950012218695337],
    [10, 2, 0.006737946999085468],
    [25, 10, 0.005345505487134069],
    [200, 3, 4.218541107192018e-43],
    [150, 100, 0.0009039320423540184],
    [1e-3, 4, 0.9999998750416589],
    [60, 5, 1.2154569777183007e-11],
    [1000, 900, 0.010994608942135844],
  ];
  for (const [x, dof, p] of points) {
    it(`matches scipy's chi2.sf(${x}, ${dof}) to 1e-10`, () => {
      expectRel(chiSquaredSf(x, dof), p, 1e-10);
    });
  }

  it('is 1 at 0 and below', () => {
    expect(chiSquaredSf(0, 3)).toBe(1);
    expect(chiSquaredSf(-1, 3)).toBe(1);
  });
});

describe('chiSquaredTest', () => {
  it("matches scipy's chi2_contingency without Yates' correction (dof 2)", () => {
    // st.chi2_contingency([[50, 30, 20], [35, 30, 35]]) -> 6.737967914438503, 0.03442459644319107, dof 2
    const r = chiSquaredTest({ a: 50, b: 30, c: 20 }, { a: 35, b: 30, c: 35 });
    expectRel(r.statistic, 6.737967914438503, 1e-13);
    expectRel(r.pValue, 0.03442459644319107, 1e-10);
    expect(r).toMatchObject({ dof: 2, yates: false, drift: true, n: { reference: 100, current: 100 } });
  });

  it("applies Yates' correction when dof = 1, as scipy's default", () => {
    // st.chi2_contingency([[45, 55], [60, 40]]) -> 3.929824561403509, 0.04743689282486537, dof 1
    const r = chiSquaredTest({ yes: 45, no: 55 }, { yes: 60, no: 40 });
    expectRel(r.statistic, 3.929824561403509, 1e-13);
    expectRel(r.pValue, 0.04743689282486537, 1e-10);
    expect(r).toMatchObject({ dof: 1, yates: true });
    // st.chi2_contingency([[10, 10], [10, 11]]) -> 0.0, 1.0: the correction stops at the expected count
    expect(chiSquaredTest({ a: 10, b: 10 }, { a: 10, b: 11 })).toMatchObject({ statistic: 0, pValue: 1 });
  });

  it('drops categories absent on both sides', () => {
    // st.chi2_contingency([[10, 5], [12, 9]]) -> 0.05343228200371067, 0.8171949796092581, dof 1
    const r = chiSquaredTest({ a: 10, b: 0, c: 5 }, { a: 12, c: 9 });
    expect(r.categories).toEqual(['a', 'c']);
    expectRel(r.statistic, 0.05343228200371067, 1e-13);
    expectRel(r.pValue, 0.8171949796092581, 1e-10);
    // One category left: dof 0, chi2 0, p 1 (scipy's degenerate case)
    expect(chiSquaredTest({ a: 3 }, { a: 9, b: 0 })).toMatchObject({ statistic: 0, pValue: 1, dof: 0 });
  });

  it('refuses a side with no count, and a negative count, naming it', () => {
    expect(fieldOf(() => chiSquaredTest({ a: 0 }, { a: 3 }))).toBe('referenceCounts');
    expect(fieldOf(() => chiSquaredTest({ a: 1 }, {}))).toBe('currentCounts');
    expect(fieldOf(() => chiSquaredTest({ a: 1 }, { a: -2 }))).toBe('currentCounts.a');
  });
});

describe('psi', () => {
  it('computes the index of a hand-worked example', () => {
    // r = (0.5, 0.3, 0.2), c = (0.4, 0.3, 0.3)
    // PSI = (0.4 − 0.5)·ln(0.4/0.5) + 0 + (0.3 − 0.2)·ln(0.3/0.2)
    //     = 0.1 · 0.2231435513 + 0.1 · 0.4054651081 = 0.0628608659
    const r = psi({ a: 50, b: 30, c: 20 }, { a: 40, b: 30, c: 30 });
    expect(r.statistic).toBeCloseTo(0.06286086594, 10);
    expect(r).toMatchObject({ pValue: null, threshold: 0.2, drift: false, band: 'stable' });
  });

  it('floors an empty share at epsilon', () => {
    // r = (1, 0 → 1e-4), c = (0.9, 0.1)
    // PSI = (0.9 − 1)·ln(0.9) + (0.1 − 0.0001)·ln(0.1/0.0001)
    //     = 0.0105360516 + 0.0999 · 6.9077552790 = 0.0105360516 + 0.6900847524 = 0.7006208039
    const r = psi({ a: 100 }, { a: 90, b: 10 });
    expect(r.statistic).toBeCloseTo(0.7006208039, 9);
    expect(r).toMatchObject({ drift: true, band: 'significant' });
    // epsilon 1e-2: 0.0105360516 + (0.1 − 0.01) · ln(10) = 0.0105360516 + 0.2072326584 = 0.2177687099
    expect(psi({ a: 100 }, { a: 90, b: 10 }, { epsilon: 1e-2 }).statistic).toBeCloseTo(0.2177687099, 9);
  });

  it('reads the usual bands, with drift above the threshold', () => {
    // r = (0.5, 0.5), c = (0.3, 0.7): (0.3 − 0.5)·ln(0.6) + (0.7 − 0.5)·ln(1.4)
    //   = 0.1021651248 + 0.0672944473 = 0.1694595721
    const moderate = psi([50, 50], [30, 70]);
    expect(moderate.statistic).toBeCloseTo(0.1694595721, 9);
    expect(moderate.band).toBe('moderate');
    expect(moderate.drift).toBe(false);
    expect(psi([50, 50], [30, 70], { threshold: 0.1 }).drift).toBe(true);
  });

  it('is 0 for equal shares and never negative', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 8 }),
        (x, y) => {
          fc.pre(x.some((v) => v > 0) && y.some((v) => v > 0));
          expect(psi(x, y).statistic).toBeGreaterThanOrEqual(0);
          expect(
            psi(
              x,
              x.map((v) => 3 * v),
            ).statistic,
          ).toBeCloseTo(0, 12);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('binEdges and histogram', () => {
  it("puts the edges on the reference's quantiles, as numpy.quantile", () => {
    // np.quantile(seq(200, 7919, 0), np.linspace(0, 1, 11))
    const expected = [
      0.0, 0.10643549515339264, 0.20037973418606975, 0.31104227041071253, 0.4047966423503548,
      0.5047966423503547, 0.6047966423503548, 0.7027780553612472, 0.7976816228639954, 0.9031577895473168,
      0.997102028579994,
    ];
    const edges = binEdges(seq(200, 7919, 0));
    expect(edges).toHaveLength(11);
    edges.forEach((e, i) => {
      expect(e).toBeCloseTo(expected[i] as number, 14);
    });
    // Ten bins of 20 reference values each.
    expect(histogram(seq(200, 7919, 0), edges)).toEqual(new Array(10).fill(20));
  });

  it('merges repeated edges and counts values outside the range in the outer bins', () => {
    // np.quantile(C, np.linspace(0, 1, 5)) -> [1, 2, 3, 4, 5]; with 8 bins, repeats collapse
    expect(binEdges(C, 4)).toEqual([1, 2, 3, 4, 5]);
    expect(binEdges([7, 7, 7])).toEqual([7]);
    expect(histogram([-10, 1, 1.5, 2, 4.99, 5, 99], [1, 2, 3, 4, 5])).toEqual([3, 1, 0, 3]);
    expect(histogram([1, 8], [7])).toEqual([2]);
  });

  it('makes PSI work on a continuous value', () => {
    const ref = seq(500, 7919, 0);
    const edges = binEdges(ref);
    expect(psi(histogram(ref, edges), histogram(seq(400, 104729, 0), edges)).statistic).toBeLessThan(0.01);
    expect(psi(histogram(ref, edges), histogram(seq(400, 104729, 0.5), edges)).drift).toBe(true);
  });

  it('refuses edges out of order and values that are not finite', () => {
    expect(fieldOf(() => histogram([1], [1, 1]))).toBe('edges.1');
    expect(fieldOf(() => histogram([1, Number.NaN], [0, 1]))).toBe('values.1');
    expect(fieldOf(() => binEdges([]))).toBe('reference');
  });
});

describe('benjaminiHochberg and bonferroni', () => {
  // Benjamini & Hochberg (1995), section 4: 15 p-values; at q = 0.05 BH rejects the 4 smallest
  // (0.0095 ≤ 4·0.05/15 = 0.0133, 0.0201 > 5·0.05/15 = 0.0167 and no later p is below its line),
  // Bonferroni the 3 below 0.05/15 = 0.00333.
  const ps = [
    0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.324, 0.4262, 0.5719, 0.6528,
    0.759, 1.0,
  ];

  it('rejects the known example', () => {
    expect(benjaminiHochberg(ps).filter(Boolean)).toHaveLength(4);
    expect(benjaminiHochberg(ps).slice(0, 5)).toEqual([true, true, true, true, false]);
    expect(bonferroni(ps).slice(0, 4)).toEqual([true, true, true, false]);
    expect(bonferroni(ps).filter(Boolean)).toHaveLength(3);
  });

  it('adjusts p-values as scipy.stats.false_discovery_control', () => {
    // st.false_discovery_control(ps)
    const expected = [
      0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.06385714285714286, 0.06385714285714286, 0.0645,
      0.07650000000000001, 0.486, 0.5811818181818181, 0.7148749999999999, 0.7532307692307693,
      0.8132142857142857, 1.0,
    ];
    // Out of order, to show the result follows the input's order.
    const shuffled = [14, 3, 0, 9, 7, 1, 12, 5, 10, 2, 13, 6, 11, 4, 8];
    const adjusted = bhAdjusted(shuffled.map((i) => ps[i] as number));
    shuffled.forEach((i, k) => {
      expectRel(adjusted[k] as number, expected[i] as number, 1e-14);
    });
  });

  it('never rejects a null and leaves it out of m', () => {
    // m = 2: 0.02 ≤ 1·0.05/2 rejected; 0.04 ≤ 2·0.05/2 rejected.
    expect(benjaminiHochberg([0.02, null, 0.04, null])).toEqual([true, false, true, false]);
    // Bonferroni with m = 2: 0.02 ≤ 0.05/2 rejected, 0.04 > 0.05/2 not.
    expect(bonferroni([0.02, null, 0.04])).toEqual([true, false, false]);
    expect(bhAdjusted([null, 0.5])).toEqual([null, 0.5]);
    expect(benjaminiHochberg([])).toEqual([]);
  });

  it('refuses a p-value outside [0, 1], naming its index', () => {
    expect(fieldOf(() => benjaminiHochberg([0.1, 1.5]))).toBe('pValues.1');
    expect(fieldOf(() => bonferroni([Number.NaN]))).toBe('pValues.0');
  });
});
