import { createHash, randomUUID } from 'node:crypto';
import type { StoredInteraction } from '#contracts/feedback/feedback.ts';
import type { ApiCaller } from '#contracts/http/caller.ts';
import type { GatewayChatInput, GatewayChatResponse, ServedBy } from '#contracts/http/schemas.ts';
import type { CatalogCanary, CatalogModel, ModelFeature } from '#contracts/models/catalog.ts';
import { BLOCKED_INPUT_MESSAGE, BLOCKED_OUTPUT_MESSAGE } from '#contracts/models/guardrail.ts';
import {
  ROLLOUT_ERROR_METRIC,
  ROLLOUT_GUARDRAIL_METRIC,
  ROLLOUT_LATENCY_METRIC,
  ROLLOUT_VARIANT_DIMENSION,
  type RolloutVariant,
} from '#contracts/models/rollout-metrics.ts';
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
import { canonicalJson } from '#core/prompts/hash.ts';
import { parsePromptRef } from '#core/prompts/reference.ts';
import { placeholders, renderPrompt } from '#core/prompts/template.ts';
import { SCHEMA_VERSION } from '#events/envelope.ts';
import type { InteractionRecordedDetail } from '#events/interaction-recorded.ts';
import {
  LlmOpsError,
  ModelCapacityError,
  ModelProviderError,
  ThrottledError,
  ValidationError,
} from './errors.ts';
import type { InteractionStore } from './feedback/stores.ts';
import {
  type InteractionRecorder,
  isSampled,
  type LoggedText,
  loggedText,
  recordSafely,
} from './interactions.ts';
import { logger, metrics } from './logging.ts';
import { citationsOf, contextBlock, type Retrieval, type Retriever } from './rag/retriever.ts';
import type { TokenBudget } from './token-budget.ts';

/**
 * The model gateway: resolves a prompt reference, renders the template, chooses the model, refuses input
 * that cannot fit its context window, puts the caller's text through the content guard's input policy
 * (before a `rag` query is embedded: refused text reaches no model, the embedding model included), then
 * retrieves, calls the provider (with the guardrail; otherwise the answer goes through the guard's output policy),
 * prices the call from the catalog, emits metrics and records the interaction (and, given a store,
 * keeps an answered call for feedback). One code path for buffered and streamed answers.
 *
 * Rollouts: while the model has a `canary`, a share of its calls (chosen by a hash of the request id,
 * {@link canaryBucket}) goes to the candidate's inference component on the same endpoint; every such
 * call emits the rollout metrics by variant, and each call the candidate answered is counted on the
 * catalog entry. Capacity: a model whose inference component has no copy (`ModelCapacityError`) is
 * answered by its catalog `fallback`, else the call fails with that error (the API's 503).
 */
