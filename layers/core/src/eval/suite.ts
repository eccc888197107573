/**
 * Evaluation suites (no AWS imports): JSONL text in either accepted format (`#contracts/evaluation/suite.ts`)
 * normalized into {@link EvalItem}s, with every line that cannot become one quarantined with its reason.
 *
 * References come in three states, told apart by `references` and `unanswerable`:
 * - answerable: `reference`, `references` or `ideal` given and non-empty; `references` holds them;
 * - must be declined: `references: []` (or `ideal: []`), or the tag `unanswerable`; `references` is empty,
 *   `unanswerable` is true, and the tag `unanswerable` is always present (so reports break it out);
 * - reference unknown: none of the above; `references` is empty and `unanswerable` false. Reference-free
 *   metrics (JSON, contains, regex, retrieval, judges without a reference) still apply; the reference
 *   metrics score such an item as not computable ({@link hasReferences}).
 * An item tagged `unanswerable` that also gives references is contradictory and quarantined.
 *
 * Ids: given ones are kept; otherwise `item-` and 16 hex digits of the SHA-256 of the item's content
 * (everything but its id and tags), so a suite re-parsed gives the same ids. Tags are labels, not content:
 * two lines that differ only in their tags get the same derived id, and the second is quarantined as a
 * duplicate. Tags are normalized (NFKC, trimmed, lowercased, inner whitespace to `-`), deduplicated and
 * sorted.
 */
import { createHash } from 'node:crypto';
import type * as z from 'zod/mini';
import {
  NOT_WITH_IDEAL,
  OPENAI_EVALS_FIELDS,
  openaiEvalsSample,
  SUITE_LINE_LIMITS,
  type SuiteMessage,
  type SuiteSummary,
  suiteItemLine,
  suiteOptions,
} from '#contracts/evaluation/suite.ts';
import { ValidationError } from '../errors.ts';
import { canonicalJson } from '../prompts/hash.ts';
import { describeRule } from '../schema-rules.ts';
import type { EvalCounterfactual, EvalItem, EvalMessage } from './types.ts';

/** The tag that marks an item to be declined (added to every item that must be declined). */
export const UNANSWERABLE_TAG = 'unanswerable';

/** Limits of a whole suite; those of one line's fields are `SUITE_LINE_LIMITS` in the contract. */
export const SUITE_LIMITS = {
  /** A line longer than this (UTF-8 bytes, without its line ending) is quarantined unread. */
  maxLineBytes: 1_048_576,
  /** More non-blank lines than this and the whole suite is refused. */
  maxItems: 50_000,
} as const;

/** A line that did not become an item: its 1-based number and the field and rule it broke. */
export interface QuarantinedLine {
  readonly line: number;
  readonly reason: string;
}

export interface ParseSuiteOptions {
  /** The suite's name (`^[a-z0-9][a-z0-9_-]{0,63}$`). */
  readonly name: string;
  /** The suite's version. @default `sha256-` and 16 hex digits of the normalized items */
  readonly version?: string;
  /** Lower (or raise) the suite limits. @default {@link SUITE_LIMITS} */
  readonly limits?: { readonly maxLineBytes?: number; readonly maxItems?: number };
}

export interface ParsedSuite {
  readonly items: readonly EvalItem[];
  readonly quarantined: readonly QuarantinedLine[];
  readonly summary: SuiteSummary;
}

/** Whether the item has reference answers (false both for one to decline and for one with none known). */
export function hasReferences(item: EvalItem): boolean {
  return item.references.length > 0;
}

/** A tag as it is stored: NFKC, trimmed, lowercased, inner whitespace runs replaced by `-`. */
export function normalizeTag(tag: string): string {
  return tag.normalize('NFKC').trim().toLowerCase().replace(/\s+/gu, '-');
}

// Control, format, private-use and unassigned characters have no place in a tag.
const BAD_TAG_CHAR = /\p{C}/u;

