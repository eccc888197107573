// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/rag-ingest.ts';
import { createHash } from 'node:crypto';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidEventError, SourceChangedError, ThrottledError, TransientError } from '#aws/errors.ts';
import { orderableSequencer } from '#aws/rag/documents.ts';
import { EmbeddedVectorStore } from '#aws/rag/embedded-store.ts';
import { DocumentReporter, FAILURE_CODES } from '#aws/rag/reporter.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import {
  type BatchInput,
  type BatchProgress,
  type BatchRef,
  batchRef,
  type DeletionItem,
  documentVersion,
  type FinishInput,
  type PlanOutput,
  ragLayout,
  type StagedChunks,
  type StagedDocument,
  stagedChunks,
  stagedDocument,
} from '#contracts/pipelines/rag-ingest.ts';
import { OfflineProvider } from '#core/models/offline.ts';
import type { ModelProvider } from '#core/models/types.ts';
import { type IndexedChunk, VectorStoreWriteError } from '#core/rag/store.ts';
import { rawSample } from '#events/samples.ts';
import { makeHandler as makeChunk } from '#functions/rag/chunk.ts';
import { makeHandler as makeEmbed } from '#functions/rag/embed.ts';
import { makeHandler as makeFinish } from '#functions/rag/finish.ts';
import { makeHandler as makeIndex } from '#functions/rag/index-chunks.ts';
import { makeHandler as makePlan, type PlanDeps } from '#functions/rag/plan.ts';
import { errorOf } from '../../support/async.ts';
import { type ChildResult, writeMapRunResults } from '../../support/map-run.ts';
import { FakeDocuments } from './fake-documents.ts';

// ---------------------------------------------------------------------------------------------------
// Fakes: S3 as a map of objects, EventBridge accepting every event, the status table in memory.

const s3Mock = mockClient(S3Client);
const ebMock = mockClient(EventBridgeClient);
const s3 = new S3Client({ region: 'us-east-1' });

const RAW = 'raw-bucket';
const ARTIFACTS = 'artifacts-bucket';
const CURATED = 'curated-bucket';
const NOW = new Date('2026-12-01T10:00:00.000Z');
const now = () => NOW;
const context = { awsRequestId: 'req-1' } as Context;

interface StoredObject {
  readonly body: Uint8Array;
  readonly etag: string;
  readonly versionId?: string;
}
const objects = new Map<string, StoredObject>();
const at = (bucket: string | undefined, key: string | undefined) => `${bucket}/${key}`;

function putObject(bucket: string, key: string, body: string | Uint8Array, versionId?: string): StoredObject {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  const object = {
    body: bytes,
    etag: createHash('md5').update(bytes).digest('hex'),
    ...(versionId !== undefined ? { versionId } : {}),
  };
  objects.set(at(bucket, key), object);
  return object;
}

function objectText(bucket: string, key: string): string {
  const object = objects.get(at(bucket, key));
  if (!object) throw new Error(`no object s3://${bucket}/${key}`);
  return new TextDecoder().decode(object.body);
}

/** Object bodies read, and dropped unread, by key. */
const bodiesRead: string[] = [];
const bodiesDiscarded: string[] = [];

function installS3(): void {
  bodiesRead.length = 0;
  bodiesDiscarded.length = 0;
  s3Mock.on(PutObjectCommand).callsFake((input) => {
    const object = putObject(input.Bucket, input.Key, input.Body as string);
    return { ETag: `"${object.etag}"` };
  });
  s3Mock.on(GetObjectCommand).callsFake((input) => {
    const object = objects.get(at(input.Bucket, input.Key));
    if (!object) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
    return {
      ContentLength: object.body.length,
      ETag: `"${object.etag}"`,
      VersionId: object.versionId,
      Body: {
        transformToByteArray: async () => {
          bodiesRead.push(at(input.Bucket, input.Key));
          return object.body;
        },
        transformToString: async () => new TextDecoder().decode(object.body),
        destroy: () => {
          bodiesDiscarded.push(at(input.Bucket, input.Key));
        },
      },
    };
  });
  s3Mock.on(HeadObjectCommand).callsFake((input) => {
    const object = objects.get(at(input.Bucket, input.Key));
    if (!object) throw new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } });
    return { ContentLength: object.body.length, ETag: `"${object.etag}"`, VersionId: object.versionId };
  });
}

/** The `llmops.DocumentIndexed` details published so far. */
function published(): Record<string, unknown>[] {
  return ebMock
    .commandCalls(PutEventsCommand)
    .flatMap((call) => call.args[0].input.Entries ?? [])
    .map((entry) => JSON.parse(String(entry.Detail)) as Record<string, unknown>);
}

let table: FakeDocuments;
let reporter: DocumentReporter;

beforeEach(() => {
  s3Mock.reset();
  ebMock.reset();
  objects.clear();
  installS3();
  ebMock.on(PutEventsCommand).callsFake((input: { Entries?: unknown[] }) => ({
    Entries: (input.Entries ?? []).map((_, i) => ({ EventId: `event-${i + 1}` })),
    FailedEntryCount: 0,
  }));
  table = new FakeDocuments();
  reporter = new DocumentReporter(new EventBridgeClient({ region: 'us-east-1' }), 'bus', 'embedded');
  vi.spyOn(reporter, 'fail');
  vi.spyOn(reporter, 'report');
});

// ---------------------------------------------------------------------------------------------------
// Events and staged files

const SEQUENCER = '00617F08299329D189';

function s3Event(type: 'Object Created' | 'Object Deleted', object: Record<string, unknown>) {
  const sample = rawSample('s3-object-created') as Record<string, unknown>;
  return {
    ...sample,
    'detail-type': type,
    detail: { version: '0', bucket: { name: RAW }, object, reason: 'PutObject' },
  };
}

function uploaded(key: string, content: string | Uint8Array, sequencer = SEQUENCER) {
  const object = putObject(RAW, key, content, 'v1');
  return s3Event('Object Created', {
    key,
    size: object.body.length,
    etag: object.etag,
    'version-id': 'v1',
    sequencer,
  });
}

