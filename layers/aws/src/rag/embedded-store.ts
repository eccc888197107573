/**
 * The embedded vector store of the local run: everything in the memory of one Node process.
 *
 * - kNN: an HNSW graph (usearch, cosine metric). usearch is a native addon, so it is imported lazily, on
 *   the first write or query: Lambda bundles hold this module (usearch marked external) but never run it.
 * - Keyword side: a BM25 inverted index (k1 1.2, b 0.75) over each chunk's text, title and headings.
 * - Hybrid: both sides' candidates, each scored on both sides, fused with {@link fuseHybrid}.
 * - Filters: a value index per filter key bounds how many chunks can match. Few (at most
 *   `exactScanLimit`): an exact scan of exactly those chunks. Many: HNSW with growing oversampling until
 *   `k` of its hits match, falling back to the exact scan once the oversampling would cover the whole index.
 *
 * Every mutation runs in one synchronous step after the usearch module is loaded, and so does every
 * search, so a reader never sees half of a document version (Node runs one of them at a time).
 */
import type { Index as UsearchIndex } from 'usearch';
import {
  fuseHybrid,
  type IndexedChunk,
  type KnownDocument,
  type MetadataFilters,
  type MetadataValue,
  matchesFilters,
  type ReplaceResult,
  type RetrievedChunk,
  type ScoredId,
  similarityFromCosineDistance,
  type VectorQuery,
  type VectorStore,
  VectorStoreWriteError,
} from '../../../core/src/rag/store.ts';
import { ConfigError, ValidationError } from '../errors.ts';

/** BM25 term-frequency saturation. */
const BM25_K1 = 1.2;
/** BM25 document-length normalization. */
const BM25_B = 0.75;
/** Filtered queries whose matching chunks number at most this are served by an exact scan. */
const DEFAULT_EXACT_SCAN_LIMIT = 20_000;
/** Oversampling grows by this factor per HNSW round of a filtered query. */
const OVERSAMPLING_GROWTH = 4;
/** Candidates each side of a hybrid query contributes, as a multiple of `k` (and at least `MIN_HYBRID_DEPTH`). */
const HYBRID_DEPTH_FACTOR = 2;
const MIN_HYBRID_DEPTH = 20;
/** Posting-list keys are 32-bit. */
const MAX_KEY = 0xffff_ffff;
const MAX_TF = 0xffff;

const WORD = /[\p{L}\p{N}]+/gu;

/** The BM25 tokenizer: NFKC, lowercase, runs of Unicode letters and digits. */
export function tokenize(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().match(WORD) ?? [];
}

/** Tuning of an {@link EmbeddedVectorStore}. */
export interface EmbeddedVectorStoreOptions {
  /**
   * Embedding dimension. Vectors of any other length are refused.
   * @default the length of the first vector written
   */
  readonly dimensions?: number;
  /**
   * HNSW graph degree (usearch `connectivity`, "M").
   * @default 16
   */
  readonly connectivity?: number;
  /**
   * HNSW candidate-list size while inserting (usearch `expansion_add`, "efConstruction").
   * @default 128
   */
  readonly expansionAdd?: number;
  /**
   * HNSW candidate-list size while searching (usearch `expansion_search`, "ef"); a query for more than
   * this many neighbours uses its own count.
   * @default 64
   */
  readonly expansionSearch?: number;
  /**
   * A filtered query whose filters can match at most this many chunks is served by an exact scan of
   * those chunks; above it, by HNSW with oversampling.
   * @default 20000
   */
  readonly exactScanLimit?: number;
  /** Called with how each query's kNN side was served (tests and benchmarks). */
  readonly onQueryPlan?: (plan: QueryPlan) => void;
}

/** How the kNN side of one query was served. */
export interface QueryPlan {
  /** `exact`: a brute-force scan of the chunks matching the filters; `hnsw`: the graph alone. */
  readonly path: 'hnsw' | 'exact';
  /** HNSW searches run: 1 for a plain kNN query, one per oversampling round for a filtered one. */
  readonly rounds: number;
  /** The most chunks the filters can match (from the value index); absent without filters. */
  readonly filterBound?: number;
}

