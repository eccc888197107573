// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/loop.ts';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import {
  DescribeEndpointCommand,
  DescribeInferenceComponentCommand,
  DescribeModelPackageCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidEventError } from '#aws/errors.ts';
import type { RolloutRecord } from '#aws/finetune/rollout-store.ts';
import { SageMakerServing } from '#aws/finetune/serving.ts';
import { metrics } from '#aws/observability.ts';
import type { CatalogLineage, CatalogModel } from '#contracts/models/catalog.ts';
import { driftRunId } from '#core/drift/run-id.ts';
import { rolloutIdOf } from '#core/finetune/rollout.ts';
import type { EvaluationCompletedDetail } from '#events/evaluation-completed.ts';
import { type RolledBackDetail, rolledBackDetail, rolledBackEvent } from '#events/rolled-back.ts';
import { loadSample, rawSample } from '#events/samples.ts';
import { type LoopRouting, revertIdOf } from '#functions/loop/model-routing.ts';
import { type ClosedLoopSettings, environment, LOOP_AUTHOR, makeHandler } from '#functions/loop/on-event.ts';
import { errorOf } from '../../support/async.ts';
import { FakeLineCatalog, FakeLineRollouts, FakeLoopStore, FakePrompts } from './fakes.ts';

const BUCKET = 'artifacts-test';
const NOW = new Date('2026-12-05T00:09:30.000Z');
const WINDOW_END = '2026-12-05T00:00:00.000Z';
const DRIFT_RUN = driftRunId('all-traffic', WINDOW_END);
const IDS = Array.from({ length: 20 }, (_, i) => `q${i}`);

const events = mockClient(EventBridgeClient);
const s3 = mockClient(S3Client);
const sagemaker = mockClient(SageMakerClient);
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
/** Fine-tuning's served lines, when a test deploys one. */
let routing: LoopRouting | undefined;

