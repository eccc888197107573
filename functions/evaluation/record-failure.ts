import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { createDocumentClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { DynamoEvaluationStore } from '#aws/eval/dynamo-evaluation-store.ts';
import type { EvaluationStore } from '#aws/eval/evaluation-store.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { envVar } from '#contracts/env.ts';
import type { EvaluationRun, EvaluationRunRequest } from '#contracts/evaluation/run.ts';
import { type EvaluationRequestedDetail, evaluationRequestedEvent } from '#events/evaluation-requested.ts';
import { runIdOf } from './staging.ts';

/**
 * RecordFailure: where every failure of an Evaluate run lands (the state machine catches Plan, the
 * batches and Report into it, then fails the execution so that the pipeline alarm sees it). It records
 * the run as `failed` with the reason (a Lambda error's message, say the request field a schedule got
 * wrong or the budget a run went over) and, for a promotion run, the promotion gate as failed. A run that
 * failed before any record of it existed (a scheduled run refused by Plan) is created to say so. When
 * the state names no run (an event that is not an `llmops.EvaluationRequested`), there is nothing to
 * record: the failure is logged, and the execution still fails.
 */
export interface RecordFailureDeps {
  readonly store: Pick<EvaluationStore, 'getRun' | 'claimRun' | 'finishRun' | 'putGate'>;
  readonly now?: () => Date;
}

/** The longest reason recorded. */
export const MAX_ERROR_CHARS = 2000;

const promotion = z.object({
  prompt: z.string().min(1),
  candidateVersion: z.number().int().positive(),
  baselineVersion: z.number().int().positive(),
});

/** What a Catch puts at `ResultPath`: the error's name and its cause. */
const caughtError = z.looseObject({ Error: z.string().optional(), Cause: z.string().optional() });

/** The state at the point of failure: whatever it held, and the caught error (`ResultPath: $.error`). */
const failureInput = z.looseObject({
  runId: z.string().min(1).optional(),
  event: z.unknown().optional(),
  executionName: z.string().min(1).optional(),
  promotion: promotion.optional(),
  error: caughtError.optional(),
});

function isEvent(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'detail-type' in value && 'detail' in value;
}

function errorIn(value: unknown): z.infer<typeof caughtError> | undefined {
  const found = z.object({ error: caughtError }).safeParse(value);
  return found.success ? found.data.error : undefined;
}

export interface RecordFailureOutput {
  /** Null when the state named no run. */
  readonly runId: string | null;
  readonly status: 'failed';
  readonly error: string;
}

/**
 * The reason of a caught error: a Lambda error's `errorMessage` (its Cause is the error as JSON), else
 * the Cause as it is (a Step Functions error such as `States.Timeout` explains itself there), else the
 * error's name.
 */
export function reasonOf(
  error: { Error?: string | undefined; Cause?: string | undefined } | undefined,
): string {
  const name = error?.Error ?? 'Error';
  const cause = error?.Cause?.trim() ?? '';
  let reason = name;
  if (cause !== '') {
    try {
      const parsed = JSON.parse(cause) as { errorMessage?: unknown };
      reason =
        typeof parsed?.errorMessage === 'string' && parsed.errorMessage !== ''
          ? parsed.errorMessage
          : `${name}: ${cause}`;
    } catch {
      reason = `${name}: ${cause}`;
    }
  }
  return reason.length > MAX_ERROR_CHARS ? `${reason.slice(0, MAX_ERROR_CHARS - 1)}…` : reason;
}

export function makeHandler(deps: RecordFailureDeps) {
  const now = deps.now ?? (() => new Date());
  return async (input: unknown, _context?: Context): Promise<RecordFailureOutput> => {
    const state = parseInput(failureInput, input, 'RecordFailure input');
    // Plan's catch hands over the state machine's input (the event itself) with the error merged in,
    // unless the task names the event (and the execution) itself.
    const raw = state.event ?? (isEvent(input) ? input : undefined);
    const error = reasonOf(state.error ?? errorIn(raw));
    const event = evaluationRequestedEvent.safeParse(raw);
    const detail: EvaluationRequestedDetail | undefined = event.success ? event.data.detail : undefined;
    let runId = state.runId;
    if (runId === undefined && detail !== undefined) {
      try {
        runId = runIdOf(detail, state.executionName ?? '');
      } catch {
        runId = undefined;
      }
    }
    metrics.addMetric('EvaluationRunsFailed', 'Count', 1);
    if (runId === undefined) {
      logger.error('Evaluation failed before it had a run to record it on', {
        error,
        errorName: state.error?.Error,
      });
      return { runId: null, status: 'failed', error };
    }
    logger.appendKeys({ runId });

    const stored = await deps.store.getRun(runId);
    if (stored === undefined) {
      if (detail === undefined) {
        logger.error('Evaluation failed, and its run has no record to update', { error });
        return { runId, status: 'failed', error };
      }
      // A run that failed in Plan before it was claimed, with no record of its own (a scheduled run): the
      // record is created (with the request as it came, valid or not) so that the failure can be read.
      const at = now().toISOString();
      const run: EvaluationRun = {
        runId,
        status: 'running',
        trigger: detail.trigger,
        request: detail.request as EvaluationRunRequest,
        requestedBy: detail.requestedBy,
        createdAt: at,
        updatedAt: at,
      };
      await deps.store.claimRun(run, {});
    }
    const ended = await deps.store.finishRun(runId, { status: 'failed', error });
    logger.error('Evaluation run failed', { error, errorName: state.error?.Error, status: ended.status });

    const gateOf = state.promotion ?? detail?.promotion;
    const suite = typeof ended.request?.suite === 'string' ? ended.request.suite : undefined;
    if (gateOf !== undefined && ended.status === 'failed') {
      if (suite === undefined) {
        logger.error('The promotion gate of a failed run cannot be recorded: the request names no suite');
      } else {
        await deps.store.putGate({
          ...gateOf,
          suite,
          runId,
          status: 'failed',
          updatedAt: now().toISOString(),
        });
      }
    }
    return { runId, status: 'failed', error: ended.status === 'failed' ? (ended.error ?? error) : error };
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = { EVALUATIONS_TABLE: envVar.string() };

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({ store: new DynamoEvaluationStore(createDocumentClient(), config.EVALUATIONS_TABLE) }),
);
