/**
 * b-bit MinHash signatures (b = 8) over word 3-gram shingles, for near-duplicate detection.
 *
 * Each shingle is hashed to 32 bits (FNV-1a over UTF-16 code units, finished with the murmur3 mixer).
 * Permutation `i` is the universal multiply-add hash `h_i(x) = (a_i·x + b_i) mod 2^32` (`a_i` odd,
 * computed with `Math.imul`, exact in 32-bit arithmetic); the signature keeps the low 8 bits of each
 * permutation's minimum. Because the inputs are already well-mixed 32-bit hashes, this family gives
 * the same estimator error as `(a·x + b) mod p` with a 31-bit prime (measured: RMSE 0.035 at J = 0.8
 * with 128 permutations, no measurable bias) at a fraction of the cost. Coefficients come from a fixed
 * seed, so signatures are identical across processes and releases; the first k coefficients do not
 * depend on `numPerm`, so a signature with fewer permutations is a prefix of one with more.
 */
import { assertInteger, InvalidArgumentError } from './errors.ts';

/** Default number of permutations (signature bytes). */
export const DEFAULT_NUM_PERM = 128;
/** Largest supported number of permutations. */
export const MAX_NUM_PERM = 4096;

const SEED = 0x5eed_1e55;

/** murmur3 32-bit finalizer: a bijection on 32-bit integers with full avalanche. Returns an int32. */
export function fmix32(h: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 0;
}

/** FNV-1a over the UTF-16 code units of `s[from, to)`. Returns an int32. */
export function fnv1a(s: string, from = 0, to = s.length): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h | 0;
}

let scratch: Int32Array = new Int32Array(256);
let wordHashes: Int32Array = new Int32Array(256);

function grow(a: Int32Array): Int32Array {
  const grown = new Int32Array(a.length * 2);
  grown.set(a);
  return grown;
}

/** Whether a BMP code unit is a letter or digit: 0 = not yet known, 1 = yes, 2 = no. Filled lazily. */
const WORD_UNIT = new Uint8Array(65536);
const WORD_CHAR = /^[\p{L}\p{N}]$/u;
for (let c = 0; c < 128; c++) {
  const isWord = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  WORD_UNIT[c] = isWord ? 1 : 2;
}

function isWordUnit(c: number): boolean {
  let k = WORD_UNIT[c] ?? 2;
  if (k === 0) {
    k = WORD_CHAR.test(String.fromCharCode(c)) ? 1 : 2;
    WORD_UNIT[c] = k;
  }
  return k === 1;
}

/** Fills the module scratch buffer with the shingle hashes of `text`; returns how many. */
function fillShingles(text: string): number {
  const s = text.toLowerCase();
  const len = s.length;
  let words = 0;
  // Start/end of the first three words, for the character-gram fallback.
  const bounds = [0, 0, 0, 0, 0, 0];
  let h = 0;
  let start = -1;
  for (let i = 0; i <= len; i++) {
    let width = 1;
    let word = false;
    if (i < len) {
      const c = s.charCodeAt(i);
      if (c < 0xd800 || c > 0xdfff) word = isWordUnit(c);
      else if (c <= 0xdbff && i + 1 < len) {
        // A surrogate pair: test the whole code point.
        width = 2;
        word = WORD_CHAR.test(s.slice(i, i + 2));
      }
    }
    if (word) {
      if (start < 0) {
        start = i;
        h = 0x811c9dc5;
      }
      for (let k = 0; k < width; k++) h = Math.imul(h ^ s.charCodeAt(i + k), 0x01000193);
      i += width - 1;
    } else if (start >= 0) {
      if (words === wordHashes.length) wordHashes = grow(wordHashes);
      wordHashes[words] = h;
      if (words < 3) {
        bounds[2 * words] = start;
        bounds[2 * words + 1] = i;
      }
      words++;
      start = -1;
    }
  }
  let n = 0;
  if (words >= 3) {
    if (words - 2 > scratch.length) scratch = new Int32Array(words * 2);
    const xs = scratch;
    const wh = wordHashes;
    let h1 = wh[0] ?? 0;
    let h2 = wh[1] ?? 0;
    for (let i = 2; i < words; i++) {
      const h3 = wh[i] ?? 0;
      const x =
        Math.imul(h1, 0x9e3779b1) ^
        Math.imul((h2 << 11) | (h2 >>> 21), 0x85ebca77) ^
        ((h3 << 22) | (h3 >>> 10));
      xs[n++] = fmix32(x);
      h1 = h2;
      h2 = h3;
    }
    return n;
  }
  // Fewer than three words: character 4-grams of the words joined by spaces (or of the whole text
  // when it has no letters or digits at all), so short texts still compare by content.
  let joined: string;
  if (words === 0) joined = s.trim();
  else {
    const parts: string[] = [];
    for (let w = 0; w < words; w++) parts.push(s.slice(bounds[2 * w], bounds[2 * w + 1]));
    joined = parts.join(' ');
  }
  if (joined.length === 0) return 0;
  if (joined.length <= 4) {
    scratch[0] = fmix32(fnv1a(joined));
    return 1;
  }
  if (joined.length > scratch.length) scratch = new Int32Array(joined.length * 2);
  for (let i = 0; i + 4 <= joined.length; i++) scratch[n++] = fmix32(fnv1a(joined, i, i + 4));
  return n;
}

/**
 * The shingle hashes of `text`: lowercased, split on anything that is not a Unicode letter or digit,
 * then word 3-grams; a text with fewer than 3 words uses character 4-grams instead (a text of at most
 * 4 characters is one shingle; an empty text has none). Hashes are uint32 values, in text order,
 * duplicates included.
 */
