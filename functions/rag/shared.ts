import type { S3Client } from '@aws-sdk/client-s3';
import { createDocumentClient, createEventBridgeClient, createS3Client } from '#aws/clients.ts';
import { DocumentTable } from '#aws/rag/documents.ts';
import { DocumentReporter } from '#aws/rag/reporter.ts';
import { vectorStoreEnvironment, vectorStoreKindFromEnv } from '#aws/rag/vector-store.ts';
import { envVar } from '#contracts/env.ts';

/** Environment shared by the RagIngest functions. */
export const ragEnv = {
  DOCUMENTS_TABLE: envVar.string(),
  ARTIFACTS_BUCKET: envVar.string(),
  EVENT_BUS_NAME: envVar.string(),
  /** Named in every `llmops.DocumentIndexed` event. */
  VECTOR_STORE_KIND: vectorStoreEnvironment.VECTOR_STORE_KIND,
};

/** What every RagIngest step gets in Lambda: S3, the status table and the reporter, from its environment. */
export function stepDeps(config: { DOCUMENTS_TABLE: string; EVENT_BUS_NAME: string }): {
  s3: S3Client;
  table: DocumentTable;
  reporter: DocumentReporter;
} {
  return {
    s3: createS3Client(),
    table: new DocumentTable(createDocumentClient(), config.DOCUMENTS_TABLE),
    reporter: new DocumentReporter(
      createEventBridgeClient(),
      config.EVENT_BUS_NAME,
      vectorStoreKindFromEnv(),
    ),
  };
}
