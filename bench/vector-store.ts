import { availableParallelism } from 'node:os';
import { EmbeddedVectorStore, type QueryPlan } from '#aws/rag/embedded-store.ts';
import { hashEmbedding, OFFLINE_DIMENSIONS } from '#core/models/offline.ts';
import {
  type IndexedChunk,
  type MetadataFilters,
  type MetadataValue,
  matchesFilters,
  type VectorQuery,
} from '#core/rag/store.ts';
import { announceSmoke, formatRatio, sized } from './options.ts';

/**
 * `npm run bench:vectors`: the embedded vector store of the local run (usearch HNSW + BM25), side by side
 * with an exact brute-force scan (Float32Array dot products) over the same vectors, in one process.
 *
 * Corpus: synthetic documents of 10 chunks of about 80 words (Zipf-distributed common words, words of the
 * document's topic, words of the document itself, and a rare code per document) with `lang` and `year`
 * metadata. Vectors (BENCH_VECTORS_EMBEDDING):
 * - `latent` (default): realistic random normalized vectors. Neural text embeddings have a low intrinsic
 *   dimension, so each chunk's vector is a random 1024 × 32 projection of a latent point (topic, then
 *   document, then chunk, each a Gaussian step from the one before) plus isotropic noise; a query is a
 *   further Gaussian step from a random chunk. Seconds to build.
 * - `hash`: the offline model's `hashEmbedding` of each text (what the local run indexes), about 0.2 ms
 *   per text. Its sparse hashed vectors are nearly orthogonal (the 10th neighbour of a query sits near
 *   cosine 0.2), a worst case for any approximate index, unlike neural embeddings: expect a lower recall.
 * Building the vectors is timed apart from insertion. Queries: 8 words of a random chunk (a quarter with
 * the document's code), k 10. Modes: kNN; hybrid (kNN + BM25); a selective filter (exact-scan path); a
 * broad filter (HNSW oversampling path). The baseline of kNN and hybrid is the exact scan over every
 * vector (hybrid adds BM25 on our side only); of a filter, `matchesFilters` on every chunk and the exact
 * scan of those that match. Recall@10: the share of the exact top 10 that the store returns.
 * BENCH_VECTORS_CHUNKS (default 100000), BENCH_VECTORS_QUERIES (default 500), BENCH_VECTORS_BASELINE_QUERIES
 * (default 200: the first queries, also those of the recall; a full scan of 100k vectors takes 0.1 s).
 * `--smoke`: 2000 chunks, 40 queries, 20 of them scanned.
 */
const CHUNKS = sized('BENCH_VECTORS_CHUNKS', 100_000, 2_000);
const QUERIES = sized('BENCH_VECTORS_QUERIES', 500, 40);
const BASELINE_QUERIES = Math.min(QUERIES, sized('BENCH_VECTORS_BASELINE_QUERIES', 200, 20));
const EMBEDDING = process.env.BENCH_VECTORS_EMBEDDING === 'hash' ? 'hash' : 'latent';
const DIMS = OFFLINE_DIMENSIONS;
const K = 10;
const CHUNKS_PER_DOC = 10;
const WORDS_PER_CHUNK = 80;
const TOPICS = 400;
const LATENT_DIMS = 32;

/** A seeded PRNG (mulberry32): every run builds the same corpus. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
const next = random(42);
const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
/** Standard normal (Box-Muller). */
const gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
/** Uniform with mean 0 and variance 1: noise where the shape does not matter, at a fraction of the cost. */
const uniform = () => (next() - 0.5) * Math.sqrt(12);
/** An item of `items` with probability proportional to 1 / rank (log-uniform rank: Zipf, s = 1). */
const zipf = <T>(items: readonly T[]): T =>
  items[Math.floor(Math.exp(next() * Math.log(items.length)))] ?? (items[0] as T);

// Pronounceable pseudo-words: 2 to 4 consonant-vowel syllables.
const SYLLABLES = [...'bdfgklmnprstvz'].flatMap((c) => [...'aeiou'].map((v) => c + v));
const word = () => Array.from({ length: 2 + Math.floor(next() * 3) }, () => pick(SYLLABLES)).join('');
const common = Array.from({ length: 20_000 }, word);

interface Chunk {
  readonly docId: string;
  readonly index: number;
  readonly text: string;
  readonly title: string;
  readonly code: string;
  readonly source: string;
  readonly metadata: Record<string, MetadataValue>;
  readonly topic: number;
}

