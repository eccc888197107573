/**
 * Model judges: a rubric scores an item's answer with a model, through structured output. The judge's
 * prompt is the rubric's registry version when the run resolved one (`withPrompt`), else its built-in
 * text (version 1 of that prompt).
 *
 * - The judge is asked `k` times (default 3, temperature 0). Each output is parsed as JSON and checked
 *   against the rubric's zod schema; an output that fails (or a call that fails) is an error of that
 *   repeat, counted and shown in `details.errors`, never a score of 0. The item gets a value only when
 *   a majority of the repeats produced a valid output; otherwise its value is `null` with the error.
 * - The value is the mean of the repeats' scores, with the repeats, their spread (max − min), whether
 *   they disagree (`unstable`), pass^k (`passAll`: every repeat passed, for rubrics with a pass/fail
 *   verdict), the rationales, the judge's model id and the rubric's version (`name:version` of the
 *   registry prompt) in `details`. A repeat that failed or found the rubric not applicable is `null`
 *   in `details.repeats`.
 * - A rubric that does not apply (faithfulness without passages, or of an answer without claims) gives
 *   `null` with `details.notApplicable` and the reason, never a made-up 1 or 0.
 * - `judgePair` compares two answers in both orders and reports a preference only when it survives the
 *   swap (position bias is the judges' best-known failure); otherwise `inconsistent`.
 *
 * What the judge reads of the item (question, answer, passages) goes into its prompt as JSON, so that
 * no text of a caller or a model can end the data and pass for instructions.
 */

import * as z from 'zod/mini';
import { ValidationError } from '../errors.ts';
import type { ChatRequest, ModelProvider } from '../models/types.ts';
import { contentHash } from '../prompts/hash.ts';
import { parsePromptRef } from '../prompts/reference.ts';
import { type RenderablePrompt, renderPrompt } from '../prompts/template.ts';
import { describeRule } from '../schema-rules.ts';
import { PAIRWISE_RUBRIC } from './rubrics/pairwise.ts';
import { rubricPromptDraft } from './rubrics/registry.ts';
import type {
  NotApplicable,
  PairInput,
  PairOutput,
  PairRubric,
  Rubric,
  RubricInput,
} from './rubrics/types.ts';
import { isUnstable, repeatSpread } from './stats.ts';
import type { EvalAnswer, EvalItem, ItemScore } from './types.ts';

export type * from './rubrics/types.ts';
export { rubricPromptDraft };

/** Judge calls per item. */
export const DEFAULT_REPEATS = 3;
/** Output tokens a judge call may use (faithfulness lists every claim with a reason). */
export const DEFAULT_JUDGE_MAX_TOKENS = 2048;
/** Numeric repeats further apart than this (max − min) are unstable; boolean verdicts: any flip. */
export const DEFAULT_UNSTABLE_SPREAD = 0.1;
/** Characters of an unreadable output quoted in its error. */
const EXCERPT = 200;

/** What a judge call needs of a rubric: its prompt, its output schema and what it shows the judge. */
type JudgePrompt<I, T> = Pick<
  Rubric<T>,
  'name' | 'version' | 'description' | 'instructions' | 'template' | 'outputSchema' | 'prompt'
> & { payload(input: I): Record<string, unknown> };

const prompts = new WeakMap<object, RenderablePrompt>();

/**
 * The prompt the judge renders: the registry version the rubric was resolved to, else its built-in
 * text as version `rubric.version` (built once per rubric).
 */
function promptOf(rubric: JudgePrompt<never, unknown>): RenderablePrompt {
  if (rubric.prompt !== undefined) return rubric.prompt;
  const cached = prompts.get(rubric);
  if (cached !== undefined) return cached;
  const ref = parsePromptRef(rubric.version, 'rubric.version');
  if (!('version' in ref)) throw new ValidationError('rubric.version', 'must name a version: "name:version"');
  const draft = rubricPromptDraft(rubric);
  const prompt: RenderablePrompt = {
    ...draft,
    name: ref.name,
    version: ref.version,
    contentHash: contentHash(draft),
  };
  prompts.set(rubric, prompt);
  return prompt;
}

const schemas = new WeakMap<object, Record<string, unknown>>();

