import { describe, expect, it } from 'vitest';
import { InvalidPatternError } from '#infra/local/event-pattern.ts';
import {
  LocalTemplate,
  MissingLambdaMetadataError,
  TemplateError,
  UnresolvableIntrinsicError,
  UnsupportedAttributeError,
} from '#infra/local/template.ts';
import { sampleTemplate } from './fixtures.ts';

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';

function local(template: Record<string, unknown> = sampleTemplate()): LocalTemplate {
  return new LocalTemplate(template, { namePrefix: 'llmops-test' });
}

describe('LocalTemplate physical names', () => {
  const t = local();

  it('names buckets lowercase, DNS-safe, prefixed and at most 63 characters', () => {
    expect(t.ref('RawBucketA1B2C3D4')).toBe('llmops-test-rawbucketa1b2c3d4');
    const long = new LocalTemplate(
      { Resources: { [`${'A'.repeat(40)}Bucket_With.Odd-Chars1234567890`]: { Type: 'AWS::S3::Bucket' } } },
      { namePrefix: 'llmops-test' },
    );
    const name = long.buckets()[0]?.name ?? '';
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^[a-z0-9][a-z0-9-]*[a-z0-9]$/);
    expect(long.buckets()[0]?.name).toBe(name); // deterministic
  });

  it('gives CloudFormation-shaped Ref values and ARNs per resource type', () => {
    expect(t.ref('DatasetsTableF00D1234')).toBe('DatasetsTableF00D1234');
    expect(t.getAtt('DatasetsTableF00D1234', 'Arn')).toBe(
      `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/DatasetsTableF00D1234`,
    );
    expect(t.ref('PlanFnE1A2B3C4')).toBe('PlanFnE1A2B3C4');
    expect(t.getAtt('PlanFnE1A2B3C4', 'Arn')).toBe(
      `arn:aws:lambda:${REGION}:${ACCOUNT}:function:PlanFnE1A2B3C4`,
    );
    expect(t.ref('DataPrepStateMachine99AABBCC')).toBe(
      `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:DataPrepStateMachine99AABBCC`,
    );
    expect(t.getAtt('DataPrepStateMachine99AABBCC', 'Name')).toBe('DataPrepStateMachine99AABBCC');
    expect(t.ref('Bus8C5D5A6E')).toBe('llmops-local-bus');
    expect(t.getAtt('Bus8C5D5A6E', 'Arn')).toBe(
      `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/llmops-local-bus`,
    );
    expect(t.ref('AlarmTopic4455AABB')).toBe(`arn:aws:sns:${REGION}:${ACCOUNT}:AlarmTopic4455AABB`);
    expect(t.getAtt('AlarmTopic4455AABB', 'TopicName')).toBe('AlarmTopic4455AABB');
    expect(t.ref('DlqQueue0A1B2C3D')).toBe(`https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/DlqQueue0A1B2C3D`);
    expect(t.getAtt('DlqQueue0A1B2C3D', 'QueueName')).toBe('DlqQueue0A1B2C3D');
    expect(t.getAtt('DlqQueue0A1B2C3D', 'Arn')).toBe(`arn:aws:sqs:${REGION}:${ACCOUNT}:DlqQueue0A1B2C3D`);
    expect(t.getAtt('RawBucketA1B2C3D4', 'Arn')).toBe('arn:aws:s3:::llmops-test-rawbucketa1b2c3d4');
    expect(t.getAtt('RawBucketA1B2C3D4', 'RegionalDomainName')).toBe(
      `llmops-test-rawbucketa1b2c3d4.s3.${REGION}.amazonaws.com`,
    );
    expect(t.getAtt('PlanRoleABCDEF', 'Arn')).toBe(`arn:aws:iam::${ACCOUNT}:role/PlanRoleABCDEF`);
  });

  it('honours explicit physical names and the region/account options', () => {
    const t2 = new LocalTemplate(
      {
        Resources: {
          T: { Type: 'AWS::DynamoDB::Table', Properties: { TableName: 'prompts' } },
          F: {
            Type: 'AWS::Lambda::Function',
            // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax, not a JS template
            Properties: { FunctionName: { 'Fn::Sub': '${AWS::StackName}-chat' } },
          },
        },
      },
      { region: 'eu-west-1', account: '111122223333', stackName: 'dev' },
    );
    expect(t2.ref('T')).toBe('prompts');
    expect(t2.getAtt('F', 'Arn')).toBe('arn:aws:lambda:eu-west-1:111122223333:function:dev-chat');
  });

  it('reverse-maps ARNs, names and qualified Lambda ARNs to logical ids', () => {
    expect(t.logicalIdForArn(`arn:aws:lambda:${REGION}:${ACCOUNT}:function:PlanFnE1A2B3C4`)).toBe(
      'PlanFnE1A2B3C4',
    );
    expect(t.logicalIdForArn(`arn:aws:lambda:${REGION}:${ACCOUNT}:function:PlanFnE1A2B3C4:$LATEST`)).toBe(
      'PlanFnE1A2B3C4',
    );
    expect(t.logicalIdForArn(t.ref('DataPrepStateMachine99AABBCC'))).toBe('DataPrepStateMachine99AABBCC');
    expect(t.logicalIdForArn('llmops-test-rawbucketa1b2c3d4')).toBe('RawBucketA1B2C3D4');
    expect(t.logicalIdForArn(t.ref('DlqQueue0A1B2C3D'))).toBe('DlqQueue0A1B2C3D');
    expect(t.logicalIdForArn('arn:aws:lambda:us-east-1:000000000000:function:Nope')).toBeUndefined();
  });
});

