import type { ItemJudgement } from '../stability.ts';
import type { Estimate, JudgeRepeats, MetricSummary } from '../types.ts';
import { jsonNumber } from './format.ts';
import type {
  GateVerdict,
  ItemRecord,
  RunJudge,
  RunReport,
  RunSuite,
  RunTarget,
  RunWinRate,
} from './types.ts';

/**
 * The machine-readable outputs of a run: `summary.json` (what a pipeline step or a dashboard reads)
 * and `items.jsonl` (every item, every score, every judge rationale). Numbers that are not finite
 * become `null`, so the objects survive `JSON.stringify` unchanged.
 */

export interface SummaryEstimate {
  readonly value: number | null;
  readonly n: number;
  readonly ci: readonly [number | null, number | null];
}

export interface SummaryMetric extends SummaryEstimate {
  readonly failed: number;
  readonly byTag: Readonly<Record<string, SummaryEstimate>>;
  /** The baseline's value of this metric, when the run had a baseline. */
  readonly baseline?: SummaryEstimate;
  readonly judge?: MetricSummary['judge'];
  /**
   * Judge metrics: items whose judge repeats disagreed, left out of `value`, `n`, `ci`, `byTag` and the
   * gate (each is listed in `items.jsonl` with its repeats).
   */
  readonly unstable?: number;
  /** Judge metrics: the repeats per item, pass^k over the items, and the unstable items' share. */
  readonly repeats?: SummaryRepeats;
}

/** `summary.json`'s view of a judge metric's repeats (NaN as `null`). */
export interface SummaryRepeats {
  readonly k: number;
  /** Items the judge gave a value, stable or not. */
  readonly judged: number;
  readonly unstableShare: number | null;
  /** pass^k over the items whose k repeats were all scored (unstable ones included). */
  readonly passHatK: number | null;
  readonly passHatKItems: number;
}

export interface SummaryGateMetric {
  readonly name: string;
  readonly verdict: GateVerdict;
  readonly diff: SummaryEstimate;
  readonly margin: number | null;
  readonly reason: string;
}

/** A win rate as `summary.json` gives it. */
export interface SummaryRate {
  readonly value: number | null;
  readonly ci: readonly [number | null, number | null];
}

/**
 * `summary.json`'s `winRate`: the candidate's pairwise win rate against the baseline, raw (ties
 * half) and length-controlled, with the counts and the judge. Informs; never gates.
 */
export interface SummaryWinRate {
  readonly raw: SummaryRate;
  readonly lengthControlled: SummaryRate;
  readonly n: number;
  readonly wins: number;
  readonly losses: number;
  readonly ties: number;
  /** Counted as ties. */
  readonly inconsistent: number;
  /** Left out of both rates. */
  readonly failed: number;
  readonly judge: string;
  readonly rubric: string;
}

export interface SummaryJson {
  readonly runId: string;
  readonly suite: RunSuite;
  readonly target: RunTarget;
  readonly baseline: RunTarget | null;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Items evaluated. */
  readonly items: number;
  /** Items whose answer could not be produced. */
  readonly failed: number;
  readonly metrics: Readonly<Record<string, SummaryMetric>>;
  /** The gate's verdict; `null` when no gate was applied. */
  readonly pass: boolean | null;
  readonly gate: { readonly pass: boolean; readonly metrics: readonly SummaryGateMetric[] } | null;
  /** A pairwise run only (absent otherwise). */
  readonly winRate?: SummaryWinRate;
  readonly judge: RunJudge;
  readonly operational: {
    readonly latencyP50: number | null;
    readonly latencyP95: number | null;
    readonly tokensPerItem: number | null;
    readonly costPerItem: number | null;
    readonly costTotal: number | null;
  };
  /** Where the HTML report was written. */
  readonly report?: string;
}

export interface SummaryOptions {
  /** The HTML report's location (an S3 URI or a path), recorded as `report`. */
  readonly reportPath?: string;
}

function estimate(e: Estimate): SummaryEstimate {
  return { value: jsonNumber(e.value), n: e.n, ci: [jsonNumber(e.ci[0]), jsonNumber(e.ci[1])] };
}

function rate(e: Estimate): SummaryRate {
  return { value: jsonNumber(e.value), ci: [jsonNumber(e.ci[0]), jsonNumber(e.ci[1])] };
}

/** A run's win rates as `summary.json` gives them. */
export function summaryWinRate(w: RunWinRate): SummaryWinRate {
  return {
    raw: rate(w.raw),
    lengthControlled: rate(w.lengthControlled),
    n: w.n,
    wins: w.wins,
    losses: w.losses,
    ties: w.ties,
    inconsistent: w.inconsistent,
    failed: w.failed,
    judge: w.judge,
    rubric: w.rubric,
  };
}

