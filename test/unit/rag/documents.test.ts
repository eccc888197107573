import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '#aws/errors.ts';
import {
  type ClaimRequest,
  DOCUMENTS_COLLECTION_INDEX,
  DocumentTable,
  orderableSequencer,
} from '#aws/rag/documents.ts';
import { errorOf } from '../../support/async.ts';

const ddb = mockClient(DynamoDBDocumentClient);
const table = new DocumentTable(
  DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
  'documents',
);
const NOW = new Date('2026-12-01T10:00:00.000Z');

const conditionFailed = () =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

const updates = (): UpdateCommandInput[] => ddb.commandCalls(UpdateCommand).map((call) => call.args[0].input);

const claimRequest = (overrides: Partial<ClaimRequest> = {}): ClaimRequest => ({
  docId: 'guides/intro.md',
  version: 'sha256:v2',
  collection: 'upload',
  runId: 'run-1',
  embeddingModelId: 'titan-embed-text-v2',
  title: 'Intro',
  source: 'guides/intro.md',
  format: 'markdown',
  now: NOW,
  ...overrides,
});

const indexedItem = {
  pk: 'doc#guides/intro.md',
  gsi1pk: 'upload',
  gsi1sk: 'guides/intro.md',
  sequencer: '0000000000000000000000617F08299329D189',
  docId: 'guides/intro.md',
  collection: 'upload',
  status: 'indexed',
  version: 'sha256:v2',
  indexedVersion: 'sha256:v2',
  chunkCount: 4,
  embeddingModelId: 'titan-embed-text-v2',
  runId: 'run-0',
  createdAt: '2026-11-30T00:00:00.000Z',
  updatedAt: '2026-11-30T00:00:00.000Z',
};

beforeEach(() => {
  ddb.reset();
});

describe('orderableSequencer', () => {
  it('left-pads to 40 upper-case hex digits, so that string order is event order', () => {
    expect(orderableSequencer('617f08299329d189')).toBe(`${'0'.repeat(24)}617F08299329D189`);
    expect(orderableSequencer('00617F08299329D189')).toHaveLength(40);
    // A longer sequencer is a later one even though its first digit is smaller.
    const shorter = orderableSequencer('FF');
    const longer = orderableSequencer('100');
    expect(shorter < longer).toBe(true);
  });
});

describe('DocumentTable.get', () => {
  it('reads consistently by `doc#<id>` and strips the key attributes', async () => {
    ddb.on(GetCommand).resolves({ Item: indexedItem });
    const doc = await table.get('guides/intro.md');
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input).toEqual({
      TableName: 'documents',
      Key: { pk: 'doc#guides/intro.md' },
      ConsistentRead: true,
    });
    expect(doc).toMatchObject({ docId: 'guides/intro.md', status: 'indexed', chunkCount: 4 });
    expect(doc).not.toHaveProperty('pk');
    expect(doc).not.toHaveProperty('gsi1pk');
    expect(doc).not.toHaveProperty('gsi1sk');
    expect(doc).not.toHaveProperty('sequencer');
  });

  it('is undefined for an unknown document', async () => {
    ddb.on(GetCommand).resolves({});
    expect(await table.get('nope')).toBeUndefined();
  });
});