describe('LocalTemplate.resolve', () => {
  const t = local();

  it('resolves Fn::Join, Fn::Sub (both forms, escaped literals), Fn::Select, Fn::Split and pseudo parameters', () => {
    expect(
      t.resolve({
        'Fn::Join': [
          ':',
          ['arn', { Ref: 'AWS::Partition' }, { Ref: 'AWS::Region' }, { Ref: 'AWS::AccountId' }],
        ],
      }),
    ).toBe(`arn:aws:${REGION}:${ACCOUNT}`);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax, not a JS template
    expect(t.resolve({ 'Fn::Sub': '${RawBucketA1B2C3D4.Arn}/*' })).toBe(
      'arn:aws:s3:::llmops-test-rawbucketa1b2c3d4/*',
    );
    const escaped = ['$', '{Name}-$', '{AWS::URLSuffix}-$', '{!Literal}'].join('');
    expect(t.resolve({ 'Fn::Sub': [escaped, { Name: { Ref: 'Bus8C5D5A6E' } }] })).toBe(
      ['llmops-local-bus-amazonaws.com-$', '{Literal}'].join(''),
    );
    expect(t.resolve({ 'Fn::Select': [1, { 'Fn::Split': ['/', 'a/b/c'] }] })).toBe('b');
    expect(t.resolve({ 'Fn::Select': ['0', { 'Fn::GetAZs': '' }] })).toBe(`${REGION}a`);
    expect(t.resolve({ Ref: 'AWS::StackName' })).toBe('llmops-local');
    expect(t.resolve({ Ref: 'Stage' })).toBe('dev');
    expect(t.resolve({ a: [{ Ref: 'AWS::NoValue' }, 1], b: { Ref: 'AWS::NoValue' } })).toEqual({ a: [1] });
  });

  it('evaluates simple conditions and Fn::If', () => {
    expect(t.condition('IsProd')).toBe(false);
    expect(t.condition('IsNotProd')).toBe(true);
    expect(t.resolve({ 'Fn::If': ['IsProd', 'p', 'd'] })).toBe('d');
    const prod = new LocalTemplate(sampleTemplate(), { parameters: { Stage: 'prod' } });
    expect(prod.resolve({ 'Fn::If': ['IsProd', 'p', 'd'] })).toBe('p');
    expect(prod.buckets().map((b) => b.logicalId)).toContain('ProdOnlyBucket');
    expect(t.buckets().map((b) => b.logicalId)).not.toContain('ProdOnlyBucket');
  });

  it('fails clearly on unknown attributes, resources, imports and SSM parameters', () => {
    expect(() => t.resolve({ 'Fn::GetAtt': ['DatasetsTableF00D1234', 'StreamArn'] })).toThrow(
      UnsupportedAttributeError,
    );
    expect(() => t.resolve({ 'Fn::GetAtt': ['DatasetsTableF00D1234', 'StreamArn'] })).toThrow(
      /DatasetsTableF00D1234\.StreamArn/,
    );
    expect(() => t.resolve({ Ref: 'Missing' })).toThrow(UnresolvableIntrinsicError);
    expect(() => t.resolve({ 'Fn::ImportValue': 'shared-vpc' })).toThrow(/Fn::ImportValue/);
    expect(() => t.resolve({ Ref: 'BootstrapVersion' })).toThrow(/SSM/);
    expect(() => t.resolve({ 'Fn::Cidr': ['10.0.0.0/16', 2, 8] })).toThrow(/Fn::Cidr/);
    expect(() => t.resolve({ Ref: 'ProdOnlyBucket' })).toThrow(/condition 'IsProd' is false/);
  });

  it('lets the runner override attributes it cannot model', () => {
    const t2 = new LocalTemplate(sampleTemplate(), {
      overrides: { Service: { Name: 'local-service' } },
    });
    expect(t2.resolve({ 'Fn::GetAtt': ['Service', 'Name'] })).toBe('local-service');
    expect(() => t.resolve({ 'Fn::GetAtt': ['Service', 'Name'] })).toThrow(UnsupportedAttributeError);
  });
});

