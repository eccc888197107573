/**
 * An evaluation's answers through the model gateway, the code path every API answer takes (prompt
 * resolution, rendering, model choice, retrieval, the content guard, pricing, metrics and the
 * interaction record), as the local CLI answers through the local API (`infra/local/eval/answers.ts`):
 *
 * - a target with a prompt: `POST /v1/chat`'s body, the item's last user turn filling the prompt's
 *   `question` variable, with the target's model (when it names one) and retrieval options;
 * - a target with a model only: the item's whole conversation as `POST /v1/chat/completions` sends it
 *   (translated by the same `toGatewayChat`), retrieval in `llmops.rag`.
 *
 * Calls are made as an administrator caller (`access: null`, app `evaluation`): no per-app allowlist or
 * daily token budget applies. With retrieval, the answer's contexts are the passages the gateway gave
 * the model (captured from the gateway's own retriever call, so no second retrieval is paid for), each
 * with its document id for context precision and recall. The chat response itself carries only
 * citations (ids and scores, never the passages' text).
 *
 * Throttling and transient failures are retried per item with jittered exponential backoff, a few
 * attempts, as long as another attempt still fits before the caller's deadline (the Lambda timeout); an
 * item that still fails is answered with `error` (counted failed, never a zero). An answer never throws.
 */
import type * as z from 'zod/mini';
import type { evaluationRag } from '#contracts/evaluation/run.ts';
import type { ApiCaller } from '#contracts/http/caller.ts';
import type { GatewayChatInput, GatewayChatResponse } from '#contracts/http/schemas.ts';
import { type AnswerSource, questionOf } from '#core/eval/run.ts';
import type { EvalAnswer, EvalItem } from '#core/eval/types.ts';
import { toGatewayChat } from '#core/openai/chat.ts';
import { abortableSleep, type Backoff, makeBackoff } from '../backoff.ts';
import { ModelProviderError, ThrottledError } from '../errors.ts';
import { type GatewayDeps, ModelGateway } from '../gateway.ts';
import type { InteractionRecorder } from '../interactions.ts';
import { metrics } from '../logging.ts';
import type { Retrieval } from '../rag/retriever.ts';
import { isRetryable } from '../retryable.ts';

/** What an evaluation answers with: a resolved prompt version (`name:version`) and/or a catalog model. */
export interface EvaluationAnswerTarget {
  readonly prompt?: string;
  readonly model?: string;
  readonly rag?: z.infer<typeof evaluationRag>;
}

/** The caller evaluation calls are made as: an administrator, whom no per-app rule or budget restricts. */
export const EVALUATION_CALLER: ApiCaller = {
  app: 'evaluation',
  tenant: null,
  apiKeyId: null,
  principal: null,
  author: 'evaluation',
  access: null,
};

/** Attempts per item, the first included. */
export const ANSWER_ATTEMPTS = 4;

