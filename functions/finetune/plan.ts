import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { createDocumentClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { DatasetRegistry } from '#aws/dataset-registry.ts';
import { InvalidEventError } from '#aws/errors.ts';
import { findTrainingDataset } from '#aws/finetune/datasets.ts';
import { DynamoFinetuneJobStore, type FinetuneJobStore } from '#aws/finetune/job-store.ts';
import { type FinetuneSettings, readFinetuneSettings } from '#aws/finetune/settings.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { envVar } from '#contracts/env.ts';
import { FINETUNE_JOB_ID, type FinetuneJob, type TrainingPurpose } from '#contracts/finetune/job.ts';
import { type FinetunePlan, finetunePlan } from '#contracts/pipelines/finetune.ts';
import {
  baseModelFor,
  channelsOf,
  checkpointUriOf,
  finetuneTags,
  jobIdOf,
  mergeHyperparameters,
  recipeFor,
  type S3Ref,
  trainingHyperParameters,
  trainingJobNameOf,
} from '#core/finetune/plan.ts';
import { DATASET_READY, datasetReadyEvent } from '#events/dataset-ready.ts';
import { FINETUNE_REQUESTED, fineTuneRequestedEvent } from '#events/finetune-requested.ts';

/**
 * Plan: the first task of the FineTune state machine, started by `llmops.DatasetReady` (purpose
 * `finetune` or `preference`) or `llmops.FineTuneRequested` (`POST /v1/finetune-jobs`, whose dataset
 * version is read from the dataset registry). It works out the job: its id (from the dataset version,
 * recipe, base model and hyperparameters; an API request's own id makes each request a job of its own),
 * the recipe (the request's, else the profile's for the purpose: one that does not fit the purpose is
 * refused), the base model (only the served one: an adapter runs on its own base), the hyperparameters
 * (the profile's, the request's over them, every one in range), the input channels from the curated
 * files, the checkpoint location and the tags. Then it claims the job (`training`): a job already
 * claimed (a redelivered event) is a `duplicate`, and the state machine ends without training again.
 */
export interface PlanDeps {
  readonly store: Pick<FinetuneJobStore, 'claim'>;
  readonly registry: Pick<DatasetRegistry, 'getVersion' | 'listVersions'>;
  readonly settings: FinetuneSettings;
  readonly stackName: string;
  /** The curated bucket: the only bucket a job reads training data from. */
  readonly curatedBucket: string;
  readonly artifactsBucket: string;
  /** `s3://…`: the packed training script (`sagemaker_submit_directory`). */
  readonly trainingSourceUri: string;
  readonly region: string;
  readonly now?: () => Date;
}

const wrappedInput = z.object({ event: z.unknown(), executionName: z.string().min(1) });
const detailTypeOf = z.looseObject({ 'detail-type': z.string() });

/** What the job is, before it is claimed. */
interface Resolved {
  readonly jobId: string;
  readonly trigger: FinetuneJob['trigger'];
  readonly requestedBy: string;
  readonly dataset: FinetuneJob['dataset'];
  readonly files: Readonly<Record<string, S3Ref>>;
  readonly splits: Readonly<Record<string, number>>;
  readonly recipe: FinetuneJob['recipe'];
  readonly baseModel: string;
  readonly hyperparameters: Record<string, number>;
}

function isTrainingPurpose(purpose: string): purpose is TrainingPurpose {
  return purpose === 'finetune' || purpose === 'preference';
}

export function makeHandler(deps: PlanDeps) {
  const now = deps.now ?? (() => new Date());

  async function fromDatasetReady(raw: unknown): Promise<Resolved> {
    const { detail } = parseInput(datasetReadyEvent, raw, 'FineTune input (llmops.DatasetReady event)');
    const { purpose } = detail;
    if (!isTrainingPurpose(purpose)) {
      throw new InvalidEventError(
        `purpose: dataset ${detail.name} v${detail.version} is for ${purpose}; FineTune trains on finetune or preference datasets only`,
      );
    }
    const recipe = recipeFor(purpose, undefined, deps.settings.recipes);
    const baseModel = deps.settings.baseModel.hfModelId;
    const hyperparameters = mergeHyperparameters(deps.settings.hyperparameters, undefined, recipe);
    return {
      jobId: jobIdOf({ dataset: detail, recipe, baseModel, hyperparameters }),
      trigger: 'dataset',
      requestedBy: `dataset:${detail.name}:v${detail.version}`,
      dataset: { name: detail.name, version: detail.version, purpose, contentHash: detail.contentHash },
      files: detail.files,
      splits: detail.counts.splits,
      recipe,
      baseModel,
      hyperparameters,
    };
  }

  async function fromFineTuneRequested(raw: unknown): Promise<Resolved> {
    const { detail } = parseInput(
      fineTuneRequestedEvent,
      raw,
      'FineTune input (llmops.FineTuneRequested event)',
    );
    if (!FINETUNE_JOB_ID.test(detail.jobId)) {
      throw new InvalidEventError(
        `jobId: must be ft- and 16 hex digits (got ${JSON.stringify(detail.jobId)})`,
      );
    }
    const found = await findTrainingDataset(deps.registry, detail.dataset, detail.purpose);
    const recipe = recipeFor(detail.purpose, detail.recipe, deps.settings.recipes);
    const baseModel = baseModelFor(detail.baseModel, deps.settings.baseModel);
    const hyperparameters = mergeHyperparameters(
      deps.settings.hyperparameters,
      detail.hyperparameters,
      recipe,
    );
    const splits = (found.counts as { splits?: Record<string, number> }).splits ?? {};
    return {
      jobId: detail.jobId,
      trigger: 'api',
      requestedBy: detail.requestedBy,
      dataset: {
        name: found.name,
        version: found.version,
        purpose: detail.purpose,
        contentHash: found.contentHash,
      },
      files: found.files,
      splits,
      recipe,
      baseModel,
      hyperparameters,
    };
  }

  return async (input: unknown, context?: Context): Promise<FinetunePlan> => {
    const wrapped = wrappedInput.safeParse(input);
    const raw = wrapped.success ? wrapped.data.event : input;
    const executionName = wrapped.success ? wrapped.data.executionName : (context?.awsRequestId ?? '');
    const type = detailTypeOf.safeParse(raw);
    const detailType = type.success ? type.data['detail-type'] : undefined;
    let resolved: Resolved;
    if (detailType === DATASET_READY) resolved = await fromDatasetReady(raw);
    else if (detailType === FINETUNE_REQUESTED) resolved = await fromFineTuneRequested(raw);
    else {
      throw new InvalidEventError(
        `detail-type: FineTune starts on ${DATASET_READY} or ${FINETUNE_REQUESTED}, got ${JSON.stringify(detailType ?? null)}`,
      );
    }
    const { jobId, dataset } = resolved;
    logger.appendKeys({ jobId, executionName, dataset: dataset.name, datasetVersion: dataset.version });

    for (const [name, file] of Object.entries(resolved.files)) {
      if (file.bucket !== deps.curatedBucket) {
        throw new InvalidEventError(
          `files.${name}: s3://${file.bucket}/${file.key} is not in the curated bucket; a job trains on curated data only`,
        );
      }
    }
    const channels = channelsOf(dataset, resolved.files, resolved.splits);
    const trainingJobName = trainingJobNameOf(deps.stackName, jobId);
    const at = now().toISOString();
    const job: FinetuneJob = {
      jobId,
      status: 'training',
      trigger: resolved.trigger,
      requestedBy: resolved.requestedBy,
      dataset,
      baseModel: resolved.baseModel,
      recipe: resolved.recipe,
      hyperparameters: resolved.hyperparameters,
      trainingJob: { name: trainingJobName, spot: deps.settings.spot },
      createdAt: at,
      updatedAt: at,
    };
    if ((await deps.store.claim(job)) === 'exists') {
      logger.info('Fine-tuning job already claimed: nothing to do');
      metrics.addMetric('FinetuneJobsDuplicate', 'Count', 1);
      return { status: 'duplicate', jobId, reason: `job ${jobId} already exists (a redelivered event)` };
    }
    metrics.addMetric('FinetuneJobsPlanned', 'Count', 1);
    logger.info('Fine-tuning job planned', {
      recipe: job.recipe,
      trainingJobName,
      channels: channels.length,
    });
    return finetunePlan.parse({
      status: 'planned',
      jobId,
      trainingJobName,
      dataset,
      baseModel: job.baseModel,
      recipe: job.recipe,
      hyperParameters: trainingHyperParameters({
        baseModel: job.baseModel,
        recipe: job.recipe,
        hyperparameters: job.hyperparameters,
        sourceUri: deps.trainingSourceUri,
        region: deps.region,
      }),
      channels,
      checkpointS3Uri: checkpointUriOf(deps.artifactsBucket, jobId),
      tags: finetuneTags({ stackName: deps.stackName, jobId, dataset }),
    });
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  FINETUNE_TABLE: envVar.string(),
  DATASETS_TABLE: envVar.string(),
  CURATED_BUCKET: envVar.string(),
  ARTIFACTS_BUCKET: envVar.string(),
  /** `s3://…/sourcedir.tar.gz`: the training script, packed by the stack. */
  TRAINING_SOURCE_URI: envVar.string(),
  STACK_NAME: envVar.string(),
  /** JSON: {@link finetuneSettings}. */
  FINETUNE_SETTINGS: envVar.string(),
};

const config = readConfig(environment);
const documents = createDocumentClient();

export const handler = withObservability(
  makeHandler({
    store: new DynamoFinetuneJobStore(documents, config.FINETUNE_TABLE),
    registry: new DatasetRegistry(documents, config.DATASETS_TABLE),
    settings: readFinetuneSettings(config.FINETUNE_SETTINGS),
    stackName: config.STACK_NAME,
    curatedBucket: config.CURATED_BUCKET,
    artifactsBucket: config.ARTIFACTS_BUCKET,
    trainingSourceUri: config.TRAINING_SOURCE_URI,
    // Set by Lambda itself (a reserved variable), so not part of the environment contract.
    region: process.env.AWS_REGION ?? 'us-east-1',
  }),
);
