/**
 * Amazon OpenSearch Serverless (a VECTORSEARCH collection) behind the `VectorStore` contract, with the
 * index layout of `opensearch-mapping.ts`: kNN on `embedding` (faiss HNSW, inner product), BM25 on the
 * text fields for hybrid queries, and the dynamically mapped `.keyword` sub-fields (`CHUNK_KEYWORD_FIELDS`)
 * for filters, the id lookup and its sort. Values those sub-fields could not match (over 256 characters,
 * or read as a date) are refused before anything is written (`exactMatchProblem`).
 *
 * What the service allows shapes the writes ("Supported operations and plugins in Amazon OpenSearch
 * Serverless", https://docs.aws.amazon.com/opensearch-service/latest/developerguide/serverless-genref.html):
 * - vector collections assign document ids themselves: `index`/`create` with an `_id` are refused, so a
 *   chunk cannot be overwritten in place and a new version is written as new documents;
 * - there is no `_delete_by_query` and no `refresh=true`: the ids of a document's chunks are found with a
 *   `_search` on `doc_id` (paged with `search_after`; scroll and point-in-time are not used), then deleted
 *   with bulk `delete` actions;
 * - writes become visible to searches after the collection's refresh interval, not at once.
 *
 * `replaceDocument` therefore (1) finds the ids of every chunk the document has now, (2) writes the new
 * chunks, (3) deletes the ids found in (1). New chunks are in place before old ones go, and a repeat after
 * an interrupted attempt deletes that attempt's copies as well (once the lookup can see them). A chunk may
 * briefly exist twice (old and new version, or a bulk request retried after a lost answer), so `search`
 * keeps one hit per chunk id.
 *
 * Bulk requests are cut at {@link OPENSEARCH_LIMITS}: OpenSearch Service caps an HTTP request at 10 MiB on
 * its smallest instance types ("Network limits", https://docs.aws.amazon.com/opensearch-service/latest/developerguide/limits.html#network-limits),
 * and AWS's own tooling for Serverless sends bulk requests of at most 10 MiB
 * (https://docs.aws.amazon.com/solutions/latest/migration-assistant-for-amazon-opensearch-service/mts-limits.html);
 * half of that is the default here.
 *
 * Retries: the client makes one attempt per request. Throttling (429), 5xx answers and network errors are
 * retried here with exponential backoff and full jitter (honouring `Retry-After`), and so are bulk items
 * that fail with 429 or 5xx (only those items). Final failures become named errors: `TransientError` for
 * writes (the state machines retry that name) and `ThrottledError` or `TransientError` for searches (the API
 * answers 429 or 500); `OpenSearchAccessDeniedError` (403), `OpenSearchIndexNotFoundError` and
 * `OpenSearchRequestError` (other refusals) are not retried.
 *
 * Data access policy: the function's role needs `aoss:ReadDocument` (searches and id lookups) and, to
 * write, `aoss:WriteDocument` on `index/<collection>/<index>`, plus `aoss:APIAccessAll` in its IAM policy.
 */
import { EventEmitter } from 'node:events';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { Transport } from '@opensearch-project/opensearch';
import { AwsSigv4Signer } from '@opensearch-project/opensearch/aws-v3';
import { ConnectionPool } from '@opensearch-project/opensearch/lib/pool/index.js';
import Serializer from '@opensearch-project/opensearch/lib/Serializer.js';
import {
  CHUNK_FIELDS,
  CHUNK_KEYWORD_FIELDS,
  exactMatchProblem,
  metadataKeyword,
  similarityFromInnerProductScore,
} from '#core/rag/opensearch-mapping.ts';
import {
  fuseHybrid,
  type IndexedChunk,
  type MetadataFilters,
  type MetadataValue,
  type ReplaceResult,
  type RetrievedChunk,
  type ScoredId,
  UnsupportedQueryError,
  type VectorQuery,
  type VectorStore,
  VectorStoreWriteError,
} from '#core/rag/store.ts';
import { makeBackoff } from '../backoff.ts';
import { ConfigError, LlmOpsError, ThrottledError, TransientError } from '../errors.ts';
import type { RetryOptions } from '../models/retry.ts';

