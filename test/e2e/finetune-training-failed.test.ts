import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiClient } from '#infra/local/cli/local-runner.ts';
import { runFineTuneChain } from '#infra/local/finetune-demo.ts';
import { LocalRunner } from '#infra/local/runner.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';

const SAMPLES = join(REPO_ROOT, 'infra/local/samples');

/**
 * A training job that fails (here: no spot capacity within MaxWait, as the SageMaker stand-in is told to
 * answer) fails the FineTune execution with SageMaker's reason: the job record says why, the pipeline's
 * failure becomes llmops.PipelineFailed, and nothing is registered or served.
 */
describe('fine-tuning: what keeps a candidate out of production', () => {
  it('a failed training job: the job fails with the reason, the pipeline reports llmops.PipelineFailed, nothing is registered', async () => {
    const reason = 'CapacityError: Unable to provision requested ML compute capacity within MaxWait';
    const local = await LocalRunner.start({ api: {}, failTraining: () => reason });
    try {
      const client = apiClient(local, false);
      const chain = await runFineTuneChain(local, client, {
        file: join(SAMPLES, 'support-chats.jsonl'),
        purpose: 'finetune',
      });
      expect(chain.registered).toBeNull();
      const failed = local.events
        .map((e) => e.event)
        .filter((e) => e['detail-type'] === 'llmops.PipelineFailed')
        .map((e) => e.detail as { pipeline: string; cause: string });
      expect(failed).toHaveLength(1);
      expect(failed[0]?.cause).toContain('Unable to provision');
      const jobs = (await (await client.send('GET', '/v1/finetune-jobs')).response.json()) as {
        jobs: { status: string; failure?: { cause: string } }[];
      };
      expect(jobs.jobs).toHaveLength(1);
      expect(jobs.jobs[0]).toMatchObject({ status: 'failed' });
      expect(jobs.jobs[0]?.failure?.cause).toContain('Unable to provision');
    } finally {
      await local.stop();
    }
  }, 120_000);
});
