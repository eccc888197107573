import { randomUUID } from 'node:crypto';
import type { ApiCaller } from '#contracts/http/caller.ts';
import { MAX_EMBEDDING_INPUTS } from '#contracts/http/openai.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import { AccessPolicy } from '#core/access/policy.ts';
import { estimateTokens } from '#core/models/estimate.ts';
import { costUsd } from '#core/models/select.ts';
import type { ContentGuard, ModelProvider } from '#core/models/types.ts';
import type { EmbeddingsOutcome } from '#core/openai/embeddings.ts';
import type { InteractionRecordedDetail } from '#events/interaction-recorded.ts';
import { ContentBlockedError, ModelProviderError, ValidationError } from './errors.ts';
import {
  beforeDeadline,
  emitCallMetrics,
  type InteractionBase,
  interactionBase,
  NO_PROMPT,
  statusOf,
} from './gateway.ts';
import { type InteractionRecorder, isSampled, loggedText, recordSafely } from './interactions.ts';
import { metrics } from './logging.ts';
import type { TokenBudget } from './token-budget.ts';

/**
 * The embeddings gateway (`POST /v1/embeddings`): checks the texts against the catalog embedding model
 * (count, size, dimensions) and the content policy, calls the provider under a deadline, prices the call
 * from the catalog, emits the same metrics as chat calls and records the interaction (route `embeddings`).
 */
export interface EmbeddingsGatewayDeps {
  readonly catalog: { get(id: string): Promise<CatalogModel> };
  readonly providerFor: (model: CatalogModel) => ModelProvider;
  readonly recorder: InteractionRecorder;
  /** Checks the texts before the model sees them; an intervention refuses the request (400 `content_blocked`). */
  readonly guard?: ContentGuard;
  /** Share of calls whose (redacted) texts are logged. */
  readonly sampleRate: number;
  /** Each app's daily token budget, shared with chat: checked before a call, charged after it. */
  readonly budget?: Pick<TokenBudget, 'assertWithinBudget' | 'consume'>;
  /** Deadline of one call, retries included: past it the call fails as a provider timeout (504). */
  readonly timeoutMs: number;
  readonly now?: () => number;
  readonly newId?: () => string;
}

export interface EmbeddingsInput {
  /** Catalog id of an embedding model. */
  readonly model: string;
  /** One text (`input`) or several (`input.<i>` in errors). */
  readonly input: string | readonly string[];
  readonly dimensions?: number;
}

export interface EmbeddingsGatewayResult extends EmbeddingsOutcome {
  readonly provider: CatalogModel['provider'];
  readonly latencyMs: number;
}

/** Output dimensions a model can be asked for, by provider model id (others: up to its `dimensions`). */
export const DIMENSION_CHOICES: Readonly<Record<string, readonly number[]>> = {
  'amazon.titan-embed-text-v2:0': [256, 512, 1024],
};

/** How many characters of a sampled call's texts are logged, all texts together (one event stays small). */
export const MAX_LOGGED_INPUT_CHARS = 16_000;

export class EmbeddingsGateway {
  private readonly now: () => number;
  private readonly newId: () => string;

  constructor(private readonly deps: EmbeddingsGatewayDeps) {
    this.now = deps.now ?? Date.now;
    this.newId = deps.newId ?? randomUUID;
  }

  /**
   * Embeds the texts, in input order. Every call past parsing is recorded, failures included.
   * @throws ValidationError naming the field (`model`, `input.<i>`, `dimensions`); ContentBlockedError
   *   when the content policy intervenes; NotFoundError for a model not in the catalog.
   */
  async embed(
    input: EmbeddingsInput,
    caller: ApiCaller,
    requestId: string,
  ): Promise<EmbeddingsGatewayResult> {
    const startedAt = this.now();
    const interactionId = this.newId();
    const texts = typeof input.input === 'string' ? [input.input] : [...input.input];
    const fieldOf = (i: number) => (typeof input.input === 'string' ? 'input' : `input.${i}`);
    let model: CatalogModel | undefined;
    let guardrail: InteractionRecordedDetail['guardrail'] = null;
    try {
      // The app's allowlist and budget first: nothing is read or paid for on a refusal.
      AccessPolicy.forCaller(caller).assertModel(input.model);
      await this.deps.budget?.assertWithinBudget(caller.app, caller.access);
      model = await this.deps.catalog.get(input.model);
      checkInputs(model, texts, fieldOf, input.dimensions);
      const deadline = AbortSignal.timeout(this.deps.timeoutMs);
      if (this.deps.guard !== undefined) {
        const verdict = await this.withinDeadline(this.deps.guard.checkInput(texts, deadline), deadline);
        guardrail = { action: verdict.action, policies: [...verdict.policies] };
        if (verdict.action === 'INTERVENED') {
          throw new ContentBlockedError(
            'input',
            `was blocked by the content policy${verdict.policies.length > 0 ? ` (${verdict.policies.join(', ')})` : ''}`,
          );
        }
      }
      const modelStart = this.now();
      const result = await this.withinDeadline(
        this.deps.providerFor(model).embed({
          modelId: model.modelId,
          texts,
          ...(input.dimensions !== undefined ? { dimensions: input.dimensions } : {}),
          signal: deadline,
        }),
        deadline,
      );
      const modelLatencyMs = this.now() - modelStart;
      const usage = {
        inputTokens: result.usage.inputTokens,
        outputTokens: 0,
        costUsd: costUsd(model, { inputTokens: result.usage.inputTokens, outputTokens: 0 }),
      };
      const latencyMs = this.now() - startedAt;
      await this.deps.budget?.consume(caller.app, usage.inputTokens);
      emitCallMetrics(model.id, NO_PROMPT, caller.app, {
        latencyMs,
        modelLatencyMs,
        usage,
        guardrailPolicies: [],
      });
      await recordSafely(this.deps.recorder, {
        ...this.base(interactionId, requestId, caller, startedAt),
        model: { id: model.id, provider: result.provider, modelId: result.modelId },
        usage,
        modelLatencyMs,
        status: 'ok',
        errorCode: null,
        guardrail,
        payload: isSampled(interactionId, this.deps.sampleRate) ? loggedInputs(texts) : null,
      });
      return {
        interactionId,
        model: model.id,
        provider: result.provider,
        vectors: result.vectors,
        dimensions: result.dimensions,
        usage: { inputTokens: usage.inputTokens, costUsd: usage.costUsd },
        latencyMs,
      };
    } catch (error) {
      await this.fail(error, model, guardrail, interactionId, requestId, caller, startedAt);
      throw error;
    }
  }

