import { createHash } from 'node:crypto';
import { type ClientRequest, createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { Client, Connection, errors } from '@opensearch-project/opensearch';
import { describe, expect, it } from 'vitest';
import {
  OpenSearchAccessDeniedError,
  OpenSearchIndexNotFoundError,
  OpenSearchRequestError,
} from '#aws/rag/opensearch/errors.ts';
import { createOpenSearchStore, type OpenSearchStoreOptions } from '#aws/rag/opensearch-store.ts';
import { ConfigError, ThrottledError, TransientError } from '#core/errors.ts';
import {
  CHUNK_KEYWORD_FIELDS,
  chunkIndexBody,
  exactMatchProblem,
  KEYWORD_MAX_LENGTH,
  similarityFromInnerProductScore,
} from '#core/rag/opensearch-mapping.ts';
import { type IndexedChunk, UnsupportedQueryError, VectorStoreWriteError } from '#core/rag/store.ts';
import { errorOf } from '../../support/async.ts';

// ---------------------------------------------------------------------------------------------------
// A fake OpenSearch behind the client's own Connection hook: every request is recorded as sent (method,
// path, content type, raw body) and answered by the test, without any socket.

interface Recorded {
  readonly method: string;
  readonly path: string;
  readonly contentType: string;
  readonly body: string;
}

type Reply =
  | { readonly status?: number; readonly body?: unknown; readonly headers?: Record<string, string> }
  | { readonly networkError: string };

type Responder = (request: Recorded) => Reply;

function fakeOpenSearch(respond: Responder): { client: Client; requests: Recorded[] } {
  const requests: Recorded[] = [];
  class FakeConnection extends Connection {
    override request(
      params: Parameters<Connection['request']>[0],
      callback: Parameters<Connection['request']>[1],
    ): ClientRequest {
      const headers = (params.headers ?? {}) as Record<string, unknown>;
      const recorded: Recorded = {
        method: params.method ?? '',
        path: params.path ?? '',
        contentType: String(headers['content-type'] ?? ''),
        body: typeof params.body === 'string' ? params.body : '',
      };
      requests.push(recorded);
      const reply = respond(recorded);
      setImmediate(() => {
        if ('networkError' in reply) {
          callback(new errors.ConnectionError(reply.networkError), null);
          return;
        }
        const payload = reply.body === undefined ? '' : JSON.stringify(reply.body);
        const response = Object.assign(new PassThrough(), {
          statusCode: reply.status ?? 200,
          headers: {
            'content-type': 'application/json; charset=UTF-8',
            'content-length': String(Buffer.byteLength(payload)),
            ...reply.headers,
          },
        });
        callback(null, response as unknown as IncomingMessage);
        response.end(payload);
      });
      return { abort: () => undefined } as unknown as ClientRequest;
    }
  }
  const client = new Client({ node: 'http://opensearch.test', Connection: FakeConnection, maxRetries: 0 });
  return { client, requests };
}

const ENDPOINT = 'https://abc123.us-east-1.aoss.amazonaws.com';

/** A store on the fake, with instant backoff; `sleeps` counts the waits it asked for. */
function setup(respond: Responder, options: Partial<OpenSearchStoreOptions> = {}) {
  const { client, requests } = fakeOpenSearch(respond);
  const sleeps: number[] = [];
  const store = createOpenSearchStore({
    endpoint: ENDPOINT,
    index: 'chunks',
    region: 'us-east-1',
    client,
    ...options,
    retry: {
      sleep: async (ms: number) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
      ...options.retry,
    },
  });
  return { store, requests, sleeps };
}

const json = (request: Recorded): Record<string, unknown> =>
  JSON.parse(request.body) as Record<string, unknown>;

/** The NDJSON lines of a bulk request, parsed; the body must end with a newline. */
function ndjson(request: Recorded): unknown[] {
  expect(request.body.endsWith('\n')).toBe(true);
  return request.body
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as unknown);
}

const isLookup = (request: Recorded) => request.path === '/chunks/_search' && json(request)._source === false;
const isBulk = (request: Recorded) => request.path === '/chunks/_bulk';
const isKnn = (request: Recorded) =>
  request.path === '/chunks/_search' && 'knn' in (json(request).query as Record<string, unknown>);

/** A lookup page: hits with `_id` and the sort values `[doc_version, chunk_index]`. */
function lookupPage(hits: readonly (readonly [id: string, version: string, index: number])[]) {
  return {
    took: 1,
    timed_out: false,
    _shards: { total: 2, successful: 2, skipped: 0, failed: 0 },
    hits: {
      hits: hits.map(([id, version, index]) => ({
        _index: 'chunks',
        _id: id,
        _score: null,
        sort: [version, index],
      })),
    },
  };
}

const emptyLookup = lookupPage([]);