/** The limits this adapter works within (see the module comment for sources). */
export const OPENSEARCH_LIMITS = {
  /** Default bytes of NDJSON per bulk request: half the 10 MiB request cap. */
  bulkBytes: 5 * 1024 * 1024,
  /** Default actions per bulk request. */
  bulkDocs: 500,
  /** Default ids per page of the id lookup. */
  lookupPageSize: 1000,
  /** Largest `k` of a kNN query (the k-NN plugin refuses more). */
  maxK: 10_000,
} as const;

const LABEL = 'OpenSearch';

/** Failure of an OpenSearch request that retrying would not fix (a refusal, a malformed answer). */
export class OpenSearchRequestError extends LlmOpsError {
  /** The HTTP status OpenSearch answered with, when it answered. */
  readonly statusCode: number | undefined;
  /** OpenSearch's error type (`mapper_parsing_exception`, ...), when it gave one. */
  readonly errorType: string | undefined;
  constructor(
    message: string,
    options: { cause?: unknown; statusCode?: number | undefined; errorType?: string | undefined } = {},
  ) {
    super(message, { cause: options.cause });
    this.statusCode = options.statusCode;
    this.errorType = options.errorType;
  }
}

/** OpenSearch answered 403: the collection's data access policy (or the role's IAM policy) lacks a grant. */
export class OpenSearchAccessDeniedError extends OpenSearchRequestError {}

/** The index does not exist in the collection (404 `index_not_found_exception`). */
export class OpenSearchIndexNotFoundError extends OpenSearchRequestError {}

/** Backoff and attempts for requests and failed bulk items; tests inject an instant `sleep`. */
export type OpenSearchRetryOptions = Pick<
  RetryOptions,
  'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'sleep' | 'random'
>;

/** Where the store's index lives and how it writes; `client` and `retry` are swapped in tests. */
export interface OpenSearchStoreOptions {
  /** The collection endpoint, `https://<id>.<region>.aoss.amazonaws.com` (`https://` is added when missing). */
  readonly endpoint: string;
  /** The index of RAG chunks (created by the stack from `chunkIndexBody`). */
  readonly index: string;
  /** The collection's Region, for SigV4. */
  readonly region: string;
  /** @default a client signed with SigV4 for `aoss` ({@link createOpenSearchClient}) */
  readonly client?: OpenSearchTransportClient;
  /** Bytes of NDJSON per bulk request. @default OPENSEARCH_LIMITS.bulkBytes (5 MiB) */
  readonly maxBulkBytes?: number;
  /** Actions per bulk request. @default OPENSEARCH_LIMITS.bulkDocs (500) */
  readonly maxBulkDocs?: number;
  /** Ids per page when looking up a document's chunks. @default OPENSEARCH_LIMITS.lookupPageSize (1000) */
  readonly lookupPageSize?: number;
  /** Time one request may take, in milliseconds. @default 30000 */
  readonly requestTimeoutMs?: number;
  /** @default 4 attempts, backoff from 200 ms doubling up to 5 s, full jitter */
  readonly retry?: OpenSearchRetryOptions;
}

/**
 * What the store uses of an OpenSearch client: its transport's `request`. A full `Client` of
 * `@opensearch-project/opensearch` satisfies it (tests inject one over a fake `Connection`).
 */
export interface OpenSearchTransportClient {
  readonly transport: Pick<Transport, 'request'>;
}

/**
 * An OpenSearch client for a Serverless collection: requests signed with SigV4 for the `aoss` service,
 * credentials from the default chain (in Lambda bundles, the environment: see `lambda-credentials.ts`),
 * one attempt per request (the store owns retries).
 *
 * Only the transport is built, from the library's own modules, wired as `Client`'s constructor
 * (`lib/Client.js`, 3.9.0) wires it with the client's defaults: importing `Client` would bundle its
 * generated API surface (about 220 KiB minified) that the store never calls. Options the library reads
 * as "unset" when null, false or absent (ssl, agent, proxy, auth, compression, sniffInterval, nodeFilter,
 * generateRequestId, context) are left out, as its types require.
 */
