import { createHash } from 'node:crypto';
import {
  type FinetuneRecipe,
  HYPERPARAMETER_RULES,
  type HyperparameterName,
  hyperparameterProblem,
  RECIPES_BY_PURPOSE,
  type TrainingPurpose,
} from '#contracts/finetune/job.ts';
import type { TrainingChannel } from '#contracts/pipelines/finetune.ts';
import { FINETUNE_CHECKPOINTS_PREFIX } from '#contracts/storage-layout.ts';
import { InvalidDatasetError, ValidationError } from '../errors.ts';
import { canonicalJson } from '../prompts/hash.ts';

/**
 * The pure half of a fine-tuning job's plan: its id, its SageMaker names, the recipe and base model it
 * may use, the hyperparameters it trains with (as CreateTrainingJob takes them), its input channels,
 * checkpoints and tags. The FineTune Plan step and `POST /v1/finetune-jobs` share it, so that the API
 * refuses what the pipeline would refuse, with the same words.
 */

/** A recipe that does not train on the dataset's purpose (SFT on preference pairs, DPO on SFT pairs). */
export class RecipeMismatchError extends ValidationError {}

/** A base model other than the one the endpoint serves: an adapter only runs on its own base model. */
export class BaseModelMismatchError extends ValidationError {}

/** A dataset version without the curated `train` file a training job reads. */
export class TrainingDataMissingError extends InvalidDatasetError {}

/** SageMaker resource names (training jobs, inference components): 1-63 letters, digits and hyphens. */
export const SAGEMAKER_NAME = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;
const MAX_NAME = 63;

/** What a job's id is derived from: the same inputs (and request) give the same id. */
export interface JobIdInput {
  readonly dataset: { readonly name: string; readonly version: number };
  readonly recipe: FinetuneRecipe;
  readonly baseModel: string;
  readonly hyperparameters: Readonly<Record<string, number>>;
  /** An API request's id: two requests for the same training are two jobs; a redelivered event is not. */
  readonly requestId?: string | undefined;
}

/**
 * `ft-` and 16 hex digits of the SHA-256 of the canonical JSON of the inputs (keys sorted at every
 * level), so that a redelivered `llmops.DatasetReady` names the job it already started.
 */
export function jobIdOf(input: JobIdInput): string {
  const canonical = canonicalJson({
    dataset: { name: input.dataset.name, version: input.dataset.version },
    recipe: input.recipe,
    baseModel: input.baseModel,
    hyperparameters: input.hyperparameters,
    requestId: input.requestId,
  });
  return `ft-${createHash('sha256').update(canonical).digest('hex').slice(0, 16)}`;
}

/** The longest suffix of a SageMaker name of the pipeline: a job id. */
const JOB_ID_EXAMPLE = 'ft-0000000000000000';

/**
 * A SageMaker name `<stack>-<suffix>`: the stack name lowercased, every run of characters other than
 * letters, digits and hyphens made one hyphen, cut so that a name with the longest suffix (a job id) fits
 * 63 characters (so every name of a deployment starts the same: {@link sageMakerNamePrefix}; the suffix
 * is kept whole), and never starting or ending with a hyphen.
 */
export function sageMakerNameOf(stackName: string, suffix: string): string {
  const room = MAX_NAME - Math.max(suffix.length, JOB_ID_EXAMPLE.length) - 1;
  const prefix = stackName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, Math.max(0, room))
    .replace(/-+$/, '');
  const name = prefix === '' ? suffix : `${prefix}-${suffix}`;
  if (!SAGEMAKER_NAME.test(name)) {
    throw new ValidationError(
      'name',
      `${JSON.stringify(name)} is not a SageMaker name (${SAGEMAKER_NAME.source})`,
    );
  }
  return name;
}

/** What every SageMaker name {@link sageMakerNameOf} makes for a deployment starts with (`<stack>-`). */
export function sageMakerNamePrefix(stackName: string): string {
  return sageMakerNameOf(stackName, JOB_ID_EXAMPLE).slice(0, -JOB_ID_EXAMPLE.length);
}

/** The training job of a fine-tuning job: `<lowercase stack>-<jobId>`, at most 63 characters. */
export function trainingJobNameOf(stackName: string, jobId: string): string {
  return sageMakerNameOf(stackName, jobId);
}

