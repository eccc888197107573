import * as z from 'zod/mini';
import { SUITE_NAME } from '../evaluation/suite.ts';

/**
 * A model in the catalog: who serves it, what it can do, what it costs. Seeded from the profile's
 * configuration into DynamoDB, edited by admins through the API, and scored by evaluations.
 */
export const modelFeature = z.enum(['streaming', 'toolUse', 'systemPrompt']);
export type ModelFeature = z.infer<typeof modelFeature>;

/**
 * The latest evaluation of a model on one suite: the run's primary metric (`f1` when the run has it),
 * its value in [0, 1] (higher is better), the 95% bootstrap interval, how many items it was computed on,
 * the run, and when the run completed (ISO 8601, UTC). Written by the evaluation pipeline
 * (`ModelCatalog.recordEvaluation`); a score older than the stored one for the suite is ignored.
 */
export const catalogEvaluation = z.object({
  metric: z.string().check(z.minLength(1)),
  value: z.number().check(z.gte(0), z.lte(1)),
  /** 95% interval `[low, high]`; `[0, 1]` where the run could not bound it. */
  ci: z
    .tuple([z.number(), z.number()])
    .check(z.refine(([low, high]) => low <= high, 'must be [low, high] with low <= high')),
  n: z.int().check(z.nonnegative()),
  runId: z.string().check(z.minLength(1)),
  at: z.iso.datetime({ error: 'must be an ISO 8601 date-time in UTC' }),
});
export type CatalogEvaluation = z.infer<typeof catalogEvaluation>;

/** Suite names as the evaluation suites spell them. */
export const catalogSuiteName = z
  .string()
  .check(z.regex(SUITE_NAME, 'must be 1-64 lowercase letters, digits, "_" or "-"'));

/** Catalog ids as API callers and prompts spell them, e.g. `claude-haiku-4-5` or `offline-extractive`. */
export const catalogModelId = z
  .string()
  .check(z.regex(/^[a-z0-9][a-z0-9._-]{0,99}$/, 'must be 1-100 lowercase letters, digits, ".", "_" or "-"'));

/**
 * A candidate answering a share of a (SageMaker) model's calls during a rollout: same endpoint
 * (`modelId`), the candidate's own inference component. Written when the canary starts and cleared
 * when it ends by the rollout pipeline (`ModelCatalog.startCanary` / `clearCanary`), never by a seed
 * or an admin edit (`PUT /v1/models/{id}` refuses it, and an edit without it keeps the stored one). `calls` and `errors` count the calls the candidate answered during this rollout
 * (`rolloutId`); the gateway adds to them, the rollout's check reads them.
 */
export const catalogCanary = z.object({
  /** Catalog id of the candidate (its own entry, with its `lineage`). */
  model: catalogModelId,
  /** The candidate's inference component on this model's endpoint. */
  inferenceComponent: z.string().check(z.minLength(1)),
  /** Share of this model's calls the candidate answers: chosen by a hash of the request id. */
  share: z.number().check(z.gt(0), z.lte(1)),
  /** The rollout this canary belongs to: counters are only added while it is the stored one. */
  rolloutId: z.string().check(z.minLength(1), z.maxLength(128)),
  /** Calls the candidate answered (failures included). */
  calls: z.int().check(z.nonnegative()),
  /** Of those, calls that failed. */
  errors: z.int().check(z.nonnegative()),
});
export type CatalogCanary = z.infer<typeof catalogCanary>;

/** Where a fine-tuned model comes from: the training job, its model package, base model, recipe and data. */
export const catalogLineage = z.object({
  jobId: z.string().check(z.minLength(1)),
  modelPackageArn: z.string().check(z.minLength(1)),
  /** Catalog id (or hub id) of the base model that was fine-tuned. */
  baseModel: z.string().check(z.minLength(1)),
  /** The training recipe, e.g. `sft-lora` or `dpo`. */
  recipe: z.string().check(z.minLength(1)),
  /** The dataset version trained on (dataset registry name and version). */
  dataset: z.object({ name: z.string().check(z.minLength(1)), version: z.string().check(z.minLength(1)) }),
  /** True for a placeholder model (no real training: the local run or a dry run). */
  placeholder: z.boolean(),
});
export type CatalogLineage = z.infer<typeof catalogLineage>;

export const catalogModel = z.object({
  /** Catalog id used by API callers and prompts, e.g. `claude-haiku-4-5` or `offline-extractive`. */
  id: catalogModelId,
  provider: z.enum(['bedrock', 'sagemaker', 'offline']),
  /** Bedrock model id or inference profile; SageMaker endpoint name; offline model name. */
  modelId: z.string().check(z.minLength(1)),
  /** SageMaker only: inference component on a shared endpoint. */
  inferenceComponent: z.optional(z.string().check(z.minLength(1))),
  kind: z.enum(['chat', 'embedding']),
  contextWindow: z.number().check(z.int(), z.positive()),
  maxOutputTokens: z.number().check(z.int(), z.nonnegative()),
  /** Embedding models: output dimension. */
  dimensions: z.optional(z.number().check(z.int(), z.positive())),
  pricePer1kInputUsd: z.number().check(z.nonnegative()),
  pricePer1kOutputUsd: z.number().check(z.nonnegative()),
  features: z.array(modelFeature),
  regions: z.array(z.string().check(z.minLength(1))),
  status: z.enum(['active', 'deprecated']),
  /**
   * The most recent evaluation score in [0, 1], whatever the suite: the value of the last evaluation
   * recorded in `evaluations` (or of `ModelCatalog.setEvaluationScore`). Kept for existing callers
   * (`minEvaluationScore`); absent until evaluated. Prefer `evaluations`, which says what was measured.
   */
  evaluationScore: z.optional(z.number().check(z.gte(0), z.lte(1))),
  /**
   * The latest evaluation on each suite, by suite name (see {@link catalogEvaluation}); absent until the
   * model is evaluated. `POST /v1/models/select` with `rankBy` ranks models by it. Like
   * `evaluationScore`, it belongs to the evaluation pipeline: a seed or an admin edit that leaves it out
   * keeps the stored evaluations.
   */
  evaluations: z.optional(z.record(catalogSuiteName, catalogEvaluation)),
  description: z.optional(z.string()),
  /**
   * SageMaker models: a catalog chat model that answers instead while this model has no capacity (its
   * inference component scaled to zero and scaling out). The answer says so (`served.fallbackFrom`).
   * Absent: such a call is answered 503 with `Retry-After`.
   */
  fallback: z.optional(catalogModelId),
  /** A rollout in progress (see {@link catalogCanary}); the rollout pipeline's, absent otherwise. */
  canary: z.optional(catalogCanary),
  /** Fine-tuned models: where the model comes from (see {@link catalogLineage}). */
  lineage: z.optional(catalogLineage),
});
export type CatalogModel = z.infer<typeof catalogModel>;
