import {
  CHUNK_FIELDS,
  CHUNK_KEYWORD_FIELDS,
  similarityFromInnerProductScore,
} from '#core/rag/opensearch-mapping.ts';
import {
  fuseHybrid,
  type ReplaceResult,
  type RetrievedChunk,
  UnsupportedQueryError,
  type VectorQuery,
  type VectorStore,
  VectorStoreWriteError,
} from '#core/rag/store.ts';
import { makeBackoff } from '../backoff.ts';
import { ConfigError } from '../errors.ts';
import type { RetryOptions } from '../models/retry.ts';
import {
  type BulkItem,
  type BulkItemResult,
  type BulkOutcome,
  bulkBatches,
  bulkItemResults,
  deleteItem,
  indexItems,
} from './opensearch/bulk.ts';
import {
  createOpenSearchClient,
  normalizeEndpoint,
  type OpenSearchTransportClient,
  positiveInteger,
} from './opensearch/client.ts';
import { OpenSearchRequestError } from './opensearch/errors.ts';
import {
  classify,
  finalError,
  isRetryableStatus,
  type OpenSearchRequest,
  perform,
  retryAfterOf,
} from './opensearch/requests.ts';
import {
  bestPerChunk,
  filterClauses,
  keywordQuery,
  knnQuery,
  lookupHits,
  type StoredChunk,
  type StoredChunkRef,
  searchHits,
} from './opensearch/search.ts';
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
      const hintedMs = kind === 'throttled' ? retryAfterOf(failure) : undefined;
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
