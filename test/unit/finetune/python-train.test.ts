// The fine-tuning entry point is Python (it runs in the SageMaker training container): its pure modules'
// unittest suite, its metric definitions and its GPU smoke script are checked from here.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HYPERPARAMETER_RULES, MAX_LORA_RANK } from '#contracts/finetune/job.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const trainDir = join(root, 'functions', 'finetune', 'train');
const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONIOENCODING: 'utf-8' };

function python(args: string[]) {
  const result = spawnSync('python3', args, { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

interface MetricDefinition {
  Name: string;
  Regex: string;
}

describe('fine-tuning entry point (Python)', () => {
  it('passes its unittest suite', () => {
    const { status, output } = python([
      '-m',
      'unittest',
      'discover',
      '-s',
      'functions/finetune/train/tests',
      '-t',
      'functions/finetune/train',
    ]);
    expect(status, output).toBe(0);
    const ran = /Ran (\d+) tests?/.exec(output);
    expect(ran, output).not.toBeNull();
    expect(Number(ran?.[1])).toBeGreaterThanOrEqual(15);
    expect(output).toMatch(/^OK\b/m);
  }, 90_000);

  it('caps lora_r at the rank the API accepts and the serving endpoint loads', () => {
    const { status, output } = python([
      '-c',
      'import sys; sys.path.insert(0, sys.argv[1]); from llmops_train.args import MAX_LORA_RANK; print(MAX_LORA_RANK)',
      trainDir,
    ]);
    expect(status, output).toBe(0);
    expect(Number(output.trim())).toBe(MAX_LORA_RANK);
    expect(HYPERPARAMETER_RULES.lora_r.max).toBe(MAX_LORA_RANK);
  });

  it('has metric definitions within SageMaker limits', () => {
    const definitions = JSON.parse(
      readFileSync(join(trainDir, 'metric_definitions.json'), 'utf8'),
    ) as MetricDefinition[];
    expect(Array.isArray(definitions)).toBe(true);
    expect(definitions.length).toBeGreaterThan(0);
    expect(definitions.length).toBeLessThanOrEqual(40);
    expect(new Set(definitions.map((d) => d.Name)).size).toBe(definitions.length);
    for (const d of definitions) {
      expect(Object.keys(d).sort()).toEqual(['Name', 'Regex']);
      expect(d.Name.length).toBeGreaterThanOrEqual(1);
      expect(d.Name.length).toBeLessThanOrEqual(255);
      expect(d.Regex.length).toBeGreaterThanOrEqual(1);
      expect(d.Regex.length).toBeLessThanOrEqual(500);
      const match = new RegExp(d.Regex).exec(`llmops_metric ${d.Name}=2.5e-05`);
      expect(match?.[1]).toBe('2.5e-05');
    }
    expect(definitions.map((d) => d.Name)).toEqual(
      expect.arrayContaining(['train_loss', 'eval_loss', 'learning_rate', 'epoch', 'grad_norm']),
    );
  });

  it('skips the GPU smoke cleanly on a machine without torch or a GPU', () => {
    const { status, output } = python([join('functions', 'finetune', 'train', 'smoke.py')]);
    expect(status, output).toBe(0);
    expect(output).toMatch(/^SMOKE NOT RUN: no (training libraries|GPU machine)/m);
  }, 90_000);
});
