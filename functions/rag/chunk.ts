import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { readConfig } from '#aws/config.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { forEachDocument } from '#aws/rag/document-loop.ts';
import type { DocumentTable } from '#aws/rag/documents.ts';
import type { DocumentReporter } from '#aws/rag/reporter.ts';
import { readStaged, writeStaged } from '#aws/rag/staging.ts';
import { envVar } from '#contracts/env.ts';
import {
  type BatchProgress,
  batchInput,
  ragLayout,
  type StagedChunks,
  stagedDocument,
} from '#contracts/pipelines/rag-ingest.ts';
import { DocumentParseError } from '#core/rag/parse/document.ts';
import { chunkStaged } from './chunking.ts';
import { ragEnv, stepDeps } from './shared.ts';

/**
 * Chunk: cuts each staged document of a batch into token-sized, structure-aware chunks (headings path,
 * position and metadata kept; a PDF chunk also records the page its content starts on), stages them for
 * Embed and moves each document to `chunked`. A document that cannot be chunked fails alone.
 */
export interface ChunkDeps {
  readonly s3: S3Client;
  readonly table: Pick<DocumentTable, 'advance' | 'markFailed'>;
  readonly reporter: Pick<DocumentReporter, 'fail'>;
  readonly maxTokens: number;
  readonly overlapTokens: number;
  readonly now?: () => Date;
}

export function makeHandler(deps: ChunkDeps) {
  const now = deps.now ?? (() => new Date());
  return async (input: unknown, _context?: Context): Promise<BatchProgress> => {
    const { runId, batch } = parseInput(batchInput, input, 'Chunk input');
    logger.appendKeys({ runId, batch: batch.index });
    const docs = await readStaged(deps.s3, batch.location, stagedDocument);
    const out: StagedChunks[] = [];
    const { failed, superseded } = await forEachDocument(docs, { ...deps, runId, now }, async (doc) => {
      const chunked = chunkStaged(doc, { maxTokens: deps.maxTokens, overlapTokens: deps.overlapTokens });
      if (chunked.chunks.length === 0) {
        throw new DocumentParseError(doc.docId, 'the document has no text to index');
      }
      if (!(await deps.table.advance(doc.docId, doc.version, 'chunked', now()))) return 'superseded';
      out.push(chunked);
      return 'done';
    });
    await writeStaged(
      deps.s3,
      { bucket: batch.location.bucket, key: ragLayout.chunks(batch.location.key) },
      out,
    );
    metrics.addMetric(
      'RagChunks',
      'Count',
      out.reduce((n, d) => n + d.chunks.length, 0),
    );
    return { runId, batch, active: out.length, indexed: 0, deleted: 0, failed, superseded };
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  ...ragEnv,
  CHUNK_MAX_TOKENS: envVar.int(1),
  CHUNK_OVERLAP_TOKENS: envVar.int(0),
};

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({
    ...stepDeps(config),
    maxTokens: config.CHUNK_MAX_TOKENS,
    overlapTokens: config.CHUNK_OVERLAP_TOKENS,
  }),
);
