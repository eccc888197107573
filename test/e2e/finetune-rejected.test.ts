import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiClient } from '#infra/local/cli/local-runner.ts';
import { runFineTuneChain } from '#infra/local/finetune-demo.ts';
import { LocalRunner } from '#infra/local/runner.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';

const SAMPLES = join(REPO_ROOT, 'infra/local/samples');

/**
 * A candidate whose evaluation fails stays out of production: the gate rejects its model package and
 * removes its adapter component and catalog entry, and no rollout starts. The Evaluate state machine's
 * trigger is disabled in this run, so the test gives the candidate's (failing) verdict itself, on the bus,
 * as the Evaluate state machine's Report step would; everything else is the synthesized stack.
 * (Handler modules keep their SDK clients per process: one local stack per test file.)
 */
describe('fine-tuning: what keeps a candidate out of production', () => {
  it('a failed evaluation: the gate rejects the package and removes the candidate; nothing rolls out', async () => {
    // The Evaluate state machine is left out, so the test gives the candidate's verdict itself.
    const local = await LocalRunner.start({
      api: {},
      editTemplate: (template) => {
        const resources = template.Resources as Record<
          string,
          { Type: string; Properties?: Record<string, unknown> }
        >;
        for (const r of Object.values(resources)) {
          const pattern = r.Properties?.EventPattern as { 'detail-type'?: string[] } | undefined;
          if (
            r.Type === 'AWS::Events::Rule' &&
            pattern?.['detail-type']?.includes('llmops.EvaluationRequested')
          )
            r.Properties = { ...r.Properties, State: 'DISABLED' };
        }
        return template;
      },
    });
    try {
      const client = apiClient(local, false);
      const chain = await runFineTuneChain(local, client, {
        file: join(SAMPLES, 'support-chats.jsonl'),
        purpose: 'finetune',
      });
      expect(chain.job).toMatchObject({ status: 'evaluating' });
      const jobId = chain.registered?.jobId as string;
      const completed = local.events.find((e) => e.event['detail-type'] === 'llmops.DatasetReady');
      local.publish(busOf(local), {
        ...(completed?.event as NonNullable<typeof completed>['event']),
        id: 'failed-verdict',
        'detail-type': 'llmops.EvaluationCompleted',
        detail: failedVerdict(`candidate-${jobId}`, local.output('ArtifactsBucketName')),
      });
      await local.idle();
      const job = (await (await client.send('GET', `/v1/finetune-jobs/${jobId}`)).response.json()) as {
        status: string;
      };
      expect(job.status).toBe('rejected');
      const pkg = await local.sagemaker.DescribeModelPackage({
        ModelPackageName: chain.registered?.modelPackageArn as string,
      });
      expect(pkg.ModelApprovalStatus).toBe('Rejected');
      await expect(
        local.sagemaker.DescribeInferenceComponent({
          InferenceComponentName: chain.registered?.trainingJob.name as string,
        }),
      ).rejects.toThrow(/Could not find/);
      expect(local.events.some((e) => e.event['detail-type'] === 'llmops.ModelDeployed')).toBe(false);
      const answer = await client.send('POST', '/v1/chat/completions', {
        model: 'tuned-assistant',
        messages: [{ role: 'user', content: 'hello' }],
      });
      expect(answer.response.status).toBeGreaterThanOrEqual(400);
      expect(answer.response.status).toBeLessThan(500);
    } finally {
      await local.stop();
    }
  }, 120_000);
});

function busOf(local: LocalRunner): string {
  return local.output('EventBusName');
}

function failedVerdict(runId: string, bucket: string) {
  const report = (name: string) => `evaluations/${runId}/${name}`;
  return {
    schemaVersion: '1.0',
    runId,
    trigger: 'model',
    suite: { name: 'golden', version: 1, items: 13 },
    target: { model: 'tuned-assistant-v1' },
    baseline: { model: 'qwen2-5-1-5b-instruct' },
    metrics: { f1: { value: 0.21, n: 13, ci: [0.1, 0.33] } },
    failed: 0,
    pass: false,
    regression: false,
    judge: 'offline',
    report: {
      bucket,
      summary: report('summary.json'),
      items: report('items.jsonl'),
      html: report('report.html'),
      markdown: report('report.md'),
    },
  };
}
