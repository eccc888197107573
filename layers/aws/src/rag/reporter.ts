import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { input } from 'zod/v4/core';
import { isRetryableErrorName } from '#contracts/retryable-errors.ts';
import { VectorStoreWriteError } from '#core/rag/store.ts';
import { DOCUMENT_INDEXED, documentIndexedDetail } from '#events/document-indexed.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import { LlmOpsError } from '../errors.ts';
import { PUT_EVENTS_MAX_ENTRIES, publishEvent, publishEvents } from '../events-publisher.ts';
import { logger } from '../logging.ts';
import type { DocumentTable } from './documents.ts';

/**
 * Why a document failed, as the status table, `GET /v1/rag/documents` and `llmops.DocumentIndexed` show
 * it: a stable code and a message that is safe to show to any API caller. The error itself (AWS messages
 * name roles, accounts and resources) goes to the logs only.
 */
export interface DocumentFailure {
  /**
   * The name of a project error that may be shown (`DocumentParseError`, `InvalidUtf8Error`, ...), or one
   * of {@link FAILURE_CODES}.
   */
  readonly code: string;
  readonly message: string;
}

/** The codes of failures whose own text is not shown, with the message shown instead. */
export const FAILURE_CODES = {
  /** Anything unexpected: an AWS error, a bug, a misconfiguration. */
  INTERNAL:
    'the document could not be processed because of an internal error; the details are in the pipeline logs',
  /** A pipeline step ran out of time. */
  TIMEOUT: 'a pipeline step timed out while processing the document; the details are in the pipeline logs',
  /** A pipeline step kept failing with throttling or a transient fault after every retry. */
  RETRIES_EXHAUSTED:
    'a pipeline step still failed (throttling or a transient fault) after every retry; the details are in the pipeline logs',
  /** The vector store refused chunks: the message names them and the kind of refusal only. */
  VECTOR_STORE_REJECTED: 'the vector store refused the chunks of the document',
} as const;
export type FailureCode = keyof typeof FAILURE_CODES;

const nameOf = (error: unknown): string => {
  const name = (error as { name?: unknown } | null | undefined)?.name;
  return typeof name === 'string' ? name : '';
};

/** The kind of a store's refusal (`400 mapper_parsing_exception`, `AccessDeniedException`), not its text. */
function refusalKind(reason: string): string {
  const status = /^\s*([1-5]\d\d)\b/.exec(reason)?.[1];
  const kind = /\b([a-z][a-z0-9]*(?:_[a-z0-9]+)*_exception|[A-Z][A-Za-z0-9]*(?:Exception|Error))\b/.exec(
    reason,
  )?.[1];
  return [status, kind].filter(Boolean).join(' ') || 'refused';
}

/** The code and safe message of a failure (see {@link DocumentFailure}). */
export function failureOf(error: unknown): DocumentFailure {
  if (error instanceof LlmOpsError && error.expose) return { code: error.name, message: error.message };
  if (error instanceof VectorStoreWriteError) {
    const shown = error.failures
      .slice(0, 5)
      .map((f) => `${f.chunkId}: ${refusalKind(f.reason)}`)
      .join('; ');
    return {
      code: 'VECTOR_STORE_REJECTED',
      message: `${error.failures.length} chunk(s) of document ${error.docId} could not be indexed: ${shown}${error.failures.length > 5 ? '; …' : ''}`,
    };
  }
  const name = nameOf(error);
  const code: FailureCode =
    name === 'States.Timeout' ? 'TIMEOUT' : isRetryableErrorName(name) ? 'RETRIES_EXHAUSTED' : 'INTERNAL';
  return { code, message: FAILURE_CODES[code] };
}

/** A one-line reason for the status table and the event: `<code>: <safe message>`. */
export function reasonOf(error: unknown): string {
  const { code, message } = failureOf(error);
  return `${code}: ${message}`;
}

/** What an error was, for the logs (never for the table, the API or the event). */
function detailsOf(error: unknown): Record<string, unknown> {
  if (error instanceof Error) return { error };
  return { error: { thrown: typeof error, value: String(error) } };
}

export type ReportedDetail = Omit<input<typeof documentIndexedDetail>, 'schemaVersion' | 'vectorStore'>;

/** Announcements kept for one PutEvents request (see {@link DocumentReporter.buffer}). */
export interface ReportBuffer {
  add(detail: ReportedDetail): Promise<void>;
  flush(): Promise<void>;
}

/** Announces where a document ended (`llmops.DocumentIndexed`). */
export class DocumentReporter {
  constructor(
    private readonly events: EventBridgeClient,
    private readonly busName: string,
    private readonly vectorStore: input<typeof documentIndexedDetail>['vectorStore'],
  ) {}

  async report(detail: ReportedDetail): Promise<void> {
    await publishEvent(this.events, {
      busName: this.busName,
      source: LLMOPS_SOURCE,
      detailType: DOCUMENT_INDEXED,
      schema: documentIndexedDetail,
      detail: { schemaVersion: SCHEMA_VERSION, vectorStore: this.vectorStore, ...detail },
    });
  }

  /** Announces several documents' ends, in PutEvents requests of up to 10 events. */
  async reportMany(details: readonly ReportedDetail[]): Promise<void> {
    if (details.length === 0) return;
    await publishEvents(this.events, {
      busName: this.busName,
      source: LLMOPS_SOURCE,
      detailType: DOCUMENT_INDEXED,
      schema: documentIndexedDetail,
      details: details.map(
        (detail): input<typeof documentIndexedDetail> => ({
          schemaVersion: SCHEMA_VERSION,
          vectorStore: this.vectorStore,
          ...detail,
        }),
      ),
    });
  }

  /**
   * A buffer of announcements for a step's loop: `add` keeps a detail and sends the buffer once it holds
   * a full PutEvents request (10 events), `flush` sends the rest. A step flushes before it returns or
   * throws, so an announcement waits at most for 9 more documents or the end of the step.
   */
  buffer(): ReportBuffer {
    let pending: ReportedDetail[] = [];
    const flush = async () => {
      const sending = pending;
      pending = [];
      await this.reportMany(sending);
    };
    return {
      add: async (detail) => {
        pending.push(detail);
        if (pending.length >= PUT_EVENTS_MAX_ENTRIES) await flush();
      },
      flush,
    };
  }

  /**
   * Records a document version as failed (unless a newer version took over) and announces it, with a code
   * and a safe message; the error itself is logged.
   * @returns whether the failure was recorded (false: superseded)
   */
  async fail(
    table: Pick<DocumentTable, 'markFailed'>,
    doc: { docId: string; version: string; collection: string; title?: string; source?: string },
    error: unknown,
    runId: string,
    now: Date,
  ): Promise<boolean> {
    const failure = failureOf(error);
    const reason = `${failure.code}: ${failure.message}`;
    const recorded = await table.markFailed(doc.docId, doc.version, failure, now);
    const logged = {
      docId: doc.docId,
      version: doc.version,
      code: failure.code,
      reason,
      ...detailsOf(error),
    };
    if (!recorded) {
      logger.info('Document failed after a newer version took over (superseded)', logged);
      return false;
    }
    if (failure.code in FAILURE_CODES) logger.error('Document failed', logged);
    else logger.warn('Document failed', logged);
    await this.report({
      docId: doc.docId,
      version: doc.version,
      status: 'failed',
      chunks: 0,
      code: failure.code,
      reason,
      title: doc.title ?? null,
      source: doc.source ?? null,
      collection: doc.collection,
      runId,
    });
    return true;
  }
}
