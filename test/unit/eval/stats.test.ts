import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import {
  bootstrapMean,
  cohensKappa,
  createRng,
  EMPTY_ESTIMATE,
  isUnstable,
  type Label,
  pairedBootstrapDiff,
  precisionRecall,
  repeatedVerdicts,
  repeatSpread,
  summarize,
} from '#core/eval/stats.ts';
import { cpuMs } from '../../support/cpu-time.ts';

/** Two raters' labels laid out from an agreement table: table[i][j] items rated i by a and j by b. */
function fromTable(table: number[][], labels: Label[] = ['yes', 'no', 'maybe']): [Label[], Label[]] {
  const a: Label[] = [];
  const b: Label[] = [];
  for (const [i, row] of table.entries()) {
    for (const [j, count] of row.entries()) {
      for (let c = 0; c < count; c++) {
        a.push(labels[i] as Label);
        b.push(labels[j] as Label);
      }
    }
  }
  return [a, b];
}

/** Values in [0, 1] from a seeded stream: a Bernoulli-ish score column. */
function scores(n: number, p: number, seed: string): number[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => (rng.next() < p ? 1 : 0));
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/**
 * The exact quantiles of the bootstrap distribution of the mean of a small sample: every one of its
 * n^n equally likely resamples enumerated; the p-quantile is the smallest mean whose CDF reaches p.
 */
function exactBootstrapQuantiles(values: readonly number[], ps: readonly number[]): number[] {
  const n = values.length;
  const means: number[] = [];
  for (let code = 0; code < n ** n; code++) {
    let sum = 0;
    for (let i = 0, rest = code; i < n; i++, rest = Math.floor(rest / n)) sum += values[rest % n] as number;
    means.push(sum / n);
  }
  means.sort((a, b) => a - b);
  return ps.map((p) => means[Math.ceil(p * means.length) - 1] as number);
}

describe('createRng', () => {
  it('gives the same stream for the same seed and a different one for another seed', () => {
    const a = createRng('run-1');
    const b = createRng('run-1');
    const c = createRng('run-2');
    const sa = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(sa);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(sa);
    expect(createRng(7).next()).toBe(createRng(7).next());
    expect(createRng(7).next()).not.toBe(createRng('7').next());
  });

  it('draws floats in [0, 1) and integers in [0, n) roughly uniformly', () => {
    const rng = createRng('uniform');
    const buckets = new Array<number>(10).fill(0);
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = rng.next();
      if (!(x >= 0 && x < 1)) outside++;
      const k = rng.nextInt(10);
      buckets[k] = (buckets[k] ?? 0) + 1;
    }
    expect(outside).toBe(0);
    for (const count of buckets) expect(count).toBeGreaterThan(9_500);
    for (const count of buckets) expect(count).toBeLessThan(10_500);
    expect(() => rng.nextInt(0)).toThrow(ValidationError);
  });
});

