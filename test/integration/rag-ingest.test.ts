import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DocumentTable } from '#aws/rag/documents.ts';
import { embeddedVectorStore } from '#aws/rag/embedded-store.ts';
import { TransientError } from '#core/errors.ts';
import { hashEmbedding } from '#core/models/offline.ts';
import { VectorStoreWriteError } from '#core/rag/store.ts';
import { documentIndexedDetail } from '#events/document-indexed.ts';
import { pipelineFailedDetail } from '#events/pipeline-failed.ts';
import { LocalRunner } from '#infra/local/runner.ts';

/**
 * The synthesized RagIngest state machine, run by aws-local-stepfunctions against the real handler
 * modules, with real SDK clients talking to dynalite and s3rver on 127.0.0.1, and the embedded vector
 * store the local run uses (usearch HNSW + BM25, in this process).
 */
let stack: LocalRunner;
let raw: string;
let documents: DocumentTable;

beforeAll(async () => {
  stack = await LocalRunner.start();
  raw = stack.output('RawBucketName');
  const table = stack.template
    .resourcesOfType('AWS::DynamoDB::Table')
    .find((t) => t.logicalId.startsWith('RagIngestDocumentsTable'));
  documents = new DocumentTable(
    DynamoDBDocumentClient.from(stack.dynamo),
    stack.template.ref(table?.logicalId ?? 'missing'),
  );
});

afterAll(async () => {
  await stack?.stop();
});

const store = () => embeddedVectorStore('local', 1024);

async function upload(key: string, body: string | Uint8Array): Promise<void> {
  await stack.s3.send(new PutObjectCommand({ Bucket: raw, Key: key, Body: body }));
  await stack.idle();
}

async function remove(key: string): Promise<void> {
  await stack.s3.send(new DeleteObjectCommand({ Bucket: raw, Key: key }));
  await stack.idle();
}

const indexedEvents = (docId: string) =>
  stack.events
    .filter((e) => e.event['detail-type'] === 'llmops.DocumentIndexed')
    .map((e) => documentIndexedDetail.parse(e.event.detail))
    .filter((d) => d.docId === docId);

const embedCalls = () =>
  stack.lambdas.invocations().filter((i) => i.logicalId.startsWith('RagIngestEmbedFunction')).length;

const lastExecution = () => stack.deliveries.filter((d) => d.execution).at(-1)?.execution;

async function search(text: string, k = 5) {
  return store().search({ vector: hashEmbedding(text), text, k });
}

const GUIDE = [
  '---',
  'team: platform',
  '---',
  '# Concurrency',
  '',
  'Reserved concurrency caps how many instances of a function run at once.',
  '',
  '## Provisioned concurrency',
  '',
  'Provisioned concurrency keeps execution environments initialized and warm, so functions answer without cold starts.',
].join('\n');

