/**
 * The documented limits of SageMaker's CreateTrainingJob request (API reference: CreateTrainingJob and the
 * shapes it references), checked locally so that a request the stand-in accepts is one SageMaker accepts
 * too. Every problem is reported, each as a sentence naming the field and the limit.
 *
 * Input is either the SDK's `CreateTrainingJobRequest` or the JSON Step Functions renders for
 * `arn:aws:states:::sagemaker:createTrainingJob(.sync)` (the same PascalCase names, numbers as numbers):
 * nothing here assumes a value has the type it is declared with.
 */
import type { CreateTrainingJobRequest } from '@aws-sdk/client-sagemaker';

/** Patterns and bounds from the CreateTrainingJob API reference. */
export const TRAINING_LIMITS = {
  trainingJobName: /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/,
  roleArn: /^arn:aws[a-z-]*:iam::\d{12}:role\/?[a-zA-Z_0-9+=,.@\-_/]+$/,
  roleArnLength: { min: 20, max: 2048 },
  s3Uri: /^(https|s3):\/\/([^/]+)\/?(.*)$/,
  s3UriMaxLength: 1024,
  channelName: /^[A-Za-z0-9.\-_]+$/,
  channelNameMaxLength: 64,
  channels: { min: 1, max: 20 },
  trainingImageMaxLength: 255,
  trainingInputModes: ['File', 'Pipe', 'FastFile'],
  s3DataTypes: ['ManifestFile', 'S3Prefix', 'AugmentedManifestFile'],
  metricDefinitions: 40,
  metricNameLength: { min: 1, max: 255 },
  metricRegexLength: { min: 1, max: 500 },
  hyperParameters: 100,
  hyperParameterKeyMaxLength: 256,
  hyperParameterValueMaxLength: 2500,
  kmsKeyIdMaxLength: 2048,
  maxRuntimeInSeconds: { min: 1, max: 2_419_200 },
  checkpointLocalPathMaxLength: 4096,
  tags: 50,
  tagKeyLength: { min: 1, max: 128 },
  tagValueMaxLength: 256,
} as const;

const L = TRAINING_LIMITS;

/**
 * Every way `request` breaks CreateTrainingJob's documented limits, each as a sentence naming the field;
 * empty when SageMaker would accept it (as far as the documented constraints go).
 */
export function validateCreateTrainingJob(
  request: CreateTrainingJobRequest | Readonly<Record<string, unknown>>,
): string[] {
  const r = request as Record<string, unknown>;
  const problems: string[] = [];
  const add = (problem: string) => problems.push(problem);

  // TrainingJobName
  const name = r.TrainingJobName;
  if (typeof name !== 'string' || name === '') add('TrainingJobName is required.');
  else if (!L.trainingJobName.test(name)) {
    add(
      `TrainingJobName '${name}' must match ${L.trainingJobName.source} (1-63 letters, digits and hyphens, starting and ending with a letter or digit).`,
    );
  }

  // RoleArn
  const role = r.RoleArn;
  if (typeof role !== 'string' || role === '') add('RoleArn is required.');
  else {
    if (role.length < L.roleArnLength.min || role.length > L.roleArnLength.max) {
      add(
        `RoleArn must be ${L.roleArnLength.min}-${L.roleArnLength.max} characters long (it is ${role.length}).`,
      );
    }
    if (!L.roleArn.test(role)) add(`RoleArn '${role}' must match ${L.roleArn.source}.`);
  }

  checkAlgorithm(r.AlgorithmSpecification, add);
  checkHyperParameters(r.HyperParameters, add);
  checkChannels(r.InputDataConfig, add);
  checkOutput(r.OutputDataConfig, add);
  checkResources(r.ResourceConfig, add);
  checkStopping(r.StoppingCondition, r.EnableManagedSpotTraining, add);
  checkCheckpoint(r.CheckpointConfig, add);
  checkTags(r.Tags, 'Tags', add);
  return problems;
}

type Add = (problem: string) => void;

