/**
 * The synthesized LLMOps stack, dev and prod, asserted on what matters: event patterns, the DataPrep
 * state machine, the failure path of every pipeline, function defaults and where their code comes from,
 * IAM, encryption, retention, alarms and paging. Each profile is synthesized once (with the cdk-nag plugin
 * and CDK's offline CloudFormation validator) and shared by all tests. RagIngest's own state machine,
 * rules and functions are asserted in `rag-ingest.test.ts`, Evaluate's in `evaluation.test.ts`.
 */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { VPC_ACCESS_ACTIONS } from '#infra/constructs/llmops-function.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';
import { roleStatements } from './support/iam.ts';
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

beforeAll(() => {
  dev = synth({ profile: 'dev' });
  prod = synth({ profile: 'prod' });
});

const profiles = () =>
  [
    ['dev', dev],
    ['prod', prod],
  ] as const;

function only(
  json: CfnTemplate,
  type: string,
  predicate: (r: CfnResource, id: string) => boolean = () => true,
) {
  const found = resourcesOfType(json, type).filter(([id, r]) => predicate(r, id));
  expect(found, `exactly one ${type}`).toHaveLength(1);
  return found[0] as [string, CfnResource];
}

const props = (r: CfnResource) => (r.Properties ?? {}) as Record<string, CfnJson>;
const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

/** The dataset registry table of DataPrep (the model gateway has tables of its own). */
function datasetsTable(json: CfnTemplate): [string, CfnResource] {
  return only(json, 'AWS::DynamoDB::Table', (_r, id) => id.startsWith('DataPrepDatasetsTable'));
}

function keyId(json: CfnTemplate): string {
  return only(json, 'AWS::KMS::Key')[0];
}

function bucketId(json: CfnTemplate, name: 'Raw' | 'Curated' | 'Artifacts' | 'AccessLogs'): string {
  const ids = logicalIdsOfType(json, 'AWS::S3::Bucket').filter((id) => id.startsWith(`Storage${name}`));
  expect(ids).toHaveLength(1);
  return ids[0] as string;
}

/** House functions: the ones that record their entry. */
function houseFunctions(json: CfnTemplate): [string, CfnResource][] {
  return resourcesOfType(json, 'AWS::Lambda::Function').filter(([, r]) => r.Metadata?.['llmops:entry']);
}

function functionByEntry(json: CfnTemplate, entry: string): [string, CfnResource] {
  const found = houseFunctions(json).filter(([, r]) => r.Metadata?.['llmops:entry'] === entry);
  expect(found, entry).toHaveLength(1);
  return found[0] as [string, CfnResource];
}

/** The pipelines of the stack, by their `llmops:pipeline` metadata (sorted). */
const PIPELINES = ['DataPrep', 'DriftCheck', 'Evaluate', 'FineTune', 'RagIngest', 'Rollout'] as const;
type Pipeline = (typeof PIPELINES)[number];

/** The construct that builds each pipeline (the prefix of its logical ids). */
const PIPELINE_SCOPE: Record<Pipeline, string> = {
  DataPrep: 'DataPrep',
  DriftCheck: 'Drift',
  Evaluate: 'Evaluation',
  FineTune: 'FineTuning',
  RagIngest: 'RagIngest',
  Rollout: 'FineTuningRollout',
};

/** The pipelines that S3 starts (Evaluate is started from the project bus). */
const S3_PIPELINES = ['DataPrep', 'RagIngest'] as const satisfies readonly Pipeline[];

/** The state machine of a pipeline, found by its `llmops:pipeline` metadata. */
function pipelineStateMachine(json: CfnTemplate, pipeline: Pipeline): [string, CfnResource] {
  return only(json, 'AWS::StepFunctions::StateMachine', (r) => r.Metadata?.['llmops:pipeline'] === pipeline);
}

function stateMachineDefinition(json: CfnTemplate, pipeline: Pipeline): CfnJson {
  const [, sm] = pipelineStateMachine(json, pipeline);
  return JSON.parse(flatten(props(sm).DefinitionString));
}

const sourceOf = (r: CfnResource): string[] => props(r).EventPattern?.source ?? [];

/** The rule of a source whose one target is the given resource (`Ref` or `Fn::GetAtt ... Arn`). */
function ruleTargeting(json: CfnTemplate, source: string, target: CfnJson): [string, CfnResource] {
  return only(
    json,
    'AWS::Events::Rule',
    (r) =>
      sourceOf(r).includes(source) &&
      JSON.stringify((props(r).Targets as CfnJson[]).map((t) => t.Arn)) === JSON.stringify([target]),
  );
}

/** The failure rule of a pipeline: Step Functions status changes of its state machine. */
function failureRule(json: CfnTemplate, pipeline: Pipeline): [string, CfnResource] {
  const [smId] = pipelineStateMachine(json, pipeline);
  return only(
    json,
    'AWS::Events::Rule',
    (r) =>
      sourceOf(r).includes('aws.states') &&
      JSON.stringify(props(r).EventPattern.detail?.stateMachineArn) === JSON.stringify([ref(smId)]),
  );
}

/**
 * The RAG documents that RagIngest parses itself (listed here, not imported, so that a change to the
 * list in `infra/constructs/data-prep.ts` is a visible change to this test).
 */
const RAG_DOCUMENT_WILDCARDS = [
  'raw/rag/*.md',
  'raw/rag/*.MD',
  'raw/rag/*.markdown',
  'raw/rag/*.MARKDOWN',
  'raw/rag/*.txt',
  'raw/rag/*.TXT',
  'raw/rag/*.html',
  'raw/rag/*.HTML',
  'raw/rag/*.htm',
  'raw/rag/*.HTM',
  'raw/rag/*.pdf',
  'raw/rag/*.PDF',
];

describe('pipelines', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: exactly the DataPrep, DriftCheck, Evaluate, FineTune, RagIngest and Rollout state machines',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const names = resourcesOfType(s.json, 'AWS::StepFunctions::StateMachine').map(
        ([, r]) => r.Metadata?.['llmops:pipeline'],
      );
      expect(names.sort()).toEqual([...PIPELINES]);
    },
  );
});

describe('DataPrep trigger', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: S3 Object Created in the raw bucket, except RAG documents under raw/rag/, starts the state machine',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const [smId] = pipelineStateMachine(s.json, 'DataPrep');
      const [, rule] = ruleTargeting(s.json, 'aws.s3', ref(smId));
      expect(props(rule).EventBusName).toBeUndefined(); // the default bus, where S3 sends its events
      // Every other key goes to DataPrep (raw/rag/*.jsonl included; keys outside raw/ are refused by Plan).
      expect(props(rule).EventPattern).toEqual({
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: {
          bucket: { name: [ref(bucketId(s.json, 'Raw'))] },
          object: { key: [{ 'anything-but': { wildcard: RAG_DOCUMENT_WILDCARDS } }] },
        },
      });
      const targets = props(rule).Targets as CfnJson[];
      expect(targets).toHaveLength(1);
      expect(targets[0].Arn).toEqual(ref(smId));
      expect(targets[0].Input ?? targets[0].InputPath ?? targets[0].InputTransformer).toBeUndefined(); // whole event
      expect(targets[0].DeadLetterConfig.Arn['Fn::GetAtt'][0]).toMatch(/^DataPrepTriggerDeadLetterQueue/);
      expect(targets[0].RetryPolicy.MaximumRetryAttempts).toBeGreaterThan(0);
    },
  );

  it.each(['dev', 'prod'] as const)(
    '%s: the only S3 rules are the triggers of DataPrep and RagIngest (documents)',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const targets = resourcesOfType(s.json, 'AWS::Events::Rule')
        .filter(([, r]) => sourceOf(r).includes('aws.s3'))
        .map(([, r]) => (props(r).Targets as CfnJson[]).map((t) => t.Arn));
      expect(targets).toHaveLength(2);
      // RagIngest is started through its trigger queue, by the pipe that drains it.
      const startedBy = (pipeline: Pipeline): CfnJson => {
        const machine = ref(pipelineStateMachine(s.json, pipeline)[0]);
        const pipe = resourcesOfType(s.json, 'AWS::Pipes::Pipe').find(
          ([, r]) => JSON.stringify(props(r).Target) === JSON.stringify(machine),
        );
        return pipe ? props(pipe[1]).Source : machine;
      };
      expect(targets).toEqual(expect.arrayContaining(S3_PIPELINES.map((pipeline) => [startedBy(pipeline)])));
    },
  );

  it('the raw bucket sends events to EventBridge natively (no notifications custom resource)', () => {
    const raw = dev.json.Resources[bucketId(dev.json, 'Raw')] as CfnResource;
    expect(props(raw).NotificationConfiguration).toEqual({
      EventBridgeConfiguration: { EventBridgeEnabled: true },
    });
    expect(logicalIdsOfType(dev.json, 'Custom::S3BucketNotifications')).toEqual([]);
  });
});

