import * as z from 'zod';
import { eventBridgeEvent, SCHEMA_VERSION } from './envelope.ts';

export const ROLLED_BACK = 'llmops.RolledBack';

/** What a rollback moves: a prompt's label, or the model a catalog entry routes to. */
const rollbackTarget = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('prompt'), name: z.string().min(1), label: z.string().min(1) }),
  z.object({ kind: z.literal('model'), id: z.string().min(1) }),
]);

/** A version of the target: a prompt version, or a served model. */
const position = z.object({
  /** The prompt version (prompts) … */
  version: z.number().int().positive().optional(),
  /** … or the model (models). */
  model: z.string().min(1).optional(),
  /** The evaluation run that passed with it (the rollback's target always has one). */
  passingRunId: z.string().min(1).optional(),
});

const failingMetric = z.object({
  name: z.string(),
  diff: z.number().nullable(),
  margin: z.number(),
  reason: z.string(),
});

/**
 * `llmops.RolledBack`: the closed loop (a drift alarm → an evaluation of production → a regression
 * against production's last passing run) moved production back, or, in `recommend` mode or when it may
 * not act (cool-down, nothing that passed to go back to), proposes to. A rule pages on-call with it
 * through the paging topic; the loop's table keeps it as the audit. `evidence` is what on-call needs to
 * check the decision: the drift that started it, the evaluation that regressed and the run it was
 * compared with, metric by metric.
 */
export const rolledBackDetail = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  rollbackId: z.string().min(1),
  /**
   * `rolled_back`: production was moved; `recommended`: the loop proposes it (recommend-only mode);
   * `held`: a rollback was due but not made (cool-down, or nothing that passed to go back to; `reason`).
   */
  outcome: z.enum(['rolled_back', 'recommended', 'held']),
  mode: z.enum(['act', 'recommend']),
  target: rollbackTarget,
  from: position,
  /** Where production went (or would go); null when there is nowhere to go. */
  to: position.nullable(),
  reason: z.string(),
  evidence: z.object({
    drift: z
      .object({
        alarmName: z.string(),
        check: z.string(),
        signal: z.string(),
        value: z.number().nullable(),
        windowEnd: z.string(),
        method: z.string().nullable(),
      })
      .nullable(),
    evaluation: z.object({
      runId: z.string().min(1),
      suite: z.object({ name: z.string(), version: z.number().int().positive() }),
      /** The last passing run of production it was compared with. */
      comparedWith: z.string().min(1),
      failing: z.array(failingMetric),
      report: z.string(),
    }),
  }),
  at: z.iso.datetime(),
});
export type RolledBackDetail = z.infer<typeof rolledBackDetail>;

export const rolledBackEvent = eventBridgeEvent(ROLLED_BACK, rolledBackDetail);
