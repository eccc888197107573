import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { readConfig } from '#aws/config.ts';
import { InvalidEventError } from '#aws/errors.ts';
import { type FailedChild, readMapRunResults } from '#aws/map-run.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import type { DocumentTable } from '#aws/rag/documents.ts';
import type { DocumentReporter } from '#aws/rag/reporter.ts';
import { readStaged } from '#aws/rag/staging.ts';
import {
  batchInput,
  batchProgress,
  deletionItem,
  type FinishOutput,
  finishInput,
  stagedDocument,
} from '#contracts/pipelines/rag-ingest.ts';
import { ragEnv, stepDeps } from './shared.ts';

/**
 * Finish: totals the run from the Map Run's result files (the manifest and the files it lists, written to
 * S3 by the Distributed Map's ResultWriter). A batch whose child execution failed (a step that failed
 * after every retry, or timed out) has each of its documents recorded as `failed` with that error, so none
 * is left `queued` forever. The state machine then fails the execution when any document failed, so that
 * the pipeline alarm pages.
 */
export interface FinishDeps {
  readonly s3: S3Client;
  readonly table: Pick<DocumentTable, 'markFailed'>;
  readonly reporter: Pick<DocumentReporter, 'fail'>;
  readonly now?: () => Date;
}

export function makeHandler(deps: FinishDeps) {
  const now = deps.now ?? (() => new Date());

  /** Records the documents of a batch whose child execution failed; what was counted. */
  async function recordFailedBatch(
    child: FailedChild,
    runId: string,
  ): Promise<{ failed: number; superseded: number }> {
    const { batch } = parseInput(batchInput, child.input, 'input of a failed Map child');
    const error = new Error(child.cause ?? child.error);
    error.name = child.error;
    const counts = { failed: 0, superseded: 0 };
    if (batch.kind === 'ingest') {
      for (const doc of await readStaged(deps.s3, batch.location, stagedDocument)) {
        if (await deps.reporter.fail(deps.table, doc, error, runId, now())) counts.failed += 1;
        else counts.superseded += 1;
      }
    } else {
      // The documents stay as they were: a redelivery or a new deletion event will remove them.
      const items = await readStaged(deps.s3, batch.location, deletionItem);
      logger.error('Deletion batch failed', {
        docIds: items.map((i) => i.docId),
        error: { Error: child.error, Cause: child.cause },
      });
      counts.failed += items.length;
    }
    return counts;
  }

  return async (input: unknown, _context?: Context): Promise<FinishOutput> => {
    const state = parseInput(finishInput, input, 'Finish input');
    logger.appendKeys({ runId: state.runId });
    const totals = { indexed: 0, deleted: 0, failed: state.counts.failed, superseded: state.counts.stale };
    if (state.batchCount > 0 && !state.mapRun) {
      throw new InvalidEventError(
        `Invalid Finish input: mapRun is required when the plan has ${state.batchCount} batch(es)`,
      );
    }
    const results = state.mapRun
      ? await readMapRunResults(deps.s3, state.mapRun, batchProgress)
      : { succeeded: [], failed: [] };
    for (const { output } of results.succeeded) {
      totals.indexed += output.indexed;
      totals.deleted += output.deleted;
      totals.failed += output.failed;
      totals.superseded += output.superseded;
    }
    for (const child of results.failed) {
      const { failed, superseded } = await recordFailedBatch(child, state.runId);
      totals.failed += failed;
      totals.superseded += superseded;
    }
    const unchanged = state.counts.unchanged;
    metrics.addMetric('RagDocumentsFailed', 'Count', totals.failed);
    const summary =
      `${state.origin}: ${totals.indexed} indexed, ${totals.deleted} deleted, ${unchanged} unchanged, ` +
      `${totals.superseded} superseded, ${totals.failed} failed` +
      (totals.failed > 0 ? ' (see GET /v1/rag/documents?status=failed for each reason)' : '');
    logger.info('RAG ingestion finished', { summary });
    return {
      runId: state.runId,
      status: totals.failed > 0 ? 'FAILED' : 'SUCCEEDED',
      origin: state.origin,
      unchanged,
      ...totals,
      summary,
    };
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = { ...ragEnv };

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({
    ...stepDeps(config),
  }),
);
