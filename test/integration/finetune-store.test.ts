import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '#aws/errors.ts';
import {
  DynamoFinetuneJobStore,
  FINETUNE_JOBS_INDEX,
  FinetuneJobStatusError,
} from '#aws/finetune/job-store.ts';
import type { FinetuneJob } from '#contracts/finetune/job.ts';
import { createDynamoClient, type Emulators, startEmulators } from '#infra/local/emulators.ts';
import { errorOf } from '../support/async.ts';
import { createIndexedTable } from '../support/dynamo.ts';

/**
 * The fine-tuning job store with a real DynamoDB document client against dynalite, on a table shaped as
 * the stack's (`projectTable(..., {sortKey: true, gsi: 'gsi1'})`). Each test gets a table of its own.
 */
let emulators: Emulators;
let dynamo: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let tables = 0;

beforeAll(async () => {
  emulators = await startEmulators();
  dynamo = createDynamoClient(emulators.dynamoEndpoint);
  doc = DynamoDBDocumentClient.from(dynamo);
});

afterAll(async () => {
  dynamo?.destroy();
  await emulators?.stop();
});

async function freshStore() {
  const table = await createIndexedTable(dynamo, `finetune-${++tables}`, FINETUNE_JOBS_INDEX);
  return {
    store: new DynamoFinetuneJobStore(doc, table, { now: () => new Date('2026-12-01T10:00:00.000Z') }),
    table,
  };
}

const id = (n: number) => `ft-${n.toString(16).padStart(16, '0')}`;
const job = (n: number, overrides: Partial<FinetuneJob> = {}): FinetuneJob => ({
  jobId: id(n),
  status: 'training',
  trigger: 'dataset',
  requestedBy: 'dataset:support-chats:v3',
  dataset: {
    name: 'support-chats',
    version: 3,
    purpose: 'finetune',
    contentHash: `sha256:${'a'.repeat(64)}`,
  },
  baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
  recipe: 'sft-lora',
  hyperparameters: { epochs: 3, learning_rate: 0.0002 },
  trainingJob: { name: `llmops-dev-${id(n)}`, spot: true },
  createdAt: new Date(Date.UTC(2026, 10, 1, 0, n)).toISOString(),
  updatedAt: new Date(Date.UTC(2026, 10, 1, 0, n)).toISOString(),
  ...overrides,
});

describe('DynamoFinetuneJobStore', () => {
  it('claims a job once: a second claim finds it and leaves it as it is', async () => {
    const { store, table } = await freshStore();
    expect(await store.claim(job(1))).toBe('created');
    expect(await store.claim(job(1, { requestedBy: 'someone else' }))).toBe('exists');
    expect(await store.get(id(1))).toEqual(job(1));
    const { Item } = await doc.send(
      new GetCommand({ TableName: table, Key: { pk: `job#${id(1)}`, sk: 'job' } }),
    );
    expect(Item).toMatchObject({ gsi1pk: 'jobs', gsi1sk: `${job(1).createdAt}#${id(1)}` });
  });

  it('moves a job only from the status it expects, and sets updatedAt', async () => {
    const { store } = await freshStore();
    await store.claim(job(2));
    const moved = await store.update(
      id(2),
      {
        status: 'registered',
        modelPackageArn: 'arn:p',
        trainingJob: { name: 't', spot: true, billableSeconds: 12 },
      },
      { expectStatus: ['training', 'registered'] },
    );
    expect(moved).toMatchObject({
      status: 'registered',
      modelPackageArn: 'arn:p',
      updatedAt: '2026-12-01T10:00:00.000Z',
    });
    const error = await errorOf(
      store.update(id(2), { status: 'approved' }, { expectStatus: 'awaiting_approval' }),
    );
    expect(error).toBeInstanceOf(FinetuneJobStatusError);
    expect((error as FinetuneJobStatusError).status).toBe('registered');
    expect((error as Error).message).toContain('is registered, not awaiting_approval');
    expect((await store.get(id(2)))?.status).toBe('registered');
  });

  it('answers NotFoundError for a move of a job that does not exist', async () => {
    const { store } = await freshStore();
    expect(await errorOf(store.update(id(3), { status: 'failed' }))).toBeInstanceOf(NotFoundError);
    expect(await store.get(id(3))).toBeUndefined();
  });

  it('finds a job by its candidate run id', async () => {
    const { store } = await freshStore();
    await store.claim(job(4));
    expect((await store.findByRunId(`candidate-${id(4)}`))?.jobId).toBe(id(4));
    expect(await store.findByRunId('nightly-run')).toBeUndefined();
  });

  it('lists jobs newest first, page by page, with tokens that resume where the page ended', async () => {
    const { store } = await freshStore();
    for (let n = 1; n <= 5; n++) await store.claim(job(n));
    const first = await store.list({ limit: 2 });
    expect(first.items.map((j) => j.jobId)).toEqual([id(5), id(4)]);
    expect(first.nextToken).toBeDefined();
    const second = await store.list({ limit: 2, nextToken: first.nextToken as string });
    expect(second.items.map((j) => j.jobId)).toEqual([id(3), id(2)]);
    const last = await store.list({ limit: 2, nextToken: second.nextToken as string });
    expect(last.items.map((j) => j.jobId)).toEqual([id(1)]);
    expect(last.nextToken).toBeUndefined();
  });

  it('refuses a forged or foreign token and a limit out of range, naming the parameter', async () => {
    const { store } = await freshStore();
    const forged = Buffer.from(
      JSON.stringify({
        v: 1,
        l: 'finetune-jobs',
        q: '[]',
        k: { pk: 'job#x', sk: 'job', gsi1pk: 'jobs', gsi1sk: 'x' },
      }),
    ).toString('base64url');
    const error = await errorOf(store.list({ nextToken: forged }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('nextToken');
    expect(((await errorOf(store.list({ limit: 0 }))) as ValidationError).field).toBe('limit');
  });
});
