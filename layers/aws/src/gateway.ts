import { randomUUID } from 'node:crypto';
import type { ApiCaller } from '#contracts/http/caller.ts';
import type { GatewayChatInput, GatewayChatResponse } from '#contracts/http/schemas.ts';
import type { CatalogModel, ModelFeature } from '#contracts/models/catalog.ts';
import { BLOCKED_INPUT_MESSAGE, BLOCKED_OUTPUT_MESSAGE } from '#contracts/models/guardrail.ts';
import type { PromptRef, PromptVersion } from '#contracts/prompts/types.ts';
import { AccessPolicy } from '#core/access/policy.ts';
import { type CompactEmbedding, encodeEmbedding } from '#core/drift/compact-embedding.ts';
import { splitConversation, withContext } from '#core/models/conversation.ts';
import { estimateChatTokens, estimateTokens } from '#core/models/estimate.ts';
import { assertFitsContext, costUsd, selectModel } from '#core/models/select.ts';
import type {
  ChatRequest,
  ChatResult,
  ChatStreamEvent,
  ContentGuard,
  GuardrailRef,
  GuardVerdict,
  ModelProvider,
  ProviderName,
} from '#core/models/types.ts';
import { parsePromptRef } from '#core/prompts/reference.ts';
import { placeholders, renderPrompt } from '#core/prompts/template.ts';
import { SCHEMA_VERSION } from '#events/envelope.ts';
import type { InteractionRecordedDetail } from '#events/interaction-recorded.ts';
import { LlmOpsError, ModelProviderError, ThrottledError, ValidationError } from './errors.ts';
import { type InteractionRecorder, isSampled, loggedText, recordSafely } from './interactions.ts';
import { logger, metrics } from './logging.ts';
import { citationsOf, contextBlock, type Retrieval, type Retriever } from './rag/retriever.ts';
import type { TokenBudget } from './token-budget.ts';

/**
 * The model gateway: resolves a prompt reference, renders the template, chooses the model, refuses input
 * that cannot fit its context window, puts the caller's text through the content guard's input policy,
 * calls the provider (with the guardrail; otherwise the answer goes through the guard's output policy),
 * prices the call from the catalog, emits metrics and records the interaction. One code path for
 * buffered and streamed answers.
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
  /**
   * The content policy the gateway applies itself, whatever the provider: every caller-supplied text
   * through its input policy before any model call, and the answers of calls that carry no guardrail
   * (SageMaker, offline) through its output policy. Absent: neither check.
   */
  readonly guard?: ContentGuard;
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
  /**
   * Each app's daily token budget (`access.tokensPerDay`): checked before a call, charged with the
   * call's tokens after it. Absent: no budget is kept.
   */
  readonly budget?: Pick<TokenBudget, 'assertWithinBudget' | 'consume'>;
}

/** The answer when retrieval finds nothing relevant: said plainly, with no model call and nothing invented. */
export const NO_CONTEXT_ANSWER =
  'I could not find anything relevant to this question in the indexed documents, so I cannot answer it from them.';
/** `stopReason` of such an answer. */
export const NO_CONTEXT_STOP_REASON = 'no_relevant_context';

/** Output tokens reserved when neither the request nor the prompt says. */
export const DEFAULT_MAX_TOKENS = 1024;

/** The `Prompt` metrics dimension of a raw chat (no versioned prompt). */
export const NO_PROMPT = '(none)';

/** Everything decided before the model is called. */
export interface PreparedChat {
  readonly interactionId: string;
  /** The prompt reference asked for; null for a raw chat. */
  readonly ref: string | null;
  /** The rendered prompt version; null for a raw chat. */
  readonly prompt: PromptVersion | null;
  /** The route the interaction is recorded under. */
  readonly route: NonNullable<GatewayChatInput['route']>;
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
  /** First, once the call is prepared: the interaction and the catalog model answering. */
  | { readonly type: 'start'; readonly interactionId: string; readonly model: string }
  | { readonly type: 'delta'; readonly text: string }
  | { readonly type: 'done'; readonly response: GatewayChatResponse }
  | { readonly type: 'error'; readonly error: unknown };

export class ModelGateway {
  private readonly now: () => number;
  private readonly newId: () => string;

