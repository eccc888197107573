import { DeleteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CatalogLineage, CatalogModel } from '#contracts/models/catalog.ts';
import { isConditionFailure } from '../dynamo-items.ts';
import { logger } from '../logging.ts';
import { ModelCatalog } from '../model-catalog.ts';
import type { ModelRegistry } from './model-registry.ts';
import type { FinetuneSettings } from './settings.ts';

/**
 * A fine-tuned candidate in the catalog and on the endpoint: the catalog entries the pipeline writes
 * (the base model's, once; each candidate's, with its lineage) and the clean-up of a candidate that
 * failed or was rejected (its adapter component and its entry), so that nothing unapproved stays served.
 */

/** Who the pipeline's catalog writes are by. */
export const FINETUNE_AUTHOR = 'finetune';

const SAGEMAKER_PRICE_NOTE =
  'billed per instance-hour of the SageMaker endpoint, not per token (the token prices are 0)';

/** What every entry the pipeline writes shares: the endpoint, the base model's limits, no token price. */
function endpointEntry(input: {
  readonly settings: Pick<FinetuneSettings, 'baseModel' | 'fallbackModel'>;
  readonly endpointName: string;
  readonly region: string;
}): Omit<CatalogModel, 'id' | 'inferenceComponent' | 'status' | 'description'> {
  const { baseModel, fallbackModel } = input.settings;
  return {
    provider: 'sagemaker',
    modelId: input.endpointName,
    kind: 'chat',
    contextWindow: baseModel.contextWindow,
    maxOutputTokens: baseModel.maxOutputTokens,
    pricePer1kInputUsd: 0,
    pricePer1kOutputUsd: 0,
    features: ['streaming', 'systemPrompt'],
    regions: [input.region],
    ...(fallbackModel ? { fallback: fallbackModel } : {}),
  };
}

/** The base model's catalog entry, served by the base inference component of the endpoint. */
export function baseCatalogEntry(input: {
  readonly settings: Pick<FinetuneSettings, 'baseModel' | 'fallbackModel'>;
  readonly endpointName: string;
  readonly baseComponent: string;
  readonly region: string;
}): CatalogModel {
  const { baseModel } = input.settings;
  return {
    ...endpointEntry(input),
    id: baseModel.catalogId,
    inferenceComponent: input.baseComponent,
    status: 'active',
    description: `${baseModel.hfModelId} on the fine-tuning endpoint: ${SAGEMAKER_PRICE_NOTE}`,
  };
}

/** The catalog id of a candidate: `<servedModel>-v<model package version>`. */
export function candidateModelIdOf(servedModel: string, packageVersion: number): string {
  return `${servedModel}-v${packageVersion}`;
}

/**
 * A candidate's catalog entry: its adapter component on the endpoint, and its lineage. `deprecated`
 * until a rollout promotes it, so that model selection (the cheapest active chat model: a candidate's
 * token price is 0) never sends traffic to an unapproved candidate; called by its id (the evaluation,
 * the canary) it answers as any entry does.
 */
export function candidateCatalogEntry(input: {
  readonly id: string;
  readonly settings: Pick<FinetuneSettings, 'baseModel' | 'fallbackModel'>;
  readonly endpointName: string;
  readonly inferenceComponent: string;
  readonly region: string;
  readonly lineage: CatalogLineage;
}): CatalogModel {
  const { baseModel } = input.settings;
  const { lineage } = input;
  return {
    ...endpointEntry(input),
    id: input.id,
    inferenceComponent: input.inferenceComponent,
    status: 'deprecated',
    description: `Candidate of fine-tuning job ${lineage.jobId}: ${lineage.recipe} adapter on ${baseModel.hfModelId}, trained on ${lineage.dataset.name} v${lineage.dataset.version}${lineage.placeholder ? ' (PLACEHOLDER: not a model)' : ''}; ${SAGEMAKER_PRICE_NOTE}`,
    lineage,
  };
}

/** The pipeline's catalog on a table (reads uncached: each step sees what the previous one wrote). */
export function createCandidateCatalog(documents: DynamoDBDocumentClient, table: string): CandidateCatalog {
  return new CandidateCatalog(new ModelCatalog(documents, table, { cacheTtlMs: 0 }), documents, table);
}

/** The catalog writes of the pipeline. */
export class CandidateCatalog {
  readonly #catalog: Pick<ModelCatalog, 'seed' | 'put' | 'get'>;
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(
    catalog: Pick<ModelCatalog, 'seed' | 'put' | 'get'>,
    documents: DynamoDBDocumentClient,
    table: string,
  ) {
    this.#catalog = catalog;
    this.#doc = documents;
    this.#table = table;
  }

  /** Adds an entry only where the catalog has none of its id (a conditional put: an edited one stays). */
  async ensure(model: CatalogModel): Promise<'created' | 'exists'> {
    const { written } = await this.#catalog.seed([model], { mode: 'insert' });
    return written.includes(model.id) ? 'created' : 'exists';
  }

  /** Writes a candidate's entry (a retried step writes the same entry again). */
  async putCandidate(model: CatalogModel): Promise<void> {
    await this.#catalog.put(model, FINETUNE_AUTHOR);
  }

  /** Whether the catalog has an entry of that id. */
  async has(id: string): Promise<boolean> {
    try {
      await this.#catalog.get(id);
      return true;
    } catch (error) {
      if ((error as { name?: string }).name === 'NotFoundError') return false;
      throw error;
    }
  }

  /**
   * Deletes a candidate's entry, only while it is that job's candidate (`lineage.jobId`): an entry of
   * the same id that is anything else is left alone. `absent` when there was none to delete.
   */
  async deleteCandidate(id: string, jobId: string): Promise<'deleted' | 'absent'> {
    try {
      await this.#doc.send(
        new DeleteCommand({
          TableName: this.#table,
          Key: { pk: id },
          ConditionExpression: '#lineage.#jobId = :job',
          ExpressionAttributeNames: { '#lineage': 'lineage', '#jobId': 'jobId' },
          ExpressionAttributeValues: { ':job': jobId },
        }),
      );
      return 'deleted';
    } catch (error) {
      if (isConditionFailure(error)) return 'absent';
      throw error;
    }
  }
}

/**
 * Takes a candidate off the endpoint and out of the catalog (a failed or rejected job): deletes its
 * adapter component and its catalog entry, each only where it exists.
 */
export async function retireCandidate(
  deps: {
    readonly registry: Pick<ModelRegistry, 'deleteComponent'>;
    readonly catalog: Pick<CandidateCatalog, 'deleteCandidate'>;
  },
  candidate: {
    readonly jobId: string;
    readonly inferenceComponent: string;
    readonly candidateModel?: string | undefined;
  },
): Promise<{ component: 'deleted' | 'absent'; catalog: 'deleted' | 'absent' }> {
  const component = await deps.registry.deleteComponent(candidate.inferenceComponent);
  const catalog =
    candidate.candidateModel === undefined
      ? 'absent'
      : await deps.catalog.deleteCandidate(candidate.candidateModel, candidate.jobId);
  logger.info('Candidate retired', { ...candidate, component, catalog });
  return { component, catalog };
}
