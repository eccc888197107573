import * as z from 'zod/mini';
import { chatRagOptions, citation, guardrailOutcome, PROMPT_REF, servedBy } from './schemas.ts';

/**
 * The OpenAI dialect of the API (`POST /v1/chat/completions`, `POST /v1/embeddings`, `GET /v1/models`):
 * the fields OpenAI's client libraries send and read. Request objects stay open (unknown fields are
 * ignored, as OpenAI's optional extras are); the fields that would change what an answer means and that
 * this API cannot honour (tools, several choices, log probabilities, structured output) are declared so
 * that the translation can refuse them by name. The project's own features travel in `llmops`, which the
 * official clients send as an extra body field. Expressible in JSON Schema draft 4 (API Gateway models).
 */

/** An optional field that clients may also send as `null`. */
const omittable = <S extends z.ZodMiniType>(schema: S) => z.optional(z.nullable(schema));

/** One part of an array `content`: only `text` parts are served (others are refused by name). */
const contentPart = z.object({
  type: z.string(),
  text: z.optional(z.string().check(z.maxLength(100_000))),
});

export const chatCompletionMessage = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  /** Text, or an array of `{type: 'text', text}` parts (joined with new lines). */
  content: omittable(
    z.union([z.string().check(z.maxLength(100_000)), z.array(contentPart).check(z.maxLength(100))]),
  ),
  name: z.optional(z.string()),
  tool_calls: z.optional(z.unknown()),
  function_call: z.optional(z.unknown()),
  tool_call_id: z.optional(z.unknown()),
});
export type ChatCompletionMessage = z.infer<typeof chatCompletionMessage>;

/** The `llmops` extension: a versioned prompt, its variables, and retrieval. */
export const llmopsExtension = z.strictObject({
  /** A versioned prompt rendered before `messages`: `name`, `name@label` or `name:version`. */
  prompt: z.optional(z.string().check(z.regex(PROMPT_REF, 'must be "name", "name@label" or "name:version"'))),
  /** Values for the prompt's declared variables (needs `prompt`). */
  variables: z.optional(z.record(z.string(), z.unknown())),
  /** Retrieval-augmented generation: answer from the indexed documents, with `llmops.citations`. */
  rag: z.optional(chatRagOptions),
});
export type LlmopsExtension = z.infer<typeof llmopsExtension>;

export const chatCompletionRequest = z.object({
  /** Catalog model id (`GET /v1/models`); it also overrides a prompt's model. */
  model: z.string().check(z.minLength(1), z.maxLength(100)),
  /** The conversation; it may be empty when `llmops.prompt` names a prompt that has its own turns. */
  messages: z.array(chatCompletionMessage).check(z.maxLength(100)),
  stream: omittable(z.boolean()),
  stream_options: omittable(z.object({ include_usage: omittable(z.boolean()) })),
  max_tokens: omittable(z.int().check(z.positive(), z.lte(100_000))),
  max_completion_tokens: omittable(z.int().check(z.positive(), z.lte(100_000))),
  temperature: omittable(
    z.number().check(z.gte(0), z.lte(1, 'must be between 0 and 1 (the catalog models accept no more)')),
  ),
  top_p: omittable(z.number().check(z.gte(0), z.lte(1))),
  stop: omittable(
    z.union([
      z.string().check(z.minLength(1), z.maxLength(500)),
      z.array(z.string().check(z.minLength(1), z.maxLength(500))).check(z.maxLength(4)),
    ]),
  ),
  /** Only 1 is served. */
  n: omittable(z.int()),
  /** End-user id (accepted; not stored). */
  user: omittable(z.string().check(z.maxLength(256))),
  // Features that would change the answer's meaning: refused by name unless absent or off.
  logprobs: omittable(z.boolean()),
  top_logprobs: omittable(z.int()),
  response_format: omittable(z.object({ type: z.string() })),
  tools: omittable(z.array(z.unknown())),
  tool_choice: omittable(z.unknown()),
  functions: omittable(z.array(z.unknown())),
  function_call: omittable(z.unknown()),
  modalities: omittable(z.array(z.string())),
  audio: omittable(z.unknown()),
  prediction: omittable(z.unknown()),
  llmops: z.optional(llmopsExtension),
});
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequest>;

