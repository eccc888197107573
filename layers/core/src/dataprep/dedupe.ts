/**
 * Exact and near-duplicate detection (MinHash + LSH) in compact typed-array structures: no JS object
 * or string is kept per record, so millions of records fit in a Lambda's memory.
 */
import { hash } from 'node:crypto';
import { fmix32 } from '../hash32.ts';
import { assertInteger, InvalidArgumentError } from './errors.ts';
import { agreement, DEFAULT_NUM_PERM, jaccardFromAgreement, MAX_NUM_PERM } from './minhash.ts';

/**
 * A 64-bit content hash of `text`: the first 16 hex characters of SHA-256 over its UTF-8 bytes.
 * (Collision probability among n records ≈ n²/2^65: negligible below billions of records.)
 */
export function exactHash(text: string): string {
  return hash('sha256', text, 'hex').slice(0, 16);
}

/** Outcome of {@link Deduper.check}. */
export type DedupeVerdict = 'unique' | 'exact' | 'near';

/** Options for {@link Deduper}. */
export interface DeduperOptions {
  /** Signature length in bytes. @default 128 */
  numPerm?: number;
  /** LSH bands; must divide `numPerm` (rows per band = numPerm / bands). @default 16 */
  bands?: number;
  /** Estimated Jaccard similarity at or above which a record is a near duplicate. @default 0.8 */
  threshold?: number;
  /**
   * Expected number of unique records, to size the tables up front. They grow anyway (by 1.5×, rehashing
   * everything), but a good estimate (e.g. object size / average line size) about halves the time per
   * check on large inputs. @default 1024
   */
  expectedRecords?: number;
}

const MAX_LOAD = 0.75;
const GROWTH = 1.5;
const RECORDS_PER_CHUNK = 4096;
const MAX_REMEMBERED_CANDIDATES = 64;
/**
 * At most this many records are indexed under one band value. Text collections with a large shared
 * boilerplate make many records collide in a band without being near duplicates; without a cap, each
 * check would scan every earlier record of that bucket (quadratic time). A record whose band bucket is
 * full is still indexed in its other bands, so recall barely changes.
 */
const BUCKET_CAP = 32;

/** The 8 hexadecimal digits of `s` at `at` as an int32 (`parseInt(…, 16) | 0`), or undefined. */
function hexWord(s: string, at: number): number | undefined {
  let word = 0;
  for (let i = at; i < at + 8; i++) {
    const c = s.charCodeAt(i);
    let digit: number;
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else {
      const lower = c | 0x20;
      if (lower < 0x61 || lower > 0x66) return undefined;
      digit = lower - 0x61 + 10;
    }
    word = (word << 4) | digit;
  }
  return word;
}

/** 16 bits of a band hash that are independent of its slot (which comes from `hash mod capacity`). */
function fingerprint(hash: number): number {
  return Math.imul(hash, 0x9e3779b1) >>> 16;
}

/**
 * Streaming deduplicator. Call {@link Deduper.check} once per record, in order: the first record of a
 * group of duplicates is `unique` (and indexed), later ones are `exact` or `near`.
 *
 * **Near duplicates.** Signatures are cut into `bands` bands of `rows` bytes. A stored record becomes a
 * candidate when at least one band is byte-identical; a candidate is a near duplicate when the
 * collision-corrected Jaccard estimate over the whole signature is >= `threshold`. With per-byte
 * agreement probability p ≈ J (+ (1−J)/256 from 8-bit collisions), the chance that a pair is even
 * compared is the LSH S-curve `1 − (1 − p^rows)^bands`. For the defaults (16 bands × 8 rows):
 *
 * | Jaccard J        | 0.5   | 0.6   | 0.7   | 0.8   | 0.9    |
 * |------------------|-------|-------|-------|-------|--------|
 * | P(candidate)     | 0.06  | 0.23  | 0.61  | 0.95  | 0.9999 |
 *
 * The curve's midpoint, (1/bands)^(1/rows) ≈ 0.71, sits below the default threshold of 0.8, so few
 * true near duplicates are missed by LSH; the final decision is the estimate's (standard error
 * ≈ sqrt(J(1−J)/numPerm) ≈ 0.035 at J = 0.8 with 128 bytes), so pairs right at the threshold go either
 * way, pairs at J ≥ 0.9 are caught and pairs at J ≤ 0.7 are kept as distinct. For word 3-grams, one
 * changed word in a 40-word text gives J ≈ 0.85.
 *
 * **Memory** (per unique record): the signature (numPerm bytes, in 4096-record arena chunks), `bands`
 * LSH entries of 6 bytes (uint32 record/band reference + uint16 fingerprint) in an open-addressing table
 * kept between 50% and 75% full, and 8 bytes for the exact hash in a second such table: ≈ 270-350 bytes
 * for the defaults (measured: 268-348 bytes per record from 10k to 1M records). Records judged
 * duplicates are not stored.
 */
