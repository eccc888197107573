import * as z from 'zod/mini';
import { eventBridgeEvent, SCHEMA_VERSION } from './envelope.ts';

export const PROMPT_GATE_OVERRIDDEN = 'llmops.PromptGateOverridden';

/**
 * `llmops.PromptGateOverridden`: an administrator moved a prompt's `production` label with `force`,
 * past a missing, running or failed evaluation. The reason and the author are also kept in the prompt's
 * label history (audit); on-call and the closed loop read this event.
 */
export const promptGateOverriddenDetail = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  prompt: z.string().check(z.minLength(1)),
  label: z.string().check(z.minLength(1)),
  version: z.number().check(z.int(), z.positive()),
  previousVersion: z.nullable(z.number().check(z.int(), z.positive())),
  reason: z.string().check(z.minLength(1)),
  author: z.string().check(z.minLength(1)),
  /** What the gate said at the time: no run, a run still going, or a failed one (with its run id). */
  gate: z.object({
    status: z.enum(['none', 'queued', 'running', 'failed', 'skipped', 'succeeded']),
    runId: z.nullable(z.string()),
    pass: z.nullable(z.boolean()),
  }),
});
export type PromptGateOverriddenDetail = z.infer<typeof promptGateOverriddenDetail>;

export const promptGateOverriddenEvent = eventBridgeEvent(PROMPT_GATE_OVERRIDDEN, promptGateOverriddenDetail);
