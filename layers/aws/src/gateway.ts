import { randomUUID } from 'node:crypto';
import type { ApiCaller } from '#contracts/http/caller.ts';
import type { ChatRequestBody, ChatResponseBody } from '#contracts/http/schemas.ts';
import type { CatalogModel, ModelFeature } from '#contracts/models/catalog.ts';
import type { PromptRef, PromptVersion } from '#contracts/prompts/types.ts';
import { estimateChatTokens } from '#core/models/estimate.ts';
import { assertFitsContext, costUsd, selectModel } from '#core/models/select.ts';
import type {
  ChatRequest,
  ChatResult,
  ChatStreamEvent,
  GuardrailRef,
  ModelProvider,
} from '#core/models/types.ts';
import { parsePromptRef } from '#core/prompts/reference.ts';
import { renderPrompt } from '#core/prompts/template.ts';
import { SCHEMA_VERSION } from '#events/envelope.ts';
import type { InteractionRecordedDetail } from '#events/interaction-recorded.ts';
import { LlmOpsError, ModelProviderError, ThrottledError, ValidationError } from './errors.ts';
import { type InteractionRecorder, isSampled, loggedText, recordSafely } from './interactions.ts';
import { metrics } from './logging.ts';
import { citationsOf, contextBlock, type Retrieval, type Retriever } from './rag/retriever.ts';

/**
 * The model gateway: resolves a prompt reference, renders the template, chooses the model, refuses input
 * that cannot fit its context window, calls the provider (with the guardrail), prices the call from the
 * catalog, emits metrics and records the interaction. One code path for buffered and streamed answers.
 */
export interface GatewayDeps {
  readonly prompts: { get(ref: PromptRef): Promise<PromptVersion> };
  readonly catalog: {
    get(id: string): Promise<CatalogModel>;
    list(filter?: { kind?: 'chat' | 'embedding'; status?: 'active' | 'deprecated' }): Promise<CatalogModel[]>;
  };
  readonly providerFor: (model: CatalogModel) => ModelProvider;
  readonly recorder: InteractionRecorder;
  /** Applied to every Bedrock call when set. */
  readonly guardrail?: GuardrailRef;
  /** Share of calls whose (redacted) payload is logged. */
  readonly sampleRate: number;
  /**
   * Deadline of one answer from the call's start, retrieval and model call (retries included) together:
   * past it the model call is abandoned and the answer fails with `AnswerDeadlineError`.
   */
  readonly timeoutMs: number;
  readonly now?: () => number;
  readonly newId?: () => string;
  /** Retrieval for requests with `rag` (absent: such requests are refused). */
  readonly retriever?: Pick<Retriever, 'retrieve'>;
}

/** The answer when retrieval finds nothing relevant: said plainly, with no model call and nothing invented. */
export const NO_CONTEXT_ANSWER =
  'I could not find anything relevant to this question in the indexed documents, so I cannot answer it from them.';
/** `stopReason` of such an answer. */
export const NO_CONTEXT_STOP_REASON = 'no_relevant_context';

/** Output tokens reserved when neither the request nor the prompt says. */
export const DEFAULT_MAX_TOKENS = 1024;

/** Everything decided before the model is called. */
export interface PreparedChat {
  readonly interactionId: string;
  readonly ref: string;
  readonly prompt: PromptVersion;
  readonly model: CatalogModel;
  readonly request: ChatRequest;
  readonly startedAt: number;
  /** With `rag`: what was retrieved (possibly nothing). */
  readonly retrieval?: Retrieval;
}

/**
 * An answer ran past its deadline (`GatewayDeps.timeoutMs`) and was cut off: a timeout on our side, so
 * a 504 (a `ModelProviderError` that timed out) to anything that does not know this error.
 */
export class AnswerDeadlineError extends ModelProviderError {
  /** The deadline, in milliseconds. */
  readonly deadlineMs: number;
  constructor(deadlineMs: number, options?: { cause?: unknown }) {
    super(`The answer took longer than its deadline of ${deadlineMs} ms`, {
      cause: options?.cause,
      timedOut: true,
    });
    this.deadlineMs = deadlineMs;
  }
}

export type StreamChunk =
  | { readonly type: 'delta'; readonly text: string }
  | { readonly type: 'done'; readonly response: ChatResponseBody }
  | { readonly type: 'error'; readonly error: unknown };

export class ModelGateway {
  private readonly now: () => number;
  private readonly newId: () => string;

