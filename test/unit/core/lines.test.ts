import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isOversize,
  type OversizeLine,
  ownedLines,
  type PartLineCount,
  planRanges,
  type RawLine,
  splitLines,
} from '#core/dataprep/lines.ts';

type Line = RawLine | OversizeLine;

/** Yields `buf` cut at the given sizes (cycled), recording how far the consumer read. */
async function* chunked(
  buf: Buffer,
  sizes: readonly number[] = [buf.length || 1],
  reads?: { bytes: number },
) {
  let pos = 0;
  let k = 0;
  while (pos < buf.length) {
    const size = Math.max(1, sizes[k++ % sizes.length] ?? 1);
    const chunk = buf.subarray(pos, pos + size);
    pos += chunk.length;
    if (reads) reads.bytes = pos;
    // Plain Uint8Array chunks (not Buffers), as a web stream would give.
    yield new Uint8Array(chunk);
  }
}

async function collect(
  gen: AsyncGenerator<Line, PartLineCount, undefined>,
): Promise<{ lines: Line[]; count: number }> {
  const lines: Line[] = [];
  for (;;) {
    const r = await gen.next();
    if (r.done) return { lines, count: r.value.lines };
    lines.push(r.value);
  }
}

function view(line: Line): { lineNo: number; text?: string; size?: number; byteOffset: number } {
  return isOversize(line)
    ? { lineNo: line.lineNo, size: line.size, byteOffset: line.byteOffset }
    : { lineNo: line.lineNo, text: line.bytes.toString('latin1'), byteOffset: line.byteOffset };
}

/** Obvious reference: split the whole buffer on `\n`. */
function reference(buf: Buffer, maxLineBytes: number, stripBom: boolean) {
  let start = 0;
  if (stripBom && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) start = 3;
  const out: Array<{ text?: string; size?: number; byteOffset: number }> = [];
  while (start < buf.length) {
    let nl = buf.indexOf(0x0a, start);
    if (nl === -1) nl = buf.length;
    let content = buf.subarray(start, nl);
    if (content[content.length - 1] === 0x0d) content = content.subarray(0, content.length - 1);
    out.push(
      content.length > maxLineBytes
        ? { size: content.length, byteOffset: start }
        : { text: content.toString('latin1'), byteOffset: start },
    );
    start = nl + 1;
  }
  return out.map((l, i) => ({ lineNo: i + 1, ...l }));
}