/** Answers every action of a bulk request with success (or with `overrides[position]`). */
function bulkAnswer(request: Recorded, overrides: Record<number, Record<string, unknown>> = {}) {
  const actions = ndjson(request).filter(
    (line): line is Record<string, unknown> =>
      typeof line === 'object' && line !== null && ('index' in line || 'delete' in line),
  );
  const results = actions.map((line, position) => {
    const action = 'index' in line ? 'index' : 'delete';
    const ok = action === 'index' ? { status: 201, result: 'created' } : { status: 200, result: 'deleted' };
    const result: Record<string, unknown> = {
      _index: 'chunks',
      _id: `id-${position}`,
      ...(overrides[position] ?? ok),
    };
    return { action, result };
  });
  const errors = results.some(({ result }) => Number(result.status) >= 300);
  return { took: 3, errors, items: results.map(({ action, result }) => ({ [action]: result })) };
}

const itemError = (
  status: number,
  type: string,
  reason: string,
  causedBy?: { type: string; reason: string },
) => ({
  status,
  error: { type, reason, ...(causedBy === undefined ? {} : { caused_by: causedBy }) },
});

function chunk(index: number, overrides: Partial<IndexedChunk> = {}): IndexedChunk {
  return {
    chunkId: `doc-1#${index}`,
    docId: 'doc-1',
    docVersion: 'v2',
    index,
    text: `Text of chunk ${index}`,
    headings: ['Guide', `Part ${index}`],
    metadata: {},
    vector: [0.6, 0.8, 0],
    ...overrides,
  };
}

/** A search hit whose `_source` holds every chunk field but the vector. */
function hit(chunkId: string, score: number, extra: Record<string, unknown> = {}) {
  const [docId, index] = chunkId.split('#') as [string, string];
  return {
    _index: 'chunks',
    _id: `os-${chunkId}`,
    _score: score,
    _source: {
      chunk_id: chunkId,
      doc_id: docId,
      doc_version: 'v2',
      chunk_index: Number(index),
      text: `Text of ${chunkId}`,
      headings: ['Guide'],
      metadata_json: '{"lang":"en"}',
      metadata_kv: ['lang=en'],
      ...extra,
    },
  };
}

const searchAnswer = (hits: readonly unknown[]) => ({
  took: 2,
  timed_out: false,
  _shards: { total: 2, successful: 2, skipped: 0, failed: 0 },
  hits: { total: { value: hits.length, relation: 'eq' }, hits },
});

const query = { vector: [0.6, 0.8, 0], text: 'how to rotate keys', k: 3 };

// ---------------------------------------------------------------------------------------------------

describe('chunkIndexBody', () => {
  it('declares a 1024-dimension faiss HNSW inner-product vector, text fields for BM25 and the metadata JSON unindexed, nothing else', () => {
    expect(chunkIndexBody(1024)).toEqual({
      settings: { index: { knn: true, 'knn.algo_param.ef_search': 256 } },
      mappings: {
        properties: {
          embedding: {
            type: 'knn_vector',
            dimension: 1024,
            method: {
              name: 'hnsw',
              engine: 'faiss',
              space_type: 'innerproduct',
              parameters: { m: 16, ef_construction: 512 },
            },
          },
          text: { type: 'text' },
          title: { type: 'text' },
          headings: { type: 'text' },
          metadata_json: { type: 'text', index: false },
        },
      },
    });
  });

  it('names the keyword sub-fields that dynamic mapping gives the identity and filter fields', () => {
    expect(CHUNK_KEYWORD_FIELDS).toEqual({
      chunkId: 'chunk_id.keyword',
      docId: 'doc_id.keyword',
      docVersion: 'doc_version.keyword',
      source: 'source.keyword',
      metadataKeywords: 'metadata_kv.keyword',
    });
  });
});

describe('exactMatchProblem', () => {
  it.each([
    ['docs/keys.md'],
    ['x'.repeat(KEYWORD_MAX_LENGTH)],
    ['2024-05-notes'],
    ['2024-05'],
    ['reports/2024/05/01.md'],
    ['date=2024-05-01'],
    ['9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'],
  ])('accepts %s', (value) => {
    expect(exactMatchProblem(value)).toBeUndefined();
  });

  it.each([
    ['x'.repeat(KEYWORD_MAX_LENGTH + 1), 'it is 257 characters long; OpenSearch matches at most 256 exactly'],
    ['2024-05-01', 'date'],
    ['2024-05-01T10:00:00Z', 'date'],
    ['2024/05/01 10:00:00 +0000', 'date'],
  ])('refuses %s', (value, problem) => {
    expect(exactMatchProblem(value)).toContain(problem);
  });
});