describe('DataPrep state machine', () => {
  it('is STANDARD, traced, with a 2 hour timeout and the llmops:pipeline metadata', () => {
    const [, sm] = pipelineStateMachine(dev.json, 'DataPrep');
    expect(props(sm).StateMachineType).toBe('STANDARD');
    expect(props(sm).TracingConfiguration).toEqual({ Enabled: true });
    expect(sm.Metadata?.['llmops:pipeline']).toBe('DataPrep');
    expect(stateMachineDefinition(dev.json, 'DataPrep').TimeoutSeconds).toBe(7200);
  });

  it('has the expected states, in order, in JSONPath', () => {
    const def = stateMachineDefinition(dev.json, 'DataPrep');
    expect(def.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
    expect(JSON.stringify(def)).not.toMatch(/JSONata|\{%/);
    expect(def.StartAt).toBe('Plan');
    expect(Object.keys(def.States).sort()).toEqual(
      [
        'AlreadyProcessed',
        'AlreadyProcessed?',
        'Done',
        'Finalize',
        'Plan',
        'ProcessParts',
        'Register',
        'ReleaseClaim',
        'Failed',
      ].sort(),
    );
    expect(def.States.Plan.Next).toBe('AlreadyProcessed?');
    const choice = def.States['AlreadyProcessed?'];
    expect(choice.Type).toBe('Choice');
    expect(choice.Choices).toEqual([
      { Variable: '$.status', StringEquals: 'DUPLICATE', Next: 'AlreadyProcessed' },
    ]);
    expect(choice.Default).toBe('ProcessParts');
    expect(def.States.AlreadyProcessed.Type).toBe('Succeed');
    expect(def.States.ProcessParts.Next).toBe('Finalize');
    expect(def.States.Finalize.Next).toBe('Register');
    expect(def.States.Register.Next).toBe('Done');
    expect(def.States.Done.Type).toBe('Succeed');
    // After Plan has claimed the upload, every failure releases the claim, then fails with the original error.
    for (const name of ['ProcessParts', 'Finalize', 'Register']) {
      expect(def.States[name].Catch, name).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'ReleaseClaim' },
      ]);
    }
    expect(def.States.Plan.Catch).toBeUndefined();
    expect(def.States.ReleaseClaim.Next).toBe('Failed');
    expect(def.States.ReleaseClaim.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.releaseFailure', Next: 'Failed' },
    ]);
    expect(def.States.Failed).toEqual({
      Type: 'Fail',
      ErrorPath: '$.failure.Error',
      CausePath: '$.failure.Cause',
    });
  });

  it.each(['dev', 'prod'] as const)(
    '%s: ProcessParts is a Distributed Map of STANDARD children over the parts Plan staged, results to S3, no failure tolerated',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const map = stateMachineDefinition(s.json, 'DataPrep').States.ProcessParts;
      const artifacts = `<${bucketId(s.json, 'Artifacts')}>`;
      expect(map.Type).toBe('Map');
      expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
      expect(map.MaxConcurrency).toBe(s.config.dataPrep.maxConcurrency);
      expect(map.MaxConcurrency).toBe(p === 'dev' ? 4 : 16);
      expect(map.ItemsPath).toBeUndefined();
      expect(map.ItemReader).toEqual({
        Resource: 'arn:<AWS::Partition>:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSONL' },
        Parameters: { Bucket: artifacts, 'Key.$': '$.items.key' },
      });
      // One part per child: a part is sized for one ProcessPart invocation.
      expect(map.ItemBatcher).toBeUndefined();
      expect(map.ItemSelector).toEqual({
        'part.$': '$$.Map.Item.Value',
        'runId.$': '$.runId',
        'source.$': '$.source',
        'dataset.$': '$.dataset',
      });
      // Any failed part fails the Map Run (then the claim is released): nothing is curated from a partial run.
      expect(map.ToleratedFailurePercentage).toBeUndefined();
      expect(map.ToleratedFailureCount).toBeUndefined();
      expect(map.Label).toBe('Parts');
      expect(map.ResultWriter).toEqual({
        Resource: 'arn:<AWS::Partition>:states:::s3:putObject',
        Parameters: { Bucket: artifacts, Prefix: 'staging/dataprep/map-runs' },
      });
      expect(map.ResultPath).toBe('$.mapRun');
      expect(map.ItemProcessor.StartAt).toBe('ProcessPart');
      expect(Object.keys(map.ItemProcessor.States)).toEqual(['ProcessPart']);
    },
  );

  it('invokes each function with the full response, keeps the Payload, and retries only transient errors', () => {
    const def = stateMachineDefinition(dev.json, 'DataPrep');
    const tasks = {
      Plan: def.States.Plan,
      ProcessPart: def.States.ProcessParts.ItemProcessor.States.ProcessPart,
      Finalize: def.States.Finalize,
      Register: def.States.Register,
    };
    const entries = {
      Plan: 'functions/dataprep/plan.ts',
      ProcessPart: 'functions/dataprep/process-part.ts',
      Finalize: 'functions/dataprep/finalize.ts',
      Register: 'functions/dataprep/register.ts',
    };
    for (const [name, task] of Object.entries(tasks)) {
      expect(task.Type, name).toBe('Task');
      expect(task.Resource, name).toMatch(/:states:::lambda:invoke$/);
      expect(task.OutputPath, name).toBe('$.Payload');
      if (name === 'Plan') {
        // Plan also gets the execution name, which identifies the run across retries.
        expect(task.Parameters.Payload, name).toEqual({
          'event.$': '$',
          'executionName.$': '$$.Execution.Name',
        });
      } else {
        expect(task.Parameters['Payload.$'], name).toBe('$');
      }
      const [fnId] = functionByEntry(dev.json, entries[name as keyof typeof entries]);
      expect(task.Parameters.FunctionName, name).toBe(`<${fnId}.Arn>`);
      const errors = (task.Retry as { ErrorEquals: string[] }[]).flatMap((r) => r.ErrorEquals);
      expect(errors, name).toEqual(
        expect.arrayContaining([
          'Lambda.TooManyRequestsException',
          'Lambda.ServiceException',
          'Lambda.SdkClientException',
          'Lambda.ClientExecutionTimeoutException',
          'TransientError',
        ]),
      );
      expect(errors, name).not.toContain('States.Timeout');
      expect(errors, name).not.toContain('States.ALL');
      const transient = task.Retry.find((r: { ErrorEquals: string[] }) =>
        r.ErrorEquals.includes('TransientError'),
      );
      expect(transient, name).toMatchObject({ MaxAttempts: 3, BackoffRate: 2 });
    }
  });

  it.each(['dev', 'prod'] as const)('%s: logs to an encrypted log group at the profile level', (p) => {
    const s = p === 'dev' ? dev : prod;
    const [, sm] = pipelineStateMachine(s.json, 'DataPrep');
    const logging = props(sm).LoggingConfiguration;
    expect(logging.Level).toBe(p === 'dev' ? 'ALL' : 'ERROR');
    expect(logging.IncludeExecutionData).toBe(p === 'dev');
    const logGroupId = logging.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0];
    const logGroup = s.json.Resources[logGroupId] as CfnResource;
    expect(props(logGroup).KmsKeyId).toEqual(arnOf(keyId(s.json)));
    expect(props(logGroup).RetentionInDays).toBe(p === 'dev' ? 14 : 365);
    expect(props(logGroup).LogGroupName).toMatch(/^\/aws\/vendedlogs\/states\//);
  });
});