function datasetReady(name: string, purpose: string, records: readonly object[]) {
  const key = `datasets/${purpose}/${name}/v000003/data.jsonl`;
  putObject(CURATED, key, records.map((r) => JSON.stringify(r)).join('\n'));
  const sample = rawSample('dataset-ready') as { detail: Record<string, unknown> } & Record<string, unknown>;
  return {
    ...sample,
    detail: {
      ...sample.detail,
      name,
      version: 3,
      purpose,
      files: { data: { bucket: CURATED, key } },
    },
  };
}

const SETTINGS = { chunkMaxTokens: 512, chunkOverlapTokens: 64, embeddingModelId: 'titan-embed-text-v2' };

function planHandler(overrides: Partial<PlanDeps> = {}) {
  return makePlan({
    s3,
    table,
    reporter,
    artifactsBucket: ARTIFACTS,
    chunkMaxTokens: SETTINGS.chunkMaxTokens,
    chunkOverlapTokens: SETTINGS.chunkOverlapTokens,
    embeddingModelId: SETTINGS.embeddingModelId,
    maxDocumentBytes: 1_000_000,
    batchSize: 25,
    now,
    ...overrides,
  });
}

function readJsonl<T>(bucket: string, key: string, parse: (value: unknown) => T): T[] {
  return objectText(bucket, key)
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => parse(JSON.parse(line)));
}

/** The batches Plan staged as the Map's items (one reference per line of its items file). */
function batchesOf(out: PlanOutput): BatchRef[] {
  expect(out.items).toEqual({ bucket: ARTIFACTS, key: ragLayout.items(out.runId) });
  const batches = readJsonl(out.items.bucket, out.items.key, (v) => batchRef.parse(v));
  expect(out.batchCount).toBe(batches.length);
  return batches;
}

/** The Map Run's result files for these children, as Step Functions writes them. */
function mapRunOf(children: readonly ChildResult[], perFile?: number) {
  return writeMapRunResults((bucket, key, body) => putObject(bucket, key, body), {
    bucket: ARTIFACTS,
    prefix: ragLayout.mapRunsPrefix,
    children,
    ...(perFile !== undefined ? { perFile } : {}),
  });
}

/** Stages values as a batch file of run `run-1` and returns the step input for it. */
function stageBatch(kind: 'ingest' | 'delete', values: readonly object[], index = 0): BatchInput {
  const key = ragLayout.batch('run-1', index);
  putObject(ARTIFACTS, key, `${values.map((v) => JSON.stringify(v)).join('\n')}\n`);
  return {
    runId: 'run-1',
    batch: { kind, index, location: { bucket: ARTIFACTS, key }, count: values.length },
  };
}

function stageNext(input: BatchInput, file: 'chunks' | 'vectors', docs: readonly StagedChunks[]): void {
  const key = ragLayout[file](input.batch.location.key);
  putObject(ARTIFACTS, key, docs.map((d) => `${JSON.stringify(d)}\n`).join(''));
}

const progress = (input: BatchInput, counts: Partial<BatchProgress> = {}): BatchProgress => ({
  ...input,
  active: 1,
  indexed: 0,
  deleted: 0,
  failed: 0,
  superseded: 0,
  ...counts,
});

const staged = (overrides: Partial<StagedDocument> = {}): StagedDocument => ({
  docId: 'guides/intro.md',
  version: 'sha256:v1',
  collection: 'upload',
  title: 'Guide',
  source: 'guides/intro.md',
  format: 'markdown',
  text: '# Guide\n\nRefunds are issued within five business days.\n\n## Setup\n\nInstall the tool first.\n',
  metadata: { team: 'billing' },
  ...overrides,
});

const EMBEDDING_MODEL: CatalogModel = {
  id: 'titan-embed-text-v2',
  provider: 'bedrock',
  modelId: 'amazon.titan-embed-text-v2:0',
  kind: 'embedding',
  contextWindow: 8192,
  maxOutputTokens: 0,
  dimensions: 256,
  pricePer1kInputUsd: 0.00002,
  pricePer1kOutputUsd: 0,
  features: [],
  regions: ['us-east-1'],
  status: 'active',
};

// ---------------------------------------------------------------------------------------------------