/** The candidate's adapter inference component: `<lowercase stack>-<jobId>`, at most 63 characters. */
export function inferenceComponentNameOf(stackName: string, jobId: string): string {
  return sageMakerNameOf(stackName, jobId);
}

/** The job id at the end of a name made by {@link sageMakerNameOf} (undefined when there is none). */
export function jobIdInName(name: string): string | undefined {
  return /(?:^|-)(ft-[0-9a-f]{16})$/.exec(name)?.[1];
}

/** The job id of a candidate evaluation run id (`candidate-<jobId>`), or undefined. */
export function jobIdOfRunId(runId: string): string | undefined {
  return /^candidate-(ft-[0-9a-f]{16})$/.exec(runId)?.[1];
}

/**
 * The recipe of a job: the one asked for, else the profile's for the purpose.
 * @throws RecipeMismatchError naming `recipe` when it does not train on the purpose's data.
 */
export function recipeFor(
  purpose: TrainingPurpose,
  requested: FinetuneRecipe | undefined,
  profile: Readonly<Record<TrainingPurpose, FinetuneRecipe>>,
): FinetuneRecipe {
  const recipe = requested ?? profile[purpose];
  const allowed = RECIPES_BY_PURPOSE[purpose];
  if (!allowed.includes(recipe)) {
    throw new RecipeMismatchError(
      'recipe',
      `${recipe} does not train on ${purpose} data: use ${allowed.join(' or ')} (or leave recipe out for the profile's)`,
    );
  }
  return recipe;
}

/** The base model the endpoint serves, as the profile names it. */
export interface ServedBaseModel {
  readonly catalogId: string;
  readonly hfModelId: string;
}

/**
 * The base model of a job (its Hugging Face id): the one asked for by either of its names, else the
 * served one. @throws BaseModelMismatchError naming `baseModel` for any other model.
 */
export function baseModelFor(requested: string | undefined, served: ServedBaseModel): string {
  if (requested === undefined || requested === served.hfModelId || requested === served.catalogId) {
    return served.hfModelId;
  }
  throw new BaseModelMismatchError(
    'baseModel',
    `must be ${served.hfModelId} (catalog id ${served.catalogId}), the model the endpoint serves: an adapter only runs on the base model it was trained on (got ${requested})`,
  );
}

/** A hyperparameter value as an event may carry it: a number, or a number written as text. */
function numberOf(name: string, value: number | string): number {
  if (typeof value === 'number') return value;
  const text = value.trim();
  const parsed = text === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(parsed)) {
    throw new ValidationError(`hyperparameters.${name}`, `must be a number, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

/**
 * The hyperparameters a job trains with: the profile's, then the request's over them, every name known
 * and every value in range, sorted by name. `dpo_beta` only means something to DPO: it is left out of
 * other recipes (so that it neither reaches the script nor changes the job id).
 * @throws ValidationError naming `hyperparameters.<name>` and the rule it breaks.
 */
export function mergeHyperparameters(
  profile: Readonly<Record<string, number>>,
  request: Readonly<Record<string, number | string>> | undefined,
  recipe: FinetuneRecipe,
): Record<string, number> {
  const merged: Record<string, number> = { ...profile };
  for (const [name, value] of Object.entries(request ?? {})) merged[name] = numberOf(name, value);
  const out: Record<string, number> = {};
  for (const name of Object.keys(merged).sort()) {
    const value = merged[name] as number;
    const problem = hyperparameterProblem(name, value);
    if (problem !== undefined) throw new ValidationError(`hyperparameters.${name}`, problem);
    if (name === 'dpo_beta' && recipe !== 'dpo-lora') continue;
    out[name] = value;
  }
  return out;
}

/**
 * A number as plain decimal text (`0.0002`, never `2e-4`), as SageMaker passes hyperparameters to the
 * script and as a reader expects them in the console.
 */
export function plainDecimal(value: number): string {
  if (!Number.isFinite(value)) throw new ValidationError('value', `must be a finite number, got ${value}`);
  const text = String(value);
  const match = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (match === null) return text;
  const [, sign, head, tail = '', exp] = match as unknown as [
    string,
    string,
    string,
    string | undefined,
    string,
  ];
  const digits = `${head}${tail}`;
  const point = 1 + Number(exp);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** Whether a name is one of the script's hyperparameters. */
export function isHyperparameterName(name: string): name is HyperparameterName {
  return Object.hasOwn(HYPERPARAMETER_RULES, name);
}

/**
 * CreateTrainingJob `HyperParameters`: every value a string. The script's own (`base_model`, `recipe`
 * and the merged values as plain decimals) and SageMaker's script-mode entries: `sagemaker_program`
 * (`train.py`), `sagemaker_submit_directory` (the packed training source) and `sagemaker_region`.
 */
export function trainingHyperParameters(input: {
  readonly baseModel: string;
  readonly recipe: FinetuneRecipe;
  readonly hyperparameters: Readonly<Record<string, number>>;
  /** `s3://…/sourcedir.tar.gz`: the training script, packed. */
  readonly sourceUri: string;
  readonly region: string;
}): Record<string, string> {
  const values: Record<string, string> = { base_model: input.baseModel, recipe: input.recipe };
  for (const name of Object.keys(input.hyperparameters).sort()) {
    values[name] = plainDecimal(input.hyperparameters[name] as number);
  }
  return {
    ...values,
    sagemaker_program: 'train.py',
    sagemaker_submit_directory: input.sourceUri,
    sagemaker_region: input.region,
  };
}