describe('pipeline failures', () => {
  it.each(PIPELINES)(
    '%s: failed, timed-out and aborted executions go to the shared failure handler, with a DLQ and retries',
    (pipeline) => {
      const [smId] = pipelineStateMachine(dev.json, pipeline);
      const [ruleId, rule] = failureRule(dev.json, pipeline);
      expect(props(rule).EventBusName).toBeUndefined();
      expect(props(rule).EventPattern).toEqual({
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [ref(smId)] },
      });
      const [handlerId] = functionByEntry(dev.json, 'functions/pipeline-failed/handler.ts');
      const targets = props(rule).Targets as CfnJson[];
      expect(targets).toHaveLength(1);
      const target = targets[0];
      expect(target.Arn).toEqual(arnOf(handlerId));
      expect(target.DeadLetterConfig.Arn['Fn::GetAtt'][0]).toMatch(
        new RegExp(`^${PIPELINE_SCOPE[pipeline]}PipelineFailureRuleDeadLetterQueue`),
      );
      expect(target.RetryPolicy.MaximumRetryAttempts).toBeGreaterThan(0);
      dev.template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: arnOf(handlerId),
        Principal: 'events.amazonaws.com',
        SourceArn: arnOf(ruleId),
      });
    },
  );

  it("the only Step Functions rules are the failure rules of the pipelines; FineTune's training .sync rule is Step Functions' own", () => {
    const rules = resourcesOfType(dev.json, 'AWS::Events::Rule')
      .filter(([, r]) => sourceOf(r).includes('aws.states'))
      .map(([id]) => id);
    expect(rules.sort()).toEqual(PIPELINES.map((pipeline) => failureRule(dev.json, pipeline)[0]).sort());
    // `sagemaker:createTrainingJob.sync` learns that a job ended from a managed rule that Step Functions
    // creates in the account (StepFunctionsGetEventsForSageMakerTrainingJobsRule): not in the template, and
    // the FineTune role may manage that one rule and no other.
    const [fineTuneId, fineTune] = pipelineStateMachine(dev.json, 'FineTune');
    const roleId = props(fineTune).RoleArn['Fn::GetAtt'][0] as string;
    const onRules = roleStatements(dev.json, roleId).filter((st) =>
      list(st.Action).some((a) => a.startsWith('events:')),
    );
    expect(onRules, fineTuneId).toEqual([
      {
        Sid: 'SyncRule',
        Effect: 'Allow',
        Action: ['events:DescribeRule', 'events:PutRule', 'events:PutTargets'],
        Resource: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':events:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
              ':rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule',
            ],
          ],
        },
      },
    ]);
    for (const pipeline of PIPELINES.filter((p) => p !== 'FineTune')) {
      const [, sm] = pipelineStateMachine(dev.json, pipeline);
      const role = props(sm).RoleArn['Fn::GetAtt'][0] as string;
      const events = roleStatements(dev.json, role).filter((st) =>
        list(st.Action).some((a) => a.startsWith('events:')),
      );
      expect(events, pipeline).toEqual([]);
    }
  });

  it('the failure handler is async: 2 retries, then an encrypted DLQ', () => {
    const [handlerId, handler] = functionByEntry(dev.json, 'functions/pipeline-failed/handler.ts');
    const dlqId = props(handler).DeadLetterConfig.TargetArn['Fn::GetAtt'][0];
    expect(dev.json.Resources[dlqId]?.Type).toBe('AWS::SQS::Queue');
    expect(props(dev.json.Resources[dlqId] as CfnResource).KmsMasterKeyId).toEqual(arnOf(keyId(dev.json)));
    dev.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: ref(handlerId),
      MaximumRetryAttempts: 2,
    });
    expect(props(handler).Environment.Variables.EVENT_BUS_NAME).toEqual(
      ref(only(dev.json, 'AWS::Events::EventBus')[0]),
    );
  });

  it.each(PIPELINES)(
    '%s: a math alarm on failed + timed-out + aborted executions pages on ALARM and OK',
    (pipeline) => {
      const [smId] = pipelineStateMachine(dev.json, pipeline);
      const [, alarm] = only(dev.json, 'AWS::CloudWatch::Alarm', (r) => {
        const metrics = JSON.stringify(props(r).Metrics ?? []);
        return metrics.includes('ExecutionsFailed') && metrics.includes(JSON.stringify(ref(smId)));
      });
      const p = props(alarm);
      expect(p.Threshold).toBe(1);
      expect(p.EvaluationPeriods).toBe(1);
      expect(p.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
      expect(p.TreatMissingData).toBe('notBreaching');
      const expression = p.Metrics.find((m: CfnJson) => m.Expression);
      expect(expression.Expression).toBe('failed + timedOut + aborted');
      const metrics = p.Metrics.filter((m: CfnJson) => m.MetricStat);
      expect(metrics.map((m: CfnJson) => m.MetricStat.Metric.MetricName).sort()).toEqual([
        'ExecutionsAborted',
        'ExecutionsFailed',
        'ExecutionsTimedOut',
      ]);
      for (const m of metrics) {
        expect(m.MetricStat.Period).toBe(300);
        expect(m.MetricStat.Stat).toBe('Sum');
        expect(m.MetricStat.Metric.Dimensions).toEqual([{ Name: 'StateMachineArn', Value: ref(smId) }]);
      }
    },
  );
});

