/**
 * b-bit MinHash signatures (b = 8) over word 3-gram shingles, for near-duplicate detection.
 *
 * Each shingle is hashed to 32 bits (FNV-1a over UTF-16 code units, finished with the murmur3 mixer).
 * Signatures use One Permutation Hashing with optimal densification (Shrivastava, "Optimal
 * Densification for Fast and Accurate Minwise Hashing", ICML 2017) instead of `numPerm` independent
 * permutations: each shingle hash is mixed once more with a fixed seed, its high bits pick one of
 * `numPerm` equal-width bins and each bin keeps its smallest hash. A bin that no shingle fell into
 * borrows the minimum of the first non-empty bin on its own probe sequence (seeded pseudo-random
 * probes, the same for every text), so for two texts the values of bin `i` are equal exactly when
 * the smallest hash of the union's first non-empty bin on that sequence is a shared shingle: the
 * collision probability is the Jaccard similarity, for every bin, whatever the texts' sizes. Byte `i`
 * is the low 8 bits of a seeded per-bin mix of bin `i`'s value, so different values (also one value
 * copied into several bins) agree in a byte with probability 1/256 independently of the other bytes.
 * The cost is one hash per shingle plus a few per empty bin, instead of `numPerm` per shingle. Everything
 * comes from fixed seeds, so signatures are identical across processes; they depend on `numPerm` as a
 * whole (a shorter signature is not a prefix of a longer one).
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

/** Classifies a BMP code unit not yet in {@link WORD_UNIT} (and caches the answer). */
function classifyUnit(c: number): boolean {
  const word = WORD_CHAR.test(String.fromCharCode(c));
  WORD_UNIT[c] = word ? 1 : 2;
  return word;
}

/** Fills the module scratch buffer with the shingle hashes of `text`; returns how many. */
function fillShingles(text: string): number {
  const s = text.toLowerCase();
  const len = s.length;
  let wh = wordHashes;
  let words = 0;
  // Start/end of the first three words, for the character-gram fallback.
  const bounds = [0, 0, 0, 0, 0, 0];
  let h = 0;
  let start = -1;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    let word: boolean;
    let pair = false;
    if (c < 0xd800 || c > 0xdfff) {
      const k = WORD_UNIT[c] as number;
      word = k === 1 || (k === 0 && classifyUnit(c));
    } else if (c <= 0xdbff && i + 1 < len) {
      // A surrogate pair: test the whole code point (a non-word pair's low half is then skipped as a
      // lone surrogate, which is not a word character either).
      word = WORD_CHAR.test(s.slice(i, i + 2));
      pair = word;
    } else word = false;
    if (word) {
      if (start < 0) {
        start = i;
        h = 0x811c9dc5;
      }
      h = Math.imul(h ^ c, 0x01000193);
      if (pair) h = Math.imul(h ^ s.charCodeAt(++i), 0x01000193);
    } else if (start >= 0) {
      if (words === wh.length) {
        wordHashes = grow(wh);
        wh = wordHashes;
      }
      wh[words] = h;
      if (words < 3) {
        bounds[2 * words] = start;
        bounds[2 * words + 1] = i;
      }
      words++;
      start = -1;
    }
  }
  if (start >= 0) {
    if (words === wh.length) {
      wordHashes = grow(wh);
      wh = wordHashes;
    }
    wh[words] = h;
    if (words < 3) {
      bounds[2 * words] = start;
      bounds[2 * words + 1] = len;
    }
    words++;
  }
  let n = 0;
  if (words >= 3) {
    if (words - 2 > scratch.length) scratch = new Int32Array(words * 2);
    const xs = scratch;
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

/** Seeds of the shingle mix, of the densification probes and of the densification priorities. */
const BIN_SEED = 0x3c6e_f372;
const PROBE_SEED = 0x7f4a_7c15;
const PRIORITY_SEED = 0x1b87_3593;
/** Probes per bin kept in a table; the branch-free test in {@link minhashSignature} is unrolled for 8. */
const TABLED_PROBES = 8;
const ROW = 1 + TABLED_PROBES;
const TWO_POW_32 = 4294967296;

/** Probe `t` of bin `i` among `numPerm` bins (`scale` = numPerm / 2^32). */
function probe(i: number, t: number, scale: number): number {
  return ((fmix32(Math.imul(i * TABLED_PROBES + t, 0x9e3779b1) ^ PROBE_SEED) >>> 0) * scale) | 0;
}

/** Rank of bin `b` in bin `i`'s order of last resort (distinct for distinct `(i, b)`, `i, b < numPerm`). */
function priority(i: number, b: number, numPerm: number): number {
  return fmix32(Math.imul(i * numPerm + b, 0x85ebca77) ^ PRIORITY_SEED);
}

/** By `numPerm`: for each bin `i`, a row of {@link ROW} bins: `i` itself, then its first probes. */
const probeTables = new Map<number, Uint16Array>();

function probeTable(numPerm: number): Uint16Array {
  let table = probeTables.get(numPerm);
  if (!table) {
    const scale = numPerm / TWO_POW_32;
    table = new Uint16Array(numPerm * ROW);
    for (let i = 0; i < numPerm; i++) {
      table[i * ROW] = i;
      for (let t = 0; t < TABLED_PROBES; t++) table[i * ROW + 1 + t] = probe(i, t, scale);
    }
    probeTables.set(numPerm, table);
  }
  return table;
}

/** Per-bin byte-mix coefficients `a_i` (odd) and `b_i`; they do not depend on `numPerm`. */
let mixA: Int32Array = new Int32Array(0);
let mixB: Int32Array = new Int32Array(0);

function ensureMix(numPerm: number): void {
  if (mixA.length >= numPerm) return;
  const size = Math.min(MAX_NUM_PERM, Math.max(numPerm, 2 * mixA.length, DEFAULT_NUM_PERM));
  mixA = new Int32Array(size);
  mixB = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    mixA[i] = fmix32(SEED + 2 * i + 1) | 1;
    mixB[i] = fmix32(SEED + 2 * i + 2);
  }
}

