/**
 * A cheap hallucination scorer for the AWS run: the Bedrock Guardrails contextual grounding check,
 * called through ApplyGuardrail with the passages the answer rests on as the grounding source, the
 * item's question as the query and the answer as the content to guard (source `OUTPUT`). One call per
 * item yields two scores, both the service's confidence in [0, 1] (higher is better):
 * - `grounding`: how far the answer is supported by the passages (new information is ungrounded);
 * - `grounding_relevance`: how far the answer addresses the question.
 *
 * The guardrail must have a contextual grounding policy (with the GROUNDING and RELEVANCE filters to
 * score); a response without its assessment is an error score, never a made-up value.
 *
 * Limits (Amazon Bedrock User Guide, "Use contextual grounding check to filter hallucinations in
 * responses"): at most 100,000 characters of grounding source (all `grounding_source` blocks of a
 * request are combined and evaluated together), 1,000 of query and 5,000 of response. Longer inputs
 * are never sent: each text keeps its beginning up to its limit (the passages in retrieval order, so
 * the passage that crosses the limit is cut and later ones are left out), and both scores say
 * `details.truncated`, naming the blocks cut in `details.truncatedInputs`. The check then scores what
 * was sent: the beginning of a long answer, against the passages that fit. Characters are counted as
 * UTF-16 code units, never fewer than the code points the service may count, and a cut never splits
 * a surrogate pair.
 *
 * Not applicable (`null` with `details.notApplicable` and the reason): no passages, no question, an
 * empty answer, or an answer that failed. Throttling, 5xx and timeouts are retried by `withRetry`;
 * any other failure is an error score (`null` with the message), never 0. Only the caller's own abort
 * rejects.
 */
import {
  ApplyGuardrailCommand,
  type ApplyGuardrailCommandInput,
  type ApplyGuardrailCommandOutput,
  type BedrockRuntimeClient,
  type GuardrailContextualGroundingFilter,
} from '@aws-sdk/client-bedrock-runtime';
import type { EvalAnswer, EvalItem, ItemScore } from '#core/eval/types.ts';
import type { GuardrailRef } from '#core/models/types.ts';
import { ValidationError } from '../errors.ts';
import { createBedrockRuntimeClient } from '../models/clients.ts';
import { type RetryOptions, withRetry } from '../models/retry.ts';

/** How contextual grounding scores name their scorer. */
export const GROUNDING_SCORER = 'bedrock-guardrail-contextual-grounding';
/** The answer's support in the passages (the GROUNDING filter's score). */
export const GROUNDING_METRIC = 'grounding';
/** The answer's relevance to the question (the RELEVANCE filter's score). */
export const GROUNDING_RELEVANCE_METRIC = 'grounding_relevance';

/** The contextual grounding check's documented input limits, in characters. */
export const GROUNDING_LIMITS = {
  /** All grounding sources of a request together. */
  groundingSource: 100_000,
  query: 1_000,
  /** The content to guard (the model response). */
  guardContent: 5_000,
} as const;

const LABEL = 'Bedrock Guardrails';

/** The filter behind each metric. */
const FILTERS = [
  { metric: GROUNDING_METRIC, type: 'GROUNDING' },
  { metric: GROUNDING_RELEVANCE_METRIC, type: 'RELEVANCE' },
] as const;

/** The qualifier of each text block the check reads. */
export type GroundingQualifier = 'grounding_source' | 'query' | 'guard_content';

export interface GroundingScorerOptions {
  /** @default a shared client from `createBedrockRuntimeClient()` (one SDK attempt per call) */
  readonly client?: BedrockRuntimeClient;
  /** The guardrail, with a contextual grounding policy, and its published version. */
  readonly guardrail: GuardrailRef;
  /** Backoff, attempts and attempt timeout; the caller's signal comes from each call of `score`. */
  readonly retry?: Omit<RetryOptions, 'signal' | 'label'>;
}

/** What one ApplyGuardrail call carries, with the inputs that had to be cut to fit. */
export interface GroundingRequest {
  readonly input: ApplyGuardrailCommandInput;
  /** The blocks cut to their limit, by qualifier, in the order of the request. */
  readonly truncated: readonly GroundingQualifier[];
  /** Passages carried in whole or in part. */
  readonly passages: number;
}

