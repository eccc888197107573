/** The catalog entry of the default embedding model (titan-embed-text-v2), as the stack sets it. */
export const TEST_EMBEDDING_MODEL = {
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
} as const;
