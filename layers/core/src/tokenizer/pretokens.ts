/**
 * The o200k_base pre-tokenizer: where each pre-token of a text ends. The tokenizer cuts a text into
 * pre-tokens with one regular expression and encodes each on its own, so a text's count is the sum of
 * its pre-tokens' counts. ASCII text is cut by a scanner that follows the pattern alternative by
 * alternative; anything else by the pattern itself.
 */
import { O200K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants';

const PRETOKEN = new RegExp(O200K_TOKEN_SPLIT_REGEX.source, 'uy');

// ASCII character classes of the pattern; NON_ASCII sends the scan to the pattern itself.
const END = 0;
const UPPER = 1; // \p{Lu}
const LOWER = 2; // \p{Ll}
const DIGIT = 3; // \p{N}
const NEWLINE = 4; // \r \n
export const SPACE = 5; // the other \s: \t \v \f and space
export const OTHER = 6; // [^\s\p{L}\p{N}]: punctuation, symbols, control characters
const NON_ASCII = 7;

/** The pattern's class of each ASCII character. */
export const CLASS = new Uint8Array(128).fill(OTHER);
for (let c = 0x41; c <= 0x5a; c++) CLASS[c] = UPPER;
for (let c = 0x61; c <= 0x7a; c++) CLASS[c] = LOWER;
for (let c = 0x30; c <= 0x39; c++) CLASS[c] = DIGIT;
CLASS[0x0a] = NEWLINE;
CLASS[0x0d] = NEWLINE;
for (const c of [0x09, 0x0b, 0x0c, 0x20]) CLASS[c] = SPACE;

function classAt(text: string, i: number, to: number): number {
  if (i >= to) return END;
  const c = text.charCodeAt(i);
  return c < 0x80 ? (CLASS[c] as number) : NON_ASCII;
}

/**
 * End of the pre-token that starts at `at` when `text.slice(0, to)` is cut on its own (the match of
 * the pattern there; nothing before `at` matters: the pattern looks only forward).
 */
export function preTokenEnd(text: string, at: number, to: number): number {
  const end = asciiPreTokenEnd(text, at, to);
  return end >= 0 ? end : patternEnd(text, at, to);
}

/**
 * The pattern's match at `at` for ASCII text, alternative by alternative (letters with an optional
 * leading character and a contraction; 1-3 digits; a punctuation run; whitespace up to its last line
 * break; whitespace less its last character before a non-space; whitespace); -1 when the answer
 * depends on a non-ASCII character.
 */
export function asciiPreTokenEnd(text: string, at: number, to: number): number {
  const c = classAt(text, at, to);
  if (c === NON_ASCII) return -1;
  let j = at;
  if (c === SPACE || c === OTHER) {
    // `[^\r\n\p{L}\p{N}]?` before letters.
    const next = classAt(text, at + 1, to);
    if (next === NON_ASCII) return -1;
    if (next === UPPER || next === LOWER) j = at + 1;
  }
  const first = j === at ? c : classAt(text, j, to);
  if (first === UPPER || first === LOWER) {
    // Uppercase then lowercase letters: the first alternative, or the second when no lowercase follows.
    let x = classAt(text, j, to);
    while (x === UPPER) x = classAt(text, ++j, to);
    while (x === LOWER) x = classAt(text, ++j, to);
    if (x === NON_ASCII) return -1;
    return contractionEnd(text, j, to);
  }
  if (c === DIGIT) {
    let k = at + 1;
    while (k < at + 3) {
      const x = classAt(text, k, to);
      if (x === NON_ASCII) return -1;
      if (x !== DIGIT) break;
      k++;
    }
    return k;
  }
  // ` ?[^\s\p{L}\p{N}]+[\r\n/]*`
  let k = at;
  if (text.charCodeAt(at) === 0x20 && classAt(text, at + 1, to) === OTHER) k++;
  if (classAt(text, k, to) === OTHER) {
    let x = classAt(text, k, to);
    while (x === OTHER) x = classAt(text, ++k, to);
    if (x === NON_ASCII) return -1;
    while (k < to) {
      const ch = text.charCodeAt(k);
      if (ch !== 0x0a && ch !== 0x0d && ch !== 0x2f) break;
      k++;
    }
    return k;
  }
  // Whitespace: `\s*[\r\n]+`, `\s+(?!\S)`, `\s+`.
  let end = at;
  let lastNewline = -1;
  let x = classAt(text, end, to);
  while (x === NEWLINE || x === SPACE) {
    if (x === NEWLINE) lastNewline = end;
    x = classAt(text, ++end, to);
  }
  if (x === NON_ASCII) return -1;
  if (lastNewline >= 0) return lastNewline + 1;
  if (x === END || end - at === 1) return end;
  return end - 1;
}

/** After letters ending at `j`: the end of an optional `'s|'d|'m|'t|'ll|'ve|'re` (either case). */
export function contractionEnd(text: string, j: number, to: number): number {
  if (j + 1 >= to || text.charCodeAt(j) !== 0x27) return j;
  const a = text.charCodeAt(j + 1) | 0x20;
  if (a === 0x73 || a === 0x64 || a === 0x6d || a === 0x74) return j + 2;
  if (j + 2 >= to) return j;
  const b = text.charCodeAt(j + 2) | 0x20;
  if ((a === 0x6c && b === 0x6c) || (a === 0x76 && b === 0x65) || (a === 0x72 && b === 0x65)) return j + 3;
  return j;
}

/**
 * The pattern's match at `at` in `text.slice(0, to)`. Short of the end of `text`, a window of the text
 * is matched: a match that ends at least LOOK_PAST characters before the window's end is the match in
 * the whole; one that comes closer is tried again in a window twice as long.
 */
function patternEnd(text: string, at: number, to: number): number {
  // In the middle of a surrogate pair a Unicode pattern would start at the pair: match a window then.
  if (to === text.length && !insidePair(text, at)) return stickyMatchEnd(text, at);
  for (let window = 64; ; window *= 2) {
    const end = Math.min(to, at + window);
    const matched = stickyMatchEnd(text.slice(at, end), 0);
    if (at + matched + LOOK_PAST <= end || end === to) return at + matched;
  }
}

/**
 * Characters past the end of its match that the pattern may have read: a run ends at the next one and
 * `(?!\S)` reads one, but a contraction that did not match (`'l` of `'ll`) read 3; one more, so that a
 * surrogate pair cut by the window's end is never among them.
 */
export const LOOK_PAST = 4;

/** Whether `at` is the low half of a surrogate pair (a cut there splits one code point). */
export function insidePair(text: string, at: number): boolean {
  return at > 0 && (text.charCodeAt(at) & 0xfc00) === 0xdc00 && (text.charCodeAt(at - 1) & 0xfc00) === 0xd800;
}

function stickyMatchEnd(text: string, at: number): number {
  PRETOKEN.lastIndex = at;
  const m = PRETOKEN.exec(text);
  // The pattern matches every character (its last alternatives cover all whitespace, the others the rest).
  if (m === null || m.index !== at) throw new Error(`no o200k pre-token at ${at}`);
  return at + Math.max(1, m[0].length);
}

/** Whether `piece` is one whole pre-token: what the pattern matches at its start is all of it. */
export function isOnePreToken(piece: string): boolean {
  return piece.length > 0 && stickyMatchEnd(piece, 0) === piece.length;
}
