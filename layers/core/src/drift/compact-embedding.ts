import { ValidationError } from '../errors.ts';

/**
 * A compact embedding (no AWS imports): a vector quantized to one signed byte per dimension, for the
 * interaction record. RAG embeds the user's question to retrieve passages; the gateway keeps that vector
 * in this form on sampled calls, so that the drift check decodes it instead of embedding the same
 * question a second time.
 *
 * Quantization is symmetric and per vector: `scale = max|xᵢ| / 127`, `qᵢ = round(xᵢ / scale)` in
 * [-127, 127] (-128 is never written), `x̂ᵢ = qᵢ · scale`. Each decoded value is therefore within
 * `|xᵢ − x̂ᵢ| ≤ scale / 2` of the original (up to floating-point rounding), and the largest one is
 * exact up to rounding. The zero vector has `scale` 0 and decodes to zeros.
 *
 * Size: one byte per dimension, base64 encoded: a 1024-dimension vector takes 1,368 characters of
 * `data`, against about 20 KB as a JSON array of floats (each 17–20 characters and a comma).
 */
export interface CompactEmbedding {
  readonly encoding: 'int8';
  /** The number of dimensions: the byte length of the decoded `data`. */
  readonly dims: number;
  /** The step between two quantization levels: max|xᵢ| / 127 (0 for the zero vector). */
  readonly scale: number;
  /** The quantized values, one two's-complement byte per dimension, as standard padded base64. */
  readonly data: string;
}

/** The most dimensions a compact embedding holds (embedding models stay well below it). */
export const MAX_EMBEDDING_DIMS = 8192;

/** The largest quantized magnitude: the symmetric int8 range is [-127, 127]. */
const LEVELS = 127;

/** Standard base64 with padding, whole quads only: what `Buffer` writes, and nothing it would skip over. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * `vector` quantized to int8 with a per-vector scale (see the module comment for the error bound).
 * Throws a `ValidationError` naming `vector` (or `vector.<i>`) for an empty vector, one of more than
 * {@link MAX_EMBEDDING_DIMS} dimensions, or a value that is not a finite number.
 */
export function encodeEmbedding(vector: readonly number[]): CompactEmbedding {
  const dims = vector.length;
  if (dims < 1 || dims > MAX_EMBEDDING_DIMS) {
    throw new ValidationError('vector', `must have 1 to ${MAX_EMBEDDING_DIMS} dimensions (has ${dims})`);
  }
  let max = 0;
  for (let i = 0; i < dims; i++) {
    const x = vector[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new ValidationError(`vector.${i}`, 'must be a finite number');
    }
    const magnitude = Math.abs(x);
    if (magnitude > max) max = magnitude;
  }
  const scale = max / LEVELS;
  const bytes = new Int8Array(dims);
  if (scale > 0) {
    for (let i = 0; i < dims; i++) {
      const q = Math.round((vector[i] as number) / scale);
      // Rounding of x / scale can overshoot by an ulp at the extremes: keep to the symmetric range.
      bytes[i] = Math.min(LEVELS, Math.max(-LEVELS, q));
    }
  }
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  return { encoding: 'int8', dims, scale, data };
}

/**
 * The vector a compact embedding stands for: each byte times `scale`. Throws a `ValidationError`
 * naming the field at fault: `encoding` other than `int8`; `dims` not a whole number in 1 to
 * {@link MAX_EMBEDDING_DIMS}; `scale` not a finite number ≥ 0; `data` not valid base64, not `dims`
 * bytes long, or holding -128 (outside the symmetric range an encoder writes).
 */
export function decodeEmbedding(c: CompactEmbedding): number[] {
  if (c.encoding !== 'int8') throw new ValidationError('encoding', 'must be "int8"');
  if (!Number.isInteger(c.dims) || c.dims < 1 || c.dims > MAX_EMBEDDING_DIMS) {
    throw new ValidationError('dims', `must be a whole number from 1 to ${MAX_EMBEDDING_DIMS}`);
  }
  if (typeof c.scale !== 'number' || !Number.isFinite(c.scale) || c.scale < 0) {
    throw new ValidationError('scale', 'must be a finite number ≥ 0');
  }
  if (typeof c.data !== 'string' || !BASE64.test(c.data)) {
    throw new ValidationError('data', 'must be standard padded base64');
  }
  const raw = Buffer.from(c.data, 'base64');
  if (raw.length !== c.dims) {
    throw new ValidationError('data', `must decode to dims (${c.dims}) bytes (decodes to ${raw.length})`);
  }
  const bytes = new Int8Array(raw.buffer, raw.byteOffset, raw.length);
  const vector = new Array<number>(c.dims);
  for (let i = 0; i < c.dims; i++) {
    const q = bytes[i] as number;
    if (q < -LEVELS) throw new ValidationError('data', `byte ${i} is -128, outside the range [-127, 127]`);
    vector[i] = q * c.scale;
  }
  return vector;
}