/** The JSON Schema of a zod/mini schema, for structured output (without the `$schema` key). */
export function jsonSchemaOf(schema: z.ZodMiniType): Record<string, unknown> {
  const cached = schemas.get(schema);
  if (cached !== undefined) return cached;
  const { $schema: _, ...json } = z.toJSONSchema(schema) as Record<string, unknown>;
  schemas.set(schema, json);
  return json;
}

/** Call settings of a judge. */
export interface JudgeCallOptions {
  readonly provider: ModelProvider;
  /** The judge model's id, as the provider takes it. */
  readonly model: string;
  /** @default 0 */
  readonly temperature?: number;
  /** @default DEFAULT_JUDGE_MAX_TOKENS */
  readonly maxTokens?: number;
  readonly signal?: AbortSignal;
}

/** The chat request that asks a rubric's judge about one input. */
export function judgeRequest<I>(
  rubric: JudgePrompt<I, unknown>,
  input: I,
  options: Omit<JudgeCallOptions, 'provider'>,
): ChatRequest {
  const rendered = renderPrompt(promptOf(rubric as JudgePrompt<never, unknown>), {
    input: rubric.payload(input),
  });
  return {
    modelId: options.model,
    ...(rendered.system === undefined ? {} : { system: rendered.system }),
    messages: rendered.messages,
    temperature: options.temperature ?? 0,
    maxTokens: options.maxTokens ?? DEFAULT_JUDGE_MAX_TOKENS,
    responseFormat: {
      name: rubric.name,
      description: rubric.description,
      schema: jsonSchemaOf(rubric.outputSchema),
    },
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
}

export type ParsedOutput<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string };

function excerpt(text: string): string {
  const flat = text.length > EXCERPT ? `${text.slice(0, EXCERPT)}...` : text;
  return JSON.stringify(flat);
}

/**
 * A judge's output checked against the rubric's schema. The text must be one JSON object; when it is
 * not, the span from its first `{` to its last `}` is tried (a model that wrapped the object in prose
 * or a code fence). Unknown fields are dropped.
 */
