/**
 * The per-line data-preparation pipeline: decode, parse, validate, normalize, redact, then compute what
 * deduplication and statistics need. Pure and synchronous; deduplication itself (which needs state
 * across lines) is the caller's, with {@link Deduper}.
 */
import { exactHash as computeExactHash } from './dedupe.ts';
import { InvalidArgumentError } from './errors.ts';
import { isOversize, type OversizeLine, type RawLine } from './lines.ts';
import { minhashSignature } from './minhash.ts';
import { normalizeText } from './normalize.ts';
import { emptyPiiCounts, PII_KINDS, type PiiKind, redactPii } from './pii.ts';
import { fastParseRecord, formatZodIssues, PURPOSES, type Purpose, recordSchemas } from './records.ts';
import { countTokens } from './tokens.ts';

/** Options for {@link processLine}. */
export interface ProcessOptions {
  /** What the dataset is for: selects the record schema and the text fields. */
  purpose: Purpose;
  /** Lines longer than this many bytes are rejected with `TOO_LARGE`. */
  maxRecordBytes: number;
  /**
   * Redacts one text field, incrementing `counts`. @default regex {@link redactPii}
   */
  redact?: (text: string, counts: Record<PiiKind, number>) => string;
}

/** Why a line was quarantined. */
export type BadLineCode =
  | 'INVALID_UTF8'
  | 'INVALID_JSON'
  | 'NOT_AN_OBJECT'
  | 'SCHEMA'
  | 'EMPTY_TEXT'
  | 'TOO_LARGE';

/** What {@link processLine} made of a line. */
export type LineOutcome =
  | { kind: 'blank' }
  | {
      kind: 'good';
      /** The validated record with its text fields normalized and redacted: what goes to the curated output. */
      record: Record<string, unknown>;
      /** The text that deduplication compares (see {@link processLine}). */
      dedupeText: string;
      /** {@link exactHash} of `dedupeText`. */
      exactHash: string;
      /** MinHash signature of `dedupeText` (128 bytes). */
      signature: Uint8Array;
      /** o200k_base tokens in all of the record's text fields. */
      tokens: number;
    }
  | { kind: 'bad'; code: BadLineCode; reason: string };