  constructor(private readonly deps: GatewayDeps) {
    this.now = deps.now ?? Date.now;
    this.newId = deps.newId ?? randomUUID;
  }

  /** Answers in one response. Every call past validation is recorded, failures included. */
  async chat(body: GatewayChatInput, caller: ApiCaller, requestId: string): Promise<GatewayChatResponse> {
    const startedAt = this.now();
    const interactionId = this.newId();
    const deadline = AbortSignal.timeout(this.deps.timeoutMs);
    let prepared: PreparedChat | undefined;
    try {
      prepared = await beforeDeadline(
        this.prepare(body, caller, interactionId, startedAt, [], deadline),
        deadline,
      );
      const provider = this.deps.providerFor(prepared.model);
      const blocked = await this.checkInput(body, prepared, provider, deadline);
      const modelStart = this.now();
      const result = blocked ?? (await this.answer(provider, prepared, deadline));
      const response = this.respond(prepared, result, blocked !== undefined);
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
    body: GatewayChatInput,
    caller: ApiCaller,
    requestId: string,
  ): Promise<AsyncGenerator<StreamChunk, void, undefined>> {
    const startedAt = this.now();
    const interactionId = this.newId();
    const deadline = AbortSignal.timeout(this.deps.timeoutMs);
    let prepared: PreparedChat;
    try {
      prepared = await beforeDeadline(
        this.prepare(body, caller, interactionId, startedAt, ['streaming'], deadline),
        deadline,
      );
    } catch (error) {
      const failure = this.pastDeadline(deadline, error);
      await this.fail(body, undefined, caller, requestId, true, startedAt, interactionId, failure);
      throw failure;
    }
    const provider = this.deps.providerFor(prepared.model);
    let blocked: ChatResult | undefined;
    try {
      blocked = await this.checkInput(body, prepared, provider, deadline);
    } catch (error) {
      const failure = this.pastDeadline(deadline, error);
      await this.fail(body, prepared, caller, requestId, true, startedAt, interactionId, failure);
      throw failure;
    }
    return this.streamFrom(provider, prepared, body, caller, requestId, deadline, blocked);
  }

  /** `error`, or an `AnswerDeadlineError` (caused by it) once the deadline has passed. */
  private pastDeadline(deadline: AbortSignal, error: unknown): unknown {
    if (!deadline.aborted || error instanceof AnswerDeadlineError) return error;
    return new AnswerDeadlineError(this.deps.timeoutMs, { cause: error });
  }

  /**
   * The content guard's input policy over every caller-supplied text ({@link callerTexts}), before any
   * model call: when it intervenes, the answer (the policy's message; the model is never called), else
   * undefined. A guard that fails fails the request: nothing unchecked reaches a model.
   */
  private async checkInput(
    body: GatewayChatInput,
    prepared: PreparedChat,
    provider: ModelProvider,
    deadline: AbortSignal,
  ): Promise<ChatResult | undefined> {
    const guard = this.deps.guard;
    if (guard === undefined) return undefined;
    const verdict = await beforeDeadline(guard.checkInput(callerTexts(body, prepared), deadline), deadline);
    return verdict.action === 'INTERVENED' ? blockedResult(prepared, provider.name, verdict) : undefined;
  }

  /**
   * The guard that checks a call's answer: the gateway's, unless the call carries the Bedrock guardrail
   * itself (whose output filters and grounding check then apply in the call).
   */
  private outputGuard(provider: ModelProvider, prepared: PreparedChat): ContentGuard | undefined {
    const carried = provider.name === 'bedrock' && prepared.request.guardrail !== undefined;
    return carried ? undefined : this.deps.guard;
  }

  /** The answer in one piece: the no-context answer, or the model's, through the output policy if due. */
  private async answer(
    provider: ModelProvider,
    prepared: PreparedChat,
    deadline: AbortSignal,
  ): Promise<ChatResult> {
    if (hasNoContext(prepared)) return noContextResult(prepared);
    const result = await beforeDeadline(provider.chat({ ...prepared.request, signal: deadline }), deadline);
    const guard = this.outputGuard(provider, prepared);
    if (guard === undefined) return result;
    const verdict = await beforeDeadline(guard.checkOutput(result.text, deadline), deadline);
    return verdict.action === 'INTERVENED' ? withheld(result, '', verdict) : result;
  }

  /** The model's stream, through the output policy in windows when the call carries no guardrail. */
  private modelStream(
    provider: ModelProvider,
    prepared: PreparedChat,
    deadline: AbortSignal,
  ): AsyncIterable<ChatStreamEvent> {
    const events = provider.chatStream({ ...prepared.request, signal: deadline });
    const guard = this.outputGuard(provider, prepared);
    return guard === undefined ? events : checkedStream(events, guard, prepared, provider.name, deadline);
  }

  private async *streamFrom(
    provider: ModelProvider,
    prepared: PreparedChat,
    body: GatewayChatInput,
    caller: ApiCaller,
    requestId: string,
    deadline: AbortSignal,
    blocked?: ChatResult,
  ): AsyncGenerator<StreamChunk, void, undefined> {
    const modelStart = this.now();
    let events: AsyncIterable<ChatStreamEvent>;
    if (blocked !== undefined) events = resultStream(blocked);
    else if (hasNoContext(prepared)) events = noContextStream(prepared);
    else events = this.modelStream(provider, prepared, deadline);
    const iterator = events[Symbol.asyncIterator]();
    let exhausted = false;
    try {
      yield { type: 'start', interactionId: prepared.interactionId, model: prepared.model.id };
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
          const response = this.respond(prepared, event.result, blocked !== undefined);
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
    body: GatewayChatInput,
    caller: Pick<ApiCaller, 'app' | 'access'>,
    interactionId: string,
    startedAt: number,
    requiredFeatures: ModelFeature[] = [],
    deadline: AbortSignal = AbortSignal.timeout(this.deps.timeoutMs),
  ): Promise<PreparedChat> {
    // What the app may use, checked before anything is read or paid for.
    const policy = AccessPolicy.forCaller(caller);
    const ref = body.prompt === undefined ? undefined : parsePromptRef(body.prompt);
    if (ref === undefined) policy.assertRawChat();
    else policy.assertPrompt(ref.name);
    if (body.model !== undefined) policy.assertModel(body.model);
    await this.deps.budget?.assertWithinBudget(caller.app, caller.access);
    // Without a prompt (a raw chat), the system turns are the system instructions.
    const prompt = ref === undefined ? null : await this.deps.prompts.get(ref);
    if (prompt === null && body.variables !== undefined) {
      throw new ValidationError('variables', 'fill the variables of a prompt: name the prompt too');
    }
    const turns = splitConversation(body.messages ?? [], { withPrompt: prompt !== null });
    const retrieval =
      body.rag !== undefined ? await this.retrieve(body, prompt, policy, deadline) : undefined;
    const context = retrieval && retrieval.chunks.length > 0 ? contextBlock(retrieval.chunks) : '';
    const rendered =
      prompt === null
        ? { system: retrieval ? withContext(turns.system, context) : turns.system, messages: [] }
        : renderPrompt(prompt, retrieval ? { ...(body.variables ?? {}), context } : (body.variables ?? {}));
    const messages = [...rendered.messages, ...turns.messages];
    if (messages.length === 0 || messages[messages.length - 1]?.role !== 'user') {
      throw new ValidationError('messages', 'the conversation must end with a user turn');
    }
    const maxTokensAsked = body.maxTokens ?? prompt?.model?.maxTokens;
    const estimatedInput = estimateChatTokens(rendered.system, messages);
    const features: ModelFeature[] = [...requiredFeatures];
    if (rendered.system !== undefined) features.push('systemPrompt');
    const modelId = body.model ?? prompt?.model?.id;
    let model: CatalogModel;
    if (modelId !== undefined) {
      // A prompt's own model is the app's to use only if its allowlist says so (the caller's was checked).
      if (body.model === undefined) policy.assertModel(modelId);
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
      const models = policy.selectableModels(
        await this.deps.catalog.list({ kind: 'chat', status: 'active' }),
      );
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
    const temperature = body.temperature ?? prompt?.model?.temperature;
    const request: ChatRequest = {
      modelId: model.modelId,
      ...(model.inferenceComponent !== undefined ? { inferenceComponent: model.inferenceComponent } : {}),
      ...(rendered.system !== undefined ? { system: rendered.system } : {}),
      messages,
      maxTokens,
      ...(temperature !== undefined ? { temperature } : {}),
      ...(body.topP !== undefined ? { topP: body.topP } : {}),
      ...(body.stop !== undefined && body.stop.length > 0 ? { stopSequences: body.stop } : {}),
      ...(this.deps.guardrail !== undefined && model.provider === 'bedrock'
        ? { guardrail: this.deps.guardrail }
        : {}),
      ...(retrieval && retrieval.chunks.length > 0 ? { context: retrieval.chunks.map((c) => c.text) } : {}),
    };
    return {
      interactionId,
      ref: body.prompt ?? null,
      prompt,
      route: body.route ?? 'chat',
      model,
      request,
      startedAt,
      ...(retrieval ? { retrieval } : {}),
    };
  }

  /** Retrieves for a `rag` request: the query is `rag.query`, the last user turn, or the `question` variable. */
  private async retrieve(
    body: GatewayChatInput,
    prompt: PromptVersion | null,
    policy: AccessPolicy,
    deadline: AbortSignal,
  ): Promise<Retrieval> {
    const rag = body.rag ?? {};
    const collections = policy.retrievalCollections(rag.filters);
    if (this.deps.retriever === undefined) {
      throw new ValidationError('rag', 'retrieval is not available in this deployment');
    }
    if (prompt !== null && !Object.hasOwn(prompt.variables, 'context')) {
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
      ...(collections !== undefined ? { collections } : {}),
      signal: deadline,
    });
  }

  /** The response for a result; `inputBlocked`: the guard refused the request (no citations then). */
  private respond(prepared: PreparedChat, result: ChatResult, inputBlocked = false): GatewayChatResponse {
    return {
      interactionId: prepared.interactionId,
      answer: result.text,
      model: { id: prepared.model.id, provider: result.provider, modelId: result.modelId },
      prompt: prepared.prompt && { name: prepared.prompt.name, version: prepared.prompt.version },
      usage: { ...result.usage, costUsd: costUsd(prepared.model, result.usage) },
      latencyMs: this.now() - prepared.startedAt,
      stopReason: hasNoContext(prepared) && !inputBlocked ? NO_CONTEXT_STOP_REASON : result.stopReason,
      ...(result.guardrail !== undefined
        ? { guardrail: { ...result.guardrail, policies: [...result.guardrail.policies] } }
        : {}),
      ...(prepared.retrieval && !inputBlocked ? { citations: citationsOf(prepared.retrieval.chunks) } : {}),
    };
  }

  private async finish(
    prepared: PreparedChat,
    caller: ApiCaller,
    requestId: string,
    stream: boolean,
    outcome: { result: ChatResult; response: GatewayChatResponse; modelLatencyMs: number },
  ): Promise<void> {
    const { result, response } = outcome;
    // Charged whatever the answer was: the tokens were spent (never throws).
    await this.deps.budget?.consume(caller.app, response.usage.inputTokens + response.usage.outputTokens);
    emitCallMetrics(prepared.model.id, prepared.prompt?.name ?? NO_PROMPT, caller.app, {
      latencyMs: response.latencyMs,
      modelLatencyMs: outcome.modelLatencyMs,
      usage: response.usage,
      guardrailPolicies: result.guardrail?.action === 'INTERVENED' ? result.guardrail.policies : [],
    });
    const redactions: Record<string, number> = {};
    const sampled = isSampled(prepared.interactionId, this.deps.sampleRate);
    const payload = sampled
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
      ...interactionBase(
        prepared.interactionId,
        requestId,
        caller,
        stream,
        prepared.startedAt,
        prepared.route,
        this.now(),
      ),
      prompt: promptRecord(prepared),
      model: response.model,
      usage: response.usage,
      modelLatencyMs: outcome.modelLatencyMs,
      status: 'ok',
      errorCode: null,
      stopReason: response.stopReason,
      guardrail: response.guardrail ?? null,
      payload,
      ...retrievalRecord(prepared.retrieval, sampled),
    });
  }

