/**
 * The fine-tuning and serving settings of a profile: the base model the GPU endpoint serves, the
 * training job (container, instance, spot, limits), the gate a candidate must pass, the endpoint's
 * capacity and scaling, and the canary. Container images are per region and version: AWS Deep
 * Learning Containers live in one registry account per region, so the stack maps the deploying region
 * to its registry (a region missing from {@link DLC_REGISTRIES} fails the deployment, not a guess).
 */
import { z } from 'zod';
import { SUITE_NAME } from '#contracts/evaluation/suite.ts';
import { FINETUNE_RECIPES, hyperparameters, RECIPES_BY_PURPOSE } from '#contracts/finetune/job.ts';
import { catalogModelId } from '#contracts/models/catalog.ts';

const positiveInt = z.number().int().positive();

/**
 * The registry account of the AWS Deep Learning Containers in each region where the SageMaker GPU
 * instances of the profiles exist (from the SageMaker Python SDK's image configuration).
 */
export const DLC_REGISTRIES: Readonly<Record<string, string>> = {
  'us-east-1': '763104351884',
  'us-east-2': '763104351884',
  'us-west-2': '763104351884',
  'ca-central-1': '763104351884',
  'eu-west-1': '763104351884',
  'eu-west-2': '763104351884',
  'eu-central-1': '763104351884',
  'eu-north-1': '763104351884',
  'ap-northeast-1': '763104351884',
  'ap-southeast-1': '763104351884',
  'ap-southeast-2': '763104351884',
  'ap-south-1': '763104351884',
};

/** An image of the Deep Learning Containers registry: repository and tag (the registry is per region). */
const imageSchema = z.strictObject({
  repository: z.string().regex(/^[a-z0-9][a-z0-9._/-]{0,255}$/, 'must be an ECR repository name'),
  tag: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'must be an image tag'),
});

