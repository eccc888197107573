import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { z } from 'zod';
import { createDocumentClient, createEventBridgeClient, createS3Client } from '#aws/clients.ts';
import { describeIssues, envVar } from '#aws/config.ts';
import { InvalidEventError, TransientError } from '#aws/errors.ts';
import { publishEvent } from '#aws/events-publisher.ts';
import { logger } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { DocumentTable } from '#aws/rag/documents.ts';
import { vectorStoreKindFromEnv } from '#aws/rag/vector-store.ts';
import {
  DOCUMENT_INDEXED,
  type DocumentIndexedDetail,
  documentIndexedDetail,
} from '#events/document-indexed.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';

export { parseInput };

/** Environment shared by the RagIngest functions. */
export const ragEnv = {
  DOCUMENTS_TABLE: envVar.string(),
  ARTIFACTS_BUCKET: envVar.string(),
  EVENT_BUS_NAME: envVar.string(),
};

/** What every RagIngest step gets in Lambda: S3, the status table and the reporter, from its environment. */
export function stepDeps(config: { DOCUMENTS_TABLE: string; EVENT_BUS_NAME: string }): {
  s3: S3Client;
  table: DocumentTable;
  reporter: DocumentReporter;
} {
  return {
    s3: createS3Client(),
    table: new DocumentTable(createDocumentClient(), config.DOCUMENTS_TABLE),
    reporter: new DocumentReporter(
      createEventBridgeClient(),
      config.EVENT_BUS_NAME,
      vectorStoreKindFromEnv(),
    ),
  };
}

/** Errors a step rethrows so that Step Functions retries it; everything else fails only the document. */
const RETRYABLE = new Set(['TransientError', 'ThrottledError', 'ModelProviderError', 'TimeoutError']);

export function isRetryable(error: unknown): boolean {
  const name = (error as { name?: string })?.name ?? '';
  if (RETRYABLE.has(name)) return true;
  // A store write that ran out of retries on throttling carries the throttling as its cause.
  return name === 'VectorStoreWriteError' && isRetryable((error as { cause?: unknown }).cause);
}

/**
 * The error a step throws for a retryable failure, named so that the state machine's Retry matches it: a
 * store write that ran out of retries on throttling becomes a TransientError carrying it as its cause.
 */
export function asRetryable(error: unknown): unknown {
  const name = (error as { name?: string })?.name ?? '';
  if (RETRYABLE.has(name)) return error;
  return new TransientError(error instanceof Error ? error.message : String(error), { cause: error });
}

/** A one-line reason for the status table and the event: the error's name and message. */
export function reasonOf(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** Reads a staged JSONL file and parses every line with `schema`. */
export async function readStaged<S extends z.ZodType>(
  s3: S3Client,
  location: { bucket: string; key: string },
  schema: S,
): Promise<z.infer<S>[]> {
  const response = await s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
  const text = (await response.Body?.transformToString('utf-8')) ?? '';
  const out: z.infer<S>[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const parsed = schema.safeParse(JSON.parse(line));
    if (!parsed.success) {
      throw new InvalidEventError(
        `s3://${location.bucket}/${location.key} line ${i + 1}: ${describeIssues(parsed.error)}`,
      );
    }
    out.push(parsed.data);
  });
  return out;
}

/** Writes values as a staged JSONL file. */
export async function writeStaged(
  s3: S3Client,
  location: { bucket: string; key: string },
  values: readonly unknown[],
): Promise<void> {
  const body = values.map((value) => JSON.stringify(value)).join('\n');
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: location.bucket,
        Key: location.key,
        Body: body.length > 0 ? `${body}\n` : '',
        ContentType: 'application/x-ndjson',
      }),
    );
  } catch (error) {
    throw new TransientError(`Could not stage s3://${location.bucket}/${location.key}`, { cause: error });
  }
}

/** Announces where a document ended (`llmops.DocumentIndexed`). */
export class DocumentReporter {
  constructor(
    private readonly events: EventBridgeClient,
    private readonly busName: string,
    private readonly vectorStore: DocumentIndexedDetail['vectorStore'],
  ) {}

  async report(detail: Omit<DocumentIndexedDetail, 'schemaVersion' | 'vectorStore'>): Promise<void> {
    await publishEvent(this.events, {
      busName: this.busName,
      source: LLMOPS_SOURCE,
      detailType: DOCUMENT_INDEXED,
      schema: documentIndexedDetail,
      detail: { schemaVersion: SCHEMA_VERSION, vectorStore: this.vectorStore, ...detail },
    });
  }

  /**
   * Records a document version as failed (unless a newer version took over) and announces it.
   * @returns whether the failure was recorded (false: superseded)
   */
  async fail(
    table: Pick<DocumentTable, 'markFailed'>,
    doc: { docId: string; version: string; collection: string; title?: string; source?: string },
    error: unknown,
    runId: string,
    now: Date,
  ): Promise<boolean> {
    const reason = reasonOf(error);
    const recorded = await table.markFailed(doc.docId, doc.version, reason, now);
    if (!recorded) return false;
    logger.warn('Document failed', { docId: doc.docId, version: doc.version, reason });
    await this.report({
      docId: doc.docId,
      version: doc.version,
      status: 'failed',
      chunks: 0,
      reason,
      title: doc.title ?? null,
      source: doc.source ?? null,
      collection: doc.collection,
      runId,
    });
    return true;
  }
}