describe('Plan', () => {
  const markdown =
    '---\nteam: billing\ntier: 2\nowner: null\n---\n# Refund policy\n\nRefunds take five days.\n';

  it('stages an uploaded Markdown file as one batch, claimed with its sequencer and content version', async () => {
    const out = await planHandler()(
      { event: uploaded('raw/rag/guides/refunds.md', markdown), executionName: 'exec:42' },
      context,
    );
    expect(out).toMatchObject({
      runId: 'exec-42',
      trigger: 'upload',
      origin: `s3://${RAW}/raw/rag/guides/refunds.md`,
      counts: { queued: 1, unchanged: 0, stale: 0, failed: 0, deletions: 0 },
    });
    expect(batchesOf(out)).toEqual([
      {
        kind: 'ingest',
        index: 0,
        location: { bucket: ARTIFACTS, key: ragLayout.batch('exec-42', 0) },
        count: 1,
      },
    ]);
    const [doc] = readJsonl(ARTIFACTS, ragLayout.batch('exec-42', 0), (v) => stagedDocument.parse(v));
    expect(doc).toMatchObject({
      docId: 'guides/refunds.md',
      collection: 'upload',
      title: 'Refund policy',
      source: 'guides/refunds.md',
      format: 'markdown',
      // Null front-matter values are dropped: a chunk's metadata holds only strings, numbers and booleans.
      metadata: { team: 'billing', tier: 2 },
    });
    expect(doc?.text).toContain('Refunds take five days.');
    const { version, ...content } = doc as StagedDocument;
    expect(version).toBe(documentVersion(content, SETTINGS));
    expect(table.claim).toHaveBeenCalledWith({
      docId: 'guides/refunds.md',
      version,
      collection: 'upload',
      runId: 'exec-42',
      embeddingModelId: 'titan-embed-text-v2',
      format: 'markdown',
      title: 'Refund policy',
      source: 'guides/refunds.md',
      sequencer: SEQUENCER,
      now: NOW,
    });
    expect(table.status('guides/refunds.md')).toBe('queued');
  });

  it('stages nothing when the same content is already indexed with the same model', async () => {
    const plan = planHandler();
    const first = await plan(uploaded('raw/rag/a.md', markdown), context);
    const [doc] = readJsonl(ARTIFACTS, batchesOf(first)[0]?.location.key ?? '', (v) =>
      stagedDocument.parse(v),
    );
    await table.markIndexed('a.md', doc?.version ?? '', 1, NOW);
    objects.clear();
    const again = await plan(uploaded('raw/rag/a.md', markdown, '00617F08299329D190'), context);
    expect(batchesOf(again)).toEqual([]);
    expect(again.counts).toMatchObject({ queued: 0, unchanged: 1 });
    // Only the (empty) items file: no batch is staged, and the state machine skips the Map.
    expect([...objects.keys()].filter((k) => k.startsWith(ARTIFACTS))).toEqual([
      at(ARTIFACTS, again.items.key),
    ]);
  });

  it('counts an upload older than the recorded one as stale', async () => {
    table.seed({
      docId: 'a.md',
      version: 'sha256:newer',
      status: 'queued',
      sequencer: orderableSequencer('FF01'),
    });
    const out = await planHandler()(uploaded('raw/rag/a.md', markdown, 'FF00'), context);
    expect(out.counts).toMatchObject({ queued: 0, stale: 1 });
    expect(batchesOf(out)).toEqual([]);
  });

  it('records a file larger than the limit as failed, with the reason, without reading it', async () => {
    const event = uploaded('raw/rag/big.txt', 'x'.repeat(200));
    const out = await planHandler({ maxDocumentBytes: 100 })(event, context);
    expect(out.counts).toEqual({ queued: 0, unchanged: 0, stale: 0, failed: 1, deletions: 0 });
    expect(batchesOf(out)).toEqual([]);
    expect(bodiesRead).toEqual([]);
    expect(bodiesDiscarded).toEqual([at(RAW, 'raw/rag/big.txt')]);
    expect(reporter.fail).toHaveBeenCalledTimes(1);
    const etag = objects.get(at(RAW, 'raw/rag/big.txt'))?.etag;
    const row = table.rows.get('big.txt');
    expect(row).toMatchObject({ status: 'failed', version: `raw:${etag}` });
    expect(row?.reason).toBe(
      'DocumentParseError: raw/rag/big.txt: the file is 200 bytes, more than the 100 bytes a document may have',
    );
    expect(published()).toEqual([
      expect.objectContaining({ docId: 'big.txt', status: 'failed', chunks: 0, reason: row?.reason }),
    ]);
  });

  it('records a file that is not UTF-8 as failed, naming the byte offset', async () => {
    const out = await planHandler()(
      uploaded('raw/rag/notes.txt', new Uint8Array([0x6f, 0x6b, 0xff, 0x21])),
      context,
    );
    expect(out.counts).toMatchObject({ queued: 0, failed: 1 });
    expect(batchesOf(out)).toEqual([]);
    expect(reporter.fail).toHaveBeenCalledTimes(1);
    expect(table.rows.get('notes.txt')).toMatchObject({
      status: 'failed',
      reason: 'InvalidUtf8Error: notes.txt: invalid UTF-8 at byte offset 2',
    });
  });

  it('fails with SourceChangedError when the object is gone', async () => {
    const event = uploaded('raw/rag/a.md', markdown);
    objects.clear();
    await expect(planHandler()(event, context)).rejects.toBeInstanceOf(SourceChangedError);
    expect(table.claim).not.toHaveBeenCalled();
  });

  it('re-ingests instead of deleting when a current version remains (an old version or a delete marker was removed)', async () => {
    putObject(RAW, 'raw/rag/kept.md', '# Kept\n\nStill here after an old version was deleted.\n', 'v2');
    const out = await planHandler()(
      s3Event('Object Deleted', { key: 'raw/rag/kept.md', 'version-id': 'v1', sequencer: SEQUENCER }),
      context,
    );
    expect(out).toMatchObject({ trigger: 'upload', counts: { queued: 1, deletions: 0 } });
    expect(batchesOf(out).map((b) => b.kind)).toEqual(['ingest']);
    expect(table.claim).toHaveBeenCalledWith(
      expect.objectContaining({ docId: 'kept.md', sequencer: SEQUENCER }),
    );
  });

  it('schedules the deletion of a removed file, decoding its key, with the sequencer', async () => {
    const out = await planHandler()(
      s3Event('Object Deleted', { key: 'raw/rag/my+notes%281%29.md', sequencer: SEQUENCER }),
      context,
    );
    expect(out).toMatchObject({
      trigger: 'delete',
      origin: `s3://${RAW}/raw/rag/my notes(1).md`,
      counts: { queued: 0, deletions: 1 },
    });
    expect(batchesOf(out)).toEqual([
      {
        kind: 'delete',
        index: 0,
        location: { bucket: ARTIFACTS, key: ragLayout.batch('req-1', 0) },
        count: 1,
      },
    ]);
    expect(readJsonl(ARTIFACTS, ragLayout.batch('req-1', 0), (v) => v)).toEqual([
      { docId: 'my notes(1).md', collection: 'upload', sequencer: SEQUENCER },
    ]);
    expect(table.claim).not.toHaveBeenCalled();
  });

  it('stages the records of a rag dataset and deletes the documents its new version lacks', async () => {
    table.seed({
      docId: 'faq/old',
      version: 'v',
      status: 'indexed',
      collection: 'dataset:faq',
      chunkCount: 2,
    });
    table.seed({ docId: 'faq/gone', version: 'deleted', status: 'deleted', collection: 'dataset:faq' });
    table.seed({ docId: 'other/x', version: 'v', status: 'indexed', collection: 'dataset:other' });
    const event = datasetReady('faq', 'rag', [
      { id: 'refunds', text: 'Refunds take five days.', title: 'Refunds', metadata: { lang: 'en' } },
      { text: 'Shipping takes two weeks.' },
    ]);
    const out = await planHandler()({ event, executionName: 'exec-7' }, context);
    expect(out).toMatchObject({
      trigger: 'dataset',
      origin: 'dataset:faq@v3',
      counts: { queued: 2, unchanged: 0, stale: 0, failed: 0, deletions: 1 },
    });
    expect(batchesOf(out).map((b) => [b.kind, b.index, b.count])).toEqual([
      ['ingest', 0, 2],
      ['delete', 1, 1],
    ]);
    const docs = readJsonl(ARTIFACTS, ragLayout.batch('exec-7', 0), (v) => stagedDocument.parse(v));
    expect(docs.map((d) => [d.docId, d.collection, d.title])).toEqual([
      ['faq/refunds', 'dataset:faq', 'Refunds'],
      ['faq#2', 'dataset:faq', undefined],
    ]);
    expect(docs[0]?.metadata).toEqual({ lang: 'en' });
    expect(readJsonl(ARTIFACTS, ragLayout.batch('exec-7', 1), (v) => v)).toEqual([
      { docId: 'faq/old', collection: 'dataset:faq' },
    ]);
    expect(table.liveDocuments).toHaveBeenCalledWith('dataset:faq');
    for (const call of table.claim.mock.calls) expect(call[0]).not.toHaveProperty('sequencer');
  });

  it('cuts the staged documents into batches of at most DOCUMENT_BATCH_SIZE', async () => {
    const records = Array.from({ length: 5 }, (_, i) => ({ id: `r${i}`, text: `Record number ${i}.` }));
    table.seed({ docId: 'faq/old', version: 'v', status: 'indexed', collection: 'dataset:faq' });
    const out = await planHandler({ batchSize: 2 })(
      { event: datasetReady('faq', 'rag', records), executionName: 'exec-8' },
      context,
    );
    expect(batchesOf(out).map((b) => [b.kind, b.index, b.count])).toEqual([
      ['ingest', 0, 2],
      ['ingest', 1, 2],
      ['ingest', 2, 1],
      ['delete', 3, 1],
    ]);
    const staged = batchesOf(out)
      .filter((b) => b.kind === 'ingest')
      .flatMap((b) =>
        readJsonl(ARTIFACTS, b.location.key, (v) => stagedDocument.parse(v)).map((d) => d.docId),
      );
    expect(staged).toEqual(['faq/r0', 'faq/r1', 'faq/r2', 'faq/r3', 'faq/r4']);
  });

  it('refuses a DatasetReady of another purpose', async () => {
    const error = await errorOf(planHandler()(datasetReady('chats', 'finetune', [{ text: 'x' }]), context));
    expect(error).toBeInstanceOf(InvalidEventError);
    expect((error as Error).message).toBe('Dataset chats v3 has purpose finetune, not rag');
  });

  it('refuses an event it does not start from, naming the ones it does', async () => {
    const restored = {
      ...s3Event('Object Created', { key: 'raw/rag/a.md' }),
      'detail-type': 'Object Restore Completed',
    };
    const error = await errorOf(planHandler()(restored, context));
    expect(error).toBeInstanceOf(InvalidEventError);
    expect((error as Error).message).toBe(
      'RagIngest starts from S3 Object Created/Deleted or llmops.DatasetReady, got Object Restore Completed',
    );
    await expect(planHandler()({ hello: 'world' }, context)).rejects.toThrow(
      /Object Created\/Deleted or llmops\.DatasetReady, got an event without detail-type/,
    );
  });
});

