import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { readConfig } from '#aws/config.ts';
import { createProviderRouter } from '#aws/models/router.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { forEachDocument } from '#aws/rag/document-loop.ts';
import type { DocumentTable } from '#aws/rag/documents.ts';
import { embedMany } from '#aws/rag/embedder.ts';
import type { DocumentReporter } from '#aws/rag/reporter.ts';
import { readStaged, writeStaged } from '#aws/rag/staging.ts';
import { embeddingModelEnvironment, embeddingModelFromEnv } from '#aws/rag/vector-store.ts';
import { envVar } from '#contracts/env.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import {
  type BatchProgress,
  batchProgress,
  ragLayout,
  type StagedChunks,
  stagedChunks,
} from '#contracts/pipelines/rag-ingest.ts';
import type { ModelProvider } from '#core/models/types.ts';
import { ragEnv, stepDeps } from './shared.ts';

/**
 * Embed: embeds every chunk of the batch's chunked documents with the catalog's embedding model
 * (batches of `EMBED_BATCH_SIZE` texts, `EMBED_CONCURRENCY` requests in flight; the provider backs off on
 * throttling), stages the vectors for Index and moves each document to `embedded`. Throttling that
 * outlasts the provider's retries fails the step, which the state machine retries with backoff.
 */
export interface EmbedDeps {
  readonly s3: S3Client;
  readonly table: Pick<DocumentTable, 'advance' | 'markFailed'>;
  readonly reporter: Pick<DocumentReporter, 'fail'>;
  readonly provider: ModelProvider;
  readonly model: CatalogModel;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly now?: () => Date;
}

export function makeHandler(deps: EmbedDeps) {
  const now = deps.now ?? (() => new Date());
  return async (input: unknown, _context?: Context): Promise<BatchProgress> => {
    const progress = parseInput(batchProgress, input, 'Embed input');
    const { runId, batch } = progress;
    logger.appendKeys({ runId, batch: batch.index });
    const docs = await readStaged(
      deps.s3,
      { bucket: batch.location.bucket, key: ragLayout.chunks(batch.location.key) },
      stagedChunks,
    );
    const out: StagedChunks[] = [];
    let tokens = 0;
    const counts = await forEachDocument(docs, { ...deps, runId, now }, async (doc) => {
      const result = await embedMany(
        doc.chunks.map((chunk) => chunk.text),
        {
          provider: deps.provider,
          model: deps.model,
          batchSize: deps.batchSize,
          concurrency: deps.concurrency,
        },
      );
      const expected = deps.model.dimensions;
      const wrong = result.vectors.findIndex((v) => expected !== undefined && v.length !== expected);
      if (wrong >= 0) {
        throw new Error(
          `the embedding model returned ${result.vectors[wrong]?.length} dimensions for chunk ${wrong}, the index expects ${expected}`,
        );
      }
      tokens += result.inputTokens;
      if (!(await deps.table.advance(doc.docId, doc.version, 'embedded', now(), doc.chunks.length)))
        return 'superseded';
      out.push({
        ...doc,
        chunks: doc.chunks.map((chunk, i) => ({ ...chunk, vector: result.vectors[i] ?? [] })),
      });
      return 'done';
    });
    await writeStaged(
      deps.s3,
      { bucket: batch.location.bucket, key: ragLayout.vectors(batch.location.key) },
      out,
    );
    metrics.addMetric('RagEmbeddingTokens', 'Count', tokens);
    return {
      ...progress,
      active: out.length,
      failed: progress.failed + counts.failed,
      superseded: progress.superseded + counts.superseded,
    };
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  ...ragEnv,
  EMBED_BATCH_SIZE: envVar.int(1),
  EMBED_CONCURRENCY: envVar.int(1),
  MODEL_PROVIDER: envVar.optionalString(),
  ...embeddingModelEnvironment,
};

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({
    ...stepDeps(config),
    ...(() => {
      const model = embeddingModelFromEnv();
      const providerFor = createProviderRouter({
        mode: config.MODEL_PROVIDER === 'offline' ? 'offline' : 'catalog',
      });
      return { model, provider: providerFor(model) };
    })(),
    batchSize: config.EMBED_BATCH_SIZE,
    concurrency: config.EMBED_CONCURRENCY,
  }),
);
