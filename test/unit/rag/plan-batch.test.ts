// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/rag-ingest.ts';
import { createHash, randomUUID } from 'node:crypto';
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
import { beforeEach, describe, expect, it } from 'vitest';
import { latestPerSubject, parseTriggerEvent, ragRejectedKey } from '#aws/rag/change-sources.ts';
import { orderableSequencer } from '#aws/rag/documents.ts';
import { DocumentReporter } from '#aws/rag/reporter.ts';
import {
  type BatchRef,
  batchRef,
  deletionItem,
  type PlanOutput,
  stagedDocument,
} from '#contracts/pipelines/rag-ingest.ts';
import { rawSample } from '#events/samples.ts';
import { makeHandler as makePlan } from '#functions/rag/plan.ts';
import { FakeDocuments } from './fake-documents.ts';

/**
 * Plan with the input the trigger queue's pipe gives an execution: the JSON array of a batch's SQS
 * records, each carrying one event. S3 and EventBridge are mocked; the status table is in memory with the
 * conditions of the real one (content version and S3 sequencer).
 */

const s3Mock = mockClient(S3Client);
const ebMock = mockClient(EventBridgeClient);

const RAW = 'raw-bucket';
const ARTIFACTS = 'artifacts-bucket';
const CURATED = 'curated-bucket';
const NOW = new Date('2026-12-01T10:00:00.000Z');
const context = { awsRequestId: 'req-1' } as Context;

const objects = new Map<string, { body: Uint8Array; etag: string }>();
const at = (bucket: string | undefined, key: string | undefined) => `${bucket}/${key}`;

function putObject(bucket: string, key: string, body: string | Uint8Array): { etag: string; size: number } {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  const etag = createHash('md5').update(bytes).digest('hex');
  objects.set(at(bucket, key), { body: bytes, etag });
  return { etag, size: bytes.length };
}

function lines(bucket: string, key: string): unknown[] {
  const object = objects.get(at(bucket, key));
  if (!object) throw new Error(`no object s3://${bucket}/${key}`);
  return new TextDecoder()
    .decode(object.body)
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown);
}

let table: FakeDocuments;

beforeEach(() => {
  s3Mock.reset();
  ebMock.reset();
  objects.clear();
  s3Mock.on(PutObjectCommand).callsFake((input) => {
    const { etag } = putObject(input.Bucket, input.Key, input.Body as string);
    return { ETag: `"${etag}"` };
  });
  s3Mock.on(GetObjectCommand).callsFake((input) => {
    const object = objects.get(at(input.Bucket, input.Key));
    if (!object) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
    return {
      ContentLength: object.body.length,
      ETag: `"${object.etag}"`,
      Body: {
        transformToByteArray: async () => object.body,
        transformToString: async () => new TextDecoder().decode(object.body),
      },
    };
  });
  s3Mock.on(HeadObjectCommand).callsFake((input) => {
    const object = objects.get(at(input.Bucket, input.Key));
    if (!object) throw new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } });
    return { ContentLength: object.body.length, ETag: `"${object.etag}"` };
  });
  ebMock.on(PutEventsCommand).resolves({ Entries: [{ EventId: 'event-1' }], FailedEntryCount: 0 });
  table = new FakeDocuments();
});

function plan(batchSize = 25) {
  return makePlan({
    s3: new S3Client({ region: 'us-east-1' }),
    table,
    reporter: new DocumentReporter(new EventBridgeClient({ region: 'us-east-1' }), 'bus', 'embedded'),
    artifactsBucket: ARTIFACTS,
    chunkMaxTokens: 512,
    chunkOverlapTokens: 64,
    embeddingModelId: 'titan-embed-text-v2',
    maxDocumentBytes: 1_000_000,
    batchSize,
    now: () => NOW,
  });
}

// ---------------------------------------------------------------------------------------------------
// Events, and the SQS records that carry them

const TIME = '2026-12-01T09:59:00Z';

function s3Event(
  type: 'Object Created' | 'Object Deleted',
  object: Record<string, unknown>,
  time = TIME,
): Record<string, unknown> {
  const sample = rawSample('s3-object-created') as Record<string, unknown>;
  return {
    ...sample,
    id: randomUUID(),
    time,
    'detail-type': type,
    detail: { version: '0', bucket: { name: RAW }, object, reason: 'PutObject' },
  };
}

