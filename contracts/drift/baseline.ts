import * as z from 'zod/mini';
import { RUN_ID } from '../evaluation/run.ts';
import { SUITE_NAME } from '../evaluation/suite.ts';

/**
 * The drift capability's records, shared by the DriftCheck state machine, the drift API and the
 * store: checks (what traffic each watches), versioned baselines (what a window is compared with, and
 * where it came from), and the result of each checked window. Written with `zod/mini`, as every schema
 * an API function bundles.
 */

/** A check's name, as configuration spells it (`drift.checks[].name`). */
export const CHECK_NAME = /^[a-z][a-z0-9-]{0,31}$/;
const APP_NAME = /^[a-z][a-z0-9-]{0,31}$/;
const PROMPT_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** One configured check: a slice of the watched traffic (the `DRIFT_CHECKS` environment variable holds them). */
export const driftCheckConfig = z.object({
  name: z.string().check(z.regex(CHECK_NAME)),
  app: z.optional(z.string().check(z.regex(APP_NAME))),
  prompt: z.optional(z.string().check(z.regex(PROMPT_NAME))),
});
export type DriftCheckConfig = z.infer<typeof driftCheckConfig>;

/** The longest pinned traffic window a baseline may be taken from. */
export const MAX_BASELINE_WINDOW_DAYS = 31;

/**
 * Where a baseline comes from: a pinned window of the check's own traffic, a registered suite version
 * (its questions), or a finished evaluation run (its questions and answers).
 */
export const baselineSource = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('window'),
    from: z.iso.datetime(),
    to: z.iso.datetime(),
  }),
  z.strictObject({
    kind: z.literal('suite'),
    name: z.string().check(z.regex(SUITE_NAME)),
    version: z.optional(z.int().check(z.positive())),
  }),
  z.strictObject({
    kind: z.literal('evaluation'),
    runId: z.string().check(z.regex(RUN_ID)),
  }),
]);
export type BaselineSource = z.infer<typeof baselineSource>;

/** `POST /v1/drift/baselines`: build a new baseline version of a check from a source. */
export const createBaselineRequest = z.strictObject({
  check: z.string().check(z.regex(CHECK_NAME)),
  source: baselineSource,
  /** Why (kept with the version, e.g. "after the March re-index"). */
  note: z.optional(z.string().check(z.maxLength(500))),
});
export type CreateBaselineRequest = z.infer<typeof createBaselineRequest>;

/**
 * How the calls of a window of a check's traffic ended: every call (sampled or not, any status), the
 * errors (`provider_error`, `error`), the throttles (`throttled`) and the guardrail interventions. The
 * quality signal compares their rates (`#core/drift/outcomes.ts`).
 */
const count = z.int().check(z.nonnegative());

/**
 * What people said of the answered calls of a window (`#core/drift/labelled.ts`): the verdicts of
 * `POST /v1/feedback` on them, by polarity and by rating (the scores 0, 0.25, 0.5, 0.75, 1), and the
 * complaints a reviewer labelled (`reviewed`) and confirmed (`confirmed`: the reviewer failed the answer).
 */
export const feedbackCounts = z.object({
  answered: count,
  verdicts: count,
  positive: count,
  negative: count,
  ratings: z.array(count).check(z.length(5)),
  reviewed: count,
  confirmed: count,
});

export const outcomeCounts = z.object({
  calls: count,
  errors: count,
  throttles: count,
  guardrailInterventions: count,
  /**
   * The verdicts on the window's answered calls, as the feedback store held them when the window was
   * collected; absent when the stack reads no feedback, and in counts from before the feedback signal.
   */
  feedback: z.optional(feedbackCounts),
});

/** A baseline version: the records every later window of its check is compared with. */
export const driftBaseline = z.object({
  check: z.string(),
  version: z.int(),
  source: baselineSource,
  /** Records kept (a seeded subsample of the source beyond the check's window cap). */
  records: z.int(),
  /** How many of them carry an embedding. */
  embedded: z.int(),
  /**
   * How many carry an answer embedding (the answers' embedding family); absent in baselines from before
   * it, which are "no baseline" for that family.
   */
  answerEmbedded: z.optional(z.int()),
  /** The embedding model the records were embedded with (a window is embedded with the same). */
  embeddingModel: z.nullable(z.string()),
  /** The records (JSON lines of `{text, answer?, retrievalTopScore?, embedding?}`) in the artifacts bucket. */
  location: z.object({ bucket: z.string(), key: z.string() }),
  /**
   * How the source's calls ended, for the quality signal: present for a baseline from a traffic window
   * (pinned, or `{kind: 'window'}`), absent for a suite or an evaluation run (no live outcomes) and for
   * baselines built before the quality signal; without it a check publishes no quality score.
   */
  outcomes: z.optional(outcomeCounts),
  createdAt: z.string(),
  createdBy: z.string(),
  note: z.optional(z.string()),
});
export type DriftBaseline = z.infer<typeof driftBaseline>;

/**
 * The EMF metric every drift alarm watches: each signal's normalized score (1.0 = the threshold), with
 * the dimensions `Check` and `Signal`, one datapoint per window stamped with the window's end.
 */
export const DRIFT_SCORE_METRIC = 'DriftScore';

/**
 * The signals of a check's tests whose false alarms the alarm policy budgets, one share of the
 * false-page target each (`driftAlarmPolicy`'s `signals` is the checks times these): the questions'
 * embeddings, the text descriptors, and the quality of the outcomes (error, throttle and guardrail
 * intervention rates, and the online judge's scores of a sample of the answers when it is configured).
 */
