/**
 * The vector store a function uses, chosen by its environment (the stack binds these variables with the
 * store's grants; the local runner sets `VECTOR_STORE_KIND=embedded`):
 *
 * - `opensearch`: `OPENSEARCH_ENDPOINT`, `OPENSEARCH_INDEX` (and `AWS_REGION`);
 * - `s3vectors`: `S3VECTORS_BUCKET`, `S3VECTORS_INDEX`;
 * - `embedded`: `VECTOR_STORE_NAME` (default `local`), shared by every function of one process.
 *
 * Adapters are imported on first use, so a function loads only the client of its own store.
 */

import * as z from 'zod/mini';
import { envVar } from '#contracts/env.ts';
import { type CatalogModel, catalogModel } from '#contracts/models/catalog.ts';
import type { VectorStore, VectorStoreKind } from '#core/rag/store.ts';
import { describeIssues, readConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';

const KINDS = ['opensearch', 's3vectors', 'embedded'] as const;

/** The variables that choose and open the vector store (what each kind needs is checked when it opens). */
export const vectorStoreEnvironment = {
  VECTOR_STORE_KIND: z.enum(KINDS, { error: `must be one of ${KINDS.join(', ')}` }),
  OPENSEARCH_ENDPOINT: envVar.optionalString(),
  OPENSEARCH_INDEX: envVar.optionalString(),
  S3VECTORS_BUCKET: envVar.optionalString(),
  S3VECTORS_INDEX: envVar.optionalString(),
  VECTOR_STORE_NAME: envVar.optionalString(),
  VECTOR_DIMENSIONS: envVar.optionalString(),
};

/** The embedding model's catalog entry, as JSON (read by {@link embeddingModelFromEnv}). */
export const embeddingModelEnvironment = { EMBEDDING_MODEL: envVar.string() };

/** The store kind this function is configured for (`VECTOR_STORE_KIND`). */
export function vectorStoreKindFromEnv(env: NodeJS.ProcessEnv = process.env): VectorStoreKind {
  const kind = env.VECTOR_STORE_KIND;
  if (!KINDS.includes(kind as VectorStoreKind)) {
    throw new ConfigError(
      `Invalid function configuration: (env).VECTOR_STORE_KIND: expected one of ${KINDS.join(', ')}, got ${JSON.stringify(kind ?? null)}`,
    );
  }
  return kind as VectorStoreKind;
}

/** Opens the store the environment names. */
export async function openVectorStore(env: NodeJS.ProcessEnv = process.env): Promise<VectorStore> {
  const kind = vectorStoreKindFromEnv(env);
  switch (kind) {
    case 'opensearch':
      if (
        process.env.LLMOPS_BUNDLED_VECTOR_STORE === undefined ||
        process.env.LLMOPS_BUNDLED_VECTOR_STORE === 'opensearch'
      ) {
        const config = readConfig(
          {
            OPENSEARCH_ENDPOINT: envVar.string(),
            OPENSEARCH_INDEX: envVar.string(),
            AWS_REGION: envVar.string(),
          },
          env,
        );
        const { createOpenSearchStore } = await import('./opensearch-store.ts');
        return createOpenSearchStore({
          endpoint: config.OPENSEARCH_ENDPOINT,
          index: config.OPENSEARCH_INDEX,
          region: config.AWS_REGION,
        });
      }
      break;
    case 's3vectors':
      if (
        process.env.LLMOPS_BUNDLED_VECTOR_STORE === undefined ||
        process.env.LLMOPS_BUNDLED_VECTOR_STORE === 's3vectors'
      ) {
        const config = readConfig(
          { S3VECTORS_BUCKET: envVar.string(), S3VECTORS_INDEX: envVar.string() },
          env,
        );
        const { createS3VectorsStore } = await import('./s3vectors-store.ts');
        return createS3VectorsStore({
          vectorBucketName: config.S3VECTORS_BUCKET,
          indexName: config.S3VECTORS_INDEX,
        });
      }
      break;
    case 'embedded':
      if (
        process.env.LLMOPS_BUNDLED_VECTOR_STORE === undefined ||
        process.env.LLMOPS_BUNDLED_VECTOR_STORE === 'embedded'
      ) {
        const { embeddedVectorStore } = await import('./embedded-store.ts');
        const dimensions = env.VECTOR_DIMENSIONS !== undefined ? Number(env.VECTOR_DIMENSIONS) : undefined;
        return embeddedVectorStore(env.VECTOR_STORE_NAME ?? 'local', dimensions);
      }
      break;
  }
  // Lambda bundles are built with `process.env.LLMOPS_BUNDLED_VECTOR_STORE` replaced by the stack's store
  // kind (an esbuild define): the checks above fold to constants, and the other adapters, with their
  // clients, are left out of the bundle. Unbundled (the local run, tests), every adapter is available.
  throw new ConfigError(
    `Invalid function configuration: (env).VECTOR_STORE_KIND is ${kind}, but this bundle was built for ${process.env.LLMOPS_BUNDLED_VECTOR_STORE} (redeploy)`,
  );
}

let opened: Promise<VectorStore> | undefined;

/**
 * The process's store, opened once (a failed open is retried on the next call). The embedded store is
 * looked up in its registry on every call, so that a local run that starts afresh gets an empty one.
 */
export function vectorStoreFromEnv(): Promise<VectorStore> {
  if (process.env.VECTOR_STORE_KIND === 'embedded') return openVectorStore();
  opened ??= openVectorStore().catch((error: unknown) => {
    opened = undefined;
    throw error;
  });
  return opened;
}

/** The catalog entry of the embedding model (`EMBEDDING_MODEL`, JSON), validated. */
export function embeddingModelFromEnv(env: NodeJS.ProcessEnv = process.env): CatalogModel {
  const raw = env.EMBEDDING_MODEL;
  let value: unknown;
  try {
    value = JSON.parse(raw ?? '');
  } catch {
    throw new ConfigError(
      'Invalid function configuration: (env).EMBEDDING_MODEL: must be the JSON of a catalog model',
    );
  }
  const parsed = catalogModel.safeParse(value);
  if (!parsed.success || parsed.data.kind !== 'embedding') {
    throw new ConfigError(
      `Invalid function configuration: (env).EMBEDDING_MODEL: must be an embedding model of the catalog${
        parsed.success ? `, got kind ${parsed.data.kind}` : `: ${describeIssues(parsed.error)}`
      }`,
    );
  }
  return parsed.data;
}
