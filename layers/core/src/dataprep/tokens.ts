/**
 * Token counting with the o200k_base encoding. Statistics live in `token-stats.ts`.
 */
import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';

export { HISTOGRAM_GAMMA, TOKENIZER, TokenStats, type TokenStatsJSON } from './token-stats.ts';

// Special-token text such as `<|endoftext|>` is counted as ordinary text instead of throwing.
const AS_TEXT = { disallowedSpecial: new Set<string>() };

/**
 * The o200k_base pre-tokenizer pattern, as gpt-tokenizer defines it. Used only to check that a piece
 * found by {@link splitAscii} is one pre-token on its own before its count is memoized.
 */
const O200K_SPLIT =
  /[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'(?:[sS]|[dD]|[mM]|[tT]|[lL][lL]|[vV][eE]|[rR][eE]))?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'(?:[sS]|[dD]|[mM]|[tT]|[lL][lL]|[vV][eE]|[rR][eE]))?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

// ASCII character classes of the o200k pattern.
const UPPER = 1; // \p{Lu}
const LOWER = 2; // \p{Ll}
const DIGIT = 3; // \p{N}
const NEWLINE = 4; // \r \n
const SPACE = 5; // other \s: \t \v \f and space
const OTHER = 6; // anything else: punctuation and control characters

const CLASS = new Uint8Array(128).fill(OTHER);
for (let c = 65; c <= 90; c++) CLASS[c] = UPPER;
for (let c = 97; c <= 122; c++) CLASS[c] = LOWER;
for (let c = 48; c <= 57; c++) CLASS[c] = DIGIT;
CLASS[0x0a] = NEWLINE;
CLASS[0x0d] = NEWLINE;
for (const c of [0x09, 0x0b, 0x0c, 0x20]) CLASS[c] = SPACE;

/** Memoized token counts of short pre-tokens; cleared when full, so memory stays bounded. */
const memo = new Map<string, number>();
const MEMO_MAX_ENTRIES = 50_000;
/** Longer pieces are counted directly (and rarely repeat). */
const MEMO_MAX_PIECE = 24;

/** Number of o200k_base tokens in `text` (special-token strings count as plain text). */
export function countTokens(text: string): number {
  if (!isAscii(text)) return countO200k(text, AS_TEXT);
  const n = text.length;
  let count = 0;
  let i = 0;
  while (i < n) {
    const end = pieceEnd(text, i, n);
    const piece = text.slice(i, end);
    const known = end - i <= MEMO_MAX_PIECE ? memo.get(piece) : undefined;
    if (known !== undefined) count += known;
    else {
      const pieceCount = countPiece(piece);
      if (pieceCount < 0) return countO200k(text, AS_TEXT);
      count += pieceCount;
    }
    i = end;
  }
  return count;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false;
  return true;
}

/**
 * Token count of one pre-token, memoized when short; -1 when the tokenizer's own pattern would not
 * keep `piece` whole (never expected: the caller then counts the whole text the library's way).
 */
function countPiece(piece: string): number {
  O200K_SPLIT.lastIndex = 0;
  const m = O200K_SPLIT.exec(piece);
  if (m === null || m.index !== 0 || m[0].length !== piece.length) return -1;
  const count = countO200k(piece, AS_TEXT);
  if (piece.length <= MEMO_MAX_PIECE) {
    if (memo.size >= MEMO_MAX_ENTRIES) memo.clear();
    memo.set(piece, count);
  }
  return count;
}

function classAt(text: string, i: number): number {
  return CLASS[text.charCodeAt(i)] ?? OTHER;
}

/**
 * End of the o200k pre-token that starts at `i`, for ASCII text: the same match as the tokenizer's
 * regex (alternatives in order: letters with an optional leading non-letter/digit/newline and a
 * contraction suffix; 1-3 digits; punctuation runs; whitespace up to the last line break; whitespace
 * before a non-space, less its last character; whitespace).
 */
function pieceEnd(text: string, i: number, n: number): number {
  const c = classAt(text, i);
  // Letter alternatives, with an optional leading character that is not a letter, digit or newline.
  let j = i;
  if (c === SPACE || c === OTHER) {
    if (i + 1 < n) {
      const next = classAt(text, i + 1);
      if (next === UPPER || next === LOWER) j = i + 1;
    }
  }
  const first = j === i ? c : classAt(text, j);
  if (first === UPPER || first === LOWER) {
    while (j < n && classAt(text, j) === UPPER) j++;
    while (j < n && classAt(text, j) === LOWER) j++;
    return contractionEnd(text, j, n);
  }
  if (c === DIGIT) {
    let k = i + 1;
    while (k < n && k < i + 3 && classAt(text, k) === DIGIT) k++;
    return k;
  }
  // ` ?[^\s\p{L}\p{N}]+[\r\n/]*`
  let k = i;
  if (text.charCodeAt(k) === 0x20 && k + 1 < n && classAt(text, k + 1) === OTHER) k++;
  if (classAt(text, k) === OTHER) {
    while (k < n && classAt(text, k) === OTHER) k++;
    while (k < n) {
      const ch = text.charCodeAt(k);
      if (ch !== 0x0a && ch !== 0x0d && ch !== 0x2f) break;
      k++;
    }
    return k;
  }
  // Whitespace (c is NEWLINE or SPACE here).
  let end = i;
  let lastNewline = -1;
  while (end < n) {
    const cls = classAt(text, end);
    if (cls === NEWLINE) lastNewline = end;
    else if (cls !== SPACE) break;
    end++;
  }
  if (lastNewline >= 0) return lastNewline + 1; // `\s*[\r\n]+`
  if (end === n || end - i === 1) return end; // `\s+(?!\S)` at the end, or `\s+` for one character
  return end - 1; // `\s+(?!\S)`: leave the last space to the next word
}

/** After a letter run ending at `j`: the end of an optional `'s|'t|'re|'ve|'m|'ll|'d` (any case). */
function contractionEnd(text: string, j: number, n: number): number {
  if (j + 1 >= n || text.charCodeAt(j) !== 0x27) return j;
  const a = text.charCodeAt(j + 1) | 0x20;
  if (a === 0x73 || a === 0x64 || a === 0x6d || a === 0x74) return j + 2; // s d m t
  if (j + 2 >= n) return j;
  const b = text.charCodeAt(j + 2) | 0x20;
  if ((a === 0x6c && b === 0x6c) || (a === 0x76 && b === 0x65) || (a === 0x72 && b === 0x65)) return j + 3; // ll ve re
  return j;
}
