import { ValidationError } from '../errors.ts';

/**
 * Calibrated paging for drift (no AWS imports): from the cadence of the checks and the false-page
 * target, the per-window significance level (alpha) of every check and the alarm's M of N; and the
 * normalized score each check publishes (1.0 = the threshold).
 *
 * Under the null hypothesis (no drift), a window's test fires with probability at most alpha (the
 * drift benchmark measures it: `npm run bench:drift`). Windows do not overlap (each check reads the
 * calls since the previous one), so the chance that M windows in a row fire is at most alpha^M, and an
 * alarm that needs M of M breaching periods starts a false episode in a given window with at most that
 * probability. Over W windows a month (30 days), false pages ≤ W · alpha^M; split across the signals
 * that page (Bonferroni: each gets target / signals). The policy picks the smallest M (the shortest
 * delay to page), then the largest alpha (the most power), that meet the target, among alphas the
 * permutation tests can reach: with P permutations the smallest p-value is 1 / (P + 1), and the
 * embedding verdict tests each of its three tests at alpha / 3.
 */

/** The per-window levels the policy chooses from, largest first. */
export const CANDIDATE_ALPHAS = [0.05, 0.02, 0.01, 0.005, 0.002, 0.001] as const;
/** Windows in the month the target is stated for (30 days). */
export const MINUTES_PER_MONTH = 30 * 24 * 60;
/** CloudWatch evaluates at most one day of periods for an alarm on periods under an hour; keep every alarm within a day. */
export const MAX_ALARM_SPAN_MINUTES = 24 * 60;
/** The embedding verdict tests each of its tests at alpha / this. */
export const EMBEDDING_TESTS = 3;

export interface DriftAlarmPolicyInput {
  /** Minutes between checks (each reads the window since the previous one). */
  readonly cadenceMinutes: number;
  /** At most this many false pages a month across every paging signal. */
  readonly falsePagesPerMonth: number;
  /** How many alarms page on drift (each check's embedding, descriptor and quality signals). */
  readonly signals: number;
  /** Label permutations of the permutation tests (sets the smallest reachable p-value). */
  readonly permutations: number;
}

export interface DriftAlarmPolicy {
  /** The per-window level of every check. */
  readonly alpha: number;
  /** M: breaching periods that page... */
  readonly datapointsToAlarm: number;
  /** ...out of the last N periods (each period is one window). */
  readonly evaluationPeriods: number;
  readonly windowsPerMonth: number;
  /** The bound on false pages a month, all signals together: windows · alpha^M · signals. */
  readonly falsePagesPerMonthBound: number;
  /** The smallest level the permutation tests can reach with this many permutations. */
  readonly minReachableAlpha: number;
}

function positive(value: number, field: string): void {
  if (!Number.isFinite(value) || value <= 0)
    throw new ValidationError(field, `must be a positive number, got ${value}`);
}

/**
 * The policy that meets the false-page target with the shortest delay (see the module's documentation).
 * @throws ValidationError when an input is not positive, or when no M within a day of windows meets it
 */
export function driftAlarmPolicy(input: DriftAlarmPolicyInput): DriftAlarmPolicy {
  positive(input.cadenceMinutes, 'cadenceMinutes');
  positive(input.falsePagesPerMonth, 'falsePagesPerMonth');
  if (!Number.isInteger(input.signals) || input.signals < 1) {
    throw new ValidationError('signals', `must be a positive integer, got ${input.signals}`);
  }
  if (!Number.isInteger(input.permutations) || input.permutations < 1) {
    throw new ValidationError('permutations', `must be a positive integer, got ${input.permutations}`);
  }
  const windowsPerMonth = MINUTES_PER_MONTH / input.cadenceMinutes;
  const perSignal = input.falsePagesPerMonth / input.signals;
  const minReachableAlpha = EMBEDDING_TESTS / (input.permutations + 1);
  const alphas = CANDIDATE_ALPHAS.filter((a) => a >= minReachableAlpha);
  const maxM = Math.max(1, Math.floor(MAX_ALARM_SPAN_MINUTES / input.cadenceMinutes));
  for (let m = 1; m <= maxM; m++) {
    for (const alpha of alphas) {
      const bound = windowsPerMonth * alpha ** m;
      if (bound <= perSignal) {
        return {
          alpha,
          datapointsToAlarm: m,
          evaluationPeriods: m,
          windowsPerMonth,
          falsePagesPerMonthBound: bound * input.signals,
          minReachableAlpha,
        };
      }
    }
  }
  throw new ValidationError(
    'falsePagesPerMonth',
    `cannot be met: ${windowsPerMonth} windows a month need more than ${maxM} breaching windows in a row at alpha ${alphas.at(-1) ?? minReachableAlpha}; raise the permutations (smaller alphas) or shorten the cadence (more windows a day allow a longer M of N)`,
  );
}

/** The highest score a check publishes (a p-value of 0, or one far below the threshold). */
export const MAX_DRIFT_SCORE = 10;

/**
 * A p-value as a normalized drift score: log(p) / log(threshold), so that 1.0 is the threshold, above 1
 * is drift, and each unit above is another factor of the threshold (p = threshold² scores 2). `null`
 * (insufficient data) stays `null`: no datapoint, never a 0.
 */
export function driftScore(pValue: number | null, threshold: number): number | null {
  if (pValue === null || Number.isNaN(pValue)) return null;
  if (!(threshold > 0 && threshold < 1))
    throw new ValidationError('threshold', `must be in (0, 1), got ${threshold}`);
  if (pValue <= 0) return MAX_DRIFT_SCORE;
  if (pValue >= 1) return 0;
  return Math.min(MAX_DRIFT_SCORE, Math.log(pValue) / Math.log(threshold));
}
