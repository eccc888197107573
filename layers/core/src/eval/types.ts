/**
 * The evaluation engine's shared shapes (no AWS imports): a suite's items, what each item's answer
 * scored, and what a run reports. Metrics, statistics, judges, gates and reports all speak these.
 */

/** One turn of an item's conversation (`system` allowed: OpenAI Evals samples carry one). */
export interface EvalMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/** One item of a suite, normalized from any accepted format (ours, or an OpenAI Evals sample). */
export interface EvalItem {
  /** Stable within the suite: given, or derived from the content. */
  readonly id: string;
  /** The conversation to answer (a plain `input` becomes one user turn). */
  readonly messages: readonly EvalMessage[];
  /** Acceptable answers; empty for an item that must be declined. */
  readonly references: readonly string[];
  /** Passages the answer should be grounded in (given with the item, or retrieved at run time). */
  readonly contexts?: readonly string[];
  /** Ids of the contexts that hold the answer (context precision and recall). */
  readonly referenceContextIds?: readonly string[];
  readonly tags: readonly string[];
  /** Answered correctly only by declining (tagged `unanswerable`, or with an empty `references`). */
  readonly unanswerable: boolean;
  /** Counterfactual variants of the item for bias probes: one run per variant, compared. */
  readonly counterfactuals?: readonly EvalCounterfactual[];
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** One variant of a bias probe: the group it stands for, and the conversation with that group in it. */
export interface EvalCounterfactual {
  readonly group: string;
  readonly messages: readonly EvalMessage[];
}

/** What the target answered for an item (generated, or provided: bring-your-own predictions). */
export interface EvalAnswer {
  readonly itemId: string;
  readonly answer: string;
  /** Retrieved passages, with ids when the store has them (for context precision and recall). */
  readonly contexts?: readonly { readonly id?: string; readonly text: string }[];
  readonly latencyMs?: number;
  readonly usage?: { readonly inputTokens: number; readonly outputTokens: number; readonly costUsd: number };
  /** Set when the answer could not be produced (after retries): the item counts as failed, never as 0. */
  readonly error?: string;
}

/**
 * One metric's value for one item. `value` in [0, 1] (higher is better unless the metric says
 * otherwise); `null` with `error` when it could not be computed (counted as failed, never as 0).
 */
export interface ItemScore {
  readonly metric: string;
  readonly value: number | null;
  readonly error?: string;
  /** A judge's reasons, the claims it checked, the categories a classifier found... */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** A value with its sample size and 95% confidence interval. */
export interface Estimate {
  readonly value: number;
  readonly n: number;
  readonly ci: readonly [number, number];
}

/** One metric over a run: overall, by tag, and how many items it failed on. */
export interface MetricSummary extends Estimate {
  readonly name: string;
  /** Items whose value could not be computed. */
  readonly failed: number;
  readonly byTag: Readonly<Record<string, Estimate>>;
  /** Judge metrics: which judge and rubric version, and whether that rubric is calibrated to gate. */
  readonly judge?: { readonly model: string; readonly rubric: string; readonly calibrated: boolean };
  /**
   * Judge metrics: items whose judge repeats disagreed. Their means are left out of `value`, `n`,
   * `ci`, `byTag` and the gate (a judge flipping its verdict is unstable, not a number); counted here.
   */
  readonly unstable?: number;
  /** Judge metrics: how the judge's repeats agreed over the run. */
  readonly repeats?: JudgeRepeats;
}

/** How a judge metric's repeats agreed over a run (`stability.ts`). */
export interface JudgeRepeats {
  /** Repeats asked per item (1 for the offline judge, which is deterministic). */
  readonly k: number;
  /** Items the judge gave a value, stable or not (`n` + `unstable`). */
  readonly judged: number;
  /** Unstable items over judged ones; NaN when none was judged. */
  readonly unstableShare: number;
  /**
   * pass^k: over the items whose k repeats were all scored, the share whose every repeat passed
   * (unstable items included); NaN when there is none, or for a description with no pass.
   */
  readonly passHatK: number;
  /** Items pass^k is over. */
  readonly passHatKItems: number;
}
