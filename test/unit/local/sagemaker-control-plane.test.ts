import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { CreateTrainingJobCommandInput } from '@aws-sdk/client-sagemaker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sageMakerModelPackageStateChangeEvent } from '#events/sagemaker-model-package-state-change.ts';
import { sageMakerTrainingJobStateChangeEvent } from '#events/sagemaker-training-job-state-change.ts';
import { createS3Client, type Emulators, startEmulators } from '#infra/local/emulators.ts';
import {
  LocalSageMaker,
  type LocalSageMakerOptions,
  listTarGz,
  placeholderModelArtifact,
  readTarGz,
  type SageMakerEvent,
  tarGz,
  trainingJobSyncStandIn,
} from '#infra/local/sagemaker/index.ts';

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const BUCKET = 'models';
const T0 = new Date('2025-01-02T03:04:05.678Z');

let emulators: Emulators;
let s3: S3Client;

beforeAll(async () => {
  emulators = await startEmulators();
  s3 = createS3Client(emulators.s3Endpoint);
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

afterAll(async () => {
  s3?.destroy();
  await emulators?.stop();
});

function plane(options: Partial<LocalSageMakerOptions> = {}) {
  const events: SageMakerEvent[] = [];
  let tick = 0;
  const sm = new LocalSageMaker({
    region: REGION,
    account: ACCOUNT,
    s3,
    emit: async (event) => {
      events.push(event);
    },
    clock: () => new Date(T0.getTime() + 1000 * tick++),
    packageGroups: ['Chat-Adapters'],
    endpoints: [
      { name: 'llm-endpoint', variants: ['AllTraffic'] },
      { name: 'other-endpoint', variants: ['AllTraffic'] },
    ],
    inferenceComponents: [
      {
        name: 'base-llm',
        endpointName: 'llm-endpoint',
        variantName: 'AllTraffic',
        specification: {
          Container: { Image: 'vllm:latest', Environment: { SM_VLLM_MODEL: 'base' } },
          ComputeResourceRequirements: { MinMemoryRequiredInMb: 1024, NumberOfAcceleratorDevicesRequired: 1 },
        },
      },
    ],
    ...options,
  });
  return { sm, events };
}

function trainingRequest(name = 'sft-run-1'): CreateTrainingJobCommandInput {
  return {
    TrainingJobName: name,
    RoleArn: `arn:aws:iam::${ACCOUNT}:role/TrainingRole`,
    AlgorithmSpecification: { TrainingImage: 'hf-pytorch-training:2.1', TrainingInputMode: 'File' },
    HyperParameters: { base_model: 'meta-llama/Llama-3.2-1B', epochs: '1' },
    InputDataConfig: [
      {
        ChannelName: 'train',
        DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://datasets/train/' } },
      },
    ],
    OutputDataConfig: { S3OutputPath: `s3://${BUCKET}/training/` },
    ResourceConfig: { InstanceType: 'ml.g5.2xlarge', InstanceCount: 1, VolumeSizeInGB: 50 },
    StoppingCondition: { MaxRuntimeInSeconds: 3600, MaxWaitTimeInSeconds: 7200 },
    EnableManagedSpotTraining: true,
    CheckpointConfig: { S3Uri: `s3://${BUCKET}/checkpoints/sft-run-1` },
    Tags: [{ Key: 'project', Value: 'llmops' }],
  };
}

async function getBytes(bucket: string, key: string): Promise<Uint8Array> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await object.Body?.transformToByteArray()) ?? new Uint8Array();
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to be refused');
}