describe('Chunk', () => {
  const handler = () => makeChunk({ s3, table, reporter, maxTokens: 512, overlapTokens: 64, now });

  it('stages structure-aware chunks with headings and metadata, and moves the document to chunked', async () => {
    const doc = staged();
    table.seed({ docId: doc.docId, version: doc.version, status: 'queued' });
    const input = stageBatch('ingest', [doc]);
    const out = await handler()(input);
    expect(out).toEqual({ ...input, active: 1, indexed: 0, deleted: 0, failed: 0, superseded: 0 });
    const [chunked] = readJsonl(ARTIFACTS, ragLayout.chunks(input.batch.location.key), (v) =>
      stagedChunks.parse(v),
    );
    expect(chunked).toMatchObject({
      docId: 'guides/intro.md',
      version: 'sha256:v1',
      collection: 'upload',
      title: 'Guide',
      source: 'guides/intro.md',
    });
    expect(chunked?.chunks.map((c) => [c.chunkId, c.index, c.headings])).toEqual([
      ['guides/intro.md#0', 0, ['Guide']],
      ['guides/intro.md#1', 1, ['Guide', 'Setup']],
    ]);
    expect(chunked?.chunks[1]?.text).toContain('Install the tool first.');
    for (const c of chunked?.chunks ?? []) {
      // The document's metadata, and its collection (what per-app access filters retrieval on).
      expect(c.metadata).toEqual({ team: 'billing', collection: 'upload' });
      expect(c.tokens).toBeGreaterThan(0);
      expect(c.vector).toBeUndefined();
    }
    expect(table.advance).toHaveBeenCalledWith('guides/intro.md', 'sha256:v1', 'chunked', NOW);
    expect(table.status('guides/intro.md')).toBe('chunked');
  });

  it('records the page each chunk of a PDF starts on', async () => {
    const page1 = 'First page. Refunds are issued within five business days of the request.';
    const page2 = 'Second page. Shipping to the islands takes two to three weeks by sea.';
    const text = `${page1}\n\n${page2}`;
    const doc = staged({
      docId: 'manual.pdf',
      format: 'text',
      text,
      metadata: {},
      pages: [
        { page: 1, start: 0, end: page1.length + 2 },
        { page: 2, start: page1.length + 2, end: text.length },
      ],
    });
    table.seed({ docId: doc.docId, version: doc.version, status: 'queued' });
    const input = stageBatch('ingest', [doc]);
    await makeChunk({ s3, table, reporter, maxTokens: 20, overlapTokens: 0, now })(input);
    const [chunked] = readJsonl(ARTIFACTS, ragLayout.chunks(input.batch.location.key), (v) =>
      stagedChunks.parse(v),
    );
    const chunks = chunked?.chunks ?? [];
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) {
      const start = text.indexOf(chunk.text);
      expect(chunk.metadata.page).toBe(start < page1.length + 2 ? 1 : 2);
    }
    expect(chunks.at(0)?.metadata.page).toBe(1);
    expect(chunks.at(-1)?.metadata.page).toBe(2);
  });

  it('leaves a document that a newer version took over (superseded)', async () => {
    const doc = staged();
    table.seed({ docId: doc.docId, version: 'sha256:newer', status: 'queued' });
    const input = stageBatch('ingest', [doc]);
    const out = await handler()(input);
    expect(out).toMatchObject({ active: 0, failed: 0, superseded: 1 });
    expect(readJsonl(ARTIFACTS, ragLayout.chunks(input.batch.location.key), (v) => v)).toEqual([]);
    expect(table.status(doc.docId)).toBe('queued');
    expect(reporter.fail).not.toHaveBeenCalled();
  });

  it('fails a document with no text, and goes on with the others', async () => {
    const empty = staged({ docId: 'empty.md', text: '  \n\n ' });
    const good = staged();
    table.seed({ docId: empty.docId, version: empty.version, status: 'queued' });
    table.seed({ docId: good.docId, version: good.version, status: 'queued' });
    const input = stageBatch('ingest', [empty, good]);
    const out = await handler()(input);
    expect(out).toMatchObject({ active: 1, failed: 1, superseded: 0 });
    expect(reporter.fail).toHaveBeenCalledTimes(1);
    // A document without text is the caller's to fix: its reason says so.
    expect(table.rows.get('empty.md')).toMatchObject({
      status: 'failed',
      reason: 'DocumentParseError: empty.md: the document has no text to index',
    });
    expect(published()).toEqual([
      expect.objectContaining({
        docId: 'empty.md',
        status: 'failed',
        version: 'sha256:v1',
        runId: 'run-1',
        code: 'DocumentParseError',
        reason: 'DocumentParseError: empty.md: the document has no text to index',
      }),
    ]);
    const chunked = readJsonl(ARTIFACTS, ragLayout.chunks(input.batch.location.key), (v) =>
      stagedChunks.parse(v),
    );
    expect(chunked.map((d) => d.docId)).toEqual(['guides/intro.md']);
  });
  it('fails a document on an AWS error with a code and a safe reason; the ARN and account stay in the logs', async () => {
    const arn = 'arn:aws:sts::123456789012:assumed-role/llmops-dev-ChunkRole-1A2B/llmops-dev-Chunk';
    const denied = new Error(`User: ${arn} is not authorized to perform: dynamodb:UpdateItem`);
    denied.name = 'AccessDeniedException';
    const doc = staged();
    table.seed({ docId: doc.docId, version: doc.version, status: 'queued' });
    table.advance.mockRejectedValueOnce(denied);
    const out = await handler()(stageBatch('ingest', [doc]));
    expect(out).toMatchObject({ active: 0, failed: 1 });
    const row = table.rows.get(doc.docId);
    expect(row).toMatchObject({ status: 'failed', reason: `INTERNAL: ${FAILURE_CODES.INTERNAL}` });
    expect(published()).toEqual([
      expect.objectContaining({ docId: doc.docId, status: 'failed', code: 'INTERNAL', reason: row?.reason }),
    ]);
    expect(JSON.stringify([row, published()])).not.toContain('123456789012');
  });
});

