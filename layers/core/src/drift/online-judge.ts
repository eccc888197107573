import { ValidationError } from '../errors.ts';
import type { DriftRecord } from './check.ts';
import { normalizeAnswer } from './descriptors.ts';
import { ksTwoSample } from './stats.ts';
import { sampleByKey } from './window.ts';

/**
 * The online judge of the quality signal (no AWS imports): which live answers of a window a model judge
 * scores, and how the window's judge scores compare with the baseline's.
 *
 * {@link judgeSample} picks a small, cost-bounded share of a window's answered records: those with a
 * question and an answer that is not the gateway's no-context answer (a fixed sentence, nothing of the
 * model's to judge), at most `min(maxPerWindow, ⌈share × eligible⌉)` of them, chosen by a seeded hash
 * of the question and the answer ({@link sampleByKey}), so that a retry, and the baseline judged once,
 * pick the same records. The caller judges them (answer relevance, one call per answer) and leaves a
 * failed call out: a failure is never a score of 0.
 *
 * {@link compareJudged} compares the scores of both windows by the two-sample Kolmogorov–Smirnov test
 * ({@link ksTwoSample}, as `scipy.stats.ks_2samp`), with both means and the direction of the change.
 * **Only a decline is drift**: answers judged more relevant than the baseline's are good news. The test
 * is two-sided and the decision one-sided, as for the outcome rates (`outcomes.ts`), where the test
 * joins them in Benjamini–Hochberg as `judgeAnswerRelevance`. Either window with fewer than `minJudged`
 * scores is insufficient: no p-value, not "no change".
 */

/** The name of the judge's test among the quality signal's tests. */
export const JUDGE_TEST = 'judgeAnswerRelevance';

/** How a window's answers are sampled for the judge. */
export interface JudgeSampleOptions {
  /** The share of the eligible answers judged, in (0, 1]. */
  readonly share: number;
  /** At most this many answers a window (the cost bound). */
  readonly maxPerWindow: number;
  /** Seeds the choice: the same records, seed and bounds choose the same answers. */
  readonly seed: string;
  /** The gateway's no-context answer (`NO_CONTEXT_ANSWER` in layers/aws): never judged. */
  readonly notFoundAnswer?: string;
}

/** A record the judge can score: a question and an answer. */
export type JudgeableRecord = DriftRecord & { readonly text: string; readonly answer: string };

function checkSampleOptions(options: JudgeSampleOptions): void {
  const { share, maxPerWindow } = options;
  if (!(typeof share === 'number' && share > 0 && share <= 1)) {
    throw new ValidationError('share', 'must be in (0, 1]');
  }
  if (!Number.isInteger(maxPerWindow) || maxPerWindow < 1) {
    throw new ValidationError('maxPerWindow', 'must be a positive integer');
  }
}

/** How many of `eligible` answers a window judges: `min(maxPerWindow, ⌈share × eligible⌉)`. */
export function judgeSampleSize(
  eligible: number,
  options: Pick<JudgeSampleOptions, 'share' | 'maxPerWindow'>,
) {
  checkSampleOptions({ ...options, seed: '' });
  if (!Number.isInteger(eligible) || eligible < 0) {
    throw new ValidationError('eligible', 'must be a non-negative integer');
  }
  if (eligible === 0) return 0;
  // 0.1 × 30 is 3.0000000000000004 in binary floating point: not a reason to judge a fourth answer.
  return Math.min(options.maxPerWindow, Math.ceil(options.share * eligible - 1e-9));
}

/** The records the judge scores (see the module's documentation), in their input order. */
export function judgeSample(records: readonly DriftRecord[], options: JudgeSampleOptions): JudgeableRecord[] {
  checkSampleOptions(options);
  const notFound = options.notFoundAnswer === undefined ? undefined : normalizeAnswer(options.notFoundAnswer);
  const eligible = records.filter(
    (r): r is JudgeableRecord =>
      typeof r.text === 'string' &&
      r.text.trim() !== '' &&
      typeof r.answer === 'string' &&
      r.answer.trim() !== '' &&
      (notFound === undefined || normalizeAnswer(r.answer) !== notFound),
  );
  const size = judgeSampleSize(eligible.length, options);
  if (size === 0) return [];
  return sampleByKey(eligible, (r) => `${r.text}\u0000${r.answer}`, size, options.seed);
}

/** The judge's scores of both windows compared. */
export interface JudgedComparison {
  /** `tested`: a p-value; `insufficient`: a window has fewer than `minJudged` scores. */
  readonly status: 'tested' | 'insufficient';
  /** How many answers of each window were scored (failed calls left out). */
  readonly n: { readonly reference: number; readonly current: number };
  /** The mean score of each window; `null` for a window without a score. */
  readonly reference: number | null;
  readonly current: number | null;
  /** current − reference; `null` when either mean is. */
  readonly difference: number | null;
  /** `down`: the current window's answers were judged less relevant (the only direction that drifts). */
  readonly direction: 'up' | 'down' | 'same' | null;
  /** The KS statistic D; `null` unless tested. */
  readonly statistic: number | null;
  /** The KS test's two-sided p-value; `null` unless tested. */
  readonly pValue: number | null;
  readonly minJudged: number;
  /** The rubric version the scores come from (`judge-answer-relevance:2`), when the caller named it. */
  readonly rubric?: string;
  /** The judge model that gave the scores (`offline` locally), when the caller named it. */
  readonly model?: string;
}

function checkScores(scores: readonly number[], field: string): void {
  if (!Array.isArray(scores)) throw new ValidationError(field, 'must be an array of scores');
  scores.forEach((s, i) => {
    if (typeof s !== 'number' || !Number.isFinite(s)) {
      throw new ValidationError(`${field}.${i}`, 'must be a finite number');
    }
  });
}

const meanOf = (xs: readonly number[]): number | null =>
  xs.length === 0 ? null : xs.reduce((sum, x) => sum + x, 0) / xs.length;

/**
 * The judge's scores of the current window against the reference's (see the module's documentation),
 * labelled with the rubric version and the judge model they come from when `options` names them (both
 * windows' scores must come from the same ones: the caller judges the baseline again for another).
 * @throws ValidationError naming the field: a score that is not a finite number, a `minJudged` that is
 *   not a positive integer
 */
export function compareJudged(
  reference: readonly number[],
  current: readonly number[],
  options: { readonly minJudged: number; readonly rubric?: string; readonly model?: string },
): JudgedComparison {
  checkScores(reference, 'reference');
  checkScores(current, 'current');
  const { minJudged } = options;
  if (!Number.isInteger(minJudged) || minJudged < 1) {
    throw new ValidationError('minJudged', 'must be a positive integer');
  }
  const r = meanOf(reference);
  const c = meanOf(current);
  const direction: JudgedComparison['direction'] =
    r === null || c === null ? null : c < r ? 'down' : c > r ? 'up' : 'same';
  const insufficient = reference.length < minJudged || current.length < minJudged;
  const test = insufficient ? null : ksTwoSample(reference, current);
  return {
    status: insufficient ? 'insufficient' : 'tested',
    n: { reference: reference.length, current: current.length },
    reference: r,
    current: c,
    difference: r === null || c === null ? null : c - r,
    direction,
    statistic: test?.statistic ?? null,
    pValue: test?.pValue ?? null,
    minJudged,
    ...(options.rubric !== undefined ? { rubric: options.rubric } : {}),
    ...(options.model !== undefined ? { model: options.model } : {}),
  };
}