export function createOpenSearchClient(options: {
  readonly endpoint: string;
  readonly region: string;
  readonly requestTimeoutMs?: number;
}): OpenSearchTransportClient {
  const signer = AwsSigv4Signer({
    region: options.region,
    service: 'aoss',
    getCredentials: defaultProvider(),
  });
  const events = new EventEmitter();
  const emit = events.emit.bind(events);
  const connectionPool = new ConnectionPool({
    Connection: signer.Connection,
    emit,
    pingTimeout: 3000,
    resurrectStrategy: 'ping',
    sniffEnabled: false,
  });
  connectionPool.addConnection(normalizeEndpoint(options.endpoint));
  const transport = new signer.Transport({
    emit,
    connectionPool,
    serializer: new Serializer({
      disablePrototypePoisoningProtection: false,
      enableLongNumeralSupport: false,
    }),
    maxRetries: 0,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    sniffOnStart: false,
    sniffOnConnectionFault: false,
    sniffEndpoint: '_nodes/_all/http',
    suggestCompression: false,
    // `Client` asks for the compatibility media type when this variable is set (the transport reads it too).
    headers:
      process.env.OPENSEARCH_CLIENT_APIVERSIONING === 'true'
        ? { accept: 'application/vnd.opensearch+json; compatible-with=7' }
        : {},
    nodeSelector: 'round-robin',
    name: 'opensearch-js',
    // `Client` passes null, which prefixes nothing; '' does the same where a request gives an `opaqueId`.
    opaqueIdPrefix: '',
  });
  return { transport };
}

/**
 * The OpenSearch Serverless store (`kind: 'opensearch'`, hybrid search supported).
 *
 * `replaceDocument` and `deleteDocument` ignore the caller's `KnownDocument`: chunk ids are assigned by the
 * service, so they are always looked up. Writes that still fail after retries throw
 * `VectorStoreWriteError` naming each chunk and OpenSearch's reason; when the new chunks cannot all be
 * written, the old ones are left in place.
 *
 * @throws ConfigError when an option is malformed
 */
