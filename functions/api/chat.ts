import { Readable } from 'node:stream';
import * as z from 'zod/mini';
import { createDocumentClient, createEventBridgeClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { EmbeddingsGateway } from '#aws/embeddings-gateway.ts';
import { DEFAULT_CAPACITY_RETRY_AFTER_SECONDS, NotFoundError } from '#aws/errors.ts';
import { DynamoInteractionStore } from '#aws/feedback/dynamo-interaction-store.ts';
import { AnswerDeadlineError, ModelGateway, type StreamChunk } from '#aws/gateway.ts';
import {
  type ApiRequest,
  type ApiResponse,
  apiHandler,
  errorJson,
  errorResponse,
  json,
  parseAppKeys,
  parseWith,
} from '#aws/http.ts';
import { EventBridgeInteractionRecorder } from '#aws/interactions.ts';
import { logger, metrics } from '#aws/logging.ts';
import { ModelCatalog, parseSeed, seedOnce } from '#aws/model-catalog.ts';
import { createContentGuard } from '#aws/models/guardrail.ts';
import { createProviderRouter } from '#aws/models/router.ts';
import { PromptRegistry } from '#aws/prompt-registry.ts';
import { Retriever } from '#aws/rag/retriever.ts';
import {
  embeddingModelEnvironment,
  embeddingModelFromEnv,
  vectorStoreEnvironment,
  vectorStoreFromEnv,
} from '#aws/rag/vector-store.ts';
import { TokenBudget } from '#aws/token-budget.ts';
import { envVar } from '#contracts/env.ts';
import { parseAppAccess } from '#contracts/http/access.ts';
import {
  type ChatCompletionRequest,
  chatCompletionRequest,
  embeddingsRequest,
} from '#contracts/http/openai.ts';
import { chatRequest } from '#contracts/http/schemas.ts';
import {
  type ChunkHead,
  completionId,
  contentChunk,
  finishChunk,
  inOpenAiTerms,
  roleChunk,
  toChatCompletion,
  toGatewayChat,
  usageChunk,
} from '#core/openai/chat.ts';
import { toEmbeddingsResponse } from '#core/openai/embeddings.ts';
import { dispatcher } from './dispatch.ts';

/**
 * `POST /v1/chat`: renders a versioned prompt, calls the chosen model through the gateway and answers
 * with usage and cost, as one JSON body or, with `stream: true`, as server-sent events (`delta`, then
 * `done` carrying the same JSON body, or `error`). Served through Lambda response streaming. Every
 * answer has a deadline (`CHAT_TIMEOUT_MS`, below the function's timeout): past it, a stream ends with
 * an `error` event coded `answer_deadline_exceeded`, and a buffered answer is a 504 with that code.
 *
 * The OpenAI dialect of the same gateway: `POST /v1/chat/completions` (a `chat.completion`, or with
 * `stream: true` `data:` chunks ending in `data: [DONE]`) and `POST /v1/embeddings`.
 */
export interface ChatDeps {
  readonly gateway: Pick<ModelGateway, 'chat' | 'chatStream'>;
  /** Serves `POST /v1/embeddings` (absent: that route answers 404). */
  readonly embeddings?: Pick<EmbeddingsGateway, 'embed'>;
  readonly ensureSeeded: () => Promise<void>;
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** The answer to an `AnswerDeadlineError`: a 504 that says which limit was hit and what to do. */
export function deadlineResponse(error: AnswerDeadlineError, requestId: string): ApiResponse {
  logger.warn('Answer deadline exceeded', { deadlineMs: error.deadlineMs });
  const seconds = Math.round(error.deadlineMs / 100) / 10;
  return errorJson(
    504,
    'answer_deadline_exceeded',
    `The answer took longer than the ${seconds} s this API allows for one answer and was cut off; ask for a shorter answer (a lower maxTokens, or max_tokens on /v1/chat/completions) or retry`,
    requestId,
  );
}

/** The error response of a stream that failed after it started (logged when it is ours). */
function streamFailure(error: unknown, requestId: string): ApiResponse {
  const response =
    error instanceof AnswerDeadlineError
      ? deadlineResponse(error, requestId)
      : errorResponse(error, requestId);
  if (response.statusCode >= 500 && !(error instanceof AnswerDeadlineError)) {
    logger.error('Stream failed', { error });
  }
  return response;
}

/** The status and JSON error body of a failed stream, as its `error` event carries them. */
function errorEvent(error: unknown, requestId: string): string {
  const response = streamFailure(error, requestId);
  return sse('error', { status: response.statusCode, ...JSON.parse(String(response.body)) });
}

/** Server-sent events of one streamed answer; metrics are published when the stream ends. */
export async function* toServerSentEvents(
  chunks: AsyncIterable<StreamChunk>,
  requestId: string,
): AsyncGenerator<string, void, undefined> {
  try {
    for await (const chunk of chunks) {
      if (chunk.type === 'delta') yield sse('delta', { text: chunk.text });
      else if (chunk.type === 'done') yield sse('done', chunk.response);
      else if (chunk.type === 'error') yield errorEvent(chunk.error, requestId);
    }
  } finally {
    // The middleware published when the response started; what the stream measured goes out now.
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}

const data = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;

/** What a streamed chat completion needs besides the gateway's chunks. */
export interface CompletionStreamOptions {
  /** Epoch seconds of the request. */
  readonly created: number;
  /** `stream_options.include_usage`: end with a chunk that carries the usage. */
  readonly includeUsage: boolean;
  readonly requestId: string;
  /** The request, to name the OpenAI field of a failure. */
  readonly body: Pick<ChatCompletionRequest, 'max_completion_tokens'>;
}

/**
 * OpenAI's server-sent events of one streamed completion: a `data:` line per `chat.completion.chunk`
 * (the role, each text delta, then `finish_reason` with the `llmops` extension, then with
 * `includeUsage` a chunk with empty `choices` and the usage), then `data: [DONE]`. A failure is one
 * `data: {"error": {...}}` line, and nothing after it. Metrics are published when the stream ends.
 */
export async function* toCompletionEvents(
  chunks: AsyncIterable<StreamChunk>,
  options: CompletionStreamOptions,
): AsyncGenerator<string, void, undefined> {
  let head: ChunkHead | undefined;
  const headOf = (interactionId: string, model: string): ChunkHead => ({
    id: completionId(interactionId),
    created: options.created,
    model,
  });
  try {
    for await (const chunk of chunks) {
      if (chunk.type === 'start') {
        head = headOf(chunk.interactionId, chunk.model);
        yield data(roleChunk(head));
      } else if (chunk.type === 'delta') {
        if (head === undefined)
          throw new Error('The gateway streamed text before announcing the interaction');
        yield data(contentChunk(head, chunk.text));
      } else if (chunk.type === 'done') {
        head ??= headOf(chunk.response.interactionId, chunk.response.model.id);
        yield data(finishChunk(head, chunk.response));
        if (options.includeUsage) yield data(usageChunk(head, chunk.response));
        yield 'data: [DONE]\n\n';
      } else {
        yield `data: ${String(streamFailure(inOpenAiTerms(chunk.error, options.body), options.requestId).body)}\n\n`;
        return;
      }
    }
  } catch (error) {
    yield `data: ${String(streamFailure(error, options.requestId).body)}\n\n`;
  } finally {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}

export function makeHandler(deps: ChatDeps) {
  return dispatcher('chat', {
    chat: async (request: ApiRequest): Promise<ApiResponse> => {
      const body = parseWith(chatRequest, request.body, '');
      await deps.ensureSeeded();
      try {
        if (body.stream !== true) {
          return json(200, await deps.gateway.chat(body, request.caller, request.requestId));
        }
        const chunks = await deps.gateway.chatStream(body, request.caller, request.requestId);
        metrics.addMetric('StreamsStarted', 'Count', 1);
        return {
          statusCode: 200,
          headers: SSE_HEADERS,
          body: Readable.from(toServerSentEvents(chunks, request.requestId)),
        };
      } catch (error) {
        if (error instanceof AnswerDeadlineError) return deadlineResponse(error, request.requestId);
        throw error;
      }
    },
    createChatCompletion: async (request: ApiRequest): Promise<ApiResponse> => {
      const body = parseWith(chatCompletionRequest, request.body, '');
      const input = toGatewayChat(body);
      await deps.ensureSeeded();
      const created = Math.floor(request.receivedAt / 1000);
      try {
        if (input.stream !== true) {
          const response = await deps.gateway.chat(input, request.caller, request.requestId);
          return json(200, toChatCompletion(response, created));
        }
        const chunks = await deps.gateway.chatStream(input, request.caller, request.requestId);
        metrics.addMetric('StreamsStarted', 'Count', 1);
        const includeUsage = body.stream_options?.include_usage === true;
        return {
          statusCode: 200,
          headers: SSE_HEADERS,
          body: Readable.from(
            toCompletionEvents(chunks, { created, includeUsage, requestId: request.requestId, body }),
          ),
        };
      } catch (error) {
        if (error instanceof AnswerDeadlineError) return deadlineResponse(error, request.requestId);
        throw inOpenAiTerms(error, body);
      }
    },
    createEmbeddings: async (request: ApiRequest): Promise<ApiResponse> => {
      const body = parseWith(embeddingsRequest, request.body, '');
      if (deps.embeddings === undefined)
        throw new NotFoundError('Embeddings are not served by this deployment');
      await deps.ensureSeeded();
      const outcome = await deps.embeddings.embed(
        {
          model: body.model,
          input: body.input,
          ...(body.dimensions != null ? { dimensions: body.dimensions } : {}),
        },
        request.caller,
        request.requestId,
      );
      return json(200, toEmbeddingsResponse(outcome, body.encoding_format ?? 'float'));
    },
  });
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  PROMPTS_TABLE: envVar.string(),
  CATALOG_TABLE: envVar.string(),
  CATALOG_SEED: envVar.string(),
  EVENT_BUS_NAME: envVar.string(),
  GUARDRAIL_ID: envVar.optionalString(),
  GUARDRAIL_VERSION: envVar.optionalString(),
  INTERACTION_SAMPLE_RATE: envVar.ratio(),
  CHAT_TIMEOUT_MS: envVar.int(1000),
  PROMPT_CACHE_TTL_SECONDS: envVar.int(0),
  APP_KEYS: envVar.optionalString(),
  APP_ACCESS: envVar.optionalString(),
  /** Each app's token count per UTC day (`TokenBudget`, `#aws/token-budget.ts`). */
  USAGE_TABLE: envVar.string(),
  /** Answered chat calls kept for feedback (`DynamoInteractionStore`; put only). */
  INTERACTIONS_TABLE: envVar.string(),
  /** Days a kept call stays open to feedback (`feedback.interactionTtlDays`): its `expiresAt`. */
  INTERACTION_TTL_DAYS: envVar.int(1),
  MAX_REQUEST_BYTES: envVar.int(1),
  MODEL_PROVIDER: envVar.optionalString(),
  /**
   * `Retry-After` (seconds) of the 503 answered while a SageMaker model has no capacity and no
   * fallback (default 60).
   */
  SAGEMAKER_RETRY_AFTER_SECONDS: z.optional(envVar.int(1)),
  ...embeddingModelEnvironment,
  ...vectorStoreEnvironment,
};

const config = readConfig(environment);

const documents = createDocumentClient();
const catalog = new ModelCatalog(documents, config.CATALOG_TABLE);
const providerFor = createProviderRouter({
  mode: config.MODEL_PROVIDER === 'offline' ? 'offline' : 'catalog',
});
const embeddingModel = embeddingModelFromEnv();
const guardrail =
  config.GUARDRAIL_ID !== undefined && config.GUARDRAIL_VERSION !== undefined
    ? { id: config.GUARDRAIL_ID, version: config.GUARDRAIL_VERSION }
    : undefined;
// Caller text through the input policy and unguarded providers' answers through the output policy.
const guard = createContentGuard({ offline: config.MODEL_PROVIDER === 'offline', guardrail });
const recorder = new EventBridgeInteractionRecorder(createEventBridgeClient(), config.EVENT_BUS_NAME);
// Each app's tokens per UTC day, chat and embeddings together.
const budget = new TokenBudget(documents, config.USAGE_TABLE);

export const handler = apiHandler(
  makeHandler({
    gateway: new ModelGateway({
      prompts: new PromptRegistry(documents, config.PROMPTS_TABLE, {
        cacheTtlMs: config.PROMPT_CACHE_TTL_SECONDS * 1000,
      }),
      catalog,
      providerFor,
      retriever: new Retriever({
        store: vectorStoreFromEnv,
        model: embeddingModel,
        provider: providerFor(embeddingModel),
      }),
      recorder,
      budget,
      // Chat calls are kept for feedback; embeddings (below) are not: there is no answer to rate.
      interactions: new DynamoInteractionStore(documents, config.INTERACTIONS_TABLE),
      interactionTtlDays: config.INTERACTION_TTL_DAYS,
      ...(guardrail !== undefined ? { guardrail } : {}),
      ...(guard !== undefined ? { guard } : {}),
      sampleRate: config.INTERACTION_SAMPLE_RATE,
      timeoutMs: config.CHAT_TIMEOUT_MS,
      capacityRetryAfterSeconds: config.SAGEMAKER_RETRY_AFTER_SECONDS ?? DEFAULT_CAPACITY_RETRY_AFTER_SECONDS,
    }),
    embeddings: new EmbeddingsGateway({
      catalog,
      providerFor,
      recorder,
      budget,
      ...(guard !== undefined ? { guard } : {}),
      sampleRate: config.INTERACTION_SAMPLE_RATE,
      timeoutMs: config.CHAT_TIMEOUT_MS,
    }),
    // The chat role may only put new catalog items: it adds missing seed entries and never rewrites one.
    ensureSeeded: seedOnce(catalog, parseSeed(config.CATALOG_SEED), { mode: 'insert' }),
  }),
  {
    appKeys: parseAppKeys(config.APP_KEYS),
    appAccess: parseAppAccess(config.APP_ACCESS),
    maxRequestBytes: config.MAX_REQUEST_BYTES,
    streaming: true,
  },
);
