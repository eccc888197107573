// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/dataprep.ts';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ConflictError, InvalidEventError } from '#aws/errors.ts';
import { datasetReadyDetail } from '#events/dataset-ready.ts';
import { makeHandler } from '#functions/dataprep/register.ts';

const ebMock = mockClient(EventBridgeClient);

const finalized = {
  runId: 'exec-1',
  dataset: { name: 'support-chats', purpose: 'finetune', version: 2 },
  source: { bucket: 'raw', key: 'raw/finetune/support-chats.jsonl', etag: 'abc', versionId: 'v9', size: 100 },
  manifest: { bucket: 'curated', key: 'datasets/finetune/support-chats/v000002/manifest.json' },
  files: { train: { bucket: 'curated', key: 'datasets/finetune/support-chats/v000002/train.jsonl' } },
  counts: {
    records: 3,
    blank: 0,
    kept: 2,
    quarantined: 1,
    duplicates: { exact: 0, near: 0 },
    splits: { train: 2, validation: 0 },
  },
  contentHash: `sha256:${'a'.repeat(64)}`,
  createdAt: '2026-11-26T10:00:00.000Z',
};

describe('register handler', () => {
  const registerVersion = vi.fn();
  const handler = makeHandler({
    registry: { registerVersion },
    events: new EventBridgeClient({ region: 'us-east-1' }),
    busName: 'bus',
  });

  beforeEach(() => {
    ebMock.reset();
    registerVersion.mockReset();
  });

  it('registers the version, then announces llmops.DatasetReady with a valid detail', async () => {
    registerVersion.mockResolvedValue('created');
    ebMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'evt-1' }] });
    const out = await handler(finalized);
    expect(out).toEqual({
      status: 'REGISTERED',
      outcome: 'created',
      dataset: finalized.dataset,
      manifest: finalized.manifest,
      eventId: 'evt-1',
    });
    expect(registerVersion).toHaveBeenCalledWith(
      expect.objectContaining({
        name: 'support-chats',
        version: 2,
        source: { bucket: 'raw', key: finalized.source.key, versionId: 'v9', etag: 'abc' },
      }),
    );
    const entry = ebMock.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(entry).toMatchObject({ EventBusName: 'bus', Source: 'llmops', DetailType: 'llmops.DatasetReady' });
    const detail = datasetReadyDetail.parse(JSON.parse(entry?.Detail ?? '{}'));
    expect(detail).toMatchObject({
      schemaVersion: '1.0',
      name: 'support-chats',
      version: 2,
      counts: { kept: 2 },
    });
  });

  it('does not announce a version that conflicts with a registered one', async () => {
    registerVersion.mockRejectedValue(new ConflictError('exists with different content'));
    await expect(handler(finalized)).rejects.toBeInstanceOf(ConflictError);
    expect(ebMock.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('names the field when the Finalize output is malformed', async () => {
    await expect(
      handler({ ...finalized, contentHash: undefined, dataset: { ...finalized.dataset, version: 0 } }),
    ).rejects.toThrow(InvalidEventError);
    await expect(handler({ ...finalized, dataset: { ...finalized.dataset, version: 0 } })).rejects.toThrow(
      /dataset\.version/,
    );
  });
});
