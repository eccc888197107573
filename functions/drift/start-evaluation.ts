import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Context } from 'aws-lambda';
import * as z from 'zod/mini';
import { createEventBridgeClient } from '#aws/clients.ts';
import { parseJsonVariable, readConfig } from '#aws/config.ts';
import { ConfigError } from '#aws/errors.ts';
import { publishEvent } from '#aws/events-publisher.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { envVar } from '#contracts/env.ts';
import { driftRunId } from '#core/drift/run-id.ts';
import { driftDetectedEvent } from '#events/drift-detected.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import { EVALUATION_REQUESTED, evaluationRequestedDetail } from '#events/evaluation-requested.ts';

/**
 * The target of the rule on `llmops.DriftDetected`: starts the evaluation of production that the
 * configuration asks for on a drift of the check that fired (the check's own `onDrift`, else
 * `drift.onDrift`: a suite answered by the production prompt and/or a model), by putting
 * `llmops.EvaluationRequested` with trigger `drift`, as a schedule does. A check with neither starts
 * nothing (its alarm has paged already). The run id is
 * made of the check and the window (`driftRunId`, in the core: the closed loop keys the drift's evidence
 * by it), so a redelivered DriftDetected (or the state change behind it), and the other signals of the
 * same check alarming on the same window, name the same run, which the Evaluate state machine claims
 * once: one drift, one run.
 */
export interface StartEvaluationDeps {
  readonly events: EventBridgeClient;
  readonly busName: string;
  /**
   * The run request of a check without its own (`evaluationRunRequest`'s shape: suite, target, maxItems,
   * k, rag). @default none: such a check starts nothing
   */
  readonly request?: Record<string, unknown>;
  /** The run requests of the checks that name their own, by check name. @default none */
  readonly byCheck?: Readonly<Record<string, Record<string, unknown>>>;
}

export type StartEvaluationResult =
  | { readonly runId: string; readonly check: string }
  | { readonly runId: null; readonly check: string; readonly reason: string };

/** `DRIFT_EVALUATION` (and each check's in `DRIFT_CHECK_EVALUATIONS`): an `onDrift`, as synthesized. */
const driftEvaluation = z.object({
  suite: z.string(),
  prompt: z.optional(z.string()),
  model: z.optional(z.string()),
  maxItems: z.int(),
  k: z.int(),
  ragK: z.optional(z.int()),
});

/** The run request of a `drift.onDrift` setting. */
export function runRequestOf(raw: string): Record<string, unknown> {
  return requestOf(parseJsonVariable('DRIFT_EVALUATION', driftEvaluation, raw));
}

/** The run requests of the checks' own `onDrift` settings (`DRIFT_CHECK_EVALUATIONS`), by check name. */
export function checkRequestsOf(raw: string): Record<string, Record<string, unknown>> {
  const byCheck = parseJsonVariable('DRIFT_CHECK_EVALUATIONS', z.record(z.string(), driftEvaluation), raw);
  return Object.fromEntries(Object.entries(byCheck).map(([check, s]) => [check, requestOf(s)]));
}

function requestOf(s: z.infer<typeof driftEvaluation>): Record<string, unknown> {
  return {
    suite: s.suite,
    target: { ...(s.prompt ? { prompt: s.prompt } : {}), ...(s.model ? { model: s.model } : {}) },
    maxItems: s.maxItems,
    k: s.k,
    ...(s.ragK !== undefined ? { rag: { k: s.ragK } } : {}),
  };
}

export function makeHandler(deps: StartEvaluationDeps) {
  return async (input: unknown, _context?: Context): Promise<StartEvaluationResult> => {
    const { detail } = parseInput(driftDetectedEvent, input, 'llmops.DriftDetected event');
    const check = detail.check;
    // The check's own evaluation (its slice's prompt or model), else the default one.
    const request = Object.hasOwn(deps.byCheck ?? {}, check) ? deps.byCheck?.[check] : deps.request;
    if (request === undefined) {
      const reason = `drift check ${check} names no evaluation (no onDrift of its own, no drift.onDrift): nothing started`;
      logger.warn('No evaluation of production on this drift', { check, reason });
      return { runId: null, check, reason };
    }
    const runId = driftRunId(check, detail.window.end);
    await publishEvent(deps.events, {
      busName: deps.busName,
      source: LLMOPS_SOURCE,
      detailType: EVALUATION_REQUESTED,
      schema: evaluationRequestedDetail,
      detail: {
        schemaVersion: SCHEMA_VERSION,
        runId,
        trigger: 'drift',
        requestedBy: `drift:${detail.alarmName}`,
        request,
      },
    });
    metrics.addMetric('DriftEvaluationsRequested', 'Count', 1);
    logger.info('Evaluation of production requested on drift', {
      runId,
      check,
      signal: detail.metric.signal,
      target: request.target,
    });
    return { runId, check };
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  EVENT_BUS_NAME: envVar.string(),
  /** `drift.onDrift`: the evaluation of the checks without their own. */
  DRIFT_EVALUATION: envVar.optionalString(),
  /** The checks' own `onDrift`, by check name (JSON). */
  DRIFT_CHECK_EVALUATIONS: envVar.optionalString(),
};

const config = readConfig(environment);
if (config.DRIFT_EVALUATION === undefined && config.DRIFT_CHECK_EVALUATIONS === undefined) {
  throw new ConfigError(
    'Invalid function configuration: DRIFT_EVALUATION or DRIFT_CHECK_EVALUATIONS: set at least one (an onDrift evaluation)',
  );
}

export const handler = withObservability(
  makeHandler({
    events: createEventBridgeClient(),
    busName: config.EVENT_BUS_NAME,
    ...(config.DRIFT_EVALUATION !== undefined ? { request: runRequestOf(config.DRIFT_EVALUATION) } : {}),
    ...(config.DRIFT_CHECK_EVALUATIONS !== undefined
      ? { byCheck: checkRequestsOf(config.DRIFT_CHECK_EVALUATIONS) }
      : {}),
  }),
);
