/**
 * One evaluation run, from a suite's items to the report: answers for every item (generated through the
 * caller's answerer, or provided), every applicable metric per item, each metric summarized with its
 * 95% bootstrap interval overall and per tag, and, with a baseline, a paired non-inferiority gate.
 *
 * An item whose answer could not be produced is failed, and every metric of it is `null` with the
 * reason: never a zero. A bias probe (an item with counterfactuals or a `{{group}}` slot) is answered
 * once per group; the largest gap between its groups, in the primary metric, in refusals and in judged
 * sentiment, is summarized over the probes as `bias_gap_<dimension>` (lower is better). Judge metrics come from a model judge (k repeats, structured output) or from
 * the offline judge; offline judge scores are labelled and never gate. An item whose judge repeats
 * disagree is unstable, not a number: it is counted (`unstable`) and listed, and its mean is left out of
 * the metric's value, interval, tags, bias gaps and the gate (`stability.ts`). With `pairwise` (a baseline
 * needed), the judge also compares each item's candidate and baseline answers in both orders
 * (`judgePair`, or the offline judge's `offlineJudgePair`) and the report gets the raw and
 * length-controlled win rates (`win-rate.ts`): they inform, they never gate. The run is deterministic
 * for a given seed and set of answers.
 */
import { ValidationError } from '../errors.ts';
import { mapLimited } from '../map-limited.ts';
import type { ModelProvider } from '../models/types.ts';
import { biasGaps, expandProbe, isBiasProbe, type VariantScore, variantOf } from './bias.ts';
import { declines } from './decline.ts';
import { decideGate, type GateMetricInput } from './gate.ts';
import { judgeItem, judgePair, type PairJudgement } from './judge.ts';
import {
  OFFLINE_JUDGE,
  OFFLINE_PAIRWISE_RUBRIC,
  type OfflineMetric,
  offlineJudgeItem,
  offlineJudgePair,
} from './offline-judge.ts';
import type { ItemRecord, RunGate, RunReport, RunTarget, RunWinRate } from './report/types.ts';
import { BUILT_IN_RUBRICS, type ScoreDirection } from './rubrics/index.ts';
import { pairRubricFor, type RubricPrompts, rubricFor, rubricVersionFor } from './rubrics/registry.ts';
import {
  type ItemJudgement,
  isUnstableScore,
  itemJudgement,
  judgeRepeats,
  stableValue,
} from './stability.ts';
import { summarize } from './stats.ts';
import type { EvalAnswer, EvalItem, ItemScore, MetricSummary } from './types.ts';
import { answerLength, winRate } from './win-rate.ts';

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
  | {
      readonly kind: 'offline';
      /** The registry rubric versions the offline judge stands in for, recorded with its scores. */
      readonly rubrics?: RubricPrompts;
    }
  | {
      readonly kind: 'model';
      /** The registry rubric version of each judge metric, by metric. @default the built-in rubrics */
      readonly rubrics?: RubricPrompts;
      readonly provider: ModelProvider;
      readonly model: string;
      /** Repeats per judged item. @default 3 */
      readonly k?: number;
      /** Whether a rubric version is calibrated against human labels (kappa ≥ 0.6 on ≥ 50 labels). */
      readonly calibrated: (rubricVersion: string) => boolean;
      /** Rubrics that embed (answer relevance): the provider and model. @default the judge's provider and its default model */
      readonly embedding?: { readonly provider?: ModelProvider; readonly model?: string };
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
  /**
   * Also compare each item's candidate and baseline answers with the pairwise judge (both orders) and
   * report the win rates. Needs `baseline`. @default false
   */
  readonly pairwise?: boolean;
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
  const spec = runSpec(input);
  const now = input.now ?? (() => new Date());
  const startedAt = now().toISOString();
  const total = spec.items.length * (input.baseline === undefined ? 1 : 2);
  let done = 0;
  const progress = () => input.onItem?.(++done, total);
  const concurrency = input.concurrency ?? DEFAULT_CONCURRENCY;

  const candidate = await answerAndScore(spec, input.answers, concurrency, progress);
  const baseline =
    input.baseline === undefined
      ? undefined
      : await answerAndScore(spec, input.baseline.answers, concurrency, progress);
  const pairs =
    spec.pairwise && baseline !== undefined
      ? await mapLimited(
          candidate.map((scored, i) => ({ scored, against: baseline[i] as ScoredItem })),
          concurrency,
          ({ scored, against }) => judgeItemPair(spec, scored.item, scored.answer, against.answer),
        )
      : undefined;
  return assembleReport(spec, {
    candidate,
    ...(baseline ? { baseline } : {}),
    ...(pairs ? { pairs } : {}),
    startedAt,
    finishedAt: now().toISOString(),
  });
}