  /** `promise`, or once the deadline passes, a provider timeout (504) caused by what was pending. */
  private async withinDeadline<T>(promise: Promise<T>, deadline: AbortSignal): Promise<T> {
    try {
      return await beforeDeadline(promise, deadline);
    } catch (error) {
      if (!deadline.aborted || error instanceof ModelProviderError) throw error;
      throw new ModelProviderError(
        `The embeddings took longer than their deadline of ${this.deps.timeoutMs} ms`,
        {
          cause: error,
          timedOut: true,
        },
      );
    }
  }

  private async fail(
    error: unknown,
    model: CatalogModel | undefined,
    guardrail: InteractionRecordedDetail['guardrail'],
    interactionId: string,
    requestId: string,
    caller: ApiCaller,
    startedAt: number,
  ): Promise<void> {
    const status = statusOf(error);
    // Client errors are counted by the HTTP edge; these are the failures on our side or the model's.
    const metric = { throttled: 'ModelThrottles', provider_error: 'ModelErrors', error: 'Errors' }[
      status as 'throttled' | 'provider_error' | 'error'
    ];
    if (metric !== undefined) {
      const single = metrics.singleMetric();
      single.addDimensions({ Model: model?.id ?? 'none', Prompt: NO_PROMPT, App: caller.app });
      single.addMetric(metric, 'Count', 1);
    }
    await recordSafely(this.deps.recorder, {
      ...this.base(interactionId, requestId, caller, startedAt),
      model: model ? { id: model.id, provider: model.provider, modelId: model.modelId } : null,
      usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
      modelLatencyMs: null,
      status,
      errorCode: error instanceof Error ? error.name : 'Error',
      guardrail,
      payload: null,
    });
  }

  private base(
    interactionId: string,
    requestId: string,
    caller: ApiCaller,
    startedAt: number,
  ): InteractionBase & Pick<InteractionRecordedDetail, 'prompt' | 'stopReason'> {
    return {
      ...interactionBase(interactionId, requestId, caller, false, startedAt, 'embeddings', this.now()),
      prompt: null,
      stopReason: null,
    };
  }
}

/**
 * Refuses what the model cannot take, before anything is paid for: a chat model, more than
 * {@link MAX_EMBEDDING_INPUTS} texts, an empty text, a text over the model's per-input token limit (its
 * context window, by the gateway's upper estimate), or dimensions it cannot produce.
 */
function checkInputs(
  model: CatalogModel,
  texts: readonly string[],
  fieldOf: (i: number) => string,
  dimensions: number | undefined,
): void {
  if (model.kind !== 'embedding') {
    throw new ValidationError(
      'model',
      `${model.id} is a chat model, not an embedding model (GET /v1/models?kind=embedding lists them)`,
    );
  }
  if (texts.length === 0 || texts.length > MAX_EMBEDDING_INPUTS) {
    throw new ValidationError('input', `must hold 1 to ${MAX_EMBEDDING_INPUTS} texts (got ${texts.length})`);
  }
  texts.forEach((text, i) => {
    if (text.trim() === '') throw new ValidationError(fieldOf(i), 'must contain non-whitespace text');
    const tokens = estimateTokens(text);
    if (tokens > model.contextWindow) {
      throw new ValidationError(
        fieldOf(i),
        `is about ${tokens} tokens; ${model.id} takes at most ${model.contextWindow} tokens per input`,
      );
    }
  });
  if (dimensions === undefined) return;
  const choices = DIMENSION_CHOICES[model.modelId];
  if (choices !== undefined && !choices.includes(dimensions)) {
    throw new ValidationError('dimensions', `must be one of ${choices.join(', ')} for ${model.id}`);
  }
  if (model.dimensions !== undefined && dimensions > model.dimensions) {
    throw new ValidationError('dimensions', `must be at most ${model.dimensions} for ${model.id}`);
  }
}

/** The sampled payload of a call: its texts as user turns, redacted, within {@link MAX_LOGGED_INPUT_CHARS}. */
function loggedInputs(texts: readonly string[]): NonNullable<InteractionRecordedDetail['payload']> {
  const redactions: Record<string, number> = {};
  const messages: { role: 'user'; content: { text: string; truncated: boolean } }[] = [];
  let left = MAX_LOGGED_INPUT_CHARS;
  for (const text of texts) {
    if (left <= 0) break;
    const kept = text.slice(0, left);
    left -= kept.length;
    const logged = loggedText(kept, redactions);
    messages.push({
      role: 'user',
      content: { ...logged, truncated: logged.truncated || kept.length < text.length },
    });
  }
  return { system: null, messages, answer: null, redactions };
}
