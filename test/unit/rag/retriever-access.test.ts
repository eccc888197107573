import { describe, expect, it, vi } from 'vitest';
import { EmbeddedVectorStore } from '#aws/rag/embedded-store.ts';
import { Retriever } from '#aws/rag/retriever.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import type { StagedDocument } from '#contracts/pipelines/rag-ingest.ts';
import { documentVersion } from '#contracts/pipelines/rag-ingest.ts';
import { MAX_OVERSAMPLED_K } from '#core/access/collections.ts';
import { OFFLINE_DIMENSIONS, OfflineProvider } from '#core/models/offline.ts';
import type { IndexedChunk, RetrievedChunk, VectorQuery, VectorStore } from '#core/rag/store.ts';
import { chunkStaged } from '#functions/rag/chunking.ts';

/**
 * Retrieval within an app's RAG collections: every chunk carries its collection (`collection`
 * metadata, set at chunking, which a document's own metadata cannot override); the retriever sends
 * exact collections to the store as a filter, intersects a caller's own collection filter with them,
 * and post-filters (with oversampling) when a pattern has a star.
 */
const model: CatalogModel = {
  id: 'offline-embed',
  provider: 'offline',
  modelId: 'offline-embed',
  kind: 'embedding',
  contextWindow: 8192,
  maxOutputTokens: 0,
  dimensions: OFFLINE_DIMENSIONS,
  pricePer1kInputUsd: 0,
  pricePer1kOutputUsd: 0,
  features: [],
  regions: ['local'],
  status: 'active',
};
const SETTINGS = { chunkMaxTokens: 200, chunkOverlapTokens: 0, embeddingModelId: model.id };

function staged(docId: string, collection: string, text: string, metadata = {}): StagedDocument {
  const base = { docId, collection, format: 'text' as const, text, metadata };
  return { ...base, version: documentVersion(base, SETTINGS) };
}

describe('chunks carry their collection', () => {
  it('on every chunk, over whatever the document metadata says', () => {
    const chunked = chunkStaged(
      staged('hr/pay.md', 'dataset:hr', 'Salaries are paid monthly.', { collection: 'upload', team: 'hr' }),
      {
        maxTokens: 200,
        overlapTokens: 0,
      },
    );
    expect(chunked.chunks.map((c) => c.metadata)).toEqual([{ collection: 'dataset:hr', team: 'hr' }]);
  });

  it("is part of a document's version, so documents chunked before are indexed again", () => {
    expect(staged('a', 'upload', 'same text').version).not.toBe(
      staged('a', 'dataset:x', 'same text').version,
    );
  });
});

describe('Retriever.retrieve within collections (embedded store)', async () => {
  const provider = new OfflineProvider();
  const store = new EmbeddedVectorStore();
  const docs = [
    staged('refunds.md', 'upload', 'Refunds are issued within five business days.'),
    staged('hr/refunds.md', 'dataset:hr', 'Refunds of travel expenses go through payroll.'),
    staged('faq/refunds', 'dataset:faq-en', 'How long do refunds take? Five days.'),
  ];
  for (const doc of docs) {
    const chunked = chunkStaged(doc, { maxTokens: 200, overlapTokens: 0 });
    const { vectors } = await provider.embed({
      modelId: model.modelId,
      texts: chunked.chunks.map((c) => c.text),
    });
    const indexed: IndexedChunk[] = chunked.chunks.map((c, i) => ({
      chunkId: c.chunkId,
      docId: doc.docId,
      docVersion: doc.version,
      index: c.index,
      text: c.text,
      headings: c.headings,
      metadata: c.metadata,
      vector: vectors[i] ?? [],
    }));
    await store.replaceDocument(doc.docId, doc.version, indexed);
  }
  const retriever = new Retriever({ store: async () => store, model, provider });
  const collectionsOf = (chunks: readonly RetrievedChunk[]) =>
    chunks.map((c) => c.metadata.collection).sort();

  it('returns every collection without an allowlist', async () => {
    const { chunks } = await retriever.retrieve({ query: 'refunds', k: 10 });
    expect(collectionsOf(chunks)).toEqual(['dataset:faq-en', 'dataset:hr', 'upload']);
  });

  it('returns only the allowed collections, exact or by pattern', async () => {
    expect(
      collectionsOf((await retriever.retrieve({ query: 'refunds', k: 10, collections: ['upload'] })).chunks),
    ).toEqual(['upload']);
    const patterned = await retriever.retrieve({
      query: 'refunds',
      k: 10,
      collections: ['upload', 'dataset:faq-*'],
    });
    expect(collectionsOf(patterned.chunks)).toEqual(['dataset:faq-en', 'upload']);
  });

  it("intersects the caller's collection filter with the allowlist", async () => {
    const { chunks } = await retriever.retrieve({
      query: 'refunds',
      k: 10,
      filters: { collection: ['dataset:hr', 'dataset:faq-en'] },
      collections: ['upload', 'dataset:faq-*'],
    });
    expect(collectionsOf(chunks)).toEqual(['dataset:faq-en']);
  });

  it('searches nothing, and embeds nothing, when no allowed collection is asked for', async () => {
    const embed = vi.spyOn(provider, 'embed');
    const none = await retriever.retrieve({
      query: 'refunds',
      filters: { collection: 'dataset:hr' },
      collections: ['upload'],
    });
    expect(none.chunks).toEqual([]);
    expect(none.embedding.inputTokens).toBe(0);
    expect(none).not.toHaveProperty('queryVector');
    expect((await retriever.retrieve({ query: 'refunds', collections: [] })).chunks).toEqual([]);
    expect(embed).not.toHaveBeenCalled();
    embed.mockRestore();
  });
});

describe('Retriever.retrieve: what the store is asked', () => {
  const chunk = (id: string, collection?: string): RetrievedChunk => ({
    chunkId: id,
    docId: id,
    docVersion: 'v',
    index: 0,
    text: id,
    headings: [],
    metadata: collection === undefined ? {} : { collection },
    score: 0.5,
    similarity: 0.5,
  });

  function setup(found: RetrievedChunk[]) {
    const search = vi.fn(async (_query: VectorQuery) => found);
    const store = { kind: 'embedded', supportsHybrid: true, search } as unknown as VectorStore;
    return {
      search,
      retriever: new Retriever({ store: async () => store, model, provider: new OfflineProvider() }),
    };
  }

  it('exact collections: a store filter, and k as asked', async () => {
    const { search, retriever } = setup([]);
    await retriever.retrieve({ query: 'q', k: 3, filters: { team: 'a' }, collections: ['upload'] });
    expect(search.mock.calls[0]?.[0]).toMatchObject({ k: 3, filters: { team: 'a', collection: ['upload'] } });
  });

  it('a pattern with a star: more chunks asked, other collections dropped, k kept', async () => {
    const found = [
      chunk('1', 'dataset:hr'),
      chunk('2', 'dataset:faq'),
      chunk('3'),
      chunk('4', 'upload'),
      chunk('5', 'upload'),
    ];
    const { search, retriever } = setup(found);
    const { chunks } = await retriever.retrieve({ query: 'q', k: 2, collections: ['upload', 'dataset:f*'] });
    expect(search.mock.calls[0]?.[0]).toMatchObject({ k: 8 });
    expect(search.mock.calls[0]?.[0].filters).toBeUndefined();
    expect(chunks.map((c) => c.chunkId)).toEqual(['2', '4']);
    await retriever.retrieve({ query: 'q', k: 50, collections: ['dataset:*'] });
    expect(search.mock.calls[1]?.[0].k).toBe(MAX_OVERSAMPLED_K);
  });
});
