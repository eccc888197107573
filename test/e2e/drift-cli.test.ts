import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '#infra/repo-root.ts';

/**
 * `npm start -- drift` end to end, as a user runs it, on the bundled samples of `corpus/drift/`
 * (written by `scripts/drift-samples.ts`): a fresh process, real output, real exit codes, no stack.
 */
const work = mkdtempSync(join(tmpdir(), 'llmops-drift-e2e-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const SAMPLES = join(REPO_ROOT, 'corpus/drift');

function start(...args: string[]) {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'infra/local/cli.ts'), 'drift', ...args],
    { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 },
  );
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface Summary {
  drift: boolean;
  insufficient: boolean;
  embedding: { method: string; statistic: number; pValue: number; threshold: number; drift: boolean } | null;
  descriptors: Record<string, { test: string; statistic: number; pValue: number; drift: boolean }>;
  n: { reference: number; current: number };
  report: string | null;
}

const lastLine = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Summary;

describe('npm start -- drift', () => {
  it('finds drift in the shifted window, writes summary.json and report.html, and exits 0', () => {
    const out = join(work, 'shifted');
    const run = start(
      '--reference',
      join(SAMPLES, 'reference.jsonl'),
      '--current',
      join(SAMPLES, 'shifted.jsonl'),
      '--out',
      out,
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toContain('Synthesizing the stack');
    const summary = lastLine(run.stdout);
    expect(summary).toMatchObject({
      drift: true,
      insufficient: false,
      n: { reference: 200, current: 200 },
      report: join(out, 'report.html'),
    });
    expect(summary.embedding).toMatchObject({ drift: true, threshold: 0.05 / 3 });
    expect(['centroid', 'mmd', 'classifier']).toContain(summary.embedding?.method);
    expect(summary.embedding?.pValue).toBeLessThanOrEqual(0.05 / 3);
    // Longer texts, other words, other scripts.
    for (const name of ['tokens', 'oovRate', 'language'])
      expect(summary.descriptors[name]?.drift, name).toBe(true);
    expect(existsSync(join(out, 'summary.json'))).toBe(true);
    const written = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(written).toMatchObject({
      drift: true,
      report: join(out, 'report.html'),
      details: { alpha: 0.05 },
    });
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('data-chart="embedding-projection"');
    expect(html).toContain('data-chart="descriptor-histogram" data-descriptor="tokens"');
  });

  it('finds no drift between the reference and a second draw of its distribution', () => {
    const run = start(
      '--reference',
      join(SAMPLES, 'reference.jsonl'),
      '--current',
      join(SAMPLES, 'reference-2.jsonl'),
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const summary = lastLine(run.stdout);
    expect(summary).toMatchObject({ drift: false, insufficient: false, report: null });
    expect(summary.embedding).toMatchObject({ method: 'mmd', drift: false });
    for (const [name, d] of Object.entries(summary.descriptors)) expect(d.drift, name).toBe(false);
  });

  it('prints a short summary for a person without --json', () => {
    const run = start(
      '--reference',
      join(SAMPLES, 'reference.jsonl'),
      '--current',
      join(SAMPLES, 'shifted.jsonl'),
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^Drift check: DRIFT \(reference 200 records, current 200 records\)/);
    expect(run.stdout).toMatch(/embeddings: drift \((centroid|mmd|classifier): statistic/);
    expect(run.stdout).toMatch(/tokens +ks .* drift/);
  });

  it('exits 2 naming the file and line of a bad line, and of an embedding of another dimension', () => {
    const bad = join(work, 'bad.jsonl');
    writeFileSync(bad, '{"text": "fine"}\n{"text": "also fine"}\n{"text": oops}\n');
    const run = start('--reference', join(SAMPLES, 'reference.jsonl'), '--current', bad);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`error: ${bad} line 3: is not valid JSON`);
    expect(run.stdout).toBe('');

    const narrow = join(work, 'narrow.jsonl');
    writeFileSync(narrow, '{"text": "a", "embedding": [0.1, 0.2]}\n');
    const mixed = start('--reference', join(SAMPLES, 'reference.jsonl'), '--current', narrow);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain(
      `error: ${narrow} line 1: "embedding" must have 16 dimensions like the first embedding (has 2)`,
    );
  });

  it('exits 2 on a missing window or file', () => {
    expect(start('--reference', join(SAMPLES, 'reference.jsonl')).code).toBe(2);
    const missing = start(
      '--reference',
      join(work, 'nope.jsonl'),
      '--current',
      join(SAMPLES, 'shifted.jsonl'),
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.jsonl: cannot read it (no such file)');
  });
});