describe('functions', () => {
  it.each(['dev', 'prod'] as const)('%s: every house function has the house defaults', (p) => {
    const s = p === 'dev' ? dev : prod;
    const fns = houseFunctions(s.json);
    expect(fns).toHaveLength(39);
    for (const [id, fn] of fns) {
      const fp = props(fn);
      expect(fp.Runtime, id).toBe('nodejs24.x');
      expect(fp.Architectures, id).toEqual(['arm64']);
      expect(fp.TracingConfig, id).toEqual({ Mode: 'Active' });
      expect(fp.Handler, id).toBe(`index.${fn.Metadata?.['llmops:handler']}`);
      const env = fp.Environment.Variables;
      // API functions run without runtime source maps (cold start); every other function has them.
      const api = String(fn.Metadata?.['llmops:entry']).startsWith('functions/api/');
      expect(env.NODE_OPTIONS, id).toBe(api ? undefined : '--enable-source-maps');
      expect(env, id).toMatchObject({
        POWERTOOLS_SERVICE_NAME: 'llmops',
        POWERTOOLS_METRICS_NAMESPACE: 'LLMOps',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        LLMOPS_PROFILE: p,
      });
      const logGroupId = fp.LoggingConfig.LogGroup.Ref as string;
      const logGroup = s.json.Resources[logGroupId] as CfnResource;
      expect(logGroup.Type, id).toBe('AWS::Logs::LogGroup');
      expect(props(logGroup).RetentionInDays, id).toBe(p === 'dev' ? 14 : 365);
      expect(props(logGroup).KmsKeyId, id).toEqual(arnOf(keyId(s.json)));
      expect(logGroup.DeletionPolicy, id).toBe(p === 'dev' ? 'Delete' : 'Retain');
      const role = s.json.Resources[fp.Role['Fn::GetAtt'][0]] as CfnResource;
      expect(props(role).ManagedPolicyArns, `${id} role has no managed policies`).toBeUndefined();
    }
  });

  it('the only other functions are CDK custom-resource providers (dev auto-delete)', () => {
    for (const [, s] of profiles()) {
      const others = resourcesOfType(s.json, 'AWS::Lambda::Function')
        .filter(([, r]) => !r.Metadata?.['llmops:entry'])
        .map(([id]) => id);
      for (const id of others) expect(id).toMatch(/^Custom.*CustomResourceProvider/);
      if (s.config.profile === 'prod') expect(others).toEqual([]);
    }
  });

  it('each llmops:entry is a file in the repo that exports its handler', () => {
    const entries = houseFunctions(dev.json).map(([, r]) => [
      r.Metadata?.['llmops:entry'],
      r.Metadata?.['llmops:handler'],
    ]);
    expect(entries.map(([e]) => e).sort()).toEqual([
      'functions/api/authorizer.ts',
      'functions/api/chat.ts',
      'functions/api/drift.ts',
      'functions/api/evaluations.ts',
      'functions/api/feedback.ts',
      'functions/api/finetune.ts',
      'functions/api/models.ts',
      'functions/api/openapi.ts',
      'functions/api/prompts.ts',
      'functions/api/rag.ts',
      'functions/dataprep/finalize.ts',
      'functions/dataprep/plan.ts',
      'functions/dataprep/process-part.ts',
      'functions/dataprep/register.ts',
      'functions/dataprep/release-claim.ts',
      'functions/drift/check.ts',
      'functions/drift/collect.ts',
      'functions/drift/on-alarm.ts',
      'functions/drift/start-evaluation.ts',
      'functions/evaluation/catalog-scores.ts',
      'functions/evaluation/generate.ts',
      'functions/evaluation/plan.ts',
      'functions/evaluation/record-failure.ts',
      'functions/evaluation/register-suite.ts',
      'functions/evaluation/report.ts',
      'functions/evaluation/score.ts',
      'functions/feedback/export.ts',
      'functions/finetune/candidate.ts',
      'functions/finetune/gate.ts',
      'functions/finetune/plan.ts',
      'functions/finetune/register.ts',
      'functions/finetune/rollout.ts',
      'functions/loop/on-event.ts',
      'functions/pipeline-failed/handler.ts',
      'functions/rag/chunk.ts',
      'functions/rag/embed.ts',
      'functions/rag/finish.ts',
      'functions/rag/index-chunks.ts',
      'functions/rag/plan.ts',
    ]);
    for (const [entry, handler] of entries as [string, string][]) {
      const file = join(REPO_ROOT, entry);
      expect(existsSync(file), entry).toBe(true);
      const source = readFileSync(file, 'utf8');
      const exported = new RegExp(
        `export\\s+(?:const|let|var)\\s+${handler}\\b|export\\s+(?:async\\s+)?function\\s+${handler}\\b|export\\s*\\{[^}]*\\b(?:as\\s+)?${handler}\\b[^}]*\\}`,
      );
      expect(source, `${entry} exports ${handler}`).toMatch(exported);
    }
  });

  it('env vars name the resources they were granted', () => {
    const _rawId = bucketId(dev.json, 'Raw');
    const curatedId = bucketId(dev.json, 'Curated');
    const artifactsId = bucketId(dev.json, 'Artifacts');
    const [tableId] = datasetsTable(dev.json);
    const [busId] = only(dev.json, 'AWS::Events::EventBus');
    const env = (entry: string) => props(functionByEntry(dev.json, entry)[1]).Environment.Variables;

    // Functions that find an object's bucket in their event or state are granted it, not told it.
    for (const entry of ['functions/dataprep/plan.ts', 'functions/dataprep/process-part.ts']) {
      expect(env(entry), entry).not.toHaveProperty('RAW_BUCKET');
    }
    expect(env('functions/dataprep/finalize.ts')).not.toHaveProperty('ARTIFACTS_BUCKET');
    expect(env('functions/dataprep/register.ts')).not.toHaveProperty('CURATED_BUCKET');
    expect(env('functions/dataprep/plan.ts')).toMatchObject({
      DATASETS_TABLE: ref(tableId),
      // Where it stages the Distributed Map's items.
      ARTIFACTS_BUCKET: ref(artifactsId),
      PART_SIZE_BYTES: String(64 * 1024 * 1024),
      MAX_PARTS: '10000',
    });
    expect(env('functions/dataprep/process-part.ts')).toMatchObject({
      ARTIFACTS_BUCKET: ref(artifactsId),
      MAX_RECORD_BYTES: String(1024 * 1024),
      PII_COMPREHEND: 'false',
    });
    expect(env('functions/dataprep/finalize.ts')).toMatchObject({
      CURATED_BUCKET: ref(curatedId),
      QUARANTINE_BUCKET: ref(artifactsId),
      QUARANTINE_EXPIRATION_DAYS: '7',
      VALIDATION_RATIO: '0.1',
      NEAR_DUP_THRESHOLD: '0.8',
    });
    expect(env('functions/dataprep/register.ts')).toMatchObject({
      DATASETS_TABLE: ref(tableId),
      EVENT_BUS_NAME: ref(busId),
    });
  });

  it.each(['dev', 'prod'] as const)('%s: memory and timeouts follow the profile', (p) => {
    const s = p === 'dev' ? dev : prod;
    const process = props(functionByEntry(s.json, 'functions/dataprep/process-part.ts')[1]);
    expect(process.MemorySize).toBe(p === 'dev' ? 1024 : 2048);
    expect(process.Timeout).toBe(900);
    const finalize = props(functionByEntry(s.json, 'functions/dataprep/finalize.ts')[1]);
    expect(finalize.MemorySize).toBe(p === 'dev' ? 2048 : 4096);
    expect(finalize.Timeout).toBe(900);
  });
});

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

function allStatements(json: CfnTemplate): { policy: string; statement: Statement }[] {
  const out: { policy: string; statement: Statement }[] = [];
  for (const [id, r] of resourcesOfType(json, 'AWS::IAM::Policy')) {
    for (const statement of props(r).PolicyDocument.Statement as Statement[])
      out.push({ policy: id, statement });
  }
  for (const [id, r] of resourcesOfType(json, 'AWS::IAM::Role')) {
    for (const inline of (props(r).Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]) {
      for (const statement of inline.PolicyDocument.Statement) out.push({ policy: id, statement });
    }
  }
  return out;
}

const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** Actions allowed on Resource "*": services without resource-level permissions. */
const UNSCOPED_ALLOWLIST = new Set([
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
  'comprehend:DetectPiiEntities',
  'comprehend:DetectToxicContent',
  // The SageMaker roles (training jobs, the endpoint's containers): the registry token has no resource
  // type, and metrics have none either (PutMetricData is held to SageMaker's namespaces, asserted below).
  'ecr:GetAuthorizationToken',
  'cloudwatch:PutMetricData',
]);

/** The EC2 network-interface actions Lambda needs to place a function in a VPC (`VPC_ACCESS_ACTIONS`). */
const VPC_ACCESS_ACTION_LIST = [
  'ec2:AssignPrivateIpAddresses',
  'ec2:CreateNetworkInterface',
  'ec2:DeleteNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:UnassignPrivateIpAddresses',
];

/**
 * The VPC access policies: each grants exactly `VPC_ACCESS_ACTIONS` on `*` in one statement, to the role of
 * one function that runs in a VPC (and that waits for the policy). Keyed by policy logical id.
 */
function vpcAccessPolicies(json: CfnTemplate): Map<string, string> {
  const out = new Map<string, string>();
  for (const [fnId, fn] of resourcesOfType(json, 'AWS::Lambda::Function')) {
    if (!props(fn).VpcConfig) continue;
    const roleId = props(fn).Role['Fn::GetAtt'][0] as string;
    const policies = resourcesOfType(json, 'AWS::IAM::Policy').filter(
      ([id, r]) =>
        id.includes('VpcAccessPolicy') && JSON.stringify(props(r).Roles) === JSON.stringify([ref(roleId)]),
    );
    expect(policies, `${fnId}: one VPC access policy`).toHaveLength(1);
    const [policyId, policy] = policies[0] as [string, CfnResource];
    expect(props(policy).PolicyDocument.Statement, policyId).toEqual([
      { Effect: 'Allow', Action: VPC_ACCESS_ACTION_LIST, Resource: '*' },
    ]);
    expect((fn as CfnResource & { DependsOn?: string[] }).DependsOn, fnId).toContain(policyId);
    out.set(policyId, fnId);
  }
  return out;
}

