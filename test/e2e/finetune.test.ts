import { join } from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LLMOPS_SOURCE } from '#events/envelope.ts';
import { type EvaluationCompletedDetail, evaluationCompletedDetail } from '#events/evaluation-completed.ts';
import { modelDeployedDetail } from '#events/model-deployed.ts';
import { modelRegisteredDetail } from '#events/model-registered.ts';
import { rolledBackDetail } from '#events/rolled-back.ts';
import { apiClient } from '#infra/local/cli/local-runner.ts';
import { type FineTuneChainResult, runFineTuneChain } from '#infra/local/finetune-demo.ts';
import { LocalRunner } from '#infra/local/runner.ts';
import { validateCreateTrainingJob } from '#infra/local/sagemaker/index.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';

/**
 * The fine-tuning chain on the local stack, from the synthesized template (the nested fine-tuning stack
 * flattened in): an upload through DataPrep, the FineTune state machine with the training stand-in
 * (which records and validates the CreateTrainingJob request the Train state renders), the model
 * package with its lineage, the candidate's evaluation on the golden suite against the served model, the
 * gate (auto-approval in dev), the Rollout state machine (first rollout, then a canary), the served
 * model answering through the OpenAI-compatible route, and the job record of each step. Then the closed
 * loop: a drift evaluation of the line that regressed against the gate run of the model it serves routes
 * the line back to the first candidate. Every SDK call of the functions is judged by the local IAM
 * evaluator. A failed evaluation, and a failed training job, keep the candidate out of production.
 */
const SAMPLES = join(REPO_ROOT, 'infra/local/samples');

let stack: LocalRunner;
let first: FineTuneChainResult;
let second: FineTuneChainResult;

beforeAll(async () => {
  stack = await LocalRunner.start({ api: {} });
  const client = apiClient(stack, false);
  first = await runFineTuneChain(stack, client, {
    file: join(SAMPLES, 'support-chats.jsonl'),
    purpose: 'finetune',
  });
  second = await runFineTuneChain(stack, client, {
    file: join(SAMPLES, 'helpfulness.jsonl'),
    purpose: 'preference',
  });
}, 240_000);
afterAll(async () => {
  await stack?.stop();
});