describe('replaceDocument', () => {
  it('looks up the old ids, writes the new chunks without _id, then deletes the old ids', async () => {
    const { store, requests } = setup((request) => {
      if (isLookup(request))
        return {
          body: lookupPage([
            ['old-a', 'v1', 0],
            ['old-b', 'v1', 1],
          ]),
        };
      if (isBulk(request)) return { body: bulkAnswer(request) };
      return { status: 500, body: { error: 'unexpected request' } };
    });
    const chunks = [
      chunk(0, {
        title: 'Key rotation',
        source: 'docs/keys.md',
        metadata: { lang: 'en', year: 2024, draft: false },
      }),
      chunk(1),
    ];

    await expect(store.replaceDocument('doc-1', 'v2', chunks)).resolves.toEqual({ indexed: 2, removed: 2 });

    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /chunks/_search',
      'POST /chunks/_bulk',
      'POST /chunks/_bulk',
    ]);
    const [lookup, write, remove] = requests as [Recorded, Recorded, Recorded];
    expect(json(lookup)).toEqual({
      size: 1000,
      _source: false,
      query: { bool: { filter: [{ term: { 'doc_id.keyword': 'doc-1' } }] } },
      sort: [
        { 'doc_version.keyword': { order: 'asc', unmapped_type: 'keyword' } },
        { chunk_index: { order: 'asc', unmapped_type: 'long' } },
      ],
    });
    expect(write.contentType).toBe('application/x-ndjson');
    expect(ndjson(write)).toEqual([
      { index: {} },
      {
        chunk_id: 'doc-1#0',
        doc_id: 'doc-1',
        doc_version: 'v2',
        chunk_index: 0,
        text: 'Text of chunk 0',
        title: 'Key rotation',
        source: 'docs/keys.md',
        headings: ['Guide', 'Part 0'],
        metadata_json: '{"lang":"en","year":2024,"draft":false}',
        metadata_kv: ['lang=en', 'year=2024', 'draft=false'],
        embedding: [0.6, 0.8, 0],
      },
      { index: {} },
      {
        chunk_id: 'doc-1#1',
        doc_id: 'doc-1',
        doc_version: 'v2',
        chunk_index: 1,
        text: 'Text of chunk 1',
        headings: ['Guide', 'Part 1'],
        metadata_json: '{}',
        metadata_kv: [],
        embedding: [0.6, 0.8, 0],
      },
    ]);
    expect(remove.contentType).toBe('application/x-ndjson');
    expect(ndjson(remove)).toEqual([{ delete: { _id: 'old-a' } }, { delete: { _id: 'old-b' } }]);
  });

  it('pages the id lookup with search_after and fetches again the hits tied at a page boundary', async () => {
    // Two copies of chunk 2 of v1 (an interrupted attempt): sorted keys tie across the first page's end.
    const stored = [
      ['a', 'v1', 0],
      ['b', 'v1', 1],
      ['c', 'v1', 2],
      ['d', 'v1', 2],
      ['e', 'v1', 3],
    ] as const;
    const after = (key: readonly [string, number], bound: readonly unknown[] | undefined) =>
      bound === undefined || key[0] > String(bound[0]) || (key[0] === bound[0] && key[1] > Number(bound[1]));
    const { store, requests } = setup(
      (request) => {
        if (isLookup(request)) {
          const bound = json(request).search_after as unknown[] | undefined;
          const size = Number(json(request).size);
          return { body: lookupPage(stored.filter(([, v, i]) => after([v, i], bound)).slice(0, size)) };
        }
        if (isBulk(request)) return { body: bulkAnswer(request) };
        return { status: 500, body: { error: 'unexpected request' } };
      },
      { lookupPageSize: 3 },
    );

    await expect(store.deleteDocument('doc-1')).resolves.toBe(5);

    const lookups = requests.filter(isLookup).map((r) => json(r).search_after);
    expect(lookups).toEqual([undefined, ['v1', 1], ['v1', 2]]);
    const deletes = requests.filter(isBulk).flatMap(ndjson);
    expect(deletes).toEqual(['a', 'b', 'c', 'd', 'e'].map((id) => ({ delete: { _id: id } })));
  });

  it('refuses to loop when a whole lookup page shares one sort key', async () => {
    const { store } = setup(
      (request) =>
        isLookup(request)
          ? {
              body: lookupPage([
                ['x', 'v1', 0],
                ['y', 'v1', 0],
              ]),
            }
          : { status: 500, body: { error: 'unexpected request' } },
      { lookupPageSize: 2 },
    );

    const error = await errorOf(store.deleteDocument('doc-1'));
    expect(error).toBeInstanceOf(OpenSearchRequestError);
    expect((error as Error).message).toContain('lookupPageSize');
  });

  it('cuts bulk requests at maxBulkDocs actions and at maxBulkBytes', async () => {
    const chunks = [0, 1, 2, 3, 4].map((i) => chunk(i));
    const respond: Responder = (request) =>
      isLookup(request) ? { body: emptyLookup } : { body: bulkAnswer(request) };

    const byCount = setup(respond, { maxBulkDocs: 2 });
    await byCount.store.replaceDocument('doc-1', 'v2', chunks);
    const countBatches = byCount.requests.filter(isBulk).map((r) => ndjson(r).length / 2);
    expect(countBatches).toEqual([2, 2, 1]);

    // Every item has the same size here; room for two items and most of a third.
    const itemBytes = Buffer.byteLength((byCount.requests.find(isBulk) as Recorded).body) / 2;
    const maxBulkBytes = 3 * itemBytes - 1;
    const bySize = setup(respond, { maxBulkBytes });
    await bySize.store.replaceDocument('doc-1', 'v2', chunks);
    const sizeBatches = bySize.requests.filter(isBulk);
    expect(sizeBatches.map((r) => ndjson(r).length / 2)).toEqual([2, 2, 1]);
    for (const request of sizeBatches)
      expect(Buffer.byteLength(request.body)).toBeLessThanOrEqual(maxBulkBytes);
    expect(sizeBatches.flatMap(ndjson).filter((_, i) => i % 2 === 1)).toHaveLength(5);
  });

  it('retries only the items that failed with 429 or 5xx, then succeeds', async () => {
    let writes = 0;
    const { store, requests, sleeps } = setup((request) => {
      if (isLookup(request)) return { body: emptyLookup };
      writes++;
      return writes === 1
        ? {
            body: bulkAnswer(request, {
              1: itemError(
                429,
                'es_rejected_execution_exception',
                'rejected execution of coordinating operation',
              ),
              2: itemError(503, 'unavailable_shards_exception', 'primary shard is not active'),
            }),
          }
        : { body: bulkAnswer(request) };
    });

    await expect(store.replaceDocument('doc-1', 'v2', [chunk(0), chunk(1), chunk(2)])).resolves.toEqual({
      indexed: 3,
      removed: 0,
    });

    const bulks = requests.filter(isBulk);
    expect(bulks).toHaveLength(2);
    expect(ndjson(bulks[1] as Recorded)).toEqual([
      { index: {} },
      expect.objectContaining({ chunk_id: 'doc-1#1' }),
      { index: {} },
      expect.objectContaining({ chunk_id: 'doc-1#2' }),
    ]);
    expect(sleeps).toHaveLength(1);
  });

  it('throws VectorStoreWriteError naming the chunk when a retryable item failure persists, and deletes nothing', async () => {
    const { store, requests } = setup(
      (request) => {
        if (isLookup(request)) return { body: lookupPage([['old-a', 'v1', 0]]) };
        // The item for doc-1#1 fails every time, wherever it sits in the batch.
        const lines = ndjson(request);
        const position = lines.findIndex((line) => (line as { chunk_id?: string }).chunk_id === 'doc-1#1');
        return {
          body: bulkAnswer(request, {
            [(position - 1) / 2]: itemError(
              503,
              'unavailable_shards_exception',
              'primary shard is not active',
            ),
          }),
        };
      },
      { retry: { maxAttempts: 3 } },
    );

    const error = await errorOf(store.replaceDocument('doc-1', 'v2', [chunk(0), chunk(1)]));

    expect(error).toBeInstanceOf(VectorStoreWriteError);
    expect((error as VectorStoreWriteError).failures).toEqual([
      {
        chunkId: 'doc-1#1',
        reason:
          '503 unavailable_shards_exception: primary shard is not active (still failing after 3 attempts)',
      },
    ]);
    expect((error as Error).message).toContain('doc-1#1');
    const bulks = requests.filter(isBulk);
    expect(bulks.map((r) => ndjson(r).length / 2)).toEqual([2, 1, 1]);
    expect(bulks.flatMap(ndjson)).not.toContainEqual({ delete: { _id: 'old-a' } });
  });

  it("does not retry items refused with a non-retryable status, and names OpenSearch's reason", async () => {
    let writes = 0;
    const { store, requests } = setup((request) => {
      if (isLookup(request)) return { body: emptyLookup };
      writes++;
      return writes === 1
        ? {
            body: bulkAnswer(request, {
              0: itemError(
                400,
                'mapper_parsing_exception',
                'failed to parse field [embedding] of type [knn_vector]',
                {
                  type: 'illegal_argument_exception',
                  reason: 'Vector dimension mismatch. Expected: 1024, Given: 3',
                },
              ),
              1: itemError(429, 'es_rejected_execution_exception', 'rejected'),
            }),
          }
        : { body: bulkAnswer(request) };
    });

    const error = await errorOf(store.replaceDocument('doc-1', 'v2', [chunk(0), chunk(1)]));

    expect(error).toBeInstanceOf(VectorStoreWriteError);
    expect((error as VectorStoreWriteError).failures).toEqual([
      {
        chunkId: 'doc-1#0',
        reason:
          '400 mapper_parsing_exception: failed to parse field [embedding] of type [knn_vector] (caused by illegal_argument_exception: Vector dimension mismatch. Expected: 1024, Given: 3)',
      },
    ]);
    const bulks = requests.filter(isBulk);
    expect(bulks).toHaveLength(2);
    expect(ndjson(bulks[1] as Recorded)).toEqual([
      { index: {} },
      expect.objectContaining({ chunk_id: 'doc-1#1' }),
    ]);
  });

  it('refuses chunks of another document or version before sending anything', async () => {
    const { store, requests } = setup(() => ({ status: 500, body: { error: 'unexpected request' } }));

    const error = await errorOf(
      store.replaceDocument('doc-1', 'v2', [
        chunk(0),
        chunk(1, { docId: 'doc-9' }),
        chunk(2, { docVersion: 'v1' }),
      ]),
    );

    expect(error).toBeInstanceOf(VectorStoreWriteError);
    expect((error as VectorStoreWriteError).failures.map((f) => f.chunkId)).toEqual(['doc-1#1', 'doc-1#2']);
    expect(requests).toHaveLength(0);
  });

  it('refuses a document whose id, source or metadata OpenSearch could not match exactly, before sending anything', async () => {
    const { store, requests } = setup(() => ({ status: 500, body: { error: 'unexpected request' } }));
    const longId = `docs/${'a'.repeat(KEYWORD_MAX_LENGTH)}`;

    const byId = await errorOf(
      store.replaceDocument(longId, 'v2', [chunk(0, { chunkId: `${longId}#0`, docId: longId })]),
    );
    expect(byId).toBeInstanceOf(VectorStoreWriteError);
    expect((byId as VectorStoreWriteError).failures).toEqual([
      {
        chunkId: `${longId}#0`,
        reason:
          'its document id cannot be stored for exact matching: it is 261 characters long; OpenSearch matches at most 256 exactly',
      },
    ]);

    const byValues = await errorOf(
      store.replaceDocument('doc-1', 'v2', [
        chunk(0, { source: '2024-05-01', metadata: { lang: 'en', note: 'n'.repeat(KEYWORD_MAX_LENGTH) } }),
      ]),
    );
    expect(byValues).toBeInstanceOf(VectorStoreWriteError);
    expect((byValues as VectorStoreWriteError).failures).toEqual([
      {
        chunkId: 'doc-1#0',
        reason: expect.stringMatching(
          /^its source cannot be stored for exact matching: OpenSearch would take it for a date .*, its metadata "note" cannot be stored for exact matching: it is 261 characters long;/,
        ),
      },
    ]);
    expect(requests).toHaveLength(0);
  });
});