export function shingles(text: string): Uint32Array {
  const n = fillShingles(text);
  return new Uint32Array(scratch.buffer.slice(0, n * 4));
}

interface Coefficients {
  a: Int32Array;
  /** b_i + 2^31 (mod 2^32), see {@link minhashSignature}. */
  b: Int32Array;
}

const coefficientCache = new Map<number, Coefficients>();
const UNROLL = 8;

function coefficients(numPerm: number): Coefficients {
  let c = coefficientCache.get(numPerm);
  if (!c) {
    // Padded to a multiple of UNROLL for the unrolled loop; the extra permutations are computed and dropped.
    const padded = Math.ceil(numPerm / UNROLL) * UNROLL;
    const a = new Int32Array(padded);
    const b = new Int32Array(padded);
    for (let i = 0; i < padded; i++) {
      a[i] = fmix32(SEED + 2 * i + 1) | 1;
      b[i] = (fmix32(SEED + 2 * i + 2) + 0x80000000) | 0;
    }
    c = { a, b };
    coefficientCache.set(numPerm, c);
  }
  return c;
}

/**
 * The b-bit (8-bit) MinHash signature of `text`: byte `i` is the low 8 bits of the minimum of
 * permutation `i` over the text's {@link shingles}. A text without shingles (empty) gets all 0xFF.
 */
export function minhashSignature(text: string, numPerm: number = DEFAULT_NUM_PERM): Uint8Array {
  assertInteger('numPerm', numPerm, 1, MAX_NUM_PERM);
  const n = fillShingles(text);
  const { a, b } = coefficients(numPerm);
  const xs = scratch;
  const padded = a.length;
  const out = new Uint8Array(padded);
  // The unsigned minimum of h = a·x + b (mod 2^32) is tracked as the signed minimum of h XOR 2^31,
  // which equals a·x + (b + 2^31) (mod 2^32): the stored b already includes the 2^31, so everything
  // stays in int32 arithmetic, and the low 8 bits are those of h. Eight permutations per pass over
  // the shingles give the CPU independent work.
  for (let i = 0; i < padded; i += UNROLL) {
    const a0 = a[i] as number;
    const a1 = a[i + 1] as number;
    const a2 = a[i + 2] as number;
    const a3 = a[i + 3] as number;
    const a4 = a[i + 4] as number;
    const a5 = a[i + 5] as number;
    const a6 = a[i + 6] as number;
    const a7 = a[i + 7] as number;
    const b0 = b[i] as number;
    const b1 = b[i + 1] as number;
    const b2 = b[i + 2] as number;
    const b3 = b[i + 3] as number;
    const b4 = b[i + 4] as number;
    const b5 = b[i + 5] as number;
    const b6 = b[i + 6] as number;
    const b7 = b[i + 7] as number;
    let m0 = 0x7fffffff;
    let m1 = m0;
    let m2 = m0;
    let m3 = m0;
    let m4 = m0;
    let m5 = m0;
    let m6 = m0;
    let m7 = m0;
    for (let j = 0; j < n; j++) {
      const x = xs[j] as number;
      const v0 = (Math.imul(a0, x) + b0) | 0;
      const v1 = (Math.imul(a1, x) + b1) | 0;
      const v2 = (Math.imul(a2, x) + b2) | 0;
      const v3 = (Math.imul(a3, x) + b3) | 0;
      const v4 = (Math.imul(a4, x) + b4) | 0;
      const v5 = (Math.imul(a5, x) + b5) | 0;
      const v6 = (Math.imul(a6, x) + b6) | 0;
      const v7 = (Math.imul(a7, x) + b7) | 0;
      if (v0 < m0) m0 = v0;
      if (v1 < m1) m1 = v1;
      if (v2 < m2) m2 = v2;
      if (v3 < m3) m3 = v3;
      if (v4 < m4) m4 = v4;
      if (v5 < m5) m5 = v5;
      if (v6 < m6) m6 = v6;
      if (v7 < m7) m7 = v7;
    }
    out[i] = m0;
    out[i + 1] = m1;
    out[i + 2] = m2;
    out[i + 3] = m3;
    out[i + 4] = m4;
    out[i + 5] = m5;
    out[i + 6] = m6;
    out[i + 7] = m7;
  }
  return padded === numPerm ? out : out.slice(0, numPerm);
}

const COLLISION = 1 / 256;

/**
 * Estimated Jaccard similarity of the shingle sets behind two signatures. Two different minima agree
 * in their low 8 bits with probability 1/256, so the raw agreement P overestimates J; the estimate is
 * `(P − 1/256) / (1 − 1/256)`, clamped to [0, 1]. Standard error ≈ sqrt(J(1−J)/numPerm).
 */
export function estimateJaccard(sigA: Uint8Array, sigB: Uint8Array): number {
  if (sigA.length !== sigB.length || sigA.length === 0) {
    throw new InvalidArgumentError(
      'sigB',
      `must be a non-empty signature as long as sigA (${sigA.length})`,
      sigB,
    );
  }
  return jaccardFromAgreement(agreement(sigA, 0, sigB, 0, sigA.length), sigA.length);
}

/** Number of equal bytes between `a[aOff..aOff+len)` and `b[bOff..bOff+len)`. */
export function agreement(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, len: number): number {
  let eq = 0;
  for (let i = 0; i < len; i++) if (a[aOff + i] === b[bOff + i]) eq++;
  return eq;
}

/** Converts an agreement count over `len` bytes into a collision-corrected Jaccard estimate. */
export function jaccardFromAgreement(equal: number, len: number): number {
  const j = (equal / len - COLLISION) / (1 - COLLISION);
  return Math.min(1, Math.max(0, j));
}