describe('IAM', () => {
  it.each(['dev', 'prod'] as const)('%s: no wildcard actions anywhere in identity policies', (p) => {
    const s = p === 'dev' ? dev : prod;
    const statements = allStatements(s.json).filter(({ statement }) => statement.Effect === 'Allow');
    expect(statements.length).toBeGreaterThan(10);
    for (const { policy, statement } of statements) {
      for (const action of list(statement.Action)) {
        expect(action, `${policy}: ${action}`).not.toBe('*');
        expect(action, `${policy}: ${action}`).not.toMatch(/\*/);
      }
    }
  });

  it('the VPC access actions are exactly the EC2 network-interface actions Lambda needs', () => {
    expect([...VPC_ACCESS_ACTIONS].sort()).toEqual(VPC_ACCESS_ACTION_LIST);
  });

  it.each(['dev', 'prod'] as const)(
    '%s: Resource "*" only for services without resource-level permissions, and VPC access of VPC functions',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const vpcAccess = vpcAccessPolicies(s.json);
      // With the OpenSearch store (prod): the Index function, the API's chat and rag functions and
      // Evaluate's Generate (the gateway code path, as chat) run in the store's VPC (asserted in
      // rag-ingest.test.ts). With S3 Vectors (dev) no function is in a VPC.
      expect(vpcAccess.size).toBe(s.config.rag.vectorStore === 'opensearch' ? 4 : 0);
      for (const { policy, statement } of allStatements(s.json)) {
        if (statement.Effect !== 'Allow' || !list(statement.Resource).includes('*')) continue;
        if (vpcAccess.has(policy)) continue; // exactly VPC_ACCESS_ACTIONS, checked by vpcAccessPolicies
        for (const action of list(statement.Action)) {
          expect(UNSCOPED_ALLOWLIST.has(action), `${policy}: ${action} on *`).toBe(true);
          if (action === 'cloudwatch:PutMetricData') {
            const namespaces = list(statement.Condition?.StringLike?.['cloudwatch:namespace'] ?? []);
            expect(
              namespaces.length,
              `${policy}: PutMetricData without a namespace condition`,
            ).toBeGreaterThan(0);
            for (const ns of namespaces)
              expect(String(ns), policy).toMatch(/^(\/aws\/sagemaker\/|AWS\/SageMaker$)/);
          }
        }
      }
    },
  );

  it('data actions are scoped: raw is read-only, pipelines use only their own staging/<pipeline>/ (Finalize also quarantine/dataprep/, Evaluate the reports under evaluations/, fine-tuning its finetune/ prefixes), KMS only via services', () => {
    const rawId = bucketId(dev.json, 'Raw');
    const artifactsId = bucketId(dev.json, 'Artifacts');
    for (const { policy, statement } of allStatements(dev.json)) {
      const actions = list(statement.Action);
      const resources = list(statement.Resource).map(flatten);
      if (
        policy.startsWith('FeedbackExportFunction') &&
        resources.some((r) => r.startsWith(`<${rawId}.Arn>`))
      ) {
        // The feedback export uploads as a person would: its own folders, which DataPrep curates (and
        // lists them, to read back what a retried run wrote).
        if (actions.every((a) => a === 's3:ListBucket')) continue;
        for (const r of resources) {
          expect(
            [
              `<${rawId}.Arn>/raw/preference/feedback/*`,
              `<${rawId}.Arn>/raw/golden/feedback-holdout/*`,
              `<${artifactsId}.Arn>/feedback/unpaired/*`,
            ],
            policy,
          ).toContain(r);
        }
      } else if (resources.some((r) => r.startsWith(`<${rawId}.Arn>`))) {
        for (const a of actions)
          expect(
            ['s3:GetObject', 's3:GetObjectVersion', 's3:ListBucket'],
            `${policy}: ${a} on raw`,
          ).toContain(a);
      }
      for (const r of resources.filter((x) => x.startsWith(`<${artifactsId}.Arn>/`))) {
        // Only Firehose (the interaction log) and Evaluate's Report write outside staging/, each under its
        // own prefixes; RagIngest stays in its own staging/rag/ and Evaluate in staging/eval/ (under the
        // staging/ lifecycle rule).
        if (policy.startsWith('InteractionLogDeliveryRole')) {
          expect([
            `<${artifactsId}.Arn>/interactions/*`,
            `<${artifactsId}.Arn>/interactions-errors/*`,
          ]).toContain(r);
        } else if (policy.startsWith('RagIngest')) {
          // The state machine itself: its Distributed Map's items (read) and results (written), no more.
          expect(
            policy.startsWith('RagIngestPipelineStateMachine')
              ? [`<${artifactsId}.Arn>/staging/rag/items/*`, `<${artifactsId}.Arn>/staging/rag/map-runs/*`]
              : [`<${artifactsId}.Arn>/staging/rag/*`],
            policy,
          ).toContain(r);
        } else if (policy.startsWith('DataPrepFinalizeFunction')) {
          // The quarantine is written, never read (quarantine.test.ts asserts who may read it: nobody).
          expect(
            [`<${artifactsId}.Arn>/staging/dataprep/*`, `<${artifactsId}.Arn>/quarantine/dataprep/*`],
            policy,
          ).toContain(r);
          if (r.endsWith('/quarantine/dataprep/*')) {
            expect(actions.sort(), policy).toEqual(['s3:AbortMultipartUpload', 's3:PutObject']);
          }
        } else if (policy.startsWith('EvaluationReportFunction')) {
          // The reports it writes (and the previous run's items it reads), and the run's staged batches.
          expect(
            [`<${artifactsId}.Arn>/staging/eval/*`, `<${artifactsId}.Arn>/evaluations/*`],
            policy,
          ).toContain(r);
        } else if (policy.startsWith('EvaluationApiFunction')) {
          // The evaluations API presigns report links: it reads the reports, nothing else.
          expect(r, policy).toBe(`<${artifactsId}.Arn>/evaluations/*`);
          expect(actions.sort(), policy).toEqual(['s3:GetObject', 's3:GetObjectVersion']);
        } else if (policy.startsWith('EvaluationPlanFunction')) {
          // The run's staged batches, and (read only) a request's bring-your-own predictions.
          expect(
            [`<${artifactsId}.Arn>/staging/eval/*`, `<${artifactsId}.Arn>/predictions/*`],
            policy,
          ).toContain(r);
          if (r.endsWith('/predictions/*')) {
            expect(actions.sort(), policy).toEqual(['s3:GetObject', 's3:GetObjectVersion']);
          }
        } else if (policy.startsWith('DriftCollectFunction')) {
          // Reads the interaction log and (for baselines) evaluation reports; writes its staged window and
          // the baselines it builds.
          expect(
            [
              `<${artifactsId}.Arn>/interactions/*`,
              `<${artifactsId}.Arn>/evaluations/*`,
              `<${artifactsId}.Arn>/staging/drift/*`,
              `<${artifactsId}.Arn>/drift/baselines/*`,
            ],
            policy,
          ).toContain(r);
          if (r.endsWith('/interactions/*') || r.endsWith('/evaluations/*')) {
            expect(actions.sort(), policy).toEqual(['s3:GetObject', 's3:GetObjectVersion']);
          }
        } else if (policy.startsWith('DriftCheckFunction')) {
          expect(
            [
              `<${artifactsId}.Arn>/staging/drift/*`,
              `<${artifactsId}.Arn>/drift/baselines/*`,
              `<${artifactsId}.Arn>/drift/reports/*`,
            ],
            policy,
          ).toContain(r);
        } else if (policy.startsWith('DriftApiFunction')) {
          // The drift API presigns report links: it reads the reports, nothing else.
          expect(r, policy).toBe(`<${artifactsId}.Arn>/drift/reports/*`);
          expect(actions.sort(), policy).toEqual(['s3:GetObject', 's3:GetObjectVersion']);
        } else if (policy.startsWith('Evaluation')) {
          expect(r, policy).toBe(`<${artifactsId}.Arn>/staging/eval/*`);
        } else if (policy.startsWith('FineTuningTrainingPolicy')) {
          // A training job: its spot checkpoints and its adapter (read back on a restart).
          expect(
            [`<${artifactsId}.Arn>/finetune/checkpoints/*`, `<${artifactsId}.Arn>/finetune/output/*`],
            policy,
          ).toContain(r);
        } else if (policy.startsWith('ServingExecutionPolicy')) {
          // The endpoint's containers load the adapters: read-only.
          expect(r, policy).toBe(`<${artifactsId}.Arn>/finetune/output/*`);
          expect(actions, policy).toEqual(['s3:GetObject']);
        } else if (policy.startsWith('FeedbackExportFunction')) {
          // The unpaired (KTO) records, kept apart from DataPrep's input.
          expect(r, policy).toBe(`<${artifactsId}.Arn>/feedback/unpaired/*`);
        } else if (policy.startsWith('ClosedLoopLoopFunction')) {
          // The runs' items and summaries it compares: read-only.
          expect(r, policy).toBe(`<${artifactsId}.Arn>/evaluations/*`);
          expect(actions.sort(), policy).toEqual(['s3:GetObject', 's3:GetObjectVersion']);
        } else if (policy.startsWith('FineTuningRegisterFunction')) {
          // The lineage record of each model package: written, never read.
          expect(r, policy).toBe(`<${artifactsId}.Arn>/finetune/lineage/*`);
          expect(actions.sort(), policy).toEqual(['s3:AbortMultipartUpload', 's3:PutObject']);
        } else if (policy.startsWith('DataPrepPlanFunction')) {
          // The Distributed Map's items, written only.
          expect(r, policy).toBe(`<${artifactsId}.Arn>/staging/dataprep/items/*`);
          expect(actions.sort(), policy).toEqual(['s3:AbortMultipartUpload', 's3:PutObject']);
        } else if (policy.startsWith('DataPrepPipelineStateMachine')) {
          // Its Distributed Map's items (read) and results (written), no more.
          expect(
            [
              `<${artifactsId}.Arn>/staging/dataprep/items/*`,
              `<${artifactsId}.Arn>/staging/dataprep/map-runs/*`,
            ],
            policy,
          ).toContain(r);
        } else {
          expect(r, policy).toBe(`<${artifactsId}.Arn>/staging/dataprep/*`);
        }
      }
      if (actions.some((a) => a.startsWith('kms:')) && !policy.includes('CustomResourceProvider')) {
        expect(
          statement.Condition?.StringEquals?.['kms:ViaService'],
          `${policy}: kms without ViaService`,
        ).toBeDefined();
      }
      if (actions.some((a) => a.startsWith('dynamodb:'))) {
        for (const r of resources) expect(r, policy).not.toMatch(/\*/);
      }
    }
  });
});