describe('deleteDocument', () => {
  it('deletes every chunk found; a delete answered 404 counts as already gone', async () => {
    const { store, requests } = setup((request) =>
      isLookup(request)
        ? {
            body: lookupPage([
              ['a', 'v1', 0],
              ['b', 'v1', 1],
              ['c', 'v2', 0],
            ]),
          }
        : { body: bulkAnswer(request, { 1: { status: 404, result: 'not_found' } }) },
    );

    await expect(store.deleteDocument('doc-1')).resolves.toBe(3);

    const bulks = requests.filter(isBulk);
    expect(bulks).toHaveLength(1);
    expect(ndjson(bulks[0] as Recorded)).toEqual([
      { delete: { _id: 'a' } },
      { delete: { _id: 'b' } },
      { delete: { _id: 'c' } },
    ]);
  });

  it('answers 0 without a bulk request when the document has no chunks', async () => {
    const { store, requests } = setup(() => ({ body: emptyLookup }));

    await expect(store.deleteDocument('doc-1')).resolves.toBe(0);
    expect(requests).toHaveLength(1);
  });

  it('names the chunk and the copy when a delete keeps failing', async () => {
    const { store, requests } = setup(
      (request) =>
        isLookup(request)
          ? {
              body: lookupPage([
                ['a', 'v1', 0],
                ['b', 'v1', 1],
              ]),
            }
          : {
              body: bulkAnswer(
                request,
                ndjson(request).length === 2
                  ? { 1: itemError(500, 'internal_server_error', 'boom') }
                  : { 0: itemError(500, 'internal_server_error', 'boom') },
              ),
            },
      { retry: { maxAttempts: 2 } },
    );

    const error = await errorOf(store.deleteDocument('doc-1'));

    expect(error).toBeInstanceOf(VectorStoreWriteError);
    expect((error as VectorStoreWriteError).failures).toEqual([
      {
        chunkId: 'doc-1#1',
        reason:
          'the copy of version v1 (_id b) could not be removed: 500 internal_server_error: boom (still failing after 2 attempts)',
      },
    ]);
    expect(requests.filter(isBulk).map((r) => ndjson(r))).toEqual([
      [{ delete: { _id: 'a' } }, { delete: { _id: 'b' } }],
      [{ delete: { _id: 'b' } }],
    ]);
  });
});