export function parseJudgeOutput<T>(text: string, schema: z.ZodMiniType<T>): ParsedOutput<T> {
  let json: unknown;
  let readable = false;
  try {
    json = JSON.parse(text);
    readable = true;
  } catch {
    const start = text.indexOf('{');
    const end = text.lastIndexOf('}');
    if (start !== -1 && end > start) {
      try {
        json = JSON.parse(text.slice(start, end + 1));
        readable = true;
      } catch {
        // Reported below.
      }
    }
  }
  if (!readable) return { ok: false, error: `output is not JSON: ${excerpt(text)}` };
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  const path = issue?.path.map(String).join('.') || 'output';
  return {
    ok: false,
    error: `output does not match the rubric: ${path} ${issue ? describeRule(issue) : 'is invalid'}`,
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The last user turn of a conversation. */
function lastUserTurn(item: EvalItem): string {
  for (let i = item.messages.length - 1; i >= 0; i--) {
    const message = item.messages[i];
    if (message?.role === 'user') return message.content;
  }
  return '';
}

/**
 * What a rubric judges for one item and answer. The passages: `contexts` when given, else the ones
 * retrieved with the answer, else the item's own.
 */
export function rubricInput(item: EvalItem, answer: EvalAnswer, contexts?: readonly string[]): RubricInput {
  return {
    question: lastUserTurn(item),
    conversation: item.messages,
    answer: answer.answer,
    contexts: contexts ?? answer.contexts?.map((c) => c.text) ?? item.contexts ?? [],
    references: item.references,
    unanswerable: item.unanswerable,
  };
}

export interface JudgeItemOptions<T> extends JudgeCallOptions {
  readonly rubric: Rubric<T>;
  readonly item: EvalItem;
  readonly answer: EvalAnswer;
  /** The passages to judge against. @default the answer's retrieved passages, else the item's */
  readonly contexts?: readonly string[];
  /** Judge calls (repeats). @default DEFAULT_REPEATS */
  readonly k?: number;
  /** Rubrics that embed (answer relevance): the provider and model. @default the judge's provider; model '' (the provider's default) */
  readonly embedding?: { readonly provider?: ModelProvider; readonly model?: string };
  /** @default DEFAULT_UNSTABLE_SPREAD */
  readonly unstableSpread?: number;
}

type Repeat<T> =
  | {
      readonly output: T;
      readonly score: number | NotApplicable;
      readonly verdict?: boolean;
      readonly rationale: string;
    }
  | { readonly error: string };

/**
 * Scores one item's answer with a rubric: `k` judge calls with structured output, each parsed and
 * checked, aggregated as described at the top of this module. Rejects only when `signal` aborts; a
 * failing judge call is an error of its repeat.
 */
export async function judgeItem<T>(options: JudgeItemOptions<T>): Promise<ItemScore> {
  const { rubric, item, answer, provider, model } = options;
  const k = options.k ?? DEFAULT_REPEATS;
  if (!Number.isInteger(k) || k < 1) throw new ValidationError('k', 'must be a positive whole number');
  const metric = rubric.name;
  const base: Record<string, unknown> = {
    judge: model,
    rubric: rubric.version,
    provider: provider.name,
    temperature: options.temperature ?? 0,
    ...(provider.name === 'offline' ? { offline: true } : {}),
  };
  if (answer.error !== undefined) {
    return { metric, value: null, error: `no answer to judge: ${answer.error}`, details: base };
  }
  const input = rubricInput(item, answer, options.contexts);
  const reason = rubric.notApplicable?.(input);
  if (reason !== undefined) {
    return {
      metric,
      value: null,
      error: `not applicable: ${reason}`,
      details: { ...base, notApplicable: true },
    };
  }
  const request = judgeRequest(rubric, input, options);
  const embedder = options.embedding?.provider ?? provider;
  const context = {
    input,
    embed: async (texts: readonly string[]) =>
      (
        await embedder.embed({
          modelId: options.embedding?.model ?? '',
          texts,
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        })
      ).vectors,
  };
  const once = async (i: number): Promise<Repeat<T>> => {
    try {
      const result = await provider.chat(request);
      const parsed = parseJudgeOutput(result.text, rubric.outputSchema);
      if (!parsed.ok) return { error: `repeat ${i + 1}: ${parsed.error}` };
      const score = await rubric.toScore(parsed.value, context);
      if (typeof score === 'number' && !(score >= 0 && score <= 1)) {
        return { error: `repeat ${i + 1}: the rubric scored ${score}, outside [0, 1]` };
      }
      const verdict = rubric.verdict?.(parsed.value);
      return {
        output: parsed.value,
        score,
        rationale: rubric.rationale(parsed.value),
        ...(verdict === undefined ? {} : { verdict }),
      };
    } catch (error) {
      if (options.signal?.aborted) throw error;
      return { error: `repeat ${i + 1}: ${describe(error)}` };
    }
  };
  const repeats = await Promise.all(Array.from({ length: k }, (_, i) => once(i)));
  return aggregate(rubric, repeats, k, base, options.unstableSpread ?? DEFAULT_UNSTABLE_SPREAD);
}

function aggregate<T>(
  rubric: Rubric<T>,
  repeats: readonly Repeat<T>[],
  k: number,
  base: Record<string, unknown>,
  tolerance: number,
): ItemScore {
  const metric = rubric.name;
  const valid = repeats.filter((r) => 'output' in r);
  const errors = repeats.flatMap((r) => ('error' in r ? [r.error] : []));
  const numeric = valid.flatMap((r) => (typeof r.score === 'number' ? [r.score] : []));
  const reasons = valid.flatMap((r) => (typeof r.score === 'number' ? [] : [r.score.notApplicable]));
  const verdicts = valid.flatMap((r) => (r.verdict === undefined ? [] : [r.verdict]));
  const spread = numeric.length > 0 ? repeatSpread(numeric) : undefined;
  const unstable =
    (numeric.length > 0 && reasons.length > 0) ||
    (rubric.verdict === undefined ? isUnstable(numeric, { tolerance }) : isUnstable(verdicts));
  const details: Record<string, unknown> = {
    ...base,
    k,
    repeats: repeats.map((r) => ('output' in r && typeof r.score === 'number' ? r.score : null)),
    mean: spread?.mean ?? null,
    spread: spread?.range ?? null,
    unstable,
    ...(rubric.verdict === undefined
      ? {}
      : {
          verdicts,
          passAll: verdicts.includes(false) ? false : verdicts.length === k ? true : null,
        }),
    rationales: valid.map((r) => r.rationale),
    outputs: repeats.map((r) => ('output' in r ? r.output : null)),
    ...(errors.length > 0 ? { errors } : {}),
  };
  if (valid.length * 2 <= k) {
    return {
      metric,
      value: null,
      error: `the judge failed ${errors.length} of ${k} repeats: ${errors[0] ?? 'no output'}`,
      details,
    };
  }
  if (reasons.length > numeric.length) {
    return {
      metric,
      value: null,
      error: `not applicable: ${reasons[0]}`,
      details: { ...details, notApplicable: true },
    };
  }
  return { metric, value: spread?.mean ?? null, details };
}

/** Which answer a pairwise judge preferred: `A` and `B` as the caller passed them. */
export type Preference = 'A' | 'B' | 'tie';

/** One of the two orders a pair was judged in. */
export interface PairOrder {
  /** `AB`: A shown first; `BA`: B shown first. */
  readonly order: 'AB' | 'BA';
  /** Mapped back to A and B; `null` when this order's call failed. */
  readonly preferred: Preference | null;
  readonly rationale?: string;
  readonly error?: string;
}

export interface PairJudgement {
  readonly itemId: string;
  /**
   * The preference both orders agree on; `inconsistent` when they disagree (the judge followed the
   * position, not the answers); `null` with `error` when an order could not be judged.
   */
  readonly preference: Preference | 'inconsistent' | null;
  readonly error?: string;
  readonly orders: readonly [PairOrder, PairOrder];
  readonly judge: string;
  readonly rubric: string;
}

export interface JudgePairOptions extends JudgeCallOptions {
  /** @default PAIRWISE_RUBRIC */
  readonly rubric?: PairRubric;
  readonly item: EvalItem;
  readonly a: EvalAnswer;
  readonly b: EvalAnswer;
  /** The passages both answers are judged against. @default the item's */
  readonly contexts?: readonly string[];
}

/**
 * The judgement of a pair one of whose answers failed: no preference, with the reason, in both orders
 * (no judge is called). Undefined when both answers are there to judge.
 */
export function unansweredPair(
  base: Pick<PairJudgement, 'itemId' | 'judge' | 'rubric'>,
  a: EvalAnswer,
  b: EvalAnswer,
): PairJudgement | undefined {
  const unanswered = [a, b].find((answer) => answer.error !== undefined);
  if (unanswered === undefined) return undefined;
  const error = `no answer to judge: ${unanswered.error}`;
  return {
    ...base,
    preference: null,
    error,
    orders: [
      { order: 'AB', preferred: null, error },
      { order: 'BA', preferred: null, error },
    ],
  };
}

/**
 * Compares two answers to one item: the judge sees A then B, and B then A. The preference holds only
 * when both orders name the same answer (or both a tie).
 */
export async function judgePair(options: JudgePairOptions): Promise<PairJudgement> {
  const rubric = options.rubric ?? PAIRWISE_RUBRIC;
  const { item, a, b } = options;
  const common = {
    question: lastUserTurn(item),
    conversation: item.messages,
    contexts: options.contexts ?? item.contexts ?? [],
    references: item.references,
  };
  const ask = async (order: 'AB' | 'BA'): Promise<PairOrder> => {
    const [first, second] = order === 'AB' ? [a, b] : [b, a];
    const input: PairInput = { ...common, first: first.answer, second: second.answer };
    try {
      const result = await options.provider.chat(judgeRequest(rubric, input, options));
      const parsed = parseJudgeOutput<PairOutput>(result.text, rubric.outputSchema);
      if (!parsed.ok) return { order, preferred: null, error: parsed.error };
      const { preferred, rationale } = parsed.value;
      const mapped: Preference =
        preferred === 'tie' ? 'tie' : (preferred === 'first') === (order === 'AB') ? 'A' : 'B';
      return { order, preferred: mapped, rationale };
    } catch (error) {
      if (options.signal?.aborted) throw error;
      return { order, preferred: null, error: describe(error) };
    }
  };
  const base = { itemId: item.id, judge: options.model, rubric: rubric.version };
  const unanswered = unansweredPair(base, a, b);
  if (unanswered !== undefined) return unanswered;
  const orders = (await Promise.all([ask('AB'), ask('BA')])) as [PairOrder, PairOrder];
  const [ab, ba] = orders;
  if (ab.preferred === null || ba.preferred === null) {
    const failed = ab.preferred === null ? ab : ba;
    return { ...base, preference: null, error: `order ${failed.order}: ${failed.error}`, orders };
  }
  return { ...base, preference: ab.preferred === ba.preferred ? ab.preferred : 'inconsistent', orders };
}
