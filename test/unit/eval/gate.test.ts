import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import { calibratedToGate, decideGate, type GateMetricInput } from '#core/eval/gate.ts';
import { cohensKappa, createRng } from '#core/eval/stats.ts';

/** Per-item scores in [0, 1] around `level`, with item-to-item spread shared by both runs of a pair. */
function run(n: number, level: number, seed: string, noise = 0.15): number[] {
  const items = createRng('items');
  const own = createRng(seed);
  return Array.from({ length: n }, () => {
    const difficulty = (items.next() - 0.5) * 0.4;
    const x = level + difficulty + (own.next() - 0.5) * noise;
    return Math.min(1, Math.max(0, x));
  });
}

const f1 = (
  candidate: (number | null)[],
  baseline: (number | null)[],
  extra: Partial<GateMetricInput> = {},
) => ({
  name: 'f1',
  higherIsBetter: true,
  candidate,
  baseline,
  ...extra,
});

describe('decideGate', () => {
  it('blocks a clearly worse candidate', () => {
    const baseline = run(200, 0.8, 'base');
    const candidate = run(200, 0.7, 'cand');
    const result = decideGate({ metrics: [f1(candidate, baseline)], seed: 'g' });
    expect(result.pass).toBe(false);
    const [m] = result.metrics;
    expect(m?.verdict).toBe('fail');
    expect(m?.diff.value).toBeLessThan(-0.05);
    expect(m?.diff.value).toBeCloseTo((m?.candidate.value ?? 0) - (m?.baseline.value ?? 0), 10);
    expect(m?.reason).toMatch(/f1 got worse by more than the margin/);
  });

  it('lets a better or equal candidate through', () => {
    const baseline = run(200, 0.7, 'base');
    const better = decideGate({ metrics: [f1(run(200, 0.8, 'cand'), baseline)], seed: 'g' });
    expect(better.pass).toBe(true);
    expect(better.metrics[0]?.verdict).toBe('pass');
    const equal = decideGate({ metrics: [f1(baseline, baseline)], seed: 'g' });
    expect(equal.pass).toBe(true);
    expect(equal.metrics[0]?.diff).toEqual({ value: 0, n: 200, ci: [0, 0] });
    expect(equal.metrics[0]?.margin).toBe(0.02);
  });

  it('tolerates a drop within max(minMargin, CI half-width) and fails one just beyond', () => {
    // Every pair differs by the same amount: the interval has no width, the margin is minMargin.
    const baseline = run(100, 0.7, 'base');
    const within = decideGate({
      metrics: [
        f1(
          baseline.map((x) => x - 0.015),
          baseline,
        ),
      ],
      seed: 'g',
    });
    expect(within.metrics[0]?.verdict).toBe('pass');
    const beyond = decideGate({
      metrics: [
        f1(
          baseline.map((x) => x - 0.025),
          baseline,
        ),
      ],
      seed: 'g',
    });
    expect(beyond.metrics[0]?.verdict).toBe('fail');
    const looser = decideGate({
      metrics: [
        f1(
          baseline.map((x) => x - 0.025),
          baseline,
          { minMargin: 0.03 },
        ),
      ],
      seed: 'g',
    });
    expect(looser.metrics[0]?.verdict).toBe('pass');
  });

  it('widens the margin to the half-width of the paired interval when the run is noisy', () => {
    const baseline = run(30, 0.6, 'base', 0.6);
    const candidate = run(30, 0.58, 'cand', 0.6);
    const [m] = decideGate({ metrics: [f1(candidate, baseline)], seed: 'g' }).metrics;
    const halfWidth = ((m?.diff.ci[1] ?? 0) - (m?.diff.ci[0] ?? 0)) / 2;
    expect(halfWidth).toBeGreaterThan(0.02);
    expect(m?.margin).toBeCloseTo(halfWidth, 12);
  });

  it('reads lower-is-better metrics the other way round', () => {
    const baseline = run(100, 0.3, 'base');
    const worse = baseline.map((x) => x + 0.1);
    const better = baseline.map((x) => x - 0.1);
    const metric = (candidate: number[]) => ({
      name: 'hallucination_rate',
      higherIsBetter: false,
      candidate,
      baseline,
    });
    expect(decideGate({ metrics: [metric(worse)], seed: 'g' }).metrics[0]?.verdict).toBe('fail');
    expect(decideGate({ metrics: [metric(better)], seed: 'g' }).metrics[0]?.verdict).toBe('pass');
  });

  it('reports an uncalibrated judge metric and ignores it in the decision', () => {
    const baseline = run(100, 0.8, 'base');
    const result = decideGate({
      metrics: [
        f1(baseline, baseline),
        {
          name: 'helpfulness',
          higherIsBetter: true,
          candidate: baseline.map((x) => x - 0.5),
          baseline,
          calibrated: false,
        },
      ],
      seed: 'g',
    });
    expect(result.pass).toBe(true);
    expect(result.gated).toBe(1);
    const judge = result.metrics[1];
    expect(judge?.verdict).toBe('uncalibrated');
    expect(judge?.diff.value).toBeLessThan(-0.4);
    expect(judge?.reason).toMatch(/not calibrated/);
  });

  it('gates a calibrated judge metric like any other', () => {
    const baseline = run(100, 0.8, 'base');
    const result = decideGate({
      metrics: [
        {
          name: 'helpfulness',
          higherIsBetter: true,
          candidate: baseline.map((x) => x - 0.2),
          baseline,
          calibrated: true,
        },
      ],
      seed: 'g',
    });
    expect(result.pass).toBe(false);
    expect(result.metrics[0]?.verdict).toBe('fail');
  });

  it('leaves failed items out instead of scoring them as 0', () => {
    const baseline: (number | null)[] = Array.from({ length: 50 }, () => 0.8);
    const candidate: (number | null)[] = Array.from({ length: 50 }, () => 0.8);
    // The same item failed on both sides: were nulls zeros, nothing would change; a one-sided null
    // counted as 0 would make the candidate lose 0.8 on that item.
    baseline[3] = null;
    candidate[3] = null;
    candidate[7] = null;
    const result = decideGate({ metrics: [f1(candidate, baseline)], seed: 'g' });
    const [m] = result.metrics;
    expect(m?.verdict).toBe('pass');
    expect(m?.diff).toEqual({ value: 0, n: 48, ci: [0, 0] });
    expect(m?.candidate.value).toBe(0.8);
    expect(m?.failed).toEqual({ candidate: 2, baseline: 1, pairsDropped: 2 });
  });

  it('fails a candidate that fails on a clearly larger share of items than the baseline', () => {
    const baseline = run(100, 0.8, 'base');
    const candidate: (number | null)[] = baseline.map((x, i) => (i % 10 === 0 ? null : x));
    const result = decideGate({ metrics: [f1(candidate, baseline)], seed: 'g' });
    expect(result.metrics[0]?.verdict).toBe('fail');
    expect(result.metrics[0]?.reason).toMatch(/failed on 10 of 100 items against 0/);
    const lenient = decideGate({
      metrics: [f1(candidate, baseline)],
      seed: 'g',
      maxExtraFailedShare: Number.POSITIVE_INFINITY,
    });
    expect(lenient.metrics[0]?.verdict).toBe('pass');
  });

  it('calls a metric with too few paired items insufficient: it decides nothing, and nothing decided does not pass', () => {
    const result = decideGate({
      metrics: [f1([0.9, 0.9, null, 0.9], [0.5, 0.5, 0.5, null])],
      seed: 'g',
    });
    expect(result.pass).toBe(false);
    expect(result.gated).toBe(0);
    expect(result.metrics[0]?.verdict).toBe('insufficient');
    // Beside a decided metric, a small slice neither blocks nor passes the gate.
    const many = Array.from({ length: 20 }, () => 0.8);
    const mixed = decideGate({
      metrics: [f1(many, many), { ...f1([0.1, 0.1], [0.9, 0.9]), name: 'abstention' }],
      seed: 'g',
    });
    expect(mixed.metrics.map((m) => m.verdict)).toEqual(['pass', 'insufficient']);
    expect(mixed.pass).toBe(true);
    expect(result.metrics[0]?.reason).toMatch(/2 items scored on both sides, fewer than the 10/);
    const small = decideGate({ metrics: [f1([0.9, 0.9], [0.5, 0.5])], seed: 'g', minPairs: 2 });
    expect(small.metrics[0]?.verdict).toBe('pass');
    const none = decideGate({ metrics: [f1([null], [null])], seed: 'g' });
    expect(none.metrics[0]?.verdict).toBe('insufficient');
    expect(none.metrics[0]?.diff.n).toBe(0);
  });

  it('is deterministic for a seed, and a metric keeps its result when another metric is added', () => {
    const baseline = run(80, 0.7, 'base');
    const candidate = run(80, 0.69, 'cand');
    const one = decideGate({ metrics: [f1(candidate, baseline)], seed: 'same' });
    expect(decideGate({ metrics: [f1(candidate, baseline)], seed: 'same' })).toEqual(one);
    const two = decideGate({
      metrics: [{ name: 'recall', higherIsBetter: true, candidate, baseline }, f1(candidate, baseline)],
      seed: 'same',
    });
    expect(two.metrics[1]).toEqual(one.metrics[0]);
  });

  it('rejects misaligned runs, duplicate names and bad options', () => {
    expect(() => decideGate({ metrics: [f1([1, 2], [1])], seed: 'g' })).toThrow(ValidationError);
    expect(() => decideGate({ metrics: [f1([1], [1]), f1([1], [1])], seed: 'g' })).toThrow(/appears twice/);
    expect(() => decideGate({ metrics: [f1([1], [1], { minMargin: -0.1 })], seed: 'g' })).toThrow(
      /minMargin/,
    );
    expect(() => decideGate({ metrics: [], seed: 'g', minPairs: 0 })).toThrow(/minPairs/);
  });
});