/** The content hash id of an item without one (see the module comment). */
export function deriveItemId(item: Omit<EvalItem, 'id' | 'tags'>): string {
  const content = {
    messages: item.messages,
    references: item.references,
    unanswerable: item.unanswerable,
    contexts: item.contexts,
    referenceContextIds: item.referenceContextIds,
    counterfactuals: item.counterfactuals,
    metadata: item.metadata,
  };
  return `item-${sha256(canonicalJson(content)).slice(0, 16)}`;
}

/** Counts of a suite's items, overall and by tag (tags sorted). */
export function summarizeSuite(name: string, version: string, items: readonly EvalItem[]): SuiteSummary {
  const counts = new Map<string, number>();
  for (const item of items) for (const tag of item.tags) counts.set(tag, (counts.get(tag) ?? 0) + 1);
  const tags: Record<string, number> = {};
  for (const tag of [...counts.keys()].sort()) tags[tag] = counts.get(tag) as number;
  return { name, version, items: items.length, tags };
}

/**
 * Parses a suite's JSONL text. Blank lines are skipped; every other line becomes an item or a
 * quarantined line with a reason that names the field (`messages.0.role: must be one of system, user,
 * assistant`). Throws {@link ValidationError} for bad options and for a suite over `maxItems` lines.
 */
export function parseSuite(text: string, options: ParseSuiteOptions): ParsedSuite {
  const { name, version } = checkOptions(options);
  const maxLineBytes = checkLimit(
    'limits.maxLineBytes',
    options.limits?.maxLineBytes,
    SUITE_LIMITS.maxLineBytes,
  );
  const maxItems = checkLimit('limits.maxItems', options.limits?.maxItems, SUITE_LIMITS.maxItems);

  const items: EvalItem[] = [];
  const quarantined: QuarantinedLine[] = [];
  const lineOfId = new Map<string, number>();
  const lines = (text.startsWith('\uFEFF') ? text.slice(1) : text).split('\n');
  let nonBlank = 0;
  for (let k = 0; k < lines.length; k++) {
    const raw = lines[k] as string;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    const lineNo = k + 1;
    nonBlank++;
    if (nonBlank > maxItems) {
      throw new ValidationError(
        'suite',
        `must have at most ${maxItems} items (line ${lineNo} is item ${nonBlank})`,
      );
    }
    const bytes = Buffer.byteLength(line, 'utf8');
    if (bytes > maxLineBytes) {
      quarantined.push({
        line: lineNo,
        reason: `line: must be at most ${maxLineBytes} bytes (it has ${bytes})`,
      });
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      quarantined.push({ line: lineNo, reason: `line: not valid JSON (${(error as Error).message})` });
      continue;
    }
    const parsed = parseSuiteItem(value);
    if ('reason' in parsed) {
      quarantined.push({ line: lineNo, reason: parsed.reason });
      continue;
    }
    const first = lineOfId.get(parsed.item.id);
    if (first !== undefined) {
      quarantined.push({
        line: lineNo,
        reason: parsed.derivedId
          ? `id: same content as line ${first} (derived id ${parsed.item.id})`
          : `id: duplicate of line ${first} (${parsed.item.id})`,
      });
      continue;
    }
    lineOfId.set(parsed.item.id, lineNo);
    items.push(parsed.item);
  }
  const resolvedVersion = version ?? `sha256-${sha256(canonicalJson(items)).slice(0, 16)}`;
  return { items, quarantined, summary: summarizeSuite(name, resolvedVersion, items) };
}

/** One parsed line: the item (and whether its id was derived), or why it is quarantined. */
export type ParsedItem =
  | { readonly item: EvalItem; readonly derivedId: boolean }
  | { readonly reason: string };

/** Normalizes one line's JSON value (either format) into an item, or says which field is wrong. */
export function parseSuiteItem(value: unknown): ParsedItem {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { reason: 'line: must be a JSON object' };
  }
  const record = value as Record<string, unknown>;
  return Object.hasOwn(record, 'ideal') ? fromOpenaiEvals(record) : fromOwnFormat(record);
}