/** An S3 object as events and the registry name it. */
export interface S3Ref {
  readonly bucket: string;
  readonly key: string;
}

function channel(name: 'train' | 'validation', file: S3Ref): TrainingChannel {
  return {
    ChannelName: name,
    DataSource: {
      S3DataSource: {
        S3DataType: 'S3Prefix',
        S3Uri: `s3://${file.bucket}/${file.key}`,
        S3DataDistributionType: 'FullyReplicated',
      },
    },
    ContentType: 'application/jsonlines',
    InputMode: 'File',
  };
}

/**
 * The training job's input channels from a dataset version's curated files: `train` (required), and
 * `validation` when DataPrep wrote one with records in it (it writes the file even when the split is
 * empty, and its count is then 0: an empty channel is left out rather than handed to the script).
 * @throws TrainingDataMissingError when there is no `train` file or it holds no record.
 */
export function channelsOf(
  dataset: { readonly name: string; readonly version: number },
  files: Readonly<Record<string, S3Ref>>,
  splits: Readonly<Record<string, number>> = {},
): TrainingChannel[] {
  const train = files.train;
  const label = `dataset ${dataset.name} v${dataset.version}`;
  if (train === undefined) {
    throw new TrainingDataMissingError(
      `${label} has no curated "train" file (files: ${Object.keys(files).join(', ') || 'none'}): upload it again under raw/finetune/ or raw/preference/`,
    );
  }
  if (splits.train === 0) {
    throw new TrainingDataMissingError(`${label} has no training record (its train split is empty)`);
  }
  const channels = [channel('train', train)];
  const validation = files.validation;
  if (validation !== undefined && splits.validation !== 0) channels.push(channel('validation', validation));
  return channels;
}

/** Where a job's spot checkpoints go (read back when an interrupted job resumes). */
export function checkpointUriOf(artifactsBucket: string, jobId: string): string {
  return `s3://${artifactsBucket}/${FINETUNE_CHECKPOINTS_PREFIX}${jobId}/`;
}

/** The tag keys every resource of a job carries. */
export const FINETUNE_TAG_KEYS = {
  project: 'llmops:project',
  stack: 'llmops:stack',
  jobId: 'llmops:job-id',
  dataset: 'llmops:dataset',
} as const;

/** A SageMaker tag value: letters, digits, spaces and `_.:/=+-@`, at most 256 characters. */
export function tagValue(value: string): string {
  return value.replace(/[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu, '_').slice(0, 256);
}

/** The tags of a job's training job, model package and inference component. */
export function finetuneTags(input: {
  readonly stackName: string;
  readonly jobId: string;
  readonly dataset: { readonly name: string; readonly version: number };
}): { Key: string; Value: string }[] {
  return [
    { Key: FINETUNE_TAG_KEYS.project, Value: 'llmops' },
    { Key: FINETUNE_TAG_KEYS.stack, Value: tagValue(input.stackName) },
    { Key: FINETUNE_TAG_KEYS.jobId, Value: input.jobId },
    { Key: FINETUNE_TAG_KEYS.dataset, Value: tagValue(`${input.dataset.name}/${input.dataset.version}`) },
  ];
}