function uploaded(key: string, text: string, sequencer: string, time = TIME) {
  const { etag, size } = putObject(RAW, key, text);
  return s3Event('Object Created', { key, size, etag, sequencer }, time);
}

const deleted = (key: string, sequencer: string, time = TIME) =>
  s3Event('Object Deleted', { key, sequencer }, time);

function datasetReady(name: string, version: number, records: readonly object[], time = TIME) {
  const key = `datasets/rag/${name}/v${String(version).padStart(6, '0')}/data.jsonl`;
  putObject(CURATED, key, records.map((r) => JSON.stringify(r)).join('\n'));
  const sample = rawSample('dataset-ready') as { detail: Record<string, unknown> } & Record<string, unknown>;
  return {
    ...sample,
    id: randomUUID(),
    time,
    detail: { ...sample.detail, name, version, purpose: 'rag', files: { data: { bucket: CURATED, key } } },
  };
}

/** An SQS record as EventBridge Pipes passes it: the event as the JSON text of its body. */
function record(event: unknown, messageId: string = randomUUID()) {
  const body = typeof event === 'string' ? event : JSON.stringify(event);
  return {
    messageId,
    receiptHandle: 'AQEB-local',
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '1764583140000',
      SenderId: 'AIDAEVENTBRIDGE',
      ApproximateFirstReceiveTimestamp: '1764583140000',
    },
    messageAttributes: {},
    md5OfBody: createHash('md5').update(body).digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:rag-trigger',
    awsRegion: 'us-east-1',
  };
}

/** Plans a batch as the state machine's Plan task receives it. */
const run = (events: readonly unknown[], executionName = 'batch:1', batchSize = 25) =>
  plan(batchSize)({ event: events, executionName }, context);

/** The batches Plan staged as the Map's items. */
const batchesOf = (out: PlanOutput): BatchRef[] =>
  lines(out.items.bucket, out.items.key).map((v) => batchRef.parse(v));

const stagedIds = (batch: BatchRef) =>
  lines(batch.location.bucket, batch.location.key).map((v) =>
    batch.kind === 'ingest' ? stagedDocument.parse(v).docId : deletionItem.parse(v).docId,
  );

const md = (title: string) => `# ${title}\n\nAbout ${title.toLowerCase()}.\n`;

// ---------------------------------------------------------------------------------------------------

