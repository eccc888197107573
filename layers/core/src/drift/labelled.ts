import { ValidationError } from '../errors.ts';
import { normalCdf } from './embedding.ts';
import { benjaminiHochberg, bhAdjusted, chiSquaredTest } from './stats.ts';

/**
 * Quality drift from labelled outcomes (no AWS imports): what people said of the answers of a window of a
 * check's traffic, against what they said of its baseline's.
 *
 * - **Feedback** (`POST /v1/feedback`): the verdicts on the window's answered calls, one per user and
 *   answer. {@link compareFeedback} tests the **thumbs-up rate** (positive verdicts among the positive
 *   and negative ones: up or 4-5 stars against down or 1-2 stars; a 3-star verdict is neither, as the
 *   `FeedbackPositive` metric counts it) by the chi-squared test of its 2 × 2 table (Yates' correction,
 *   as the outcome rates of `outcomes.ts`), and the **mean rating** (each verdict as a score in [0, 1]:
 *   down 0, up 1, n stars (n − 1) / 4, as `FeedbackScore`) by the Mann–Whitney U test of the two
 *   windows' ratings (ordinal, with ties: the normal approximation with the tie correction and the
 *   continuity correction, `scipy.stats.mannwhitneyu(x, y, method='asymptotic')`). Benjamini–Hochberg at
 *   alpha across the two, and **only a decline is drift**: the signal's p-value is the smallest adjusted
 *   p-value of the tests that did not go up (1 when both went up). Two-sided tests read one-sidedly: under
 *   no change the signal fires in at most about alpha / 2 of the windows, as the outcome rates' signal.
 * - **Reviews**: a negative verdict with a comment opens a task in the human review queue, where a
 *   reviewer grades the answer (pass: it was right after all; fail: the complaint is confirmed). Those
 *   labels are the only ground truth the stack holds on live answers, and they exist only for answers
 *   someone complained about, so what they measure is the **precision of the complaints**: the share of
 *   the reviewed complaints that the reviewer confirmed. {@link compareReviews} tests it by the same
 *   chi-squared test; **only a rise is drift** (more of the complaints are founded). Recall and F1 would
 *   need reviewed answers nobody complained about, which the queue does not hold.
 *
 * A window (or its baseline) with fewer than `minWindow` verdicts (polar verdicts for the thumbs-up rate,
 * reviewed complaints for the precision) makes that test insufficient: no p-value, never "no change".
 */

/** The scores a rating takes, in order: down and 1 star 0, 2 stars 0.25, 3 stars 0.5, 4 stars 0.75, up and 5 stars 1. */
export const RATING_LEVELS = [0, 0.25, 0.5, 0.75, 1] as const;

/** What people said of a window's answers. */
export interface FeedbackCounts {
  /** Answered calls of the window whose verdicts were read. */
  readonly answered: number;
  /** Verdicts on those answers (one per user and answer). */
  readonly verdicts: number;
  /** Positive verdicts: up, 4 or 5 stars. */
  readonly positive: number;
  /** Negative verdicts: down, 1 or 2 stars (3 stars is neither). */
  readonly negative: number;
  /** Verdicts per score of {@link RATING_LEVELS}, in that order. */
  readonly ratings: number[];
  /** Verdicts whose review task a reviewer has labelled (negative verdicts with a comment). */
  readonly reviewed: number;
  /** Of those, the ones the reviewer failed: the complaint confirmed. */
  readonly confirmed: number;
}

/** No verdict. */
export const NO_FEEDBACK: FeedbackCounts = {
  answered: 0,
  verdicts: 0,
  positive: 0,
  negative: 0,
  ratings: RATING_LEVELS.map(() => 0),
  reviewed: 0,
  confirmed: 0,
};

/** One verdict as the tally reads it. */
export interface VerdictLike {
  /** The rating as a score in [0, 1] (`ratingScore`): one of {@link RATING_LEVELS}. */
  readonly score: number;
  /** The reviewer's verdict on the answer (`true`: pass); absent when no reviewer labelled it. */
  readonly reviewPassed?: boolean;
}