describe('RagIngest on the emulators', () => {
  it('first ingest: the document is chunked, embedded, indexed, searchable and announced', async () => {
    await upload('raw/rag/guides/concurrency.md', GUIDE);
    expect(lastExecution()?.status).toBe('SUCCEEDED');
    const doc = await documents.get('guides/concurrency.md');
    expect(doc).toMatchObject({
      status: 'indexed',
      collection: 'upload',
      title: 'Concurrency',
      chunkCount: 2,
    });
    expect(doc?.indexedVersion).toBe(doc?.version);
    const hits = await search('warm execution environments without cold starts');
    expect(hits[0]).toMatchObject({
      docId: 'guides/concurrency.md',
      chunkId: 'guides/concurrency.md#1',
      headings: ['Concurrency', 'Provisioned concurrency'],
      metadata: { team: 'platform' },
    });
    const events = indexedEvents('guides/concurrency.md');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ status: 'indexed', chunks: 2, vectorStore: 'embedded', reason: null });
  });

  it('re-ingest of unchanged content embeds nothing and announces nothing', async () => {
    const before = await documents.get('guides/concurrency.md');
    const embeds = embedCalls();
    await upload('raw/rag/guides/concurrency.md', GUIDE);
    const execution = lastExecution();
    expect(execution?.status).toBe('SUCCEEDED');
    expect(execution?.output).toMatchObject({ unchanged: 1, indexed: 0, failed: 0 });
    // Plan skipped it: nothing was embedded again.
    expect(embedCalls()).toBe(embeds);
    expect(await documents.get('guides/concurrency.md')).toEqual(before);
    expect(indexedEvents('guides/concurrency.md')).toHaveLength(1);
  });

  it('update: a new version replaces the old chunks (no stale chunk stays searchable)', async () => {
    const updated = '# Concurrency\n\nBurst limits decide how fast a function scales out.';
    await upload('raw/rag/guides/concurrency.md', updated);
    const doc = await documents.get('guides/concurrency.md');
    expect(doc).toMatchObject({ status: 'indexed', chunkCount: 1 });
    const hits = await search('provisioned concurrency warm environments', 10);
    expect(hits.filter((h) => h.docId === 'guides/concurrency.md').map((h) => h.chunkId)).toEqual([
      'guides/concurrency.md#0',
    ]);
    expect(hits.find((h) => h.docId === 'guides/concurrency.md')?.text).toContain('Burst limits');
    expect(indexedEvents('guides/concurrency.md').map((e) => e.version)).toEqual([
      expect.stringMatching(/^sha256:/),
      doc?.version,
    ]);
  });

  it('delete: the document leaves the index and its status says deleted', async () => {
    await remove('raw/rag/guides/concurrency.md');
    expect(lastExecution()?.status).toBe('SUCCEEDED');
    expect(await documents.get('guides/concurrency.md')).toMatchObject({ status: 'deleted', chunkCount: 0 });
    const hits = await search('burst limits scale out', 10);
    expect(hits.some((h) => h.docId === 'guides/concurrency.md')).toBe(false);
    expect(indexedEvents('guides/concurrency.md').at(-1)).toMatchObject({ status: 'deleted', version: null });
  });

  it('a partial write failure that is transient is retried by the state machine and then succeeds', async () => {
    const target = store();
    const original = target.replaceDocument.bind(target);
    let calls = 0;
    target.replaceDocument = async (docId, version, chunks, known) => {
      calls += 1;
      if (calls === 1) {
        throw new VectorStoreWriteError(docId, [{ chunkId: `${docId}#0`, reason: '429 throttled' }], {
          cause: new TransientError('OpenSearch throttled the bulk request'),
        });
      }
      return original(docId, version, chunks, known);
    };
    try {
      await upload('raw/rag/retry.txt', 'Dead-letter queues keep events that failed every retry.');
    } finally {
      target.replaceDocument = original;
    }
    expect(calls).toBe(2);
    expect(lastExecution()?.status).toBe('SUCCEEDED');
    expect(await documents.get('retry.txt')).toMatchObject({ status: 'indexed', chunkCount: 1 });
  });

  it('chunks the store keeps refusing fail the document with the reason, the run fails and pages', async () => {
    const target = store();
    const original = target.replaceDocument.bind(target);
    target.replaceDocument = async (docId) => {
      throw new VectorStoreWriteError(docId, [
        { chunkId: `${docId}#0`, reason: '400 mapper_parsing_exception: failed to parse field [embedding]' },
      ]);
    };
    try {
      await upload('raw/rag/broken.md', '# Broken\n\nThis one will not index.');
    } finally {
      target.replaceDocument = original;
    }
    const execution = lastExecution();
    expect(execution?.status).toBe('FAILED');
    expect(execution?.error).toBe('DocumentsFailed');
    const doc = await documents.get('broken.md');
    expect(doc?.status).toBe('failed');
    expect(doc?.reason).toContain('mapper_parsing_exception');
    expect(indexedEvents('broken.md').at(-1)).toMatchObject({ status: 'failed' });
    const failed = stack.events
      .filter((e) => e.event['detail-type'] === 'llmops.PipelineFailed')
      .map((e) => pipelineFailedDetail.parse(e.event.detail));
    expect(failed.at(-1)).toMatchObject({
      pipeline: expect.stringContaining('RagIngest'),
      error: 'DocumentsFailed',
    });
  });

  it('a file that cannot be parsed is failed with its reason, and nothing is indexed', async () => {
    await upload('raw/rag/bad.txt', new Uint8Array([0x48, 0x69, 0xff, 0xfe, 0x0a]));
    expect(lastExecution()?.status).toBe('FAILED');
    const doc = await documents.get('bad.txt');
    expect(doc).toMatchObject({ status: 'failed' });
    expect(doc?.reason).toMatch(/invalid UTF-8 at byte offset 2/);
  });

  it('a burst of uploads goes through the trigger queue and is ingested by fewer executions than uploads', async () => {
    const before = stack.deliveries.length;
    const batchesBefore = stack.pipes.batches.length;
    const keys = ['burst/a.md', 'burst/b.md', 'burst/c.md', 'burst/d.md'];
    await Promise.all(
      keys.map((key, i) =>
        stack.s3.send(
          new PutObjectCommand({
            Bucket: raw,
            Key: `raw/rag/${key}`,
            Body: `# Burst ${i}\n\nText number ${i}.`,
          }),
        ),
      ),
    );
    await stack.idle();
    const delivered = stack.deliveries.slice(before);
    expect(delivered.filter((d) => d.targetType === 'AWS::SQS::Queue')).toHaveLength(keys.length);
    const executions = delivered.filter((d) => d.execution);
    expect(executions.length).toBeLessThan(keys.length);
    expect(executions.every((d) => d.execution?.status === 'SUCCEEDED')).toBe(true);
    const indexed = executions.reduce(
      (n, d) => n + ((d.execution?.output as { indexed?: number } | undefined)?.indexed ?? 0),
      0,
    );
    expect(indexed).toBe(keys.length);
    const batches = stack.pipes.batches.slice(batchesBefore);
    expect(batches.flatMap((b) => b.messageIds)).toHaveLength(keys.length);
    for (const key of keys) expect(await documents.get(key)).toMatchObject({ status: 'indexed' });
  });

  it('a malformed event in a batch is rejected with its reason, the others go on, and the run fails and pages', async () => {
    const before = stack.events.length;
    // Matches the upload rule (source, type, bucket, key) but is no S3 event: no detail version, no time.
    stack.publish('default', {
      version: '0',
      id: 'malformed-1',
      'detail-type': 'Object Created',
      source: 'aws.s3',
      account: '000000000000',
      region: 'us-east-1',
      resources: [],
      detail: { bucket: { name: raw }, object: { key: 'raw/rag/malformed.md' } },
    } as never);
    await stack.s3.send(
      new PutObjectCommand({ Bucket: raw, Key: 'raw/rag/fine.md', Body: '# Fine\n\nStill ingested.' }),
    );
    await stack.idle();
    expect(await documents.get('fine.md')).toMatchObject({ status: 'indexed' });
    const failed = stack.events
      .slice(before)
      .filter((e) => e.event['detail-type'] === 'llmops.PipelineFailed')
      .map((e) => pipelineFailedDetail.parse(e.event.detail));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      pipeline: expect.stringContaining('RagIngest'),
      error: 'DocumentsFailed',
    });
    expect(failed[0]?.cause).toMatch(/1 record\(s\) rejected \(s3:\/\/[^)]+\/rejected\.jsonl\)/);
  });

  it('JSONL under raw/rag/ goes through DataPrep, and its DatasetReady ingests every record', async () => {
    const records = [
      {
        id: 'sqs',
        text: 'Lambda polls SQS queues and invokes functions with batches of messages.',
        title: 'SQS',
      },
      { id: 'kinesis', text: 'Lambda reads Kinesis shards in order.', metadata: { service: 'kinesis' } },
    ];
    await upload('raw/rag/faq.jsonl', records.map((r) => JSON.stringify(r)).join('\n'));
    const ready = stack.events.find((e) => e.event['detail-type'] === 'llmops.DatasetReady');
    expect(ready).toBeDefined();
    expect(await documents.get('faq/sqs')).toMatchObject({ status: 'indexed', collection: 'dataset:faq' });
    expect(await documents.get('faq/kinesis')).toMatchObject({ status: 'indexed' });
    const hits = await store().search({
      vector: hashEmbedding('kinesis shards order'),
      text: 'kinesis shards order',
      k: 3,
      filters: { service: 'kinesis' },
    });
    expect(hits.map((h) => h.docId)).toEqual(['faq/kinesis']);
  });
});
