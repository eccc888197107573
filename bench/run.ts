import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { generateDataset } from './generate.ts';

/**
 * `npm run bench`: data-preparation throughput and peak memory, side by side with a plain
 * read-parse-write pass over the same file in the same run. Each measurement runs in a fresh process.
 * Sizes: BENCH_SIZES_MB (default "50,100,200"); the ratio is reported for every size, and peak memory
 * across sizes shows whether it stays flat.
 */
const sizes = (process.env.BENCH_SIZES_MB ?? '50,100,200').split(',').map(Number);
const root = join(import.meta.dirname, '.out');
mkdirSync(root, { recursive: true });

interface Measurement {
  mode: string;
  seconds: number;
  bytes: number;
  records: number;
  maxRssMb: number;
}

function measure(mode: 'plain' | 'pipeline', file: string): Measurement {
  const outDir = join(root, `${mode}-out`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const stdout = execFileSync(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'worker.ts'), mode, file, outDir],
    {
      encoding: 'utf8',
      maxBuffer: 1024 * 1024,
    },
  );
  rmSync(outDir, { recursive: true, force: true });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Measurement;
}

const rows: string[] = [];
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
  const mbps = (m: Measurement) => m.bytes / 1e6 / m.seconds;
  const line = [
    `${mb} MB`.padEnd(8),
    `plain ${mbps(plain).toFixed(1)} MB/s ${(plain.records / plain.seconds).toFixed(0)} rec/s peak ${plain.maxRssMb.toFixed(0)} MB`,
    `pipeline ${mbps(pipeline).toFixed(1)} MB/s ${(pipeline.records / pipeline.seconds).toFixed(0)} rec/s peak ${pipeline.maxRssMb.toFixed(0)} MB`,
    `ratio (pipeline time / plain time) ${(pipeline.seconds / plain.seconds).toFixed(2)}x`,
  ].join(' | ');
  console.log(line);
  rows.push(line);
}
console.log('\nTarget: ratio ≤ 3x; pipeline peak memory flat as the file grows.');
