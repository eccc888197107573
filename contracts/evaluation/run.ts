import * as z from 'zod/mini';
import { SUITE_NAME } from './suite.ts';

/**
 * An evaluation run: what it is asked to evaluate (the body of `POST /v1/evaluations`, the input a
 * schedule or a label promotion sends), what the run record holds while it runs and once it ends, and
 * the gate record that a prompt's `production` label move reads. The Evaluate state machine, the
 * evaluations routes, the prompts route's gate and the local runner share these shapes.
 */

/** `name@label` or `name:version`: a prompt reference an evaluation resolves to one version. */
export const EVAL_PROMPT_REF = /^[a-z0-9][a-z0-9_-]{0,63}(@[a-z][a-z0-9_-]{0,31}|:[1-9][0-9]{0,8})$/;
/** Run ids: a UUID (API, promotion) or the execution name of a scheduled run (letters, digits, `-`, `_`). */
export const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/;

/** What answers the items: a prompt version (through the gateway) and/or a catalog model. */
export const evaluationTarget = z
  .strictObject({
    /** `name@label` or `name:version`; the run resolves a label to the version it points at when it starts. */
    prompt: z.optional(z.string().check(z.regex(EVAL_PROMPT_REF, 'must be "name@label" or "name:version"'))),
    /** Catalog model id (with a prompt: overrides the prompt's model). */
    model: z.optional(z.string().check(z.minLength(1), z.maxLength(100))),
  })
  .check(
    z.refine((t) => t.prompt !== undefined || t.model !== undefined, {
      error: 'name a prompt, a model or both',
    }),
  );
export type EvaluationTarget = z.infer<typeof evaluationTarget>;

/** Retrieval options of an evaluated target: the same as `POST /v1/chat`'s `rag`, less the query. */
export const evaluationRag = z.strictObject({
  k: z.optional(z.int().check(z.positive(), z.lte(50))),
  hybrid: z.optional(z.boolean()),
  minScore: z.optional(z.number().check(z.gte(0), z.lte(1))),
});

/**
 * The judge metrics whose rubric is a prompt of the prompt registry: the single-answer rubrics and the
 * pairwise `preference`. A run judges each with the version its reference resolves to.
 */
export const JUDGE_RUBRIC_METRICS = [
  'faithfulness',
  'answer_relevance',
  'hallucination',
  'toxicity',
  'sentiment',
  'preference',
] as const;
export type JudgeRubricMetric = (typeof JUDGE_RUBRIC_METRICS)[number];

/**
 * Which rubric version judges each metric, by metric: a prompt reference (`name@label`, `name:version`).
 * A metric left out is judged with `judge-<metric>@production` (`judge-answer-relevance`, `judge-pairwise`).
 */
export const evaluationRubrics = z.partialRecord(
  z.enum(JUDGE_RUBRIC_METRICS),
  z.string().check(z.regex(EVAL_PROMPT_REF, 'must be "name@label" or "name:version"')),
);
export type EvaluationRubrics = z.infer<typeof evaluationRubrics>;

/** The most items a run evaluates (bias probes count once per group). */
export const MAX_RUN_ITEMS = 2000;
/** Judge repeats per judged item: 1 to 5 (3 by default). */
export const MAX_JUDGE_REPEATS = 5;

/**
 * `POST /v1/evaluations`, and what a schedule or a promotion asks for. One rule spans fields:
 * `pairwise` compares the target with the baseline, so it needs one (the error names `pairwise`).
 */
export const evaluationRunRequest = z
  .strictObject({
    /** A registered suite's name. */
    suite: z.string().check(z.regex(SUITE_NAME, 'must be 1-64 lowercase letters, digits, "_" or "-"')),
    /** The suite version; default: the latest registered. */
    suiteVersion: z.optional(z.int().check(z.positive())),
    target: evaluationTarget,
    /** Answers the same items for a paired comparison and the gate (the current production version). */
    baseline: z.optional(evaluationTarget),
    /** Answer with retrieval (the passages become the contexts the RAG metrics read). */
    rag: z.optional(evaluationRag),
    /** Judge repeats per judged item. @default 3 */
    k: z.optional(z.int().check(z.positive(), z.lte(MAX_JUDGE_REPEATS))),
    /** Evaluate a seeded sample of this many items (the same items every run of the suite version). */
    maxItems: z.optional(z.int().check(z.positive(), z.lte(MAX_RUN_ITEMS))),
    /** Refuse the run when its estimated cost is above this (US dollars); default: the profile's. */
    budgetUsd: z.optional(z.number().check(z.positive(), z.lte(10_000))),
    /**
     * Bring your own responses: the key of a JSONL object under `predictions/` in the artifacts bucket,
     * one `{id, prediction, contexts?}` per item. The target's answers are taken from it (nothing is
     * generated for the target; `target` names where they came from); a baseline is still answered.
     */
    predictions: z.optional(
      z
        .string()
        .check(
          z.regex(
            /^predictions\/[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]{0,900}\.jsonl$/,
            'must be a key under predictions/ ending in .jsonl',
          ),
        ),
    ),
    /**
     * Also judge each item's target and baseline answers side by side (the pairwise rubric, both orders:
     * 2 judge calls per item) and report the win rate, raw and length-controlled. It informs; it never
     * gates. Needs `baseline`.
     */
    pairwise: z.optional(z.boolean()),
    /** The rubric version of each judge metric; default: each rubric's `production` label. */
    rubrics: z.optional(evaluationRubrics),
  })
  .check(
    z.refine((r) => r.pairwise !== true || r.baseline !== undefined, {
      error: 'compares the target with a baseline: set baseline too, or leave pairwise out',
      path: ['pairwise'],
    }),
  );
