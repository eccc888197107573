import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { EvaluationRun } from '#contracts/evaluation/run.ts';
import { makeHandler, reasonOf } from '#functions/evaluation/record-failure.ts';
import { evaluationRequested as envelope, FakeEvaluationStore } from './support.ts';

// The function's environment, set before its handler module is imported (it reads it at import).
vi.hoisted(() => {
  process.env.EVALUATIONS_TABLE ??= 'evaluations-test';
});

const NOW = new Date('2026-12-01T10:00:00.000Z');
const lambdaError = (errorType: string, errorMessage: string) => ({
  Error: errorType,
  Cause: JSON.stringify({ errorType, errorMessage, trace: ['at x'] }),
});

const PROMOTION = { prompt: 'support', candidateVersion: 2, baselineVersion: 1 };
const queued: EvaluationRun = {
  runId: 'run-1',
  status: 'queued',
  trigger: 'promotion',
  request: { suite: 'golden', target: { prompt: 'support:2' }, baseline: { prompt: 'support:1' } },
  requestedBy: 'promotion:arn:aws:iam::1:user/a',
  createdAt: '2026-12-01T09:59:00.000Z',
  updatedAt: '2026-12-01T09:59:00.000Z',
};

describe('reasonOf', () => {
  it("takes a Lambda error's message, a Step Functions cause as it is, else the error's name", () => {
    expect(reasonOf(lambdaError('EvaluationBudgetExceededError', 'Evaluation run run-1 refused: ...'))).toBe(
      'Evaluation run run-1 refused: ...',
    );
    expect(reasonOf({ Error: 'States.Timeout', Cause: 'Task timed out after 900 seconds' })).toBe(
      'States.Timeout: Task timed out after 900 seconds',
    );
    expect(reasonOf({ Error: 'States.TaskFailed' })).toBe('States.TaskFailed');
    expect(reasonOf(undefined)).toBe('Error');
    expect(reasonOf({ Error: 'E', Cause: 'x'.repeat(5000) })).toHaveLength(2000);
  });
});

describe('record-failure handler', () => {
  let store: FakeEvaluationStore;
  const handler = () => makeHandler({ store, now: () => NOW });

  beforeEach(() => {
    store = new FakeEvaluationStore(NOW.toISOString());
  });

  it('records a run that failed after Plan as failed with the reason, and its promotion gate', async () => {
    await store.createRun(queued);
    await store.claimRun(queued, {});
    const out = await handler()({
      runId: 'run-1',
      status: 'planned',
      batches: [],
      promotion: PROMOTION,
      error: lambdaError('TransientError', 'Could not write s3://a/b'),
    });
    expect(out).toEqual({ runId: 'run-1', status: 'failed', error: 'Could not write s3://a/b' });
    expect(store.runs.get('run-1')).toMatchObject({ status: 'failed', error: 'Could not write s3://a/b' });
    expect(store.gates).toEqual([
      { ...PROMOTION, suite: 'golden', runId: 'run-1', status: 'failed', updatedAt: NOW.toISOString() },
    ]);
  });

  it('records a queued run that Plan refused, from the event in the state', async () => {
    await store.createRun(queued);
    const event = envelope({
      runId: 'run-1',
      trigger: 'promotion',
      requestedBy: queued.requestedBy,
      request: queued.request,
      promotion: PROMOTION,
    });
    const message = 'Evaluation run run-1 refused: its estimated cost $3.10 is above its budget of $2.00';
    await handler()({
      event,
      executionName: 'exec-1',
      error: lambdaError('EvaluationBudgetExceededError', message),
    });
    expect(store.runs.get('run-1')).toMatchObject({ status: 'failed', error: message });
    expect(store.gates).toHaveLength(1);
  });

  it("reads the event from the state itself when Plan's catch hands over the execution's input", async () => {
    await store.createRun(queued);
    const event = envelope({
      runId: 'run-1',
      trigger: 'promotion',
      requestedBy: queued.requestedBy,
      request: queued.request,
      promotion: PROMOTION,
    });
    const error = lambdaError('ValidationError', 'target.prompt: Prompt support has no version 9');
    const out = await handler()({ ...event, error });
    expect(out).toEqual({
      runId: 'run-1',
      status: 'failed',
      error: 'target.prompt: Prompt support has no version 9',
    });
    expect(store.gates).toHaveLength(1);
    // A scheduled run's id is its execution's name: without it in the state, there is no run to record.
    const scheduled = envelope({ trigger: 'schedule', requestedBy: 'schedule:x', request: {} });
    expect(await handler()({ ...scheduled, error })).toMatchObject({ runId: null });
    expect(await handler()({ event: { ...scheduled, error }, executionName: 'x-1' })).toMatchObject({
      runId: 'x-1',
      error: 'target.prompt: Prompt support has no version 9',
    });
  });

  it('creates the record of a scheduled run whose request was refused, so that the failure can be read', async () => {
    const event = envelope({
      trigger: 'schedule',
      requestedBy: 'schedule:golden-daily',
      request: { suite: 'golden', target: {} },
    });
    const message = 'Invalid evaluation request: request.target: name a prompt, a model or both';
    const out = await handler()({
      event,
      executionName: 'golden-daily-20261201',
      error: lambdaError('ValidationError', message),
    });
    expect(out).toEqual({ runId: 'golden-daily-20261201', status: 'failed', error: message });
    expect(store.runs.get('golden-daily-20261201')).toMatchObject({
      status: 'failed',
      trigger: 'schedule',
      requestedBy: 'schedule:golden-daily',
      error: message,
    });
    expect(store.gates).toEqual([]);
  });

  it('leaves a run that already ended as it is, and its gate too', async () => {
    await store.createRun({ ...queued, status: 'succeeded' });
    const out = await handler()({ runId: 'run-1', promotion: PROMOTION, error: { Error: 'States.Timeout' } });
    expect(out).toMatchObject({ runId: 'run-1', status: 'failed' });
    expect(store.runs.get('run-1')?.status).toBe('succeeded');
    expect(store.gates).toEqual([]);
  });

  it('has nothing to record when the state names no run (an invalid event): it logs and returns', async () => {
    const out = await handler()({
      event: { detail: {} },
      error: lambdaError('InvalidEventError', 'Invalid input'),
    });
    expect(out).toEqual({ runId: null, status: 'failed', error: 'Invalid input' });
    expect(store.calls).toEqual([]);
  });
});
