import { createConnection } from 'node:net';
import { GetItemCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertLoopback,
  createDynamoClient,
  createS3Client,
  EmulatorError,
  type Emulators,
  localAwsEnv,
  provision,
  startEmulators,
} from '#infra/local/emulators.ts';
import { LocalTemplate } from '#infra/local/template.ts';
import { sampleTemplate } from './fixtures.ts';

describe('emulators', () => {
  let emulators: Emulators;
  const template = new LocalTemplate(sampleTemplate(), { namePrefix: 'emu' });

  beforeAll(async () => {
    emulators = await startEmulators();
  });
  afterAll(async () => {
    await emulators.stop();
  });

  it('listen on 127.0.0.1 with OS-chosen ports', () => {
    expect(emulators.dynamoEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(emulators.s3Endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(emulators.dynamoEndpoint).not.toBe(emulators.s3Endpoint);
  });

  it('provision creates the declared tables (with GSI) and buckets, idempotently', async () => {
    const dynamo = createDynamoClient(emulators.dynamoEndpoint);
    const s3 = createS3Client(emulators.s3Endpoint);
    try {
      const first = await provision(template, { dynamo, s3 });
      expect(first).toEqual({
        tables: ['DatasetsTableF00D1234'],
        buckets: ['emu-rawbucketa1b2c3d4', 'emu-curatedbucket0f1e2d3c'],
      });
      await expect(provision(template, { dynamo, s3 })).resolves.toEqual(first);

      await dynamo.send(
        new PutItemCommand({
          TableName: 'DatasetsTableF00D1234',
          Item: { pk: { S: 'dataset#docs' }, sk: { S: 'v#1' }, gsi1pk: { S: 'purpose#rag' } },
        }),
      );
      const got = await dynamo.send(
        new GetItemCommand({
          TableName: 'DatasetsTableF00D1234',
          Key: { pk: { S: 'dataset#docs' }, sk: { S: 'v#1' } },
        }),
      );
      expect(got.Item?.gsi1pk?.S).toBe('purpose#rag');
      const byIndex = await dynamo.send(
        new QueryCommand({
          TableName: 'DatasetsTableF00D1234',
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :p',
          ExpressionAttributeValues: { ':p': { S: 'purpose#rag' } },
        }),
      );
      expect(byIndex.Items).toHaveLength(1);

      const body = `${'line of text\n'.repeat(2000)}last`;
      await s3.send(
        new PutObjectCommand({ Bucket: 'emu-rawbucketa1b2c3d4', Key: 'raw/a.jsonl', Body: body }),
      );
      const object = await s3.send(
        new GetObjectCommand({ Bucket: 'emu-rawbucketa1b2c3d4', Key: 'raw/a.jsonl' }),
      );
      expect(await object.Body?.transformToString()).toBe(body);
      await expect(
        s3.send(new HeadBucketCommand({ Bucket: 'emu-curatedbucket0f1e2d3c' })),
      ).resolves.toBeDefined();
    } finally {
      dynamo.destroy();
      s3.destroy();
    }
  });

  it('reports S3 object notifications', async () => {
    const s3 = createS3Client(emulators.s3Endpoint);
    const dynamo = createDynamoClient(emulators.dynamoEndpoint);
    const events: unknown[] = [];
    const unsubscribe = emulators.onS3Event((event) => events.push(event));
    try {
      await provision(template, { dynamo, s3 });
      await s3.send(new PutObjectCommand({ Bucket: 'emu-rawbucketa1b2c3d4', Key: 'raw/b.txt', Body: 'x' }));
      unsubscribe();
      await s3.send(new PutObjectCommand({ Bucket: 'emu-rawbucketa1b2c3d4', Key: 'raw/c.txt', Body: 'y' }));
    } finally {
      s3.destroy();
      dynamo.destroy();
    }
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      Records: [
        {
          eventName: 'ObjectCreated:Put',
          s3: { bucket: { name: 'emu-rawbucketa1b2c3d4' }, object: { key: 'raw/b.txt' } },
        },
      ],
    });
  });

  it('localAwsEnv points SDK clients at the emulators', () => {
    expect(localAwsEnv(emulators, 'http://127.0.0.1:4010')).toEqual({
      AWS_ENDPOINT_URL_S3: emulators.s3Endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamoEndpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: 'http://127.0.0.1:4010',
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
      LLMOPS_S3_FORCE_PATH_STYLE: 'true',
    });
  });

  it('refuses endpoints that are not on loopback', () => {
    expect(() => createS3Client('https://s3.amazonaws.com')).toThrow(EmulatorError);
    expect(() => assertLoopback('http://10.0.0.1:8000')).toThrow(/127\.0\.0\.1/);
    expect(() => localAwsEnv(emulators, 'https://events.us-east-1.amazonaws.com')).toThrow(EmulatorError);
  });
});

describe('emulators stop()', () => {
  it('closes both servers even with keep-alive clients, and is idempotent', async () => {
    const emulators = await startEmulators();
    const dynamo = createDynamoClient(emulators.dynamoEndpoint);
    const s3 = createS3Client(emulators.s3Endpoint);
    const template = new LocalTemplate(sampleTemplate(), { namePrefix: 'stop' });
    await provision(template, { dynamo, s3 }); // leaves keep-alive sockets open
    const before = process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
    await emulators.stop();
    await emulators.stop();
    const after = process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
    expect(before - after).toBe(2);
    await expect(canConnect(emulators.dynamoEndpoint)).resolves.toBe(false);
    await expect(canConnect(emulators.s3Endpoint)).resolves.toBe(false);
    dynamo.destroy();
    s3.destroy();
  });

  it('persists data under dataDir across restarts', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dataDir = await mkdtemp(join(tmpdir(), 'llmops-emu-test-'));
    const template = new LocalTemplate(sampleTemplate(), { namePrefix: 'persist' });
    try {
      const first = await startEmulators({ dataDir });
      const s3a = createS3Client(first.s3Endpoint);
      const dynamoA = createDynamoClient(first.dynamoEndpoint);
      await provision(template, { dynamo: dynamoA, s3: s3a });
      await s3a.send(new PutObjectCommand({ Bucket: 'persist-rawbucketa1b2c3d4', Key: 'k', Body: 'kept' }));
      s3a.destroy();
      dynamoA.destroy();
      await first.stop();

      const second = await startEmulators({ dataDir });
      const s3b = createS3Client(second.s3Endpoint);
      const dynamoB = createDynamoClient(second.dynamoEndpoint);
      await provision(template, { dynamo: dynamoB, s3: s3b });
      const object = await s3b.send(new GetObjectCommand({ Bucket: 'persist-rawbucketa1b2c3d4', Key: 'k' }));
      expect(await object.Body?.transformToString()).toBe('kept');
      s3b.destroy();
      dynamoB.destroy();
      await second.stop();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

function canConnect(endpoint: string): Promise<boolean> {
  const { port } = new URL(endpoint);
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
