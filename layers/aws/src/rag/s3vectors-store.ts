/**
 * Amazon S3 Vectors behind the `VectorStore` contract. One vector per chunk, keyed by the chunk id
 * (`${docId}#${index}`), with the metadata layout of `s3vectors-layout.ts`; the index is declared by the
 * stack with the cosine distance. Keys are deterministic, so writing a new version overwrites the chunks
 * it shares with the old one, and only the keys past its end are deleted. There is no keyword search:
 * `hybrid` queries are refused.
 *
 * Service limits used below, from "Limitations and restrictions" and "Metadata filtering" in the Amazon S3
 * User Guide (https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-vectors-limitations.html,
 * .../s3-vectors-metadata-filtering.html):
 * - PutVectors and DeleteVectors: up to 500 vectors per call; request payload up to 20 MiB.
 * - QueryVectors: top-K up to 100 results per request; with the `cosine` metric the returned `distance`
 *   is the cosine distance `1 - cos`.
 * - ListVectors: up to 1,000 vectors per page, then a `nextToken`; there is no key-prefix filter.
 * - Metadata per vector: up to 2 KB filterable (the service says "at most 2048 bytes") and 40 KB in all,
 *   at most 50 keys; values are strings, numbers, booleans or lists.
 * - Vector keys: up to 1,024 characters. Cosine indexes refuse all-zero and non-finite vectors.
 * - Filters: `{ key: { $eq: v } }`, `{ key: { $in: [...] } }` (a non-empty array), `{ $and: [...] }`.
 *
 * Every call goes through `withRetry` (the client makes one attempt per call): throttling
 * (`TooManyRequestsException`, 429), `ServiceUnavailableException` (503), other 5xx, request timeouts and
 * network errors are retried with exponential backoff and full jitter.
 *
 * IAM: PutVectors needs `s3vectors:PutVectors`; DeleteVectors `s3vectors:DeleteVectors`; ListVectors with
 * neither data nor metadata `s3vectors:ListVectors`; QueryVectors with a filter or `returnMetadata`
 * `s3vectors:QueryVectors` and `s3vectors:GetVectors`.
 */

import {
  DeleteVectorsCommand,
  ListVectorsCommand,
  type PutInputVector,
  PutVectorsCommand,
  type QueryOutputVector,
  QueryVectorsCommand,
  S3VectorsClient,
} from '@aws-sdk/client-s3vectors';
import { S3_VECTORS_KEYS } from '#core/rag/s3vectors-layout.ts';
import {
  type IndexedChunk,
  type KnownDocument,
  type MetadataFilters,
  type MetadataValue,
  type ReplaceResult,
  type RetrievedChunk,
  similarityFromCosineDistance,
  UnsupportedQueryError,
  type VectorQuery,
  type VectorStore,
  VectorStoreWriteError,
} from '#core/rag/store.ts';
import { ConfigError, ThrottledError, TransientError } from '../errors.ts';
import { classifyError, type RetryOptions, withRetry } from '../models/retry.ts';
import { withSdkCallHooks } from '../sdk-call-hooks.ts';

/** The S3 Vectors limits this adapter enforces or works within (see the module comment for sources). */
export const S3_VECTORS_LIMITS = {
  /** Vectors per PutVectors call. */
  putBatchSize: 500,
  /** Keys per DeleteVectors call. */
  deleteBatchSize: 500,
  /** Vectors per ListVectors page. */
  listPageSize: 1000,
  /** Results per QueryVectors request (`topK`). */
  maxTopK: 100,
  /** Request payload, in bytes. */
  maxRequestBytes: 20 * 1024 * 1024,
  /** Filterable metadata per vector, in bytes. */
  maxFilterableMetadataBytes: 2048,
  /** Filterable and non-filterable metadata per vector, in bytes. */
  maxTotalMetadataBytes: 40 * 1024,
  /** Metadata keys per vector. */
  maxMetadataKeys: 50,
  /** Characters in a vector key. */
  maxKeyLength: 1024,
} as const;

const LABEL = 'S3 Vectors';
/** Room left in a PutVectors request for everything but the vectors (bucket and index names, braces). */
const REQUEST_ENVELOPE_BYTES = 64 * 1024;