/** One indexed chunk, without its embedding's original `number[]`. */
interface StoredChunk {
  readonly key: number;
  readonly chunkId: string;
  readonly docId: string;
  readonly docVersion: string;
  readonly index: number;
  readonly text: string;
  readonly title?: string;
  readonly source?: string;
  readonly headings: readonly string[];
  readonly metadata: Readonly<Record<string, MetadataValue>>;
  readonly vector: Float32Array;
  /** Euclidean norm of `vector`. */
  readonly norm: number;
  /** Tokens of its text, title and headings (the BM25 length). */
  readonly length: number;
  /** The posting lists holding this chunk (one per distinct term), filled by {@link Bm25Index.add}. */
  readonly postings: PostingList[];
}

/** A chunk and its similarity to the query. */
interface Neighbour {
  readonly chunk: StoredChunk;
  readonly similarity: number;
}

type UsearchModule = typeof import('usearch');

let usearchModule: Promise<UsearchModule> | undefined;

/** Loads the usearch native addon once, on first use. */
function loadUsearch(): Promise<UsearchModule> {
  usearchModule ??= import('usearch').catch((error: unknown) => {
    usearchModule = undefined;
    throw new ConfigError('the embedded vector store needs the usearch package (npm install usearch)', {
      cause: error,
    });
  });
  return usearchModule;
}

/**
 * An in-process {@link VectorStore}: HNSW kNN (usearch), BM25 keyword search, hybrid fusion and metadata
 * filters. Nothing is persisted. Use {@link embeddedVectorStore} to share one store between the handlers
 * of the local run.
 */
export class EmbeddedVectorStore implements VectorStore {
  readonly kind = 'embedded' as const;
  readonly supportsHybrid = true;

  readonly #options: EmbeddedVectorStoreOptions;
  readonly #exactScanLimit: number;
  #dimensions: number | undefined;
  #index: UsearchIndex | undefined;
  /** Every indexed chunk by its usearch key. */
  readonly #chunks = new Map<number, StoredChunk>();
  /** The keys of each document's indexed version. */
  readonly #documents = new Map<string, readonly number[]>();
  readonly #keywords = new Bm25Index();
  readonly #values = new ValueIndex();
  #nextKey = 1;

  constructor(options: EmbeddedVectorStoreOptions = {}) {
    const { dimensions, exactScanLimit = DEFAULT_EXACT_SCAN_LIMIT } = options;
    if (dimensions !== undefined && (!Number.isInteger(dimensions) || dimensions < 1)) {
      throw new ConfigError(`embedded vector store: dimensions must be a positive whole number, got ${dimensions}`);
    }
    if (!Number.isInteger(exactScanLimit) || exactScanLimit < 0) {
      throw new ConfigError(`embedded vector store: exactScanLimit must be a whole number ≥ 0, got ${exactScanLimit}`);
    }
    this.#options = options;
    this.#dimensions = dimensions;
    this.#exactScanLimit = exactScanLimit;
  }

  /** The embedding dimension; undefined until given or fixed by the first write. */
  get dimensions(): number | undefined {
    return this.#dimensions;
  }

  /** Chunks indexed. */
  get size(): number {
    return this.#chunks.size;
  }