function handler(settings: ClosedLoopSettings = { mode: 'act', coolDownHours: 6 }) {
  return makeHandler({
    store,
    prompts,
    s3: new S3Client({ region: 'us-east-1' }),
    artifactsBucket: BUCKET,
    events: new EventBridgeClient({ region: 'us-east-1' }),
    busName: 'bus',
    settings,
    ...(routing !== undefined ? { routing } : {}),
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
  routing = undefined;
  sagemaker.reset();
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
      'CATALOG_TABLE',
      'CLOSED_LOOP',
      'EVENT_BUS_NAME',
      'LOOP_TABLE',
      'PROMPTS_TABLE',
      'ROLLOUT_TABLE',
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

  it('for a model that is no served line only recommends the last model that passed, and says why', async () => {
    const model = { target: { model: 'nova-lite' }, requested: { model: 'nova-lite' } };
    writeRun('sched-lite', 0.8);
    await handler()(
      completed({ runId: 'sched-lite', trigger: 'schedule', ...model }, '2026-12-04T06:10:00Z'),
    );
    // nova-micro passed a comparison against nova-lite: a pass of nova-lite's ledger too.
    writeRun('micro-vs-lite', 0.8);
    await handler()(
      completed(
        {
          runId: 'micro-vs-lite',
          trigger: 'model',
          target: { model: 'nova-micro' },
          requested: { model: 'nova-micro' },
          baseline: { model: 'nova-lite' },
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
      rollbackId: `rollback-model-nova-lite-${DRIFT_RUN}`,
      mode: 'act',
      target: { kind: 'model', id: 'nova-lite' },
      from: { model: 'nova-lite' },
      to: { model: 'nova-micro', passingRunId: 'micro-vs-lite' },
    });
    expect(recommended?.reason).toContain(
      'nothing was moved: fine-tuning is not deployed, so no served line can be routed back',
    );
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

describe('a served line of fine-tuned models that regressed', () => {
  const LINE = 'tuned-assistant';
  const ENDPOINT = 'LlmOps-dev-llm';
  const candidate = (v: number) => `${LINE}-v${v}`;
  const component = (v: number) => `LlmOps-dev-tuned-assistant-ft${v}`;
  const packageArn = (v: number) =>
    `arn:aws:sagemaker:us-east-1:123456789012:model-package/llmops-dev-tuned-assistant/${v}`;
  const artifact = (v: number) => `s3://${BUCKET}/finetune/output/ft${v}/output/model.tar.gz`;
  const lineRun = { target: { model: LINE }, requested: { model: LINE } };
  const rollbackId = `rollback-model-${LINE}-${DRIFT_RUN}`;

  const lineage = (v: number): CatalogLineage => ({
    jobId: `ft-job-${v}`,
    modelPackageArn: packageArn(v),
    baseModel: 'qwen2-5-1-5b-instruct',
    recipe: 'sft-lora',
    dataset: { name: 'support-chats', version: String(v) },
    placeholder: true,
  });
  const entry = (id: string, v: number): CatalogModel => ({
    id,
    provider: 'sagemaker',
    modelId: ENDPOINT,
    inferenceComponent: component(v),
    kind: 'chat',
    contextWindow: 32_768,
    maxOutputTokens: 2048,
    pricePer1kInputUsd: 0,
    pricePer1kOutputUsd: 0,
    features: ['systemPrompt'],
    regions: ['us-east-1'],
    status: id === LINE ? 'active' : 'deprecated',
    lineage: lineage(v),
  });
  const deployedRecord = (v: number, previous: RolloutRecord['previous']): RolloutRecord => ({
    rolloutId: rolloutIdOf(packageArn(v)),
    servedModel: LINE,
    candidateModel: candidate(v),
    jobId: `ft-job-${v}`,
    modelPackageArn: packageArn(v),
    inferenceComponent: component(v),
    endpoint: ENDPOINT,
    share: previous === null ? 1 : 0.2,
    bakeSeconds: previous === null ? 0 : 1800,
    startedAt: `2026-12-0${v}T00:00:00.000Z`,
    bakeUntil: `2026-12-0${v}T00:30:00.000Z`,
    initial: previous === null,
    previous,
    breaches: [],
    status: 'promoted',
  });

  let catalog: FakeLineCatalog;
  let rollouts: FakeLineRollouts;
  /** Each component's status (absent: not found); each loads its version's artifact. */
  let components: Map<string, string>;

  /**
   * The line serves v2 since Dec 3 (its canary promoted), v1 before it (the first rollout); v3 passed its
   * gate on Dec 4 and awaits an admin: it was never deployed. Each candidate's gate run passed (v1 against
   * the base model, v2 and v3 against the line).
   */
  async function servedLine(): Promise<void> {
    catalog = new FakeLineCatalog();
    rollouts = new FakeLineRollouts();
    routing = {
      catalog,
      rollouts,
      serving: new SageMakerServing(new SageMakerClient({ region: 'us-east-1' })),
    };
    for (const v of [1, 2, 3]) catalog.models.set(candidate(v), entry(candidate(v), v));
    catalog.models.set(LINE, entry(LINE, 2));
    rollouts.records.set(`${LINE}/${rolloutIdOf(packageArn(1))}`, deployedRecord(1, null));
    rollouts.records.set(
      `${LINE}/${rolloutIdOf(packageArn(2))}`,
      deployedRecord(2, { model: candidate(1), inferenceComponent: component(1) }),
    );
    rollouts.current.set(LINE, {
      model: candidate(2),
      inferenceComponent: component(2),
      rolloutId: rolloutIdOf(packageArn(2)),
      at: '2026-12-03T00:31:00.000Z',
    });
    components = new Map([1, 2, 3].map((v) => [component(v), 'InService']));
    const version = (name: string) => Number(name.slice(-1));
    sagemaker.on(DescribeInferenceComponentCommand).callsFake((input) => {
      const name = String(input.InferenceComponentName);
      const status = components.get(name);
      if (status === undefined) {
        throw Object.assign(new Error(`Could not find inference component "${name}".`), {
          name: 'ValidationException',
        });
      }
      return {
        InferenceComponentName: name,
        InferenceComponentStatus: status,
        EndpointName: ENDPOINT,
        Specification: { Container: { ArtifactUrl: artifact(version(name)) } },
      };
    });
    sagemaker.on(DescribeModelPackageCommand).callsFake((input) => ({
      InferenceSpecification: {
        Containers: [{ Image: 'vllm', ModelDataUrl: artifact(version(String(input.ModelPackageName))) }],
      },
    }));
    sagemaker.on(DescribeEndpointCommand).resolves({ EndpointStatus: 'InService' } as never);
    const gateRuns: [number, string, string][] = [
      [1, 'qwen2-5-1-5b-instruct', '2026-12-01T06:10:00Z'],
      [2, LINE, '2026-12-02T06:10:00Z'],
      [3, LINE, '2026-12-04T06:10:00Z'],
    ];
    for (const [v, baseline, at] of gateRuns) {
      writeRun(`candidate-job-${v}`, 0.8);
      await handler()(
        completed(
          {
            runId: `candidate-job-${v}`,
            trigger: 'model',
            target: { model: candidate(v) },
            requested: { model: candidate(v) },
            baseline: { model: baseline },
            pass: true,
          },
          at,
        ),
      );
    }
    await handler()(driftDetected());
  }

  it('routes the line back to the last model deployed on it that passed, once SageMaker says it serves, and pages', async () => {
    await servedLine();
    const out = await handler()(driftRun(0.3, lineRun));
    expect(out).toMatchObject({ outcome: 'rolled_back', duplicate: false });

    // v1 (deployed before v2, passed its gate), not v3 (passed later, never deployed).
    const [rolledBack] = published();
    expect(rolledBack).toMatchObject({
      rollbackId,
      outcome: 'rolled_back',
      mode: 'act',
      target: { kind: 'model', id: LINE },
      from: { model: candidate(2) },
      to: { model: candidate(1), passingRunId: 'candidate-job-1' },
      // Compared with the gate run of the model the line routes to.
      evidence: { evaluation: { comparedWith: 'candidate-job-2' }, drift: { check: 'all-traffic' } },
    });
    expect(rolledBack?.reason).toMatch(
      /^model tuned-assistant \(model tuned-assistant-v2\) regressed on golden v2 against its last passing run candidate-job-2: f1 -0\.500 beyond the margin [0-9.]+; rolled back to model tuned-assistant-v1 \(passed candidate-job-1\)/,
    );
    expect(rolledBack?.reason).toContain(
      `; tuned-assistant now routes to inference component ${component(1)} (InService, its endpoint InService), which loads ${artifact(1)}`,
    );

    // The line calls v1's component with v1's lineage, with no canary; the next rollout names v1 as previous.
    const served = catalog.models.get(LINE);
    expect(served).toMatchObject({ inferenceComponent: component(1), lineage: lineage(1) });
    expect(served?.canary).toBeUndefined();
    expect(rollouts.current.get(LINE)).toEqual({
      model: candidate(1),
      inferenceComponent: component(1),
      rolloutId: rolloutIdOf(packageArn(1)),
      at: NOW.toISOString(),
    });
    expect(rollouts.taken).toEqual([revertIdOf(rollbackId)]);
    expect(rollouts.locks.size).toBe(0);
    // v1's component, its package and the endpoint were read before the move.
    expect(
      sagemaker
        .commandCalls(DescribeInferenceComponentCommand)
        .map((c) => c.args[0].input.InferenceComponentName),
    ).toEqual([component(1)]);
    expect(await store.rollbacks(`model:${LINE}`)).toEqual([{ ...rolledBack, targetKey: `model:${LINE}` }]);
    expect(store.decisions.get(DRIFT_RUN)).toMatchObject({ status: 'done', outcome: 'rolled_back' });

    // A redelivery decides nothing again and moves nothing.
    const again = await handler()(driftRun(0.3, lineRun));
    expect(again).toMatchObject({ outcome: 'rolled_back', duplicate: true });
    expect(published()).toHaveLength(1);
  });

  it('holds, moving nothing, when the destination is not in service (SageMaker rolled it back)', async () => {
    await servedLine();
    components.set(component(1), 'Failed');
    const out = await handler()(driftRun(0.3, lineRun));
    expect(out).toMatchObject({ outcome: 'held' });
    const [held] = published();
    expect(held).toMatchObject({ outcome: 'held', to: { model: candidate(1) } });
    expect(held?.reason).toContain(
      `; held: model tuned-assistant-v1 does not serve as deployed: inference component ${component(1)} is Failed`,
    );
    expect(held?.reason).not.toContain('rolled back to');
    expect(catalog.models.get(LINE)?.inferenceComponent).toBe(component(2));
    expect(rollouts.taken).toEqual([]);
    expect(rollouts.current.get(LINE)?.model).toBe(candidate(2));
  });

  it('holds while a rollout of the line is in progress', async () => {
    await servedLine();
    const line = catalog.models.get(LINE) as CatalogModel;
    catalog.models.set(LINE, {
      ...line,
      canary: {
        model: candidate(3),
        inferenceComponent: component(3),
        share: 0.2,
        rolloutId: 'rollout-00000000000000v3',
        calls: 0,
        errors: 0,
      },
    });
    const out = await handler()(driftRun(0.3, lineRun));
    expect(out).toMatchObject({ outcome: 'held' });
    expect(out.kind === 'decision' && out.reason).toContain(
      'held: rollout rollout-00000000000000v3 of model tuned-assistant is in progress',
    );
    expect(catalog.models.get(LINE)).toMatchObject({
      inferenceComponent: component(2),
      canary: { rolloutId: 'rollout-00000000000000v3' },
    });
    expect(rollouts.taken).toEqual([]);
  });

  it('finishes a move cut short by a failure on the redelivery, moving the line once', async () => {
    await servedLine();
    const promote = vi
      .spyOn(catalog, 'promote')
      .mockRejectedValueOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    expect(await errorOf(handler()(driftRun(0.3, lineRun)))).toMatchObject({ name: 'ThrottlingException' });
    // The destination is the line's canary with the whole share; the lock is free; nothing was announced.
    expect(catalog.models.get(LINE)?.canary).toMatchObject({
      model: candidate(1),
      share: 1,
      rolloutId: revertIdOf(rollbackId),
    });
    expect(rollouts.locks.size).toBe(0);
    expect(published()).toEqual([]);

    const out = await handler()(driftRun(0.3, lineRun));
    expect(out).toMatchObject({ outcome: 'rolled_back', duplicate: false });
    expect(promote).toHaveBeenCalledTimes(2);
    expect(catalog.models.get(LINE)).toMatchObject({ inferenceComponent: component(1) });
    expect(catalog.models.get(LINE)?.canary).toBeUndefined();
    expect(published().map((p) => p.outcome)).toEqual(['rolled_back']);
  });

  it('in recommend mode proposes the last model deployed on the line that passed, and moves nothing', async () => {
    await servedLine();
    const out = await handler({ mode: 'recommend', coolDownHours: 6 })(driftRun(0.3, lineRun));
    expect(out).toMatchObject({ outcome: 'recommended' });
    expect(published()[0]).toMatchObject({ from: { model: candidate(2) }, to: { model: candidate(1) } });
    expect(catalog.models.get(LINE)?.inferenceComponent).toBe(component(2));
    expect(rollouts.taken).toEqual([]);
  });
});

describe('the llmops.RolledBack contract', () => {
  it('its sample parses with the schema', () => {
    const sample = loadSample('rolled-back', rolledBackEvent);
    expect(sample.detail).toMatchObject({ outcome: 'rolled_back', to: { version: 3 } });
  });
});
