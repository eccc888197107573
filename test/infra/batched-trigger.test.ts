/**
 * BatchedTrigger on its own: rules → encrypted queue → pipe → one execution per batch. Its props are
 * validated with clear errors; the queue, the pipe, the pipe's role, the alarms and the rule targets are
 * what the construct promises; and cdk-nag's AwsSolutions pack finds nothing in it.
 */
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeEach, describe, expect, it } from 'vitest';
import { deploymentOf, loadConfig } from '#infra/config/index.ts';
import { LlmOpsAlerts } from '#infra/constructs/alerts.ts';
import {
  BatchedTrigger,
  type BatchedTriggerProps,
  EXECUTION_INPUT_LIMIT_BYTES,
  STUCK_QUEUE_AGE,
} from '#infra/constructs/batched-trigger.ts';
import { LlmOpsDeadLetterQueue } from '#infra/constructs/dead-letter-queue.ts';
import { cdkJsonContext } from '#infra/stacks/llmops-stack.ts';
import type { CfnJson } from './support/synth.ts';

const config = loadConfig({});
const deployment = deploymentOf(config);

let app: App;
let stack: Stack;
let key: kms.Key;
let alerts: LlmOpsAlerts;
let machine: sfn.StateMachine;
let dlq: LlmOpsDeadLetterQueue;

beforeEach(() => {
  app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  stack = new Stack(app, 'Test');
  key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
  alerts = new LlmOpsAlerts(stack, 'Alerts', { deployment, config: config.alerts, encryptionKey: key });
  machine = new sfn.StateMachine(stack, 'Machine', {
    definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Pass')),
  });
  dlq = new LlmOpsDeadLetterQueue(stack, 'DeadLetters', {
    alerts,
    description: 'the test trigger',
    encryptionKey: key,
    allowEventBridge: true,
  });
});

const props = (): BatchedTriggerProps => ({
  stateMachine: machine,
  encryptionKey: key,
  deadLetterQueue: dlq,
  alerts,
  batchSize: 25,
  maximumBatchingWindow: Duration.seconds(10),
  maxRecordBytes: 10 * 1024,
  description: 'test: batches of events → one execution each',
});

function template(): Template {
  const previous = process.env.CDK_VALIDATION;
  process.env.CDK_VALIDATION = 'false';
  try {
    return Template.fromStack(stack);
  } finally {
    if (previous === undefined) delete process.env.CDK_VALIDATION;
    else process.env.CDK_VALIDATION = previous;
  }
}

const idOf = (t: Template, type: string): string => {
  const ids = Object.keys(t.findResources(type));
  expect(ids, type).toHaveLength(1);
  return ids[0] as string;
};

/** The trigger and two rules that send to it (one on the default bus, one on a custom bus). */
function withRules(): { trigger: BatchedTrigger; t: Template } {
  const trigger = new BatchedTrigger(stack, 'Trigger', props());
  const bus = new events.EventBus(stack, 'Bus');
  new events.Rule(stack, 'Uploads', {
    eventPattern: { source: ['aws.s3'] },
    targets: [trigger.ruleTarget()],
  });
  new events.Rule(stack, 'Datasets', {
    eventBus: bus,
    eventPattern: { source: ['llmops'] },
    targets: [trigger.ruleTarget()],
  });
  return { trigger, t: template() };
}