export const DRIFT_SIGNALS = ['embedding', 'descriptors', 'quality'] as const;
export type DriftSignal = (typeof DRIFT_SIGNALS)[number];

/**
 * The users' feedback (thumbs-up rate and mean rating): a signal that pages, within the quality signal's
 * share of the false-page target. Both are one-sided (only a worsening drifts, two-sided tests read one
 * way), so under no change each fires in at most alpha / 2 of the windows, and M windows in a row with
 * at most (alpha / 2)^M: the two together at most 2 · (alpha / 2)^M ≤ alpha^M, one share.
 */
export const FEEDBACK_SIGNAL = 'feedback';

/** Every signal that pages: an alarm each, in the check's paging composite. */
export const PAGING_DRIFT_SIGNALS = [...DRIFT_SIGNALS, FEEDBACK_SIGNAL] as const;
export type PagingDriftSignal = (typeof PAGING_DRIFT_SIGNALS)[number];

/**
 * Signals a check publishes without an alarm (on the dashboard and in its status): the answers'
 * embeddings, which move with every deliberate release of a prompt or a model, and the precision of the
 * complaints reviewers labelled, which few windows have enough of.
 */
export const DRIFT_WATCHED_SIGNALS = ['answerEmbedding', 'reviews'] as const;

/** One signal of a checked window. */
export const signalResult = z.object({
  /** log(p) / log(threshold): 1.0 is the threshold; `null` when the window is insufficient. */
  score: z.nullable(z.number()),
  /** The p-value compared (the smallest of the tests, BH-adjusted for the descriptors and the rates). */
  pValue: z.nullable(z.number()),
  threshold: z.number(),
  drift: z.boolean(),
  insufficient: z.boolean(),
  /**
   * The test that decided (an embedding method, the descriptor, or the rate or the online judge's test,
   * `judgeAnswerRelevance`, or the labelled outcome — `thumbsUpRate`, `meanRating`, `complaintPrecision`
   * — with the smallest adjusted p).
   */
  method: z.nullable(z.string()),
});
export type SignalResult = z.infer<typeof signalResult>;

/** One window's side of the online judge: the answers sampled, those scored, the failed calls, the mean. */
export const judgedAnswers = z.object({
  /** Answers picked for the judge (a small, capped share of the window's answers). */
  sampled: z.int().check(z.nonnegative()),
  /** Answers the judge scored. */
  judged: z.int().check(z.nonnegative()),
  /** Judge calls that failed: left out, never a score of 0. */
  failed: z.int().check(z.nonnegative()),
  /** The mean score of the judged answers; `null` when none was. */
  mean: z.nullable(z.number()),
});

/**
 * The online judge of a window's quality signal (`drift.onlineJudge`): the rubric and the judge model,
 * the baseline's answers (judged once per baseline) and the window's.
 */
export const onlineJudgeResult = z.object({
  /** The rubric version the scores come from (answer relevance). */
  rubric: z.string(),
  /** The judge model's id (`offline` locally). */
  model: z.string(),
  reference: judgedAnswers,
  current: judgedAnswers,
});
export type OnlineJudgeResult = z.infer<typeof onlineJudgeResult>;

/** What one window's check found, as the store keeps it and `GET /v1/drift/status` returns it. */
export const driftWindowResult = z.object({
  check: z.string(),
  window: z.object({ start: z.string(), end: z.string() }),
  /** The baseline version compared with; `null` when the check had none yet. */
  baseline: z.nullable(z.int()),
  status: z.enum(['checked', 'insufficient', 'no-baseline', 'baseline-pinned']),
  n: z.object({ reference: z.int(), current: z.int() }),
  drift: z.boolean(),
  signals: z.record(z.string(), signalResult),
  /**
   * How the window's calls ended (`current`), and the baseline's (`reference`: `null` when there is no
   * baseline yet, or it has no outcomes — a suite or an evaluation run — and then the window has no
   * quality signal). Absent for a window collected before the quality signal.
   */
  outcomes: z.optional(z.object({ reference: z.nullable(outcomeCounts), current: outcomeCounts })),
  /**
   * The online judge's answers of both windows (their test is part of the quality signal); absent when no
   * judge is configured, the window has no quality signal, or a window has no answer to judge.
   */
  judge: z.optional(onlineJudgeResult),
  /** The report (`summary.json` and `report.html`) in the artifacts bucket; absent when none was written. */
  report: z.optional(z.object({ bucket: z.string(), prefix: z.string() })),
  checkedAt: z.string(),
});
export type DriftWindowResult = z.infer<typeof driftWindowResult>;

/**
 * The policy every check runs with, computed at synthesis by `driftAlarmPolicy` (the alarms use the same):
 * the `DRIFT_POLICY` environment variable of the drift functions.
 */
export const driftPolicy = z.object({
  alpha: z.number().check(z.positive(), z.lt(1)),
  datapointsToAlarm: z.int().check(z.positive()),
  evaluationPeriods: z.int().check(z.positive()),
  cadenceMinutes: z.int().check(z.positive()),
  effect: z.number().check(z.positive()),
  power: z.number().check(z.positive(), z.lt(1)),
  permutations: z.int().check(z.positive()),
  maxWindowRecords: z.int().check(z.positive()),
});
export type DriftPolicy = z.infer<typeof driftPolicy>;
