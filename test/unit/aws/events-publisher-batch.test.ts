import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { TransientError } from '#aws/errors.ts';
import { publishEvents } from '#aws/events-publisher.ts';
import { DocumentReporter } from '#aws/rag/reporter.ts';
import { documentIndexedDetail } from '#events/document-indexed.ts';

const ebMock = mockClient(EventBridgeClient);
const client = new EventBridgeClient({ region: 'us-east-1' });

const detail = (n: number) => ({
  schemaVersion: '1.0' as const,
  vectorStore: 'embedded' as const,
  docId: `d${n}.md`,
  version: `sha256:${n}`,
  status: 'indexed' as const,
  chunks: 1,
  reason: null,
  title: null,
  source: null,
  collection: 'upload',
  runId: 'run-1',
});

const publish = (count: number) =>
  publishEvents(client, {
    busName: 'bus',
    source: 'llmops',
    detailType: 'llmops.DocumentIndexed',
    schema: documentIndexedDetail,
    details: Array.from({ length: count }, (_, i) => detail(i)),
  });

/** The docIds of each PutEvents request sent so far. */
const requests = () =>
  ebMock
    .commandCalls(PutEventsCommand)
    .map((call) => (call.args[0].input.Entries ?? []).map((e) => JSON.parse(String(e.Detail)).docId));

beforeEach(() => {
  ebMock.reset();
  ebMock.on(PutEventsCommand).callsFake((input: { Entries?: unknown[] }) => ({
    FailedEntryCount: 0,
    Entries: (input.Entries ?? []).map(() => ({ EventId: `id-${Math.random()}` })),
  }));
});

describe('publishEvents', () => {
  it('sends up to 10 entries per PutEvents request, in order, and returns one id per detail', async () => {
    const ids = await publish(23);
    expect(ids).toHaveLength(23);
    expect(requests().map((r) => r.length)).toEqual([10, 10, 3]);
    expect(requests().flat()).toEqual(Array.from({ length: 23 }, (_, i) => `d${i}.md`));
  });

  it('sends nothing when a detail does not match its schema', async () => {
    await expect(
      publishEvents(client, {
        busName: 'bus',
        source: 'llmops',
        detailType: 'llmops.DocumentIndexed',
        schema: documentIndexedDetail,
        details: [detail(0), { ...detail(1), status: 'bogus' as 'indexed' }],
      }),
    ).rejects.toThrow();
    expect(requests()).toEqual([]);
  });

  it('sends the entries EventBridge failed again, and only those', async () => {
    ebMock
      .on(PutEventsCommand)
      .callsFakeOnce((input: { Entries?: unknown[] }) => ({
        FailedEntryCount: 1,
        Entries: (input.Entries ?? []).map((_, i) =>
          i === 1
            ? { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }
            : { EventId: `id-${i}` },
        ),
      }))
      .callsFake((input: { Entries?: unknown[] }) => ({
        FailedEntryCount: 0,
        Entries: (input.Entries ?? []).map((_, i) => ({ EventId: `retry-${i}` })),
      }));
    const ids = await publish(3);
    expect(requests()).toEqual([['d0.md', 'd1.md', 'd2.md'], ['d1.md']]);
    expect(ids.every((id) => typeof id === 'string')).toBe(true);
  });

  it('throws a TransientError naming the failures when entries keep failing', async () => {
    ebMock.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }],
    });
    const error = await publish(1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect(String((error as Error).message)).toContain('InternalFailure try again');
    expect(requests()).toHaveLength(3);
  });
});

describe('DocumentReporter.buffer', () => {
  it('sends a full request at 10 announcements and the rest on flush', async () => {
    const reporter = new DocumentReporter(client, 'bus', 'embedded');
    const buffer = reporter.buffer();
    for (let i = 0; i < 12; i += 1) {
      const { schemaVersion: _s, vectorStore: _v, ...rest } = detail(i);
      await buffer.add(rest);
    }
    expect(requests().map((r) => r.length)).toEqual([10]);
    await buffer.flush();
    await buffer.flush();
    expect(requests().map((r) => r.length)).toEqual([10, 2]);
  });
});
