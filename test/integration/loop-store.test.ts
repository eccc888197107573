// The closed loop function's environment, set before its handler module is imported.
import '../support/env/loop.ts';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type DecisionRecord,
  DRIFT_EVIDENCE_DAYS,
  type DriftEvidence,
  DynamoLoopStore,
  LOOP_TTL_ATTRIBUTE,
  type RollbackRecord,
} from '#aws/loop/loop-store.ts';
import { PromptRegistry } from '#aws/prompt-registry.ts';
import type { LedgerPass } from '#core/loop/decide.ts';
import type { EvaluationCompletedDetail } from '#events/evaluation-completed.ts';
import { rolledBackDetail, rolledBackEvent } from '#events/rolled-back.ts';
import { loadSample, rawSample } from '#events/samples.ts';
import { LOOP_AUTHOR, makeHandler } from '#functions/loop/on-event.ts';
import {
  createDynamoClient,
  createS3Client,
  type Emulators,
  startEmulators,
} from '#infra/local/emulators.ts';
import { createKeyTable, isolatedDocumentClients } from '../support/dynamo.ts';

/**
 * The closed loop's store with a real DynamoDB document client against dynalite, on a table shaped as
 * the stack must declare it (string `pk` and `sk`; the TTL attribute `expiresAt`, which dynalite does not
 * expire, so expiry is checked on read), and the loop end to end on real tables: the store, the prompt
 * registry, and the reports in s3rver (EventBridge mocked). Each test gets tables of its own.
 */
let emulators: Emulators;
let dynamo: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let s3: S3Client;
let tables = 0;
const ARTIFACTS = 'loop-artifacts';
const clients = isolatedDocumentClients(() => emulators.dynamoEndpoint);

beforeAll(async () => {
  emulators = await startEmulators();
  dynamo = createDynamoClient(emulators.dynamoEndpoint);
  doc = DynamoDBDocumentClient.from(dynamo);
  s3 = createS3Client(emulators.s3Endpoint);
  await s3.send(new CreateBucketCommand({ Bucket: ARTIFACTS }));
});

afterAll(async () => {
  clients.destroy();
  dynamo?.destroy();
  s3?.destroy();
  await emulators?.stop();
});

const NOW = Date.parse('2026-12-05T00:09:30.000Z');

async function freshStore(now = () => NOW) {
  const table = await createKeyTable(dynamo, `loop-${++tables}`, { sortKey: true });
  return { store: new DynamoLoopStore(doc, table, { now }), table };
}

const EVIDENCE: DriftEvidence = {
  alarmName: 'LlmOps-dev-DriftAlarmalltrafficembedding',
  check: 'all-traffic',
  signal: 'embedding',
  value: 3.42,
  windowEnd: '2026-12-05T00:00:00.000Z',
  method: 'mmd',
};

const pass = (runId: string, version: number, at: string): LedgerPass => ({
  target: 'rag-answer',
  position: { version },
  label: 'production',
  runId,
  trigger: 'schedule',
  suite: { name: 'golden', version: 2 },
  items: { bucket: ARTIFACTS, key: `evaluations/${runId}/items.jsonl` },
  at,
});

const decision = (runId: string, overrides: Partial<DecisionRecord> = {}): DecisionRecord => ({
  runId,
  targetKey: 'rag-answer',
  status: 'decided',
  outcome: 'none',
  reason: 'no passing run of production on golden v2 to compare with',
  passed: false,
  decidedAt: '2026-12-05T00:09:30.000Z',
  ...overrides,
});

const rollback = (rollbackId: string, at: string, outcome: RollbackRecord['outcome'] = 'rolled_back') => ({
  ...loadSample('rolled-back', rolledBackEvent).detail,
  rollbackId,
  outcome,
  at,
  targetKey: 'rag-answer',
});

