/** Small, fast 32-bit hashing shared by the dedupe, split and offline-embedding code. */

/** murmur3 32-bit finalizer: a bijection on 32-bit integers with full avalanche. Returns an int32. */
export function fmix32(h: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 0;
}

/** The FNV-1a offset basis: the hash of the empty string. */
export const FNV_OFFSET = 0x811c9dc5;

/** One FNV-1a step over one UTF-16 code unit. Returns an int32. */
export function fnvStep(h: number, code: number): number {
  return Math.imul(h ^ code, 0x01000193);
}

/** FNV-1a over the UTF-16 code units of `s[from, to)`. Returns an int32. */
export function fnv1a(s: string, from = 0, to = s.length): number {
  let h = FNV_OFFSET;
  for (let i = from; i < to; i++) h = fnvStep(h, s.charCodeAt(i));
  return h | 0;
}
