/**
 * The embedded vector store of the local run: everything in the memory of one Node process.
 *
 * - kNN: an HNSW graph (usearch, cosine metric, bf16 copies of the vectors by default) finds the
 *   candidates; their similarities are computed exactly from the store's float32 vectors. usearch is a
 *   native addon, so it is imported lazily, on the first write: Lambda bundles hold this module (usearch
 *   marked external) but never run it.
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
  type ReplaceResult,
  type RetrievedChunk,
  type ScoredId,
  similarityFromCosineDistance,
  type VectorQuery,
  type VectorStore,
  VectorStoreWriteError,
} from '#core/rag/store.ts';
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
/** Chunk keys stay exact doubles (and usearch's keys are 64-bit). */
const MAX_KEY = Number.MAX_SAFE_INTEGER;
/** HNSW candidates rescored with exact similarities, as a multiple of `k`. */
const RESCORED = 2;
/** Documents with at least this many chunks are inserted on every core. */
const PARALLEL_INSERT_MIN = 64;
/** usearch's scalar kind of each quantization option. */
const SCALAR_KIND = { f32: 'F32', bf16: 'BF16', f16: 'F16', i8: 'I8' } as const;

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
   * @default 64
   */
  readonly expansionAdd?: number;
  /**
   * HNSW candidate-list size while searching (usearch `expansion_search`, "ef"); a query for more than
   * this many neighbours uses its own count.
   * @default 64
   */
  readonly expansionSearch?: number;
  /**
   * How the HNSW graph stores its copy of the vectors. Similarities are always computed exactly from the
   * store's own float32 copy; the graph's precision only decides which candidates it finds. bf16 halves
   * the graph's memory and, vectors of 1024 dimensions being memory-bound, about doubles insert speed
   * with no measurable loss of recall on embedding-like data (see `bench/vector-store.ts`).
   * @default 'bf16'
   */
  readonly quantization?: 'f32' | 'bf16' | 'f16' | 'i8';
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

