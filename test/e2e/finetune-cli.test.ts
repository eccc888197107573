import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '#infra/repo-root.ts';

/**
 * `npm start -- finetune FILE --purpose P --json` as a user runs it: a fresh process that starts the local
 * stack, runs the whole fine-tuning chain and prints one JSON object on its last line (the recorded
 * training request, the model package, the evaluation verdict, the rollout outcome, the job, the answer).
 */
function start(...args: string[]) {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'infra/local/cli.ts'), 'finetune', ...args],
    { cwd: REPO_ROOT, encoding: 'utf8', timeout: 180_000 },
  );
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('npm start -- finetune', () => {
  it('trains (stand-in), registers, evaluates, approves, rolls out and calls a preference dataset, exit 0', () => {
    const run = start(
      join(REPO_ROOT, 'infra/local/samples/helpfulness.jsonl'),
      '--purpose',
      'preference',
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as Record<
      string,
      Record<string, unknown>
    >;
    expect(result.dataset).toMatchObject({ name: 'helpfulness', purpose: 'preference' });
    expect(result.trainingRequest).toMatchObject({
      EnableManagedSpotTraining: true,
      HyperParameters: expect.objectContaining({ recipe: 'dpo-lora' }),
    });
    expect(result.modelPackage).toMatchObject({ ModelApprovalStatus: 'Approved' });
    expect(result.evaluation).toMatchObject({ pass: true });
    expect(result.rollout).toMatchObject({ outcome: 'promoted', model: 'tuned-assistant' });
    expect(result.job).toMatchObject({ status: 'deployed' });
    expect(result.chat).toMatchObject({ model: 'tuned-assistant', status: 200 });
    // Nothing trains locally, and the output says so.
    expect(run.stderr).toContain('stand-in: nothing trained');
  });

  it('refuses a purpose that does not train, with exit code 2 and the allowed values', () => {
    const run = start(join(REPO_ROOT, 'infra/local/samples/lambda-docs.jsonl'), '--purpose', 'rag');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--purpose must be one of finetune, preference');
    expect(run.stderr).not.toContain('Synthesizing the stack');
  });
});
