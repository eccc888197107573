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
// Anything other than printable ASCII and `\n`: when absent, only the cheap steps can change the text.
const NEEDS_FULL = /[^\n\u0020-\u007E]/;

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
  if (!NEEDS_FULL.test(s)) {
    // Printable ASCII and `\n` only: just the space and newline rules.
    return needsSpaceRules(s)
      ? s.replace(SPACES, ' ').replace(TRAILING, '\n').replace(BLANK_RUNS, '\n\n').trim()
      : s;
  }
  let t = s.toWellFormed();
  t = t.replace(LINE_BREAKS, '\n').replace(REMOVED, '').replace(SPACES, ' ');
  t = t.replace(TRAILING, '\n').replace(BLANK_RUNS, '\n\n').trim();
  return t.normalize('NFC');
}

/** For printable ASCII plus `\n`: whether any space/newline rule applies (cheap substring scans). */
function needsSpaceRules(s: string): boolean {
  if (s.length === 0) return false;
  const first = s.charCodeAt(0);
  const last = s.charCodeAt(s.length - 1);
  return (
    first === 0x20 ||
    first === 0x0a ||
    last === 0x20 ||
    last === 0x0a ||
    s.includes('  ') ||
    s.includes(' \n') ||
    s.includes('\n\n\n')
  );
}
