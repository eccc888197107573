import type { FinetuneSettings } from '#aws/finetune/settings.ts';

/**
 * The fine-tuning functions' environment (`functions/finetune/{plan,register,candidate,gate}.ts` and
 * `functions/api/finetune.ts`), for tests that import their handler modules (which read it at import, as
 * at a cold start). Import this module before the handler module; a test may set a variable itself first.
 */

/** `FINETUNE_SETTINGS` as the stack binds it. */
export const TEST_FINETUNE_SETTINGS: FinetuneSettings = {
  servedModel: 'support-assistant',
  baseModel: {
    catalogId: 'llama-3-1-8b-instruct',
    hfModelId: 'meta-llama/Llama-3.1-8B-Instruct',
    contextWindow: 8192,
    maxOutputTokens: 2048,
  },
  recipes: { finetune: 'sft-lora', preference: 'dpo-lora' },
  hyperparameters: { epochs: 3, learning_rate: 0.0002, lora_r: 16, dpo_beta: 0.1 },
  gate: { suite: 'support-golden', maxItems: 200, k: 3, approval: 'auto' },
  spot: true,
};

export const TEST_STACK_NAME = 'LlmOps-dev';

Object.assign(process.env, {
  FINETUNE_TABLE: process.env.FINETUNE_TABLE ?? 'finetune-test',
  DATASETS_TABLE: process.env.DATASETS_TABLE ?? 'datasets-test',
  CATALOG_TABLE: process.env.CATALOG_TABLE ?? 'catalog-test',
  CURATED_BUCKET: process.env.CURATED_BUCKET ?? 'curated-test',
  ARTIFACTS_BUCKET: process.env.ARTIFACTS_BUCKET ?? 'artifacts-test',
  EVENT_BUS_NAME: process.env.EVENT_BUS_NAME ?? 'bus-test',
  TRAINING_SOURCE_URI:
    process.env.TRAINING_SOURCE_URI ?? 's3://artifacts-test/finetune/source/sourcedir.tar.gz',
  STACK_NAME: process.env.STACK_NAME ?? TEST_STACK_NAME,
  FINETUNE_SETTINGS: process.env.FINETUNE_SETTINGS ?? JSON.stringify(TEST_FINETUNE_SETTINGS),
  MODEL_PACKAGE_GROUP: process.env.MODEL_PACKAGE_GROUP ?? 'LlmOps-dev-support-assistant',
  SERVING_IMAGE_URI:
    process.env.SERVING_IMAGE_URI ??
    '763104351884.dkr.ecr.us-east-1.amazonaws.com/vllm:server-sagemaker-cuda-v1',
  SERVING_INSTANCE_TYPE: process.env.SERVING_INSTANCE_TYPE ?? 'ml.g5.2xlarge',
  ENDPOINT_NAME: process.env.ENDPOINT_NAME ?? 'llmops-dev-endpoint',
  BASE_INFERENCE_COMPONENT: process.env.BASE_INFERENCE_COMPONENT ?? 'llmops-dev-base',
  INVOKE_TAG: process.env.INVOKE_TAG ?? `llmops:invoked-by=${TEST_STACK_NAME}`,
  MAX_REQUEST_BYTES: process.env.MAX_REQUEST_BYTES ?? '262144',
});