export interface GatewayDeps {
  readonly prompts: { get(ref: PromptRef): Promise<PromptVersion> };
  readonly catalog: {
    get(id: string): Promise<CatalogModel>;
    list(filter?: { kind?: 'chat' | 'embedding'; status?: 'active' | 'deprecated' }): Promise<CatalogModel[]>;
    /**
     * Counts a call the canary's candidate answered (`ModelCatalog.countCanaryCall`): false, or a
     * condition failure, when the rollout ended. Absent: candidate calls are not counted.
     */
    countCanaryCall?(id: string, rolloutId: string, failed: boolean): Promise<unknown>;
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
  /**
   * `Retry-After` (seconds) of a call that fails because its model has no capacity and no fallback
   * (`SAGEMAKER_RETRY_AFTER_SECONDS`). @default what the provider's `ModelCapacityError` says
   */
  readonly capacityRetryAfterSeconds?: number;
  /**
   * Whether a model without capacity is answered by its catalog `fallback`. Off for evaluations: their
   * answers must come from the model evaluated, so a call without capacity fails (and counts as failed).
   * @default true
   */
  readonly fallback?: boolean;
  /**
   * Whether a model's canary takes its share of the calls. Off for evaluations: the model evaluated
   * answers (production, not whichever candidate a rollout is baking), and its calls are not the canary's.
   * @default true
   */
  readonly canary?: boolean;
  /**
   * Where answered chat calls are kept for feedback (`POST /v1/feedback` names them), PII-redacted as
   * the log's payload is. Absent (the evaluation's answers): nothing is kept.
   */
  readonly interactions?: InteractionStore;
  /** Days a kept call stays open to feedback (`feedback.interactionTtlDays`). @default 30 */
  readonly interactionTtlDays?: number;
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

/** Days a call kept for feedback stays open to it, when `interactionTtlDays` does not say. */
export const DEFAULT_INTERACTION_TTL_DAYS = 30;

/**
 * Largest call kept for feedback, in bytes of its JSON (a DynamoDB item holds 400 KB): beyond it the
 * oldest turns are left out (and the record is `truncated`). Each text is already cut at the log's bound.
 */
export const MAX_KEPT_INTERACTION_BYTES = 300_000;

/** A `rag` request's retrieval query, the collections the caller may search (all: undefined), and where. */
interface RagQuery {
  readonly query: string;
  readonly collections: readonly string[] | undefined;
  readonly retriever: Pick<Retriever, 'retrieve'>;
}

/** What a chat request resolves to before anything is rendered or retrieved. */
interface ResolvedChat {
  readonly policy: AccessPolicy;
  /** The prompt version asked for; null for a raw chat. */
  readonly prompt: PromptVersion | null;
  readonly turns: ReturnType<typeof splitConversation>;
  /** Features the call needs whatever it renders (`streaming`). */
  readonly requiredFeatures: readonly ModelFeature[];
  /** With `rag`: what to retrieve once the input passed the policy. */
  readonly rag?: RagQuery;
}

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
  /** Who answers, when the response says so (a rollout in progress, a fallback): see `ServedBy`. */
  readonly served?: ServedBy;
  /** The model's rollout in progress and the variant this call was routed to. */
  readonly rollout?: { readonly canary: CatalogCanary; readonly variant: RolloutVariant };
}

/**
 * Where a request id falls in [0, 1): the first 32 bits of its SHA-256. A call goes to a canary's
 * candidate when this is below the canary's share, so the same request (a retry) always goes the same
 * way, and raising the share keeps the calls already routed to the candidate there.
 */
export function canaryBucket(requestId: string): number {
  return createHash('sha256').update(requestId).digest().readUInt32BE(0) / 2 ** 32;
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
      const resolved = await beforeDeadline(this.resolve(body, caller, []), deadline);
      prepared = await this.draft(body, resolved, interactionId, startedAt, requestId, deadline);
      const refused = await this.checkInput(body, prepared, deadline);
      if (refused === undefined)
        prepared = await this.withRetrieval(body, resolved, prepared, requestId, deadline);
      const provider = this.deps.providerFor(prepared.model);
      const blocked = refused && blockedResult(prepared, provider.name, refused);
      const modelStart = this.now();
      const answered =
        blocked === undefined
          ? await this.answerRouted(provider, prepared, caller, deadline)
          : { prepared, result: blocked };
      const response = this.respond(answered.prepared, answered.result, blocked !== undefined);
      await this.finish(answered.prepared, caller, requestId, false, {
        result: answered.result,
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
    let resolved: ResolvedChat;
    let prepared: PreparedChat;
    try {
      resolved = await beforeDeadline(this.resolve(body, caller, ['streaming']), deadline);
      prepared = await this.draft(body, resolved, interactionId, startedAt, requestId, deadline);
    } catch (error) {
      const failure = this.pastDeadline(deadline, error);
      await this.fail(body, undefined, caller, requestId, true, startedAt, interactionId, failure);
      throw failure;
    }
    let opened: OpenedStream;
    try {
      const refused = await this.checkInput(body, prepared, deadline);
      if (refused === undefined)
        prepared = await this.withRetrieval(body, resolved, prepared, requestId, deadline);
      const provider = this.deps.providerFor(prepared.model);
      const blocked = refused && blockedResult(prepared, provider.name, refused);
      opened = await this.openStream(provider, prepared, caller, deadline, blocked);
    } catch (error) {
      const failure = this.pastDeadline(deadline, error);
      await this.fail(body, prepared, caller, requestId, true, startedAt, interactionId, failure);
      throw failure;
    }
    return this.streamFrom(opened, body, caller, requestId, deadline);
  }

  /**
   * The call routed by the model's canary, if it has one: the candidate's inference component for a
   * share of the request ids ({@link canaryBucket}), the model's own otherwise; labelled either way.
   */
  private route(prepared: PreparedChat, requestId: string): PreparedChat {
    const { model } = prepared;
    const canary = model.canary;
    if (canary === undefined || this.deps.canary === false) return prepared;
    const variant: RolloutVariant = canaryBucket(requestId) < canary.share ? 'candidate' : 'production';
    const inferenceComponent = variant === 'candidate' ? canary.inferenceComponent : model.inferenceComponent;
    return {
      ...prepared,
      request: {
        ...prepared.request,
        ...(inferenceComponent !== undefined ? { inferenceComponent } : {}),
      },
      served: {
        model: model.id,
        variant,
        ...(inferenceComponent !== undefined ? { inferenceComponent } : {}),
        rolloutId: canary.rolloutId,
      },
      rollout: { canary, variant },
    };
  }

  /**
   * The model's answer (through {@link answer}); when the model has no capacity, its fallback's (the
   * answer then says so), or a `ModelCapacityError` naming the model. Rollout metrics and counters are
   * kept for the routed call.
   */
  private async answerRouted(
    provider: ModelProvider,
    prepared: PreparedChat,
    caller: ApiCaller,
    deadline: AbortSignal,
  ): Promise<{ prepared: PreparedChat; result: ChatResult }> {
    if (hasNoContext(prepared)) return { prepared, result: noContextResult(prepared) };
    const start = this.now();
    let result: ChatResult;
    try {
      result = await this.answer(provider, prepared, deadline);
    } catch (error) {
      await this.recordRollout(prepared, start, { error });
      if (!(error instanceof ModelCapacityError)) throw error;
      const fallback = await this.fallbackFor(prepared, caller, false);
      if (fallback === undefined) throw this.noCapacity(prepared, error);
      return this.answerRouted(this.deps.providerFor(fallback.model), fallback, caller, deadline);
    }
    await this.recordRollout(prepared, start, { result });
    return { prepared, result };
  }

  /**
   * What a stream answers with, opened before anything is sent: the refusal, the no-context answer, or
   * the model's stream. A SageMaker stream is read up to its first output first, so that a model
   * without capacity is answered by its fallback or fails the call before a byte is sent (the API's
   * 503); any other failure while opening is held and ends the stream, as it would have.
   */
  private async openStream(
    provider: ModelProvider,
    prepared: PreparedChat,
    caller: ApiCaller,
    deadline: AbortSignal,
    blocked?: ChatResult,
  ): Promise<OpenedStream> {
    const modelStart = this.now();
    const opened = { provider, prepared, modelStart, blocked };
    if (blocked !== undefined) return { ...opened, events: resultStream(blocked), measured: false };
    if (hasNoContext(prepared)) return { ...opened, events: noContextStream(prepared), measured: false };
    const events = provider.chatStream({ ...prepared.request, signal: deadline });
    if (provider.name !== 'sagemaker') {
      return { ...opened, events: this.guardedStream(events, provider, prepared, deadline), measured: true };
    }
    const iterator = events[Symbol.asyncIterator]();
    let first: IteratorResult<ChatStreamEvent> | { readonly error: unknown };
    try {
      first = await beforeDeadline(iterator.next(), deadline);
    } catch (error) {
      if (!(error instanceof ModelCapacityError)) {
        first = { error };
      } else {
        closeQuietly(iterator);
        await this.recordRollout(prepared, modelStart, { error });
        const fallback = await this.fallbackFor(prepared, caller, true);
        if (fallback === undefined) throw this.noCapacity(prepared, error);
        return this.openStream(this.deps.providerFor(fallback.model), fallback, caller, deadline);
      }
    }
    const primed = primedStream(first, iterator);
    return { ...opened, events: this.guardedStream(primed, provider, prepared, deadline), measured: true };
  }

  /**
   * The call as its model's fallback answers it, when the model names one that this caller may use,
   * is an active chat model with the features the call needs, and fits the call; else undefined. A
   * fallback's own fallback is never followed.
   */
  private async fallbackFor(
    prepared: PreparedChat,
    caller: Pick<ApiCaller, 'app' | 'access'>,
    stream: boolean,
  ): Promise<PreparedChat | undefined> {
    const from = prepared.model;
    const id = from.fallback;
    if (this.deps.fallback === false) return undefined;
    if (id === undefined || id === from.id || prepared.served?.fallbackFrom !== undefined) return undefined;
    try {
      AccessPolicy.forCaller(caller).assertModel(id);
      const model = await this.deps.catalog.get(id);
      const needs: ModelFeature[] = [
        ...(stream ? (['streaming'] as const) : []),
        ...(prepared.request.system !== undefined ? (['systemPrompt'] as const) : []),
      ];
      if (
        model.kind !== 'chat' ||
        model.status !== 'active' ||
        needs.some((f) => !model.features.includes(f))
      ) {
        throw new ValidationError('fallback', `${id} is not an active chat model with ${needs.join(', ')}`);
      }
      const { inferenceComponent: _, guardrail: __, ...request } = prepared.request;
      const maxTokens = Math.min(request.maxTokens ?? DEFAULT_MAX_TOKENS, model.maxOutputTokens);
      assertFitsContext(model, estimateChatTokens(request.system, request.messages), maxTokens);
      return {
        ...prepared,
        model,
        request: {
          ...request,
          modelId: model.modelId,
          maxTokens,
          ...(model.inferenceComponent !== undefined ? { inferenceComponent: model.inferenceComponent } : {}),
          ...(this.deps.guardrail !== undefined && model.provider === 'bedrock'
            ? { guardrail: this.deps.guardrail }
            : {}),
        },
        served: { model: model.id, variant: 'production', fallbackFrom: from.id },
        rollout: undefined,
      };
    } catch (error) {
      logger.warn('Fallback model cannot answer; answering without capacity', {
        model: from.id,
        fallback: id,
        error,
      });
      return undefined;
    }
  }

  /** The failure of a call whose model has no capacity (and no fallback): it names the catalog model. */
  private noCapacity(prepared: PreparedChat, error: ModelCapacityError): ModelCapacityError {
    return new ModelCapacityError(
      prepared.model.id,
      this.deps.capacityRetryAfterSeconds ?? error.retryAfterSeconds,
      { cause: error },
    );
  }

  /**
   * A routed call's rollout metrics (by variant) and, for the candidate, its count on the catalog entry
   * (calls, and errors when it failed on our side or the model's). Never throws: a count that cannot be
   * written is logged, and one refused because the rollout ended is ignored.
   */
  private async recordRollout(
    prepared: PreparedChat,
    start: number,
    outcome: { readonly result?: ChatResult; readonly error?: unknown },
  ): Promise<void> {
    const rollout = prepared.rollout;
    if (rollout === undefined) return;
    const failed = outcome.result === undefined && statusOf(outcome.error) !== 'client_error';
    emitRolloutMetrics(rollout.variant, {
      latencyMs: this.now() - start,
      failed,
      guardrail: outcome.result?.guardrail?.action === 'INTERVENED',
    });
    const count = this.deps.catalog.countCanaryCall;
    if (rollout.variant !== 'candidate' || count === undefined) return;
    try {
      await count.call(this.deps.catalog, prepared.model.id, rollout.canary.rolloutId, failed);
    } catch (error) {
      if (isConditionFailure(error)) return;
      logger.warn('Canary call not counted', {
        model: prepared.model.id,
        rolloutId: rollout.canary.rolloutId,
        error,
      });
    }
  }

  /** `error`, or an `AnswerDeadlineError` (caused by it) once the deadline has passed. */
  private pastDeadline(deadline: AbortSignal, error: unknown): unknown {
    if (!deadline.aborted || error instanceof AnswerDeadlineError) return error;
    return new AnswerDeadlineError(this.deps.timeoutMs, { cause: error });
  }

  /**
   * The content guard's input policy over every caller-supplied text ({@link callerTexts}) of a call
   * prepared without its passages: before the RAG query is embedded and before any model call. When it
   * intervenes, its verdict (the request is answered with the policy's message, nothing is retrieved and
   * no model is called), else undefined. A guard that fails fails the request: nothing unchecked reaches
   * a model, the embedding model included.
   */
  private async checkInput(
    body: GatewayChatInput,
    draft: PreparedChat,
    deadline: AbortSignal,
  ): Promise<GuardVerdict | undefined> {
    const guard = this.deps.guard;
    if (guard === undefined) return undefined;
    const verdict = await beforeDeadline(guard.checkInput(callerTexts(body, draft), deadline), deadline);
    return verdict.action === 'INTERVENED' ? verdict : undefined;
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
  private guardedStream(
    events: AsyncIterable<ChatStreamEvent>,
    provider: ModelProvider,
    prepared: PreparedChat,
    deadline: AbortSignal,
  ): AsyncIterable<ChatStreamEvent> {
    const guard = this.outputGuard(provider, prepared);
    return guard === undefined ? events : checkedStream(events, guard, prepared, provider.name, deadline);
  }

  private async *streamFrom(
    opened: OpenedStream,
    body: GatewayChatInput,
    caller: ApiCaller,
    requestId: string,
    deadline: AbortSignal,
  ): AsyncGenerator<StreamChunk, void, undefined> {
    const { prepared, blocked, modelStart, measured } = opened;
    const iterator = opened.events[Symbol.asyncIterator]();
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
          if (measured) await this.recordRollout(prepared, modelStart, { result: event.result });
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
      if (measured) await this.recordRollout(prepared, modelStart, { error: failure });
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

  /**
   * What the app may use, the prompt, the turns and, with `rag`, the retrieval query: everything of a
   * request that does not depend on the retrieved passages, checked before anything is paid for.
   */
  private async resolve(
    body: GatewayChatInput,
    caller: Pick<ApiCaller, 'app' | 'access'>,
    requiredFeatures: readonly ModelFeature[],
  ): Promise<ResolvedChat> {
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
    const rag = body.rag !== undefined ? this.ragQuery(body, prompt, policy) : undefined;
    return { policy, prompt, turns, requiredFeatures, ...(rag !== undefined ? { rag } : {}) };
  }

  /**
   * The call prepared and routed as it would be without passages (a `rag` request's context rendered
   * empty): what the input policy checks, and what a refused request is answered and recorded with.
   */
  private async draft(
    body: GatewayChatInput,
    resolved: ResolvedChat,
    interactionId: string,
    startedAt: number,
    requestId: string,
    deadline: AbortSignal,
  ): Promise<PreparedChat> {
    const draft = await beforeDeadline(this.compose(body, resolved, interactionId, startedAt), deadline);
    return this.route(draft, requestId);
  }

  /**
   * A `rag` request, once its input passed the policy: the query embedded and searched, and the call
   * prepared again with the passages (and routed); any other request as it was drafted.
   */
  private async withRetrieval(
    body: GatewayChatInput,
    resolved: ResolvedChat,
    draft: PreparedChat,
    requestId: string,
    deadline: AbortSignal,
  ): Promise<PreparedChat> {
    if (resolved.rag === undefined) return draft;
    const retrieval = await beforeDeadline(this.retrieve(body, resolved.rag, deadline), deadline);
    const prepared = await beforeDeadline(
      this.compose(body, resolved, draft.interactionId, draft.startedAt, { retrieval, model: draft.model }),
      deadline,
    );
    return this.route(prepared, requestId);
  }

  /**
   * Renders, chooses the model and checks the context window: no token is paid for yet. `retrieved`:
   * the passages of a `rag` request and the model its draft resolved (reused when the request names
   * it); absent, a `rag` request renders an empty context.
   */
  private async compose(
    body: GatewayChatInput,
    resolved: ResolvedChat,
    interactionId: string,
    startedAt: number,
    retrieved?: { readonly retrieval: Retrieval; readonly model: CatalogModel },
  ): Promise<PreparedChat> {
    const { policy, prompt, turns } = resolved;
    const rag = resolved.rag !== undefined;
    const retrieval = retrieved?.retrieval;
    const context = retrieval && retrieval.chunks.length > 0 ? contextBlock(retrieval.chunks) : '';
    const rendered =
      prompt === null
        ? { system: rag ? withContext(turns.system, context) : turns.system, messages: [] }
        : renderPrompt(prompt, rag ? { ...(body.variables ?? {}), context } : (body.variables ?? {}));
    const messages = [...rendered.messages, ...turns.messages];
    if (messages.length === 0 || messages[messages.length - 1]?.role !== 'user') {
      throw new ValidationError('messages', 'the conversation must end with a user turn');
    }
    const maxTokensAsked = body.maxTokens ?? prompt?.model?.maxTokens;
    const estimatedInput = estimateChatTokens(rendered.system, messages);
    const features: ModelFeature[] = [...resolved.requiredFeatures];
    if (rendered.system !== undefined) features.push('systemPrompt');
    const modelId = body.model ?? prompt?.model?.id;
    let model: CatalogModel;
    if (modelId !== undefined) {
      // A prompt's own model is the app's to use only if its allowlist says so (the caller's was checked).
      if (body.model === undefined) policy.assertModel(modelId);
      model = retrieved?.model.id === modelId ? retrieved.model : await this.deps.catalog.get(modelId);
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

  /**
   * A `rag` request's retrieval query, checked without retrieving: `rag.query`, the last user turn, or
   * the `question` variable; and the collections the caller may search.
   */
  private ragQuery(body: GatewayChatInput, prompt: PromptVersion | null, policy: AccessPolicy): RagQuery {
    const rag = body.rag ?? {};
    const collections = policy.retrievalCollections(rag.filters);
    const retriever = this.deps.retriever;
    if (retriever === undefined) {
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
    return { query, collections, retriever };
  }

  /** Embeds and searches a `rag` request's query (which passed the input policy). */
  private async retrieve(body: GatewayChatInput, rag: RagQuery, deadline: AbortSignal): Promise<Retrieval> {
    const options = body.rag ?? {};
    return rag.retriever.retrieve({
      query: rag.query,
      k: options.k,
      filters: options.filters,
      hybrid: options.hybrid,
      minScore: options.minScore,
      ...(rag.collections !== undefined ? { collections: rag.collections } : {}),
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
      ...(prepared.served !== undefined ? { served: { ...prepared.served } } : {}),
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
    // Redacted once: the log's payload and the call kept for feedback hold the same texts.
    const texts =
      sampled || this.deps.interactions !== undefined
        ? loggedCall(prepared.request, result.text, redactions)
        : undefined;
    const payload = sampled && texts !== undefined ? { ...texts, redactions } : null;
    // Kept for feedback while the record goes out: neither ever fails the call.
    await Promise.all([
      recordSafely(this.deps.recorder, {
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
        ...variantRecord(prepared),
      }),
      texts === undefined ? undefined : this.keepInteraction(prepared, caller, response, texts),
    ]);
  }

  /**
   * Keeps an answered call for feedback, when the gateway has somewhere to keep it. Never throws: the
   * answer has been paid for and sent, so a call that cannot be kept is logged and counted
   * (`InteractionStoreFailures`) and only feedback on it is lost (a 404).
   */
  private async keepInteraction(
    prepared: PreparedChat,
    caller: ApiCaller,
    response: GatewayChatResponse,
    texts: LoggedCall,
  ): Promise<void> {
    const store = this.deps.interactions;
    if (store === undefined) return;
    try {
      const ttlDays = this.deps.interactionTtlDays ?? DEFAULT_INTERACTION_TTL_DAYS;
      await store.put(
        keptInteraction(
          prepared,
          caller,
          response,
          texts,
          Math.floor(this.now() / 1000) + ttlDays * DAY_SECONDS,
        ),
      );
    } catch (error) {
      logger.error('Interaction not kept for feedback', { error, interactionId: prepared.interactionId });
      metrics.addMetric('InteractionStoreFailures', 'Count', 1);
    }
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
        : error instanceof ModelCapacityError
          ? 'ModelCapacityUnavailable'
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
      ...variantRecord(prepared),
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

/** A stream opened before the response starts (see `ModelGateway.openStream`). */
interface OpenedStream {
  readonly provider: ModelProvider;
  /** The call as answered: the routed one, or its fallback's. */
  readonly prepared: PreparedChat;
  readonly events: AsyncIterable<ChatStreamEvent>;
  readonly modelStart: number;
  /** The input policy's refusal, when it refused. */
  readonly blocked?: ChatResult | undefined;
  /** Whether the events are a model's answer (which rollout metrics measure). */
  readonly measured: boolean;
}

/**
 * A stream whose first step was already taken: that event (or failure) first, then the rest. Closing
 * it early closes the stream it came from.
 */
async function* primedStream<T>(
  first: IteratorResult<T> | { readonly error: unknown },
  iterator: AsyncIterator<T>,
): AsyncGenerator<T, void, undefined> {
  let finished = false;
  try {
    if ('error' in first) {
      finished = true;
      throw first.error;
    }
    let next: IteratorResult<T> = first;
    while (next.done !== true) {
      yield next.value;
      try {
        next = await iterator.next();
      } catch (error) {
        finished = true;
        throw error;
      }
    }
    finished = true;
  } finally {
    if (!finished) closeQuietly(iterator);
  }
}

/** DynamoDB refusing a conditional write (the rollout a canary count is for has ended). */
function isConditionFailure(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException';
}

/** The interaction record's `variant`: the rollout variant that answered, when a rollout is in progress. */
function variantRecord(prepared: PreparedChat | undefined): Pick<InteractionRecordedDetail, 'variant'> {
  return prepared?.rollout !== undefined ? { variant: prepared.rollout.variant } : {};
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

const DAY_SECONDS = 24 * 60 * 60;

/** A call's texts as the log keeps them: PII-redacted and each cut at the log's bound (`loggedText`). */
interface LoggedCall {
  readonly system: LoggedText | null;
  readonly messages: { readonly role: 'user' | 'assistant'; readonly content: LoggedText }[];
  readonly answer: LoggedText;
}

/** The rendered input and the answer, redacted; `redactions` counts what was replaced, by kind. */
function loggedCall(request: ChatRequest, answer: string, redactions: Record<string, number>): LoggedCall {
  return {
    system: request.system === undefined ? null : loggedText(request.system, redactions),
    messages: request.messages.map((m) => ({ role: m.role, content: loggedText(m.content, redactions) })),
    answer: loggedText(answer, redactions),
  };
}

/**
 * What is kept of an answered call for feedback. `promptHash` is the SHA-256 of the canonical JSON of
 * the redacted input (`{system, messages}`), so that two answers to one prompt share it; a record over
 * {@link MAX_KEPT_INTERACTION_BYTES} leaves its oldest turns out (the last one stays).
 */
function keptInteraction(
  prepared: PreparedChat,
  caller: ApiCaller,
  response: GatewayChatResponse,
  texts: LoggedCall,
  expiresAt: number,
): StoredInteraction {
  const system = texts.system?.text ?? null;
  const messages = texts.messages.map((m) => ({ role: m.role, content: m.content.text }));
  const promptHash = `sha256:${createHash('sha256').update(canonicalJson({ system, messages })).digest('hex')}`;
  const cut = [texts.system, texts.answer, ...texts.messages.map((m) => m.content)].some(
    (text) => text?.truncated === true,
  );
  const record: StoredInteraction = {
    interactionId: prepared.interactionId,
    app: caller.app,
    tenant: caller.tenant,
    occurredAt: new Date(prepared.startedAt).toISOString(),
    expiresAt,
    route: prepared.route,
    prompt: promptRecord(prepared),
    model: response.model,
    ...(prepared.rollout !== undefined ? { variant: prepared.rollout.variant } : {}),
    retrieval: (prepared.retrieval?.chunks ?? []).map((c) => ({ docId: c.docId, chunkId: c.chunkId })),
    system,
    messages,
    answer: texts.answer.text,
    promptHash,
    truncated: cut,
  };
  let size = Buffer.byteLength(JSON.stringify(record), 'utf8');
  let dropped = 0;
  while (size > MAX_KEPT_INTERACTION_BYTES && dropped < messages.length - 1) {
    size -= Buffer.byteLength(JSON.stringify(messages[dropped]), 'utf8') + 1;
    dropped++;
  }
  return dropped === 0 ? record : { ...record, messages: messages.slice(dropped), truncated: true };
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
  // are unknown at synthesis): latency, cost and output tokens by model, cost by app. Single metrics, so
  // that nothing else the shared instance flushes lands in these sets.
  for (const [name, unit, value] of [
    ['Latency', 'Milliseconds', values.latencyMs],
    ['CostUsd', 'None', values.usage.costUsd],
    ['OutputTokens', 'Count', values.usage.outputTokens],
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

/**
 * The rollout metrics of one call to a model with a canary in progress, by variant (dimensions
 * `{service, Variant}`, see `#contracts/models/rollout-metrics.ts`): its latency, whether it failed
 * (1/0) and whether the guardrail intervened (1/0). Single metrics, published at once, each in its own
 * dimension set.
 */
export function emitRolloutMetrics(
  variant: RolloutVariant,
  values: { latencyMs: number; failed: boolean; guardrail: boolean },
): void {
  for (const [name, unit, value] of [
    [ROLLOUT_LATENCY_METRIC, 'Milliseconds', values.latencyMs],
    [ROLLOUT_ERROR_METRIC, 'Count', values.failed ? 1 : 0],
    [ROLLOUT_GUARDRAIL_METRIC, 'Count', values.guardrail ? 1 : 0],
  ] as const) {
    const single = metrics.singleMetric();
    single.addDimensions({ [ROLLOUT_VARIANT_DIMENSION]: variant });
    single.addMetric(name, unit, value);
  }
}