/** The index of a score in {@link RATING_LEVELS}; `undefined` for any other value. */
function levelOf(score: number): number | undefined {
  const i = RATING_LEVELS.indexOf(score as (typeof RATING_LEVELS)[number]);
  return i === -1 ? undefined : i;
}

/** Counts a window's verdicts one at a time. */
export class FeedbackTally {
  #answered = 0;
  #positive = 0;
  #negative = 0;
  readonly #ratings = RATING_LEVELS.map(() => 0);
  #reviewed = 0;
  #confirmed = 0;

  /** Counts answered calls whose verdicts were read (with or without a verdict). */
  addAnswered(count = 1): void {
    this.#answered += count;
  }

  /** Counts a verdict. @throws ValidationError when its score is not one of {@link RATING_LEVELS} */
  add(verdict: VerdictLike): void {
    const level = levelOf(verdict.score);
    if (level === undefined) {
      throw new ValidationError('score', `must be one of ${RATING_LEVELS.join(', ')}, got ${verdict.score}`);
    }
    this.#ratings[level] = (this.#ratings[level] as number) + 1;
    if (verdict.score > 0.5) this.#positive++;
    else if (verdict.score < 0.5) this.#negative++;
    if (verdict.reviewPassed !== undefined) {
      this.#reviewed++;
      if (!verdict.reviewPassed) this.#confirmed++;
    }
  }

  counts(): FeedbackCounts {
    return {
      answered: this.#answered,
      verdicts: this.#ratings.reduce((s, c) => s + c, 0),
      positive: this.#positive,
      negative: this.#negative,
      ratings: [...this.#ratings],
      reviewed: this.#reviewed,
      confirmed: this.#confirmed,
    };
  }
}

function checkFeedback(value: FeedbackCounts, field: string): FeedbackCounts {
  if (value === null || typeof value !== 'object') {
    throw new ValidationError(field, 'must be an object of feedback counts');
  }
  const whole = (v: unknown, at: string) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new ValidationError(at, 'must be a non-negative integer');
    }
  };
  for (const key of ['answered', 'verdicts', 'positive', 'negative', 'reviewed', 'confirmed'] as const) {
    whole(value[key], `${field}.${key}`);
  }
  if (!Array.isArray(value.ratings) || value.ratings.length !== RATING_LEVELS.length) {
    throw new ValidationError(`${field}.ratings`, `must hold ${RATING_LEVELS.length} counts`);
  }
  for (const [i, c] of value.ratings.entries()) whole(c, `${field}.ratings.${i}`);
  const total = value.ratings.reduce((s, c) => s + c, 0);
  if (total !== value.verdicts) {
    throw new ValidationError(`${field}.ratings`, `must add up to ${field}.verdicts (${value.verdicts})`);
  }
  const [down = 0, low = 0, , high = 0, up = 0] = value.ratings;
  if (value.positive !== high + up || value.negative !== down + low) {
    throw new ValidationError(
      `${field}.positive`,
      'positive and negative must count the ratings above and below 0.5',
    );
  }
  if (value.confirmed > value.reviewed) {
    throw new ValidationError(`${field}.confirmed`, `must be at most ${field}.reviewed (${value.reviewed})`);
  }
  if (value.reviewed > value.verdicts) {
    throw new ValidationError(`${field}.reviewed`, `must be at most ${field}.verdicts (${value.verdicts})`);
  }
  return value;
}

function checkLevels(alpha: number, minWindow: number): void {
  if (!(typeof alpha === 'number' && alpha > 0 && alpha < 1)) {
    throw new ValidationError('alpha', 'must be in (0, 1)');
  }
  if (!Number.isInteger(minWindow) || minWindow < 1) {
    throw new ValidationError('minWindow', 'must be a positive integer');
  }
}

// ---------------------------------------------------------------------------------------------------
// Mann–Whitney U on counts per ordered level