/** One indexed chunk, its embedding as a Float32Array. */
interface StoredChunk extends Omit<IndexedChunk, 'vector'> {
  readonly key: number;
  readonly vector: Float32Array;
  /** Euclidean norm of `vector`. */
  readonly norm: number;
  /** Tokens of its text, title and headings (the BM25 length). */
  readonly length: number;
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
      throw new ConfigError(
        `embedded vector store: dimensions must be a positive whole number, got ${dimensions}`,
      );
    }
    if (!Number.isInteger(exactScanLimit) || exactScanLimit < 0) {
      throw new ConfigError(
        `embedded vector store: exactScanLimit must be a whole number ≥ 0, got ${exactScanLimit}`,
      );
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
    const tokens = chunks.map(chunkTokens);
    const stored = chunks.map((chunk, i) => this.#store(chunk, tokens[i]?.length ?? 0));
    if (usearch !== undefined && dimensions !== undefined) {
      this.#insert(this.#graph(usearch, dimensions), docId, stored);
    }

    const previous = this.#documents.get(docId) ?? [];
    const previousIds = previous.map((key) => this.#chunks.get(key)?.chunkId);
    this.#removeKeys(previous);
    stored.forEach((chunk, i) => {
      this.#chunks.set(chunk.key, chunk);
      this.#keywords.add(chunk.key, tokens[i] ?? []);
      this.#values.add(chunk);
    });
    const keys = stored.map((c) => c.key);
    if (keys.length === 0) this.#documents.delete(docId);
    else this.#documents.set(docId, keys);

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
    const filter = filters === undefined ? undefined : this.#values.compile(filters);
    if (filter?.bound === 0) {
      this.#options.onQueryPlan?.({ path: 'exact', rounds: 0, filterBound: 0 });
      return [];
    }
    if (!query.hybrid) {
      return this.#nearest(vector, k, filter)
        .filter((n) => n.similarity >= minScore)
        .map((n) => retrieved(n.chunk, n.similarity, n.similarity));
    }
    return this.#hybrid(vector, query.text, k, filter, minScore);
  }

  /** The `k` chunks nearest to `vector` among those matching `filters`, best first. */
  #nearest(vector: Float32Array, k: number, filter: CompiledFilter | undefined): Neighbour[] {
    const index = this.#index;
    if (index === undefined) return [];
    const size = this.#chunks.size;
    if (filter === undefined) {
      this.#options.onQueryPlan?.({ path: 'hnsw', rounds: 1 });
      return this.#hnsw(index, vector, Math.min(RESCORED * k, size), k, undefined);
    }
    const filterBound = filter.bound;
    if (filterBound <= this.#exactScanLimit) {
      this.#options.onQueryPlan?.({ path: 'exact', rounds: 0, filterBound });
      return this.#exactScan(vector, k, filter.keys());
    }
    // Oversample by the inverse of the share of chunks that may match, then grow.
    let want = Math.ceil(k * Math.max(2, (1.5 * size) / filterBound));
    let rounds = 0;
    while (want < size) {
      rounds++;
      const hits = this.#hnsw(index, vector, want, k, filter.test);
      if (hits.length >= k) {
        this.#options.onQueryPlan?.({ path: 'hnsw', rounds, filterBound });
        return hits;
      }
      want *= OVERSAMPLING_GROWTH;
    }
    // The oversampling would cover the whole index: an exact scan of the matching chunks is cheaper and complete.
    this.#options.onQueryPlan?.({ path: 'exact', rounds, filterBound });
    return this.#exactScan(vector, k, filter.keys());
  }

  /**
   * One HNSW search for `want` neighbours. The first `RESCORED * k` of them that pass `accept` get their
   * exact similarity (the graph's distances are only as precise as its quantization); the best `k` of
   * those are returned.
   */
  #hnsw(
    index: UsearchIndex,
    vector: Float32Array,
    want: number,
    k: number,
    accept: ((key: number) => boolean) | undefined,
  ): Neighbour[] {
    const { keys } = index.search(vector, want, 1);
    const queryNorm = norm(vector);
    const out: Neighbour[] = [];
    for (let i = 0; i < keys.length && out.length < RESCORED * k; i++) {
      const key = Number(keys[i]);
      const chunk = this.#chunks.get(key);
      if (chunk === undefined || (accept !== undefined && !accept(key))) continue;
      out.push({ chunk, similarity: similarityTo(vector, queryNorm, chunk) });
    }
    return sortNeighbours(out).slice(0, k);
  }

  /** Brute force: the `k` nearest of the chunks under `keys`. */
  #exactScan(vector: Float32Array, k: number, keys: readonly number[]): Neighbour[] {
    const queryNorm = norm(vector);
    const top = new TopK<StoredChunk>(k, (a, b) => compareIds(b.chunkId, a.chunkId));
    for (const key of keys) {
      const chunk = this.#chunks.get(key);
      if (chunk !== undefined) top.offer(chunk, similarityTo(vector, queryNorm, chunk));
    }
    return top.sorted().map(({ item, score }) => ({ chunk: item, similarity: score }));
  }

  #hybrid(
    vector: Float32Array,
    text: string,
    k: number,
    filter: CompiledFilter | undefined,
    minScore: number,
  ): RetrievedChunk[] {
    const depth = Math.max(k * HYBRID_DEPTH_FACTOR, MIN_HYBRID_DEPTH);
    const nearest = this.#nearest(vector, depth, filter);
    const keyword = this.#keywords.search(
      tokenize(text),
      depth,
      filter?.test,
      nearest.map((n) => n.chunk.key),
    );
    // Every candidate gets both scores: its exact similarity (the store has the vectors) and its BM25
    // score, so a chunk found by one side alone is not ranked as if the other side had scored it 0.
    const candidates = new Map<number, Neighbour>();
    for (const n of nearest) candidates.set(n.chunk.key, n);
    const queryNorm = norm(vector);
    for (const hit of keyword.top) {
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
    return out.sort((a, b) => b.score - a.score || compareIds(a.chunkId, b.chunkId)).slice(0, k);
  }

  /** The HNSW graph, created on the first write (which fixes the dimension when none was given). */
  #graph(usearch: UsearchModule, dimensions: number): UsearchIndex {
    this.#dimensions = dimensions;
    this.#index ??= new usearch.Index({
      dimensions,
      metric: usearch.MetricKind.Cos,
      quantization: usearch.ScalarKind[SCALAR_KIND[this.#options.quantization ?? 'bf16']],
      connectivity: this.#options.connectivity ?? 16,
      expansion_add: this.#options.expansionAdd ?? 64,
      expansion_search: this.#options.expansionSearch ?? 64,
      multi: false,
    });
    return this.#index;
  }

  /** Adds the chunks' vectors to the graph, all or none. */
  #insert(index: UsearchIndex, docId: string, stored: readonly StoredChunk[]): void {
    const dimensions = index.dimensions();
    const keys = BigUint64Array.from(stored, (c) => BigInt(c.key));
    const matrix = new Float32Array(stored.length * dimensions);
    stored.forEach((c, i) => {
      matrix.set(c.vector, i * dimensions);
    });
    try {
      // Threads pay off for long documents only: starting them costs more than a few insertions.
      index.add(keys, matrix, stored.length >= PARALLEL_INSERT_MIN ? 0 : 1);
    } catch (error) {
      try {
        index.remove(keys);
      } catch {
        // Keys are never reused: a vector left behind belongs to no chunk, and searches skip it.
      }
      throw new VectorStoreWriteError(
        docId,
        stored.map((c) => ({ chunkId: c.chunkId, reason: `HNSW insert failed: ${String(error)}` })),
      );
    }
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
    };
  }

  #removeKeys(keys: readonly number[]): void {
    if (keys.length === 0) return;
    this.#index?.remove(BigUint64Array.from(keys, (key) => BigInt(key)));
    for (const key of keys) {
      const chunk = this.#chunks.get(key);
      if (chunk === undefined) continue;
      this.#chunks.delete(key);
      this.#values.remove(chunk);
      this.#keywords.remove(key, chunkTokens(chunk));
    }
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
      fail(
        `vector has ${chunk.vector.length} dimensions; this store holds ${dimensions}-dimensional vectors`,
      );
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