describe('LocalTemplate views', () => {
  const t = local();

  it('lists Lambda functions with entry, handler, resolved environment, timeout and memory', () => {
    const fns = t.lambdaFunctions();
    const plan = fns.find((f) => f.logicalId === 'PlanFnE1A2B3C4');
    expect(plan).toEqual({
      logicalId: 'PlanFnE1A2B3C4',
      arn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:PlanFnE1A2B3C4`,
      name: 'PlanFnE1A2B3C4',
      entry: 'functions/dataprep/plan.ts',
      handler: 'handler',
      environment: {
        RAW_BUCKET: 'llmops-test-rawbucketa1b2c3d4',
        TABLE_NAME: 'DatasetsTableF00D1234',
        TABLE_ARN: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/DatasetsTableF00D1234`,
        EVENT_BUS_NAME: 'llmops-local-bus',
        CURATED_PREFIX: `s3://llmops-test-curatedbucket0f1e2d3c/curated/${REGION}`,
        STAGE: 'development',
        AWS_NODEJS_CONNECTION_REUSE_ENABLED: '1',
        MAX_PARTS: '8',
      },
      timeoutSeconds: 30,
      memoryMb: 512,
    });
    const process = fns.find((f) => f.logicalId === 'ProcessFn11223344');
    expect(process?.handler).toBe('processPart'); // from Handler when llmops:handler is absent
    expect(process?.timeoutSeconds).toBe(3);
    expect(process?.memoryMb).toBe(128);
  });

  it('refuses functions without llmops:entry unless ignored', () => {
    const template = sampleTemplate();
    const resources = template.Resources as Record<string, unknown>;
    resources.CustomS3AutoDeleteObjectsHandler = { Type: 'AWS::Lambda::Function', Properties: {} };
    expect(() => local(template).lambdaFunctions()).toThrow(MissingLambdaMetadataError);
    expect(() => local(template).lambdaFunctions()).toThrow(/CustomS3AutoDeleteObjectsHandler/);
    const ignoring = new LocalTemplate(template, { ignoreFunctions: ['CustomS3AutoDeleteObjectsHandler'] });
    expect(ignoring.lambdaFunctions()).toHaveLength(3);
  });

  it('parses state machine definitions with every token resolved', () => {
    const [sm] = t.stateMachines();
    expect(sm?.pipeline).toBe('dataprep');
    expect(sm?.arn).toBe(t.ref('DataPrepStateMachine99AABBCC'));
    const states = sm?.definition.States as Record<string, Record<string, unknown>>;
    expect(states.Plan?.Resource).toBe('arn:aws:states:::lambda:invoke');
    expect(states.Plan?.Parameters).toEqual({
      FunctionName: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:PlanFnE1A2B3C4`,
      'Payload.$': '$',
    });
    const processor = states.Parts?.ItemProcessor as
      | { States: Record<string, Record<string, unknown>> }
      | undefined;
    expect(processor?.States.ProcessPart?.Parameters).toHaveProperty(
      'FunctionName',
      `arn:aws:lambda:${REGION}:${ACCOUNT}:function:ProcessFn11223344`,
    );
  });

  it('applies DefinitionSubstitutions and accepts an object Definition', () => {
    const t2 = new LocalTemplate({
      Resources: {
        Fn: { Type: 'AWS::Lambda::Function', Metadata: { 'llmops:entry': 'x.ts' } },
        Sm: {
          Type: 'AWS::StepFunctions::StateMachine',
          Properties: {
            // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax, not a JS template
            Definition: { StartAt: 'A', States: { A: { Type: 'Task', Resource: '${fn}', End: true } } },
            DefinitionSubstitutions: { fn: { 'Fn::GetAtt': ['Fn', 'Arn'] } },
          },
        },
      },
    });
    const states = t2.stateMachines()[0]?.definition.States as Record<string, Record<string, unknown>>;
    expect(states.A?.Resource).toBe('arn:aws:lambda:us-east-1:000000000000:function:Fn');
  });

  it('lists rules with bus, validated pattern, state and resolved targets', () => {
    const rules = t.rules();
    const ready = rules.find((r) => r.logicalId === 'DatasetReadyRule1234ABCD');
    expect(ready?.busName).toBe('llmops-local-bus');
    expect(ready?.state).toBe('ENABLED');
    expect(ready?.arn).toBe(
      `arn:aws:events:${REGION}:${ACCOUNT}:rule/llmops-local-bus/DatasetReadyRule1234ABCD`,
    );
    expect(ready?.targets[0]).toMatchObject({
      Id: 'Target0',
      Arn: t.ref('DataPrepStateMachine99AABBCC'),
      targetLogicalId: 'DataPrepStateMachine99AABBCC',
      targetType: 'AWS::StepFunctions::StateMachine',
      Input: '{"fixed":true}',
      DeadLetterConfig: { Arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:DlqQueue0A1B2C3D` },
      RetryPolicy: { MaximumRetryAttempts: 2 },
      RoleArn: `arn:aws:iam::${ACCOUNT}:role/PlanRoleABCDEF`,
    });
    const failed = rules.find((r) => r.logicalId === 'PipelineFailedRuleABCD1234');
    expect(failed?.busName).toBe('default');
    expect(failed?.state).toBe('DISABLED');
    expect(failed?.pattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { status: ['FAILED', 'TIMED_OUT'], stateMachineArn: [t.ref('DataPrepStateMachine99AABBCC')] },
    });
    expect(failed?.targets[0]?.targetType).toBe('AWS::Lambda::Function');
  });

  it('rejects a rule whose pattern is malformed', () => {
    const template = sampleTemplate();
    const resources = template.Resources as Record<string, { Properties: Record<string, unknown> }>;
    const rule = resources.DatasetReadyRule1234ABCD;
    if (rule) rule.Properties.EventPattern = { source: 'llmops' };
    expect(() => local(template).rules()).toThrow(InvalidPatternError);
  });

  it('builds CreateTable inputs (GSI with projection; local-only features dropped)', () => {
    expect(t.tables()).toEqual([
      {
        TableName: 'DatasetsTableF00D1234',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: 'gsi1pk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        GlobalSecondaryIndexes: [
          {
            IndexName: 'gsi1',
            KeySchema: [{ AttributeName: 'gsi1pk', KeyType: 'HASH' }],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      },
    ]);
    const provisioned = new LocalTemplate({
      Resources: {
        T: {
          Type: 'AWS::DynamoDB::Table',
          Properties: {
            KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
            AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
            ProvisionedThroughput: { ReadCapacityUnits: 2, WriteCapacityUnits: 3 },
            LocalSecondaryIndexes: [
              {
                IndexName: 'lsi',
                KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
                Projection: { ProjectionType: 'KEYS_ONLY' },
              },
            ],
          },
        },
      },
    }).tables()[0];
    expect(provisioned?.BillingMode).toBe('PROVISIONED');
    expect(provisioned?.ProvisionedThroughput).toEqual({ ReadCapacityUnits: 2, WriteCapacityUnits: 3 });
    expect(provisioned?.LocalSecondaryIndexes?.[0]?.Projection).toEqual({ ProjectionType: 'KEYS_ONLY' });
  });

  it('lists buckets, buses and resolved outputs', () => {
    expect(t.buckets()).toEqual([
      { logicalId: 'RawBucketA1B2C3D4', name: 'llmops-test-rawbucketa1b2c3d4' },
      { logicalId: 'CuratedBucket0F1E2D3C', name: 'llmops-test-curatedbucket0f1e2d3c' },
    ]);
    expect(t.eventBuses()).toEqual([
      {
        logicalId: 'Bus8C5D5A6E',
        name: 'llmops-local-bus',
        arn: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/llmops-local-bus`,
      },
    ]);
    expect(t.outputs()).toEqual({
      RawBucketName: 'llmops-test-rawbucketa1b2c3d4',
      StateMachineArn: t.ref('DataPrepStateMachine99AABBCC'),
    });
    expect(t.resourcesOfType('AWS::Lambda::Function').map((r) => r.logicalId)).toEqual([
      'PlanFnE1A2B3C4',
      'ProcessFn11223344',
      'FailedFn55667788',
    ]);
  });

  it('rejects templates without Resources', () => {
    expect(() => new LocalTemplate({})).toThrow(TemplateError);
    expect(() => new LocalTemplate({ Resources: { X: {} } })).toThrow(/Type/);
  });
});
