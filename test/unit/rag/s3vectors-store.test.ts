import {
  AccessDeniedException,
  DeleteVectorsCommand,
  InternalServerException,
  ListVectorsCommand,
  PutVectorsCommand,
  type PutVectorsCommandInput,
  QueryVectorsCommand,
  type QueryVectorsCommandOutput,
  S3VectorsClient,
  ServiceUnavailableException,
  TooManyRequestsException,
  ValidationException,
} from '@aws-sdk/client-s3vectors';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, ThrottledError, TransientError, ValidationError } from '#aws/errors.ts';
import { createS3VectorsStore, S3_VECTORS_LIMITS } from '#aws/rag/s3vectors-store.ts';
import {
  type IndexedChunk,
  type MetadataFilters,
  UnsupportedQueryError,
  type VectorQuery,
  VectorStoreWriteError,
} from '#core/rag/store.ts';
import { errorOf } from '../../support/async.ts';

const s3vectors = mockClient(S3VectorsClient);
const sleep = vi.fn(async (_ms: number, _signal?: AbortSignal) => {});
const index = { vectorBucketName: 'rag-vectors', indexName: 'chunks' };
const store = createS3VectorsStore({
  ...index,
  client: new S3VectorsClient({ region: 'us-east-1' }),
  retry: { sleep, random: () => 0 },
});

const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode } });
const throttled = () => new TooManyRequestsException({ message: 'Slow down', ...meta(429) });
const unavailable = () =>
  new ServiceUnavailableException({ message: 'Currently unable to handle the request', ...meta(503) });

function chunk(docId: string, i: number, extra: Partial<IndexedChunk> = {}): IndexedChunk {
  return {
    chunkId: `${docId}#${i}`,
    docId,
    docVersion: 'v2',
    index: i,
    text: `Text of chunk ${i}.`,
    headings: [],
    metadata: {},
    vector: [0.25, -0.5, 1],
    ...extra,
  };
}

function chunks(docId: string, count: number): IndexedChunk[] {
  return Array.from({ length: count }, (_, i) => chunk(docId, i));
}

const putInputs = (): PutVectorsCommandInput[] =>
  s3vectors.commandCalls(PutVectorsCommand).map((c) => c.args[0].input);
const putKeys = (): string[][] => putInputs().map((input) => (input.vectors ?? []).map((v) => v.key ?? ''));
const deletedKeys = (): string[][] =>
  s3vectors.commandCalls(DeleteVectorsCommand).map((c) => c.args[0].input.keys ?? []);

const query = (extra: Partial<VectorQuery> = {}): VectorQuery => ({
  vector: [0.1, 0.2, 0.3],
  text: 'What is the refund window?',
  k: 5,
  ...extra,
});

const hits = (vectors: QueryVectorsCommandOutput['vectors']): QueryVectorsCommandOutput => ({
  vectors,
  distanceMetric: 'cosine',
  $metadata: {},
});

beforeEach(() => {
  s3vectors.reset();
  s3vectors.on(PutVectorsCommand).resolves({});
  s3vectors.on(DeleteVectorsCommand).resolves({});
  sleep.mockClear();
});

describe('createS3VectorsStore', () => {
  it('is the s3vectors store, without hybrid search', () => {
    expect(store.kind).toBe('s3vectors');
    expect(store.supportsHybrid).toBe(false);
  });
});