describe('calibratedToGate', () => {
  /** Human and judge labels over n items, agreeing on all but `disagree` of them. */
  const labels = (n: number, disagree: number) => {
    const human = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 'pass' : 'fail'));
    const judge = human.map((h, i) => (i < disagree ? (h === 'pass' ? 'fail' : 'pass') : h));
    return cohensKappa(human, judge);
  };

  it('accepts a judge with kappa ≥ 0.6 on at least 50 human labels', () => {
    const k = labels(60, 6); // p_o = 0.9, p_e = 0.5: kappa 0.8
    expect(k.value).toBeCloseTo(0.8, 12);
    expect(calibratedToGate(k)).toBe(true);
    expect(calibratedToGate({ value: 0.6, n: 50, ci: [0.4, 0.8] })).toBe(true);
  });

  it('refuses a judge with too few labels or too little agreement', () => {
    expect(calibratedToGate(labels(40, 0))).toBe(false);
    expect(calibratedToGate(labels(60, 0), 49)).toBe(false);
    const weak = labels(100, 25); // p_o = 0.75: kappa 0.5
    expect(weak.value).toBeCloseTo(0.5, 12);
    expect(calibratedToGate(weak)).toBe(false);
    expect(calibratedToGate({ value: Number.NaN, n: 100, ci: [Number.NaN, Number.NaN] })).toBe(false);
  });
});