describe('Embed', () => {
  const chunksOf = (docId: string, texts: readonly string[], version = 'sha256:v1'): StagedChunks => ({
    docId,
    version,
    collection: 'upload',
    title: 'Guide',
    chunks: texts.map((text, index) => ({
      chunkId: `${docId}#${index}`,
      index,
      text,
      tokens: 5,
      headings: ['Guide'],
      metadata: { team: 'billing' },
    })),
  });

  function embedHandler(provider: ModelProvider = new OfflineProvider()) {
    return makeEmbed({
      s3,
      table,
      reporter,
      provider,
      model: EMBEDDING_MODEL,
      batchSize: 2,
      concurrency: 2,
      now,
    });
  }

  it("adds a vector of the model's dimension to every chunk and moves the document to embedded", async () => {
    table.seed({ docId: 'a.md', version: 'sha256:v1', status: 'chunked' });
    const input = stageBatch('ingest', [staged({ docId: 'a.md' })]);
    const doc = chunksOf('a.md', ['Refunds take five days.', 'Shipping takes two weeks.', 'Install first.']);
    stageNext(input, 'chunks', [doc]);
    const out = await embedHandler()(progress(input, { failed: 2, superseded: 1 }));
    // Counts of earlier steps are carried.
    expect(out).toMatchObject({ active: 1, failed: 2, superseded: 1 });
    const [embedded] = readJsonl(ARTIFACTS, ragLayout.vectors(input.batch.location.key), (v) =>
      stagedChunks.parse(v),
    );
    expect(embedded?.chunks).toHaveLength(3);
    const expected = await new OfflineProvider().embed({
      modelId: EMBEDDING_MODEL.modelId,
      texts: doc.chunks.map((c) => c.text),
      dimensions: 256,
    });
    embedded?.chunks.forEach((chunk, i) => {
      expect(chunk.vector).toHaveLength(256);
      expect(chunk.vector?.[0]).toBeCloseTo(expected.vectors[i]?.[0] ?? Number.NaN, 6);
      expect(chunk.text).toBe(doc.chunks[i]?.text);
    });
    // The chunk count Index will write rides on the status write (Index then need not note it).
    expect(table.advance).toHaveBeenCalledWith('a.md', 'sha256:v1', 'embedded', NOW, 3);
    expect(table.status('a.md')).toBe('embedded');
  });

  it('fails a document whose vectors have another dimension, naming both', async () => {
    const offline = new OfflineProvider();
    const wrong: ModelProvider = {
      name: 'bedrock',
      chat: (r) => offline.chat(r),
      chatStream: (r) => offline.chatStream(r),
      // Ignores the requested dimension: 1024-dimensional vectors.
      embed: ({ dimensions: _d, ...request }) => offline.embed(request),
    };
    table.seed({ docId: 'a.md', version: 'sha256:v1', status: 'chunked' });
    const input = stageBatch('ingest', [staged({ docId: 'a.md' })]);
    stageNext(input, 'chunks', [chunksOf('a.md', ['One.', 'Two.'])]);
    const out = await embedHandler(wrong)(progress(input));
    expect(out).toMatchObject({ active: 0, failed: 1 });
    expect(table.rows.get('a.md')).toMatchObject({
      status: 'failed',
      reason: `INTERNAL: ${FAILURE_CODES.INTERNAL}`,
    });
    expect(readJsonl(ARTIFACTS, ragLayout.vectors(input.batch.location.key), (v) => v)).toEqual([]);
  });

  it('rethrows throttling so that the state machine retries the step', async () => {
    const throttled: ModelProvider = {
      ...new OfflineProvider(),
      name: 'bedrock',
      chat: async () => {
        throw new Error('unused');
      },
      chatStream: () => {
        throw new Error('unused');
      },
      embed: async () => {
        throw new ThrottledError('Model throttled', 3);
      },
    };
    table.seed({ docId: 'a.md', version: 'sha256:v1', status: 'chunked' });
    const input = stageBatch('ingest', [staged({ docId: 'a.md' })]);
    stageNext(input, 'chunks', [chunksOf('a.md', ['One.'])]);
    await expect(embedHandler(throttled)(progress(input))).rejects.toBeInstanceOf(ThrottledError);
    expect(table.markFailed).not.toHaveBeenCalled();
    expect(table.status('a.md')).toBe('chunked');
    expect(objects.has(at(ARTIFACTS, ragLayout.vectors(input.batch.location.key)))).toBe(false);
  });

  it('counts a document a newer version took over as superseded', async () => {
    table.seed({ docId: 'a.md', version: 'sha256:newer', status: 'queued' });
    const input = stageBatch('ingest', [staged({ docId: 'a.md' })]);
    stageNext(input, 'chunks', [chunksOf('a.md', ['One.'])]);
    const out = await embedHandler()(progress(input));
    expect(out).toMatchObject({ active: 0, failed: 0, superseded: 1 });
    expect(readJsonl(ARTIFACTS, ragLayout.vectors(input.batch.location.key), (v) => v)).toEqual([]);
  });
});

