/**
 * Token counting with the o200k_base encoding. Statistics live in `token-stats.ts`.
 */
import { countTokens as countO200k } from '../tokenizer/o200k.ts';
import {
  asciiPreTokenEnd,
  CLASS,
  contractionEnd,
  isOnePreToken,
  OTHER,
  SPACE,
} from '../tokenizer/pretokens.ts';

export { HISTOGRAM_GAMMA, TOKENIZER, TokenStats, type TokenStatsJSON } from './token-stats.ts';

// Special-token text such as `<|endoftext|>` is counted as ordinary text instead of throwing.
const AS_TEXT = { disallowedSpecial: new Set<string>() };

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
    // The piece that starts at `i` (see asciiPreTokenEnd), with FNV-1a over its code units and their OR: text
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
      end = asciiPreTokenEnd(text, i, n);
      if (end < 0) return countO200k(text, AS_TEXT);
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
  return isOnePreToken(piece) ? countO200k(piece, AS_TEXT) : -1;
}

/** An ASCII letter. */
function isLetter(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
}
