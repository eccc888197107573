import * as z from 'zod';
import { s3Location } from '#events/dataset-ready.ts';
import { FINETUNE_RECIPES, TRAINING_PURPOSES } from '../finetune/job.ts';

/**
 * Payloads between the fine-tuning state machines' tasks.
 *
 * FineTune (started by `llmops.DatasetReady {purpose: finetune|preference}` or `llmops.FineTuneRequested`,
 * the EventBridge event as input):
 *   Plan (→ `$.plan`) → Planned? ─duplicate→ Done
 *     └planned→ Train (`sagemaker:createTrainingJob.sync`, spot + checkpoints + MaxWait; → `$.training`)
 *     → Register (→ `$.registered`) → Wait → CandidateReady (→ `$.ready`) ─not yet→ Wait (bounded)
 *     → RequestEvaluation (→ `$.evaluation`) → Done
 *   any failure → RecordFailure (the job is recorded failed, with why) → Fail
 * The verdict arrives later as `llmops.EvaluationCompleted` (run id {@link candidateRunId}) and the Gate
 * approves (auto) or waits for an admin; the model package's approval starts Rollout.
 *
 * Rollout (started by the "SageMaker Model Package State Change" event of an approved package):
 *   Start (→ `$.rollout`) ─nothing to do→ Done
 *     └canary→ Wait checkMinutes → Check (→ `$.check`) ─continue→ Wait
 *        ├promote→ Promote → Verify → Deployed
 *        └rollback→ Rollback → Deployed
 */

const trainingPurpose = z.enum(TRAINING_PURPOSES);
const recipe = z.enum(FINETUNE_RECIPES);

/** The dataset version a job trains on. */
export const trainingDataset = z.object({
  name: z.string().min(1),
  version: z.number().int().positive(),
  purpose: trainingPurpose,
  contentHash: z.string().regex(/^sha256:[0-9a-f]{64}$/),
});
export type TrainingDataset = z.infer<typeof trainingDataset>;

/** One input channel of the training job, as CreateTrainingJob takes it. */
export const trainingChannel = z.object({
  ChannelName: z.enum(['train', 'validation']),
  DataSource: z.object({
    S3DataSource: z.object({
      S3DataType: z.literal('S3Prefix'),
      S3Uri: z.string().startsWith('s3://'),
      S3DataDistributionType: z.literal('FullyReplicated'),
    }),
  }),
  ContentType: z.literal('application/jsonlines'),
  InputMode: z.literal('File'),
});
export type TrainingChannel = z.infer<typeof trainingChannel>;

/** Plan's output (`$.plan`). The Train state renders the request from it and the stack's fixed settings. */
export const finetunePlan = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('planned'),
    jobId: z.string().min(1),
    /** ≤ 63 characters, `[a-zA-Z0-9-]`. */
    trainingJobName: z.string().regex(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/),
    dataset: trainingDataset,
    baseModel: z.string().min(1),
    recipe,
    /** CreateTrainingJob `HyperParameters`: every value a string (the script's names, plus `sagemaker_*`). */
    hyperParameters: z.record(z.string(), z.string()),
    channels: z.array(trainingChannel).min(1),
    checkpointS3Uri: z.string().startsWith('s3://'),
    tags: z.array(z.object({ Key: z.string().min(1), Value: z.string() })),
  }),
  z.object({ status: z.literal('duplicate'), jobId: z.string().min(1), reason: z.string() }),
]);
export type FinetunePlan = z.infer<typeof finetunePlan>;

/** What Register reads of `$.training` (the DescribeTrainingJob output that `.sync` returns). */
export const trainingResult = z.looseObject({
  TrainingJobName: z.string(),
  TrainingJobArn: z.string(),
  TrainingJobStatus: z.string(),
  ModelArtifacts: z.object({ S3ModelArtifacts: z.string().startsWith('s3://') }),
  FinalMetricDataList: z.array(z.looseObject({ MetricName: z.string(), Value: z.number() })).optional(),
  BillableTimeInSeconds: z.number().int().nonnegative().optional(),
  EnableManagedSpotTraining: z.boolean().optional(),
});
export type TrainingResult = z.infer<typeof trainingResult>;

/** Register's input and output (`$.registered`). */
export const registerInput = z.object({ plan: finetunePlan, training: trainingResult });
export const registered = z.object({
  jobId: z.string().min(1),
  modelPackageArn: z.string().min(1),
  modelPackageVersion: z.number().int().positive(),
  /** The catalog id the candidate is served under. */
  candidateModel: z.string().min(1),
  inferenceComponent: z.string().min(1),
  /** What the candidate is compared with: the served model line, or the base model before the first rollout. */
  baselineModel: z.string().min(1),
  artifact: s3Location,
  placeholder: z.boolean(),
});
export type Registered = z.infer<typeof registered>;

/** CandidateReady's output (`$.ready`): the candidate's component status. */
export const candidateReady = z.object({
  status: z.enum(['ready', 'pending', 'failed']),
  inferenceComponentStatus: z.string(),
  attempts: z.number().int().nonnegative(),
  reason: z.string().optional(),
});
export type CandidateReady = z.infer<typeof candidateReady>;

/** The evaluation run id of a job's candidate (the Gate finds the job by it). */
export function candidateRunId(jobId: string): string {
  return `candidate-${jobId}`;
}

/**
 * The run id of a feedback-trained candidate's win rate on the held-out feedback prompts: never a gate
 * run (the Gate matches {@link candidateRunId} exactly and ignores this one).
 */
export function holdoutRunId(jobId: string): string {
  return `${candidateRunId(jobId)}-holdout`;
}

/** Rollout's Start output (`$.rollout`). */
export const rolloutStart = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('canary'),
    rolloutId: z.string().min(1),
    jobId: z.string().min(1),
    servedModel: z.string().min(1),
    candidateModel: z.string().min(1),
    inferenceComponent: z.string().min(1),
    modelPackageArn: z.string().min(1),
    share: z.number().gt(0).max(1),
    /** ISO time the bake ends. */
    bakeUntil: z.string(),
  }),
  z.object({ status: z.literal('skipped'), reason: z.string() }),
]);
export type RolloutStart = z.infer<typeof rolloutStart>;

/** Check's output (`$.check`). */
export const rolloutCheck = z.object({
  decision: z.enum(['continue', 'promote', 'rollback']),
  reason: z.string(),
  calls: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  breaches: z.array(z.string()),
});
export type RolloutCheck = z.infer<typeof rolloutCheck>;
