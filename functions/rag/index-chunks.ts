import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { readConfig } from '#aws/config.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { forEachDocument } from '#aws/rag/document-loop.ts';
import type { DocumentTable } from '#aws/rag/documents.ts';
import type { DocumentReporter } from '#aws/rag/reporter.ts';
import { readStaged } from '#aws/rag/staging.ts';
import { vectorStoreEnvironment, vectorStoreFromEnv } from '#aws/rag/vector-store.ts';
import {
  type BatchProgress,
  batchProgress,
  deletionItem,
  ragLayout,
  stagedChunks,
} from '#contracts/pipelines/rag-ingest.ts';
import type { IndexedChunk, VectorStore } from '#core/rag/store.ts';
import { ragEnv, stepDeps } from './shared.ts';

/**
 * Index: the only step that writes to the vector store. For an ingest batch, each embedded document
 * version replaces the document's chunks in the store (old versions' chunks leave it), then the document
 * becomes `indexed` and `llmops.DocumentIndexed` is announced. For a delete batch, each document is
 * marked `deleted` first (an older deletion event than the last upload changes nothing), then its chunks
 * leave the store. Chunks the store still refuses after its retries fail the document with their reasons.
 */
export interface IndexDeps {
  readonly s3: S3Client;
  readonly table: Pick<
    DocumentTable,
    'get' | 'markIndexed' | 'markFailed' | 'markDeleted' | 'noteChunkWrite'
  >;
  readonly reporter: Pick<DocumentReporter, 'fail' | 'report' | 'buffer'>;
  readonly store: () => Promise<VectorStore>;
  readonly now?: () => Date;
}

export function makeHandler(deps: IndexDeps) {
  const now = deps.now ?? (() => new Date());

  async function ingest(progress: BatchProgress): Promise<BatchProgress> {
    const { runId, batch } = progress;
    const store = await deps.store();
    const docs = await readStaged(
      deps.s3,
      { bucket: batch.location.bucket, key: ragLayout.vectors(batch.location.key) },
      stagedChunks,
    );
    let indexed = 0;
    const reports = deps.reporter.buffer();
    const counts = await forEachDocument(docs, { ...deps, runId, now }, async (doc) => {
      const current = await deps.table.get(doc.docId);
      if (current?.version !== doc.version) return 'superseded';
      const chunks: IndexedChunk[] = doc.chunks.map((chunk) => ({
        chunkId: chunk.chunkId,
        docId: doc.docId,
        docVersion: doc.version,
        index: chunk.index,
        text: chunk.text,
        headings: chunk.headings,
        metadata: chunk.metadata,
        vector: chunk.vector ?? [],
        ...(doc.title !== undefined ? { title: doc.title } : {}),
        ...(doc.source !== undefined ? { source: doc.source } : {}),
      }));
      const known = { chunkCount: Math.max(current.chunkCount, current.maxChunkCount ?? 0) };
      await deps.table.noteChunkWrite(doc.docId, chunks.length, current);
      const result = await store.replaceDocument(doc.docId, doc.version, chunks, known);
      if (!(await deps.table.markIndexed(doc.docId, doc.version, chunks.length, now()))) return 'superseded';
      indexed += 1;
      logger.info('Document indexed', {
        docId: doc.docId,
        chunks: result.indexed,
        removed: result.removed,
      });
      await reports.add({
        docId: doc.docId,
        version: doc.version,
        status: 'indexed',
        chunks: chunks.length,
        reason: null,
        title: doc.title ?? null,
        source: doc.source ?? null,
        collection: doc.collection,
        runId,
      });
      return 'done';
    }).finally(() => reports.flush());
    metrics.addMetric('RagDocumentsIndexed', 'Count', indexed);
    return {
      ...progress,
      active: 0,
      indexed: progress.indexed + indexed,
      failed: progress.failed + counts.failed,
      superseded: progress.superseded + counts.superseded,
    };
  }

  async function remove(progress: BatchProgress): Promise<BatchProgress> {
    const { runId, batch } = progress;
    const store = await deps.store();
    const items = await readStaged(deps.s3, batch.location, deletionItem);
    let { deleted, superseded } = progress;
    for (const item of items) {
      const current = await deps.table.get(item.docId);
      const marked = await deps.table.markDeleted(item.docId, {
        runId,
        now: now(),
        collection: item.collection,
        ...(item.sequencer !== undefined ? { sequencer: item.sequencer } : {}),
      });
      if (!marked) {
        superseded += 1;
        continue;
      }
      const known = current
        ? { chunkCount: Math.max(current.chunkCount, current.maxChunkCount ?? 0) }
        : undefined;
      const removed = await store.deleteDocument(item.docId, known);
      deleted += 1;
      await deps.reporter.report({
        docId: item.docId,
        version: null,
        status: 'deleted',
        chunks: removed,
        reason: null,
        title: current?.title ?? null,
        source: current?.source ?? null,
        collection: item.collection,
        runId,
      });
    }
    metrics.addMetric('RagDocumentsDeleted', 'Count', deleted - progress.deleted);
    return { ...progress, active: 0, deleted, superseded };
  }

  return async (input: unknown, _context?: Context): Promise<BatchProgress> => {
    const progress = parseInput(batchProgress, input, 'Index input');
    logger.appendKeys({ runId: progress.runId, batch: progress.batch.index });
    return progress.batch.kind === 'delete' ? remove(progress) : ingest(progress);
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  ...ragEnv,
  ...vectorStoreEnvironment,
};

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({
    ...stepDeps(config),
    store: vectorStoreFromEnv,
  }),
);