/** A zeroed redaction count per PII kind. */
export function emptyRedactionCounts(): Record<PiiKind, number> {
  return emptyPiiCounts();
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const MAX_REASON_CHARS = 300;
const defaultRedact = (text: string, counts: Record<PiiKind, number>): string => redactPii(text, counts).text;

/** Counts for the record being processed; added to the caller's only when the record comes out good. */
const pending = emptyPiiCounts();

/** A text field of a record: the object or array that holds it, and the key or index. */
interface TextField {
  holder: Record<string, unknown> | unknown[];
  key: string | number;
  /** The field's dotted path, for reasons: `messages.2.content`, `contexts.1`, `prompt`. */
  path: string;
  /**
   * What emptiness (after normalization or redaction) does: `required` quarantines the record
   * (`EMPTY_TEXT`); `optional` removes the field (`holder` is then an object); `turn` keeps the empty
   * turn, unless every turn of its conversation is empty (see `conversation`).
   */
  empty: 'required' | 'optional' | 'turn';
  /** For a `turn`: the path of its conversation (`input`, `messages`, `counterfactuals.0.input`). */
  conversation?: string;
  /** Part of the dedupe text. */
  dedupe: boolean;
}

function getText(field: TextField): string {
  const value = (field.holder as Record<string | number, unknown>)[field.key];
  return typeof value === 'string' ? value : '';
}

function setText(field: TextField, value: string): void {
  (field.holder as Record<string | number, unknown>)[field.key] = value;
}

/**
 * Processes one line of a JSONL upload. In order:
 * 1. oversize (from the splitter, or longer than `maxRecordBytes`) → `TOO_LARGE`;
 * 2. strict UTF-8 decoding → `INVALID_UTF8` (the reason gives the offset of the first bad byte);
 *    a BOM at the start of a line is ignored;
 * 3. a line of whitespace only → `blank` (not an error);
 * 4. `JSON.parse` → `INVALID_JSON` (with the parser's message); not a JSON object → `NOT_AN_OBJECT`;
 * 5. the purpose's schema ({@link recordSchemas}) → `SCHEMA` (with {@link formatZodIssues});
 * 6. every text field is normalized ({@link normalizeText}); a required one that becomes empty →
 *    `EMPTY_TEXT` naming the field; an optional one (rag `title`, golden `reference`) is dropped;
 * 7. every text field is redacted; a preference pair whose chosen and rejected answers are equal after
 *    normalization and redaction → `SCHEMA`; a golden record that the suite parser no longer takes
 *    (a text grown over its limit by a placeholder) → `SCHEMA`.
 *
 * Text fields: finetune `messages[].content` or `prompt`/`completion`; preference
 * `prompt`/`chosen`/`rejected`; rag `text` and `title`. Golden records (evaluation suite lines, either
 * format): the question, `input` as a string or each turn's `content` of `input`/`messages`; the
 * references, `reference`, each of `references`, `ideal` (a string, or each of its strings);
 * each of `contexts`; and each counterfactual's `input` or turns, as the question. Their labels and ids
 * (`id`, `tags`, `reference_context_ids`, a turn's `role` and `name`, a counterfactual's `group`) and
 * `metadata` (with an OpenAI Evals sample's extra fields, which the suite keeps as metadata) are kept as
 * they are. Golden emptiness: the suite takes an empty turn, so a turn that becomes empty is kept, but a
 * question (or counterfactual) with every turn empty, or an empty `input` string, → `EMPTY_TEXT`; the
 * optional `reference` is dropped; an empty `ideal` string (an Evals sample needs one), an empty entry of
 * `references` or `ideal` (dropping it could leave `[]`, which means "must be declined") and an empty
 * context → `EMPTY_TEXT`.
 *
 * `dedupeText` joins with `\n`: finetune user/assistant contents (system messages are left out, since a
 * system prompt shared by a whole dataset would make unrelated records near duplicates) or prompt and
 * completion; preference prompt, chosen, rejected; rag text; golden question (its user/assistant turns,
 * or its system turns when it has no other), references (whichever of the three fields gave them, so an
 * Evals sample and the same item in the project's format are duplicates) and counterfactuals (as the
 * question); contexts are left out (many items share them). `tokens` counts all text fields, system
 * messages and contexts included (what training or evaluation will consume).
 *
 * `redactionCounts` is incremented only for lines that come out `good` (quarantined lines are never
 * redacted: the caller keeps the raw line), including good records that the caller later drops as
 * duplicates. The line's bytes are never modified.
 */
export function processLine(
  line: RawLine | OversizeLine,
  opts: ProcessOptions,
  redactionCounts: Record<PiiKind, number>,
): LineOutcome {
  if (isOversize(line)) {
    return bad('TOO_LARGE', `line is ${line.size} bytes, over the limit of ${opts.maxRecordBytes} bytes`);
  }
  const { bytes } = line;
  if (bytes.length > opts.maxRecordBytes) {
    return bad('TOO_LARGE', `line is ${bytes.length} bytes, over the limit of ${opts.maxRecordBytes} bytes`);
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    return bad(
      'INVALID_UTF8',
      `invalid UTF-8 at byte ${at} of the line (object byte offset ${line.byteOffset + at}); line starts at byte offset ${line.byteOffset}`,
    );
  }
  if (isBlank(text)) return { kind: 'blank' };

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return bad('INVALID_JSON', `invalid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    const got = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : `a ${typeof parsed}`;
    return bad('NOT_AN_OBJECT', `expected a JSON object, got ${got}`);
  }
  const schema = recordSchemas[opts.purpose];
  if (!schema)
    throw new InvalidArgumentError('opts.purpose', `must be one of ${PURPOSES.join('|')}`, opts.purpose);
  // Well-formed records skip zod (same result); anything else gets the schema and its messages.
  let record = fastParseRecord(opts.purpose, parsed);
  if (record === undefined) {
    const result = schema.safeParse(parsed);
    if (!result.success) return bad('SCHEMA', formatZodIssues(result.error));
    // The parsed object is ours alone (fresh from JSON.parse, or zod's copy of it): edit it in place.
    record = result.data as Record<string, unknown>;
  }
  const fields = textFields(opts.purpose, record);

  // Normalize every field first, so that an EMPTY_TEXT record costs no redaction.
  for (const field of fields) {
    const value = normalizeText(getText(field));
    if (value.length === 0 && field.empty === 'required') {
      return bad('EMPTY_TEXT', `${field.path}: is empty after normalization`);
    }
    setText(field, value);
  }
  const emptyAfterNormalization = emptyConversation(fields);
  if (emptyAfterNormalization !== undefined) {
    return bad('EMPTY_TEXT', `${emptyAfterNormalization}: every turn is empty after normalization`);
  }
  for (const kind of PII_KINDS) pending[kind] = 0;
  const redact = opts.redact ?? defaultRedact;
  for (const field of fields) {
    const value = getText(field);
    if (value.length === 0) continue;
    const redacted = redact(value, pending);
    // Only a custom redactor can empty a text; the regex one always leaves a placeholder.
    if (redacted.length === 0 && field.empty === 'required') {
      return bad('EMPTY_TEXT', `${field.path}: is empty after redaction`);
    }
    setText(field, redacted);
  }
  const emptyAfterRedaction = emptyConversation(fields);
  if (emptyAfterRedaction !== undefined) {
    return bad('EMPTY_TEXT', `${emptyAfterRedaction}: every turn is empty after redaction`);
  }
  for (const field of fields) {
    if (field.empty === 'optional' && getText(field).length === 0) {
      delete (field.holder as Record<string, unknown>)[field.key];
    }
  }
  if (opts.purpose === 'preference' && record.chosen === record.rejected) {
    return bad('SCHEMA', 'rejected: must differ from chosen (after normalization and redaction)');
  }
  if (opts.purpose === 'golden') {
    // What is curated must still be a suite line (a placeholder can grow a text over its limit).
    const again = schema.safeParse(record);
    if (!again.success) {
      return bad('SCHEMA', `${formatZodIssues(again.error)} (after normalization and redaction)`);
    }
  }

  const dedupeParts: string[] = [];
  const tokenParts: string[] = [];
  for (const field of fields) {
    const value = getText(field);
    if (value.length === 0) continue;
    tokenParts.push(value);
    if (field.dedupe) dedupeParts.push(value);
  }
  const dedupeText = dedupeParts.join('\n');
  for (const kind of PII_KINDS) redactionCounts[kind] += pending[kind];
  return {
    kind: 'good',
    record,
    dedupeText,
    exactHash: computeExactHash(dedupeText),
    signature: minhashSignature(dedupeText),
    tokens: countTokens(tokenParts.join('\n')),
  };
}

function bad(code: BadLineCode, reason: string): LineOutcome {
  return {
    kind: 'bad',
    code,
    reason: reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS - 1)}…` : reason,
  };
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) continue;
    // Printable ASCII settles it; anything else may be Unicode whitespace (NBSP, U+3000...).
    if (c > 0x20 && c < 0x7f) return false;
    return text.trim().length === 0;
  }
  return true;
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i] ?? 0;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return n;
}

