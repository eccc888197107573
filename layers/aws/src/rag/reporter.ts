import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import {
  DOCUMENT_INDEXED,
  type DocumentIndexedDetail,
  documentIndexedDetail,
} from '#events/document-indexed.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import { publishEvent } from '../events-publisher.ts';
import { logger } from '../logging.ts';
import type { DocumentTable } from './documents.ts';

/** A one-line reason for the status table and the event: the error's name and message. */
export function reasonOf(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
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
