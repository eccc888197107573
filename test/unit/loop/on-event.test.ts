// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/loop.ts';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidEventError } from '#aws/errors.ts';
import { metrics } from '#aws/observability.ts';
import { driftRunId } from '#core/drift/run-id.ts';
import type { EvaluationCompletedDetail } from '#events/evaluation-completed.ts';
import { type RolledBackDetail, rolledBackDetail, rolledBackEvent } from '#events/rolled-back.ts';
import { loadSample, rawSample } from '#events/samples.ts';
import { type ClosedLoopSettings, environment, LOOP_AUTHOR, makeHandler } from '#functions/loop/on-event.ts';
import { errorOf } from '../../support/async.ts';
import { FakeLoopStore, FakePrompts } from './fakes.ts';

const BUCKET = 'artifacts-test';
const NOW = new Date('2026-12-05T00:09:30.000Z');
const WINDOW_END = '2026-12-05T00:00:00.000Z';
const DRIFT_RUN = driftRunId('all-traffic', WINDOW_END);
const IDS = Array.from({ length: 20 }, (_, i) => `q${i}`);

const events = mockClient(EventBridgeClient);
const s3 = mockClient(S3Client);
const objects = new Map<string, string>();

/** Writes a run's report files the loop reads: `items.jsonl` (f1 of each item) and `summary.json`. */
function writeRun(runId: string, f1: number): void {
  const lines = IDS.map((id) => JSON.stringify({ id, tags: [], input: 'q', answer: 'a', scores: { f1 } }));
  objects.set(`evaluations/${runId}/items.jsonl`, `${lines.join('\n')}\n`);
  objects.set(
    `evaluations/${runId}/summary.json`,
    JSON.stringify({
      runId,
      metrics: { f1: { value: f1, n: IDS.length, ci: [f1, f1], failed: 0, byTag: {} } },
    }),
  );
}

function completed(
  detail: Partial<EvaluationCompletedDetail> & { runId: string },
  time = '2026-12-05T00:09:00Z',
) {
  const sample = rawSample('evaluation-completed') as { detail: EvaluationCompletedDetail };
  const runId = detail.runId;
  return {
    ...sample,
    id: `event-${runId}`,
    time,
    detail: {
      ...sample.detail,
      suite: { name: 'golden', version: 2, items: 20 },
      target: { prompt: 'rag-answer:4' },
      requested: { prompt: 'rag-answer@production' },
      baseline: null,
      pass: null,
      regression: false,
      report: {
        bucket: BUCKET,
        summary: `evaluations/${runId}/summary.json`,
        items: `evaluations/${runId}/items.jsonl`,
        html: `evaluations/${runId}/report.html`,
        markdown: `evaluations/${runId}/report.md`,
      },
      ...detail,
    },
  };
}

/** The drift run of the window: production (`rag-answer@production`, version 4) with f1 as given. */
function driftRun(f1: number, detail: Partial<EvaluationCompletedDetail> = {}) {
  writeRun(DRIFT_RUN, f1);
  return completed({ runId: DRIFT_RUN, trigger: 'drift', ...detail });
}

function driftDetected(signal = 'embedding', value = 3.42) {
  const sample = rawSample('drift-detected') as { detail: Record<string, unknown> };
  return {
    ...sample,
    detail: { ...sample.detail, metric: { namespace: 'LLMOps', name: 'DriftScore', signal }, value },
  };
}

const published = (): RolledBackDetail[] =>
  events
    .commandCalls(PutEventsCommand)
    .map((call) => call.args[0].input.Entries?.[0])
    .filter((entry) => entry?.DetailType === 'llmops.RolledBack')
    .map((entry) => rolledBackDetail.parse(JSON.parse(String(entry?.Detail))));

let store: FakeLoopStore;
let prompts: FakePrompts;

function handler(settings: ClosedLoopSettings = { mode: 'act', coolDownHours: 6 }) {
  return makeHandler({
    store,
    prompts,
    s3: new S3Client({ region: 'us-east-1' }),
    artifactsBucket: BUCKET,
    events: new EventBridgeClient({ region: 'us-east-1' }),
    busName: 'bus',
    settings,
    now: () => NOW,
  });
}

/** Production's history: version 3 passed the daily schedule three days ago, version 4 yesterday. */
async function history(): Promise<void> {
  writeRun('sched-v3', 0.8);
  writeRun('sched-v4', 0.8);
  await handler()(
    completed(
      { runId: 'sched-v3', trigger: 'schedule', target: { prompt: 'rag-answer:3' } },
      '2026-12-02T06:10:00Z',
    ),
  );
  await handler()(completed({ runId: 'sched-v4', trigger: 'schedule' }, '2026-12-04T06:10:00Z'));
}

