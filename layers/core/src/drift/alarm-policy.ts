import { ValidationError } from '../errors.ts';
import { normalCdf, normalQuantile } from './embedding.ts';

/**
 * Calibrated paging for drift (no AWS imports): from the cadence of the checks and the false-page
 * target, the per-window significance level (alpha) of every check and the alarm's M of N; and the
 * normalized score each check publishes (1.0 = the threshold).
 *
 * Under the null hypothesis (no drift), a window's test fires with probability at most alpha (the
 * drift benchmark measures it: `npm run bench:drift`). Windows do not overlap (each check reads the
 * calls since the previous one), but they are not independent: every window of a check is compared with
 * the same baseline (the check pins its first sufficient window), so a baseline that happens to sit off
 * the traffic's centre makes each window look a little shifted, and runs of firing windows are likelier
 * than alpha^M. The benchmark measures how much likelier on the real tests ("M of N false pages": runs
 * of 2 windows against one baseline of one window's size) and {@link SHARED_BASELINE_FACTOR} is the
 * worst it found, rounded up: the chance that a signal's M windows in a row fire is taken to be at most
 * F^(M − 1) · alpha^M (each window after the first at most F times likelier to fire than alone), and an
 * alarm that needs M of M breaching periods starts a false episode in a given window with at most that
 * probability. Over W windows a month (30 days), false pages ≤ W · F^(M − 1) · alpha^M per signal,
 * split across the signals that page (Bonferroni: each gets target / signals). M = 1 needs no factor.
 * {@link falseRunProbability} is a normal model of the same effect; it takes every signal to fire in
 * exactly alpha of the windows, which the real signals do not (the embedding signal's three tests at
 * alpha / 3, BH across the descriptors and the one-sided quality signal fire in fewer), so it overstates
 * the runs: the benchmark prints it beside the measurement.
 *
 * The policy picks the smallest M (the shortest delay to page), then the largest alpha (the most
 * power), that meet the target, among alphas the permutation tests can reach: with P permutations the
 * smallest p-value is 1 / (P + 1), and the embedding verdict tests each of its three tests at alpha / 3.
 */

/**
 * How much likelier a run of firing windows is, per window after the first, than for independent
 * windows, because a check's windows share one baseline. Measured by `npm run bench:drift` ("M of N
 * false pages", `sequence n 100 × 1`: windows of 100 records, each baseline one window's size, 1,000
 * baselines × 10 windows): the chance that 2 windows in a row fire was 2.17 × alpha² (embedding) and
 * 1.39 × (descriptors) at dev's alpha 0.02 with 200 permutations, 4.00 × and 0.89 × at prod's 0.01 with
 * 1,000 (250 baselines at the former policy, prod's 0.02 with 200: 2.44 × and 2.00 ×). The worst, 4.00 ×
 * (95% interval over the baselines 0 to 8.6 ×: the runs at 0.01 are rare), rounded up to a whole number.
 * See docs/drift.md (Calibration) and docs/benchmarks.md (Drift numbers).
 */
export const SHARED_BASELINE_FACTOR = 4;

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
  /**
   * The bound on the chance that one signal's M windows in a row fire under no drift, the windows
   * sharing one baseline: SHARED_BASELINE_FACTOR^(M − 1) · alpha^M.
   */
  readonly falseRunBound: number;
  /** The bound on false pages a month, all signals together: windows · falseRunBound · signals. */
  readonly falsePagesPerMonthBound: number;
  /** The smallest level the permutation tests can reach with this many permutations. */
  readonly minReachableAlpha: number;
}

function positive(value: number, field: string): void {
  if (!Number.isFinite(value) || value <= 0)
    throw new ValidationError(field, `must be a positive number, got ${value}`);
}

/**
 * The bound the policy holds a run of `m` firing windows to, under no drift, when the windows share one
 * baseline: SHARED_BASELINE_FACTOR^(m − 1) · alpha^m (alpha for a single window).
 */
