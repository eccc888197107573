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
  /** For fields inside a list: the list's name (`messages`, `references`, `contexts`). */
  list?: string;
  /** Empty after normalization → EMPTY_TEXT; optional fields are dropped instead. */
  required: boolean;
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

/** The field's dotted path, e.g. `messages.2.content`, `contexts.1`, `prompt`. */
function fieldPath(field: TextField, index: number): string {
  if (field.list === 'messages') return `messages.${index}.content`;
  if (field.list) return `${field.list}.${index}`;
  return String(field.key);
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
 *    normalization and redaction → `SCHEMA`.
 *
 * Text fields: finetune `messages[].content` or `prompt`/`completion`; preference
 * `prompt`/`chosen`/`rejected`; rag `text` and `title`; golden `input` or `messages[].content`,
 * `reference`, `references[]`, `contexts[]`.
 *
 * `dedupeText` joins with `\n`: finetune user/assistant contents (system messages are left out, since a
 * system prompt shared by a whole dataset would make unrelated records near duplicates) or prompt and
 * completion; preference prompt, chosen, rejected; rag text; golden input (or user/assistant contents),
 * reference and references (contexts are left out: many items share them). `tokens` counts all text
 * fields, system messages and contexts included (what training or evaluation will consume).
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
    if (value.length === 0 && field.required) {
      return bad('EMPTY_TEXT', `${fieldPath(field, listIndex(fields, field))}: is empty after normalization`);
    }
    setText(field, value);
  }
  for (const kind of PII_KINDS) pending[kind] = 0;
  const redact = opts.redact ?? defaultRedact;
  for (const field of fields) {
    const value = getText(field);
    if (value.length === 0) continue;
    const redacted = redact(value, pending);
    if (redacted.length === 0 && field.required) {
      // Only a custom redactor can do this; the regex one always leaves a placeholder.
      return bad('EMPTY_TEXT', `${fieldPath(field, listIndex(fields, field))}: is empty after redaction`);
    }
    setText(field, redacted);
  }
  dropEmptyOptional(opts.purpose, record);
  if (opts.purpose === 'preference' && record.chosen === record.rejected) {
    return bad('SCHEMA', 'rejected: must differ from chosen (after normalization and redaction)');
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

/** Position of a list field within its list (for error paths). */
function listIndex(fields: readonly TextField[], field: TextField): number {
  return typeof field.key === 'number'
    ? field.key
    : fields.filter((f) => f.list === field.list).indexOf(field);
}

function property(
  record: Record<string, unknown>,
  key: string,
  required: boolean,
  dedupe: boolean,
): TextField {
  return { holder: record, key, required, dedupe };
}

function messageFields(record: Record<string, unknown>, out: TextField[]): void {
  const messages = record.messages as Array<{ role: string; content: string }>;
  for (const message of messages) {
    out.push({
      holder: message,
      key: 'content',
      list: 'messages',
      required: true,
      dedupe: message.role !== 'system',
    });
  }
}

function arrayFields(record: Record<string, unknown>, key: string, dedupe: boolean, out: TextField[]): void {
  const items = record[key];
  if (!Array.isArray(items)) return;
  for (let i = 0; i < items.length; i++)
    out.push({ holder: items, key: i, list: key, required: true, dedupe });
}

function textFields(purpose: Purpose, record: Record<string, unknown>): TextField[] {
  const out: TextField[] = [];
  switch (purpose) {
    case 'finetune':
      if ('messages' in record) messageFields(record, out);
      else out.push(property(record, 'prompt', true, true), property(record, 'completion', true, true));
      break;
    case 'preference':
      out.push(
        property(record, 'prompt', true, true),
        property(record, 'chosen', true, true),
        property(record, 'rejected', true, true),
      );
      break;
    case 'rag':
      out.push(property(record, 'text', true, true));
      if (typeof record.title === 'string') out.push(property(record, 'title', false, false));
      break;
    case 'golden':
      if (typeof record.input === 'string') out.push(property(record, 'input', true, true));
      else messageFields(record, out);
      if (typeof record.reference === 'string') out.push(property(record, 'reference', false, true));
      arrayFields(record, 'references', true, out);
      arrayFields(record, 'contexts', false, out);
      break;
  }
  return out;
}

function dropEmptyOptional(purpose: Purpose, record: Record<string, unknown>): void {
  if (purpose === 'rag' && record.title === '') delete record.title;
  if (purpose === 'golden' && record.reference === '') delete record.reference;
}