describe('BatchedTrigger validation', () => {
  it.each([
    [{ batchSize: 0 }, /batchSize must be an integer from 1 to 10000, got 0/],
    [{ batchSize: 10_001 }, /batchSize must be an integer from 1 to 10000/],
    [{ batchSize: 2.5 }, /batchSize must be an integer/],
    [
      { maximumBatchingWindow: Duration.seconds(301) },
      /maximumBatchingWindow must be whole seconds from 0 to 300/,
    ],
    [{ maximumBatchingWindow: Duration.millis(1500) }, /maximumBatchingWindow must be whole seconds/],
    [
      { batchSize: 11, maximumBatchingWindow: Duration.seconds(0) },
      /a batchSize over 10 needs a maximumBatchingWindow of at least 1 second/,
    ],
    [{ maxRecordBytes: 0 }, /maxRecordBytes must be a positive integer/],
    [{ maxReceiveCount: 0 }, /maxReceiveCount must be an integer from 1 to 1000/],
    [{ description: ' ' }, /description must not be empty/],
  ])('rejects %j', (override, message) => {
    expect(() => new BatchedTrigger(stack, 'Trigger', { ...props(), ...override })).toThrow(message);
  });

  it('refuses a batch of the largest records that may not fit in an execution input, naming the size that fits', () => {
    // 26 records of 10 KiB are 260 KiB, over the 256 KiB an execution's input may hold.
    expect(() => new BatchedTrigger(stack, 'Trigger', { ...props(), batchSize: 26 })).toThrow(
      new RegExp(
        `26 records of up to 10240 bytes may not fit in an execution input \\(${EXECUTION_INPUT_LIMIT_BYTES} bytes\\): lower batchSize to 25 or less`,
      ),
    );
  });
});

