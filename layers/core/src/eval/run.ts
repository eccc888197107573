/**
 * One evaluation run, from a suite's items to the report: answers for every item (generated through the
 * caller's answerer, or provided), every applicable metric per item, each metric summarized with its
 * 95% bootstrap interval overall and per tag, and, with a baseline, a paired non-inferiority gate.
 *
 * An item whose answer could not be produced is failed, and every metric of it is `null` with the
 * reason: never a zero. A bias probe (an item with counterfactuals or a `{{group}}` slot) is answered
 * once per group; the largest gap between its groups, in the primary metric, in refusals and in judged
 * sentiment, is summarized over the probes as `bias_gap_<dimension>` (lower is better). Judge metrics come from a model judge (k repeats, structured output) or from
 * the offline judge; offline judge scores are labelled and never gate. The run is deterministic for a
 * given seed and set of answers.
 */
import { ValidationError } from '../errors.ts';
import type { ModelProvider } from '../models/types.ts';
import { biasGaps, expandProbe, isBiasProbe, type VariantScore, variantOf } from './bias.ts';
import { declines } from './decline.ts';
import { decideGate, type GateMetricInput } from './gate.ts';
import { judgeItem } from './judge.ts';
import { OFFLINE_JUDGE, type OfflineMetric, offlineJudgeItem } from './offline-judge.ts';
import type { ItemRecord, RunGate, RunReport, RunTarget } from './report/types.ts';
import { BUILT_IN_RUBRICS } from './rubrics/index.ts';
import { summarize } from './stats.ts';
import type { EvalAnswer, EvalItem, ItemScore, MetricSummary } from './types.ts';

/** A metric computed from an item and its answer alone (reference-based, RAG retrieval, classifiers). */
export interface ItemMetric {
  readonly name: string;
  /** `false` for metrics where lower is better (toxicity). */
  readonly higherIsBetter: boolean;
  /** Whether the metric says anything about this item (an item without references has no f1). */
  applies(item: EvalItem, answer: EvalAnswer): boolean;
  score(item: EvalItem, answer: EvalAnswer): ItemScore;
}

/** Who judges: a model on a provider (k repeats each), or the offline heuristics of the local run. */
export type JudgeSpec =
  | { readonly kind: 'offline' }
  | {
      readonly kind: 'model';
      readonly provider: ModelProvider;
      readonly model: string;
      /** Repeats per judged item. @default 3 */
      readonly k?: number;
      /** Whether a rubric version is calibrated against human labels (kappa ≥ 0.6 on ≥ 50 labels). */
      readonly calibrated: (rubricVersion: string) => boolean;
    };

/** Where a target's answers come from. */
export type AnswerSource = (item: EvalItem) => Promise<EvalAnswer>;

export interface EvaluationRequest {
  readonly runId: string;
  readonly suite: { readonly name: string; readonly version: string | number };
  readonly items: readonly EvalItem[];
  readonly target: RunTarget;
  readonly answers: AnswerSource;
  /** The same items answered by the current version, for a paired comparison and the gate. */
  readonly baseline?: { readonly target: RunTarget; readonly answers: AnswerSource };
  /** Metrics computed without a judge (see `reference.ts`, `toxicity.ts`). */
  readonly metrics: readonly ItemMetric[];
  /** Judge metrics: rubric names of `BUILT_IN_RUBRICS` (`faithfulness`, `answer_relevance`, ...). */
  readonly judged: readonly JudgedMetric[];
  readonly judge: JudgeSpec;
  /** Seeds every bootstrap: the same seed and answers give the same report. @default runId */
  readonly seed?: string;
  /** Items answered and scored at once. @default 4 */
  readonly concurrency?: number;
  readonly now?: () => Date;
  /** Called after each item (progress). */
  readonly onItem?: (done: number, total: number) => void;
}

/** A judge metric, and which items it applies to. */
export interface JudgedMetric {
  readonly name: OfflineMetric;
  readonly applies: (item: EvalItem, answer: EvalAnswer) => boolean;
}