describe('DocumentTable.claim', () => {
  it('is unchanged when the same version is indexed with the same embedding model: the claim is refused', async () => {
    ddb.on(GetCommand).resolves({ Item: indexedItem });
    ddb.on(UpdateCommand).rejects(conditionFailed());
    expect(await table.claim(claimRequest({ sequencer: 'FFFF' }))).toBe('unchanged');
    expect(updates()[0]?.ConditionExpression).toBe(
      '(NOT (#status = :indexed AND #indexedVersion = :version AND #model = :model)) AND (attribute_not_exists(#seq) OR #seq <= :seq)',
    );
  });

  it('reads the item only when the claim is refused', async () => {
    ddb.on(UpdateCommand).resolves({});
    expect(await table.claim(claimRequest({ sequencer: 'FFFF' }))).toBe('claimed');
    expect(ddb.commandCalls(GetCommand)).toHaveLength(0);
  });

  it.each([
    ['another version', { version: 'sha256:v3' }, {}],
    ['another embedding model', { embeddingModelId: 'cohere-embed' }, {}],
    ['the same version not yet indexed', {}, { status: 'failed' }],
  ])('claims %s', async (_case, request, item) => {
    ddb.on(GetCommand).resolves({ Item: { ...indexedItem, ...item } });
    ddb.on(UpdateCommand).resolves({});
    expect(await table.claim(claimRequest(request))).toBe('claimed');
    expect(updates()).toHaveLength(1);
  });

  it('queues the version under a sequencer condition with the padded sequencer', async () => {
    ddb.on(GetCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    expect(await table.claim(claimRequest({ sequencer: '617f08299329d189' }))).toBe('claimed');
    const input = updates()[0];
    expect(input?.TableName).toBe('documents');
    expect(input?.Key).toEqual({ pk: 'doc#guides/intro.md' });
    expect(input?.ConditionExpression).toBe(
      '(NOT (#status = :indexed AND #indexedVersion = :version AND #model = :model)) AND (attribute_not_exists(#seq) OR #seq <= :seq)',
    );
    expect(input?.ExpressionAttributeNames).toMatchObject({
      '#seq': 'sequencer',
      '#status': 'status',
      '#version': 'version',
      '#collection': 'collection',
    });
    expect(input?.ExpressionAttributeValues).toMatchObject({
      ':seq': orderableSequencer('617f08299329d189'),
      ':queued': 'queued',
      ':version': 'sha256:v2',
      ':collection': 'upload',
      ':runId': 'run-1',
      ':model': 'titan-embed-text-v2',
      ':now': NOW.toISOString(),
      ':docId': 'guides/intro.md',
      ':title': 'Intro',
      ':source': 'guides/intro.md',
      ':format': 'markdown',
    });
    const [set, remove] = String(input?.UpdateExpression).split(' REMOVE ');
    for (const assignment of [
      '#status = :queued',
      '#version = :version',
      'gsi1pk = :collection',
      'gsi1sk = :docId',
      'createdAt = if_not_exists(createdAt, :now)',
      'chunkCount = if_not_exists(chunkCount, :zero)',
      '#title = :title',
      '#source = :source',
      '#format = :format',
      '#seq = :seq',
    ]) {
      expect(set).toContain(assignment);
    }
    // The reason of an earlier failure goes; title, source and format are set, not removed.
    expect(remove).toBe('reason');
  });

  it('claims without a sequencer condition when the event has no sequencer, removing absent descriptive fields', async () => {
    ddb.on(GetCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    await table.claim(claimRequest({ title: undefined, source: undefined, format: undefined }));
    const input = updates()[0];
    expect(input?.ConditionExpression).toBe(
      'NOT (#status = :indexed AND #indexedVersion = :version AND #model = :model)',
    );
    expect(input?.ExpressionAttributeNames).not.toHaveProperty('#seq');
    expect(input?.ExpressionAttributeValues).not.toHaveProperty(':seq');
    expect(String(input?.UpdateExpression).split(' REMOVE ')[1]).toBe('reason, #title, #source, #format');
    expect(input?.ExpressionAttributeNames).toMatchObject({
      '#title': 'title',
      '#source': 'source',
      '#format': 'format',
    });
  });

  it('is stale when a newer event already claimed the key', async () => {
    ddb.on(GetCommand).resolves({
      Item: { ...indexedItem, version: 'sha256:v9', indexedVersion: 'sha256:v9' },
    });
    ddb.on(UpdateCommand).rejects(conditionFailed());
    expect(await table.claim(claimRequest({ sequencer: '01' }))).toBe('stale');
  });

  it('lets other errors through', async () => {
    ddb.on(GetCommand).resolves({});
    ddb.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceededException'));
    await expect(table.claim(claimRequest())).rejects.toThrow('ProvisionedThroughputExceededException');
  });
});

describe('DocumentTable.advance with a chunk count', () => {
  it('raises maxChunkCount in the same write, under the version condition', async () => {
    ddb.on(UpdateCommand).resolves({});
    expect(await table.advance('a.md', 'sha256:v2', 'embedded', NOW, 7)).toBe(true);
    expect(updates()).toHaveLength(1);
    expect(updates()[0]).toMatchObject({
      UpdateExpression: 'SET #status = :status, updatedAt = :now, maxChunkCount = :n',
      ConditionExpression:
        '#version = :version AND (attribute_not_exists(maxChunkCount) OR maxChunkCount <= :n)',
      ExpressionAttributeValues: { ':status': 'embedded', ':n': 7, ':version': 'sha256:v2' },
    });
  });

  it('keeps a higher recorded maximum: the status alone is written then', async () => {
    ddb.on(UpdateCommand).rejectsOnce(conditionFailed()).resolves({});
    expect(await table.advance('a.md', 'sha256:v2', 'embedded', NOW, 7)).toBe(true);
    expect(updates()[1]).toMatchObject({
      UpdateExpression: 'SET #status = :status, updatedAt = :now',
      ConditionExpression: '#version = :version',
    });
  });

  it('is false when a newer version took over', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    expect(await table.advance('a.md', 'sha256:old', 'embedded', NOW, 7)).toBe(false);
  });
});

describe('DocumentTable transitions under the version condition', () => {
  it('advance sets the status if the version is still current', async () => {
    ddb.on(UpdateCommand).resolves({});
    expect(await table.advance('a.md', 'sha256:v2', 'chunked', NOW)).toBe(true);
    expect(updates()[0]).toEqual({
      TableName: 'documents',
      Key: { pk: 'doc#a.md' },
      UpdateExpression: 'SET #status = :status, updatedAt = :now',
      ConditionExpression: '#version = :version',
      ExpressionAttributeNames: { '#status': 'status', '#version': 'version' },
      ExpressionAttributeValues: { ':status': 'chunked', ':now': NOW.toISOString(), ':version': 'sha256:v2' },
    });
  });

  it('markIndexed records the indexed version and its chunk count, and drops the reason', async () => {
    ddb.on(UpdateCommand).resolves({});
    expect(await table.markIndexed('a.md', 'sha256:v2', 7, NOW)).toBe(true);
    const input = updates()[0];
    expect(input?.ConditionExpression).toBe('#version = :version');
    expect(input?.UpdateExpression).toBe(
      'SET #status = :status, indexedVersion = :version, chunkCount = :count, maxChunkCount = :count, updatedAt = :now REMOVE reason',
    );
    expect(input?.ExpressionAttributeValues).toEqual({
      ':status': 'indexed',
      ':count': 7,
      ':now': NOW.toISOString(),
      ':version': 'sha256:v2',
    });
  });

  it('markFailed records the reason as code and message, cut to 2000 characters', async () => {
    ddb.on(UpdateCommand).resolves({});
    expect(
      await table.markFailed('a.md', 'sha256:v2', { code: 'INTERNAL', message: 'x'.repeat(5000) }, NOW),
    ).toBe(true);
    const input = updates()[0];
    // A version that already reached `indexed` is never marked failed afterwards.
    expect(input?.ConditionExpression).toBe('#version = :version AND #status <> :indexed');
    expect(input?.ExpressionAttributeValues).toMatchObject({
      ':status': 'failed',
      ':version': 'sha256:v2',
      ':indexed': 'indexed',
    });
    expect(input?.ExpressionAttributeValues?.[':reason']).toHaveLength(2000);
    expect(input?.ExpressionAttributeValues?.[':reason']).toMatch(/^INTERNAL: x+$/);
  });

  it.each([
    ['advance', () => table.advance('a.md', 'sha256:old', 'embedded', NOW)],
    ['markIndexed', () => table.markIndexed('a.md', 'sha256:old', 3, NOW)],
    ['markFailed', () => table.markFailed('a.md', 'sha256:old', { code: 'INTERNAL', message: 'boom' }, NOW)],
  ])('%s returns false when a newer version took over', async (_name, call) => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    expect(await call()).toBe(false);
  });

  it('lets other errors of a transition through', async () => {
    ddb.on(UpdateCommand).rejects(new Error('InternalServerError'));
    await expect(table.markIndexed('a.md', 'v', 1, NOW)).rejects.toThrow('InternalServerError');
  });
});

