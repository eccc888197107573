import { describe, expect, it } from 'vitest';
import type { SdkCall } from '#aws/sdk-call-hooks.ts';
import { type ActionEnvironment, iamRequestsFor, UnmappedSdkCallError } from '#infra/local/iam/actions.ts';

const env: ActionEnvironment = {
  partition: 'aws',
  region: 'us-east-1',
  account: '123456789012',
  bucketKey: () => undefined,
};
const SM = 'arn:aws:sagemaker:us-east-1:123456789012';
const ROLE = 'arn:aws:iam::123456789012:role/SageMakerExec';

function requests(commandName: string, input: Record<string, unknown>) {
  return iamRequestsFor(
    { clientName: 'SageMakerClient', commandName: `${commandName}Command`, input } satisfies SdkCall,
    env,
  );
}
const actions = (list: ReturnType<typeof requests>) => list.map((r) => `${r.action} ${r.resource}`);

describe('IAM requests of SageMaker control-plane calls', () => {
  it('creates a training job on its lowercased ARN, passes its role, and tags on create only with tags', () => {
    expect(actions(requests('CreateTrainingJob', { TrainingJobName: 'SFT-Run', RoleArn: ROLE }))).toEqual([
      `sagemaker:CreateTrainingJob ${SM}:training-job/sft-run`,
      `iam:PassRole ${ROLE}`,
    ]);
    const tagged = requests('CreateTrainingJob', {
      TrainingJobName: 'run',
      RoleArn: ROLE,
      Tags: [{ Key: 'a', Value: 'b' }],
    });
    expect(actions(tagged)).toEqual([
      `sagemaker:CreateTrainingJob ${SM}:training-job/run`,
      `sagemaker:AddTags ${SM}:training-job/run`,
      `iam:PassRole ${ROLE}`,
    ]);
    expect(tagged[2]?.context).toEqual({ 'iam:PassedToService': 'sagemaker.amazonaws.com' });
  });

  it('describes and stops a training job on its ARN', () => {
    expect(actions(requests('DescribeTrainingJob', { TrainingJobName: 'run' }))).toEqual([
      `sagemaker:DescribeTrainingJob ${SM}:training-job/run`,
    ]);
    expect(actions(requests('StopTrainingJob', { TrainingJobName: 'run' }))).toEqual([
      `sagemaker:StopTrainingJob ${SM}:training-job/run`,
    ]);
  });

  it("registers a version on the group's packages, with the approval status as a condition key", () => {
    const created = requests('CreateModelPackage', {
      ModelPackageGroupName: 'Chat-Adapters',
      ModelApprovalStatus: 'PendingManualApproval',
    });
    expect(actions(created)).toEqual([`sagemaker:CreateModelPackage ${SM}:model-package/chat-adapters/*`]);
    expect(created[0]?.context).toEqual({ 'sagemaker:ModelApprovalStatus': 'PendingManualApproval' });
    expect(
      actions(
        requests('CreateModelPackage', { ModelPackageGroupName: `${SM}:model-package-group/chat-adapters` }),
      ),
    ).toEqual([`sagemaker:CreateModelPackage ${SM}:model-package/chat-adapters/*`]);
  });

  it('describes and updates a package on its ARN, and lists packages on *', () => {
    const arn = `${SM}:model-package/chat-adapters/3`;
    expect(actions(requests('DescribeModelPackage', { ModelPackageName: arn }))).toEqual([
      `sagemaker:DescribeModelPackage ${arn}`,
    ]);
    const update = requests('UpdateModelPackage', { ModelPackageArn: arn, ModelApprovalStatus: 'Approved' });
    expect(actions(update)).toEqual([`sagemaker:UpdateModelPackage ${arn}`]);
    expect(update[0]?.context).toEqual({ 'sagemaker:ModelApprovalStatus': 'Approved' });
    expect(actions(requests('ListModelPackages', { ModelPackageGroupName: 'chat-adapters' }))).toEqual([
      'sagemaker:ListModelPackages *',
    ]);
  });

  it('creates a model on its ARN and passes the execution role; describes and deletes it', () => {
    expect(actions(requests('CreateModel', { ModelName: 'Adapter-V1', ExecutionRoleArn: ROLE }))).toEqual([
      `sagemaker:CreateModel ${SM}:model/adapter-v1`,
      `iam:PassRole ${ROLE}`,
    ]);
    expect(actions(requests('DescribeModel', { ModelName: 'm' }))).toEqual([
      `sagemaker:DescribeModel ${SM}:model/m`,
    ]);
    expect(actions(requests('DeleteModel', { ModelName: 'm' }))).toEqual([
      `sagemaker:DeleteModel ${SM}:model/m`,
    ]);
  });

  it('authorizes inference component calls on the component, listing on *, and endpoints on the endpoint', () => {
    expect(
      actions(
        requests('CreateInferenceComponent', {
          InferenceComponentName: 'Adapter',
          Tags: [{ Key: 'k', Value: 'v' }],
        }),
      ),
    ).toEqual([
      `sagemaker:CreateInferenceComponent ${SM}:inference-component/adapter`,
      `sagemaker:AddTags ${SM}:inference-component/adapter`,
    ]);
    for (const command of ['Describe', 'Update', 'Delete']) {
      expect(actions(requests(`${command}InferenceComponent`, { InferenceComponentName: 'ic' }))).toEqual([
        `sagemaker:${command}InferenceComponent ${SM}:inference-component/ic`,
      ]);
    }
    expect(actions(requests('ListInferenceComponents', { EndpointNameEquals: 'e' }))).toEqual([
      'sagemaker:ListInferenceComponents *',
    ]);
    expect(actions(requests('DescribeEndpoint', { EndpointName: 'LLM-Endpoint' }))).toEqual([
      `sagemaker:DescribeEndpoint ${SM}:endpoint/llm-endpoint`,
    ]);
  });

  it('tags and lists tags on the resource ARN given', () => {
    const arn = `${SM}:model-package/chat-adapters/1`;
    expect(actions(requests('AddTags', { ResourceArn: arn, Tags: [] }))).toEqual([
      `sagemaker:AddTags ${arn}`,
    ]);
    expect(actions(requests('ListTags', { ResourceArn: arn }))).toEqual([`sagemaker:ListTags ${arn}`]);
  });

  it('refuses a SageMaker command it does not map, and one missing the name it needs', () => {
    expect(() => requests('CreateEndpoint', { EndpointName: 'e' })).toThrow(UnmappedSdkCallError);
    expect(() => requests('DescribeTrainingJob', {})).toThrow(/no TrainingJobName/);
  });
});
