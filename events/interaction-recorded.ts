import * as z from 'zod/mini';
import { eventBridgeEvent, SCHEMA_VERSION } from './envelope.ts';

export const INTERACTION_RECORDED = 'llmops.InteractionRecorded';

/** A text kept in a sampled payload: PII-redacted, cut to a bounded size (`truncated` says so). */
export const loggedText = z.object({ text: z.string(), truncated: z.boolean() });

/**
 * `llmops.InteractionRecorded`: one model call through the gateway. The rule on the project bus delivers
 * every detail to the inference log in S3 (`interactions/dt=YYYY-MM-DD/`), where evaluation, drift
 * monitoring and feedback read it. Metadata is always recorded; the payload (the rendered input and the
 * answer, PII-redacted) only for the configured sample of calls. Written with `zod/mini`, like every
 * schema an API function bundles.
 */
export const interactionRecordedDetail = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  interactionId: z.string().check(z.minLength(1)),
  occurredAt: z.iso.datetime(),
  requestId: z.string(),
  /** The calling app (its API key's usage plan) and, when the app sends `x-tenant-id`, its tenant. */
  app: z.string(),
  tenant: z.nullable(z.string()),
  /**
   * The route the call came through: `chat` (`POST /v1/chat`), `chat.completions` and `embeddings` (the
   * OpenAI-compatible routes). Values are only ever added (an additive change, same schema version).
   */
  route: z.enum(['chat', 'chat.completions', 'embeddings']),
  stream: z.boolean(),
  prompt: z.nullable(z.object({ name: z.string(), version: z.int(), ref: z.string() })),
  model: z.nullable(
    z.object({ id: z.string(), provider: z.enum(['bedrock', 'sagemaker', 'offline']), modelId: z.string() }),
  ),
  usage: z.object({ inputTokens: z.int(), outputTokens: z.int(), costUsd: z.number() }),
  latencyMs: z.number(),
  modelLatencyMs: z.nullable(z.number()),
  status: z.enum(['ok', 'client_error', 'throttled', 'provider_error', 'error']),
  errorCode: z.nullable(z.string()),
  stopReason: z.nullable(z.string()),
  guardrail: z.nullable(z.object({ action: z.enum(['NONE', 'INTERVENED']), policies: z.array(z.string()) })),
  /**
   * Calls with `rag`: what was retrieved, as ids and scores (the passages stay in the store). Evaluation
   * and drift monitoring read it.
   */
  retrieval: z.optional(
    z.object({
      vectorStore: z.enum(['opensearch', 's3vectors', 'embedded']),
      k: z.int(),
      hybrid: z.boolean(),
      minScore: z.nullable(z.number()),
      embeddingModel: z.string(),
      /**
       * The query vector retrieval searched with, int8-quantized (`#core/drift/compact-embedding.ts`: a
       * per-vector `scale`, one base64 byte per dimension, each value within scale / 2). Present on
       * sampled calls (those with a `payload`) whose retrieval embedded the question; absent otherwise.
       * The drift check decodes it instead of embedding the question again. An additive change (same
       * schema version): readers of older records find it absent.
       */
      queryEmbedding: z.optional(
        z.object({ encoding: z.literal('int8'), dims: z.int(), scale: z.number(), data: z.string() }),
      ),
      chunks: z.array(
        z.object({
          docId: z.string(),
          chunkId: z.string(),
          docVersion: z.string(),
          score: z.number(),
          similarity: z.number(),
        }),
      ),
    }),
  ),
  /**
   * While the model has a rollout's canary: the variant that answered (`candidate`: the rollout's
   * candidate inference component; `production`: the model's own). Absent otherwise. An additive change
   * (same schema version): readers of older records find it absent.
   */
  variant: z.optional(z.enum(['production', 'candidate'])),
  /** Present for sampled calls only. */
  payload: z.nullable(
    z.object({
      system: z.nullable(loggedText),
      messages: z.array(z.object({ role: z.enum(['user', 'assistant']), content: loggedText })),
      answer: z.nullable(loggedText),
      /** How many PII spans were replaced by placeholders, by kind. */
      redactions: z.record(z.string(), z.int()),
    }),
  ),
});
export type InteractionRecordedDetail = z.infer<typeof interactionRecordedDetail>;

/** The whole event, for consumers. Marked pure so that the chat function's bundle leaves it (and full zod) out. */
export const interactionRecordedEvent = /* @__PURE__ */ eventBridgeEvent(
  INTERACTION_RECORDED,
  interactionRecordedDetail,
);
