/**
 * Reads what people said of a window's answers, for the drift check's labelled outcomes
 * (`#core/drift/labelled.ts`): each answered call's verdicts in the feedback table, and the review
 * label of each complaint a reviewer graded in the evaluation's review queue.
 *
 * The feedback table is keyed per interaction (`DynamoFeedbackStore`: a verdict is `pk`
 * `FEEDBACK#<interactionId>`, `sk` `USER#<user>`), so a window's verdicts are one Query per answered
 * call: eventually consistent (half a read unit for an answer without feedback) and projected to the
 * rating's score and the review task's id. A window holds many more answered calls than a person
 * rates, so the reads are capped ({@link MAX_FEEDBACK_LOOKUPS}: a seeded subsample beyond it, which
 * `answered` reports) and run {@link FEEDBACK_CONCURRENCY} at a time. The review label comes from the
 * evaluation store (`getReviewTask`), and only for a verdict that is still negative: it grades the
 * answer the complaint was about.
 *
 * Throttling and other service errors pass through: the DriftCheck state machine retries the step.
 */
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { INTERACTION_ID } from '#contracts/feedback/feedback.ts';
import { type FeedbackCounts, FeedbackTally, RATING_LEVELS } from '#core/drift/labelled.ts';
import { sampleByKey } from '#core/drift/window.ts';
import { humanVerdict } from '#core/eval/review.ts';
import { mapLimited } from '#core/map-limited.ts';
import type { EvaluationStore } from '../eval/evaluation-store.ts';

/** Answered calls of one window whose verdicts are read, at most (a seeded subsample beyond it). */
export const MAX_FEEDBACK_LOOKUPS = 20_000;
/** Queries at once. */
export const FEEDBACK_CONCURRENCY = 16;

/** A verdict as the drift check reads it. */
export interface VerdictOnAnswer {
  readonly user: string;
  /** The rating as a score in [0, 1]. */
  readonly score: number;
  /** The review task a negative verdict with a comment opened. */
  readonly reviewTaskId?: string;
}

/** The verdicts on one interaction. */
export interface VerdictReader {
  verdictsOn(interactionId: string): Promise<VerdictOnAnswer[]>;
}

/** The verdicts of the feedback table (the layout of `DynamoFeedbackStore`). */
export class DynamoVerdictReader implements VerdictReader {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(documents: DynamoDBDocumentClient, tableName: string) {
    this.#doc = documents;
    this.#table = tableName;
  }

  async verdictsOn(interactionId: string): Promise<VerdictOnAnswer[]> {
    // An id the feedback route would refuse has no verdict (and could not be a key).
    if (!INTERACTION_ID.test(interactionId)) return [];
    const out: VerdictOnAnswer[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.#doc.send(
        new QueryCommand({
          TableName: this.#table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `FEEDBACK#${interactionId}` },
          ProjectionExpression: '#user, score, reviewTaskId',
          ExpressionAttributeNames: { '#user': 'user' },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        // A rating's score is one of five values (`ratingScore`); anything else is not a verdict.
        const score = item.score as (typeof RATING_LEVELS)[number];
        if (typeof item.user !== 'string' || !RATING_LEVELS.includes(score)) continue;
        out.push({
          user: item.user,
          score,
          ...(typeof item.reviewTaskId === 'string' ? { reviewTaskId: item.reviewTaskId } : {}),
        });
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return out;
  }
}

export interface WindowFeedbackDeps {
  readonly verdicts: VerdictReader;
  readonly reviews: Pick<EvaluationStore, 'getReviewTask'>;
  /** @default FEEDBACK_CONCURRENCY */
  readonly concurrency?: number;
  /** @default MAX_FEEDBACK_LOOKUPS */
  readonly maxLookups?: number;
}

/**
 * The labelled outcomes of a window: the verdicts on its answered calls (`interactionIds`; a seeded
 * subsample of `maxLookups` beyond it, chosen by `seed`) and the review labels of its complaints.
 */
export async function windowFeedback(
  interactionIds: readonly string[],
  seed: string,
  deps: WindowFeedbackDeps,
): Promise<FeedbackCounts> {
  const ids = sampleByKey(
    [...new Set(interactionIds)],
    (id) => id,
    deps.maxLookups ?? MAX_FEEDBACK_LOOKUPS,
    seed,
  );
  const tally = new FeedbackTally();
  tally.addAnswered(ids.length);
  const perCall = await mapLimited(ids, deps.concurrency ?? FEEDBACK_CONCURRENCY, async (id) => {
    const verdicts = await deps.verdicts.verdictsOn(id);
    return Promise.all(
      verdicts.map(async (v) => {
        if (v.reviewTaskId === undefined || v.score >= 0.5) return { score: v.score };
        const task = await deps.reviews.getReviewTask(v.reviewTaskId);
        return task?.status === 'labelled' && task.label !== undefined
          ? { score: v.score, reviewPassed: humanVerdict(task.label) }
          : { score: v.score };
      }),
    );
  });
  for (const verdicts of perCall) for (const v of verdicts) tally.add(v);
  return tally.counts();
}
