import type { CreateTrainingJobRequest } from '@aws-sdk/client-sagemaker';
import { describe, expect, it } from 'vitest';
import { validateCreateTrainingJob } from '#infra/local/sagemaker/training-limits.ts';

function valid(): CreateTrainingJobRequest {
  return {
    TrainingJobName: 'finetune-2024-01-01-abc',
    RoleArn: 'arn:aws:iam::123456789012:role/service-role/TrainingRole',
    AlgorithmSpecification: {
      TrainingImage: '763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-training:2.1',
      TrainingInputMode: 'File',
      MetricDefinitions: [{ Name: 'eval_loss', Regex: "'eval_loss': ([0-9.]+)" }],
    },
    HyperParameters: { base_model: 'meta-llama/Llama-3.2-1B', epochs: '3' },
    InputDataConfig: [
      {
        ChannelName: 'train',
        DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://datasets/sft/train/' } },
      },
    ],
    OutputDataConfig: { S3OutputPath: 's3://models/output' },
    ResourceConfig: { InstanceType: 'ml.g5.2xlarge', InstanceCount: 1, VolumeSizeInGB: 100 },
    StoppingCondition: { MaxRuntimeInSeconds: 3600, MaxWaitTimeInSeconds: 7200 },
    EnableManagedSpotTraining: true,
    CheckpointConfig: { S3Uri: 's3://models/checkpoints/run-1', LocalPath: '/opt/ml/checkpoints' },
    Tags: [{ Key: 'project', Value: 'llmops' }],
  };
}