export type EvaluationRunRequest = z.infer<typeof evaluationRunRequest>;

/** What started a run. */
export const EVALUATION_TRIGGERS = ['api', 'schedule', 'promotion', 'model', 'drift'] as const;
export const evaluationTrigger = z.enum(EVALUATION_TRIGGERS);
export type EvaluationTrigger = z.infer<typeof evaluationTrigger>;

export const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'skipped'] as const;
export const runStatus = z.enum(RUN_STATUSES);
export type RunStatus = z.infer<typeof runStatus>;

/** A metric as events and the API show it: value, n and the 95% bootstrap interval. */
export const metricValue = z.object({
  value: z.nullable(z.number()),
  n: z.int(),
  ci: z.tuple([z.nullable(z.number()), z.nullable(z.number())]),
});
export type MetricValue = z.infer<typeof metricValue>;

/** The gate's verdict on one metric, as the 409 of a refused promotion and the run record name it. */
export const gateMetric = z.object({
  name: z.string(),
  verdict: z.enum(['pass', 'fail', 'uncalibrated', 'insufficient']),
  diff: z.nullable(z.number()),
  margin: z.number(),
  reason: z.string(),
});
export type GateMetric = z.infer<typeof gateMetric>;

/** Where a run's report lies (artifacts bucket, `evaluations/<runId>/`). */
export const reportLocation = z.object({
  bucket: z.string(),
  summary: z.string(),
  items: z.string(),
  html: z.string(),
  markdown: z.string(),
});
export type ReportLocation = z.infer<typeof reportLocation>;

/** A run as `GET /v1/evaluations/{id}` answers it (the report's keys become links there). */
export const evaluationRun = z.object({
  runId: z.string(),
  status: runStatus,
  trigger: evaluationTrigger,
  request: evaluationRunRequest,
  /** Who asked: the IAM principal, `schedule:<name>` or `promotion:<principal>`. */
  requestedBy: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Resolved when the run starts: prompt labels become versions. */
  resolved: z.optional(
    z.object({
      target: evaluationTarget,
      baseline: z.optional(evaluationTarget),
      /** The rubric version (`name:version`) each judge metric is judged with, by metric. */
      rubrics: z.optional(z.record(z.string(), z.string())),
    }),
  ),
  suite: z.optional(z.object({ name: z.string(), version: z.int(), items: z.int() })),
  /** The plan's cost estimate in US dollars (generation and judging). */
  estimatedCostUsd: z.optional(z.number()),
  /**
   * The execution that claimed the run: only it stages and runs it; a retry of its own Plan claims it
   * again, a duplicate execution (a redelivered request) finds it taken and does nothing.
   */
  claimedBy: z.optional(z.string()),
  /** Items whose answer could not be produced (counted as failed, never as a zero). */
  failed: z.optional(z.int()),
  metrics: z.optional(z.record(z.string(), metricValue)),
  /** The gate (with a baseline): pass, and each metric's verdict. */
  gate: z.optional(z.object({ pass: z.boolean(), metrics: z.array(gateMetric) })),
  /** A scheduled run that fell below its previous run beyond the margin. */
  regression: z.optional(z.boolean()),
  report: z.optional(reportLocation),
  /** Why the run failed or was skipped. */
  error: z.optional(z.string()),
  /** Judge that scored the judge metrics (`offline` locally: never gates on AWS). */
  judge: z.optional(z.string()),
});
export type EvaluationRun = z.infer<typeof evaluationRun>;

/**
 * What a promotion reads: the latest run of a candidate prompt version against a baseline version on a
 * suite (`queued`/`running` until it ends).
 */
export const promotionGate = z.object({
  prompt: z.string(),
  candidateVersion: z.int(),
  baselineVersion: z.int(),
  suite: z.string(),
  runId: z.string(),
  status: runStatus,
  pass: z.optional(z.boolean()),
  failing: z.optional(z.array(gateMetric)),
  updatedAt: z.string(),
});
export type PromotionGate = z.infer<typeof promotionGate>;
