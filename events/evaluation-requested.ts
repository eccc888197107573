import * as z from 'zod/mini';
import { eventBridgeEvent, SCHEMA_VERSION } from './envelope.ts';

export const EVALUATION_REQUESTED = 'llmops.EvaluationRequested';

/**
 * `llmops.EvaluationRequested`: start the Evaluate state machine. Put by `POST /v1/evaluations` and a
 * refused promotion (with the run id of the record they created, `queued`), and by each evaluation
 * schedule (without one: the execution's name becomes the run id). The request itself is validated by
 * the state machine's Plan step against `evaluationRunRequest` (`#contracts/evaluation/run.ts`), which
 * names what is wrong; here it is only an object, so that a bad schedule fails a run visibly instead of
 * vanishing at the rule.
 */
export const evaluationRequestedDetail = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  runId: z.optional(z.string().check(z.minLength(1))),
  trigger: z.enum(['api', 'schedule', 'promotion', 'model', 'drift']),
  requestedBy: z.string().check(z.minLength(1)),
  request: z.record(z.string(), z.unknown()),
  /** A promotion's run: the prompt and versions whose gate record the run writes. */
  promotion: z.optional(
    z.object({
      prompt: z.string().check(z.minLength(1)),
      candidateVersion: z.number().check(z.int(), z.positive()),
      baselineVersion: z.number().check(z.int(), z.positive()),
    }),
  ),
});
export type EvaluationRequestedDetail = z.infer<typeof evaluationRequestedDetail>;

export const evaluationRequestedEvent = eventBridgeEvent(EVALUATION_REQUESTED, evaluationRequestedDetail);