describe('validateCreateTrainingJob', () => {
  it('accepts a complete managed-spot request with checkpoints', () => {
    expect(validateCreateTrainingJob(valid())).toEqual([]);
  });

  it('accepts the request as Step Functions renders it: parsed PascalCase JSON with numbers as numbers', () => {
    const rendered = JSON.parse(JSON.stringify(valid())) as Record<string, unknown>;
    expect(validateCreateTrainingJob(rendered)).toEqual([]);
  });

  it('reports every problem at once, each naming its field', () => {
    const problems = validateCreateTrainingJob({
      ...valid(),
      TrainingJobName: '-bad_name',
      RoleArn: 'arn:aws:iam::12:user/x',
      OutputDataConfig: { S3OutputPath: 'ftp://x' },
      ResourceConfig: { InstanceType: 'g5.2xlarge' as never, InstanceCount: 0, VolumeSizeInGB: 0 },
    });
    expect(problems.length).toBeGreaterThanOrEqual(6);
    for (const field of [
      'TrainingJobName',
      'RoleArn',
      'OutputDataConfig.S3OutputPath',
      'ResourceConfig.InstanceType',
      'ResourceConfig.InstanceCount',
      'ResourceConfig.VolumeSizeInGB',
    ]) {
      expect(problems.some((p) => p.startsWith(field))).toBe(true);
    }
  });

  it('requires the name, role, algorithm, output, resources and stopping condition', () => {
    const problems = validateCreateTrainingJob({} as CreateTrainingJobRequest);
    expect(problems).toEqual(
      expect.arrayContaining([
        'TrainingJobName is required.',
        'RoleArn is required.',
        'AlgorithmSpecification is required.',
        'OutputDataConfig is required.',
        'ResourceConfig is required.',
        'StoppingCondition is required.',
      ]),
    );
  });

  it('refuses a 64-character job name and accepts a 63-character one', () => {
    expect(validateCreateTrainingJob({ ...valid(), TrainingJobName: 'a'.repeat(63) })).toEqual([]);
    expect(validateCreateTrainingJob({ ...valid(), TrainingJobName: 'a'.repeat(64) })[0]).toMatch(
      /^TrainingJobName/,
    );
  });

  it('needs a training image or an algorithm name, a known input mode and at most 40 metric definitions', () => {
    const problems = validateCreateTrainingJob({
      ...valid(),
      AlgorithmSpecification: {
        TrainingInputMode: 'Stream' as never,
        MetricDefinitions: Array.from({ length: 41 }, (_, i) => ({ Name: `m${i}`, Regex: '' })),
      },
    });
    expect(problems).toContain('AlgorithmSpecification needs either TrainingImage or AlgorithmName.');
    expect(problems.some((p) => p.includes('TrainingInputMode must be one of File, Pipe, FastFile'))).toBe(
      true,
    );
    expect(problems.some((p) => p.includes('at most 40 metrics (got 41)'))).toBe(true);
    expect(problems.some((p) => p.startsWith('AlgorithmSpecification.MetricDefinitions[0].Regex'))).toBe(
      true,
    );
  });

  it('holds hyperparameters to 100 string entries with values of at most 2500 characters', () => {
    const many = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, 'v']));
    expect(validateCreateTrainingJob({ ...valid(), HyperParameters: many })).toEqual([
      'HyperParameters allows at most 100 entries (got 101).',
    ]);
    const rendered = {
      ...valid(),
      HyperParameters: { epochs: 3, long: 'x'.repeat(2501) },
    } as unknown as Record<string, unknown>;
    const problems = validateCreateTrainingJob(rendered);
    expect(problems.some((p) => p.startsWith("HyperParameters['epochs'] must be a string"))).toBe(true);
    expect(problems.some((p) => p.startsWith("HyperParameters['long'] must be at most 2500"))).toBe(true);
  });

  it('checks channels: count, unique names, name pattern, S3 URI and data type', () => {
    const channel = (name: string, uri = 's3://b/p', type = 'S3Prefix') => ({
      ChannelName: name,
      DataSource: { S3DataSource: { S3Uri: uri, S3DataType: type as never } },
    });
    const problems = validateCreateTrainingJob({
      ...valid(),
      InputDataConfig: [channel('train'), channel('train'), channel('bad name', 'http://x', 'Folder')],
    });
    expect(problems.some((p) => p.includes("'train' is used by more than one channel"))).toBe(true);
    expect(problems.some((p) => p.startsWith('InputDataConfig[2].ChannelName'))).toBe(true);
    expect(problems.some((p) => p.startsWith('InputDataConfig[2].DataSource.S3DataSource.S3Uri'))).toBe(true);
    expect(problems.some((p) => p.startsWith('InputDataConfig[2].DataSource.S3DataSource.S3DataType'))).toBe(
      true,
    );
    const tooMany = Array.from({ length: 21 }, (_, i) => channel(`c${i}`));
    expect(validateCreateTrainingJob({ ...valid(), InputDataConfig: tooMany })).toEqual([
      'InputDataConfig must have 1-20 channels (got 21).',
    ]);
  });

  it('requires MaxWaitTimeInSeconds with managed spot training, no shorter than the runtime', () => {
    expect(
      validateCreateTrainingJob({ ...valid(), StoppingCondition: { MaxRuntimeInSeconds: 3600 } }),
    ).toEqual(['StoppingCondition.MaxWaitTimeInSeconds is required with EnableManagedSpotTraining.']);
    expect(
      validateCreateTrainingJob({
        ...valid(),
        StoppingCondition: { MaxRuntimeInSeconds: 3600, MaxWaitTimeInSeconds: 1800 },
      }),
    ).toEqual([
      'StoppingCondition.MaxWaitTimeInSeconds (1800) must be at least StoppingCondition.MaxRuntimeInSeconds (3600).',
    ]);
    expect(
      validateCreateTrainingJob({
        ...valid(),
        StoppingCondition: { MaxRuntimeInSeconds: 2_419_201, MaxWaitTimeInSeconds: 2_419_201 },
      }),
    ).toHaveLength(2);
  });

  it('checks the checkpoint URI and local path length', () => {
    const problems = validateCreateTrainingJob({
      ...valid(),
      CheckpointConfig: { S3Uri: 'checkpoints', LocalPath: `/${'p'.repeat(4096)}` },
    });
    expect(problems.some((p) => p.startsWith('CheckpointConfig.S3Uri'))).toBe(true);
    expect(problems.some((p) => p.startsWith('CheckpointConfig.LocalPath must be at most 4096'))).toBe(true);
  });

  it('holds tags to 50, keys to 1-128 and values to 256 characters', () => {
    const tags = Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
    expect(validateCreateTrainingJob({ ...valid(), Tags: tags })).toEqual([
      'Tags allows at most 50 tags (got 51).',
    ]);
    const problems = validateCreateTrainingJob({
      ...valid(),
      Tags: [
        { Key: '', Value: 'v' },
        { Key: 'k', Value: 'v'.repeat(257) },
      ],
    });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^Tags\[0\]\.Key must be a string of 1-128 characters/);
    expect(problems[1]).toMatch(/^Tags\[1\]\.Value must be at most 256 characters/);
  });

  it('checks KMS key lengths on the output and the volume', () => {
    const problems = validateCreateTrainingJob({
      ...valid(),
      OutputDataConfig: { S3OutputPath: 's3://models/output', KmsKeyId: 'k'.repeat(2049) },
      ResourceConfig: {
        InstanceType: 'ml.g5.2xlarge',
        InstanceCount: 1,
        VolumeSizeInGB: 1,
        VolumeKmsKeyId: 'k'.repeat(2049),
      },
    });
    expect(problems).toHaveLength(2);
  });
});