describe('splitLines', () => {
  it('splits LF and CRLF lines, keeps blank lines and a last line without newline', async () => {
    const buf = Buffer.from('a\r\n\nbb\r\n  \nlast');
    const { lines, count } = await collect(splitLines(chunked(buf, [3]), { maxLineBytes: 100 }));
    expect(lines.map(view)).toEqual([
      { lineNo: 1, text: 'a', byteOffset: 0 },
      { lineNo: 2, text: '', byteOffset: 3 },
      { lineNo: 3, text: 'bb', byteOffset: 4 },
      { lineNo: 4, text: '  ', byteOffset: 8 },
      { lineNo: 5, text: 'last', byteOffset: 11 },
    ]);
    expect(count).toBe(5);
  });

  it('yields nothing for an empty stream and no extra line after a final newline', async () => {
    expect((await collect(splitLines(chunked(Buffer.alloc(0)), { maxLineBytes: 10 }))).count).toBe(0);
    const { lines } = await collect(splitLines(chunked(Buffer.from('x\n')), { maxLineBytes: 10 }));
    expect(lines.map(view)).toEqual([{ lineNo: 1, text: 'x', byteOffset: 0 }]);
    const blank = await collect(splitLines(chunked(Buffer.from('\n')), { maxLineBytes: 10 }));
    expect(blank.lines.map(view)).toEqual([{ lineNo: 1, text: '', byteOffset: 0 }]);
  });

  it('strips a BOM at the start (even split across chunks) only when asked', async () => {
    const buf = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}\r\n\r\n{"b":2}\r\n')]);
    for (const sizes of [[1], [2], [4], [100]]) {
      const { lines } = await collect(splitLines(chunked(buf, sizes), { maxLineBytes: 100, stripBom: true }));
      expect(lines.map(view)).toEqual([
        { lineNo: 1, text: '{"a":1}', byteOffset: 3 },
        { lineNo: 2, text: '', byteOffset: 12 },
        { lineNo: 3, text: '{"b":2}', byteOffset: 14 },
      ]);
    }
    const kept = await collect(splitLines(chunked(buf), { maxLineBytes: 100 }));
    expect((kept.lines[0] as RawLine).bytes.subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    // A BOM only at the very start: one later in the stream is content.
    const later = Buffer.concat([Buffer.from('x\n'), Buffer.from([0xef, 0xbb, 0xbf, 0x79])]);
    const l2 = await collect(splitLines(chunked(later, [1]), { maxLineBytes: 100, stripBom: true }));
    expect((l2.lines[1] as RawLine).bytes.length).toBe(4);
    // Streams shorter than a BOM that start like one are content.
    const short = await collect(
      splitLines(chunked(Buffer.from([0xef, 0xbb]), [1]), { maxLineBytes: 10, stripBom: true }),
    );
    expect(short.lines.map(view)).toEqual([{ lineNo: 1, text: '\u00ef\u00bb', byteOffset: 0 }]);
  });

  it('reports a 2 MB line over a 1 MB limit as oversize without failing the lines around it', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 0x61);
    const buf = Buffer.concat([Buffer.from('first\n'), big, Buffer.from('\r\nafter\n')]);
    const { lines } = await collect(splitLines(chunked(buf, [65536]), { maxLineBytes: 1024 * 1024 }));
    expect(lines.map(view)).toEqual([
      { lineNo: 1, text: 'first', byteOffset: 0 },
      { lineNo: 2, size: 2 * 1024 * 1024, byteOffset: 6 },
      { lineNo: 3, text: 'after', byteOffset: 6 + 2 * 1024 * 1024 + 2 },
    ]);
  });

  it('accepts a line of exactly maxLineBytes, with or without CR, and rejects one byte more', async () => {
    const buf = Buffer.from('abcd\r\nabcd\nabcde\r\nabcd\r');
    const { lines } = await collect(splitLines(chunked(buf, [1]), { maxLineBytes: 4 }));
    expect(lines.map(view)).toEqual([
      { lineNo: 1, text: 'abcd', byteOffset: 0 },
      { lineNo: 2, text: 'abcd', byteOffset: 6 },
      { lineNo: 3, size: 5, byteOffset: 11 },
      { lineNo: 4, text: 'abcd', byteOffset: 18 },
    ]);
  });

  it('adds baseOffset to byte offsets and rejects bad options', async () => {
    const { lines } = await collect(
      splitLines(chunked(Buffer.from('a\nb')), { maxLineBytes: 5, baseOffset: 100 }),
    );
    expect(lines.map((l) => l.byteOffset)).toEqual([100, 102]);
    expect(() => splitLines(chunked(Buffer.from('a')), { maxLineBytes: -1 })).toThrow(/maxLineBytes/);
  });

  const bytes = fc
    .array(fc.constantFrom(0x61, 0x62, 0x0a, 0x0d, 0xef, 0xbb, 0xbf), { maxLength: 200 })
    .map((a) => Buffer.from(a));
  const sizes = fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 8 });

  it('matches a whole-buffer reference under arbitrary chunking (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        bytes,
        sizes,
        fc.integer({ min: 0, max: 12 }),
        fc.boolean(),
        async (buf, cuts, max, bom) => {
          const { lines, count } = await collect(
            splitLines(chunked(buf, cuts), { maxLineBytes: max, stripBom: bom }),
          );
          const expected = reference(buf, max, bom);
          expect(lines.map(view)).toEqual(expected);
          expect(count).toBe(expected.length);
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('planRanges', () => {
  it('cuts [0, size) into consecutive ranges', () => {
    expect(planRanges(0, { partSize: 10, maxParts: 4 })).toEqual([{ index: 0, start: 0, end: 0 }]);
    expect(planRanges(25, { partSize: 10, maxParts: 4 })).toEqual([
      { index: 0, start: 0, end: 10 },
      { index: 1, start: 10, end: 20 },
      { index: 2, start: 20, end: 25 },
    ]);
    expect(planRanges(5, { partSize: 10, maxParts: 4 })).toEqual([{ index: 0, start: 0, end: 5 }]);
  });

  it('grows the part size to respect maxParts', () => {
    const ranges = planRanges(1000, { partSize: 10, maxParts: 3 });
    expect(ranges).toHaveLength(3);
    expect(ranges.map((r) => r.end - r.start)).toEqual([334, 334, 332]);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e9 }),
        fc.integer({ min: 1, max: 1e7 }),
        fc.integer({ min: 1, max: 1000 }),
        (size, partSize, maxParts) => {
          const r = planRanges(size, { partSize, maxParts });
          expect(r.length).toBeLessThanOrEqual(maxParts);
          expect(r[0]?.start).toBe(0);
          expect(r.at(-1)?.end).toBe(size);
          r.forEach((x, i) => {
            expect(x.index).toBe(i);
            if (i > 0) expect(x.start).toBe(r[i - 1]?.end);
            if (size > 0) expect(x.end).toBeGreaterThan(x.start);
          });
        },
      ),
    );
  });

  it('rejects invalid arguments', () => {
    expect(() => planRanges(-1, { partSize: 1, maxParts: 1 })).toThrow(/size/);
    expect(() => planRanges(10, { partSize: 0, maxParts: 1 })).toThrow(/partSize/);
    expect(() => planRanges(10, { partSize: 1, maxParts: 0 })).toThrow(/maxParts/);
    expect(() => planRanges(1.5, { partSize: 1, maxParts: 1 })).toThrow(/integer/);
  });
});