/** The Mann–Whitney U test of two samples given as counts per ordered level. */
export interface MannWhitneyResult {
  /** U of the reference: the pairs (reference, current) in which the reference's value is larger, ties ½. */
  readonly statistic: number;
  /** Two-sided p-value, normal approximation with tie and continuity corrections; 1 when every value ties. */
  readonly pValue: number;
  readonly n: { readonly reference: number; readonly current: number };
}

/**
 * The two-sided Mann–Whitney U test of two samples over the same ordered levels, from their counts per
 * level (ratings have five values, so the ranks are all ties): U₁ = R₁ − n₁(n₁ + 1)/2 from the midranks,
 * z = (max(U₁, U₂) − n₁n₂/2 − ½) / σ with σ² = n₁n₂/12 · ((N + 1) − Σ(t³ − t)/(N(N − 1))), p = 2·(1 − Φ(z))
 * clipped to 1: `scipy.stats.mannwhitneyu(x, y, alternative='two-sided', method='asymptotic')`. Every
 * value tied (σ = 0): p = 1.
 * @throws ValidationError when the count arrays differ in length, hold a negative or non-integer count,
 *   or a sample is empty
 */
export function mannWhitneyCounts(
  reference: readonly number[],
  current: readonly number[],
): MannWhitneyResult {
  if (!Array.isArray(reference) || !Array.isArray(current) || reference.length !== current.length) {
    throw new ValidationError('counts', 'must be two arrays of counts over the same levels');
  }
  let n1 = 0;
  let n2 = 0;
  for (const [i, c] of [...reference, ...current].entries()) {
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0) {
      throw new ValidationError(`counts.${i}`, 'must be a non-negative integer');
    }
  }
  for (const c of reference) n1 += c;
  for (const c of current) n2 += c;
  if (n1 === 0) throw new ValidationError('reference', 'must hold at least one value');
  if (n2 === 0) throw new ValidationError('current', 'must hold at least one value');
  const total = n1 + n2;
  let below = 0;
  let rankSum = 0;
  let ties = 0;
  reference.forEach((r, i) => {
    const t = r + (current[i] as number);
    if (t === 0) return;
    const midrank = below + (t + 1) / 2;
    rankSum += r * midrank;
    ties += t ** 3 - t;
    below += t;
  });
  const u1 = rankSum - (n1 * (n1 + 1)) / 2;
  const u2 = n1 * n2 - u1;
  const variance = ((n1 * n2) / 12) * (total + 1 - ties / (total * (total - 1)));
  const n = { reference: n1, current: n2 };
  if (!(variance > 0)) return { statistic: u1, pValue: 1, n };
  const z = (Math.max(u1, u2) - (n1 * n2) / 2 - 0.5) / Math.sqrt(variance);
  return { statistic: u1, pValue: Math.min(1, 2 * normalCdf(-z)), n };
}

// ---------------------------------------------------------------------------------------------------
// The comparisons

/** Whether a test was run, and if not why. */
export type LabelledStatus =
  /** A p-value. */
  | 'tested'
  /** Nothing to compare: every value the same in both windows (all thumbs up, say). No p-value, never drift. */
  | 'skipped'
  /** A window has fewer values than `minWindow`: no p-value, not "no change". */
  | 'insufficient';

/** One labelled-outcome test of both windows. */
export interface LabelledTest {
  readonly status: LabelledStatus;
  /** The values each window's figure is of (polar verdicts, verdicts or reviewed complaints). */
  readonly n: { readonly reference: number; readonly current: number };
  /** The figure in each window (a rate or a mean); `null` for a window without a value. */
  readonly reference: number | null;
  readonly current: number | null;
  /** current − reference; `null` when either is. */
  readonly difference: number | null;
  readonly direction: 'up' | 'down' | 'same' | null;
  /** The test: chi-squared (Yates) of the 2 × 2 table, or Mann–Whitney U. */
  readonly test: 'chi2' | 'mann-whitney';
  /** χ² or U; `null` unless tested. */
  readonly statistic: number | null;
  /** Two-sided; `null` unless tested. */
  readonly pValue: number | null;
  /** Benjamini–Hochberg adjusted across the signal's tests; `null` unless tested. */
  readonly adjustedPValue: number | null;
  /** Rejected at alpha, in the direction that drifts. */
  readonly drift: boolean;
}

