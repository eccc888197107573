import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '#infra/repo-root.ts';

/**
 * `npm start -- feedback FILE.jsonl [--json]` as a user runs it: a fresh process that starts the local
 * stack, sends each line through the local API (answering a line's prompt first), fires the export and
 * follows what it started; one JSON object on the last line with `--json`. Exit codes: 0 every line
 * accepted, 1 a line refused (named with the API's reason), 2 a file that is not feedback.
 */
const work = mkdtempSync(join(tmpdir(), 'llmops-feedback-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function start(...args: string[]) {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'infra/local/cli.ts'), 'feedback', ...args],
    { cwd: REPO_ROOT, encoding: 'utf8', timeout: 180_000 },
  );
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('npm start -- feedback', () => {
  it('sends the sample, exports the pairs, and follows DataPrep, FineTune (DPO) and the evaluation; exit 0', () => {
    const run = start(join(REPO_ROOT, 'infra/local/samples/feedback.jsonl'), '--json');
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    expect((result.sent as { status: number }[]).every((s) => s.status === 200)).toBe(true);
    expect(result.exported).toMatchObject({ threshold: 8, pairs: expect.any(Number) });
    expect(result.dataset).toMatchObject({ name: 'feedback', purpose: 'preference', version: 1 });
    // The runs the export started, each followed to its end.
    const pipelines = result.pipelines as { pipeline: string; status: string }[];
    expect(pipelines.map((p) => p.pipeline)).toEqual(
      expect.arrayContaining(['DataPrep', 'FineTune', 'Evaluate', 'Rollout']),
    );
    expect(pipelines.every((p) => p.status === 'SUCCEEDED')).toBe(true);
    expect(result.fineTune).toMatchObject({
      evaluation: { pass: true },
      rollout: { outcome: 'promoted' },
      job: { evaluation: { winRateRunId: expect.stringMatching(/^candidate-ft-[0-9a-f]{16}-holdout$/) } },
    });
    // The candidate's win rate on the held-out feedback prompts, beside the rest (an additive key).
    expect(result.holdout).toMatchObject({
      runId: expect.stringMatching(/^candidate-ft-[0-9a-f]{16}-holdout$/),
      suite: { name: 'feedback-holdout' },
      metrics: { win_rate: { n: expect.any(Number) }, win_rate_lc: { n: expect.any(Number) } },
    });
  });

  it('names a refused line and exits 1, still reporting the runs the export started; a line that is not feedback exits 2 before the stack starts', () => {
    // The sample (its prompt lines answered first), then a line for an interaction that does not exist.
    const sample = readFileSync(join(REPO_ROOT, 'infra/local/samples/feedback.jsonl'), 'utf8').trimEnd();
    const refusedLine = sample.split('\n').length + 1;
    const file = join(work, 'mixed.jsonl');
    writeFileSync(
      file,
      `${sample}\n${JSON.stringify({ interactionId: 'no-such-interaction', rating: 'down' })}\n`,
    );
    const refused = start(file);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stdout).toMatch(new RegExp(`line ${refusedLine} refused \\(404\\)`));
    const started = /^ {2}pipelines started: (.+)$/m.exec(refused.stdout);
    expect(started, refused.stdout).not.toBeNull();
    const runs = (started?.[1] ?? '').split(', ').map((run) => run.split(' '));
    expect(runs.map(([pipeline]) => pipeline)).toEqual(
      expect.arrayContaining(['DataPrep', 'FineTune', 'Evaluate', 'Rollout']),
    );
    expect(runs.every(([, status]) => status === 'SUCCEEDED')).toBe(true);

    const bad = join(work, 'bad.jsonl');
    writeFileSync(bad, '{"rating": "up"}\n');
    const run = start(bad);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('bad.jsonl line 1: must have either "interactionId" or "prompt"');
    expect(run.stderr).not.toContain('Synthesizing the stack');
  });
});
