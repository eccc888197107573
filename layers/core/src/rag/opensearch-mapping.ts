/**
 * The OpenSearch index of RAG chunks, declared once: the stack creates it natively
 * (`AWS::OpenSearchServerless::Index`, from {@link chunkIndexBody}) and the OpenSearch adapter writes and
 * queries the same field names.
 *
 * OpenSearch Serverless vector collections assign document ids themselves (custom `_id`s are refused), so
 * a chunk's identity lives in `chunk_id`/`doc_id`/`doc_version`. Metadata filters run on `metadata_kv`,
 * one `key=value` keyword per metadata entry, so that any metadata key is filterable without a mapping
 * change; the metadata object itself is kept in `_source` only.
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
  metadata: 'metadata',
  metadataKeywords: 'metadata_kv',
} as const;

/** HNSW graph parameters: 16 links per node, 512 candidates while building, 256 while searching. */
export const HNSW = { m: 16, efConstruction: 512, efSearch: 256 } as const;

/** One `metadata_kv` keyword: `key=value` (numbers and booleans as JSON text). */
export function metadataKeyword(key: string, value: string | number | boolean): string {
  return `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
}

/**
 * The index body (`PUT <index>`): a `knn_vector` of the embedding model's dimension (HNSW on faiss, inner
 * product: the embeddings are L2-normalized, so it ranks as cosine does), text fields for BM25, keyword
 * fields for filters.
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
        [CHUNK_FIELDS.chunkId]: { type: 'keyword' },
        [CHUNK_FIELDS.docId]: { type: 'keyword' },
        [CHUNK_FIELDS.docVersion]: { type: 'keyword' },
        [CHUNK_FIELDS.index]: { type: 'integer' },
        [CHUNK_FIELDS.text]: { type: 'text' },
        [CHUNK_FIELDS.title]: { type: 'text' },
        [CHUNK_FIELDS.source]: { type: 'keyword' },
        [CHUNK_FIELDS.headings]: { type: 'text' },
        [CHUNK_FIELDS.metadata]: { type: 'object', enabled: false },
        [CHUNK_FIELDS.metadataKeywords]: { type: 'keyword' },
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
