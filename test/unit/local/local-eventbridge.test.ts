import { request } from 'node:http';
import { EventBridgeClient, ListRulesCommand, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { matchesPattern } from '#infra/local/event-pattern.ts';
import {
  type LocalEventBridge,
  type PutEventsEntry,
  startLocalEventBridge,
  toEventEnvelope,
} from '#infra/local/local-eventbridge.ts';

describe('local EventBridge endpoint', () => {
  let bus: LocalEventBridge;
  let client: EventBridgeClient;
  const received: PutEventsEntry[][] = [];
  let failRouting = false;

  beforeAll(async () => {
    bus = await startLocalEventBridge((entries) => {
      if (failRouting) throw new Error('router down');
      received.push(entries);
    });
    client = new EventBridgeClient({
      endpoint: bus.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    client.destroy();
    await bus.stop();
  });
  beforeEach(() => {
    received.length = 0;
    failRouting = false;
  });

  it('accepts PutEvents from the real SDK and hands the entries over with their EventIds', async () => {
    const time = new Date('2026-03-01T10:20:30.000Z');
    const out = await client.send(
      new PutEventsCommand({
        Entries: [
          {
            Source: 'llmops',
            DetailType: 'llmops.DatasetReady',
            Detail: JSON.stringify({ name: 'docs', version: 3, purpose: 'rag' }),
            EventBusName: 'llmops-local-bus',
            Resources: ['arn:aws:s3:::raw'],
            Time: time,
          },
          {
            Source: 'llmops',
            DetailType: 'llmops.PipelineFailed',
            Detail: '{"pipeline":"dataprep"}',
            EventBusName: 'arn:aws:events:us-east-1:000000000000:event-bus/llmops-local-bus',
          },
        ],
      }),
    );
    expect(out.FailedEntryCount).toBe(0);
    expect(out.Entries).toHaveLength(2);
    expect(received).toHaveLength(1);
    const [first, second] = received[0] ?? [];
    expect(first).toMatchObject({
      EventId: out.Entries?.[0]?.EventId,
      Source: 'llmops',
      DetailType: 'llmops.DatasetReady',
      EventBusName: 'llmops-local-bus',
      Resources: ['arn:aws:s3:::raw'],
    });
    expect(first?.Time?.toISOString()).toBe(time.toISOString());
    expect(second?.EventBusName).toBe('llmops-local-bus');
    expect(second?.EventId).toBe(out.Entries?.[1]?.EventId);
    expect(second?.Resources).toEqual([]);
  });

  it('reports invalid entries per entry, like the service, and still delivers the valid ones', async () => {
    const out = await client.send(
      new PutEventsCommand({
        Entries: [
          { Source: 'llmops', DetailType: 'ok', Detail: '{}' },
          { Source: 'llmops', DetailType: 'missing detail' },
          { Source: 'llmops', DetailType: 'bad json', Detail: '{not json' },
          { Source: 'llmops', DetailType: 'array detail', Detail: '[1,2]' },
          { DetailType: 'no source', Detail: '{}' },
        ],
      }),
    );
    expect(out.FailedEntryCount).toBe(4);
    expect(out.Entries?.[0]?.EventId).toBeTypeOf('string');
    expect(out.Entries?.[1]).toMatchObject({ ErrorCode: 'InvalidArgument' });
    expect(out.Entries?.[1]?.ErrorMessage).toContain('Detail');
    expect(out.Entries?.[2]).toMatchObject({ ErrorCode: 'MalformedDetail' });
    expect(out.Entries?.[3]).toMatchObject({ ErrorCode: 'MalformedDetail' });
    expect(out.Entries?.[4]?.ErrorMessage).toContain('Source');
    expect(received.flat().map((e) => e.DetailType)).toEqual(['ok']);
  });

  it('rejects requests over the service limits (11 entries, > 256 KB)', async () => {
    const entry = { Source: 'llmops', DetailType: 't', Detail: '{}' };
    await expect(
      client.send(new PutEventsCommand({ Entries: Array.from({ length: 11 }, () => entry) })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
    const big = JSON.stringify({ text: 'x'.repeat(256 * 1024) });
    await expect(
      client.send(new PutEventsCommand({ Entries: [{ Source: 'llmops', DetailType: 't', Detail: big }] })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
    expect(received).toHaveLength(0);
  });

  it('reports routing failures as InternalFailure entries', async () => {
    failRouting = true;
    const out = await client.send(
      new PutEventsCommand({ Entries: [{ Source: 'llmops', DetailType: 't', Detail: '{}' }] }),
    );
    expect(out.FailedEntryCount).toBe(1);
    expect(out.Entries?.[0]).toMatchObject({ ErrorCode: 'InternalFailure' });
    expect(out.Entries?.[0]?.ErrorMessage).toContain('router down');
  });

  it('answers other operations with a 400 JSON __type error the SDK understands', async () => {
    await expect(client.send(new ListRulesCommand({}))).rejects.toMatchObject({
      name: 'UnknownOperationException',
      $metadata: { httpStatusCode: 400 },
    });
    const raw = await post(bus.endpoint, '{}', { 'x-amz-target': 'AWSEvents.DescribeRule' });
    expect(raw.status).toBe(400);
    expect(JSON.parse(raw.body)).toMatchObject({ __type: 'UnknownOperationException' });
    const bad = await post(bus.endpoint, '{nope', { 'x-amz-target': 'AWSEvents.PutEvents' });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ __type: 'SerializationException' });
  });
});

describe('toEventEnvelope', () => {
  const entry: PutEventsEntry = {
    EventId: '11111111-2222-3333-4444-555555555555',
    Source: 'llmops',
    DetailType: 'llmops.DatasetReady',
    Detail: '{"purpose":"rag","counts":{"records":10}}',
    EventBusName: 'llmops-local-bus',
    Resources: ['arn:aws:s3:::raw'],
  };

  it('builds the event rules see', () => {
    const event = toEventEnvelope(entry, {
      account: '000000000000',
      region: 'us-east-1',
      time: new Date('2026-01-02T03:04:05.678Z'),
    });
    expect(event).toEqual({
      version: '0',
      id: entry.EventId,
      'detail-type': 'llmops.DatasetReady',
      source: 'llmops',
      account: '000000000000',
      time: '2026-01-02T03:04:05Z',
      region: 'us-east-1',
      resources: ['arn:aws:s3:::raw'],
      detail: { purpose: 'rag', counts: { records: 10 } },
    });
    expect(
      matchesPattern(
        { source: ['llmops'], 'detail-type': ['llmops.DatasetReady'], detail: { purpose: ['rag'] } },
        event,
      ),
    ).toBe(true);
  });

  it("prefers the entry's own Time", () => {
    const event = toEventEnvelope(
      { ...entry, Time: new Date('2025-05-05T05:05:05Z') },
      { account: '1', region: 'r', time: new Date(0) },
    );
    expect(event.time).toBe('2025-05-05T05:05:05Z');
  });
});

function post(
  endpoint: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${endpoint}/`,
      { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
