import * as z from 'zod/mini';

/**
 * A model in the catalog: who serves it, what it can do, what it costs. Seeded from the profile's
 * configuration into DynamoDB, edited by admins through the API, and scored by evaluations.
 */
export const modelFeature = z.enum(['streaming', 'toolUse', 'systemPrompt']);
export type ModelFeature = z.infer<typeof modelFeature>;

export const catalogModel = z.object({
  /** Catalog id used by API callers and prompts, e.g. `claude-haiku-4-5` or `offline-extractive`. */
  id: z
    .string()
    .check(
      z.regex(/^[a-z0-9][a-z0-9._-]{0,99}$/, 'must be 1-100 lowercase letters, digits, ".", "_" or "-"'),
    ),
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
  /** Latest evaluation score in [0, 1], written by the evaluation pipeline; absent until evaluated. */
  evaluationScore: z.optional(z.number().check(z.gte(0), z.lte(1))),
  description: z.optional(z.string()),
});
export type CatalogModel = z.infer<typeof catalogModel>;