describe('replaceDocument', () => {
  it('writes each chunk under its id with the layout metadata, then deletes the keys the new version lost', async () => {
    const first = chunk('guide.md', 0, {
      title: 'Refunds',
      source: 's3://raw/guide.md',
      headings: ['Policies', 'Refunds'],
      metadata: { lang: 'en', year: 2025, public: true },
    });
    const result = await store.replaceDocument('guide.md', 'v2', [first, chunk('guide.md', 1)], {
      chunkCount: 4,
    });

    expect(result).toEqual({ indexed: 2, removed: 2 });
    expect(putInputs()).toEqual([
      {
        ...index,
        vectors: [
          {
            key: 'guide.md#0',
            data: { float32: [0.25, -0.5, 1] },
            metadata: {
              doc_id: 'guide.md',
              doc_version: 'v2',
              chunk_index: 0,
              source: 's3://raw/guide.md',
              m_lang: 'en',
              m_year: 2025,
              m_public: true,
              text: 'Text of chunk 0.',
              title: 'Refunds',
              headings: ['Policies', 'Refunds'],
            },
          },
          {
            key: 'guide.md#1',
            data: { float32: [0.25, -0.5, 1] },
            // No title, source or headings: the keys are left out rather than written empty.
            metadata: { doc_id: 'guide.md', doc_version: 'v2', chunk_index: 1, text: 'Text of chunk 1.' },
          },
        ],
      },
    ]);
    expect(s3vectors.commandCalls(DeleteVectorsCommand).map((c) => c.args[0].input)).toEqual([
      { ...index, keys: ['guide.md#2', 'guide.md#3'] },
    ]);
    expect(s3vectors).not.toHaveReceivedCommand(ListVectorsCommand);
  });

  it('deletes nothing when the new version is at least as long as the known one', async () => {
    const result = await store.replaceDocument('guide.md', 'v2', chunks('guide.md', 3), { chunkCount: 3 });
    expect(result).toEqual({ indexed: 3, removed: 0 });
    expect(s3vectors).not.toHaveReceivedCommand(DeleteVectorsCommand);
    expect(s3vectors).not.toHaveReceivedCommand(ListVectorsCommand);
  });

  it('writes in batches of at most 500 vectors, in order', async () => {
    await store.replaceDocument('big.md', 'v2', chunks('big.md', 1201), { chunkCount: 0 });
    const batches = putKeys();
    expect(batches.map((keys) => keys.length)).toEqual([500, 500, 201]);
    expect(batches.flat()).toEqual(Array.from({ length: 1201 }, (_, i) => `big.md#${i}`));
  });

  it('keeps each PutVectors request within the 20 MiB payload limit', async () => {
    const heavy = Array.from({ length: 400 }, (_, i) =>
      chunk('heavy.md', i, {
        text: 'x'.repeat(30_000),
        vector: Array.from({ length: 4096 }, (_, d) => 0.123456789 + d),
      }),
    );
    await store.replaceDocument('heavy.md', 'v2', heavy, { chunkCount: 0 });
    const inputs = putInputs();
    expect(inputs.length).toBeGreaterThan(1);
    for (const input of inputs) {
      expect(Buffer.byteLength(JSON.stringify(input))).toBeLessThanOrEqual(S3_VECTORS_LIMITS.maxRequestBytes);
    }
    expect(putKeys().flat()).toEqual(heavy.map((c) => c.chunkId));
  });

  it('without what is known, finds the stale keys by listing the index page by page', async () => {
    s3vectors
      .on(ListVectorsCommand)
      .resolvesOnce({
        vectors: [
          { key: 'doc-a#0' },
          { key: 'doc-a#4' },
          { key: 'doc-a#1#7' }, // chunk 7 of document `doc-a#1`
          { key: 'doc-ab#9' },
          { key: 'doc-b#3' },
          { key: 'doc-a#x' },
        ],
        nextToken: 'page-2',
        $metadata: {},
      })
      .resolvesOnce({
        vectors: [{ key: 'doc-a#12' }, { key: 'doc-a#2' }, { key: 'doc-a#3' }],
        $metadata: {},
      });

    const result = await store.replaceDocument('doc-a', 'v2', chunks('doc-a', 3));

    expect(result).toEqual({ indexed: 3, removed: 3 });
    expect(s3vectors.commandCalls(ListVectorsCommand).map((c) => c.args[0].input)).toEqual([
      { ...index, maxResults: 1000, returnData: false, returnMetadata: false },
      { ...index, maxResults: 1000, returnData: false, returnMetadata: false, nextToken: 'page-2' },
    ]);
    expect(deletedKeys()).toEqual([['doc-a#3', 'doc-a#4', 'doc-a#12']]);
  });

  it('retries a throttled batch with backoff and then goes on', async () => {
    s3vectors.on(PutVectorsCommand).rejectsOnce(throttled()).rejectsOnce(throttled()).resolves({});
    const result = await store.replaceDocument('guide.md', 'v2', chunks('guide.md', 2), { chunkCount: 3 });
    expect(result).toEqual({ indexed: 2, removed: 1 });
    expect(s3vectors).toHaveReceivedCommandTimes(PutVectorsCommand, 3);
    expect(sleep).toHaveBeenCalledTimes(2);
    expect(deletedKeys()).toEqual([['guide.md#2']]);
  });

  it('names the keys of a batch that is still unavailable after retries, and deletes nothing', async () => {
    s3vectors.on(PutVectorsCommand).resolvesOnce({}).rejects(unavailable());
    const error = await errorOf(
      store.replaceDocument('big.md', 'v2', chunks('big.md', 600), { chunkCount: 900 }),
    );

    expect(error).toBeInstanceOf(VectorStoreWriteError);
    const failure = error as VectorStoreWriteError;
    expect(failure.docId).toBe('big.md');
    expect(failure.failures.map((f) => f.chunkId)).toEqual(
      Array.from({ length: 100 }, (_, i) => `big.md#${500 + i}`),
    );
    expect(failure.failures[0]?.reason).toBe(
      'S3 Vectors PutVectors still failed after retries (ServiceUnavailableException)',
    );
    expect(failure.cause).toBeInstanceOf(TransientError);
    expect(failure.message).toContain('100 chunk(s) of document big.md could not be indexed: big.md#500:');
    // One successful batch, then the default 4 attempts for the second.
    expect(s3vectors).toHaveReceivedCommandTimes(PutVectorsCommand, 5);
    expect(s3vectors).not.toHaveReceivedCommand(DeleteVectorsCommand);
  });

  it('reports a batch still throttled after retries, with the ThrottledError as cause', async () => {
    s3vectors.on(PutVectorsCommand).rejects(throttled());
    const error = await errorOf(store.replaceDocument('guide.md', 'v2', chunks('guide.md', 2)));
    expect(error).toBeInstanceOf(VectorStoreWriteError);
    expect((error as VectorStoreWriteError).failures).toEqual([
      { chunkId: 'guide.md#0', reason: 'S3 Vectors was still throttling PutVectors after retries' },
      { chunkId: 'guide.md#1', reason: 'S3 Vectors was still throttling PutVectors after retries' },
    ]);
    expect((error as VectorStoreWriteError).cause).toBeInstanceOf(ThrottledError);
    expect(s3vectors).toHaveReceivedCommandTimes(PutVectorsCommand, 4);
    expect(s3vectors).not.toHaveReceivedCommand(ListVectorsCommand);
  });

  it('does not retry a batch the service refuses, and says why', async () => {
    s3vectors.on(PutVectorsCommand).rejects(
      new ValidationException({
        message:
          "Invalid record for key 'guide.md#0': Vector dimension 3 does not match index dimension 1024",
        ...meta(400),
      }),
    );
    const error = await errorOf(store.replaceDocument('guide.md', 'v2', chunks('guide.md', 1)));
    expect(error).toBeInstanceOf(VectorStoreWriteError);
    expect((error as VectorStoreWriteError).failures).toEqual([
      {
        chunkId: 'guide.md#0',
        reason:
          "PutVectors was refused: ValidationException: Invalid record for key 'guide.md#0': Vector dimension 3 does not match index dimension 1024",
      },
    ]);
    expect(s3vectors).toHaveReceivedCommandTimes(PutVectorsCommand, 1);
  });

  describe('checks each chunk against the limits before sending anything', () => {
    const cases: { name: string; chunk: IndexedChunk; reason: RegExp }[] = [
      {
        name: 'filterable metadata over 2 KB',
        chunk: chunk('guide.md', 1, { metadata: { summary: 'é'.repeat(1100) } }),
        reason:
          /filterable metadata .* takes 22\d\d bytes, over the S3 Vectors limit of 2048 bytes per vector/,
      },
      {
        name: 'metadata over 40 KB in all',
        chunk: chunk('guide.md', 1, { text: 'x'.repeat(41_000) }),
        reason: /metadata \(text, title and headings included\) takes 41\d\d\d bytes, over .* 40960 bytes/,
      },
      {
        name: 'more than 50 metadata keys',
        chunk: chunk('guide.md', 1, {
          metadata: Object.fromEntries(Array.from({ length: 47 }, (_, i) => [`k${i}`, i])),
        }),
        reason: /51 metadata keys, over the S3 Vectors limit of 50 per vector/,
      },
      {
        name: 'an all-zero embedding',
        chunk: chunk('guide.md', 1, { vector: [0, 0, 0] }),
        reason: /all zeros, which a cosine index refuses/,
      },
      {
        name: 'a non-finite embedding value',
        chunk: chunk('guide.md', 1, { vector: [0.1, Number.NaN, 0.2] }),
        reason: /non-finite value/,
      },
      {
        name: 'a chunk id that is not the vector key layout',
        chunk: { ...chunk('guide.md', 1), chunkId: 'guide.md:1' },
        reason: /its id must be guide\.md#1 \(the vector key\)/,
      },
      {
        name: 'a chunk of another version',
        chunk: chunk('guide.md', 1, { docVersion: 'v1' }),
        reason: /it is of version v1, not v2/,
      },
    ];

    it.each(cases)('$name', async ({ chunk: bad, reason }) => {
      const error = await errorOf(store.replaceDocument('guide.md', 'v2', [chunk('guide.md', 0), bad]));
      expect(error).toBeInstanceOf(VectorStoreWriteError);
      const failures = (error as VectorStoreWriteError).failures;
      expect(failures).toHaveLength(1);
      expect(failures[0]?.chunkId).toBe(bad.chunkId);
      expect(failures[0]?.reason).toMatch(reason);
      expect(s3vectors).not.toHaveReceivedAnyCommand();
    });

    it('accepts filterable metadata just under the limit', async () => {
      // 1,900 bytes of value plus the fixed keys stays under 2,048 bytes.
      await store.replaceDocument(
        'guide.md',
        'v2',
        [chunk('guide.md', 0, { metadata: { summary: 'a'.repeat(1900) } })],
        { chunkCount: 1 },
      );
      expect(s3vectors).toHaveReceivedCommandTimes(PutVectorsCommand, 1);
    });

    it('refuses indexes that are not 0 to n - 1, which the stale-key deletion relies on', async () => {
      const error = await errorOf(
        store.replaceDocument('guide.md', 'v2', [chunk('guide.md', 0), chunk('guide.md', 2)], {
          chunkCount: 3,
        }),
      );
      expect((error as VectorStoreWriteError).failures).toEqual([
        { chunkId: 'guide.md#2', reason: 'its index 2 is outside 0 to 1' },
      ]);
      expect(s3vectors).not.toHaveReceivedAnyCommand();
    });
  });
});

