import * as z from 'zod';
import { eventBridgeEvent, SCHEMA_VERSION } from './envelope.ts';

export const DOCUMENT_INDEXED = 'llmops.DocumentIndexed';

/** Where a RAG document ended: searchable, failed (with the reason), or removed with its source. */
export const documentOutcome = z.enum(['indexed', 'failed', 'deleted']);

/**
 * `llmops.DocumentIndexed`: a RAG document reached a final state in the RagIngest pipeline. One event per
 * document and version; consumers key on (`docId`, `version`). Progress views and the drift baseline
 * read it.
 */
export const documentIndexedDetail = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  docId: z.string().min(1),
  /** Content hash of the document version (`sha256:…`); absent for a deletion. */
  version: z.string().nullable(),
  status: documentOutcome,
  chunks: z.number().int().nonnegative(),
  /**
   * Why the document failed, as a code: the name of a project error whose message may be shown
   * (`DocumentParseError`, `InvalidUtf8Error`, ...), or `INTERNAL`, `TIMEOUT`, `RETRIES_EXHAUSTED`,
   * `VECTOR_STORE_REJECTED`; null otherwise. Added in 1.0 without a version change: events published
   * before it parse with `null`.
   */
  code: z.string().min(1).nullable().default(null),
  /**
   * Why the document failed, `<code>: <message>`, safe to show to any caller (never the text of an AWS
   * or internal error: that goes to the logs); null otherwise.
   */
  reason: z.string().nullable(),
  title: z.string().nullable(),
  source: z.string().nullable(),
  collection: z.string(),
  runId: z.string(),
  vectorStore: z.enum(['opensearch', 's3vectors', 'embedded']),
});
export type DocumentIndexedDetail = z.infer<typeof documentIndexedDetail>;

export const documentIndexedEvent = eventBridgeEvent(DOCUMENT_INDEXED, documentIndexedDetail);
