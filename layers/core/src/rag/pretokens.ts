/**
 * o200k_base pre-tokens, and exact token counts of any range of a text from one pass over it.
 *
 * The o200k_base tokenizer cuts a text into pre-tokens with one regular expression and encodes each on
 * its own: the count of a text is the sum of the counts of its pre-tokens. `TokenIndex` cuts a text
 * into pre-tokens once, counts each (memoized), and answers the count of any range `[a, b)` as if
 * `text.slice(a, b)` were counted on its own: whole pre-tokens by a difference of prefix sums, and only
 * the few pre-tokens at each edge that the cut can change counted again.
 */
import { O200K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants';
import { countTokens } from '../dataprep/tokens.ts';

/** The tokenizer's own pre-token pattern, matched at one position (`lastIndex`). */
const PRETOKEN = new RegExp(O200K_TOKEN_SPLIT_REGEX.source, 'uy');

// ASCII character classes of the pattern; NON_ASCII sends the scan to the pattern itself.
const END = 0;
const UPPER = 1; // \p{Lu}
const LOWER = 2; // \p{Ll}
const DIGIT = 3; // \p{N}
const NEWLINE = 4; // \r \n
const SPACE = 5; // the other \s: \t \v \f and space
const OTHER = 6; // [^\s\p{L}\p{N}]: punctuation, symbols, control characters
const NON_ASCII = 7;

const CLASS = new Uint8Array(128).fill(OTHER);
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
  const end = asciiEnd(text, at, to);
  return end >= 0 ? end : patternEnd(text, at, to);
}

/**
 * The pattern's match at `at` for ASCII text, alternative by alternative (letters with an optional
 * leading character and a contraction; 1-3 digits; a punctuation run; whitespace up to its last line
 * break; whitespace less its last character before a non-space; whitespace); -1 when the answer
 * depends on a non-ASCII character.
 */
