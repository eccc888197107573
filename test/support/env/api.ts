import { FULL_ACCESS } from '../app-access.ts';
import { TEST_EMBEDDING_MODEL } from './embedding-model.ts';

/**
 * The API functions' environment (chat, prompts, models, rag, openapi, evaluations, feedback), for tests
 * that import their handler modules (which read it at import, as at a cold start). Import this module
 * before any handler module; a test may set a variable itself first.
 */
Object.assign(process.env, {
  PROMPTS_TABLE: process.env.PROMPTS_TABLE ?? 'prompts-test',
  CATALOG_TABLE: process.env.CATALOG_TABLE ?? 'catalog-test',
  USAGE_TABLE: process.env.USAGE_TABLE ?? 'usage-test',
  CATALOG_SEED: process.env.CATALOG_SEED ?? '[]',
  DOCUMENTS_TABLE: process.env.DOCUMENTS_TABLE ?? 'documents-test',
  EVENT_BUS_NAME: process.env.EVENT_BUS_NAME ?? 'bus-test',
  INTERACTION_SAMPLE_RATE: process.env.INTERACTION_SAMPLE_RATE ?? '1',
  CHAT_TIMEOUT_MS: process.env.CHAT_TIMEOUT_MS ?? '30000',
  PROMPT_CACHE_TTL_SECONDS: process.env.PROMPT_CACHE_TTL_SECONDS ?? '10',
  MAX_REQUEST_BYTES: process.env.MAX_REQUEST_BYTES ?? '262144',
  // The API key `key-1` is app `web`, which may use everything (tests of per-app access set their own).
  APP_KEYS: process.env.APP_KEYS ?? JSON.stringify({ 'key-1': 'web' }),
  APP_ACCESS: process.env.APP_ACCESS ?? JSON.stringify({ web: FULL_ACCESS }),
  EVALUATIONS_TABLE: process.env.EVALUATIONS_TABLE ?? 'evaluations-test',
  INTERACTIONS_TABLE: process.env.INTERACTIONS_TABLE ?? 'interactions-test',
  INTERACTION_TTL_DAYS: process.env.INTERACTION_TTL_DAYS ?? '7',
  FEEDBACK_TABLE: process.env.FEEDBACK_TABLE ?? 'feedback-test',
  ARTIFACTS_BUCKET: process.env.ARTIFACTS_BUCKET ?? 'artifacts-test',
  VECTOR_STORE_KIND: process.env.VECTOR_STORE_KIND ?? 'embedded',
  EMBEDDING_MODEL: process.env.EMBEDDING_MODEL ?? JSON.stringify(TEST_EMBEDDING_MODEL),
});
