import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ModelCatalog, SEED_AUTHOR, seedHash, seedOnce } from '#aws/model-catalog.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';

/**
 * The chat function seeds the catalog in `insert` mode: its role may put items but not update or delete
 * them, so every seed write it makes must be a put conditioned on the item not existing.
 */
const TABLE = 'catalog-test';
const NOW = Date.parse('2026-03-01T12:00:00Z');
const docMock = mockClient(DynamoDBDocumentClient);

const model = (id: string, extra: Partial<CatalogModel> = {}): CatalogModel => ({
  id,
  provider: 'bedrock',
  modelId: `us.amazon.${id}-v1:0`,
  kind: 'chat',
  contextWindow: 128_000,
  maxOutputTokens: 4_096,
  pricePer1kInputUsd: 0.001,
  pricePer1kOutputUsd: 0.002,
  features: ['streaming'],
  regions: ['us-east-1'],
  status: 'active',
  ...extra,
});

/** A stored catalog item, as a seed (source config) or an admin edit (source api) left it. */
const stored = (m: CatalogModel, source: 'config' | 'api', hash = seedHash(m)) => ({
  ...m,
  pk: m.id,
  source,
  ...(source === 'config' ? { seedHash: hash } : {}),
  updatedAt: '2026-01-01T00:00:00.000Z',
  updatedBy: source === 'config' ? SEED_AUTHOR : 'admin',
});

function catalogHolding(...items: Record<string, unknown>[]): ModelCatalog {
  docMock.on(ScanCommand).resolves({ Items: items });
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
  return new ModelCatalog(doc, TABLE, { now: () => NOW });
}

const writes = () => [
  ...docMock.commandCalls(UpdateCommand),
  ...docMock.commandCalls(DeleteCommand),
  ...docMock.commandCalls(BatchWriteCommand),
];

beforeEach(() => {
  docMock.reset();
  docMock.on(PutCommand).resolves({});
  docMock.on(UpdateCommand).resolves({});
});

describe('ModelCatalog.seed in insert mode (the chat function)', () => {
  it('writes a missing entry with a PutItem conditioned on attribute_not_exists(pk), and nothing else', async () => {
    const catalog = catalogHolding();
    const entry = model('nova-lite', { description: undefined });

    const result = await catalog.seed([entry], { mode: 'insert' });

    expect(result).toEqual({ written: ['nova-lite'], unchanged: [] });
    const puts = docMock.commandCalls(PutCommand);
    expect(puts).toHaveLength(1);
    expect(puts[0]?.args[0].input).toEqual({
      TableName: TABLE,
      ConditionExpression: 'attribute_not_exists(pk)',
      Item: {
        ...entry,
        pk: 'nova-lite',
        source: 'config',
        seedHash: seedHash(entry),
        updatedAt: new Date(NOW).toISOString(),
        updatedBy: SEED_AUTHOR,
      },
    });
    expect(Object.keys(puts[0]?.args[0].input.Item ?? {})).not.toContain('description');
    expect(writes()).toEqual([]);
  });

  it('never touches a stored entry: neither a configuration entry whose seed changed nor an admin edit', async () => {
    const changed = model('nova-pro');
    const edited = model('claude-haiku');
    const catalog = catalogHolding(
      stored(changed, 'config', 'sha-of-an-older-seed'),
      stored({ ...edited, pricePer1kInputUsd: 9 }, 'api'),
    );

    const result = await catalog.seed([changed, edited, model('nova-micro')], { mode: 'insert' });

    expect(result).toEqual({ written: ['nova-micro'], unchanged: ['claude-haiku', 'nova-pro'] });
    expect(docMock.commandCalls(PutCommand).map((c) => c.args[0].input.Item?.pk)).toEqual(['nova-micro']);
    for (const call of docMock.commandCalls(PutCommand)) {
      expect(call.args[0].input.ConditionExpression).toBe('attribute_not_exists(pk)');
    }
    expect(writes()).toEqual([]);
  });

  it('counts an entry a concurrent seed or an admin created meanwhile as unchanged (the put is refused)', async () => {
    const catalog = catalogHolding();
    docMock
      .on(PutCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    await expect(catalog.seed([model('nova-lite')], { mode: 'insert' })).resolves.toEqual({
      written: [],
      unchanged: ['nova-lite'],
    });
    expect(writes()).toEqual([]);
  });

  it('rethrows any other write failure (seedOnce logs it and retries on the next request)', async () => {
    const catalog = catalogHolding();
    const denied = Object.assign(new Error('not authorized to perform: dynamodb:PutItem'), {
      name: 'AccessDeniedException',
    });
    docMock.on(PutCommand).rejects(denied);

    await expect(catalog.seed([model('nova-lite')], { mode: 'insert' })).rejects.toThrow(/dynamodb:PutItem/);
  });
});

describe('ModelCatalog.seed in upsert mode (the models function, the default)', () => {
  it('still rewrites a configuration entry whose seed changed, with a conditional UpdateItem', async () => {
    const changed = model('nova-pro');
    const catalog = catalogHolding(stored(changed, 'config', 'sha-of-an-older-seed'));

    await expect(catalog.seed([changed])).resolves.toEqual({ written: ['nova-pro'], unchanged: [] });

    const updates = docMock.commandCalls(UpdateCommand);
    expect(updates).toHaveLength(1);
    expect(updates[0]?.args[0].input.ConditionExpression).toBe(
      'attribute_not_exists(pk) OR (#source = :config AND #seedHash <> :hash)',
    );
    expect(docMock.commandCalls(PutCommand)).toEqual([]);
  });
});

describe('seedOnce', () => {
  it('seeds in the mode it was given', async () => {
    const seed = vi.fn().mockResolvedValue({ written: [], unchanged: [] });
    const models = [model('nova-lite')];

    await seedOnce({ seed }, models, { mode: 'insert' })();
    await seedOnce({ seed }, models)();

    expect(seed.mock.calls).toEqual([
      [models, { mode: 'insert' }],
      [models, {}],
    ]);
  });
});
