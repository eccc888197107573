/**
 * SageMaker real-time endpoints behind the `ModelProvider` interface, for containers that serve the
 * Messages API (TGI, LMI/vLLM: the OpenAI chat-completions schema). The endpoint name is the model id;
 * an inference component selects the model on a shared endpoint. Streaming reads server-sent events
 * from InvokeEndpointWithResponseStream. The guardrail is not attached to these calls: the gateway applies
 * it around them (ApplyGuardrail on the caller's input and on the answer, window by window when streamed).
 * Retrieved passages are delimited as data, as for Bedrock. A component scaled to zero ("no capacity")
 * fails at once with `ModelCapacityError`, which the gateway answers with the model's fallback or a 503.
 */

import {
  InvokeEndpointCommand,
  InvokeEndpointWithResponseStreamCommand,
  type ResponseStream,
  SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';
import { estimateChatTokens, estimateTokens } from '#core/models/estimate.ts';
import type {
  ChatRequest,
  ChatResult,
  ChatStreamEvent,
  EmbedResult,
  ModelProvider,
  StopReason,
  TokenUsage,
} from '#core/models/types.ts';
import { DEFAULT_CAPACITY_RETRY_AFTER_SECONDS, ModelCapacityError, ModelProviderError } from '../errors.ts';
import { passagesBlock } from '../rag/retriever.ts';
import { withSdkCallHooks } from '../sdk-call-hooks.ts';
import { PROVIDER_CLIENT_CONFIG } from './clients.ts';
import { type RetryOptions, withRetry, withRetryUntilOutput } from './retry.ts';

const LABEL = 'SageMaker';

/**
 * Whether an InvokeEndpoint failure says that the inference component has no capacity: a
 * `ValidationError` ("Inference Component has no capacity to process this request") while its copies
 * are scaled to zero. Matched loosely (case, wording around it) and in linear time.
 */
export function isNoCapacityError(error: unknown): boolean {
  const { name, message } = (error ?? {}) as { name?: unknown; message?: unknown };
  if (name !== 'ValidationError' && name !== 'ValidationException') return false;
  const text = typeof message === 'string' ? message.toLowerCase() : '';
  return (
    text.includes('no capacity') &&
    (text.includes('inference component') || text.includes('process this request'))
  );
}

export interface SageMakerProviderOptions {
  readonly client: SageMakerRuntimeClient;
  /** Backoff, attempts and attempt timeout; the caller's signal comes from each request. */
  readonly retry?: Omit<RetryOptions, 'signal' | 'label'>;
  /**
   * `retryAfterSeconds` of a {@link ModelCapacityError} (the gateway may set its own).
   * @default DEFAULT_CAPACITY_RETRY_AFTER_SECONDS
   */
  readonly capacityRetryAfterSeconds?: number;
}

/** One chat-completions message. */
interface WireMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/** The chat-completions request body for a chat request. */
export function messagesBody(request: ChatRequest, stream: boolean): Record<string, unknown> {
  const system = [
    ...(request.system === undefined || request.system === '' ? [] : [request.system]),
    ...(request.context !== undefined && request.context.length > 0
      ? [
          `Answer from these passages; say so if they do not contain the answer.\n\n${passagesBlock(
            request.context.map((text) => ({ text })),
          )}`,
        ]
      : []),
  ].join('\n\n');
  const messages: WireMessage[] = [
    ...(system === '' ? [] : [{ role: 'system' as const, content: system }]),
    ...request.messages.map((m) => ({ role: m.role, content: m.content })),
  ];
  return {
    messages,
    ...(request.maxTokens === undefined ? {} : { max_tokens: request.maxTokens }),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(request.topP === undefined ? {} : { top_p: request.topP }),
    ...(request.stopSequences === undefined ? {} : { stop: [...request.stopSequences] }),
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  };
}

const FINISH_REASONS: Readonly<Record<string, StopReason>> = {
  stop: 'end_turn',
  eos_token: 'end_turn',
  end_turn: 'end_turn',
  length: 'max_tokens',
  stop_sequence: 'stop_sequence',
  content_filter: 'content_filtered',
};

/** Maps a chat-completions `finish_reason` to the contract's stop reason. */
export function mapFinishReason(reason: unknown): StopReason {
  return (typeof reason === 'string' && FINISH_REASONS[reason]) || 'other';
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function firstChoice(payload: Record<string, unknown>): Record<string, unknown> | undefined {
  const choices = payload.choices;
  return Array.isArray(choices) ? record(choices[0]) : undefined;
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function usageOf(request: ChatRequest, text: string, usage: unknown): TokenUsage {
  const u = record(usage);
  let estimatedInput = estimateChatTokens(request.system, request.messages);
  for (const passage of request.context ?? []) estimatedInput += estimateTokens(passage);
  return {
    inputTokens: count(u?.prompt_tokens) ?? estimatedInput,
    outputTokens: count(u?.completion_tokens) ?? estimateTokens(text),
  };
}

/** A model-server error reported in the body (TGI sends `{"error": ...}`), shaped like SageMaker's ModelError. */
function modelError(payload: Record<string, unknown>): Error | undefined {
  if (payload.error === undefined) return undefined;
  const detail = record(payload.error);
  const message =
    typeof payload.error === 'string' ? payload.error : String(detail?.message ?? 'model error');
  return Object.assign(new Error(message), { name: 'ModelError', OriginalMessage: message });
}

function parseJson(bytes: Uint8Array | string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof bytes === 'string' ? bytes : new TextDecoder().decode(bytes));
  } catch (error) {
    throw new ModelProviderError(`${LABEL} returned an unreadable answer`, { cause: error });
  }
  const payload = record(parsed);
  if (payload === undefined)
    throw new ModelProviderError(`${LABEL} returned an answer in an unexpected shape`);
  return payload;
}

/**
 * The JSON payloads of a server-sent-event stream carried in PayloadParts. A line may be split across
 * parts (and a character across bytes), so bytes are decoded in streaming mode and only whole lines are
 * parsed. Stops at `data: [DONE]`; bare JSON lines (JSON Lines output) are accepted too.
 */
export async function* sseEvents(
  parts: AsyncIterable<ResponseStream>,
): AsyncGenerator<Record<string, unknown>> {
  const decoder = new TextDecoder();
  let buffer = '';
  const parseLine = (raw: string): Record<string, unknown> | 'done' | undefined => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const data = line.startsWith('data:') ? line.slice(5).trim() : line.startsWith('{') ? line : '';
    if (data === '') return undefined;
    if (data === '[DONE]') return 'done';
    const payload = parseJson(data);
    const error = modelError(payload);
    if (error !== undefined) throw error;
    return payload;
  };
  for await (const part of parts) {
    const failure = part.ModelStreamError ?? part.InternalStreamFailure;
    if (failure !== undefined) {
      const name = part.ModelStreamError === undefined ? 'InternalStreamFailure' : 'ModelStreamError';
      throw failure instanceof Error ? failure : Object.assign(new Error(name), { name });
    }
    const bytes = part.PayloadPart?.Bytes;
    if (bytes === undefined) continue;
    buffer += decoder.decode(bytes, { stream: true });
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      const parsed = parseLine(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
      if (parsed === 'done') return;
      if (parsed !== undefined) yield parsed;
      newline = buffer.indexOf('\n');
    }
  }
  const parsed = parseLine(buffer + decoder.decode());
  if (parsed !== undefined && parsed !== 'done') yield parsed;
}