  private async fail(
    body: GatewayChatInput,
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
    const promptName = prepared?.prompt?.name ?? body.prompt?.split(/[@:]/)[0] ?? NO_PROMPT;
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
      ...interactionBase(
        interactionId,
        requestId,
        caller,
        stream,
        startedAt,
        body.route ?? 'chat',
        this.now(),
      ),
      prompt: prepared ? promptRecord(prepared) : null,
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
      ...retrievalRecord(prepared?.retrieval, false),
    });
  }
}

/** The fields that open every interaction record, chat or embeddings. */
export type InteractionBase = Pick<
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
>;

/** Who called, when, through which route, and how long the whole call took (from `startedAt` to `endedAt`). */
export function interactionBase(
  interactionId: string,
  requestId: string,
  caller: ApiCaller,
  stream: boolean,
  startedAt: number,
  route: InteractionRecordedDetail['route'],
  endedAt: number,
): InteractionBase {
  return {
    schemaVersion: SCHEMA_VERSION,
    interactionId,
    occurredAt: new Date(startedAt).toISOString(),
    requestId,
    app: caller.app,
    tenant: caller.tenant,
    route,
    stream,
    latencyMs: endedAt - startedAt,
  };
}

/** `promise`, or a rejection with the deadline's reason as soon as the deadline passes. */
export function beforeDeadline<T>(promise: Promise<T>, deadline: AbortSignal): Promise<T> {
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

/**
 * Characters of a streamed answer released at once after the output policy passed them, for calls
 * that carry no guardrail (a window ends at a blank near this size, so words stay whole).
 */
export const OUTPUT_CHECK_WINDOW_CHARS = 1000;

/**
 * Every caller-supplied text of a request, for the input policy: each turn (user, assistant and, in a
 * raw chat, system turns: the caller writes them all, so a forged assistant turn is checked too), each
 * variable value (strings as they are, JSON values as they render), `rag.query`, and the system
 * prompt when caller variables were rendered into it (without the retrieved passages, which are data
 * from the index, not from the caller).
 */
export function callerTexts(body: GatewayChatInput, prepared: PreparedChat): string[] {
  const texts = (body.messages ?? []).map((m) => m.content);
  for (const value of Object.values(body.variables ?? {})) {
    if (typeof value === 'string') texts.push(value);
    else if (typeof value === 'object' && value !== null) texts.push(JSON.stringify(value));
  }
  if (typeof body.rag?.query === 'string') texts.push(body.rag.query);
  const system = systemFromCaller(body, prepared);
  if (system !== undefined) texts.push(system);
  return texts;
}

/** A prompt's rendered system prompt when a caller variable fills one of its placeholders. */
function systemFromCaller(body: GatewayChatInput, prepared: PreparedChat): string | undefined {
  const prompt = prepared.prompt;
  if (prompt === null || prepared.request.system === undefined) return undefined;
  const values = body.variables ?? {};
  const filled = prompt.messages
    .filter((m) => m.role === 'system')
    .some((m) =>
      placeholders(m.content).some((name) => Object.hasOwn(values, name) && values[name] !== undefined),
    );
  if (!filled) return undefined;
  if (prepared.retrieval === undefined) return prepared.request.system;
  return renderPrompt(prompt, { ...values, context: '' }).system;
}

/** The answer to a request the input policy refused: its message, no tokens, no model call. */
function blockedResult(prepared: PreparedChat, provider: ProviderName, verdict: GuardVerdict): ChatResult {
  return {
    text: verdict.replacement ?? BLOCKED_INPUT_MESSAGE,
    usage: { inputTokens: 0, outputTokens: 0 },
    stopReason: 'guardrail_intervened',
    provider,
    modelId: prepared.model.modelId,
    guardrail: { action: 'INTERVENED', policies: [...verdict.policies] },
  };
}

/** A result whose answer the output policy withheld after `released` (what the caller already has). */
function withheld(result: ChatResult, released: string, verdict: GuardVerdict): ChatResult {
  const policies = new Set([...(result.guardrail?.policies ?? []), ...verdict.policies]);
  return {
    ...result,
    text: released + (verdict.replacement ?? BLOCKED_OUTPUT_MESSAGE),
    stopReason: 'guardrail_intervened',
    guardrail: { action: 'INTERVENED', policies: [...policies].sort() },
  };
}

/** Where the next window of `pending` ends: after the last blank in its second half, else at `size`. */
function windowEnd(pending: string, size: number): number {
  for (let i = size - 1; i >= size / 2; i--) {
    const c = pending.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) return i + 1;
  }
  // Never between the two halves of a surrogate pair.
  const high = pending.charCodeAt(size - 1);
  return high >= 0xd800 && high <= 0xdbff ? size - 1 : size;
}