describe('Index', () => {
  const vector = (seed: number) => Array.from({ length: 8 }, (_, i) => Math.sin(seed * 7 + i));
  const vectorsOf = (docId: string, count: number, version = 'sha256:v2'): StagedChunks => ({
    docId,
    version,
    collection: 'upload',
    title: 'Guide',
    source: `${docId}`,
    chunks: Array.from({ length: count }, (_, index) => ({
      chunkId: `${docId}#${index}`,
      index,
      text: `Chunk ${index} of ${docId}: refunds and shipping.`,
      tokens: 8,
      headings: ['Guide'],
      metadata: { page: index + 1 },
      vector: vector(index),
    })),
  });

  function ingest(docs: readonly StagedChunks[]): BatchProgress {
    const input = stageBatch(
      'ingest',
      docs.map((d) => staged({ docId: d.docId, version: d.version })),
    );
    stageNext(input, 'vectors', docs);
    return progress(input, { active: docs.length });
  }

  function spiedStore(): { store: EmbeddedVectorStore; replace: ReturnType<typeof vi.spyOn> } {
    const store = new EmbeddedVectorStore();
    return { store, replace: vi.spyOn(store, 'replaceDocument') };
  }

  it('replaces the document in the store, marks it indexed and announces it', async () => {
    table.seed({ docId: 'a.md', version: 'sha256:v2', status: 'embedded', chunkCount: 3, maxChunkCount: 5 });
    const { store, replace } = spiedStore();
    const out = await makeIndex({ s3, table, reporter, store: async () => store, now })(
      ingest([vectorsOf('a.md', 2)]),
    );
    expect(out).toMatchObject({ active: 0, indexed: 1, failed: 0, superseded: 0 });
    const [docId, version, chunks, known] = replace.mock.calls[0] as [string, string, IndexedChunk[], object];
    expect([docId, version, known]).toEqual(['a.md', 'sha256:v2', { chunkCount: 5 }]);
    expect(chunks[1]).toMatchObject({
      chunkId: 'a.md#1',
      docId: 'a.md',
      docVersion: 'sha256:v2',
      index: 1,
      title: 'Guide',
      source: 'a.md',
      headings: ['Guide'],
      metadata: { page: 2 },
      vector: vector(1),
    });
    // The write is noted before it starts, so that an interrupted one is cleaned up later.
    expect(table.noteChunkWrite).toHaveBeenCalledWith(
      'a.md',
      2,
      expect.objectContaining({ maxChunkCount: 5 }),
    );
    expect(table.noteChunkWrite.mock.invocationCallOrder[0]).toBeLessThan(
      replace.mock.invocationCallOrder[0] ?? 0,
    );
    expect(table.markIndexed).toHaveBeenCalledWith('a.md', 'sha256:v2', 2, NOW);
    expect(table.rows.get('a.md')).toMatchObject({
      status: 'indexed',
      indexedVersion: 'sha256:v2',
      chunkCount: 2,
    });
    expect(published()).toEqual([
      {
        schemaVersion: '1.0',
        vectorStore: 'embedded',
        docId: 'a.md',
        version: 'sha256:v2',
        status: 'indexed',
        chunks: 2,
        code: null,
        reason: null,
        title: 'Guide',
        source: 'a.md',
        collection: 'upload',
        runId: 'run-1',
      },
    ]);
    const hits = await store.search({ vector: vector(1), text: 'refunds', k: 1 });
    expect(hits.map((h) => h.chunkId)).toEqual(['a.md#1']);
  });

  it('tells the store the chunk count when no larger write was noted', async () => {
    table.seed({ docId: 'a.md', version: 'sha256:v2', status: 'embedded', chunkCount: 4 });
    const { store, replace } = spiedStore();
    await makeIndex({ s3, table, reporter, store: async () => store, now })(ingest([vectorsOf('a.md', 1)]));
    expect(replace.mock.calls[0]?.[3]).toEqual({ chunkCount: 4 });
  });

  it('skips a version that changed meanwhile (superseded) without touching the store', async () => {
    table.seed({ docId: 'a.md', version: 'sha256:v3', status: 'queued', chunkCount: 2 });
    const { store, replace } = spiedStore();
    const out = await makeIndex({ s3, table, reporter, store: async () => store, now })(
      ingest([vectorsOf('a.md', 2)]),
    );
    expect(out).toMatchObject({ indexed: 0, superseded: 1, failed: 0 });
    expect(replace).not.toHaveBeenCalled();
    expect(table.markIndexed).not.toHaveBeenCalled();
    expect(published()).toEqual([]);
  });

  it('fails the document when the store refuses its chunks', async () => {
    table.seed({ docId: 'a.md', version: 'sha256:v2', status: 'embedded' });
    table.seed({ docId: 'b.md', version: 'sha256:v2', status: 'embedded' });
    const refusal = new VectorStoreWriteError('a.md', [
      { chunkId: 'a.md#0', reason: 'mapper_parsing_exception' },
    ]);
    const store = new EmbeddedVectorStore();
    vi.spyOn(store, 'replaceDocument').mockRejectedValueOnce(refusal);
    const out = await makeIndex({ s3, table, reporter, store: async () => store, now })(
      ingest([vectorsOf('a.md', 1), vectorsOf('b.md', 1)]),
    );
    expect(out).toMatchObject({ indexed: 1, failed: 1, superseded: 0 });
    expect(table.rows.get('a.md')).toMatchObject({
      status: 'failed',
      reason:
        'VECTOR_STORE_REJECTED: 1 chunk(s) of document a.md could not be indexed: a.md#0: mapper_parsing_exception',
    });
    expect(table.status('b.md')).toBe('indexed');
  });

  it('rethrows a store write that ran out of retries on throttling as a TransientError', async () => {
    table.seed({ docId: 'a.md', version: 'sha256:v2', status: 'embedded' });
    const refusal = new VectorStoreWriteError('a.md', [{ chunkId: 'a.md#0', reason: '429' }], {
      cause: new TransientError('OpenSearch throttled the bulk request'),
    });
    const store = new EmbeddedVectorStore();
    vi.spyOn(store, 'replaceDocument').mockRejectedValue(refusal);
    const error = await errorOf(
      makeIndex({ s3, table, reporter, store: async () => store, now })(ingest([vectorsOf('a.md', 1)])),
    );
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).name).toBe('TransientError');
    expect((error as Error).message).toBe(refusal.message);
    expect((error as Error).cause).toBe(refusal);
    expect(table.markFailed).not.toHaveBeenCalled();
    expect(table.status('a.md')).toBe('embedded');
  });

  it('deletes a document: marked deleted first, then its chunks leave the store', async () => {
    const store = new EmbeddedVectorStore();
    await store.replaceDocument(
      'a.md',
      'sha256:v1',
      vectorsOf('a.md', 3, 'sha256:v1').chunks.map((c) => ({
        ...c,
        docId: 'a.md',
        docVersion: 'sha256:v1',
        vector: c.vector ?? [],
      })),
    );
    table.seed({
      docId: 'a.md',
      version: 'sha256:v1',
      indexedVersion: 'sha256:v1',
      status: 'indexed',
      chunkCount: 3,
      maxChunkCount: 4,
      title: 'Guide',
      source: 'a.md',
    });
    const remove = vi.spyOn(store, 'deleteDocument');
    const deletion: DeletionItem = { docId: 'a.md', collection: 'upload', sequencer: SEQUENCER };
    const input = stageBatch('delete', [deletion]);
    const out = await makeIndex({ s3, table, reporter, store: async () => store, now })(
      progress(input, { active: 0 }),
    );
    expect(out).toMatchObject({ active: 0, deleted: 1, superseded: 0 });
    expect(table.markDeleted).toHaveBeenCalledWith('a.md', {
      runId: 'run-1',
      now: NOW,
      collection: 'upload',
      sequencer: SEQUENCER,
    });
    expect(remove).toHaveBeenCalledWith('a.md', { chunkCount: 4 });
    expect(table.markDeleted.mock.invocationCallOrder[0]).toBeLessThan(
      remove.mock.invocationCallOrder[0] ?? 0,
    );
    expect(store.size).toBe(0);
    expect(table.status('a.md')).toBe('deleted');
    expect(published()).toEqual([
      expect.objectContaining({
        docId: 'a.md',
        version: null,
        status: 'deleted',
        chunks: 3,
        title: 'Guide',
        source: 'a.md',
        collection: 'upload',
      }),
    ]);
  });

  it('deletes nothing for a deletion older than the last upload', async () => {
    table.seed({
      docId: 'a.md',
      version: 'sha256:v2',
      status: 'indexed',
      chunkCount: 2,
      sequencer: orderableSequencer('FF00'),
    });
    const store = new EmbeddedVectorStore();
    const remove = vi.spyOn(store, 'deleteDocument');
    const input = stageBatch('delete', [{ docId: 'a.md', collection: 'upload', sequencer: 'FE00' }]);
    const out = await makeIndex({ s3, table, reporter, store: async () => store, now })(
      progress(input, { active: 0 }),
    );
    expect(out).toMatchObject({ deleted: 0, superseded: 1 });
    expect(remove).not.toHaveBeenCalled();
    expect(table.status('a.md')).toBe('indexed');
    expect(published()).toEqual([]);
  });
});