const LANGS: readonly [string, number][] = [
  ['en', 0.6],
  ['de', 0.25],
  ['fr', 0.1],
  ['ja', 0.05],
];
function lang(): string {
  let r = next();
  for (const [name, share] of LANGS) {
    r -= share;
    if (r < 0) return name;
  }
  return 'en';
}

const topicWords = Array.from({ length: TOPICS }, () => Array.from({ length: 500 }, word));
const chunks: Chunk[] = [];
for (let d = 0; chunks.length < CHUNKS; d++) {
  const topic = Math.floor(next() * TOPICS);
  const own = Array.from({ length: 20 }, word);
  const code = `err${d.toString(36)}x${Math.floor(next() * 1e4)}`;
  const metadata = { lang: lang(), year: 2019 + Math.floor(next() * 7) };
  const vocabulary = topicWords[topic] ?? [];
  const title = `${zipf(vocabulary)} ${zipf(vocabulary)} guide`;
  for (let i = 0; i < CHUNKS_PER_DOC && chunks.length < CHUNKS; i++) {
    const words = Array.from({ length: WORDS_PER_CHUNK }, () => {
      const r = next();
      return r < 0.3 ? zipf(common) : r < 0.8 ? zipf(vocabulary) : pick(own);
    });
    if (i === 0) words.splice(Math.floor(next() * words.length), 0, code);
    chunks.push({
      docId: `doc${d}`,
      index: i,
      text: words.join(' '),
      title,
      code,
      source: `s3://corpus/guide-${d % 50}.md`,
      metadata,
      topic,
    });
  }
}

/** The latent model: a random projection to 1024 dimensions of Gaussian steps in 32. */
const projection = Float64Array.from({ length: DIMS * LATENT_DIMS }, () => gauss() / Math.sqrt(DIMS));
const NOISE = 0.3 * Math.sqrt(LATENT_DIMS / DIMS);
const step = (from: Float64Array | undefined, scale: number) =>
  Float64Array.from({ length: LATENT_DIMS }, (_, j) => (from?.[j] ?? 0) + scale * gauss());
