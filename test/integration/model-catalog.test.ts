import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { DescribeTableCommand, type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, NotFoundError, ValidationError } from '#aws/errors.ts';
import { ModelCatalog, parseSeed, seedHash } from '#aws/model-catalog.ts';
import { modelList, selectModelResponse } from '#contracts/http/schemas.ts';
import type { CatalogEvaluation, CatalogModel } from '#contracts/models/catalog.ts';
import { selectModel } from '#core/models/select.ts';
import { toModelList } from '#core/openai/models.ts';
import { createDynamoClient, type Emulators, startEmulators } from '#infra/local/emulators.ts';
import { createKeyTable, isolatedDocumentClients } from '../support/dynamo.ts';

/** The model catalog with a real DynamoDB client against dynalite, on a table keyed by `pk` only. */
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
  isolated.destroy();
  dynamo?.destroy();
  await emulators?.stop();
});

const isolated = isolatedDocumentClients(() => emulators.dynamoEndpoint);

/** A fresh table per test, created as the stack declares it. */
async function freshTable(): Promise<string> {
  return createKeyTable(dynamo, `models-it-${++tables}`, { sortKey: false });
}

const haiku: CatalogModel = {
  id: 'claude-haiku-4-5',
  provider: 'bedrock',
  modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
  kind: 'chat',
  contextWindow: 200_000,
  maxOutputTokens: 64_000,
  pricePer1kInputUsd: 0.001,
  pricePer1kOutputUsd: 0.005,
  features: ['streaming', 'toolUse', 'systemPrompt'],
  regions: ['us-east-1', 'us-west-2'],
  status: 'active',
  description: 'fast',
};
const offline: CatalogModel = {
  id: 'offline-extractive',
  provider: 'offline',
  modelId: 'extractive-v1',
  kind: 'chat',
  contextWindow: 32_000,
  maxOutputTokens: 2048,
  pricePer1kInputUsd: 0,
  pricePer1kOutputUsd: 0,
  features: ['streaming', 'systemPrompt'],
  regions: ['us-east-1'],
  status: 'active',
};
const titan: CatalogModel = {
  id: 'titan-embed-v2',
  provider: 'bedrock',
  modelId: 'amazon.titan-embed-text-v2:0',
  kind: 'embedding',
  contextWindow: 8192,
  maxOutputTokens: 0,
  dimensions: 1024,
  pricePer1kInputUsd: 0.00002,
  pricePer1kOutputUsd: 0,
  features: [],
  regions: ['us-east-1'],
  status: 'active',
};
const seed = [haiku, offline, titan];

function clocked(table: string, ttlMs = 30_000) {
  const clock = { now: Date.parse('2026-03-01T12:00:00.000Z') };
  return { catalog: new ModelCatalog(doc, table, { cacheTtlMs: ttlMs, now: () => clock.now }), clock };
}

const stored = async (table: string, id: string) =>
  (await doc.send(new GetCommand({ TableName: table, Key: { pk: id }, ConsistentRead: true }))).Item;

