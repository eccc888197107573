import * as z from 'zod';
import { eventBridgeEvent } from './envelope.ts';

/**
 * SageMaker "Training Job State Change", as SageMaker sends it to the default bus on each status change
 * of a training job (more than one event per change is possible: consumers must be idempotent). The
 * detail is the DescribeTrainingJob shape with two differences from the API: `Tags` is a map
 * (`{"key": "value"}`), not a list of `{Key, Value}`, and timestamps are epoch milliseconds, which the
 * documented sample writes as strings (`"1583831889050"`) and live events as numbers; both (and ISO
 * 8601 text) parse to epoch milliseconds (`number`).
 *
 * Strict on what consumers read (name, ARN, status, failure reason, model artifacts, final metrics,
 * billable time, tags); loose objects elsewhere, since SageMaker adds fields (`WarmPoolStatus`,
 * `ProfilerConfig`, `RetryStrategy`, …) over time.
 */
export const SAGEMAKER_TRAINING_JOB_STATE_CHANGE = 'SageMaker Training Job State Change';

/** The source of every SageMaker event. */
export const SAGEMAKER_SOURCE = 'aws.sagemaker';

/**
 * A SageMaker event timestamp, parsed to epoch milliseconds: a number (`1583831889050` or
 * `1592411992203.0`), digits in a string (`"1583831889050"`, as in the documented training job sample)
 * or ISO 8601 text (`"2021-02-24T17:00:14Z"`, as in model package events).
 */
export const sageMakerTimestamp = z.union([z.number(), z.string().min(1)]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) {
    ctx.issues.push({
      code: 'custom',
      message: 'must be epoch milliseconds or an ISO 8601 date-time',
      input: value,
    });
    return z.NEVER;
  }
  return parsed;
});

/** Tags on a SageMaker resource as the events carry them: a map, `{}` when there are none. */
export const sageMakerTags = z.record(z.string(), z.string()).default({});

export const trainingJobStatus = z.enum(['InProgress', 'Completed', 'Failed', 'Stopping', 'Stopped']);
export type TrainingJobStatus = z.infer<typeof trainingJobStatus>;

const TRAINING_JOB_ARN = /^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:training-job\/[A-Za-z0-9-]{1,63}$/;

/** One final metric as the algorithm's metric definitions captured it. */
export const finalMetricData = z.object({
  MetricName: z.string().min(1),
  Value: z.number(),
  Timestamp: sageMakerTimestamp.optional(),
});

export const sageMakerTrainingJobStateChangeDetail = z.looseObject({
  TrainingJobName: z.string().min(1).max(63),
  TrainingJobArn: z.string().regex(TRAINING_JOB_ARN),
  TrainingJobStatus: trainingJobStatus,
  /** `Starting`, `Downloading`, `Training`, `Uploading`, `Completed`, `Failed`, `Interrupted`, `MaxRuntimeExceeded`, `Stopped`, …: subject to change, so text. */
  SecondaryStatus: z.string().min(1),
  /** Present when `TrainingJobStatus` is `Failed`. */
  FailureReason: z.string().optional(),
  /** SageMaker hyperparameters are always strings. */
  HyperParameters: z.record(z.string(), z.string()).optional(),
  AlgorithmSpecification: z.looseObject({
    TrainingImage: z.string().optional(),
    AlgorithmName: z.string().optional(),
    TrainingInputMode: z.string(),
    MetricDefinitions: z.array(z.looseObject({ Name: z.string(), Regex: z.string() })).optional(),
  }),
  RoleArn: z.string().min(1),
  InputDataConfig: z
    .array(z.looseObject({ ChannelName: z.string().min(1), DataSource: z.looseObject({}) }))
    .optional(),
  OutputDataConfig: z.looseObject({ S3OutputPath: z.string().min(1), KmsKeyId: z.string().optional() }),
  ResourceConfig: z.looseObject({
    InstanceType: z.string().optional(),
    InstanceCount: z.number().int().optional(),
    VolumeSizeInGB: z.number().int().nonnegative(),
  }),
  VpcConfig: z.looseObject({}).optional(),
  StoppingCondition: z.looseObject({
    MaxRuntimeInSeconds: z.number().int().positive().optional(),
    MaxWaitTimeInSeconds: z.number().int().positive().optional(),
  }),
  CreationTime: sageMakerTimestamp,
  /** Absent when the job failed before it started. */
  TrainingStartTime: sageMakerTimestamp.optional(),
  TrainingEndTime: sageMakerTimestamp.optional(),
  LastModifiedTime: sageMakerTimestamp.optional(),
  SecondaryStatusTransitions: z.array(z.looseObject({ Status: z.string() })).optional(),
  /** Where SageMaker uploaded `/opt/ml/model` (`…/<job>/output/model.tar.gz`); absent before Uploading and in the documented sample. */
  ModelArtifacts: z.object({ S3ModelArtifacts: z.string().min(1) }).optional(),
  FinalMetricDataList: z.array(finalMetricData).optional(),
  EnableManagedSpotTraining: z.boolean().optional(),
  CheckpointConfig: z.looseObject({ S3Uri: z.string().min(1), LocalPath: z.string().optional() }).optional(),
  /** With managed spot training, less than `TrainingTimeInSeconds`; absent when the job never started. */
  BillableTimeInSeconds: z.number().int().nonnegative().optional(),
  TrainingTimeInSeconds: z.number().int().nonnegative().optional(),
  Tags: sageMakerTags,
});
export type SageMakerTrainingJobStateChangeDetail = z.infer<typeof sageMakerTrainingJobStateChangeDetail>;

export const sageMakerTrainingJobStateChangeEvent = eventBridgeEvent(
  SAGEMAKER_TRAINING_JOB_STATE_CHANGE,
  sageMakerTrainingJobStateChangeDetail,
);
export type SageMakerTrainingJobStateChangeEvent = z.infer<typeof sageMakerTrainingJobStateChangeEvent>;
