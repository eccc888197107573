import { createReadStream, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { planRanges, splitLines } from '#core/dataprep/lines.ts';
import { mergeParts } from '#core/dataprep/merge.ts';
import { FileSink, type PartOutcome, processFileParts, quarantineFile, stagingFile } from './file-parts.ts';

/**
 * One benchmark measurement in a fresh process (so peak RSS belongs to it alone):
 *   worker.ts plain    FILE OUTDIR   read, split lines, JSON.parse, JSON.stringify, write
 *   worker.ts pipeline FILE OUTDIR   the DataPrep core: parts (ProcessPart) one after another, then merge
 *   worker.ts parallel FILE OUTDIR   the same, with parts spread over one worker thread per core, as the
 *                                    Map state spreads them over Lambda invocations
 * Prints one JSON line: { mode, seconds, bytes, records, maxRssMb }.
 */
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

const PART_SIZE = 32 * 1024 * 1024;

const planParts = (file: string) => planRanges(statSync(file).size, { partSize: PART_SIZE, maxParts: 256 });

async function parallelParts(file: string, outDir: string): Promise<PartOutcome[]> {
  const parts = planParts(file);
  const workers = Math.min(availableParallelism(), parts.length);
  const jobs = Array.from({ length: workers }, (_, w) => parts.filter((p) => p.index % workers === w));
  const outcomes = await Promise.all(
    jobs.map(
      (jobParts) =>
        new Promise<PartOutcome[]>((resolve, reject) => {
          const worker = new Worker(new URL('./part-worker.ts', import.meta.url), {
            workerData: { file, outDir, parts: jobParts },
            execArgv: ['--import', 'tsx'],
          });
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    ),
  );
  return outcomes.flat().sort((a, b) => a.part.index - b.part.index);
}

async function pipeline(file: string, outDir: string, parallel: boolean): Promise<number> {
  const results = parallel
    ? await parallelParts(file, outDir)
    : await processFileParts(file, outDir, planParts(file));
  const sinks = new Map<string, FileSink>();
  const merged = await mergeParts(
    results.map(({ part, stats, hasQuarantine }) => ({
      staging: () => fileLines(stagingFile(outDir, part.index)),
      quarantine: hasQuarantine ? () => fileLines(quarantineFile(outDir, part.index)) : undefined,
      lines: stats.lines,
      records: stats.good,
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
if (!file || !outDir || (mode !== 'plain' && mode !== 'pipeline' && mode !== 'parallel')) {
  console.error('usage: worker.ts plain|pipeline|parallel FILE OUTDIR');
  process.exit(2);
}
const started = performance.now();
const records =
  mode === 'plain' ? await plain(file, outDir) : await pipeline(file, outDir, mode === 'parallel');
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
