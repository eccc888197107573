import * as z from 'zod/mini';

/**
 * Human feedback on the gateway's answers, and what it becomes:
 *
 * - an {@link StoredInteraction} is what the gateway keeps of each answered chat call, for a limited
 *   time (`feedback.interactionTtlDays`), so that feedback can name it: who called (the app), what was
 *   asked (the rendered system prompt and messages, PII-redacted), what answered (prompt version, model,
 *   retrieved chunks) and the answer;
 * - a {@link FeedbackRequest} (`POST /v1/feedback`) is one person's verdict on one interaction: thumbs
 *   or 1-5 stars, optionally a correction or a preferred answer, categories and a comment. One per
 *   (interaction, user): a repeat replaces it;
 * - a {@link PreferencePair} (DPO: the prompt, the answer people preferred and the one they did not)
 *   and an {@link UnpairedRecord} (KTO: a prompt, one answer, and whether it was good) are what the
 *   export builds from feedback, with their provenance in `metadata`.
 *
 * Written with `zod/mini`, like every schema an API function bundles.
 */

/** Interaction ids: the gateway's (a UUID), as `POST /v1/chat` returns them. */
export const INTERACTION_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
/** The OpenAI-compatible route's completion id: this prefix and the interaction id. */
export const COMPLETION_ID_PREFIX = 'chatcmpl-';
/** Who gave the feedback: a user name, an e-mail address or an identity provider's subject. */
export const FEEDBACK_USER = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
/** The user of feedback sent without one: one anonymous verdict per interaction. */
export const ANONYMOUS_USER = 'anonymous';
/** A category: lowercase letters, digits, `_` or `-` (`wrong_answer`, `too-long`). */
export const FEEDBACK_CATEGORY = /^[a-z][a-z0-9_-]{0,31}$/;
export const MAX_FEEDBACK_CATEGORIES = 10;
/** Longest correction or preferred answer, in characters. */
export const MAX_FEEDBACK_ANSWER_CHARS = 16_000;
/** Longest comment, in characters. */
export const MAX_FEEDBACK_COMMENT_CHARS = 2_000;

/**
 * The interaction id a caller sent, as the store keys it: the OpenAI-compatible route's `chatcmpl-…`
 * id names the same interaction as the bare id.
 */
export function interactionIdOf(id: string): string {
  return id.startsWith(COMPLETION_ID_PREFIX) ? id.slice(COMPLETION_ID_PREFIX.length) : id;
}

/** Thumbs, or a grade of 1 (worst) to 5 (best). */
export const feedbackRating = z.union([z.enum(['up', 'down']), z.int().check(z.gte(1), z.lte(5))], {
  error: 'must be "up", "down" or a whole number from 1 to 5',
});
export type FeedbackRating = z.infer<typeof feedbackRating>;

