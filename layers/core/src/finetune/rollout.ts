/**
 * The decisions of a canary rollout, with no I/O: the rollout id of a model package, and what Check
 * decides from the alarms that breached, the candidate's calls and errors, and the clock.
 *
 * Check's rules, in order:
 * 1. any canary alarm breached during the bake → rollback (the reason names the alarms);
 * 2. the canary is gone from the served entry (an operator cleared it) → rollback;
 * 3. at least {@link MIN_CALLS_FOR_ERROR_RATE} calls and an error rate above the limit → rollback;
 * 4. the bake is not over → continue;
 * 5. enough calls (`minCalls`) → promote; a first rollout (nothing served before, no canary) promotes
 *    once its bake (none) is over;
 * 6. too few calls: the bake is extended once, up to twice its length, then → rollback
 *    ("too few canary calls (n of min)").
 * So a breach never promotes, and nothing promotes before the bake ends.
 */
import { createHash } from 'node:crypto';
import { LlmOpsError } from '../errors.ts';

/** Below this many calls, the error rate says too little to roll back on. */
export const MIN_CALLS_FOR_ERROR_RATE = 20;

/** A rollout's id: `rollout-` and 16 hex digits of the SHA-256 of the model package ARN (one per package). */
export function rolloutIdOf(modelPackageArn: string): string {
  return `rollout-${createHash('sha256').update(modelPackageArn).digest('hex').slice(0, 16)}`;
}

export interface CanaryPolicy {
  /** Calls the candidate must answer before it may be promoted. */
  readonly minCalls: number;
  /** Rolled back above this error rate (errors / calls), once calls reach {@link MIN_CALLS_FOR_ERROR_RATE}. */
  readonly maxErrorRate: number;
}

export interface CheckInput {
  readonly now: Date;
  /** When the canary started (ISO). */
  readonly startedAt: string;
  /** When the bake ends (ISO); the extension for too few calls ends at `startedAt + 2 × (bakeUntil − startedAt)`. */
  readonly bakeUntil: string;
  /** A first rollout: nothing served the model before, so there is no canary to compare. */
  readonly initial: boolean;
  /** The canary alarms that entered ALARM during the bake. */
  readonly breaches: readonly string[];
  /** The canary's counters on the served entry; null when the canary of this rollout is not there. */
  readonly canary: { readonly calls: number; readonly errors: number } | null;
}

/** How a rollback's rejection of the candidate's model package begins: `rolled back: <reason>`. */
export const ROLLED_BACK_PREFIX = 'rolled back: ';

export type CheckDecision = 'continue' | 'promote' | 'rollback';

export interface CheckResult {
  readonly decision: CheckDecision;
  readonly reason: string;
  readonly calls: number;
  readonly errors: number;
  readonly breaches: string[];
}

const percent = (ratio: number) => `${Number((ratio * 100).toFixed(2))}%`;

/** What Check does now (see the module's rules). */
export function decideCheck(input: CheckInput, policy: CanaryPolicy): CheckResult {
  const calls = Math.max(0, Math.trunc(input.canary?.calls ?? 0));
  const errors = Math.max(0, Math.trunc(input.canary?.errors ?? 0));
  const breaches = [...new Set(input.breaches)].sort();
  const result = (decision: CheckDecision, reason: string): CheckResult => ({
    decision,
    reason,
    calls,
    errors,
    breaches,
  });
  if (breaches.length > 0) {
    return result(
      'rollback',
      `canary alarm${breaches.length > 1 ? 's' : ''} in ALARM: ${breaches.join(', ')}`,
    );
  }
  if (!input.initial && input.canary === null) {
    return result(
      'rollback',
      'the canary of this rollout is no longer on the served model (cleared by hand?)',
    );
  }
  if (calls >= MIN_CALLS_FOR_ERROR_RATE && errors / calls > policy.maxErrorRate) {
    return result(
      'rollback',
      `canary error rate ${percent(errors / calls)} (${errors} of ${calls} calls) is above ${percent(policy.maxErrorRate)}`,
    );
  }
  const now = input.now.getTime();
  const started = Date.parse(input.startedAt);
  const bakeUntil = Date.parse(input.bakeUntil);
  if (!(now >= bakeUntil)) {
    return result(
      'continue',
      `baking until ${new Date(bakeUntil).toISOString()} (${errors} errors in ${calls} calls)`,
    );
  }
  if (input.initial) {
    return result(
      'promote',
      'first rollout: nothing served this model before, so there is no canary to compare',
    );
  }
  if (calls >= policy.minCalls) {
    return result(
      'promote',
      `canary baked ${Math.round((bakeUntil - started) / 1000)} s with no alarm in ALARM (${errors} errors in ${calls} calls)`,
    );
  }
  const extendedUntil = bakeUntil + Math.max(0, bakeUntil - started);
  const short = `too few canary calls (${calls} of ${policy.minCalls})`;
  if (now < extendedUntil) {
    return result('continue', `${short}: bake extended until ${new Date(extendedUntil).toISOString()}`);
  }
  return result('rollback', short);
}

/**
 * After a promotion, what SageMaker serves is not what the rollout promoted (the component is not in
 * service, loads another artifact, or the endpoint is not in service). Not retried: the state machine
 * fails and pages; the rollout's lock stays held until an operator looks.
 */
export class RolloutVerificationError extends LlmOpsError {
  /** What does not match, one sentence each. */
  readonly problems: readonly string[];
  constructor(message: string, problems: readonly string[], options?: { cause?: unknown }) {
    super(message, options);
    this.problems = problems;
  }
}
