import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { metrics } from '#aws/logging.ts';
import { DEFAULT_METRICS } from '#core/eval/metrics/index.ts';
import { itemsJsonl, summaryJson } from '#core/eval/report/index.ts';
import {
  assembleReport,
  DEFAULT_JUDGED,
  judgeItemPair,
  runSpec,
  type ScoredItem,
  scoreAnswer,
} from '#core/eval/run.ts';
import type { EvalAnswer, EvalItem } from '#core/eval/types.ts';
import { evaluationCompletedDetail } from '#events/evaluation-completed.ts';
import { makeHandler, metricTarget } from '#functions/evaluation/report.ts';
import { evalStaging, type StagedPlan, type StagedScores } from '#functions/evaluation/staging.ts';
import { FakeEvaluationStore, memoryS3, testPlan } from './support.ts';

/** One EMF document as Powertools serializes it. */
interface Emf {
  readonly _aws: {
    readonly CloudWatchMetrics: readonly {
      readonly Namespace: string;
      readonly Dimensions: readonly (readonly string[])[];
    }[];
  };
  readonly [key: string]: unknown;
}

// The function's environment, set before its handler module is imported (it reads it at import).
vi.hoisted(() => {
  Object.assign(process.env, {
    ARTIFACTS_BUCKET: process.env.ARTIFACTS_BUCKET ?? 'artifacts-test',
    EVALUATIONS_TABLE: process.env.EVALUATIONS_TABLE ?? 'evaluations-test',
    EVENT_BUS_NAME: process.env.EVENT_BUS_NAME ?? 'bus-test',
  });
});

const s3 = memoryS3();
const events = mockClient(EventBridgeClient);
const ARTIFACTS = 'artifacts';
const RUN = 'run-1';
const NOW = new Date('2026-12-01T10:05:00.000Z');
const STARTED = '2026-12-01T10:00:00.000Z';

const item = (i: number): EvalItem => ({
  id: `q${i}`,
  messages: [{ role: 'user', content: `What is value ${i}?` }],
  references: [`value ${i} is ${i * 7}`],
  tags: i % 2 === 0 ? ['even'] : ['odd'],
  unanswerable: false,
});
const ITEMS = Array.from({ length: 24 }, (_, i) => item(i));
const answer = (it: EvalItem, good: boolean): EvalAnswer => ({
  itemId: it.id,
  answer: good ? `${it.references[0]}.` : 'I am not sure.',
  latencyMs: 100,
  usage: { inputTokens: 20, outputTokens: 8, costUsd: 0.0002 },
});

const SPEC = runSpec({
  runId: RUN,
  suite: { name: 'golden', version: 3 },
  items: ITEMS,
  target: { prompt: 'support:2' },
  baseline: { target: { prompt: 'support:1' } },
  metrics: DEFAULT_METRICS,
  judged: DEFAULT_JUDGED,
  judge: { kind: 'offline' },
});

/** The candidate fails every third item; the baseline answers all. */
async function scoredItems(goodCandidate: (i: number) => boolean = (i) => i % 3 !== 0) {
  const candidate = await Promise.all(
    ITEMS.map((it, i) => scoreAnswer(SPEC, it, answer(it, goodCandidate(i)))),
  );
  const baseline = await Promise.all(ITEMS.map((it) => scoreAnswer(SPEC, it, answer(it, true))));
  return { candidate, baseline };
}

function plan(overrides: Partial<StagedPlan> = {}): StagedPlan {
  return testPlan({
    request: {
      suite: 'golden',
      target: { prompt: 'support@latest' },
      baseline: { prompt: 'support@production' },
    },
    suite: { name: 'golden', version: 3, items: 24, location: { bucket: 'curated', key: 'data.jsonl' } },
    startedAt: STARTED,
    items: 24,
    batches: [
      { index: 0, key: evalStaging.batch(RUN, 0) },
      { index: 1, key: evalStaging.batch(RUN, 1) },
    ],
    ...overrides,
  });
}

