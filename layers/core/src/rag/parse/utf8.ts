import { InvalidUtf8Error } from './document.ts';

/** Strict UTF-8 decoding with the byte offset of the first ill-formed sequence, and newline normalization. */
export const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Strict UTF-8 decoding (a leading BOM is dropped) with line endings normalized to `\n`. */
export function decodeUtf8(key: string, bytes: Uint8Array): string {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (error) {
    throw new InvalidUtf8Error(key, invalidUtf8Offset(bytes), { cause: error });
  }
  return normalizeNewlines(text);
}

export function normalizeNewlines(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

/** Byte offset of the first ill-formed UTF-8 sequence (Unicode Table 3-7), or `bytes.length` if none. */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    if (b < 0x80) {
      i += 1;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined) return i;
      const min = k === 1 ? lo : 0x80;
      const max = k === 1 ? hi : 0xbf;
      if (c < min || c > max) return i;
    }
    i += need + 1;
  }
  return i;
}
