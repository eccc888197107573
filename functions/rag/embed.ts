import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { envVar, readConfig } from '#aws/config.ts';
import { createProviderRouter } from '#aws/models/router.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import type { DocumentTable } from '#aws/rag/documents.ts';
import { embedMany } from '#aws/rag/embedder.ts';
import { embeddingModelFromEnv } from '#aws/rag/vector-store.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import {
  type BatchProgress,
  batchProgress,
  ragLayout,
  type StagedChunks,
  stagedChunks,
} from '#contracts/pipelines/rag-ingest.ts';
import type { ModelProvider } from '#core/models/types.ts';
import {
  asRetryable,
  type DocumentReporter,
  isRetryable,
  parseInput,
  ragEnv,
  readStaged,
  stepDeps,
  writeStaged,
} from './shared.ts';

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
    let failed = progress.failed;
    let superseded = progress.superseded;
    let tokens = 0;
    for (const doc of docs) {
      try {
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
        if (!(await deps.table.advance(doc.docId, doc.version, 'embedded', now()))) {
          superseded += 1;
          continue;
        }
        out.push({
          ...doc,
          chunks: doc.chunks.map((chunk, i) => ({ ...chunk, vector: result.vectors[i] ?? [] })),
        });
      } catch (error) {
        if (isRetryable(error)) throw asRetryable(error);
        if (await deps.reporter.fail(deps.table, doc, error, runId, now())) failed += 1;
        else superseded += 1;
      }
    }
    await writeStaged(
      deps.s3,
      { bucket: batch.location.bucket, key: ragLayout.vectors(batch.location.key) },
      out,
    );
    metrics.addMetric('RagEmbeddingTokens', 'Count', tokens);
    return { ...progress, active: out.length, failed, superseded };
  };
}

const config = readConfig({
  ...ragEnv,
  EMBED_BATCH_SIZE: envVar.int(1),
  EMBED_CONCURRENCY: envVar.int(1),
  MODEL_PROVIDER: envVar.optionalString(),
});

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