describe('Finish', () => {
  const handler = () => makeFinish({ s3, table, reporter, now });

  const plan = (overrides: Partial<PlanOutput['counts']> = {}, batchCount = 0): PlanOutput => ({
    runId: 'run-1',
    trigger: 'dataset',
    origin: 'dataset:faq@v3',
    items: { bucket: ARTIFACTS, key: ragLayout.items('run-1') },
    batchCount,
    counts: { queued: 3, unchanged: 2, stale: 1, failed: 0, deletions: 1, ...overrides },
  });

  const batch = (kind: 'ingest' | 'delete', index: number): BatchInput['batch'] => ({
    kind,
    index,
    location: { bucket: ARTIFACTS, key: ragLayout.batch('run-1', index) },
    count: 1,
  });

  const done = (kind: 'ingest' | 'delete', index: number, counts: Partial<BatchProgress>): ChildResult => ({
    input: { runId: 'run-1', batch: batch(kind, index) },
    output: {
      runId: 'run-1',
      batch: batch(kind, index),
      active: 0,
      indexed: 0,
      deleted: 0,
      failed: 0,
      superseded: 0,
      ...counts,
    },
  });

  it('totals the batches from the Map Run result files and succeeds when nothing failed', async () => {
    const input: FinishInput = {
      ...plan({}, 2),
      mapRun: mapRunOf([done('ingest', 0, { indexed: 3, superseded: 1 }), done('delete', 1, { deleted: 1 })]),
    };
    expect(await handler()(input)).toEqual({
      runId: 'run-1',
      status: 'SUCCEEDED',
      origin: 'dataset:faq@v3',
      indexed: 3,
      deleted: 1,
      unchanged: 2,
      superseded: 2,
      failed: 0,
      summary: 'dataset:faq@v3: 3 indexed, 1 deleted, 2 unchanged, 2 superseded, 0 failed',
    });
    expect(reporter.fail).not.toHaveBeenCalled();
  });

  it('reads every result file of a Map Run (several children per status, several files)', async () => {
    const children = Array.from({ length: 7 }, (_, i) => done('ingest', i, { indexed: 2, failed: i % 2 }));
    const out = await handler()({ ...plan({ stale: 0 }, 7), mapRun: mapRunOf(children, 3) });
    expect(out).toMatchObject({ status: 'FAILED', indexed: 14, failed: 3 });
  });

  it('records every not-yet-indexed document of a failed child as failed, with its error, and fails the run', async () => {
    table.seed({ docId: 'faq/a', version: 'sha256:a', status: 'embedded' });
    table.seed({ docId: 'faq/b', version: 'sha256:newer', status: 'queued' });
    table.seed({ docId: 'faq/c', version: 'sha256:c', status: 'indexed' });
    const ingest = stageBatch(
      'ingest',
      [
        staged({ docId: 'faq/a', version: 'sha256:a' }),
        staged({ docId: 'faq/b', version: 'sha256:b' }),
        staged({ docId: 'faq/c', version: 'sha256:c' }),
      ],
      0,
    );
    const deletion = stageBatch('delete', [{ docId: 'faq/old', collection: 'dataset:faq' }], 1);
    // A failed child's entry in FAILED_<n>.json holds its input, and the error and cause of the step
    // that failed it.
    const mapRun = mapRunOf([
      { input: ingest, error: 'ThrottledError', cause: 'Model throttled after 6 attempts' },
      { input: deletion, error: 'States.Timeout' },
    ]);
    const out = await handler()({ ...plan({ stale: 0 }, 2), mapRun });
    expect(out).toMatchObject({ status: 'FAILED', indexed: 0, deleted: 0, failed: 2, superseded: 2 });
    expect(table.rows.get('faq/a')).toMatchObject({
      status: 'failed',
      reason: `RETRIES_EXHAUSTED: ${FAILURE_CODES.RETRIES_EXHAUSTED}`,
    });
    expect(table.rows.get('faq/b')?.status).toBe('queued');
    expect(table.rows.get('faq/c')?.status).toBe('indexed');
    expect(published()).toEqual([
      expect.objectContaining({
        docId: 'faq/a',
        status: 'failed',
        reason: expect.stringMatching(/^RETRIES_EXHAUSTED/),
      }),
    ]);
  });

  it('records the documents of a child that timed out as TIMEOUT', async () => {
    table.seed({ docId: 'faq/a', version: 'sha256:a', status: 'chunked' });
    const ingest = stageBatch('ingest', [staged({ docId: 'faq/a', version: 'sha256:a' })], 0);
    const out = await handler()({
      ...plan({ stale: 0 }, 1),
      mapRun: mapRunOf([{ input: ingest, error: 'States.Timeout', cause: 'Task timed out' }]),
    });
    expect(out).toMatchObject({ status: 'FAILED', failed: 1 });
    expect(table.rows.get('faq/a')?.reason).toBe(`TIMEOUT: ${FAILURE_CODES.TIMEOUT}`);
  });

  it('fails the run when Plan recorded a failed file (no batch, no Map Run)', async () => {
    const out = await handler()(plan({ failed: 1, queued: 0 }));
    expect(out).toMatchObject({ status: 'FAILED', failed: 1 });
    expect(out.summary).toContain('1 failed (see GET /v1/rag/documents?status=failed');
  });

  it('refuses a plan with batches but no Map Run results', async () => {
    await expect(handler()(plan({}, 3))).rejects.toThrow(/mapRun is required when the plan has 3 batch/);
  });
});

