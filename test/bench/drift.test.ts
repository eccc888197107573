import { describe, expect, it } from 'vitest';
import { DRIFT_SIGNALS } from '#contracts/drift/baseline.ts';
import { driftAlarmPolicy, SHARED_BASELINE_FACTOR } from '#core/drift/alarm-policy.ts';
import { minWindowSize } from '#core/drift/embedding.ts';
import { PROFILE_CONFIGS, PROFILES } from '#infra/config/index.ts';
import { expectSuccess, runSmoke } from './support.ts';

/**
 * bench/drift.ts in smoke mode, the parts test/bench/smoke.test.ts does not read: the chi-squared test
 * and the signals that page at each profile's alpha (as infra/config sets it), and the M of N false
 * pages over windows that share one baseline, against the policy's bound with its shared-baseline
 * factor. Numbers are checked to parse and to be consistent (rates in [0, 1], a rate inside its
 * interval, an insufficient row where the window is under the profile's minimum); speed is never
 * asserted.
 */
const SHARE = String.raw`(\d\.\d{3})`;
const CELL = String.raw`${SHARE} \[${SHARE}, ${SHARE}\]`;
const ROWS = ['chi2:language', 'signal:embedding', 'signal:descriptors'];
const ROW = '(chi2:language|signal:embedding|signal:descriptors)';
const PROFILE = '(dev|prod)';

/** Every profile's policy and minimum window, as the stack synthesizes them. */
const levels = PROFILES.map((name) => {
  const drift = PROFILE_CONFIGS[name].drift;
  const policy = driftAlarmPolicy({
    cadenceMinutes: drift.cadenceMinutes,
    falsePagesPerMonth: drift.falsePagesPerMonth,
    signals: drift.checks.length * DRIFT_SIGNALS.length,
    permutations: drift.permutations,
  });
  return {
    name,
    policy,
    minWindow: minWindowSize({ effect: drift.effect, alpha: policy.alpha, power: drift.power }),
  };
});

const matches = (out: string, pattern: RegExp) =>
  out.split('\n').flatMap((line) => {
    const match = pattern.exec(line);
    return match === null ? [] : [match];
  });

/** A rate with its 95% interval: shares, the interval around the rate. */
function expectInterval(rate: string, lo: string, hi: string): void {
  expect(Number(lo)).toBeLessThanOrEqual(Number(rate));
  expect(Number(rate)).toBeLessThanOrEqual(Number(hi));
  expect(Number(hi)).toBeLessThanOrEqual(1);
}