/**
 * A model stream whose text is held back and released in windows of about
 * {@link OUTPUT_CHECK_WINDOW_CHARS} characters, each once the output policy passed it on its own (the
 * rest at the end). When the policy intervenes, the replacement is sent instead of the window, the model
 * stream is closed, and the answer ends with `guardrail_intervened`.
 */
async function* checkedStream(
  events: AsyncIterable<ChatStreamEvent>,
  guard: ContentGuard,
  prepared: PreparedChat,
  provider: ProviderName,
  deadline: AbortSignal,
): AsyncGenerator<ChatStreamEvent, void, undefined> {
  let pending = '';
  let released = '';
  let generated = '';
  let ending: ChatStreamEvent[] = [];
  // Leaving this loop early closes the model stream before the replacement is sent: nothing more is
  // generated (nor paid for) for a withheld answer.
  stream: for await (const event of events) {
    if (event.type === 'done') {
      const verdict = pending === '' ? undefined : await guard.checkOutput(pending, deadline);
      if (verdict?.action === 'INTERVENED') {
        ending = replaced(withheld(event.result, released, verdict), released);
        break;
      }
      ending = [...(pending === '' ? [] : [{ type: 'delta' as const, text: pending }]), event];
      break;
    }
    pending += event.text;
    generated += event.text;
    while (pending.length >= OUTPUT_CHECK_WINDOW_CHARS) {
      const window = pending.slice(0, windowEnd(pending, OUTPUT_CHECK_WINDOW_CHARS));
      const verdict = await guard.checkOutput(window, deadline);
      if (verdict.action === 'INTERVENED') {
        const { request } = prepared;
        const cut: ChatResult = {
          text: generated,
          usage: {
            inputTokens: estimateChatTokens(request.system, request.messages),
            outputTokens: estimateTokens(generated),
          },
          stopReason: 'guardrail_intervened',
          provider,
          modelId: request.modelId,
        };
        ending = replaced(withheld(cut, released, verdict), released);
        break stream;
      }
      pending = pending.slice(window.length);
      released += window;
      yield { type: 'delta', text: window };
    }
  }
  yield* ending;
}