  async replaceDocument(
    docId: string,
    docVersion: string,
    chunks: readonly IndexedChunk[],
    _known?: KnownDocument,
  ): Promise<ReplaceResult> {
    const usearch = chunks.length > 0 ? await loadUsearch() : undefined;
    // From here on, synchronous: no reader runs until the new version has replaced the old one.
    const dimensions = this.#dimensions ?? chunks[0]?.vector.length;
    const failures = validateChunks(docId, docVersion, chunks, dimensions);
    if (failures.length > 0) throw new VectorStoreWriteError(docId, failures);
    if (usearch !== undefined && dimensions !== undefined && this.#index === undefined) {
      this.#dimensions = dimensions;
      this.#index = new usearch.Index({
        dimensions,
        metric: usearch.MetricKind.Cos,
        quantization: usearch.ScalarKind.F32,
        connectivity: this.#options.connectivity ?? 16,
        expansion_add: this.#options.expansionAdd ?? 128,
        expansion_search: this.#options.expansionSearch ?? 64,
        multi: false,
      });
    }

    const tokens = chunks.map(chunkTokens);
    const stored = chunks.map((chunk, i) => this.#store(chunk, tokens[i]?.length ?? 0));
    if (stored.length > 0) {
      const index = this.#index;
      if (index === undefined || dimensions === undefined) throw new Error('unreachable: no HNSW index');
      const keys = BigUint64Array.from(stored, (c) => BigInt(c.key));
      const matrix = new Float32Array(stored.length * dimensions);
      stored.forEach((c, i) => {
        matrix.set(c.vector, i * dimensions);
      });
      try {
        index.add(keys, matrix, 0);
      } catch (error) {
        try {
          index.remove(keys);
        } catch {
          // The keys are fresh and never reused: a vector left behind matches no chunk and is skipped.
        }
        throw new VectorStoreWriteError(
          docId,
          chunks.map((c) => ({ chunkId: c.chunkId, reason: `HNSW insert failed: ${String(error)}` })),
        );
      }
    }

    const previous = this.#documents.get(docId) ?? [];
    const previousIds = previous.map((key) => this.#chunks.get(key)?.chunkId);
    this.#removeKeys(previous);
    stored.forEach((chunk, i) => {
      this.#chunks.set(chunk.key, chunk);
      this.#keywords.add(chunk, tokens[i] ?? []);
      this.#values.add(chunk);
    });
    if (stored.length > 0) this.#documents.set(docId, stored.map((c) => c.key));
    else this.#documents.delete(docId);

    const written = new Set(chunks.map((c) => c.chunkId));
    const removed = previousIds.filter((id) => id === undefined || !written.has(id)).length;
    return { indexed: stored.length, removed };
  }

  async deleteDocument(docId: string, _known?: KnownDocument): Promise<number> {
    const keys = this.#documents.get(docId);
    if (keys === undefined) return 0;
    this.#removeKeys(keys);
    this.#documents.delete(docId);
    return keys.length;
  }

  async search(query: VectorQuery): Promise<RetrievedChunk[]> {
    query.signal?.throwIfAborted();
    const { k, minScore = 0 } = query;
    if (!Number.isInteger(k) || k < 1) throw new ValidationError('k', 'must be a positive whole number');
    if (!(minScore >= 0 && minScore <= 1)) throw new ValidationError('minScore', 'must be between 0 and 1');
    if (this.#index === undefined || this.#dimensions === undefined || this.#chunks.size === 0) return [];
    if (query.vector.length !== this.#dimensions) {
      throw new ValidationError(
        'vector',
        `has ${query.vector.length} dimensions; this store holds ${this.#dimensions}-dimensional embeddings`,
      );
    }
    const vector = Float32Array.from(query.vector);
    const filters = query.filters && Object.keys(query.filters).length > 0 ? query.filters : undefined;
    if (!query.hybrid) {
      return this.#nearest(vector, k, filters)
        .filter((n) => n.similarity >= minScore)
        .map((n) => retrieved(n.chunk, n.similarity, n.similarity));
    }
    return this.#hybrid(vector, query.text, k, filters, minScore);
  }

  /** The `k` chunks nearest to `vector` among those matching `filters`, best first. */
  #nearest(vector: Float32Array, k: number, filters: MetadataFilters | undefined): Neighbour[] {
    const index = this.#index;
    if (index === undefined) return [];
    const size = this.#chunks.size;
    if (filters === undefined) {
      this.#options.onQueryPlan?.({ path: 'hnsw', rounds: 1 });
      return this.#hnsw(index, vector, Math.min(k, size), k, undefined);
    }
    const bound = this.#values.bound(filters);
    if (bound.count === 0) {
      this.#options.onQueryPlan?.({ path: 'exact', rounds: 0, filterBound: 0 });
      return [];
    }
    if (bound.count <= this.#exactScanLimit) {
      this.#options.onQueryPlan?.({ path: 'exact', rounds: 0, filterBound: bound.count });
      return this.#exactScan(vector, k, this.#matching(bound.field, filters));
    }
    // Oversample by the inverse of the share of chunks that may match, then grow.
    let want = Math.ceil(k * Math.max(2, (1.5 * size) / bound.count));
    let rounds = 0;
    while (want < size) {
      rounds++;
      const hits = this.#hnsw(index, vector, want, k, filters);
      if (hits.length >= k) {
        this.#options.onQueryPlan?.({ path: 'hnsw', rounds, filterBound: bound.count });
        return hits;
      }
      want *= OVERSAMPLING_GROWTH;
    }
    // The oversampling would cover the whole index: an exact scan of the matching chunks is cheaper and complete.
    this.#options.onQueryPlan?.({ path: 'exact', rounds, filterBound: bound.count });
    return this.#exactScan(vector, k, this.#matching(bound.field, filters));
  }

  /** One HNSW search for `want` neighbours; the first `k` of them that match `filters`. */
  #hnsw(
    index: UsearchIndex,
    vector: Float32Array,
    want: number,
    k: number,
    filters: MetadataFilters | undefined,
  ): Neighbour[] {
    const { keys, distances } = index.search(vector, want, 1);
    const out: Neighbour[] = [];
    for (let i = 0; i < keys.length && out.length < k; i++) {
      const chunk = this.#chunks.get(Number(keys[i]));
      if (chunk === undefined || !matchesFilters(chunk, filters)) continue;
      out.push({ chunk, similarity: similarityFromCosineDistance(distances[i] ?? 1) });
    }
    return sortNeighbours(out);
  }

  /** Brute force: the `k` nearest of `candidates`. */
  #exactScan(vector: Float32Array, k: number, candidates: Iterable<StoredChunk>): Neighbour[] {
    const queryNorm = norm(vector);
    const top = new TopK(k);
    for (const chunk of candidates) top.offer(chunk, similarityTo(vector, queryNorm, chunk));
    return top.sorted();
  }

  /** The chunks matching `filters`, read from the value postings of their most selective key. */
  *#matching(field: string, filters: MetadataFilters): Generator<StoredChunk> {
    for (const key of this.#values.keys(field, filters[field])) {
      const chunk = this.#chunks.get(key);
      if (chunk !== undefined && matchesFilters(chunk, filters)) yield chunk;
    }
  }

  #hybrid(
    vector: Float32Array,
    text: string,
    k: number,
    filters: MetadataFilters | undefined,
    minScore: number,
  ): RetrievedChunk[] {
    const depth = Math.max(k * HYBRID_DEPTH_FACTOR, MIN_HYBRID_DEPTH);
    const nearest = this.#nearest(vector, depth, filters);
    const keyword = this.#keywords.search(tokenize(text), (key) => {
      const chunk = this.#chunks.get(key);
      return chunk !== undefined && matchesFilters(chunk, filters);
    });
    // Every candidate gets both scores: its exact similarity (the store has the vectors) and its BM25
    // score, so a chunk found by one side alone is not ranked as if the other side had scored it 0.
    const candidates = new Map<number, Neighbour>();
    for (const n of nearest) candidates.set(n.chunk.key, n);
    const queryNorm = norm(vector);
    for (const hit of keyword.top(depth)) {
      const chunk = this.#chunks.get(hit.key);
      if (chunk === undefined || candidates.has(hit.key)) continue;
      candidates.set(hit.key, { chunk, similarity: similarityTo(vector, queryNorm, chunk) });
    }
    const vectorHits: ScoredId[] = [];
    const keywordHits: ScoredId[] = [];
    for (const [key, n] of candidates) {
      vectorHits.push({ id: String(key), score: n.similarity });
      const score = keyword.scores.get(key);
      if (score !== undefined) keywordHits.push({ id: String(key), score });
    }
    const out: RetrievedChunk[] = [];
    for (const hit of fuseHybrid(vectorHits, keywordHits)) {
      const chunk = this.#chunks.get(Number(hit.id));
      if (chunk === undefined || hit.similarity < minScore) continue;
      out.push(retrieved(chunk, hit.score, hit.similarity));
    }
    return out
      .sort((a, b) => b.score - a.score || compareIds(a.chunkId, b.chunkId))
      .slice(0, k);
  }

  /** A chunk as stored: a fresh key, a Float32Array copy of its vector, frozen headings and metadata. */
  #store(chunk: IndexedChunk, tokens: number): StoredChunk {
    if (this.#nextKey > MAX_KEY) throw new ConfigError('embedded vector store: chunk key space exhausted');
    const vector = Float32Array.from(chunk.vector);
    return {
      key: this.#nextKey++,
      chunkId: chunk.chunkId,
      docId: chunk.docId,
      docVersion: chunk.docVersion,
      index: chunk.index,
      text: chunk.text,
      ...(chunk.title === undefined ? {} : { title: chunk.title }),
      ...(chunk.source === undefined ? {} : { source: chunk.source }),
      headings: Object.freeze([...chunk.headings]),
      metadata: Object.freeze({ ...chunk.metadata }),
      vector,
      norm: norm(vector),
      length: tokens,
      postings: [],
    };
  }

  #removeKeys(keys: readonly number[]): void {
    if (keys.length === 0) return;
    this.#index?.remove(BigUint64Array.from(keys, (key) => BigInt(key)));
    const chunks: StoredChunk[] = [];
    for (const key of keys) {
      const chunk = this.#chunks.get(key);
      if (chunk === undefined) continue;
      chunks.push(chunk);
      this.#chunks.delete(key);
      this.#values.remove(chunk);
    }
    this.#keywords.remove(chunks);
  }
}