describe('ownedLines', () => {
  async function partsOf(
    buf: Buffer,
    partSize: number,
    maxParts: number,
    cuts: number[],
    max: number,
    bom: boolean,
  ) {
    const all: Array<ReturnType<typeof view>> = [];
    let before = 0;
    for (const { start, end } of planRanges(buf.length, { partSize, maxParts })) {
      const from = Math.max(0, start - 1);
      const reads = { bytes: 0 };
      const { lines, count } = await collect(
        ownedLines(chunked(buf.subarray(from), cuts, reads), {
          start,
          end,
          maxLineBytes: max,
          stripBom: bom,
        }),
      );
      expect(count).toBe(lines.length);
      const hasBom = bom && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf;
      lines.forEach((l, i) => {
        expect(l.lineNo).toBe(i + 1);
        // Where the line starts for ownership: a stripped BOM belongs to the first line.
        const lineStart = hasBom && l.byteOffset === 3 ? 0 : l.byteOffset;
        expect(lineStart).toBeGreaterThanOrEqual(start);
        expect(lineStart).toBeLessThan(end);
      });
      // It stops reading once its last line is complete: at most one chunk past that line's newline,
      // or past `end` when it owns nothing.
      const lastEnd = lines.length === 0 ? end : nextLineStart(buf, lines.at(-1)?.byteOffset ?? 0);
      expect(from + reads.bytes).toBeLessThanOrEqual(Math.max(end, lastEnd) + Math.max(...cuts));
      all.push(...lines.map((l) => ({ ...view(l), lineNo: before + l.lineNo })));
      before += count;
    }
    return all;
  }

  function nextLineStart(buf: Buffer, offset: number): number {
    const nl = buf.indexOf(0x0a, offset);
    return nl === -1 ? buf.length : nl + 1;
  }

  it('gives each line to exactly one part', async () => {
    const buf = Buffer.from('aaa\nbb\n\ncccccc\nd\n');
    const all = await partsOf(buf, 3, 100, [2], 100, false);
    expect(all).toEqual(reference(buf, 100, false));
  });

  it('owns the line at start when byte start-1 is a newline', async () => {
    const buf = Buffer.from('ab\ncd\nef');
    const { lines, count } = await collect(
      ownedLines(chunked(buf.subarray(2)), { start: 3, end: 6, maxLineBytes: 10 }),
    );
    expect(lines.map(view)).toEqual([{ lineNo: 1, text: 'cd', byteOffset: 3 }]);
    expect(count).toBe(1);
    const mid = await collect(ownedLines(chunked(buf.subarray(3)), { start: 4, end: 6, maxLineBytes: 10 }));
    expect(mid.count).toBe(0);
  });

  it('gives the first line to part 0 even when a stripped BOM pushes its offset past the part end', async () => {
    const buf = Buffer.from([0xef, 0xbb, 0xbf, 0x61]);
    const first = await collect(
      ownedLines(chunked(buf, [1]), { start: 0, end: 2, maxLineBytes: 5, stripBom: true }),
    );
    expect(first.lines.map(view)).toEqual([{ lineNo: 1, text: 'a', byteOffset: 3 }]);
    const second = await collect(
      ownedLines(chunked(buf.subarray(1), [1]), { start: 2, end: 4, maxLineBytes: 5 }),
    );
    expect(second.count).toBe(0);
  });

  it('stops early inside a long line that started in an earlier part', async () => {
    const buf = Buffer.concat([Buffer.from('x'), Buffer.alloc(100_000, 0x62), Buffer.from('\nnext\n')]);
    const reads = { bytes: 0 };
    const { count } = await collect(
      ownedLines(chunked(buf.subarray(9), [1000], reads), { start: 10, end: 20, maxLineBytes: 50 }),
    );
    expect(count).toBe(0);
    expect(reads.bytes).toBeLessThanOrEqual(1000);
  });

  it('concatenated parts equal splitLines of the whole, with consistent absolute numbering (property)', async () => {
    const bytes = fc
      .array(fc.constantFrom(0x61, 0x62, 0x0a, 0x0a, 0x0d, 0xef, 0xbb, 0xbf), { maxLength: 150 })
      .map((a) => Buffer.from(a));
    await fc.assert(
      fc.asyncProperty(
        bytes,
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 10 }),
        fc.boolean(),
        async (buf, partSize, maxParts, cuts, max, bom) => {
          const whole = await collect(splitLines(chunked(buf, cuts), { maxLineBytes: max, stripBom: bom }));
          const parts = await partsOf(buf, partSize, maxParts, cuts, max, bom);
          expect(parts).toEqual(whole.lines.map(view));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('rejects a range that ends before it starts', () => {
    expect(() => ownedLines(chunked(Buffer.from('a')), { start: 5, end: 4, maxLineBytes: 1 })).toThrow(/end/);
  });
});
