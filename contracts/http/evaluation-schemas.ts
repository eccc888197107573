import * as z from 'zod/mini';
import {
  REVIEW_COMMENT_MAX_CHARS,
  REVIEW_TASK_ID,
  REVIEWER_ID,
  reviewLabel,
  reviewTask,
} from '../evaluation/review.ts';
import { evaluationRun, RUN_ID } from '../evaluation/run.ts';

/**
 * Request and response schemas of the evaluation routes (`/v1/evaluations`, `/v1/reviews`): the handler
 * parses with them, API Gateway validates request bodies with models generated from them, and the OpenAPI
 * document is generated from them, as for the other routes (`./schemas.ts`).
 */

/** How long the report links of `GET /v1/evaluations/{id}` stay valid. */
export const REPORT_LINK_TTL_SECONDS = 15 * 60;

/** Links to a finished run's report files (S3 presigned GET URLs, or `s3://` URIs where none is signed). */
export const reportLinks = z.object({
  html: z.string(),
  markdown: z.string(),
  summary: z.string(),
  items: z.string(),
});
export type ReportLinks = z.infer<typeof reportLinks>;

/** `POST /v1/evaluations` (202) and `GET /v1/evaluations/{id}`: the run, and links to its report once written. */
export const evaluationRunResponse = z.object({
  ...evaluationRun.shape,
  links: z.optional(reportLinks),
});

/** A review task of the queue: the task, its status, and the person's label once given. */
export const storedReviewTask = z.object({
  ...reviewTask.shape,
  status: z.enum(['open', 'labelled']),
  createdAt: z.string(),
  label: z.optional(reviewLabel),
});

/** `GET /v1/reviews`: a page of the review queue, oldest first. */
export const reviewTaskList = z.object({
  tasks: z.array(storedReviewTask),
  nextToken: z.optional(z.string()),
});

/** The `status` query parameter of `GET /v1/reviews`. */
export const reviewStatus = z.enum(['open', 'labelled']);

/**
 * `POST /v1/reviews/{id}`: a person's grade. The reviewer is the signing principal and the time is the
 * server's, so neither is sent.
 */
export const labelReviewRequest = z.strictObject({
  /** `pass`, `fail`, or a grade in [0, 1] (1 best). */
  label: reviewLabel.shape.label,
  comment: z.optional(z.string().check(z.maxLength(REVIEW_COMMENT_MAX_CHARS))),
});
export type LabelReviewBody = z.infer<typeof labelReviewRequest>;

export const evaluationPathParams = {
  runId: z.string().check(z.regex(RUN_ID, 'must be 1-80 letters, digits, "_" or "-" (a run id)')),
  taskId: z.string().check(z.regex(REVIEW_TASK_ID, 'must be "review-" and 16 lowercase hex digits')),
};

/**
 * The reviewer id of a signing IAM principal: the last segment of its ARN's path (the session name of an
 * assumed role, `arn:aws:sts::123456789012:assumed-role/Reviewer/alice` → `alice`; the user name of an IAM
 * user). `undefined` when that segment is not a valid reviewer id.
 */
export function reviewerOf(principalArn: string): string | undefined {
  const resource = principalArn.split(':').slice(5).join(':');
  const segment = resource.split('/').pop() ?? '';
  return resource.includes('/') && REVIEWER_ID.test(segment) ? segment : undefined;
}