describe('search', () => {
  it('sends a kNN query without the vector in _source, converts inner-product scores and applies minScore', async () => {
    const { store, requests } = setup(() => ({
      body: searchAnswer([
        hit('doc-1#0', 1.8, { title: 'Keys', source: 'docs/keys.md' }),
        hit('doc-2#3', 1.5),
        hit('doc-3#1', 0.8),
      ]),
    }));

    const results = await store.search({ ...query, minScore: 0.5 });

    expect(requests).toHaveLength(1);
    expect(requests[0]?.method).toBe('POST');
    expect(requests[0]?.path).toBe('/chunks/_search');
    expect(json(requests[0] as Recorded)).toEqual({
      size: 3,
      _source: { excludes: ['embedding'] },
      query: { knn: { embedding: { vector: [0.6, 0.8, 0], k: 3 } } },
    });
    expect(results).toEqual([
      {
        chunkId: 'doc-1#0',
        docId: 'doc-1',
        docVersion: 'v2',
        index: 0,
        text: 'Text of doc-1#0',
        title: 'Keys',
        source: 'docs/keys.md',
        headings: ['Guide'],
        metadata: { lang: 'en' },
        score: expect.closeTo(0.9, 10),
        similarity: expect.closeTo(0.9, 10),
      },
      expect.objectContaining({ chunkId: 'doc-2#3', score: 0.75, similarity: 0.75 }),
    ]);
    // 0.8 is a negative inner product (-0.25): similarity 0.375, under minScore.
    expect(similarityFromInnerProductScore(0.8)).toBeCloseTo(0.375, 10);
  });

  it('puts the filters inside the knn clause: docId and source on their keyword sub-fields, metadata on metadata_kv.keyword, arrays as terms', async () => {
    const { store, requests } = setup(() => ({ body: searchAnswer([]) }));

    await store.search({
      ...query,
      filters: { docId: 'doc-1', source: ['a.md', 'b.md'], lang: 'en', year: [2023, 2024], draft: false },
    });

    expect(json(requests[0] as Recorded)).toEqual({
      size: 3,
      _source: { excludes: ['embedding'] },
      query: {
        knn: {
          embedding: {
            vector: [0.6, 0.8, 0],
            k: 3,
            filter: {
              bool: {
                filter: [
                  { term: { 'doc_id.keyword': 'doc-1' } },
                  { terms: { 'source.keyword': ['a.md', 'b.md'] } },
                  { term: { 'metadata_kv.keyword': 'lang=en' } },
                  { terms: { 'metadata_kv.keyword': ['year=2023', 'year=2024'] } },
                  { term: { 'metadata_kv.keyword': 'draft=false' } },
                ],
              },
            },
          },
        },
      },
    });
  });

  it('hybrid: runs kNN and BM25 with the same filters, fuses them and keeps the top k at or above minScore', async () => {
    const respond: Responder = (request) =>
      isKnn(request)
        ? { body: searchAnswer([hit('doc-a#0', 1.8), hit('doc-b#0', 1.6), hit('doc-c#0', 1.2)]) }
        : { body: searchAnswer([hit('doc-c#0', 10), hit('doc-d#0', 8), hit('doc-b#0', 2)]) };
    const { store, requests } = setup(respond);

    const results = await store.search({ ...query, hybrid: true, filters: { lang: 'en' } });

    const keyword = requests.find((r) => !isKnn(r)) as Recorded;
    expect(requests).toHaveLength(2);
    expect(keyword.path).toBe('/chunks/_search');
    expect(json(keyword)).toEqual({
      size: 3,
      _source: { excludes: ['embedding'] },
      query: {
        bool: {
          must: [{ multi_match: { query: 'how to rotate keys', fields: ['text', 'title^2', 'headings'] } }],
          filter: [{ term: { 'metadata_kv.keyword': 'lang=en' } }],
        },
      },
    });
    expect(json(requests.find(isKnn) as Recorded)).toMatchObject({
      query: {
        knn: {
          embedding: { filter: { bool: { filter: [{ term: { 'metadata_kv.keyword': 'lang=en' } }] } } },
        },
      },
    });
    // 0.7 * similarity + 0.3 * keyword / best keyword: c 0.42 + 0.3, a 0.63, b 0.56 + 0.06, d 0.24.
    expect(results.map((r) => r.chunkId)).toEqual(['doc-c#0', 'doc-a#0', 'doc-b#0']);
    expect(results.map((r) => r.score)).toEqual([
      expect.closeTo(0.72, 10),
      expect.closeTo(0.63, 10),
      expect.closeTo(0.62, 10),
    ]);
    expect(results.map((r) => r.similarity)).toEqual([
      expect.closeTo(0.6, 10),
      expect.closeTo(0.9, 10),
      expect.closeTo(0.8, 10),
    ]);

    // minScore applies to the similarity: the keyword-only chunk (0) and c (0.6) drop out.
    const filtered = await setup(respond).store.search({ ...query, hybrid: true, minScore: 0.65 });
    expect(filtered.map((r) => r.chunkId)).toEqual(['doc-a#0', 'doc-b#0']);
  });

  it('rebuilds metadata from metadata_json, keeping scalar values, and tolerates a missing or malformed field', async () => {
    const { store } = setup(() => ({
      body: searchAnswer([
        hit('doc-1#0', 1.8, { metadata_json: '{"lang":"en","year":2024,"draft":false,"tags":["a"]}' }),
        hit('doc-2#0', 1.7, { metadata_json: undefined }),
        hit('doc-3#0', 1.6, { metadata_json: 'not json' }),
        hit('doc-4#0', 1.5, { metadata_json: '["lang=en"]' }),
      ]),
    }));

    const results = await store.search({ ...query, k: 4 });

    expect(results.map((r) => [r.chunkId, r.metadata])).toEqual([
      ['doc-1#0', { lang: 'en', year: 2024, draft: false }],
      ['doc-2#0', {}],
      ['doc-3#0', {}],
      ['doc-4#0', {}],
    ]);
  });

  it('keeps one hit per chunk id when a chunk is briefly stored twice', async () => {
    const { store } = setup(() => ({
      body: searchAnswer([
        hit('doc-1#0', 1.8),
        hit('doc-1#0', 1.7, { doc_version: 'v1' }),
        hit('doc-1#1', 1.5),
      ]),
    }));

    const results = await store.search(query);

    expect(results.map((r) => [r.chunkId, r.docVersion])).toEqual([
      ['doc-1#0', 'v2'],
      ['doc-1#1', 'v2'],
    ]);
  });

  it('refuses a k out of range before sending anything', async () => {
    const { store, requests } = setup(() => ({ body: searchAnswer([]) }));

    await expect(store.search({ ...query, k: 0 })).rejects.toBeInstanceOf(UnsupportedQueryError);
    await expect(store.search({ ...query, k: 10_001 })).rejects.toBeInstanceOf(UnsupportedQueryError);
    expect(requests).toHaveLength(0);
  });
});