/** The end of a stream whose answer was withheld after `released`: the replacement, then `done`. */
function replaced(result: ChatResult, released: string): ChatStreamEvent[] {
  return [
    { type: 'delta', text: result.text.slice(released.length) },
    { type: 'done', result },
  ];
}

/** A finished result as a stream: its text as one delta, then `done`. */
async function* resultStream(result: ChatResult): AsyncGenerator<ChatStreamEvent, void, undefined> {
  yield { type: 'delta', text: result.text };
  yield { type: 'done', result };
}

async function* noContextStream(prepared: PreparedChat): AsyncGenerator<ChatStreamEvent, void, undefined> {
  yield { type: 'delta', text: NO_CONTEXT_ANSWER };
  yield { type: 'done', result: noContextResult(prepared) };
}

/** The prompt an interaction record names: null for a raw chat. */
function promptRecord(prepared: PreparedChat): InteractionRecordedDetail['prompt'] {
  if (prepared.prompt === null || prepared.ref === null) return null;
  return { name: prepared.prompt.name, version: prepared.prompt.version, ref: prepared.ref };
}

/**
 * What the interaction record keeps of a retrieval: ids and scores (never the passages' text) and, for a
 * `sampled` call (one whose payload is kept) whose question was embedded, that query vector in compact
 * form, so that the drift check need not embed the question again.
 */