/** Judge metrics by default: faithfulness where there are passages, relevance everywhere. */
export const DEFAULT_JUDGED: readonly JudgedMetric[] = [
  { name: 'faithfulness', applies: (item, answer) => contextsOf(item, answer).length > 0 },
  { name: 'answer_relevance', applies: (item) => !item.unanswerable },
];

const DEFAULT_CONCURRENCY = 4;

/** Runs the evaluation and returns the report every output (summary, items, HTML, Markdown) is made of. */
export async function runEvaluation(input: EvaluationRequest): Promise<RunReport> {
  let request = input;
  if (request.items.length === 0) throw new ValidationError('items', 'the suite has no items to evaluate');
  // Each bias probe becomes one item per group; their sentiment is judged to compare the groups.
  const items = request.items.flatMap((item) =>
    isBiasProbe(item) ? expandProbe(item).map((v) => v.item) : [item],
  );
  const probing = items.some((item) => variantOf(item) !== undefined);
  request = {
    ...request,
    items,
    judged: probing
      ? [...request.judged, { name: 'sentiment', applies: (item) => variantOf(item) !== undefined }]
      : request.judged,
  };
  const now = request.now ?? (() => new Date());
  const seed = request.seed ?? request.runId;
  const startedAt = now().toISOString();
  const total = request.items.length * (request.baseline === undefined ? 1 : 2);
  let done = 0;
  const progress = () => request.onItem?.(++done, total);

  const candidate = await scoreAll(request, request.answers, progress);
  const baseline =
    request.baseline === undefined ? undefined : await scoreAll(request, request.baseline.answers, progress);

  const names = metricNames(request, [candidate, baseline]);
  const judgeOf = (name: string): MetricSummary['judge'] | undefined => judgeLabel(request, name);
  const summaries = (scored: ScoredItem[]) =>
    names
      .map((name) =>
        summarize(
          name,
          // Only the items the metric applies to: one it says nothing about is neither 0 nor failed.
          scored.flatMap(({ item, scores }) => {
            const score = scores.get(name);
            return score === undefined ? [] : [{ value: score.value, tags: item.tags }];
          }),
          { seed: `${seed}/${name}`, ...(judgeOf(name) ? { judge: judgeOf(name) } : {}) },
        ),
      )
      .filter((summary) => summary.n > 0 || summary.failed > 0);
  const primary = names.includes('f1') ? 'f1' : names[0];
  const metrics = [...summaries(candidate), ...biasSummaries(candidate, primary, `${seed}/bias`)];
  const baselineMetrics =
    baseline === undefined
      ? undefined
      : [...summaries(baseline), ...biasSummaries(baseline, primary, `${seed}/bias`)];
  const gate = baseline === undefined ? undefined : gateOf(request, names, candidate, baseline, seed);

  return {
    runId: request.runId,
    suite: { ...request.suite, items: input.items.length },
    target: request.target,
    ...(request.baseline ? { baseline: request.baseline.target } : {}),
    startedAt,
    finishedAt: now().toISOString(),
    judge:
      request.judge.kind === 'offline'
        ? { model: OFFLINE_JUDGE, offline: true }
        : { model: request.judge.model, offline: false },
    metrics,
    ...(baselineMetrics ? { baselineMetrics } : {}),
    ...(gate ? { gate } : {}),
    items: candidate.map(itemRecord),
    operational: operational(candidate.map((s) => s.answer)),
    failed: candidate.filter((s) => s.answer.error !== undefined).length,
    ...(metrics.some((m) => m.name === 'f1') ? { primaryMetric: 'f1' } : {}),
  };
}

/**
 * The bias gaps of the probes' variants as metric summaries (`bias_gap_value` on the primary metric,
 * `bias_gap_refused`, `bias_gap_sentiment`): the mean over probes of each probe's largest gap between
 * groups, with its interval; `failed` counts the probes that could not be compared.
 */
