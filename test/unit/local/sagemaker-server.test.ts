import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateModelPackageCommand,
  CreateTrainingJobCommand,
  DescribeInferenceComponentCommand,
  DescribeModelPackageCommand,
  DescribeTrainingJobCommand,
  ListInferenceComponentsCommand,
  SageMakerClient,
  SageMakerServiceException,
  UpdateModelPackageCommand,
} from '@aws-sdk/client-sagemaker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, type Emulators, startEmulators } from '#infra/local/emulators.ts';
import {
  LocalSageMaker,
  type LocalSageMakerServer,
  type SageMakerEvent,
  startLocalSageMaker,
} from '#infra/local/sagemaker/index.ts';

const ACCOUNT = '123456789012';
const CREATED = new Date('2025-03-04T05:06:07.250Z');

let emulators: Emulators;
let s3: S3Client;
let server: LocalSageMakerServer;
let client: SageMakerClient;
const events: SageMakerEvent[] = [];

beforeAll(async () => {
  emulators = await startEmulators();
  s3 = createS3Client(emulators.s3Endpoint);
  await s3.send(new CreateBucketCommand({ Bucket: 'models' }));
  const plane = new LocalSageMaker({
    region: 'us-east-1',
    account: ACCOUNT,
    s3,
    emit: async (event) => {
      events.push(event);
    },
    clock: () => CREATED,
    packageGroups: ['chat-adapters'],
    endpoints: [{ name: 'llm-endpoint', variants: ['AllTraffic'] }],
    inferenceComponents: [
      {
        name: 'base-llm',
        endpointName: 'llm-endpoint',
        variantName: 'AllTraffic',
        specification: { Container: { Image: 'vllm:latest' } },
        copyCount: 2,
      },
    ],
  });
  server = await startLocalSageMaker(plane);
  client = new SageMakerClient({
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  client?.destroy();
  s3?.destroy();
  await server?.close();
  await emulators?.stop();
});

describe('the local SageMaker endpoint, through the AWS SDK', () => {
  it('listens on 127.0.0.1', () => {
    expect(new URL(server.endpoint).hostname).toBe('127.0.0.1');
  });

  it('creates and describes a training job, with timestamps parsed back to Dates', async () => {
    const created = await client.send(
      new CreateTrainingJobCommand({
        TrainingJobName: 'sdk-job-1',
        RoleArn: `arn:aws:iam::${ACCOUNT}:role/TrainingRole`,
        AlgorithmSpecification: { TrainingImage: 'hf-training:latest', TrainingInputMode: 'File' },
        HyperParameters: { base_model: 'm' },
        OutputDataConfig: { S3OutputPath: 's3://models/out' },
        ResourceConfig: { InstanceType: 'ml.g5.xlarge', InstanceCount: 1, VolumeSizeInGB: 30 },
        StoppingCondition: { MaxRuntimeInSeconds: 600 },
      }),
    );
    expect(created.TrainingJobArn).toBe(`arn:aws:sagemaker:us-east-1:${ACCOUNT}:training-job/sdk-job-1`);
    const job = await client.send(new DescribeTrainingJobCommand({ TrainingJobName: 'sdk-job-1' }));
    expect(job.TrainingJobStatus).toBe('Completed');
    expect(job.ModelArtifacts?.S3ModelArtifacts).toBe('s3://models/out/sdk-job-1/output/model.tar.gz');
    expect(job.CreationTime).toBeInstanceOf(Date);
    expect(job.CreationTime?.getTime()).toBe(CREATED.getTime());
    expect(job.ResourceConfig?.VolumeSizeInGB).toBe(30);
    expect(events.filter((e) => e['detail-type'] === 'SageMaker Training Job State Change')).toHaveLength(2);
  });

  it('registers a model package and approves it', async () => {
    const { ModelPackageArn } = await client.send(
      new CreateModelPackageCommand({
        ModelPackageGroupName: 'chat-adapters',
        InferenceSpecification: {
          Containers: [
            { Image: 'vllm:latest', ModelDataUrl: 's3://models/out/sdk-job-1/output/model.tar.gz' },
          ],
          SupportedContentTypes: ['application/json'],
          SupportedResponseMIMETypes: ['application/json'],
        },
        CustomerMetadataProperties: { eval_score: '0.9' },
      }),
    );
    expect(ModelPackageArn).toBe(`arn:aws:sagemaker:us-east-1:${ACCOUNT}:model-package/chat-adapters/1`);
    const updated = await client.send(
      new UpdateModelPackageCommand({
        ModelPackageArn,
        ModelApprovalStatus: 'Approved',
        ApprovalDescription: 'ok',
      }),
    );
    expect(updated.ModelPackageArn).toBe(ModelPackageArn);
    const pkg = await client.send(new DescribeModelPackageCommand({ ModelPackageName: ModelPackageArn }));
    expect(pkg).toMatchObject({
      ModelApprovalStatus: 'Approved',
      ApprovalDescription: 'ok',
      ModelPackageVersion: 1,
    });
    expect(pkg.CreationTime).toBeInstanceOf(Date);
    expect(events.at(-1)?.detail.ModelApprovalStatus).toBe('Approved');
  });

  it('describes and lists inference components', async () => {
    const ic = await client.send(
      new DescribeInferenceComponentCommand({ InferenceComponentName: 'base-llm' }),
    );
    expect(ic).toMatchObject({
      InferenceComponentStatus: 'InService',
      EndpointName: 'llm-endpoint',
      RuntimeConfig: { DesiredCopyCount: 2, CurrentCopyCount: 2 },
    });
    expect(ic.Specification?.Container?.DeployedImage?.ResolutionTime).toBeInstanceOf(Date);
    const listed = await client.send(
      new ListInferenceComponentsCommand({ EndpointNameEquals: 'llm-endpoint' }),
    );
    expect(listed.InferenceComponents?.map((c) => c.InferenceComponentName)).toEqual(['base-llm']);
  });

  it('surfaces a refused request as the SDK ValidationException with the message', async () => {
    const error = await client
      .send(
        new CreateTrainingJobCommand({
          TrainingJobName: 'bad_name',
          RoleArn: 'not-a-role',
          AlgorithmSpecification: { TrainingImage: 'x', TrainingInputMode: 'File' },
          OutputDataConfig: { S3OutputPath: 's3://models/out' },
          ResourceConfig: { InstanceType: 'ml.g5.xlarge', InstanceCount: 1, VolumeSizeInGB: 30 },
          StoppingCondition: { MaxRuntimeInSeconds: 600 },
        }),
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(SageMakerServiceException);
    expect((error as Error).name).toBe('ValidationException');
    expect((error as Error).message).toMatch(/TrainingJobName 'bad_name'/);
    expect((error as Error).message).toMatch(/RoleArn/);
    expect((error as SageMakerServiceException).$metadata.httpStatusCode).toBe(400);
  });

  it('answers a missing training job with ResourceNotFound', async () => {
    const error = await client.send(new DescribeTrainingJobCommand({ TrainingJobName: 'ghost' })).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.name).toBe('ResourceNotFound');
  });

  it('names an operation the stand-in does not implement', async () => {
    const response = await fetch(server.endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'SageMaker.CreateEndpoint' },
      body: '{}',
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    const body = (await response.json()) as { __type: string; message: string };
    expect(body.__type).toBe('UnknownOperationException');
    expect(body.message).toMatch(/CreateEndpoint/);
  });
});
