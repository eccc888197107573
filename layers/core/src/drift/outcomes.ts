import { ValidationError } from '../errors.ts';
import type { FeedbackCounts } from './labelled.ts';
import { JUDGE_TEST, type JudgedComparison } from './online-judge.ts';
import { benjaminiHochberg, bhAdjusted, chiSquaredTest } from './stats.ts';
import { type InteractionLike, inTraffic, type TimeWindow, type TrafficFilter } from './window.ts';

/**
 * The quality signal of the drift check (no AWS imports): how the calls of a check's traffic ended in
 * a window — errors, throttles, guardrail interventions — against how they ended in its baseline.
 *
 * The counts cover **every** call of the check's traffic in the window ({@link inTraffic}: in time, of
 * the check's app and prompt, never the evaluation runs' own), sampled or not, whatever its status:
 * a call that failed carries no payload the other signals could read, and is exactly what this signal
 * is about. An error is a call the service failed (`provider_error`: the model provider failed;
 * `error`: the gateway did); a caller's own mistake (`client_error`) is not one. A throttle is a call
 * refused for rate (`throttled`). A guardrail intervention is a call whose guardrail intervened, on the
 * input or the answer, whatever the status.
 *
 * {@link compareOutcomes} tests each rate (errors, throttles, interventions per call) of the current
 * window against the reference's with the chi-squared test of the 2 × 2 table (window × yes/no,
 * Yates' correction: `scipy.stats.chi2_contingency([[a, n − a], [b, m − b]])`), and the rates together
 * with Benjamini–Hochberg at alpha, as the descriptors are. **Only an increase is drift**: a falling
 * error rate is good news, not a reason to page. The test is two-sided (its p-value is reported for
 * every rate, a falling one too), the decision one-sided: a rate that went down is never drifting and
 * takes no part in the signal's p-value (the smallest BH-adjusted p-value of the rates that did not go
 * down). A two-sided p-value read one-sidedly is conservative — a rise is judged at twice its one-sided
 * p-value — so under no change the signal fires with probability at most alpha / 2 in a window, within
 * the false-page budget the alarms are calibrated for. The chi-squared approximation is rough when a
 * rate is rare (an expected count of a few calls); Yates' correction errs on the side of no drift then.
 *
 * With the online judge (`online-judge.ts`), its test of the judge's scores joins the rates in
 * Benjamini–Hochberg as one more test, `judgeAnswerRelevance`, with its own one-sided rule: only a
 * decline of the scores is drift, and a rise takes no part in the signal's p-value. Without it (no judge
 * configured, or no answer to judge) the comparison is the rates' alone, exactly as before.
 */

/** How the calls of a window ended. */
export interface OutcomeCounts {
  /** Every call of the check's traffic in the window. */
  readonly calls: number;
  /** Calls the service failed: status `provider_error` or `error`. */
  readonly errors: number;
  /** Calls refused for rate: status `throttled`. */
  readonly throttles: number;
  /** Calls whose guardrail intervened (any status). */
  readonly guardrailInterventions: number;
  /**
   * What people said of the window's answered calls (`labelled.ts`: the feedback signal and the
   * reviews'); absent when the check reads no feedback. Not part of this signal.
   */
  readonly feedback?: FeedbackCounts;
}

/** The statuses counted as errors. */
export const ERROR_STATUSES: readonly string[] = ['provider_error', 'error'];
/** The status counted as a throttle. */
export const THROTTLED_STATUS = 'throttled';

/** The rates the quality signal compares, in report order, with the count each is of. */
export const OUTCOME_RATES = {
  errorRate: 'errors',
  throttleRate: 'throttles',
  guardrailRate: 'guardrailInterventions',
} as const satisfies Record<string, Exclude<keyof OutcomeCounts, 'calls'>>;
export type OutcomeRate = keyof typeof OUTCOME_RATES;
const RATE_NAMES = Object.keys(OUTCOME_RATES) as OutcomeRate[];

/** No call at all. */
export const NO_OUTCOMES: OutcomeCounts = { calls: 0, errors: 0, throttles: 0, guardrailInterventions: 0 };

/**
 * Counts outcomes one call at a time (a reader that streams a window's records keeps no copy of them):
 * {@link OutcomeTally.add} counts a call when it is the check's traffic in the window.
 */
export class OutcomeTally {
  readonly #window: TimeWindow;
  readonly #filter: TrafficFilter;
  #calls = 0;
  #errors = 0;
  #throttles = 0;
  #guardrailInterventions = 0;

  constructor(window: TimeWindow, filter: TrafficFilter) {
    this.#window = window;
    this.#filter = filter;
  }

