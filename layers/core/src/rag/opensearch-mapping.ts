/**
 * The OpenSearch index of RAG chunks, declared once: the stack creates it natively
 * (`AWS::OpenSearchServerless::Index`, from {@link chunkIndexBody}) and the OpenSearch adapter writes and
 * queries the same field names.
 *
 * OpenSearch Serverless vector collections assign document ids themselves (custom `_id`s are refused), so
 * a chunk's identity lives in `chunk_id`/`doc_id`/`doc_version`. Metadata filters run on `metadata_kv`,
 * one `key=value` string per metadata entry, so that any metadata key is filterable without a mapping
 * change; the metadata object itself is kept as JSON text in `metadata_json`, stored but not searched.
 *
 * Only what CloudFormation can declare is mapped explicitly. The `AWS::OpenSearchServerless::Index`
 * reference allows `text` and `knn_vector` as a property's `Type` (and has no `Enabled`), so the mapping
 * holds the vector, the BM25 text fields and `metadata_json` (`text`, `index: false`). The identity and
 * filter fields (`chunk_id`, `doc_id`, `doc_version`, `source`, `metadata_kv`: strings; `chunk_index`: a
 * number) are left to OpenSearch's default dynamic mapping, which maps a string to `text` with a `keyword`
 * sub-field `<name>.keyword` (`ignore_above: 256`) and a whole number to `long`. Exact matches and sorts
 * therefore use {@link CHUNK_KEYWORD_FIELDS} and `chunk_index`.
 *
 * Consequences, enforced when a chunk is written ({@link exactMatchProblem}):
 * - a string longer than {@link KEYWORD_MAX_LENGTH} (256) characters gets no `.keyword` value and can never
 *   be matched: document ids, document versions, sources and each `key=value` metadata string must stay
 *   within 256 characters (a document whose id is longer could not be found again to be replaced or
 *   deleted, so it is refused instead);
 * - dynamic mapping takes a string that reads as a date (`2024-05-01`, `2024/05/01 10:00:00 +0000`) for a
 *   `date` when it is the first value a field sees, which would leave that field without `.keyword` for
 *   good: such values are refused too.
 * A field is mapped only once a document holds it: on an empty index, sorts name `unmapped_type`.
 */

export const CHUNK_FIELDS = {
  vector: 'embedding',
  chunkId: 'chunk_id',
  docId: 'doc_id',
  docVersion: 'doc_version',
  index: 'chunk_index',
  text: 'text',
  title: 'title',
  source: 'source',
  headings: 'headings',
  /** The chunk's metadata object as JSON text: returned with hits, never searched. */
  metadataJson: 'metadata_json',
  metadataKeywords: 'metadata_kv',
} as const;

/**
 * The `keyword` sub-fields that dynamic mapping gives the identity and filter fields: term/terms filters,
 * the id lookup and sorts use these. `chunk_index` (a `long`) is sorted on directly. Only values of at most
 * {@link KEYWORD_MAX_LENGTH} characters have one (chunk ids, `<doc id>#<n>`, may exceed it; nothing
 * matches on them).
 */
export const CHUNK_KEYWORD_FIELDS = {
  chunkId: `${CHUNK_FIELDS.chunkId}.keyword`,
  docId: `${CHUNK_FIELDS.docId}.keyword`,
  docVersion: `${CHUNK_FIELDS.docVersion}.keyword`,
  source: `${CHUNK_FIELDS.source}.keyword`,
  metadataKeywords: `${CHUNK_FIELDS.metadataKeywords}.keyword`,
} as const;

/** Longest string a dynamic `.keyword` sub-field indexes (`ignore_above`, in UTF-16 code units). */
export const KEYWORD_MAX_LENGTH = 256;

/** HNSW graph parameters: 16 links per node, 512 candidates while building, 256 while searching. */
export const HNSW = { m: 16, efConstruction: 512, efSearch: 256 } as const;

/** One `metadata_kv` value: `key=value` (numbers and booleans as JSON text). */
export function metadataKeyword(key: string, value: string | number | boolean): string {
  return `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
}

// The default `dynamic_date_formats` (`strict_date_optional_time`, `yyyy/MM/dd HH:mm:ss Z||yyyy/MM/dd Z`),
// tried only on strings with more than one `-`, `:` or `/`. Slightly wider than the parsers, never narrower.
const ISO_DATE = /^[+-]?\d{4,}(-\d{2}(-\d{2})?|-\d{3}|-W\d{2}(-\d)?)?(T[\d:.,]*(Z|[+-][\d:]+)?)?$/;
const SLASH_DATE = /^\d{4}\/\d{2}\/\d{2}( \d{2}:\d{2}:\d{2})? \S+$/;
const SEPARATOR_RUNS = [/-/g, /:/g, /\//g] as const;

/**
 * Why a string stored in an exact-match field (see {@link CHUNK_KEYWORD_FIELDS}) could not be matched
 * later, or `undefined` when it can: longer than {@link KEYWORD_MAX_LENGTH}, or read as a date by dynamic
 * mapping.
 */
export function exactMatchProblem(value: string): string | undefined {
  if (value.length > KEYWORD_MAX_LENGTH) {
    return `it is ${value.length} characters long; OpenSearch matches at most ${KEYWORD_MAX_LENGTH} exactly`;
  }
  const separated = SEPARATOR_RUNS.some((separator) => (value.match(separator)?.length ?? 0) > 1);
  if (separated && (ISO_DATE.test(value) || SLASH_DATE.test(value))) {
    return 'OpenSearch would take it for a date (dynamic mapping), and the field could no longer be matched exactly';
  }
  return undefined;
}

/**
 * The index body (`PUT <index>`): a `knn_vector` of the embedding model's dimension (HNSW on faiss, inner
 * product: the embeddings are L2-normalized, so it ranks as cosine does), text fields for BM25, and the
 * metadata JSON stored unindexed. Every other field is dynamically mapped (see the module comment).
 */
export function chunkIndexBody(dimensions: number): {
  settings: { index: { knn: boolean; 'knn.algo_param.ef_search': number } };
  mappings: { properties: Record<string, Record<string, unknown>> };
} {
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > 16_000) {
    throw new RangeError(`the embedding dimension must be a whole number from 1 to 16000, got ${dimensions}`);
  }
  return {
    settings: { index: { knn: true, 'knn.algo_param.ef_search': HNSW.efSearch } },
    mappings: {
      properties: {
        [CHUNK_FIELDS.vector]: {
          type: 'knn_vector',
          dimension: dimensions,
          method: {
            name: 'hnsw',
            engine: 'faiss',
            space_type: 'innerproduct',
            parameters: { m: HNSW.m, ef_construction: HNSW.efConstruction },
          },
        },
        [CHUNK_FIELDS.text]: { type: 'text' },
        [CHUNK_FIELDS.title]: { type: 'text' },
        [CHUNK_FIELDS.headings]: { type: 'text' },
        [CHUNK_FIELDS.metadataJson]: { type: 'text', index: false },
      },
    },
  };
}

/**
 * The similarity of the store contract, (1 + cos) / 2, from an OpenSearch kNN score in the `innerproduct`
 * space (faiss): `score = 1 + ip` when `ip >= 0`, else `1 / (1 - ip)`; for normalized vectors ip = cos.
 */
export function similarityFromInnerProductScore(score: number): number {
  const ip = score >= 1 ? score - 1 : 1 - 1 / score;
  return Math.min(1, Math.max(0, (1 + ip) / 2));
}
