import * as z from 'zod';
import { datasetReadyDetail, s3Location } from './dataset-ready.ts';
import { eventBridgeEvent, SCHEMA_VERSION } from './envelope.ts';
import { finetuneJobId, finetunePurpose, finetuneRecipe } from './finetune-requested.ts';
import { MODEL_PACKAGE_ARN, MODEL_PACKAGE_GROUP_NAME } from './sagemaker-model-package-state-change.ts';

export const MODEL_REGISTERED = 'llmops.ModelRegistered';

/** A model catalog id, as the catalog spells them (`contracts/models/catalog.ts`). */
export const catalogModelId = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,99}$/);

/**
 * `llmops.ModelRegistered`: a fine-tuning job trained an adapter and it is registered as a model
 * package version (pending approval) and in the catalog as a candidate. `metrics` are the training
 * job's final metrics (empty when none were captured); `placeholder` is true only for the artifact the
 * local stand-in writes instead of training, which must never be promoted.
 */
export const modelRegisteredDetail = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  jobId: finetuneJobId,
  modelPackageArn: z.string().regex(MODEL_PACKAGE_ARN),
  modelPackageGroup: z.string().regex(MODEL_PACKAGE_GROUP_NAME),
  modelPackageVersion: z.number().int().min(1),
  /** The catalog id the candidate is served under. */
  candidateModel: catalogModelId,
  /** The Hugging Face id of the base model the adapter was trained on. */
  baseModel: z.string().min(1),
  recipe: finetuneRecipe,
  dataset: z.object({
    name: datasetReadyDetail.shape.name,
    version: datasetReadyDetail.shape.version,
    purpose: finetunePurpose,
    contentHash: datasetReadyDetail.shape.contentHash,
  }),
  trainingJob: z.object({
    name: z.string().min(1).max(63),
    arn: z.string().min(1),
    /** Null when SageMaker did not report it (the local stand-in). */
    billableSeconds: z.number().int().nonnegative().nullable(),
    spot: z.boolean(),
  }),
  metrics: z.record(z.string(), z.number()),
  artifact: s3Location,
  placeholder: z.boolean(),
});
export type ModelRegisteredDetail = z.infer<typeof modelRegisteredDetail>;

export const modelRegisteredEvent = eventBridgeEvent(MODEL_REGISTERED, modelRegisteredDetail);
export type ModelRegisteredEvent = z.infer<typeof modelRegisteredEvent>;