describe('error responses', () => {
  /** Answers with `failures` in turn, then with `success`. */
  const sequence = (failures: Reply[], success: Reply): Responder => {
    const queue = [...failures];
    return () => queue.shift() ?? success;
  };
  const throttled: Reply = {
    status: 429,
    body: { status: 429, error: { type: 'too_many_requests', reason: 'Request rate exceeded' } },
  };
  const unavailable: Reply = {
    status: 503,
    body: { status: 503, error: { type: 'unavailable', reason: 'Service Unavailable' } },
  };

  it('retries throttling, 5xx answers and network errors, then succeeds', async () => {
    const { store, requests, sleeps } = setup(
      sequence([throttled, unavailable, { networkError: 'socket hang up' }], {
        body: searchAnswer([hit('doc-1#0', 1.8)]),
      }),
    );

    const results = await store.search(query);

    expect(results.map((r) => r.chunkId)).toEqual(['doc-1#0']);
    expect(requests).toHaveLength(4);
    expect(sleeps).toHaveLength(3);
  });

  it('ends persistent throttling of a search in ThrottledError, with the Retry-After of OpenSearch', async () => {
    const { store, requests } = setup(() => ({ ...throttled, headers: { 'retry-after': '2' } }));

    const error = await errorOf(store.search(query));

    expect(error).toBeInstanceOf(ThrottledError);
    expect((error as ThrottledError).retryAfterSeconds).toBe(2);
    expect((error as Error).message).toContain('OpenSearch is throttling');
    expect(requests).toHaveLength(4);
  });

  it('ends persistent throttling of a write in TransientError, which the state machines retry', async () => {
    const { store, requests } = setup(() => throttled);

    const error = await errorOf(store.deleteDocument('doc-1'));

    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).name).toBe('TransientError');
    expect((error as Error).message).toMatch(
      /^OpenSearch is throttling requests: the lookup of the chunks of document doc-1 on index chunks/,
    );
    expect(requests).toHaveLength(4);
  });

  it('ends a persistent 5xx in TransientError naming OpenSearch, the index and the status', async () => {
    const { store, requests } = setup(() => unavailable, { retry: { maxAttempts: 2 } });

    const error = await errorOf(store.search(query));

    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toBe(
      'OpenSearch failed the kNN search on index chunks after 2 attempts: 503 unavailable: Service Unavailable',
    );
    expect(requests).toHaveLength(2);
  });

  it('ends persistent network errors in TransientError', async () => {
    const { store, requests } = setup(() => ({ networkError: 'connect ECONNREFUSED' }));

    const error = await errorOf(store.replaceDocument('doc-1', 'v2', [chunk(0)]));

    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toContain('OpenSearch could not be reached');
    expect((error as Error).message).toContain('connect ECONNREFUSED');
    expect(requests).toHaveLength(4);
  });

  it('turns 403 into OpenSearchAccessDeniedError naming the index, the collection and the permission, without retry', async () => {
    const forbidden: Reply = {
      status: 403,
      body: { status: 403, 'request-id': 'r-1', error: { reason: '403 Forbidden', type: 'Forbidden' } },
    };
    const reads = setup(() => forbidden);

    const readError = await errorOf(reads.store.search(query));

    expect(readError).toBeInstanceOf(OpenSearchAccessDeniedError);
    expect((readError as OpenSearchAccessDeniedError).statusCode).toBe(403);
    const message = (readError as Error).message;
    expect(message).toContain('index chunks');
    expect(message).toContain(`collection ${ENDPOINT}`);
    expect(message).toContain("data access policy must grant this function's role aoss:ReadDocument");
    expect(reads.requests).toHaveLength(1);

    const writes = setup((request) => (isLookup(request) ? { body: emptyLookup } : forbidden));
    const writeError = await errorOf(writes.store.replaceDocument('doc-1', 'v2', [chunk(0)]));
    expect(writeError).toBeInstanceOf(OpenSearchAccessDeniedError);
    expect((writeError as Error).message).toContain('aoss:WriteDocument');
    expect(writes.requests).toHaveLength(2);
  });

  it('turns 404 index_not_found_exception into OpenSearchIndexNotFoundError naming the index', async () => {
    const { store, requests } = setup(() => ({
      status: 404,
      body: {
        status: 404,
        error: {
          type: 'index_not_found_exception',
          reason: 'no such index [chunks]',
          root_cause: [{ type: 'index_not_found_exception', reason: 'no such index [chunks]' }],
        },
      },
    }));

    const error = await errorOf(store.deleteDocument('doc-1'));

    expect(error).toBeInstanceOf(OpenSearchIndexNotFoundError);
    expect((error as Error).message).toContain('index chunks does not exist');
    expect(requests).toHaveLength(1);
  });

  it("turns 400 into OpenSearchRequestError with OpenSearch's error type and reason, without retry", async () => {
    const { store, requests } = setup(() => ({
      status: 400,
      body: {
        status: 400,
        error: {
          type: 'search_phase_execution_exception',
          reason: 'all shards failed',
          caused_by: { type: 'illegal_argument_exception', reason: 'query vector dimension mismatch' },
        },
      },
    }));

    const error = await errorOf(store.search(query));

    expect(error).toBeInstanceOf(OpenSearchRequestError);
    expect(error).not.toBeInstanceOf(TransientError);
    expect((error as OpenSearchRequestError).errorType).toBe('search_phase_execution_exception');
    expect((error as Error).message).toBe(
      'OpenSearch refused the kNN search on index chunks: 400 search_phase_execution_exception: all shards failed (caused by illegal_argument_exception: query vector dimension mismatch)',
    );
    expect(requests).toHaveLength(1);
  });

  it('treats an id lookup answered by part of the index only as transient', async () => {
    const { store, requests } = setup(() => ({
      body: { ...emptyLookup, _shards: { total: 2, successful: 1, skipped: 0, failed: 1 } },
    }));

    await expect(store.deleteDocument('doc-1')).rejects.toBeInstanceOf(TransientError);
    expect(requests.filter(isBulk)).toHaveLength(0);
  });
});