function metric(m: MetricSummary, baseline: MetricSummary | undefined): SummaryMetric {
  const byTag: Record<string, SummaryEstimate> = {};
  for (const [tag, e] of Object.entries(m.byTag)) byTag[tag] = estimate(e);
  return {
    ...estimate(m),
    failed: m.failed,
    byTag,
    ...(baseline ? { baseline: estimate(baseline) } : {}),
    ...(m.judge ? { judge: m.judge } : {}),
    ...(m.unstable === undefined ? {} : { unstable: m.unstable }),
    ...(m.repeats ? { repeats: summaryRepeats(m.repeats) } : {}),
  };
}

function summaryRepeats(r: JudgeRepeats): SummaryRepeats {
  return {
    k: r.k,
    judged: r.judged,
    unstableShare: jsonNumber(r.unstableShare),
    passHatK: jsonNumber(r.passHatK),
    passHatKItems: r.passHatKItems,
  };
}

/** The `summary.json` object of a run. */
export function summaryJson(report: RunReport, options: SummaryOptions = {}): SummaryJson {
  const metrics: Record<string, SummaryMetric> = {};
  for (const m of report.metrics) {
    metrics[m.name] = metric(
      m,
      report.baselineMetrics?.find((b) => b.name === m.name),
    );
  }
  const op = report.operational;
  return {
    runId: report.runId,
    suite: { name: report.suite.name, version: report.suite.version, items: report.suite.items },
    target: { ...report.target },
    baseline: report.baseline ? { ...report.baseline } : null,
    startedAt: report.startedAt,
    finishedAt: report.finishedAt,
    items: report.items.length,
    failed: report.failed,
    metrics,
    pass: report.gate ? report.gate.pass : null,
    gate: report.gate
      ? {
          pass: report.gate.pass,
          metrics: report.gate.metrics.map((g) => ({
            name: g.name,
            verdict: g.verdict,
            diff: estimate(g.diff),
            margin: jsonNumber(g.margin),
            reason: g.reason,
          })),
        }
      : null,
    ...(report.winRate ? { winRate: summaryWinRate(report.winRate) } : {}),
    judge: { model: report.judge.model, offline: report.judge.offline },
    operational: {
      latencyP50: jsonNumber(op.latencyP50),
      latencyP95: jsonNumber(op.latencyP95),
      tokensPerItem: jsonNumber(op.tokensPerItem),
      costPerItem: jsonNumber(op.costPerItem),
      costTotal: jsonNumber(op.costTotal),
    },
    ...(options.reportPath === undefined ? {} : { report: options.reportPath }),
  };
}

/** One line of `items.jsonl`: the item in full, with missing optional fields as `null` or empty. */
export function itemLine(item: ItemRecord): Record<string, unknown> {
  const scores: Record<string, number | null> = {};
  for (const [name, value] of Object.entries(item.scores)) scores[name] = jsonNumber(value);
  return {
    id: item.id,
    tags: item.tags,
    input: item.input,
    answer: item.answer,
    references: item.references,
    contexts: item.contexts ?? [],
    scores,
    errors: item.errors,
    rationales: item.rationales ?? {},
    error: item.error ?? null,
    latencyMs: jsonNumber(item.latencyMs),
    tokens: jsonNumber(item.tokens),
    costUsd: jsonNumber(item.costUsd),
    unstable: item.unstable ?? [],
    judgements: judgementLines(item.judgements ?? {}),
    ...(item.preference === undefined ? {} : { preference: item.preference }),
  };
}

/** Each judge metric's judgement of an item, numbers that are not finite as `null`. */
function judgementLines(
  judgements: Readonly<Record<string, ItemJudgement>>,
): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, j] of Object.entries(judgements)) {
    out[name] = {
      judge: j.judge,
      rubric: j.rubric,
      k: j.k,
      repeats: j.repeats.map((r) => jsonNumber(r)),
      mean: jsonNumber(j.mean),
      spread: jsonNumber(j.spread),
      stable: j.stable,
      passAll: j.passAll,
      ...(j.verdicts ? { verdicts: j.verdicts } : {}),
    };
  }
  return out;
}

/** `items.jsonl`: one JSON object per item, newline-terminated (empty for a run without items). */
export function itemsJsonl(report: RunReport): string {
  return report.items.map((item) => `${JSON.stringify(itemLine(item))}\n`).join('');
}