describe('DocumentTable.markDeleted', () => {
  it('without a sequencer: unconditional, chunks zeroed, indexed version and reason removed', async () => {
    ddb.on(UpdateCommand).resolves({});
    expect(await table.markDeleted('a.md', { runId: 'run-2', now: NOW, collection: 'dataset:faq' })).toBe(
      true,
    );
    const input = updates()[0];
    expect(input).not.toHaveProperty('ConditionExpression');
    expect(input?.Key).toEqual({ pk: 'doc#a.md' });
    expect(input?.UpdateExpression).toMatch(/ REMOVE indexedVersion, reason$/);
    expect(input?.UpdateExpression).toContain('#collection = if_not_exists(#collection, :collection)');
    expect(input?.UpdateExpression).toContain('gsi1pk = if_not_exists(gsi1pk, :collection)');
    expect(input?.ExpressionAttributeValues).toMatchObject({
      ':status': 'deleted',
      ':version': 'deleted',
      ':zero': 0,
      ':runId': 'run-2',
      ':collection': 'dataset:faq',
    });
  });

  it('defaults the collection to upload', async () => {
    ddb.on(UpdateCommand).resolves({});
    await table.markDeleted('a.md', { runId: 'r', now: NOW });
    expect(updates()[0]?.ExpressionAttributeValues?.[':collection']).toBe('upload');
  });

  it('with a sequencer: records it and refuses an older event (false)', async () => {
    ddb.on(UpdateCommand).resolvesOnce({}).rejectsOnce(conditionFailed());
    expect(await table.markDeleted('a.md', { runId: 'r', now: NOW, sequencer: 'abc' })).toBe(true);
    expect(await table.markDeleted('a.md', { runId: 'r', now: NOW, sequencer: 'ab' })).toBe(false);
    const input = updates()[0];
    expect(input?.ConditionExpression).toBe('attribute_not_exists(#seq) OR #seq <= :seq');
    expect(input?.ExpressionAttributeNames?.['#seq']).toBe('sequencer');
    expect(input?.ExpressionAttributeValues?.[':seq']).toBe(orderableSequencer('abc'));
    expect(input?.UpdateExpression).toContain('#seq = :seq');
  });
});

