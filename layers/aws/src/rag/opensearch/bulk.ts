import { CHUNK_FIELDS, exactMatchProblem, metadataKeyword } from '#core/rag/opensearch-mapping.ts';
import { type IndexedChunk, VectorStoreWriteError } from '#core/rag/store.ts';
import { LABEL, OpenSearchRequestError } from './errors.ts';
import { describeErrorBody, field, type Target } from './requests.ts';
import type { StoredChunkRef } from './search.ts';

/** Bulk writes: chunk documents as bulk index/delete items, cut into batches under the size limits, and the per-item results. */

export interface BulkItem {
  readonly chunkId: string;
  /** The action line and, for `index`, the document line, each ending in a newline. */
  readonly ndjson: string;
  readonly bytes: number;
  /** Prefix of a failure reason (which copy failed, for deletes). */
  readonly describe: string;
}

export interface BulkItemResult {
  readonly status: number;
  readonly reason: string;
}

export interface BulkOutcome {
  /** Items written, or deleted (404 included). */
  readonly done: number;
  readonly failures: { chunkId: string; reason: string }[];
}

/** The document of one chunk, with the field names of `CHUNK_FIELDS` (the metadata as JSON text). */
export function chunkDocument(chunk: IndexedChunk): Record<string, unknown> {
  return {
    [CHUNK_FIELDS.chunkId]: chunk.chunkId,
    [CHUNK_FIELDS.docId]: chunk.docId,
    [CHUNK_FIELDS.docVersion]: chunk.docVersion,
    [CHUNK_FIELDS.index]: chunk.index,
    [CHUNK_FIELDS.text]: chunk.text,
    ...(chunk.title === undefined ? {} : { [CHUNK_FIELDS.title]: chunk.title }),
    ...(chunk.source === undefined ? {} : { [CHUNK_FIELDS.source]: chunk.source }),
    [CHUNK_FIELDS.headings]: [...chunk.headings],
    [CHUNK_FIELDS.metadataJson]: JSON.stringify(chunk.metadata),
    [CHUNK_FIELDS.metadataKeywords]: Object.entries(chunk.metadata).map(([key, value]) =>
      metadataKeyword(key, value),
    ),
    [CHUNK_FIELDS.vector]: [...chunk.vector],
  };
}

export function ndjsonItem(chunkId: string, lines: readonly unknown[], describe: string): BulkItem {
  const ndjson = lines.map((line) => `${JSON.stringify(line)}\n`).join('');
  return { chunkId, ndjson, bytes: Buffer.byteLength(ndjson, 'utf8'), describe };
}

/**
 * `index` actions without `_id` (the collection assigns ids). Chunks that do not belong to this version of
 * this document, or whose exact-match values OpenSearch could not match later, are refused before anything
 * is sent.
 */
export function indexItems(docId: string, docVersion: string, chunks: readonly IndexedChunk[]): BulkItem[] {
  const failures: { chunkId: string; reason: string }[] = [];
  const items = chunks.map((chunk, position) => {
    const chunkId = chunk.chunkId || `chunk at position ${position}`;
    const problems: string[] = [];
    if (chunk.docId !== docId) problems.push(`it belongs to document ${chunk.docId}`);
    if (chunk.docVersion !== docVersion)
      problems.push(`it is of version ${chunk.docVersion}, not ${docVersion}`);
    if (chunk.vector.length === 0 || !chunk.vector.every(Number.isFinite)) {
      problems.push('its embedding is empty or holds a non-finite value');
    }
    problems.push(...exactMatchProblems(chunk));
    if (problems.length > 0) failures.push({ chunkId, reason: problems.join(', ') });
    return ndjsonItem(chunkId, [{ index: {} }, chunkDocument(chunk)], '');
  });
  if (failures.length > 0) throw new VectorStoreWriteError(docId, failures);
  return items;
}

/** What in a chunk could not be matched exactly once stored (see `exactMatchProblem`). */
export function exactMatchProblems(chunk: IndexedChunk): string[] {
  const values: [what: string, value: string | undefined][] = [
    ['document id', chunk.docId],
    ['document version', chunk.docVersion],
    ['source', chunk.source],
    ...Object.entries(chunk.metadata).map(([key, value]): [string, string] => [
      `metadata ${JSON.stringify(key)}`,
      metadataKeyword(key, value),
    ]),
  ];
  return values.flatMap(([what, value]) => {
    const problem = value === undefined ? undefined : exactMatchProblem(value);
    return problem === undefined ? [] : [`its ${what} cannot be stored for exact matching: ${problem}`];
  });
}

export function deleteItem(ref: StoredChunkRef): BulkItem {
  return ndjsonItem(
    ref.chunkId,
    [{ delete: { _id: ref.id } }],
    `the copy of version ${ref.docVersion} (_id ${ref.id}) could not be removed: `,
  );
}

/** Batches of at most `maxDocs` items and `maxBytes` bytes (an item larger than that goes alone). */
export function bulkBatches(items: readonly BulkItem[], maxBytes: number, maxDocs: number): BulkItem[][] {
  const batches: BulkItem[][] = [];
  let batch: BulkItem[] = [];
  let bytes = 0;
  for (const item of items) {
    if (batch.length > 0 && (batch.length >= maxDocs || bytes + item.bytes > maxBytes)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(item);
    bytes += item.bytes;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** The status and failure reason of each item of a bulk answer, in request order. */
export function bulkItemResults(body: unknown, expected: number, { index }: Target): BulkItemResult[] {
  const items = field(body, 'items');
  if (!Array.isArray(items) || items.length !== expected) {
    throw new OpenSearchRequestError(
      `${LABEL} answered a bulk request on index ${index} with ${Array.isArray(items) ? items.length : 'no'} item results for ${expected} actions`,
    );
  }
  return items.map((entry: unknown): BulkItemResult => {
    // Each entry is `{ <action>: { status, error? } }`.
    const result = typeof entry === 'object' && entry !== null ? Object.values(entry)[0] : undefined;
    const status = field(result, 'status');
    if (typeof status !== 'number') {
      throw new OpenSearchRequestError(
        `${LABEL} answered a bulk request on index ${index} with an item without status`,
      );
    }
    return { status, reason: `${status} ${describeErrorBody(result).reason}` };
  });
}
