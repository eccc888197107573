import * as z from 'zod';
import { eventBridgeEvent, SCHEMA_VERSION } from './envelope.ts';

export const EVALUATION_COMPLETED = 'llmops.EvaluationCompleted';

const target = z.object({ prompt: z.string().optional(), model: z.string().optional() });

/**
 * `llmops.EvaluationCompleted`: an evaluation run ended and its report is written. `pass` is the gate's
 * verdict against the baseline (null without one); `regression` is true when a run fell below the
 * previous run of the same target and suite beyond the margin. Gates, catalog scores and alarms read it.
 */
export const evaluationCompletedDetail = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  runId: z.string().min(1),
  trigger: z.enum(['api', 'schedule', 'promotion', 'model', 'drift']),
  suite: z.object({ name: z.string().min(1), version: z.number().int().positive(), items: z.number().int() }),
  /** The target as evaluated: prompt labels resolved to versions (`rag-answer:4`). */
  target,
  /**
   * The target as it was asked for (`rag-answer@production`): what the closed loop rolls back. An
   * additive field (same schema version): older events have none.
   */
  requested: target.optional(),
  baseline: target.nullable(),
  /** Every metric: value (null when nothing could be scored), n and the 95% bootstrap interval. */
  metrics: z.record(
    z.string(),
    z.object({
      value: z.number().nullable(),
      n: z.number().int().nonnegative(),
      ci: z.tuple([z.number().nullable(), z.number().nullable()]),
    }),
  ),
  failed: z.number().int().nonnegative(),
  pass: z.boolean().nullable(),
  regression: z.boolean(),
  /** The judge of the judge metrics; `offline` locally (offline scores never gate on AWS). */
  judge: z.string(),
  report: z.object({
    bucket: z.string().min(1),
    summary: z.string().min(1),
    items: z.string().min(1),
    html: z.string().min(1),
    markdown: z.string().min(1),
  }),
});
export type EvaluationCompletedDetail = z.infer<typeof evaluationCompletedDetail>;

export const evaluationCompletedEvent = eventBridgeEvent(EVALUATION_COMPLETED, evaluationCompletedDetail);
