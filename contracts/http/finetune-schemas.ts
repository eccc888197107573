import * as z from 'zod/mini';
import { FINETUNE_JOB_ID, finetuneJob } from '../finetune/job.ts';

/**
 * Response schemas and path parameters of the fine-tuning routes (`/v1/finetune-jobs`): the handler
 * parses with them and the OpenAPI document is generated from them, as for the other routes. The request
 * bodies (`finetuneJobRequest`, `approvalRequest`) live with the job in `../finetune/job.ts`.
 */

/** `POST /v1/finetune-jobs` (202): the job's id and where to follow it. */
export const finetuneJobAccepted = z.object({
  jobId: z.string().check(z.regex(FINETUNE_JOB_ID)),
  /** The FineTune state machine has not claimed it yet (it is `training` once it has). */
  status: z.literal('queued'),
  location: z.string(),
});
export type FinetuneJobAccepted = z.infer<typeof finetuneJobAccepted>;

/** `GET /v1/finetune-jobs`: a page of jobs, newest first. */
export const finetuneJobList = z.object({
  jobs: z.array(finetuneJob),
  nextToken: z.optional(z.string()),
});

/** The `{id}` of `/v1/finetune-jobs/{id}`. */
export const finetuneJobIdParam = z
  .string()
  .check(z.regex(FINETUNE_JOB_ID, 'must be a fine-tuning job id: ft- and 16 lowercase hex digits'));

/** Where a job is read. */
export const finetuneJobPath = (jobId: string) => `/v1/finetune-jobs/${jobId}`;
