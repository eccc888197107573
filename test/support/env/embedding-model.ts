import { BEDROCK_CATALOG } from '#infra/config/bedrock-catalog.ts';

/** The catalog entry of the stack's default embedding model (titan-embed-text-v2), as the stack sets it. */
export const TEST_EMBEDDING_MODEL = (() => {
  const model = BEDROCK_CATALOG.find((m) => m.id === 'titan-embed-text-v2');
  if (!model) throw new Error('titan-embed-text-v2 is not in the Bedrock catalog');
  return model;
})();