describe('RagIngest steps in sequence', () => {
  it('takes an upload from Plan to a searchable document', async () => {
    const store = new EmbeddedVectorStore();
    const provider = new OfflineProvider();
    const plan = await planHandler()(
      {
        event: uploaded(
          'raw/rag/guides/refunds.md',
          '# Refunds\n\nRefunds are issued within five business days.\n',
        ),
        executionName: 'run-9',
      },
      context,
    );
    const [batch] = batchesOf(plan);
    if (!batch) throw new Error('expected one batch');
    // The child execution's input, as the Map's ItemSelector makes it from the item.
    const chunked = await makeChunk({ s3, table, reporter, maxTokens: 512, overlapTokens: 64, now })({
      runId: plan.runId,
      batch,
    });
    const embedded = await makeEmbed({
      s3,
      table,
      reporter,
      provider,
      model: EMBEDDING_MODEL,
      batchSize: 16,
      concurrency: 2,
      now,
    })(chunked);
    const indexed = await makeIndex({ s3, table, reporter, store: async () => store, now })(embedded);
    const mapRun = mapRunOf([{ input: { runId: plan.runId, batch }, output: indexed }]);
    const finished = await makeFinish({ s3, table, reporter, now })({ ...plan, mapRun });
    expect(finished).toMatchObject({ status: 'SUCCEEDED', indexed: 1, failed: 0 });
    expect(table.rows.get('guides/refunds.md')).toMatchObject({ status: 'indexed', chunkCount: 1 });
    const query = await provider.embed({
      modelId: EMBEDDING_MODEL.modelId,
      texts: ['refund days'],
      dimensions: 256,
    });
    const hits = await store.search({ vector: query.vectors[0] ?? [], text: 'refund days', k: 3 });
    expect(hits.map((h) => [h.docId, h.title, h.headings])).toEqual([
      ['guides/refunds.md', 'Refunds', ['Refunds']],
    ]);
  });
});
