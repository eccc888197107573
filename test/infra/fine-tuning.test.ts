/**
 * Fine-tuning and its GPU endpoint (the `FineTuningStack` nested stack), dev and prod, asserted on what
 * matters: the Train state's CreateTrainingJob request (managed spot, checkpoints, limits, KMS, metric
 * definitions, image, the plan's parts) and who it may pass the training role to; the model registry; the
 * endpoint's scale to zero and rolling-update rollback; the canary alarms and what pages; the rules that
 * drive FineTune, the gate and Rollout; nothing of it with `-c fineTuning=false`; and CloudFormation's
 * resource limit for both stacks. Assertions read the flattened deployment (`synth()`), and the nested
 * stack's own template where its parameters matter.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { HYPERPARAMETER_RULES, MAX_LORA_RANK } from '#contracts/finetune/job.ts';
import { API_ROUTES } from '#contracts/http/routes.ts';
import { DATASET_READY } from '#events/dataset-ready.ts';
import { LLMOPS_SOURCE } from '#events/envelope.ts';
import { EVALUATION_COMPLETED } from '#events/evaluation-completed.ts';
import { FINETUNE_REQUESTED } from '#events/finetune-requested.ts';
import { MODEL_DEPLOYED } from '#events/model-deployed.ts';
import { SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE } from '#events/sagemaker-model-package-state-change.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';
import { entryStatements, functionOfEntry, list, roleStatements } from './support/iam.ts';
import {
  type CfnJson,
  type CfnResource,
  type CfnTemplate,
  flatten,
  logicalIdsOfType,
  resourcesOfType,
  type Synthesized,
  synth,
} from './support/synth.ts';

let dev: Synthesized;
let prod: Synthesized;
/** dev with `-c fineTuning=false`. */
let without: Synthesized;

beforeAll(() => {
  dev = synth({ profile: 'dev' }, { cfnValidation: false });
  prod = synth({ profile: 'prod' }, { cfnValidation: false });
  without = synth({ profile: 'dev', fineTuning: 'false' }, { cfnValidation: false });
});

const profiles = () =>
  [
    ['dev', dev],
    ['prod', prod],
  ] as const;

const props = (r: CfnResource) => (r.Properties ?? {}) as Record<string, CfnJson>;
const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

function only(
  json: CfnTemplate,
  type: string,
  predicate: (r: CfnResource, id: string) => boolean = () => true,
): [string, CfnResource] {
  const found = resourcesOfType(json, type).filter(([id, r]) => predicate(r, id));
  expect(found, `exactly one ${type}`).toHaveLength(1);
  return found[0] as [string, CfnResource];
}

const pipeline = (json: CfnTemplate, name: string) =>
  only(json, 'AWS::StepFunctions::StateMachine', (r) => r.Metadata?.['llmops:pipeline'] === name);

/** The state machine's definition, its intrinsics flattened (`<Id.Arn>`, `<AWS::Partition>`) inside the strings. */
function definition(json: CfnTemplate, name: string): CfnJson {
  const [, sm] = pipeline(json, name);
  const parts = props(sm).DefinitionString['Fn::Join'][1] as CfnJson[];
  // A flattened intrinsic is spliced into a JSON string: escaped, so that it parses back as written.
  return JSON.parse(
    parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(flatten(p)).slice(1, -1))).join(''),
  );
}

const keyId = (json: CfnTemplate) => only(json, 'AWS::KMS::Key')[0];
const functionId = (json: CfnTemplate, entry: string) =>
  only(json, 'AWS::Lambda::Function', (r) => r.Metadata?.['llmops:entry'] === entry)[0];

const rules = (json: CfnTemplate) => resourcesOfType(json, 'AWS::Events::Rule');
const targetsOf = (rule: CfnResource) => (props(rule).Targets as CfnJson[]).map((t) => t.Arn);