export class Deduper {
  /** Signature length in bytes. */
  readonly numPerm: number;
  /** Number of LSH bands. */
  readonly bands: number;
  /** Bytes per band. */
  readonly rows: number;
  /** Near-duplicate threshold on the estimated Jaccard similarity. */
  readonly threshold: number;

  #records = 0;
  readonly #arena: Uint8Array[] = [];

  // Exact-hash set: open addressing over (hi, lo) int32 pairs; (0, 0) marks an empty slot and the
  // genuine all-zero key is tracked by a flag.
  #exactKeys: Int32Array;
  #exactCap: number;
  #exactSize = 0;
  #zeroKeySeen = false;

  // LSH table: one open-addressing table for all bands. Slot i is three uint16 at 3i..3i+2: the entry
  // record * bands + band + 1 (low, high half; 0 = empty) and a 16-bit fingerprint of the band hash that
  // spares most byte comparisons. Interleaved so that a probe touches one cache line.
  #table: Uint16Array;
  #tableCap: number;
  #tableSize = 0;

  readonly #bandHashes: Int32Array;
  readonly #candidates = new Int32Array(MAX_REMEMBERED_CANDIDATES);
  readonly #minAgreement: number;

  constructor(opts: DeduperOptions = {}) {
    this.numPerm = opts.numPerm ?? DEFAULT_NUM_PERM;
    this.bands = opts.bands ?? 16;
    this.threshold = opts.threshold ?? 0.8;
    assertInteger('opts.numPerm', this.numPerm, 1, MAX_NUM_PERM);
    assertInteger('opts.bands', this.bands, 1, this.numPerm);
    if (this.numPerm % this.bands !== 0) {
      throw new InvalidArgumentError('opts.bands', `must divide opts.numPerm (${this.numPerm})`, this.bands);
    }
    if (!(this.threshold > 0 && this.threshold <= 1)) {
      throw new InvalidArgumentError('opts.threshold', 'must be in (0, 1]', this.threshold);
    }
    const expected = opts.expectedRecords ?? 1024;
    assertInteger('opts.expectedRecords', expected, 0);
    this.rows = this.numPerm / this.bands;
    // Smallest agreement count whose estimate reaches the threshold (exact integer comparison).
    let need = 0;
    while (need < this.numPerm && jaccardFromAgreement(need, this.numPerm) < this.threshold) need++;
    this.#minAgreement = need;
    this.#exactCap = Math.max(16, Math.ceil(expected / 0.5));
    this.#exactKeys = new Int32Array(this.#exactCap * 2);
    this.#tableCap = Math.max(64, Math.ceil((expected * this.bands) / 0.5));
    this.#table = new Uint16Array(this.#tableCap * 3);
    this.#bandHashes = new Int32Array(this.bands);
  }

  /** Number of unique records indexed so far. */
  get size(): number {
    return this.#records;
  }

