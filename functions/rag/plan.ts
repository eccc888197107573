import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { readConfig } from '#aws/config.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import {
  type ChangeBatch,
  ChangeSources,
  isChangeBatch,
  planChangeBatch,
  ragRejectedKey,
} from '#aws/rag/change-sources.ts';
import type { DocumentTable } from '#aws/rag/documents.ts';
import type { DocumentReporter } from '#aws/rag/reporter.ts';
import { writeStaged } from '#aws/rag/staging.ts';
import { envVar } from '#contracts/env.ts';
import { type PlanOutput, ragLayout } from '#contracts/pipelines/rag-ingest.ts';
import type { ChangeSet } from '#core/rag/change-plan.ts';
import { ragEnv, stepDeps } from './shared.ts';

/**
 * Plan: the first RagIngest task. It reads what the trigger brings (an upload under `raw/rag/`, a
 * deletion of one, or `llmops.DatasetReady {purpose: rag}`) and hands it to the change plan of the core,
 * which claims each changed version, records files that cannot be parsed as failed and stages the
 * batches for the Map. A failed document fails the run at the end, so that an alarm sees it.
 *
 * The input is one such event (a direct start) or, from the trigger queue's pipe, the JSON array of a
 * batch's SQS records: each record's event is planned as one event is, the latest event of each document
 * wins, and the documents of the whole batch are cut into Map items together. A record that is no such
 * event is rejected with its reason (staged beside the run, and counted as failed) while the others go on.
 */
export interface PlanDeps {
  readonly s3: S3Client;
  readonly table: Pick<DocumentTable, 'claim' | 'liveDocuments' | 'markFailed'>;
  readonly reporter: Pick<DocumentReporter, 'fail'>;
  readonly artifactsBucket: string;
  readonly chunkMaxTokens: number;
  readonly chunkOverlapTokens: number;
  readonly embeddingModelId: string;
  readonly maxDocumentBytes: number;
  /** Documents per Map item. */
  readonly batchSize: number;
  readonly now?: () => Date;
}

const wrappedInput = z.object({ event: z.unknown(), executionName: z.string().min(1) });

export function makeHandler(deps: PlanDeps) {
  const now = deps.now ?? (() => new Date());
  const sources = new ChangeSources(deps.s3, deps.maxDocumentBytes);

  /** One event's change set, or a batch's (an array of SQS records). */
  function changesOf(event: unknown): Promise<ChangeSet | ChangeBatch> {
    return Array.isArray(event) ? sources.fromBatch(event) : sources.fromEvent(event);
  }

  return async (input: unknown, context: Context): Promise<PlanOutput> => {
    const wrapped = wrappedInput.safeParse(input);
    const event = wrapped.success ? wrapped.data.event : input;
    const executionName = wrapped.success ? wrapped.data.executionName : context.awsRequestId;
    const runId = executionName.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80);
    logger.appendKeys({ runId });
    const changes = await changesOf(event);
    if (isChangeBatch(changes) && changes.rejected.length > 0) {
      logger.error('Rejected trigger records', {
        rejected: changes.rejected.map(({ record, reason }) => ({ record, reason })),
      });
      metrics.addMetric('RagTriggerRecordsRejected', 'Count', changes.rejected.length);
    }
    const plan = await planChangeBatch(
      changes,
      {
        stageRejected: async (records) => {
          const location = { bucket: deps.artifactsBucket, key: ragRejectedKey(runId) };
          await writeStaged(deps.s3, location, records);
          return location;
        },
        claim: (request) => deps.table.claim(request),
        liveDocuments: (collection) => deps.table.liveDocuments(collection),
        recordFailure: (doc, error, at) => deps.reporter.fail(deps.table, doc, error, runId, at),
        stageBatch: async (index, items) => {
          const location = { bucket: deps.artifactsBucket, key: ragLayout.batch(runId, index) };
          await writeStaged(deps.s3, location, items);
          return location;
        },
      },
      {
        runId,
        embeddingModelId: deps.embeddingModelId,
        chunkMaxTokens: deps.chunkMaxTokens,
        chunkOverlapTokens: deps.chunkOverlapTokens,
        batchSize: deps.batchSize,
        now: now(),
      },
    );
    // The Distributed Map reads its items from S3, one batch reference per line: the state carries only
    // where they are, whatever their number.
    const items = { bucket: deps.artifactsBucket, key: ragLayout.items(runId) };
    await writeStaged(deps.s3, items, plan.batches);
    metrics.addMetric('RagDocumentsQueued', 'Count', plan.counts.queued);
    metrics.addMetric('RagDocumentsUnchanged', 'Count', plan.counts.unchanged);
    logger.info('Planned RAG ingestion', {
      origin: plan.origin,
      counts: plan.counts,
      batches: plan.batches.length,
    });
    return {
      runId,
      trigger: plan.trigger,
      origin: plan.origin,
      items,
      batchCount: plan.batches.length,
      counts: plan.counts,
    };
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  ...ragEnv,
  CHUNK_MAX_TOKENS: envVar.int(1),
  CHUNK_OVERLAP_TOKENS: envVar.int(0),
  EMBEDDING_MODEL_ID: envVar.string(),
  MAX_DOCUMENT_BYTES: envVar.int(1),
  DOCUMENT_BATCH_SIZE: envVar.int(1),
};

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({
    ...stepDeps(config),
    artifactsBucket: config.ARTIFACTS_BUCKET,
    chunkMaxTokens: config.CHUNK_MAX_TOKENS,
    chunkOverlapTokens: config.CHUNK_OVERLAP_TOKENS,
    embeddingModelId: config.EMBEDDING_MODEL_ID,
    maxDocumentBytes: config.MAX_DOCUMENT_BYTES,
    batchSize: config.DOCUMENT_BATCH_SIZE,
  }),
);