function checkAlgorithm(value: unknown, add: Add): void {
  if (value === undefined || value === null) {
    add('AlgorithmSpecification is required.');
    return;
  }
  const spec = asRecord(value);
  if (!spec) {
    add('AlgorithmSpecification must be an object.');
    return;
  }
  const image = spec.TrainingImage;
  const algorithm = spec.AlgorithmName;
  const hasImage = typeof image === 'string' && image !== '';
  const hasAlgorithm = typeof algorithm === 'string' && algorithm !== '';
  if (!hasImage && !hasAlgorithm) {
    add('AlgorithmSpecification needs either TrainingImage or AlgorithmName.');
  }
  if (hasImage && hasAlgorithm) {
    add(
      'AlgorithmSpecification.TrainingImage and AlgorithmSpecification.AlgorithmName are mutually exclusive.',
    );
  }
  if (typeof image === 'string' && image.length > L.trainingImageMaxLength) {
    add(
      `AlgorithmSpecification.TrainingImage must be at most ${L.trainingImageMaxLength} characters (it is ${image.length}).`,
    );
  }
  const mode = spec.TrainingInputMode;
  if (!oneOf(mode, L.trainingInputModes)) {
    add(
      `AlgorithmSpecification.TrainingInputMode must be one of ${L.trainingInputModes.join(', ')} (got ${show(mode)}).`,
    );
  }
  const metrics = spec.MetricDefinitions;
  if (metrics !== undefined) {
    if (!Array.isArray(metrics)) add('AlgorithmSpecification.MetricDefinitions must be a list.');
    else {
      if (metrics.length > L.metricDefinitions) {
        add(
          `AlgorithmSpecification.MetricDefinitions allows at most ${L.metricDefinitions} metrics (got ${metrics.length}).`,
        );
      }
      metrics.forEach((metric, i) => {
        const m = asRecord(metric) ?? {};
        const field = `AlgorithmSpecification.MetricDefinitions[${i}]`;
        lengthBetween(m.Name, `${field}.Name`, L.metricNameLength, add);
        lengthBetween(m.Regex, `${field}.Regex`, L.metricRegexLength, add);
      });
    }
  }
}

function checkHyperParameters(value: unknown, add: Add): void {
  if (value === undefined || value === null) return;
  const params = asRecord(value);
  if (!params) {
    add('HyperParameters must be a map of strings to strings.');
    return;
  }
  const entries = Object.entries(params);
  if (entries.length > L.hyperParameters) {
    add(`HyperParameters allows at most ${L.hyperParameters} entries (got ${entries.length}).`);
  }
  for (const [key, v] of entries) {
    if (key.length > L.hyperParameterKeyMaxLength) {
      add(
        `HyperParameters key '${key.slice(0, 40)}...' must be at most ${L.hyperParameterKeyMaxLength} characters.`,
      );
    }
    if (typeof v !== 'string') {
      add(
        `HyperParameters['${key}'] must be a string (got ${typeof v}); SageMaker takes every value as a string.`,
      );
    } else if (v.length > L.hyperParameterValueMaxLength) {
      add(
        `HyperParameters['${key}'] must be at most ${L.hyperParameterValueMaxLength} characters (it is ${v.length}).`,
      );
    }
  }
}

function checkChannels(value: unknown, add: Add): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value)) {
    add('InputDataConfig must be a list of channels.');
    return;
  }
  if (value.length < L.channels.min || value.length > L.channels.max) {
    add(`InputDataConfig must have ${L.channels.min}-${L.channels.max} channels (got ${value.length}).`);
  }
  const seen = new Set<string>();
  value.forEach((channel, i) => {
    const c = asRecord(channel) ?? {};
    const field = `InputDataConfig[${i}]`;
    const name = c.ChannelName;
    if (typeof name !== 'string' || name === '') add(`${field}.ChannelName is required.`);
    else {
      if (name.length > L.channelNameMaxLength) {
        add(
          `${field}.ChannelName must be at most ${L.channelNameMaxLength} characters (it is ${name.length}).`,
        );
      }
      if (!L.channelName.test(name)) add(`${field}.ChannelName '${name}' must match [A-Za-z0-9\\.\\-_]+.`);
      if (seen.has(name))
        add(`${field}.ChannelName '${name}' is used by more than one channel; names must be unique.`);
      seen.add(name);
    }
    const source = asRecord(c.DataSource);
    if (!source) {
      add(`${field}.DataSource is required.`);
      return;
    }
    const s3 = asRecord(source.S3DataSource);
    if (!s3) {
      if (source.FileSystemDataSource === undefined) {
        add(`${field}.DataSource needs S3DataSource or FileSystemDataSource.`);
      }
      return;
    }
    checkS3Uri(s3.S3Uri, `${field}.DataSource.S3DataSource.S3Uri`, true, add);
    if (!oneOf(s3.S3DataType, L.s3DataTypes)) {
      add(
        `${field}.DataSource.S3DataSource.S3DataType must be one of ${L.s3DataTypes.join(', ')} (got ${show(s3.S3DataType)}).`,
      );
    }
  });
}

function checkOutput(value: unknown, add: Add): void {
  const output = asRecord(value);
  if (!output) {
    add('OutputDataConfig is required.');
    return;
  }
  checkS3Uri(output.S3OutputPath, 'OutputDataConfig.S3OutputPath', true, add);
  maxLength(output.KmsKeyId, 'OutputDataConfig.KmsKeyId', L.kmsKeyIdMaxLength, add);
}

