import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planRanges } from '#core/dataprep/lines.ts';
import { mergeParts } from '#core/dataprep/merge.ts';
import { type LineSink, processPart } from '#core/dataprep/part.ts';

/** ProcessPart + Finalize without I/O: byte ranges in, curated lines out, through in-memory sinks. */
class MemorySink implements LineSink {
  readonly lines: string[] = [];
  writeLine(line: string): void {
    this.lines.push(line);
  }
}

async function* chunksOf(bytes: Buffer, from: number, chunkSize: number): AsyncGenerator<Uint8Array> {
  for (let i = from; i < bytes.length; i += chunkSize)
    yield bytes.subarray(i, Math.min(bytes.length, i + chunkSize));
}

async function run(file: Buffer, partSize: number, chunkSize = 64) {
  const parts = planRanges(file.length, { partSize, maxParts: 1000 });
  const staged = [];
  for (const part of parts) {
    const staging = new MemorySink();
    const quarantine = new MemorySink();
    const stats = await processPart(
      chunksOf(file, Math.max(0, part.start - 1), chunkSize),
      { purpose: 'finetune', maxRecordBytes: 4096, start: part.start, end: part.end },
      { staging, quarantine: () => quarantine },
    );
    staged.push({ stats, staging, quarantine });
  }
  const outputs = new Map<string, MemorySink>();
  const merged = await mergeParts(
    staged.map((s) => ({
      staging: async function* () {
        yield* s.staging.lines;
      },
      quarantine: async function* () {
        yield* s.quarantine.lines;
      },
      lines: s.stats.lines,
      records: s.stats.good,
    })),
    { purpose: 'finetune', validationRatio: 0.3, nearDuplicateThreshold: 0.8 },
    (name) => {
      const sink = new MemorySink();
      outputs.set(name, sink);
      return sink;
    },
  );
  const out = Object.fromEntries([...outputs].map(([name, sink]) => [name, sink.lines]));
  return { merged, out, parts: parts.length };
}

const record = (i: number) =>
  JSON.stringify({
    prompt: `Question number ${i} about queues and retries?`,
    completion: `Answer ${i}: use a dead-letter queue ${i % 7}.`,
  });

function dataset(): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < 60; i++) lines.push(record(i));
  lines.splice(10, 0, 'not json');
  lines.splice(30, 0, '');
  lines.push(record(5)); // exact duplicate of an early record
  lines.push(JSON.stringify({ prompt: 'email me at a.b@example.com', completion: 'Sure, noted.' }));
  return Buffer.from(`\uFEFF${lines.join('\r\n')}\r\n`, 'utf8');
}

describe('processPart + mergeParts', () => {
  it('curates one part: quarantine with absolute lines, duplicates removed, deterministic split', async () => {
    const { merged, out } = await run(dataset(), 1 << 20);
    expect(merged.kept).toBe(61);
    expect(merged.duplicates).toEqual({ exact: 1, near: 0 });
    expect(merged.quarantined).toBe(1);
    expect(out.quarantine?.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ line: 11, code: 'INVALID_JSON', raw: 'not json' }),
    ]);
    expect((out.train?.length ?? 0) + (out.validation?.length ?? 0)).toBe(61);
    expect(out.validation?.length).toBeGreaterThan(5);
    expect([...(out.train ?? []), ...(out.validation ?? [])].join('\n')).toContain('[EMAIL]');
    expect(merged.tokens.toJSON().records).toBe(61);
  });

  it('gives the same curated output however the file is cut into parts and chunks', async () => {
    const file = dataset();
    const reference = await run(file, 1 << 20);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 40, max: 2000 }),
        fc.integer({ min: 1, max: 300 }),
        async (partSize, chunkSize) => {
          const { out, merged } = await run(file, partSize, chunkSize);
          expect(out).toEqual(reference.out);
          expect(merged.duplicates).toEqual(reference.merged.duplicates);
        },
      ),
      { numRuns: 25 },
    );
  });
});