/** The first conversation whose turns are all empty, if any. */
function emptyConversation(fields: readonly TextField[]): string | undefined {
  const empty = new Set<string>();
  const spoken = new Set<string>();
  for (const field of fields) {
    if (field.conversation === undefined) continue;
    if (getText(field).length > 0) spoken.add(field.conversation);
    else empty.add(field.conversation);
  }
  for (const conversation of empty) if (!spoken.has(conversation)) return conversation;
  return undefined;
}

function property(
  record: Record<string, unknown>,
  key: string,
  empty: 'required' | 'optional',
  dedupe: boolean,
  path = key,
): TextField {
  return { holder: record, key, path, empty, dedupe };
}

/** Finetune messages: every content is required; system ones stay out of the dedupe text. */
function messageFields(record: Record<string, unknown>, out: TextField[]): void {
  const messages = record.messages as Array<{ role: string; content: string }>;
  for (const [i, message] of messages.entries()) {
    out.push({
      holder: message,
      key: 'content',
      path: `messages.${i}.content`,
      empty: 'required',
      dedupe: message.role !== 'system',
    });
  }
}

/** Each string of the list at `holder[key]`, if it is one. */
function arrayFields(
  holder: Record<string, unknown>,
  key: string,
  dedupe: boolean,
  out: TextField[],
  prefix = '',
): void {
  const items = holder[key];
  if (!Array.isArray(items)) return;
  for (let i = 0; i < items.length; i++) {
    out.push({ holder: items, key: i, path: `${prefix}${key}.${i}`, empty: 'required', dedupe });
  }
}