/** A JSON value, as S3 Vectors metadata and filters are typed by the SDK. */
type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface S3VectorsStoreOptions {
  readonly vectorBucketName: string;
  readonly indexName: string;
  /** @default one shared client from {@link createS3VectorsClient} */
  readonly client?: S3VectorsClient;
  /** Backoff, attempts and attempt timeout (tests inject an instant `sleep`); a query's signal comes with it. */
  readonly retry?: Omit<RetryOptions, 'signal' | 'label'>;
}

/**
 * An S3 Vectors client that makes one attempt per call: `withRetry` owns retries and backoff. The endpoint
 * comes from `AWS_ENDPOINT_URL_S3VECTORS` when set.
 */
export function createS3VectorsClient(): S3VectorsClient {
  return withSdkCallHooks(new S3VectorsClient({ maxAttempts: 1 }));
}

let sharedClient: S3VectorsClient | undefined;

/** The client stores share when none is given, created on first use. */
function defaultClient(): S3VectorsClient {
  sharedClient ??= createS3VectorsClient();
  return sharedClient;
}

/**
 * The S3 Vectors store.
 *
 * `replaceDocument` and `deleteDocument` take the caller's {@link KnownDocument}: its `chunkCount` must
 * be at least one more than the highest chunk index ever written for the document, an interrupted earlier
 * attempt included, since only the keys below it are deleted. Without it they list the whole index
 * (ListVectors, 1,000 keys a page, keys only): one call per 1,000 vectors in the index for every
 * document, so a fallback for repairs rather than the normal path.
 *
 * Errors: a chunk that breaks a limit fails the write before anything is sent; a PutVectors batch that
 * still fails after retries throws `VectorStoreWriteError` naming its keys (its `cause` is the final
 * `ThrottledError`, `TransientError` or service error). Other calls end in `ThrottledError` or
 * `TransientError` when retries run out, and rethrow non-retryable service errors (access denied, missing
 * index, validation) as they are.
 */
