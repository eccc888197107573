import * as z from 'zod/mini';
import { eventBridgeEvent, SCHEMA_VERSION } from './envelope.ts';

export const FINETUNE_REQUESTED = 'llmops.FineTuneRequested';

/** The fine-tuning recipes: supervised fine-tuning with LoRA or QLoRA adapters, or DPO with LoRA. */
export const FINETUNE_RECIPES = ['sft-lora', 'sft-qlora', 'dpo-lora'] as const;
export const finetuneRecipe = z.enum(FINETUNE_RECIPES);
export type FinetuneRecipe = z.infer<typeof finetuneRecipe>;

/** The dataset purposes a fine-tuning job trains on: SFT pairs or DPO preference triples. */
export const TRAINING_PURPOSES = ['finetune', 'preference'] as const;
export const finetunePurpose = z.enum(TRAINING_PURPOSES);
export type FinetunePurpose = z.infer<typeof finetunePurpose>;

/**
 * Job ids: `ft-` and 16 hex digits of the SHA-256 of the dataset version, recipe, base model and
 * hyperparameters (an API request adds its request id, so that asking again trains again).
 */
export const FINETUNE_JOB_ID = /^ft-[0-9a-f]{16}$/;
export const finetuneJobId = z.string().check(z.regex(FINETUNE_JOB_ID, 'must be ft- and 16 hex digits'));

/**
 * `llmops.FineTuneRequested`: `POST /v1/finetune-jobs` accepted a fine-tuning request. The dataset is
 * a registered version (`llmops.DatasetReady`); the base model, recipe and hyperparameters are left out
 * to take the profile's defaults.
 */
export const fineTuneRequestedDetail = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  jobId: finetuneJobId,
  /** The caller (the API principal), for audit. */
  requestedBy: z.string().check(z.minLength(1)),
  dataset: z.object({
    name: z.string().check(z.minLength(1)),
    version: z.number().check(z.int(), z.positive()),
  }),
  purpose: finetunePurpose,
  /** A Hugging Face model id, e.g. `meta-llama/Llama-3.1-8B-Instruct`. */
  baseModel: z.optional(z.string().check(z.minLength(1))),
  recipe: z.optional(finetuneRecipe),
  hyperparameters: z.optional(z.record(z.string(), z.number())),
});
export type FineTuneRequestedDetail = z.infer<typeof fineTuneRequestedDetail>;

export const fineTuneRequestedEvent = eventBridgeEvent(FINETUNE_REQUESTED, fineTuneRequestedDetail);
export type FineTuneRequestedEvent = z.infer<typeof fineTuneRequestedEvent>;