describe('the Train state', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: createTrainingJob.sync with managed spot, checkpoints from the plan, MaxWait ≥ MaxRuntime and the profile limits',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const train = definition(s.json, 'FineTune').States.Train;
      expect(train.Type).toBe('Task');
      expect(train.Resource).toBe('arn:<AWS::Partition>:states:::sagemaker:createTrainingJob.sync');
      const request = train.Parameters;
      expect(request.EnableManagedSpotTraining).toBe(true);
      expect(request.CheckpointConfig).toEqual({
        'S3Uri.$': '$.plan.checkpointS3Uri',
        LocalPath: '/opt/ml/checkpoints',
      });
      const { MaxRuntimeInSeconds, MaxWaitTimeInSeconds } = request.StoppingCondition;
      expect(MaxWaitTimeInSeconds).toBeGreaterThanOrEqual(MaxRuntimeInSeconds);
      expect([MaxRuntimeInSeconds / 3600, MaxWaitTimeInSeconds / 3600]).toEqual(
        p === 'dev' ? [4, 8] : [12, 24],
      );
      // The state outlives the job's own limit (SageMaker uploads and reports after it).
      expect(train.TimeoutSeconds).toBeGreaterThan(MaxWaitTimeInSeconds);
      expect(request['HyperParameters.$']).toBe('$.plan.hyperParameters');
      expect(request['InputDataConfig.$']).toBe('$.plan.channels');
      expect(request['TrainingJobName.$']).toBe('$.plan.trainingJobName');
    },
  );

  it.each(['dev', 'prod'] as const)(
    '%s: the volume and the output are encrypted with the project key; the image comes from the DlcRegistries mapping; the metrics are the script’s own',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const request = definition(s.json, 'FineTune').States.Train.Parameters;
      const key = `<${keyId(s.json)}.Arn>`;
      expect(request.ResourceConfig.VolumeKmsKeyId).toBe(key);
      expect(request.OutputDataConfig.KmsKeyId).toBe(key);
      expect(request.ResourceConfig.InstanceType).toBe(s.config.fineTuning.training.instanceType);
      const image = request.AlgorithmSpecification.TrainingImage as string;
      expect(image).toContain('"Fn::FindInMap":["DlcRegistries",{"Ref":"AWS::Region"},"account"]');
      expect(image).toMatch(
        new RegExp(
          `\\.dkr\\.ecr\\.<AWS::Region>\\.<AWS::URLSuffix>/${s.config.fineTuning.training.image.repository}:`,
        ),
      );
      const metrics = JSON.parse(
        readFileSync(join(REPO_ROOT, 'functions/finetune/train/metric_definitions.json'), 'utf8'),
      );
      expect(request.AlgorithmSpecification.MetricDefinitions).toEqual(metrics);
      const mapping = (s.json as CfnJson).Mappings?.DlcRegistries;
      expect(Object.keys(mapping ?? {}).length).toBeGreaterThan(0);
      for (const entry of Object.values(mapping) as { account: string }[]) {
        expect(entry.account).toMatch(/^\d{12}$/);
      }
    },
  );

  it('the state machine passes only the training role, only to SageMaker, and manages only its own jobs', () => {
    const [, sm] = pipeline(dev.json, 'FineTune');
    const statements = roleStatements(dev.json, props(sm).RoleArn['Fn::GetAtt'][0]).filter(
      (st) => st.Effect === 'Allow',
    );
    const pass = statements.filter((st) => list(st.Action).includes('iam:PassRole'));
    const [trainingRoleId] = only(dev.json, 'AWS::IAM::Role', (_r, id) =>
      id.startsWith('FineTuningTrainingRole'),
    );
    expect(pass).toHaveLength(1);
    expect(pass[0]?.Action).toBe('iam:PassRole');
    expect(pass[0]?.Resource).toEqual(arnOf(trainingRoleId));
    expect(pass[0]?.Condition).toEqual({
      StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' },
    });
    const request = definition(dev.json, 'FineTune').States.Train.Parameters;
    expect(request.RoleArn).toBe(`<${trainingRoleId}.Arn>`);
    const jobs = statements.filter((st) => list(st.Action).includes('sagemaker:CreateTrainingJob'));
    expect(jobs.flatMap((st) => list(st.Resource)).map(flatten)).toEqual([
      'arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:training-job/llmops-dev-*',
    ]);
    // The training role is SageMaker's alone.
    expect(
      props(dev.json.Resources[trainingRoleId] as CfnResource).AssumeRolePolicyDocument.Statement,
    ).toEqual([
      expect.objectContaining({
        Principal: { Service: 'sagemaker.amazonaws.com' },
        Action: 'sts:AssumeRole',
      }),
    ]);
  });
});