describe('bootstrapMean', () => {
  it('reports the mean with a 95% interval that covers it', () => {
    const values = scores(200, 0.7, 'cover');
    const est = bootstrapMean(values, { seed: 's' });
    expect(est.n).toBe(200);
    expect(est.value).toBeCloseTo(mean(values), 12);
    expect(est.ci[0]).toBeLessThan(est.value);
    expect(est.ci[1]).toBeGreaterThan(est.value);
    // Close to the normal approximation: ±1.96·sqrt(p(1−p)/n).
    const se = Math.sqrt((est.value * (1 - est.value)) / 200);
    expect(est.ci[1] - est.ci[0]).toBeGreaterThan(2 * 1.96 * se * 0.85);
    expect(est.ci[1] - est.ci[0]).toBeLessThan(2 * 1.96 * se * 1.15);
  });

  it('is deterministic for a seed and varies with the seed', () => {
    const rng = createRng('det');
    const values = Array.from({ length: 100 }, () => rng.next());
    const a = bootstrapMean(values, { seed: 'same' });
    expect(bootstrapMean(values, { seed: 'same' })).toEqual(a);
    expect(bootstrapMean(values, { seed: 'other' }).ci).not.toEqual(a.ci);
  });

  it('narrows the interval as n grows', () => {
    const width = (n: number) => {
      const { ci } = bootstrapMean(scores(n, 0.6, `n${n}`), { seed: 'w' });
      return ci[1] - ci[0];
    };
    const w50 = width(50);
    const w500 = width(500);
    const w5000 = width(5000);
    expect(w500).toBeLessThan(w50);
    expect(w5000).toBeLessThan(w500);
    // Roughly 1/sqrt(n): ten times the items, about a third of the width.
    expect(w5000 / w500).toBeGreaterThan(0.2);
    expect(w5000 / w500).toBeLessThan(0.45);
  });

  it('widens with the confidence asked for', () => {
    const values = scores(300, 0.5, 'conf');
    const w = (confidence: number) => {
      const { ci } = bootstrapMean(values, { seed: 'c', confidence });
      return ci[1] - ci[0];
    };
    expect(w(0.99)).toBeGreaterThan(w(0.95));
    expect(w(0.95)).toBeGreaterThan(w(0.8));
  });

  it('returns the empty estimate for no values and a point interval for one or constant values', () => {
    expect(bootstrapMean([], { seed: 'e' })).toEqual(EMPTY_ESTIMATE);
    expect(bootstrapMean([], { seed: 'e' }).n).toBe(0);
    expect(bootstrapMean([0.42], { seed: 'e' })).toEqual({ value: 0.42, n: 1, ci: [0.42, 0.42] });
    expect(bootstrapMean([0.1, 0.1, 0.1], { seed: 'e' })).toEqual({ value: 0.1, n: 3, ci: [0.1, 0.1] });
  });

  it('keeps the interval within the range of the values', () => {
    const est = bootstrapMean([0, 0, 0, 0, 1], { seed: 'r', resamples: 5000 });
    expect(est.ci[0]).toBeGreaterThanOrEqual(0);
    expect(est.ci[1]).toBeLessThanOrEqual(1);
  });

  it('rejects values that are not finite numbers and bad options, naming the field', () => {
    expect(() => bootstrapMean([1, Number.NaN], { seed: 'x' })).toThrow(/values\.1/);
    expect(() => bootstrapMean([1, Number.POSITIVE_INFINITY], { seed: 'x' })).toThrow(ValidationError);
    expect(() => bootstrapMean([1, 2], { seed: 'x', resamples: 0 })).toThrow(/resamples/);
    expect(() => bootstrapMean([1, 2], { seed: 'x', confidence: 1 })).toThrow(/confidence/);
  });

  it('gives the exact percentile interval of an enumerable bootstrap distribution: [0, ¼, ½, 1] → [0.125, 0.8125]', () => {
    // All 4^4 = 256 resamples are equally likely: their means are the exact bootstrap distribution,
    // whose 2.5% and 97.5% quantiles (the smallest mean whose CDF reaches p) are the interval it tends
    // to. These quantiles sit clear of the CDF's steps (CDF 0.0195 below 0.125, 0.0586 at it; 0.9648
    // below 0.8125, 0.9805 at it), so 200,000 resamples land on them exactly, whatever the seed.
    const values = [0, 0.25, 0.5, 1];
    const exact = exactBootstrapQuantiles(values, [0.025, 0.975]);
    expect(exact).toEqual([0.125, 0.8125]);
    for (const seed of ['a', 'b', 7]) {
      const est = bootstrapMean(values, { seed, resamples: 200_000 });
      expect(est.value).toBe(0.4375);
      expect(est.ci).toEqual(exact);
    }
  });

  it('gives the exact percentile interval of 10 passes in 20 items: Binomial(20, ½)/20 → [0.3, 0.7]', () => {
    // A resample's mean is Binomial(20, ½)/20: P(≤ 5) = 0.0207 < 0.025 ≤ P(≤ 6) = 0.0577 and
    // P(≤ 13) = 0.9423 < 0.975 ≤ P(≤ 14) = 0.9793, so the interval is [6/20, 14/20] — not the normal
    // approximation's [0.281, 0.719].
    const values = Array.from({ length: 20 }, (_, i) => (i < 10 ? 1 : 0));
    const cdf = (k: number) => {
      let sum = 0;
      for (let i = 0, c = 1; i <= k; c = (c * (20 - i)) / (i + 1), i++) sum += c;
      return sum / 2 ** 20;
    };
    expect(cdf(5)).toBeLessThan(0.025);
    expect(cdf(6)).toBeGreaterThanOrEqual(0.025);
    expect(cdf(13)).toBeLessThan(0.975);
    expect(cdf(14)).toBeGreaterThanOrEqual(0.975);
    for (const seed of ['a', 'b']) {
      expect(bootstrapMean(values, { seed, resamples: 200_000 })).toEqual({
        value: 0.5,
        n: 20,
        ci: [0.3, 0.7],
      });
    }
  });

  it('matches an independent computation of the percentile interval from the same seeded resamples', () => {
    // The resamples drawn as documented (index ⌊u · n⌋ of each uniform u of the seeded stream), their
    // means sorted, and the quantiles taken by Hyndman & Fan's type 7 (R's default): x[j] + g (x[j+1] − x[j]).
    const values = [0.13, 0.92, 0.4, 0.55, 0.07, 0.81, 0.33];
    const resamples = 999;
    const rng = createRng('independent');
    const means: number[] = [];
    for (let r = 0; r < resamples; r++) {
      let sum = 0;
      for (let i = 0; i < values.length; i++) sum += values[Math.floor(rng.next() * values.length)] as number;
      means.push(sum / values.length);
    }
    means.sort((a, b) => a - b);
    const type7 = (p: number) => {
      const h = (resamples - 1) * p;
      const j = Math.floor(h);
      return (means[j] as number) + (h - j) * ((means[j + 1] as number) - (means[j] as number));
    };
    const est = bootstrapMean(values, { seed: 'independent', resamples });
    expect(est.ci[0]).toBeCloseTo(type7(0.025), 12);
    expect(est.ci[1]).toBeCloseTo(type7(0.975), 12);
  });

  it('runs 2000 resamples of 500 items well within a second', () => {
    const values = Array.from({ length: 500 }, (_, i) => (i * 7919) % 101) as number[];
    bootstrapMean(values, { seed: 'warm-up', resamples: 200 });
    let est: ReturnType<typeof bootstrapMean> | undefined;
    const elapsed = cpuMs(() => {
      est = bootstrapMean(values, { seed: 'timed', resamples: 2000 });
    });
    expect(est?.n).toBe(500);
    // Generous for a busy shared CI machine; locally this takes a few milliseconds.
    expect(elapsed).toBeLessThan(2000);
  });
});

