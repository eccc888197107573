import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { readConfig } from '#aws/config.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import type { DocumentTable } from '#aws/rag/documents.ts';
import type { DocumentReporter } from '#aws/rag/reporter.ts';
import { readStaged } from '#aws/rag/staging.ts';
import {
  deletionItem,
  type FinishOutput,
  finishInput,
  stagedDocument,
} from '#contracts/pipelines/rag-ingest.ts';
import { ragEnv, stepDeps } from './shared.ts';

/**
 * Finish: totals the run. A batch whose step failed after every retry (caught by the Map) has each of its
 * documents recorded as `failed` with the step's error, so none is left `queued` forever. The state
 * machine then fails the execution when any document failed, so that the pipeline alarm pages.
 */
export interface FinishDeps {
  readonly s3: S3Client;
  readonly table: Pick<DocumentTable, 'markFailed'>;
  readonly reporter: Pick<DocumentReporter, 'fail'>;
  readonly now?: () => Date;
}

export function makeHandler(deps: FinishDeps) {
  const now = deps.now ?? (() => new Date());
  return async (input: unknown, _context?: Context): Promise<FinishOutput> => {
    const state = parseInput(finishInput, input, 'Finish input');
    logger.appendKeys({ runId: state.runId });
    const totals = { indexed: 0, deleted: 0, failed: state.counts.failed, superseded: state.counts.stale };
    for (const result of state.results) {
      if ('error' in result) {
        const error = new Error(result.error.Cause ?? result.error.Error);
        error.name = result.error.Error;
        if (result.batch.kind === 'ingest') {
          for (const doc of await readStaged(deps.s3, result.batch.location, stagedDocument)) {
            if (await deps.reporter.fail(deps.table, doc, error, state.runId, now())) totals.failed += 1;
            else totals.superseded += 1;
          }
        } else {
          // The documents stay as they were: a redelivery or a new deletion event will remove them.
          const items = await readStaged(deps.s3, result.batch.location, deletionItem);
          logger.error('Deletion batch failed', { docIds: items.map((i) => i.docId), error: result.error });
          totals.failed += items.length;
        }
        continue;
      }
      totals.indexed += result.indexed;
      totals.deleted += result.deleted;
      totals.failed += result.failed;
      totals.superseded += result.superseded;
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
