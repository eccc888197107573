import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '#aws/errors.ts';
import { DynamoEvaluationStore, EVALUATIONS_INDEX } from '#aws/eval/dynamo-evaluation-store.ts';
import type { SuiteVersion } from '#aws/eval/evaluation-store.ts';
import type { ReviewLabel, ReviewTask } from '#contracts/evaluation/review.ts';
import type { EvaluationRun, PromotionGate } from '#contracts/evaluation/run.ts';
import { createDynamoClient, type Emulators, startEmulators } from '#infra/local/emulators.ts';
import { errorOf } from '../support/async.ts';
import { createIndexedTable } from '../support/dynamo.ts';

/**
 * The evaluation store with a real DynamoDB document client against dynalite, on a table shaped as the
 * house project table: `pk`/`sk` and the `gsi1` index (`gsi1pk`/`gsi1sk`, all attributes). Each test
 * gets a table of its own.
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

async function createProjectTable(): Promise<string> {
  return createIndexedTable(dynamo, `evaluations-${++tables}`, EVALUATIONS_INDEX);
}

/** A store on a fresh table, with a hand-driven clock. */
async function freshStore() {
  const table = await createProjectTable();
  const clock = { now: Date.parse('2026-12-01T10:00:00.000Z') };
  const store = new DynamoEvaluationStore(doc, table, { now: () => new Date(clock.now) });
  const tick = (ms = 1000) => {
    clock.now += ms;
  };
  return { store, table, clock, tick };
}

const suite = (version: number): SuiteVersion => ({
  name: 'support-golden',
  version,
  items: 100 + version,
  tags: ['billing'],
  location: { bucket: 'curated', key: `datasets/eval/support-golden/v${version}/items.jsonl` },
  contentHash: `sha256:${version}`,
  registeredAt: '2026-11-30T00:00:00.000Z',
});

const run = (runId: string, overrides: Partial<EvaluationRun> = {}): EvaluationRun => ({
  runId,
  status: 'queued',
  trigger: 'api',
  request: { suite: 'support-golden', target: { prompt: 'support@production' } },
  requestedBy: 'arn:aws:iam::123456789012:role/dev',
  createdAt: '2026-12-01T09:00:00.000Z',
  updatedAt: '2026-12-01T09:00:00.000Z',
  ...overrides,
});

const start = {
  resolved: { target: { prompt: 'support:7' } },
  suite: { name: 'support-golden', version: 3, items: 103 },
  estimatedCostUsd: 0.5,
};

const task = (
  n: number,
  rubric = 'judge-faithfulness:1',
  judgeVerdict: 'pass' | 'fail' = 'pass',
): ReviewTask => ({
  taskId: `review-${n.toString(16).padStart(16, '0')}`,
  runId: 'run-1',
  itemId: `item-${n}`,
  metric: 'faithfulness',
  reason: 'low_confidence',
  rubric,
  judge: 'anthropic.claude',
  judgeScore: judgeVerdict === 'pass' ? 0.6 : 0.4,
  judgeVerdict,
  spread: null,
  unstable: false,
  rationales: ['because'],
});

const label = (t: ReviewTask, value: ReviewLabel['label'], reviewer = 'alice'): ReviewLabel => ({
  taskId: t.taskId,
  reviewer,
  label: value,
  at: '2026-12-02T08:00:00Z',
});

describe('DynamoEvaluationStore on dynalite: suites', () => {
  it('registers a version once and reads the latest registered one', async () => {
    const { store } = await freshStore();
    expect(await store.getSuite('support-golden')).toBeUndefined();
    expect(await store.registerSuite(suite(2))).toBe('created');
    expect(await store.registerSuite({ ...suite(2), items: 999 })).toBe('exists');
    expect(await store.registerSuite(suite(10))).toBe('created');
    expect(await store.registerSuite(suite(9))).toBe('created');
    // 10 sorts after 9 (zero-padded), whatever the order of registration.
    expect(await store.getSuite('support-golden')).toEqual(suite(10));
    expect(await store.getSuite('support-golden', 2)).toEqual(suite(2));
    expect(await store.getSuite('support-golden', 3)).toBeUndefined();
    expect(await store.getSuite('other')).toBeUndefined();
  });
});

