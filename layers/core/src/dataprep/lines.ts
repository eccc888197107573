/**
 * Streaming, memory-bounded line splitting over byte chunks, and byte-range partitioning so that one
 * huge JSONL object can be processed by many workers in parallel, each owning a disjoint set of lines.
 */
import { assertInteger } from './errors.ts';

const LF = 0x0a;
const CR = 0x0d;

/** A complete line. */
export interface RawLine {
  /** 1-based line number, relative to the first line the stream (or part) owns. */
  lineNo: number;
  /** The line's bytes, without the `\n` and without a trailing `\r`. May share memory with the input chunks. */
  bytes: Buffer;
  /** Offset of the line's first byte in the object (after a stripped BOM for the first line). */
  byteOffset: number;
}

/** A line longer than `maxLineBytes`: reported with its size, never buffered whole. */
export interface OversizeLine {
  /** 1-based line number, as for {@link RawLine}. */
  lineNo: number;
  oversize: true;
  /** The line's length in bytes, without the `\n` and a trailing `\r`. */
  size: number;
  /** Offset of the line's first byte in the object. */
  byteOffset: number;
}

/** What a line splitter returns when it is done: the number of lines it yielded (blank and oversize included). */
export interface PartLineCount {
  lines: number;
}

/** Options for {@link splitLines}. */
export interface SplitLinesOptions {
  /** Lines longer than this (in bytes, excluding the line ending) are reported as {@link OversizeLine}. */
  maxLineBytes: number;
  /** Drop a UTF-8 byte order mark at the very start of the stream. @default false */
  stripBom?: boolean;
  /** Object offset of the stream's first byte, added to every `byteOffset`. @default 0 */
  baseOffset?: number;
}

/** Type guard for {@link OversizeLine}. */
export function isOversize(line: RawLine | OversizeLine): line is OversizeLine {
  return 'oversize' in line;
}

interface CoreOptions {
  maxLineBytes: number;
  stripBom: boolean;
  baseOffset: number;
  /** Drop the first line (the tail of a line owned by the previous part). */
  skipFirst: boolean;
  /** Stop once no line starting before this object offset can follow. */
  end: number;
}

/**
 * Splits a byte stream into lines. Handles `\n` and `\r\n` endings, a last line without a newline,
 * lines spanning any number of chunks and (optionally) a leading UTF-8 BOM. Memory is bounded by
 * `maxLineBytes` plus one chunk: a longer line is skipped to its newline and reported as oversize.
 * An empty stream yields nothing; a stream ending in `\n` does not yield an extra empty line.
 * Returns `{ lines }`, the number of lines yielded.
 */
export function splitLines(
  chunks: AsyncIterable<Uint8Array>,
  opts: SplitLinesOptions,
): AsyncGenerator<RawLine | OversizeLine, PartLineCount, undefined> {
  assertInteger('opts.maxLineBytes', opts.maxLineBytes, 0);
  const baseOffset = opts.baseOffset ?? 0;
  assertInteger('opts.baseOffset', baseOffset, 0);
  return splitCore(chunks, {
    maxLineBytes: opts.maxLineBytes,
    stripBom: opts.stripBom ?? false,
    baseOffset,
    skipFirst: false,
    end: Number.POSITIVE_INFINITY,
  });
}

async function* splitCore(
  chunks: AsyncIterable<Uint8Array>,
  opts: CoreOptions,
): AsyncGenerator<RawLine | OversizeLine, PartLineCount, undefined> {
  const { maxLineBytes, end } = opts;
  // A line may need maxLineBytes + 1 buffered bytes: its content plus a `\r` we cannot strip until we see `\n`.
  const bufferLimit = maxLineBytes + 1;
  let pending: Buffer[] = [];
  let pendingLen = 0;
  /** Bytes of the current line seen so far (whether buffered or skipped). */
  let lineLen = 0;
  let skipping = false;
  let lastByte = -1;
  let lineStart = opts.baseOffset;
  /** Object offset of the next byte to read. */
  let pos = opts.baseOffset;
  let skipCurrent = opts.skipFirst;
  let bomCheck = opts.stripBom;
  let bomBytes: Buffer | undefined;
  let count = 0;

  const finishLine = (tail: Buffer): RawLine | OversizeLine | undefined => {
    // tail: the bytes of the current line in this chunk, up to (not including) the `\n`.
    const total = lineLen + tail.length;
    const endsWithCr = tail.length > 0 ? tail[tail.length - 1] === CR : lastByte === CR;
    const size = endsWithCr ? total - 1 : total;
    const start = lineStart;
    let out: RawLine | OversizeLine | undefined;
    if (skipCurrent) {
      skipCurrent = false;
    } else if (skipping || size > maxLineBytes) {
      count++;
      out = { lineNo: count, oversize: true, size, byteOffset: start };
    } else {
      let bytes: Buffer;
      if (pendingLen === 0) bytes = tail;
      else {
        pending.push(tail);
        bytes = Buffer.concat(pending, pendingLen + tail.length);
      }
      count++;
      out = { lineNo: count, bytes: endsWithCr ? bytes.subarray(0, size) : bytes, byteOffset: start };
    }
    if (pending.length > 0) pending = [];
    pendingLen = 0;
    lineLen = 0;
    skipping = false;
    lastByte = -1;
    return out;
  };

  for await (const chunk of chunks) {
    let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (bomCheck) {
      // Gather the first three bytes (the BOM may itself be split across chunks).
      bomBytes = bomBytes ? Buffer.concat([bomBytes, buf]) : buf;
      if (bomBytes.length < 3) {
        const b = bomBytes;
        if (b[0] === 0xef && (b.length < 2 || b[1] === 0xbb)) continue;
      }
      bomCheck = false;
      buf = bomBytes;
      bomBytes = undefined;
      if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
        buf = buf.subarray(3);
        pos += 3;
        lineStart = pos;
      }
    }
    let i = 0;
    const n = buf.length;
    while (i < n) {
      const nl = buf.indexOf(LF, i);
      if (nl === -1) {
        // The current line continues past this chunk.
        const rest = n - i;
        if (skipCurrent) {
          // The tail of a previous part's line: if it reaches `end`, no owned line can start before `end`.
          if (pos + n >= end) return { lines: count };
        } else if (!skipping) {
          if (pendingLen + rest > bufferLimit) {
            skipping = true;
            pending = [];
            pendingLen = 0;
          } else {
            pending.push(buf.subarray(i));
            pendingLen += rest;
          }
        }
        lineLen += rest;
        lastByte = buf[n - 1] ?? -1;
        break;
      }
      const line = finishLine(buf.subarray(i, nl));
      if (line) yield line;
      i = nl + 1;
      lineStart = pos + i;
      if (lineStart >= end) return { lines: count };
    }
    pos += n;
  }
  if (bomBytes && bomBytes.length > 0) {
    // A stream shorter than a BOM that began like one (no `\n` in it): not a BOM, just a last line.
    pending = [bomBytes];
    pendingLen = bomBytes.length;
    lineLen = bomBytes.length;
    lastByte = bomBytes[bomBytes.length - 1] ?? -1;
  }
  // No `lineStart < end` test here: we returned as soon as a line started at or after `end`. (The first
  // line's byteOffset may lie past `end` when a BOM was stripped, but that line starts at 0: it is owned.)
  if (lineLen > 0) {
    const line = finishLine(Buffer.alloc(0));
    if (line) yield line;
  }
  return { lines: count };
}