function project(latent: Float64Array, out: Float32Array, offset: number): void {
  let sum = 0;
  for (let d = 0; d < DIMS; d++) {
    let x = NOISE * uniform();
    for (let j = 0; j < LATENT_DIMS; j++)
      x += (projection[d * LATENT_DIMS + j] as number) * (latent[j] as number);
    out[offset + d] = x;
    sum += x * x;
  }
  const scale = 1 / Math.sqrt(sum);
  for (let d = 0; d < DIMS; d++) out[offset + d] = (out[offset + d] as number) * scale;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
announceSmoke();
console.log(
  `Vector store benchmark: ${CHUNKS} chunks × ${DIMS} dims, ${QUERIES} queries, k ${K} (node ${process.version}, ${availableParallelism()} cores)`,
);

// Vectors, timed apart from insertion. The flat array is also the baseline's data.
let t0 = performance.now();
const flat = new Float32Array(CHUNKS * DIMS);
const latents: Float64Array[] = [];
if (EMBEDDING === 'hash') {
  chunks.forEach((c, i) => {
    flat.set(hashEmbedding(`${c.title}\n${c.text}`, DIMS), i * DIMS);
  });
} else {
  const topics = Array.from({ length: TOPICS }, () => step(undefined, 1));
  let doc = step(undefined, 1);
  chunks.forEach((c, i) => {
    if (c.index === 0) doc = step(topics[c.topic], 0.6);
    const latent = step(doc, 0.5);
    latents.push(latent);
    project(latent, flat, i * DIMS);
  });
}
const embedSeconds = (performance.now() - t0) / 1000;
console.log(
  `  vectors    ${CHUNKS} in ${embedSeconds.toFixed(1)} s (${EMBEDDING === 'hash' ? 'hashEmbedding of each text' : 'latent model'}; not part of insert)`,
);

// Insert: one replaceDocument per document; only the store's time is counted.
let plan: QueryPlan | undefined;
const store = new EmbeddedVectorStore({
  dimensions: DIMS,
  onQueryPlan: (p) => {
    plan = p;
  },
});
let insertMs = 0;
for (let start = 0; start < CHUNKS; start += CHUNKS_PER_DOC) {
  const doc = chunks.slice(start, start + CHUNKS_PER_DOC);
  const docId = doc[0]?.docId ?? '';
  const indexed: IndexedChunk[] = doc.map((c, i) => ({
    chunkId: `${c.docId}#${c.index}`,
    docId: c.docId,
    docVersion: 'v1',
    index: c.index,
    text: c.text,
    title: c.title,
    source: c.source,
    headings: [],
    metadata: c.metadata,
    vector: Array.from(flat.subarray((start + i) * DIMS, (start + i + 1) * DIMS)),
  }));
  t0 = performance.now();
  await store.replaceDocument(docId, 'v1', indexed);
  insertMs += performance.now() - t0;
}
console.log(
  `  insert     ${CHUNKS} chunks in ${(insertMs / 1000).toFixed(1)} s = ${((CHUNKS * 1000) / insertMs).toFixed(0)} chunks/s (${CHUNKS / CHUNKS_PER_DOC} replaceDocument calls; RSS ${mb(process.memoryUsage().rss)})`,
);

// Queries.
const queries = Array.from({ length: QUERIES }, (_, q) => {
  const row = Math.floor(next() * CHUNKS);
  const source = chunks[row] as Chunk;
  const words = source.text.split(' ');
  const at = Math.floor(next() * (words.length - 8));
  const text = [...words.slice(at, at + 8), ...(q % 4 === 0 ? [source.code] : [])].join(' ');
  let query = new Float32Array(DIMS);
  if (EMBEDDING === 'hash') query = Float32Array.from(hashEmbedding(text, DIMS));
  else project(step(latents[row], 0.5), query, 0);
  return { text, vector: Array.from(query), query };
});

/** The exact top k over the rows `accept` lets through: cosine of the (normalized) vectors. */
function exactTopK(query: Float32Array, k: number, accept?: (row: number) => boolean): number[] {
  const queryNorm = Math.sqrt(dot(query, query, 0));
  const best: { row: number; cos: number }[] = [];
  for (let row = 0; row < CHUNKS; row++) {
    if (accept !== undefined && !accept(row)) continue;
    const offset = row * DIMS;
    const rowNorm = rowNorms[row] as number;
    const cos = rowNorm === 0 ? 0 : dot(query, flat, offset) / (queryNorm * rowNorm);
    if (best.length < k || cos > (best.at(-1)?.cos ?? -2)) {
      best.push({ row, cos });
      best.sort((a, b) => b.cos - a.cos);
      if (best.length > k) best.pop();
    }
  }
  return best.map((b) => b.row);
}
/** Norms of the rows, computed once (the store keeps its norms too). */
const rowNorms = new Float32Array(CHUNKS);
for (let row = 0; row < CHUNKS; row++) {
  rowNorms[row] = Math.sqrt(dot(flat.subarray(row * DIMS, (row + 1) * DIMS), flat, row * DIMS));
}

function dot(query: Float32Array, data: Float32Array, offset: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let i = 0; i < DIMS; i += 4) {
    s0 += (query[i] as number) * (data[offset + i] as number);
    s1 += (query[i + 1] as number) * (data[offset + i + 1] as number);
    s2 += (query[i + 2] as number) * (data[offset + i + 2] as number);
    s3 += (query[i + 3] as number) * (data[offset + i + 3] as number);
  }
  return s0 + s1 + s2 + s3;
}

const rowOf = (chunkId: string): number => {
  const [doc, index] = chunkId.split('#');
  return Number(doc?.slice(3)) * CHUNKS_PER_DOC + Number(index);
};

interface Mode {
  readonly name: string;
  readonly query: (q: (typeof queries)[number]) => VectorQuery;
  readonly filters?: MetadataFilters;
}
const SELECTIVE: MetadataFilters = {
  source: [1, 2, 3, 4, 5].map((i) => `s3://corpus/guide-${i}.md`),
  lang: 'de',
};
const BROAD: MetadataFilters = { lang: ['de', 'fr', 'ja'] };
const share = (filters: MetadataFilters) => chunks.filter((c) => matchesFilters(c, filters)).length / CHUNKS;
const modes: Mode[] = [
  { name: 'kNN', query: (q) => ({ vector: q.vector, text: q.text, k: K }) },
  { name: 'hybrid', query: (q) => ({ vector: q.vector, text: q.text, k: K, hybrid: true }) },
  {
    name: `filter ${(share(SELECTIVE) * 100).toFixed(0)}%`,
    query: (q) => ({ vector: q.vector, text: q.text, k: K, filters: SELECTIVE }),
    filters: SELECTIVE,
  },
  {
    name: `filter ${(share(BROAD) * 100).toFixed(0)}%`,
    query: (q) => ({ vector: q.vector, text: q.text, k: K, filters: BROAD }),
    filters: BROAD,
  },
];

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
const stats = (ms: number[]) => {
  const sorted = [...ms].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
};