/**
 * A run without its answers: what each phase of a run split across steps (plan, generate, score,
 * report) needs. Build it with {@link runSpec}: bias probes expanded into one item per group, and
 * sentiment judged on them.
 */
export interface RunSpec {
  readonly runId: string;
  readonly suite: EvaluationRequest['suite'];
  /** The items answered: the suite's, bias probes expanded. */
  readonly items: readonly EvalItem[];
  /** Items the suite holds (a probe counts once). */
  readonly suiteItems: number;
  readonly target: RunTarget;
  readonly baselineTarget?: RunTarget;
  readonly metrics: readonly ItemMetric[];
  readonly judged: readonly JudgedMetric[];
  readonly judge: JudgeSpec;
  /** Candidate and baseline answers are compared pairwise (the run has a baseline). */
  readonly pairwise: boolean;
  readonly seed: string;
}

/** What {@link runSpec} reads: a request less its answer sources. */
export type RunSpecInput = Omit<
  EvaluationRequest,
  'answers' | 'baseline' | 'onItem' | 'now' | 'concurrency'
> & {
  readonly baseline?: { readonly target: RunTarget };
};

/** The run's items (bias probes expanded, one item per group) and its metrics. */
export function runSpec(request: RunSpecInput): RunSpec {
  if (request.items.length === 0) throw new ValidationError('items', 'the suite has no items to evaluate');
  const items = expandItems(request.items);
  const probing = items.some((item) => variantOf(item) !== undefined);
  return {
    runId: request.runId,
    suite: request.suite,
    items,
    suiteItems: request.items.length,
    target: request.target,
    ...(request.baseline ? { baselineTarget: request.baseline.target } : {}),
    metrics: request.metrics,
    // Each bias probe's groups get their sentiment judged, to compare the groups.
    judged: probing
      ? [...request.judged, { name: 'sentiment', applies: (item) => variantOf(item) !== undefined }]
      : request.judged,
    judge: request.judge,
    pairwise: pairwiseOf(request),
    seed: request.seed ?? request.runId,
  };
}

/**
 * The spec of a run whose items {@link runSpec} has already expanded (a run split across steps stages
 * the expanded items, and each later step rebuilds the spec from them): nothing is expanded again, and
 * `suiteItems` says how many items the suite held. Sentiment is judged on the bias probes' variants
 * among `request.items`, as {@link runSpec} does.
 */
export function runSpecOfExpanded(
  request: Omit<RunSpecInput, 'items'> & {
    readonly items: readonly EvalItem[];
    readonly suiteItems: number;
  },
): RunSpec {
  const probing = request.items.some((item) => variantOf(item) !== undefined);
  return {
    runId: request.runId,
    suite: request.suite,
    items: request.items,
    suiteItems: request.suiteItems,
    target: request.target,
    ...(request.baseline ? { baselineTarget: request.baseline.target } : {}),
    metrics: request.metrics,
    judged: probing
      ? [...request.judged, { name: 'sentiment', applies: (item) => variantOf(item) !== undefined }]
      : request.judged,
    judge: request.judge,
    pairwise: pairwiseOf(request),
    seed: request.seed ?? request.runId,
  };
}

/** Whether a run compares pairwise: asked for, and only with a baseline to compare with. */
function pairwiseOf(request: Pick<RunSpecInput, 'pairwise' | 'baseline'>): boolean {
  if (request.pairwise !== true) return false;
  if (request.baseline === undefined) {
    throw new ValidationError('pairwise', 'compares the target with a baseline: set baseline too');
  }
  return true;
}

/** A suite's items with each bias probe expanded into one item per group. */
export function expandItems(items: readonly EvalItem[]): EvalItem[] {
  return items.flatMap((item) => (isBiasProbe(item) ? expandProbe(item).map((v) => v.item) : [item]));
}

/** The scored candidate (and baseline) items of a run and when it ran: what {@link assembleReport} reads. */
export interface ScoredRun {
  readonly candidate: readonly ScoredItem[];
  /** The baseline's scores of the same items, in the same order. */
  readonly baseline?: readonly ScoredItem[];
  /**
   * The pairwise judgements of the candidate's answer (A) against the baseline's (B), by item id (a
   * run with `pairwise`); an item without one counts as failed in the win rates.
   */
  readonly pairs?: readonly PairJudgement[];
  readonly startedAt: string;
  readonly finishedAt: string;
}