describe('the model registry', () => {
  it.each(['dev', 'prod'] as const)('%s: one model package group, named <stack>-<servedModel>', (p) => {
    const s = p === 'dev' ? dev : prod;
    const [, group] = only(s.json, 'AWS::SageMaker::ModelPackageGroup');
    expect(props(group).ModelPackageGroupName).toBe(
      `${s.stack.stackName}-${s.config.fineTuning.servedModel}`,
    );
    expect(props(group).ModelPackageGroupName).toBe(
      p === 'dev' ? 'LlmOps-dev-tuned-assistant' : 'LlmOps-prod-tuned-assistant',
    );
  });
});

describe('the endpoint', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: managed instance scaling from the profile minimum (0 in dev, 1 in prod)',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const [, config] = only(s.json, 'AWS::SageMaker::EndpointConfig');
      const variants = props(config).ProductionVariants as CfnJson[];
      expect(variants).toHaveLength(1);
      expect(variants[0].ManagedInstanceScaling).toMatchObject({
        Status: 'ENABLED',
        MinInstanceCount: p === 'dev' ? 0 : 1,
      });
      expect(variants[0].InstanceType).toBe(s.config.fineTuning.serving.instanceType);
      const [, endpoint] = only(s.json, 'AWS::SageMaker::Endpoint');
      expect(props(endpoint).EndpointName).toBe(`${s.stack.stackName.toLowerCase()}-llm`);
    },
  );

  it.each(['dev', 'prod'] as const)(
    '%s: the base component asks for its accelerators and memory per copy, and rolling updates roll back on its two alarms',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const serving = s.config.fineTuning.serving;
      const [, component] = only(s.json, 'AWS::SageMaker::InferenceComponent');
      const c = props(component);
      expect(c.Specification.ComputeResourceRequirements).toEqual({
        NumberOfAcceleratorDevicesRequired: serving.acceleratorsPerCopy,
        MinMemoryRequiredInMb: serving.memoryPerCopyMb,
      });
      expect(c.Specification.ComputeResourceRequirements.MinMemoryRequiredInMb).toBe(
        p === 'dev' ? 8192 : 24_576,
      );
      expect(c.DeploymentConfig.RollingUpdatePolicy.MaximumBatchSize).toEqual({
        Type: 'COPY_COUNT',
        Value: 1,
      });
      const rollbackAlarms = (c.DeploymentConfig.AutoRollbackConfiguration.Alarms as CfnJson[]).map(
        (a) => a.AlarmName.Ref,
      );
      expect(rollbackAlarms).toHaveLength(2);
      const metrics = rollbackAlarms.map(
        (id: string) => props(s.json.Resources[id] as CfnResource).MetricName,
      );
      expect(metrics.sort()).toEqual(['Invocation5XXErrors', 'ModelLatency']);
    },
  );

  it.each(['dev', 'prod'] as const)(
    '%s: the base model runs the vLLM image with LoRA enabled, loading every rank the API accepts',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const { baseModel, serving } = s.config.fineTuning;
      const [, model] = only(s.json, 'AWS::SageMaker::Model');
      const container = props(model).PrimaryContainer;
      expect(serving.image.repository).toBe('vllm');
      expect(flatten(container.Image)).toBe(
        `${flatten({ 'Fn::FindInMap': ['DlcRegistries', { Ref: 'AWS::Region' }, 'account'] })}` +
          `.dkr.ecr.<AWS::Region>.<AWS::URLSuffix>/vllm:${serving.image.tag}`,
      );
      expect(container.Environment).toMatchObject({
        SM_VLLM_MODEL: baseModel.hfModelId,
        SM_VLLM_MAX_MODEL_LEN: String(baseModel.contextWindow),
        SM_VLLM_ENABLE_LORA: 'true',
        SM_VLLM_MAX_LORA_RANK: String(MAX_LORA_RANK),
      });
      // One number: the API's largest lora_r is the rank the endpoint loads.
      expect(HYPERPARAMETER_RULES.lora_r.max).toBe(Number(container.Environment.SM_VLLM_MAX_LORA_RANK));
    },
  );

  it.each(['dev', 'prod'] as const)(
    '%s: copies scale on concurrent requests per copy, from 0 in dev and 1 in prod',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const [targetId, target] = only(
        s.json,
        'AWS::ApplicationAutoScaling::ScalableTarget',
        (r) => props(r).ScalableDimension === 'sagemaker:inference-component:DesiredCopyCount',
      );
      expect(props(target).MinCapacity).toBe(p === 'dev' ? 0 : 1);
      expect(props(target).MaxCapacity).toBe(s.config.fineTuning.serving.maxCopies);
      expect(props(target).ResourceId).toBe(`inference-component/${s.stack.stackName.toLowerCase()}-base`);
      const policies = resourcesOfType(s.json, 'AWS::ApplicationAutoScaling::ScalingPolicy').filter(
        ([, r]) => JSON.stringify(props(r).ScalingTargetId) === JSON.stringify(ref(targetId)),
      );
      const tracking = policies.filter(([, r]) => props(r).PolicyType === 'TargetTrackingScaling');
      expect(tracking).toHaveLength(1);
      const trackingConfig = props(
        (tracking[0] as [string, CfnResource])[1],
      ).TargetTrackingScalingPolicyConfiguration;
      expect(trackingConfig.PredefinedMetricSpecification.PredefinedMetricType).toBe(
        'SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution',
      );
      expect(trackingConfig.TargetValue).toBe(s.config.fineTuning.serving.targetConcurrentRequestsPerCopy);
    },
  );

  it.each(['dev', 'prod'] as const)(
    '%s: scale-out from zero (dev only): a step policy on an alarm over NoCapacityInvocationFailures',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const steps = resourcesOfType(s.json, 'AWS::ApplicationAutoScaling::ScalingPolicy').filter(
        ([, r]) => props(r).PolicyType === 'StepScaling',
      );
      const noCapacity = resourcesOfType(s.json, 'AWS::CloudWatch::Alarm').filter(
        ([, r]) => props(r).MetricName === 'NoCapacityInvocationFailures',
      );
      if (p === 'prod') {
        expect(steps).toEqual([]);
        expect(noCapacity).toEqual([]);
        return;
      }
      expect(steps).toHaveLength(1);
      const [stepId, step] = steps[0] as [string, CfnResource];
      expect(props(step).StepScalingPolicyConfiguration).toMatchObject({
        AdjustmentType: 'ChangeInCapacity',
        StepAdjustments: [{ ScalingAdjustment: 1, MetricIntervalLowerBound: 0 }],
      });
      expect(noCapacity).toHaveLength(1);
      const alarm = props((noCapacity[0] as [string, CfnResource])[1]);
      expect(alarm.Namespace).toBe('AWS/SageMaker');
      expect(alarm.Dimensions).toEqual([{ Name: 'InferenceComponentName', Value: 'llmops-dev-base' }]);
      expect(alarm.Threshold).toBe(1);
      expect(alarm.AlarmActions).toEqual([ref(stepId)]);
    },
  );
});

