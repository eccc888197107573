import * as z from 'zod/mini';
import { FINETUNE_JOB_ID, FINETUNE_RECIPES, TRAINING_PURPOSES } from '#events/finetune-requested.ts';

export { FINETUNE_JOB_ID, FINETUNE_RECIPES, TRAINING_PURPOSES };

/**
 * Fine-tuning jobs: what a caller may ask for (`POST /v1/finetune-jobs`), the recipes and the
 * hyperparameters the training script accepts, the job record the pipeline keeps, and an approval.
 * The FineTune and Rollout state machines, the fine-tuning routes, the local runner and the training
 * script (`functions/finetune/train/llmops_train/args.py`, which checks the same names and ranges) share
 * these shapes.
 */

/**
 * Every recipe trains a LoRA adapter for the served base model: supervised fine-tuning with LoRA, with
 * QLoRA (4-bit base while training, the same adapter format), or DPO with LoRA on preference pairs.
 * Adapters are served as adapter inference components on the base model's component.
 */
export const finetuneRecipe = z.enum(FINETUNE_RECIPES);
export type FinetuneRecipe = z.infer<typeof finetuneRecipe>;

/** The dataset purposes that train, and the recipes each can use. */
export const trainingPurpose = z.enum(TRAINING_PURPOSES);
export type TrainingPurpose = z.infer<typeof trainingPurpose>;
export const RECIPES_BY_PURPOSE: Readonly<Record<TrainingPurpose, readonly FinetuneRecipe[]>> = {
  finetune: ['sft-lora', 'sft-qlora'],
  preference: ['dpo-lora'],
};

/**
 * The largest LoRA rank the serving endpoint loads: vLLM's `max_lora_rank` on the base model
 * (`SM_VLLM_MAX_LORA_RANK`, set from this constant by `infra/constructs/llm-serving.ts`). A higher
 * `lora_r` would train, and bill, an adapter no copy can load, so the API refuses it and the training
 * script (`MAX_LORA_RANK` in `llmops_train/args.py`) checks the same number. Raising it reserves more
 * GPU memory per adapter slot on every copy (vLLM sizes its LoRA buffers by the maximum rank).
 */
export const MAX_LORA_RANK = 64;

/** One hyperparameter: its kind and inclusive range (`gt`: strictly above `min`). */
interface HyperparameterRule {
  readonly kind: 'int' | 'float';
  readonly min: number;
  readonly max: number;
  readonly gt?: boolean;
  /** `max` excluded (`lora_dropout` < 1). */
  readonly lt?: boolean;
  /** Why the range ends where it does, added to the refusal. */
  readonly why?: string;
}

/**
 * The hyperparameters a request or a profile may set, with their ranges. The script adds `base_model`,
 * `recipe` and the SageMaker entries itself; an unknown name is refused here and by the script.
 */
export const HYPERPARAMETER_RULES = {
  epochs: { kind: 'float', min: 0, max: 100, gt: true },
  learning_rate: { kind: 'float', min: 0, max: 1, gt: true },
  per_device_train_batch_size: { kind: 'int', min: 1, max: 256 },
  gradient_accumulation_steps: { kind: 'int', min: 1, max: 1024 },
  max_seq_length: { kind: 'int', min: 16, max: 131_072 },
  lora_r: {
    kind: 'int',
    min: 1,
    max: MAX_LORA_RANK,
    why: 'the largest LoRA rank the serving endpoint loads',
  },
  lora_alpha: { kind: 'int', min: 1, max: 1024 },
  lora_dropout: { kind: 'float', min: 0, max: 1, lt: true },
  dpo_beta: { kind: 'float', min: 0, max: 10, gt: true },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1 },
  save_steps: { kind: 'int', min: 1, max: 1_000_000 },
  logging_steps: { kind: 'int', min: 1, max: 1_000_000 },
  max_steps: { kind: 'int', min: -1, max: 10_000_000 },
} as const satisfies Record<string, HyperparameterRule>;
export type HyperparameterName = keyof typeof HYPERPARAMETER_RULES;
export type Hyperparameters = Partial<Record<HyperparameterName, number>>;

