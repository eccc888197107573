import * as z from 'zod';
import { eventBridgeEvent, SCHEMA_VERSION } from './envelope.ts';
import { catalogModelId } from './model-registered.ts';
import { MODEL_PACKAGE_ARN } from './sagemaker-model-package-state-change.ts';

export const MODEL_DEPLOYED = 'llmops.ModelDeployed';

/**
 * `llmops.ModelDeployed`: a canary rollout of an approved candidate ended, either promoted (the alias
 * now serves the candidate) or rolled back (the alias still serves `previous`). `canary` is what the
 * bake observed on the candidate's share of traffic, `breaches` the alarms that fired during it;
 * `verified` is the inference component read back from SageMaker after the rollout, and `matches` whether
 * it serves the expected artifact.
 */
export const modelDeployedDetail = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  rolloutId: z.string().min(1),
  /** The catalog alias that serves, e.g. `support-assistant`. */
  model: catalogModelId,
  candidate: z.object({
    model: catalogModelId,
    modelPackageArn: z.string().regex(MODEL_PACKAGE_ARN),
    inferenceComponent: z.string().min(1),
  }),
  /** What the alias served before; null on the first rollout. */
  previous: z
    .object({ model: catalogModelId.optional(), inferenceComponent: z.string().min(1).optional() })
    .nullable(),
  outcome: z.enum(['promoted', 'rolled_back']),
  reason: z.string(),
  canary: z.object({
    /** The candidate's share of traffic during the bake, in [0, 1]. */
    share: z.number().min(0).max(1),
    bakeSeconds: z.number().int().nonnegative(),
    calls: z.number().int().nonnegative(),
    errors: z.number().int().nonnegative(),
    breaches: z.array(z.string().min(1)),
  }),
  verified: z.object({
    inferenceComponent: z.string(),
    status: z.string(),
    artifactUrl: z.string().nullable(),
    matches: z.boolean(),
  }),
  /** The SageMaker endpoint the inference components share. */
  endpoint: z.string().min(1),
});
export type ModelDeployedDetail = z.infer<typeof modelDeployedDetail>;

export const modelDeployedEvent = eventBridgeEvent(MODEL_DEPLOYED, modelDeployedDetail);
export type ModelDeployedEvent = z.infer<typeof modelDeployedEvent>;