export const finishReason = z.enum(['stop', 'length', 'content_filter']);
export type FinishReason = z.infer<typeof finishReason>;

/** What `llmops` adds to an answer: the interaction, its cost, and what grounded or filtered it. */
export const llmopsAnswer = z.object({
  interactionId: z.string(),
  costUsd: z.number(),
  /** The gateway's own stop reason (`finish_reason` is OpenAI's coarser reading of it). */
  stopReason: z.string(),
  /** The versioned prompt rendered, or null for a plain conversation. */
  prompt: z.nullable(z.object({ name: z.string(), version: z.int() })),
  guardrail: z.optional(guardrailOutcome),
  /** With `llmops.rag`: the retrieved chunks the answer may cite as `[n]`. */
  citations: z.optional(z.array(citation)),
  /** Who answered, during a rollout or when a fallback answered (as `served` of `POST /v1/chat`). */
  served: z.optional(servedBy),
});
export type LlmopsAnswer = z.infer<typeof llmopsAnswer>;

export const completionUsage = z.object({
  prompt_tokens: z.int(),
  completion_tokens: z.int(),
  total_tokens: z.int(),
});

export const chatCompletion = z.object({
  /** `chatcmpl-<interactionId>`. */
  id: z.string(),
  object: z.literal('chat.completion'),
  /** Epoch seconds. */
  created: z.int(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.int(),
      message: z.object({
        role: z.literal('assistant'),
        content: z.string(),
        refusal: z.null(),
      }),
      finish_reason: finishReason,
      logprobs: z.null(),
    }),
  ),
  usage: completionUsage,
  llmops: llmopsAnswer,
});
export type ChatCompletion = z.infer<typeof chatCompletion>;

export const chatCompletionChunk = z.object({
  id: z.string(),
  object: z.literal('chat.completion.chunk'),
  created: z.int(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.int(),
      delta: z.object({ role: z.optional(z.literal('assistant')), content: z.optional(z.string()) }),
      finish_reason: z.nullable(finishReason),
      logprobs: z.null(),
    }),
  ),
  /** The last chunk (empty `choices`) when `stream_options.include_usage` is set. */
  usage: z.optional(completionUsage),
  /** On the chunk with `finish_reason`. */
  llmops: z.optional(llmopsAnswer),
});
export type ChatCompletionChunk = z.infer<typeof chatCompletionChunk>;

/** Most texts one embeddings request may carry. */
export const MAX_EMBEDDING_INPUTS = 256;

export const embeddingsRequest = z.object({
  /** Catalog id of an embedding model (`GET /v1/models?kind=embedding`). */
  model: z.string().check(z.minLength(1), z.maxLength(100)),
  /** One text or up to 256 (token arrays are not served). */
  input: z.union([z.string(), z.array(z.string()).check(z.minLength(1), z.maxLength(MAX_EMBEDDING_INPUTS))]),
  /** `base64`: little-endian float32 vectors, base64-encoded (what the official clients ask for). */
  encoding_format: omittable(z.enum(['float', 'base64'])),
  /** Output dimension, when the model can shorten its vectors. */
  dimensions: omittable(z.int().check(z.positive(), z.lte(8192))),
  user: omittable(z.string().check(z.maxLength(256))),
});
export type EmbeddingsRequest = z.infer<typeof embeddingsRequest>;

export const embeddingsResponse = z.object({
  object: z.literal('list'),
  data: z.array(
    z.object({
      object: z.literal('embedding'),
      index: z.int(),
      /** Numbers, or base64 of little-endian float32 with `encoding_format: 'base64'`. */
      embedding: z.union([z.array(z.number()), z.string()]),
    }),
  ),
  model: z.string(),
  usage: z.object({ prompt_tokens: z.int(), total_tokens: z.int() }),
  llmops: z.object({ interactionId: z.string(), costUsd: z.number(), dimensions: z.int() }),
});
export type EmbeddingsResponseBody = z.infer<typeof embeddingsResponse>;