/** One byte range of an object, as planned by {@link planRanges}. */
export interface ByteRange {
  /** 0-based part index. */
  index: number;
  /** First byte offset (inclusive). */
  start: number;
  /** Last byte offset (exclusive). */
  end: number;
}

/**
 * Splits `[0, size)` into consecutive ranges of `partSize` bytes (the last one shorter). When that
 * would make more than `maxParts` ranges, `partSize` grows to `ceil(size / maxParts)`. A size of 0
 * gives one empty range, so every object has at least one part.
 */
export function planRanges(size: number, opts: { partSize: number; maxParts: number }): ByteRange[] {
  assertInteger('size', size, 0);
  assertInteger('opts.partSize', opts.partSize, 1);
  assertInteger('opts.maxParts', opts.maxParts, 1);
  if (size === 0) return [{ index: 0, start: 0, end: 0 }];
  const partSize = Math.max(opts.partSize, Math.ceil(size / opts.maxParts));
  const ranges: ByteRange[] = [];
  for (let start = 0, index = 0; start < size; start += partSize, index++) {
    ranges.push({ index, start, end: Math.min(size, start + partSize) });
  }
  return ranges;
}

/** Options for {@link ownedLines}. */
export interface OwnedLinesOptions {
  /** First byte of the part (inclusive). */
  start: number;
  /** End of the part (exclusive). */
  end: number;
  /** As for {@link splitLines}. */
  maxLineBytes: number;
  /** Strip a BOM at offset 0 (only meaningful for the part that starts at 0). @default false */
  stripBom?: boolean;
}

/**
 * Yields the lines that the part `[start, end)` OWNS: every line whose first byte lies in the range.
 * `chunks` must be the object's bytes from offset `max(0, start - 1)` onwards (to EOF or beyond the
 * part: the generator returns, and so stops reading, as soon as the last owned line is complete).
 * For `start > 0` the byte at `start - 1` decides: after a `\n` the line at `start` is owned, otherwise
 * the bytes through the next `\n` belong to an earlier part's line and are skipped.
 *
 * Line numbers are relative to the part (its first owned line is 1). The return value counts the
 * owned lines (blank and oversize included), so a line's absolute number is the sum of the previous
 * parts' counts plus its relative number. `byteOffset`s are absolute object offsets.
 */
export function ownedLines(
  chunks: AsyncIterable<Uint8Array>,
  opts: OwnedLinesOptions,
): AsyncGenerator<RawLine | OversizeLine, PartLineCount, undefined> {
  assertInteger('opts.start', opts.start, 0);
  assertInteger('opts.end', opts.end, opts.start);
  assertInteger('opts.maxLineBytes', opts.maxLineBytes, 0);
  if (opts.start === opts.end) return emptyLines();
  return splitCore(chunks, {
    maxLineBytes: opts.maxLineBytes,
    stripBom: opts.start === 0 && (opts.stripBom ?? false),
    baseOffset: opts.start === 0 ? 0 : opts.start - 1,
    // For start > 0 the stream begins at start - 1. Its first "line" is either the empty line ended by a
    // `\n` at start - 1, or the tail of a line that began before `start`: never owned either way.
    skipFirst: opts.start > 0,
    end: opts.end,
  });
}

// biome-ignore lint/correctness/useYield: an empty part yields nothing by design.
async function* emptyLines(): AsyncGenerator<RawLine | OversizeLine, PartLineCount, undefined> {
  return { lines: 0 };
}