describe('fine-tuning: upload → training → registry → gate → rollout → served, locally', () => {
  it('renders a CreateTrainingJob request SageMaker accepts: spot, checkpoints, MaxWait, KMS, metrics', () => {
    const request = first.trainingRequest as Record<string, unknown>;
    expect(validateCreateTrainingJob(request)).toEqual([]);
    expect(request).toMatchObject({
      EnableManagedSpotTraining: true,
      StoppingCondition: { MaxRuntimeInSeconds: 4 * 3600, MaxWaitTimeInSeconds: 8 * 3600 },
      CheckpointConfig: { LocalPath: '/opt/ml/checkpoints' },
      ResourceConfig: { InstanceType: 'ml.g5.2xlarge', InstanceCount: 1 },
      AlgorithmSpecification: { TrainingInputMode: 'File' },
    });
    const checkpoints = (request.CheckpointConfig as { S3Uri: string }).S3Uri;
    expect(checkpoints).toMatch(/^s3:\/\/.+\/finetune\/checkpoints\/ft-[0-9a-f]{16}\/$/);
    expect((request.ResourceConfig as { VolumeKmsKeyId?: string }).VolumeKmsKeyId).toMatch(/^arn:aws:kms:/);
    expect((request.OutputDataConfig as { KmsKeyId?: string }).KmsKeyId).toMatch(/^arn:aws:kms:/);
    expect((request.AlgorithmSpecification as { TrainingImage: string }).TrainingImage).toMatch(
      /^763104351884\.dkr\.ecr\.us-east-1\.amazonaws\.com\/huggingface-pytorch-training:/,
    );
    const hyper = request.HyperParameters as Record<string, string>;
    expect(hyper).toMatchObject({
      base_model: 'Qwen/Qwen2.5-1.5B-Instruct',
      recipe: 'sft-lora',
      sagemaker_program: 'train.py',
    });
    expect(Object.values(hyper).every((v) => typeof v === 'string')).toBe(true);
    const channels = (request.InputDataConfig as { ChannelName: string; DataSource: unknown }[]).map(
      (c) => c.ChannelName,
    );
    expect(channels).toEqual(['train', 'validation']);
    expect(second.trainingRequest?.HyperParameters).toMatchObject({ recipe: 'dpo-lora' });
  });

  it('registers a model package with lineage, pending approval until the gate, and says so on the bus', () => {
    const registered = modelRegisteredDetail.parse(first.registered);
    expect(registered).toMatchObject({
      recipe: 'sft-lora',
      baseModel: 'Qwen/Qwen2.5-1.5B-Instruct',
      dataset: { name: 'support-chats', version: 1, purpose: 'finetune' },
      candidateModel: 'tuned-assistant-v1',
      placeholder: true,
    });
    expect(registered.dataset.contentHash).toBe(
      first.job?.dataset && (first.job.dataset as { contentHash: string }).contentHash,
    );
    const metadata = first.modelPackage?.CustomerMetadataProperties as Record<string, string>;
    expect(metadata).toMatchObject({
      jobId: registered.jobId,
      datasetName: 'support-chats',
      datasetVersion: '1',
      recipe: 'sft-lora',
      trainingJobName: registered.trainingJob.name,
    });
    // The gate approved it (dev: auto) after the evaluation passed.
    expect(first.modelPackage?.ModelApprovalStatus).toBe('Approved');
  });

  it('evaluates the candidate on the golden suite against the served model before any approval', () => {
    expect(first.evaluation).toMatchObject({ runId: `candidate-${first.registered?.jobId}`, pass: true });
    const requested = stack.events
      .map((e) => e.event)
      .filter((e) => e['detail-type'] === 'llmops.EvaluationRequested')
      .map((e) => e.detail as { runId?: string; trigger: string; request: Record<string, unknown> })
      .filter((d) => d.trigger === 'model');
    expect(requested).toHaveLength(2);
    // The first candidate is compared with the base model (nothing served the line yet), the second
    // with the line as it serves after the first rollout.
    expect(requested[0]?.request).toMatchObject({
      suite: 'golden',
      target: { model: 'tuned-assistant-v1' },
      baseline: { model: 'qwen2-5-1-5b-instruct' },
    });
    expect(requested[1]?.request).toMatchObject({
      target: { model: 'tuned-assistant-v2' },
      baseline: { model: 'tuned-assistant' },
    });
    // The DPO candidate is also compared pairwise: its run reports the win rate against the served
    // model (offline locally), which informs and does not decide.
    expect(requested[0]?.request).not.toHaveProperty('pairwise');
    expect(requested[1]?.request).toMatchObject({ pairwise: true });
    const completed = stack.events
      .map((e) => e.event)
      .filter((e) => e['detail-type'] === 'llmops.EvaluationCompleted')
      .map((e) => evaluationCompletedDetail.parse(e.detail));
    const runOf = (result: FineTuneChainResult) =>
      completed.find((d) => d.runId === `candidate-${result.registered?.jobId}`);
    expect(runOf(first)?.metrics).not.toHaveProperty('win_rate');
    expect(runOf(second)?.metrics.win_rate).toMatchObject({ n: expect.any(Number) });
    expect(runOf(second)?.metrics.win_rate?.n).toBeGreaterThan(0);
    expect(runOf(second)?.metrics.win_rate_lc?.value).toEqual(expect.any(Number));
    expect(runOf(second)?.pass).toBe(true);
  });

  it('rolls the first candidate out at once, and the second through a canary that bakes, then verifies what serves', () => {
    const one = modelDeployedDetail.parse(first.rollout);
    expect(one).toMatchObject({ model: 'tuned-assistant', outcome: 'promoted', previous: null });
    expect(one.verified).toMatchObject({ matches: true, status: 'InService' });
    const two = modelDeployedDetail.parse(second.rollout);
    expect(two).toMatchObject({ model: 'tuned-assistant', outcome: 'promoted' });
    expect(two.canary).toMatchObject({ share: 0.2, bakeSeconds: 1800, breaches: [] });
    expect(two.previous?.inferenceComponent).toBe(one.candidate.inferenceComponent);
    expect(two.verified).toMatchObject({
      inferenceComponent: two.candidate.inferenceComponent,
      matches: true,
      artifactUrl:
        (second.registered?.artifact &&
          `s3://${second.registered.artifact.bucket}/${second.registered.artifact.key}`) ??
        null,
    });
  });

  it('records each step on the job, and serves the line through the OpenAI-compatible route', () => {
    expect(first.job).toMatchObject({ status: 'deployed', trigger: 'dataset', recipe: 'sft-lora' });
    expect(first.job?.rollout).toMatchObject({ outcome: 'promoted' });
    expect(second.job).toMatchObject({ status: 'deployed', recipe: 'dpo-lora' });
    expect(second.chat?.status).toBe(200);
    const body = second.chat?.body as { model: string; choices: { message: { content: string } }[] };
    expect(body.model).toBe('tuned-assistant');
    // The offline provider answers locally, and says so.
    expect(body.choices[0]?.message.content).toMatch(/offline/i);
  });

  it('runs every FineTune and Rollout execution to success, with no page', () => {
    const runs = stack.deliveries.filter(
      (d) => d.execution && /FineTuning(Pipeline|RolloutPipeline)/.test(d.execution.stateMachineArn),
    );
    expect(runs.length).toBe(4);
    expect(runs.map((d) => d.execution?.status)).toEqual([
      'SUCCEEDED',
      'SUCCEEDED',
      'SUCCEEDED',
      'SUCCEEDED',
    ]);
    expect(stack.pages).toEqual([]);
  });

  it('routes the line back to the first candidate when a drift evaluation finds the second regressed, and pages', async () => {
    const completed = stack.details<EvaluationCompletedDetail>('llmops.EvaluationCompleted');
    const gateRun = completed.find((d) => d.runId === `candidate-${second.registered?.jobId}`);
    if (gateRun === undefined) throw new Error('the second candidate was not evaluated');
    // The drift run of the line: the second candidate's gate run, every score a whole point lower.
    const bucket = gateRun.report.bucket;
    const read = async (key: string) =>
      (await stack.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString() ??
      '';
    const lower = (line: string) => {
      const item = JSON.parse(line) as { scores: Record<string, number | null> };
      const scores = Object.fromEntries(
        Object.entries(item.scores).map(([name, v]) => [name, v === null ? null : v - 1]),
      );
      return JSON.stringify({ ...item, scores });
    };
    const runId = 'drift-tuned-traffic-20261205060000';
    const report = (name: string) => `evaluations/${runId}/${name}`;
    const items = (await read(gateRun.report.items)).split('\n').filter((l) => l.trim() !== '');
    await stack.s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: report('items.jsonl'),
        Body: `${items.map(lower).join('\n')}\n`,
      }),
    );
    await stack.s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: report('summary.json'),
        Body: await read(gateRun.report.summary),
      }),
    );
    const detail: EvaluationCompletedDetail = {
      ...gateRun,
      runId,
      trigger: 'drift',
      target: { model: 'tuned-assistant' },
      requested: { model: 'tuned-assistant' },
      baseline: null,
      pass: null,
      regression: false,
      report: {
        bucket,
        summary: report('summary.json'),
        items: report('items.jsonl'),
        html: report('report.html'),
        markdown: report('report.md'),
      },
    };
    const from = { events: stack.events.length, pages: stack.pages.length };
    stack.publish(stack.output('EventBusName'), {
      version: '0',
      id: `completed-${runId}`,
      'detail-type': 'llmops.EvaluationCompleted',
      source: LLMOPS_SOURCE,
      account: stack.template.account,
      time: new Date().toISOString(),
      region: stack.template.region,
      resources: [],
      detail,
    });
    await stack.idle();

    const [decision] = stack.details('llmops.RolledBack', from.events).map((d) => rolledBackDetail.parse(d));
    const firstComponent = first.rollout?.candidate.inferenceComponent;
    expect(decision).toMatchObject({
      outcome: 'rolled_back',
      target: { kind: 'model', id: 'tuned-assistant' },
      from: { model: 'tuned-assistant-v2' },
      to: { model: 'tuned-assistant-v1', passingRunId: `candidate-${first.registered?.jobId}` },
      evidence: { evaluation: { runId, comparedWith: gateRun.runId } },
    });
    expect(decision?.reason).toContain(`tuned-assistant now routes to inference component ${firstComponent}`);
    // The line calls the first candidate's component again (read from the catalog table).
    const [catalog] = stack.template
      .resourcesOfType('AWS::DynamoDB::Table')
      .filter(({ logicalId }) => logicalId.startsWith('ModelGatewayCatalogTable'))
      .map(({ logicalId }) => stack.template.ref(logicalId));
    const { Item } = await stack.dynamo.send(
      new GetItemCommand({ TableName: catalog, Key: { pk: { S: 'tuned-assistant' } }, ConsistentRead: true }),
    );
    const served = Item === undefined ? undefined : unmarshall(Item);
    expect(served).toMatchObject({ inferenceComponent: firstComponent });
    expect(served?.canary).toBeUndefined();
    // The page is the decision.
    expect(stack.pages.slice(from.pages).some((p) => p.message.includes(decision?.rollbackId ?? '?'))).toBe(
      true,
    );
  }, 60_000);
});
