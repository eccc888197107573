import * as z from 'zod/mini';
import { ITEM_ID } from './suite.ts';

/**
 * Human review of model-judge scores (the core is `#core/eval/review.ts`):
 *
 * - a {@link ReviewTask} asks a person to grade one item's answer on one judge metric, and says why it
 *   was picked: the judge disagreed with itself across repeats (`unstable`), its score sat close to the
 *   pass/fail threshold or its repeats spread widely (`low_confidence`), or the item was drawn at random
 *   (`sample`, so that agreement is measured on ordinary items too, not only on hard ones); or a user
 *   of an app rated an answer down with a comment (`feedback`): the "judge" is then that user, the
 *   rubric names them (`feedback-annotator:<user>`), and the task carries what a reviewer needs to
 *   grade the answer ({@link reviewFeedback}), so that reviewers' labels measure each annotator;
 * - a {@link ReviewLabel} is the person's answer: `pass` or `fail`, or a grade in [0, 1] (1 best, whatever
 *   the metric's direction) that passes at {@link REVIEW_THRESHOLD};
 * - a {@link CalibrationLabel} pairs the judge's verdict with the person's, per rubric version, to measure
 *   their agreement (Cohen's kappa) and decide whether the judge may gate.
 */

/** A score, judge's or person's, passes at or above this. */
export const REVIEW_THRESHOLD = 0.5;

/**
 * Why a task was picked, in priority order: the cap keeps unstable ones first, samples last. `feedback`
 * tasks are not selected from a run (the feedback route opens them one at a time), so their place in
 * the order never matters; appended, so that the judges' order stays as it was.
 */
export const REVIEW_REASONS = ['unstable', 'low_confidence', 'sample', 'feedback'] as const;
export const reviewReason = z.enum(REVIEW_REASONS);
export type ReviewReason = z.infer<typeof reviewReason>;

/**
 * Task ids: `review-` and 16 hex digits of the SHA-256 of the run, item and metric (of
 * `feedback/<interaction>/<user>` for a feedback task).
 */
export const REVIEW_TASK_ID = /^review-[0-9a-f]{16}$/;
/** Reviewer ids: a user name, an e-mail address or an identity provider's subject (a UUID). */
export const REVIEWER_ID = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
/** Longest comment a reviewer may leave. */
export const REVIEW_COMMENT_MAX_CHARS = 2000;

const score = z.number().check(z.gte(0), z.lte(1));
const verdict = z.enum(['pass', 'fail']);

/** Longest question, answer or correction a feedback review task carries, in characters. */
export const REVIEW_FEEDBACK_TEXT_MAX_CHARS = 4000;

/**
 * What a reviewer needs to grade an answer a user rated down (`reason: feedback`), all PII-redacted and
 * cut to {@link REVIEW_FEEDBACK_TEXT_MAX_CHARS}: the interaction is no longer readable once it expires,
 * so the task keeps its own copy.
 */
export const reviewFeedback = z.object({
  /** The app whose user gave the feedback. */
  app: z.string().check(z.minLength(1)),
  /** The conversation's last user turn. */
  question: z.string().check(z.maxLength(REVIEW_FEEDBACK_TEXT_MAX_CHARS)),
  /** The answer that was rated. */
  answer: z.string().check(z.maxLength(REVIEW_FEEDBACK_TEXT_MAX_CHARS)),
  /** The user's comment. */
  comment: z.string().check(z.maxLength(REVIEW_COMMENT_MAX_CHARS)),
  categories: z.array(z.string()),
  /** What the user said the answer should have been, when they said. */
  correction: z.optional(z.string().check(z.maxLength(REVIEW_FEEDBACK_TEXT_MAX_CHARS))),
});
export type ReviewFeedback = z.infer<typeof reviewFeedback>;

/** One item × judge metric for a person to grade, with what the judge said. */
export const reviewTask = z.object({
  taskId: z.string().check(z.regex(REVIEW_TASK_ID, 'must be "review-" and 16 lowercase hex digits')),
  runId: z.string().check(z.minLength(1)),
  itemId: z.string().check(z.regex(ITEM_ID, 'must be 1-128 letters, digits, "_", ".", ":", "/" or "-"')),
  metric: z.string().check(z.minLength(1)),
  reason: reviewReason,
  /** The rubric's version (`judge-faithfulness:1`): calibration is measured per version. */
  rubric: z.string().check(z.minLength(1)),
  /** The judge model's id (a feedback task: the user who gave the feedback). */
  judge: z.string().check(z.minLength(1)),
  /** The judge's score: the mean over its repeats, in the metric's direction. */
  judgeScore: score,
  /** The judge's pass/fail: the majority of its repeats' verdicts, or its score against the threshold. */
  judgeVerdict: verdict,
  /** max − min of the repeats' scores; `null` when the judge reported none. */
  spread: z.nullable(z.number().check(z.gte(0))),
  /** The repeats disagreed. */
  unstable: z.boolean(),
  /** The judge's reasons, one per valid repeat (a feedback task: the user's comment). */
  rationales: z.array(z.string()),
  /** `reason: feedback` only: the rated interaction, as a reviewer needs it. */
  feedback: z.optional(reviewFeedback),
});
export type ReviewTask = z.infer<typeof reviewTask>;

/** A person's grade of one task. */
export const reviewLabel = z.strictObject({
  taskId: z.string().check(z.regex(REVIEW_TASK_ID, 'must be "review-" and 16 lowercase hex digits')),
  reviewer: z
    .string()
    .check(
      z.regex(
        REVIEWER_ID,
        'must be 1-128 letters, digits, ".", "_", "@", "+" or "-", starting with a letter or digit',
      ),
    ),
  /** `pass`, `fail`, or a grade in [0, 1] (1 best) that passes at {@link REVIEW_THRESHOLD}. */
  label: z.union([verdict, score], { error: 'must be "pass", "fail" or a number in [0, 1]' }),
  comment: z.optional(z.string().check(z.maxLength(REVIEW_COMMENT_MAX_CHARS))),
  /** When the label was given: ISO 8601 with a time zone (`2025-06-01T12:00:00Z`). */
  at: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with a time zone' }),
});
export type ReviewLabel = z.infer<typeof reviewLabel>;

/** The judge's and a person's verdicts on one item, under one rubric version (`true`: pass). */
export const calibrationLabel = z.strictObject({
  rubric: z.string().check(z.minLength(1)),
  judgeVerdict: z.boolean(),
  humanVerdict: z.boolean(),
});
export type CalibrationLabel = z.infer<typeof calibrationLabel>;