function biasSummaries(
  scored: readonly ScoredItem[],
  primary: string | undefined,
  seed: string,
): MetricSummary[] {
  const observed: VariantScore[] = [];
  for (const { item, answer, scores } of scored) {
    const variant = variantOf(item);
    if (variant === undefined || answer.error !== undefined) continue;
    observed.push({
      ...variant,
      ...(primary !== undefined && scores.has(primary) ? { value: scores.get(primary)?.value ?? null } : {}),
      refused: declines(answer.answer),
      ...(scores.has('sentiment') ? { sentiment: scores.get('sentiment')?.value ?? null } : {}),
    });
  }
  if (observed.length === 0) return [];
  const report = biasGaps(observed, { seed });
  return Object.values(report).map((gaps) => ({
    name: `bias_gap_${gaps.dimension}`,
    ...gaps.meanGap,
    failed: gaps.skipped.length,
    byTag: {},
  }));
}

interface ScoredItem {
  readonly item: EvalItem;
  readonly answer: EvalAnswer;
  readonly scores: ReadonlyMap<string, ItemScore>;
}

async function scoreAll(
  request: EvaluationRequest,
  answers: AnswerSource,
  progress: () => void,
): Promise<ScoredItem[]> {
  return mapLimited(request.items, request.concurrency ?? DEFAULT_CONCURRENCY, async (item) => {
    const answer = await answerSafely(answers, item);
    const scores = new Map<string, ItemScore>();
    for (const metric of request.metrics) {
      if (!metric.applies(item, answer)) continue;
      scores.set(
        metric.name,
        answer.error === undefined ? metric.score(item, answer) : failedScore(metric.name, answer),
      );
    }
    for (const judged of request.judged) {
      if (!judged.applies(item, answer)) continue;
      scores.set(judged.name, await judgeScore(request.judge, judged.name, item, answer));
    }
    progress();
    return { item, answer, scores };
  });
}

/** An answerer that throws fails its item (with the reason), never the run. */
async function answerSafely(answers: AnswerSource, item: EvalItem): Promise<EvalAnswer> {
  try {
    return await answers(item);
  } catch (error) {
    return { itemId: item.id, answer: '', error: error instanceof Error ? error.message : String(error) };
  }
}

function failedScore(metric: string, answer: EvalAnswer): ItemScore {
  return { metric, value: null, error: `no answer to score: ${answer.error}` };
}

async function judgeScore(
  judge: JudgeSpec,
  metric: OfflineMetric,
  item: EvalItem,
  answer: EvalAnswer,
): Promise<ItemScore> {
  if (judge.kind === 'offline') return offlineJudgeItem({ metric, item, answer });
  const rubric = BUILT_IN_RUBRICS[metric];
  if (rubric === undefined) return { metric, value: null, error: `no judge rubric named ${metric}` };
  return judgeItem({ rubric, item, answer, provider: judge.provider, model: judge.model, k: judge.k ?? 3 });
}

function judgeLabel(request: EvaluationRequest, name: string): MetricSummary['judge'] | undefined {
  if (!request.judged.some((j) => j.name === name)) return undefined;
  if (request.judge.kind === 'offline') {
    return { model: OFFLINE_JUDGE, rubric: `offline-${name.replaceAll('_', '-')}`, calibrated: false };
  }
  const rubric = BUILT_IN_RUBRICS[name]?.version ?? name;
  return { model: request.judge.model, rubric, calibrated: request.judge.calibrated(rubric) };
}

/** Metric names in a stable order: the request's metrics, then its judged ones, as they occurred. */
function metricNames(request: EvaluationRequest, runs: (ScoredItem[] | undefined)[]): string[] {
  const seen = new Set<string>();
  for (const name of [...request.metrics.map((m) => m.name), ...request.judged.map((j) => j.name)]) {
    if (runs.some((run) => run?.some((s) => s.scores.has(name)))) seen.add(name);
  }
  return [...seen];
}