describe('the placeholder model artifact', () => {
  it('is a gzip tar holding a note that no training happened and a placeholder adapter config', () => {
    const bytes = placeholderModelArtifact({
      trainingJobName: 'job-1',
      baseModel: 'meta-llama/Llama-3.2-1B',
    });
    const files = readTarGz(bytes);
    expect(files.map((f) => f.name)).toEqual(['PLACEHOLDER.md', 'adapter_config.json']);
    expect(files[0]?.content.toString()).toMatch(/No training happened/);
    expect(files[0]?.content.toString()).toMatch(/not a model/);
    expect(JSON.parse(files[1]?.content.toString() ?? '')).toEqual({
      placeholder: true,
      base_model_name_or_path: 'meta-llama/Llama-3.2-1B',
      peft_type: 'LORA',
    });
  });

  it('is byte-for-byte deterministic and sorts its entries', () => {
    const a = tarGz([
      { name: 'b.txt', content: 'b' },
      { name: 'a.txt', content: 'a' },
    ]);
    const b = tarGz([
      { name: 'a.txt', content: 'a' },
      { name: 'b.txt', content: 'b' },
    ]);
    expect(Buffer.compare(a, b)).toBe(0);
    expect(listTarGz(a)).toEqual(['a.txt', 'b.txt']);
  });

  it('keeps long names and content that spans several blocks', () => {
    const long = `${'dir/'.repeat(30)}file.bin`;
    const content = Buffer.alloc(1300, 7);
    const [file] = readTarGz(tarGz([{ name: long, content }]));
    expect(file?.name).toBe(long);
    expect(file?.content.equals(content)).toBe(true);
  });

  const hasTar = spawnSync('tar', ['--version']).status === 0;
  it.runIf(hasTar)('is listed and extracted by the system tar', () => {
    const dir = mkdtempSync(join(tmpdir(), 'placeholder-'));
    try {
      const path = join(dir, 'model.tar.gz');
      writeFileSync(path, placeholderModelArtifact({ trainingJobName: 'job-1', baseModel: 'm' }));
      const listed = execFileSync('tar', ['-tzf', path], { encoding: 'utf8' }).trim().split('\n');
      expect(listed).toEqual(['PLACEHOLDER.md', 'adapter_config.json']);
      const config = execFileSync('tar', ['-xzOf', path, 'adapter_config.json'], { encoding: 'utf8' });
      expect(JSON.parse(config).placeholder).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('LocalSageMaker training jobs', () => {
  it('records the exact request, writes the placeholder artifact and completes', async () => {
    const { sm } = plane();
    const request = trainingRequest();
    const { TrainingJobArn } = await sm.CreateTrainingJob(request);
    expect(TrainingJobArn).toBe(`arn:aws:sagemaker:${REGION}:${ACCOUNT}:training-job/sft-run-1`);
    expect(sm.recordedTrainingRequests()).toEqual([request]);

    const job = await sm.DescribeTrainingJob({ TrainingJobName: 'sft-run-1' });
    expect(job.TrainingJobStatus).toBe('Completed');
    expect(job.SecondaryStatus).toBe('Completed');
    expect(job.ModelArtifacts?.S3ModelArtifacts).toBe(
      `s3://${BUCKET}/training/sft-run-1/output/model.tar.gz`,
    );
    expect(job.FinalMetricDataList).toEqual([]);
    expect(job.BillableTimeInSeconds).toBe(0);
    expect(job.HyperParameters).toEqual(request.HyperParameters);

    const bytes = await getBytes(BUCKET, 'training/sft-run-1/output/model.tar.gz');
    expect(listTarGz(bytes)).toEqual(['PLACEHOLDER.md', 'adapter_config.json']);
    const config = readTarGz(bytes).find((f) => f.name === 'adapter_config.json');
    expect(JSON.parse(config?.content.toString() ?? '').base_model_name_or_path).toBe(
      'meta-llama/Llama-3.2-1B',
    );
  });

  it('emits InProgress then Completed training job state changes, with tags as a map and epoch-ms times', async () => {
    const { sm, events } = plane();
    await sm.CreateTrainingJob(trainingRequest('sft-run-2'));
    expect(events.map((e) => [e['detail-type'], e.detail.TrainingJobStatus])).toEqual([
      ['SageMaker Training Job State Change', 'InProgress'],
      ['SageMaker Training Job State Change', 'Completed'],
    ]);
    const completed = events[1] as SageMakerEvent;
    expect(completed).toMatchObject({
      version: '0',
      source: 'aws.sagemaker',
      account: ACCOUNT,
      region: REGION,
      resources: [`arn:aws:sagemaker:${REGION}:${ACCOUNT}:training-job/sft-run-2`],
    });
    expect(completed.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(completed.detail.Tags).toEqual({ project: 'llmops' });
    // The clock ticks once per reading; the constructor read it first.
    expect(completed.detail.CreationTime).toBe(T0.getTime() + 1000);
    expect(typeof completed.detail.TrainingEndTime).toBe('number');
  });

  it('emits details the training job state change schema accepts', async () => {
    const { sm, events } = plane();
    await sm.CreateTrainingJob(trainingRequest('sft-run-3'));
    for (const event of events) {
      const parsed = sageMakerTrainingJobStateChangeEvent.safeParse(event);
      expect(parsed.error?.issues ?? []).toEqual([]);
    }
  });

  it('refuses an invalid request with a ValidationException listing every problem, and records nothing', async () => {
    const { sm, events } = plane();
    const error = await rejection(
      sm.CreateTrainingJob({ ...trainingRequest('bad'), RoleArn: 'role', StoppingCondition: {} }),
    );
    expect(error.name).toBe('ValidationException');
    expect(error.message).toMatch(/RoleArn/);
    expect(error.message).toMatch(/MaxWaitTimeInSeconds is required/);
    expect(sm.recordedTrainingRequests()).toEqual([]);
    expect(events).toEqual([]);
  });

  it('refuses a second job with the same name with ResourceInUse', async () => {
    const { sm } = plane();
    await sm.CreateTrainingJob(trainingRequest('dup'));
    expect((await rejection(sm.CreateTrainingJob(trainingRequest('dup')))).name).toBe('ResourceInUse');
  });

  it('fails the job, with the reason, when the artifact cannot be written', async () => {
    const { sm, events } = plane();
    await sm.CreateTrainingJob({
      ...trainingRequest('no-bucket'),
      OutputDataConfig: { S3OutputPath: 's3://missing-bucket/out' },
    });
    const job = await sm.DescribeTrainingJob({ TrainingJobName: 'no-bucket' });
    expect(job.TrainingJobStatus).toBe('Failed');
    expect(job.FailureReason).toMatch(/missing-bucket/);
    expect(events.at(-1)?.detail.TrainingJobStatus).toBe('Failed');
  });

  it('reports metrics only when told to, and refuses to stop a finished job', async () => {
    const { sm } = plane({ trainingMetrics: () => [{ MetricName: 'eval_loss', Value: 1.25 }] });
    await sm.CreateTrainingJob(trainingRequest('with-metrics'));
    const job = await sm.DescribeTrainingJob({ TrainingJobName: 'with-metrics' });
    expect(job.FinalMetricDataList?.map((m) => [m.MetricName, m.Value])).toEqual([['eval_loss', 1.25]]);
    const stop = await rejection(sm.StopTrainingJob({ TrainingJobName: 'with-metrics' }));
    expect(stop.name).toBe('ValidationException');
    expect((await rejection(sm.DescribeTrainingJob({ TrainingJobName: 'nope' }))).name).toBe(
      'ResourceNotFound',
    );
  });
});

describe('the createTrainingJob.sync stand-in', () => {
  it('returns the DescribeTrainingJob output with epoch-millisecond timestamps', async () => {
    const { sm } = plane();
    const sync = trainingJobSyncStandIn(sm);
    const output = await sync(JSON.parse(JSON.stringify(trainingRequest('sync-1'))));
    expect(output).toMatchObject({
      TrainingJobName: 'sync-1',
      TrainingJobStatus: 'Completed',
      ModelArtifacts: { S3ModelArtifacts: `s3://${BUCKET}/training/sync-1/output/model.tar.gz` },
      CreationTime: T0.getTime() + 1000,
    });
    expect(output).not.toHaveProperty('$metadata');
  });

  it('fails with SageMaker.AmazonSageMakerException when the request is refused', async () => {
    const sync = trainingJobSyncStandIn(plane().sm);
    const error = await rejection(sync({ ...trainingRequest('sync-2'), TrainingJobName: '_bad' }));
    expect(error.name).toBe('SageMaker.AmazonSageMakerException');
    expect(error.message).toMatch(/TrainingJobName/);
    expect(error.message).toMatch(/Error Code: ValidationException/);
  });

  it('fails with States.TaskFailed when the job fails', async () => {
    const sync = trainingJobSyncStandIn(plane({ failTraining: () => 'AlgorithmError: out of memory' }).sm);
    const error = await rejection(sync({ ...trainingRequest('sync-3') }));
    expect(error.name).toBe('States.TaskFailed');
    expect(JSON.parse(error.message)).toMatchObject({
      TrainingJobStatus: 'Failed',
      FailureReason: 'AlgorithmError: out of memory',
    });
  });
});

describe('LocalSageMaker model registry', () => {
  const inference = {
    Containers: [
      { Image: 'vllm:latest', ModelDataUrl: `s3://${BUCKET}/training/sft-run-1/output/model.tar.gz` },
    ],
    SupportedContentTypes: ['application/json'],
    SupportedResponseMIMETypes: ['application/json'],
  };

  it('numbers versions per group and lowercases the group in the ARN', async () => {
    const { sm } = plane();
    const first = await sm.CreateModelPackage({
      ModelPackageGroupName: 'Chat-Adapters',
      InferenceSpecification: inference,
    });
    const second = await sm.CreateModelPackage({
      ModelPackageGroupName: 'Chat-Adapters',
      InferenceSpecification: inference,
    });
    expect(first.ModelPackageArn).toBe(
      `arn:aws:sagemaker:${REGION}:${ACCOUNT}:model-package/chat-adapters/1`,
    );
    expect(second.ModelPackageArn).toBe(
      `arn:aws:sagemaker:${REGION}:${ACCOUNT}:model-package/chat-adapters/2`,
    );
    await sm.CreateModelPackageGroup({ ModelPackageGroupName: 'other' });
    const other = await sm.CreateModelPackage({ ModelPackageGroupName: 'other' });
    expect(other.ModelPackageArn).toMatch(/model-package\/other\/1$/);
  });

  it('refuses a package in a group that does not exist', async () => {
    const error = await rejection(plane().sm.CreateModelPackage({ ModelPackageGroupName: 'nope' }));
    expect(error.name).toBe('ValidationException');
    expect(error.message).toMatch(/nope/);
  });

  it('keeps what was registered and defaults approval to PendingManualApproval', async () => {
    const { sm } = plane();
    const { ModelPackageArn } = await sm.CreateModelPackage({
      ModelPackageGroupName: 'Chat-Adapters',
      InferenceSpecification: inference,
      CustomerMetadataProperties: { eval_score: '0.91' },
      ModelMetrics: {
        ModelQuality: { Statistics: { ContentType: 'application/json', S3Uri: 's3://m/stats.json' } },
      },
      Tags: [{ Key: 'stage', Value: 'candidate' }],
    });
    const pkg = await sm.DescribeModelPackage({ ModelPackageName: ModelPackageArn });
    expect(pkg).toMatchObject({
      ModelPackageGroupName: 'Chat-Adapters',
      ModelPackageVersion: 1,
      ModelPackageStatus: 'Completed',
      ModelApprovalStatus: 'PendingManualApproval',
      InferenceSpecification: inference,
      CustomerMetadataProperties: { eval_score: '0.91' },
    });
    expect(pkg.ModelMetrics?.ModelQuality?.Statistics?.S3Uri).toBe('s3://m/stats.json');
    expect((await sm.ListTags({ ResourceArn: ModelPackageArn })).Tags).toEqual([
      { Key: 'stage', Value: 'candidate' },
    ]);
  });

  it('lists a group sorted by creation time, either way', async () => {
    const { sm } = plane();
    for (let i = 0; i < 3; i++) await sm.CreateModelPackage({ ModelPackageGroupName: 'Chat-Adapters' });
    const ascending = await sm.ListModelPackages({ ModelPackageGroupName: 'Chat-Adapters' });
    expect(ascending.ModelPackageSummaryList?.map((p) => p.ModelPackageVersion)).toEqual([1, 2, 3]);
    const descending = await sm.ListModelPackages({
      ModelPackageGroupName: 'Chat-Adapters',
      SortOrder: 'Descending',
      MaxResults: 2,
    });
    expect(descending.ModelPackageSummaryList?.map((p) => p.ModelPackageVersion)).toEqual([3, 2]);
    const rest = await sm.ListModelPackages({
      ModelPackageGroupName: 'Chat-Adapters',
      SortOrder: 'Descending',
      NextToken: descending.NextToken,
    });
    expect(rest.ModelPackageSummaryList?.map((p) => p.ModelPackageVersion)).toEqual([1]);
  });

  it('emits a model package state change on creation and on each approval change, not on other updates', async () => {
    const { sm, events } = plane();
    const { ModelPackageArn } = await sm.CreateModelPackage({
      ModelPackageGroupName: 'Chat-Adapters',
      InferenceSpecification: inference,
      CustomerMetadataProperties: { a: '1' },
    });
    await sm.UpdateModelPackage({ ModelPackageArn, CustomerMetadataProperties: { b: '2' } });
    await sm.UpdateModelPackage({
      ModelPackageArn,
      ModelApprovalStatus: 'Approved',
      ApprovalDescription: 'passed the gate',
    });
    await sm.UpdateModelPackage({ ModelPackageArn, ModelApprovalStatus: 'Approved' });
    expect(events.map((e) => e.detail.ModelApprovalStatus)).toEqual(['PendingManualApproval', 'Approved']);
    const approved = events[1] as SageMakerEvent;
    expect(approved['detail-type']).toBe('SageMaker Model Package State Change');
    expect(approved.resources).toEqual([ModelPackageArn]);
    expect(approved.detail).toMatchObject({
      ModelPackageGroupName: 'Chat-Adapters',
      ModelPackageVersion: 1,
      ModelPackageArn,
      ModelPackageName: 'Chat-Adapters',
      ModelPackageStatus: 'Completed',
      ApprovalDescription: 'passed the gate',
      InferenceSpecification: inference,
      CustomerMetadataProperties: { a: '1', b: '2' },
      Tags: {},
    });
    expect(approved.detail.CreationTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    for (const event of events) {
      const parsed = sageMakerModelPackageStateChangeEvent.safeParse(event);
      expect(parsed.error?.issues ?? []).toEqual([]);
    }
  });
});

describe('LocalSageMaker models, endpoints and inference components', () => {
  it('creates, describes and deletes a model, answering a missing one as SageMaker does', async () => {
    const { sm } = plane();
    const created = await sm.CreateModel({
      ModelName: 'Adapter-Model',
      PrimaryContainer: { Image: 'vllm:latest', ModelDataUrl: 's3://m/model.tar.gz' },
      ExecutionRoleArn: `arn:aws:iam::${ACCOUNT}:role/Exec`,
    });
    expect(created.ModelArn).toBe(`arn:aws:sagemaker:${REGION}:${ACCOUNT}:model/adapter-model`);
    expect((await sm.DescribeModel({ ModelName: 'Adapter-Model' })).PrimaryContainer?.ModelDataUrl).toBe(
      's3://m/model.tar.gz',
    );
    expect(
      (await rejection(sm.CreateModel({ ModelName: 'Adapter-Model', PrimaryContainer: { Image: 'x' } })))
        .name,
    ).toBe('ValidationException');
    await sm.DeleteModel({ ModelName: 'Adapter-Model' });
    const missing = await rejection(sm.DescribeModel({ ModelName: 'Adapter-Model' }));
    expect(missing.name).toBe('ValidationException');
    expect(missing.message).toMatch(/Could not find model/);
  });

  it('describes a declared endpoint InService with its variants', async () => {
    const endpoint = await plane().sm.DescribeEndpoint({ EndpointName: 'llm-endpoint' });
    expect(endpoint).toMatchObject({
      EndpointName: 'llm-endpoint',
      EndpointStatus: 'InService',
      EndpointConfigName: 'llm-endpoint',
      ProductionVariants: [{ VariantName: 'AllTraffic', CurrentInstanceCount: 1 }],
    });
  });

  it('puts an adapter component InService at once and records its artifact URL', async () => {
    const { sm } = plane();
    await sm.CreateInferenceComponent({
      InferenceComponentName: 'adapter-v1',
      EndpointName: 'llm-endpoint',
      VariantName: 'AllTraffic',
      Specification: {
        BaseInferenceComponentName: 'base-llm',
        Container: { ArtifactUrl: `s3://${BUCKET}/training/sft-run-1/output/model.tar.gz` },
      },
    });
    const ic = await sm.DescribeInferenceComponent({ InferenceComponentName: 'adapter-v1' });
    expect(ic).toMatchObject({
      InferenceComponentStatus: 'InService',
      EndpointName: 'llm-endpoint',
      VariantName: 'AllTraffic',
      RuntimeConfig: { DesiredCopyCount: 1, CurrentCopyCount: 1 },
      Specification: {
        BaseInferenceComponentName: 'base-llm',
        Container: { ArtifactUrl: `s3://${BUCKET}/training/sft-run-1/output/model.tar.gz` },
      },
    });
    expect(sm.recordedInferenceComponentRequests()[0]?.Specification?.Container?.ArtifactUrl).toMatch(
      /model\.tar\.gz$/,
    );
    const base = await sm.DescribeInferenceComponent({ InferenceComponentName: 'base-llm' });
    expect(base.Specification?.Container?.DeployedImage?.SpecifiedImage).toBe('vllm:latest');
  });

  it('refuses an adapter whose base is missing or on another endpoint, and a component on a missing endpoint', async () => {
    const { sm } = plane();
    const spec = { BaseInferenceComponentName: 'base-llm', Container: { ArtifactUrl: 's3://m/a.tar.gz' } };
    const otherEndpoint = await rejection(
      sm.CreateInferenceComponent({
        InferenceComponentName: 'a1',
        EndpointName: 'other-endpoint',
        Specification: spec,
      }),
    );
    expect(otherEndpoint.name).toBe('ValidationException');
    expect(otherEndpoint.message).toMatch(/must share an endpoint/);
    const noBase = await rejection(
      sm.CreateInferenceComponent({
        InferenceComponentName: 'a2',
        EndpointName: 'llm-endpoint',
        Specification: { ...spec, BaseInferenceComponentName: 'ghost' },
      }),
    );
    expect(noBase.message).toMatch(/ghost/);
    const noEndpoint = await rejection(
      sm.CreateInferenceComponent({
        InferenceComponentName: 'a3',
        EndpointName: 'nowhere',
        Specification: spec,
      }),
    );
    expect(noEndpoint.message).toMatch(/Could not find endpoint/);
  });

  it('sets a base component’s copies (a warm-up from zero), and refuses copies of an adapter', async () => {
    const { sm } = plane();
    await sm.UpdateInferenceComponentRuntimeConfig({
      InferenceComponentName: 'base-llm',
      DesiredRuntimeConfig: { CopyCount: 0 },
    });
    expect(
      (await sm.DescribeInferenceComponent({ InferenceComponentName: 'base-llm' })).RuntimeConfig,
    ).toEqual({
      DesiredCopyCount: 0,
      CurrentCopyCount: 0,
    });
    await sm.UpdateInferenceComponentRuntimeConfig({
      InferenceComponentName: 'base-llm',
      DesiredRuntimeConfig: { CopyCount: 1 },
    });
    expect(
      (await sm.DescribeInferenceComponent({ InferenceComponentName: 'base-llm' })).RuntimeConfig
        ?.CurrentCopyCount,
    ).toBe(1);
    await sm.CreateInferenceComponent({
      InferenceComponentName: 'adapter-x',
      EndpointName: 'llm-endpoint',
      Specification: {
        BaseInferenceComponentName: 'base-llm',
        Container: { ArtifactUrl: 's3://m/x.tar.gz' },
      },
    });
    const refused = await rejection(
      sm.UpdateInferenceComponentRuntimeConfig({
        InferenceComponentName: 'adapter-x',
        DesiredRuntimeConfig: { CopyCount: 2 },
      }),
    );
    expect(refused).toMatchObject({ name: 'ValidationException', message: expect.stringMatching(/adapter/) });
  });

  it('updates copy counts and specification, lists with filters, and deletes adapters before their base', async () => {
    const { sm } = plane();
    await sm.CreateInferenceComponent({
      InferenceComponentName: 'adapter-v1',
      EndpointName: 'llm-endpoint',
      Specification: {
        BaseInferenceComponentName: 'base-llm',
        Container: { ArtifactUrl: 's3://m/v1.tar.gz' },
      },
    });
    await sm.UpdateInferenceComponent({
      InferenceComponentName: 'base-llm',
      RuntimeConfig: { CopyCount: 2 },
    });
    await sm.UpdateInferenceComponent({
      InferenceComponentName: 'adapter-v1',
      Specification: {
        BaseInferenceComponentName: 'base-llm',
        Container: { ArtifactUrl: 's3://m/v2.tar.gz' },
      },
    });
    expect(
      (await sm.DescribeInferenceComponent({ InferenceComponentName: 'base-llm' })).RuntimeConfig,
    ).toEqual({
      DesiredCopyCount: 2,
      CurrentCopyCount: 2,
    });
    expect(
      (await sm.DescribeInferenceComponent({ InferenceComponentName: 'adapter-v1' })).Specification?.Container
        ?.ArtifactUrl,
    ).toBe('s3://m/v2.tar.gz');

    const listed = await sm.ListInferenceComponents({
      EndpointNameEquals: 'llm-endpoint',
      SortBy: 'Name',
      SortOrder: 'Ascending',
    });
    expect(listed.InferenceComponents?.map((c) => c.InferenceComponentName)).toEqual([
      'adapter-v1',
      'base-llm',
    ]);
    expect(
      (await sm.ListInferenceComponents({ EndpointNameEquals: 'other-endpoint' })).InferenceComponents,
    ).toEqual([]);
    expect((await sm.ListInferenceComponents({ StatusEquals: 'Creating' })).InferenceComponents).toEqual([]);

    const refused = await rejection(sm.DeleteInferenceComponent({ InferenceComponentName: 'base-llm' }));
    expect(refused.name).toBe('ValidationException');
    expect(refused.message).toMatch(/adapter-v1/);
    await sm.DeleteInferenceComponent({ InferenceComponentName: 'adapter-v1' });
    await sm.DeleteInferenceComponent({ InferenceComponentName: 'base-llm' });
    expect((await sm.ListInferenceComponents({})).InferenceComponents).toEqual([]);
  });

  it('adds and lists tags on any resource it holds and refuses unknown ARNs', async () => {
    const { sm } = plane();
    const arn = `arn:aws:sagemaker:${REGION}:${ACCOUNT}:inference-component/base-llm`;
    await sm.AddTags({ ResourceArn: arn, Tags: [{ Key: 'a', Value: '1' }] });
    await sm.AddTags({
      ResourceArn: arn,
      Tags: [
        { Key: 'a', Value: '2' },
        { Key: 'b', Value: '3' },
      ],
    });
    expect((await sm.ListTags({ ResourceArn: arn })).Tags).toEqual([
      { Key: 'a', Value: '2' },
      { Key: 'b', Value: '3' },
    ]);
    const unknown = await rejection(
      sm.ListTags({ ResourceArn: `arn:aws:sagemaker:${REGION}:${ACCOUNT}:model/ghost` }),
    );
    expect(unknown.name).toBe('ResourceNotFound');
  });

  it('names an operation it does not implement', async () => {
    const error = await rejection(plane().sm.call('CreateEndpoint', {}));
    expect(error.name).toBe('UnknownOperationException');
    expect(error.message).toMatch(/CreateEndpoint/);
  });
});
