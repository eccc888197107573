/**
 * The per-line data-preparation pipeline: decode, parse, validate, normalize, redact, then compute what
 * deduplication and statistics need. Pure and synchronous; deduplication itself (which needs state
 * across lines) is the caller's, with {@link Deduper}.
 */
import { exactHash as computeExactHash } from './dedupe.ts';
import { InvalidArgumentError } from './errors.ts';
import { isOversize, type OversizeLine, type RawLine } from './lines.ts';
import { minhashSignature } from './minhash.ts';
import { normalizeKnown } from './normalize.ts';
import {
  emptyPiiCounts,
  PII_CHARACTER_FLAGS,
  PII_DIGIT,
  PII_SEVEN_DIGITS,
  PII_SEVEN_DIGITS_MIN,
  type PiiKind,
  piiCharacterFlags,
  redactPiiFlagged,
} from './pii.ts';
import { fastParseRecord, formatZodIssues, PURPOSES, type Purpose, recordSchemas } from './records.ts';
import { countTokens } from './tokens.ts';

/** Options for {@link processLine}. */
export interface ProcessOptions {
  /** What the dataset is for: selects the record schema and the text fields. */
  purpose: Purpose;
  /** Lines longer than this many bytes are rejected with `TOO_LARGE`. */
  maxRecordBytes: number;
  /**
   * Redacts one text field, incrementing `counts`. @default regex `redactPii` (pii.ts)
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

/** Counts for the record being processed; added to the caller's only when the record comes out good. */
const pending = emptyPiiCounts();

/**
 * A text field of a record: the object or array that holds it, the key or index, and its text as the
 * stages leave it (written back to the record once redacted, see {@link redactFields}).
 */
export class TextField {
  /** The field's text: the record's value (`''` when not a string), then normalized, then redacted. */
  text: string;
  /** {@link scanField} of `text` after normalization (the PII detectors' character flags). */
  flags = 0;
  constructor(
    readonly holder: Record<string, unknown> | unknown[],
    readonly key: string | number,
    /**
     * What emptiness (after normalization or redaction) does: `required` quarantines the record
     * (`EMPTY_TEXT`); `optional` removes the field (`holder` is then an object); `turn` keeps the empty
     * turn, unless every turn of its conversation is empty (see `conversation`).
     */
    readonly empty: 'required' | 'optional' | 'turn',
    /** Part of the dedupe text. */
    readonly dedupe: boolean,
    /** For a `turn`: the path of its conversation (`input`, `messages`, `counterfactuals.0.input`). */
    readonly conversation: string | undefined,
    /** The path (with `pathIndex` < 0), or the part of it before the index (built only for a reason). */
    readonly pathHead: string,
    readonly pathIndex = -1,
    readonly pathTail = '',
  ) {
    const value = (holder as Record<string | number, unknown>)[key];
    this.text = typeof value === 'string' ? value : '';
  }