describe('the candidate function', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: names the held-out feedback suite and may only read the evaluations table, where its versions are registered',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const entry = 'functions/finetune/candidate.ts';
      const variables = props(functionOfEntry(s.json, entry)).Environment.Variables;
      const [table] = only(s.json, 'AWS::DynamoDB::Table', (_r, id) =>
        id.startsWith('EvaluationEvaluationsTable'),
      );
      expect(variables.FEEDBACK_HOLDOUT_SUITE).toBe(`${s.config.feedback.datasetName}-holdout`);
      expect(variables.EVALUATIONS_TABLE).toEqual(ref(table));
      const onTable = entryStatements(s.json, entry).filter((statement) =>
        list(statement.Resource)
          .map(flatten)
          .some((resource) => resource.startsWith(`<${table}.Arn>`)),
      );
      expect(onTable.flatMap((statement) => list(statement.Action)).sort()).toEqual([
        'dynamodb:BatchGetItem',
        'dynamodb:ConditionCheckItem',
        'dynamodb:DescribeTable',
        'dynamodb:GetItem',
        'dynamodb:Query',
      ]);
    },
  );
});

describe('canary alarms and paging', () => {
  const alarmWith = (json: CfnTemplate, metricName: string) =>
    only(json, 'AWS::CloudWatch::Alarm', (r) => props(r).MetricName === metricName);

  it.each(['dev', 'prod'] as const)(
    "%s: the candidate's error rate (Average), p90 latency and guardrail interventions (Average), each paging",
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const [topicId] = only(s.json, 'AWS::SNS::Topic');
      const canary = s.config.fineTuning.canary;
      const expected = [
        ['RolloutError', 'Average', canary.maxErrorRate],
        ['RolloutLatency', 'p90', canary.maxLatencyP90Ms],
        ['RolloutGuardrail', 'Average', canary.maxGuardrailRate],
      ] as const;
      for (const [metricName, statistic, threshold] of expected) {
        const [id, alarm] = alarmWith(s.json, metricName);
        const a = props(alarm);
        expect(a.Namespace, id).toBe('LLMOps');
        expect(a.Statistic ?? a.ExtendedStatistic, id).toBe(statistic);
        expect(a.Dimensions, id).toEqual(expect.arrayContaining([{ Name: 'Variant', Value: 'candidate' }]));
        expect(a.Threshold, id).toBe(threshold);
        expect(a.ComparisonOperator, id).toBe('GreaterThanThreshold');
        expect(a.AlarmActions, id).toEqual([ref(topicId)]);
      }
    },
  );

  it('RolledBack pages on ALARM and OK', () => {
    const [topicId] = only(dev.json, 'AWS::SNS::Topic');
    const [id, alarm] = alarmWith(dev.json, 'RolloutsRolledBack');
    expect(props(alarm).Threshold, id).toBe(1);
    expect(props(alarm).ComparisonOperator, id).toBe('GreaterThanOrEqualToThreshold');
    expect(props(alarm).AlarmActions, id).toEqual([ref(topicId)]);
    expect(props(alarm).OKActions, id).toEqual([ref(topicId)]);
  });
});