/** Summaries, bias gaps, the gate and every item's record, from the scored items of a run. */
export function assembleReport(spec: RunSpec, scored: ScoredRun): RunReport {
  const { candidate, baseline, seed } = { ...scored, seed: spec.seed };
  const names = metricNames(spec, [candidate, baseline]);
  const judgeOf = (name: string): MetricSummary['judge'] | undefined => judgeLabel(spec, name);
  const summaries = (items: readonly ScoredItem[]) =>
    names
      .map((name): MetricSummary => {
        const summary = summarize(
          name,
          // Only the items the metric applies to: one it says nothing about is neither 0 nor failed,
          // and one whose judge repeats disagreed is unstable, not a number.
          items.flatMap(({ item, scores }) => {
            const value = stableValue(scores[name]);
            return value === undefined ? [] : [{ value, tags: item.tags }];
          }),
          { seed: `${seed}/${name}`, ...(judgeOf(name) ? { judge: judgeOf(name) } : {}) },
        );
        if (!isJudged(spec, name)) return summary;
        const { unstable, ...repeats } = judgeRepeats(
          items.flatMap(({ scores }) => (scores[name] === undefined ? [] : [scores[name]])),
          directionOf(name),
        );
        return { ...summary, unstable, repeats };
      })
      .filter((summary) => summary.n > 0 || summary.failed > 0 || (summary.unstable ?? 0) > 0);
  const primary = names.includes('f1') ? 'f1' : names[0];
  const metrics = [...summaries(candidate), ...biasSummaries(candidate, primary, `${seed}/bias`)];
  const baselineMetrics =
    baseline === undefined
      ? undefined
      : [...summaries(baseline), ...biasSummaries(baseline, primary, `${seed}/bias`)];
  const gate = baseline === undefined ? undefined : gateOf(spec, names, candidate, baseline, seed);
  const pairs = new Map((scored.pairs ?? []).map((pair) => [pair.itemId, pair]));
  const wins =
    spec.pairwise && baseline !== undefined ? winRateOf(spec, candidate, baseline, pairs) : undefined;

  return {
    runId: spec.runId,
    suite: { ...spec.suite, items: spec.suiteItems },
    target: spec.target,
    ...(spec.baselineTarget ? { baseline: spec.baselineTarget } : {}),
    startedAt: scored.startedAt,
    finishedAt: scored.finishedAt,
    judge:
      spec.judge.kind === 'offline'
        ? { model: OFFLINE_JUDGE, offline: true }
        : { model: spec.judge.model, offline: false },
    metrics,
    ...(baselineMetrics ? { baselineMetrics } : {}),
    ...(gate ? { gate } : {}),
    ...(wins ? { winRate: wins } : {}),
    items: candidate.map((s) => itemRecord(spec, s, pairs.get(s.item.id))),
    operational: operational(candidate.map((s) => s.answer)),
    failed: candidate.filter((s) => s.answer.error !== undefined).length,
    ...(metrics.some((m) => m.name === 'f1') ? { primaryMetric: 'f1' } : {}),
  };
}

/** The pairwise judge of a run: its model (or `offline`) and rubric version. */
export function pairJudgeOf(judge: JudgeSpec): { readonly judge: string; readonly rubric: string } {
  return judge.kind === 'offline'
    ? { judge: OFFLINE_JUDGE, rubric: OFFLINE_PAIRWISE_RUBRIC }
    : { judge: judge.model, rubric: pairRubricFor(judge.rubrics).version };
}

/**
 * The win rates of the candidate against the baseline, item by item (aligned by position, paired by
 * the judgement's item id), lengths measured on both answers. An item without a judgement, or whose
 * answer failed on either side, counts as failed. Seeded by the run's seed.
 */
function winRateOf(
  spec: RunSpec,
  candidate: readonly ScoredItem[],
  baseline: readonly ScoredItem[],
  pairs: ReadonlyMap<string, PairJudgement>,
): RunWinRate {
  const rates = winRate(
    candidate.map((c, i) => {
      const b = baseline[i];
      const pair = pairs.get(c.item.id);
      const failed = b === undefined || c.answer.error !== undefined || b.answer.error !== undefined;
      return {
        preference: failed ? null : (pair?.preference ?? null),
        lengthA: answerLength(c.answer.answer),
        lengthB: answerLength(b?.answer.answer ?? ''),
      };
    }),
    { seed: `${spec.seed}/win_rate` },
  );
  return { ...rates, ...pairJudgeOf(spec.judge) };
}

