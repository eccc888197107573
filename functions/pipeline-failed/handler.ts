import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Context } from 'aws-lambda';
import { createEventBridgeClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { publishEvent } from '#aws/events-publisher.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { envVar } from '#contracts/env.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import { PIPELINE_FAILED, type PipelineFailedDetail, pipelineFailedDetail } from '#events/pipeline-failed.ts';
import { sfnExecutionStatusChangeEvent } from '#events/sfn-execution-status-change.ts';

/**
 * Turns a failed, timed-out or aborted state machine execution (the Step Functions status-change event
 * on the default bus) into `llmops.PipelineFailed` on the project's bus, with the error, a readable cause
 * and a reference to what started the execution (for an S3 upload: bucket, key, version).
 */
export interface PipelineFailedDeps {
  readonly events: EventBridgeClient;
  readonly busName: string;
}

const pipelineName = (stateMachineArn: string) => stateMachineArn.split(':').pop() ?? stateMachineArn;

/** Lambda errors arrive as a JSON cause `{errorType, errorMessage, trace}`: keep the message only. */
export function readableCause(cause: string | null | undefined): string | null {
  if (!cause) return null;
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // not JSON: keep it as it is
  }
  return cause.slice(0, 2000);
}

/** Finds what started the execution: an S3 object, a dataset, or nothing known. */
export function inputReference(input: string | null | undefined): Record<string, string> | null {
  if (!input) return null;
  try {
    const parsed = JSON.parse(input) as Record<string, unknown>;
    const event = (parsed.event ?? parsed) as {
      detail?: { bucket?: { name?: string }; object?: Record<string, unknown> };
    };
    const bucket = event.detail?.bucket?.name;
    const key = event.detail?.object?.key;
    if (typeof bucket === 'string' && typeof key === 'string') {
      const versionId = event.detail?.object?.['version-id'];
      return { bucket, key, ...(typeof versionId === 'string' ? { versionId } : {}) };
    }
  } catch {
    // input not JSON
  }
  return null;
}

const iso = (millis: number | null | undefined) =>
  typeof millis === 'number' ? new Date(millis).toISOString() : null;

export function makeHandler(deps: PipelineFailedDeps) {
  return async (input: unknown, _context?: Context): Promise<PipelineFailedDetail> => {
    const event = parseInput(sfnExecutionStatusChangeEvent, input, 'Step Functions status change event');
    const { detail } = event;
    if (detail.status !== 'FAILED' && detail.status !== 'TIMED_OUT' && detail.status !== 'ABORTED') {
      throw new Error(`Unexpected execution status ${detail.status}: the rule should only match failures`);
    }
    const failure: PipelineFailedDetail = {
      schemaVersion: SCHEMA_VERSION,
      pipeline: pipelineName(detail.stateMachineArn),
      stateMachineArn: detail.stateMachineArn,
      executionArn: detail.executionArn,
      status: detail.status,
      error: detail.error ?? null,
      cause: readableCause(detail.cause),
      inputReference: inputReference(detail.input),
      startedAt: iso(detail.startDate),
      stoppedAt: iso(detail.stopDate),
    };
    await publishEvent(deps.events, {
      busName: deps.busName,
      source: LLMOPS_SOURCE,
      detailType: PIPELINE_FAILED,
      schema: pipelineFailedDetail,
      detail: failure,
      resources: [detail.executionArn],
    });
    metrics.addMetric('PipelineFailures', 'Count', 1);
    logger.warn('Pipeline failed', { failure });
    return failure;
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = { EVENT_BUS_NAME: envVar.string() };

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({ events: createEventBridgeClient(), busName: config.EVENT_BUS_NAME }),
);
