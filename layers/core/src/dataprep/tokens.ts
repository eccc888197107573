/**
 * Token counting with the o200k_base encoding. Statistics live in `token-stats.ts`.
 */
import { countTokens as countO200k } from '../tokenizer/o200k.ts';

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

/**
 * Memoized token counts of short pre-tokens: an open-addressing table keyed by the piece's characters,
 * probed with a hash computed from the text in place, so that a known piece costs no string. A slot is
 * 32 bytes, one cache line's half: the hash (int32), the count + 1 (0: empty) with the length in its top
 * byte, then the piece's characters (ASCII, one byte each). Cleared when it holds
 * {@link MEMO_MAX_ENTRIES} pieces, so memory stays bounded (4 MiB).
 */
const MEMO_MAX_ENTRIES = 50_000;
const MEMO_SLOTS = 1 << 17;
const MEMO_MASK = MEMO_SLOTS - 1;
const SLOT_BYTES = 32;
const SLOT_WORDS = SLOT_BYTES / 4;
const PIECE_AT = 8;
const memoBytes = new Uint8Array(MEMO_SLOTS * SLOT_BYTES);
const memoWords = new Int32Array(memoBytes.buffer);
let memoSize = 0;
/** Longer pieces are counted directly (and rarely repeat). */
const MEMO_MAX_PIECE = SLOT_BYTES - PIECE_AT;

/** Number of o200k_base tokens in `text` (special-token strings count as plain text). */
export function countTokens(text: string): number {
  const n = text.length;
  let count = 0;
  let i = 0;
  while (i < n) {
    // The piece that starts at `i` (see pieceEnd), with FNV-1a over its code units and their OR: text
    // with any non-ASCII character (which this pre-tokenizer does not know) is counted the library's
    // way, whole. Letter pieces, by far the most common, are scanned and hashed in one pass.
    const c0 = text.charCodeAt(i);
    let h = 0x811c9dc5;
    let units = c0;
    let j = i;
    if (c0 >= 0x80 || CLASS[c0] === SPACE || CLASS[c0] === OTHER) {
      if (i + 1 < n && isLetter(text.charCodeAt(i + 1))) {
        h = Math.imul(h ^ c0, 0x01000193);
        j = i + 1;
      }
    }
    let end: number;
    if (isLetter(text.charCodeAt(j))) {
      for (; j < n; j++) {
        const c = text.charCodeAt(j);
        if (c < 0x41 || c > 0x5a) break;
        h = Math.imul(h ^ c, 0x01000193);
      }
      for (; j < n; j++) {
        const c = text.charCodeAt(j);
        if (c < 0x61 || c > 0x7a) break;
        h = Math.imul(h ^ c, 0x01000193);
      }
      end = contractionEnd(text, j, n);
      for (; j < end; j++) h = Math.imul(h ^ text.charCodeAt(j), 0x01000193);
    } else {
      end = pieceEnd(text, i, n);
      units = 0;
      for (let k = i; k < end; k++) {
        const c = text.charCodeAt(k);
        units |= c;
        h = Math.imul(h ^ c, 0x01000193);
      }
    }
    if (units >= 0x80) return countO200k(text, AS_TEXT);
    const length = end - i;
    if (length <= MEMO_MAX_PIECE) {
      let slot = (h ^ (h >>> 15)) & MEMO_MASK;
      let known = -1;
      for (;;) {
        const word = slot * SLOT_WORDS;
        const stored = memoWords[word + 1] as number;
        if (stored === 0) break;
        if (memoWords[word] === h && stored >>> 24 === length && samePiece(slot, text, i, length)) {
          known = (stored & 0xffffff) - 1;
          break;
        }
        slot = (slot + 1) & MEMO_MASK;
      }
      if (known < 0) {
        known = countPiece(text.slice(i, end));
        if (known < 0) return countO200k(text, AS_TEXT);
        if (memoSize >= MEMO_MAX_ENTRIES) {
          memoWords.fill(0);
          memoSize = 0;
          slot = (h ^ (h >>> 15)) & MEMO_MASK;
        }
        const word = slot * SLOT_WORDS;
        memoWords[word] = h;
        memoWords[word + 1] = (length << 24) | (known + 1);
        const at = slot * SLOT_BYTES + PIECE_AT;
        for (let k = 0; k < length; k++) memoBytes[at + k] = text.charCodeAt(i + k);
        memoSize++;
      }
      count += known;
    } else {
      const pieceCount = countPiece(text.slice(i, end));
      if (pieceCount < 0) return countO200k(text, AS_TEXT);
      count += pieceCount;
    }
    i = end;
  }
  return count;
}

/** Whether the piece memoized in `slot` (of `length` characters) equals `text[at, at + length)`. */
function samePiece(slot: number, text: string, at: number, length: number): boolean {
  const from = slot * SLOT_BYTES + PIECE_AT;
  for (let k = 0; k < length; k++) if (memoBytes[from + k] !== text.charCodeAt(at + k)) return false;
  return true;
}

/**
 * Token count of one pre-token; -1 when the tokenizer's own pattern would not keep `piece` whole (never
 * expected: the caller then counts the whole text the library's way).
 */
function countPiece(piece: string): number {
  O200K_SPLIT.lastIndex = 0;
  const m = O200K_SPLIT.exec(piece);
  if (m === null || m.index !== 0 || m[0].length !== piece.length) return -1;
  return countO200k(piece, AS_TEXT);
}

/** An ASCII letter. */
function isLetter(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
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
