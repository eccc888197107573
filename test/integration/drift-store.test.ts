import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDriftStore, MAX_RECENT_WINDOWS } from '#aws/drift/drift-store.ts';
import { ValidationError } from '#aws/errors.ts';
import type { DriftBaseline, DriftWindowResult } from '#contracts/drift/baseline.ts';
import { createDynamoClient, type Emulators, startEmulators } from '#infra/local/emulators.ts';
import { errorOf } from '../support/async.ts';
import { createKeyTable } from '../support/dynamo.ts';

/**
 * The drift store with a real DynamoDB document client against dynalite, on a table shaped as the house
 * project table (string `pk` and `sk`). Each test gets a table of its own.
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
  const table = await createKeyTable(dynamo, `drift-${++tables}`, { sortKey: true });
  return { store: new DynamoDriftStore(doc, table), table };
}

const baseline = (check: string, n: number, note?: string): Omit<DriftBaseline, 'version'> => ({
  check,
  source: { kind: 'window', from: '2026-11-20T00:00:00Z', to: '2026-11-21T00:00:00Z' },
  records: 100 + n,
  embedded: 100 + n,
  embeddingModel: 'amazon.titan-embed-text-v2:0',
  location: { bucket: 'artifacts', key: `drift/baselines/${check}/b-${n}.jsonl` },
  createdAt: '2026-11-21T00:05:00.000Z',
  createdBy: 'arn:aws:iam::123456789012:user/ops',
  ...(note !== undefined ? { note } : {}),
});

const window = (
  check: string,
  end: string,
  overrides: Partial<DriftWindowResult> = {},
): DriftWindowResult => ({
  check,
  window: { start: new Date(Date.parse(end) - 21_600_000).toISOString(), end },
  baseline: 1,
  status: 'checked',
  n: { reference: 200, current: 150 },
  drift: false,
  signals: {
    embedding: {
      score: 0.4,
      pValue: 0.3,
      threshold: 0.05 / 3,
      drift: false,
      insufficient: false,
      method: 'mmd',
    },
    descriptors: {
      score: null,
      pValue: null,
      threshold: 0.05,
      drift: false,
      insufficient: true,
      method: null,
    },
  },
  report: { bucket: 'artifacts', prefix: `drift/reports/${check}/${end}/` },
  checkedAt: end,
  ...overrides,
});

const END = (hour: number) => new Date(Date.UTC(2026, 11, 1, hour)).toISOString();

describe('DynamoDriftStore', () => {
  it('creates consecutive versions, each check on its own', async () => {
    const { store, table } = await freshStore();
    expect(await store.getBaseline('support')).toBeUndefined();
    const first = await store.createBaseline(baseline('support', 1, 'initial'));
    const second = await store.createBaseline(baseline('support', 2));
    const other = await store.createBaseline(baseline('billing', 1));
    expect(first).toEqual({ ...baseline('support', 1, 'initial'), version: 1 });
    expect(second.version).toBe(2);
    expect(other.version).toBe(1);
    // The item as it lies in the table: the keys of the house layout beside the record.
    const { Item } = await doc.send(
      new GetCommand({ TableName: table, Key: { pk: 'CHECK#support', sk: 'BASELINE#0000000002' } }),
    );
    expect(Item).toMatchObject({ type: 'DriftBaseline', version: 2, check: 'support' });
  });

  it('gives baselines created at once distinct consecutive versions', async () => {
    const { store } = await freshStore();
    const created = await Promise.all([1, 2, 3, 4].map((n) => store.createBaseline(baseline('support', n))));
    expect(created.map((b) => b.version).sort()).toEqual([1, 2, 3, 4]);
    // Each version holds the baseline its call created.
    for (const b of created) {
      expect(await store.getBaseline('support', b.version)).toEqual(b);
    }
  });

  it('reads the latest baseline, or a given version, without the storage attributes', async () => {
    const { store } = await freshStore();
    for (let n = 1; n <= 11; n++) await store.createBaseline(baseline('support', n));
    // Version 11 sorts after version 9 (zero-padded keys), so the latest is 11.
    const latest = await store.getBaseline('support');
    expect(latest).toEqual({ ...baseline('support', 11), version: 11 });
    for (const attribute of ['pk', 'sk', 'type']) expect(latest).not.toHaveProperty(attribute);
    expect(await store.getBaseline('support', 3)).toEqual({ ...baseline('support', 3), version: 3 });
    expect(await store.getBaseline('support', 12)).toBeUndefined();
    expect(await store.getBaseline('billing')).toBeUndefined();
  });

  it('refuses a version that is not a whole number from 1', async () => {
    const { store } = await freshStore();
    for (const version of [0, -1, 1.5, Number.NaN, 10 ** 10]) {
      const error = await errorOf(store.getBaseline('support', version));
      expect(error, String(version)).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('version');
    }
  });

  it('records a window once: a second record of it is exists and changes nothing', async () => {
    const { store } = await freshStore();
    const result = window('support', END(12));
    expect(await store.recordWindow(result)).toBe('created');
    expect(await store.recordWindow({ ...result, drift: true, checkedAt: END(13) })).toBe('exists');
    expect(await store.getWindow('support', END(12))).toEqual(result);
    expect(await store.getWindow('support', END(18))).toBeUndefined();
    // A window without a report keeps no report field.
    const unscored = window('support', END(18), { status: 'no-baseline', baseline: null, signals: {} });
    const { report: _report, ...withoutReport } = unscored;
    expect(await store.recordWindow(withoutReport)).toBe('created');
    expect(await store.getWindow('support', END(18))).toEqual(withoutReport);
  });

  it('lists a check’s latest windows newest first, up to the limit', async () => {
    const { store } = await freshStore();
    for (const hour of [6, 0, 18, 12]) await store.recordWindow(window('support', END(hour)));
    await store.recordWindow(window('billing', END(23)));
    await store.createBaseline(baseline('support', 1));
    const all = await store.recentWindows('support', 10);
    expect(all.map((w) => w.window.end)).toEqual([END(18), END(12), END(6), END(0)]);
    expect(all[0]).toEqual(window('support', END(18)));
    expect((await store.recentWindows('support', 2)).map((w) => w.window.end)).toEqual([END(18), END(12)]);
    expect(await store.recentWindows('nothing', 5)).toEqual([]);
  });

  it('refuses a limit that is not a whole number from 1 to the maximum', async () => {
    const { store } = await freshStore();
    for (const limit of [0, -3, 2.5, MAX_RECENT_WINDOWS + 1, Number.NaN]) {
      const error = await errorOf(store.recentWindows('support', limit));
      expect(error, String(limit)).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('limit');
    }
    expect(await store.recentWindows('support', MAX_RECENT_WINDOWS)).toEqual([]);
  });
});