describe('DocumentTable.noteChunkWrite', () => {
  it('raises maxChunkCount only above its current value, on an existing item', async () => {
    ddb.on(UpdateCommand).resolves({});
    await table.noteChunkWrite('a.md', 12);
    expect(updates()[0]).toEqual({
      TableName: 'documents',
      Key: { pk: 'doc#a.md' },
      UpdateExpression: 'SET maxChunkCount = :n',
      ConditionExpression:
        'attribute_exists(pk) AND (attribute_not_exists(maxChunkCount) OR maxChunkCount < :n)',
      ExpressionAttributeValues: { ':n': 12 },
    });
  });

  it('writes nothing when the item as just read already records at least that many', async () => {
    ddb.on(UpdateCommand).resolves({});
    await table.noteChunkWrite('a.md', 12, { maxChunkCount: 12 });
    expect(updates()).toHaveLength(0);
    await table.noteChunkWrite('a.md', 13, { maxChunkCount: 12 });
    await table.noteChunkWrite('a.md', 13, {});
    expect(updates()).toHaveLength(2);
  });

  it('never lowers it: a failed condition is not an error', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    await expect(table.noteChunkWrite('a.md', 3)).resolves.toBeUndefined();
  });

  it('lets other errors through', async () => {
    ddb.on(UpdateCommand).rejects(new Error('AccessDenied'));
    await expect(table.noteChunkWrite('a.md', 3)).rejects.toThrow('AccessDenied');
  });
});

