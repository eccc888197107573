import { once } from 'node:events';
import { createReadStream, createWriteStream, statSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { planRanges, splitLines } from '../layers/core/src/dataprep/lines.ts';
import { mergeParts } from '../layers/core/src/dataprep/merge.ts';
import { type LineSink, processPart } from '../layers/core/src/dataprep/part.ts';

/**
 * One benchmark measurement in a fresh process (so peak RSS belongs to it alone):
 *   worker.ts plain    FILE OUTDIR   read, split lines, JSON.parse, JSON.stringify, write
 *   worker.ts pipeline FILE OUTDIR   the DataPrep core: parts (ProcessPart) then merge (Finalize)
 * Prints one JSON line: { mode, seconds, bytes, records, maxRssMb }.
 */
class FileSink implements LineSink {
  readonly #out: WriteStream;
  #buffer: string[] = [];
  #size = 0;
  constructor(path: string) {
    this.#out = createWriteStream(path);
  }
  async writeLine(line: string): Promise<void> {
    this.#buffer.push(line, '\n');
    this.#size += line.length + 1;
    if (this.#size >= 256 * 1024) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.#buffer.length === 0) return;
    const ok = this.#out.write(this.#buffer.join(''));
    this.#buffer = [];
    this.#size = 0;
    if (!ok) await once(this.#out, 'drain');
  }
  async close(): Promise<void> {
    await this.flush();
    this.#out.end();
    await once(this.#out, 'finish');
  }
}

async function* fileLines(path: string): AsyncGenerator<string> {
  yield* createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
}

async function plain(file: string, outDir: string): Promise<number> {
  const sink = new FileSink(join(outDir, 'plain.jsonl'));
  let records = 0;
  for await (const line of splitLines(createReadStream(file, { highWaterMark: 1024 * 1024 }), {
    maxLineBytes: 1024 * 1024,
  })) {
    if ('oversize' in line) continue;
    try {
      await sink.writeLine(JSON.stringify(JSON.parse(line.bytes.toString('utf8'))));
      records++;
    } catch {
      // a bad line: the plain pass just skips it
    }
  }
  await sink.close();
  return records;
}

async function pipeline(file: string, outDir: string): Promise<number> {
  const size = statSync(file).size;
  const parts = planRanges(size, { partSize: 64 * 1024 * 1024, maxParts: 256 });
  const results = [];
  for (const part of parts) {
    const staging = new FileSink(join(outDir, `part-${part.index}.tsv`));
    let quarantine: FileSink | undefined;
    const stats = await processPart(
      createReadStream(file, { start: Math.max(0, part.start - 1), highWaterMark: 1024 * 1024 }),
      { purpose: 'finetune', maxRecordBytes: 1024 * 1024, start: part.start, end: part.end },
      {
        staging,
        quarantine: () => {
          quarantine = new FileSink(join(outDir, `part-${part.index}.quarantine.jsonl`));
          return quarantine;
        },
      },
    );
    await staging.close();
    await quarantine?.close();
    results.push({ part, stats, hasQuarantine: quarantine !== undefined });
  }
  const sinks = new Map<string, FileSink>();
  const merged = await mergeParts(
    results.map(({ part, stats, hasQuarantine }) => ({
      staging: () => fileLines(join(outDir, `part-${part.index}.tsv`)),
      quarantine: hasQuarantine
        ? () => fileLines(join(outDir, `part-${part.index}.quarantine.jsonl`))
        : undefined,
      lines: stats.lines,
    })),
    { purpose: 'finetune', validationRatio: 0.1, nearDuplicateThreshold: 0.8 },
    (name) => {
      const sink = new FileSink(join(outDir, `${name}.jsonl`));
      sinks.set(name, sink);
      return sink;
    },
  );
  for (const sink of sinks.values()) await sink.close();
  return merged.kept + merged.quarantined + merged.duplicates.exact + merged.duplicates.near;
}

const [mode, file, outDir] = process.argv.slice(2);
if (!file || !outDir || (mode !== 'plain' && mode !== 'pipeline')) {
  console.error('usage: worker.ts plain|pipeline FILE OUTDIR');
  process.exit(2);
}
const started = performance.now();
const records = mode === 'plain' ? await plain(file, outDir) : await pipeline(file, outDir);
const seconds = (performance.now() - started) / 1000;
console.log(
  JSON.stringify({
    mode,
    seconds,
    bytes: statSync(file).size,
    records,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
  }),
);