  /**
   * Classifies a record and, when it is unique, remembers it.
   * @param exactHash the record's {@link exactHash} (16 hex characters)
   * @param signature the record's MinHash signature (`numPerm` bytes)
   * @returns `exact` when the exact hash was seen before, `near` when a stored record's estimated
   *   Jaccard similarity is >= threshold, otherwise `unique` (and the record is added to the index)
   */
  check(exactHash: string, signature: Uint8Array): DedupeVerdict {
    const hi = hexWord(exactHash, 0);
    const lo = hexWord(exactHash, 8);
    if (exactHash.length !== 16 || hi === undefined || lo === undefined) {
      throw new InvalidArgumentError('exactHash', 'must be 16 hexadecimal characters', exactHash);
    }
    if (signature.length !== this.numPerm) {
      throw new InvalidArgumentError('signature', `must be ${this.numPerm} bytes long`, signature);
    }
    if (this.#hasExact(hi, lo)) return 'exact';
    if (this.#findNear(signature)) return 'near';
    this.#add(hi, lo, signature);
    return 'unique';
  }

  /** Bytes held by the index's typed arrays (what the deduplicator costs in memory, to report). */
  memoryBytes(): number {
    let arena = 0;
    for (const chunk of this.#arena) arena += chunk.byteLength;
    return (
      arena +
      this.#exactKeys.byteLength +
      this.#table.byteLength +
      this.#bandHashes.byteLength +
      this.#candidates.byteLength
    );
  }

  // --- exact set --------------------------------------------------------------------------------

  #exactSlot(hi: number, lo: number, cap: number): number {
    return (fmix32(hi ^ fmix32(lo)) >>> 0) % cap;
  }

  #hasExact(hi: number, lo: number): boolean {
    if (hi === 0 && lo === 0) return this.#zeroKeySeen;
    const keys = this.#exactKeys;
    const cap = this.#exactCap;
    let i = this.#exactSlot(hi, lo, cap);
    for (;;) {
      const h = keys[2 * i] ?? 0;
      const l = keys[2 * i + 1] ?? 0;
      if (h === 0 && l === 0) return false;
      if (h === hi && l === lo) return true;
      if (++i === cap) i = 0;
    }
  }

  #insertExact(keys: Int32Array, cap: number, hi: number, lo: number): void {
    let i = this.#exactSlot(hi, lo, cap);
    while ((keys[2 * i] ?? 0) !== 0 || (keys[2 * i + 1] ?? 0) !== 0) {
      if (++i === cap) i = 0;
    }
    keys[2 * i] = hi;
    keys[2 * i + 1] = lo;
  }

  #addExact(hi: number, lo: number): void {
    if (hi === 0 && lo === 0) {
      this.#zeroKeySeen = true;
      return;
    }
    if (this.#exactSize + 1 > this.#exactCap * MAX_LOAD) {
      const cap = Math.ceil(this.#exactCap * GROWTH);
      const keys = new Int32Array(cap * 2);
      const old = this.#exactKeys;
      for (let i = 0; i < this.#exactCap; i++) {
        const h = old[2 * i] ?? 0;
        const l = old[2 * i + 1] ?? 0;
        if (h !== 0 || l !== 0) this.#insertExact(keys, cap, h, l);
      }
      this.#exactKeys = keys;
      this.#exactCap = cap;
    }
    this.#insertExact(this.#exactKeys, this.#exactCap, hi, lo);
    this.#exactSize++;
  }

  // --- signatures -------------------------------------------------------------------------------

