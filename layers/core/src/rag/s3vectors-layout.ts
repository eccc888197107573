/**
 * How a chunk is laid out in an Amazon S3 Vectors index, declared once: the stack declares the index
 * (`AWS::S3Vectors::Index`) with {@link S3_VECTORS_NON_FILTERABLE_KEYS}, and the S3 Vectors adapter writes
 * and filters the same keys.
 *
 * A vector's key is the chunk id (`${docId}#${index}`). Filterable metadata (at most 2 KB per vector):
 * `doc_id`, `doc_version`, `source`, `chunk_index`, and each user metadata entry as `m_<key>`.
 * Non-filterable metadata (the rest of the 40 KB per vector): the chunk text, title and headings.
 */
export const S3_VECTORS_KEYS = {
  docId: 'doc_id',
  docVersion: 'doc_version',
  source: 'source',
  index: 'chunk_index',
  text: 'text',
  title: 'title',
  headings: 'headings',
  /** Prefix of user metadata keys. */
  metadataPrefix: 'm_',
} as const;

/** Metadata keys stored with each vector but not usable in filters. */
export const S3_VECTORS_NON_FILTERABLE_KEYS = [
  S3_VECTORS_KEYS.text,
  S3_VECTORS_KEYS.title,
  S3_VECTORS_KEYS.headings,
] as const;
