import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { EvaluationRun } from '#contracts/evaluation/run.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import { EVALUATION_REQUESTED, evaluationRequestedDetail } from '#events/evaluation-requested.ts';
import { publishEvent } from '../events-publisher.ts';
import { logger } from '../logging.ts';
import type { EvaluationStore } from './evaluation-store.ts';

/** A promotion's run: the prompt and the versions whose gate record the run writes. */
export interface PromotionOfRun {
  readonly prompt: string;
  readonly candidateVersion: number;
  readonly baselineVersion: number;
}

/**
 * Puts `llmops.EvaluationRequested` for a run that was just created `queued` (`POST /v1/evaluations`, a
 * refused promotion), which starts the Evaluate state machine. A run whose event could not be put would
 * stay `queued` for ever: it is recorded `failed`, saying why, before the error goes on (a 5xx).
 */
export async function requestEvaluation(
  deps: {
    readonly store: Pick<EvaluationStore, 'finishRun'>;
    readonly events: EventBridgeClient;
    readonly busName: string;
  },
  run: EvaluationRun,
  promotion?: PromotionOfRun,
): Promise<void> {
  try {
    await publishEvent(deps.events, {
      busName: deps.busName,
      source: LLMOPS_SOURCE,
      detailType: EVALUATION_REQUESTED,
      schema: evaluationRequestedDetail,
      detail: {
        schemaVersion: SCHEMA_VERSION,
        runId: run.runId,
        trigger: run.trigger,
        requestedBy: run.requestedBy,
        request: run.request,
        ...(promotion !== undefined ? { promotion } : {}),
      },
    });
  } catch (error) {
    await deps.store
      .finishRun(run.runId, {
        status: 'failed',
        error: 'The evaluation request could not be put on the event bus; request a new run',
      })
      .catch((cause: unknown) =>
        logger.error('Could not record an unrequested run as failed', { runId: run.runId, cause }),
      );
    throw error;
  }
}
