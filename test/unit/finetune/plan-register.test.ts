// The functions' environment, set before their handler modules are imported (they read it at import).
import '../../support/env/finetune.ts';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateInferenceComponentCommand,
  CreateModelPackageCommand,
  SageMakerClient,
  UpdateModelPackageCommand,
} from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { DatasetVersionItem } from '#aws/dataset-registry.ts';
import { InvalidEventError, NotFoundError } from '#aws/errors.ts';
import { ModelRegistry } from '#aws/finetune/model-registry.ts';
import { finetunePlan, registered as registeredSchema } from '#contracts/pipelines/finetune.ts';
import { RecipeMismatchError } from '#core/finetune/plan.ts';
import { modelRegisteredDetail } from '#events/model-registered.ts';
import { rawSample } from '#events/samples.ts';
import { TEST_FINETUNE_SETTINGS } from '../../support/env/finetune.ts';
import { FakeCandidateCatalog, FakeJobStore, PACKAGE_ARN } from './fakes.ts';

const plan = await import('#functions/finetune/plan.ts');
const register = await import('#functions/finetune/register.ts');

const NOW = new Date('2026-12-01T10:00:00.000Z');
const HASH = `sha256:${'c'.repeat(64)}`;

function datasetReady(purpose: string, overrides: Record<string, unknown> = {}) {
  return {
    version: '0',
    id: 'evt-1',
    'detail-type': 'llmops.DatasetReady',
    source: 'llmops',
    account: '123456789012',
    time: '2026-12-01T09:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: {
      schemaVersion: '1.0',
      name: 'support-chats',
      version: 3,
      purpose,
      manifest: { bucket: 'curated-test', key: 'datasets/finetune/support-chats/v3/manifest.json' },
      files: {
        train: { bucket: 'curated-test', key: 'datasets/finetune/support-chats/v3/train.jsonl' },
        validation: { bucket: 'curated-test', key: 'datasets/finetune/support-chats/v3/validation.jsonl' },
      },
      counts: {
        records: 100,
        blank: 0,
        kept: 100,
        quarantined: 0,
        duplicates: { exact: 0, near: 0 },
        splits: { train: 90, validation: 10 },
      },
      contentHash: HASH,
      source: { bucket: 'raw', key: 'raw/finetune/support-chats.jsonl', etag: 'e' },
      ...overrides,
    },
  };
}

const registryItem = (purpose: string, version: number): DatasetVersionItem => ({
  name: 'support-chats',
  purpose,
  version,
  runId: 'r',
  createdAt: '2026-11-01T00:00:00.000Z',
  manifest: { bucket: 'curated-test', key: 'm' },
  files: {
    train: { bucket: 'curated-test', key: `datasets/${purpose}/support-chats/v${version}/train.jsonl` },
  },
  counts: { splits: { train: 10, validation: 0 } },
  contentHash: HASH,
  source: { bucket: 'raw', key: 'k', etag: 'e' },
});

function fakeRegistry(items: DatasetVersionItem[]) {
  return {
    getVersion: async (purpose: string, name: string, version: number) =>
      items.find((i) => i.purpose === purpose && i.name === name && i.version === version),
    listVersions: async (purpose: string, name: string) =>
      items.filter((i) => i.purpose === purpose && i.name === name),
  };
}