export interface GatewayAnswersOptions {
  /** The gateway's dependencies, as the chat function builds them. */
  readonly gateway: GatewayDeps;
  /** Names each call in its interaction record (`requestId`). */
  readonly requestId: (item: EvalItem, attempt: number) => string;
  /** Epoch milliseconds after which no attempt may start (the function's own deadline). @default none */
  readonly deadline?: () => number;
  /** @default 4 attempts, 500 ms doubling to 8 s, full jitter */
  readonly backoff?: Backoff;
  /** @default {@link EVALUATION_CALLER} */
  readonly caller?: ApiCaller;
  /** Clock in epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** Waits between attempts (tests pass an instant one). @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The gateway's input for an item: `POST /v1/chat` with a prompt, `/v1/chat/completions` without. */
export function gatewayInput(target: EvaluationAnswerTarget, item: EvalItem): GatewayChatInput {
  const rag = target.rag === undefined ? undefined : { ...target.rag };
  if (target.prompt !== undefined) {
    return {
      prompt: target.prompt,
      variables: { question: questionOf(item) },
      ...(target.model !== undefined ? { model: target.model } : {}),
      ...(rag !== undefined ? { rag } : {}),
    };
  }
  if (target.model === undefined) throw new Error('An evaluation target names a prompt, a model or both');
  return toGatewayChat({
    model: target.model,
    messages: item.messages.map(({ role, content }) => ({ role, content })),
    ...(rag !== undefined ? { llmops: { rag } } : {}),
  });
}

/** Whether another attempt may help: throttling, provider failures and timeouts, transient errors. */
export function isRetryableAnswerError(error: unknown): boolean {
  return error instanceof ThrottledError || error instanceof ModelProviderError || isRetryable(error);
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The answers of one target through the gateway (see the module comment). */
export function gatewayAnswers(target: EvaluationAnswerTarget, options: GatewayAnswersOptions): AnswerSource {
  const backoff =
    options.backoff ?? makeBackoff({ maxAttempts: ANSWER_ATTEMPTS, baseDelayMs: 500, maxDelayMs: 8000 });
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => abortableSleep(ms));
  const caller = options.caller ?? EVALUATION_CALLER;
  const attemptMs = options.gateway.timeoutMs;
  const base = options.gateway.retriever;
  // The gateway adds each call's metrics, and a dimension set (model, prompt, app) for them, to the shared
  // Metrics instance and records the interaction right after, in the same tick. Many calls in one
  // invocation would publish every value under every call's dimensions: each call's metrics go out as
  // its interaction is recorded, under its own dimensions only.
  const recorder: InteractionRecorder = {
    record: (detail) => {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
      return options.gateway.recorder.record(detail);
    },
  };

  /** One call through a gateway whose retriever keeps what it retrieved for this call. */
  async function once(
    item: EvalItem,
    input: GatewayChatInput,
    attempt: number,
  ): Promise<{ response: GatewayChatResponse; retrieval: Retrieval | undefined }> {
    let retrieval: Retrieval | undefined;
    const gateway = new ModelGateway({
      ...options.gateway,
      // The model evaluated answers, or the item fails: never its fallback, nor a rollout's candidate.
      fallback: false,
      canary: false,
      recorder,
      ...(base !== undefined
        ? {
            retriever: {
              retrieve: async (request) => {
                retrieval = await base.retrieve(request);
                return retrieval;
              },
            },
          }
        : {}),
    });
    const response = await gateway.chat(input, caller, options.requestId(item, attempt));
    return { response, retrieval };
  }

  return async (item) => {
    let input: GatewayChatInput;
    try {
      input = gatewayInput(target, item);
    } catch (error) {
      return { itemId: item.id, answer: '', error: describe(error) };
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const { response, retrieval } = await once(item, input, attempt);
        return answerOf(item, target, response, retrieval);
      } catch (error) {
        const tried = attempt === 1 ? '' : ` (after ${attempt} attempts)`;
        if (!isRetryableAnswerError(error) || attempt >= backoff.maxAttempts) {
          return { itemId: item.id, answer: '', error: `${describe(error)}${tried}` };
        }
        const hinted = error instanceof ThrottledError ? error.retryAfterSeconds * 1000 : undefined;
        const wait = backoff.delay(attempt, hinted);
        const deadline = options.deadline?.();
        if (deadline !== undefined && now() + wait + attemptMs > deadline) {
          return {
            itemId: item.id,
            answer: '',
            error: `${describe(error)}${tried}; no time left in this step for another attempt`,
          };
        }
        await sleep(wait);
      }
    }
  };
}

/**
 * An item's answer from the gateway's response: text, latency, usage and cost and, with retrieval, the
 * passages the model was given (none when the content guard refused the request: the model saw none).
 */
function answerOf(
  item: EvalItem,
  target: EvaluationAnswerTarget,
  response: GatewayChatResponse,
  retrieval: Retrieval | undefined,
): EvalAnswer {
  const contexts =
    target.rag === undefined
      ? undefined
      : response.citations === undefined || retrieval === undefined
        ? []
        : retrieval.chunks.map((chunk) => ({ id: chunk.docId, text: chunk.text }));
  return {
    itemId: item.id,
    answer: response.answer,
    latencyMs: response.latencyMs,
    usage: { ...response.usage },
    ...(contexts !== undefined ? { contexts } : {}),
  };
}