/**
 * The `k` best items offered by score, kept in a min-heap; `tieOrder(a, b) > 0` when `a` goes first
 * among equal scores.
 */
class TopK<T> {
  readonly #heap: { item: T; score: number }[] = [];
  constructor(
    readonly k: number,
    readonly tieOrder: (a: T, b: T) => number,
  ) {}

  offer(item: T, score: number): void {
    const heap = this.#heap;
    const entry = { item, score };
    if (heap.length < this.k) {
      heap.push(entry);
      this.#up(heap.length - 1);
    } else if (heap[0] !== undefined && this.#worse(heap[0], entry)) {
      heap[0] = entry;
      this.#down(0);
    }
  }

  /** The items kept, best first. */
  sorted(): { item: T; score: number }[] {
    return [...this.#heap].sort((a, b) => (this.#worse(a, b) ? 1 : this.#worse(b, a) ? -1 : 0));
  }

  #worse(a: { item: T; score: number }, b: { item: T; score: number }): boolean {
    return a.score < b.score || (a.score === b.score && this.tieOrder(a.item, b.item) < 0);
  }

  #up(i: number): void {
    const heap = this.#heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const child = heap[i];
      const above = heap[parent];
      if (child === undefined || above === undefined || !this.#worse(child, above)) break;
      heap[i] = above;
      heap[parent] = child;
      i = parent;
    }
  }

  #down(i: number): void {
    const heap = this.#heap;
    for (;;) {
      let least = i;
      for (const child of [2 * i + 1, 2 * i + 2]) {
        const candidate = heap[child];
        const current = heap[least];
        if (candidate !== undefined && current !== undefined && this.#worse(candidate, current))
          least = child;
      }
      if (least === i) return;
      [heap[i], heap[least]] = [
        heap[least] as { item: T; score: number },
        heap[i] as { item: T; score: number },
      ];
      i = least;
    }
  }
}

/**
 * The chunks holding one term, as pairs: the chunk's slot, then its term frequency and length packed in
 * one number (`length * TF_RANGE + tf`). Plain arrays of numbers: most terms are rare, and a small array
 * costs a fraction of a typed array.
 */
type Postings = number[];

const TF_RANGE = 0x1_0000;

/** What a keyword query found. */
interface KeywordResult {
  /** The best chunks, best first (ties by key). */
  readonly top: readonly { key: number; score: number }[];
  /** BM25 scores of the `top` chunks and of the other chunks asked about (those that match). */
  readonly scores: ReadonlyMap<number, number>;
}

/**
 * An inverted index scored with Okapi BM25 (Lucene's idf, never negative). Each chunk gets a dense slot
 * (freed slots are reused), so a query adds its scores up in a typed array rather than a map: a common
 * word can hold most chunks.
 */
class Bm25Index {
  readonly #terms = new Map<string, Postings>();
  readonly #slots = new Map<number, number>();
  /** Chunk key by slot; -1 for a free slot. */
  readonly #keys: number[] = [];
  readonly #free: number[] = [];
  #accumulator = new Float64Array(0);
  #chunks = 0;
  #totalLength = 0;

  /** Indexes a chunk's tokens under its key. */
  add(key: number, tokens: readonly string[]): void {
    const slot = this.#free.pop() ?? this.#keys.length;
    this.#keys[slot] = key;
    this.#slots.set(key, slot);
    for (const [term, tf] of termFrequencies(tokens)) {
      const packed = tokens.length * TF_RANGE + Math.min(tf, TF_RANGE - 1);
      const postings = this.#terms.get(term);
      if (postings === undefined) this.#terms.set(term, [slot, packed]);
      else postings.push(slot, packed);
    }
    this.#chunks++;
    this.#totalLength += tokens.length;
  }

