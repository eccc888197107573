import { createReadStream, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { splitLines } from '#core/dataprep/lines.ts';
import { mergeParts } from '#core/dataprep/merge.ts';
import {
  FileSink,
  fileLines,
  type PartOutcome,
  planParts,
  processFileParts,
  quarantineFile,
  stagingFile,
  warmUp,
} from './file-parts.ts';

/**
 * One benchmark measurement in a fresh process (so peak RSS belongs to it alone):
 *   worker.ts plain    FILE OUTDIR   read, split lines, JSON.parse, JSON.stringify, write
 *   worker.ts pipeline FILE OUTDIR   the DataPrep core: parts (ProcessPart) one after another, then merge
 *   worker.ts parallel FILE OUTDIR   the same, with parts spread over one worker thread per core, as the
 *                                    Map state spreads them over Lambda invocations
 * Prints one JSON line: { mode, seconds, cpuSeconds, warmUpSeconds, bytes, records, maxRssMb }. The clock
 * starts with a warm pipeline (see `warmUp`), as in a warm Lambda function: `warmUpSeconds` is what warming
 * took (tokenizer load; worker threads' start for `parallel`), outside `seconds`. `cpuSeconds` is the
 * process's user + system time over `seconds`, all threads: steadier than wall time on a busy machine.
 */
async function plain(file: string, outDir: string): Promise<number> {
  const sink = new FileSink(join(outDir, 'plain.jsonl'));
  let records = 0;
  for await (const line of splitLines(createReadStream(file, { highWaterMark: 1024 * 1024 }), {
    maxLineBytes: 1024 * 1024,
  })) {
    if ('oversize' in line) continue;
    try {
      const wait = sink.writeLine(JSON.stringify(JSON.parse(line.bytes.toString('utf8'))));
      if (wait) await wait;
      records++;
    } catch {
      // a bad line: the plain pass just skips it
    }
  }
  await sink.close();
  return records;
}

/** Worker threads standing in for ProcessPart Lambdas, each started and warm (modules loaded, tokenizer ready). */
async function startWorkers(count: number): Promise<Worker[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Worker>((resolve, reject) => {
          const worker = new Worker(new URL('./part-worker.ts', import.meta.url), {
            execArgv: ['--import', 'tsx'],
          });
          worker.once('message', () => resolve(worker));
          worker.once('error', reject);
        }),
    ),
  );
}

async function parallelParts(file: string, outDir: string, workers: Worker[]): Promise<PartOutcome[]> {
  const parts = planParts(file);
  const used = workers.slice(0, Math.min(workers.length, parts.length));
  const outcomes = await Promise.all(
    used.map(
      (worker, w) =>
        new Promise<PartOutcome[]>((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
          worker.postMessage({ file, outDir, parts: parts.filter((p) => p.index % used.length === w) });
        }),
    ),
  );
  return outcomes.flat().sort((a, b) => a.part.index - b.part.index);
}

async function pipeline(file: string, outDir: string, workers: Worker[] | undefined): Promise<number> {
  const results = workers
    ? await parallelParts(file, outDir, workers)
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
// A warm function: the tokenizer's one-time load (its first count) and the worker threads' start happen
// before the clock, and are reported apart.
const warming = performance.now();
const workers =
  mode === 'parallel'
    ? await startWorkers(Math.min(availableParallelism(), planParts(file).length))
    : undefined;
if (mode === 'pipeline') warmUp();
const warmUpSeconds = (performance.now() - warming) / 1000;
const started = performance.now();
const cpuStarted = process.cpuUsage();
const records = mode === 'plain' ? await plain(file, outDir) : await pipeline(file, outDir, workers);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStarted);
for (const worker of workers ?? []) await worker.terminate();
console.log(
  JSON.stringify({
    mode,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    warmUpSeconds,
    bytes: statSync(file).size,
    records,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
  }),
);