/**
 * A golden question (or a counterfactual's): `input` as a string (required), or the turns of `input` or
 * `messages`. Its user and assistant turns go into the dedupe text, or its system turns when it has no
 * other (an Evals sample may be a system prompt alone).
 */
function questionFields(holder: Record<string, unknown>, out: TextField[], prefix = ''): void {
  if (typeof holder.input === 'string') {
    out.push(property(holder, 'input', 'required', true, `${prefix}input`));
    return;
  }
  const key = Array.isArray(holder.input) ? 'input' : 'messages';
  const turns = holder[key];
  if (!Array.isArray(turns)) return;
  const conversation = `${prefix}${key}`;
  const systemOnly = turns.every((turn: { role?: unknown }) => turn.role === 'system');
  for (const [i, turn] of (turns as Array<Record<string, unknown>>).entries()) {
    out.push({
      holder: turn,
      key: 'content',
      path: `${conversation}.${i}.content`,
      empty: 'turn',
      conversation,
      dedupe: systemOnly || turn.role !== 'system',
    });
  }
}

function goldenFields(record: Record<string, unknown>, out: TextField[]): void {
  questionFields(record, out);
  if (typeof record.reference === 'string') out.push(property(record, 'reference', 'optional', true));
  arrayFields(record, 'references', true, out);
  if (typeof record.ideal === 'string') out.push(property(record, 'ideal', 'required', true));
  else arrayFields(record, 'ideal', true, out);
  arrayFields(record, 'contexts', false, out);
  const counterfactuals = record.counterfactuals;
  if (Array.isArray(counterfactuals)) {
    for (const [k, variant] of (counterfactuals as Array<Record<string, unknown>>).entries()) {
      questionFields(variant, out, `counterfactuals.${k}.`);
    }
  }
}

function textFields(purpose: Purpose, record: Record<string, unknown>): TextField[] {
  const out: TextField[] = [];
  switch (purpose) {
    case 'finetune':
      if ('messages' in record) messageFields(record, out);
      else
        out.push(
          property(record, 'prompt', 'required', true),
          property(record, 'completion', 'required', true),
        );
      break;
    case 'preference':
      out.push(
        property(record, 'prompt', 'required', true),
        property(record, 'chosen', 'required', true),
        property(record, 'rejected', 'required', true),
      );
      break;
    case 'rag':
      out.push(property(record, 'text', 'required', true));
      if (typeof record.title === 'string') out.push(property(record, 'title', 'optional', false));
      break;
    case 'golden':
      goldenFields(record, out);
      break;
  }
  return out;
}