describe('pairedBootstrapDiff', () => {
  it('estimates the mean paired difference, tighter than the unpaired spread when items correlate', () => {
    const base = scores(300, 0.5, 'paired').map((x, i) => 0.2 + 0.6 * x + (i % 5) * 0.01);
    const cand = base.map((x) => x + 0.03);
    const diff = pairedBootstrapDiff(cand, base, { seed: 'p' });
    expect(diff.value).toBeCloseTo(0.03, 10);
    expect(diff.n).toBe(300);
    expect(diff.dropped).toBe(0);
    // Every pair differs by exactly 0.03: the paired interval collapses on it.
    expect(diff.ci[0]).toBeCloseTo(0.03, 10);
    expect(diff.ci[1]).toBeCloseTo(0.03, 10);
  });

  it('gives the exact percentile interval of differences whose bootstrap distribution is enumerable', () => {
    // Differences [0, ¼, ½, 1], as in the exact case of bootstrapMean: [0.125, 0.8125].
    const est = pairedBootstrapDiff([1, 0.5, 0.75, 1], [1, 0.25, 0.25, 0], { seed: 'p', resamples: 200_000 });
    expect(est).toEqual({
      value: 0.4375,
      n: 4,
      ci: exactBootstrapQuantiles([0, 0.25, 0.5, 1], [0.025, 0.975]),
      dropped: 0,
    });
    expect(est.ci).toEqual([0.125, 0.8125]);
  });

  it('drops and counts pairs with a null on either side, never scoring them as 0', () => {
    const cand = [1, null, 0.5, 0.5, null];
    const base = [0.5, 0.5, null, 0.5, null];
    const diff = pairedBootstrapDiff(cand, base, { seed: 'n' });
    expect(diff.n).toBe(2);
    expect(diff.dropped).toBe(3);
    expect(diff.value).toBeCloseTo(0.25, 12);
  });

  it('gives the empty estimate when no pair is complete', () => {
    const diff = pairedBootstrapDiff([null, 1], [1, null], { seed: 'z' });
    expect(diff.n).toBe(0);
    expect(diff.dropped).toBe(2);
    expect(Number.isNaN(diff.value)).toBe(true);
  });

  it('rejects arrays of different lengths', () => {
    expect(() => pairedBootstrapDiff([1, 2], [1], { seed: 'l' })).toThrow(ValidationError);
  });
});

