import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  type PutCommandInput,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { encodeCursor } from '#aws/cursor.ts';
import { ConflictError, NotFoundError, ValidationError } from '#aws/errors.ts';
import { DynamoEvaluationStore, EVALUATIONS_INDEX, targetKey } from '#aws/eval/dynamo-evaluation-store.ts';
import type { StoredReviewTask, SuiteVersion } from '#aws/eval/evaluation-store.ts';
import type { ReviewLabel, ReviewTask } from '#contracts/evaluation/review.ts';
import type { EvaluationRun, PromotionGate } from '#contracts/evaluation/run.ts';
import { errorOf } from '../../../support/async.ts';

const ddb = mockClient(DynamoDBDocumentClient);
const NOW = new Date('2026-12-01T10:00:00.000Z');
const store = new DynamoEvaluationStore(
  DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
  'project',
  { now: () => NOW },
);

const conditionFailed = () =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
const throttled = () =>
  new ProvisionedThroughputExceededException({ message: 'Rate of requests exceeds', $metadata: {} });

const puts = (): PutCommandInput[] => ddb.commandCalls(PutCommand).map((call) => call.args[0].input);
const updates = (): UpdateCommandInput[] => ddb.commandCalls(UpdateCommand).map((call) => call.args[0].input);
const queries = (): QueryCommandInput[] => ddb.commandCalls(QueryCommand).map((call) => call.args[0].input);

/**
 * What a `SET` update expression does to each attribute: `{ set: value }`, or `{ ifAbsent: value }` for
 * `if_not_exists(attr, value)`.
 */
