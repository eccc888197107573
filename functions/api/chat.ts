import { Readable } from 'node:stream';
import { createDocumentClient, createEventBridgeClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { AnswerDeadlineError, ModelGateway, type StreamChunk } from '#aws/gateway.ts';
import {
  type ApiRequest,
  type ApiResponse,
  apiHandler,
  errorResponse,
  json,
  parseAppKeys,
  parseWith,
} from '#aws/http.ts';
import { EventBridgeInteractionRecorder } from '#aws/interactions.ts';
import { logger, metrics } from '#aws/logging.ts';
import { ModelCatalog, parseSeed, seedOnce } from '#aws/model-catalog.ts';
import { createProviderRouter } from '#aws/models/router.ts';
import { PromptRegistry } from '#aws/prompt-registry.ts';
import { Retriever } from '#aws/rag/retriever.ts';
import {
  embeddingModelEnvironment,
  embeddingModelFromEnv,
  vectorStoreEnvironment,
  vectorStoreFromEnv,
} from '#aws/rag/vector-store.ts';
import { envVar } from '#contracts/env.ts';
import { chatRequest } from '#contracts/http/schemas.ts';
import { dispatcher } from './dispatch.ts';

/**
 * `POST /v1/chat`: renders a versioned prompt, calls the chosen model through the gateway and answers
 * with usage and cost, as one JSON body or, with `stream: true`, as server-sent events (`delta`, then
 * `done` carrying the same JSON body, or `error`). Served through Lambda response streaming. Every
 * answer has a deadline (`CHAT_TIMEOUT_MS`, below the function's timeout): past it, a stream ends with
 * an `error` event coded `answer_deadline_exceeded`, and a buffered answer is a 504 with that code.
 */
export interface ChatDeps {
  readonly gateway: Pick<ModelGateway, 'chat' | 'chatStream'>;
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
  return json(504, {
    error: {
      code: 'answer_deadline_exceeded',
      message: `The answer took longer than the ${seconds} s this API allows for one answer and was cut off; ask for a shorter answer (a lower maxTokens) or retry`,
      requestId,
    },
  });
}

/** The status and JSON error body of a failed stream, as its `error` event carries them. */
function errorEvent(error: unknown, requestId: string): string {
  const response =
    error instanceof AnswerDeadlineError
      ? deadlineResponse(error, requestId)
      : errorResponse(error, requestId);
  if (response.statusCode >= 500 && !(error instanceof AnswerDeadlineError)) {
    logger.error('Stream failed', { error });
  }
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
      else yield errorEvent(chunk.error, requestId);
    }
  } finally {
    // The middleware published when the response started; what the stream measured goes out now.
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
  MAX_REQUEST_BYTES: envVar.int(1),
  MODEL_PROVIDER: envVar.optionalString(),
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
      recorder: new EventBridgeInteractionRecorder(createEventBridgeClient(), config.EVENT_BUS_NAME),
      ...(config.GUARDRAIL_ID !== undefined && config.GUARDRAIL_VERSION !== undefined
        ? { guardrail: { id: config.GUARDRAIL_ID, version: config.GUARDRAIL_VERSION } }
        : {}),
      sampleRate: config.INTERACTION_SAMPLE_RATE,
      timeoutMs: config.CHAT_TIMEOUT_MS,
    }),
    ensureSeeded: seedOnce(catalog, parseSeed(config.CATALOG_SEED)),
  }),
  { appKeys: parseAppKeys(config.APP_KEYS), maxRequestBytes: config.MAX_REQUEST_BYTES, streaming: true },
);