let sharedClient: BedrockRuntimeClient | undefined;

/** The module's one Bedrock Runtime client, created on first use and reused by every scorer. */
function defaultClient(): BedrockRuntimeClient {
  sharedClient ??= createBedrockRuntimeClient();
  return sharedClient;
}

/**
 * `text` cut to at most `max` UTF-16 code units, never inside a surrogate pair. Whether it was cut is
 * `text.length > max`.
 */
export function truncateChars(text: string, max: number): string {
  if (text.length <= max) return text;
  const last = text.charCodeAt(max - 1);
  // A high surrogate at the cut would be left without its pair: cut before it.
  const end = last >= 0xd800 && last <= 0xdbff ? max - 1 : max;
  return text.slice(0, end);
}

/**
 * The passages as one grounding source of at most `max` characters, numbered as the gateway sends them
 * at generation time: whole passages in order while they fit, then the beginning of the one that
 * crosses the limit (when more than its label fits), and none after it.
 */
function groundingSource(
  passages: readonly string[],
  max: number,
): { readonly text: string; readonly passages: number; readonly truncated: boolean } {
  let text = '';
  let carried = 0;
  for (const [i, passage] of passages.entries()) {
    const label = `${i === 0 ? '' : '\n\n'}[${i + 1}] `;
    const block = label + passage;
    const room = max - text.length;
    if (block.length <= room) {
      text += block;
      carried++;
      continue;
    }
    if (room > label.length) {
      text += truncateChars(block, room);
      carried++;
    }
    return { text, passages: carried, truncated: true };
  }
  return { text, passages: carried, truncated: false };
}

/** The last user turn of the item's conversation: the question the answer answers. */
function question(item: EvalItem): string {
  for (let i = item.messages.length - 1; i >= 0; i--) {
    const message = item.messages[i];
    if (message?.role === 'user') return message.content;
  }
  return '';
}

/** The non-blank passages the answer rests on: those retrieved with it, else the item's own. */
function passagesOf(item: EvalItem, answer: EvalAnswer): string[] {
  const passages = answer.contexts?.map((c) => c.text) ?? item.contexts ?? [];
  return passages.filter((passage) => passage.trim() !== '');
}

/** Why the check cannot score this answer, if it cannot. */
function notApplicable(item: EvalItem, answer: EvalAnswer): string | undefined {
  if (answer.error !== undefined) return `the answer failed: ${answer.error}`;
  if (passagesOf(item, answer).length === 0) return 'no context passages to check the answer against';
  if (question(item).trim() === '') return 'the item has no question';
  if (answer.answer.trim() === '') return 'the answer is empty';
  return undefined;
}

/**
 * The ApplyGuardrail request that checks an answer against its passages and question: three text
 * blocks qualified `grounding_source`, `query` and `guard_content`, as OUTPUT, each within its limit.
 */
export function groundingRequest(
  item: EvalItem,
  answer: EvalAnswer,
  guardrail: GuardrailRef,
): GroundingRequest {
  const source = groundingSource(passagesOf(item, answer), GROUNDING_LIMITS.groundingSource);
  const query = question(item);
  const content = answer.answer;
  const truncated: GroundingQualifier[] = [];
  if (source.truncated) truncated.push('grounding_source');
  if (query.length > GROUNDING_LIMITS.query) truncated.push('query');
  if (content.length > GROUNDING_LIMITS.guardContent) truncated.push('guard_content');
  return {
    input: {
      guardrailIdentifier: guardrail.id,
      guardrailVersion: guardrail.version,
      source: 'OUTPUT',
      content: [
        { text: { text: source.text, qualifiers: ['grounding_source'] } },
        { text: { text: truncateChars(query, GROUNDING_LIMITS.query), qualifiers: ['query'] } },
        {
          text: {
            text: truncateChars(content, GROUNDING_LIMITS.guardContent),
            qualifiers: ['guard_content'],
          },
        },
      ],
    },
    truncated,
    passages: source.passages,
  };
}