describe('the loop store', () => {
  it('keeps the first drift evidence of a run, with its expiry in epoch seconds, and hides it once expired', async () => {
    let now = NOW;
    const { store, table } = await freshStore(() => now);
    const expiresAt = new Date(NOW + DRIFT_EVIDENCE_DAYS * 86_400_000);
    expect(await store.putDriftEvidence('drift-all-traffic-20261205000000', EVIDENCE, expiresAt)).toBe(
      'created',
    );
    expect(
      await store.putDriftEvidence(
        'drift-all-traffic-20261205000000',
        { ...EVIDENCE, signal: 'quality', value: 9 },
        expiresAt,
      ),
    ).toBe('exists');
    expect(await store.getDriftEvidence('drift-all-traffic-20261205000000')).toEqual(EVIDENCE);
    const { Item: item } = await doc.send(
      new GetCommand({ TableName: table, Key: { pk: 'RUN#drift-all-traffic-20261205000000', sk: 'DRIFT' } }),
    );
    expect(item?.[LOOP_TTL_ATTRIBUTE]).toBe(Math.floor(expiresAt.getTime() / 1000));
    expect(await store.getDriftEvidence('drift-other')).toBeUndefined();
    // DynamoDB deletes expired items late (dynalite never): an expired one is not returned.
    now = expiresAt.getTime() + 1000;
    expect(await store.getDriftEvidence('drift-all-traffic-20261205000000')).toBeUndefined();
  });

  it('keeps evidence with no value or method', async () => {
    const { store } = await freshStore();
    await store.putDriftEvidence('r', { ...EVIDENCE, value: null, method: null }, new Date(NOW + 86_400_000));
    expect(await store.getDriftEvidence('r')).toEqual({ ...EVIDENCE, value: null, method: null });
  });

  it('records a pass once per target and run, and lists a target’s passes newest first', async () => {
    const { store } = await freshStore();
    expect(await store.recordPass(pass('sched-3', 3, '2026-12-02T06:10:00.000Z'))).toBe('created');
    expect(await store.recordPass(pass('sched-4', 4, '2026-12-04T06:10:00.000Z'))).toBe('created');
    expect(await store.recordPass(pass('api-2', 2, '2026-11-20T06:10:00.000Z'))).toBe('created');
    expect(await store.recordPass({ ...pass('sched-4', 4, '2026-12-04T06:12:00.000Z') })).toBe('exists');
    await store.recordPass({ ...pass('model-1', 0, '2026-12-04T06:10:00.000Z'), target: 'model:nova-lite' });
    const passes = await store.passes('rag-answer');
    expect(passes.map((p) => p.runId)).toEqual(['sched-4', 'sched-3', 'api-2']);
    expect(passes[0]).toEqual(pass('sched-4', 4, '2026-12-04T06:10:00.000Z'));
    expect(await store.passes('nobody')).toEqual([]);
  });

  it('reads every page of a long ledger', async () => {
    const { table } = await freshStore();
    const counted = clients.create();
    let queries = 0;
    counted.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'QueryCommand') queries++;
        return next(args);
      },
      { step: 'initialize', name: 'countQueries' },
    );
    const store = new DynamoLoopStore(counted, table);
    const big = 'x'.repeat(60_000);
    for (let i = 0; i < 25; i++) {
      const at = new Date(NOW - i * 3_600_000).toISOString();
      await store.recordPass({ ...pass(`sched-${i}`, 4, at), label: big });
    }
    // 25 items of ~60 KB: more than one 1 MB page.
    const passes = await store.passes('rag-answer');
    expect(passes).toHaveLength(25);
    expect(passes[0]?.runId).toBe('sched-0');
    expect(queries).toBeGreaterThan(1);
  });

  it('claims a decision once: a second claim gets the first decision', async () => {
    const { store } = await freshStore();
    expect(await store.getDecision('drift-1')).toBeUndefined();
    const first = decision('drift-1', { outcome: 'rolled_back', regression: 'f1 regressed', passed: false });
    expect(await store.claimDecision(first)).toEqual({ claimed: true, record: first });
    const second = await store.claimDecision(decision('drift-1', { outcome: 'none', passed: true }));
    expect(second).toEqual({ claimed: false, record: first });
    expect(await store.getDecision('drift-1')).toEqual(first);
  });

  it('finishes a decision once', async () => {
    const { store } = await freshStore();
    await store.claimDecision(decision('drift-1', { outcome: 'rolled_back' }));
    await store.finishDecision('drift-1', {
      outcome: 'held',
      reason: 'moved',
      finishedAt: '2026-12-05T00:10:00.000Z',
    });
    await store.finishDecision('drift-1', {
      outcome: 'none',
      reason: 'again',
      finishedAt: '2026-12-05T00:11:00.000Z',
    });
    expect(await store.getDecision('drift-1')).toMatchObject({
      status: 'done',
      outcome: 'held',
      reason: 'moved',
      finishedAt: '2026-12-05T00:10:00.000Z',
    });
  });

  it('records a rollback once, returns the first one kept, and lists a target’s newest first', async () => {
    const { store } = await freshStore();
    const earlier = rollback('rollback-1', '2026-12-01T00:00:00.000Z');
    const later = rollback('rollback-2', '2026-12-05T00:09:30.000Z');
    expect(await store.recordRollback(earlier)).toEqual(earlier);
    expect(await store.recordRollback(later)).toEqual(later);
    // A redelivery that found production moved since tries to record `held`: the first record stands.
    expect(await store.recordRollback({ ...later, outcome: 'held' })).toEqual(later);
    expect((await store.rollbacks('rag-answer')).map((r) => r.rollbackId)).toEqual([
      'rollback-2',
      'rollback-1',
    ]);
    expect((await store.rollbacks('rag-answer'))[0]).toEqual(later);
    expect(rolledBackDetail.safeParse((await store.rollbacks('rag-answer'))[0]).success).toBe(true);
    expect(await store.rollbacks('model:nova-lite')).toEqual([]);
  });
});

