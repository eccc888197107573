// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/dataprep.ts';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidDatasetError, InvalidEventError, SourceChangedError } from '#aws/errors.ts';
import { rawSample } from '#events/samples.ts';
import { datasetFromKey, makeHandler } from '#functions/dataprep/plan.ts';

const context = { awsRequestId: 'req-1' } as Context;
const s3Mock = mockClient(S3Client);

describe('datasetFromKey', () => {
  it.each([
    ['raw/finetune/support-chats.jsonl', 'finetune', 'support-chats'],
    ['raw/rag/Handbook 2026/part-0001.jsonl', 'rag', 'handbook-2026'],
    ['raw/golden/QA.set.NDJSON', 'golden', 'qa.set'],
    ['raw/preference/pairs.jsonl', 'preference', 'pairs'],
  ])('%s → %s/%s', (key, purpose, name) => {
    expect(datasetFromKey(key)).toEqual({ purpose, name });
  });

  it.each([
    ['curated/finetune/x.jsonl', /not under raw\/<purpose>\//],
    ['raw/training/x.jsonl', /unknown purpose "training"/],
    ['raw/finetune/notes.txt', /only JSON Lines files/],
    ['raw/finetune/---.jsonl', /empty dataset name/],
  ])('rejects %s', (key, message) => {
    expect(() => datasetFromKey(key)).toThrow(InvalidDatasetError);
    expect(() => datasetFromKey(key)).toThrow(message);
  });
});

describe('plan handler', () => {
  const claimSource = vi.fn();
  const handler = makeHandler({
    s3: new S3Client({ region: 'us-east-1' }),
    registry: { claimSource },
    artifactsBucket: 'artifacts',
    partSizeBytes: 1000,
    maxParts: 8,
  });
  /** The lines of the object Plan put (its Map items), parsed. */
  const staged = (key: string) => {
    const put = s3Mock.commandCalls(PutObjectCommand).find((call) => call.args[0].input.Key === key);
    if (!put) throw new Error(`nothing put at ${key}`);
    return String(put.args[0].input.Body)
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { index: number; start: number; end: number });
  };
  const event = rawSample('s3-object-created') as { detail: { object: Record<string, unknown> } };

  beforeEach(() => {
    s3Mock.reset();
    claimSource.mockReset();
  });

  it('claims the object version and stages its byte ranges as the Map items', async () => {
    s3Mock.on(PutObjectCommand).resolves({});
    s3Mock.on(HeadObjectCommand).resolves({
      ContentLength: 2500,
      ETag: '"b1946ac92492d2347c6235b4d2611184"',
      VersionId: 'IYV3p45BT0ac8hjHg1houSdS1a.Mro8e',
    });
    claimSource.mockResolvedValue({ status: 'NEW', version: 3 });
    const out = await handler({ event, executionName: 'exec-42' }, context);
    expect(out).toMatchObject({
      status: 'NEW',
      runId: 'exec-42',
      dataset: { name: 'support-chats', purpose: 'finetune', version: 3 },
      outputPrefix: 'datasets/finetune/support-chats/v000003/',
      source: {
        etag: 'b1946ac92492d2347c6235b4d2611184',
        size: 2500,
        versionId: 'IYV3p45BT0ac8hjHg1houSdS1a.Mro8e',
      },
    });
    if (out.status !== 'NEW') throw new Error('expected NEW');
    // The ranges travel through S3 (the Distributed Map's items), never through the state.
    expect(out.items).toEqual({ bucket: 'artifacts', key: 'staging/dataprep/items/exec-42.jsonl' });
    expect(out.partCount).toBe(3);
    expect(staged(out.items.key).map((p) => [p.index, p.start, p.end])).toEqual([
      [0, 0, 1000],
      [1, 1000, 2000],
      [2, 2000, 2500],
    ]);
    expect(claimSource).toHaveBeenCalledWith(
      expect.objectContaining({ bucket: 'llmops-dev-raw-example', key: 'raw/finetune/support-chats.jsonl' }),
      { purpose: 'finetune', name: 'support-chats' },
      'exec-42',
      expect.any(Date),
    );
  });

  it('returns DUPLICATE without planning when the object version was already registered', async () => {
    s3Mock
      .on(HeadObjectCommand)
      .resolves({ ContentLength: 10, ETag: '"b1946ac92492d2347c6235b4d2611184"', VersionId: 'v1' });
    claimSource.mockResolvedValue({ status: 'DUPLICATE', version: 1, state: 'REGISTERED', runId: 'first' });
    const out = await handler(event, context);
    expect(out).toMatchObject({
      status: 'DUPLICATE',
      existing: { version: 1, state: 'REGISTERED', runId: 'first' },
    });
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('fails with SourceChangedError when the object is gone', async () => {
    s3Mock
      .on(HeadObjectCommand)
      .rejects(
        Object.assign(new Error('Not Found'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }),
      );
    await expect(handler(event, context)).rejects.toBeInstanceOf(SourceChangedError);
    expect(claimSource).not.toHaveBeenCalled();
  });

  it('refuses a key outside raw/ by name, before reading it (its role may not)', async () => {
    const outside = structuredClone(event);
    outside.detail.object.key = 'curated/finetune/x.jsonl';
    await expect(handler(outside, context)).rejects.toBeInstanceOf(InvalidDatasetError);
    await expect(handler(outside, context)).rejects.toThrow(/not under raw\/<purpose>\//);
    expect(s3Mock.commandCalls(HeadObjectCommand)).toHaveLength(0);
  });

  it('names the missing field of a malformed event', async () => {
    await expect(handler({ detail: {} }, context)).rejects.toBeInstanceOf(InvalidEventError);
    await expect(handler({ detail: {} }, context)).rejects.toThrow(/detail-type|version|id/);
  });
});
