import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError } from '#aws/errors.ts';
import {
  DynamoRolloutCatalog,
  DynamoRolloutStore,
  InvalidCatalogEntryError,
  type RolloutRecord,
} from '#aws/finetune/rollout-store.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import { createDynamoClient, type Emulators, startEmulators } from '#infra/local/emulators.ts';
import { errorOf } from '../support/async.ts';
import { createKeyTable } from '../support/dynamo.ts';

/**
 * The rollout store and the rollout's catalog writes with a real DynamoDB document client against
 * dynalite: the rollout table as the stack declares it (string `pk` and `sk`), the catalog keyed by `pk`.
 * Each test gets tables of its own.
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
  const table = await createKeyTable(dynamo, `rollouts-${++tables}`, { sortKey: true });
  return { store: new DynamoRolloutStore(doc, table), table };
}

async function freshCatalog() {
  const table = await createKeyTable(dynamo, `catalog-rollout-${++tables}`, { sortKey: false });
  return { catalog: new DynamoRolloutCatalog(doc, table), table };
}

const SERVED = 'support-assistant';
const AT = '2026-11-22T10:31:44.000Z';

const record = (rolloutId: string, overrides: Partial<RolloutRecord> = {}): RolloutRecord => ({
  rolloutId,
  servedModel: SERVED,
  candidateModel: 'support-assistant-ft4',
  jobId: 'ft-job-4',
  modelPackageArn: 'arn:aws:sagemaker:us-east-1:123456789012:model-package/llmops-dev-support-assistant/4',
  inferenceComponent: 'LlmOps-dev-support-assistant-ft4',
  endpoint: 'LlmOps-dev-llm',
  share: 0.2,
  bakeSeconds: 1800,
  startedAt: AT,
  bakeUntil: '2026-11-22T11:01:44.000Z',
  initial: false,
  previous: { model: 'support-assistant-ft3', inferenceComponent: 'LlmOps-dev-support-assistant-ft3' },
  breaches: [],
  status: 'canary',
  ...overrides,
});

const model = (id: string, component: string, extra: Partial<CatalogModel> = {}): CatalogModel => ({
  id,
  provider: 'sagemaker',
  modelId: 'LlmOps-dev-llm',
  inferenceComponent: component,
  kind: 'chat',
  contextWindow: 32_768,
  maxOutputTokens: 2048,
  pricePer1kInputUsd: 0,
  pricePer1kOutputUsd: 0,
  features: ['streaming'],
  regions: ['us-east-1'],
  status: 'active',
  ...extra,
});

const lineage = {
  jobId: 'ft-job-4',
  modelPackageArn: 'arn:aws:sagemaker:us-east-1:123456789012:model-package/llmops-dev-support-assistant/4',
  baseModel: 'qwen2-5-1-5b-instruct',
  recipe: 'sft-lora',
  dataset: { name: 'support-chats', version: '3' },
  placeholder: false,
};

describe('DynamoRolloutStore', () => {
  it('creates a rollout once and reads it back as written', async () => {
    const { store } = await freshStore();
    expect(await store.create(record('rollout-a'))).toBe('created');
    expect(await store.create(record('rollout-a', { share: 0.5 }))).toBe('exists');
    expect(await store.get(SERVED, 'rollout-a')).toEqual(record('rollout-a'));
    expect(await store.get(SERVED, 'rollout-missing')).toBeUndefined();
  });

  it('lets one rollout at a time hold the lock of a served model, the holder again, and names the holder', async () => {
    const { store } = await freshStore();
    expect(await store.acquireLock(SERVED, 'rollout-a', AT)).toEqual({ acquired: true });
    expect(await store.acquireLock(SERVED, 'rollout-a', AT)).toEqual({ acquired: true });
    expect(await store.acquireLock(SERVED, 'rollout-b', AT)).toEqual({
      acquired: false,
      holder: 'rollout-a',
    });
    expect(await store.acquireLock('other-model', 'rollout-b', AT)).toEqual({ acquired: true });
    expect((await store.activeRollouts()).sort((a, b) => a.servedModel.localeCompare(b.servedModel))).toEqual(
      [
        { servedModel: 'other-model', rolloutId: 'rollout-b' },
        { servedModel: SERVED, rolloutId: 'rollout-a' },
      ],
    );
    expect(await store.releaseLock(SERVED, 'rollout-b')).toBe(false);
    expect(await store.releaseLock(SERVED, 'rollout-a')).toBe(true);
    expect(await store.acquireLock(SERVED, 'rollout-b', AT)).toEqual({ acquired: true });
  });

  it('takes only one of two rollouts that lock at once', async () => {
    const { store } = await freshStore();
    const results = await Promise.all(
      ['rollout-a', 'rollout-b', 'rollout-c'].map((id) => store.acquireLock(SERVED, id, AT)),
    );
    expect(results.filter((r) => r.acquired)).toHaveLength(1);
  });

  it('records breaches as a set, only while the rollout is in canary', async () => {
    const { store } = await freshStore();
    await store.create(record('rollout-a'));
    expect(await store.recordBreach(SERVED, 'rollout-a', 'CanaryErrors')).toBe('recorded');
    expect(await store.recordBreach(SERVED, 'rollout-a', 'CanaryErrors')).toBe('exists');
    expect(await store.recordBreach(SERVED, 'rollout-a', 'CanaryLatency')).toBe('recorded');
    expect((await store.get(SERVED, 'rollout-a'))?.breaches).toEqual(['CanaryErrors', 'CanaryLatency']);
    await store.recordOutcome(SERVED, 'rollout-a', 'rolled_back', 'alarms', AT);
    expect(await store.recordBreach(SERVED, 'rollout-a', 'CanaryGuardrail')).toBe('closed');
    expect(await store.recordBreach(SERVED, 'rollout-missing', 'CanaryErrors')).toBe('closed');
  });

  it('moves a rollout to one outcome only; the same outcome again is a no-op', async () => {
    const { store } = await freshStore();
    await store.create(record('rollout-a'));
    await store.recordCheck(SERVED, 'rollout-a', {
      decision: 'promote',
      reason: 'ok',
      calls: 80,
      errors: 1,
      at: AT,
    });
    const promoted = await store.recordOutcome(SERVED, 'rollout-a', 'promoted', 'ok', AT);
    expect(promoted).toMatchObject({ status: 'promoted', reason: 'ok', decidedAt: AT, check: { calls: 80 } });
    expect(
      await store.recordOutcome(SERVED, 'rollout-a', 'promoted', 'again', '2026-11-23T00:00:00.000Z'),
    ).toMatchObject({ reason: 'ok', decidedAt: AT });
    expect(await errorOf(store.recordOutcome(SERVED, 'rollout-a', 'rolled_back', 'late', AT))).toBeInstanceOf(
      ConflictError,
    );
    expect(await errorOf(store.recordOutcome(SERVED, 'rollout-none', 'promoted', 'x', AT))).toBeInstanceOf(
      ConflictError,
    );
  });

  it('records the verification and finishes once, keeping the first finish time', async () => {
    const { store } = await freshStore();
    await store.create(record('rollout-a'));
    await store.recordVerification(SERVED, 'rollout-a', {
      inferenceComponent: 'LlmOps-dev-support-assistant-ft4',
      status: 'InService',
      artifactUrl: 's3://a/model.tar.gz',
      expectedArtifactUrl: 's3://a/model.tar.gz',
      endpointStatus: 'InService',
      matches: true,
      at: AT,
    });
    expect((await store.finish(SERVED, 'rollout-a', AT)).finishedAt).toBe(AT);
    const again = await store.finish(SERVED, 'rollout-a', '2026-11-23T00:00:00.000Z');
    expect(again).toMatchObject({ finishedAt: AT, verified: { matches: true } });
    expect(
      await errorOf(
        store.recordCheck(SERVED, 'rollout-none', {
          decision: 'continue',
          reason: '',
          calls: 0,
          errors: 0,
          at: AT,
        }),
      ),
    ).toBeInstanceOf(ConflictError);
  });

  it('keeps what serves the model now', async () => {
    const { store } = await freshStore();
    expect(await store.getCurrent(SERVED)).toBeUndefined();
    const current = {
      model: 'support-assistant-ft4',
      inferenceComponent: 'ic-4',
      rolloutId: 'rollout-a',
      at: AT,
    };
    await store.setCurrent(SERVED, current);
    expect(await store.getCurrent(SERVED)).toEqual(current);
    // The lock scan does not mistake it for a lock.
    expect(await store.activeRollouts()).toEqual([]);
  });
});

describe('DynamoRolloutCatalog', () => {
  const canary = (rolloutId: string) => ({
    model: 'support-assistant-ft4',
    inferenceComponent: 'LlmOps-dev-support-assistant-ft4',
    share: 0.2,
    rolloutId,
    calls: 0,
    errors: 0,
  });

  async function seeded() {
    const { catalog, table } = await freshCatalog();
    const put = async (m: CatalogModel) =>
      doc.send(
        new UpdateCommand({
          TableName: table,
          Key: { pk: m.id },
          UpdateExpression: `SET ${Object.keys(m)
            .map((k) => `#${k} = :${k}`)
            .join(', ')}, #source = :source`,
          ExpressionAttributeNames: {
            ...Object.fromEntries(Object.keys(m).map((k) => [`#${k}`, k])),
            '#source': 'source',
          },
          ExpressionAttributeValues: {
            ...Object.fromEntries(Object.entries(m).map(([k, v]) => [`:${k}`, v])),
            ':source': 'api',
          },
        }),
      );
    await put(model(SERVED, 'LlmOps-dev-support-assistant-ft3'));
    await put(model('support-assistant-ft4', 'LlmOps-dev-support-assistant-ft4', { lineage }));
    return { catalog, table };
  }

  /** The gateway's write: counts a candidate call while the canary is this rollout's. */
  async function countCall(table: string, rolloutId: string, failed: boolean) {
    await doc.send(
      new UpdateCommand({
        TableName: table,
        Key: { pk: SERVED },
        UpdateExpression: 'ADD canary.calls :one, canary.errors :failed',
        ConditionExpression: 'canary.rolloutId = :rid',
        ExpressionAttributeValues: { ':one': 1, ':failed': failed ? 1 : 0, ':rid': rolloutId },
      }),
    );
  }

  it('sets the canary once per served model, and the gateway counts into it', async () => {
    const { catalog, table } = await seeded();
    expect(await catalog.startCanary(SERVED, canary('rollout-a'), AT)).toEqual({ started: true });
    expect(await catalog.startCanary(SERVED, canary('rollout-a'), AT)).toEqual({ started: true });
    expect(await catalog.startCanary(SERVED, canary('rollout-b'), AT)).toEqual({
      started: false,
      holder: 'rollout-a',
    });
    expect(await catalog.startCanary('not-there', canary('rollout-b'), AT)).toEqual({
      started: false,
      holder: null,
    });
    await countCall(table, 'rollout-a', false);
    await countCall(table, 'rollout-a', true);
    expect((await catalog.get(SERVED))?.canary).toMatchObject({
      rolloutId: 'rollout-a',
      calls: 2,
      errors: 1,
    });
  });

  it('promotes in one write conditioned on the canary: component and lineage move, the canary goes', async () => {
    const { catalog, table } = await seeded();
    await catalog.startCanary(SERVED, canary('rollout-a'), AT);
    const candidate = { inferenceComponent: 'LlmOps-dev-support-assistant-ft4', lineage };
    expect(await errorOf(catalog.promote(SERVED, 'rollout-b', candidate, AT))).toBeInstanceOf(ConflictError);
    expect(await catalog.promote(SERVED, 'rollout-a', candidate, AT)).toBe('promoted');
    expect(await catalog.promote(SERVED, 'rollout-a', candidate, AT)).toBe('already');
    const served = await catalog.get(SERVED);
    expect(served).toMatchObject({ inferenceComponent: 'LlmOps-dev-support-assistant-ft4', lineage });
    expect(served?.canary).toBeUndefined();
    const { Item: item } = await doc.send(new GetCommand({ TableName: table, Key: { pk: SERVED } }));
    expect(item).toMatchObject({ updatedBy: 'rollout', source: 'api' });
    // The gateway's counting stops with the canary.
    expect(await errorOf(countCall(table, 'rollout-a', false))).toMatchObject({
      name: 'ConditionalCheckFailedException',
    });
  });

  it('refuses a canary share outside (0, 1]', async () => {
    const { catalog } = await seeded();
    await expect(catalog.startCanary(SERVED, { ...canary('rollout-a'), share: 0 }, AT)).rejects.toMatchObject(
      {
        field: 'canary.share',
      },
    );
    expect((await catalog.get(SERVED))?.canary).toBeUndefined();
  });

  it('clears only its own canary, and deprecates a candidate', async () => {
    const { catalog } = await seeded();
    await catalog.startCanary(SERVED, canary('rollout-a'), AT);
    expect(await catalog.clearCanary(SERVED, 'rollout-b', AT)).toBe(false);
    expect(await catalog.clearCanary(SERVED, 'rollout-a', AT)).toBe(true);
    expect(await catalog.clearCanary(SERVED, 'rollout-a', AT)).toBe(false);
    expect((await catalog.get(SERVED))?.inferenceComponent).toBe('LlmOps-dev-support-assistant-ft3');
    expect(await catalog.deprecate('support-assistant-ft4', AT)).toBe(true);
    expect((await catalog.get('support-assistant-ft4'))?.status).toBe('deprecated');
    expect(await catalog.deprecate('not-there', AT)).toBe(false);
  });

  it('creates the served entry of a first rollout from the candidate once, and removes it only while it serves it', async () => {
    const { catalog } = await seeded();
    const candidate = (await catalog.get('support-assistant-ft4')) as CatalogModel;
    expect(await catalog.createServed('tuned-assistant', { ...candidate, evaluationScore: 0.9 }, AT)).toBe(
      'created',
    );
    expect(await catalog.createServed('tuned-assistant', candidate, AT)).toBe('exists');
    const served = await catalog.get('tuned-assistant');
    expect(served).toEqual({ ...candidate, id: 'tuned-assistant' });
    expect(await catalog.removeServed('tuned-assistant', 'another-component')).toBe(false);
    expect(await catalog.removeServed('tuned-assistant', 'LlmOps-dev-support-assistant-ft4')).toBe(true);
    expect(await catalog.get('tuned-assistant')).toBeUndefined();
  });

  it('refuses a catalog entry that breaks the catalog schema, naming it', async () => {
    const { catalog, table } = await freshCatalog();
    await doc.send(
      new UpdateCommand({
        TableName: table,
        Key: { pk: 'broken' },
        UpdateExpression: 'SET id = :id',
        ExpressionAttributeValues: { ':id': 'broken' },
      }),
    );
    const error = await errorOf(catalog.get('broken'));
    expect(error).toBeInstanceOf(InvalidCatalogEntryError);
    expect((error as Error).message).toContain('broken');
  });
});