export function createS3VectorsStore(options: S3VectorsStoreOptions): VectorStore {
  const { vectorBucketName, indexName } = options;
  const client = options.client ?? defaultClient();
  const index = { vectorBucketName, indexName };

  const send = async <T>(
    operation: string,
    call: (abortSignal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> => {
    try {
      return await withRetry(call, { ...options.retry, signal, label: LABEL });
    } catch (error) {
      throw finalError(operation, error, signal);
    }
  };

  const deleteKeys = async (keys: readonly string[]): Promise<void> => {
    for (let start = 0; start < keys.length; start += S3_VECTORS_LIMITS.deleteBatchSize) {
      const batch = keys.slice(start, start + S3_VECTORS_LIMITS.deleteBatchSize);
      await send('DeleteVectors', (abortSignal) =>
        client.send(new DeleteVectorsCommand({ ...index, keys: batch }), { abortSignal }),
      );
    }
  };

  /** Keys of `docId` with a chunk index of `from` or more, found by listing the whole index. */
  const listKeys = async (docId: string, from: number): Promise<string[]> => {
    const found: { key: string; index: number }[] = [];
    let nextToken: string | undefined;
    do {
      const token = nextToken;
      const page = await send('ListVectors', (abortSignal) =>
        client.send(
          new ListVectorsCommand({
            ...index,
            maxResults: S3_VECTORS_LIMITS.listPageSize,
            returnData: false,
            returnMetadata: false,
            ...(token === undefined ? {} : { nextToken: token }),
          }),
          { abortSignal },
        ),
      );
      for (const vector of page.vectors ?? []) {
        const position = vector.key === undefined ? undefined : chunkIndexOf(vector.key, docId);
        if (vector.key !== undefined && position !== undefined && position >= from) {
          found.push({ key: vector.key, index: position });
        }
      }
      nextToken = page.nextToken || undefined;
    } while (nextToken !== undefined);
    return found.sort((a, b) => a.index - b.index).map((entry) => entry.key);
  };

  const keysFrom = async (
    docId: string,
    from: number,
    known: KnownDocument | undefined,
  ): Promise<string[]> => {
    if (known === undefined) return listKeys(docId, from);
    if (!Number.isSafeInteger(known.chunkCount) || known.chunkCount < 0) {
      throw new RangeError(`known.chunkCount must be a whole number of chunks, got ${known.chunkCount}`);
    }
    return keyRange(docId, from, known.chunkCount);
  };

  return {
    kind: 's3vectors',
    supportsHybrid: false,

    async replaceDocument(docId, docVersion, chunks, known): Promise<ReplaceResult> {
      const vectors = toPutVectors(docId, docVersion, chunks);
      for (const batch of putBatches(vectors)) {
        try {
          await send('PutVectors', (abortSignal) =>
            client.send(new PutVectorsCommand({ ...index, vectors: batch }), { abortSignal }),
          );
        } catch (error) {
          throw batchError(
            docId,
            batch.map((vector) => vector.key ?? ''),
            error,
          );
        }
      }
      const stale = await keysFrom(docId, chunks.length, known);
      await deleteKeys(stale);
      return { indexed: chunks.length, removed: stale.length };
    },

    async deleteDocument(docId, known): Promise<number> {
      const keys = await keysFrom(docId, 0, known);
      await deleteKeys(keys);
      return keys.length;
    },

    async search(query: VectorQuery): Promise<RetrievedChunk[]> {
      if (query.hybrid === true) {
        throw new UnsupportedQueryError(
          'rag.hybrid',
          'is not available with the S3 Vectors store (it has no keyword search); use the OpenSearch store or leave hybrid off',
        );
      }
      if (!Number.isInteger(query.k) || query.k < 1 || query.k > S3_VECTORS_LIMITS.maxTopK) {
        throw new UnsupportedQueryError(
          'rag.k',
          `must be an integer from 1 to ${S3_VECTORS_LIMITS.maxTopK} with the S3 Vectors store (QueryVectors returns at most ${S3_VECTORS_LIMITS.maxTopK} results)`,
        );
      }
      const filter = toFilter(query.filters);
      // An empty list of accepted values matches nothing (and `$in` refuses an empty array).
      if (filter === null) return [];
      const output = await send(
        'QueryVectors',
        (abortSignal) =>
          client.send(
            new QueryVectorsCommand({
              ...index,
              topK: query.k,
              queryVector: { float32: [...query.vector] },
              ...(filter === undefined ? {} : { filter }),
              returnDistance: true,
              returnMetadata: true,
            }),
            { abortSignal },
          ),
        query.signal,
      );
      if (output.distanceMetric !== undefined && output.distanceMetric !== 'cosine') {
        throw new ConfigError(
          `The S3 Vectors index ${indexName} uses the ${output.distanceMetric} distance; the RAG store needs an index created with the cosine distance`,
        );
      }
      const minScore = query.minScore ?? 0;
      return (output.vectors ?? [])
        .map(toRetrievedChunk)
        .filter((chunk): chunk is RetrievedChunk => chunk !== undefined && chunk.similarity >= minScore)
        .sort((a, b) => b.score - a.score || compare(a.chunkId, b.chunkId))
        .slice(0, query.k);
    },
  };
}

/** The error a call becomes once `withRetry` gives up. */
function finalError(operation: string, error: unknown, signal: AbortSignal | undefined): unknown {
  // Still throttled (with the service's Retry-After or the next backoff), or the caller's own abort or
  // timeout (a ModelProviderError that says so): passed on as they are.
  if (error instanceof ThrottledError || signal?.aborted === true) return error;
  // Other final failures come back wrapped; what to do depends on the service error inside.
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
  const timedOut =
    typeof error === 'object' && error !== null && 'timedOut' in error && error.timedOut === true;
  if (timedOut || classifyError(cause) === 'transient') {
    return new TransientError(`${LABEL} ${operation} still failed after retries (${errorName(cause)})`, {
      cause,
    });
  }
  return cause;
}

function batchError(docId: string, keys: readonly string[], error: unknown): VectorStoreWriteError {
  const reason =
    error instanceof ThrottledError
      ? 'S3 Vectors was still throttling PutVectors after retries'
      : error instanceof TransientError
        ? `S3 Vectors PutVectors still failed after retries (${errorName(error.cause)})`
        : `PutVectors was refused: ${errorName(error)}: ${errorMessage(error)}`;
  const failure = new VectorStoreWriteError(
    docId,
    keys.map((chunkId) => ({ chunkId, reason })),
  );
  // The contract's constructor takes no options; the final error is kept as `cause`, as Error would.
  Object.defineProperty(failure, 'cause', { value: error, writable: true, configurable: true });
  return failure;
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'unknown error';
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function utf8Bytes(value: Json): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/**
 * Checks every chunk against the key layout and the service limits, then builds the PutVectors entries.
 * Nothing is sent when a chunk fails: the error names each failing chunk and the limit it breaks.
 *
 * Metadata sizes are measured as the UTF-8 length of their compact JSON, which counts a few bytes per
 * entry more than the keys and values themselves: a chunk accepted here is within the service's limits.
 */
function toPutVectors(docId: string, docVersion: string, chunks: readonly IndexedChunk[]): PutInputVector[] {
  const failures: { chunkId: string; reason: string }[] = [];
  const seen = new Set<number>();
  const vectors = chunks.map((chunk, position): PutInputVector => {
    const chunkId = chunk.chunkId || `chunk at position ${position}`;
    const problems: string[] = [];
    if (chunk.docId !== docId) problems.push(`it belongs to document ${chunk.docId}`);
    if (chunk.docVersion !== docVersion)
      problems.push(`it is of version ${chunk.docVersion}, not ${docVersion}`);
    if (chunk.chunkId !== `${docId}#${chunk.index}`) {
      problems.push(`its id must be ${docId}#${chunk.index} (the vector key)`);
    }
    if (!Number.isInteger(chunk.index) || chunk.index < 0 || chunk.index >= chunks.length) {
      problems.push(`its index ${chunk.index} is outside 0 to ${chunks.length - 1}`);
    } else if (seen.has(chunk.index)) {
      problems.push(`index ${chunk.index} appears twice`);
    }
    seen.add(chunk.index);
    const keyLength = [...chunk.chunkId].length;
    if (keyLength > S3_VECTORS_LIMITS.maxKeyLength) {
      problems.push(
        `its key has ${keyLength} characters, over the S3 Vectors limit of ${S3_VECTORS_LIMITS.maxKeyLength}`,
      );
    }
    if (chunk.vector.length === 0 || !chunk.vector.every(Number.isFinite)) {
      problems.push('its embedding is empty or holds a non-finite value');
    } else if (chunk.vector.every((x) => x === 0)) {
      problems.push('its embedding is all zeros, which a cosine index refuses');
    }

    const filterable: Record<string, Json> = {
      [S3_VECTORS_KEYS.docId]: docId,
      [S3_VECTORS_KEYS.docVersion]: docVersion,
      [S3_VECTORS_KEYS.index]: chunk.index,
    };
    if (chunk.source !== undefined) filterable[S3_VECTORS_KEYS.source] = chunk.source;
    for (const [key, value] of Object.entries(chunk.metadata)) {
      if (typeof value === 'number' && !Number.isFinite(value)) {
        problems.push(`metadata ${key} is not a finite number`);
      }
      filterable[`${S3_VECTORS_KEYS.metadataPrefix}${key}`] = value;
    }
    const metadata: Record<string, Json> = { ...filterable, [S3_VECTORS_KEYS.text]: chunk.text };
    if (chunk.title !== undefined) metadata[S3_VECTORS_KEYS.title] = chunk.title;
    if (chunk.headings.length > 0) metadata[S3_VECTORS_KEYS.headings] = [...chunk.headings];

    const keyCount = Object.keys(metadata).length;
    if (keyCount > S3_VECTORS_LIMITS.maxMetadataKeys) {
      problems.push(
        `it has ${keyCount} metadata keys, over the S3 Vectors limit of ${S3_VECTORS_LIMITS.maxMetadataKeys} per vector`,
      );
    }
    const filterableBytes = utf8Bytes(filterable);
    if (filterableBytes > S3_VECTORS_LIMITS.maxFilterableMetadataBytes) {
      problems.push(
        `its filterable metadata (document id, version, source, index and metadata entries) takes ${filterableBytes} bytes, over the S3 Vectors limit of ${S3_VECTORS_LIMITS.maxFilterableMetadataBytes} bytes per vector`,
      );
    }
    const totalBytes = utf8Bytes(metadata);
    if (totalBytes > S3_VECTORS_LIMITS.maxTotalMetadataBytes) {
      problems.push(
        `its metadata (text, title and headings included) takes ${totalBytes} bytes, over the S3 Vectors limit of ${S3_VECTORS_LIMITS.maxTotalMetadataBytes} bytes per vector`,
      );
    }
    if (problems.length > 0) failures.push({ chunkId, reason: problems.join(', ') });
    return { key: chunk.chunkId, data: { float32: [...chunk.vector] }, metadata };
  });
  if (failures.length > 0) throw new VectorStoreWriteError(docId, failures);
  return vectors;
}

/** PutVectors batches: at most 500 vectors, and within the 20 MiB request payload. */
function putBatches(vectors: readonly PutInputVector[]): PutInputVector[][] {
  const budget = S3_VECTORS_LIMITS.maxRequestBytes - REQUEST_ENVELOPE_BYTES;
  const batches: PutInputVector[][] = [];
  let batch: PutInputVector[] = [];
  let bytes = 0;
  for (const vector of vectors) {
    // The SDK sends the request as JSON; the entry plus its comma.
    const size = Buffer.byteLength(JSON.stringify(vector), 'utf8') + 1;
    if (batch.length > 0 && (batch.length >= S3_VECTORS_LIMITS.putBatchSize || bytes + size > budget)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(vector);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** `${docId}#${from}` up to `${docId}#${to - 1}`. */
function keyRange(docId: string, from: number, to: number): string[] {
  const keys: string[] = [];
  for (let index = from; index < to; index++) keys.push(`${docId}#${index}`);
  return keys;
}

/** The chunk index of a key of `docId` (`${docId}#<index>`), or undefined for another document's key. */
function chunkIndexOf(key: string, docId: string): number | undefined {
  const prefix = `${docId}#`;
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  // `a#1#0` (document `a#1`) is not a chunk of document `a`.
  return /^(0|[1-9]\d*)$/.test(rest) ? Number(rest) : undefined;
}

function filterField(key: string): string {
  if (key === 'docId') return S3_VECTORS_KEYS.docId;
  if (key === 'source') return S3_VECTORS_KEYS.source;
  return `${S3_VECTORS_KEYS.metadataPrefix}${key}`;
}

function isList(value: MetadataValue | readonly MetadataValue[]): value is readonly MetadataValue[] {
  return Array.isArray(value);
}

/**
 * Metadata filters as an S3 Vectors filter: one value is `$eq`, a list `$in`, several keys `$and`.
 * Undefined when there is nothing to filter on; null when a key accepts no value at all (nothing matches).
 */
function toFilter(filters: MetadataFilters | undefined): Json | undefined | null {
  const clauses: Json[] = [];
  for (const [key, wanted] of Object.entries(filters ?? {})) {
    const field = filterField(key);
    if (isList(wanted)) {
      if (wanted.length === 0) return null;
      clauses.push({ [field]: { $in: [...wanted] } });
    } else {
      clauses.push({ [field]: { $eq: wanted } });
    }
  }
  if (clauses.length === 0) return undefined;
  return clauses.length === 1 ? clauses[0] : { $and: clauses };
}

function asRecord(value: unknown): Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function isMetadataValue(value: unknown): value is MetadataValue {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** A query hit as a chunk, rebuilt from its key and metadata; undefined for a hit without a key. */
function toRetrievedChunk(vector: QueryOutputVector): RetrievedChunk | undefined {
  const key = vector.key;
  if (key === undefined) return undefined;
  const stored = asRecord(vector.metadata);
  const text = (name: string): string | undefined => {
    const value = stored[name];
    return typeof value === 'string' ? value : undefined;
  };
  const separator = key.lastIndexOf('#');
  const storedIndex = stored[S3_VECTORS_KEYS.index];
  const metadata: Record<string, MetadataValue> = {};
  for (const [name, value] of Object.entries(stored)) {
    if (name.startsWith(S3_VECTORS_KEYS.metadataPrefix) && isMetadataValue(value)) {
      metadata[name.slice(S3_VECTORS_KEYS.metadataPrefix.length)] = value;
    }
  }
  const headings = stored[S3_VECTORS_KEYS.headings];
  const title = text(S3_VECTORS_KEYS.title);
  const source = text(S3_VECTORS_KEYS.source);
  // Requested with every query; a hit without it cannot be ranked and scores 0.
  const similarity = vector.distance === undefined ? 0 : similarityFromCosineDistance(vector.distance);
  return {
    chunkId: key,
    docId: text(S3_VECTORS_KEYS.docId) ?? (separator > 0 ? key.slice(0, separator) : key),
    docVersion: text(S3_VECTORS_KEYS.docVersion) ?? '',
    index: typeof storedIndex === 'number' ? storedIndex : Number(key.slice(separator + 1)) || 0,
    text: text(S3_VECTORS_KEYS.text) ?? '',
    ...(title === undefined ? {} : { title }),
    ...(source === undefined ? {} : { source }),
    headings: Array.isArray(headings) ? headings.filter((h): h is string => typeof h === 'string') : [],
    metadata,
    score: similarity,
    similarity,
  };
}