export function sharedBaselineRunBound(alpha: number, m: number): number {
  return SHARED_BASELINE_FACTOR ** (m - 1) * alpha ** m;
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
      const falseRunBound = sharedBaselineRunBound(alpha, m);
      const bound = windowsPerMonth * falseRunBound;
      if (bound <= perSignal) {
        return {
          alpha,
          datapointsToAlarm: m,
          evaluationPeriods: m,
          windowsPerMonth,
          falseRunBound,
          falsePagesPerMonthBound: bound * input.signals,
          minReachableAlpha,
        };
      }
    }
  }
  throw new ValidationError(
    'falsePagesPerMonth',
    `cannot be met: ${windowsPerMonth} windows a month need more than ${maxM} breaching windows in a row at alpha ${alphas.at(-1) ?? minReachableAlpha}; raise the permutations (smaller alphas) or shorten the cadence (more windows a day allow a longer M of N); runs are bounded with the shared-baseline factor ${SHARED_BASELINE_FACTOR}`,
  );
}

/** Simpson intervals of {@link falseRunProbability}'s integral over the baseline's deviation, on [−10, 10]. */
const RUN_INTEGRAL_STEPS = 2000;
const RUN_INTEGRAL_SPAN = 10;

/**
 * The chance that `m` windows in a row each fire at level `alpha` under no drift when every window is
 * compared with ONE fixed baseline holding `baselineWindows` windows' worth of records (the check pins
 * its first sufficient window: about 1). Windows share the baseline, so they are not independent: a
 * baseline that happens to sit off the traffic's centre makes every window look a little shifted.
 *
 * The model: a test's standardized statistic is a difference of the window's mean and the baseline's,
 * Z_t = √(1 − ρ)·A_t + √ρ·B with A_t (the window's noise) and B (the baseline's) independent standard
 * normals and ρ = 1 / (1 + baselineWindows), the share of Z's variance that comes from the baseline;
 * the test fires when Z_t > c = Φ⁻¹(1 − alpha) (one-sided: the larger of the one- and two-sided cases).
 * Given B = b the windows are independent, each firing with q(b) = Φ((√ρ·b − c) / √(1 − ρ)), so
 * P = ∫ φ(b) · q(b)^m db, by Simpson's rule on [−10, 10]. It is alpha^m when the baseline is infinite
 * (ρ = 0), and tends to alpha when the baseline is tiny (ρ → 1: one draw decides every window). At
 * alpha 0.05, m = 2 and a baseline of one window (ρ = ½) it is 4.9 · alpha² — what `npm run
 * bench:drift` measures on the real tests, beside this model.
 * @throws ValidationError when alpha is not in (0, 1), m is not a positive integer, or baselineWindows is not positive
 */
export function falseRunProbability(alpha: number, m: number, baselineWindows: number): number {
  if (!(alpha > 0 && alpha < 1)) throw new ValidationError('alpha', `must be in (0, 1), got ${alpha}`);
  if (!Number.isInteger(m) || m < 1) throw new ValidationError('m', `must be a positive integer, got ${m}`);
  if (!(baselineWindows > 0)) {
    throw new ValidationError('baselineWindows', `must be positive, got ${baselineWindows}`);
  }
  if (m === 1 || baselineWindows === Number.POSITIVE_INFINITY) return alpha ** m;
  const rho = 1 / (1 + baselineWindows);
  const c = normalQuantile(1 - alpha);
  const shared = Math.sqrt(rho);
  const own = Math.sqrt(1 - rho);
  const h = (2 * RUN_INTEGRAL_SPAN) / RUN_INTEGRAL_STEPS;
  let sum = 0;
  for (let i = 0; i <= RUN_INTEGRAL_STEPS; i++) {
    const b = -RUN_INTEGRAL_SPAN + i * h;
    const weight = i === 0 || i === RUN_INTEGRAL_STEPS ? 1 : i % 2 === 1 ? 4 : 2;
    const q = normalCdf((shared * b - c) / own);
    sum += weight * Math.exp(-(b * b) / 2) * q ** m;
  }
  return (sum * h) / 3 / Math.sqrt(2 * Math.PI);
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