describe('the closed loop on real tables', () => {
  const events = mockClient(EventBridgeClient);
  const IDS = Array.from({ length: 20 }, (_, i) => `q${i}`);
  const RUN = 'drift-all-traffic-20261205000000';

  beforeEach(() => {
    events.reset();
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e' }] });
  });

  async function writeRun(runId: string, f1: number): Promise<void> {
    const lines = IDS.map((id) => JSON.stringify({ id, scores: { f1 } }));
    await s3.send(
      new PutObjectCommand({
        Bucket: ARTIFACTS,
        Key: `evaluations/${runId}/items.jsonl`,
        Body: lines.join('\n'),
      }),
    );
    await s3.send(
      new PutObjectCommand({
        Bucket: ARTIFACTS,
        Key: `evaluations/${runId}/summary.json`,
        Body: JSON.stringify({ metrics: { f1: { value: f1, n: 20, ci: [f1, f1] } } }),
      }),
    );
  }

  function completed(
    runId: string,
    trigger: EvaluationCompletedDetail['trigger'],
    prompt: string,
    time: string,
  ) {
    const sample = rawSample('evaluation-completed') as { detail: EvaluationCompletedDetail };
    return {
      ...sample,
      time,
      detail: {
        ...sample.detail,
        runId,
        trigger,
        suite: { name: 'golden', version: 2, items: 20 },
        target: { prompt },
        requested: { prompt: 'rag-answer@production' },
        baseline: null,
        pass: null,
        regression: false,
        report: {
          bucket: ARTIFACTS,
          summary: `evaluations/${runId}/summary.json`,
          items: `evaluations/${runId}/items.jsonl`,
          html: `evaluations/${runId}/report.html`,
          markdown: `evaluations/${runId}/report.md`,
        },
      },
    };
  }

  it('moves production back through the registry, with the reason in the label history, once', async () => {
    const { store } = await freshStore();
    const promptsTable = await createKeyTable(dynamo, `loop-prompts-${++tables}`, { sortKey: true });
    const registry = new PromptRegistry(doc, promptsTable, { cacheTtlMs: 0 });
    const draft = (n: number) => ({
      messages: [{ role: 'user' as const, content: `v${n}: {{question}}` }],
      variables: { question: { type: 'string' as const } },
      commitMessage: `v${n}`,
    });
    for (const n of [1, 2, 3, 4]) await registry.createVersion('rag-answer', draft(n), 'author');
    await registry.moveLabel('rag-answer', 'production', 4, 'admin', 'release');

    const handler = makeHandler({
      store,
      prompts: registry,
      s3,
      artifactsBucket: ARTIFACTS,
      events: new EventBridgeClient({ region: 'us-east-1' }),
      busName: 'bus',
      settings: { mode: 'act', coolDownHours: 6 },
      now: () => new Date(NOW),
    });
    await writeRun('sched-v3', 0.8);
    await writeRun('sched-v4', 0.8);
    await writeRun(RUN, 0.3);
    await handler(completed('sched-v3', 'schedule', 'rag-answer:3', '2026-12-02T06:10:00Z'));
    await handler(completed('sched-v4', 'schedule', 'rag-answer:4', '2026-12-04T06:10:00Z'));
    const drift = completed(RUN, 'drift', 'rag-answer:4', '2026-12-05T00:09:00Z');

    expect(await handler(drift)).toMatchObject({ outcome: 'rolled_back', duplicate: false });
    expect(await handler(drift)).toMatchObject({ outcome: 'rolled_back', duplicate: true });

    expect((await registry.get({ name: 'rag-answer', label: 'production' })).version).toBe(3);
    const history = await registry.labelHistory('rag-answer');
    expect(history.filter((h) => h.updatedBy === LOOP_AUTHOR)).toEqual([
      expect.objectContaining({
        label: 'production',
        version: 3,
        previousVersion: 4,
        reason: expect.stringMatching(
          /regressed on golden v2 against its last passing run sched-v4.*rolled back to version 3/,
        ),
      }),
    ]);
    const [audit] = await store.rollbacks('rag-answer');
    expect(audit).toMatchObject({ outcome: 'rolled_back', from: { version: 4 }, to: { version: 3 } });
    expect(await store.getDecision(RUN)).toMatchObject({ status: 'done', outcome: 'rolled_back' });
    expect(events.commandCalls(PutEventsCommand)).toHaveLength(1);
  });
});
