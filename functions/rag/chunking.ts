import type { StagedChunks, StagedDocument } from '#contracts/pipelines/rag-ingest.ts';
import { COLLECTION_FIELD } from '#core/access/collections.ts';
import { chunkDocument } from '#core/rag/chunk.ts';

/**
 * The Chunk step's work on one staged document, free of handler setup (tests and benchmarks import it):
 * structure-aware token chunks, blank ones dropped, the document's metadata and its RAG collection
 * (`collection`, what per-app access filters retrieval on) on every chunk and, for a PDF, the page each
 * chunk's own content starts on.
 */
/** The 1-based page a character offset falls on. */
export function pageAt(pages: NonNullable<StagedDocument['pages']>, offset: number): number | undefined {
  for (const page of pages) if (offset >= page.start && offset < page.end) return page.page;
  return pages.length > 0 ? pages[pages.length - 1]?.page : undefined;
}

export function chunkStaged(
  doc: StagedDocument,
  options: { maxTokens: number; overlapTokens: number },
): StagedChunks {
  const chunks = chunkDocument(
    {
      id: doc.docId,
      text: doc.text,
      format: doc.format,
      ...(doc.title !== undefined ? { title: doc.title } : {}),
      ...(doc.source !== undefined ? { source: doc.source } : {}),
    },
    options,
  );
  return {
    docId: doc.docId,
    version: doc.version,
    collection: doc.collection,
    ...(doc.title !== undefined ? { title: doc.title } : {}),
    ...(doc.source !== undefined ? { source: doc.source } : {}),
    chunks: chunks
      .filter((chunk) => chunk.text.trim() !== '')
      .map((chunk) => {
        const page = doc.pages ? pageAt(doc.pages, chunk.start) : undefined;
        return {
          chunkId: chunk.id,
          index: chunk.index,
          text: chunk.text,
          tokens: chunk.tokens,
          headings: [...chunk.headings],
          // The collection last: a document's own metadata cannot claim another collection.
          metadata: {
            ...doc.metadata,
            [COLLECTION_FIELD]: doc.collection,
            ...(page !== undefined ? { page } : {}),
          },
        };
      }),
  };
}
