/**
 * Text normalization applied to every text field of a record before redaction and deduplication.
 */

// C0 and C1 control characters except `\t` (U+0009) and `\n` (U+000A); `\v` and `\f` are handled as
// spaces and `\r` as a line break, below. Plus zero-width characters and the byte order mark.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const REMOVED = /[\u0000-\u0008\u000E-\u001F\u007F-\u009F\u200B-\u200D\u2060\uFEFF]+/g;
// Horizontal whitespace: tab, space, `\v`, `\f`, NBSP and the other Unicode space separators.
// biome-ignore lint/suspicious/noControlCharactersInRegex: \v and \f are whitespace to collapse.
const SPACES = /[\t\u000B\u000C \u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]+/g;
const LINE_BREAKS = /\r\n?|[\u0085\u2028\u2029]/g;
// From the start of a run only (runs are single spaces by then; the look-behind keeps it linear anyway).
const TRAILING = /(?<! ) +\n/g;
const BLANK_RUNS = /\n{3,}/g;

/**
 * Normalizes text for storage and comparison:
 * - line breaks `\r\n`, `\r`, U+0085, U+2028 and U+2029 become `\n`;
 * - C0/C1 control characters other than `\n` and `\t` are removed, as are the zero-width characters
 *   U+200B..U+200D, U+2060 and U+FEFF (`\v` and `\f` count as spaces instead, so words stay apart);
 * - a run of tabs and spaces (NBSP and the other Unicode space separators included) becomes one space;
 * - whitespace at the end of each line is removed; 3 or more consecutive newlines become 2;
 * - the result is trimmed and put in Unicode NFC; lone surrogates become U+FFFD.
 *
 * Idempotent: `normalizeText(normalizeText(s)) === normalizeText(s)`.
 */
export function normalizeText(s: string): string {
  return normalizeKnown(s, normalizationNeeded(s));
}

/** {@link normalizeText} of `s`, given `rules = normalizationNeeded(s)` (computed by the caller's own pass). */
export function normalizeKnown(s: string, rules: number): string {
  if (rules !== FULL) {
    // Printable ASCII and `\n` only: just the space and newline rules, when one applies.
    return rules === APPLIES
      ? s.replace(SPACES, ' ').replace(TRAILING, '\n').replace(BLANK_RUNS, '\n\n').trim()
      : s;
  }
  let t = s.toWellFormed();
  t = t.replace(LINE_BREAKS, '\n').replace(REMOVED, '').replace(SPACES, ' ');
  t = t.replace(TRAILING, '\n').replace(BLANK_RUNS, '\n\n').trim();
  return t.normalize('NFC');
}

const NONE = 0;
const APPLIES = 1;
const FULL = 2;

/**
 * Which of {@link normalizeText}'s rules `s` needs, in one pass: 2 (all of them) when it holds anything other than printable ASCII and `\n` (the full rules
 * then run); otherwise 1 when a space or newline rule changes it (a space or newline at either
 * end, two spaces, a space before a newline, three newlines in a row), else 0 (`s` is normal).
 */
export function normalizationNeeded(s: string): number {
  const n = s.length;
  if (n === 0) return NONE;
  let applies = false;
  let prev = -1;
  let newlines = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7e || (c < 0x20 && c !== 0x0a)) return FULL;
    if (c === 0x20) {
      if (prev === 0x20) applies = true;
      newlines = 0;
    } else if (c === 0x0a) {
      if (prev === 0x20 || ++newlines === 3) applies = true;
    } else newlines = 0;
    prev = c;
  }
  const first = s.charCodeAt(0);
  const last = s.charCodeAt(n - 1);
  if (first === 0x20 || first === 0x0a || last === 0x20 || last === 0x0a) applies = true;
  return applies ? APPLIES : NONE;
}