/** Why each chunk cannot be written; empty when all can. */
function validateChunks(
  docId: string,
  docVersion: string,
  chunks: readonly IndexedChunk[],
  dimensions: number | undefined,
): { chunkId: string; reason: string }[] {
  const failures: { chunkId: string; reason: string }[] = [];
  const seen = new Set<string>();
  for (const chunk of chunks) {
    const fail = (reason: string) => failures.push({ chunkId: chunk.chunkId, reason });
    if (chunk.docId !== docId) fail(`belongs to document ${chunk.docId}, not ${docId}`);
    else if (chunk.docVersion !== docVersion) fail(`is of version ${chunk.docVersion}, not ${docVersion}`);
    else if (seen.has(chunk.chunkId)) fail('appears twice in the version');
    else if (chunk.vector.length === 0) fail('has an empty vector');
    else if (chunk.vector.length !== dimensions) {
      fail(`vector has ${chunk.vector.length} dimensions; this store holds ${dimensions}-dimensional vectors`);
    } else if (!chunk.vector.every(Number.isFinite)) fail('vector holds a value that is not a finite number');
    seen.add(chunk.chunkId);
  }
  return failures;
}

function chunkTokens(chunk: Pick<IndexedChunk, 'text' | 'title' | 'headings'>): string[] {
  const tokens = tokenize(chunk.text);
  if (chunk.title !== undefined) tokens.push(...tokenize(chunk.title));
  for (const heading of chunk.headings) tokens.push(...tokenize(heading));
  return tokens;
}

