/**
 * The local SageMaker stand-in: control plane, HTTP endpoint, training request limits, placeholder
 * artifact, and the Step Functions `.sync` training task built on them.
 */
import { randomUUID } from 'node:crypto';
import type { CreateTrainingJobCommandInput } from '@aws-sdk/client-sagemaker';
import { type LocalSageMaker, mapDates, SageMakerError } from './control-plane.ts';

export {
  LOCAL_SAGEMAKER_OPERATIONS,
  type LocalEndpointDeclaration,
  type LocalInferenceComponentDeclaration,
  LocalSageMaker,
  type LocalSageMakerOperation,
  type LocalSageMakerOptions,
  mapDates,
  SageMakerError,
  type SageMakerErrorCode,
  type SageMakerEvent,
  type TrainingMetric,
  toEventJson,
} from './control-plane.ts';
export {
  listTarGz,
  MODEL_ARTIFACT_NAME,
  type PlaceholderArtifactOptions,
  placeholderModelArtifact,
  readTarGz,
  type TarEntry,
  type TarFile,
  tarGz,
} from './placeholder-artifact.ts';
export { type LocalSageMakerServer, startLocalSageMaker, toWireJson } from './server.ts';
export { checkTags, TRAINING_LIMITS, validateCreateTrainingJob } from './training-limits.ts';

/** An error as a Step Functions Task state reports it: `name` is the Error, `message` the Cause. */
export class StepFunctionsTaskError extends Error {
  constructor(error: string, cause: string) {
    super(cause);
    this.name = error;
  }
}

/** The DescribeTrainingJob output as the `.sync` integration returns it: PascalCase JSON, dates in epoch ms. */
export type TrainingJobSyncOutput = Record<string, unknown>;

/**
 * The local implementation of `arn:aws:states:::sagemaker:createTrainingJob.sync`: CreateTrainingJob with
 * the state's Parameters, then (the stand-in's jobs finish at once) DescribeTrainingJob, whose output is
 * the task's result, as on AWS: PascalCase JSON with timestamps as epoch milliseconds.
 *
 * A refused request fails the task with `SageMaker.AmazonSageMakerException` (the Cause carries SageMaker's
 * message and error code, as Step Functions reports service exceptions); a job that ends Failed or Stopped
 * fails it with `States.TaskFailed` and the DescribeTrainingJob output as the Cause.
 */
export function trainingJobSyncStandIn(
  plane: LocalSageMaker,
): (parameters: Readonly<Record<string, unknown>>) => Promise<TrainingJobSyncOutput> {
  return async (parameters) => {
    const request = parameters as unknown as CreateTrainingJobCommandInput;
    try {
      await plane.CreateTrainingJob(request);
    } catch (error) {
      if (error instanceof SageMakerError) {
        throw new StepFunctionsTaskError(
          'SageMaker.AmazonSageMakerException',
          `${error.message} (Service: AmazonSageMaker; Status Code: 400; Error Code: ${error.code}; Request ID: ${randomUUID()}; Proxy: null)`,
        );
      }
      throw error;
    }
    const { $metadata: _metadata, ...described } = await plane.DescribeTrainingJob({
      TrainingJobName: request.TrainingJobName,
    });
    const output = mapDates(described, (date) => date.getTime()) as TrainingJobSyncOutput;
    if (described.TrainingJobStatus === 'Failed' || described.TrainingJobStatus === 'Stopped') {
      throw new StepFunctionsTaskError('States.TaskFailed', JSON.stringify(output));
    }
    return output;
  };
}