describe('Plan with a batch of trigger records', () => {
  it('plans uploads, a deletion and a dataset of one batch as one run, their documents cut into Map items together', async () => {
    const out = await run([
      record(uploaded('raw/rag/a.md', md('Alpha'), '01')),
      record(uploaded('raw/rag/b.md', md('Beta'), '02')),
      record(deleted('raw/rag/old.md', '03')),
      record(
        datasetReady('faq', 2, [
          { id: 'q1', text: 'One.' },
          { id: 'q2', text: 'Two.' },
        ]),
      ),
      record(uploaded('raw/rag/c.md', md('Gamma'), '04')),
    ]);
    expect(out).toMatchObject({
      runId: 'batch-1',
      trigger: 'batch',
      counts: { queued: 5, unchanged: 0, stale: 0, failed: 0, deletions: 1 },
    });
    expect(out.origin).toBe(
      `batch of 5 event(s): s3://${RAW}/raw/rag/a.md, s3://${RAW}/raw/rag/b.md, s3://${RAW}/raw/rag/old.md (+2 more)`,
    );
    const batches = batchesOf(out);
    expect(batches.map((b) => [b.kind, b.index, b.count])).toEqual([
      ['ingest', 0, 5],
      ['delete', 1, 1],
    ]);
    expect(stagedIds(batches[0] as BatchRef)).toEqual(['a.md', 'b.md', 'faq/q1', 'faq/q2', 'c.md']);
    expect(stagedIds(batches[1] as BatchRef)).toEqual(['old.md']);
    // Every document was claimed with its own event's sequencer.
    expect(table.rows.get('a.md')?.sequencer).toBe(orderableSequencer('01'));
    expect(table.rows.get('c.md')?.sequencer).toBe(orderableSequencer('04'));
  });

  it('cuts a large batch into Map items of batchSize documents', async () => {
    const events = Array.from({ length: 7 }, (_, i) =>
      record(uploaded(`raw/rag/doc-${i}.md`, md(`Doc ${i}`), `1${i}`)),
    );
    const out = await run(events, 'big', 3);
    expect(batchesOf(out).map((b) => b.count)).toEqual([3, 3, 1]);
    expect(out.counts.queued).toBe(7);
  });

  it('of two events on the same key, the later (by sequencer) wins and the earlier counts as stale', async () => {
    const first = uploaded('raw/rag/a.md', md('Old'), '0A');
    const second = uploaded('raw/rag/a.md', md('New'), '0B');
    // The later event first: SQS does not keep order.
    const out = await run([record(second), record(first)]);
    expect(out.counts).toMatchObject({ queued: 1, stale: 1 });
    expect(table.claim).toHaveBeenCalledTimes(1);
    const [batch] = batchesOf(out);
    const [doc] = lines(ARTIFACTS, (batch as BatchRef).location.key).map((v) => stagedDocument.parse(v));
    expect(doc?.text).toContain('About new.');
    expect(table.rows.get('a.md')?.sequencer).toBe(orderableSequencer('0B'));
  });

  it('a deletion after a creation of the same key deletes the document; nothing is ingested', async () => {
    const created = uploaded('raw/rag/x.md', md('X'), '10');
    objects.delete(at(RAW, 'raw/rag/x.md'));
    const out = await run([record(created), record(deleted('raw/rag/x.md', '11'))]);
    expect(out.counts).toMatchObject({ queued: 0, stale: 1, deletions: 1 });
    expect(batchesOf(out).map((b) => [b.kind, stagedIds(b)])).toEqual([['delete', ['x.md']]]);
    expect(table.claim).not.toHaveBeenCalled();
  });

  it('a creation after a deletion of the same key ingests it', async () => {
    const gone = deleted('raw/rag/x.md', '20');
    const back = uploaded('raw/rag/x.md', md('Back'), '21');
    const out = await run([record(back), record(gone)]);
    expect(out.counts).toMatchObject({ queued: 1, stale: 1, deletions: 0 });
    expect(batchesOf(out).map((b) => [b.kind, stagedIds(b)])).toEqual([['ingest', ['x.md']]]);
  });

  it('without sequencers, the later event time wins (two versions of a dataset)', async () => {
    const v1 = datasetReady('faq', 1, [{ id: 'old', text: 'Old.' }], '2026-12-01T09:00:00Z');
    const v2 = datasetReady('faq', 2, [{ id: 'new', text: 'New.' }], '2026-12-01T09:05:00Z');
    const out = await run([record(v2), record(v1)]);
    expect(out.counts).toMatchObject({ queued: 1, stale: 1 });
    expect(batchesOf(out).flatMap(stagedIds)).toEqual(['faq/new']);
  });

  it('rejects bad records with their reasons, keeps them beside the run and plans the others; the run counts them failed', async () => {
    putObject(RAW, 'other/x.md', md('Outside'));
    const outside = s3Event('Object Created', { key: 'other/x.md', size: 10, sequencer: '31' });
    const out = await run(
      [
        record('not json', 'm-text'),
        record({ 'detail-type': 'Object Restore Completed', detail: {} }, 'm-type'),
        { body: '{}' },
        record(s3Event('Object Created', { size: 3 }), 'm-nokey'),
        record(outside, 'm-outside'),
        record(uploaded('raw/rag/good.md', md('Good'), '32'), 'm-good'),
      ],
      'exec-7',
    );
    expect(out.counts).toMatchObject({ queued: 1, failed: 5 });
    expect(batchesOf(out).flatMap(stagedIds)).toEqual(['good.md']);
    const kept = lines(ARTIFACTS, ragRejectedKey('exec-7')) as { record: string; reason: string }[];
    expect(kept.map(({ record, reason }) => [record, reason])).toEqual([
      ['m-text', 'the body is not JSON'],
      [
        'm-type',
        'RagIngest starts from S3 Object Created/Deleted or llmops.DatasetReady, got Object Restore Completed',
      ],
      ['#2', 'not an SQS record with a messageId and a body'],
      ['m-nokey', expect.stringMatching(/^Invalid RagIngest input \(S3 Object Created event\): .*key/)],
      ['m-outside', 'InvalidEventError: Object key "other/x.md" is not under raw/rag/'],
    ]);
    expect(out.origin).toMatch(
      new RegExp(`; 5 record\\(s\\) rejected \\(s3://${ARTIFACTS}/${ragRejectedKey('exec-7')}\\)$`),
    );
  });

  it('an object gone since its event is left to the event of that change (stale), not failed', async () => {
    const event = uploaded('raw/rag/gone.md', md('Gone'), '40');
    objects.delete(at(RAW, 'raw/rag/gone.md'));
    const out = await run([record(event), record(uploaded('raw/rag/kept.md', md('Kept'), '41'))]);
    expect(out.counts).toMatchObject({ queued: 1, stale: 1, failed: 0 });
  });

  it('a transient S3 error fails the step, so that the state machine retries it, rather than rejecting a record', async () => {
    const event = uploaded('raw/rag/a.md', md('A'), '50');
    s3Mock.on(GetObjectCommand).rejects(
      Object.assign(new Error('We encountered an internal error'), {
        name: 'InternalError',
        $metadata: { httpStatusCode: 500 },
      }),
    );
    await expect(run([record(event)])).rejects.toThrow(/internal error/);
  });

  it('the same batch delivered again changes nothing once its documents are indexed', async () => {
    const events = [
      record(uploaded('raw/rag/a.md', md('A'), '60')),
      record(uploaded('raw/rag/b.md', md('B'), '61')),
    ];
    const first = await run(events, 'first');
    expect(first.counts.queued).toBe(2);
    table.indexAll();
    const again = await run(events, 'again');
    expect(again.counts).toMatchObject({ queued: 0, unchanged: 2 });
    expect(again.batchCount).toBe(0);
  });

  it('takes a record whose body is the event itself (as Pipes passes a parsed JSON body)', async () => {
    const event = uploaded('raw/rag/a.md', md('A'), '70');
    const out = await run([{ ...record(event), body: event }]);
    expect(out.counts.queued).toBe(1);
  });

  it('an empty batch plans nothing', async () => {
    const out = await run([]);
    expect(out).toMatchObject({ trigger: 'batch', batchCount: 0, counts: { queued: 0, failed: 0 } });
  });
});