beforeEach(() => {
  store = new FakeLoopStore();
  prompts = new FakePrompts().point('rag-answer', 'production', 4);
  objects.clear();
  events.reset();
  events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-out' }] });
  s3.reset();
  s3.on(GetObjectCommand).callsFake((input) => {
    const body = input.Bucket === BUCKET ? objects.get(String(input.Key)) : undefined;
    if (body === undefined)
      throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
    return { Body: { transformToString: async () => body } };
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the closed loop function', () => {
  it('reads exactly the environment the stack sets', () => {
    expect(Object.keys(environment).sort()).toEqual([
      'ARTIFACTS_BUCKET',
      'CLOSED_LOOP',
      'EVENT_BUS_NAME',
      'LOOP_TABLE',
      'PROMPTS_TABLE',
    ]);
  });

  it('refuses an event of another detail type', async () => {
    const wrong = { ...driftDetected(), 'detail-type': 'llmops.DriftCheckRequested' };
    expect(await errorOf(handler()(wrong))).toBeInstanceOf(InvalidEventError);
  });

  it('keeps the first drift evidence of a run: the other signals of the window name the same run', async () => {
    expect(await handler()(driftDetected('embedding', 3.42))).toEqual({
      kind: 'evidence',
      runId: DRIFT_RUN,
      stored: 'created',
    });
    expect(await handler()(driftDetected('quality', 4.52))).toMatchObject({ stored: 'exists' });
    expect(store.evidence.get(DRIFT_RUN)).toEqual({
      alarmName: expect.stringContaining('DriftAlarm'),
      check: 'all-traffic',
      signal: 'embedding',
      value: 3.42,
      windowEnd: WINDOW_END,
      method: 'mmd',
    });
  });
});

describe('the pass ledger', () => {
  const at = '2026-12-04T06:10:00Z';

  it('records a schedule that did not regress, under the prompt, with the version and the label', async () => {
    writeRun('sched-1', 0.8);
    expect(await handler()(completed({ runId: 'sched-1', trigger: 'schedule' }, at))).toEqual({
      kind: 'ledger',
      runId: 'sched-1',
      recorded: ['rag-answer'],
    });
    expect(await store.passes('rag-answer')).toEqual([
      {
        target: 'rag-answer',
        position: { version: 4 },
        label: 'production',
        runId: 'sched-1',
        trigger: 'schedule',
        suite: { name: 'golden', version: 2 },
        items: { bucket: BUCKET, key: 'evaluations/sched-1/items.jsonl' },
        at: '2026-12-04T06:10:00.000Z',
      },
    ]);
  });

  it('leaves out a schedule that regressed and a promotion that failed; records one that passed', async () => {
    await handler()(completed({ runId: 'sched-2', trigger: 'schedule', regression: true }, at));
    const promotion = {
      trigger: 'promotion' as const,
      target: { prompt: 'rag-answer:5' },
      requested: { prompt: 'rag-answer:5' },
      baseline: { prompt: 'rag-answer:4' },
    };
    await handler()(completed({ runId: 'promo-1', ...promotion, pass: false }, at));
    expect(await store.passes('rag-answer')).toEqual([]);
    await handler()(completed({ runId: 'promo-2', ...promotion, pass: true }, at));
    expect(await store.passes('rag-answer')).toEqual([
      expect.objectContaining({ runId: 'promo-2', position: { version: 5 }, trigger: 'promotion' }),
    ]);
    expect((await store.passes('rag-answer'))[0]?.label).toBeUndefined();
  });

  it('records an API run without a baseline, and a model run under model:<id>', async () => {
    await handler()(
      completed(
        {
          runId: 'api-1',
          trigger: 'api',
          target: { prompt: 'rag-answer:2' },
          requested: { prompt: 'rag-answer:2' },
        },
        at,
      ),
    );
    await handler()(
      completed(
        {
          runId: 'model-1',
          trigger: 'api',
          target: { model: 'nova-lite' },
          requested: { model: 'nova-lite' },
        },
        at,
      ),
    );
    expect((await store.passes('rag-answer')).map((p) => p.runId)).toEqual(['api-1']);
    expect(await store.passes('model:nova-lite')).toEqual([
      expect.objectContaining({ runId: 'model-1', position: { model: 'nova-lite' } }),
    ]);
  });

  it('records a fine-tuned candidate that passed under its own id and under the line it was gated against', async () => {
    const out = await handler()(
      completed(
        {
          runId: 'candidate-job-7',
          trigger: 'model',
          target: { model: 'tuned-assistant-v7' },
          requested: { model: 'tuned-assistant-v7' },
          baseline: { model: 'tuned-assistant' },
          pass: true,
        },
        at,
      ),
    );
    expect(out).toMatchObject({ recorded: ['model:tuned-assistant-v7', 'model:tuned-assistant'] });
    expect(await store.passes('model:tuned-assistant')).toEqual([
      expect.objectContaining({ runId: 'candidate-job-7', position: { model: 'tuned-assistant-v7' } }),
    ]);
  });

  it('records a redelivered run once', async () => {
    const event = completed({ runId: 'sched-1', trigger: 'schedule' }, at);
    await handler()(event);
    await handler()(event);
    // Report re-announcing the run (a retried step) is another event with a later time: still one pass.
    await handler()(completed({ runId: 'sched-1', trigger: 'schedule' }, '2026-12-04T06:12:00Z'));
    expect(await store.passes('rag-answer')).toHaveLength(1);
  });

  it('records a drift run that did not regress as a pass; one with nothing to compare with is not', async () => {
    const alone = await handler()(driftRun(0.8));
    expect(alone).toMatchObject({ kind: 'decision', outcome: 'none', duplicate: false });
    expect(alone.kind === 'decision' && alone.reason).toBe(
      'no passing run of production on golden v2 to compare with',
    );
    expect(await store.passes('rag-answer')).toEqual([]);

    store = new FakeLoopStore();
    await history();
    const fine = await handler()(driftRun(0.8));
    expect(fine).toMatchObject({ outcome: 'none' });
    expect(await store.passes('rag-answer')).toEqual([
      expect.objectContaining({
        runId: DRIFT_RUN,
        trigger: 'drift',
        position: { version: 4 },
        label: 'production',
      }),
      expect.objectContaining({ runId: 'sched-v4' }),
      expect.objectContaining({ runId: 'sched-v3' }),
    ]);
    expect(published()).toEqual([]);
    expect(prompts.moves).toEqual([]);
  });
});

describe('a drift run that regressed', () => {
  it('in act mode moves the label back with the reason and pages with the drift and the comparison', async () => {
    const emitted: { name: string; value: number; dimensions?: Record<string, string> }[] = [];
    vi.spyOn(metrics, 'addMetric').mockImplementation((name, _unit, value) => {
      emitted.push({ name, value });
      return metrics;
    });
    vi.spyOn(metrics, 'singleMetric').mockImplementation(() => {
      let dimensions: Record<string, string> = {};
      const single = {
        addDimensions: (d: Record<string, string>) => {
          dimensions = d;
        },
        addMetric: (name: string, _unit: string, value: number) => {
          emitted.push({ name, value, dimensions });
        },
      };
      return single as unknown as ReturnType<typeof metrics.singleMetric>;
    });
    await history();
    await handler()(driftDetected());

    const out = await handler()(driftRun(0.3));
    expect(out).toMatchObject({
      kind: 'decision',
      runId: DRIFT_RUN,
      outcome: 'rolled_back',
      duplicate: false,
    });

    const [rolledBack] = published();
    expect(rolledBack).toMatchObject({
      rollbackId: `rollback-prompt-rag-answer-${DRIFT_RUN}`,
      outcome: 'rolled_back',
      mode: 'act',
      target: { kind: 'prompt', name: 'rag-answer', label: 'production' },
      from: { version: 4 },
      to: { version: 3, passingRunId: 'sched-v3' },
      evidence: {
        drift: {
          check: 'all-traffic',
          signal: 'embedding',
          value: 3.42,
          windowEnd: WINDOW_END,
          method: 'mmd',
          alarmName: expect.stringContaining('DriftAlarm'),
        },
        evaluation: {
          runId: DRIFT_RUN,
          suite: { name: 'golden', version: 2 },
          comparedWith: 'sched-v4',
          failing: [expect.objectContaining({ name: 'f1', margin: expect.any(Number) })],
          report: `s3://${BUCKET}/evaluations/${DRIFT_RUN}/report.html`,
        },
      },
      at: NOW.toISOString(),
    });
    expect(rolledBack?.evidence.evaluation.failing[0]?.diff).toBeCloseTo(-0.5, 6);
    expect(rolledBack?.reason).toMatch(
      /^rag-answer@production \(version 4\) regressed on golden v2 against its last passing run sched-v4: f1 -0\.500 beyond the margin 0\.020; rolled back to version 3 \(passed sched-v3\)$/,
    );
    expect(prompts.moves).toEqual([
      {
        name: 'rag-answer',
        label: 'production',
        version: 3,
        author: LOOP_AUTHOR,
        reason: rolledBack?.reason,
      },
    ]);
    expect(prompts.labels.get('rag-answer@production')).toBe(3);
    // The audit, the decision, and no pass for the run that regressed.
    expect(await store.rollbacks('rag-answer')).toEqual([{ ...rolledBack, targetKey: 'rag-answer' }]);
    expect(store.decisions.get(DRIFT_RUN)).toMatchObject({ status: 'done', outcome: 'rolled_back' });
    expect((await store.passes('rag-answer')).map((p) => p.runId)).not.toContain(DRIFT_RUN);
    expect(emitted).toEqual([
      { name: 'ClosedLoopDecisions', value: 1, dimensions: { Outcome: 'rolled_back' } },
      { name: 'ClosedLoopRollbacks', value: 1 },
    ]);
  });

  it('compares a version forced past its gate with the release it replaced (the label history), and rolls back to it', async () => {
    // Version 3 passed its promotion gate and went to production; version 4 was then forced in, with no
    // passing run of its own: production's last passing run is version 3's.
    writeRun('promote-v3', 0.8);
    await handler()(
      completed(
        {
          runId: 'promote-v3',
          trigger: 'promotion',
          target: { prompt: 'rag-answer:3' },
          requested: { prompt: 'rag-answer:3' },
          baseline: { prompt: 'rag-answer:2' },
          pass: true,
        },
        '2026-12-03T06:10:00Z',
      ),
    );
    prompts.moved('rag-answer', 'production', 3, 2).moved('rag-answer', 'production', 4, 3);
    await handler()(driftDetected());
    const out = await handler()(driftRun(0.3));
    expect(out).toMatchObject({ kind: 'decision', outcome: 'rolled_back' });
    expect(published()[0]).toMatchObject({
      from: { version: 4 },
      to: { version: 3, passingRunId: 'promote-v3' },
      evidence: { evaluation: { comparedWith: 'promote-v3' } },
    });
    expect(prompts.labels.get('rag-answer@production')).toBe(3);
  });

  it('without the label history, a forced version has nothing to compare with', async () => {
    writeRun('promote-v3', 0.8);
    await handler()(
      completed(
        {
          runId: 'promote-v3',
          trigger: 'promotion',
          target: { prompt: 'rag-answer:3' },
          requested: { prompt: 'rag-answer:3' },
          pass: true,
        },
        '2026-12-03T06:10:00Z',
      ),
    );
    const out = await handler()(driftRun(0.3));
    expect(out).toMatchObject({ kind: 'decision', outcome: 'none' });
    expect(published()).toEqual([]);
  });

  it('decides once: a redelivered EvaluationCompleted moves nothing and pages no more', async () => {
    await history();
    const event = driftRun(0.3);
    await handler()(event);
    // The world changes after the decision: a redelivery must not decide again on it.
    prompts.point('rag-answer', 'production', 3);
    const again = await handler()(event);
    expect(again).toMatchObject({ outcome: 'rolled_back', duplicate: true });
    expect(prompts.moves).toHaveLength(1);
    expect(published()).toHaveLength(1);
  });

  it('a redelivery after a failed announcement carries out the rest of the first decision, moving nothing twice', async () => {
    await history();
    events.reset();
    events
      .on(PutEventsCommand)
      .rejectsOnce(new Error('EventBridge unavailable'))
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-out' }] });
    const event = driftRun(0.3);
    expect(await errorOf(handler()(event))).toBeInstanceOf(Error);
    expect(prompts.moves).toHaveLength(1);
    expect(store.decisions.get(DRIFT_RUN)?.status).toBe('decided');

    const again = await handler()(event);
    expect(again).toMatchObject({ outcome: 'rolled_back', duplicate: false });
    expect(prompts.moves).toHaveLength(1);
    // The put that failed and the one that went through announce the same rollback.
    const [failed, announced] = published();
    expect(announced).toEqual(failed);
    expect(announced).toMatchObject({ outcome: 'rolled_back', to: { version: 3, passingRunId: 'sched-v3' } });
    expect(store.audit.size).toBe(1);
    expect(store.decisions.get(DRIFT_RUN)?.status).toBe('done');
  });

  it('in recommend mode pages with the proposed rollback and moves nothing', async () => {
    await history();
    const out = await handler({ mode: 'recommend', coolDownHours: 24 })(driftRun(0.3));
    expect(out).toMatchObject({ outcome: 'recommended' });
    expect(prompts.moves).toEqual([]);
    expect(prompts.labels.get('rag-answer@production')).toBe(4);
    expect(published()).toEqual([
      expect.objectContaining({
        outcome: 'recommended',
        mode: 'recommend',
        to: { version: 3, passingRunId: 'sched-v3' },
        evidence: expect.objectContaining({ drift: null }),
      }),
    ]);
  });

  it('is held within the cool-down of an automatic rollback of the same target', async () => {
    await history();
    await store.recordRollback({
      ...loadSample('rolled-back', rolledBackEvent).detail,
      rollbackId: 'rollback-earlier',
      from: { version: 5 },
      at: '2026-12-04T22:00:00.000Z',
      targetKey: 'rag-answer',
    });
    const out = await handler()(driftRun(0.3));
    expect(out).toMatchObject({ outcome: 'held' });
    expect(prompts.moves).toEqual([]);
    expect(published()).toEqual([
      expect.objectContaining({ outcome: 'held', to: { version: 3, passingRunId: 'sched-v3' } }),
    ]);
  });

  it('is held when production moved before the loop could move it back', async () => {
    await history();
    let reads = 0;
    prompts.beforeGet = () => {
      // The decision reads version 4; a person moves the label before the loop moves it.
      if (++reads === 2) prompts.point('rag-answer', 'production', 5);
    };
    const out = await handler()(driftRun(0.3));
    expect(out).toMatchObject({ outcome: 'held' });
    expect(prompts.moves).toEqual([]);
    const [held] = published();
    expect(held?.reason).toContain('held: production moved to version 5 since the run');
    expect(held?.reason).not.toContain('rolled back to');
    expect(store.decisions.get(DRIFT_RUN)).toMatchObject({ status: 'done', outcome: 'held' });
  });

  it('for a model only recommends the last model that passed, and says the loop does not start rollouts', async () => {
    const model = { target: { model: 'tuned-assistant' }, requested: { model: 'tuned-assistant' } };
    writeRun('sched-line', 0.8);
    await handler()(
      completed({ runId: 'sched-line', trigger: 'schedule', ...model }, '2026-12-04T06:10:00Z'),
    );
    await handler()(
      completed(
        {
          runId: 'candidate-job-6',
          trigger: 'model',
          target: { model: 'tuned-assistant-v6' },
          requested: { model: 'tuned-assistant-v6' },
          baseline: { model: 'tuned-assistant' },
          pass: true,
        },
        '2026-12-01T06:10:00Z',
      ),
    );
    const out = await handler()(driftRun(0.3, model));
    expect(out).toMatchObject({ outcome: 'recommended' });
    expect(prompts.moves).toEqual([]);
    const [recommended] = published();
    expect(recommended).toMatchObject({
      rollbackId: `rollback-model-tuned-assistant-${DRIFT_RUN}`,
      mode: 'act',
      target: { kind: 'model', id: 'tuned-assistant' },
      from: { model: 'tuned-assistant' },
      to: { model: 'tuned-assistant-v6', passingRunId: 'candidate-job-6' },
    });
    expect(recommended?.reason).toContain('through the fine-tuning Rollout state machine');
    expect(recommended?.reason).toContain('does not start model rollouts, so nothing was moved');
  });

  it('decides nothing for a run that asked for a pinned version, or whose event does not say', async () => {
    const pinned = await handler()(driftRun(0.3, { requested: { prompt: 'rag-answer:4' } }));
    expect(pinned).toMatchObject({ outcome: 'none' });
    const older = driftRun(0.3);
    const { requested: _requested, ...detail } = older.detail;
    store = new FakeLoopStore();
    const none = await handler()({ ...older, detail });
    expect(none).toMatchObject({ outcome: 'none' });
    expect(none.kind === 'decision' && none.reason).toContain('no `requested`');
    expect(published()).toEqual([]);
  });

  it('treats items gone from the bucket as nothing to compare', async () => {
    await history();
    objects.delete('evaluations/sched-v4/items.jsonl');
    const out = await handler()(driftRun(0.3));
    expect(out).toMatchObject({ outcome: 'none' });
    expect(out.kind === 'decision' && out.reason).toContain(
      'evaluations/sched-v4/items.jsonl does not exist',
    );
    expect(prompts.moves).toEqual([]);
  });
});

describe('the llmops.RolledBack contract', () => {
  it('its sample parses with the schema', () => {
    const sample = loadSample('rolled-back', rolledBackEvent);
    expect(sample.detail).toMatchObject({ outcome: 'rolled_back', to: { version: 3 } });
  });
});
