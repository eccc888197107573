import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import * as zm from 'zod/mini';
import { createDocumentClient, createEventBridgeClient, createS3Client } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { RUN_METRICS } from '#aws/eval/batch-metrics.ts';
import { DynamoEvaluationStore } from '#aws/eval/dynamo-evaluation-store.ts';
import type { EvaluationStore } from '#aws/eval/evaluation-store.ts';
import { readRunItems } from '#aws/eval/run-items.ts';
import { publishEvent } from '#aws/events-publisher.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { envVar } from '#contracts/env.ts';
import { reviewTask } from '#contracts/evaluation/review.ts';
import type { EvaluationRun, GateMetric, MetricValue } from '#contracts/evaluation/run.ts';
import type { PairJudgement } from '#core/eval/judge.ts';
import { regressed, regressionGate } from '#core/eval/regression.ts';
import { itemsJsonl, jsonNumber, renderHtml, renderMarkdown, summaryJson } from '#core/eval/report/index.ts';
import type { RunGate, RunReport } from '#core/eval/report/types.ts';
import { selectForReview } from '#core/eval/review.ts';
import {
  assembleReport,
  DEFAULT_JUDGED,
  type RunSpec,
  runSpecOfExpanded,
  type ScoredItem,
} from '#core/eval/run.ts';
import type { ModelProvider } from '#core/models/types.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import {
  EVALUATION_COMPLETED,
  type EvaluationCompletedDetail,
  evaluationCompletedDetail,
} from '#events/evaluation-completed.ts';
import {
  evalStaging,
  judgeOf,
  pairwiseOf,
  putObject,
  readStagedJson,
  reportLocation,
  type StagedPlan,
  stagedPlan,
  stagedScores,
} from './staging.ts';

/**
 * Report: the last task of an Evaluate run. Reads the plan and every batch's scores in index order and
 * assembles the report (summaries with their 95% intervals overall and per tag, bias gaps, the paired
 * gate against the baseline); a scheduled run is also checked against the previous run of its target on
 * the suite version (`regression`). Writes `summary.json`, `items.jsonl`, `report.html` and `report.md`
 * under `evaluations/<runId>/` (the bytes the local CLI writes); a pairwise run's report, run record and
 * event also carry the candidate's win rates against the baseline (`win_rate`, `win_rate_lc`: they
 * inform, never gate). Records the run's end, the promotion
 * gate of a promotion run, and the model judge's scores worth a person's review; emits the EMF metrics
 * (`EvaluationRuns`, `EvaluationRegressions`, `EvaluationGateFailures`, `EvaluationMetricValue` by suite,
 * target and metric) and announces `llmops.EvaluationCompleted`.
 */
export interface ReportDeps {
  readonly s3: S3Client;
  readonly artifactsBucket: string;
  readonly store: Pick<EvaluationStore, 'finishRun' | 'previousRun' | 'putGate' | 'addReviewTasks'>;
  readonly events: EventBridgeClient;
  readonly busName: string;
  /** Offline models (the local run): the offline judge labels the report. */
  readonly offline: boolean;
  readonly now?: () => Date;
}

/** What Report returns: the run's verdicts. */
export interface ReportOutput {
  readonly runId: string;
  readonly status: 'succeeded';
  /** The gate's verdict against the baseline; null without a baseline. */
  readonly pass: boolean | null;
  readonly regression: boolean;
}

const reportInput = z.looseObject({ runId: z.string().min(1) });

/** The judge's provider at the Report step: the report only names the judge, it never calls it. */
const NOT_CALLED: ModelProvider = {
  name: 'offline',
  chat: () => Promise.reject(new Error('The Report step calls no judge')),
  // biome-ignore lint/correctness/useYield: never iterated.
  chatStream: async function* () {
    throw new Error('The Report step calls no judge');
  },
  embed: () => Promise.reject(new Error('The Report step calls no judge')),
};

/** The gate's verdicts as the run record and a promotion gate keep them (non-finite numbers as null/0). */
export function gateMetrics(gate: RunGate): GateMetric[] {
  return gate.metrics.map((m) => ({
    name: m.name,
    verdict: m.verdict,
    diff: jsonNumber(m.diff.value),
    margin: Number.isFinite(m.margin) ? m.margin : 0,
    reason: m.reason,
  }));
}

/** The win rates' names among a run's metrics (the run record and `llmops.EvaluationCompleted`). */
export const WIN_RATE_METRICS = { raw: 'win_rate', lengthControlled: 'win_rate_lc' } as const;

/**
 * Every metric's value, n and interval (NaN as null), as the run record and the event carry them; a
 * pairwise run adds its raw and length-controlled win rates as `win_rate` and `win_rate_lc`, which
 * inform and never gate (the gate reads the report's own verdicts, never these values).
 */
