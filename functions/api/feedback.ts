import { createHash } from 'node:crypto';
import { createDocumentClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { ForbiddenError, NotFoundError, ValidationError } from '#aws/errors.ts';
import { DynamoEvaluationStore } from '#aws/eval/dynamo-evaluation-store.ts';
import type { EvaluationStore } from '#aws/eval/evaluation-store.ts';
import { DynamoFeedbackStore } from '#aws/feedback/dynamo-feedback-store.ts';
import { DynamoInteractionStore } from '#aws/feedback/dynamo-interaction-store.ts';
import type { FeedbackStore, InteractionStore } from '#aws/feedback/stores.ts';
import { NO_PROMPT } from '#aws/gateway.ts';
import { apiHandler, json, parseAppKeys, parseWith } from '#aws/http.ts';
import { metrics } from '#aws/logging.ts';
import { envVar } from '#contracts/env.ts';
import {
  REVIEW_COMMENT_MAX_CHARS,
  REVIEW_FEEDBACK_TEXT_MAX_CHARS,
  type ReviewTask,
} from '#contracts/evaluation/review.ts';
import {
  ANONYMOUS_USER,
  annotatorRubric,
  FEEDBACK_REVIEW_METRIC,
  FEEDBACK_REVIEW_RUN,
  type FeedbackRating,
  type FeedbackResponse,
  feedbackRequest,
  INTERACTION_ID,
  interactionIdOf,
  ratingPolarity,
  ratingScore,
  type StoredFeedback,
  type StoredInteraction,
} from '#contracts/feedback/feedback.ts';
import { parseAppAccess } from '#contracts/http/access.ts';
import type { ApiCaller } from '#contracts/http/caller.ts';
import { AccessPolicy } from '#core/access/policy.ts';
import { emptyPiiCounts, type PiiKind, redactPii } from '#core/dataprep/pii.ts';
import { dispatcher } from './dispatch.ts';

/**
 * `POST /v1/feedback` (app route): one user's verdict on an answer the gateway gave the calling app,
 * kept until the export turns feedback into preference data. The interaction must still be open to
 * feedback (kept `feedback.interactionTtlDays`, else 404), be the caller's app's own (else 403), and
 * the app must still be allowed the prompt and the model that answered it (else 403: an app whose
 * allowlist no longer names them gives no feedback on them). Free text is PII-redacted before it is
 * stored; a repeat by the same user replaces the verdict (200 either way, `created` says which).
 * Negative feedback with a comment also opens a task in the evaluation's review queue, whose label
 * measures how far reviewers agree with that annotator.
 */
export interface FeedbackDeps {
  readonly interactions: Pick<InteractionStore, 'get'>;
  readonly feedback: Pick<FeedbackStore, 'get' | 'upsert'>;
  readonly reviews: Pick<EvaluationStore, 'addReviewTasks'>;
  /** Clock in epoch milliseconds. @default Date.now */
  readonly now?: () => number;
}

/** The id of the review task of one user's feedback on one interaction: one task per verdict holder. */
export function feedbackReviewTaskId(interactionId: string, user: string): string {
  const hash = createHash('sha256').update(`feedback/${interactionId}/${user}`).digest('hex');
  return `review-${hash.slice(0, 16)}`;
}

/** `text` cut to `max` characters (never inside a surrogate pair), marked with `…` when cut. */
function bounded(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = max - 1;
  const high = text.charCodeAt(end - 1);
  return `${text.slice(0, high >= 0xd800 && high <= 0xdbff ? end - 1 : end)}…`;
}

/**
 * Refuses a caller that may not rate the interaction: it must be the caller's own app's, with a prompt
 * and a model the app may still use. @throws ForbiddenError naming the app and the rule
 */
function assertMayRate(caller: Pick<ApiCaller, 'app' | 'access'>, interaction: StoredInteraction): void {
  if (interaction.app !== caller.app) {
    throw new ForbiddenError(
      `app ${JSON.stringify(caller.app)} may not give feedback on another app's interaction`,
    );
  }
  const policy = AccessPolicy.forCaller(caller);
  if (interaction.prompt !== null) policy.assertPrompt(interaction.prompt.name);
  policy.assertModel(interaction.model.id);
}

/** An ISO instant at `at`, or just after `previous` when the clock has not moved past it. */
function laterThan(at: number, previous: string | undefined): string {
  const before = previous === undefined ? Number.NaN : Date.parse(previous);
  return new Date(Number.isNaN(before) || at > before ? at : before + 1).toISOString();
}

/**
 * The feedback metrics, each a single metric by `{Model, Prompt, App}` as the gateway's call metrics
 * (a single metric publishes at once and forgets its dimensions, so one per metric). A first verdict
 * counts (`FeedbackCount`), scores (`FeedbackScore`: its Average is the mean rating) and, unless neutral,
 * says whether it was positive (`FeedbackPositive` 1/0: its Average is the thumbs-up rate). A replaced
 * verdict only counts as `FeedbackUpdated`: its first verdict was counted already, and counting the
 * change again would weigh a user who changes their mind twice.
 */
function emitFeedbackMetrics(
  interaction: StoredInteraction,
  app: string,
  created: boolean,
  rating: FeedbackRating,
): void {
  const polarity = ratingPolarity(rating);
  const values: [string, 'Count' | 'None', number][] = created
    ? [
        ['FeedbackCount', 'Count', 1],
        ['FeedbackScore', 'None', ratingScore(rating)],
        ...(polarity === 'neutral'
          ? []
          : [['FeedbackPositive', 'Count', polarity === 'positive' ? 1 : 0] as [string, 'Count', number]]),
      ]
    : [['FeedbackUpdated', 'Count', 1]];
  for (const [name, unit, value] of values) {
    const single = metrics.singleMetric();
    single.addDimensions({
      Model: interaction.model.id,
      Prompt: interaction.prompt?.name ?? NO_PROMPT,
      App: app,
    });
    single.addMetric(name, unit, value);
  }
}

/**
 * The review task of a negative verdict with a comment: the annotator stands as the judge (their rubric,
 * their verdict `fail`, their comment as its rationale), so that a reviewer's label is a calibration
 * pair of that annotator.
 */
function reviewTaskOf(
  interaction: StoredInteraction,
  feedback: Pick<StoredFeedback, 'user' | 'rating' | 'categories' | 'correction'> & { comment: string },
): ReviewTask {
  const question = [...interaction.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const comment = bounded(feedback.comment, REVIEW_COMMENT_MAX_CHARS);
  return {
    taskId: feedbackReviewTaskId(interaction.interactionId, feedback.user),
    runId: FEEDBACK_REVIEW_RUN,
    itemId: interaction.interactionId,
    metric: FEEDBACK_REVIEW_METRIC,
    reason: 'feedback',
    rubric: annotatorRubric(feedback.user),
    judge: feedback.user,
    judgeScore: ratingScore(feedback.rating),
    judgeVerdict: 'fail',
    spread: null,
    unstable: false,
    rationales: [comment],
    feedback: {
      app: interaction.app,
      question: bounded(question, REVIEW_FEEDBACK_TEXT_MAX_CHARS),
      answer: bounded(interaction.answer, REVIEW_FEEDBACK_TEXT_MAX_CHARS),
      comment,
      categories: [...feedback.categories],
      ...(feedback.correction !== undefined
        ? { correction: bounded(feedback.correction, REVIEW_FEEDBACK_TEXT_MAX_CHARS) }
        : {}),
    },
  };
}

export function makeHandler(deps: FeedbackDeps) {
  const now = deps.now ?? Date.now;
  return dispatcher('feedback', {
    sendFeedback: async (request) => {
      const body = parseWith(feedbackRequest, request.body, '');
      const interactionId = interactionIdOf(body.interactionId);
      // `chatcmpl-` alone, or followed by what is no id, names no interaction.
      if (!INTERACTION_ID.test(interactionId)) {
        throw new ValidationError(
          'interactionId',
          'must be an interaction id (1-128 letters, digits, "_", ".", ":" or "-"), optionally prefixed "chatcmpl-"',
        );
      }
      for (const field of ['correction', 'preferredAnswer'] as const) {
        if (body[field] !== undefined && body[field].trim() === '') {
          throw new ValidationError(field, 'must not be blank: leave it out instead');
        }
      }
      const user = body.user ?? ANONYMOUS_USER;
      const interaction = await deps.interactions.get(interactionId);
      if (interaction === undefined) {
        throw new NotFoundError(
          `Interaction ${interactionId} does not exist or is no longer open to feedback (answers can be rated for a limited number of days): send the interactionId of a recent POST /v1/chat answer, or the id of a POST /v1/chat/completions answer`,
        );
      }
      assertMayRate(request.caller, interaction);

      const counts: Record<PiiKind, number> = emptyPiiCounts();
      const redact = (text: string | undefined) =>
        text === undefined || text.trim() === '' ? undefined : redactPii(text, counts).text;
      const correction = redact(body.correction);
      const preferredAnswer = redact(body.preferredAnswer);
      const comment = redact(body.comment);
      const categories = [...new Set(body.categories ?? [])];

      const previous = await deps.feedback.get(interactionId, user);
      const updatedAt = laterThan(now(), previous?.updatedAt);
      const task =
        ratingPolarity(body.rating) === 'negative' && comment !== undefined
          ? reviewTaskOf(interaction, { user, rating: body.rating, categories, correction, comment })
          : undefined;
      // The task first: a retried request finds it queued (one task per interaction and user), whereas a
      // verdict stored before a failed task write would be retried as a replacement.
      if (task !== undefined) await deps.reviews.addReviewTasks([task]);
      const reviewTaskId = task?.taskId ?? previous?.reviewTaskId;
      const score = ratingScore(body.rating);
      const { created } = await deps.feedback.upsert({
        interactionId,
        user,
        app: interaction.app,
        rating: body.rating,
        score,
        ...(correction !== undefined ? { correction } : {}),
        ...(preferredAnswer !== undefined ? { preferredAnswer } : {}),
        categories,
        ...(comment !== undefined ? { comment } : {}),
        promptHash: interaction.promptHash,
        prompt: interaction.prompt,
        model: interaction.model,
        createdAt: previous?.createdAt ?? updatedAt,
        updatedAt,
        // Kept from an earlier verdict: that task is about this interaction and user, and its label
        // still measures the annotator.
        ...(reviewTaskId !== undefined ? { reviewTaskId } : {}),
      });
      emitFeedbackMetrics(interaction, interaction.app, created, body.rating);
      const response: FeedbackResponse = {
        interactionId,
        user,
        created,
        rating: body.rating,
        score,
        redactions: Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0)),
        ...(task !== undefined ? { reviewTaskId: task.taskId } : {}),
        updatedAt,
      };
      return json(200, response);
    },
  });
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  /** The verdicts (`DynamoFeedbackStore`: GetItem, PutItem). */
  FEEDBACK_TABLE: envVar.string(),
  /** The answered calls open to feedback (`DynamoInteractionStore`: GetItem only). */
  INTERACTIONS_TABLE: envVar.string(),
  /** The review queue where negative feedback with a comment opens a task (PutItem only). */
  EVALUATIONS_TABLE: envVar.string(),
  /** Bound by the API construct on every route function. */
  APP_KEYS: envVar.optionalString(),
  APP_ACCESS: envVar.optionalString(),
  MAX_REQUEST_BYTES: envVar.int(1),
};

const config = readConfig(environment);

const documents = createDocumentClient();

export const handler = apiHandler(
  makeHandler({
    interactions: new DynamoInteractionStore(documents, config.INTERACTIONS_TABLE),
    feedback: new DynamoFeedbackStore(documents, config.FEEDBACK_TABLE),
    reviews: new DynamoEvaluationStore(documents, config.EVALUATIONS_TABLE),
  }),
  {
    appKeys: parseAppKeys(config.APP_KEYS),
    appAccess: parseAppAccess(config.APP_ACCESS),
    maxRequestBytes: config.MAX_REQUEST_BYTES,
  },
);
