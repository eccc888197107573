import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { generateDataset } from './generate.ts';
import { announceSmoke, childEnv, formatRatio, outDir, sizedList } from './options.ts';

/**
 * `npm run bench`: data-preparation throughput and peak memory, side by side with a plain
 * read-parse-write pass over the same file in the same run. Each measurement runs in a fresh process.
 * Sizes: BENCH_SIZES_MB (default "50,100,200"); the ratio is reported for every size, and peak memory
 * across sizes shows whether it stays flat. `--smoke`: one 1 MB file.
 */
const sizes = sizedList('BENCH_SIZES_MB', [50, 100, 200], [1]);
const root = outDir('dataprep');
mkdirSync(root, { recursive: true });

interface Measurement {
  mode: string;
  seconds: number;
  bytes: number;
  records: number;
  maxRssMb: number;
}

function measure(mode: 'plain' | 'pipeline' | 'parallel', file: string): Measurement {
  const outDir = join(root, `${mode}-out`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const stdout = execFileSync(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'worker.ts'), mode, file, outDir],
    {
      encoding: 'utf8',
      maxBuffer: 1024 * 1024,
      env: childEnv(),
    },
  );
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
  console.log(
    `  ${show('parallel', parallel)}  ratio ${formatRatio(parallel.seconds / plain.seconds)} (${availableParallelism()} parts at once)`,
  );
}
console.log('\nratio = time of the pipeline / time of the plain read-parse-write pass over the same file.');
console.log('Target: ratio ≤ 3x; pipeline peak memory flat as the file grows.');