function asciiEnd(text: string, at: number, to: number): number {
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
function contractionEnd(text: string, j: number, to: number): number {
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
const LOOK_PAST = 4;

function insidePair(text: string, at: number): boolean {
  return at > 0 && (text.charCodeAt(at) & 0xfc00) === 0xdc00 && (text.charCodeAt(at - 1) & 0xfc00) === 0xd800;
}

function stickyMatchEnd(text: string, at: number): number {
  PRETOKEN.lastIndex = at;
  const m = PRETOKEN.exec(text);
  // The pattern matches every character (its last alternatives cover all whitespace, the others the rest).
  if (m === null || m.index !== at) throw new Error(`no o200k pre-token at ${at}`);
  return at + Math.max(1, m[0].length);
}

/**
 * Memoized counts of short pre-tokens, in an open-addressing table keyed by an FNV-1a hash of the
 * characters, so that a known pre-token is looked up in the text without building its string. Emptied
 * when half full, so memory stays bounded.
 */
const MEMO_BITS = 16;
const MEMO_SIZE = 1 << MEMO_BITS;
const MEMO_MASK = MEMO_SIZE - 1;
const MEMO_MAX_LENGTH = 32;
const memoKeys: string[] = new Array<string>(MEMO_SIZE).fill('');
/** Two numbers per slot, side by side: the key's hash, then its count (0: an empty slot). */
const memoSlots = new Int32Array(MEMO_SIZE * 2);
let memoEntries = 0;

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/** Tokens of the one pre-token `text.slice(a, b)`. */
function preTokenCount(text: string, a: number, b: number): number {
  const length = b - a;
  // Every byte is a token of its own in o200k_base, so one ASCII character is one token.
  if (length === 1 && text.charCodeAt(a) < 0x80) return 1;
  if (length > MEMO_MAX_LENGTH) return countTokens(text.slice(a, b));
  let hash = FNV_OFFSET;
  for (let i = a; i < b; i++) hash = Math.imul(hash ^ text.charCodeAt(i), FNV_PRIME);
  return memoized(text, a, b, hash);
}

/** Tokens of the one pre-token `text.slice(a, b)` (at most MEMO_MAX_LENGTH long), whose hash is `hash`. */
function memoized(text: string, a: number, b: number, hash: number): number {
  let slot = (hash ^ (hash >>> MEMO_BITS)) & MEMO_MASK;
  for (;;) {
    const count = memoSlots[2 * slot + 1] as number;
    // A count is at least 1: 0 marks an empty slot.
    if (count === 0) break;
    if (memoSlots[2 * slot] === hash) {
      const key = memoKeys[slot] as string;
      if (key.length === b - a && text.startsWith(key, a)) return count;
    }
    slot = (slot + 1) & MEMO_MASK;
  }
  const piece = text.slice(a, b);
  const count = countTokens(piece);
  if (memoEntries >= MEMO_SIZE / 2) {
    memoSlots.fill(0);
    memoKeys.fill('');
    memoEntries = 0;
    slot = (hash ^ (hash >>> MEMO_BITS)) & MEMO_MASK;
  }
  memoKeys[slot] = piece;
  memoSlots[2 * slot] = hash;
  memoSlots[2 * slot + 1] = count;
  memoEntries++;
  return count;
}

function isAsciiLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** Whether the UTF-16 unit at `i` is `\s` (what the pattern's `\s` matches). */
function isSpaceAt(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c < 0x80) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/** Exact o200k_base counts of the ranges of one text (see the module comment). */
export class TokenIndex {
  /** Start of each pre-token of the whole text, then `text.length`. */
  private readonly starts: Int32Array;
  /** `prefix[k]`: tokens of the pre-tokens before the k-th. */
  private readonly prefix: Int32Array;
  /** Pre-tokens in the text. */
  private readonly size: number;

  constructor(private readonly text: string) {
    const n = text.length;
    // About 4.6 characters per pre-token in English prose and code: grown when short.
    let starts = new Int32Array((n >>> 2) + 2);
    let prefix = new Int32Array(starts.length);
    let k = 0;
    let tokens = 0;
    for (let at = 0; at < n; k++) {
      if (k + 1 >= starts.length) {
        const grownStarts = new Int32Array(starts.length * 2);
        grownStarts.set(starts);
        starts = grownStarts;
        const grownPrefix = new Int32Array(starts.length);
        grownPrefix.set(prefix);
        prefix = grownPrefix;
      }
      starts[k] = at;
      prefix[k] = tokens;
      // Most pre-tokens are ASCII letters with an optional leading space or punctuation: scanned and
      // hashed in one pass. Anything else (and a letter run that a non-ASCII character or an
      // apostrophe may extend) goes through preTokenEnd.
      const c0 = text.charCodeAt(at);
      let j = at;
      let hash = FNV_OFFSET;
      if (c0 < 0x80) {
        const class0 = CLASS[c0];
        if ((class0 === SPACE || class0 === OTHER) && isAsciiLetter(text.charCodeAt(at + 1))) {
          hash = Math.imul(hash ^ c0, FNV_PRIME);
          j++;
        }
      }
      let c = text.charCodeAt(j);
      if (isAsciiLetter(c)) {
        while (c >= 0x41 && c <= 0x5a) {
          hash = Math.imul(hash ^ c, FNV_PRIME);
          c = text.charCodeAt(++j);
        }
        while (c >= 0x61 && c <= 0x7a) {
          hash = Math.imul(hash ^ c, FNV_PRIME);
          c = text.charCodeAt(++j);
        }
        // Past the end, c is NaN: the comparisons are false.
        if (!(c >= 0x80 || c === 0x27) && j - at <= MEMO_MAX_LENGTH) {
          tokens += j - at === 1 ? 1 : memoized(text, at, j, hash);
          at = j;
          continue;
        }
      }
      const end = preTokenEnd(text, at, n);
      tokens += preTokenCount(text, at, end);
      at = end;
    }
    starts[k] = n;
    prefix[k] = tokens;
    this.starts = starts;
    this.prefix = prefix;
    this.size = k;
  }

  /** Tokens of `text.slice(a, b)`, counted on its own. */
  count(a: number, b: number): number {
    if (a >= b) return 0;
    const { text, starts, prefix } = this;
    // Pre-tokens of the whole that end at or before `b` are those of the slice, but for one: a run of
    // whitespace that ends one character before `b`, where `b` follows only whitespace (cut at `b`,
    // the run takes that character). So the whole's pre-tokens are used up to the last start at or
    // before the whitespace that ends the slice, and the rest is cut again. A `b` inside a surrogate
    // pair leaves the slice a lone surrogate where the whole has a character: the whole's pre-tokens
    // then stop short of what the pattern may have read of that character.
    let q = b;
    if (insidePair(text, b)) q = Math.max(a, b - 1 - LOOK_PAST);
    while (q > a && isSpaceAt(text, q - 1)) q--;
    const last = this.lastStartAtOrBefore(q);
    let tokens = 0;
    let at = a;
    if ((starts[last] as number) > a) {
      // Cut the slice on its own from `a` until a cut meets a pre-token start of the whole: from there
      // on the cuts are the same (the pattern looks only forward).
      let k = this.lastStartAtOrBefore(a);
      const stop = starts[last] as number;
      while (at < stop && at !== starts[k]) {
        const end = preTokenEnd(text, at, b);
        tokens += preTokenCount(text, at, end);
        at = end;
        while ((starts[k] as number) < at) k++;
      }
      if (at === starts[k] && k <= last) {
        tokens += (prefix[last] as number) - (prefix[k] as number);
        at = stop;
      }
    }
    while (at < b) {
      const end = preTokenEnd(text, at, b);
      tokens += preTokenCount(text, at, end);
      at = end;
    }
    return tokens;
  }

  /** Index of the last pre-token start at or before `at` (the first is 0). */
  private lastStartAtOrBefore(at: number): number {
    const { starts } = this;
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((starts[mid] as number) <= at) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
