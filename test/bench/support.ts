import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface BenchRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** What a benchmark gets from the caller's environment: a clean shell's, so no test setting can leak in. */
const PASSED_ON = ['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'TMPDIR', 'TMP', 'TEMP', 'SystemRoot', 'CI'];

/**
 * Runs `bench/<script>` in smoke mode in a fresh process, as `npm run bench:smoke` does, with the
 * environment of a clean shell plus `env`.
 */
export function runSmoke(
  script: string,
  env: Record<string, string> = {},
  timeoutMs = 240_000,
): Promise<BenchRun> {
  const base = Object.fromEntries(
    PASSED_ON.flatMap((name) => (process.env[name] === undefined ? [] : [[name, process.env[name]]])),
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', script), '--smoke'], {
      cwd: ROOT,
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (data: string) => {
      stdout += data;
    });
    child.stderr.setEncoding('utf8').on('data', (data: string) => {
      stderr += data;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Asserts a clean exit with the smoke-mode banner, and returns stdout. */
export function expectSuccess(run: BenchRun): string {
  expect(run.code, `exit code; stderr:\n${run.stderr}\nstdout:\n${run.stdout}`).toBe(0);
  expect(run.stdout).toMatch(/^smoke mode:/m);
  return run.stdout;
}

/** The numbers captured by `pattern` on every line that matches it, each checked finite and positive. */
export function positiveNumbers(stdout: string, pattern: RegExp): number[][] {
  const rows = stdout.split('\n').flatMap((line) => {
    const match = pattern.exec(line);
    return match === null ? [] : [match.slice(1).map(Number)];
  });
  expect(rows.length, `no line of the output matches ${pattern}:\n${stdout}`).toBeGreaterThan(0);
  for (const row of rows) {
    for (const value of row) {
      expect(Number.isFinite(value) && value > 0, `${value} in a line matching ${pattern}`).toBe(true);
    }
  }
  return rows;
}