describe('createOpenSearchStore', () => {
  it('refuses malformed options with ConfigError', () => {
    const base = { endpoint: ENDPOINT, index: 'chunks', region: 'us-east-1' };
    expect(() => createOpenSearchStore({ ...base, index: ' ' })).toThrow(ConfigError);
    expect(() => createOpenSearchStore({ ...base, endpoint: 'https://' })).toThrow(ConfigError);
    expect(() => createOpenSearchStore({ ...base, endpoint: 'ftp://abc123.example' })).toThrow(ConfigError);
    expect(() => createOpenSearchStore({ ...base, maxBulkBytes: 0 })).toThrow(ConfigError);
    expect(() => createOpenSearchStore({ ...base, lookupPageSize: 1.5 })).toThrow(ConfigError);
  });

  it('accepts a collection endpoint without its scheme and names it with https:// in errors', async () => {
    const { client } = fakeOpenSearch(() => ({
      status: 403,
      body: { error: { type: 'Forbidden', reason: '403 Forbidden' } },
    }));
    const store = createOpenSearchStore({
      endpoint: 'abc123.us-east-1.aoss.amazonaws.com/',
      index: 'chunks',
      region: 'us-east-1',
      client,
    });

    const error = await errorOf(store.search(query));

    expect((error as Error).message).toContain(`collection ${ENDPOINT} `);
  });

  it('signs requests with SigV4 for the aoss service by default (loopback server)', async () => {
    const seen: { method?: string; url?: string; headers: IncomingMessage['headers']; body: string }[] = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (data: Buffer) => {
        body += data.toString('utf8');
      });
      request.on('end', () => {
        seen.push({ method: request.method, url: request.url, headers: request.headers, body });
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(emptyLookup));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const store = createOpenSearchStore({
        endpoint: `http://127.0.0.1:${port}`,
        index: 'chunks',
        region: 'eu-west-1',
      });

      await expect(store.deleteDocument('doc-1')).resolves.toBe(0);

      expect(seen).toHaveLength(1);
      const [request] = seen as [(typeof seen)[number]];
      expect(request.method).toBe('POST');
      expect(request.url).toBe('/chunks/_search');
      expect(request.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/eu-west-1\/aoss\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/,
      );
      expect(request.headers['x-amz-content-sha256']).toBe(
        createHash('sha256').update(request.body).digest('hex'),
      );
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