describe('the Rollout state machine', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: verifies what serves after a promotion and after a rollback; a mismatch fails the execution',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const states = definition(s.json, 'Rollout').States;
      expect(states.Promote.Next).toBe('Verify');
      expect(states.Verify.Next).toBe('DeployedPromoted');
      // SageMaker can roll back silently: after a rollback, the previous component must serve again.
      expect(states.Rollback.Next).toBe('VerifyRolledBack');
      expect(states.VerifyRolledBack.Next).toBe('DeployedRolledBack');
      for (const name of ['Verify', 'VerifyRolledBack']) {
        expect(states[name].Parameters, name).toEqual({
          step: 'verify',
          'rollout.$': '$.rollout',
        });
        expect(states[name].ResultPath, name).toBe('$.verified');
        expect(states[name].Catch, name).toEqual([
          expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'RolloutFailed' }),
        ]);
      }
      expect(states.RolloutFailed.Type).toBe('Fail');
      // Both outcomes announce what Verify read.
      expect(states.DeployedRolledBack.Parameters['verified.$']).toBe('$.verified');
      expect(states.DeployedPromoted.Parameters['verified.$']).toBe('$.verified');
    },
  );
});

describe('rules', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: DatasetReady {purpose finetune|preference} and FineTuneRequested start FineTune, from the project bus',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const [smId] = pipeline(s.json, 'FineTune');
      const [busId] = only(s.json, 'AWS::Events::EventBus');
      const starting = rules(s.json).filter(
        ([, r]) => JSON.stringify(targetsOf(r)) === JSON.stringify([ref(smId)]),
      );
      const patterns = starting.map(([, r]) => props(r).EventPattern);
      expect(patterns).toContainEqual({
        source: [LLMOPS_SOURCE],
        'detail-type': [DATASET_READY, FINETUNE_REQUESTED],
        detail: { purpose: ['finetune', 'preference'] },
      });
      const [, train] = starting.find(([, r]) => props(r).EventPattern.source?.includes(LLMOPS_SOURCE)) as [
        string,
        CfnResource,
      ];
      expect(props(train).EventBusName).toEqual(ref(busId));
      // Besides it, only the failure rule targets nothing but the failure handler: nothing else starts FineTune.
      expect(starting).toHaveLength(1);
    },
  );

  it('a candidate evaluation, a deployment, a package state change of the group and the progress of its training jobs go to the gate', () => {
    const gate = arnOf(functionId(dev.json, 'functions/finetune/gate.ts'));
    const patterns = rules(dev.json)
      .filter(([, r]) => JSON.stringify(targetsOf(r)) === JSON.stringify([gate]))
      .map(([, r]) => props(r).EventPattern);
    expect(patterns).toHaveLength(4);
    expect(patterns).toContainEqual({
      source: ['aws.sagemaker'],
      'detail-type': ['SageMaker Training Job State Change'],
      detail: { TrainingJobName: [{ prefix: 'llmops-dev-ft-' }] },
    });
    expect(patterns).toContainEqual({
      source: [LLMOPS_SOURCE],
      'detail-type': [EVALUATION_COMPLETED],
      detail: { runId: [{ prefix: 'candidate-' }] },
    });
    expect(patterns).toContainEqual({ source: [LLMOPS_SOURCE], 'detail-type': [MODEL_DEPLOYED] });
    expect(patterns).toContainEqual({
      source: ['aws.sagemaker'],
      'detail-type': [SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE],
      detail: { ModelPackageGroupName: ['LlmOps-dev-tuned-assistant'] },
    });
  });

  it('an approved package of the group starts Rollout; a canary alarm entering ALARM goes to the rollout function', () => {
    const [rolloutId] = pipeline(dev.json, 'Rollout');
    const [, approved] = only(
      dev.json,
      'AWS::Events::Rule',
      (r) => JSON.stringify(targetsOf(r)) === JSON.stringify([ref(rolloutId)]),
    );
    expect(props(approved).EventBusName).toBeUndefined(); // SageMaker's events are on the default bus
    expect(props(approved).EventPattern).toEqual({
      source: ['aws.sagemaker'],
      'detail-type': [SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE],
      detail: { ModelPackageGroupName: ['LlmOps-dev-tuned-assistant'], ModelApprovalStatus: ['Approved'] },
    });
    const rolloutFn = arnOf(functionId(dev.json, 'functions/finetune/rollout.ts'));
    const [, onAlarm] = only(
      dev.json,
      'AWS::Events::Rule',
      (r) => JSON.stringify(targetsOf(r)) === JSON.stringify([rolloutFn]),
    );
    const pattern = props(onAlarm).EventPattern;
    expect(pattern.source).toEqual(['aws.cloudwatch']);
    expect(pattern.detail.state).toEqual({ value: ['ALARM'] });
    const canaryAlarms = resourcesOfType(dev.json, 'AWS::CloudWatch::Alarm')
      .filter(
        ([, r]) =>
          String(props(r).MetricName).startsWith('Rollout') && props(r).MetricName !== 'RolloutsRolledBack',
      )
      .map(([id]) => ref(id));
    expect(canaryAlarms).toHaveLength(3);
    expect(pattern.detail.alarmName).toEqual(canaryAlarms);
  });

  it('every fine-tuning rule delivers with retries and an encrypted dead-letter queue', () => {
    const key = arnOf(keyId(dev.json));
    const fineTuningRules = rules(dev.json).filter(([id]) => id.startsWith('FineTuning'));
    expect(fineTuningRules.length).toBeGreaterThanOrEqual(8);
    for (const [id, rule] of fineTuningRules) {
      for (const target of props(rule).Targets as CfnJson[]) {
        expect(target.RetryPolicy?.MaximumRetryAttempts, id).toBeGreaterThan(0);
        const queueId = target.DeadLetterConfig.Arn['Fn::GetAtt'][0] as string;
        expect(props(dev.json.Resources[queueId] as CfnResource).KmsMasterKeyId, id).toEqual(key);
      }
    }
  });
});