  /** Counts the call if it is the check's traffic in the window; whether it was. */
  add(record: InteractionLike): boolean {
    if (!inTraffic(record, this.#window, this.#filter)) return false;
    this.#calls++;
    if (ERROR_STATUSES.includes(record.status)) this.#errors++;
    else if (record.status === THROTTLED_STATUS) this.#throttles++;
    if (record.guardrail?.action === 'INTERVENED') this.#guardrailInterventions++;
    return true;
  }

  /** The counts so far. */
  counts(): OutcomeCounts {
    return {
      calls: this.#calls,
      errors: this.#errors,
      throttles: this.#throttles,
      guardrailInterventions: this.#guardrailInterventions,
    };
  }
}

/**
 * The outcomes of the calls of `records` that are the check's traffic in `window` (every status,
 * sampled or not).
 */
export function countOutcomes(
  records: Iterable<InteractionLike>,
  window: TimeWindow,
  filter: TrafficFilter,
): OutcomeCounts {
  const tally = new OutcomeTally(window, filter);
  for (const record of records) tally.add(record);
  return tally.counts();
}

/** Whether a rate was compared, and if not why. */
export type RateStatus =
  /** Tested: a p-value. */
  | 'tested'
  /** The count is 0 in both windows: nothing to compare (no p-value, never drift). */
  | 'skipped'
  /** A window has fewer calls than `minWindow`: insufficient data, not "no change". */
  | 'insufficient';

/** One rate of both windows and its test. */
export interface RateComparison {
  readonly status: RateStatus;
  /** count / calls of each window; `null` for a window without calls. */
  readonly reference: number | null;
  readonly current: number | null;
  /** current − reference; `null` when either rate is. */
  readonly difference: number | null;
  /** Whether the rate went up, down or stayed (compared exactly, on the counts). */
  readonly direction: 'up' | 'down' | 'same' | null;
  /** The chi-squared statistic (Yates); `null` unless tested. */
  readonly statistic: number | null;
  /** The test's own p-value; `null` unless tested. */
  readonly pValue: number | null;
  /** Benjamini–Hochberg adjusted across the tested rates; `null` unless tested. */
  readonly adjustedPValue: number | null;
  /** Rejected by BH at alpha and went up (a rate that went down never drifts). */
  readonly drift: boolean;
}

/** The tests of the quality signal: the outcome rates, and the online judge's scores. */
export type QualityTest = OutcomeRate | typeof JUDGE_TEST;

/** The online judge's test in the quality signal: its comparison, adjusted with the rates. */
export interface JudgeTestResult extends JudgedComparison {
  /** Benjamini–Hochberg adjusted across the tested rates and this test; `null` unless tested. */
  readonly adjustedPValue: number | null;
  /** Rejected by BH at alpha and went down (answers judged more relevant never drift). */
  readonly drift: boolean;
}

/** The quality signal of a window against its reference. */
export interface OutcomeComparison {
  readonly reference: OutcomeCounts;
  readonly current: OutcomeCounts;
  readonly alpha: number;
  readonly minWindow: number;
  /**
   * No test had data: a window had fewer than `minWindow` calls (and the judge, when given, fewer than
   * its `minJudged` scores): no p-value, not "no change".
   */
  readonly insufficient: boolean;
  readonly rates: { readonly [R in OutcomeRate]: RateComparison };
  /** The online judge's test; present only when the comparison was given one. */
  readonly judge?: JudgeTestResult;
  /**
   * The signal's p-value: the smallest adjusted p-value of the tested rates that did not go down (and of
   * the judge's test when its scores did not go up); 1 when no such test (no tested rate rose, or no
   * rate could be tested: both windows without errors, throttles and interventions): no evidence of a
   * worsening. `null` when insufficient.
   */
  readonly pValue: number | null;
  /** The test of that p-value; `null` when none. */
  readonly method: QualityTest | null;
  /** Some rate drifted (went up, rejected by BH), or the judge's scores did (went down). */
  readonly drift: boolean;
}

export interface CompareOutcomesOptions {
  /** The level of BH across the rates (the check's alpha). */
  readonly alpha: number;
  /** Fewer calls than this in either window: insufficient (the check's minimum window). */
  readonly minWindow: number;
  /** The online judge's scores compared (`compareJudged`): one more test in Benjamini–Hochberg. */
  readonly judge?: JudgedComparison;
}

function checkJudge(judge: JudgedComparison): JudgedComparison {
  if (judge === null || typeof judge !== 'object') {
    throw new ValidationError('judge', 'must be the comparison of the judge scores');
  }
  if (judge.status !== 'tested' && judge.status !== 'insufficient') {
    throw new ValidationError('judge.status', "must be 'tested' or 'insufficient'");
  }
  if (judge.status === 'tested' && typeof judge.pValue !== 'number') {
    throw new ValidationError('judge.pValue', 'must be a p-value when tested');
  }
  return judge;
}

function checkCounts(value: OutcomeCounts, field: string): OutcomeCounts {
  if (value === null || typeof value !== 'object') {
    throw new ValidationError(field, 'must be an object of outcome counts');
  }
  for (const key of ['calls', ...Object.values(OUTCOME_RATES)] as const) {
    const v = value[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new ValidationError(`${field}.${key}`, 'must be a non-negative integer');
    }
    if (key !== 'calls' && v > value.calls) {
      throw new ValidationError(`${field}.${key}`, `must be at most ${field}.calls (${value.calls})`);
    }
  }
  if (value.errors + value.throttles > value.calls) {
    throw new ValidationError(
      `${field}.throttles`,
      `errors and throttles are statuses of different calls: together at most ${field}.calls (${value.calls})`,
    );
  }
  return value;
}

const rateOf = (count: number, calls: number): number | null => (calls === 0 ? null : count / calls);

/**
 * The quality signal of `current` against `reference` (see the module's documentation).
 * @throws ValidationError naming the field: a count that is not a non-negative integer, a count above
 *   its window's calls, alpha outside (0, 1), a `minWindow` that is not a positive integer, a judge's
 *   comparison without a status (or tested without a p-value)
 */
export function compareOutcomes(
  reference: OutcomeCounts,
  current: OutcomeCounts,
  options: CompareOutcomesOptions,
): OutcomeComparison {
  checkCounts(reference, 'reference');
  checkCounts(current, 'current');
  const { alpha, minWindow } = options;
  if (!(typeof alpha === 'number' && alpha > 0 && alpha < 1)) {
    throw new ValidationError('alpha', 'must be in (0, 1)');
  }
  if (!Number.isInteger(minWindow) || minWindow < 1) {
    throw new ValidationError('minWindow', 'must be a positive integer');
  }
  const judge = options.judge === undefined ? undefined : checkJudge(options.judge);
  const ratesInsufficient = reference.calls < minWindow || current.calls < minWindow;
  const insufficient = ratesInsufficient && judge?.status !== 'tested';

  const tests = RATE_NAMES.map((rate) => {
    const key = OUTCOME_RATES[rate];
    const a = reference[key];
    const b = current[key];
    const r = rateOf(a, reference.calls);
    const c = rateOf(b, current.calls);
    // Exactly, on the counts: b / m against a / n.
    const cross = b * reference.calls - a * current.calls;
    const direction: RateComparison['direction'] =
      r === null || c === null ? null : cross > 0 ? 'up' : cross < 0 ? 'down' : 'same';
    const status: RateStatus = ratesInsufficient ? 'insufficient' : a === 0 && b === 0 ? 'skipped' : 'tested';
    const test =
      status === 'tested'
        ? chiSquaredTest({ yes: a, no: reference.calls - a }, { yes: b, no: current.calls - b }, { alpha })
        : null;
    return {
      rate,
      status,
      reference: r,
      current: c,
      difference: r === null || c === null ? null : c - r,
      direction,
      statistic: test?.statistic ?? null,
      pValue: test?.pValue ?? null,
    };
  });
  // The judge's test, when given, is the last of the family.
  const pValues = [...tests.map((t) => t.pValue), ...(judge === undefined ? [] : [judge.pValue])];
  const rejected = benjaminiHochberg(pValues, alpha);
  const adjusted = bhAdjusted(pValues);

  const rates = {} as Record<OutcomeRate, RateComparison>;
  let best: { rate: QualityTest; p: number } | undefined;
  tests.forEach(({ rate, ...t }, i) => {
    const adjustedPValue = adjusted[i] ?? null;
    rates[rate] = {
      ...t,
      adjustedPValue,
      drift: (rejected[i] ?? false) && t.direction === 'up',
    };
    if (
      adjustedPValue !== null &&
      t.direction !== 'down' &&
      (best === undefined || adjustedPValue < best.p)
    ) {
      best = { rate, p: adjustedPValue };
    }
  });
  let judged: JudgeTestResult | undefined;
  if (judge !== undefined) {
    const i = tests.length;
    const adjustedPValue = adjusted[i] ?? null;
    // Only a decline is drift; a rise takes no part in the signal's p-value.
    judged = { ...judge, adjustedPValue, drift: (rejected[i] ?? false) && judge.direction === 'down' };
    if (
      adjustedPValue !== null &&
      judge.direction !== 'up' &&
      (best === undefined || adjustedPValue < best.p)
    ) {
      best = { rate: JUDGE_TEST, p: adjustedPValue };
    }
  }
  return {
    reference,
    current,
    alpha,
    minWindow,
    insufficient,
    rates,
    ...(judged !== undefined ? { judge: judged } : {}),
    pValue: insufficient ? null : (best?.p ?? 1),
    method: best?.rate ?? null,
    drift: RATE_NAMES.some((rate) => rates[rate].drift) || (judged?.drift ?? false),
  };
}