  constructor(private readonly deps: GatewayDeps) {
    this.now = deps.now ?? Date.now;
    this.newId = deps.newId ?? randomUUID;
  }

  /** Answers in one response. Every call past validation is recorded, failures included. */
  async chat(body: ChatRequestBody, caller: ApiCaller, requestId: string): Promise<ChatResponseBody> {
    const startedAt = this.now();
    const interactionId = this.newId();
    const deadline = AbortSignal.timeout(this.deps.timeoutMs);
    let prepared: PreparedChat | undefined;
    try {
      prepared = await beforeDeadline(this.prepare(body, interactionId, startedAt, [], deadline), deadline);
      const provider = this.deps.providerFor(prepared.model);
      const modelStart = this.now();
      const result = hasNoContext(prepared)
        ? noContextResult(prepared)
        : await beforeDeadline(provider.chat({ ...prepared.request, signal: deadline }), deadline);
      const response = this.respond(prepared, result);
      await this.finish(prepared, caller, requestId, false, {
        result,
        response,
        modelLatencyMs: this.now() - modelStart,
      });
      return response;
    } catch (error) {
      const failure = this.pastDeadline(deadline, error);
      await this.fail(body, prepared, caller, requestId, false, startedAt, interactionId, failure);
      throw failure;
    }
  }

  /**
   * Answers as a stream: the call is prepared (and refused with a 4xx) before anything is streamed, then
   * deltas, then one `done` with the whole response, or one `error` (`AnswerDeadlineError` once the
   * deadline passes, even if the provider ignores its abort signal).
   */
  async chatStream(
    body: ChatRequestBody,
    caller: ApiCaller,
    requestId: string,
  ): Promise<AsyncGenerator<StreamChunk, void, undefined>> {
    const startedAt = this.now();
    const interactionId = this.newId();
    const deadline = AbortSignal.timeout(this.deps.timeoutMs);
    let prepared: PreparedChat;
    try {
      prepared = await beforeDeadline(
        this.prepare(body, interactionId, startedAt, ['streaming'], deadline),
        deadline,
      );
    } catch (error) {
      const failure = this.pastDeadline(deadline, error);
      await this.fail(body, undefined, caller, requestId, true, startedAt, interactionId, failure);
      throw failure;
    }
    const provider = this.deps.providerFor(prepared.model);
    return this.streamFrom(provider, prepared, body, caller, requestId, deadline);
  }

  /** `error`, or an `AnswerDeadlineError` (caused by it) once the deadline has passed. */
  private pastDeadline(deadline: AbortSignal, error: unknown): unknown {
    if (!deadline.aborted || error instanceof AnswerDeadlineError) return error;
    return new AnswerDeadlineError(this.deps.timeoutMs, { cause: error });
  }

  private async *streamFrom(
    provider: ModelProvider,
    prepared: PreparedChat,
    body: ChatRequestBody,
    caller: ApiCaller,
    requestId: string,
    deadline: AbortSignal,
  ): AsyncGenerator<StreamChunk, void, undefined> {
    const modelStart = this.now();
    const events: AsyncIterable<ChatStreamEvent> = hasNoContext(prepared)
      ? noContextStream(prepared)
      : provider.chatStream({ ...prepared.request, signal: deadline });
    const iterator = events[Symbol.asyncIterator]();
    let exhausted = false;
    try {
      for (;;) {
        // Each event is awaited against the deadline: a provider that ignores its signal cannot hold it.
        const next = await beforeDeadline(iterator.next(), deadline);
        if (next.done === true) {
          exhausted = true;
          break;
        }
        const event = next.value;
        if (event.type === 'delta') {
          yield { type: 'delta', text: event.text };
        } else {
          const response = this.respond(prepared, event.result);
          const modelLatencyMs = this.now() - modelStart;
          exhausted = true;
          // The caller has the whole answer before the interaction is recorded.
          yield { type: 'done', response };
          await this.finish(prepared, caller, requestId, true, {
            result: event.result,
            response,
            modelLatencyMs,
          });
          return;
        }
      }
      throw new ModelProviderError('The model stream ended without a final event');
    } catch (error) {
      exhausted = true;
      closeQuietly(iterator);
      const failure = this.pastDeadline(deadline, error);
      await this.fail(
        body,
        prepared,
        caller,
        requestId,
        true,
        prepared.startedAt,
        prepared.interactionId,
        failure,
      );
      yield { type: 'error', error: failure };
    } finally {
      // The consumer went away mid-stream: stop the model stream too.
      if (!exhausted) closeQuietly(iterator);
    }
  }