// Warm-up: the first queries of each mode (JIT, caches), not measured.
for (const mode of modes) for (const q of queries.slice(0, 20)) await store.search(mode.query(q));

/** Exact results of the unfiltered scan, shared by kNN and hybrid (same queries, same scan). */
let unfiltered: { ms: number[]; rows: number[][] } | undefined;
function baseline(filters: MetadataFilters | undefined): { ms: number[]; rows: number[][] } {
  if (filters === undefined && unfiltered !== undefined) return unfiltered;
  const ms: number[] = [];
  const rows: number[][] = [];
  const accept = filters && ((row: number) => matchesFilters(chunks[row] as Chunk, filters));
  for (const q of queries.slice(0, BASELINE_QUERIES)) {
    const start = performance.now();
    rows.push(exactTopK(q.query, K, accept));
    ms.push(performance.now() - start);
  }
  if (filters === undefined) unfiltered = { ms, rows };
  return { ms, rows };
}

console.log(
  `\nlatency in ms over ${QUERIES} queries (exact scan: the first ${BASELINE_QUERIES}, also those of the recall)\n  ${'query'.padEnd(12)} ${'ours p50'.padStart(9)} ${'p99'.padStart(7)}   ${'exact p50'.padStart(9)} ${'p99'.padStart(7)}   ${'ratio p50'.padStart(9)} ${'p99'.padStart(7)}   recall@10  kNN path`,
);
for (const mode of modes) {
  const ms: number[] = [];
  const found: string[][] = [];
  const paths = new Map<string, number>();
  for (const q of queries) {
    const start = performance.now();
    const hits = await store.search(mode.query(q));
    ms.push(performance.now() - start);
    found.push(hits.map((h) => h.chunkId));
    const path = plan === undefined ? '?' : `${plan.path}${plan.rounds > 1 ? ` ×${plan.rounds}` : ''}`;
    paths.set(path, (paths.get(path) ?? 0) + 1);
  }
  const exact = baseline(mode.filters);
  const recall =
    mode.name === 'hybrid'
      ? undefined
      : exact.rows.reduce((sum, rows, i) => {
          const ours = new Set((found[i] ?? []).map(rowOf));
          return sum + rows.filter((row) => ours.has(row)).length / Math.max(1, rows.length);
        }, 0) / BASELINE_QUERIES;
  const o = stats(ms);
  const b = stats(exact.ms);
  const pathText = [...paths]
    .sort((a, b) => b[1] - a[1])
    .map(([p, n]) => `${p} ${((n / QUERIES) * 100).toFixed(0)}%`)
    .join(', ');
  console.log(
    `  ${mode.name.padEnd(12)} ${o.p50.toFixed(2).padStart(9)} ${o.p99.toFixed(2).padStart(7)}   ${b.p50.toFixed(2).padStart(9)} ${b.p99.toFixed(2).padStart(7)}   ${formatRatio(b.p50 / o.p50).padStart(9)} ${formatRatio(b.p99 / o.p99).padStart(7)}   ${recall === undefined ? '     n/a ' : recall.toFixed(4).padStart(9)}  ${pathText}`,
  );
}
console.log(
  `\nratio = exact scan / embedded store (higher is better); hybrid's baseline is the exact kNN scan.`,
);
const memory = process.memoryUsage();
console.log(
  `memory: RSS ${mb(memory.rss)} now (JS heap ${mb(memory.heapUsed)}, array buffers ${mb(memory.arrayBuffers)}), peak ${mb(process.resourceUsage().maxRSS * 1024)}; the vectors take ${mb(CHUNKS * DIMS * 4)} as float32 in the store and again in the baseline, ${mb(CHUNKS * DIMS * 2)} as bf16 in the HNSW graph`,
);