describe('FineTune Plan', () => {
  let store: FakeJobStore;
  const handlerWith = (items: DatasetVersionItem[] = []) =>
    plan.makeHandler({
      store,
      registry: fakeRegistry(items),
      settings: TEST_FINETUNE_SETTINGS,
      stackName: 'LlmOps-dev',
      curatedBucket: 'curated-test',
      artifactsBucket: 'artifacts-test',
      trainingSourceUri: 's3://artifacts-test/source.tar.gz',
      region: 'us-east-1',
      now: () => NOW,
    });
  beforeEach(() => {
    store = new FakeJobStore();
  });

  it('plans a job for a finetune dataset, claims it training and returns the training request parts', async () => {
    const out = await handlerWith()({ event: datasetReady('finetune'), executionName: 'x' });
    expect(finetunePlan.parse(out)).toEqual(out);
    if (out.status !== 'planned') throw new Error('expected planned');
    expect(out.trainingJobName).toBe(`llmops-dev-${out.jobId}`);
    expect(out.recipe).toBe('sft-lora');
    expect(out.hyperParameters).toMatchObject({ epochs: '3', learning_rate: '0.0002', recipe: 'sft-lora' });
    expect(out.hyperParameters.dpo_beta).toBeUndefined();
    expect(out.channels).toHaveLength(2);
    expect(out.checkpointS3Uri).toBe(`s3://artifacts-test/finetune/checkpoints/${out.jobId}/`);
    expect(store.jobs.get(out.jobId)).toMatchObject({
      status: 'training',
      trigger: 'dataset',
      trainingJob: { spot: true },
    });
  });

  it('answers duplicate for a redelivered DatasetReady and claims nothing new', async () => {
    const handler = handlerWith();
    const first = await handler({ event: datasetReady('finetune'), executionName: 'x' });
    const second = await handler({ event: datasetReady('finetune'), executionName: 'y' });
    expect(second).toMatchObject({ status: 'duplicate', jobId: first.jobId });
    expect(store.jobs.size).toBe(1);
  });

  it('refuses a DatasetReady of another purpose, naming it', async () => {
    await expect(handlerWith()({ event: datasetReady('rag'), executionName: 'x' })).rejects.toThrow(
      /is for rag; FineTune trains on finetune or preference/,
    );
  });

  it('refuses training data outside the curated bucket', async () => {
    const event = datasetReady('finetune', { files: { train: { bucket: 'elsewhere', key: 'k' } } });
    await expect(handlerWith()({ event, executionName: 'x' })).rejects.toThrow(/not in the curated bucket/);
  });

  it('plans a FineTuneRequested job from the registry version, keeping its job id and caller', async () => {
    const event = rawSample('finetune-requested');
    const out = await handlerWith([registryItem('finetune', 3)])({ event, executionName: 'x' });
    if (out.status !== 'planned') throw new Error('expected planned');
    expect(out.jobId).toBe('ft-3f9c2a7be1d04c58');
    expect(out.channels.map((c) => c.ChannelName)).toEqual(['train']);
    expect(store.jobs.get(out.jobId)).toMatchObject({
      trigger: 'api',
      requestedBy: 'arn:aws:sts::123456789012:assumed-role/LlmOps-dev-MlEngineer/alice',
      hyperparameters: { epochs: 3, learning_rate: 0.0002, lora_r: 16, lora_alpha: 32 },
    });
  });

  it('fails a FineTuneRequested of an unregistered dataset version with a named error', async () => {
    const event = rawSample('finetune-requested');
    await expect(handlerWith()({ event, executionName: 'x' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('fails a FineTuneRequested whose recipe does not fit the purpose', async () => {
    const event = structuredClone(rawSample('finetune-requested')) as { detail: Record<string, unknown> };
    event.detail.recipe = 'dpo-lora';
    await expect(
      handlerWith([registryItem('finetune', 3)])({ event, executionName: 'x' }),
    ).rejects.toBeInstanceOf(RecipeMismatchError);
  });

  it('refuses an event of another detail-type', async () => {
    await expect(
      handlerWith()({ event: { 'detail-type': 'nope' }, executionName: 'x' }),
    ).rejects.toBeInstanceOf(InvalidEventError);
  });
});

describe('FineTune Register', () => {
  const sagemaker = mockClient(SageMakerClient);
  const s3 = mockClient(S3Client);
  const events = mockClient(EventBridgeClient);
  afterAll(() => {
    sagemaker.restore();
    s3.restore();
    events.restore();
  });
  let store: FakeJobStore;
  let catalog: FakeCandidateCatalog;

  beforeEach(() => {
    for (const m of [sagemaker, s3, events]) m.reset();
    sagemaker.on(CreateModelPackageCommand).resolves({ ModelPackageArn: PACKAGE_ARN });
    sagemaker.on(UpdateModelPackageCommand).resolves({ ModelPackageArn: PACKAGE_ARN });
    sagemaker.on(CreateInferenceComponentCommand).resolves({ InferenceComponentArn: 'arn:ic' });
    s3.on(PutObjectCommand).resolves({});
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
    store = new FakeJobStore();
    catalog = new FakeCandidateCatalog();
  });

  const handler = () =>
    register.makeHandler({
      s3: new S3Client({}),
      events: new EventBridgeClient({}),
      busName: 'bus-test',
      store,
      registry: new ModelRegistry(new SageMakerClient({})),
      catalog,
      settings: TEST_FINETUNE_SETTINGS,
      stackName: 'LlmOps-dev',
      artifactsBucket: 'artifacts-test',
      modelPackageGroup: 'LlmOps-dev-support-assistant',
      servingImageUri: 'img:1',
      servingInstanceType: 'ml.g5.2xlarge',
      endpointName: 'ep',
      baseComponent: 'base-ic',
      invokeTag: { Key: 'llmops:invoked-by', Value: 'LlmOps-dev' },
      region: 'us-east-1',
      now: () => NOW,
    });

  async function plannedJob() {
    const p = await plan.makeHandler({
      store,
      registry: fakeRegistry([]),
      settings: TEST_FINETUNE_SETTINGS,
      stackName: 'LlmOps-dev',
      curatedBucket: 'curated-test',
      artifactsBucket: 'artifacts-test',
      trainingSourceUri: 's3://artifacts-test/source.tar.gz',
      region: 'us-east-1',
      now: () => NOW,
    })({ event: datasetReady('finetune'), executionName: 'x' });
    if (p.status !== 'planned') throw new Error('expected planned');
    return p;
  }

  const training = (name: string, billable: number | undefined = 1234) => ({
    TrainingJobName: name,
    TrainingJobArn: `arn:aws:sagemaker:us-east-1:123456789012:training-job/${name}`,
    TrainingJobStatus: 'Completed',
    ModelArtifacts: { S3ModelArtifacts: `s3://artifacts-test/finetune/output/${name}/output/model.tar.gz` },
    FinalMetricDataList: [{ MetricName: 'eval_loss', Value: 0.42 }],
    ...(billable !== undefined ? { BillableTimeInSeconds: billable } : {}),
    EnableManagedSpotTraining: true,
  });

  it('registers the package, the adapter component and the catalog entries, then moves the job and announces it', async () => {
    const p = await plannedJob();
    const out = await handler()({ plan: p, training: training(p.trainingJobName) });
    expect(registeredSchema.parse(out)).toEqual(out);
    expect(out).toMatchObject({
      modelPackageVersion: 4,
      candidateModel: 'support-assistant-v4',
      inferenceComponent: `llmops-dev-${p.jobId}`,
      baselineModel: 'llama-3-1-8b-instruct',
      placeholder: false,
    });
    const create = sagemaker.commandCalls(CreateModelPackageCommand)[0]?.args[0].input;
    expect(create).toMatchObject({
      ModelPackageGroupName: 'LlmOps-dev-support-assistant',
      ModelApprovalStatus: 'PendingManualApproval',
      ClientToken: p.jobId,
      ModelMetrics: {
        ModelQuality: {
          Statistics: {
            ContentType: 'application/json',
            S3Uri: `s3://artifacts-test/finetune/lineage/${p.jobId}.json`,
          },
        },
      },
    });
    expect(create?.InferenceSpecification?.Containers?.[0]?.ModelDataUrl).toBe(
      training(p.trainingJobName).ModelArtifacts.S3ModelArtifacts,
    );
    expect(create?.CustomerMetadataProperties?.jobId).toBe(p.jobId);
    const ic = sagemaker.commandCalls(CreateInferenceComponentCommand)[0]?.args[0].input;
    expect(ic).toMatchObject({
      InferenceComponentName: `llmops-dev-${p.jobId}`,
      EndpointName: 'ep',
      Specification: { BaseInferenceComponentName: 'base-ic' },
    });
    expect(ic?.Tags).toContainEqual({ Key: 'llmops:invoked-by', Value: 'LlmOps-dev' });
    expect(catalog.models.get('llama-3-1-8b-instruct')).toMatchObject({
      status: 'active',
      pricePer1kInputUsd: 0,
    });
    expect(catalog.models.get('support-assistant-v4')?.lineage).toMatchObject({
      jobId: p.jobId,
      placeholder: false,
    });
    expect(store.jobs.get(p.jobId)).toMatchObject({ status: 'registered', modelPackageArn: PACKAGE_ARN });
    const put = events.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(put?.DetailType).toBe('llmops.ModelRegistered');
    expect(modelRegisteredDetail.parse(JSON.parse(put?.Detail ?? '{}'))).toMatchObject({
      metrics: { eval_loss: 0.42 },
    });
    const lineage = s3.commandCalls(PutObjectCommand).at(-1)?.args[0].input;
    expect(JSON.parse(String(lineage?.Body))).toMatchObject({
      candidateModel: 'support-assistant-v4',
      modelPackageArn: PACKAGE_ARN,
    });
  });

  it('compares the candidate with the served model once the catalog has it', async () => {
    const p = await plannedJob();
    await catalog.putCandidate({ ...(await baseEntry()), id: 'support-assistant' });
    const out = await handler()({ plan: p, training: training(p.trainingJobName) });
    expect(out.baselineModel).toBe('support-assistant');
  });

  it('marks as a placeholder a job that completed with zero billable seconds (the local stand-in)', async () => {
    const p = await plannedJob();
    const out = await handler()({ plan: p, training: training(p.trainingJobName, 0) });
    expect(out.placeholder).toBe(true);
  });

  it('goes on when the adapter component already exists (a retried step)', async () => {
    const p = await plannedJob();
    sagemaker.on(CreateInferenceComponentCommand).rejects(
      Object.assign(new Error('Cannot create already existing inference component'), {
        name: 'ValidationException',
      }),
    );
    await expect(handler()({ plan: p, training: training(p.trainingJobName) })).resolves.toMatchObject({
      candidateModel: 'support-assistant-v4',
    });
  });

  it('refuses a duplicate plan', async () => {
    await expect(
      handler()({ plan: { status: 'duplicate', jobId: 'ft-1', reason: 'r' }, training: training('t') }),
    ).rejects.toBeInstanceOf(InvalidEventError);
  });
});

async function baseEntry() {
  const { baseCatalogEntry } = await import('#aws/finetune/candidates.ts');
  return baseCatalogEntry({
    settings: TEST_FINETUNE_SETTINGS,
    endpointName: 'ep',
    baseComponent: 'b',
    region: 'us-east-1',
  });
}