/** The fields both formats share, once parsed; `references` undefined = none given. */
interface Common {
  readonly id?: string;
  readonly messages: readonly EvalMessage[];
  readonly references: readonly string[] | undefined;
  /** The field the references came from, for reasons. */
  readonly referenceField: string;
  readonly contexts?: readonly string[];
  readonly reference_context_ids?: readonly string[];
  readonly tags?: readonly string[];
  readonly metadata?: Record<string, unknown>;
  readonly counterfactuals?: readonly {
    group: string;
    input?: string | SuiteMessage[];
    messages?: SuiteMessage[];
  }[];
}

function fromOwnFormat(record: Record<string, unknown>): ParsedItem {
  const parsed = suiteItemLine.safeParse(record);
  if (!parsed.success) return { reason: reasonOf(parsed.error.issues, record) };
  const line = parsed.data;
  const messages = conversationOf(line, '');
  if (typeof messages === 'string') return { reason: messages };
  if (line.reference !== undefined && line.references !== undefined) {
    return { reason: 'references: cannot be combined with reference' };
  }
  const references = line.reference !== undefined ? [line.reference] : line.references;
  return build({
    ...line,
    messages,
    references,
    referenceField: line.reference !== undefined ? 'reference' : 'references',
  });
}

function fromOpenaiEvals(record: Record<string, unknown>): ParsedItem {
  const clash = NOT_WITH_IDEAL.find((field) => Object.hasOwn(record, field));
  if (clash !== undefined) {
    return {
      reason: `${clash}: cannot be combined with ideal (an OpenAI Evals sample gives its references as ideal)`,
    };
  }
  const known: Record<string, unknown> = {};
  const extras: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(record)) {
    if (OPENAI_EVALS_FIELDS.includes(key)) known[key] = field;
    else extras[key] = field;
  }
  if (Object.keys(extras).length > 0) {
    const given = known.metadata;
    if (given === undefined) {
      known.metadata = extras;
    } else if (given !== null && typeof given === 'object' && !Array.isArray(given)) {
      const both = Object.keys(extras).find((key) => Object.hasOwn(given, key));
      if (both !== undefined) return { reason: `metadata.${both}: also given as a top-level field` };
      known.metadata = { ...extras, ...given };
    } // else: the schema reports what is wrong with metadata
  }
  const parsed = openaiEvalsSample.safeParse(known);
  if (!parsed.success) return { reason: reasonOf(parsed.error.issues, known) };
  const sample = parsed.data;
  return build({
    ...sample,
    messages: messagesOf(sample.input),
    references: typeof sample.ideal === 'string' ? [sample.ideal] : sample.ideal,
    referenceField: 'ideal',
  });
}

function build(common: Common): ParsedItem {
  const tags = normalizeTags(common.tags ?? []);
  if (typeof tags === 'string') return { reason: tags };
  const references = common.references ?? [];
  const unanswerable =
    tags.includes(UNANSWERABLE_TAG) || (common.references !== undefined && references.length === 0);
  if (unanswerable && references.length > 0) {
    return { reason: `${common.referenceField}: an item tagged ${UNANSWERABLE_TAG} cannot have references` };
  }
  if (unanswerable && !tags.includes(UNANSWERABLE_TAG)) {
    tags.push(UNANSWERABLE_TAG);
    tags.sort();
  }
  const counterfactuals = counterfactualsOf(common.counterfactuals);
  if (typeof counterfactuals === 'string') return { reason: counterfactuals };

  const content: Omit<EvalItem, 'id' | 'tags'> = {
    messages: common.messages,
    references,
    unanswerable,
    ...(common.contexts !== undefined && { contexts: common.contexts }),
    ...(common.reference_context_ids !== undefined && { referenceContextIds: common.reference_context_ids }),
    ...(counterfactuals !== undefined && { counterfactuals }),
    ...(common.metadata !== undefined && { metadata: common.metadata }),
  };
  const id = common.id ?? deriveItemId(content);
  return { item: { id, ...content, tags }, derivedId: common.id === undefined };
}

function messagesOf(input: string | readonly SuiteMessage[]): EvalMessage[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  return input.map(({ role, content }) => ({ role, content }));
}