export function createOpenSearchStore(options: OpenSearchStoreOptions): VectorStore {
  const endpoint = normalizeEndpoint(options.endpoint);
  const { index, region } = options;
  if (index.trim() === '') throw new ConfigError('The OpenSearch index name must not be empty');
  if (region.trim() === '') throw new ConfigError('The OpenSearch Region must not be empty');
  const maxBulkBytes = positiveInteger('maxBulkBytes', options.maxBulkBytes ?? OPENSEARCH_LIMITS.bulkBytes);
  const maxBulkDocs = positiveInteger('maxBulkDocs', options.maxBulkDocs ?? OPENSEARCH_LIMITS.bulkDocs);
  const pageSize = positiveInteger(
    'lookupPageSize',
    options.lookupPageSize ?? OPENSEARCH_LIMITS.lookupPageSize,
  );
  const requestTimeout = positiveInteger('requestTimeoutMs', options.requestTimeoutMs ?? 30_000);
  const client =
    options.client ?? createOpenSearchClient({ endpoint, region, requestTimeoutMs: requestTimeout });
  const backoff = makeBackoff(options.retry);
  const indexPath = `/${encodeURIComponent(index)}`;
  const target = { index, endpoint };

  /** One request, retried on throttling, 5xx and network errors; final failures become named errors. */
  const send = async (request: OpenSearchRequest, signal?: AbortSignal): Promise<unknown> => {
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      let failure: unknown;
      try {
        return await perform(client, request, requestTimeout, signal);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        failure = error;
      }
      const kind = classify(failure);
      const hintedMs = kind === 'throttled' ? retryAfterMs(failure) : undefined;
      // A service that asks for a longer pause than we would ever wait is answered by the caller instead.
      const giveUp = hintedMs !== undefined && hintedMs > backoff.maxDelayMs;
      if (kind === 'fatal' || attempt >= backoff.maxAttempts || giveUp) {
        throw finalError(failure, request, target, attempt, backoff.ceiling(attempt));
      }
      await backoff.sleep(attempt, hintedMs, signal);
    }
  };

  /** Sends bulk actions in batches; retries the items that fail with 429 or 5xx, at most `maxAttempts` rounds. */
  const bulk = async (action: 'index' | 'delete', items: readonly BulkItem[]): Promise<BulkOutcome> => {
    const failures: { chunkId: string; reason: string }[] = [];
    let done = 0;
    let pending = items;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const retry: BulkItem[] = [];
      for (const batch of bulkBatches(pending, maxBulkBytes, maxBulkDocs)) {
        const body = await send({
          method: 'POST',
          path: `${indexPath}/_bulk`,
          bulkBody: batch.map((item) => item.ndjson).join(''),
          action: `bulk ${action}`,
          permission: 'aoss:WriteDocument',
        });
        const results = bulkItemResults(body, batch.length, target);
        batch.forEach((item, position) => {
          const result = results[position] as BulkItemResult;
          // A delete answered 404 found the document already gone: the aim is reached.
          if (
            (result.status >= 200 && result.status < 300) ||
            (action === 'delete' && result.status === 404)
          ) {
            done++;
          } else if (isRetryableStatus(result.status) && attempt < backoff.maxAttempts) {
            retry.push(item);
          } else {
            const after = isRetryableStatus(result.status)
              ? ` (still failing after ${attempt} attempts)`
              : '';
            failures.push({ chunkId: item.chunkId, reason: `${item.describe}${result.reason}${after}` });
          }
        });
      }
      pending = retry;
      if (pending.length > 0) await backoff.sleep(attempt, undefined, undefined);
    }
    return { done, failures };
  };

  /** The id of every chunk of `docId` the index holds now, with its chunk id and version. */
  const findChunks = async (docId: string): Promise<StoredChunkRef[]> => {
    const found = new Map<string, StoredChunkRef>();
    let searchAfter: readonly unknown[] | undefined;
    for (;;) {
      const body = await send({
        method: 'POST',
        path: `${indexPath}/_search`,
        body: {
          size: pageSize,
          _source: false,
          query: { bool: { filter: [{ term: { [CHUNK_KEYWORD_FIELDS.docId]: docId } }] } },
          // Dynamic fields exist only once a document holds them: `unmapped_type` keeps the lookup on an
          // empty index from failing.
          sort: [
            { [CHUNK_KEYWORD_FIELDS.docVersion]: { order: 'asc', unmapped_type: 'keyword' } },
            { [CHUNK_FIELDS.index]: { order: 'asc', unmapped_type: 'long' } },
          ],
          ...(searchAfter === undefined ? {} : { search_after: searchAfter }),
        },
        action: `lookup of the chunks of document ${docId}`,
        permission: 'aoss:ReadDocument',
      });
      const hits = lookupHits(body, docId, target);
      for (const hit of hits) found.set(hit.id, hit);
      if (hits.length < pageSize) break;
      // Sort keys are not unique (an interrupted attempt may have left two copies of a chunk), so the next
      // page starts after the last key that differs from the page's final one: hits tied with the final
      // hit are fetched again (and deduplicated) rather than skipped.
      const last = hits[hits.length - 1] as StoredChunkRef;
      const boundary = hits.findLastIndex((hit) => hit.sortKey !== last.sortKey);
      if (boundary < 0) {
        throw new OpenSearchRequestError(
          `Document ${docId} has more than ${pageSize} copies of chunk ${last.chunkId} in index ${index}; raise lookupPageSize to remove them`,
        );
      }
      searchAfter = (hits[boundary] as StoredChunkRef).sort;
    }
    return [...found.values()];
  };

  const deleteChunks = async (docId: string, stale: readonly StoredChunkRef[]): Promise<number> => {
    if (stale.length === 0) return 0;
    const outcome = await bulk('delete', stale.map(deleteItem));
    if (outcome.failures.length > 0) throw new VectorStoreWriteError(docId, outcome.failures);
    return outcome.done;
  };

  const runSearch = async (body: Record<string, unknown>, what: string, signal?: AbortSignal) =>
    searchHits(
      await send(
        {
          method: 'POST',
          path: `${indexPath}/_search`,
          body,
          action: what,
          permission: 'aoss:ReadDocument',
          read: true,
        },
        signal,
      ),
      target,
    );

  return {
    kind: 'opensearch',
    supportsHybrid: true,

    async replaceDocument(docId, docVersion, chunks): Promise<ReplaceResult> {
      const items = indexItems(docId, docVersion, chunks);
      const stale = await findChunks(docId);
      const written = await bulk('index', items);
      if (written.failures.length > 0) throw new VectorStoreWriteError(docId, written.failures);
      const removed = await deleteChunks(docId, stale);
      return { indexed: chunks.length, removed };
    },

    async deleteDocument(docId): Promise<number> {
      return deleteChunks(docId, await findChunks(docId));
    },

    async search(query: VectorQuery): Promise<RetrievedChunk[]> {
      if (!Number.isInteger(query.k) || query.k < 1 || query.k > OPENSEARCH_LIMITS.maxK) {
        throw new UnsupportedQueryError('rag.k', `must be an integer from 1 to ${OPENSEARCH_LIMITS.maxK}`);
      }
      const filter = filterClauses(query.filters);
      const knn = runSearch(knnQuery(query, filter), 'kNN search', query.signal);
      const keyword =
        query.hybrid === true && query.text.trim() !== ''
          ? runSearch(keywordQuery(query, filter), 'keyword search', query.signal)
          : undefined;
      const [vectorHits, keywordHits] = await Promise.all([knn, keyword ?? Promise.resolve(undefined)]);
      const minScore = query.minScore ?? 0;

      const byChunk = new Map<string, StoredChunk>();
      const similarities = bestPerChunk(
        vectorHits.map((hit) => ({ ...hit, score: similarityFromInnerProductScore(hit.score) })),
        byChunk,
      );
      const ranked =
        query.hybrid === true
          ? fuseHybrid(similarities, bestPerChunk(keywordHits ?? [], byChunk))
          : similarities.map((hit) => ({ ...hit, similarity: hit.score }));
      return ranked
        .filter((hit) => hit.similarity >= minScore)
        .slice(0, query.k)
        .flatMap(({ id, score, similarity }) => {
          const chunk = byChunk.get(id);
          return chunk === undefined ? [] : [{ ...chunk, score, similarity }];
        });
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Requests and errors

interface OpenSearchRequest {
  readonly method: 'POST';
  readonly path: string;
  readonly body?: Record<string, unknown>;
  readonly bulkBody?: string;
  /** What the request does, for error messages. */
  readonly action: string;
  /** The data access policy permission it needs. */
  readonly permission: 'aoss:ReadDocument' | 'aoss:WriteDocument';
  /** A read on behalf of an API caller: final throttling becomes `ThrottledError` (429) rather than `TransientError`. */
  readonly read?: boolean;
}

interface Target {
  readonly index: string;
  readonly endpoint: string;
}

async function perform(
  client: OpenSearchTransportClient,
  request: OpenSearchRequest,
  requestTimeout: number,
  signal: AbortSignal | undefined,
): Promise<unknown> {
  const pending = client.transport.request(
    {
      method: request.method,
      path: request.path,
      ...(request.body === undefined ? {} : { body: request.body }),
      ...(request.bulkBody === undefined ? {} : { bulkBody: request.bulkBody }),
    },
    { maxRetries: 0, requestTimeout },
  );
  const abort = (): void => {
    pending.abort();
  };
  signal?.addEventListener('abort', abort, { once: true });
  try {
    const response: { body: unknown } = await pending;
    return response.body;
  } finally {
    signal?.removeEventListener('abort', abort);
  }
}

type FailureKind = 'throttled' | 'transient' | 'fatal';

const NETWORK_ERRORS = new Set(['ConnectionError', 'TimeoutError', 'NoLivingConnectionsError']);

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The HTTP status of an OpenSearch `ResponseError` (undefined for network and client-side errors). */
function responseStatus(error: unknown): number | undefined {
  if (field(error, 'name') !== 'ResponseError') return undefined;
  const status = field(field(error, 'meta'), 'statusCode');
  return typeof status === 'number' ? status : undefined;
}

function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

function classify(error: unknown): FailureKind {
  const status = responseStatus(error);
  if (status === 429) return 'throttled';
  if (status !== undefined) return status >= 500 ? 'transient' : 'fatal';
  const name = text(field(error, 'name')) ?? '';
  // The client's own TimeoutError carries `meta`; a DOMException of the same name (an abort) does not.
  if (NETWORK_ERRORS.has(name) && field(error, 'meta') !== undefined) return 'transient';
  return 'fatal';
}

/** Milliseconds from a `Retry-After` header in delta-seconds, if OpenSearch sent one. */
function retryAfterMs(error: unknown): number | undefined {
  const headers = field(field(error, 'meta'), 'headers');
  const value = text(field(headers, 'retry-after'));
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

/** `type: reason` of an OpenSearch error body (`{ error: { type, reason, caused_by } }` or a bare message). */
function describeErrorBody(body: unknown): { type: string | undefined; reason: string } {
  const error = field(body, 'error');
  if (typeof error === 'object' && error !== null) {
    const type = text(field(error, 'type'));
    const reason = text(field(error, 'reason')) ?? 'no reason given';
    const causedBy = field(error, 'caused_by');
    const cause = text(field(causedBy, 'reason'));
    const causeType = text(field(causedBy, 'type'));
    const because = cause === undefined ? '' : ` (caused by ${causeType ?? 'error'}: ${cause})`;
    return { type, reason: `${type ?? 'error'}: ${reason}${because}` };
  }
  const message = text(error) ?? text(field(body, 'message')) ?? text(field(body, 'Message')) ?? text(body);
  return { type: undefined, reason: message === undefined ? 'no reason given' : message.slice(0, 500) };
}

function finalError(
  error: unknown,
  request: OpenSearchRequest,
  { index, endpoint }: Target,
  attempts: number,
  nextDelayMs: number,
): Error {
  const status = responseStatus(error);
  const what = `the ${request.action} on index ${index}`;
  const after = attempts > 1 ? ` after ${attempts} attempts` : '';
  if (status === undefined) {
    const name = text(field(error, 'name')) ?? 'Error';
    const message = text(field(error, 'message')) ?? String(error);
    if (classify(error) === 'transient') {
      return new TransientError(`${LABEL} could not be reached for ${what}${after} (${name}: ${message})`, {
        cause: error,
      });
    }
    return new OpenSearchRequestError(`${LABEL} request failed: ${what} (${name}: ${message})`, {
      cause: error,
    });
  }
  const { type, reason } = describeErrorBody(field(error, 'body'));
  const details = { cause: error, statusCode: status, errorType: type };
  if (status === 429) {
    const message = `${LABEL} is throttling requests: ${what} was refused${after}; retry later`;
    return request.read === true
      ? new ThrottledError(message, (retryAfterMs(error) ?? nextDelayMs) / 1000, { cause: error })
      : new TransientError(message, { cause: error });
  }
  if (status >= 500) {
    return new TransientError(`${LABEL} failed ${what}${after}: ${status} ${reason}`, { cause: error });
  }
  if (status === 403) {
    return new OpenSearchAccessDeniedError(
      `${LABEL} refused ${what} in collection ${endpoint} (403 ${reason}): the collection's data access policy must grant this function's role ${request.permission} on index/<collection name>/${index}, and the role's IAM policy must allow aoss:APIAccessAll`,
      details,
    );
  }
  if (status === 404 && type === 'index_not_found_exception') {
    return new OpenSearchIndexNotFoundError(
      `The ${LABEL} index ${index} does not exist in collection ${endpoint}; the stack creates it (AWS::OpenSearchServerless::Index): check the index name the function was given`,
      details,
    );
  }
  const hint = status === 413 ? '; lower maxBulkBytes' : '';
  return new OpenSearchRequestError(`${LABEL} refused ${what}: ${status} ${reason}${hint}`, details);
}

// ---------------------------------------------------------------------------------------------------
// Bulk writes

interface BulkItem {
  readonly chunkId: string;
  /** The action line and, for `index`, the document line, each ending in a newline. */
  readonly ndjson: string;
  readonly bytes: number;
  /** Prefix of a failure reason (which copy failed, for deletes). */
  readonly describe: string;
}

interface BulkItemResult {
  readonly status: number;
  readonly reason: string;
}

interface BulkOutcome {
  /** Items written, or deleted (404 included). */
  readonly done: number;
  readonly failures: { chunkId: string; reason: string }[];
}

/** The document of one chunk, with the field names of `CHUNK_FIELDS` (the metadata as JSON text). */
function chunkDocument(chunk: IndexedChunk): Record<string, unknown> {
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

function ndjsonItem(chunkId: string, lines: readonly unknown[], describe: string): BulkItem {
  const ndjson = lines.map((line) => `${JSON.stringify(line)}\n`).join('');
  return { chunkId, ndjson, bytes: Buffer.byteLength(ndjson, 'utf8'), describe };
}

/**
 * `index` actions without `_id` (the collection assigns ids). Chunks that do not belong to this version of
 * this document, or whose exact-match values OpenSearch could not match later, are refused before anything
 * is sent.
 */
function indexItems(docId: string, docVersion: string, chunks: readonly IndexedChunk[]): BulkItem[] {
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
function exactMatchProblems(chunk: IndexedChunk): string[] {
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

function deleteItem(ref: StoredChunkRef): BulkItem {
  return ndjsonItem(
    ref.chunkId,
    [{ delete: { _id: ref.id } }],
    `the copy of version ${ref.docVersion} (_id ${ref.id}) could not be removed: `,
  );
}

/** Batches of at most `maxDocs` items and `maxBytes` bytes (an item larger than that goes alone). */
function bulkBatches(items: readonly BulkItem[], maxBytes: number, maxDocs: number): BulkItem[][] {
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
function bulkItemResults(body: unknown, expected: number, { index }: Target): BulkItemResult[] {
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

// ---------------------------------------------------------------------------------------------------
// Reads

interface StoredChunkRef {
  /** The `_id` OpenSearch assigned. */
  readonly id: string;
  readonly chunkId: string;
  readonly docVersion: string;
  /** The hit's sort values, for `search_after`. */
  readonly sort: readonly unknown[];
  readonly sortKey: string;
}

type StoredChunk = Omit<RetrievedChunk, 'score' | 'similarity'>;

interface Hit extends StoredChunk {
  readonly score: number;
}

function malformed(what: string, { index }: Target): OpenSearchRequestError {
  return new OpenSearchRequestError(`${LABEL} answered a search on index ${index} with ${what}`);
}

function hitList(body: unknown, target: Target): unknown[] {
  const shards = field(body, '_shards');
  const failed = field(shards, 'failed');
  if (field(body, 'timed_out') === true || (typeof failed === 'number' && failed > 0)) {
    // Part of the index did not answer: the hits may be incomplete.
    throw new TransientError(
      `${LABEL} answered a search on index ${target.index} from part of the index only (timed out or ${String(failed ?? 0)} shard(s) failed)`,
    );
  }
  const hits = field(field(body, 'hits'), 'hits');
  if (!Array.isArray(hits)) throw malformed('no hits list', target);
  return hits;
}

function lookupHits(body: unknown, docId: string, target: Target): StoredChunkRef[] {
  return hitList(body, target).map((hit): StoredChunkRef => {
    const id = text(field(hit, '_id'));
    const sort = field(hit, 'sort');
    if (id === undefined || !Array.isArray(sort) || sort.length !== 2) {
      throw malformed('a hit without _id or sort values', target);
    }
    const [docVersion, chunkIndex] = sort as [unknown, unknown];
    return {
      id,
      chunkId: `${docId}#${String(chunkIndex)}`,
      docVersion: String(docVersion),
      sort,
      sortKey: JSON.stringify(sort),
    };
  });
}

function isMetadataValue(value: unknown): value is MetadataValue {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** The metadata of a hit from its `metadata_json` text; `{}` when it is missing or not a JSON object. */
function parseMetadata(json: unknown): Record<string, MetadataValue> {
  if (typeof json !== 'string') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return {};
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? Object.fromEntries(Object.entries(parsed).filter(([, value]) => isMetadataValue(value)))
    : {};
}

function searchHits(body: unknown, target: Target): Hit[] {
  return hitList(body, target).map((hit): Hit => {
    const source = field(hit, '_source');
    const score = field(hit, '_score');
    const chunkId = text(field(source, CHUNK_FIELDS.chunkId));
    const docId = text(field(source, CHUNK_FIELDS.docId));
    const docVersion = text(field(source, CHUNK_FIELDS.docVersion));
    const index = field(source, CHUNK_FIELDS.index);
    const chunkText = text(field(source, CHUNK_FIELDS.text));
    if (
      typeof score !== 'number' ||
      chunkId === undefined ||
      docId === undefined ||
      docVersion === undefined ||
      typeof index !== 'number' ||
      chunkText === undefined
    ) {
      throw malformed('a hit that is not a RAG chunk (a score or a chunk field is missing)', target);
    }
    const title = text(field(source, CHUNK_FIELDS.title));
    const chunkSource = text(field(source, CHUNK_FIELDS.source));
    const headings = field(source, CHUNK_FIELDS.headings);
    const metadata = parseMetadata(field(source, CHUNK_FIELDS.metadataJson));
    return {
      chunkId,
      docId,
      docVersion,
      index,
      text: chunkText,
      ...(title === undefined ? {} : { title }),
      ...(chunkSource === undefined ? {} : { source: chunkSource }),
      headings: Array.isArray(headings) ? headings.filter((h): h is string => typeof h === 'string') : [],
      metadata,
      score,
    };
  });
}

/**
 * One score per chunk id, the best, in the order of the hits (best first): a chunk may briefly be stored
 * twice. Records each chunk's fields in `byChunk` (the first seen wins).
 */
function bestPerChunk(hits: readonly Hit[], byChunk: Map<string, StoredChunk>): ScoredId[] {
  const best = new Map<string, number>();
  for (const { score, ...chunk } of hits) {
    if (!byChunk.has(chunk.chunkId)) byChunk.set(chunk.chunkId, chunk);
    best.set(chunk.chunkId, Math.max(best.get(chunk.chunkId) ?? Number.NEGATIVE_INFINITY, score));
  }
  return [...best].map(([id, score]) => ({ id, score })).sort((a, b) => b.score - a.score);
}

/**
 * Filter clauses (AND): `docId` and `source` on their `.keyword` sub-fields, other keys on
 * `metadata_kv.keyword`.
 */
function filterClauses(filters: MetadataFilters | undefined): Record<string, unknown>[] {
  return Object.entries(filters ?? {}).map(([key, wanted]) => {
    const values: readonly MetadataValue[] = Array.isArray(wanted)
      ? (wanted as readonly MetadataValue[])
      : [wanted as MetadataValue];
    const [fieldName, terms] =
      key === 'docId'
        ? [CHUNK_KEYWORD_FIELDS.docId, values]
        : key === 'source'
          ? [CHUNK_KEYWORD_FIELDS.source, values]
          : [CHUNK_KEYWORD_FIELDS.metadataKeywords, values.map((value) => metadataKeyword(key, value))];
    return Array.isArray(wanted)
      ? { terms: { [fieldName]: [...terms] } }
      : { term: { [fieldName]: terms[0] } };
  });
}

const SOURCE_WITHOUT_VECTOR = { excludes: [CHUNK_FIELDS.vector] };

/** kNN with the filters inside the knn clause (faiss efficient filtering: k results that match). */
function knnQuery(query: VectorQuery, filter: readonly Record<string, unknown>[]): Record<string, unknown> {
  return {
    size: query.k,
    _source: SOURCE_WITHOUT_VECTOR,
    query: {
      knn: {
        [CHUNK_FIELDS.vector]: {
          vector: [...query.vector],
          k: query.k,
          ...(filter.length === 0 ? {} : { filter: { bool: { filter } } }),
        },
      },
    },
  };
}

/** BM25 over the text, the title (boosted) and the headings, with the same filters. */
function keywordQuery(
  query: VectorQuery,
  filter: readonly Record<string, unknown>[],
): Record<string, unknown> {
  return {
    size: query.k,
    _source: SOURCE_WITHOUT_VECTOR,
    query: {
      bool: {
        must: [
          {
            multi_match: {
              query: query.text,
              fields: [CHUNK_FIELDS.text, `${CHUNK_FIELDS.title}^2`, CHUNK_FIELDS.headings],
            },
          },
        ],
        ...(filter.length === 0 ? {} : { filter }),
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Options

/** `https://<host>[:port]` from a collection endpoint given with or without its scheme. */
function normalizeEndpoint(endpoint: string): string {
  const trimmed = endpoint.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
  let url: URL | undefined;
  try {
    url = new URL(withScheme);
  } catch {
    url = undefined;
  }
  if (url === undefined || !['https:', 'http:'].includes(url.protocol) || url.hostname === '') {
    throw new ConfigError(
      `The OpenSearch endpoint ${JSON.stringify(endpoint)} is not a URL; give the collection endpoint, https://<id>.<region>.aoss.amazonaws.com`,
    );
  }
  return url.origin;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(
      `The OpenSearch store option ${name} must be a whole number of at least 1, got ${value}`,
    );
  }
  return value;
}