/** Names the problem with one hyperparameter value, or `undefined` when it is in range. */
export function hyperparameterProblem(name: string, value: unknown): string | undefined {
  const rule = (HYPERPARAMETER_RULES as Record<string, HyperparameterRule>)[name];
  if (rule === undefined) {
    return `"${name}" is not a hyperparameter the training script accepts (${Object.keys(HYPERPARAMETER_RULES).join(', ')})`;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return `"${name}" must be a number`;
  if (rule.kind === 'int' && !Number.isInteger(value)) return `"${name}" must be an integer`;
  const low = rule.gt ? value <= rule.min : value < rule.min;
  const high = rule.lt ? value >= rule.max : value > rule.max;
  if (low || high) {
    const why = rule.why === undefined ? '' : ` (${rule.why})`;
    return `"${name}" must be ${rule.gt ? 'above' : 'at least'} ${rule.min} and ${rule.lt ? 'below' : 'at most'} ${rule.max}${why}, got ${value}`;
  }
  return undefined;
}

/** Hyperparameters as a request or a profile gives them: every name known, every value in range. */
export const hyperparameters = z.record(z.string(), z.number()).check(
  z.superRefine((values, ctx) => {
    for (const [name, value] of Object.entries(values)) {
      const problem = hyperparameterProblem(name, value);
      if (problem !== undefined)
        ctx.issues.push({ code: 'custom', message: problem, input: value, path: [name] });
    }
  }),
);

/** Dataset names as DataPrep registers them. */
export const DATASET_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** `POST /v1/finetune-jobs`: train on a registered dataset version. */
export const finetuneJobRequest = z.strictObject({
  dataset: z.strictObject({
    name: z
      .string()
      .check(z.regex(DATASET_NAME, 'must be a dataset name: 1-64 lowercase letters, digits, "_" or "-"')),
    /** Default: the latest registered version. */
    version: z.optional(z.int().check(z.positive())),
  }),
  /** Default: the profile's base model (the one the endpoint serves; adapters need it). */
  baseModel: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
  /** Default: the profile's recipe for the dataset's purpose. */
  recipe: z.optional(finetuneRecipe),
  /** Over the profile's hyperparameters. */
  hyperparameters: z.optional(hyperparameters),
});
export type FinetuneJobRequest = z.infer<typeof finetuneJobRequest>;

/** Where a job is; `failed` and `rejected` and `rolled_back` and `deployed` are final. */
export const FINETUNE_JOB_STATUSES = [
  'training',
  'registered',
  'evaluating',
  'awaiting_approval',
  'approved',
  'rejected',
  'deploying',
  'deployed',
  'rolled_back',
  'failed',
] as const;
export const finetuneJobStatus = z.enum(FINETUNE_JOB_STATUSES);
export type FinetuneJobStatus = z.infer<typeof finetuneJobStatus>;

/** An approval decision on a candidate (`POST /v1/finetune-jobs/{id}/approval`, admins only). */
export const approvalRequest = z.strictObject({
  decision: z.enum(['approve', 'reject']),
  reason: z.string().check(z.minLength(1), z.maxLength(500)),
});
export type ApprovalRequest = z.infer<typeof approvalRequest>;

/** The job record the pipeline keeps and `GET /v1/finetune-jobs/{id}` returns. */
export const finetuneJob = z.object({
  jobId: z.string().check(z.regex(FINETUNE_JOB_ID)),
  status: finetuneJobStatus,
  trigger: z.enum(['dataset', 'api']),
  requestedBy: z.string(),
  dataset: z.object({
    name: z.string(),
    version: z.int(),
    purpose: trainingPurpose,
    contentHash: z.string(),
  }),
  baseModel: z.string(),
  recipe: finetuneRecipe,
  hyperparameters: z.record(z.string(), z.number()),
  trainingJob: z.object({
    name: z.string(),
    arn: z.optional(z.string()),
    /** SageMaker's status and secondary status while it trains (`InProgress` / `Training`, `Interrupted`, ...). */
    state: z.optional(z.string()),
    secondaryStatus: z.optional(z.string()),
    spot: z.boolean(),
    billableSeconds: z.optional(z.nullable(z.int())),
    metrics: z.optional(z.record(z.string(), z.number())),
  }),
  modelPackageArn: z.optional(z.string()),
  /** The catalog id the candidate is served under. */
  candidateModel: z.optional(z.string()),
  evaluation: z.optional(
    z.object({
      /** The gate's run (`candidate-<jobId>`): its verdict decides. */
      runId: z.string(),
      pass: z.optional(z.nullable(z.boolean())),
      report: z.optional(z.string()),
      /**
       * A candidate trained on feedback: its run on the held-out feedback prompts
       * (`candidate-<jobId>-holdout`), whose win rate against production informs and never gates.
       */
      winRateRunId: z.optional(z.string()),
    }),
  ),
  approval: z.optional(
    z.object({ decision: z.enum(['approve', 'reject']), by: z.string(), reason: z.string(), at: z.string() }),
  ),
  rollout: z.optional(
    z.object({
      rolloutId: z.string(),
      outcome: z.optional(z.enum(['promoted', 'rolled_back'])),
      reason: z.optional(z.string()),
    }),
  ),
  failure: z.optional(z.object({ error: z.string(), cause: z.string() })),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type FinetuneJob = z.infer<typeof finetuneJob>;