  /** Removes a chunk, given the tokens it was indexed with. */
  remove(key: number, tokens: readonly string[]): void {
    const slot = this.#slots.get(key);
    if (slot === undefined) return;
    for (const term of termFrequencies(tokens).keys()) {
      const postings = this.#terms.get(term);
      if (postings === undefined) continue;
      let i = 0;
      while (i < postings.length && postings[i] !== slot) i += 2;
      if (i >= postings.length) continue;
      // Posting lists are unordered: the last pair takes the removed one's place.
      const last = postings.length - 2;
      postings[i] = postings[last] as number;
      postings[i + 1] = postings[last + 1] as number;
      postings.length = last;
      if (postings.length === 0) this.#terms.delete(term);
    }
    this.#slots.delete(key);
    this.#keys[slot] = -1;
    this.#free.push(slot);
    this.#chunks--;
    this.#totalLength -= tokens.length;
  }

  /**
   * BM25 scores of the chunks holding any of `tokens` that `accept` lets through: the `depth` best, and
   * the scores of the chunks under `also`.
   */
  search(
    tokens: readonly string[],
    depth: number,
    accept: ((key: number) => boolean) | undefined,
    also: readonly number[],
  ): KeywordResult {
    if (this.#accumulator.length < this.#keys.length)
      this.#accumulator = new Float64Array(this.#keys.length * 2);
    const sums = this.#accumulator;
    const touched: number[] = [];
    const n = this.#chunks;
    const averageLength = n > 0 ? this.#totalLength / n : 1;
    for (const term of new Set(tokens)) {
      const postings = this.#terms.get(term);
      if (postings === undefined) continue;
      const df = postings.length / 2;
      const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
      for (let i = 0; i < postings.length; i += 2) {
        const slot = postings[i] as number;
        const packed = postings[i + 1] as number;
        const tf = packed % TF_RANGE;
        const lengthRatio = Math.floor(packed / TF_RANGE) / averageLength;
        if (sums[slot] === 0) touched.push(slot);
        sums[slot] =
          (sums[slot] as number) +
          (idf * tf * (BM25_K1 + 1)) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * lengthRatio));
      }
    }
    const top = new TopK<number>(depth, (a, b) => b - a);
    for (const slot of touched) {
      const key = this.#keys[slot] as number;
      if (accept === undefined || accept(key)) top.offer(key, sums[slot] as number);
    }
    const scores = new Map<number, number>();
    const best = top.sorted().map(({ item, score }) => {
      scores.set(item, score);
      return { key: item, score };
    });
    for (const key of also) {
      const slot = this.#slots.get(key);
      const score = slot === undefined ? 0 : (sums[slot] as number);
      if (score > 0 && (accept === undefined || accept(key))) scores.set(key, score);
    }
    for (const slot of touched) sums[slot] = 0;
    return { top: best, scores };
  }
}

function termFrequencies(tokens: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const token of tokens) counts.set(token, (counts.get(token) ?? 0) + 1);
  return counts;
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
   * `filters` against this index. For each filter key, the chunks holding one of its values (a chunk
   * holds one value per key) are counted; the least count bounds how many chunks can match.
   */
  compile(filters: MetadataFilters): CompiledFilter {
    const fields = Object.entries(filters)
      .map(([field, wanted]) => {
        const values = this.#fields.get(field);
        const sets = [...distinct(wanted)].flatMap((value) => values?.get(value) ?? []);
        return { sets, count: sets.reduce((sum, set) => sum + set.size, 0) };
      })
      .sort((a, b) => a.count - b.count);
    const [narrowest, ...others] = fields;
    const test = (key: number) => fields.every((field) => field.sets.some((set) => set.has(key)));
    return {
      bound: narrowest?.count ?? 0,
      test,
      keys: () => {
        const out: number[] = [];
        for (const set of narrowest?.sets ?? []) {
          for (const key of set) {
            if (others.every((field) => field.sets.some((s) => s.has(key)))) out.push(key);
          }
        }
        return out;
      },
    };
  }
}

/** Metadata filters resolved against the value index: the same matches as `matchesFilters`. */
interface CompiledFilter {
  /** The most chunks that can match. */
  readonly bound: number;
  /** Whether the chunk under `key` matches. */
  readonly test: (key: number) => boolean;
  /** The keys of every matching chunk. */
  readonly keys: () => number[];
}

function distinct(wanted: MetadataValue | readonly MetadataValue[]): Set<MetadataValue> {
  return new Set(Array.isArray(wanted) ? (wanted as readonly MetadataValue[]) : [wanted as MetadataValue]);
}

/** The (key, value) pairs a filter can address on a chunk, read as `matchesFilters` reads them. */
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