describe('benchmark smoke run', () => {
  it('bench/drift.ts: the signals that page at each profile’s alpha, and M of N false pages over one baseline', async () => {
    const out = expectSuccess(await runSmoke('drift.ts'));

    // The profiles' levels, read from the configuration as the stack reads them.
    for (const { name, policy, minWindow } of levels) {
      expect(out).toContain(
        `${name} alpha ${policy.alpha}, ${policy.datapointsToAlarm} of ${policy.evaluationPeriods} windows, ${policy.windowsPerMonth} windows a month, minimum window ${minWindow}`,
      );
    }

    // False alarms at each profile's alpha: a verdict against that alpha, or insufficient (n 50).
    const tested = matches(
      out,
      new RegExp(
        String.raw`^\s+${ROW}\s+${PROFILE}\s+(\d\.\d+)\s+${SHARE}\s+(\d+)/(\d+)\s+\[${SHARE}, ${SHARE}\]\s+(ok|ok \(noise\)|OVER)$`,
      ),
    );
    const short = matches(
      out,
      new RegExp(
        String.raw`^\s+${ROW}\s+${PROFILE}\s+(\d\.\d+)\s+insufficient \(n 50 is under the profile's minimum window, (\d+)\)$`,
      ),
    );
    const rows = [...tested, ...short].map((m) => `${m[1]} ${m[2]}`).sort();
    expect(rows).toEqual(levels.flatMap((l) => ROWS.map((row) => `${row} ${l.name}`)).sort());
    for (const [, , profile, alpha, rate = '', hits, total, lo = '', hi = '', verdict] of tested) {
      const level = levels.find((l) => l.name === profile);
      expect(Number(alpha)).toBe(level?.policy.alpha);
      expect(50).toBeGreaterThanOrEqual(level?.minWindow ?? Number.NaN);
      expect(Number(total)).toBe(10);
      expect(Number(rate)).toBeCloseTo(Number(hits) / Number(total), 3);
      expectInterval(rate, lo, hi);
      expect(verdict === 'ok').toBe(Number(rate) <= Number(alpha));
    }
    for (const [, , profile, , minimum] of short) {
      expect(Number(minimum)).toBe(levels.find((l) => l.name === profile)?.minWindow);
      expect(Number(minimum)).toBeGreaterThan(50);
    }

    // Detection at each profile's alpha: one cell per shift (one in smoke mode), or insufficient.
    const detections = matches(
      out,
      new RegExp(String.raw`^\s+${ROW}\s+${PROFILE}\s+(?:${CELL}|insufficient)$`),
    );
    expect(detections).toHaveLength(levels.length * ROWS.length);
    for (const [, , , rate, lo, hi] of detections) if (rate) expectInterval(rate, lo ?? '', hi ?? '');

    // M of N over one baseline: each profile's signals, then the page of the check (any signal).
    expect(out).toMatch(
      /^sequence n 100 × 1: windows of 100, a baseline of 100 \(1 window\), 3 baselines × 3 windows, /m,
    );
    const signals = matches(
      out,
      new RegExp(
        String.raw`^\s+${PROFILE}\s+(embedding|descriptors|quality)\s+(\d\.\d+) (\d) of (\d)\s+${SHARE}\s+(\d\.\d{5}) \[(\d\.\d{5}), (\d\.\d{5})\]\s+(\d+\.\d{2})x\s+(\d+\.\d{2})x\s+(\d+\.\d{2})x\s+(\d+\.\d{2}) \[(\d+\.\d{2}), (\d+\.\d{2})\]\s+(\d+\.\d{2})$`,
      ),
    );
    expect(signals.map((m) => `${m[1]} ${m[2]}`)).toEqual(
      levels.flatMap((l) => DRIFT_SIGNALS.map((signal) => `${l.name} ${signal}`)),
    );
    for (const [
      ,
      profile,
      ,
      alpha,
      m,
      n,
      ,
      run = '',
      runLo = '',
      runHi = '',
      ,
      factor,
      model,
      pages = '',
      lo = '',
      hi = '',
      bound,
    ] of signals) {
      const { policy } = levels.find((l) => l.name === profile) ?? {};
      expect(Number(alpha)).toBe(policy?.alpha);
      expect([Number(m), Number(n)]).toEqual([policy?.datapointsToAlarm, policy?.evaluationPeriods]);
      expectInterval(run, runLo, runHi);
      expect(Number(lo)).toBeLessThanOrEqual(Number(pages));
      expect(Number(pages)).toBeLessThanOrEqual(Number(hi));
      // A shared baseline makes runs likelier than for independent windows: the model says more than 1x,
      // and the policy allows for it with its factor, F^(M − 1).
      expect(Number(model)).toBeGreaterThan(1);
      expect(Number(factor)).toBeCloseTo(SHARED_BASELINE_FACTOR ** (Number(m) - 1), 2);
      expect(Number(bound)).toBeCloseTo(
        (policy?.windowsPerMonth ?? 0) *
          SHARED_BASELINE_FACTOR ** (Number(m) - 1) *
          (policy?.alpha ?? 0) ** Number(m),
        2,
      );
      expect(Number(bound)).toBeCloseTo((policy?.windowsPerMonth ?? 0) * (policy?.falseRunBound ?? 0), 2);
    }
    const pages = matches(
      out,
      new RegExp(
        String.raw`^\s+${PROFILE}\s+any: page\s+(\d+\.\d{2}) \[(\d+\.\d{2}), (\d+\.\d{2})\]\s+(\d+\.\d{2})\s+(\d+(?:\.\d+)?): (met|exceeded \(within noise\)|EXCEEDED); bound (held|exceeded \(within noise\)|EXCEEDED)$`,
      ),
    );
    expect(pages.map((m) => m[1])).toEqual(levels.map((l) => l.name));
    for (const [, profile, mean, lo, hi, bound, target, verdict, held] of pages) {
      const level = levels.find((l) => l.name === profile);
      expect(Number(bound)).toBeCloseTo(level?.policy.falsePagesPerMonthBound ?? Number.NaN, 2);
      expect(Number(target)).toBe(PROFILE_CONFIGS[level?.name ?? 'dev'].drift.falsePagesPerMonth);
      expect(Number(lo)).toBeLessThanOrEqual(Number(mean));
      expect(Number(mean)).toBeLessThanOrEqual(Number(hi));
      expect(verdict === 'met').toBe(Number(mean) <= Number(target));
      // Held when the estimate is at or under the policy's bound (printed to two decimals: an estimate
      // within rounding of it may go either way).
      const policyBound = level?.policy.falsePagesPerMonthBound ?? Number.NaN;
      if (Math.abs(Number(mean) - policyBound) > 0.01) {
        expect(held === 'held').toBe(Number(mean) <= policyBound);
      }
    }
  });
});