  /** Resolves prompt and model, renders, and checks the context window: no token is paid for yet. */
  async prepare(
    body: ChatRequestBody,
    interactionId: string,
    startedAt: number,
    requiredFeatures: ModelFeature[] = [],
    deadline: AbortSignal = AbortSignal.timeout(this.deps.timeoutMs),
  ): Promise<PreparedChat> {
    const ref = parsePromptRef(body.prompt);
    const prompt = await this.deps.prompts.get(ref);
    const retrieval = body.rag !== undefined ? await this.retrieve(body, prompt, deadline) : undefined;
    const rendered = renderPrompt(
      prompt,
      retrieval
        ? {
            ...(body.variables ?? {}),
            context: retrieval.chunks.length > 0 ? contextBlock(retrieval.chunks) : '',
          }
        : (body.variables ?? {}),
    );
    const messages = [...rendered.messages, ...(body.messages ?? [])];
    if (messages.length === 0 || messages[messages.length - 1]?.role !== 'user') {
      throw new ValidationError('messages', 'the conversation must end with a user turn');
    }
    const maxTokensAsked = body.maxTokens ?? prompt.model?.maxTokens;
    const estimatedInput = estimateChatTokens(rendered.system, messages);
    const features: ModelFeature[] = [...requiredFeatures];
    if (rendered.system !== undefined) features.push('systemPrompt');
    const modelId = body.model ?? prompt.model?.id;
    let model: CatalogModel;
    if (modelId !== undefined) {
      model = await this.deps.catalog.get(modelId);
      const field = body.model !== undefined ? 'model' : 'prompt';
      if (model.kind !== 'chat')
        throw new ValidationError(field, `${model.id} is an embedding model, not a chat model`);
      for (const feature of features) {
        if (!model.features.includes(feature)) {
          throw new ValidationError(field, `${model.id} does not support ${feature}`);
        }
      }
    } else {
      const models = await this.deps.catalog.list({ kind: 'chat', status: 'active' });
      model = selectModel(models, {
        kind: 'chat',
        minContextTokens: estimatedInput + (maxTokensAsked ?? DEFAULT_MAX_TOKENS),
        features,
      }).model;
    }
    if (maxTokensAsked !== undefined && maxTokensAsked > model.maxOutputTokens) {
      throw new ValidationError('maxTokens', `must be at most ${model.maxOutputTokens} for ${model.id}`);
    }
    const maxTokens = maxTokensAsked ?? Math.min(DEFAULT_MAX_TOKENS, model.maxOutputTokens);
    assertFitsContext(model, estimatedInput, maxTokens);
    const temperature = body.temperature ?? prompt.model?.temperature;
    const request: ChatRequest = {
      modelId: model.modelId,
      ...(model.inferenceComponent !== undefined ? { inferenceComponent: model.inferenceComponent } : {}),
      ...(rendered.system !== undefined ? { system: rendered.system } : {}),
      messages,
      maxTokens,
      ...(temperature !== undefined ? { temperature } : {}),
      ...(this.deps.guardrail !== undefined && model.provider === 'bedrock'
        ? { guardrail: this.deps.guardrail }
        : {}),
      ...(retrieval && retrieval.chunks.length > 0 ? { context: retrieval.chunks.map((c) => c.text) } : {}),
    };
    return {
      interactionId,
      ref: body.prompt,
      prompt,
      model,
      request,
      startedAt,
      ...(retrieval ? { retrieval } : {}),
    };
  }

  /** Retrieves for a `rag` request: the query is `rag.query`, the last user turn, or the `question` variable. */
  private async retrieve(
    body: ChatRequestBody,
    prompt: PromptVersion,
    deadline: AbortSignal,
  ): Promise<Retrieval> {
    const rag = body.rag ?? {};
    if (this.deps.retriever === undefined) {
      throw new ValidationError('rag', 'retrieval is not available in this deployment');
    }
    if (!Object.hasOwn(prompt.variables, 'context')) {
      throw new ValidationError(
        'rag',
        `prompt ${prompt.name} v${prompt.version} declares no "context" variable to receive the retrieved passages`,
      );
    }
    if (body.variables?.context !== undefined) {
      throw new ValidationError('variables.context', 'is filled from the retrieved passages when rag is set');
    }
    const lastUser = [...(body.messages ?? [])].reverse().find((m) => m.role === 'user')?.content;
    const question = body.variables?.question;
    const query =
      rag.query ??
      lastUser ??
      (typeof question === 'string' && question.trim() !== '' ? question : undefined);
    if (query === undefined) {
      throw new ValidationError(
        'rag.query',
        'is required when the request has neither a user message nor a "question" variable',
      );
    }
    return this.deps.retriever.retrieve({
      query,
      k: rag.k,
      filters: rag.filters,
      hybrid: rag.hybrid,
      minScore: rag.minScore,
      signal: deadline,
    });
  }