function retrievalRecord(
  retrieval: Retrieval | undefined,
  sampled: boolean,
): Pick<InteractionRecordedDetail, 'retrieval'> {
  if (retrieval === undefined) return {};
  const queryEmbedding = sampled ? compactQuery(retrieval.queryVector) : undefined;
  return {
    retrieval: {
      vectorStore: retrieval.vectorStore,
      k: retrieval.k,
      hybrid: retrieval.hybrid,
      minScore: retrieval.minScore,
      embeddingModel: retrieval.embedding.modelId,
      ...(queryEmbedding !== undefined ? { queryEmbedding } : {}),
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

/**
 * A query vector in compact form; undefined when there is none, or when it cannot be encoded (a value
 * that is not finite, too many dimensions): the answer is paid for, so the record goes out without it
 * (and the drift check embeds that question itself) rather than failing the call.
 */
function compactQuery(vector: readonly number[] | undefined): CompactEmbedding | undefined {
  if (vector === undefined || vector.length === 0) return undefined;
  try {
    return encodeEmbedding(vector);
  } catch (error) {
    logger.warn('Query embedding left out of the interaction record', { error });
    return undefined;
  }
}

/** The interaction record's `status` of a failure. */
export function statusOf(error: unknown): InteractionRecordedDetail['status'] {
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
  // The series the operations alarms read (a plain metric alarm names every dimension, and prompt names
  // are unknown at synthesis): latency and cost by model, cost by app. Single metrics, so that nothing
  // else the shared instance flushes lands in these sets.
  for (const [name, unit, value] of [
    ['Latency', 'Milliseconds', values.latencyMs],
    ['CostUsd', 'None', values.usage.costUsd],
  ] as const) {
    const byModel = metrics.singleMetric();
    byModel.addDimensions({ Model: model });
    byModel.addMetric(name, unit, value);
  }
  const byApp = metrics.singleMetric();
  byApp.addDimensions({ App: app });
  byApp.addMetric('CostUsd', 'None', values.usage.costUsd);
  for (const policy of values.guardrailPolicies) {
    const single = metrics.singleMetric();
    single.addDimensions({ Model: model, Policy: policy });
    single.addMetric('GuardrailInterventions', 'Count', 1);
  }
}