function checkResources(value: unknown, add: Add): void {
  const resources = asRecord(value);
  if (!resources) {
    add('ResourceConfig is required.');
    return;
  }
  const groups = resources.InstanceGroups;
  const usesGroups = Array.isArray(groups) && groups.length > 0;
  const type = resources.InstanceType;
  if (type === undefined) {
    if (!usesGroups) add('ResourceConfig.InstanceType is required (or ResourceConfig.InstanceGroups).');
  } else if (typeof type !== 'string' || !type.startsWith('ml.')) {
    add(`ResourceConfig.InstanceType must be an ML instance type such as ml.g5.2xlarge (got ${show(type)}).`);
  }
  const count = resources.InstanceCount;
  if (count === undefined) {
    if (!usesGroups) add('ResourceConfig.InstanceCount is required (or ResourceConfig.InstanceGroups).');
  } else if (!isInteger(count) || count < 1) {
    add(`ResourceConfig.InstanceCount must be an integer of at least 1 (got ${show(count)}).`);
  }
  const volume = resources.VolumeSizeInGB;
  if (volume !== undefined && (!isInteger(volume) || volume < 1)) {
    add(`ResourceConfig.VolumeSizeInGB must be an integer of at least 1 (got ${show(volume)}).`);
  }
  maxLength(resources.VolumeKmsKeyId, 'ResourceConfig.VolumeKmsKeyId', L.kmsKeyIdMaxLength, add);
}

function checkStopping(value: unknown, spot: unknown, add: Add): void {
  const stopping = asRecord(value);
  if (!stopping) {
    add('StoppingCondition is required.');
    if (spot === true)
      add('StoppingCondition.MaxWaitTimeInSeconds is required with EnableManagedSpotTraining.');
    return;
  }
  const { min, max } = L.maxRuntimeInSeconds;
  const runtime = stopping.MaxRuntimeInSeconds;
  const runtimeOk = runtime === undefined || (isInteger(runtime) && runtime >= min && runtime <= max);
  if (!runtimeOk) {
    add(
      `StoppingCondition.MaxRuntimeInSeconds must be an integer from ${min} to ${max} (got ${show(runtime)}).`,
    );
  }
  const wait = stopping.MaxWaitTimeInSeconds;
  if (spot === true) {
    if (wait === undefined) {
      add('StoppingCondition.MaxWaitTimeInSeconds is required with EnableManagedSpotTraining.');
      return;
    }
  }
  if (wait === undefined) return;
  if (!isInteger(wait) || wait < min || wait > max) {
    add(
      `StoppingCondition.MaxWaitTimeInSeconds must be an integer from ${min} to ${max} (got ${show(wait)}).`,
    );
  } else if (isInteger(runtime) && wait < runtime) {
    add(
      `StoppingCondition.MaxWaitTimeInSeconds (${wait}) must be at least StoppingCondition.MaxRuntimeInSeconds (${runtime}).`,
    );
  }
}

function checkCheckpoint(value: unknown, add: Add): void {
  if (value === undefined || value === null) return;
  const checkpoint = asRecord(value);
  if (!checkpoint) {
    add('CheckpointConfig must be an object.');
    return;
  }
  checkS3Uri(checkpoint.S3Uri, 'CheckpointConfig.S3Uri', true, add);
  maxLength(checkpoint.LocalPath, 'CheckpointConfig.LocalPath', L.checkpointLocalPathMaxLength, add);
}

/** Checks a Tags list (`[{Key, Value}]`) against the tagging limits; also used for other SageMaker resources. */
export function checkTags(value: unknown, field: string, add: Add): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value)) {
    add(`${field} must be a list of {Key, Value}.`);
    return;
  }
  if (value.length > L.tags) add(`${field} allows at most ${L.tags} tags (got ${value.length}).`);
  value.forEach((tag, i) => {
    const t = asRecord(tag) ?? {};
    lengthBetween(t.Key, `${field}[${i}].Key`, L.tagKeyLength, add);
    if (t.Value !== undefined) {
      if (typeof t.Value !== 'string') add(`${field}[${i}].Value must be a string.`);
      else maxLength(t.Value, `${field}[${i}].Value`, L.tagValueMaxLength, add);
    }
  });
}

function checkS3Uri(value: unknown, field: string, required: boolean, add: Add): void {
  if (value === undefined || value === null || value === '') {
    if (required) add(`${field} is required.`);
    return;
  }
  if (typeof value !== 'string') {
    add(`${field} must be a string.`);
    return;
  }
  if (value.length > L.s3UriMaxLength) {
    add(`${field} must be at most ${L.s3UriMaxLength} characters (it is ${value.length}).`);
  }
  if (!L.s3Uri.test(value)) add(`${field} '${value}' must match ^(https|s3)://([^/]+)/?(.*)$.`);
}

function lengthBetween(
  value: unknown,
  field: string,
  bounds: { readonly min: number; readonly max: number },
  add: Add,
): void {
  if (typeof value !== 'string' || value.length < bounds.min || value.length > bounds.max) {
    const got = typeof value === 'string' ? `${value.length} characters` : show(value);
    add(`${field} must be a string of ${bounds.min}-${bounds.max} characters (got ${got}).`);
  }
}

function maxLength(value: unknown, field: string, max: number, add: Add): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'string') add(`${field} must be a string.`);
  else if (value.length > max) add(`${field} must be at most ${max} characters (it is ${value.length}).`);
}

function oneOf(value: unknown, allowed: readonly string[]): boolean {
  return typeof value === 'string' && allowed.includes(value);
}

function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}