/**
 * Compares one item's candidate answer (A) with the baseline's (B): the model judge's `judgePair`
 * (both orders, the pairwise rubric), or the offline judge's heuristics. The passages both are judged
 * against: the candidate's retrieved ones (both sides retrieve with the run's options for the same
 * question), else the item's.
 */
export async function judgeItemPair(
  spec: Pick<RunSpec, 'judge'>,
  item: EvalItem,
  candidate: EvalAnswer,
  baseline: EvalAnswer,
): Promise<PairJudgement> {
  const contexts = contextsOf(item, candidate);
  if (spec.judge.kind === 'offline') {
    return offlineJudgePair({ item, a: candidate, b: baseline, contexts });
  }
  return judgePair({
    item,
    a: candidate,
    b: baseline,
    contexts,
    rubric: pairRubricFor(spec.judge.rubrics),
    provider: spec.judge.provider,
    model: spec.judge.model,
  });
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
    // An unstable judge score compares nothing: the variant goes without it.
    const value = primary === undefined ? undefined : stableValue(scores[primary]);
    const sentiment = stableValue(scores.sentiment);
    observed.push({
      ...variant,
      ...(value !== undefined ? { value } : {}),
      refused: declines(answer.answer),
      ...(sentiment !== undefined ? { sentiment } : {}),
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

/** One item, its answer and every score it got: plain data, so a step can hand it to the next. */
export interface ScoredItem {
  readonly item: EvalItem;
  readonly answer: EvalAnswer;
  /** By metric name; a metric that does not apply to the item is absent. */
  readonly scores: Readonly<Record<string, ItemScore>>;
}

async function answerAndScore(
  spec: RunSpec,
  answers: AnswerSource,
  concurrency: number,
  progress: () => void,
): Promise<ScoredItem[]> {
  return mapLimited(spec.items, concurrency, async (item) => {
    const scored = await scoreAnswer(spec, item, await answerSafely(answers, item));
    progress();
    return scored;
  });
}

/**
 * Every metric of the run that applies to an item's answer, judge metrics included. A failed answer
 * fails each metric with the reason (never a 0).
 */
export async function scoreAnswer(spec: RunSpec, item: EvalItem, answer: EvalAnswer): Promise<ScoredItem> {
  const scores: Record<string, ItemScore> = {};
  for (const metric of spec.metrics) {
    if (!metric.applies(item, answer)) continue;
    scores[metric.name] =
      answer.error === undefined ? metric.score(item, answer) : failedScore(metric.name, answer);
  }
  for (const judged of spec.judged) {
    if (!judged.applies(item, answer)) continue;
    scores[judged.name] =
      answer.error === undefined
        ? await judgeScore(spec.judge, judged.name, item, answer)
        : failedScore(judged.name, answer);
  }
  return { item, answer, scores };
}

/** An answerer that throws fails its item (with the reason), never the run. */
export async function answerSafely(answers: AnswerSource, item: EvalItem): Promise<EvalAnswer> {
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
  if (judge.kind === 'offline') {
    const score = await offlineJudgeItem({ metric, item, answer });
    // The offline heuristic (`details.method`) stands in for the rubric version the run resolved.
    const rubric = judge.rubrics?.[metric];
    return rubric === undefined
      ? score
      : { ...score, details: { ...score.details, rubric: `${rubric.name}:${rubric.version}` } };
  }
  const rubric = rubricFor(metric, judge.rubrics);
  if (rubric === undefined) return { metric, value: null, error: `no judge rubric named ${metric}` };
  return judgeItem({
    rubric,
    item,
    answer,
    provider: judge.provider,
    model: judge.model,
    k: judge.k ?? 3,
    ...(judge.embedding ? { embedding: judge.embedding } : {}),
  });
}

/** Whether a metric of the run is a judge metric. */
function isJudged(request: Pick<RunSpec, 'judged'>, name: string): boolean {
  return request.judged.some((j) => j.name === name);
}

/** Which way a judge metric's score is better (its rubric's, the offline judge's alike). */
function directionOf(name: string): ScoreDirection {
  return BUILT_IN_RUBRICS[name]?.better ?? 'higher';
}

function judgeLabel(
  request: Pick<RunSpec, 'judged' | 'judge'>,
  name: string,
): MetricSummary['judge'] | undefined {
  if (!isJudged(request, name)) return undefined;
  const resolved = request.judge.rubrics?.[name];
  if (request.judge.kind === 'offline') {
    const rubric =
      resolved === undefined
        ? `offline-${name.replaceAll('_', '-')}`
        : `${resolved.name}:${resolved.version}`;
    return { model: OFFLINE_JUDGE, rubric, calibrated: false };
  }
  const rubric = rubricVersionFor(name, request.judge.rubrics) ?? name;
  return { model: request.judge.model, rubric, calibrated: request.judge.calibrated(rubric) };
}

/** Metric names in a stable order: the request's metrics, then its judged ones, as they occurred. */
function metricNames(spec: RunSpec, runs: (readonly ScoredItem[] | undefined)[]): string[] {
  const seen = new Set<string>();
  for (const name of [...spec.metrics.map((m) => m.name), ...spec.judged.map((j) => j.name)]) {
    if (runs.some((run) => run?.some((s) => s.scores[name] !== undefined))) seen.add(name);
  }
  return [...seen];
}

function gateOf(
  request: RunSpec,
  names: readonly string[],
  candidate: readonly ScoredItem[],
  baseline: readonly ScoredItem[],
  seed: string,
): RunGate {
  const higherIsBetter = (name: string) =>
    request.metrics.find((m) => m.name === name)?.higherIsBetter ??
    BUILT_IN_RUBRICS[name]?.better !== 'lower';
  // A description with no better direction (sentiment) is compared, never gated.
  const gated = names.filter((name) => BUILT_IN_RUBRICS[name]?.better !== 'none');
  const inputs: GateMetricInput[] = gated.map((name) => {
    const judge = judgeLabel(request, name);
    // An item whose judge repeats disagreed on either side is no evidence either way: the pair leaves
    // the comparison (neither scored nor failed), and the reason counts it.
    const kept = candidate.flatMap((c, i) => {
      const b = baseline[i];
      return isUnstableScore(c.scores[name]) || isUnstableScore(b?.scores[name]) ? [] : [i];
    });
    const unstable = candidate.length - kept.length;
    return {
      name,
      higherIsBetter: higherIsBetter(name),
      candidate: kept.map((i) => candidate[i]?.scores[name]?.value ?? null),
      baseline: kept.map((i) => baseline[i]?.scores[name]?.value ?? null),
      ...(judge ? { calibrated: judge.calibrated } : {}),
      ...(unstable > 0 ? { unstable } : {}),
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

function itemRecord(
  spec: Pick<RunSpec, 'judged'>,
  { item, answer, scores }: ScoredItem,
  pair?: PairJudgement,
): ItemRecord {
  const values: Record<string, number | null> = {};
  const errors: Record<string, string> = {};
  const rationales: Record<string, string[]> = {};
  const unstable: string[] = [];
  const judgements: Record<string, ItemJudgement> = {};
  for (const [name, score] of Object.entries(scores)) {
    values[name] = score.value;
    if (score.error !== undefined) errors[name] = score.error;
    const reasons = score.details?.rationales;
    if (Array.isArray(reasons) && reasons.length > 0) rationales[name] = reasons.map(String);
    if (isUnstableScore(score)) unstable.push(name);
    const judgement = isJudged(spec, name) ? itemJudgement(score, directionOf(name)) : undefined;
    if (judgement !== undefined) judgements[name] = judgement;
  }
  const pairReasons = pair?.orders.flatMap((o) => (o.rationale === undefined ? [] : [o.rationale])) ?? [];
  if (pairReasons.length > 0) rationales.preference = pairReasons;
  const usage = answer.usage;
  return {
    id: item.id,
    tags: item.tags,
    input: questionOf(item),
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
    ...(Object.keys(judgements).length > 0 ? { judgements } : {}),
    ...(pair ? { preference: pair.preference } : {}),
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

/** The last user turn of an item: what it asks (a prompt's `question` variable receives it). */
export function questionOf(item: EvalItem): string {
  return [...item.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
}

/** The passages an item's answer rests on: those retrieved with it, else the item's own. */
export function contextsOf(item: EvalItem, answer: EvalAnswer): readonly string[] {
  return answer.contexts?.map((c) => c.text) ?? item.contexts ?? [];
}
