import { createHash, randomBytes } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetRegistry, type DatasetVersionItem } from '#aws/dataset-registry.ts';
import { ConflictError } from '#aws/errors.ts';
import { readFrom, S3LineWriter, textLines } from '#aws/s3-io.ts';
import {
  createDynamoClient,
  createS3Client,
  type Emulators,
  provision,
  startEmulators,
} from '#infra/local/emulators.ts';
import { synthesizeTemplate } from '#infra/local/runner.ts';
import { LocalTemplate } from '#infra/local/template.ts';

/** The registry and the S3 streaming adapters with real SDK clients against dynalite and s3rver. */
let emulators: Emulators;
let dynamo: DynamoDBClient;
let s3: S3Client;
let registry: DatasetRegistry;

beforeAll(async () => {
  emulators = await startEmulators();
  dynamo = createDynamoClient(emulators.dynamoEndpoint);
  s3 = createS3Client(emulators.s3Endpoint);
  // The table is created exactly as the synthesized template declares it (keys, GSI).
  const template = new LocalTemplate(synthesizeTemplate().template, {
    namePrefix: 'it',
    ignoreFunctions: () => true,
  });
  await provision(template, { s3, dynamo });
  registry = new DatasetRegistry(DynamoDBDocumentClient.from(dynamo), template.tables()[0]?.TableName ?? '');
  await s3.send(new CreateBucketCommand({ Bucket: 'io-test' }));
});

afterAll(async () => {
  s3?.destroy();
  dynamo?.destroy();
  await emulators?.stop();
});

const source = (key: string, etag = 'e1', versionId?: string) => ({ bucket: 'raw', key, etag, versionId });
const item = (name: string, version: number, key: string, contentHash = 'sha256:aa'): DatasetVersionItem => ({
  name,
  purpose: 'rag',
  version,
  runId: `run-${version}`,
  createdAt: '2026-11-26T10:00:00.000Z',
  manifest: { bucket: 'curated', key: `datasets/rag/${name}/v${version}/manifest.json` },
  files: {},
  counts: { kept: 1 },
  contentHash,
  source: source(key),
});

describe('DatasetRegistry on dynalite', () => {
  it('concurrent deliveries of one object version yield exactly one claim', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        registry.claimSource(source('raw/rag/a.jsonl'), { name: 'a', purpose: 'rag' }, `run-${i}`),
      ),
    );
    const fresh = results.filter((r) => r.status === 'NEW');
    expect(fresh).toHaveLength(1);
    expect(results.filter((r) => r.status === 'DUPLICATE' && r.state === 'IN_PROGRESS')).toHaveLength(7);
  });

  it('concurrent uploads of different objects to one dataset get distinct, increasing versions', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        registry.claimSource(source(`raw/rag/b/${i}.jsonl`), { name: 'b', purpose: 'rag' }, `run-${i}`),
      ),
    );
    const versions = results.map((r) => r.version).sort((x, y) => x - y);
    expect(versions).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('registers immutable versions idempotently and refuses different content under the same number', async () => {
    await registry.claimSource(source('raw/rag/c.jsonl'), { name: 'c', purpose: 'rag' }, 'run-1');
    expect(await registry.registerVersion(item('c', 1, 'raw/rag/c.jsonl'))).toBe('created');
    expect(await registry.registerVersion(item('c', 1, 'raw/rag/c.jsonl'))).toBe('unchanged');
    await expect(
      registry.registerVersion(item('c', 1, 'raw/rag/c.jsonl', 'sha256:bb')),
    ).rejects.toBeInstanceOf(ConflictError);
    const redelivery = await registry.claimSource(
      source('raw/rag/c.jsonl'),
      { name: 'c', purpose: 'rag' },
      'run-2',
    );
    expect(redelivery).toEqual({ status: 'DUPLICATE', version: 1, state: 'REGISTERED', runId: 'run-1' });
    expect((await registry.listVersions('rag', 'c')).map((v) => v.contentHash)).toEqual(['sha256:aa']);
    expect((await registry.listByPurpose('rag')).some((v) => v.name === 'c')).toBe(true);
  });

  it('a released claim is taken over at once by the next delivery, keeping its version', async () => {
    const first = await registry.claimSource(
      source('raw/rag/e.jsonl'),
      { name: 'e', purpose: 'rag' },
      'run-1',
    );
    expect(await registry.releaseClaim(source('raw/rag/e.jsonl'), 'other-run', 'not mine')).toBe(false);
    expect(await registry.releaseClaim(source('raw/rag/e.jsonl'), 'run-1', 'NoValidRecordsError: ...')).toBe(
      true,
    );
    const retry = await registry.claimSource(
      source('raw/rag/e.jsonl'),
      { name: 'e', purpose: 'rag' },
      'run-2',
    );
    expect(first).toEqual({ status: 'NEW', version: 1 });
    expect(retry).toEqual({ status: 'NEW', version: 1 });
    const again = await registry.claimSource(
      source('raw/rag/e.jsonl'),
      { name: 'e', purpose: 'rag' },
      'run-3',
    );
    expect(again).toMatchObject({ status: 'DUPLICATE', state: 'IN_PROGRESS', runId: 'run-2' });
  });

  it('a claim whose run died is taken over after its lease, keeping its version', async () => {
    const shortLease = new DatasetRegistry(
      DynamoDBDocumentClient.from(dynamo),
      (registry as unknown as { tableName: string }).tableName,
      1000,
    );
    const first = await shortLease.claimSource(
      source('raw/rag/d.jsonl'),
      { name: 'd', purpose: 'rag' },
      'dead-run',
      new Date('2026-01-01T00:00:00Z'),
    );
    const retry = await shortLease.claimSource(
      source('raw/rag/d.jsonl'),
      { name: 'd', purpose: 'rag' },
      'new-run',
      new Date('2026-01-01T00:00:05Z'),
    );
    expect(first).toEqual({ status: 'NEW', version: 1 });
    expect(retry).toEqual({ status: 'NEW', version: 1 });
  });
});

describe('S3 streaming adapters on s3rver', () => {
  it('writes a multipart object line by line with a matching SHA-256, and reads ranges back', async () => {
    const writer = new S3LineWriter(s3, 'io-test', 'big.jsonl');
    const hash = createHash('sha256');
    let expected = 0;
    for (let i = 0; i < 40_000; i++) {
      const line = JSON.stringify({ i, pad: randomBytes(150).toString('base64') });
      hash.update(`${line}\n`);
      expected += Buffer.byteLength(line) + 1;
      await writer.writeLine(line);
    }
    const written = await writer.close();
    expect(written.bytes).toBe(expected);
    expect(written.bytes).toBeGreaterThan(8 * 1024 * 1024); // more than one 8 MiB part
    expect(written.sha256).toBe(hash.digest('hex'));
    const head = await s3.send(new GetObjectCommand({ Bucket: 'io-test', Key: 'big.jsonl' }));
    expect(head.ContentLength).toBe(expected);

    let count = 0;
    for await (const line of textLines(readFrom(s3, { bucket: 'io-test', key: 'big.jsonl' }, 0))) {
      expect(JSON.parse(line).i).toBe(count++);
    }
    expect(count).toBe(40_000);
    // A range read starts exactly where asked and can stop early.
    for await (const chunk of readFrom(s3, { bucket: 'io-test', key: 'big.jsonl' }, 1)) {
      expect(Buffer.from(chunk).subarray(0, 5).toString()).toBe('"i":0');
      break;
    }
  });
});
