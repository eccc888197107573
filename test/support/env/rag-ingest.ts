import { TEST_EMBEDDING_MODEL } from './embedding-model.ts';

/**
 * The RagIngest functions' environment, for tests that import their handler modules (which read it at
 * import, as at a cold start). The embedded vector store stands in; tests hand the offline provider to
 * `makeHandler`. Import this module before any handler module.
 */
Object.assign(process.env, {
  DOCUMENTS_TABLE: process.env.DOCUMENTS_TABLE ?? 'documents-test',
  ARTIFACTS_BUCKET: process.env.ARTIFACTS_BUCKET ?? 'artifacts-test',
  EVENT_BUS_NAME: process.env.EVENT_BUS_NAME ?? 'bus-test',
  VECTOR_STORE_KIND: process.env.VECTOR_STORE_KIND ?? 'embedded',
  EMBEDDING_MODEL_ID: TEST_EMBEDDING_MODEL.id,
  EMBEDDING_MODEL: JSON.stringify(TEST_EMBEDDING_MODEL),
  CHUNK_MAX_TOKENS: '512',
  CHUNK_OVERLAP_TOKENS: '64',
  MAX_DOCUMENT_BYTES: String(50 * 1024 * 1024),
  DOCUMENT_BATCH_SIZE: '25',
  EMBED_BATCH_SIZE: '16',
  EMBED_CONCURRENCY: '4',
});
