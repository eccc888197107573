import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelDeployedDetail } from '#events/model-deployed.ts';
import type { LocalApiClient } from '#infra/local/api-client.ts';
import { apiClient } from '#infra/local/cli/local-runner.ts';
import { runFineTuneChain } from '#infra/local/finetune-demo.ts';
import { LocalRunner } from '#infra/local/runner.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';
import { waitFor } from '../support/async.ts';

/**
 * A canary that breaches rolls back, and pages: the first fine-tuned candidate serves the line, the
 * second goes out as a canary (a fifth of the calls); while it bakes, the candidate's answers fail (their
 * `RolloutError` datapoints, as the gateway emits them), the synthesized canary alarm enters ALARM, its
 * state change reaches the Rollout function through the synthesized rule, the next Check rolls back, the
 * line keeps serving the first candidate (Verify reads it from SageMaker after the rollback), and the
 * RolledBack alarm pages. Waits last 300 ms here, so the bake (six checks) lasts long enough to breach.
 */
const SAMPLES = join(REPO_ROOT, 'infra/local/samples');
const SERVED = 'tuned-assistant';

let stack: LocalRunner;
let client: LocalApiClient;

beforeAll(async () => {
  stack = await LocalRunner.start({ api: {}, waitMs: 300 });
  client = apiClient(stack, false);
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

/** The served line's catalog entry, read from the catalog table (the API's listing is cached). */
interface ServedEntry {
  inferenceComponent?: string;
  canary?: { model: string; inferenceComponent: string; share: number; rolloutId: string };
}

async function served(): Promise<ServedEntry | undefined> {
  const [table] = stack.template
    .resourcesOfType('AWS::DynamoDB::Table')
    .filter(({ logicalId }) => logicalId.startsWith('ModelGatewayCatalogTable'))
    .map(({ logicalId }) => stack.template.ref(logicalId));
  const { Item } = await stack.dynamo.send(
    new GetItemCommand({ TableName: table, Key: { pk: { S: SERVED } }, ConsistentRead: true }),
  );
  return Item === undefined ? undefined : (unmarshall(Item) as ServedEntry);
}

describe('fine-tuning: a canary that breaches is rolled back, and pages', () => {
  it('keeps the line on the first candidate, removes the second, and pages through RolledBack', async () => {
    const first = await runFineTuneChain(stack, client, {
      file: join(SAMPLES, 'support-chats.jsonl'),
      purpose: 'finetune',
    });
    expect(first.rollout?.outcome).toBe('promoted');
    const firstComponent = first.rollout?.candidate.inferenceComponent;
    expect((await served())?.inferenceComponent).toBe(firstComponent);

    // The second dataset: no waiting for the chain to end; the canary goes on while it bakes.
    const raw = stack.output('RawBucketName');
    await stack.s3.send(
      new PutObjectCommand({
        Bucket: raw,
        Key: 'raw/preference/helpfulness.jsonl',
        Body: readFileSync(join(SAMPLES, 'helpfulness.jsonl')),
      }),
    );
    const canary = await waitFor(async () => (await served())?.canary, { timeoutMs: 60_000, intervalMs: 50 });
    expect(canary).toMatchObject({ share: 0.2, model: `${SERVED}-v2` });

    // The candidate's answers fail: the gateway's RolloutError datapoints, and CloudWatch's evaluation.
    const now = new Date();
    stack.metrics.put(
      ...[1, 1, 1, 0].map((value, i) => ({
        namespace: 'LLMOps',
        metricName: 'RolloutError',
        dimensions: { service: 'llmops', Variant: 'candidate' },
        value,
        unit: 'Count',
        timestamp: new Date(now.getTime() - 1000 * (i + 1)),
      })),
    );
    const transitions = await stack.evaluateAlarms(now);
    const breached = transitions.filter((t) => t.to === 'ALARM').map((t) => t.alarmName);
    expect(breached).toEqual([expect.stringContaining('CanaryErrorRate')]);
    await stack.idle();

    const deployed = stack.events
      .filter((e) => e.event['detail-type'] === 'llmops.ModelDeployed')
      .map((e) => modelDeployedDetail.parse(e.event.detail));
    expect(deployed.map((d) => d.outcome)).toEqual(['promoted', 'rolled_back']);
    const rolledBack = deployed[1];
    expect(rolledBack?.reason).toContain('CanaryErrorRate');
    expect(rolledBack?.canary.breaches).toEqual([breached[0]]);
    expect(rolledBack?.previous?.inferenceComponent).toBe(firstComponent);
    // Verify ran after the rollback (SageMaker can roll back silently): the first candidate's component
    // serves again, in service, loading its own package's adapter.
    const rollbackRun = stack.deliveries
      .map((d) => d.execution)
      .filter((e) => e !== undefined && /FineTuningRolloutPipeline/.test(e.stateMachineArn))
      .at(-1);
    expect(rollbackRun?.status).toBe('SUCCEEDED');
    expect(rollbackRun?.output).toMatchObject({
      verified: {
        inferenceComponent: firstComponent,
        status: 'InService',
        endpointStatus: 'InService',
        expectedArtifactUrl: expect.stringMatching(/^s3:\/\/.+model\.tar\.gz$/),
        matches: true,
      },
    });
    const output = rollbackRun?.output as
      | { verified?: { artifactUrl: string; expectedArtifactUrl: string } }
      | undefined;
    expect(output?.verified?.artifactUrl).toBe(output?.verified?.expectedArtifactUrl);
    expect(rolledBack?.verified).toMatchObject({ inferenceComponent: firstComponent, matches: true });

    // The line still serves the first candidate, with no canary; the second is gone and rejected.
    const after = await served();
    expect(after?.inferenceComponent).toBe(firstComponent);
    expect(after?.canary).toBeUndefined();
    await expect(
      stack.sagemaker.DescribeInferenceComponent({
        InferenceComponentName: rolledBack?.candidate.inferenceComponent as string,
      }),
    ).rejects.toThrow(/Could not find/);
    const pkg = await stack.sagemaker.DescribeModelPackage({
      ModelPackageName: rolledBack?.candidate.modelPackageArn as string,
    });
    expect(pkg.ModelApprovalStatus).toBe('Rejected');
    const jobs = (await (await client.send('GET', '/v1/finetune-jobs')).response.json()) as {
      jobs: { status: string; recipe: string }[];
    };
    expect(jobs.jobs.map((j) => `${j.recipe}:${j.status}`).sort()).toEqual([
      'dpo-lora:rolled_back',
      'sft-lora:deployed',
    ]);

    // The rollback's RolloutsRolledBack datapoint: the RolledBack alarm pages.
    const later = await stack.evaluateAlarms(new Date());
    expect(later.filter((t) => t.to === 'ALARM').map((t) => t.alarmName)).toContainEqual(
      expect.stringContaining('RolledBack'),
    );
    expect(stack.pages.map((p) => p.subject)).toContainEqual(
      expect.stringMatching(/^ALARM: ".*RolledBack.*"/),
    );
  }, 180_000);
});
