import type { EmbeddedVectorStore } from '#aws/rag/embedded-store.ts';
import { embedMany } from '#aws/rag/embedder.ts';
import { documentVersion, type StagedDocument } from '#contracts/pipelines/rag-ingest.ts';
import type { OfflineProvider } from '#core/models/offline.ts';
import { chunkStaged } from '#functions/rag/chunking.ts';

/**
 * The RAG benchmarks' baseline for one parsed document: chunk → embed → store in one call, no pipeline
 * around it, at the settings the pipeline runs with.
 */
export const DIRECT_SETTINGS = {
  chunkMaxTokens: 512,
  chunkOverlapTokens: 64,
  embeddingModelId: 'titan-embed-text-v2',
} as const;
const MODEL = { modelId: 'offline', dimensions: 1024 };

/** A parsed document as Plan stages it, less the version this computes. */
export type DirectDocument = Omit<StagedDocument, 'version'>;

/** Chunks, embeds and stores `doc`; the number of chunks. */
export async function ingestDirect(
  doc: DirectDocument,
  deps: { readonly store: EmbeddedVectorStore; readonly provider: OfflineProvider },
): Promise<number> {
  const staged = chunkStaged(
    { ...doc, version: documentVersion(doc, DIRECT_SETTINGS) },
    { maxTokens: DIRECT_SETTINGS.chunkMaxTokens, overlapTokens: DIRECT_SETTINGS.chunkOverlapTokens },
  );
  const { vectors } = await embedMany(
    staged.chunks.map((c) => c.text),
    { provider: deps.provider, model: MODEL, batchSize: 16, concurrency: 4 },
  );
  await deps.store.replaceDocument(
    doc.docId,
    staged.version,
    staged.chunks.map((c, i) => ({
      chunkId: c.chunkId,
      docId: doc.docId,
      docVersion: staged.version,
      index: c.index,
      text: c.text,
      headings: c.headings,
      metadata: c.metadata,
      vector: vectors[i] ?? [],
    })),
  );
  return staged.chunks.length;
}
