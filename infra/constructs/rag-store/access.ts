/**
 * What a grant on the RAG store gives a function: the environment variables the vector-store adapters
 * read, the OpenSearch data-plane permissions on the chunk index, and the S3 Vectors actions.
 */

/** Environment variables set on every function granted access to the store. */
export const VECTOR_STORE_ENV = {
  kind: 'VECTOR_STORE_KIND',
  dimensions: 'VECTOR_DIMENSIONS',
  opensearchEndpoint: 'OPENSEARCH_ENDPOINT',
  opensearchIndex: 'OPENSEARCH_INDEX',
  s3VectorsBucket: 'S3VECTORS_BUCKET',
  s3VectorsIndex: 'S3VECTORS_INDEX',
} as const;

/** Data-plane permissions of the chunk index, per grant. */
export const AOSS_INDEX_PERMISSIONS = {
  read: ['aoss:ReadDocument', 'aoss:DescribeIndex'],
  readwrite: ['aoss:ReadDocument', 'aoss:WriteDocument', 'aoss:DescribeIndex'],
  /** CloudFormation creates, updates and deletes the index with the deploying role's credentials. */
  deploy: ['aoss:CreateIndex', 'aoss:DescribeIndex', 'aoss:UpdateIndex', 'aoss:DeleteIndex'],
} as const;

/**
 * S3 Vectors actions on the index, per grant. QueryVectors with `returnMetadata` or a metadata filter also
 * needs GetVectors (S3 Vectors API reference, QueryVectors "Permissions").
 */
export const S3_VECTORS_INDEX_ACTIONS = {
  read: ['s3vectors:QueryVectors', 's3vectors:GetVectors'],
  readwrite: [
    's3vectors:PutVectors',
    's3vectors:GetVectors',
    's3vectors:DeleteVectors',
    's3vectors:ListVectors',
    's3vectors:QueryVectors',
  ],
} as const;

/** How a function may use the store. */
export type VectorStoreAccess = keyof typeof S3_VECTORS_INDEX_ACTIONS;