/** A signal of labelled outcomes: its tests, and the p-value it is scored by. */
export interface LabelledComparison<T extends string> {
  readonly alpha: number;
  readonly minWindow: number;
  readonly tests: { readonly [K in T]: LabelledTest };
  /** No test had data: no p-value, not "no change". */
  readonly insufficient: boolean;
  /**
   * The smallest adjusted p-value of the tests that did not move in the good direction; 1 when every test
   * moved that way, or none could be tested (nothing to compare); `null` when insufficient.
   */
  readonly pValue: number | null;
  /** The test of that p-value; `null` when none. */
  readonly method: T | null;
  readonly drift: boolean;
}

/** The tests of the feedback signal. */
export const FEEDBACK_TESTS = ['thumbsUpRate', 'meanRating'] as const;
export type FeedbackTest = (typeof FEEDBACK_TESTS)[number];
/** The test of the reviews signal. */
export const REVIEW_TESTS = ['complaintPrecision'] as const;
export type ReviewTest = (typeof REVIEW_TESTS)[number];

export type FeedbackComparison = LabelledComparison<FeedbackTest> & {
  readonly reference: FeedbackCounts;
  readonly current: FeedbackCounts;
};
export type ReviewComparison = LabelledComparison<ReviewTest> & {
  readonly reference: FeedbackCounts;
  readonly current: FeedbackCounts;
};

export interface CompareLabelledOptions {
  /** The level of Benjamini–Hochberg (the check's alpha). */
  readonly alpha: number;
  /** Fewer values than this in either window: insufficient (the check's minimum window). */
  readonly minWindow: number;
}

/** Compares exactly on the counts: b / m against a / n. */
function directionOf(a: number, n: number, b: number, m: number): LabelledTest['direction'] {
  if (n === 0 || m === 0) return null;
  const cross = b * n - a * m;
  return cross > 0 ? 'up' : cross < 0 ? 'down' : 'same';
}

/** A share of two windows by the chi-squared test of its 2 × 2 table. */
function shareTest(
  a: number,
  n: number,
  b: number,
  m: number,
  minWindow: number,
  alpha: number,
): Omit<LabelledTest, 'adjustedPValue' | 'drift'> {
  const reference = n === 0 ? null : a / n;
  const current = m === 0 ? null : b / m;
  const status: LabelledStatus =
    n < minWindow || m < minWindow
      ? 'insufficient'
      : (a === 0 && b === 0) || (a === n && b === m)
        ? 'skipped'
        : 'tested';
  const result =
    status === 'tested' ? chiSquaredTest({ yes: a, no: n - a }, { yes: b, no: m - b }, { alpha }) : null;
  return {
    status,
    n: { reference: n, current: m },
    reference,
    current,
    difference: reference === null || current === null ? null : current - reference,
    direction: directionOf(a, n, b, m),
    test: 'chi2',
    statistic: result?.statistic ?? null,
    pValue: result?.pValue ?? null,
  };
}

/** The mean ratings of two windows by the Mann–Whitney U test. */
function ratingTest(
  reference: FeedbackCounts,
  current: FeedbackCounts,
  minWindow: number,
): Omit<LabelledTest, 'adjustedPValue' | 'drift'> {
  const sum = (c: FeedbackCounts) => c.ratings.reduce((s, k, i) => s + k * (RATING_LEVELS[i] as number), 0);
  // Ratings in quarters, so that the direction compares integers exactly.
  const quarters = (c: FeedbackCounts) => c.ratings.reduce((s, k, i) => s + k * i, 0);
  const n = reference.verdicts;
  const m = current.verdicts;
  const meanRef = n === 0 ? null : sum(reference) / n;
  const meanCur = m === 0 ? null : sum(current) / m;
  const levelsUsed = RATING_LEVELS.filter(
    (_, i) => (reference.ratings[i] as number) + (current.ratings[i] as number) > 0,
  ).length;
  const status: LabelledStatus =
    n < minWindow || m < minWindow ? 'insufficient' : levelsUsed <= 1 ? 'skipped' : 'tested';
  const result = status === 'tested' ? mannWhitneyCounts(reference.ratings, current.ratings) : null;
  return {
    status,
    n: { reference: n, current: m },
    reference: meanRef,
    current: meanCur,
    difference: meanRef === null || meanCur === null ? null : meanCur - meanRef,
    direction: directionOf(quarters(reference), n, quarters(current), m),
    test: 'mann-whitney',
    statistic: result?.statistic ?? null,
    pValue: result?.pValue ?? null,
  };
}

