import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, ValidationError } from '#aws/errors.ts';
import {
  clearEmbeddedVectorStores,
  EmbeddedVectorStore,
  type EmbeddedVectorStoreOptions,
  embeddedVectorStore,
  type QueryPlan,
  tokenize,
} from '#aws/rag/embedded-store.ts';
import {
  type IndexedChunk,
  type MetadataFilters,
  matchesFilters,
  type RetrievedChunk,
  VectorStoreWriteError,
} from '#core/rag/store.ts';
import { errorOf } from '../../support/async.ts';

const DIMS = 16;

/** A seeded PRNG (mulberry32), so every run indexes the same vectors. */
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

const randomVector = (next: () => number, dims = DIMS): number[] =>
  Array.from({ length: dims }, () => next() * 2 - 1);

/** A unit vector along axis `i`, optionally tilted towards axis `j`. */
function axis(i: number, tilt = 0, j = (i + 1) % DIMS): number[] {
  const v = new Array<number>(DIMS).fill(0);
  v[i] = 1;
  v[j] = (v[j] ?? 0) + tilt;
  return v;
}

function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  a.forEach((x, i) => {
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  });
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

function chunk(
  docId: string,
  index: number,
  vector: readonly number[],
  extra: Partial<IndexedChunk> = {},
): IndexedChunk {
  return {
    chunkId: `${docId}#${index}`,
    docId,
    docVersion: 'v1',
    index,
    text: `Chunk ${index} of ${docId}.`,
    headings: [],
    metadata: {},
    vector,
    ...extra,
  };
}

/** A document's chunks, all of one version. */
const version = (docId: string, docVersion: string, vectors: readonly (readonly number[])[], text = 'text') =>
  vectors.map((v, i) => chunk(docId, i, v, { docVersion, text: `${text} ${i}` }));

const ids = (hits: readonly RetrievedChunk[]) => hits.map((h) => h.chunkId);

afterEach(() => clearEmbeddedVectorStores());

describe('tokenize', () => {
  it('applies NFKC, lowercases and splits into runs of Unicode letters and digits', () => {
    expect(tokenize('Ｌａｍｂｄａ Café-au-lait, 東京2024! x_y')).toEqual([
      'lambda',
      'café',
      'au',
      'lait',
      '東京2024',
      'x',
      'y',
    ]);
  });
});

