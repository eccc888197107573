import type { ItemJudgement } from '../stability.ts';
import type { Estimate, MetricSummary } from '../types.ts';
import type { WinRate } from '../win-rate.ts';

/**
 * What a finished evaluation run hands to the reporters: who ran what against which suite, the metric
 * summaries (and the baseline's, when there was one), the gate's verdicts, every item's record, and the
 * operational numbers. The reporters (`summary.json`, `items.jsonl`, `report.html`, a Markdown comment)
 * are pure functions of this shape.
 */

/** What was evaluated: a prompt version and/or a model. */
export interface RunTarget {
  /** The prompt, e.g. `support-answer@7`. */
  readonly prompt?: string;
  readonly model?: string;
}

export interface RunSuite {
  readonly name: string;
  readonly version: string | number;
  /** How many items the suite holds. */
  readonly items: number;
}

/** The judge that scored the judge metrics. An offline judge (a local heuristic) is never fit to gate. */
export interface RunJudge {
  readonly model: string;
  readonly offline: boolean;
}

/**
 * A gate's verdict on one metric: `uncalibrated` when its judge rubric is not calibrated to gate,
 * `insufficient` when too few items were scored to decide.
 */
export type GateVerdict = 'pass' | 'fail' | 'uncalibrated' | 'insufficient';

export interface GateMetricResult {
  readonly name: string;
  readonly verdict: GateVerdict;
  /** Candidate minus baseline (paired), with its 95% confidence interval. */
  readonly diff: Estimate;
  /** How far below the baseline the candidate may fall before it fails (non-inferiority margin). */
  readonly margin: number;
  /** One sentence a reader can act on. */
  readonly reason: string;
}

export interface RunGate {
  readonly pass: boolean;
  readonly metrics: readonly GateMetricResult[];
}

/** One item of the run as reported: what was asked, what came back, and how each metric scored it. */
export interface ItemRecord {
  readonly id: string;
  readonly tags: readonly string[];
  /** The last user message of the item's conversation. */
  readonly input: string;
  readonly answer: string;
  readonly references: readonly string[];
  readonly contexts?: readonly string[];
  /** Every metric's value; `null` when it could not be computed (see `errors`). */
  readonly scores: Readonly<Record<string, number | null>>;
  /** Why a metric could not be computed, by metric. */
  readonly errors: Readonly<Record<string, string>>;
  /** The judge's reasons, by metric (one per judgement when judged more than once). */
  readonly rationales?: Readonly<Record<string, readonly string[]>>;
  /** Set when no answer could be produced (after retries): the item counts as failed. */
  readonly error?: string;
  readonly latencyMs?: number;
  /** Input plus output tokens. */
  readonly tokens?: number;
  readonly costUsd?: number;
  /** Metrics whose repeated judgements of this item disagreed (left out of those metrics and the gate). */
  readonly unstable?: readonly string[];
  /**
   * Each judge metric's judgement of this item: the repeats' scores, their mean and spread, whether
   * they agreed, pass^k, the judge model and the rubric version.
   */
  readonly judgements?: Readonly<Record<string, ItemJudgement>>;
  /**
   * A pairwise run: the judge's preference between the candidate's answer (`A`) and the baseline's
   * (`B`), `tie`, `inconsistent` (the orders disagreed), or `null` (not judged).
   */
  readonly preference?: 'A' | 'B' | 'tie' | 'inconsistent' | null;
}

/**
 * The pairwise win rates of a run's candidate against its baseline (`win-rate.ts`), with the judge and
 * rubric that compared them. They inform; they never gate.
 */
export interface RunWinRate extends WinRate {
  /** The pairwise judge's model id, or `offline`. */
  readonly judge: string;
  /** Its rubric version (`judge-pairwise:1`, `offline-pairwise:1`). */
  readonly rubric: string;
}

/** Latency in milliseconds, cost in US dollars; `NaN` when not measured. */
export interface RunOperational {
  readonly latencyP50: number;
  readonly latencyP95: number;
  readonly tokensPerItem: number;
  readonly costPerItem: number;
  readonly costTotal: number;
}

export interface RunReport {
  readonly runId: string;
  readonly suite: RunSuite;
  readonly target: RunTarget;
  /** What the candidate was compared with, when it was. */
  readonly baseline?: RunTarget;
  /** ISO 8601 timestamps. */
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly judge: RunJudge;
  readonly metrics: readonly MetricSummary[];
  readonly baselineMetrics?: readonly MetricSummary[];
  readonly gate?: RunGate;
  /** A pairwise run's win rates of the candidate against the baseline. */
  readonly winRate?: RunWinRate;
  readonly items: readonly ItemRecord[];
  readonly operational: RunOperational;
  /** Items whose answer could not be produced. */
  readonly failed: number;
  /**
   * The metric that ranks the worst items.
   * @default the first gated metric, else the first metric
   */
  readonly primaryMetric?: string;
}
