/**
 * The vector-store contract (no AWS imports): one interface for the OpenSearch Serverless adapter
 * (production), the Amazon S3 Vectors adapter and the embedded store of the local run. Adapters live in
 * `layers/aws/src/rag/`.
 *
 * Scores are comparable across stores: `similarity` is the cosine similarity of two embeddings mapped
 * to [0, 1] as `(1 + cos) / 2` (what OpenSearch's `cosinesimil` space returns as the kNN score; S3
 * Vectors and usearch return the cosine distance `d = 1 - cos`, so `1 - d / 2`). Unrelated texts sit
 * near 0.5, near-duplicates near 1.
 */
import { LlmOpsError, ValidationError } from '../errors.ts';

/** A metadata value stored with a chunk and usable in filters. */
export type MetadataValue = string | number | boolean;

/** One chunk with its embedding, as written to a store. */
export interface IndexedChunk {
  /** `${docId}#${index}`: stable across versions of a document. */
  readonly chunkId: string;
  readonly docId: string;
  /** Content hash of the document version the chunk was cut from. */
  readonly docVersion: string;
  /** Position in the document, from 0. */
  readonly index: number;
  readonly text: string;
  readonly title?: string;
  readonly source?: string;
  /** Headings path, outermost first (Markdown and HTML documents). */
  readonly headings: readonly string[];
  /** Keyword metadata (from front matter, JSONL records or the upload), usable in filters. */
  readonly metadata: Readonly<Record<string, MetadataValue>>;
  readonly vector: readonly number[];
}

/**
 * Metadata filters: every key must match (AND); an array matches any of its values (OR). Keys name
 * metadata fields, or the reserved `docId` and `source`.
 */
export type MetadataFilters = Readonly<Record<string, MetadataValue | readonly MetadataValue[]>>;

/** Filter keys that address chunk fields rather than metadata. */
export const RESERVED_FILTER_KEYS = ['docId', 'source'] as const;

export interface VectorQuery {
  /** The embedded question. */
  readonly vector: readonly number[];
  /** The question itself (keyword side of a hybrid query). */
  readonly text: string;
  /** Chunks to return, at most. */
  readonly k: number;
  readonly filters?: MetadataFilters;
  /** Combine kNN with keyword (BM25) relevance. Stores without keyword search refuse it. */
  readonly hybrid?: boolean;
  /** Drop chunks whose `similarity` is below this (0 to 1). */
  readonly minScore?: number;
  readonly signal?: AbortSignal;
}

export interface RetrievedChunk {
  readonly chunkId: string;
  readonly docId: string;
  readonly docVersion: string;
  readonly index: number;
  readonly text: string;
  readonly title?: string;
  readonly source?: string;
  readonly headings: readonly string[];
  readonly metadata: Readonly<Record<string, MetadataValue>>;
  /** Ranking score: `similarity` for a kNN query, the fused score (0 to 1) for a hybrid one. */
  readonly score: number;
  /**
   * Embedding similarity to the question, (1 + cos) / 2. For a chunk only the keyword side of a hybrid
   * query found: its real similarity where the store can compute it (the embedded store), else 0.
   */
  readonly similarity: number;
}

/** What writing one document version did. */
export interface ReplaceResult {
  /** Chunks written. */
  readonly indexed: number;
  /** Chunks of other versions (or of an earlier, interrupted attempt) removed. */
  readonly removed: number;
}

/**
 * What the caller (the document status table) knows of the version currently indexed. Stores that key
 * chunks by `chunkId` (S3 Vectors) use it to delete exactly the chunks a shorter new version no longer has,
 * without listing the whole index.
 */
export interface KnownDocument {
  readonly chunkCount: number;
}

export type VectorStoreKind = 'opensearch' | 's3vectors' | 'embedded';

