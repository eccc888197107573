import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What every benchmark reads from its command line and environment, parsed the same way everywhere.
 *
 * Smoke mode (`--smoke`, or `BENCH_SMOKE=1` / `true`): the same code path as the full run, baseline and
 * ratio lines included, at tiny sizes, so a run takes seconds. The test suite runs every benchmark this
 * way (test/bench), so a benchmark that no longer runs fails CI. Size variables (BENCH_*) tune the full
 * run only: smoke sizes are fixed. A benchmark that spawns processes passes `childEnv()` on, so its
 * workers run in the same mode.
 */
export interface BenchOptions {
  readonly smoke: boolean;
}

const TRUE = new Set(['1', 'true', 'yes']);

export function parseBenchOptions(
  argv: readonly string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): BenchOptions {
  return { smoke: argv.includes('--smoke') || TRUE.has((env.BENCH_SMOKE ?? '').toLowerCase()) };
}

export const options = parseBenchOptions();

/** A size: `small` in smoke mode; otherwise the environment variable `name` when set, else `full`. */
export function sized(name: string, full: number, small: number): number {
  if (options.smoke) return small;
  const raw = process.env[name];
  return raw === undefined || raw === '' ? full : Number(raw);
}

/** A list of sizes (comma-separated in `name`), as `sized`. */
export function sizedList(name: string, full: readonly number[], small: readonly number[]): number[] {
  if (options.smoke) return [...small];
  const raw = process.env[name];
  return raw === undefined || raw === '' ? [...full] : raw.split(',').map(Number);
}

/** The environment of a child process of the benchmark: the parent's, with its mode. */
export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, BENCH_SMOKE: options.smoke ? '1' : '0' };
}

/**
 * The benchmark's scratch folder: bench/.out/<name> for a full run; in smoke mode, a folder of this
 * process under the system's temporary folder, removed at exit, so that smoke runs started at the same
 * time (several test runs on one machine) never share one.
 */
export function outDir(name: string): string {
  if (!options.smoke) return join(import.meta.dirname, '.out', name);
  const mine = join(tmpdir(), `llmops-bench-smoke-${process.pid}`);
  process.once('exit', () => rmSync(mine, { recursive: true, force: true }));
  return join(mine, name);
}

/** `ratio` as printed: two decimals below 10, whole numbers above. */
export const formatRatio = (ratio: number) => `${ratio.toFixed(Math.abs(ratio) < 10 ? 2 : 0)}x`;

/** The line that says which mode ran, printed first by every benchmark in smoke mode. */
export function announceSmoke(): void {
  if (options.smoke)
    console.log('smoke mode: tiny sizes, numbers not meaningful (checks the benchmark runs)');
}
