import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { createDocumentClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { DatasetRegistry } from '#aws/dataset-registry.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { envVar } from '#contracts/env.ts';
import { sourceRef } from '#contracts/pipelines/dataprep.ts';

/**
 * ReleaseClaim: runs when a step after Plan fails. Marks the run's claim on the S3 object version as
 * FAILED, so a redelivery or an archive replay of that upload is processed again instead of being taken
 * for a run in progress. Returns its input unchanged: the state machine then fails with the original
 * error and cause, which raise the alarm and `llmops.PipelineFailed`.
 */
export interface ReleaseClaimDeps {
  readonly registry: Pick<DatasetRegistry, 'releaseClaim'>;
}

const releaseInput = z.looseObject({
  runId: z.string().min(1),
  source: sourceRef,
  failure: z.looseObject({ Error: z.string().optional(), Cause: z.string().optional() }),
});

export function makeHandler(deps: ReleaseClaimDeps) {
  return async (input: unknown, _context?: Context): Promise<unknown> => {
    const state = parseInput(releaseInput, input, 'ReleaseClaim input');
    logger.appendKeys({ runId: state.runId });
    const reason = `${state.failure.Error ?? 'Error'}: ${state.failure.Cause ?? ''}`;
    const released = await deps.registry.releaseClaim(state.source, state.runId, reason);
    metrics.addMetric('ClaimsReleased', 'Count', released ? 1 : 0);
    logger.info(released ? 'Claim released after a failure' : 'Claim no longer held by this run', {
      source: state.source,
      error: state.failure.Error,
    });
    return input;
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = { DATASETS_TABLE: envVar.string() };

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({ registry: new DatasetRegistry(createDocumentClient(), config.DATASETS_TABLE) }),
);