describe('without fine-tuning (-c fineTuning=false)', () => {
  const FINE_TUNING_TYPES = [
    'AWS::CloudFormation::Stack',
    'AWS::SageMaker::Endpoint',
    'AWS::SageMaker::EndpointConfig',
    'AWS::SageMaker::Model',
    'AWS::SageMaker::InferenceComponent',
    'AWS::SageMaker::ModelPackageGroup',
    'AWS::ApplicationAutoScaling::ScalableTarget',
  ];

  it('builds no nested stack, no SageMaker resource, no FineTune or Rollout and no fine-tuning function', () => {
    expect(without.config.fineTuning.enabled).toBe(false);
    expect(without.stack.fineTuningStack).toBeUndefined();
    for (const type of FINE_TUNING_TYPES) expect(logicalIdsOfType(without.json, type), type).toEqual([]);
    const pipelines = resourcesOfType(without.json, 'AWS::StepFunctions::StateMachine').map(
      ([, r]) => r.Metadata?.['llmops:pipeline'],
    );
    expect(pipelines.sort()).toEqual(['DataPrep', 'DriftCheck', 'Evaluate', 'RagIngest']);
    const entries = resourcesOfType(without.json, 'AWS::Lambda::Function').map(([, r]) =>
      String(r.Metadata?.['llmops:entry']),
    );
    expect(entries.filter((e) => e.includes('finetune'))).toEqual([]);
    expect(JSON.stringify(without.json)).not.toMatch(/FineTun|sagemaker:createTrainingJob|DlcRegistries/);
    for (const output of [
      'FineTuneStateMachineArn',
      'RolloutStateMachineArn',
      'ModelPackageGroupName',
      'ServingEndpointName',
    ]) {
      expect(without.json.Outputs ?? {}, output).not.toHaveProperty(output);
    }
    expect((without.json as CfnJson).Description).not.toMatch(/fine-tun/i);
  });

  it('gives no function that calls models a write on the catalog: there is no canary to count', () => {
    for (const s of [without, dev]) {
      const chat = resourcesOfType(s.json, 'AWS::Lambda::Function').find(
        ([, r]) => r.Metadata?.['llmops:entry'] === 'functions/api/chat.ts',
      );
      const roleId = (props(chat?.[1] as CfnResource).Role as CfnJson)['Fn::GetAtt'][0] as string;
      const onCatalog = roleStatements(s.json, roleId).filter((st) =>
        JSON.stringify(st.Resource).includes('ModelGatewayCatalogTable'),
      );
      expect(onCatalog.length).toBeGreaterThan(0);
      const actions = onCatalog.flatMap((st) => list(st.Action));
      expect(actions.includes('dynamodb:UpdateItem'), s === dev ? 'dev' : 'without').toBe(s === dev);
    }
  });

  it('does not serve the /v1/finetune-jobs routes', () => {
    const finetuneRoutes = API_ROUTES.filter((r) => r.fn === 'finetune');
    expect(finetuneRoutes).toHaveLength(4);
    const paths = resourcesOfType(without.json, 'AWS::ApiGateway::Resource').map(
      ([, r]) => props(r).PathPart,
    );
    expect(paths).not.toContain('finetune-jobs');
    expect(
      resourcesOfType(dev.json, 'AWS::ApiGateway::Resource').map(([, r]) => props(r).PathPart),
    ).toContain('finetune-jobs');
  });

  it('passes the cdk-nag gate', () => {
    expect(without.validationViolations).toEqual([]);
  });
});

