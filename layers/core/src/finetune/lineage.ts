import { FINETUNE_LINEAGE_PREFIX } from '#contracts/storage-layout.ts';
import { plainDecimal, type S3Ref } from './plan.ts';

/**
 * A fine-tuned model's lineage: where it comes from (dataset version, base model, recipe,
 * hyperparameters, training job) and where it is served (candidate catalog id, inference component).
 * The whole of it is a JSON document in the artifacts bucket (`finetune/lineage/<jobId>.json`, the
 * model package's `ModelMetrics.ModelQuality.Statistics`); the model package's
 * `CustomerMetadataProperties` carry the fields one filters and reads by in the console.
 */
export interface Lineage {
  readonly jobId: string;
  readonly dataset: {
    readonly name: string;
    readonly version: number;
    readonly purpose: string;
    readonly contentHash: string;
  };
  /** The base model's Hugging Face id. */
  readonly baseModel: string;
  readonly recipe: string;
  readonly hyperparameters: Readonly<Record<string, number>>;
  readonly trainingJob: {
    readonly name: string;
    readonly arn: string;
    readonly spot: boolean;
    readonly billableSeconds: number | null;
    readonly metrics: Readonly<Record<string, number>>;
  };
  readonly artifact: S3Ref;
  /** The model line apps call (what a rollout moves). */
  readonly servedModel: string;
  /** The catalog id the candidate is served under (absent until its package version is known). */
  readonly candidateModel?: string | undefined;
  readonly inferenceComponent: string;
  readonly modelPackageGroup: string;
  readonly modelPackageArn?: string | undefined;
  /** True for the local stand-in's artifact: not a model, never to be promoted. */
  readonly placeholder: boolean;
  readonly createdAt: string;
}

/** The lineage document's format version. */
export const LINEAGE_SCHEMA_VERSION = '1.0';

/** SageMaker's limits on `CustomerMetadataProperties`. */
export const CUSTOMER_METADATA_LIMITS = { entries: 50, keyChars: 128, valueChars: 256 } as const;

/** Where a job's lineage document lies in the artifacts bucket. */
export function lineageKeyOf(jobId: string): string {
  return `${FINETUNE_LINEAGE_PREFIX}${jobId}.json`;
}

/** The lineage document as written to S3. */
export function lineageDocument(lineage: Lineage): Record<string, unknown> {
  return {
    schemaVersion: LINEAGE_SCHEMA_VERSION,
    ...lineage,
    candidateModel: lineage.candidateModel ?? null,
    modelPackageArn: lineage.modelPackageArn ?? null,
  };
}

/**
 * A metadata value SageMaker accepts: its pattern allows letters, digits, spaces and `_.:/=+-@` only
 * (so no JSON), at most 256 characters. Other characters become `_`; a longer value is cut and ends
 * with `…` (one character) so that a reader sees it was cut.
 */
export function metadataValue(value: string): string {
  const safe = value.replace(/[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu, '_');
  const chars = [...safe];
  if (chars.length <= CUSTOMER_METADATA_LIMITS.valueChars) return safe;
  return `${chars.slice(0, CUSTOMER_METADATA_LIMITS.valueChars - 1).join('')}…`;
}

/**
 * Hyperparameters as metadata: `name=value` pairs separated by spaces, sorted by name (JSON is not a
 * value SageMaker accepts). Up to 256 characters in `hyperparameters`; a longer list is split at pair
 * boundaries into `hyperparameters.1`, `hyperparameters.2`, … (read them in order and join with a space).
 */
export function hyperparameterEntries(
  hyperparameters: Readonly<Record<string, number>>,
): Record<string, string> {
  const pairs = Object.keys(hyperparameters)
    .sort()
    .map((name) => metadataValue(`${name}=${plainDecimal(hyperparameters[name] as number)}`));
  const whole = pairs.join(' ');
  if (whole.length <= CUSTOMER_METADATA_LIMITS.valueChars) return { hyperparameters: whole };
  const parts: string[] = [];
  let current = '';
  for (const pair of pairs) {
    const next = current === '' ? pair : `${current} ${pair}`;
    if (next.length > CUSTOMER_METADATA_LIMITS.valueChars && current !== '') {
      parts.push(current);
      current = pair;
    } else {
      current = next;
    }
  }
  if (current !== '') parts.push(current);
  return Object.fromEntries(parts.map((part, i) => [`hyperparameters.${i + 1}`, part]));
}

/**
 * The model package's `CustomerMetadataProperties`: at most 50 entries, keys of at most 128 characters,
 * values within SageMaker's pattern and 256 characters. `jobId` is how the gate finds the job of a
 * package whose approval changed in the console.
 */
export function customerMetadataOf(lineage: Lineage): Record<string, string> {
  const entries: Record<string, string> = {
    jobId: lineage.jobId,
    datasetName: lineage.dataset.name,
    datasetVersion: String(lineage.dataset.version),
    datasetPurpose: lineage.dataset.purpose,
    contentHash: lineage.dataset.contentHash,
    baseModel: lineage.baseModel,
    recipe: lineage.recipe,
    trainingJobName: lineage.trainingJob.name,
    servedModel: lineage.servedModel,
    inferenceComponent: lineage.inferenceComponent,
    placeholder: String(lineage.placeholder),
    ...(lineage.candidateModel !== undefined ? { candidateModel: lineage.candidateModel } : {}),
  };
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(entries)) out[key] = metadataValue(value);
  for (const [key, value] of Object.entries(hyperparameterEntries(lineage.hyperparameters))) {
    if (Object.keys(out).length >= CUSTOMER_METADATA_LIMITS.entries) break;
    out[key] = value;
  }
  return out;
}
