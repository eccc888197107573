/**
 * o200k_base pre-tokens, and exact token counts of any range of a text from one pass over it.
 *
 * The o200k_base tokenizer cuts a text into pre-tokens with one regular expression and encodes each on
 * its own: the count of a text is the sum of the counts of its pre-tokens. `TokenIndex` cuts a text
 * into pre-tokens once, counts each (memoized), and answers the count of any range `[a, b)` as if
 * `text.slice(a, b)` were counted on its own: whole pre-tokens by a difference of prefix sums, and only
 * the few pre-tokens at each edge that the cut can change counted again.
 */
import { countTokens } from '../dataprep/tokens.ts';
import { CLASS, insidePair, LOOK_PAST, OTHER, preTokenEnd, SPACE } from '../tokenizer/pretokens.ts';
import { isJsWhitespace } from '../whitespace.ts';

export { preTokenEnd };

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
  return isJsWhitespace(text.charCodeAt(i));
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
