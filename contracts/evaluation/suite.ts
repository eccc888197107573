import * as z from 'zod/mini';

/**
 * One line of an evaluation suite (JSONL), in either accepted format:
 *
 * - the project's own: `{id?, input | messages, reference? | references?, contexts?,
 *   reference_context_ids?, tags?, metadata?, counterfactuals?}`, closed (an unknown field, often a
 *   misspelt one, is named rather than ignored);
 * - an OpenAI Evals sample: `{input, ideal}`, taken as it is. `ideal` (a string or a list of strings)
 *   marks the format; the fields shared with the project's format (`id`, `tags`, `contexts`, ...) keep
 *   their meaning, and any other field is kept in the item's metadata, as Evals templates read them.
 *
 * `input` is a plain string (one user turn) or a list of `{role, content}` turns. References:
 * `reference`/`references`/`ideal` given and non-empty = answerable; `references: []` (or `ideal: []`) or
 * the tag `unanswerable` = must be declined; none of them = no reference known (only reference-free
 * metrics apply). The core (`#core/eval/suite.ts`) normalizes a parsed line into an `EvalItem`.
 */

/** Limits of one line; a line over any of them is quarantined with the field and the limit. */
export const SUITE_LINE_LIMITS = {
  /** Turns of a conversation (as the chat API). */
  maxMessages: 100,
  maxMessageChars: 100_000,
  maxReferences: 100,
  maxReferenceChars: 10_000,
  maxContexts: 100,
  maxContextChars: 100_000,
  maxContextIdChars: 256,
  maxTags: 32,
  maxTagChars: 64,
  maxCounterfactuals: 32,
  maxGroupChars: 64,
} as const;

/** Given item ids: they travel in reports and object keys unescaped. */
export const ITEM_ID = /^[A-Za-z0-9_.:/-]{1,128}$/;
/** Suite names, like prompt names: lowercase and URL-safe. */
export const SUITE_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** Suite versions given by the caller (derived ones are `sha256-` and 16 hex digits). */
export const SUITE_VERSION = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const L = SUITE_LINE_LIMITS;

/** One turn. `name` (OpenAI Evals' few-shot labels such as `example_user`) is accepted and not kept. */
export const suiteMessage = z.strictObject({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string().check(z.maxLength(L.maxMessageChars)),
  name: z.optional(z.string().check(z.maxLength(64))),
});
export type SuiteMessage = z.infer<typeof suiteMessage>;

export const suiteConversation = z.array(suiteMessage).check(z.minLength(1), z.maxLength(L.maxMessages));

/** A plain string (one user turn) or a conversation. */
export const suiteInput = z.union([
  z.string().check(z.minLength(1), z.maxLength(L.maxMessageChars)),
  suiteConversation,
]);

const reference = z.string().check(z.minLength(1), z.maxLength(L.maxReferenceChars));
const references = z.array(reference).check(z.maxLength(L.maxReferences));

export const suiteCounterfactual = z.strictObject({
  /** The group this variant stands for (`female`, `age-60+`, ...). */
  group: z.string().check(z.minLength(1), z.maxLength(L.maxGroupChars)),
  input: z.optional(suiteInput),
  messages: z.optional(suiteConversation),
});
export type SuiteCounterfactual = z.infer<typeof suiteCounterfactual>;

/** Fields that mean the same in both formats. */
const itemFields = {
  id: z.optional(
    z.string().check(z.regex(ITEM_ID, 'must be 1-128 letters, digits, "_", ".", ":", "/" or "-"')),
  ),
  contexts: z.optional(
    z
      .array(z.string().check(z.minLength(1), z.maxLength(L.maxContextChars)))
      .check(z.maxLength(L.maxContexts)),
  ),
  reference_context_ids: z.optional(
    z
      .array(z.string().check(z.minLength(1), z.maxLength(L.maxContextIdChars)))
      .check(z.minLength(1), z.maxLength(L.maxContexts)),
  ),
  tags: z.optional(
    z.array(z.string().check(z.minLength(1), z.maxLength(L.maxTagChars))).check(z.maxLength(L.maxTags)),
  ),
  metadata: z.optional(z.record(z.string(), z.unknown())),
  counterfactuals: z.optional(z.array(suiteCounterfactual).check(z.maxLength(L.maxCounterfactuals))),
};

/** A line in the project's own format. */
export const suiteItemLine = z.strictObject({
  ...itemFields,
  input: z.optional(suiteInput),
  messages: z.optional(suiteConversation),
  reference: z.optional(reference),
  references: z.optional(references),
});
export type SuiteItemLine = z.infer<typeof suiteItemLine>;

/**
 * An OpenAI Evals sample: `input` and `ideal`, plus the fields of {@link itemFields} when given. The
 * core moves a sample's other fields into `metadata` before parsing it with this schema.
 */
export const openaiEvalsSample = z.strictObject({
  ...itemFields,
  input: suiteInput,
  ideal: z.union([reference, references]),
});
export type OpenaiEvalsSample = z.infer<typeof openaiEvalsSample>;

/** The fields an OpenAI Evals sample keeps as they are; any other goes into its metadata. */
export const OPENAI_EVALS_FIELDS: readonly string[] = ['input', 'ideal', ...Object.keys(itemFields)];
/** Fields of the project's format that cannot stand beside `ideal` (they say the same thing). */
export const NOT_WITH_IDEAL: readonly string[] = ['messages', 'reference', 'references'];

/** How a suite is named when it is parsed. */
export const suiteOptions = z.strictObject({
  name: z.string().check(z.regex(SUITE_NAME, 'must match ^[a-z0-9][a-z0-9_-]{0,63}$')),
  version: z.optional(
    z.string().check(z.regex(SUITE_VERSION, 'must be 1-64 letters, digits, ".", "_" or "-"')),
  ),
});
export type SuiteOptions = z.infer<typeof suiteOptions>;

/** What a suite holds, for listings and reports. */
export const suiteSummary = z.object({
  name: z.string(),
  version: z.string(),
  /** Valid items (quarantined lines not counted). */
  items: z.int().check(z.nonnegative()),
  /** Items per tag. */
  tags: z.record(z.string(), z.int().check(z.nonnegative())),
});
export type SuiteSummary = z.infer<typeof suiteSummary>;
