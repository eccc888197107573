import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../clients.ts';
import { createCandidateCatalog } from './candidates.ts';
import { DynamoFinetuneJobStore } from './job-store.ts';
import { createSageMakerClient, ModelRegistry } from './model-registry.ts';
import { readFinetuneSettings } from './settings.ts';

/** The variables every function of the fine-tuning pipeline reads its shared dependencies from. */
export interface FinetuneEnvironment {
  readonly FINETUNE_TABLE: string;
  readonly CATALOG_TABLE: string;
  readonly FINETUNE_SETTINGS: string;
  readonly STACK_NAME: string;
}

/**
 * What the fine-tuning functions share, made once at cold start from their environment: the jobs
 * store, the model registry (SageMaker), the pipeline's catalog, the settings and the stack name.
 */
export function finetuneDeps(
  env: FinetuneEnvironment,
  documents: DynamoDBDocumentClient = createDocumentClient(),
) {
  return {
    store: new DynamoFinetuneJobStore(documents, env.FINETUNE_TABLE),
    registry: new ModelRegistry(createSageMakerClient()),
    catalog: createCandidateCatalog(documents, env.CATALOG_TABLE),
    settings: readFinetuneSettings(env.FINETUNE_SETTINGS),
    stackName: env.STACK_NAME,
  };
}
