/**
 * Core logic shared by the functions, with no AWS imports.
 */
export * from './dataprep/dedupe.ts';
export * from './dataprep/errors.ts';
export * from './dataprep/lines.ts';
export * from './dataprep/merge.ts';
export * from './dataprep/minhash.ts';
export * from './dataprep/normalize.ts';
export * from './dataprep/part.ts';
export * from './dataprep/pii.ts';
export * from './dataprep/process.ts';
export * from './dataprep/records.ts';
export * from './dataprep/split.ts';
export * from './dataprep/token-stats.ts';
export { countTokens } from './dataprep/tokens.ts';
export * from './hash32.ts';
export * from './rag/chunk.ts';
export * from './rag/eval.ts';
export * from './rag/opensearch-mapping.ts';
export * from './rag/s3vectors-layout.ts';
export * from './rag/store.ts';