describe('cohensKappa', () => {
  it('matches the textbook 2×2 example: [[20, 5], [10, 15]] gives p_o 0.7, p_e 0.5, kappa 0.4', () => {
    const [a, b] = fromTable([
      [20, 5],
      [10, 15],
    ]);
    const k = cohensKappa(a, b);
    expect(k.n).toBe(50);
    expect(k.observed).toBeCloseTo(0.7, 12);
    expect(k.expected).toBeCloseTo(0.5, 12);
    expect(k.value).toBeCloseTo(0.4, 12);
    // Fleiss, Cohen & Everitt (1969): Var = 0.8064 / 50 = 0.016128 for this table.
    expect(k.se).toBeCloseTo(Math.sqrt(0.016128), 10);
    expect(k.ci[0]).toBeCloseTo(0.4 - 1.959964 * Math.sqrt(0.016128), 5);
    expect(k.ci[1]).toBeCloseTo(0.4 + 1.959964 * Math.sqrt(0.016128), 5);
  });

  it('matches the textbook pair of tables with equal agreement and different kappas', () => {
    const k1 = cohensKappa(
      ...fromTable([
        [45, 15],
        [25, 15],
      ]),
    );
    expect(k1.observed).toBeCloseTo(0.6, 12);
    expect(k1.expected).toBeCloseTo(0.54, 12);
    expect(k1.value).toBeCloseTo(0.1304, 4);
    const k2 = cohensKappa(
      ...fromTable([
        [25, 35],
        [5, 35],
      ]),
    );
    expect(k2.observed).toBeCloseTo(0.6, 12);
    expect(k2.expected).toBeCloseTo(0.46, 12);
    expect(k2.value).toBeCloseTo(0.2593, 4);
  });

  it('gives 1 with a point interval for perfect agreement', () => {
    const [a, b] = fromTable([
      [12, 0, 0],
      [0, 7, 0],
      [0, 0, 9],
    ]);
    const k = cohensKappa(a, b);
    expect(k.value).toBe(1);
    expect(k.observed).toBe(1);
    expect(k.se).toBeCloseTo(0, 12);
    expect(k.ci[0]).toBeCloseTo(1, 12);
    expect(k.ci[1]).toBe(1);
  });

  it('gives 0 when agreement is exactly what chance predicts, with an interval around 0', () => {
    const k = cohensKappa(
      ...fromTable([
        [10, 10],
        [10, 10],
      ]),
    );
    expect(k.observed).toBe(0.5);
    expect(k.expected).toBe(0.5);
    expect(k.value).toBe(0);
    expect(k.ci[0]).toBeLessThan(0);
    expect(k.ci[1]).toBeGreaterThan(0);
  });

  it('is negative for systematic disagreement, and handles three categories', () => {
    expect(cohensKappa(['a', 'b', 'a', 'b'], ['b', 'a', 'b', 'a']).value).toBe(-1);
    const k = cohensKappa(
      ...fromTable([
        [10, 2, 2],
        [2, 8, 2],
        [0, 4, 10],
      ]),
    );
    expect(k.n).toBe(40);
    // p_o = (10 + 8 + 10) / 40 = 0.7; margins a (14, 12, 14), b (12, 14, 14):
    // p_e = (14·12 + 12·14 + 14·14) / 1600 = 0.3325.
    expect(k.observed).toBeCloseTo(0.7, 12);
    expect(k.expected).toBeCloseTo(0.3325, 12);
    expect(k.value).toBeCloseTo((0.7 - 0.3325) / (1 - 0.3325), 12);
  });

  it('drops items a rater left unlabelled and is NaN when agreement is undefined', () => {
    const k = cohensKappa(['x', null, 'y', 'x'], ['x', 'y', 'y', null]);
    expect(k.n).toBe(2);
    expect(k.dropped).toBe(2);
    expect(k.value).toBe(1);
    const same = cohensKappa(['x', 'x', 'x'], ['x', 'x', 'x']);
    expect(same.observed).toBe(1);
    expect(same.expected).toBe(1);
    expect(Number.isNaN(same.value)).toBe(true);
    expect(cohensKappa([], []).n).toBe(0);
    expect(() => cohensKappa(['x'], [])).toThrow(ValidationError);
  });

  it('tells labels apart by value and type', () => {
    expect(cohensKappa([true, false, 1, 0], [true, false, 1, 0]).value).toBe(1);
    expect(cohensKappa([1, 0], ['1', '0']).observed).toBe(0);
  });
});