function deltaText(chunk: Record<string, unknown>): string {
  const content = record(firstChoice(chunk)?.delta)?.content;
  return typeof content === 'string' ? content : '';
}

/** A SageMaker endpoint serving the Messages API, as a `ModelProvider` (chat and streaming chat). */
export class SageMakerProvider implements ModelProvider {
  readonly name = 'sagemaker' as const;
  readonly #client: SageMakerRuntimeClient;
  readonly #retry: Omit<RetryOptions, 'signal' | 'label'>;
  readonly #capacityRetryAfterSeconds: number;

  constructor(options: SageMakerProviderOptions) {
    this.#client = options.client;
    this.#retry = options.retry ?? {};
    this.#capacityRetryAfterSeconds =
      options.capacityRetryAfterSeconds ?? DEFAULT_CAPACITY_RETRY_AFTER_SECONDS;
  }

  /**
   * Sends a call; a no-capacity failure becomes a {@link ModelCapacityError} (which the backoff never
   * retries: it is neither throttling nor transient), anything else stays as it is.
   */
  async #send<T>(request: ChatRequest, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      if (!isNoCapacityError(error)) throw error;
      const where = request.inferenceComponent ?? request.modelId;
      throw new ModelCapacityError(where, this.#capacityRetryAfterSeconds, { cause: error });
    }
  }

  #endpoint(request: ChatRequest, stream: boolean) {
    return {
      EndpointName: request.modelId,
      ...(request.inferenceComponent === undefined
        ? {}
        : { InferenceComponentName: request.inferenceComponent }),
      ContentType: 'application/json',
      Accept: 'application/json',
      Body: JSON.stringify(messagesBody(request, stream)),
    };
  }

  async chat(request: ChatRequest): Promise<ChatResult> {
    const input = this.#endpoint(request, false);
    const response = await withRetry(
      (abortSignal) =>
        this.#send(request, () => this.#client.send(new InvokeEndpointCommand(input), { abortSignal })),
      { ...this.#retry, signal: request.signal, label: LABEL },
    );
    const payload = parseJson(response.Body);
    const error = modelError(payload);
    if (error !== undefined) throw new ModelProviderError(`${LABEL} failed to answer`, { cause: error });
    const choice = firstChoice(payload);
    const content = record(choice?.message)?.content;
    if (typeof content !== 'string') {
      throw new ModelProviderError(`${LABEL} returned an answer in an unexpected shape`);
    }
    return {
      text: content,
      usage: usageOf(request, content, payload.usage),
      stopReason: mapFinishReason(choice?.finish_reason),
      provider: 'sagemaker',
      modelId: request.modelId,
    };
  }

  async *chatStream(request: ChatRequest): AsyncGenerator<ChatStreamEvent> {
    const input = this.#endpoint(request, true);
    const chunks = await withRetryUntilOutput(
      async (abortSignal) => {
        const response = await this.#send(request, () =>
          this.#client.send(new InvokeEndpointWithResponseStreamCommand(input), { abortSignal }),
        );
        if (response.Body === undefined) throw new ModelProviderError(`${LABEL} returned no stream`);
        return sseEvents(response.Body);
      },
      (chunk) => (deltaText(chunk) === '' ? 'other' : 'output'),
      { ...this.#retry, signal: request.signal, label: LABEL },
    );
    let text = '';
    let stopReason: StopReason = 'other';
    let usage: unknown;
    for await (const chunk of chunks) {
      const delta = deltaText(chunk);
      if (delta !== '') {
        text += delta;
        yield { type: 'delta', text: delta };
      }
      const finish = firstChoice(chunk)?.finish_reason;
      if (finish !== undefined && finish !== null) stopReason = mapFinishReason(finish);
      if (record(chunk.usage) !== undefined) usage = chunk.usage;
    }
    const result: ChatResult = {
      text,
      usage: usageOf(request, text, usage),
      stopReason,
      provider: 'sagemaker',
      modelId: request.modelId,
    };
    yield { type: 'done', result };
  }

  /** Not supported: embeddings come from a Bedrock embedding model. */
  async embed(): Promise<EmbedResult> {
    throw new ModelProviderError('SageMaker embeddings are not supported; use a Bedrock embedding model');
  }
}

/** A SageMaker Runtime client for InvokeEndpoint and InvokeEndpointWithResponseStream (one attempt per call). */
export function createSageMakerRuntimeClient(): SageMakerRuntimeClient {
  return withSdkCallHooks(new SageMakerRuntimeClient(PROVIDER_CLIENT_CONFIG));
}