describe('deleteDocument', () => {
  it('deletes the known chunk keys in batches of at most 500 and returns the count', async () => {
    await expect(store.deleteDocument('big.md', { chunkCount: 1100 })).resolves.toBe(1100);
    const batches = deletedKeys();
    expect(batches.map((keys) => keys.length)).toEqual([500, 500, 100]);
    expect(batches.flat()).toEqual(Array.from({ length: 1100 }, (_, i) => `big.md#${i}`));
    expect(s3vectors.commandCalls(DeleteVectorsCommand)[0]?.args[0].input).toMatchObject(index);
    expect(s3vectors).not.toHaveReceivedCommand(ListVectorsCommand);
  });

  it.each([Number.POSITIVE_INFINITY, -1, 1.5])('refuses a known chunk count of %s', async (chunkCount) => {
    await expect(store.deleteDocument('guide.md', { chunkCount })).rejects.toBeInstanceOf(RangeError);
    expect(s3vectors).not.toHaveReceivedAnyCommand();
  });

  it('sends nothing for a document known to have no chunks', async () => {
    await expect(store.deleteDocument('empty.md', { chunkCount: 0 })).resolves.toBe(0);
    expect(s3vectors).not.toHaveReceivedAnyCommand();
  });

  it('without what is known, deletes the keys of the document found by listing', async () => {
    s3vectors
      .on(ListVectorsCommand)
      .resolvesOnce({ vectors: [{ key: 'doc-a#1' }, { key: 'doc-b#0' }], nextToken: 'next', $metadata: {} })
      .resolvesOnce({ vectors: [{ key: 'doc-a#0' }], $metadata: {} });
    await expect(store.deleteDocument('doc-a')).resolves.toBe(2);
    expect(deletedKeys()).toEqual([['doc-a#0', 'doc-a#1']]);
  });

  it('resolves with 0 when listing finds no chunk of the document', async () => {
    s3vectors.on(ListVectorsCommand).resolves({ vectors: [{ key: 'doc-b#0' }], $metadata: {} });
    await expect(store.deleteDocument('doc-a')).resolves.toBe(0);
    expect(s3vectors).not.toHaveReceivedCommand(DeleteVectorsCommand);
  });

  it('ends in ThrottledError when throttling outlasts the retries', async () => {
    s3vectors.on(DeleteVectorsCommand).rejects(throttled());
    const error = await errorOf(store.deleteDocument('guide.md', { chunkCount: 2 }));
    expect(error).toBeInstanceOf(ThrottledError);
    expect((error as ThrottledError).message).toBe('S3 Vectors is throttling requests; retry later');
    expect(s3vectors).toHaveReceivedCommandTimes(DeleteVectorsCommand, 4);
  });

  it('ends in TransientError when the service keeps failing', async () => {
    s3vectors.on(ListVectorsCommand).rejects(new InternalServerException({ message: 'boom', ...meta(500) }));
    const error = await errorOf(store.deleteDocument('guide.md'));
    expect(error).toBeInstanceOf(TransientError);
    expect((error as TransientError).message).toBe(
      'S3 Vectors ListVectors still failed after retries (InternalServerException)',
    );
    expect((error as TransientError).cause).toBeInstanceOf(InternalServerException);
    expect(s3vectors).toHaveReceivedCommandTimes(ListVectorsCommand, 4);
  });

  it('rethrows a non-retryable service error at once', async () => {
    const denied = new AccessDeniedException({ message: 'not allowed', ...meta(403) });
    s3vectors.on(DeleteVectorsCommand).rejects(denied);
    await expect(store.deleteDocument('guide.md', { chunkCount: 1 })).rejects.toBe(denied);
    expect(s3vectors).toHaveReceivedCommandTimes(DeleteVectorsCommand, 1);
  });
});

