import {
  DeleteInferenceComponentCommand,
  DescribeEndpointCommand,
  DescribeInferenceComponentCommand,
  DescribeModelPackageCommand,
  SageMakerClient,
  UpdateModelPackageCommand,
} from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { isNotFound, SageMakerServing } from '#aws/finetune/serving.ts';
import { errorOf } from '../../support/async.ts';

const sagemaker = mockClient(SageMakerClient);
const serving = new SageMakerServing(new SageMakerClient({}));

const ARN = 'arn:aws:sagemaker:us-east-1:123456789012:model-package/llmops-dev-support-assistant/4';
const ARTIFACT = 's3://artifacts/finetune/ft-4/output/model.tar.gz';
const notFound = (what: string) =>
  Object.assign(new Error(`Could not find ${what}.`), { name: 'ValidationException' });

beforeEach(() => {
  sagemaker.reset();
  sagemaker.on(DescribeInferenceComponentCommand).resolves({
    InferenceComponentName: 'ic-4',
    EndpointName: 'llm',
    InferenceComponentStatus: 'InService',
    Specification: { Container: { ArtifactUrl: ARTIFACT }, BaseInferenceComponentName: 'base' },
  } as never);
  sagemaker.on(DescribeModelPackageCommand).resolves({
    InferenceSpecification: { Containers: [{ Image: 'vllm', ModelDataUrl: ARTIFACT }] },
  } as never);
  sagemaker.on(DescribeEndpointCommand).resolves({ EndpointStatus: 'InService' } as never);
});

describe('isNotFound', () => {
  it('recognizes SageMaker answers that say the resource does not exist, and nothing else', () => {
    expect(isNotFound(Object.assign(new Error('x'), { name: 'ResourceNotFound' }))).toBe(true);
    expect(isNotFound(notFound('inference component "ic"'))).toBe(true);
    expect(isNotFound(Object.assign(new Error('bad name'), { name: 'ValidationException' }))).toBe(false);
    expect(isNotFound(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }))).toBe(false);
    expect(isNotFound(undefined)).toBe(false);
  });
});

describe('SageMakerServing', () => {
  it('describes a component: status, artifact, endpoint and base', async () => {
    expect(await serving.describeComponent('ic-4')).toEqual({
      name: 'ic-4',
      status: 'InService',
      artifactUrl: ARTIFACT,
      endpointName: 'llm',
      baseComponent: 'base',
    });
    sagemaker.on(DescribeInferenceComponentCommand).rejects(notFound('inference component "ic-9"'));
    expect(await serving.describeComponent('ic-9')).toBeUndefined();
  });

  it('deletes a component, and takes one already gone as absent; other errors pass through', async () => {
    sagemaker
      .on(DeleteInferenceComponentCommand)
      .resolvesOnce({})
      .rejectsOnce(notFound('inference component'));
    expect(await serving.deleteComponent('ic-4')).toBe('deleted');
    expect(await serving.deleteComponent('ic-4')).toBe('absent');
    sagemaker
      .on(DeleteInferenceComponentCommand)
      .rejects(Object.assign(new Error('t'), { name: 'ThrottlingException' }));
    expect(await errorOf(serving.deleteComponent('ic-4'))).toMatchObject({ name: 'ThrottlingException' });
  });

  it('rejects a package with a description SageMaker accepts (at most 1024 characters)', async () => {
    sagemaker.on(UpdateModelPackageCommand).resolves({});
    await serving.rejectPackage(ARN, `rolled back: ${'x'.repeat(2000)}`);
    const input = sagemaker.commandCalls(UpdateModelPackageCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ ModelPackageArn: ARN, ModelApprovalStatus: 'Rejected' });
    expect(input?.ApprovalDescription).toHaveLength(1024);
  });

  it('verifies a component that serves the package artifact on an endpoint in service', async () => {
    expect(await serving.verify('ic-4', ARN, 'llm')).toEqual({
      inferenceComponent: 'ic-4',
      status: 'InService',
      artifactUrl: ARTIFACT,
      expectedArtifactUrl: ARTIFACT,
      endpointStatus: 'InService',
      matches: true,
      problems: [],
    });
  });

  it('says what does not match: another artifact, a component not in service, an endpoint updating', async () => {
    sagemaker.on(DescribeInferenceComponentCommand).resolves({
      EndpointName: 'llm',
      InferenceComponentStatus: 'Updating',
      Specification: { Container: { ArtifactUrl: 's3://artifacts/other.tar.gz' } },
    } as never);
    sagemaker.on(DescribeEndpointCommand).resolves({ EndpointStatus: 'Updating' } as never);
    const result = await serving.verify('ic-4', ARN, 'llm');
    expect(result.matches).toBe(false);
    expect(result.problems).toEqual([
      'inference component ic-4 is Updating',
      `inference component ic-4 loads s3://artifacts/other.tar.gz, not ${ARTIFACT}`,
      'endpoint llm is Updating',
    ]);
  });

  it('does not match when the component is gone or the package names no artifact', async () => {
    sagemaker.on(DescribeInferenceComponentCommand).rejects(notFound('inference component "ic-4"'));
    sagemaker
      .on(DescribeModelPackageCommand)
      .resolves({ InferenceSpecification: { Containers: [] } } as never);
    const result = await serving.verify('ic-4', ARN, 'llm');
    expect(result).toMatchObject({
      status: 'NotFound',
      artifactUrl: null,
      expectedArtifactUrl: null,
      matches: false,
    });
  });
});