describe('precisionRecall', () => {
  it('counts the confusion matrix and derives precision, recall and F1', () => {
    const predicted = [true, true, true, false, false, true, false, false];
    const actual = [true, false, true, true, false, true, false, true];
    const pr = precisionRecall(predicted, actual);
    expect(pr).toMatchObject({ tp: 3, fp: 1, fn: 2, tn: 2, n: 8 });
    expect(pr.precision).toBeCloseTo(0.75, 12);
    expect(pr.recall).toBeCloseTo(0.6, 12);
    expect(pr.f1).toBeCloseTo((2 * 0.75 * 0.6) / (0.75 + 0.6), 12);
  });

  it('leaves a ratio with nothing to divide by undefined (NaN), not 0', () => {
    const none = precisionRecall([false, false], [true, false]);
    expect(Number.isNaN(none.precision)).toBe(true);
    expect(none.recall).toBe(0);
    expect(none.f1).toBe(0);
    const empty = precisionRecall([false], [false]);
    expect(Number.isNaN(empty.recall)).toBe(true);
    expect(Number.isNaN(empty.f1)).toBe(true);
    expect(() => precisionRecall([true], [])).toThrow(ValidationError);
  });
});

describe('repeatedVerdicts', () => {
  it('reports per item whether all k repeats passed and the share of such items as pass^k', () => {
    const r = repeatedVerdicts([
      [true, true, true],
      [true, false, true],
      [false, false, false],
      [true, true, true],
    ]);
    expect(r.k).toBe(3);
    expect(r.perItem.map((i) => i.allPassed)).toEqual([true, false, false, true]);
    expect(r.perItem.map((i) => i.anyPassed)).toEqual([true, true, false, true]);
    expect(r.passHatK).toBe(0.5);
    expect(r.passAtK).toBe(0.75);
    expect(r.perItem.map((i) => i.unstable)).toEqual([false, true, false, false]);
    expect(r.unstableShare).toBe(0.25);
  });

  it('uses the unbiased estimators when an item has more trials than k', () => {
    // 4 trials, 3 passes, k = 2: pass^2 = C(3,2)/C(4,2) = 0.5; pass@2 = 1 − C(1,2)/C(4,2) = 1.
    const r = repeatedVerdicts([[true, true, false, true]], { k: 2 });
    expect(r.perItem[0]?.passHatK).toBeCloseTo(0.5, 12);
    expect(r.perItem[0]?.passAtK).toBe(1);
    // 5 trials, 2 passes, k = 3: pass@3 = 1 − C(3,3)/C(5,3) = 0.9; pass^3 = 0.
    const s = repeatedVerdicts([[true, false, false, true, false]], { k: 3 });
    expect(s.perItem[0]?.passAtK).toBeCloseTo(0.9, 12);
    expect(s.perItem[0]?.passHatK).toBe(0);
  });

  it('rejects a k above the fewest trials and an item with no verdict', () => {
    expect(() => repeatedVerdicts([[true, true], [true]], { k: 2 })).toThrow(/k/);
    expect(() => repeatedVerdicts([[true], []])).toThrow(/repeats\.1/);
    expect(Number.isNaN(repeatedVerdicts([]).passHatK)).toBe(true);
  });
});