describe('search', () => {
  it('refuses hybrid queries: the store has no keyword search', async () => {
    const error = await errorOf(store.search(query({ hybrid: true })));
    expect(error).toBeInstanceOf(UnsupportedQueryError);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({
      field: 'rag.hybrid',
      rule: 'is not available with the S3 Vectors store (it has no keyword search); use the OpenSearch store or leave hybrid off',
      expose: true,
    });
    expect(s3vectors).not.toHaveReceivedAnyCommand();
  });

  it.each([0, 101, 2.5])('refuses k = %s, outside what QueryVectors returns', async (k) => {
    const error = await errorOf(store.search(query({ k })));
    expect(error).toBeInstanceOf(UnsupportedQueryError);
    expect(error).toMatchObject({ field: 'rag.k' });
    expect(s3vectors).not.toHaveReceivedAnyCommand();
  });

  it('queries the top k by cosine distance with metadata, without a filter when none is given', async () => {
    s3vectors.on(QueryVectorsCommand).resolves(hits([]));
    await expect(store.search(query({ k: 100 }))).resolves.toEqual([]);
    expect(s3vectors.commandCalls(QueryVectorsCommand).map((c) => c.args[0].input)).toEqual([
      {
        ...index,
        topK: 100,
        queryVector: { float32: [0.1, 0.2, 0.3] },
        returnDistance: true,
        returnMetadata: true,
      },
    ]);
  });

  it.each<{ filters: MetadataFilters; filter: unknown }>([
    { filters: { docId: 'guide.md' }, filter: { doc_id: { $eq: 'guide.md' } } },
    { filters: { source: 's3://raw/guide.md' }, filter: { source: { $eq: 's3://raw/guide.md' } } },
    { filters: { year: 2025 }, filter: { m_year: { $eq: 2025 } } },
    { filters: { lang: ['en', 'fr'] }, filter: { m_lang: { $in: ['en', 'fr'] } } },
    {
      filters: { docId: ['a.md', 'b.md'], public: true, lang: 'en' },
      filter: {
        $and: [{ doc_id: { $in: ['a.md', 'b.md'] } }, { m_public: { $eq: true } }, { m_lang: { $eq: 'en' } }],
      },
    },
  ])('translates the filters $filters', async ({ filters, filter }) => {
    s3vectors.on(QueryVectorsCommand).resolves(hits([]));
    await store.search(query({ filters }));
    expect(s3vectors.commandCalls(QueryVectorsCommand)[0]?.args[0].input.filter).toEqual(filter);
  });

  it('answers nothing, without a call, when a filter accepts no value', async () => {
    await expect(store.search(query({ filters: { lang: [] } }))).resolves.toEqual([]);
    expect(s3vectors).not.toHaveReceivedAnyCommand();
  });

  it('converts cosine distances to similarities, applies minScore and rebuilds the chunks', async () => {
    s3vectors.on(QueryVectorsCommand).resolves(
      hits([
        {
          key: 'guide.md#3',
          distance: 0.2,
          metadata: {
            doc_id: 'guide.md',
            doc_version: 'v2',
            chunk_index: 3,
            source: 's3://raw/guide.md',
            text: 'Refunds within 30 days.',
            title: 'Refunds',
            headings: ['Policies', 'Refunds'],
            m_lang: 'en',
            m_year: 2025,
          },
        },
        {
          key: 'faq.md#0',
          distance: 0.6,
          metadata: { doc_id: 'faq.md', doc_version: 'v1', chunk_index: 0, text: 'Ask us.' },
        },
        {
          key: 'other.md#1',
          distance: 1,
          metadata: { doc_id: 'other.md', doc_version: 'v1', chunk_index: 1 },
        },
      ]),
    );

    const found = await store.search(query({ minScore: 0.6 }));

    expect(found).toEqual([
      {
        chunkId: 'guide.md#3',
        docId: 'guide.md',
        docVersion: 'v2',
        index: 3,
        text: 'Refunds within 30 days.',
        title: 'Refunds',
        source: 's3://raw/guide.md',
        headings: ['Policies', 'Refunds'],
        metadata: { lang: 'en', year: 2025 },
        score: 0.9,
        similarity: 0.9,
      },
      {
        chunkId: 'faq.md#0',
        docId: 'faq.md',
        docVersion: 'v1',
        index: 0,
        text: 'Ask us.',
        headings: [],
        metadata: {},
        score: 0.7,
        similarity: 0.7,
      },
    ]);
  });

  it('returns what replaceDocument wrote, field for field', async () => {
    const written = chunk('guide.md', 0, {
      title: 'Refunds',
      source: 's3://raw/guide.md',
      headings: ['Policies'],
      metadata: { lang: 'en', year: 2025, public: false },
    });
    await store.replaceDocument('guide.md', 'v2', [written], { chunkCount: 1 });
    const stored = putInputs()[0]?.vectors?.[0];
    s3vectors
      .on(QueryVectorsCommand)
      .resolves(hits([{ key: stored?.key, metadata: stored?.metadata, distance: 0 }]));

    const [found] = await store.search(query());
    const { vector: _vector, ...fields } = written;
    expect(found).toEqual({ ...fields, score: 1, similarity: 1 });
  });

  it('refuses an index that does not use the cosine distance', async () => {
    s3vectors.on(QueryVectorsCommand).resolves({ ...hits([]), distanceMetric: 'euclidean' });
    const error = await errorOf(store.search(query()));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain('uses the euclidean distance');
  });

  it('retries a throttled query, then answers', async () => {
    s3vectors
      .on(QueryVectorsCommand)
      .rejectsOnce(throttled())
      .resolves(hits([{ key: 'guide.md#0', distance: 0, metadata: { doc_id: 'guide.md', text: 'Hi' } }]));
    const found = await store.search(query());
    expect(found.map((c) => c.chunkId)).toEqual(['guide.md#0']);
    expect(s3vectors).toHaveReceivedCommandTimes(QueryVectorsCommand, 2);
    expect(sleep).toHaveBeenCalledTimes(1);
  });

  it('ends in ThrottledError when the query is still throttled after retries', async () => {
    s3vectors.on(QueryVectorsCommand).rejects(throttled());
    await expect(store.search(query())).rejects.toBeInstanceOf(ThrottledError);
    expect(s3vectors).toHaveReceivedCommandTimes(QueryVectorsCommand, 4);
  });
});