describe('encryption', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: data buckets use the project key with a bucket key; access logs use SSE-S3',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const key = arnOf(keyId(s.json));
      for (const name of ['Raw', 'Curated', 'Artifacts'] as const) {
        const bucket = props(s.json.Resources[bucketId(s.json, name)] as CfnResource);
        expect(bucket.BucketEncryption.ServerSideEncryptionConfiguration, name).toEqual([
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: key },
          },
        ]);
        expect(bucket.VersioningConfiguration, name).toEqual({ Status: 'Enabled' });
        expect(bucket.PublicAccessBlockConfiguration, name).toEqual({
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        });
        expect(bucket.LoggingConfiguration.DestinationBucketName, name).toEqual(
          ref(bucketId(s.json, 'AccessLogs')),
        );
      }
      const logs = props(s.json.Resources[bucketId(s.json, 'AccessLogs')] as CfnResource);
      expect(
        logs.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm,
      ).toBe('AES256');
    },
  );

  it('every bucket denies non-TLS requests', () => {
    for (const [, policy] of resourcesOfType(dev.json, 'AWS::S3::BucketPolicy')) {
      expect(props(policy).PolicyDocument.Statement).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      );
    }
    expect(logicalIdsOfType(dev.json, 'AWS::S3::BucketPolicy')).toHaveLength(4);
  });

  it('the tables, topic and queues are encrypted; only the bus DLQ (which must survive a key failure) uses SSE-SQS', () => {
    const key = arnOf(keyId(dev.json));
    const tables = resourcesOfType(dev.json, 'AWS::DynamoDB::Table');
    expect(tables).toHaveLength(11);
    for (const [id, table] of tables) {
      expect(props(table).SSESpecification, id).toEqual({
        KMSMasterKeyId: key,
        SSEEnabled: true,
        SSEType: 'KMS',
      });
    }
    const [, topic] = only(dev.json, 'AWS::SNS::Topic');
    expect(props(topic).KmsMasterKeyId).toEqual(key);
    const queues = resourcesOfType(dev.json, 'AWS::SQS::Queue');
    expect(queues).toHaveLength(25);
    for (const [id, q] of queues) {
      if (id.startsWith('EventsDeadLetterQueue')) expect(props(q).SqsManagedSseEnabled, id).toBe(true);
      else expect(props(q).KmsMasterKeyId, id).toEqual(key);
    }
    for (const [, policy] of resourcesOfType(dev.json, 'AWS::SQS::QueuePolicy')) {
      expect(JSON.stringify(props(policy).PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    }
    const [, bus] = only(dev.json, 'AWS::Events::EventBus');
    expect(props(bus).KmsKeyIdentifier).toEqual(key);
    const [, archive] = only(dev.json, 'AWS::Events::Archive');
    expect(props(archive).KmsKeyIdentifier).toEqual(key);
    expect(props(archive).RetentionDays).toBe(7);
    expect(props(only(prod.json, 'AWS::Events::Archive')[1]).RetentionDays).toBe(90);
  });

  it.each(['dev', 'prod'] as const)(
    '%s: every role that sends to a queue encrypted with the project key may use the key through SQS',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const key = arnOf(keyId(s.json));
      // SQS asks KMS for the data key as the sender: a sender without kms:GenerateDataKey and kms:Decrypt
      // on the key cannot send (a Lambda function's async DLQ, a schedule's DLQ). EventBridge rule targets
      // send as the service, through the key policy (asserted below), not through a role.
      const encrypted = new Set(
        resourcesOfType(s.json, 'AWS::SQS::Queue')
          .filter(([, q]) => JSON.stringify(props(q).KmsMasterKeyId) === JSON.stringify(key))
          .map(([id]) => id),
      );
      const senders: string[] = [];
      for (const roleId of logicalIdsOfType(s.json, 'AWS::IAM::Role')) {
        const allowed = roleStatements(s.json, roleId).filter((st) => st.Effect === 'Allow');
        const queues = allowed
          .filter((st) => list(st.Action).includes('sqs:SendMessage'))
          .flatMap((st) => list(st.Resource))
          .map((r: CfnJson) => r?.['Fn::GetAtt']?.[0] as string | undefined)
          .filter((id): id is string => id !== undefined && encrypted.has(id));
        if (queues.length === 0) continue;
        senders.push(roleId);
        const viaSqs = allowed.filter(
          (st) =>
            JSON.stringify(st.Resource) === JSON.stringify(key) &&
            flatten(st.Condition?.StringEquals?.['kms:ViaService']) === 'sqs.<AWS::Region>.amazonaws.com',
        );
        expect(
          viaSqs.flatMap((st) => list(st.Action)),
          `${roleId} sends to ${queues.join(', ')}`,
        ).toEqual(expect.arrayContaining(['kms:Decrypt', 'kms:GenerateDataKey']));
      }
      // The failure handler and the async Evaluation functions, and the schedules' role.
      expect(senders.length).toBeGreaterThanOrEqual(4);
    },
  );

  it('the key rotates, is retained, and lets CloudWatch/EventBridge publish to encrypted topics and queues', () => {
    const [, key] = only(dev.json, 'AWS::KMS::Key');
    expect(props(key).EnableKeyRotation).toBe(true);
    expect(key.DeletionPolicy).toBe('Retain');
    const statements = props(key).KeyPolicy.Statement as CfnJson[];
    const forService = (service: string) =>
      statements.filter(
        (st) => JSON.stringify(st.Principal).includes(service) && list(st.Action).includes('kms:Decrypt'),
      );
    const cw = forService('cloudwatch.amazonaws.com');
    expect(cw).toHaveLength(1);
    expect(list(cw[0].Action).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey*']);
    expect(Object.keys(cw[0].Condition.ArnLike)).toEqual(['kms:EncryptionContext:aws:sns:topicArn']);
    const events = forService('events.amazonaws.com');
    expect(events.map((st) => Object.keys(Object.values(st.Condition)[0] as object)[0]).sort()).toEqual(
      expect.arrayContaining(['kms:EncryptionContext:aws:sns:topicArn', 'kms:EncryptionContext:aws:sqs:arn']),
    );
    dev.template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/LlmOps-dev' });
  });
});