export const fineTuningSchema = z
  .object({
    /** Off (`-c fineTuning=false`): no training pipeline, registry, endpoint or rollout is deployed. */
    enabled: z.boolean(),
    /** The catalog id apps call for the fine-tuned model line; a rollout moves what it serves. */
    servedModel: catalogModelId,
    baseModel: z.strictObject({
      /** The catalog id of the base model as the endpoint serves it. */
      catalogId: catalogModelId,
      /** The open-weight model (Hugging Face id) trained on and served. */
      hfModelId: z
        .string()
        .regex(/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/, 'must be a Hugging Face model id (org/name)'),
      contextWindow: positiveInt,
      maxOutputTokens: positiveInt,
    }),
    /** The recipe of each training purpose when a request does not name one. */
    recipes: z.strictObject({
      finetune: z.enum(FINETUNE_RECIPES),
      preference: z.enum(FINETUNE_RECIPES),
    }),
    /** The profile's hyperparameters; a request's own win. */
    hyperparameters,
    training: z.strictObject({
      image: imageSchema,
      /** A GPU training instance type (`ml.g5.2xlarge` class). */
      instanceType: z
        .string()
        .regex(/^ml\.[a-z0-9]+\.[a-z0-9]+$/, 'must be a SageMaker instance type (ml.<family>.<size>)'),
      volumeSizeGb: positiveInt.max(16_384),
      /** Managed spot training (checkpoints to S3, resumed after an interruption). */
      spot: z.boolean(),
      maxRuntimeHours: z
        .number()
        .positive()
        .max(28 * 24),
      /** Spot only: the most the job may take, waiting for capacity included (at least the runtime). */
      maxWaitHours: z
        .number()
        .positive()
        .max(28 * 24),
      /** List prices per instance-hour in US dollars, for the cost shown in the README and the job record. */
      onDemandPricePerHourUsd: z.number().positive(),
      spotPricePerHourUsd: z.number().positive(),
    }),
    /** The evaluation a candidate must pass against the model in production. */
    gate: z.strictObject({
      suite: z.string().regex(SUITE_NAME, 'must be a suite name'),
      maxItems: positiveInt.max(2000),
      k: positiveInt.max(5),
      /** `auto`: a pass approves the model package; `manual`: an admin approves through the API or console. */
      approval: z.enum(['auto', 'manual']),
      /** Longest wait for the candidate's inference component to come into service. */
      readyTimeoutMinutes: positiveInt.max(120),
    }),
    serving: z.strictObject({
      image: imageSchema,
      instanceType: z
        .string()
        .regex(/^ml\.[a-z0-9]+\.[a-z0-9]+$/, 'must be a SageMaker instance type (ml.<family>.<size>)'),
      /** Managed instance scaling: 0 lets the endpoint hold no instance while nothing is called. */
      minInstances: z.number().int().min(0).max(100),
      maxInstances: positiveInt.max(100),
      /** Copies of the base model's inference component: 0 scales to zero. */
      minCopies: z.number().int().min(0).max(100),
      maxCopies: positiveInt.max(100),
      acceleratorsPerCopy: positiveInt.max(8),
      memoryPerCopyMb: positiveInt.min(1024),
      /** Target tracking on concurrent requests per copy. */
      targetConcurrentRequestsPerCopy: positiveInt.max(1000),
      /** Minutes without calls before the copies scale in (to zero in dev). */
      scaleInCooldownMinutes: positiveInt.max(1440),
      /** `Retry-After` of a 503 answered while the component has no copy (scale-out from zero takes minutes). */
      retryAfterSeconds: positiveInt.max(3600),
      /** A catalog chat model that answers instead while there is no capacity (labelled in the answer). */
      fallbackModel: z.optional(catalogModelId),
      onDemandPricePerHourUsd: z.number().positive(),
    }),
    canary: z.strictObject({
      /** Share of the served model's calls the candidate answers during the bake. */
      share: z.number().gt(0).max(0.5),
      bakeMinutes: positiveInt.max(24 * 60),
      checkMinutes: positiveInt.max(60),
      /** Calls the candidate must answer before it may be promoted (0: promote on a quiet bake). */
      minCalls: z.number().int().min(0),
      /** Rolled back above these: the candidate's error rate, p90 latency and guardrail intervention rate. */
      maxErrorRate: z.number().gt(0).max(1),
      maxLatencyP90Ms: positiveInt,
      maxGuardrailRate: z.number().gt(0).max(1),
    }),
  })
  .superRefine((f, ctx) => {
    for (const purpose of ['finetune', 'preference'] as const) {
      if (!RECIPES_BY_PURPOSE[purpose].includes(f.recipes[purpose])) {
        ctx.addIssue({
          code: 'custom',
          path: ['recipes', purpose],
          message: `must be one of ${RECIPES_BY_PURPOSE[purpose].join(', ')} for ${purpose} data`,
        });
      }
    }
    if (f.training.spot && f.training.maxWaitHours < f.training.maxRuntimeHours) {
      ctx.addIssue({
        code: 'custom',
        path: ['training', 'maxWaitHours'],
        message: 'must be at least training.maxRuntimeHours (SageMaker refuses a MaxWait below MaxRuntime)',
      });
    }
    const s = f.serving;
    if (s.minCopies > s.maxCopies) {
      ctx.addIssue({
        code: 'custom',
        path: ['serving', 'minCopies'],
        message: 'must not exceed serving.maxCopies',
      });
    }
    if (s.minInstances > s.maxInstances) {
      ctx.addIssue({
        code: 'custom',
        path: ['serving', 'minInstances'],
        message: 'must not exceed serving.maxInstances',
      });
    }
    if (s.minInstances === 0 && s.minCopies > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['serving', 'minInstances'],
        message: 'must be at least 1 while serving.minCopies is above 0 (a copy needs an instance)',
      });
    }
    if (f.servedModel === f.baseModel.catalogId) {
      ctx.addIssue({
        code: 'custom',
        path: ['servedModel'],
        message: 'must differ from baseModel.catalogId',
      });
    }
    if (f.canary.checkMinutes > f.canary.bakeMinutes) {
      ctx.addIssue({
        code: 'custom',
        path: ['canary', 'checkMinutes'],
        message: 'must not exceed canary.bakeMinutes',
      });
    }
  });

export type FineTuningConfig = z.infer<typeof fineTuningSchema>;

/** The Hugging Face PyTorch training container (Transformers, TRL, PEFT) and the vLLM serving container for SageMaker. */
export const TRAINING_IMAGE = {
  repository: 'huggingface-pytorch-training',
  tag: '2.7.1-transformers4.55.0-gpu-py312-cu128-ubuntu22.04',
} as const;
export const SERVING_IMAGE = { repository: 'vllm', tag: 'server-sagemaker-cuda-v1' } as const;
