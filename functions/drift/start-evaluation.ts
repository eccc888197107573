import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Context } from 'aws-lambda';
import * as z from 'zod/mini';
import { createEventBridgeClient } from '#aws/clients.ts';
import { parseJsonVariable, readConfig } from '#aws/config.ts';
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
 * configuration asks for on drift (`drift.onDrift`: a suite answered by the production prompt and/or a
 * model), by putting `llmops.EvaluationRequested` with trigger `drift`, as a schedule does. The run id is
 * made of the check and the window (`driftRunId`, in the core: the closed loop keys the drift's evidence
 * by it), so a redelivered DriftDetected (or the state change behind it), and the other signals of the
 * same check alarming on the same window, name the same run, which the Evaluate state machine claims
 * once: one drift, one run.
 */
export interface StartEvaluationDeps {
  readonly events: EventBridgeClient;
  readonly busName: string;
  /** The run request (`evaluationRunRequest`'s shape: suite, target, maxItems, k, rag). */
  readonly request: Record<string, unknown>;
}

/** `DRIFT_EVALUATION`: what `drift.onDrift` asks for, as synthesized. */
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
  const s = parseJsonVariable('DRIFT_EVALUATION', driftEvaluation, raw);
  return {
    suite: s.suite,
    target: { ...(s.prompt ? { prompt: s.prompt } : {}), ...(s.model ? { model: s.model } : {}) },
    maxItems: s.maxItems,
    k: s.k,
    ...(s.ragK !== undefined ? { rag: { k: s.ragK } } : {}),
  };
}

export function makeHandler(deps: StartEvaluationDeps) {
  return async (input: unknown, _context?: Context): Promise<{ runId: string }> => {
    const { detail } = parseInput(driftDetectedEvent, input, 'llmops.DriftDetected event');
    const runId = driftRunId(detail.check, detail.window.end);
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
        request: deps.request,
      },
    });
    metrics.addMetric('DriftEvaluationsRequested', 'Count', 1);
    logger.info('Evaluation of production requested on drift', {
      runId,
      check: detail.check,
      signal: detail.metric.signal,
    });
    return { runId };
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = { EVENT_BUS_NAME: envVar.string(), DRIFT_EVALUATION: envVar.string() };

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({
    events: createEventBridgeClient(),
    busName: config.EVENT_BUS_NAME,
    request: runRequestOf(config.DRIFT_EVALUATION),
  }),
);