describe('retention and removal', () => {
  it.each(['dev', 'prod'] as const)('%s: the raw bucket and access logs are always retained', (p) => {
    const s = p === 'dev' ? dev : prod;
    for (const name of ['Raw', 'AccessLogs'] as const) {
      const bucket = s.json.Resources[bucketId(s.json, name)] as CfnResource;
      expect(bucket.DeletionPolicy, name).toBe('Retain');
      expect(bucket.UpdateReplacePolicy, name).toBe('Retain');
    }
    const rawId = bucketId(s.json, 'Raw');
    for (const [, cr] of resourcesOfType(s.json, 'Custom::S3AutoDeleteObjects')) {
      expect(props(cr).BucketName).not.toEqual(ref(rawId));
    }
  });

  it('dev: curated, artifacts and the tables are destroyed with the stack (buckets emptied first)', () => {
    for (const name of ['Curated', 'Artifacts'] as const) {
      expect((dev.json.Resources[bucketId(dev.json, name)] as CfnResource).DeletionPolicy, name).toBe(
        'Delete',
      );
    }
    const autoDeleted = resourcesOfType(dev.json, 'Custom::S3AutoDeleteObjects').map(
      ([, r]) => props(r).BucketName,
    );
    expect(autoDeleted).toEqual(
      expect.arrayContaining([ref(bucketId(dev.json, 'Curated')), ref(bucketId(dev.json, 'Artifacts'))]),
    );
    expect(autoDeleted).toHaveLength(2);
    for (const [id, table] of resourcesOfType(dev.json, 'AWS::DynamoDB::Table')) {
      expect(table.DeletionPolicy, id).toBe('Delete');
      expect(props(table).DeletionProtectionEnabled, id).toBe(false);
    }
  });

  it('prod: everything holding data is retained; the tables have PITR and deletion protection', () => {
    for (const name of ['Raw', 'Curated', 'Artifacts', 'AccessLogs'] as const) {
      expect((prod.json.Resources[bucketId(prod.json, name)] as CfnResource).DeletionPolicy, name).toBe(
        'Retain',
      );
    }
    expect(logicalIdsOfType(prod.json, 'Custom::S3AutoDeleteObjects')).toEqual([]);
    const tables = resourcesOfType(prod.json, 'AWS::DynamoDB::Table');
    expect(tables).toHaveLength(11);
    for (const [id, table] of tables) {
      expect(table.DeletionPolicy, id).toBe('Retain');
      expect(props(table).PointInTimeRecoverySpecification, id).toEqual({ PointInTimeRecoveryEnabled: true });
      expect(props(table).DeletionProtectionEnabled, id).toBe(true);
    }
    for (const [id, lg] of resourcesOfType(prod.json, 'AWS::Logs::LogGroup')) {
      expect(props(lg).RetentionInDays, id).toBe(365);
      expect(lg.DeletionPolicy, id).toBe('Retain');
    }
  });

  it('the registry table: pk/sk, gsi1 on gsi1pk/gsi1sk, on-demand, TTL on ttl', () => {
    dev.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'gsi1',
          KeySchema: [
            { AttributeName: 'gsi1pk', KeyType: 'HASH' },
            { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
          ],
        }),
      ],
    });
    expect(props(datasetsTable(dev.json)[1]).PointInTimeRecoverySpecification).toEqual({
      PointInTimeRecoveryEnabled: false,
    });
  });

  it('artifacts staging/ expires after the configured days', () => {
    const rules = props(dev.json.Resources[bucketId(dev.json, 'Artifacts')] as CfnResource)
      .LifecycleConfiguration.Rules;
    expect(rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Prefix: 'staging/', ExpirationInDays: 7, Status: 'Enabled' }),
        expect.objectContaining({ Prefix: 'quarantine/', ExpirationInDays: 7, Status: 'Enabled' }),
      ]),
    );
    const raw = props(dev.json.Resources[bucketId(dev.json, 'Raw')] as CfnResource).LifecycleConfiguration
      .Rules as CfnJson[];
    for (const rule of raw) {
      expect(rule.ExpirationInDays, 'raw objects never expire').toBeUndefined();
      expect(rule.NoncurrentVersionExpiration, 'raw versions never expire').toBeUndefined();
    }
  });
});

describe('alarms and paging', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: every alarm pages the topic on ALARM and OK, but those a composite alarm pages for, in dev the anomaly alarms, and the scale-out-from-zero alarm whose action is its scaling policy',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const [topicId] = only(s.json, 'AWS::SNS::Topic');
      const alarms = resourcesOfType(s.json, 'AWS::CloudWatch::Alarm');
      const composites = resourcesOfType(s.json, 'AWS::CloudWatch::CompositeAlarm');
      // 4 pipelines × (executions failed + DLQs of the failure rule and the trigger rules) + DLQs of the bus,
      // the failure handler and the interaction rule + chat errors, model throttles, API 5XX, Firehose
      // freshness and delivery + interaction records lost and calls not kept for feedback (2) + DLQs of
      // the async Evaluation and Drift functions (RegisterSuite,
      // CatalogScores, OnAlarm, StartEvaluation) + evaluation regressions + the drift check's four signal
      // alarms (embedding, descriptors, quality, feedback) + per chat model of the catalog a latency, a cost and a tokens anomaly alarm + the default app's
      // daily cost budget + fine-tuning: FineTune and Rollout × (executions failed + failure rule DLQ), the
      // trigger DLQ, the DLQs of the async Gate and Rollout functions, the three canary alarms, RolledBack,
      // the base component's 5xx and latency alarms (13) + feedback and the closed loop: the DLQs of the
      // async Export and Loop functions and of their trigger rules (4) + RagIngest's trigger queue not
      // draining (1) + in dev (copies scale to zero) NoCapacity
      const chatModels = alarms.filter(([id]) => id.startsWith('MonitoringLatencyAnomaly')).length;
      expect(chatModels).toBe(6);
      const scaleOutFromZero = p === 'dev' ? 1 : 0;
      expect(alarms).toHaveLength(29 + 2 + 1 + chatModels * 3 + 13 + 4 + 1 + scaleOutFromZero);
      const scalingPolicies = new Set(logicalIdsOfType(s.json, 'AWS::ApplicationAutoScaling::ScalingPolicy'));
      const scalingAlarms = alarms.filter(([, a]) =>
        ((props(a).AlarmActions ?? []) as CfnJson[]).some((action) => scalingPolicies.has(action?.Ref)),
      );
      expect(scalingAlarms.map(([id]) => id)).toEqual(
        p === 'dev' ? [expect.stringMatching(/^ServingNoCapacity/)] : [],
      );
      // One composite per drift check: any of its four signals' alarms. It pages; its members do not.
      expect(composites).toHaveLength(1);
      const members = new Set(
        composites.flatMap(([, c]) => JSON.stringify(props(c).AlarmRule).match(/Drift[A-Za-z0-9]+/g) ?? []),
      );
      for (const [id, composite] of composites) {
        expect(props(composite).AlarmActions, id).toEqual([ref(topicId)]);
        expect(props(composite).OKActions, id).toEqual([ref(topicId)]);
      }
      for (const [id, alarm] of alarms) {
        const inComposite = [...members].some((member) => member === id);
        const devAnomaly = p === 'dev' && id.startsWith('Monitoring') && id.includes('Anomaly');
        if (inComposite || devAnomaly) {
          expect(props(alarm).AlarmActions, id).toBeUndefined();
          continue;
        }
        if (scalingAlarms.some(([scalingId]) => scalingId === id)) {
          // Its action adds the first copy (a call found none): scaling, not an incident.
          const [policyId] = only(
            s.json,
            'AWS::ApplicationAutoScaling::ScalingPolicy',
            (r) => props(r).StepScalingPolicyConfiguration !== undefined,
          );
          expect(props(alarm).AlarmActions, id).toEqual([ref(policyId)]);
          continue;
        }
        expect(props(alarm).AlarmActions, id).toEqual([ref(topicId)]);
        expect(props(alarm).OKActions, id).toEqual([ref(topicId)]);
      }
      expect(members.size).toBe(4);
    },
  );

  it('every dead-letter queue has a visible-messages alarm at >= 1; the source queue of a pipe, an age alarm', () => {
    // A queue a pipe drains holds messages normally: what pages is one that stops draining.
    const sources = new Set(
      resourcesOfType(dev.json, 'AWS::Pipes::Pipe').map(
        ([, r]) => props(r).Source['Fn::GetAtt'][0] as string,
      ),
    );
    expect(sources.size).toBe(1);
    for (const queueId of sources) {
      dev.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateAgeOfOldestMessage',
        Namespace: 'AWS/SQS',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    }
    const queues = logicalIdsOfType(dev.json, 'AWS::SQS::Queue').filter((id) => !sources.has(id));
    for (const queueId of queues) {
      dev.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    }
  });

  it("the topic enforces TLS and lets only this account's alarms publish", () => {
    const [, policy] = only(dev.json, 'AWS::SNS::TopicPolicy');
    const statements = props(policy).PolicyDocument.Statement as CfnJson[];
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        expect.objectContaining({
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: 'sns:Publish',
        }),
      ]),
    );
    expect(logicalIdsOfType(dev.json, 'AWS::SNS::Subscription')).toEqual([]);
  });
});