export interface VectorStore {
  readonly kind: VectorStoreKind;
  /** Whether `hybrid: true` queries are served (keyword search next to kNN). */
  readonly supportsHybrid: boolean;
  /**
   * Makes `chunks` (all of one version of one document) the document's only chunks: writes them, then
   * removes every other chunk of `docId`. Safe to repeat. Throws {@link VectorStoreWriteError} naming the
   * chunks that still failed after retries.
   */
  replaceDocument(
    docId: string,
    docVersion: string,
    chunks: readonly IndexedChunk[],
    known?: KnownDocument,
  ): Promise<ReplaceResult>;
  /** Removes every chunk of a document; resolves with how many were removed (0 when none). */
  deleteDocument(docId: string, known?: KnownDocument): Promise<number>;
  /** The `k` most relevant chunks, best first, each at or above `minScore`. */
  search(query: VectorQuery): Promise<RetrievedChunk[]>;
}

/** Some chunks could not be written (after retries): names each one and why. */
export class VectorStoreWriteError extends LlmOpsError {
  constructor(
    readonly docId: string,
    readonly failures: readonly { readonly chunkId: string; readonly reason: string }[],
    options?: { cause?: unknown },
  ) {
    const shown = failures
      .slice(0, 5)
      .map((f) => `${f.chunkId}: ${f.reason}`)
      .join('; ');
    super(
      `${failures.length} chunk(s) of document ${docId} could not be indexed: ${shown}${failures.length > 5 ? '; …' : ''}`,
      options,
    );
  }
}

/** A query the store cannot serve (e.g. `hybrid` on a store without keyword search): the API answers 400. */
export class UnsupportedQueryError extends ValidationError {}

/** Similarity in [0, 1] from a cosine distance `d = 1 - cos` (S3 Vectors, usearch). */
export function similarityFromCosineDistance(distance: number): number {
  return Math.min(1, Math.max(0, 1 - distance / 2));
}

/** Weight of the embedding side in a hybrid score; the keyword side gets the rest. */
export const HYBRID_VECTOR_WEIGHT = 0.7;

export interface ScoredId {
  readonly id: string;
  readonly score: number;
}

/**
 * Hybrid score fusion: `w * similarity + (1 - w) * keyword / maxKeyword`. The similarity is kept absolute
 * (it is already in [0, 1] and comparable across queries); BM25 scores are unbounded, so they are scaled
 * by the best keyword score of the query. A chunk found by only one side gets 0 from the other.
 *
 * @returns every id of either list with its fused score and similarity, best first (ties by id)
 */
export function fuseHybrid(
  vectorHits: readonly ScoredId[],
  keywordHits: readonly ScoredId[],
  vectorWeight = HYBRID_VECTOR_WEIGHT,
): { id: string; score: number; similarity: number }[] {
  const maxKeyword = keywordHits.reduce((max, hit) => Math.max(max, hit.score), 0);
  const fused = new Map<string, { similarity: number; keyword: number }>();
  for (const hit of vectorHits) fused.set(hit.id, { similarity: hit.score, keyword: 0 });
  for (const hit of keywordHits) {
    const keyword = maxKeyword > 0 ? hit.score / maxKeyword : 0;
    const entry = fused.get(hit.id);
    if (entry) entry.keyword = Math.max(entry.keyword, keyword);
    else fused.set(hit.id, { similarity: 0, keyword });
  }
  return [...fused]
    .map(([id, { similarity, keyword }]) => ({
      id,
      similarity,
      score: vectorWeight * similarity + (1 - vectorWeight) * keyword,
    }))
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Whether a chunk's fields and metadata satisfy the filters. */
export function matchesFilters(
  chunk: Pick<IndexedChunk, 'docId' | 'source' | 'metadata'>,
  filters: MetadataFilters | undefined,
): boolean {
  if (!filters) return true;
  for (const [key, wanted] of Object.entries(filters)) {
    const actual = key === 'docId' ? chunk.docId : key === 'source' ? chunk.source : chunk.metadata[key];
    if (actual === undefined) return false;
    const options = Array.isArray(wanted) ? (wanted as readonly MetadataValue[]) : [wanted as MetadataValue];
    if (!options.includes(actual)) return false;
  }
  return true;
}
