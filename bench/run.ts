import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { planParts } from './file-parts.ts';
import { generateDataset } from './generate.ts';
import { announceSmoke, childEnv, formatRatio, outDir, sizedList } from './options.ts';

/**
 * `npm run bench`: data-preparation throughput and peak memory, side by side with a plain
 * read-parse-write pass over the same file in the same run. Each measurement runs in a fresh process.
 * Sizes: BENCH_SIZES_MB (default "50,100,200"); the ratio is reported for every size, and peak memory
 * across sizes shows whether it stays flat. `--smoke`: one 1 MB file.
 *
 * Then, for the first size, where the pipeline's time goes: bench/dataprep-profile.ts runs the same
 * stages in another process, timed one by one (BENCH_PROFILE=0 skips it).
 */
const sizes = sizedList('BENCH_SIZES_MB', [50, 100, 200], [1]);
const root = outDir('dataprep');
mkdirSync(root, { recursive: true });

interface Measurement {
  mode: string;
  seconds: number;
  cpuSeconds: number;
  warmUpSeconds: number;
  bytes: number;
  records: number;
  maxRssMb: number;
}

/** Runs `bench/<script> ...args` in a fresh process and returns its standard output. */
function run(script: string, args: string[]): string {
  return execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, script), ...args], {
    encoding: 'utf8',
    maxBuffer: 1024 * 1024,
    env: childEnv(),
  });
}

function measure(mode: 'plain' | 'pipeline' | 'parallel', file: string): Measurement {
  const outDir = join(root, `${mode}-out`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const stdout = run('worker.ts', [mode, file, outDir]);
  rmSync(outDir, { recursive: true, force: true });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Measurement;
}

announceSmoke();
console.log('Data preparation benchmark (single process, parts run sequentially; node', process.version, ')');
for (const mb of sizes) {
  const file = join(root, `finetune-${mb}mb.jsonl`);
  if (!existsSync(file) || Math.abs(statSync(file).size - mb * 1e6) > 2e6) {
    process.stdout.write(`generating ${mb} MB ... `);
    const { records } = await generateDataset(file, mb * 1e6);
    console.log(`${records} records`);
  }
  const plain = measure('plain', file);
  const pipeline = measure('pipeline', file);
  const parallel = measure('parallel', file);
  const mbps = (m: Measurement) => m.bytes / 1e6 / m.seconds;
  const show = (name: string, m: Measurement) =>
    `${name.padEnd(9)} ${mbps(m).toFixed(1).padStart(6)} MB/s ${(m.records / m.seconds).toFixed(0).padStart(7)} rec/s  peak ${m.maxRssMb.toFixed(0).padStart(4)} MB`;
  console.log(`\n${mb} MB (${plain.records} records)`);
  console.log(`  ${show('plain', plain)}`);
  console.log(
    `  ${show('pipeline', pipeline)}  ratio ${formatRatio(pipeline.seconds / plain.seconds)} (one core)`,
  );
  const parts = Math.min(availableParallelism(), planParts(file).length);
  console.log(
    `  ${show('parallel', parallel)}  ratio ${formatRatio(parallel.seconds / plain.seconds)} (${parts} part${parts === 1 ? '' : 's'} at once)`,
  );
  console.log(
    `  cpu: plain ${plain.cpuSeconds.toFixed(2)} s, pipeline ${pipeline.cpuSeconds.toFixed(2)} s, ratio ${formatRatio(pipeline.cpuSeconds / plain.cpuSeconds)}; ` +
      `warm-up before the clock: tokenizer ${pipeline.warmUpSeconds.toFixed(2)} s, ${parts} worker${parts === 1 ? '' : 's'} ${parallel.warmUpSeconds.toFixed(2)} s`,
  );
  if (mb === sizes[0] && process.env.BENCH_PROFILE !== '0') {
    const outDir = join(root, 'profile-out');
    console.log(
      `\nWhere the pipeline's time goes (${mb} MB; the same stages timed one by one, in another process):`,
    );
    process.stdout.write(run('dataprep-profile.ts', [file, outDir]));
  }
}
console.log('\nratio = time of the pipeline / time of the plain read-parse-write pass over the same file;');
console.log("cpu ratio: the same with the processes' CPU time (steadier on a busy machine).");
console.log('Target: ratio ≤ 3x; pipeline peak memory flat as the file grows.');
