import { describe, expect, it } from 'vitest';
import { InvalidEventError } from '#aws/errors.ts';
import {
  checkBatch,
  evalStaging,
  readStagedJson,
  reportLocation,
  runIdOf,
  stagedPlan,
} from '#functions/evaluation/staging.ts';
import { memoryS3 } from './support.ts';

const s3 = memoryS3();

describe('the staging of an Evaluate run', () => {
  it('keeps every staged object of a run under staging/eval/<runId>/, batches zero-padded', () => {
    expect(evalStaging.plan('run-1')).toBe('staging/eval/run-1/plan.json');
    expect(evalStaging.batch('run-1', 7)).toBe('staging/eval/run-1/batch-00007.json');
    expect(evalStaging.answers('run-1', 7)).toBe('staging/eval/run-1/answers-00007.json');
    expect(evalStaging.scored('run-1', 12)).toBe('staging/eval/run-1/scored-00012.json');
  });

  it('puts the report under evaluations/<runId>/', () => {
    expect(reportLocation('artifacts', 'run-1')).toEqual({
      bucket: 'artifacts',
      summary: 'evaluations/run-1/summary.json',
      items: 'evaluations/run-1/items.jsonl',
      html: 'evaluations/run-1/report.html',
      markdown: 'evaluations/run-1/report.md',
    });
  });

  it('refuses a batch whose key is not its run staging key', () => {
    const batch = { index: 0, key: evalStaging.batch('run-1', 0) };
    expect(checkBatch({ runId: 'run-1', batch })).toEqual({ runId: 'run-1', batch });
    expect(() => checkBatch({ runId: 'run-2', batch })).toThrow(InvalidEventError);
    expect(() => checkBatch({ runId: 'run-1', batch: { index: 0, key: 'raw/secret.jsonl' } })).toThrow(
      /batch.key: must be staging\/eval\/run-1\/batch-00000.json/,
    );
  });

  it('takes the run id of the event, else the execution name with odd characters replaced', () => {
    expect(runIdOf({ runId: 'abc' }, 'exec')).toBe('abc');
    expect(runIdOf({}, 'golden-daily:2026/12/01')).toBe('golden-daily-2026-12-01');
    expect(() => runIdOf({}, '')).toThrow(InvalidEventError);
    expect(() => runIdOf({ runId: 'a b' }, 'exec')).toThrow(/runId: must be 1-80 letters/);
  });

  it('reads a staged object back, naming the field a malformed one breaks', async () => {
    s3.install();
    s3.put('artifacts', 'staging/eval/run-1/plan.json', JSON.stringify({ runId: 'run-1' }));
    await expect(
      readStagedJson(s3.client, { bucket: 'artifacts', key: 'staging/eval/run-1/plan.json' }, stagedPlan),
    ).rejects.toThrow(/s3:\/\/artifacts\/staging\/eval\/run-1\/plan.json: executionName/);
  });
});