function retrieved(chunk: StoredChunk, score: number, similarity: number): RetrievedChunk {
  return {
    chunkId: chunk.chunkId,
    docId: chunk.docId,
    docVersion: chunk.docVersion,
    index: chunk.index,
    text: chunk.text,
    ...(chunk.title === undefined ? {} : { title: chunk.title }),
    ...(chunk.source === undefined ? {} : { source: chunk.source }),
    headings: chunk.headings,
    metadata: chunk.metadata,
    score,
    similarity,
  };
}

const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function sortNeighbours(neighbours: Neighbour[]): Neighbour[] {
  return neighbours.sort(
    (a, b) => b.similarity - a.similarity || compareIds(a.chunk.chunkId, b.chunk.chunkId),
  );
}

function norm(vector: Float32Array): number {
  return Math.sqrt(dot(vector, vector));
}

function dot(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  const tail = n - (n % 4);
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let i = 0; i < tail; i += 4) {
    s0 += (a[i] as number) * (b[i] as number);
    s1 += (a[i + 1] as number) * (b[i + 1] as number);
    s2 += (a[i + 2] as number) * (b[i + 2] as number);
    s3 += (a[i + 3] as number) * (b[i + 3] as number);
  }
  for (let i = tail; i < n; i++) s0 += (a[i] as number) * (b[i] as number);
  return s0 + s1 + s2 + s3;
}