/** The conversation of a line or a counterfactual: exactly one of `input` and `messages`. */
function conversationOf(
  line: { input?: string | SuiteMessage[]; messages?: SuiteMessage[] },
  prefix: string,
): EvalMessage[] | string {
  if (line.input !== undefined && line.messages !== undefined) {
    return `${prefix}messages: cannot be combined with input`;
  }
  const input = line.input ?? line.messages;
  if (input === undefined) return `${prefix}input: is required (or ${prefix}messages)`;
  return messagesOf(input);
}

function counterfactualsOf(variants: Common['counterfactuals']): EvalCounterfactual[] | string | undefined {
  if (variants === undefined) return undefined;
  const out: EvalCounterfactual[] = [];
  const seen = new Map<string, number>();
  for (const [k, variant] of variants.entries()) {
    const prefix = `counterfactuals.${k}.`;
    const messages = conversationOf(variant, prefix);
    if (typeof messages === 'string') return messages;
    const earlier = seen.get(variant.group);
    if (earlier !== undefined) return `${prefix}group: duplicate of counterfactuals.${earlier}.group`;
    seen.set(variant.group, k);
    out.push({ group: variant.group, messages });
  }
  return out;
}

function normalizeTags(raw: readonly string[]): string[] | string {
  const tags = new Set<string>();
  for (const [k, tag] of raw.entries()) {
    const normal = normalizeTag(tag);
    if (normal === '') return `tags.${k}: must not be blank`;
    if (normal.length > SUITE_LINE_LIMITS.maxTagChars) {
      return `tags.${k}: must have at most ${SUITE_LINE_LIMITS.maxTagChars} characters once normalized`;
    }
    if (BAD_TAG_CHAR.test(normal)) return `tags.${k}: must not contain control or format characters`;
    tags.add(normal);
  }
  return [...tags].sort();
}

/** Up to three of a parse's issues, each as `field: rule`. */
function reasonOf(issues: readonly z.core.$ZodIssue[], input: unknown): string {
  return issues
    .slice(0, 3)
    .map((issue) => describeIssue(issue, [], input))
    .join('; ');
}

function describeIssue(issue: z.core.$ZodIssue, prefix: readonly PropertyKey[], input: unknown): string {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'unrecognized_keys') {
    const at = path.length === 0 ? '' : `${fieldOf(path)}.`;
    return issue.keys.map((key) => `${at}${key}: unknown field`).join('; ');
  }
  if (issue.code === 'invalid_union' && valueAt(input, path) !== undefined) {
    // The branch that got past the type check says what is wrong; if none did, name the types.
    const reached = issue.errors.filter(
      (branch) => !(branch.length === 1 && branch[0]?.code === 'invalid_type' && branch[0].path.length === 0),
    );
    const [only] = reached;
    if (reached.length === 1 && only?.[0] !== undefined) return describeIssue(only[0], path, input);
    if (reached.length === 0) {
      const types = issue.errors.map((branch) =>
        branch[0]?.code === 'invalid_type' ? branch[0].expected : '?',
      );
      return `${fieldOf(path)}: must be ${[...new Set(types)].join(' or ')}`;
    }
  }
  if (path.length > 0 && valueAt(input, path) === undefined) return `${fieldOf(path)}: is required`;
  return `${fieldOf(path)}: ${describeRule(issue)}`;
}

const fieldOf = (path: readonly PropertyKey[]) => (path.length === 0 ? 'line' : path.map(String).join('.'));

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function checkOptions(options: ParseSuiteOptions): { name: string; version?: string } {
  const parsed = suiteOptions.safeParse({ name: options.name, version: options.version });
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    throw new ValidationError(fieldOf(issue.path), describeRule(issue));
  }
  return parsed.data;
}

function checkLimit(field: string, given: number | undefined, fallback: number): number {
  if (given === undefined) return fallback;
  if (!Number.isInteger(given) || given < 1)
    throw new ValidationError(field, 'must be a positive whole number');
  return given;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