  private respond(prepared: PreparedChat, result: ChatResult): ChatResponseBody {
    return {
      interactionId: prepared.interactionId,
      answer: result.text,
      model: { id: prepared.model.id, provider: result.provider, modelId: result.modelId },
      prompt: { name: prepared.prompt.name, version: prepared.prompt.version },
      usage: { ...result.usage, costUsd: costUsd(prepared.model, result.usage) },
      latencyMs: this.now() - prepared.startedAt,
      stopReason: hasNoContext(prepared) ? NO_CONTEXT_STOP_REASON : result.stopReason,
      ...(result.guardrail !== undefined
        ? { guardrail: { ...result.guardrail, policies: [...result.guardrail.policies] } }
        : {}),
      ...(prepared.retrieval ? { citations: citationsOf(prepared.retrieval.chunks) } : {}),
    };
  }

  private async finish(
    prepared: PreparedChat,
    caller: ApiCaller,
    requestId: string,
    stream: boolean,
    outcome: { result: ChatResult; response: ChatResponseBody; modelLatencyMs: number },
  ): Promise<void> {
    const { result, response } = outcome;
    emitCallMetrics(prepared.model.id, prepared.prompt.name, caller.app, {
      latencyMs: response.latencyMs,
      modelLatencyMs: outcome.modelLatencyMs,
      usage: response.usage,
      guardrailPolicies: result.guardrail?.action === 'INTERVENED' ? result.guardrail.policies : [],
    });
    const redactions: Record<string, number> = {};
    const payload = isSampled(prepared.interactionId, this.deps.sampleRate)
      ? {
          system:
            prepared.request.system === undefined ? null : loggedText(prepared.request.system, redactions),
          messages: prepared.request.messages.map((m) => ({
            role: m.role,
            content: loggedText(m.content, redactions),
          })),
          answer: loggedText(result.text, redactions),
          redactions,
        }
      : null;
    await recordSafely(this.deps.recorder, {
      ...this.base(prepared.interactionId, requestId, caller, stream, prepared.startedAt),
      prompt: { name: prepared.prompt.name, version: prepared.prompt.version, ref: prepared.ref },
      model: response.model,
      usage: response.usage,
      modelLatencyMs: outcome.modelLatencyMs,
      status: 'ok',
      errorCode: null,
      stopReason: response.stopReason,
      guardrail: response.guardrail ?? null,
      payload,
      ...retrievalRecord(prepared.retrieval),
    });
  }

  private async fail(
    body: ChatRequestBody,
    prepared: PreparedChat | undefined,
    caller: ApiCaller,
    requestId: string,
    stream: boolean,
    startedAt: number,
    interactionId: string,
    error: unknown,
  ): Promise<void> {
    const status = statusOf(error);
    const modelId = prepared?.model.id ?? 'none';
    const promptName = prepared?.prompt.name ?? body.prompt.split(/[@:]/)[0] ?? 'unknown';
    // Client errors are counted by the HTTP edge; these are the failures on our side or the model's.
    const metric =
      error instanceof AnswerDeadlineError
        ? 'AnswerDeadlineExceeded'
        : { throttled: 'ModelThrottles', provider_error: 'ModelErrors', error: 'Errors' }[
            status as 'throttled' | 'provider_error' | 'error'
          ];
    if (metric !== undefined) {
      const single = metrics.singleMetric();
      single.addDimensions({ Model: modelId, Prompt: promptName, App: caller.app });
      single.addMetric(metric, 'Count', 1);
    }
    await recordSafely(this.deps.recorder, {
      ...this.base(interactionId, requestId, caller, stream, startedAt),
      prompt: prepared
        ? { name: prepared.prompt.name, version: prepared.prompt.version, ref: prepared.ref }
        : null,
      model: prepared
        ? { id: prepared.model.id, provider: prepared.model.provider, modelId: prepared.model.modelId }
        : null,
      usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
      modelLatencyMs: null,
      status,
      errorCode: error instanceof Error ? error.name : 'Error',
      stopReason: null,
      guardrail: null,
      payload: null,
      ...retrievalRecord(prepared?.retrieval),
    });
  }