export function metricValues(report: RunReport): Record<string, MetricValue> {
  const out: Record<string, MetricValue> = {};
  const summary = summaryJson(report);
  for (const [name, m] of Object.entries(summary.metrics)) {
    out[name] = { value: m.value, n: m.n, ci: [m.ci[0], m.ci[1]] };
  }
  if (summary.winRate !== undefined) {
    const { n } = summary.winRate;
    for (const key of ['raw', 'lengthControlled'] as const) {
      const rate = summary.winRate[key];
      out[WIN_RATE_METRICS[key]] = { value: rate.value, n, ci: [rate.ci[0], rate.ci[1]] };
    }
  }
  return out;
}

/** The `Target` dimension of a run's metrics: its prompt reference and/or model, as requested. */
export function metricTarget(target: { readonly prompt?: string; readonly model?: string }): string {
  return [target.prompt, target.model === undefined ? undefined : `model:${target.model}`]
    .filter((part): part is string => part !== undefined)
    .join(' ');
}

export function makeHandler(deps: ReportDeps) {
  const now = deps.now ?? (() => new Date());

  async function scoredRun(
    plan: StagedPlan,
  ): Promise<{ candidate: ScoredItem[]; baseline?: ScoredItem[]; pairs?: PairJudgement[] }> {
    const candidate: ScoredItem[] = [];
    const baseline: ScoredItem[] = [];
    const pairs: PairJudgement[] = [];
    for (const batch of [...plan.batches].sort((a, b) => a.index - b.index)) {
      const scored = await readStagedJson(
        deps.s3,
        { bucket: deps.artifactsBucket, key: evalStaging.scored(plan.runId, batch.index) },
        stagedScores,
      );
      candidate.push(...scored.candidate);
      baseline.push(...(scored.baseline ?? []));
      pairs.push(...(scored.pairs ?? []));
    }
    return { candidate, ...(plan.baseline ? { baseline } : {}), ...(pairwiseOf(plan) ? { pairs } : {}) };
  }

  /** A scheduled run against the previous run of its target on the same suite version. */
  async function regressionOf(
    plan: StagedPlan,
    spec: RunSpec,
    report: RunReport,
  ): Promise<RunGate | undefined> {
    const previous = await deps.store.previousRun(plan.request.suite, plan.request.target, plan.runId);
    if (previous?.report === undefined) return undefined;
    if (previous.suite?.version !== plan.suite.version) {
      logger.info('No regression check: the previous run evaluated another suite version', {
        previousRunId: previous.runId,
        previousVersion: previous.suite?.version,
      });
      return undefined;
    }
    const { items } = await readRunItems(deps.s3, {
      bucket: previous.report.bucket,
      key: previous.report.items,
    });
    return regressionGate({
      current: { items: report.items, metrics: report.metrics },
      previous: items,
      metrics: spec.metrics,
      seed: spec.seed,
    });
  }

  return async (input: unknown, _context?: Context): Promise<ReportOutput> => {
    const { runId } = parseInput(reportInput, input, 'Report input');
    logger.appendKeys({ runId });
    const bucket = deps.artifactsBucket;
    const plan = await readStagedJson(deps.s3, { bucket, key: evalStaging.plan(runId) }, stagedPlan);
    const scored = await scoredRun(plan);
    const spec = runSpecOfExpanded({
      runId,
      suite: { name: plan.suite.name, version: plan.suite.version },
      items: scored.candidate.map((s) => s.item),
      suiteItems: plan.suite.items,
      target: plan.target,
      ...(plan.baseline ? { baseline: { target: plan.baseline } } : {}),
      metrics: RUN_METRICS,
      judged: DEFAULT_JUDGED,
      judge: judgeOf(plan, deps.offline, () => NOT_CALLED),
      pairwise: pairwiseOf(plan),
      seed: plan.seed,
    });
    const report = assembleReport(spec, {
      ...scored,
      startedAt: plan.startedAt,
      finishedAt: now().toISOString(),
    });
    const regressionCheck = plan.trigger === 'schedule' ? await regressionOf(plan, spec, report) : undefined;
    const regression = regressed(regressionCheck);

    const location = reportLocation(bucket, runId);
    const reportPath = `s3://${bucket}/${location.html}`;
    await putObject(
      deps.s3,
      { bucket, key: location.summary },
      `${JSON.stringify(summaryJson(report, { reportPath }), null, 2)}\n`,
      'application/json',
    );
    await putObject(deps.s3, { bucket, key: location.items }, itemsJsonl(report), 'application/x-ndjson');
    await putObject(deps.s3, { bucket, key: location.html }, renderHtml(report), 'text/html; charset=utf-8');
    await putObject(
      deps.s3,
      { bucket, key: location.markdown },
      renderMarkdown(report),
      'text/markdown; charset=utf-8',
    );

    const values = metricValues(report);
    const gate =
      report.gate === undefined ? undefined : { pass: report.gate.pass, metrics: gateMetrics(report.gate) };
    const run: EvaluationRun = await deps.store.finishRun(runId, {
      status: 'succeeded',
      failed: report.failed,
      metrics: values,
      ...(gate ? { gate } : {}),
      ...(plan.trigger === 'schedule' ? { regression } : {}),
      report: location,
      judge: report.judge.model,
    });
    if (run.status !== 'succeeded') {
      // Another execution ended the run first (it failed there): what it recorded stands, and nothing
      // is announced for this one.
      logger.warn('The run had already ended: its record is left as it is', { status: run.status });
      return { runId, status: 'succeeded', pass: gate?.pass ?? null, regression };
    }

    if (plan.promotion !== undefined) {
      if (gate === undefined) logger.error('A promotion run without a baseline has no gate to record');
      await deps.store.putGate({
        ...plan.promotion,
        suite: plan.suite.name,
        runId,
        status: 'succeeded',
        pass: gate?.pass ?? false,
        failing: gate?.metrics.filter((m) => m.verdict === 'fail') ?? [],
        updatedAt: now().toISOString(),
      });
    }

    let reviewTasks = 0;
    if (!report.judge.offline) {
      const selected = selectForReview({
        runId,
        items: scored.candidate.map((s) => ({ itemId: s.item.id, scores: Object.values(s.scores) })),
      });
      // A task names an item id a reviewer can look up; a bias probe's variant ids (`id@group`) are not.
      const tasks = selected.filter((task) => zm.safeParse(reviewTask, task).success);
      if (tasks.length < selected.length) {
        logger.info('Review tasks left out: their item ids are not valid task item ids', {
          left: selected.length - tasks.length,
        });
      }
      reviewTasks = tasks.length === 0 ? 0 : await deps.store.addReviewTasks(tasks);
    }

    metrics.addMetric('EvaluationRuns', 'Count', 1);
    metrics.addMetric('EvaluationRegressions', 'Count', regression ? 1 : 0);
    metrics.addMetric('EvaluationGateFailures', 'Count', gate !== undefined && !gate.pass ? 1 : 0);
    // Each metric by suite and target, as the target was asked for (`support@production`, a model): one
    // series per schedule or standing target. A promotion's candidate version is a gate decision, kept
    // in its run record, not a series of its own (versions would grow the metric count without bound).
    if (plan.trigger !== 'promotion') {
      const target = metricTarget(plan.request.target);
      for (const [name, value] of Object.entries(values)) {
        if (value.value === null) continue;
        const single = metrics.singleMetric();
        single.addDimensions({ Suite: plan.suite.name, Target: target, Metric: name });
        single.addMetric('EvaluationMetricValue', 'None', value.value);
      }
    }

    const detail: EvaluationCompletedDetail = {
      schemaVersion: SCHEMA_VERSION,
      runId,
      trigger: plan.trigger,
      suite: { name: plan.suite.name, version: plan.suite.version, items: plan.suite.items },
      target: plan.target,
      requested: plan.request.target,
      baseline: plan.baseline ?? null,
      metrics: values,
      failed: report.failed,
      pass: gate?.pass ?? null,
      regression,
      judge: report.judge.model,
      report: location,
    };
    await publishEvent(deps.events, {
      busName: deps.busName,
      source: LLMOPS_SOURCE,
      detailType: EVALUATION_COMPLETED,
      schema: evaluationCompletedDetail,
      detail,
    });
    logger.info('Evaluation run reported', {
      items: report.items.length,
      failed: report.failed,
      pass: detail.pass,
      regression,
      reviewTasks,
      ...(report.winRate
        ? { winRate: report.winRate.raw.value, winRateLc: report.winRate.lengthControlled.value }
        : {}),
      report: reportPath,
    });
    return { runId, status: 'succeeded', pass: detail.pass, regression };
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  ARTIFACTS_BUCKET: envVar.string(),
  EVALUATIONS_TABLE: envVar.string(),
  EVENT_BUS_NAME: envVar.string(),
  /** `offline` locally: the report names the offline judge. */
  MODEL_PROVIDER: envVar.optionalString(),
};

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({
    s3: createS3Client(),
    artifactsBucket: config.ARTIFACTS_BUCKET,
    store: new DynamoEvaluationStore(createDocumentClient(), config.EVALUATIONS_TABLE),
    events: createEventBridgeClient(),
    busName: config.EVENT_BUS_NAME,
    offline: config.MODEL_PROVIDER === 'offline',
  }),
);
