import { describe, expect, it } from 'vitest';
import {
  CANDIDATE_ALPHAS,
  driftAlarmPolicy,
  driftScore,
  EMBEDDING_TESTS,
  falseRunProbability,
  MAX_ALARM_SPAN_MINUTES,
  MAX_DRIFT_SCORE,
  MINUTES_PER_MONTH,
  SHARED_BASELINE_FACTOR,
  sharedBaselineRunBound,
} from '#core/drift/alarm-policy.ts';
import { ValidationError } from '#core/errors.ts';

/** The error `f` throws; fails the test when it returns. */
function syncError(f: () => unknown): unknown {
  try {
    f();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

/** The policy's bound on a run of m firing windows: F^(m − 1) · alpha^m. */
const runBound = (alpha: number, m: number) => SHARED_BASELINE_FACTOR ** (m - 1) * alpha ** m;

describe('SHARED_BASELINE_FACTOR', () => {
  it('is the worst run ratio the drift benchmark measured for windows sharing one baseline, rounded up', () => {
    // `npm run bench:drift` ("sequence n 100 × 1": windows of 100, a baseline of one window, 10 windows a
    // baseline): the chance that 2 windows in a row fire over alpha², embedding, descriptors and quality.
    const measured = {
      // 1,000 baselines, the profiles' policies: dev alpha 0.02 (200 permutations), prod 0.01 (1,000).
      dev: [2.17, 1.39, 0.06],
      prod: [4.0, 0.89, 0],
      // 250 baselines, the policies before the factor: dev 0.05, prod 0.02 (both 200 permutations).
      devBefore: [1.17, 0.89, 0],
      prodBefore: [2.44, 2.0, 0],
    };
    const worst = Math.max(...Object.values(measured).flat());
    expect(worst).toBe(4);
    expect(SHARED_BASELINE_FACTOR).toBeGreaterThanOrEqual(worst);
    expect(SHARED_BASELINE_FACTOR).toBe(Math.ceil(worst));
  });

  it('bounds a run of M windows by F^(M − 1) · alpha^M: alpha^M times F for M = 2, no factor for M = 1', () => {
    expect(sharedBaselineRunBound(0.05, 1)).toBe(0.05);
    expect(sharedBaselineRunBound(0.02, 2)).toBeCloseTo(SHARED_BASELINE_FACTOR * 0.02 ** 2, 15);
    expect(sharedBaselineRunBound(0.05, 3)).toBeCloseTo(SHARED_BASELINE_FACTOR ** 2 * 0.05 ** 3, 15);
    // Longer runs are rarer at every candidate level (F · alpha < 1), so a longer M always lowers the bound.
    for (const alpha of CANDIDATE_ALPHAS) {
      expect(SHARED_BASELINE_FACTOR * alpha).toBeLessThan(1);
      for (let m = 1; m < 6; m++) {
        expect(sharedBaselineRunBound(alpha, m + 1)).toBeLessThan(sharedBaselineRunBound(alpha, m));
      }
    }
  });
});

describe('driftAlarmPolicy', () => {
  it('pages on 2 of 2 six-hour windows at alpha 0.02 for the dev profile (one check, three signals, 200 permutations)', () => {
    const policy = driftAlarmPolicy({
      cadenceMinutes: 360,
      falsePagesPerMonth: 1,
      signals: 3,
      permutations: 200,
    });
    // By hand: 30 days of 6-hour windows is 120 windows; each of 3 signals may have 1/3 false page.
    const windows = (30 * 24 * 60) / 360;
    expect(windows).toBe(120);
    // The three embedding tests at alpha / 3 need 1 / (200 + 1) ≤ alpha / 3: alpha ≥ 0.0149 (0.05 and 0.02).
    expect(3 / 201).toBeGreaterThan(0.01);
    expect(3 / 201).toBeLessThan(0.02);
    // M = 1 fails at both (120 · 0.02 = 2.4 > 1/3). M = 2 with the shared baseline's factor F: at 0.05,
    // 120 · F · 0.0025 > 1/3 (it met the target only for independent windows, F = 1: 0.3); at 0.02,
    // 120 · F · 0.0004 ≤ 1/3.
    expect(120 * 0.02).toBeGreaterThan(1 / 3);
    expect(120 * 0.05 ** 2).toBeLessThanOrEqual(1 / 3);
    expect(120 * SHARED_BASELINE_FACTOR * 0.05 ** 2).toBeGreaterThan(1 / 3);
    expect(120 * SHARED_BASELINE_FACTOR * 0.02 ** 2).toBeLessThanOrEqual(1 / 3);
    expect(policy).toEqual({
      alpha: 0.02,
      datapointsToAlarm: 2,
      evaluationPeriods: 2,
      windowsPerMonth: 120,
      falseRunBound: expect.closeTo(SHARED_BASELINE_FACTOR * 0.0004, 15),
      falsePagesPerMonthBound: expect.closeTo(120 * SHARED_BASELINE_FACTOR * 0.0004 * 3, 12),
      minReachableAlpha: 3 / 201,
    });
    expect(policy.falsePagesPerMonthBound).toBeCloseTo(0.576, 12);
  });

  it('pages on 2 of 2 hourly windows at alpha 0.01 for the prod profile (one check, three signals, 1,000 permutations)', () => {
    const policy = driftAlarmPolicy({
      cadenceMinutes: 60,
      falsePagesPerMonth: 1,
      signals: 3,
      permutations: 1000,
    });
    // 720 windows, 1/3 false page per signal. 1,000 permutations reach 3/1001 ≈ 0.003: 0.005 and above.
    // M = 1 fails at 0.005 (720 · 0.005 = 3.6); M = 2 fails at 0.02 (720 · F · 0.0004 > 1/3) and meets it
    // at 0.01 (720 · F · 0.0001 ≤ 1/3).
    expect(720 * 0.005).toBeGreaterThan(1 / 3);
    expect(720 * SHARED_BASELINE_FACTOR * 0.02 ** 2).toBeGreaterThan(1 / 3);
    expect(720 * SHARED_BASELINE_FACTOR * 0.01 ** 2).toBeLessThanOrEqual(1 / 3);
    expect(policy).toEqual({
      alpha: 0.01,
      datapointsToAlarm: 2,
      evaluationPeriods: 2,
      windowsPerMonth: 720,
      falseRunBound: expect.closeTo(SHARED_BASELINE_FACTOR * 0.0001, 15),
      falsePagesPerMonthBound: expect.closeTo(720 * SHARED_BASELINE_FACTOR * 0.0001 * 3, 12),
      minReachableAlpha: 3 / 1001,
    });
    expect(policy.falsePagesPerMonthBound).toBeCloseTo(0.864, 12);
  });

  it('needs 3 of 3 hourly windows with 200 permutations (alpha 0.01 out of reach): why prod runs 1,000', () => {
    const policy = driftAlarmPolicy({
      cadenceMinutes: 60,
      falsePagesPerMonth: 1,
      signals: 3,
      permutations: 200,
    });
    // 0.02 at M = 2 bounds 720 · F · 0.0004 · 3 > 1: the next M, at the largest alpha that meets it.
    expect(policy.datapointsToAlarm).toBe(3);
    expect(policy.falsePagesPerMonthBound).toBeLessThanOrEqual(1);
    expect(720 * runBound(policy.alpha, 3) * 3).toBeCloseTo(policy.falsePagesPerMonthBound, 12);
  });

  it('keeps the bound within the target, with the shortest M and then the largest alpha, over a grid', () => {
    let met = 0;
    for (const cadenceMinutes of [5, 15, 30, 60, 120, 180, 360, 720, 1440, 2880]) {
      for (const falsePagesPerMonth of [0.1, 0.5, 1, 2, 5]) {
        for (const signals of [1, 2, 4, 10]) {
          for (const permutations of [100, 200, 500, 999, 5000]) {
            const input = { cadenceMinutes, falsePagesPerMonth, signals, permutations };
            let policy: ReturnType<typeof driftAlarmPolicy>;
            try {
              policy = driftAlarmPolicy(input);
            } catch (error) {
              // Only a target no M within a day can meet may be refused: check that none does.
              expect(error, JSON.stringify(input)).toBeInstanceOf(ValidationError);
              const windows = MINUTES_PER_MONTH / cadenceMinutes;
              const maxM = Math.max(1, Math.floor(MAX_ALARM_SPAN_MINUTES / cadenceMinutes));
              const smallest = Math.min(...CANDIDATE_ALPHAS.filter((a) => a >= 3 / (permutations + 1)));
              expect(windows * runBound(smallest, maxM), JSON.stringify(input)).toBeGreaterThan(
                falsePagesPerMonth / signals,
              );
              continue;
            }
            met++;
            const at = JSON.stringify(input);
            const windows = MINUTES_PER_MONTH / cadenceMinutes;
            const { alpha, datapointsToAlarm: m } = policy;
            expect(policy.evaluationPeriods, at).toBe(m);
            expect(policy.windowsPerMonth, at).toBe(windows);
            expect(policy.falseRunBound, at).toBeCloseTo(runBound(alpha, m), 15);
            expect(policy.falsePagesPerMonthBound, at).toBeCloseTo(windows * runBound(alpha, m) * signals, 9);
            expect(policy.falsePagesPerMonthBound, at).toBeLessThanOrEqual(falsePagesPerMonth * (1 + 1e-12));
            expect(alpha, at).toBeGreaterThanOrEqual(policy.minReachableAlpha);
            expect(CANDIDATE_ALPHAS as readonly number[], at).toContain(alpha);
            // The alarm stays within a day of windows.
            expect(m * cadenceMinutes <= MAX_ALARM_SPAN_MINUTES || m === 1, at).toBe(true);
            const reachable = CANDIDATE_ALPHAS.filter((a) => a >= policy.minReachableAlpha);
            // No shorter M meets the target at any reachable alpha...
            for (let shorter = 1; shorter < m; shorter++) {
              for (const a of reachable) {
                expect(
                  windows * runBound(a, shorter) * signals,
                  `${at} M=${shorter} alpha=${a}`,
                ).toBeGreaterThan(falsePagesPerMonth);
              }
            }
            // ...and no larger reachable alpha meets it at this M.
            for (const a of reachable.filter((a) => a > alpha)) {
              expect(windows * runBound(a, m) * signals, `${at} alpha=${a}`).toBeGreaterThan(
                falsePagesPerMonth,
              );
            }
          }
        }
      }
    }
    expect(met).toBeGreaterThan(500);
  });

  it('never chooses an alpha the permutation tests cannot reach', () => {
    // 100 permutations: the smallest p-value is 1/101, so each test at alpha / 3 needs alpha ≥ 3/101.
    const hundred = driftAlarmPolicy({
      cadenceMinutes: 60,
      falsePagesPerMonth: 1,
      signals: 2,
      permutations: 100,
    });
    expect(hundred.minReachableAlpha).toBe(EMBEDDING_TESTS / 101);
    expect(hundred.alpha).toBe(0.05);
    expect(hundred.alpha).toBeGreaterThanOrEqual(3 / 101);
    // 0.05 bounds 720 · F^(M − 1) · 0.05^M · 2 above 1 at M = 2 (4.5 · F) and M = 3 (0.18 · F²): the prod
    // cadence needs M = 4 with 100 permutations (0.009 · F³).
    expect(720 * runBound(0.05, 3) * 2).toBeGreaterThan(1);
    expect(720 * runBound(0.05, 4) * 2).toBeLessThanOrEqual(1);
    expect(hundred.datapointsToAlarm).toBe(4);

    // 50 permutations: alpha ≥ 3/51 ≈ 0.0588, above every candidate level: no policy, and the error says so.
    expect(3 / 51).toBeGreaterThan(Math.max(...CANDIDATE_ALPHAS));
    const error = syncError(() =>
      driftAlarmPolicy({ cadenceMinutes: 360, falsePagesPerMonth: 1, signals: 2, permutations: 50 }),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/permutations/);

    // 1,000 permutations reach 0.005 (3/1001 ≈ 0.003); 200 do not (3/201 ≈ 0.0149).
    const tight = { cadenceMinutes: 5, falsePagesPerMonth: 1, signals: 2 };
    const many = driftAlarmPolicy({ ...tight, permutations: 1000 });
    expect(many.alpha).toBeGreaterThanOrEqual(many.minReachableAlpha);
    const few = driftAlarmPolicy({ ...tight, permutations: 200 });
    expect(few.alpha).toBeGreaterThanOrEqual(3 / 201);
    expect(few.datapointsToAlarm).toBeGreaterThanOrEqual(many.datapointsToAlarm);
  });

  it('refuses a target no alarm within a day can meet, naming falsePagesPerMonth', () => {
    const error = syncError(() =>
      driftAlarmPolicy({ cadenceMinutes: 720, falsePagesPerMonth: 1e-9, signals: 2, permutations: 200 }),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('falsePagesPerMonth');
    expect((error as Error).message).toMatch(/^falsePagesPerMonth: cannot be met/);
  });

  it('refuses inputs that are not positive, naming each', () => {
    const good = { cadenceMinutes: 60, falsePagesPerMonth: 1, signals: 2, permutations: 200 };
    for (const [field, value] of [
      ['cadenceMinutes', 0],
      ['cadenceMinutes', Number.NaN],
      ['falsePagesPerMonth', -1],
      ['falsePagesPerMonth', Number.POSITIVE_INFINITY],
      ['signals', 0],
      ['signals', 1.5],
      ['permutations', 0],
    ] as const) {
      expect(() => driftAlarmPolicy({ ...good, [field]: value }), `${field}=${value}`).toThrow(
        expect.objectContaining({ name: 'ValidationError', field }),
      );
    }
  });
});

describe('driftScore', () => {
  it('is 1 at the threshold and 2 at its square', () => {
    for (const threshold of [0.05, 0.02, 0.05 / 3, 0.001]) {
      expect(driftScore(threshold, threshold)).toBeCloseTo(1, 12);
      expect(driftScore(threshold ** 2, threshold)).toBeCloseTo(2, 12);
      // Above the threshold (a larger p-value) scores below 1.
      expect(driftScore(Math.sqrt(threshold), threshold)).toBeCloseTo(0.5, 12);
    }
  });

  it('caps a p-value of 0 (or one far below the threshold) at the maximum', () => {
    expect(MAX_DRIFT_SCORE).toBe(10);
    expect(driftScore(0, 0.05)).toBe(10);
    expect(driftScore(1e-300, 0.05)).toBe(10);
  });

  it('scores a p-value of 1 (or more) 0, and leaves no data as null', () => {
    expect(driftScore(1, 0.05)).toBe(0);
    expect(driftScore(null, 0.05)).toBeNull();
    expect(driftScore(Number.NaN, 0.05)).toBeNull();
  });

  it('refuses a threshold outside (0, 1)', () => {
    for (const threshold of [0, 1, -0.1, 1.5, Number.NaN]) {
      expect(() => driftScore(0.01, threshold), String(threshold)).toThrow(
        expect.objectContaining({ name: 'ValidationError', field: 'threshold' }),
      );
    }
  });
});

describe('falseRunProbability', () => {
  it('matches the equicorrelated normal model integrated by SciPy', () => {
    // scipy.integrate.quad(lambda b: norm.sf((c - sqrt(rho) b) / sqrt(1 - rho))**m * norm.pdf(b), -12, 12),
    // c = norm.isf(alpha), rho = 1 / (1 + baselineWindows).
    for (const [alpha, m, windows, expected] of [
      [0.05, 2, 1, 0.012189428767174909],
      [0.02, 2, 1, 0.003387287638239139],
      [0.05, 2, 4, 0.0052454497158263],
      [0.05, 3, 1, 0.0049584841479990704],
      [0.02, 2, 0.1, 0.011966277567180147],
    ] as const) {
      expect(falseRunProbability(alpha, m, windows) / expected, `${alpha} ${m} ${windows}`).toBeCloseTo(1, 6);
    }
  });

  it('is alpha^M for independent windows (an infinite baseline) and tends to alpha for a tiny one', () => {
    expect(falseRunProbability(0.05, 2, Number.POSITIVE_INFINITY)).toBe(0.05 ** 2);
    expect(falseRunProbability(0.05, 1, 1)).toBe(0.05);
    expect(falseRunProbability(0.05, 2, 1e9) / 0.05 ** 2).toBeCloseTo(1, 6);
    expect(falseRunProbability(0.05, 2, 1e-6) / 0.05).toBeCloseTo(1, 2);
    // A shared baseline makes runs likelier, the more so the smaller it is: at least alpha^M, at most alpha.
    let previous = 0.05;
    for (const windows of [0.5, 1, 2, 4, 8, 32]) {
      const p = falseRunProbability(0.05, 2, windows);
      expect(p).toBeLessThan(previous);
      expect(p).toBeGreaterThan(0.05 ** 2);
      previous = p;
    }
  });

  it('refuses inputs outside their ranges, naming each', () => {
    for (const [field, alpha, m, windows] of [
      ['alpha', 0, 2, 1],
      ['alpha', 1, 2, 1],
      ['m', 0.05, 0, 1],
      ['m', 0.05, 1.5, 1],
      ['baselineWindows', 0.05, 2, 0],
      ['baselineWindows', 0.05, 2, Number.NaN],
    ] as const) {
      expect(() => falseRunProbability(alpha, m, windows), `${field} ${alpha} ${m} ${windows}`).toThrow(
        expect.objectContaining({ name: 'ValidationError', field }),
      );
    }
  });
});