describe('DynamoEvaluationStore on dynalite: runs', () => {
  it('creates, claims once, finishes once', async () => {
    const { store, clock, tick } = await freshStore();
    await store.createRun(run('run-1'));
    expect(await errorOf(store.createRun(run('run-1')))).toBeInstanceOf(ConflictError);
    expect(await store.getRun('run-1')).toEqual(run('run-1'));

    tick();
    const claimedAt = new Date(clock.now).toISOString();
    // The init of a claim never overwrites what the run was created with.
    const init = run('run-1', { requestedBy: 'someone-else', createdAt: 'later' });
    expect(await store.claimRun(init, start)).toBe(true);
    const running = { ...run('run-1'), status: 'running', updatedAt: claimedAt, ...start };
    expect(await store.getRun('run-1')).toEqual(running);
    tick();
    expect(await store.claimRun(init, { ...start, estimatedCostUsd: 99 })).toBe(false);
    expect(await store.getRun('run-1')).toEqual(running);

    tick();
    const finishedAt = new Date(clock.now).toISOString();
    const succeeded = await store.finishRun('run-1', {
      status: 'succeeded',
      failed: 1,
      metrics: { faithfulness: { value: 0.9, n: 10, ci: [0.8, 1] } },
      judge: 'anthropic.claude',
    });
    expect(succeeded).toEqual({
      ...running,
      status: 'succeeded',
      updatedAt: finishedAt,
      failed: 1,
      metrics: { faithfulness: { value: 0.9, n: 10, ci: [0.8, 1] } },
      judge: 'anthropic.claude',
    });
    tick();
    expect(await store.finishRun('run-1', { status: 'failed', error: 'late' })).toEqual(succeeded);
    expect(await store.getRun('run-1')).toEqual(succeeded);
    // A run that ended cannot be claimed again either.
    expect(await store.claimRun(init, start)).toBe(false);
    expect(await errorOf(store.finishRun('nope', { status: 'failed' }))).toBeInstanceOf(NotFoundError);
  });

  it('claims an absent (scheduled) run by creating it running from its init', async () => {
    const { store, clock } = await freshStore();
    const scheduled = run('nightly-2026-12-01', { trigger: 'schedule', requestedBy: 'schedule:nightly' });
    expect(await store.claimRun(scheduled, start)).toBe(true);
    expect(await store.getRun('nightly-2026-12-01')).toEqual({
      ...scheduled,
      status: 'running',
      updatedAt: new Date(clock.now).toISOString(),
      ...start,
    });
    expect(await store.claimRun(scheduled, start)).toBe(false);
  });

  it('lets the execution that claimed a running run claim it again (a retried Plan), and no other', async () => {
    const { store } = await freshStore();
    const scheduled = run('drift-all-traffic-1', { trigger: 'drift', requestedBy: 'drift:alarm' });
    expect(await store.claimRun(scheduled, { ...start, claimedBy: 'exec-1' })).toBe(true);
    // The duplicates a drift alarm's signals start at once: each finds the run taken.
    expect(await store.claimRun(scheduled, { ...start, claimedBy: 'exec-2' })).toBe(false);
    expect(await store.claimRun(scheduled, start)).toBe(false);
    expect(await store.claimRun(scheduled, { ...start, claimedBy: 'exec-1' })).toBe(true);
    expect(await store.getRun('drift-all-traffic-1')).toMatchObject({
      status: 'running',
      claimedBy: 'exec-1',
    });
    await store.finishRun('drift-all-traffic-1', { status: 'succeeded' });
    // An ended run is never claimed again, not even by its own execution.
    expect(await store.claimRun(scheduled, { ...start, claimedBy: 'exec-1' })).toBe(false);
  });

  it('keeps its storage attributes in the table and out of what it returns', async () => {
    const { store, table } = await freshStore();
    await store.createRun(run('run-1'));
    await store.finishRun('run-1', { status: 'succeeded' });
    const { Item: raw } = await doc.send(
      new GetCommand({ TableName: table, Key: { pk: 'RUN#run-1', sk: 'RUN' } }),
    );
    expect(raw).toMatchObject({ pk: 'RUN#run-1', gsi1pk: expect.stringMatching(/^RUNS#support-golden#/) });
    const read = await store.getRun('run-1');
    for (const name of ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'type']) expect(read).not.toHaveProperty(name);
  });

  it('finds the latest succeeded run of the same suite and target, skipping the excepted one and others', async () => {
    const { store, tick } = await freshStore();
    const target = { prompt: 'support@production' };
    const finish = async (r: EvaluationRun, status: 'succeeded' | 'failed' = 'succeeded') => {
      await store.createRun(r);
      tick();
      await store.finishRun(r.runId, { status });
    };
    expect(await store.previousRun('support-golden', target, 'x')).toBeUndefined();
    await finish(run('old'));
    await finish(run('newer'));
    await finish(run('failed-later'), 'failed');
    await finish(run('other-target', { request: { suite: 'support-golden', target: { model: 'nova' } } }));
    await finish(
      run('other-model', { request: { suite: 'support-golden', target: { ...target, model: 'nova' } } }),
    );
    await finish(run('other-suite', { request: { suite: 'billing', target } }));
    await store.createRun(run('still-queued'));

    expect((await store.previousRun('support-golden', target, 'current'))?.runId).toBe('newer');
    expect((await store.previousRun('support-golden', target, 'newer'))?.runId).toBe('old');
    expect(await store.previousRun('support-golden', target, 'old')).toMatchObject({
      runId: 'newer',
      status: 'succeeded',
    });
    expect((await store.previousRun('support-golden', { model: 'nova' }, 'x'))?.runId).toBe('other-target');
    expect((await store.previousRun('billing', target, 'other-suite'))?.runId).toBeUndefined();
  });
});

describe('DynamoEvaluationStore on dynalite: gates', () => {
  it('puts, replaces and reads a gate by prompt, versions and suite', async () => {
    const { store } = await freshStore();
    const gate: PromotionGate = {
      prompt: 'support',
      candidateVersion: 8,
      baselineVersion: 7,
      suite: 'support-golden',
      runId: 'run-1',
      status: 'running',
      updatedAt: '2026-12-01T10:00:00.000Z',
    };
    expect(await store.getGate('support', 8, 7, 'support-golden')).toBeUndefined();
    await store.putGate(gate);
    expect(await store.getGate('support', 8, 7, 'support-golden')).toEqual(gate);
    const ended = {
      ...gate,
      status: 'succeeded' as const,
      pass: false,
      updatedAt: '2026-12-01T11:00:00.000Z',
    };
    await store.putGate(ended);
    expect(await store.getGate('support', 8, 7, 'support-golden')).toEqual(ended);
    expect(await store.getGate('support', 7, 8, 'support-golden')).toBeUndefined();
    expect(await store.getGate('support', 8, 7, 'other')).toBeUndefined();
  });
});

describe('DynamoEvaluationStore on dynalite: reviews', () => {
  it('queues tasks once, lists them oldest first across pages, labels once, and calibrates', async () => {
    const { store, tick } = await freshStore();
    const [t1, t2, t3, t4, t5] = [1, 2, 3, 4, 5].map((n) =>
      task(n, 'judge-faithfulness:1', n % 2 ? 'pass' : 'fail'),
    );
    const other = task(6, 'judge-relevance:2', 'fail');
    // Added later but with the smaller ids: the order is by creation, then id.
    expect(await store.addReviewTasks([t4, t5] as ReviewTask[])).toBe(2);
    tick();
    expect(await store.addReviewTasks([t3, t1, t2, other, t1] as ReviewTask[])).toBe(4);
    expect(await store.addReviewTasks([t1, t4] as ReviewTask[])).toBe(0);

    const ids = (items: readonly { taskId: string }[]) => items.map((t) => t.taskId);
    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await store.listReviewTasks({ status: 'open', limit: 2, nextToken });
      seen.push(...ids(page.items));
      nextToken = page.nextToken;
      pages++;
    } while (nextToken !== undefined);
    expect(seen).toEqual(ids([t4, t5, t1, t2, t3, other] as ReviewTask[]));
    expect(pages).toBe(3);
    const first = (await store.listReviewTasks({ status: 'open', limit: 1 })).items[0];
    expect(first).toEqual({ ...t4, status: 'open', createdAt: '2026-12-01T10:00:00.000Z' });

    const one = t1 as ReviewTask;
    const labelled = await store.labelReviewTask(label(one, 'fail'));
    expect(labelled).toEqual({
      ...one,
      status: 'labelled',
      createdAt: '2026-12-01T10:00:01.000Z',
      label: label(one, 'fail'),
    });
    expect(await store.getReviewTask(one.taskId)).toEqual(labelled);
    const conflict = await errorOf(store.labelReviewTask(label(one, 'pass', 'bob')));
    expect(conflict).toBeInstanceOf(ConflictError);
    expect((conflict as Error).message).toMatch(new RegExp(`${one.taskId}.*alice`));
    expect(await store.getReviewTask(one.taskId)).toEqual(labelled);
    expect(await errorOf(store.labelReviewTask(label(task(99), 'pass')))).toBeInstanceOf(NotFoundError);

    await store.labelReviewTask(label(t2 as ReviewTask, 0.9));
    await store.labelReviewTask(label(other, 0.2));

    expect(ids((await store.listReviewTasks({ status: 'labelled' })).items)).toEqual(
      ids([t1, t2, other] as ReviewTask[]),
    );
    expect(ids((await store.listReviewTasks({ status: 'open' })).items)).toEqual(
      ids([t4, t5, t3] as ReviewTask[]),
    );

    const byVerdicts = (labels: { judgeVerdict: boolean; humanVerdict: boolean }[]) =>
      labels.map((l) => `${l.judgeVerdict}/${l.humanVerdict}`).sort();
    const faithfulness = await store.calibrationLabels('judge-faithfulness:1');
    expect(faithfulness.every((l) => l.rubric === 'judge-faithfulness:1')).toBe(true);
    // t1: the judge passed it (odd), the person failed it; t2: the judge failed it, the person passed it (0.9).
    expect(byVerdicts(faithfulness)).toEqual(['false/true', 'true/false']);
    expect(await store.calibrationLabels('judge-relevance:2')).toEqual([
      { rubric: 'judge-relevance:2', judgeVerdict: false, humanVerdict: false },
    ]);
    expect(await store.calibrationLabels('judge-none:1')).toEqual([]);
  });

  it('refuses a token of another status as a 400 on nextToken, never a DynamoDB error', async () => {
    const { store } = await freshStore();
    await store.addReviewTasks([task(1), task(2)]);
    await store.labelReviewTask(label(task(1), 'pass'));
    await store.labelReviewTask(label(task(2), 'pass'));
    const labelledPage = await store.listReviewTasks({ status: 'labelled', limit: 1 });
    expect(labelledPage.nextToken).toBeDefined();
    const error = await errorOf(store.listReviewTasks({ status: 'open', nextToken: labelledPage.nextToken }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('nextToken');
    const rest = await store.listReviewTasks({
      status: 'labelled',
      limit: 1,
      nextToken: labelledPage.nextToken,
    });
    expect(rest.items.map((t) => t.taskId)).toEqual([task(2).taskId]);
    expect(rest.nextToken).toBeUndefined();
  });
});