describe('DocumentTable.list', () => {
  const row = (docId: string, status = 'indexed') => ({
    pk: `doc#${docId}`,
    gsi1pk: 'upload',
    gsi1sk: docId,
    docId,
    collection: 'upload',
    status,
    version: 'v',
    chunkCount: 1,
    runId: 'r',
    createdAt: 'c',
    updatedAt: 'u',
  });

  it('queries the collection index, with the status filter', async () => {
    ddb.on(QueryCommand).resolves({ Items: [row('a.md')] });
    const page = await table.list({ collection: 'upload', status: 'failed', limit: 20 });
    expect(ddb.commandCalls(ScanCommand)).toHaveLength(0);
    const input = ddb.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      TableName: 'documents',
      IndexName: DOCUMENTS_COLLECTION_INDEX,
      KeyConditionExpression: 'gsi1pk = :collection',
      FilterExpression: '#status = :status',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':status': 'failed', ':collection': 'upload' },
      Limit: 20,
    });
    expect(input?.ExclusiveStartKey).toBeUndefined();
    expect(page.documents.map((d) => d.docId)).toEqual(['a.md']);
    expect(page.documents[0]).not.toHaveProperty('pk');
    expect(page).not.toHaveProperty('nextCursor');
  });

  it('scans without a collection', async () => {
    ddb.on(ScanCommand).resolves({ Items: [row('a.md'), row('b.md')] });
    const page = await table.list({ limit: 5 });
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(0);
    const input = ddb.commandCalls(ScanCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ TableName: 'documents', Limit: 5 });
    expect(input).not.toHaveProperty('FilterExpression');
    expect(page.documents).toHaveLength(2);
  });

  it('returns an opaque cursor that starts the next page where the last one ended', async () => {
    const lastKey = { pk: 'doc#b.md', gsi1pk: 'upload', gsi1sk: 'b.md' };
    ddb
      .on(ScanCommand)
      .resolvesOnce({ Items: [row('b.md')], LastEvaluatedKey: lastKey })
      .resolvesOnce({});
    const first = await table.list({ limit: 1 });
    expect(first.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
    const second = await table.list({ limit: 1, cursor: first.nextCursor });
    expect(ddb.commandCalls(ScanCommand)[1]?.args[0].input.ExclusiveStartKey).toEqual(lastKey);
    expect(second).toEqual({ documents: [] });
  });

  it.each([
    ['not base64 JSON', 'not-a-cursor'],
    ['JSON but not an object', Buffer.from('[1,2]').toString('base64url')],
    ['null', Buffer.from('null').toString('base64url')],
  ])('refuses a cursor that is %s, naming the nextToken the API took it from', async (_case, cursor) => {
    const error = await errorOf(table.list({ limit: 1, cursor }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('query.nextToken');
    expect(ddb.calls()).toHaveLength(0);
  });
});

describe('DocumentTable.liveDocuments', () => {
  it('pages through the collection and leaves deleted documents out', async () => {
    const item = (docId: string, status: string, chunkCount: number) => ({
      pk: `doc#${docId}`,
      docId,
      status,
      chunkCount,
    });
    ddb
      .on(QueryCommand)
      .resolvesOnce({
        Items: [item('faq/1', 'indexed', 3), item('faq/2', 'deleted', 0)],
        LastEvaluatedKey: { pk: 'doc#faq/2', gsi1pk: 'dataset:faq', gsi1sk: 'faq/2' },
      })
      .resolvesOnce({ Items: [item('faq/3', 'failed', 2)] });
    expect(await table.liveDocuments('dataset:faq')).toEqual([
      { docId: 'faq/1', chunkCount: 3 },
      { docId: 'faq/3', chunkCount: 2 },
    ]);
    const calls = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({
      IndexName: DOCUMENTS_COLLECTION_INDEX,
      ExpressionAttributeValues: { ':collection': 'dataset:faq' },
      Limit: 500,
    });
    expect(calls[1]?.ExclusiveStartKey).toEqual({ pk: 'doc#faq/2', gsi1pk: 'dataset:faq', gsi1sk: 'faq/2' });
  });
});