function describe(error: unknown): string {
  const own = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const cause = error instanceof Error ? error.cause : undefined;
  return cause instanceof Error ? `${own} (${cause.name}: ${cause.message})` : own;
}

/** The first filter of each type in the response's contextual grounding assessments, if any. */
function groundingFilters(
  response: ApplyGuardrailCommandOutput,
): Map<string, GuardrailContextualGroundingFilter> | undefined {
  let found = false;
  const filters = new Map<string, GuardrailContextualGroundingFilter>();
  for (const assessment of response.assessments ?? []) {
    const policy = assessment.contextualGroundingPolicy;
    if (policy === undefined) continue;
    found = true;
    for (const filter of policy.filters ?? []) {
      if (filter.type !== undefined && !filters.has(filter.type)) filters.set(filter.type, filter);
    }
  }
  return found ? filters : undefined;
}

/**
 * Scores answers with the Bedrock Guardrails contextual grounding check. One instance per guardrail;
 * safe to reuse and to call concurrently.
 */
export class GroundingScorer {
  readonly #client: BedrockRuntimeClient;
  readonly #guardrail: GuardrailRef;
  readonly #retry: Omit<RetryOptions, 'signal' | 'label'>;

  constructor(options: GroundingScorerOptions) {
    if (options.guardrail.id.trim() === '' || options.guardrail.version.trim() === '') {
      throw new ValidationError('guardrail', 'needs a non-empty id and version');
    }
    this.#client = options.client ?? defaultClient();
    this.#guardrail = options.guardrail;
    this.#retry = options.retry ?? {};
  }

  /**
   * The `grounding` and `grounding_relevance` scores of one item's answer, from one ApplyGuardrail
   * call. Rejects only when `signal` aborts.
   */
  async score(item: EvalItem, answer: EvalAnswer, signal?: AbortSignal): Promise<ItemScore[]> {
    const base = {
      scorer: GROUNDING_SCORER,
      guardrailId: this.#guardrail.id,
      guardrailVersion: this.#guardrail.version,
    };
    const reason = notApplicable(item, answer);
    if (reason !== undefined) {
      return FILTERS.map(({ metric }) => ({
        metric,
        value: null,
        error: `not applicable: ${reason}`,
        details: { ...base, notApplicable: true, reason },
      }));
    }
    const request = groundingRequest(item, answer, this.#guardrail);
    const details = {
      ...base,
      passages: request.passages,
      truncated: request.truncated.length > 0,
      ...(request.truncated.length > 0 ? { truncatedInputs: request.truncated } : {}),
    };
    const failed = (message: string): ItemScore[] =>
      FILTERS.map(({ metric }) => ({ metric, value: null, error: message, details }));

    let response: ApplyGuardrailCommandOutput;
    try {
      const command = new ApplyGuardrailCommand(request.input);
      response = await withRetry((abortSignal) => this.#client.send(command, { abortSignal }), {
        ...this.#retry,
        signal,
        label: LABEL,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      return failed(`Bedrock Guardrails contextual grounding check failed: ${describe(error)}`);
    }

    const filters = groundingFilters(response);
    if (filters === undefined) {
      return failed(
        `guardrail ${this.#guardrail.id} version ${this.#guardrail.version} returned no contextualGroundingPolicy assessment: it needs a contextual grounding policy`,
      );
    }
    const units = response.usage?.contextualGroundingPolicyUnits;
    return FILTERS.map(({ metric, type }): ItemScore => {
      const filter = filters.get(type);
      if (filter === undefined) {
        return {
          metric,
          value: null,
          error: `the guardrail's contextual grounding policy has no ${type} filter`,
          details,
        };
      }
      const own = {
        ...details,
        threshold: filter.threshold,
        action: filter.action,
        ...(filter.detected !== undefined ? { detected: filter.detected } : {}),
        ...(units !== undefined ? { contextualGroundingUnits: units } : {}),
      };
      const score = filter.score;
      if (typeof score !== 'number' || !Number.isFinite(score) || score < 0 || score > 1) {
        return { metric, value: null, error: `the ${type} filter returned no score in [0, 1]`, details: own };
      }
      return { metric, value: score, details: own };
    });
  }
}