describe('ModelCatalog on dynalite', () => {
  it('seeds once: a second seed with the same models writes nothing', async () => {
    const table = await freshTable();
    const { catalog } = clocked(table);
    expect(await catalog.seed(seed)).toEqual({ written: [haiku.id, offline.id, titan.id], unchanged: [] });
    expect(await catalog.seed(seed)).toEqual({ written: [], unchanged: [haiku.id, offline.id, titan.id] });
    expect(await clocked(table).catalog.seed(seed)).toMatchObject({ written: [] });
    expect(await stored(table, haiku.id)).toMatchObject({
      pk: haiku.id,
      source: 'config',
      seedHash: seedHash(haiku),
      updatedAt: '2026-03-01T12:00:00.000Z',
      updatedBy: 'config-seed',
    });
  });

  it('lists models sorted by id without the storage fields, filtered by kind and status', async () => {
    const table = await freshTable();
    const { catalog } = clocked(table);
    await catalog.seed([titan, offline, haiku, { ...haiku, id: 'old-model', status: 'deprecated' }]);
    const all = await clocked(table).catalog.list();
    expect(all.map((m) => m.id)).toEqual([haiku.id, offline.id, 'old-model', titan.id]);
    expect(all[0]).toEqual(haiku);
    expect(modelList.safeParse(toModelList(all)).success).toBe(true);
    expect((await catalog.list({ kind: 'embedding' })).map((m) => m.id)).toEqual([titan.id]);
    expect((await catalog.list({ kind: 'chat', status: 'active' })).map((m) => m.id)).toEqual([
      haiku.id,
      offline.id,
    ]);
    const selection = selectModel(await catalog.list(), { features: ['toolUse'] });
    expect(selectModelResponse.safeParse(selection).success).toBe(true);
    expect(selection.model.id).toBe(haiku.id);
  });

  it('re-seeds a changed configuration entry, removing the fields it dropped', async () => {
    const table = await freshTable();
    const { catalog, clock } = clocked(table);
    await catalog.seed(seed);
    clock.now += 60_000;
    const { description: _, ...cheaper } = { ...haiku, pricePer1kInputUsd: 0.0008 };
    expect(await catalog.seed([cheaper, offline, titan])).toEqual({
      written: [haiku.id],
      unchanged: [offline.id, titan.id],
    });
    expect(await catalog.get(haiku.id)).toEqual(cheaper);
    expect(await stored(table, haiku.id)).toMatchObject({
      seedHash: seedHash(cheaper),
      updatedAt: '2026-03-01T12:01:00.000Z',
    });
  });

  it('never overwrites an entry edited through the API', async () => {
    const table = await freshTable();
    const { catalog } = clocked(table);
    await catalog.seed(seed);
    const edited = await catalog.put(
      { ...haiku, status: 'deprecated', pricePer1kInputUsd: 0.002 },
      'admin@corp',
    );
    expect(edited).toMatchObject({ id: haiku.id, status: 'deprecated', pricePer1kInputUsd: 0.002 });
    expect(await stored(table, haiku.id)).toMatchObject({ source: 'api', updatedBy: 'admin@corp' });
    expect(await stored(table, haiku.id)).not.toHaveProperty('seedHash');

    // A new configuration (a deploy) re-seeds: the admin's edit stays.
    const next = [{ ...haiku, pricePer1kInputUsd: 0.0009 }, offline, titan];
    const other = clocked(table).catalog;
    expect(await other.seed(next)).toEqual({ written: [], unchanged: [haiku.id, offline.id, titan.id] });
    expect(await other.get(haiku.id)).toMatchObject({ status: 'deprecated', pricePer1kInputUsd: 0.002 });
  });

  it('survives concurrent seeds from many cold starts, the same or a changed configuration', async () => {
    const table = await freshTable();
    const instances = Array.from({ length: 10 }, () => clocked(table).catalog);
    const results = await Promise.all(instances.map((c) => c.seed(seed)));
    // Each entry was written by exactly one instance.
    for (const model of seed) {
      expect(results.filter((r) => r.written.includes(model.id))).toHaveLength(1);
    }
    const changed = [{ ...offline, contextWindow: 64_000 }, haiku, titan];
    const again = await Promise.all(instances.map((c) => c.seed(changed)));
    expect(again.filter((r) => r.written.includes(offline.id))).toHaveLength(1);
    expect(again.flatMap((r) => r.written.filter((id) => id !== offline.id))).toEqual([]);
    expect((await clocked(table).catalog.get(offline.id)).contextWindow).toBe(64_000);
  });

  it('a seed racing an admin edit never undoes the edit', async () => {
    const table = await freshTable();
    const admin = clocked(table).catalog;
    await admin.seed(seed);
    // The admin edits the entry after the seed scanned the table and before it writes.
    const racing = isolated.create();
    racing.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'ScanCommand') {
          await admin.put({ ...haiku, description: 'pinned by an admin' }, 'admin');
        }
        return result;
      },
      { step: 'initialize' },
    );
    const seeder = new ModelCatalog(racing, table);
    const result = await seeder.seed([{ ...haiku, maxOutputTokens: 8192 }, offline, titan]);
    expect(result).toEqual({ written: [], unchanged: [haiku.id, offline.id, titan.id] });
    expect(await stored(table, haiku.id)).toMatchObject({
      source: 'api',
      description: 'pinned by an admin',
      maxOutputTokens: 64_000,
    });
  });

  it('keeps the evaluation score through seeds and edits that leave it out', async () => {
    const table = await freshTable();
    const { catalog } = clocked(table);
    await catalog.seed(seed);
    expect(await catalog.setEvaluationScore(offline.id, 0.71, 'eval-pipeline')).toMatchObject({
      evaluationScore: 0.71,
    });
    await catalog.seed([{ ...offline, maxOutputTokens: 4096 }]);
    expect(await catalog.get(offline.id)).toMatchObject({ maxOutputTokens: 4096, evaluationScore: 0.71 });
    await catalog.put({ ...offline, maxOutputTokens: 1024 }, 'admin');
    expect(await catalog.get(offline.id)).toMatchObject({ maxOutputTokens: 1024, evaluationScore: 0.71 });
    await expect(catalog.setEvaluationScore('ghost', 0.5, 'eval')).rejects.toBeInstanceOf(NotFoundError);
    await expect(catalog.setEvaluationScore(offline.id, 1.5, 'eval')).rejects.toBeInstanceOf(ValidationError);
  });

  it('records evaluations per suite: creates the map, adds to it, ignores a stale score, keeps them through seeds and edits', async () => {
    const table = await freshTable();
    const { catalog, clock } = clocked(table);
    await catalog.seed(seed);
    const first: CatalogEvaluation = {
      metric: 'f1',
      value: 0.78,
      ci: [0.74, 0.82],
      n: 114,
      runId: 'eval-1',
      at: '2026-03-01T11:00:00Z',
    };
    // No map yet: the whole map is written.
    const created = await catalog.recordEvaluation(haiku.id, 'support-qa', first, 'evaluation-pipeline');
    expect(created).toEqual({
      recorded: true,
      model: {
        ...haiku,
        evaluationScore: 0.78,
        evaluations: { 'support-qa': { ...first, at: '2026-03-01T11:00:00.000Z' } },
      },
    });
    // The map exists: another suite is added beside the first.
    clock.now += 1000;
    const rag = {
      ...first,
      metric: 'faithfulness',
      value: 0.91,
      runId: 'eval-2',
      at: '2026-03-01T11:30:00.000Z',
    };
    await catalog.recordEvaluation(haiku.id, 'rag-faq', rag, 'evaluation-pipeline');
    // A newer run on the first suite replaces its entry.
    const newer = { ...first, value: 0.8, runId: 'eval-3', at: '2026-03-01T11:45:00.000Z' };
    expect(
      (await catalog.recordEvaluation(haiku.id, 'support-qa', newer, 'evaluation-pipeline')).recorded,
    ).toBe(true);
    const evaluations = { 'support-qa': newer, 'rag-faq': rag };
    expect(await stored(table, haiku.id)).toMatchObject({
      evaluations,
      evaluationScore: 0.8,
      updatedAt: '2026-03-01T12:00:01.000Z',
      updatedBy: 'evaluation-pipeline',
    });

    // A late event (older run) and a redelivery (same run) change nothing.
    clock.now += 1000;
    for (const stale of [{ ...first, value: 0.1 }, newer]) {
      const result = await catalog.recordEvaluation(haiku.id, 'support-qa', stale, 'evaluation-pipeline');
      expect(result).toEqual({
        recorded: false,
        model: { ...haiku, evaluationScore: 0.8, evaluations },
      });
    }
    expect(await stored(table, haiku.id)).toMatchObject({ updatedAt: '2026-03-01T12:00:01.000Z' });
    await expect(
      catalog.recordEvaluation('ghost', 'support-qa', first, 'evaluation-pipeline'),
    ).rejects.toBeInstanceOf(NotFoundError);

    // Seeds and admin edits that leave them out keep the evaluations, as they keep evaluationScore.
    await catalog.seed([{ ...haiku, maxOutputTokens: 8192 }, offline, titan]);
    expect(await catalog.get(haiku.id)).toMatchObject({ maxOutputTokens: 8192, evaluations });
    await catalog.put({ ...haiku, maxOutputTokens: 4096 }, 'admin');
    expect(await catalog.get(haiku.id)).toMatchObject({ maxOutputTokens: 4096, evaluations });

    // GET /v1/models carries them; selection ranks on them.
    const models = await clocked(table).catalog.list();
    expect(modelList.parse(toModelList(models)).data[0]).toMatchObject({ id: haiku.id, evaluations });
    const selection = selectModel(models, { rankBy: { suite: 'rag-faq' } });
    expect(selection).toMatchObject({
      model: { id: haiku.id },
      rankedBy: { suite: 'rag-faq', metric: 'faithfulness', value: 0.91 },
    });
    expect(selectModelResponse.safeParse(selection).success).toBe(true);
  });

  it('creates the evaluations map once when two first evaluations race', async () => {
    const table = await freshTable();
    const { catalog } = clocked(table);
    await catalog.seed([offline]);
    const score = (suite: string, value: number): CatalogEvaluation => ({
      metric: 'f1',
      value,
      ci: [value, value],
      n: 10,
      runId: `eval-${suite}`,
      at: '2026-03-01T11:00:00.000Z',
    });
    const suites = ['a', 'b', 'c', 'd', 'e'];
    const results = await Promise.all(
      suites.map((suite, i) =>
        clocked(table).catalog.recordEvaluation(
          offline.id,
          suite,
          score(suite, i / 10),
          'evaluation-pipeline',
        ),
      ),
    );
    expect(results.every((r) => r.recorded)).toBe(true);
    expect(Object.keys((await catalog.get(offline.id)).evaluations ?? {}).sort()).toEqual(suites);
  });

  it('caches the list for the TTL; its own writes apply at once', async () => {
    const table = await freshTable();
    const { catalog: reader, clock } = clocked(table, 30_000);
    const writer = clocked(table).catalog;
    await writer.seed([haiku]);
    expect((await reader.list()).map((m) => m.id)).toEqual([haiku.id]);
    await writer.put(offline, 'admin');
    clock.now += 29_999;
    expect((await reader.list()).map((m) => m.id)).toEqual([haiku.id]);
    clock.now += 2;
    expect((await reader.list()).map((m) => m.id)).toEqual([haiku.id, offline.id]);
    await reader.put(titan, 'admin');
    expect((await reader.list()).map((m) => m.id)).toEqual([haiku.id, offline.id, titan.id]);
  });

  it('shares one scan between concurrent readers and serves reads from the cache', async () => {
    const table = await freshTable();
    await clocked(table).catalog.seed(seed);
    let calls = 0;
    const counting = isolated.create();
    counting.middlewareStack.add(
      (next) => async (args) => {
        calls++;
        return next(args);
      },
      { step: 'initialize' },
    );
    const catalog = new ModelCatalog(counting, table);
    await Promise.all(Array.from({ length: 10 }, () => catalog.list()));
    expect(calls).toBe(1);
    expect((await catalog.get(titan.id)).dimensions).toBe(1024);
    expect(calls).toBe(1);
    // A seed at cold start fills the cache with its one scan.
    const cold = new ModelCatalog(counting, table);
    await cold.seed(seed);
    await cold.list({ kind: 'chat' });
    expect(calls).toBe(2);
  });

  it('reads one model, and says where to look when it is unknown', async () => {
    const table = await freshTable();
    const { catalog } = clocked(table);
    await catalog.seed(seed);
    expect(await catalog.get(titan.id)).toEqual(titan);
    const error = await catalog.get('gpt-x').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toBe('Model gpt-x is not in the catalog; GET /v1/models lists them');
    // A model added by another instance is found before the cached list expires.
    await clocked(table).catalog.put({ ...offline, id: 'added-elsewhere' }, 'admin');
    expect((await catalog.get('added-elsewhere')).id).toBe('added-elsewhere');
  });

  it('refuses an invalid admin edit, naming the field', async () => {
    const table = await freshTable();
    const { catalog } = clocked(table);
    await expect(catalog.put({ ...haiku, contextWindow: -1 }, 'admin')).rejects.toMatchObject({
      name: 'ValidationError',
      field: 'contextWindow',
    });
    await expect(catalog.put({ ...haiku, id: 'Bad Id' }, 'admin')).rejects.toMatchObject({ field: 'id' });
    expect(await catalog.list()).toEqual([]);
  });
});