describe('stack', () => {
  it('has the outputs the README and the local runner read', () => {
    expect(Object.keys(dev.json.Outputs ?? {}).sort()).toEqual(
      [
        // The role of the admin routes (api.adminPrincipals names none in dev).
        'AdminRoleArn',
        'ApiKeyIdDefault',
        'ApiUrl',
        // Where bring-your-own predictions are uploaded (predictions/) and reports are written.
        'ArtifactsBucketName',
        'CuratedBucketName',
        'DataPrepStateMachineArn',
        'DriftCheckStateMachineArn',
        'EvaluateStateMachineArn',
        'EventBusName',
        // The feedback table (its verdicts and what the export made of them).
        'FeedbackTableName',
        // Fine-tuning (fineTuning.enabled): its state machines, the model registry and the endpoint.
        'FineTuneStateMachineArn',
        'GuardrailId',
        'InteractionLogDeliveryStreamName',
        'ModelPackageGroupName',
        'PagingTopicArn',
        'RagIngestStateMachineArn',
        'RawBucketName',
        // The role of the review routes (api.reviewerPrincipals names none in dev).
        'ReviewerRoleArn',
        'RolloutStateMachineArn',
        'ServingEndpointName',
      ].sort(),
    );
    expect(dev.stack.stackName).toBe('LlmOps-dev');
    expect(prod.stack.stackName).toBe('LlmOps-prod');
  });

  it.each(['dev', 'prod'] as const)(
    "%s: CDK's offline CloudFormation validator and cdk-nag report nothing",
    (p) => {
      const s = p === 'dev' ? dev : prod;
      // e.g. the validator finds dependency cycles (key policy ↔ bus ↔ queue) that synth alone accepts
      expect(s.validationViolations, JSON.stringify(s.validationViolations, null, 2)).toEqual([]);
    },
  );

  it('is environment-agnostic', () => {
    expect(dev.stack.environment).toBe('aws://unknown-account/unknown-region');
  });

  it.each(['dev', 'prod'] as const)('%s: resources are tagged project and profile', (p) => {
    const s = p === 'dev' ? dev : prod;
    for (const type of [
      'AWS::S3::Bucket',
      'AWS::DynamoDB::Table',
      'AWS::Lambda::Function',
      'AWS::StepFunctions::StateMachine',
    ]) {
      for (const [id, r] of resourcesOfType(s.json, type)) {
        if (id.startsWith('Custom')) continue;
        const tags = props(r).Tags as { Key: string; Value: string }[] | undefined;
        expect(tags, id).toEqual(
          expect.arrayContaining([
            { Key: 'project', Value: 'llmops' },
            { Key: 'profile', Value: p },
          ]),
        );
      }
    }
  });
});

describe('idle cost and description', () => {
  /** Resource types that bill by the hour whether or not anything is called. */
  const IDLE_BILLED = [
    'AWS::OpenSearchServerless::Collection',
    'AWS::EC2::VPCEndpoint',
    'AWS::OpenSearchServerless::VpcEndpoint',
    'AWS::EC2::NatGateway',
    'AWS::WAFv2::WebACL',
    'AWS::SageMaker::Endpoint',
  ];

  it('dev keeps nothing that bills while idle: S3 Vectors, no collection, no VPC, no WAF, and a GPU endpoint that scales to zero', () => {
    expect(dev.config.rag.vectorStore).toBe('s3vectors');
    for (const type of [...IDLE_BILLED, 'AWS::EC2::VPC']) {
      if (type === 'AWS::SageMaker::Endpoint') continue;
      expect(logicalIdsOfType(dev.json, type), type).toEqual([]);
    }
    // The fine-tuning endpoint bills per instance: in dev its instances and its base model's copies go to
    // zero when idle (managed instance scaling, a scalable target with minimum 0).
    expect(logicalIdsOfType(dev.json, 'AWS::SageMaker::Endpoint')).toHaveLength(1);
    const [, config] = only(dev.json, 'AWS::SageMaker::EndpointConfig');
    for (const variant of props(config).ProductionVariants as CfnJson[]) {
      expect(variant.ManagedInstanceScaling).toMatchObject({ Status: 'ENABLED', MinInstanceCount: 0 });
    }
    const [, copies] = only(dev.json, 'AWS::ApplicationAutoScaling::ScalableTarget', (r) =>
      String(props(r).ScalableDimension).startsWith('sagemaker:'),
    );
    expect(props(copies).MinCapacity).toBe(0);
    expect(logicalIdsOfType(dev.json, 'AWS::S3Vectors::VectorBucket')).toHaveLength(1);
    expect(logicalIdsOfType(dev.json, 'AWS::S3Vectors::Index')).toHaveLength(1);
    for (const [id, fn] of resourcesOfType(dev.json, 'AWS::Lambda::Function')) {
      expect(props(fn).VpcConfig, id).toBeUndefined();
    }
  });

  it('prod keeps OpenSearch Serverless with standby replicas, in its private network', () => {
    expect(prod.config.rag.vectorStore).toBe('opensearch');
    const [, collection] = only(prod.json, 'AWS::OpenSearchServerless::Collection');
    expect(props(collection)).toMatchObject({ Type: 'VECTORSEARCH', StandbyReplicas: 'ENABLED' });
    expect(logicalIdsOfType(prod.json, 'AWS::OpenSearchServerless::VpcEndpoint')).toHaveLength(1);
    expect(logicalIdsOfType(prod.json, 'AWS::EC2::VPC')).toHaveLength(1);
    expect(logicalIdsOfType(prod.json, 'AWS::S3Vectors::VectorBucket')).toEqual([]);
  });

  it('the description names what the stack contains, and nothing that is not built', () => {
    const description = (s: Synthesized) => (s.json as CfnJson).Description as string;
    expect(description(dev)).toBe(
      'LLMOps (dev): data preparation pipeline, RAG ingestion and retrieval (S3 Vectors), model gateway and HTTPS API with a Bedrock guardrail, evaluation (scheduled runs, LLM-as-judge, promotion gate, review queue), drift checks with calibrated alarms, fine-tuning on SageMaker spot GPUs with a model registry, a GPU endpoint with inference components and canary rollouts, human feedback into preference data, a closed loop from drift alarms to rollbacks, dashboard, interaction log',
    );
    expect(description(prod)).toContain('(OpenSearch Serverless)');
    for (const s of [dev, prod]) {
      expect(description(s)).toContain(
        'evaluation (scheduled runs, LLM-as-judge, promotion gate, review queue)',
      );
      // Fine-tuning is built (fine-tuning.test.ts: not without it), and so are feedback and the loop.
      expect(description(s)).toContain('fine-tuning on SageMaker spot GPUs');
      expect(description(s)).toContain('human feedback into preference data');
    }
  });
});