function gateOf(
  request: EvaluationRequest,
  names: readonly string[],
  candidate: ScoredItem[],
  baseline: ScoredItem[],
  seed: string,
): RunGate {
  const higherIsBetter = (name: string) =>
    request.metrics.find((m) => m.name === name)?.higherIsBetter ??
    BUILT_IN_RUBRICS[name]?.better !== 'lower';
  // A description with no better direction (sentiment) is compared, never gated.
  const gated = names.filter((name) => BUILT_IN_RUBRICS[name]?.better !== 'none');
  const inputs: GateMetricInput[] = gated.map((name) => {
    const judge = judgeLabel(request, name);
    return {
      name,
      higherIsBetter: higherIsBetter(name),
      candidate: candidate.map((s) => s.scores.get(name)?.value ?? null),
      baseline: baseline.map((s) => s.scores.get(name)?.value ?? null),
      ...(judge ? { calibrated: judge.calibrated } : {}),
    };
  });
  const decided = decideGate({ metrics: inputs, seed: `${seed}/gate` });
  return {
    pass: decided.pass,
    metrics: decided.metrics.map((m) => ({
      name: m.name,
      verdict: m.verdict,
      diff: m.diff,
      margin: m.margin,
      reason: m.reason,
    })),
  };
}

function itemRecord({ item, answer, scores }: ScoredItem): ItemRecord {
  const values: Record<string, number | null> = {};
  const errors: Record<string, string> = {};
  const rationales: Record<string, string[]> = {};
  const unstable: string[] = [];
  for (const [name, score] of scores) {
    values[name] = score.value;
    if (score.error !== undefined) errors[name] = score.error;
    const reasons = score.details?.rationales;
    if (Array.isArray(reasons) && reasons.length > 0) rationales[name] = reasons.map(String);
    if (score.details?.unstable === true) unstable.push(name);
  }
  const usage = answer.usage;
  return {
    id: item.id,
    tags: item.tags,
    input: lastUser(item),
    answer: answer.answer,
    references: item.references,
    ...(answer.contexts ? { contexts: answer.contexts.map((c) => c.text) } : {}),
    scores: values,
    errors,
    ...(Object.keys(rationales).length > 0 ? { rationales } : {}),
    ...(answer.error !== undefined ? { error: answer.error } : {}),
    ...(answer.latencyMs !== undefined ? { latencyMs: answer.latencyMs } : {}),
    ...(usage ? { tokens: usage.inputTokens + usage.outputTokens, costUsd: usage.costUsd } : {}),
    ...(unstable.length > 0 ? { unstable } : {}),
  };
}

/** Latency percentiles, tokens and cost of the answered items (`NaN` where nothing was measured). */
export function operational(answers: readonly EvalAnswer[]): RunReport['operational'] {
  const ok = answers.filter((a) => a.error === undefined);
  const latencies = ok.flatMap((a) => (a.latencyMs === undefined ? [] : [a.latencyMs])).sort((a, b) => a - b);
  const used = ok.flatMap((a) => (a.usage ? [a.usage] : []));
  const costTotal = used.reduce((sum, u) => sum + u.costUsd, 0);
  const tokens = used.reduce((sum, u) => sum + u.inputTokens + u.outputTokens, 0);
  return {
    latencyP50: percentile(latencies, 0.5),
    latencyP95: percentile(latencies, 0.95),
    tokensPerItem: used.length === 0 ? Number.NaN : tokens / used.length,
    costPerItem: used.length === 0 ? Number.NaN : costTotal / used.length,
    costTotal: used.length === 0 ? Number.NaN : costTotal,
  };
}

/** The `q` quantile of sorted values by the nearest-rank method; `NaN` for none. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

function lastUser(item: EvalItem): string {
  return [...item.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
}

/** The passages an item's answer rests on: those retrieved with it, else the item's own. */
export function contextsOf(item: EvalItem, answer: EvalAnswer): readonly string[] {
  return answer.contexts?.map((c) => c.text) ?? item.contexts ?? [];
}

/** `f` over `items` with at most `limit` at once, results in input order. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  f: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await f(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