  /** The field's dotted path, for reasons: `messages.2.content`, `contexts.1`, `prompt`. */
  get path(): string {
    return this.pathIndex < 0 ? this.pathHead : `${this.pathHead}.${this.pathIndex}${this.pathTail}`;
  }
}

/**
 * Processes one line of a JSONL upload. In order:
 * 1. oversize (from the splitter, or longer than `maxRecordBytes`) → `TOO_LARGE`;
 * 2. strict UTF-8 decoding → `INVALID_UTF8` (the reason gives the offset of the first bad byte);
 *    a BOM at the start of a line is ignored;
 * 3. a line of whitespace only → `blank` (not an error);
 * 4. `JSON.parse` → `INVALID_JSON` (with the parser's message); not a JSON object → `NOT_AN_OBJECT`;
 * 5. the purpose's schema ({@link recordSchemas}) → `SCHEMA` (with {@link formatZodIssues});
 * 6. every text field is normalized (`normalizeText`); a required one that becomes empty →
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
  const text = decodeLine(line, opts.maxRecordBytes);
  if (typeof text !== 'string') return text;
  const parsed = parseLine(text);
  if (isLineVerdict(parsed)) return parsed;
  const record = validateRecord(opts.purpose, parsed);
  if (isLineVerdict(record)) return record;
  const fields = textFields(opts.purpose, record);
  const notNormal = normalizeFields(fields);
  if (notNormal !== undefined) return notNormal;
  resetPending();
  const notRedacted = redactFields(opts.purpose, record, fields, opts.redact, pending);
  if (notRedacted !== undefined) return notRedacted;
  const { dedupeText, tokenText } = recordTexts(fields);
  addPending(redactionCounts);
  return {
    kind: 'good',
    record,
    dedupeText,
    exactHash: computeExactHash(dedupeText),
    signature: minhashSignature(dedupeText),
    tokens: countTokens(tokenText),
  };
}

/*
 * The stages of {@link processLine}, exported so that the benchmark's profile can time each one over the
 * same records, calling them in the same order (no timers in the pipeline itself).
 */

/** A line that is not a record: blank, or bad. */
export type LineVerdict = Exclude<LineOutcome, { kind: 'good' }>;

const BLANK: LineOutcome = Object.freeze({ kind: 'blank' });

/** Whether what a stage returned is a verdict on the line (blank or bad) rather than its next value. */
export function isLineVerdict(value: object): value is LineVerdict {
  return value === BLANK || value instanceof BadLine;
}

/** Steps 1-2: the size limit, then strict UTF-8 decoding (which drops a leading BOM). */
export function decodeLine(line: RawLine | OversizeLine, maxRecordBytes: number): string | LineVerdict {
  if (isOversize(line)) {
    return bad('TOO_LARGE', `line is ${line.size} bytes, over the limit of ${maxRecordBytes} bytes`);
  }
  const { bytes } = line;
  if (bytes.length > maxRecordBytes) {
    return bad('TOO_LARGE', `line is ${bytes.length} bytes, over the limit of ${maxRecordBytes} bytes`);
  }
  try {
    return decoder.decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    return bad(
      'INVALID_UTF8',
      `invalid UTF-8 at byte ${at} of the line (object byte offset ${line.byteOffset + at}); line starts at byte offset ${line.byteOffset}`,
    );
  }
}

/** Steps 3-4: blank, then `JSON.parse` and the object check. */
export function parseLine(text: string): Record<string, unknown> | LineVerdict {
  if (isBlank(text)) return BLANK;
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
  return parsed as Record<string, unknown>;
}

/** Step 5: the purpose's schema. The record returned is the caller's to edit in place. */
export function validateRecord(
  purpose: Purpose,
  parsed: Record<string, unknown>,
): Record<string, unknown> | LineVerdict {
  const schema = recordSchemas[purpose];
  if (!schema)
    throw new InvalidArgumentError('opts.purpose', `must be one of ${PURPOSES.join('|')}`, purpose);
  // Well-formed records skip zod (same result); anything else gets the schema and its messages.
  const record = fastParseRecord(purpose, parsed);
  if (record !== undefined) return record;
  const result = schema.safeParse(parsed);
  if (!result.success) return bad('SCHEMA', formatZodIssues(result.error));
  // The parsed object is ours alone (fresh from JSON.parse, or zod's copy of it): edit it in place.
  return result.data as Record<string, unknown>;
}

/**
 * Step 6: normalizes every field's text, so that an EMPTY_TEXT record costs no redaction; one pass over
 * each text ({@link scanField}) also finds what the PII detectors need.
 */
export function normalizeFields(fields: readonly TextField[]): LineVerdict | undefined {
  for (const field of fields) {
    let text = field.text;
    let scan = scanField(text);
    const rules = scan & NORMALIZE_MASK;
    if (rules !== AS_IS) {
      text = normalizeKnown(text, rules);
      // Full normalization (NFC) can make ASCII out of other characters: scan the result again. The
      // space rules only remove spaces and newlines, which no detector needs.
      if (rules === FULL_RULES) scan = piiCharacterFlags(text) << FLAGS_SHIFT;
    }
    if (text.length === 0 && field.empty === 'required') {
      return bad('EMPTY_TEXT', `${field.path}: is empty after normalization`);
    }
    field.text = text;
    field.flags = scan >>> FLAGS_SHIFT;
  }
  const empty = emptyConversation(fields);
  if (empty !== undefined) return bad('EMPTY_TEXT', `${empty}: every turn is empty after normalization`);
  return undefined;
}

/**
 * Step 7: redacts every field's text (counting into `counts`) with `redact`, or by default with
 * `redactPii`; writes the texts back into the record, drops empty optional fields, and checks what
 * redaction can break (a preference pair made equal, a golden line grown over a limit).
 */
export function redactFields(
  purpose: Purpose,
  record: Record<string, unknown>,
  fields: readonly TextField[],
  redact: ((text: string, counts: Record<PiiKind, number>) => string) | undefined,
  counts: Record<PiiKind, number>,
): LineVerdict | undefined {
  for (const field of fields) {
    const value = field.text;
    if (value.length === 0) continue;
    const redacted = redact ? redact(value, counts) : redactPiiFlagged(value, field.flags, counts);
    // Only a custom redactor can empty a text; the regex one always leaves a placeholder.
    if (redacted.length === 0 && field.empty === 'required') {
      return bad('EMPTY_TEXT', `${field.path}: is empty after redaction`);
    }
    field.text = redacted;
  }
  const empty = emptyConversation(fields);
  if (empty !== undefined) return bad('EMPTY_TEXT', `${empty}: every turn is empty after redaction`);
  for (const field of fields) {
    if (field.empty === 'optional' && field.text.length === 0) {
      delete (field.holder as Record<string, unknown>)[field.key];
    } else {
      (field.holder as Record<string | number, unknown>)[field.key] = field.text;
    }
  }
  if (purpose === 'preference' && record.chosen === record.rejected) {
    return bad('SCHEMA', 'rejected: must differ from chosen (after normalization and redaction)');
  }
  if (purpose === 'golden') {
    // What is curated must still be a suite line (a placeholder can grow a text over its limit).
    const again = recordSchemas.golden.safeParse(record);
    if (!again.success) {
      return bad('SCHEMA', `${formatZodIssues(again.error)} (after normalization and redaction)`);
    }
  }
  return undefined;
}

/** The dedupe text and the token text of a good record (see {@link processLine}). */
export function recordTexts(fields: readonly TextField[]): { dedupeText: string; tokenText: string } {
  // Joined (flat strings), not concatenated: the per-character loops that read these texts run
  // measurably slower over a concatenation tree.
  const dedupeParts: string[] = [];
  const tokenParts: string[] = [];
  for (const field of fields) {
    const value = field.text;
    if (value.length === 0) continue;
    tokenParts.push(value);
    if (field.dedupe) dedupeParts.push(value);
  }
  return { dedupeText: dedupeParts.join('\n'), tokenText: tokenParts.join('\n') };
}

/** What {@link scanField} packs: the normalization rules that apply, then the PII character flags. */
const NORMALIZE_MASK = 3;
const FLAGS_SHIFT = 2;
const AS_IS = 0;
const SPACE_RULES = 1;
const FULL_RULES = 2;

// scanField's table: the PII flags of each ASCII character, and three bits of its own above them.
const SPACE_BIT = 10;
const NEWLINE_BIT = 11;
const CONTROL = 1 << 12;
const PII_FLAGS = (1 << SPACE_BIT) - 1;
const SCAN_TABLE = new Uint16Array(128);
for (let c = 0; c < 128; c++) {
  let entry = PII_CHARACTER_FLAGS[c] as number;
  if (c === 0x20) entry |= 1 << SPACE_BIT;
  else if (c === 0x0a) entry |= 1 << NEWLINE_BIT;
  else if (c < 0x20 || c === 0x7f) entry |= CONTROL;
  SCAN_TABLE[c] = entry;
}

/**
 * One pass over a text: which normalization rules apply (as `normalizationNeeded` says: `AS_IS`,
 * `SPACE_RULES` or `FULL_RULES`) in the low 2 bits, and {@link piiCharacterFlags} above them. Equal to
 * `normalizationNeeded(s) | (piiCharacterFlags(s) << FLAGS_SHIFT)` (a unit test holds it to that), in
 * one loop instead of two, and without a branch per character.
 */
export function scanField(s: string): number {
  const n = s.length;
  if (n === 0) return AS_IS;
  let seen = 0;
  let digits = 0;
  let spaces = 0;
  // Whether the previous character was a space, and the two before were newlines (0 or 1).
  let space1 = 0;
  let newline1 = 0;
  let newline2 = 0;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) break;
    const entry = SCAN_TABLE[c] as number;
    seen |= entry;
    digits += entry & PII_DIGIT;
    const space = (entry >>> SPACE_BIT) & 1;
    const newline = (entry >>> NEWLINE_BIT) & 1;
    // Two spaces, a space before a newline, three newlines.
    spaces |= (space1 & (space | newline)) | (newline2 & newline1 & newline);
    space1 = space;
    newline2 = newline1;
    newline1 = newline;
  }
  // A character outside ASCII (or a control character) means the full rules: only flags from here on.
  const full = i < n || (seen & CONTROL) !== 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      const entry = SCAN_TABLE[c] as number;
      seen |= entry;
      digits += entry & PII_DIGIT;
    }
  }
  let flags = seen & PII_FLAGS;
  if (digits >= PII_SEVEN_DIGITS_MIN * PII_DIGIT) flags |= PII_SEVEN_DIGITS;
  const first = s.charCodeAt(0);
  const last = s.charCodeAt(n - 1);
  if (first === 0x20 || first === 0x0a || last === 0x20 || last === 0x0a) spaces = 1;
  return (full ? FULL_RULES : spaces ? SPACE_RULES : AS_IS) | (flags << FLAGS_SHIFT);
}