describe('CloudFormation limits', () => {
  /** CloudFormation's limit on the resources of one stack. */
  const MAX_RESOURCES = 500;

  it.each(['dev', 'prod'] as const)(
    '%s: the parent and the nested stacks each stay under 500 resources',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const nestedStacks = [s.stack.fineTuningStack, s.stack.improvementStack];
      const parent = Object.keys(Template.fromStack(s.stack).toJSON().Resources).length;
      expect(parent).toBeLessThan(MAX_RESOURCES);
      let nested = 0;
      for (const nestedStack of nestedStacks) {
        expect(nestedStack).toBeDefined();
        const count = Object.keys(
          Template.fromStack(nestedStack as NonNullable<typeof nestedStack>).toJSON().Resources,
        ).length;
        expect(count).toBeLessThan(MAX_RESOURCES);
        nested += count;
      }
      // Flattening keeps every resource but each nested stack's own AWS::CloudFormation::Stack.
      expect(Object.keys(s.json.Resources)).toHaveLength(parent - nestedStacks.length + nested);
    },
  );

  it('the nested stack receives the bucket, key and bus it uses from its parent, as parameters', () => {
    const nested = Template.fromStack(
      dev.stack.fineTuningStack as NonNullable<typeof dev.stack.fineTuningStack>,
    ).toJSON();
    const parameters = Object.keys(nested.Parameters ?? {});
    expect(parameters.length).toBeGreaterThan(0);
    for (const name of ['StorageArtifacts', 'StorageCurated', 'StorageKey', 'EventsBus']) {
      expect(
        parameters.some((p) => p.includes(name)),
        name,
      ).toBe(true);
    }
    // The six fine-tuning functions live in the nested stack, not the parent.
    expect(
      resourcesOfType(nested as unknown as CfnTemplate, 'AWS::Lambda::Function').length,
    ).toBeGreaterThanOrEqual(6);
  });
});

describe('both profiles', () => {
  it('build fine-tuning by default', () => {
    for (const [name, s] of profiles()) {
      expect(s.config.fineTuning.enabled, name).toBe(true);
      expect(s.stack.fineTuningStack, name).toBeDefined();
    }
  });
});