/** Stages the plan and the scores in two batches (the second listed first, to check the order). */
function stage(p: StagedPlan, scored: { candidate: ScoredItem[]; baseline?: ScoredItem[] }): void {
  s3.put(ARTIFACTS, evalStaging.plan(RUN), JSON.stringify({ ...p, batches: [...p.batches].reverse() }));
  for (const [index, [from, to]] of [
    [0, 12],
    [12, 24],
  ].entries()) {
    const batch: StagedScores = {
      candidate: scored.candidate.slice(from, to),
      ...(scored.baseline ? { baseline: scored.baseline.slice(from, to) } : {}),
    };
    s3.put(ARTIFACTS, evalStaging.scored(RUN, index), JSON.stringify(batch));
  }
}

const announced = () =>
  events
    .commandCalls(PutEventsCommand)
    .map((call) =>
      evaluationCompletedDetail.parse(JSON.parse(String(call.args[0].input.Entries?.[0]?.Detail))),
    );

describe('report handler', () => {
  let store: FakeEvaluationStore;
  const handler = () =>
    makeHandler({
      s3: s3.client,
      artifactsBucket: ARTIFACTS,
      store,
      events: new EventBridgeClient({ region: 'us-east-1' }),
      busName: 'bus',
      offline: false,
      now: () => NOW,
    });

  beforeEach(async () => {
    s3.install();
    events.reset();
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-1' }] });
    store = new FakeEvaluationStore(NOW.toISOString());
    await store.claimRun(
      {
        runId: RUN,
        status: 'running',
        trigger: 'api',
        request: plan().request,
        requestedBy: 'a',
        createdAt: STARTED,
        updatedAt: STARTED,
      },
      {},
    );
  });

  it('writes the report the local CLI writes, from the batches in index order, and records the run', async () => {
    const scored = await scoredItems();
    stage(plan(), scored);
    const out = await handler()({ runId: RUN, batches: [] });
    const report = assembleReport(SPEC, { ...scored, startedAt: STARTED, finishedAt: NOW.toISOString() });
    expect(out).toEqual({ runId: RUN, status: 'succeeded', pass: report.gate?.pass, regression: false });

    const prefix = `evaluations/${RUN}/`;
    const reportPath = `s3://${ARTIFACTS}/${prefix}report.html`;
    expect(s3.text(ARTIFACTS, `${prefix}summary.json`)).toBe(
      `${JSON.stringify(summaryJson(report, { reportPath }), null, 2)}\n`,
    );
    expect(s3.text(ARTIFACTS, `${prefix}items.jsonl`)).toBe(itemsJsonl(report));
    expect(s3.text(ARTIFACTS, `${prefix}report.html`)).toMatch(/^<!doctype html>/i);
    expect(s3.text(ARTIFACTS, `${prefix}report.md`)).toContain('support:2');
    expect(s3.objects.get(`${ARTIFACTS}/${prefix}report.html`)?.contentType).toBe('text/html; charset=utf-8');

    const run = store.runs.get(RUN);
    expect(run).toMatchObject({
      status: 'succeeded',
      failed: 0,
      judge: 'offline',
      report: {
        bucket: ARTIFACTS,
        summary: `${prefix}summary.json`,
        items: `${prefix}items.jsonl`,
        html: `${prefix}report.html`,
        markdown: `${prefix}report.md`,
      },
      gate: { pass: false },
    });
    expect(run?.regression).toBeUndefined();
    const f1 = run?.metrics?.f1;
    expect(f1).toEqual({ value: expect.any(Number), n: 24, ci: [expect.any(Number), expect.any(Number)] });
    expect(run?.gate?.metrics.find((m) => m.name === 'f1')).toMatchObject({
      verdict: 'fail',
      diff: expect.any(Number),
    });

    const [detail] = announced();
    expect(detail).toMatchObject({
      runId: RUN,
      trigger: 'api',
      suite: { name: 'golden', version: 3, items: 24 },
      target: { prompt: 'support:2' },
      baseline: { prompt: 'support:1' },
      pass: false,
      regression: false,
      judge: 'offline',
      failed: 0,
    });
    expect(detail?.metrics.f1).toEqual(f1);
    expect(events.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0]).toMatchObject({
      EventBusName: 'bus',
      Source: 'llmops',
      DetailType: 'llmops.EvaluationCompleted',
    });
  });

  it("puts a pairwise run's win rates in summary.json, the run record and the event, without gating on them", async () => {
    const scored = await scoredItems();
    const pairs = await Promise.all(
      scored.candidate.map((c, i) =>
        judgeItemPair(SPEC, c.item, c.answer, (scored.baseline[i] as ScoredItem).answer),
      ),
    );
    const request = {
      suite: 'golden',
      target: { prompt: 'support@latest' },
      baseline: { prompt: 'support@production' },
      pairwise: true,
    };
    const p = plan({ request });
    stage(p, scored);
    // The pairs travel with their batch's scores.
    for (const [index, [from, to]] of [
      [0, 12],
      [12, 24],
    ].entries()) {
      const key = evalStaging.scored(RUN, index);
      const batch = s3.json<StagedScores>(ARTIFACTS, key);
      s3.put(ARTIFACTS, key, JSON.stringify({ ...batch, pairs: pairs.slice(from, to) }));
    }
    const out = await handler()({ runId: RUN });

    const pairwiseSpec = runSpec({
      runId: RUN,
      suite: { name: 'golden', version: 3 },
      items: ITEMS,
      target: { prompt: 'support:2' },
      baseline: { target: { prompt: 'support:1' } },
      metrics: DEFAULT_METRICS,
      judged: DEFAULT_JUDGED,
      judge: { kind: 'offline' },
      pairwise: true,
    });
    const report = assembleReport(pairwiseSpec, {
      ...scored,
      pairs,
      startedAt: STARTED,
      finishedAt: NOW.toISOString(),
    });
    const w = report.winRate;
    // The candidate is unsure on every third item (8 of 24), where the baseline answers: lost.
    expect(w).toMatchObject({ n: 24, failed: 0, judge: 'offline', rubric: 'offline-pairwise:1' });
    expect(w?.losses).toBeGreaterThanOrEqual(8);
    const summary = s3.json<ReturnType<typeof summaryJson>>(ARTIFACTS, `evaluations/${RUN}/summary.json`);
    expect(summary.winRate).toEqual(summaryJson(report).winRate);
    expect(summary.winRate).toMatchObject({ n: 24, failed: 0, judge: 'offline' });
    expect(s3.text(ARTIFACTS, `evaluations/${RUN}/report.html`)).toContain('id="win-rate"');
    expect(s3.text(ARTIFACTS, `evaluations/${RUN}/report.md`)).toContain('**Win rate against the baseline**');

    const expected = {
      win_rate: { value: w?.raw.value, n: 24, ci: [w?.raw.ci[0], w?.raw.ci[1]] },
      win_rate_lc: { value: w?.lengthControlled.value, n: 24, ci: [...(w?.lengthControlled.ci ?? [])] },
    };
    expect(store.runs.get(RUN)?.metrics).toMatchObject(expected);
    const [detail] = announced();
    expect(detail?.metrics).toMatchObject(expected);
    expect(detail?.requested).toEqual({ prompt: 'support@latest' });
    // They inform: the gate's verdicts are the run's without them.
    expect(out.pass).toBe(report.gate?.pass);
    expect(store.runs.get(RUN)?.gate?.metrics.map((m) => m.name)).not.toContain('win_rate');
  });

  it('emits each metric as EMF by suite and target, and the run counts, but no series for a promotion', async () => {
    /** Every EMF document published: the single metrics as they are added, then the handler's own. */
    const emitted = async (p: StagedPlan): Promise<Emf[]> => {
      stage(p, await scoredItems());
      const published: Emf[] = [];
      // The shared metrics of the earlier tests (no middleware flushes them here).
      metrics.clearMetrics();
      const single = metrics.singleMetric.bind(metrics);
      const spy = vi.spyOn(metrics, 'singleMetric').mockImplementation(() => {
        const one = single();
        vi.spyOn(one, 'publishStoredMetrics').mockImplementation(() => {
          published.push(JSON.parse(JSON.stringify(one.serializeMetrics())));
          one.clearMetrics();
          one.clearDimensions();
          return one;
        });
        return one;
      });
      try {
        await handler()({ runId: RUN });
        published.push(JSON.parse(JSON.stringify(metrics.serializeMetrics())));
      } finally {
        spy.mockRestore();
        metrics.clearMetrics();
        metrics.clearDimensions();
      }
      return published;
    };
    const byMetric = await emitted(plan());
    const runCounts = byMetric.pop();
    const values = store.runs.get(RUN)?.metrics ?? {};
    const names = Object.keys(values).filter((name) => values[name]?.value !== null);
    expect(names).toEqual(expect.arrayContaining(['exact_match', 'f1', 'rouge_l', 'answer_relevance']));
    expect(byMetric.map((emf) => emf.Metric)).toEqual(names);
    for (const emf of byMetric) {
      expect(emf._aws.CloudWatchMetrics).toEqual([
        {
          Namespace: 'LLMOps',
          Dimensions: [expect.arrayContaining(['Suite', 'Target', 'Metric'])],
          Metrics: [{ Name: 'EvaluationMetricValue', Unit: 'None' }],
        },
      ]);
      // Named by the target as it was asked for, not the version it resolved to.
      expect(emf).toMatchObject({ Suite: 'golden', Target: 'support@latest' });
      expect(emf.EvaluationMetricValue).toBe(values[emf.Metric as string]?.value);
    }
    expect(runCounts?._aws.CloudWatchMetrics[0]?.Namespace).toBe('LLMOps');
    expect(runCounts).toMatchObject({
      EvaluationRuns: 1,
      EvaluationRegressions: 0,
      EvaluationGateFailures: 1,
    });

    // A promotion's candidate version is a gate decision, not a series: the counts only.
    const promotion = await emitted(
      plan({
        trigger: 'promotion',
        promotion: { prompt: 'support', candidateVersion: 2, baselineVersion: 1 },
      }),
    );
    expect(promotion).toHaveLength(1);
    expect(promotion[0]).toMatchObject({ EvaluationRuns: 1 });
  });

  it("records a promotion run's gate with the metrics that failed it", async () => {
    stage(
      plan({
        trigger: 'promotion',
        promotion: { prompt: 'support', candidateVersion: 2, baselineVersion: 1 },
      }),
      await scoredItems(),
    );
    await handler()({ runId: RUN });
    expect(store.gates).toEqual([
      {
        prompt: 'support',
        candidateVersion: 2,
        baselineVersion: 1,
        suite: 'golden',
        runId: RUN,
        status: 'succeeded',
        pass: false,
        failing: expect.arrayContaining([expect.objectContaining({ name: 'f1', verdict: 'fail' })]),
        updatedAt: NOW.toISOString(),
      },
    ]);
  });

  it('checks a scheduled run against the previous run of its target on the suite version', async () => {
    const { candidate } = await scoredItems((i) => i % 2 === 0);
    const schedule = plan({ trigger: 'schedule', baseline: undefined });
    stage(schedule, { candidate });
    // The previous run answered every item well.
    const previous = await scoredItems(() => true);
    const before = assembleReport(SPEC, {
      candidate: previous.candidate,
      startedAt: STARTED,
      finishedAt: STARTED,
    });
    s3.put(ARTIFACTS, 'evaluations/run-0/items.jsonl', itemsJsonl(before));
    store.previous.set('golden', {
      runId: 'run-0',
      status: 'succeeded',
      trigger: 'schedule',
      request: schedule.request,
      requestedBy: 'schedule:golden-daily',
      createdAt: STARTED,
      updatedAt: STARTED,
      suite: { name: 'golden', version: 3, items: 24 },
      report: {
        bucket: ARTIFACTS,
        summary: 'evaluations/run-0/summary.json',
        items: 'evaluations/run-0/items.jsonl',
        html: 'evaluations/run-0/report.html',
        markdown: 'evaluations/run-0/report.md',
      },
    });
    const out = await handler()({ runId: RUN });
    expect(out).toMatchObject({ pass: null, regression: true });
    expect(store.runs.get(RUN)).toMatchObject({ status: 'succeeded', regression: true });
    expect(announced()[0]).toMatchObject({ regression: true, pass: null, baseline: null });
  });

  it('does not compare a scheduled run with a previous run of another suite version', async () => {
    const { candidate } = await scoredItems((i) => i % 2 === 0);
    stage(plan({ trigger: 'schedule', baseline: undefined }), { candidate });
    store.previous.set('golden', {
      runId: 'run-0',
      status: 'succeeded',
      trigger: 'schedule',
      request: plan().request,
      requestedBy: 's',
      createdAt: STARTED,
      updatedAt: STARTED,
      suite: { name: 'golden', version: 2, items: 24 },
      report: { bucket: ARTIFACTS, summary: 's', items: 'missing.jsonl', html: 'h', markdown: 'm' },
    });
    expect(await handler()({ runId: RUN })).toMatchObject({ regression: false });
    expect(store.runs.get(RUN)).toMatchObject({ regression: false });
  });

  it("queues the model judge's uncertain scores for review, leaving out bias variants", async () => {
    const judged = (id: string, unstable: boolean): ScoredItem => ({
      item: { ...item(0), id },
      answer: answer(item(0), true),
      scores: {
        faithfulness: {
          metric: 'faithfulness',
          value: 0.5,
          details: { judge: 'vendor.judge', rubric: 'judge-faithfulness:1', unstable, spread: 0.5 },
        },
      },
    });
    const candidate = [judged('q0', true), judged('q1', false), judged('p1@female', true)];
    const p = plan({
      baseline: undefined,
      judge: { offline: false, id: 'judge', modelId: 'vendor.judge', provider: 'bedrock' },
      batches: [{ index: 0, key: evalStaging.batch(RUN, 0) }],
    });
    s3.put(ARTIFACTS, evalStaging.plan(RUN), JSON.stringify(p));
    s3.put(ARTIFACTS, evalStaging.scored(RUN, 0), JSON.stringify({ candidate }));
    await handler()({ runId: RUN });
    expect([...store.tasks.values()].map((t) => [t.itemId, t.reason])).toEqual([
      ['q0', 'unstable'],
      ['q1', 'low_confidence'],
    ]);
    expect(store.runs.get(RUN)).toMatchObject({ judge: 'vendor.judge' });
  });

  it('announces nothing for a run that another execution already ended', async () => {
    stage(plan(), await scoredItems());
    await store.finishRun(RUN, { status: 'failed', error: 'earlier' });
    await handler()({ runId: RUN });
    expect(store.runs.get(RUN)).toMatchObject({ status: 'failed', error: 'earlier' });
    expect(announced()).toEqual([]);
  });
});

describe('metricTarget', () => {
  it('names the target as it was asked for: the prompt reference, the model, or both', () => {
    expect(metricTarget({ prompt: 'support@production' })).toBe('support@production');
    expect(metricTarget({ model: 'nova-micro' })).toBe('model:nova-micro');
    expect(metricTarget({ prompt: 'support@production', model: 'nova-micro' })).toBe(
      'support@production model:nova-micro',
    );
  });
});
