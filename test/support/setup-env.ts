/**
 * Environment for every test tier: no AWS credentials or metadata lookups ever leave the machine, and
 * handler modules (which read their configuration at import time, as at a Lambda cold start) find
 * placeholder values. Integration tests point the SDK at their own emulators. The Lambda runtime's
 * `awslambda` global (response streaming) is in place before any handler module is imported, as on Lambda.
 */
import { installAwsLambdaGlobal } from '#infra/local/lambda-streaming.ts';

installAwsLambdaGlobal();
process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.AWS_REGION ??= 'us-east-1';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_TRACE_ENABLED = 'false';
process.env.DATASETS_TABLE ??= 'datasets-test';
process.env.RAW_BUCKET ??= 'raw-test';
process.env.CURATED_BUCKET ??= 'curated-test';
process.env.ARTIFACTS_BUCKET ??= 'artifacts-test';
process.env.EVENT_BUS_NAME ??= 'bus-test';
process.env.PART_SIZE_BYTES ??= String(64 * 1024 * 1024);
process.env.MAX_PARTS ??= '256';
process.env.MAX_RECORD_BYTES ??= String(1024 * 1024);
process.env.VALIDATION_RATIO ??= '0.1';
process.env.NEAR_DUP_THRESHOLD ??= '0.8';
process.env.PROMPTS_TABLE ??= 'prompts-test';
process.env.CATALOG_TABLE ??= 'catalog-test';
process.env.CATALOG_SEED ??= '[]';
process.env.INTERACTION_SAMPLE_RATE ??= '1';
process.env.CHAT_TIMEOUT_MS ??= '30000';
process.env.PROMPT_CACHE_TTL_SECONDS ??= '10';
process.env.MAX_REQUEST_BYTES ??= '262144';
// RAG: the RagIngest functions and /v1/rag (EMBEDDING_MODEL is the titan-embed-text-v2 entry of
// infra/config.ts; tests hand the offline provider to makeHandler).
process.env.DOCUMENTS_TABLE ??= 'documents-test';
process.env.VECTOR_STORE_KIND ??= 'embedded';
process.env.EMBEDDING_MODEL_ID ??= 'titan-embed-text-v2';
process.env.EMBEDDING_MODEL ??= JSON.stringify({
  id: 'titan-embed-text-v2',
  provider: 'bedrock',
  modelId: 'amazon.titan-embed-text-v2:0',
  kind: 'embedding',
  contextWindow: 8192,
  maxOutputTokens: 0,
  dimensions: 1024,
  pricePer1kInputUsd: 0.00002,
  pricePer1kOutputUsd: 0,
  features: [],
  regions: ['us-east-1', 'us-east-2', 'us-west-2'],
  status: 'active',
});
process.env.CHUNK_MAX_TOKENS ??= '512';
process.env.CHUNK_OVERLAP_TOKENS ??= '64';
process.env.MAX_DOCUMENT_BYTES ??= String(50 * 1024 * 1024);
process.env.DOCUMENT_BATCH_SIZE ??= '25';
process.env.EMBED_BATCH_SIZE ??= '16';
process.env.EMBED_CONCURRENCY ??= '4';