/** `POST /v1/feedback`. */
export const feedbackRequest = z.strictObject({
  /** The interaction's id (`POST /v1/chat`'s `interactionId`, or the OpenAI-compatible route's `id`). */
  interactionId: z
    .string()
    .check(
      z.regex(
        /^(chatcmpl-)?[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/,
        'must be an interaction id (1-128 letters, digits, "_", ".", ":" or "-"), optionally prefixed "chatcmpl-"',
      ),
    ),
  rating: feedbackRating,
  /** What the answer should have said: becomes the chosen answer of a preference pair. */
  correction: z.optional(z.string().check(z.minLength(1), z.maxLength(MAX_FEEDBACK_ANSWER_CHARS))),
  /** An answer the user preferred (another model's, another draft): chosen over the model's answer. */
  preferredAnswer: z.optional(z.string().check(z.minLength(1), z.maxLength(MAX_FEEDBACK_ANSWER_CHARS))),
  categories: z.optional(
    z
      .array(
        z.string().check(z.regex(FEEDBACK_CATEGORY, 'must be 1-32 lowercase letters, digits, "_" or "-"')),
      )
      .check(z.maxLength(MAX_FEEDBACK_CATEGORIES, `must list at most ${MAX_FEEDBACK_CATEGORIES} categories`)),
  ),
  comment: z.optional(z.string().check(z.maxLength(MAX_FEEDBACK_COMMENT_CHARS))),
  /** The app's user who gave it; one verdict per (interaction, user). @default "anonymous" */
  user: z.optional(
    z
      .string()
      .check(
        z.regex(
          FEEDBACK_USER,
          'must be 1-128 letters, digits, ".", "_", "@", "+" or "-", starting with a letter or digit',
        ),
      ),
  ),
});
export type FeedbackRequest = z.infer<typeof feedbackRequest>;

/** What `POST /v1/feedback` answers (200 whether it created or replaced the verdict). */
export const feedbackResponse = z.object({
  interactionId: z.string(),
  user: z.string(),
  /** `true`: a first verdict of this user on the interaction; `false`: it replaced the earlier one. */
  created: z.boolean(),
  rating: feedbackRating,
  /** The verdict as a score in [0, 1]: up 1, down 0, stars (n − 1) / 4. */
  score: z.number(),
  /** PII spans replaced in the free text, by kind. */
  redactions: z.record(z.string(), z.int()),
  /** The review task it opened (negative feedback with a comment), when it did. */
  reviewTaskId: z.optional(z.string()),
  updatedAt: z.string(),
});
export type FeedbackResponse = z.infer<typeof feedbackResponse>;

/** A rating as a score in [0, 1] (1 best). */
export function ratingScore(rating: FeedbackRating): number {
  if (rating === 'up') return 1;
  if (rating === 'down') return 0;
  return (rating - 1) / 4;
}

/** Whether a rating says the answer was good (up, 4-5 stars), bad (down, 1-2 stars), or neither (3). */
export function ratingPolarity(rating: FeedbackRating): 'positive' | 'negative' | 'neutral' {
  const score = ratingScore(rating);
  return score > 0.5 ? 'positive' : score < 0.5 ? 'negative' : 'neutral';
}

/** One turn of a stored interaction, PII-redacted. */
export interface StoredTurn {
  readonly role: 'user' | 'assistant';
  readonly content: string;
}

/** What the gateway keeps of an answered chat call for feedback (PII-redacted texts). */
export interface StoredInteraction {
  readonly interactionId: string;
  readonly app: string;
  readonly tenant: string | null;
  readonly occurredAt: string;
  /** Epoch seconds after which the interaction is gone (feedback on it is a 404). */
  readonly expiresAt: number;
  readonly route: 'chat' | 'chat.completions';
  readonly prompt: { readonly name: string; readonly version: number; readonly ref: string } | null;
  readonly model: { readonly id: string; readonly provider: string; readonly modelId: string };
  /** While a rollout's canary ran: the variant that answered. */
  readonly variant?: 'production' | 'candidate';
  /** The retrieved chunks' ids, when the call retrieved. */
  readonly retrieval: readonly { readonly docId: string; readonly chunkId: string }[];
  /** The rendered system prompt (with retrieved passages), redacted; null without one. */
  readonly system: string | null;
  readonly messages: readonly StoredTurn[];
  readonly answer: string;
  /** `sha256:` of the rendered input (system and messages): two answers to one prompt share it. */
  readonly promptHash: string;
  /** A text was cut to bound the record's size: the interaction cannot become training data. */
  readonly truncated: boolean;
}

/** One user's verdict on one interaction, as stored (free text PII-redacted). */
export interface StoredFeedback {
  readonly interactionId: string;
  readonly user: string;
  readonly app: string;
  readonly rating: FeedbackRating;
  readonly score: number;
  readonly correction?: string;
  readonly preferredAnswer?: string;
  readonly categories: readonly string[];
  readonly comment?: string;
  /** Copied from the interaction, so that the export and the metrics need not read it again. */
  readonly promptHash: string;
  readonly prompt: StoredInteraction['prompt'];
  readonly model: StoredInteraction['model'];
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly reviewTaskId?: string;
}

/** Provenance of an exported record (flat: DataPrep keeps flat metadata). */
export interface PreferenceMetadata extends Record<string, string | number | boolean | null> {
  readonly source: 'feedback';
  /** `correction`, `preferred_answer` or `opposite_ratings`. */
  readonly kind: string;
  /** The interaction whose answer was rejected (or, for a correction, corrected). */
  readonly rejectedInteraction: string;
  /** The interaction whose answer was chosen; null when a person wrote the chosen answer. */
  readonly chosenInteraction: string | null;
  readonly promptName: string | null;
  readonly promptVersion: number | null;
  readonly model: string;
  /**
   * Who gave the feedback that made the pair, as pseudonyms (`annotator-` and 12 hex digits of the
   * SHA-256 of the user id; several: comma-separated, sorted): training data names no person.
   */
  readonly annotators: string;
  readonly promptHash: string;
}

/** A DPO record, as DataPrep's preference purpose takes it. */
export interface PreferencePair {
  /** A stable id: the same feedback makes the same pair, exported once. */
  readonly id: string;
  readonly prompt: string;
  readonly chosen: string;
  readonly rejected: string;
  readonly metadata: PreferenceMetadata;
}

/** A KTO record: one answer and whether people liked it, when no pair could be made. */
export interface UnpairedRecord {
  readonly id: string;
  readonly prompt: string;
  readonly completion: string;
  readonly label: boolean;
  readonly metadata: Omit<PreferenceMetadata, 'chosenInteraction' | 'rejectedInteraction'> & {
    readonly interaction: string;
  };
}

/**
 * Negative feedback with a comment becomes a review task of the evaluation's human review queue. The
 * task's `rubric` names the annotator, so that the reviewers' labels measure each annotator's agreement
 * with them (the calibration pairs of that rubric), which decides whose feedback the export trusts.
 */
export const FEEDBACK_REVIEW_METRIC = 'user_feedback';
export const FEEDBACK_REVIEW_RUN = 'feedback';
export function annotatorRubric(user: string): string {
  return `feedback-annotator:${user}`;
}

/**
 * The evaluation suite of a feedback dataset's held-out prompts: the export writes them under
 * `raw/golden/<suite>/`, DataPrep registers each file as a version of it, and a candidate trained on the
 * dataset is judged on it against production (its win rate on prompts it never trained on).
 */
export function heldOutSuiteOf(datasetName: string): string {
  return `${datasetName}-holdout`;
}