/** Zeroes the record's redaction counts (property by property: one shape, no keyed access). */
function resetPending(): void {
  pending.EMAIL = 0;
  pending.PHONE = 0;
  pending.CREDIT_CARD = 0;
  pending.SSN = 0;
  pending.IPV4 = 0;
  pending.IPV6 = 0;
  pending.AWS_ACCESS_KEY = 0;
  pending.AWS_SECRET_KEY = 0;
  pending.SECRET = 0;
}

/** Adds the record's redaction counts to the caller's. */
function addPending(counts: Record<PiiKind, number>): void {
  if (pending.EMAIL) counts.EMAIL += pending.EMAIL;
  if (pending.PHONE) counts.PHONE += pending.PHONE;
  if (pending.CREDIT_CARD) counts.CREDIT_CARD += pending.CREDIT_CARD;
  if (pending.SSN) counts.SSN += pending.SSN;
  if (pending.IPV4) counts.IPV4 += pending.IPV4;
  if (pending.IPV6) counts.IPV6 += pending.IPV6;
  if (pending.AWS_ACCESS_KEY) counts.AWS_ACCESS_KEY += pending.AWS_ACCESS_KEY;
  if (pending.AWS_SECRET_KEY) counts.AWS_SECRET_KEY += pending.AWS_SECRET_KEY;
  if (pending.SECRET) counts.SECRET += pending.SECRET;
}

