/**
 * Retrieval for RAG: embeds the question with the catalog's embedding model, searches the vector store,
 * and turns the chunks into citations and the numbered context block a prompt's `context` variable
 * receives. Shared by `POST /v1/rag/search` and `POST /v1/chat` with `rag`.
 */
import type { CatalogModel } from '#contracts/models/catalog.ts';
import type { ModelProvider } from '#core/models/types.ts';
import type { MetadataFilters, RetrievedChunk, VectorStore, VectorStoreKind } from '#core/rag/store.ts';

/** Chunks retrieved when the request does not say. */
export const DEFAULT_K = 5;

export interface RetrievalRequest {
  readonly query: string;
  readonly k?: number | undefined;
  readonly filters?: MetadataFilters | undefined;
  readonly hybrid?: boolean | undefined;
  readonly minScore?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface Retrieval {
  readonly query: string;
  readonly chunks: readonly RetrievedChunk[];
  readonly vectorStore: VectorStoreKind;
  readonly embedding: { readonly modelId: string; readonly inputTokens: number };
  readonly k: number;
  readonly hybrid: boolean;
  readonly minScore: number | null;
}

export interface Citation {
  readonly n: number;
  readonly docId: string;
  readonly chunkId: string;
  readonly title: string | null;
  readonly source: string | null;
  readonly score: number;
  readonly similarity: number;
  readonly headings: string[];
  readonly page?: number;
}

export interface RetrieverDeps {
  readonly store: () => Promise<VectorStore>;
  readonly model: CatalogModel;
  readonly provider: ModelProvider;
}

export class Retriever {
  constructor(private readonly deps: RetrieverDeps) {}

  /** The embedding model's catalog id. */
  get embeddingModelId(): string {
    return this.deps.model.id;
  }

  async retrieve(request: RetrievalRequest): Promise<Retrieval> {
    const store = await this.deps.store();
    const embedded = await this.deps.provider.embed({
      modelId: this.deps.model.modelId,
      texts: [request.query],
      ...(this.deps.model.dimensions !== undefined ? { dimensions: this.deps.model.dimensions } : {}),
      normalize: true,
      ...(request.signal ? { signal: request.signal } : {}),
    });
    const vector = embedded.vectors[0] ?? [];
    const k = request.k ?? DEFAULT_K;
    const hybrid = request.hybrid ?? false;
    const chunks = await store.search({
      vector,
      text: request.query,
      k,
      hybrid,
      ...(request.filters !== undefined ? { filters: request.filters } : {}),
      ...(request.minScore !== undefined ? { minScore: request.minScore } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
    });
    return {
      query: request.query,
      chunks,
      vectorStore: store.kind,
      embedding: { modelId: this.deps.model.id, inputTokens: embedded.usage.inputTokens },
      k,
      hybrid,
      minScore: request.minScore ?? null,
    };
  }
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;

/** Citations of retrieved chunks, numbered from 1 in rank order. */
export function citationsOf(chunks: readonly RetrievedChunk[]): Citation[] {
  return chunks.map((chunk, i) => {
    const page = chunk.metadata.page;
    return {
      n: i + 1,
      docId: chunk.docId,
      chunkId: chunk.chunkId,
      title: chunk.title ?? null,
      source: chunk.source ?? null,
      score: round(chunk.score),
      similarity: round(chunk.similarity),
      headings: [...chunk.headings],
      ...(typeof page === 'number' ? { page } : {}),
    };
  });
}

/**
 * The context block for a prompt: each chunk as `[n] title › headings (source)` and its text, so that the
 * model can cite `[n]`.
 */
export function contextBlock(chunks: readonly RetrievedChunk[]): string {
  return chunks
    .map((chunk, i) => {
      const where = [chunk.title, ...chunk.headings]
        .filter((part) => part !== undefined && part !== '')
        .join(' › ');
      const label = [where, chunk.source ? `(${chunk.source})` : ''].filter((s) => s !== '').join(' ');
      return `[${i + 1}]${label === '' ? '' : ` ${label}`}\n${chunk.text.trim()}`;
    })
    .join('\n\n');
}