/** Per-bin minima (as `h XOR 2^31`, so that the signed order is the unsigned order of `h`). */
let binMin: Int32Array = new Int32Array(DEFAULT_NUM_PERM);
/** 1 where a shingle fell into the bin. */
let binFull: Uint8Array = new Uint8Array(DEFAULT_NUM_PERM);
/** The occupied bins, in the order they were first hit. */
let occupied: Int32Array = new Int32Array(DEFAULT_NUM_PERM);

/**
 * Signatures are carved out of shared 8 KiB slabs, as `Buffer.allocUnsafe` does: a standalone
 * 128-byte typed array costs V8 an off-heap backing store (about as much time as the whole hashing).
 */
const SLAB_BYTES = 8192;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

function allocSignature(numPerm: number): Uint8Array {
  if (numPerm > SLAB_BYTES / 8) return new Uint8Array(numPerm);
  if (slabUsed + numPerm > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, numPerm);
  slabUsed += (numPerm + 7) & ~7;
  return out;
}

/**
 * The b-bit (8-bit) MinHash signature of `text`: byte `i` is the low 8 bits of a per-bin mix of bin
 * `i`'s minimum over the text's {@link shingles} (bin `i` borrows another bin's minimum when no shingle
 * fell into it, see the module comment). A text without shingles (empty) gets all 0xFF. Small
 * signatures are views into a shared slab (`byteOffset` may be non-zero; the bytes are the caller's).
 */
export function minhashSignature(text: string, numPerm: number = DEFAULT_NUM_PERM): Uint8Array {
  assertInteger('numPerm', numPerm, 1, MAX_NUM_PERM);
  const n = fillShingles(text);
  const out = allocSignature(numPerm);
  if (n === 0) return out.fill(0xff);
  ensureMix(numPerm);
  if (binMin.length < numPerm) {
    binMin = new Int32Array(numPerm);
    binFull = new Uint8Array(numPerm);
    occupied = new Int32Array(numPerm);
  }
  const mins = binMin;
  const full = binFull;
  const occ = occupied;
  full.fill(0, 0, numPerm);
  // Bin of an unsigned 32-bit hash u: floor(u · numPerm / 2^32), exact in doubles (u · numPerm < 2^44).
  const scale = numPerm / TWO_POW_32;
  const xs = scratch;
  let filled = 0;
  for (let j = 0; j < n; j++) {
    const h = fmix32((xs[j] as number) ^ BIN_SEED);
    const bin = ((h >>> 0) * scale) | 0;
    const v = h ^ 0x80000000;
    if (full[bin] === 0) {
      full[bin] = 1;
      mins[bin] = v;
      occ[filled++] = bin;
    } else if (v < (mins[bin] as number)) mins[bin] = v;
  }
  const a = mixA;
  const b = mixB;
  if (filled === numPerm) {
    for (let i = 0; i < numPerm; i++) {
      out[i] = fmix32((Math.imul(mins[i] as number, a[i] as number) + (b[i] as number)) | 0);
    }
    return out;
  }
  // Optimal densification: bin i takes the minimum of the first occupied bin in its own sequence
  // i, p(i, 0), ..., p(i, 7), then every bin by increasing priority(i, ·). The sequences depend only on
  // i, never on the text, and are independent across bins. The first ROW entries are tested without
  // branches (bit j of `m`: entry j is occupied); the priority order, needed only when few bins are
  // occupied, costs one hash per occupied bin.
  if (filled === 1) {
    // Every sequence ends up at the only occupied bin.
    const v = mins[occ[0] as number] as number;
    for (let i = 0; i < numPerm; i++) out[i] = fmix32((Math.imul(v, a[i] as number) + (b[i] as number)) | 0);
    return out;
  }
  const table = probeTable(numPerm);
  for (let i = 0; i < numPerm; i++) {
    const r = i * ROW;
    const m =
      (full[i] as number) |
      ((full[table[r + 1] as number] as number) << 1) |
      ((full[table[r + 2] as number] as number) << 2) |
      ((full[table[r + 3] as number] as number) << 3) |
      ((full[table[r + 4] as number] as number) << 4) |
      ((full[table[r + 5] as number] as number) << 5) |
      ((full[table[r + 6] as number] as number) << 6) |
      ((full[table[r + 7] as number] as number) << 7) |
      ((full[table[r + 8] as number] as number) << 8);
    let src: number;
    if (m !== 0) src = table[r + 31 - Math.clz32(m & -m)] as number;
    else {
      src = occ[0] as number;
      let best = priority(i, src, numPerm);
      for (let q = 1; q < filled; q++) {
        const bin = occ[q] as number;
        const p = priority(i, bin, numPerm);
        if (p < best) {
          best = p;
          src = bin;
        }
      }
    }
    out[i] = fmix32((Math.imul(mins[src] as number, a[i] as number) + (b[i] as number)) | 0);
  }
  return out;
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