/** (1 + cos) / 2 of the query and a stored chunk; a zero vector is at cosine 0, as in usearch. */
function similarityTo(query: Float32Array, queryNorm: number, chunk: StoredChunk): number {
  const cos = queryNorm === 0 || chunk.norm === 0 ? 0 : dot(query, chunk.vector) / (queryNorm * chunk.norm);
  return similarityFromCosineDistance(1 - cos);
}

/** The `k` best neighbours offered (ties by chunk id), kept in a min-heap. */
class TopK {
  readonly #heap: Neighbour[] = [];
  constructor(readonly k: number) {}

  offer(chunk: StoredChunk, similarity: number): void {
    const heap = this.#heap;
    if (heap.length < this.k) {
      heap.push({ chunk, similarity });
      this.#up(heap.length - 1);
    } else if (heap[0] !== undefined && worse(heap[0], { chunk, similarity })) {
      heap[0] = { chunk, similarity };
      this.#down(0);
    }
  }

  sorted(): Neighbour[] {
    return sortNeighbours([...this.#heap]);
  }

  #up(i: number): void {
    const heap = this.#heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!worse(heap[i] as Neighbour, heap[parent] as Neighbour)) break;
      [heap[i], heap[parent]] = [heap[parent] as Neighbour, heap[i] as Neighbour];
      i = parent;
    }
  }

  #down(i: number): void {
    const heap = this.#heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && worse(heap[left] as Neighbour, heap[least] as Neighbour)) least = left;
      if (right < heap.length && worse(heap[right] as Neighbour, heap[least] as Neighbour)) least = right;
      if (least === i) return;
      [heap[i], heap[least]] = [heap[least] as Neighbour, heap[i] as Neighbour];
      i = least;
    }
  }
}

/** Whether `a` ranks below `b`. */
function worse(a: Neighbour, b: Neighbour): boolean {
  return a.similarity < b.similarity || (a.similarity === b.similarity && a.chunk.chunkId > b.chunk.chunkId);
}

/** The chunks holding one term, by ascending key, with the term frequency and chunk length of each. */
interface PostingList {
  readonly term: string;
  keys: Uint32Array;
  tfs: Uint16Array;
  lengths: Uint32Array;
  size: number;
}

/** BM25 scores of one query's matching chunks. */
interface KeywordResult {
  readonly scores: ReadonlyMap<number, number>;
  /** The `n` best, best first (ties by key). */
  top(n: number): { key: number; score: number }[];
}

/**
 * An inverted index scored with Okapi BM25 (Lucene's idf, never negative). Posting lists are typed
 * arrays in key order: keys only grow, so appending keeps them sorted, and removal compacts in place.
 */