describe('createKeyTable', () => {
  it('resolves only once the table is ACTIVE, so that the first call on it finds it', async () => {
    // A dynalite that keeps new tables CREATING for a while: the window the tests would otherwise race.
    const dynalite = createRequire(import.meta.url)('dynalite') as (options: object) => Server;
    const server = dynalite({ createTableMs: 300 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const slow = createDynamoClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      const table = await createKeyTable(slow, 'models-it-slow', { sortKey: false });
      const { Table } = await slow.send(new DescribeTableCommand({ TableName: table }));
      expect(Table?.TableStatus).toBe('ACTIVE');
      await expect(slow.send(new ScanCommand({ TableName: table }))).resolves.toMatchObject({ Count: 0 });
    } finally {
      slow.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('parseSeed', () => {
  it('parses a JSON array of models', () => {
    expect(parseSeed(JSON.stringify(seed))).toEqual(seed);
    expect(ModelCatalog.parseSeed('[]')).toEqual([]);
  });

  it.each([
    ['text that is not JSON', 'not json', 'model catalog seed is not valid JSON'],
    ['an object', '{}', 'model catalog seed must be a JSON array of catalog models'],
    [
      'a price as a string',
      JSON.stringify([haiku, { ...offline, pricePer1kInputUsd: '0' }]),
      '[1] (offline-extractive).pricePer1kInputUsd: must be number',
    ],
    [
      'an unknown provider',
      JSON.stringify([{ ...haiku, provider: 'openai' }]),
      '[0] (claude-haiku-4-5).provider: must be one of bedrock, sagemaker, offline',
    ],
    [
      'a misspelt field',
      JSON.stringify([{ ...haiku, contextWindw: 1 }]),
      '[0] (claude-haiku-4-5): unknown field contextWindw',
    ],
    [
      'a duplicate id',
      JSON.stringify([haiku, offline, haiku]),
      '[2] (claude-haiku-4-5).id: duplicates the id of [0]',
    ],
    ['a missing id', JSON.stringify([{ ...haiku, id: undefined }]), '[0].id: must be string'],
  ])('refuses %s', (_, json, message) => {
    let error: unknown;
    try {
      parseSeed(json);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(message);
  });

  it('names the source it was given', () => {
    expect(() => parseSeed('[1]', 'MODEL_CATALOG_SEED')).toThrow(
      /^MODEL_CATALOG_SEED: \[0\]: must be object$/,
    );
  });
});