  #chunk(record: number): Uint8Array {
    const chunk = this.#arena[Math.floor(record / RECORDS_PER_CHUNK)];
    if (!chunk) throw new Error(`internal: record ${record} has no arena chunk`);
    return chunk;
  }

  #offset(record: number): number {
    return (record % RECORDS_PER_CHUNK) * this.numPerm;
  }

  #bandHash(sig: Uint8Array, offset: number, band: number): number {
    let h = Math.imul(band + 1, 0x9e3779b1);
    const end = offset + this.rows;
    let i = offset;
    for (; i + 4 <= end; i += 4) {
      const word =
        (sig[i] ?? 0) | ((sig[i + 1] ?? 0) << 8) | ((sig[i + 2] ?? 0) << 16) | ((sig[i + 3] ?? 0) << 24);
      h = Math.imul(h ^ fmix32(word), 0x01000193) ^ (h >>> 15);
    }
    for (; i < end; i++) h = Math.imul(h ^ (sig[i] ?? 0), 0x01000193);
    return fmix32(h);
  }

  // --- LSH table --------------------------------------------------------------------------------

  #findNear(sig: Uint8Array): boolean {
    const { bands, rows, numPerm } = this;
    const table = this.#table;
    const cap = this.#tableCap;
    let remembered = 0;
    for (let band = 0; band < bands; band++) {
      const bandOffset = band * rows;
      const h = this.#bandHash(sig, bandOffset, band);
      this.#bandHashes[band] = h;
      const fp = fingerprint(h);
      let i = (h >>> 0) % cap;
      let inBucket = 0;
      for (;;) {
        const entry = ((table[3 * i] as number) | ((table[3 * i + 1] as number) << 16)) >>> 0;
        if (entry === 0) break;
        if (table[3 * i + 2] === fp) {
          const record = Math.floor((entry - 1) / bands);
          if (entry - 1 - record * bands === band) {
            if (++inBucket > BUCKET_CAP) break;
            const chunk = this.#chunk(record);
            const base = this.#offset(record);
            if (agreement(chunk, base + bandOffset, sig, bandOffset, rows) === rows) {
              let seen = false;
              for (let k = 0; k < remembered; k++) {
                if (this.#candidates[k] === record) {
                  seen = true;
                  break;
                }
              }
              if (!seen) {
                if (agreement(chunk, base, sig, 0, numPerm) >= this.#minAgreement) return true;
                if (remembered < MAX_REMEMBERED_CANDIDATES) this.#candidates[remembered++] = record;
              }
            }
          }
        }
        if (++i === cap) i = 0;
      }
    }
    return false;
  }

  #insertEntry(table: Uint16Array, cap: number, hash: number, entry: number): void {
    let i = (hash >>> 0) % cap;
    const fp = fingerprint(hash);
    const band = entry % this.bands;
    let inBucket = 0;
    while (table[3 * i] !== 0 || table[3 * i + 1] !== 0) {
      if (table[3 * i + 2] === fp) {
        const stored = ((table[3 * i] as number) | ((table[3 * i + 1] as number) << 16)) >>> 0;
        // The bucket is full: this record stays findable through its other bands.
        if ((stored - 1) % this.bands === band && ++inBucket >= BUCKET_CAP) return;
      }
      if (++i === cap) i = 0;
    }
    const stored = entry + 1;
    table[3 * i] = stored & 0xffff;
    table[3 * i + 1] = stored >>> 16;
    table[3 * i + 2] = fingerprint(hash);
  }

  #growTable(): void {
    const cap = Math.ceil(this.#tableCap * GROWTH);
    const table = new Uint16Array(cap * 3);
    const { bands, rows } = this;
    for (let record = 0; record < this.#records; record++) {
      const chunk = this.#chunk(record);
      const base = this.#offset(record);
      for (let band = 0; band < bands; band++) {
        const h = this.#bandHash(chunk, base + band * rows, band);
        this.#insertEntry(table, cap, h, record * bands + band);
      }
    }
    this.#table = table;
    this.#tableCap = cap;
  }

  #add(hi: number, lo: number, sig: Uint8Array): void {
    const record = this.#records;
    const { bands } = this;
    if ((record + 1) * bands >= 0xffffffff) {
      throw new InvalidArgumentError('Deduper', 'cannot index more records', record + 1);
    }
    if (record % RECORDS_PER_CHUNK === 0) this.#arena.push(new Uint8Array(RECORDS_PER_CHUNK * this.numPerm));
    this.#chunk(record).set(sig, this.#offset(record));
    // Grow first (rehashing the records already indexed), then add this record's entries.
    if (this.#tableSize + bands > this.#tableCap * MAX_LOAD) this.#growTable();
    for (let band = 0; band < bands; band++) {
      // Band hashes were computed for this signature by #findNear just before.
      const hash = this.#bandHashes[band] ?? 0;
      this.#insertEntry(this.#table, this.#tableCap, hash, record * bands + band);
    }
    this.#records++;
    this.#tableSize += bands;
    this.#addExact(hi, lo);
  }
}
