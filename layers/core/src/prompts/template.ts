import {
  type PromptDraft,
  type PromptMessage,
  type PromptVersion,
  promptDraft,
} from '#contracts/prompts/types.ts';
import { PromptRenderError, ValidationError } from '../errors.ts';
import type { ChatMessage } from '../models/types.ts';
import { describeRule } from '../schema-rules.ts';

/**
 * Prompt templates: message contents with `{{ name }}` placeholders.
 *
 * Syntax, kept deliberately small:
 * - a placeholder is `{{`, optional whitespace, a variable name (`[A-Za-z_][A-Za-z0-9_]*`), optional
 *   whitespace, `}}`: `{{customer}}`, `{{ customer }}`;
 * - anything else between double braces (`{{ not a name }}`, `{{}}`, JSON such as `{"a":{"b":1}}`) is
 *   literal text; in `{{{ x }}}` the inner `{{ x }}` is the placeholder and the outer braces stay;
 * - there is no escape: a backslash before `{{` is literal text like any other. To show a placeholder
 *   literally, pass the text through a variable: values are inserted as they are, never scanned again.
 */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** The variable names a message content refers to, in order of first appearance. */
export function placeholders(content: string): string[] {
  const names = new Set<string>();
  for (const match of content.matchAll(PLACEHOLDER)) names.add(match[1] as string);
  return [...names];
}

/**
 * Checks a draft before it becomes an immutable version: the schema, at most one system message and
 * only in first position, and every placeholder declared in `variables`. Variables declared but not
 * used are allowed.
 * @throws ValidationError naming the field (`messages.2.content`) and the rule it broke.
 */
export function validateDraft(draft: PromptDraft): void {
  const parsed = promptDraft.safeParse(draft);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.map(String).join('.') || 'body';
    throw new ValidationError(field, issue ? describeRule(issue) : 'is invalid');
  }
  draft.messages.forEach((message, i) => {
    if (message.role === 'system' && i !== 0) {
      throw new ValidationError(
        `messages.${i}.role`,
        'only the first message may be a system message (at most one system message)',
      );
    }
    for (const name of placeholders(message.content)) {
      if (!Object.hasOwn(draft.variables, name)) {
        throw new ValidationError(
          `messages.${i}.content`,
          `uses {{ ${name} }}, which is not declared in variables`,
        );
      }
    }
  });
}

/** What {@link renderPrompt} needs of a version. */
export type RenderablePrompt = Pick<
  PromptVersion,
  'name' | 'version' | 'messages' | 'variables' | 'contentHash'
>;

/** A rendered prompt, ready for a `ChatRequest`: the system message apart, then the turns. */
export interface RenderedPrompt {
  system?: string;
  messages: ChatMessage[];
}

/**
 * A message content split at its placeholders: `literals[0] name[0] literals[1] ... literals[n]`,
 * so `literals.length === names.length + 1`.
 */
interface CompiledMessage {
  readonly role: PromptMessage['role'];
  readonly literals: readonly string[];
  readonly names: readonly string[];
}

interface Compiled {
  readonly source: readonly PromptMessage[];
  readonly messages: readonly CompiledMessage[];
}

/** Compiled templates by content hash; versions are immutable, so an entry never goes stale. */
const MAX_COMPILED = 256;
const compiledCache = new Map<string, Compiled>();

function compileMessage(message: PromptMessage): CompiledMessage {
  const literals: string[] = [];
  const names: string[] = [];
  let last = 0;
  for (const match of message.content.matchAll(PLACEHOLDER)) {
    literals.push(message.content.slice(last, match.index));
    names.push(match[1] as string);
    last = match.index + match[0].length;
  }
  literals.push(message.content.slice(last));
  return { role: message.role, literals, names };
}

function sameMessages(a: readonly PromptMessage[], b: readonly PromptMessage[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  return a.every((m, i) => m.role === b[i]?.role && m.content === b[i]?.content);
}

function compile(version: RenderablePrompt): Compiled {
  const key = version.contentHash;
  const cached = compiledCache.get(key);
  // The comparison guards against two different contents passed under one hash (hand-built versions).
  if (cached && sameMessages(cached.source, version.messages)) {
    compiledCache.delete(key);
    compiledCache.set(key, cached);
    return cached;
  }
  const compiled: Compiled = { source: version.messages, messages: version.messages.map(compileMessage) };
  compiledCache.set(key, compiled);
  if (compiledCache.size > MAX_COMPILED) {
    const oldest = compiledCache.keys().next().value;
    if (oldest !== undefined) compiledCache.delete(oldest);
  }
  return compiled;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** The text a value puts in place of its placeholder, after checking it has the declared type. */
function valueText(name: string, type: 'string' | 'number' | 'boolean' | 'json', value: unknown): string {
  const field = `variables.${name}`;
  const wrongType = (rule: string) =>
    new PromptRenderError(field, rule, { message: `${field}: ${rule} (got ${describeType(value)})` });
  switch (type) {
    case 'string':
      if (typeof value !== 'string') throw wrongType('must be a string');
      return value;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw wrongType('must be a number');
      return String(value);
    case 'boolean':
      if (typeof value !== 'boolean') throw wrongType('must be a boolean');
      return String(value);
    case 'json': {
      let text: string | undefined;
      try {
        text = JSON.stringify(value);
      } catch (error) {
        throw new PromptRenderError(field, 'must be JSON-serializable', { cause: error });
      }
      if (text === undefined) throw wrongType('must be JSON-serializable');
      return text;
    }
  }
}

/**
 * Renders a version with the caller's values. The system message (if any) is returned apart, as model
 * APIs take it; user and assistant messages keep their order. Values are checked against each
 * variable's type: strings as they are, numbers and booleans through `String()`, `json` values through
 * `JSON.stringify`. An optional variable that is absent renders as an empty string.
 * @throws PromptRenderError (`variables.<name>`) for an undeclared value, a missing required one, or a
 *   value of the wrong type.
 */
export function renderPrompt(
  version: RenderablePrompt,
  values: Readonly<Record<string, unknown>> = {},
): RenderedPrompt {
  for (const name of Object.keys(values)) {
    if (values[name] !== undefined && !Object.hasOwn(version.variables, name)) {
      throw new PromptRenderError(
        `variables.${name}`,
        `is not declared by prompt ${version.name} version ${version.version}`,
      );
    }
  }
  const texts = new Map<string, string>();
  for (const [name, spec] of Object.entries(version.variables)) {
    const value = Object.hasOwn(values, name) ? values[name] : undefined;
    if (value === undefined) {
      if (spec.required !== false) throw new PromptRenderError(`variables.${name}`, 'is required');
      texts.set(name, '');
    } else {
      texts.set(name, valueText(name, spec.type, value));
    }
  }

  const compiled = compile(version);
  const systemParts: string[] = [];
  const messages: ChatMessage[] = [];
  for (const message of compiled.messages) {
    let content = message.literals[0] as string;
    for (let i = 0; i < message.names.length; i++) {
      content += (texts.get(message.names[i] as string) ?? '') + (message.literals[i + 1] as string);
    }
    if (message.role === 'system') systemParts.push(content);
    else messages.push({ role: message.role, content });
  }
  const system = systemParts.join('\n\n');
  return system === '' ? { messages } : { system, messages };
}