describe('latestPerSubject', () => {
  const of = (event: unknown, position: number) => ({ trigger: parseTriggerEvent(event), position });

  it('keeps the latest event of each key in batch order, by sequencer before time', () => {
    const events = [
      of(s3Event('Object Created', { key: 'raw/rag/a.md', sequencer: '0F' }, '2026-12-01T10:00:00Z'), 0),
      of(s3Event('Object Created', { key: 'raw/rag/b.md', sequencer: '01' }), 1),
      // Earlier by time, later by sequencer: the sequencer orders the events of one key.
      of(s3Event('Object Deleted', { key: 'raw/rag/a.md', sequencer: '100' }, '2026-12-01T09:00:00Z'), 2),
    ];
    expect(latestPerSubject(events).map((e) => e.position)).toEqual([1, 2]);
  });

  it('compares keys decoded, as S3 may send them URL-encoded', () => {
    const events = [
      of(s3Event('Object Created', { key: 'raw/rag/my+notes.md', sequencer: '01' }), 0),
      of(s3Event('Object Deleted', { key: 'raw/rag/my notes.md', sequencer: '02' }), 1),
    ];
    expect(latestPerSubject(events).map((e) => e.position)).toEqual([1]);
  });

  it('falls back to the position in the batch when nothing else orders two events', () => {
    const event = s3Event('Object Created', { key: 'raw/rag/a.md' });
    expect(latestPerSubject([of(event, 0), of(event, 1)]).map((e) => e.position)).toEqual([1]);
  });
});