  private base(
    interactionId: string,
    requestId: string,
    caller: ApiCaller,
    stream: boolean,
    startedAt: number,
  ): Pick<
    InteractionRecordedDetail,
    | 'schemaVersion'
    | 'interactionId'
    | 'occurredAt'
    | 'requestId'
    | 'app'
    | 'tenant'
    | 'route'
    | 'stream'
    | 'latencyMs'
  > {
    return {
      schemaVersion: SCHEMA_VERSION,
      interactionId,
      occurredAt: new Date(startedAt).toISOString(),
      requestId,
      app: caller.app,
      tenant: caller.tenant,
      route: 'chat',
      stream,
      latencyMs: this.now() - startedAt,
    };
  }
}

/** `promise`, or a rejection with the deadline's reason as soon as the deadline passes. */
function beforeDeadline<T>(promise: Promise<T>, deadline: AbortSignal): Promise<T> {
  if (deadline.aborted) {
    promise.catch(() => {});
    return Promise.reject(deadline.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(deadline.reason);
    deadline.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        deadline.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        deadline.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Closes a stream without waiting for it: a provider stuck past the deadline may never settle. */
function closeQuietly(iterator: AsyncIterator<unknown>): void {
  iterator.return?.()?.catch(() => undefined);
}

function hasNoContext(prepared: PreparedChat): boolean {
  return prepared.retrieval !== undefined && prepared.retrieval.chunks.length === 0;
}

function noContextResult(prepared: PreparedChat): ChatResult {
  return {
    text: NO_CONTEXT_ANSWER,
    usage: { inputTokens: 0, outputTokens: 0 },
    stopReason: 'other',
    provider: prepared.model.provider,
    modelId: prepared.model.modelId,
  };
}

async function* noContextStream(prepared: PreparedChat): AsyncGenerator<ChatStreamEvent, void, undefined> {
  yield { type: 'delta', text: NO_CONTEXT_ANSWER };
  yield { type: 'done', result: noContextResult(prepared) };
}

/** What the interaction record keeps of a retrieval: ids and scores (never the passages' text). */
function retrievalRecord(retrieval: Retrieval | undefined): Pick<InteractionRecordedDetail, 'retrieval'> {
  if (retrieval === undefined) return {};
  return {
    retrieval: {
      vectorStore: retrieval.vectorStore,
      k: retrieval.k,
      hybrid: retrieval.hybrid,
      minScore: retrieval.minScore,
      embeddingModel: retrieval.embedding.modelId,
      chunks: retrieval.chunks.map((c) => ({
        docId: c.docId,
        chunkId: c.chunkId,
        docVersion: c.docVersion,
        score: c.score,
        similarity: c.similarity,
      })),
    },
  };
}

function statusOf(error: unknown): InteractionRecordedDetail['status'] {
  if (error instanceof ThrottledError) return 'throttled';
  if (error instanceof ModelProviderError) return 'provider_error';
  if (error instanceof LlmOpsError && error.expose) return 'client_error';
  return 'error';
}

/**
 * EMF metrics of one successful call, by model, prompt and app; guardrail interventions by policy.
 * Dimensions are added to the shared instance, which the middleware (or the stream's end) publishes.
 */
export function emitCallMetrics(
  model: string,
  prompt: string,
  app: string,
  values: {
    latencyMs: number;
    modelLatencyMs: number;
    usage: { inputTokens: number; outputTokens: number; costUsd: number };
    guardrailPolicies: readonly string[];
  },
): void {
  metrics.addDimensions({ Model: model, Prompt: prompt, App: app });
  metrics.addMetric('Requests', 'Count', 1);
  metrics.addMetric('Latency', 'Milliseconds', values.latencyMs);
  metrics.addMetric('ModelLatency', 'Milliseconds', values.modelLatencyMs);
  metrics.addMetric('InputTokens', 'Count', values.usage.inputTokens);
  metrics.addMetric('OutputTokens', 'Count', values.usage.outputTokens);
  metrics.addMetric('CostUsd', 'None', values.usage.costUsd);
  for (const policy of values.guardrailPolicies) {
    const single = metrics.singleMetric();
    single.addDimensions({ Model: model, Policy: policy });
    single.addMetric('GuardrailInterventions', 'Count', 1);
  }
}