function actionsOf(
  input: UpdateCommandInput | undefined,
): Record<string, { set?: unknown; ifAbsent?: unknown }> {
  const expression = input?.UpdateExpression ?? '';
  expect(expression.startsWith('SET ')).toBe(true);
  const names = input?.ExpressionAttributeNames ?? {};
  const values = input?.ExpressionAttributeValues ?? {};
  const out: Record<string, { set?: unknown; ifAbsent?: unknown }> = {};
  for (const action of expression.slice(4).split(/,\s*(?=#)/)) {
    const plain = /^(#\w+) = (:\w+)$/.exec(action);
    const keep = /^(#\w+) = if_not_exists\((#\w+), (:\w+)\)$/.exec(action);
    if (plain) out[names[plain[1] as string] as string] = { set: values[plain[2] as string] };
    else if (keep && keep[1] === keep[2]) {
      out[names[keep[1] as string] as string] = { ifAbsent: values[keep[3] as string] };
    } else throw new Error(`unexpected action: ${action}`);
  }
  return out;
}

const suite: SuiteVersion = {
  name: 'support-golden',
  version: 3,
  items: 120,
  tags: ['billing', 'refunds'],
  location: { bucket: 'curated', key: 'datasets/eval/support-golden/v3/items.jsonl' },
  contentHash: 'sha256:abc',
  registeredAt: '2026-11-30T00:00:00.000Z',
};

const run: EvaluationRun = {
  runId: 'run-1',
  status: 'queued',
  trigger: 'api',
  request: { suite: 'support-golden', target: { prompt: 'support@production' }, baseline: undefined },
  requestedBy: 'arn:aws:iam::123456789012:role/dev',
  createdAt: '2026-12-01T09:00:00.000Z',
  updatedAt: '2026-12-01T09:00:00.000Z',
};
const runItem = (overrides: Partial<EvaluationRun> = {}) => ({
  pk: 'RUN#run-1',
  sk: 'RUN',
  type: 'EvaluationRun',
  ...defined(run),
  ...overrides,
});
const defined = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

const start = {
  resolved: { target: { prompt: 'support:7' } },
  suite: { name: 'support-golden', version: 3, items: 120 },
  estimatedCostUsd: 1.25,
};

const task = (n: number, overrides: Partial<ReviewTask> = {}): ReviewTask => ({
  taskId: `review-${n.toString(16).padStart(16, '0')}`,
  runId: 'run-1',
  itemId: `item-${n}`,
  metric: 'faithfulness',
  reason: 'unstable',
  rubric: 'judge-faithfulness:1',
  judge: 'anthropic.claude',
  judgeScore: 0.4,
  judgeVerdict: 'fail',
  spread: 0.5,
  unstable: true,
  rationales: ['a', 'b'],
  ...overrides,
});
const reviewItem = (t: ReviewTask, status: StoredReviewTask['status'] = 'open', label?: ReviewLabel) =>
  defined({
    ...t,
    status,
    createdAt: NOW.toISOString(),
    label,
    pk: `REVIEW#${t.taskId}`,
    sk: 'TASK',
    type: 'ReviewTask',
    gsi1pk: `REVIEWS#${status}`,
    gsi1sk: `${NOW.toISOString()}#${t.taskId}`,
  });
const labelOf = (t: ReviewTask, overrides: Partial<ReviewLabel> = {}): ReviewLabel => ({
  taskId: t.taskId,
  reviewer: 'alice@example.com',
  label: 0.8,
  at: '2026-12-01T11:00:00Z',
  ...overrides,
});

beforeEach(() => {
  ddb.reset();
});

describe('DynamoEvaluationStore suites', () => {
  it('registers a suite version once, with a conditional put under a zero-padded version', async () => {
    ddb.on(PutCommand).resolves({});
    expect(await store.registerSuite(suite)).toBe('created');
    expect(puts()[0]).toEqual({
      TableName: 'project',
      Item: { ...suite, type: 'SuiteVersion', pk: 'SUITE#support-golden', sk: 'V#0000000003' },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    ddb.on(PutCommand).rejects(conditionFailed());
    expect(await store.registerSuite(suite)).toBe('exists');
  });

  it('refuses a version that is not a positive whole number before writing', async () => {
    const error = await errorOf(store.registerSuite({ ...suite, version: 0 }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('version');
    expect(puts()).toHaveLength(0);
  });

  it('reads the latest version as the last in sort order (one item, newest first) without storage attributes', async () => {
    ddb.on(QueryCommand).resolves({
      Items: [{ ...suite, pk: 'SUITE#support-golden', sk: 'V#0000000003', type: 'SuiteVersion' }],
    });
    expect(await store.getSuite('support-golden')).toEqual(suite);
    expect(queries()[0]).toMatchObject({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :v)',
      ExpressionAttributeValues: { ':pk': 'SUITE#support-golden', ':v': 'V#' },
      ScanIndexForward: false,
      Limit: 1,
      ConsistentRead: true,
    });
    ddb.on(QueryCommand).resolves({ Items: [] });
    expect(await store.getSuite('none')).toBeUndefined();
  });

  it('reads a given version by its key', async () => {
    ddb.on(GetCommand).resolves({ Item: { ...suite, pk: 'SUITE#support-golden', sk: 'V#0000000003' } });
    expect(await store.getSuite('support-golden', 3)).toEqual(suite);
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input.Key).toEqual({
      pk: 'SUITE#support-golden',
      sk: 'V#0000000003',
    });
  });
});

describe('DynamoEvaluationStore runs', () => {
  it('creates a run with a conditional put, dropping undefined fields', async () => {
    ddb.on(PutCommand).resolves({});
    await store.createRun(run);
    const input = puts()[0];
    expect(input?.ConditionExpression).toBe('attribute_not_exists(pk)');
    expect(input?.Item).toEqual(runItem());
    expect(input?.Item?.request).not.toHaveProperty('baseline');
  });

  it('refuses a run id that exists with a ConflictError naming it', async () => {
    ddb.on(PutCommand).rejects(conditionFailed());
    const error = await errorOf(store.createRun(run));
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toContain('run-1');
  });

  it('reads a run consistently and strips pk, sk and type', async () => {
    ddb.on(GetCommand).resolves({ Item: runItem() });
    expect(await store.getRun('run-1')).toEqual(defined(run));
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input).toEqual({
      TableName: 'project',
      Key: { pk: 'RUN#run-1', sk: 'RUN' },
      ConsistentRead: true,
    });
  });

  it('claims a queued or absent run: running, the start set, the init kept where present', async () => {
    ddb.on(UpdateCommand).resolves({});
    expect(await store.claimRun({ ...run, status: 'queued' }, start)).toBe(true);
    const input = updates()[0];
    expect(input?.Key).toEqual({ pk: 'RUN#run-1', sk: 'RUN' });
    expect(input?.ConditionExpression).toBe('attribute_not_exists(pk) OR #status = :queued');
    expect(input?.ExpressionAttributeNames?.['#status']).toBe('status');
    expect(input?.ExpressionAttributeValues).toMatchObject({ ':queued': 'queued', ':running': 'running' });
    expect(input?.UpdateExpression).toMatch(/^SET #status = :running, /);
    expect(actionsOf(input)).toEqual({
      status: { set: 'running' },
      resolved: { set: start.resolved },
      suite: { set: start.suite },
      estimatedCostUsd: { set: 1.25 },
      updatedAt: { set: NOW.toISOString() },
      runId: { ifAbsent: 'run-1' },
      trigger: { ifAbsent: 'api' },
      request: { ifAbsent: { suite: 'support-golden', target: { prompt: 'support@production' } } },
      requestedBy: { ifAbsent: run.requestedBy },
      createdAt: { ifAbsent: run.createdAt },
      type: { ifAbsent: 'EvaluationRun' },
    });
  });

  it('returns false when the run was already claimed or ended (the condition failed)', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    expect(await store.claimRun(run, start)).toBe(false);
  });

  it('lets a throttled claim through rather than report it as already claimed', async () => {
    ddb.on(UpdateCommand).rejects(throttled());
    const error = await errorOf(store.claimRun(run, start));
    expect((error as Error).name).toBe('ProvisionedThroughputExceededException');
  });

  it('finishes a running run on condition it has not ended, indexing a success by suite and target', async () => {
    ddb.on(GetCommand).resolves({ Item: runItem({ status: 'running' }) });
    const finished = { ...runItem({ status: 'succeeded' }), gsi1pk: 'x', gsi1sk: 'y', failed: 0 };
    ddb.on(UpdateCommand).resolves({ Attributes: finished });
    const result = await store.finishRun('run-1', { status: 'succeeded', failed: 0, error: undefined });
    expect(result).toEqual({ ...defined(run), status: 'succeeded', failed: 0 });
    const input = updates()[0];
    expect(input?.ConditionExpression).toBe('#status IN (:queued, :running)');
    expect(input?.ExpressionAttributeValues).toMatchObject({ ':queued': 'queued', ':running': 'running' });
    expect(input?.ReturnValues).toBe('ALL_NEW');
    expect(actionsOf(input)).toEqual({
      status: { set: 'succeeded' },
      failed: { set: 0 },
      updatedAt: { set: NOW.toISOString() },
      gsi1pk: { set: 'RUNS#support-golden#p=support%40production|m=' },
      gsi1sk: { set: `${NOW.toISOString()}#run-1` },
    });
  });

  it('does not index a failed run', async () => {
    ddb.on(GetCommand).resolves({ Item: runItem({ status: 'running' }) });
    ddb.on(UpdateCommand).resolves({ Attributes: runItem({ status: 'failed', error: 'boom' }) });
    await store.finishRun('run-1', { status: 'failed', error: 'boom' });
    expect(Object.keys(actionsOf(updates()[0])).sort()).toEqual(['error', 'status', 'updatedAt']);
  });

  it('returns a run that already ended unchanged, writing nothing', async () => {
    ddb.on(GetCommand).resolves({ Item: runItem({ status: 'succeeded', failed: 2 }) });
    expect(await store.finishRun('run-1', { status: 'failed', error: 'late' })).toEqual({
      ...defined(run),
      status: 'succeeded',
      failed: 2,
    });
    expect(updates()).toHaveLength(0);
  });

  it('returns what a concurrent end recorded when its condition fails', async () => {
    ddb
      .on(GetCommand)
      .resolvesOnce({ Item: runItem({ status: 'running' }) })
      .resolves({ Item: runItem({ status: 'skipped', error: 'first' }) });
    ddb.on(UpdateCommand).rejects(conditionFailed());
    expect(await store.finishRun('run-1', { status: 'failed', error: 'second' })).toMatchObject({
      status: 'skipped',
      error: 'first',
    });
  });

  it('is a NotFoundError to finish a run that does not exist', async () => {
    ddb.on(GetCommand).resolves({});
    const error = await errorOf(store.finishRun('nope', { status: 'failed' }));
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toContain('nope');
  });

  it('finds the previous run newest first on the index, skipping the excepted run, across pages', async () => {
    ddb
      .on(QueryCommand)
      .resolvesOnce({
        Items: [{ ...runItem({ runId: 'run-9', status: 'succeeded' }), gsi1pk: 'p', gsi1sk: 's' }],
        LastEvaluatedKey: { pk: 'RUN#run-9', sk: 'RUN', gsi1pk: 'p', gsi1sk: 's' },
      })
      .resolves({ Items: [runItem({ runId: 'run-5', status: 'succeeded' })] });
    const previous = await store.previousRun('support-golden', { prompt: 'support@production' }, 'run-9');
    expect(previous?.runId).toBe('run-5');
    expect(previous).not.toHaveProperty('pk');
    const [first, second] = queries();
    expect(first).toMatchObject({
      IndexName: EVALUATIONS_INDEX,
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': 'RUNS#support-golden#p=support%40production|m=' },
      ScanIndexForward: false,
    });
    expect(second?.ExclusiveStartKey).toEqual({ pk: 'RUN#run-9', sk: 'RUN', gsi1pk: 'p', gsi1sk: 's' });
  });

  it('keys targets so that distinct targets never share a key', () => {
    expect(targetKey({ prompt: 'a' })).not.toBe(targetKey({ model: 'a' }));
    expect(targetKey({ prompt: 'a', model: 'b' })).toBe('p=a|m=b');
    // Unencoded, both would be `p=a|m=b|m=`.
    expect(targetKey({ prompt: 'a|m=b' })).not.toBe(targetKey({ prompt: 'a', model: 'b|m=' }));
  });
});

describe('DynamoEvaluationStore gates', () => {
  const gate: PromotionGate = {
    prompt: 'support',
    candidateVersion: 8,
    baselineVersion: 7,
    suite: 'support-golden',
    runId: 'run-1',
    status: 'running',
    updatedAt: NOW.toISOString(),
  };

  it('replaces a gate under prompt, suite and both padded versions, and reads it back', async () => {
    ddb.on(PutCommand).resolves({});
    await store.putGate(gate);
    const key = { pk: 'GATE#support', sk: 'support-golden#0000000008#0000000007' };
    expect(puts()[0]).toEqual({ TableName: 'project', Item: { ...gate, type: 'PromotionGate', ...key } });
    ddb.on(GetCommand).resolves({ Item: { ...gate, ...key, type: 'PromotionGate' } });
    expect(await store.getGate('support', 8, 7, 'support-golden')).toEqual(gate);
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input.Key).toEqual(key);
  });
});

describe('DynamoEvaluationStore review tasks', () => {
  it('adds tasks open with conditional puts and counts only the new ones', async () => {
    ddb.on(PutCommand).resolvesOnce({}).rejectsOnce(conditionFailed()).resolves({});
    expect(await store.addReviewTasks([task(1), task(2), task(3)])).toBe(2);
    const input = puts()[0];
    expect(input?.ConditionExpression).toBe('attribute_not_exists(pk)');
    expect(input?.Item).toEqual(reviewItem(task(1)));
  });

  it('lets a throttled add through, so that the retried call adds the rest', async () => {
    ddb.on(PutCommand).resolvesOnce({}).rejects(throttled());
    const error = await errorOf(store.addReviewTasks([task(1), task(2)]));
    expect((error as Error).name).toBe('ProvisionedThroughputExceededException');
  });

  it('lists a status oldest first on the index, one more than asked, with a token to the next page', async () => {
    ddb.on(QueryCommand).resolves({ Items: [reviewItem(task(1)), reviewItem(task(2)), reviewItem(task(3))] });
    const page = await store.listReviewTasks({ status: 'open', limit: 2 });
    expect(page.items.map((t) => t.taskId)).toEqual([task(1).taskId, task(2).taskId]);
    expect(page.items[0]).not.toHaveProperty('gsi1pk');
    expect(page.items[0]).toEqual({ ...task(1), status: 'open', createdAt: NOW.toISOString() });
    expect(queries()[0]).toMatchObject({
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': 'REVIEWS#open' },
      ScanIndexForward: true,
      Limit: 3,
    });
    expect(page.nextToken).toBeDefined();
    ddb.reset();
    ddb.on(QueryCommand).resolves({ Items: [reviewItem(task(3))] });
    const next = await store.listReviewTasks({ status: 'open', limit: 2, nextToken: page.nextToken });
    expect(queries()[0]?.ExclusiveStartKey).toEqual({
      pk: `REVIEW#${task(2).taskId}`,
      sk: 'TASK',
      gsi1pk: 'REVIEWS#open',
      gsi1sk: `${NOW.toISOString()}#${task(2).taskId}`,
    });
    expect(next).toEqual({ items: [{ ...task(3), status: 'open', createdAt: NOW.toISOString() }] });
  });

  it('lists 50 by default and refuses a limit outside 1 to 100', async () => {
    ddb.on(QueryCommand).resolves({ Items: [] });
    expect(await store.listReviewTasks({ status: 'labelled' })).toEqual({ items: [] });
    expect(queries()[0]?.Limit).toBe(51);
    for (const limit of [0, 101, 1.5]) {
      const error = await errorOf(store.listReviewTasks({ status: 'open', limit }));
      expect((error as ValidationError).field).toBe('limit');
    }
  });

  const validKey = {
    pk: `REVIEW#${task(2).taskId}`,
    sk: 'TASK',
    gsi1pk: 'REVIEWS#open',
    gsi1sk: `${NOW.toISOString()}#${task(2).taskId}`,
  };
  const token = (key: Record<string, unknown>, status = 'open', listing = 'review-tasks') =>
    encodeCursor({ listing, query: { status } }, key);

  it.each([
    ['garbage', 'not-a-token!'],
    ['another listing', token(validKey, 'open', 'prompt-versions')],
    ['another status', token({ ...validKey, gsi1pk: 'REVIEWS#labelled' }, 'labelled')],
    ['a key of another partition', token({ ...validKey, gsi1pk: 'REVIEWS#labelled' })],
    ['a key missing an attribute', token({ pk: validKey.pk, sk: 'TASK', gsi1pk: 'REVIEWS#open' })],
    ['a key with an extra attribute', token({ ...validKey, status: 'open' })],
    ['a sort key of another task', token({ ...validKey, gsi1sk: `${NOW.toISOString()}#${task(3).taskId}` })],
    ['a sort key without a time', token({ ...validKey, gsi1sk: `then#${task(2).taskId}` })],
    ['a key that is not a string', token({ ...validKey, gsi1sk: 5 })],
  ])(
    'refuses a nextToken of %s as a ValidationError naming nextToken, before any query',
    async (_case, bad) => {
      const error = await errorOf(store.listReviewTasks({ status: 'open', nextToken: bad }));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('nextToken');
      expect(queries()).toHaveLength(0);
    },
  );

  it('turns DynamoDB refusing a start key into the same ValidationError', async () => {
    ddb
      .on(QueryCommand)
      .rejects(
        Object.assign(new Error('The provided starting key is invalid'), { name: 'ValidationException' }),
      );
    const error = await errorOf(store.listReviewTasks({ status: 'open', nextToken: token(validKey) }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('nextToken');
  });

  it('labels an open task on condition it is open, moves it to the labelled queue and writes its calibration pair', async () => {
    const label = labelOf(task(1), { comment: undefined });
    ddb.on(UpdateCommand).resolves({ Attributes: reviewItem(task(1), 'labelled', label) });
    ddb.on(PutCommand).resolves({});
    const labelled = await store.labelReviewTask(label);
    expect(labelled).toEqual({ ...task(1), status: 'labelled', createdAt: NOW.toISOString(), label });
    const input = updates()[0];
    expect(input?.Key).toEqual({ pk: `REVIEW#${task(1).taskId}`, sk: 'TASK' });
    expect(input?.ConditionExpression).toBe('#status = :open');
    expect(input?.ExpressionAttributeNames?.['#status']).toBe('status');
    expect(input?.ExpressionAttributeValues).toMatchObject({
      ':open': 'open',
      ':labelled': 'labelled',
      ':queue': 'REVIEWS#labelled',
      ':label': { taskId: task(1).taskId, reviewer: 'alice@example.com', label: 0.8, at: label.at },
    });
    expect(input?.ExpressionAttributeValues?.[':label']).not.toHaveProperty('comment');
    expect(puts()).toEqual([
      {
        TableName: 'project',
        Item: {
          pk: 'CALIBRATION#judge-faithfulness:1',
          sk: task(1).taskId,
          type: 'CalibrationLabel',
          rubric: 'judge-faithfulness:1',
          taskId: task(1).taskId,
          judgeVerdict: false,
          humanVerdict: true,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    ]);
  });

  it('is a NotFoundError to label a task that does not exist', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    ddb.on(GetCommand).resolves({});
    const error = await errorOf(store.labelReviewTask(labelOf(task(9))));
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toContain(task(9).taskId);
    expect(puts()).toHaveLength(0);
  });

  it('is a ConflictError naming the task and who labelled it to label a labelled task, healing its pair', async () => {
    const first = labelOf(task(1), { reviewer: 'bob', label: 'fail' });
    ddb.on(UpdateCommand).rejects(conditionFailed());
    ddb.on(GetCommand).resolves({ Item: reviewItem(task(1), 'labelled', first) });
    ddb.on(PutCommand).rejects(conditionFailed());
    const error = await errorOf(store.labelReviewTask(labelOf(task(1))));
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toContain(task(1).taskId);
    expect((error as Error).message).toContain('bob');
    // The pair of the first label is written (idempotently), with the first label's verdict.
    expect(puts()[0]?.Item).toMatchObject({ sk: task(1).taskId, humanVerdict: false });
  });

  it('returns the stored task when the very same label is sent again', async () => {
    const label = labelOf(task(1));
    ddb.on(UpdateCommand).rejects(conditionFailed());
    ddb.on(GetCommand).resolves({ Item: reviewItem(task(1), 'labelled', label) });
    ddb.on(PutCommand).resolves({});
    expect(await store.labelReviewTask(label)).toMatchObject({ status: 'labelled', label });
  });

  it('reads calibration pairs of a rubric from its own partition, through every page (no scan)', async () => {
    ddb
      .on(QueryCommand)
      .resolvesOnce({
        Items: [{ rubric: 'r:1', judgeVerdict: true, humanVerdict: false, pk: 'CALIBRATION#r:1', sk: 'a' }],
        LastEvaluatedKey: { pk: 'CALIBRATION#r:1', sk: 'a' },
      })
      .resolves({ Items: [{ rubric: 'r:1', judgeVerdict: true, humanVerdict: true }] });
    expect(await store.calibrationLabels('r:1')).toEqual([
      { rubric: 'r:1', judgeVerdict: true, humanVerdict: false },
      { rubric: 'r:1', judgeVerdict: true, humanVerdict: true },
    ]);
    const [first, second] = queries();
    expect(first).toMatchObject({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'CALIBRATION#r:1' },
    });
    expect(first?.IndexName).toBeUndefined();
    expect(second?.ExclusiveStartKey).toEqual({ pk: 'CALIBRATION#r:1', sk: 'a' });
    expect(ddb.calls()).toHaveLength(2);
  });
});