describe('repeatSpread and isUnstable', () => {
  it('gives the mean, sample standard deviation and range of repeated scores', () => {
    const s = repeatSpread([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(s.mean).toBe(5);
    expect(s.stdev).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect([s.min, s.max, s.range]).toEqual([2, 9, 7]);
    expect(repeatSpread([0.8]).stdev).toBe(0);
    expect(repeatSpread([]).n).toBe(0);
  });

  it('flags a judge that flips its verdict on the same input as unstable', () => {
    expect(isUnstable([true, false, true])).toBe(true);
    expect(isUnstable([true, true, true])).toBe(false);
    expect(isUnstable([false, false])).toBe(false);
    expect(isUnstable([true])).toBe(false);
  });

  it('flags numeric repeats whose range exceeds the tolerance', () => {
    expect(isUnstable([0.8, 0.8, 0.8])).toBe(false);
    expect(isUnstable([0.8, 0.7])).toBe(true);
    expect(isUnstable([0.8, 0.7], { tolerance: 0.1 })).toBe(false);
    expect(isUnstable([0.8, 0.6], { tolerance: 0.1 })).toBe(true);
    expect(isUnstable([0.1 + 0.2, 0.3])).toBe(false);
    expect(() => isUnstable([1, 2], { tolerance: -1 })).toThrow(ValidationError);
  });
});

describe('summarize', () => {
  const perItem = [
    { value: 1, tags: ['math'] },
    { value: 0, tags: ['math', 'hard'] },
    { value: null, tags: ['hard'] },
    { value: 0.5, tags: ['chat'] },
    { value: null, tags: ['broken'] },
  ];

  it('summarizes overall and by tag, counting failed items without scoring them as 0', () => {
    const s = summarize('f1', perItem, { seed: 'sum' });
    expect(s.name).toBe('f1');
    expect(s.n).toBe(3);
    expect(s.failed).toBe(2);
    expect(s.value).toBeCloseTo(0.5, 12);
    expect(Object.keys(s.byTag)).toEqual(['broken', 'chat', 'hard', 'math']);
    expect(s.byTag.math).toMatchObject({ value: 0.5, n: 2 });
    expect(s.byTag.hard).toEqual({ value: 0, n: 1, ci: [0, 0] });
    expect(s.byTag.chat).toEqual({ value: 0.5, n: 1, ci: [0.5, 0.5] });
    expect(s.byTag.broken?.n).toBe(0);
    expect(s.judge).toBeUndefined();
  });

  it('is deterministic for a seed and carries the judge it is given', () => {
    const judge = { model: 'judge-model', rubric: 'faithfulness@3', calibrated: true };
    const a = summarize('faithfulness', perItem, { seed: 'x', judge });
    expect(summarize('faithfulness', perItem, { seed: 'x', judge })).toEqual(a);
    expect(a.judge).toEqual(judge);
  });

  it('counts an item with a repeated tag once in that tag', () => {
    const s = summarize('m', [{ value: 1, tags: ['a', 'a'] }], { seed: 'd' });
    expect(s.byTag.a?.n).toBe(1);
  });

  it('rejects a value that is neither a finite number nor null', () => {
    expect(() => summarize('m', [{ value: Number.NaN, tags: [] }], { seed: 'd' })).toThrow(
      /perItem\.0\.value/,
    );
  });
});
