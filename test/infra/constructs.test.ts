/**
 * House constructs on their own: constructor validation with clear errors, and the bind helpers.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { beforeEach, describe, expect, it } from 'vitest';
import { deploymentOf, loadConfig } from '#infra/config/index.ts';
import { LlmOpsAlerts } from '#infra/constructs/alerts.ts';
import { LlmOpsFunction } from '#infra/constructs/llmops-function.ts';
import { acknowledge } from '#infra/constructs/nag.ts';
import { PipelineStateMachine } from '#infra/constructs/pipeline-state-machine.ts';
import { cdkJsonContext } from '#infra/stacks/llmops-stack.ts';
import type { CfnJson } from './support/synth.ts';

const config = loadConfig({});
const deployment = deploymentOf(config);
let stack: Stack;
let key: kms.Key;

beforeEach(() => {
  const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  stack = new Stack(app, 'Test');
  key = new kms.Key(stack, 'Key');
});

const fnProps = { config: deployment, entry: 'functions/dataprep/plan.ts', description: 'test function' };

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

describe('LlmOpsFunction validation', () => {
  it.each([
    [{ entry: '/abs/path.ts' }, /entry must be a repo-relative path/],
    [{ entry: 'functions\\dataprep\\plan.ts' }, /entry must be a repo-relative path/],
    [{ entry: 'functions/../package.json' }, /entry must be a repo-relative path/],
    [{ entry: 'functions/dataprep/missing.ts' }, /entry "functions\/dataprep\/missing.ts" does not exist/],
    [{ handler: 'not-a-name' }, /handler must be the name of an exported function/],
    [{ memorySize: 64 }, /memorySize must be an integer from 128 to 10240 MB, got 64/],
    [{ timeout: Duration.minutes(16) }, /timeout must be 1 second to 15 minutes/],
    [{ async: true }, /async functions need alerts/],
    [{ description: ' ' }, /description must not be empty/],
    [{ environment: { AWS_REGION: 'x' } }, /AWS_REGION is invalid, reserved or set by the house/],
    [{ environment: { LLMOPS_PROFILE: 'x' } }, /LLMOPS_PROFILE is invalid, reserved or set by the house/],
  ])('rejects %j', (override, message) => {
    expect(() => new LlmOpsFunction(stack, 'Fn', { ...fnProps, ...override })).toThrow(message);
  });

  it('records its entry and handler and uses the house defaults', () => {
    const fn = new LlmOpsFunction(stack, 'Fn', { ...fnProps, encryptionKey: key });
    expect(fn.entry).toBe('functions/dataprep/plan.ts');
    const t = template();
    t.hasResource('AWS::Lambda::Function', {
      Metadata: { 'llmops:entry': 'functions/dataprep/plan.ts', 'llmops:handler': 'handler' },
      Properties: {
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        MemorySize: 512,
        Timeout: 30,
        TracingConfig: { Mode: 'Active' },
      },
    });
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 14 });
  });
});

describe('LlmOpsFunction bind helpers', () => {
  it('bindBucket scopes object actions to the prefix and lists only under it', () => {
    const bucket = new s3.Bucket(stack, 'Bucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: key,
    });
    new LlmOpsFunction(stack, 'Fn', fnProps).bindBucket(bucket, 'ARTIFACTS_BUCKET', 'readwrite', 'staging/');
    const t = template();
    const bucketArn = { 'Fn::GetAtt': [stack.getLogicalId(bucket.node.defaultChild as s3.CfnBucket), 'Arn'] };
    const statements = Object.values(t.findResources('AWS::IAM::Policy')).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as Record<string, CfnJson>[],
    );
    const actionsOf = (s: Record<string, CfnJson>) => [s.Action].flat().sort();
    expect(statements).toContainEqual(
      expect.objectContaining({ Resource: { 'Fn::Join': ['', [bucketArn, '/staging/*']] } }),
    );
    const objects = statements.find((s) => JSON.stringify(s.Resource).includes('/staging/*'));
    expect(actionsOf(objects ?? {})).toEqual([
      's3:AbortMultipartUpload',
      's3:DeleteObject',
      's3:GetObject',
      's3:GetObjectVersion',
      's3:PutObject',
    ]);
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: 's3:ListBucket',
        Resource: bucketArn,
        Condition: { StringLike: { 's3:prefix': ['staging/*'] } },
      }),
    );
    const kmsStatement = statements.find((s) => actionsOf(s).every((a: string) => a.startsWith('kms:')));
    expect(actionsOf(kmsStatement ?? {})).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(kmsStatement?.Condition).toEqual({
      StringEquals: {
        'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
      },
    });
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          ARTIFACTS_BUCKET: { Ref: stack.getLogicalId(bucket.node.defaultChild as s3.CfnBucket) },
        },
      },
    });
  });

  it('rejects bad prefixes and conflicting environment values', () => {
    const bucket = new s3.Bucket(stack, 'Bucket');
    const fn = new LlmOpsFunction(stack, 'Fn', fnProps);
    expect(() => fn.bindBucket(bucket, 'B', 'read', '/abs/')).toThrow(
      /prefix must be a relative key prefix ending in "\/"/,
    );
    expect(() => fn.bindBucket(bucket, 'B', 'read', 'no-slash')).toThrow(/ending in "\/"/);
    fn.bindString('MODE', 'a');
    fn.bindString('MODE', 'a'); // same value: fine
    expect(() => fn.bindString('MODE', 'b')).toThrow(/MODE is already bound to another value/);
    expect(() => fn.bindString('AWS_LAMBDA_X', 'b')).toThrow(/invalid or reserved/);
  });

  it('addUnscopedPolicy refuses wildcards and needs a reason', () => {
    const fn = new LlmOpsFunction(stack, 'Fn', fnProps);
    expect(() => fn.addUnscopedPolicy('P', ['comprehend:*'], 'a long enough written reason here')).toThrow(
      /explicit service:Action/,
    );
    expect(() => fn.addUnscopedPolicy('Q', ['comprehend:DetectPiiEntities'], 'too short')).toThrow(
      /at least 20 characters/,
    );
  });

  it('async: DLQ (encrypted with the given key), 2 retries, and an alarm paged to the topic', () => {
    const alerts = new LlmOpsAlerts(stack, 'Alerts', {
      deployment,
      config: config.alerts,
      encryptionKey: key,
    });
    const fn = new LlmOpsFunction(stack, 'Fn', { ...fnProps, async: true, alerts, encryptionKey: key });
    expect(fn.asyncDeadLetterQueue).toBeDefined();
    const t = template();
    t.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 2 });
    t.hasResourceProperties('AWS::SQS::Queue', {
      KmsMasterKeyId: { 'Fn::GetAtt': [stack.getLogicalId(key.node.defaultChild as kms.CfnKey), 'Arn'] },
    });
    t.resourceCountIs('AWS::CloudWatch::Alarm', 1);
    expect(alerts.pagedAlarms).toHaveLength(1);
  });
});

describe('other constructs', () => {
  it('acknowledge() refuses short reasons', () => {
    expect(() => acknowledge(stack, 'AwsSolutions-S1', 'because')).toThrow(/written reason of at least 20/);
  });

  it('PipelineStateMachine validates its name', () => {
    const alerts = new LlmOpsAlerts(stack, 'Alerts', {
      deployment,
      config: config.alerts,
      encryptionKey: key,
    });
    const failureHandler = new LlmOpsFunction(stack, 'Failure', fnProps);
    expect(
      () =>
        new PipelineStateMachine(stack, 'P', {
          pipelineName: 'data prep',
          definition: new sfn.Pass(stack, 'Pass'),
          timeout: Duration.hours(1),
          alerts,
          failureHandler,
          config: deployment,
          encryptionKey: key,
        }),
    ).toThrow(/pipelineName must be PascalCase/);
  });

  it('LlmOpsAlerts refuses non-https endpoints even when config validation was bypassed', () => {
    const bad = { emails: [], httpsEndpoints: ['http://x.example.com'] };
    expect(() => new LlmOpsAlerts(stack, 'Alerts', { deployment, config: bad, encryptionKey: key })).toThrow(
      /must be https:\/\/ URLs/,
    );
  });
});