class Bm25Index {
  readonly #terms = new Map<string, PostingList>();
  #chunks = 0;
  #totalLength = 0;

  /** Indexes a chunk's tokens, recording in the chunk the posting lists that hold it. */
  add(chunk: StoredChunk, tokens: readonly string[]): void {
    const counts = new Map<string, number>();
    for (const token of tokens) counts.set(token, (counts.get(token) ?? 0) + 1);
    for (const [term, tf] of counts) {
      let list = this.#terms.get(term);
      if (list === undefined) {
        list = { term, keys: new Uint32Array(2), tfs: new Uint16Array(2), lengths: new Uint32Array(2), size: 0 };
        this.#terms.set(term, list);
      }
      if (list.size === list.keys.length) grow(list);
      list.keys[list.size] = chunk.key;
      list.tfs[list.size] = Math.min(tf, MAX_TF);
      list.lengths[list.size] = tokens.length;
      list.size++;
      chunk.postings.push(list);
    }
    this.#chunks++;
    this.#totalLength += tokens.length;
  }

  /** Removes chunks from every posting list that holds them. */
  remove(chunks: readonly StoredChunk[]): void {
    const byList = new Map<PostingList, number[]>();
    for (const chunk of chunks) {
      for (const list of chunk.postings) {
        const keys = byList.get(list);
        if (keys === undefined) byList.set(list, [chunk.key]);
        else keys.push(chunk.key);
      }
      this.#chunks--;
      this.#totalLength -= chunk.length;
    }
    for (const [list, keys] of byList) {
      removeSorted(
        list,
        keys.sort((a, b) => a - b),
      );
      if (list.size === 0) this.#terms.delete(list.term);
    }
  }

  /** BM25 scores of the chunks holding any of `tokens` that `accept` lets through. */
  search(tokens: readonly string[], accept: (key: number) => boolean): KeywordResult {
    const scores = new Map<number, number>();
    const n = this.#chunks;
    const averageLength = n > 0 ? this.#totalLength / n : 0;
    for (const term of new Set(tokens)) {
      const list = this.#terms.get(term);
      if (list === undefined) continue;
      const idf = Math.log(1 + (n - list.size + 0.5) / (list.size + 0.5));
      for (let i = 0; i < list.size; i++) {
        const tf = list.tfs[i] as number;
        const lengthRatio = averageLength > 0 ? (list.lengths[i] as number) / averageLength : 1;
        const weight = (idf * tf * (BM25_K1 + 1)) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * lengthRatio));
        const key = list.keys[i] as number;
        scores.set(key, (scores.get(key) ?? 0) + weight);
      }
    }
    for (const key of scores.keys()) if (!accept(key)) scores.delete(key);
    return {
      scores,
      top: (count) =>
        [...scores]
          .map(([key, score]) => ({ key, score }))
          .sort((a, b) => b.score - a.score || a.key - b.key)
          .slice(0, count),
    };
  }
}

function grow(list: PostingList): void {
  const capacity = list.keys.length * 2;
  const keys = new Uint32Array(capacity);
  keys.set(list.keys);
  const tfs = new Uint16Array(capacity);
  tfs.set(list.tfs);
  const lengths = new Uint32Array(capacity);
  lengths.set(list.lengths);
  list.keys = keys;
  list.tfs = tfs;
  list.lengths = lengths;
}

/** The first position in `list` whose key is ≥ `key`. */
function lowerBound(list: PostingList, key: number): number {
  let lo = 0;
  let hi = list.size;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list.keys[mid] as number) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Removes `sortedKeys` (ascending) from `list`, compacting it in one pass from the first removal. */
function removeSorted(list: PostingList, sortedKeys: readonly number[]): void {
  const first = sortedKeys[0];
  if (first === undefined) return;
  let write = lowerBound(list, first);
  let next = 0;
  for (let read = write; read < list.size; read++) {
    const key = list.keys[read] as number;
    while (next < sortedKeys.length && (sortedKeys[next] as number) < key) next++;
    if (sortedKeys[next] === key) continue;
    list.keys[write] = key;
    list.tfs[write] = list.tfs[read] as number;
    list.lengths[write] = list.lengths[read] as number;
    write++;
  }
  list.size = write;
}

