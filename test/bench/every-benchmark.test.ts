import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support.ts';

/**
 * Every benchmark has a smoke run in this test project, so none can stop running unnoticed: a script of
 * bench/ that announces a smoke mode must be run by some test here with `runSmoke`.
 */
describe('benchmark smoke coverage', () => {
  it('runs every benchmark of bench/ in smoke mode', () => {
    const benchDir = join(ROOT, 'bench');
    const benchmarks = readdirSync(benchDir)
      .filter((f) => f.endsWith('.ts') && f !== 'options.ts')
      .filter((f) => readFileSync(join(benchDir, f), 'utf8').includes('announceSmoke()'));
    const testDir = join(ROOT, 'test', 'bench');
    const tests = readdirSync(testDir)
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => readFileSync(join(testDir, f), 'utf8'))
      .join('\n');
    const smoked = new Set([...tests.matchAll(/runSmoke\(\s*'([\w.-]+\.ts)'/g)].map((m) => m[1]));
    expect(benchmarks.length).toBeGreaterThan(5);
    expect(benchmarks.filter((b) => !smoked.has(b))).toEqual([]);
  });
});