/** A bad line's outcome (a class, so that the stages can tell it from a record by its prototype). */
class BadLine {
  readonly kind: 'bad';
  readonly code: BadLineCode;
  readonly reason: string;
  constructor(code: BadLineCode, reason: string) {
    this.kind = 'bad';
    this.code = code;
    this.reason = reason;
  }
}

function bad(code: BadLineCode, reason: string): LineVerdict {
  return new BadLine(
    code,
    reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS - 1)}…` : reason,
  );
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
  // Only golden questions have turns: most records have no conversation to check.
  if (!fields.some((field) => field.conversation !== undefined)) return undefined;
  const empty = new Set<string>();
  const spoken = new Set<string>();
  for (const field of fields) {
    if (field.conversation === undefined) continue;
    if (field.text.length > 0) spoken.add(field.conversation);
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
  return new TextField(record, key, empty, dedupe, undefined, path);
}

/** Finetune messages: every content is required; system ones stay out of the dedupe text. */
function messageFields(record: Record<string, unknown>, out: TextField[]): void {
  const messages = record.messages as Array<{ role: string; content: string }>;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i] as { role: string; content: string };
    out.push(
      new TextField(
        message,
        'content',
        'required',
        message.role !== 'system',
        undefined,
        'messages',
        i,
        '.content',
      ),
    );
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
  const head = `${prefix}${key}`;
  for (let i = 0; i < items.length; i++) {
    out.push(new TextField(items, i, 'required', dedupe, undefined, head, i));
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
    const dedupe = systemOnly || turn.role !== 'system';
    out.push(new TextField(turn, 'content', 'turn', dedupe, conversation, conversation, i, '.content'));
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

/** The text fields of a validated record, in record order (see {@link processLine}). */
export function textFields(purpose: Purpose, record: Record<string, unknown>): TextField[] {
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