describe('BatchedTrigger resources', () => {
  it('a KMS-encrypted queue, TLS only, whose failed messages go to the dead-letter queue', () => {
    const { t } = withRules();
    const queueId = Object.keys(t.findResources('AWS::SQS::Queue', { Properties: { RedrivePolicy: {} } }))[0];
    expect(queueId).toBeDefined();
    const queue = t.toJSON().Resources[queueId as string] as CfnJson;
    expect(queue.Properties).toMatchObject({
      KmsMasterKeyId: { 'Fn::GetAtt': [idOf(t, 'AWS::KMS::Key'), 'Arn'] },
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [expect.stringMatching(/^DeadLetters/), 'Arn'] },
        maxReceiveCount: 5,
      },
      // Longer than the window, so a batch being gathered is not received twice.
      VisibilityTimeout: 70,
    });
    const policies = t.findResources('AWS::SQS::QueuePolicy', {
      Properties: { Queues: [{ Ref: queueId }] },
    });
    const statements = (Object.values(policies)[0] as CfnJson).Properties.PolicyDocument
      .Statement as CfnJson[];
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  it('each rule, and only that rule (aws:SourceArn), may send to the queue and to the dead-letter queue', () => {
    const { trigger, t } = withRules();
    const json = t.toJSON();
    const ruleIds = Object.keys(t.findResources('AWS::Events::Rule'));
    expect(ruleIds).toHaveLength(2);
    const queueArn = stack.resolve(trigger.queue.queueArn);
    for (const ruleId of ruleIds) {
      const [target] = json.Resources[ruleId].Properties.Targets as CfnJson[];
      expect(target).toMatchObject({
        Arn: queueArn,
        DeadLetterConfig: { Arn: stack.resolve(dlq.queue.queueArn) },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86_400 },
      });
      expect(target.Input ?? target.InputPath ?? target.InputTransformer).toBeUndefined();
    }
    for (const queue of [trigger.queue, dlq.queue]) {
      const [policy] = Object.values(
        t.findResources('AWS::SQS::QueuePolicy', { Properties: { Queues: [stack.resolve(queue.queueUrl)] } }),
      ) as CfnJson[];
      const allows = (policy.Properties.PolicyDocument.Statement as CfnJson[]).filter(
        (s) => s.Effect === 'Allow',
      );
      expect(allows.map((s) => s.Condition.ArnEquals['aws:SourceArn']['Fn::GetAtt'][0]).sort()).toEqual(
        [...ruleIds].sort(),
      );
      for (const s of allows) {
        expect(s).toMatchObject({
          Principal: { Service: 'events.amazonaws.com' },
          Action: 'sqs:SendMessage',
        });
      }
    }
    // The key is not opened to EventBridge beyond what the dead-letter queue's key statement allows.
    const keyPolicy = json.Resources[idOf(t, 'AWS::KMS::Key')].Properties.KeyPolicy.Statement as CfnJson[];
    for (const s of keyPolicy.filter((x) => JSON.stringify(x.Principal).includes('events.amazonaws.com'))) {
      expect(s.Condition, JSON.stringify(s)).toBeDefined();
    }
  });

  it('the pipe starts one execution per batch: BatchSize, window, FIRE_AND_FORGET, no input template', () => {
    const { trigger, t } = withRules();
    t.hasResourceProperties('AWS::Pipes::Pipe', {
      Source: stack.resolve(trigger.queue.queueArn),
      Target: stack.resolve(machine.stateMachineArn),
      RoleArn: stack.resolve(trigger.role.roleArn),
      DesiredState: 'RUNNING',
      SourceParameters: { SqsQueueParameters: { BatchSize: 25, MaximumBatchingWindowInSeconds: 10 } },
      TargetParameters: { StepFunctionStateMachineParameters: { InvocationType: 'FIRE_AND_FORGET' } },
    });
    const pipe = Object.values(t.findResources('AWS::Pipes::Pipe'))[0] as CfnJson;
    expect(pipe.Properties.TargetParameters.InputTemplate).toBeUndefined();
    expect(pipe.Properties.Enrichment).toBeUndefined();
    // Created after its policy, so that its first poll is allowed.
    expect(pipe.DependsOn).toEqual([expect.stringMatching(/^TriggerPipePolicy/)]);
  });

  it("the pipe's role: assumed by Pipes of this account; consume the queue, decrypt through SQS, start this state machine", () => {
    const { trigger, t } = withRules();
    const json = t.toJSON();
    const roleId = stack.getLogicalId(trigger.role.node.defaultChild as never);
    expect(json.Resources[roleId].Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { Service: 'pipes.amazonaws.com' },
        Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
      },
    ]);
    const policies = Object.values(t.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify((p as CfnJson).Properties.Roles).includes(roleId),
    ) as CfnJson[];
    expect(policies).toHaveLength(1);
    const statements = (policies[0] as CfnJson).Properties.PolicyDocument.Statement as CfnJson[];
    expect(statements).toEqual([
      {
        Sid: 'ConsumeQueue',
        Effect: 'Allow',
        Action: ['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
        Resource: stack.resolve(trigger.queue.queueArn),
      },
      {
        Sid: 'DecryptQueue',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: stack.resolve(key.keyArn),
        Condition: {
          StringEquals: {
            'kms:ViaService': { 'Fn::Join': ['', ['sqs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
          },
        },
      },
      {
        Sid: 'StartExecution',
        Effect: 'Allow',
        Action: 'states:StartExecution',
        Resource: stack.resolve(machine.stateMachineArn),
      },
    ]);
  });

  it('pages when the queue stops draining, and when anything is dead-lettered', () => {
    const { trigger, t } = withRules();
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: stack.resolve(trigger.queue.queueName) }],
      Threshold: STUCK_QUEUE_AGE.toSeconds(),
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [stack.resolve(alerts.topic.topicArn)],
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: stack.resolve(dlq.queue.queueName) }],
      Threshold: 1,
    });
  });

  it('cdk-nag (AwsSolutions) finds nothing in the trigger (the test stack around it is not checked)', () => {
    const trigger = new BatchedTrigger(stack, 'Trigger', props());
    new events.Rule(stack, 'Uploads', {
      eventPattern: { source: ['aws.s3'] },
      targets: [trigger.ruleTarget()],
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const previous = process.env.CDK_VALIDATION;
    process.env.CDK_VALIDATION = 'false';
    let report = '';
    try {
      Template.fromStack(stack);
    } catch (error) {
      report = (error as Error).message;
    } finally {
      if (previous === undefined) delete process.env.CDK_VALIDATION;
      else process.env.CDK_VALIDATION = previous;
    }
    // The bare state machine of this test is reported (no logging, no tracing): the gate ran.
    expect(report).toMatch(/AwsSolutions-SF1/);
    expect(report).not.toMatch(/Test\/Trigger\//);
  });
});
