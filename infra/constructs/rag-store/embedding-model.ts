/**
 * The embedding model of the configuration: the store's index is made for its dimension, and ingestion
 * and retrieval embed with it, so all three read it from the store.
 */
import type { CatalogModel } from '#contracts/models/catalog.ts';
import type { AppConfig } from '#infra/config/index.ts';

/** A catalog model of kind `embedding`, with its dimension. */
export type EmbeddingModel = CatalogModel & { readonly dimensions: number };

/**
 * The model `models.embeddingModelId` names in `models.catalog`.
 *
 * @throws Error when it is not in the catalog, or not an embedding model with dimensions
 */
export function embeddingModel(models: AppConfig['models']): EmbeddingModel {
  const id = models.embeddingModelId;
  const model = models.catalog.find((m) => m.id === id);
  if (!model) throw new Error(`RagVectorStore: the embedding model "${id}" is not in models.catalog`);
  if (model.kind !== 'embedding' || model.dimensions === undefined) {
    throw new Error(`RagVectorStore: "${id}" must be an embedding model with dimensions`);
  }
  return { ...model, dimensions: model.dimensions };
}