/** Benjamini–Hochberg across the tests, drift in one direction only, and the signal's p-value. */
function combine<T extends string>(
  names: readonly T[],
  raw: readonly Omit<LabelledTest, 'adjustedPValue' | 'drift'>[],
  worse: 'up' | 'down',
  alpha: number,
  minWindow: number,
): LabelledComparison<T> {
  const pValues = raw.map((t) => t.pValue);
  const rejected = benjaminiHochberg(pValues, alpha);
  const adjusted = bhAdjusted(pValues);
  const better = worse === 'up' ? 'down' : 'up';
  const tests = {} as Record<T, LabelledTest>;
  let best: { name: T; p: number } | undefined;
  names.forEach((name, i) => {
    const t = raw[i] as Omit<LabelledTest, 'adjustedPValue' | 'drift'>;
    const adjustedPValue = adjusted[i] ?? null;
    tests[name] = { ...t, adjustedPValue, drift: (rejected[i] ?? false) && t.direction === worse };
    if (
      adjustedPValue !== null &&
      t.direction !== better &&
      (best === undefined || adjustedPValue < best.p)
    ) {
      best = { name, p: adjustedPValue };
    }
  });
  const insufficient = raw.every((t) => t.status === 'insufficient');
  return {
    alpha,
    minWindow,
    tests,
    insufficient,
    pValue: insufficient ? null : (best?.p ?? 1),
    method: best?.name ?? null,
    drift: names.some((name) => tests[name].drift),
  };
}

/**
 * The feedback signal of `current` against `reference`: the thumbs-up rate and the mean rating (see the
 * module's documentation). Only a decline drifts.
 * @throws ValidationError naming the field: counts that are not non-negative integers or do not add up,
 *   alpha outside (0, 1), a `minWindow` that is not a positive integer
 */
export function compareFeedback(
  reference: FeedbackCounts,
  current: FeedbackCounts,
  options: CompareLabelledOptions,
): FeedbackComparison {
  checkFeedback(reference, 'reference');
  checkFeedback(current, 'current');
  const { alpha, minWindow } = options;
  checkLevels(alpha, minWindow);
  const polar = (c: FeedbackCounts) => c.positive + c.negative;
  const raw = [
    shareTest(reference.positive, polar(reference), current.positive, polar(current), minWindow, alpha),
    ratingTest(reference, current, minWindow),
  ];
  return { ...combine(FEEDBACK_TESTS, raw, 'down', alpha, minWindow), reference, current };
}

/**
 * The reviews signal of `current` against `reference`: the precision of the complaints, the share of the
 * reviewed complaints the reviewers confirmed (see the module's documentation). Only a rise drifts.
 * @throws ValidationError as {@link compareFeedback}
 */
export function compareReviews(
  reference: FeedbackCounts,
  current: FeedbackCounts,
  options: CompareLabelledOptions,
): ReviewComparison {
  checkFeedback(reference, 'reference');
  checkFeedback(current, 'current');
  const { alpha, minWindow } = options;
  checkLevels(alpha, minWindow);
  const raw = [
    shareTest(reference.confirmed, reference.reviewed, current.confirmed, current.reviewed, minWindow, alpha),
  ];
  return { ...combine(REVIEW_TESTS, raw, 'up', alpha, minWindow), reference, current };
}
