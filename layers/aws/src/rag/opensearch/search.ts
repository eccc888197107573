import { CHUNK_FIELDS, CHUNK_KEYWORD_FIELDS, metadataKeyword } from '#core/rag/opensearch-mapping.ts';
import type {
  MetadataFilters,
  MetadataValue,
  RetrievedChunk,
  ScoredId,
  VectorQuery,
} from '#core/rag/store.ts';
import { TransientError } from '../../errors.ts';
import { LABEL, OpenSearchRequestError } from './errors.ts';
import { field, type Target, text } from './requests.ts';

/** Queries and their answers: kNN and keyword queries with filters, the id lookup, and hits parsed back into chunks. */

export interface StoredChunkRef {
  /** The `_id` OpenSearch assigned. */
  readonly id: string;
  readonly chunkId: string;
  readonly docVersion: string;
  /** The hit's sort values, for `search_after`. */
  readonly sort: readonly unknown[];
  readonly sortKey: string;
}

export type StoredChunk = Omit<RetrievedChunk, 'score' | 'similarity'>;

export interface Hit extends StoredChunk {
  readonly score: number;
}

export function malformed(what: string, { index }: Target): OpenSearchRequestError {
  return new OpenSearchRequestError(`${LABEL} answered a search on index ${index} with ${what}`);
}

export function hitList(body: unknown, target: Target): unknown[] {
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

export function lookupHits(body: unknown, docId: string, target: Target): StoredChunkRef[] {
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

export function isMetadataValue(value: unknown): value is MetadataValue {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** The metadata of a hit from its `metadata_json` text; `{}` when it is missing or not a JSON object. */
export function parseMetadata(json: unknown): Record<string, MetadataValue> {
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

export function searchHits(body: unknown, target: Target): Hit[] {
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
export function bestPerChunk(hits: readonly Hit[], byChunk: Map<string, StoredChunk>): ScoredId[] {
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
export function filterClauses(filters: MetadataFilters | undefined): Record<string, unknown>[] {
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

export const SOURCE_WITHOUT_VECTOR = { excludes: [CHUNK_FIELDS.vector] };

/** kNN with the filters inside the knn clause (faiss efficient filtering: k results that match). */
export function knnQuery(
  query: VectorQuery,
  filter: readonly Record<string, unknown>[],
): Record<string, unknown> {
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
export function keywordQuery(
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