/**
 * Keys of the chunks holding each value of each filter key (`docId`, `source` and metadata keys), so a
 * filtered query knows how many chunks can match before it scans any.
 */
class ValueIndex {
  readonly #fields = new Map<string, Map<MetadataValue, Set<number>>>();

  add(chunk: StoredChunk): void {
    for (const [field, value] of filterValues(chunk)) {
      let values = this.#fields.get(field);
      if (values === undefined) {
        values = new Map();
        this.#fields.set(field, values);
      }
      let keys = values.get(value);
      if (keys === undefined) {
        keys = new Set();
        values.set(value, keys);
      }
      keys.add(chunk.key);
    }
  }

  remove(chunk: StoredChunk): void {
    for (const [field, value] of filterValues(chunk)) {
      const values = this.#fields.get(field);
      const keys = values?.get(value);
      if (values === undefined || keys === undefined) continue;
      keys.delete(chunk.key);
      if (keys.size === 0) values.delete(value);
      if (values.size === 0) this.#fields.delete(field);
    }
  }

  /**
   * The most chunks `filters` can match: for each filter key, how many chunks hold one of its values
   * (a chunk holds one value per key); the least of these, and the key it comes from.
   */
  bound(filters: MetadataFilters): { count: number; field: string } {
    let best = { count: Number.POSITIVE_INFINITY, field: '' };
    for (const [field, wanted] of Object.entries(filters)) {
      let count = 0;
      for (const value of distinct(wanted)) count += this.#fields.get(field)?.get(value)?.size ?? 0;
      if (count < best.count) best = { count, field };
    }
    return best;
  }

  /** Keys of the chunks whose `field` holds one of `wanted`. */
  *keys(field: string, wanted: MetadataFilters[string] | undefined): Generator<number> {
    if (wanted === undefined) return;
    const values = this.#fields.get(field);
    for (const value of distinct(wanted)) yield* values?.get(value) ?? [];
  }
}

function distinct(wanted: MetadataValue | readonly MetadataValue[]): Set<MetadataValue> {
  return new Set(Array.isArray(wanted) ? (wanted as readonly MetadataValue[]) : [wanted as MetadataValue]);
}

/** The (key, value) pairs a filter can address on a chunk, read as {@link matchesFilters} reads them. */
function* filterValues(chunk: StoredChunk): Generator<[string, MetadataValue]> {
  yield ['docId', chunk.docId];
  if (chunk.source !== undefined) yield ['source', chunk.source];
  for (const [key, value] of Object.entries(chunk.metadata)) {
    if (key !== 'docId' && key !== 'source') yield [key, value];
  }
}

const registry = new Map<string, EmbeddedVectorStore>();

/**
 * The process-wide embedded store named `name`, created on first use: every handler of the local run
 * that asks for the same name shares its data.
 *
 * @param dimensions when given, the store's embedding dimension (checked against an existing store)
 * @throws ConfigError when the named store exists with another dimension
 */
export function embeddedVectorStore(name: string, dimensions?: number): EmbeddedVectorStore {
  const existing = registry.get(name);
  if (existing !== undefined) {
    if (dimensions !== undefined && existing.dimensions !== undefined && existing.dimensions !== dimensions) {
      throw new ConfigError(
        `embedded vector store ${name} holds ${existing.dimensions}-dimensional vectors, not ${dimensions}`,
      );
    }
    return existing;
  }
  const store = new EmbeddedVectorStore(dimensions === undefined ? {} : { dimensions });
  registry.set(name, store);
  return store;
}

/** Forgets every store of the registry (tests). */
export function clearEmbeddedVectorStores(): void {
  registry.clear();
}