describe('EmbeddedVectorStore kNN', () => {
  it('returns the nearest chunks by cosine, best first, with similarity (1 + cos) / 2', async () => {
    const store = new EmbeddedVectorStore();
    const next = random(1);
    const vectors = Array.from({ length: 60 }, () => randomVector(next));
    await store.replaceDocument('doc', 'v1', version('doc', 'v1', vectors));
    const query = randomVector(next);

    const hits = await store.search({ vector: query, text: '', k: 5 });

    const expected = vectors
      .map((v, i) => ({ id: `doc#${i}`, similarity: (1 + cosine(query, v)) / 2 }))
      .sort((a, b) => b.similarity - a.similarity)
      .slice(0, 5);
    expect(ids(hits)).toEqual(expected.map((e) => e.id));
    hits.forEach((hit, i) => {
      expect(hit.similarity).toBeCloseTo(expected[i]?.similarity ?? Number.NaN, 5);
      expect(hit.score).toBe(hit.similarity);
    });
  });

  for (const quantization of ['f32', 'bf16', 'f16', 'i8'] as const) {
    it(`finds the nearest, with exact similarities, whatever the graph's precision (${quantization})`, async () => {
      // HNSW is approximate (and its build is multi-threaded, so not repeatable): across 5 queries it must
      // find nearly all of the exact top 5, and every similarity it returns must be the exact one.
      const store = new EmbeddedVectorStore({ quantization, expansionSearch: 256 });
      const next = random(6);
      const vectors = Array.from({ length: 200 }, () => randomVector(next));
      await store.replaceDocument('doc', 'v1', version('doc', 'v1', vectors));
      let found = 0;
      for (let q = 0; q < 5; q++) {
        const query = randomVector(next);
        const hits = await store.search({ vector: query, text: '', k: 5 });
        const exact = vectors
          .map((v, i) => ({ id: `doc#${i}`, similarity: (1 + cosine(query, v)) / 2 }))
          .sort((a, b) => b.similarity - a.similarity);
        const byId = new Map(exact.map((e) => [e.id, e.similarity]));
        expect(hits).toHaveLength(5);
        for (const hit of hits) expect(hit.similarity).toBeCloseTo(byId.get(hit.chunkId) ?? Number.NaN, 6);
        const similarities = hits.map((h) => h.similarity);
        expect(similarities).toEqual([...similarities].sort((a, b) => b - a));
        const top = new Set(exact.slice(0, 5).map((e) => e.id));
        found += hits.filter((h) => top.has(h.chunkId)).length;
      }
      expect(found).toBeGreaterThanOrEqual(23);
    });
  }

  it('does not depend on vector length (no normalization needed) and returns the chunk fields', async () => {
    const store = new EmbeddedVectorStore();
    await store.replaceDocument('doc', 'v1', [
      chunk(
        'doc',
        0,
        axis(0).map((x) => x * 40),
        {
          title: 'Guide',
          source: 's3://bucket/guide.md',
          headings: ['Intro', 'Setup'],
          metadata: { lang: 'en', year: 2024 },
        },
      ),
      chunk('doc', 1, axis(1)),
    ]);

    const [best, second] = await store.search({ vector: axis(0, 1), text: '', k: 2 });

    expect(best).toEqual({
      chunkId: 'doc#0',
      docId: 'doc',
      docVersion: 'v1',
      index: 0,
      text: 'Chunk 0 of doc.',
      title: 'Guide',
      source: 's3://bucket/guide.md',
      headings: ['Intro', 'Setup'],
      metadata: { lang: 'en', year: 2024 },
      score: expect.closeTo((1 + Math.SQRT1_2) / 2, 6),
      similarity: expect.closeTo((1 + Math.SQRT1_2) / 2, 6),
    });
    expect(second?.chunkId).toBe('doc#1');
  });

  it('returns nothing from an empty store, and at most the chunks it holds', async () => {
    const store = new EmbeddedVectorStore({ dimensions: DIMS });
    expect(await store.search({ vector: axis(0), text: 'x', k: 3 })).toEqual([]);
    await store.replaceDocument('doc', 'v1', [chunk('doc', 0, axis(0))]);
    expect(ids(await store.search({ vector: axis(0), text: '', k: 10 }))).toEqual(['doc#0']);
  });

  it('drops chunks below minScore', async () => {
    const store = new EmbeddedVectorStore();
    await store.replaceDocument('doc', 'v1', [
      chunk('doc', 0, axis(0)),
      chunk('doc', 1, axis(0, 1)),
      chunk('doc', 2, axis(1)),
      chunk(
        'doc',
        3,
        axis(0).map((x) => -x),
      ),
    ]);
    // Similarities: 1, 0.854, 0.5, 0.
    const hits = await store.search({ vector: axis(0), text: '', k: 4, minScore: 0.8 });
    expect(ids(hits)).toEqual(['doc#0', 'doc#1']);
    const all = await store.search({ vector: axis(0), text: '', k: 4 });
    expect(all.map((h) => h.similarity)).toEqual([
      expect.closeTo(1, 6),
      expect.closeTo((1 + Math.SQRT1_2) / 2, 6),
      expect.closeTo(0.5, 6),
      expect.closeTo(0, 6),
    ]);
  });

  it('refuses a bad k, minScore or query dimension', async () => {
    const store = new EmbeddedVectorStore();
    await store.replaceDocument('doc', 'v1', [chunk('doc', 0, axis(0))]);
    expect(await errorOf(store.search({ vector: axis(0), text: '', k: 0 }))).toBeInstanceOf(ValidationError);
    expect(await errorOf(store.search({ vector: axis(0), text: '', k: 1, minScore: 2 }))).toBeInstanceOf(
      ValidationError,
    );
    const error = await errorOf(store.search({ vector: [1, 0, 0], text: '', k: 1 }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/3 dimensions.*16-dimensional/);
  });

  it('honours an aborted signal', async () => {
    const store = new EmbeddedVectorStore();
    await store.replaceDocument('doc', 'v1', [chunk('doc', 0, axis(0))]);
    const controller = new AbortController();
    controller.abort(new Error('client went away'));
    const error = await errorOf(store.search({ vector: axis(0), text: '', k: 1, signal: controller.signal }));
    expect((error as Error).message).toBe('client went away');
  });
});

describe('EmbeddedVectorStore writes', () => {
  it('replaces every chunk of the old version, even when the new version has fewer', async () => {
    const store = new EmbeddedVectorStore();
    const next = random(2);
    const old = Array.from({ length: 5 }, () => randomVector(next));
    expect(await store.replaceDocument('doc', 'v1', version('doc', 'v1', old, 'zebra'))).toEqual({
      indexed: 5,
      removed: 0,
    });
    await store.replaceDocument('other', 'v1', version('other', 'v1', [randomVector(next)]));

    const fresh = Array.from({ length: 3 }, () => randomVector(next));
    expect(await store.replaceDocument('doc', 'v2', version('doc', 'v2', fresh, 'yak'))).toEqual({
      indexed: 3,
      removed: 2,
    });

    expect(store.size).toBe(4);
    const hits = await store.search({ vector: old[4] ?? [], text: '', k: 10, filters: { docId: 'doc' } });
    expect(hits.map((h) => `${h.chunkId}@${h.docVersion}`).sort()).toEqual([
      'doc#0@v2',
      'doc#1@v2',
      'doc#2@v2',
    ]);
    // The keyword index forgot the old text too.
    const keyword = await store.search({ vector: axis(0), text: 'zebra', k: 10, hybrid: true });
    expect(keyword.filter((h) => h.text.startsWith('zebra'))).toEqual([]);
    // Writing the same version again is safe and removes nothing it does not rewrite.
    expect(await store.replaceDocument('doc', 'v2', version('doc', 'v2', fresh, 'yak'))).toEqual({
      indexed: 3,
      removed: 0,
    });
    expect(store.size).toBe(4);
  });

  it('deletes every chunk of a document from kNN, keyword search and filters', async () => {
    const store = new EmbeddedVectorStore();
    await store.replaceDocument('gone', 'v1', version('gone', 'v1', [axis(0), axis(0, 0.1)], 'quokka'));
    await store.replaceDocument('kept', 'v1', version('kept', 'v1', [axis(1)], 'wombat'));

    expect(await store.deleteDocument('gone')).toBe(2);
    expect(await store.deleteDocument('gone')).toBe(0);

    expect(store.size).toBe(1);
    expect(ids(await store.search({ vector: axis(0), text: '', k: 1 }))).toEqual(['kept#0']);
    expect(ids(await store.search({ vector: axis(0), text: 'quokka', k: 5, hybrid: true }))).toEqual([
      'kept#0',
    ]);
    expect(await store.search({ vector: axis(0), text: '', k: 5, filters: { docId: 'gone' } })).toEqual([]);
  });

  it('replacing with no chunks removes the document', async () => {
    const store = new EmbeddedVectorStore();
    await store.replaceDocument('doc', 'v1', version('doc', 'v1', [axis(0), axis(1)]));
    expect(await store.replaceDocument('doc', 'v2', [])).toEqual({ indexed: 0, removed: 2 });
    expect(await store.search({ vector: axis(0), text: '', k: 5 })).toEqual([]);
    expect(await store.deleteDocument('doc')).toBe(0);
  });

  it('refuses vectors of the wrong dimension, naming the chunk and both dimensions, and writes nothing', async () => {
    const store = new EmbeddedVectorStore();
    await store.replaceDocument('doc', 'v1', version('doc', 'v1', [axis(0), axis(1)]));

    const error = await errorOf(
      store.replaceDocument('doc', 'v2', [
        chunk('doc', 0, axis(2), { docVersion: 'v2' }),
        chunk('doc', 1, [1, 2, 3], { docVersion: 'v2' }),
      ]),
    );

    expect(error).toBeInstanceOf(VectorStoreWriteError);
    expect((error as VectorStoreWriteError).failures).toEqual([
      { chunkId: 'doc#1', reason: 'vector has 3 dimensions; this store holds 16-dimensional vectors' },
    ]);
    expect((error as Error).message).toContain('doc#1');
    const hits = await store.search({ vector: axis(0), text: '', k: 5 });
    expect(hits.map((h) => `${h.chunkId}@${h.docVersion}`).sort()).toEqual(['doc#0@v1', 'doc#1@v1']);
  });

  it('takes its dimension from the first write unless configured', async () => {
    const store = new EmbeddedVectorStore({ dimensions: 4 });
    const error = await errorOf(store.replaceDocument('doc', 'v1', [chunk('doc', 0, axis(0))]));
    expect((error as VectorStoreWriteError).failures[0]?.reason).toBe(
      'vector has 16 dimensions; this store holds 4-dimensional vectors',
    );
    const open = new EmbeddedVectorStore();
    expect(open.dimensions).toBeUndefined();
    await open.replaceDocument('doc', 'v1', [chunk('doc', 0, [1, 0, 0])]);
    expect(open.dimensions).toBe(3);
  });

  it('refuses chunks of another document or version, duplicates and non-finite values', async () => {
    const store = new EmbeddedVectorStore();
    const error = await errorOf(
      store.replaceDocument('doc', 'v1', [
        chunk('doc', 0, axis(0)),
        chunk('doc', 0, axis(1)),
        chunk('other', 1, axis(1)),
        chunk('doc', 2, axis(1), { docVersion: 'v0' }),
        chunk(
          'doc',
          3,
          axis(1).map(() => Number.NaN),
        ),
      ]),
    );
    expect((error as VectorStoreWriteError).failures.map((f) => f.chunkId)).toEqual([
      'doc#0',
      'other#1',
      'doc#2',
      'doc#3',
    ]);
    expect(store.size).toBe(0);
  });
});

describe('EmbeddedVectorStore filters', () => {
  const LANGS = ['en', 'de', 'fr'] as const;
  const SOURCES = ['s3://a', 's3://b', 's3://c', 's3://d'] as const;

  /** 40 documents of 8 chunks: lang cycles over 3 values, source over 4, year over 5 (numbers). */
  async function corpus(options: EmbeddedVectorStoreOptions) {
    const store = new EmbeddedVectorStore({ expansionSearch: 400, ...options });
    const next = random(3);
    const all: IndexedChunk[] = [];
    for (let d = 0; d < 40; d++) {
      const docId = `doc${d}`;
      const chunks = Array.from({ length: 8 }, (_, i) =>
        chunk(docId, i, randomVector(next), {
          source: SOURCES[d % SOURCES.length],
          metadata: {
            lang: LANGS[(d * 8 + i) % LANGS.length] ?? 'en',
            year: 2020 + ((d + i) % 5),
            public: i % 2 === 0,
          },
        }),
      );
      await store.replaceDocument(docId, 'v1', chunks);
      all.push(...chunks);
    }
    return { store, all, next };
  }

  /** The exact answer: cosine over every chunk that matches. */
  const reference = (
    all: readonly IndexedChunk[],
    vector: readonly number[],
    k: number,
    filters: MetadataFilters,
  ) =>
    all
      .filter((c) => matchesFilters(c, filters))
      .map((c) => ({ id: c.chunkId, similarity: cosine(vector, c.vector) }))
      .sort((a, b) => b.similarity - a.similarity)
      .slice(0, k)
      .map((r) => r.id);

  const FILTERS: readonly MetadataFilters[] = [
    { docId: 'doc7' },
    { source: 's3://b' },
    { lang: 'de' },
    { lang: ['de', 'fr'] },
    { year: 2022 },
    { public: true },
    { lang: 'en', year: [2020, 2024], source: ['s3://a', 's3://c'] },
  ];

  for (const [path, exactScanLimit] of [
    ['exact', 1_000_000],
    ['hnsw', 0],
  ] as const) {
    it(`serves docId, source, metadata, any-of and AND filters exactly (${path} path)`, async () => {
      const plans: QueryPlan[] = [];
      const { store, all, next } = await corpus({ exactScanLimit, onQueryPlan: (plan) => plans.push(plan) });
      for (const filters of FILTERS) {
        const vector = randomVector(next);
        plans.length = 0;
        const hits = await store.search({ vector, text: '', k: 6, filters });
        expect(ids(hits), JSON.stringify(filters)).toEqual(reference(all, vector, 6, filters));
        expect(hits.every((h) => matchesFilters(h, filters))).toBe(true);
        expect(plans).toHaveLength(1);
        // One document is too few for HNSW: oversampling would cover the index, so it is scanned.
        const hnsw = path === 'hnsw' && filters.docId === undefined;
        expect(plans[0]?.path).toBe(hnsw ? 'hnsw' : 'exact');
        if (!hnsw) expect(plans[0]?.rounds).toBe(0);
      }
    });
  }

  it('grows the oversampling until k matches are found, or falls back to an exact scan', async () => {
    const plans: QueryPlan[] = [];
    const store = new EmbeddedVectorStore({
      exactScanLimit: 0,
      expansionSearch: 256,
      onQueryPlan: (plan) => plans.push(plan),
    });
    // 100 chunks ever farther from the query along axis 0, then 20 far ones (cosine about 0). Each filter
    // key matches 75 chunks, both together only near#5, near#15, ..., near#95 and the 20 far ones.
    const near = Array.from({ length: 100 }, (_, i) =>
      chunk('near', i, axis(0, i / 100), {
        metadata: { a: i < 50 || i % 10 === 5 ? 'yes' : 'no', b: i >= 50 || i % 10 === 5 ? 'yes' : 'no' },
      }),
    );
    const far = Array.from({ length: 20 }, (_, i) =>
      chunk('far', i, axis(1, i / 100, 0), { metadata: { a: 'yes', b: 'yes' } }),
    );
    await store.replaceDocument('near', 'v1', near);
    await store.replaceDocument('far', 'v1', far);
    const filters = { a: 'yes', b: 'yes' };

    // k 2: 5 neighbours hold no match, 20 hold near#5 and near#15.
    const two = await store.search({ vector: axis(0), text: '', k: 2, filters });
    expect(ids(two)).toEqual(['near#5', 'near#15']);
    expect(plans).toEqual([{ path: 'hnsw', rounds: 2, filterBound: 75 }]);

    // k 25: 60 neighbours hold 6 matches; 240 would exceed the index, so the matching chunks are scanned.
    plans.length = 0;
    const many = await store.search({ vector: axis(0), text: '', k: 25, filters });
    expect(ids(many)).toEqual([
      ...Array.from({ length: 10 }, (_, i) => `near#${i * 10 + 5}`),
      ...Array.from({ length: 15 }, (_, i) => `far#${19 - i}`),
    ]);
    expect(plans).toEqual([{ path: 'exact', rounds: 1, filterBound: 75 }]);
  });

  it('matches values by type and yields nothing for a value nobody holds', async () => {
    const { store, next } = await corpus({});
    const vector = randomVector(next);
    expect(await store.search({ vector, text: '', k: 5, filters: { year: '2022' } })).toEqual([]);
    expect(await store.search({ vector, text: '', k: 5, filters: { lang: [] } })).toEqual([]);
    expect(await store.search({ vector, text: '', k: 5, filters: { missing: 'x' } })).toEqual([]);
    expect(await store.search({ vector, text: '', k: 5, filters: {} })).toHaveLength(5);
  });
});

describe('EmbeddedVectorStore hybrid', () => {
  async function store() {
    const s = new EmbeddedVectorStore();
    await s.replaceDocument('near', 'v1', [
      chunk('near', 0, axis(0), { text: 'How to configure the function timeout', source: 'a' }),
      chunk('near', 1, axis(0, 0.3), { text: 'Memory settings for the function', source: 'a' }),
    ]);
    await s.replaceDocument('exact', 'v1', [
      chunk('exact', 0, axis(0, 1.2), {
        text: 'The error code ERR_LAMBDA_4711 means the layer is missing',
        source: 'b',
      }),
    ]);
    await s.replaceDocument('titled', 'v1', [
      chunk('titled', 0, axis(3), { text: 'unrelated body', title: 'Provisioned concurrency', source: 'b' }),
      chunk('titled', 1, axis(4), { text: 'another body', headings: ['Reserved concurrency'], source: 'a' }),
    ]);
    return s;
  }

  it('ranks an exact keyword match above closer embeddings', async () => {
    const s = await store();
    const knn = await s.search({ vector: axis(0), text: 'what is ERR_LAMBDA_4711', k: 3 });
    expect(ids(knn)).toEqual(['near#0', 'near#1', 'exact#0']);

    const hybrid = await s.search({ vector: axis(0), text: 'what is ERR_LAMBDA_4711', k: 3, hybrid: true });

    expect(ids(hybrid)[0]).toBe('exact#0');
    const top = hybrid[0];
    // Fused: 0.7 * similarity + 0.3 * (its BM25 / the best BM25), and it holds the best BM25.
    expect(top?.score).toBeCloseTo(0.7 * (top?.similarity ?? 0) + 0.3, 6);
    expect(top?.similarity).toBeCloseTo((1 + 1 / Math.sqrt(1 + 1.2 ** 2)) / 2, 6);
  });

  it('finds words of titles and headings, scoring keyword-only hits with their real similarity', async () => {
    const s = await store();
    const hits = await s.search({ vector: axis(0), text: 'concurrency', k: 10, hybrid: true });
    const titled = hits.filter((h) => h.docId === 'titled');
    expect(titled.map((h) => h.chunkId).sort()).toEqual(['titled#0', 'titled#1']);
    for (const h of titled) expect(h.similarity).toBeCloseTo(0.5, 6);
    expect(hits.map((h) => h.score)).toEqual([...hits.map((h) => h.score)].sort((a, b) => b - a));
  });

  it('applies filters and minScore to both sides', async () => {
    const s = await store();
    const filtered = await s.search({
      vector: axis(0),
      text: 'ERR_LAMBDA_4711 concurrency',
      k: 10,
      hybrid: true,
      filters: { source: 'a' },
    });
    expect(ids(filtered).sort()).toEqual(['near#0', 'near#1', 'titled#1']);

    const strict = await s.search({
      vector: axis(0),
      text: 'concurrency',
      k: 10,
      hybrid: true,
      minScore: 0.6,
    });
    expect(ids(strict).sort()).toEqual(['exact#0', 'near#0', 'near#1']);
  });
});

describe('EmbeddedVectorStore BM25', () => {
  it('scores with Okapi BM25 (k1 1.2, b 0.75, Lucene idf) over text, title and headings', async () => {
    const store = new EmbeddedVectorStore();
    const texts = ['alpha beta', 'alpha alpha gamma delta', 'gamma delta epsilon zeta'];
    await store.replaceDocument(
      'doc',
      'v1',
      texts.map((text, i) => chunk('doc', i, axis(i), { text })),
    );

    const hits = await store.search({ vector: axis(5), text: 'Alpha ZETA', k: 3, hybrid: true });

    // Lengths 2, 4, 4 (average 10/3); "alpha" is in 2 of 3 chunks (twice in the second), "zeta" in 1.
    const idf = (df: number) => Math.log(1 + (3 - df + 0.5) / (df + 0.5));
    const bm25 = (df: number, tf: number, length: number) =>
      (idf(df) * tf * 2.2) / (tf + 1.2 * (1 - 0.75 + (0.75 * length) / (10 / 3)));
    const keyword = { 'doc#0': bm25(2, 1, 2), 'doc#1': bm25(2, 2, 4), 'doc#2': bm25(1, 1, 4) };
    const best = Math.max(...Object.values(keyword));
    expect(hits).toHaveLength(3);
    for (const hit of hits) {
      const expected = 0.7 * hit.similarity + (0.3 * keyword[hit.chunkId as keyof typeof keyword]) / best;
      expect(hit.score, hit.chunkId).toBeCloseTo(expected, 9);
    }
  });

  it('forgets removed chunks completely: a store with a history scores like a fresh one', async () => {
    const next = random(5);
    const words = ['lambda', 'layer', 'timeout', 'memory', 'queue', 'event', 'bucket', 'role'];
    const doc = (docId: string, docVersion: string, n: number) =>
      Array.from({ length: n }, (_, i) =>
        chunk(docId, i, randomVector(next), {
          docVersion,
          text: Array.from({ length: 3 + Math.floor(next() * 6) }, () => words[Math.floor(next() * 8)]).join(
            ' ',
          ),
          title: `${docId} title`,
          headings: [words[i % 8] ?? ''],
        }),
      );
    const final = { a: doc('a', 'v3', 2), b: doc('b', 'v1', 4), c: doc('c', 'v2', 3) };
    const history = new EmbeddedVectorStore();
    await history.replaceDocument('a', 'v1', doc('a', 'v1', 6));
    await history.replaceDocument('b', 'v1', final.b);
    await history.replaceDocument('d', 'v1', doc('d', 'v1', 5));
    await history.replaceDocument('a', 'v2', doc('a', 'v2', 3));
    await history.replaceDocument('c', 'v1', doc('c', 'v1', 7));
    await history.deleteDocument('d');
    await history.replaceDocument('a', 'v3', final.a);
    await history.replaceDocument('c', 'v2', final.c);
    const fresh = new EmbeddedVectorStore();
    for (const [docId, chunks] of Object.entries(final))
      await fresh.replaceDocument(docId, chunks[0]?.docVersion ?? '', chunks);

    for (const text of ['lambda timeout', 'queue', 'a title', 'role bucket event']) {
      const query = { vector: randomVector(next), text, k: 20, hybrid: true };
      const [left, right] = [await history.search(query), await fresh.search(query)];
      expect(left.map((h) => `${h.chunkId}@${h.docVersion}`)).toEqual(
        right.map((h) => `${h.chunkId}@${h.docVersion}`),
      );
      expect(left.map((h) => h.score)).toEqual(right.map((h) => expect.closeTo(h.score, 12)));
    }
  });
});

describe('EmbeddedVectorStore concurrency', () => {
  it('a search during a replace sees either the old version or the new one, never a mix', async () => {
    const store = new EmbeddedVectorStore();
    const next = random(4);
    const near = (i: number) => axis(0).map((x, j) => x + (j === 0 ? 0 : 0.05 * (next() + i / 100)));
    await store.replaceDocument('doc', 'v1', version('doc', 'v1', [0, 1, 2, 3, 4].map(near)));

    const observed: string[] = [];
    const replace = store.replaceDocument('doc', 'v2', version('doc', 'v2', [0, 1, 2].map(near)));
    // Readers search at every turn of the microtask queue (each one a turn later than the one before)
    // and of the event loop while the replace runs.
    const readers = Array.from({ length: 8 }, async (_, reader) => {
      for (let turn = 0; turn < reader; turn++) await Promise.resolve();
      for (let round = 0; round < 40; round++) {
        const hits = await store.search({
          vector: axis(0),
          text: 'text',
          k: 10,
          hybrid: (round + reader) % 2 === 0,
        });
        observed.push(hits.map((h) => h.docVersion).join(','));
        await (round % 4 === 3 ? new Promise((resolve) => setImmediate(resolve)) : Promise.resolve());
      }
    });
    await Promise.all([replace, ...readers]);
    observed.push(
      (await store.search({ vector: axis(0), text: '', k: 10 })).map((h) => h.docVersion).join(','),
    );

    expect(new Set(observed)).toEqual(
      new Set(observed.filter((o) => o === 'v1,v1,v1,v1,v1' || o === 'v2,v2,v2')),
    );
    expect(observed[0]).toBe('v1,v1,v1,v1,v1');
    expect(observed.at(-1)).toBe('v2,v2,v2');
  });
});

describe('embeddedVectorStore registry', () => {
  it('returns one store per name, shared by every caller of the process', async () => {
    const writer = embeddedVectorStore('local');
    const reader = embeddedVectorStore('local', DIMS);
    expect(reader).toBe(writer);
    expect(embeddedVectorStore('other')).not.toBe(writer);

    await writer.replaceDocument('doc', 'v1', [chunk('doc', 0, axis(0))]);
    expect(ids(await reader.search({ vector: axis(0), text: '', k: 1 }))).toEqual(['doc#0']);
    expect(() => embeddedVectorStore('local', 8)).toThrow(ConfigError);

    clearEmbeddedVectorStores();
    expect(embeddedVectorStore('local')).not.toBe(writer);
    expect(embeddedVectorStore('local').size).toBe(0);
  });
});

describe('lazy native addon', () => {
  it('importing the module does not load usearch; the first write does', () => {
    const module = join(import.meta.dirname, '../../../layers/aws/src/rag/embedded-store.ts');
    const script = `
      import { createRequire } from 'node:module';
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((p) => p.includes('usearch'));
      const { EmbeddedVectorStore } = await import(${JSON.stringify(module)});
      const before = loaded();
      await new EmbeddedVectorStore().replaceDocument('d', 'v', [
        { chunkId: 'd#0', docId: 'd', docVersion: 'v', index: 0, text: 't', headings: [], metadata: {}, vector: [1, 0] },
      ]);
      console.log(JSON.stringify({ before, after: loaded() }));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      cwd: join(import.meta.dirname, '../../..'),
    });
    expect(JSON.parse(out.trim())).toEqual({ before: false, after: true });
  });
});
