import { describe, expect, it } from 'vitest';
import { TemplateError } from '#infra/local/template/errors.ts';
import { flattenNestedStacks } from '#infra/local/template/nested-stacks.ts';

const parent = () => ({
  Resources: {
    Key: { Type: 'AWS::KMS::Key', Properties: {} },
    Inner: {
      Type: 'AWS::CloudFormation::Stack',
      Properties: {
        TemplateURL: 'https://example.invalid/inner.json',
        Parameters: { referencetoKeyArn: { 'Fn::GetAtt': ['Key', 'Arn'] } },
      },
    },
    Api: {
      Type: 'AWS::Lambda::Permission',
      DependsOn: ['Inner', 'Key'],
      Properties: { FunctionName: { 'Fn::GetAtt': ['Inner', 'Outputs.FnArn'] } },
    },
    Alias: { Type: 'AWS::KMS::Alias', DependsOn: 'Inner', Properties: { TargetKeyId: { Ref: 'Key' } } },
  },
  Mappings: { Registries: { 'us-east-1': { account: '1' } } },
  Outputs: { Fn: { Value: { 'Fn::GetAtt': ['Inner', 'Outputs.FnArn'] } } },
});

const inner = () => ({
  Parameters: { referencetoKeyArn: { Type: 'String' }, Stage: { Type: 'String', Default: 'dev' } },
  Resources: {
    Fn: {
      Type: 'AWS::Lambda::Function',
      Properties: {
        KmsKeyArn: { Ref: 'referencetoKeyArn' },
        Environment: { Variables: { STAGE: { Ref: 'Stage' }, SELF: { Ref: 'AWS::StackName' } } },
      },
    },
  },
  Mappings: { Registries: { 'us-east-1': { account: '1' } } },
  Outputs: { FnArn: { Value: { 'Fn::GetAtt': ['Fn', 'Arn'] } } },
});

describe('flattenNestedStacks', () => {
  it("moves the nested stack's resources into the parent, with the parameters it is passed", () => {
    const out = flattenNestedStacks(parent(), [{ logicalId: 'Inner', template: inner() }]) as {
      Resources: Record<string, { Properties?: Record<string, unknown>; DependsOn?: unknown }>;
    };
    expect(Object.keys(out.Resources).sort()).toEqual(['Alias', 'Api', 'Fn', 'Key']);
    expect(out.Resources.Fn?.Properties).toEqual({
      KmsKeyArn: { 'Fn::GetAtt': ['Key', 'Arn'] },
      // A parameter the parent does not pass takes its default; pseudo parameters are left alone.
      Environment: { Variables: { STAGE: 'dev', SELF: { Ref: 'AWS::StackName' } } },
    });
  });

  it("replaces the parent's reads of the nested stack's outputs, and its dependencies on the stack", () => {
    const out = flattenNestedStacks(parent(), [{ logicalId: 'Inner', template: inner() }]) as Record<
      string,
      Record<string, { Properties?: Record<string, unknown>; DependsOn?: unknown; Value?: unknown }>
    >;
    expect(out.Resources?.Api?.Properties?.FunctionName).toEqual({ 'Fn::GetAtt': ['Fn', 'Arn'] });
    expect(out.Resources?.Api?.DependsOn).toEqual(['Key']);
    expect(out.Resources?.Alias?.DependsOn).toBeUndefined();
    expect(out.Outputs?.Fn?.Value).toEqual({ 'Fn::GetAtt': ['Fn', 'Arn'] });
  });

  it('leaves its inputs unchanged', () => {
    const p = parent();
    const n = inner();
    flattenNestedStacks(p, [{ logicalId: 'Inner', template: n }]);
    expect(p).toEqual(parent());
    expect(n).toEqual(inner());
  });

  it('refuses a logical id both templates use, a parameter nobody passes, and deeper nesting', () => {
    const clash = inner();
    (clash.Resources as Record<string, unknown>).Key = { Type: 'AWS::SNS::Topic' };
    expect(() => flattenNestedStacks(parent(), [{ logicalId: 'Inner', template: clash }])).toThrow(
      /Resource Key of nested stack Inner is also in its parent/,
    );
    const unpassed = inner();
    (unpassed.Parameters as Record<string, unknown>).Bucket = { Type: 'String' };
    (unpassed.Resources.Fn.Properties as Record<string, unknown>).Bucket = { Ref: 'Bucket' };
    expect(() => flattenNestedStacks(parent(), [{ logicalId: 'Inner', template: unpassed }])).toThrow(
      /declares parameter Bucket, which its parent does not pass/,
    );
    const deeper = inner();
    (deeper.Resources as Record<string, unknown>).Deeper = { Type: 'AWS::CloudFormation::Stack' };
    expect(() => flattenNestedStacks(parent(), [{ logicalId: 'Inner', template: deeper }])).toThrow(
      TemplateError,
    );
    expect(() => flattenNestedStacks(parent(), [{ logicalId: 'Key', template: inner() }])).toThrow(
      /Key is not a nested stack/,
    );
  });

  it('names an output the parent reads and the nested stack lacks', () => {
    const noOutput = inner();
    noOutput.Outputs = {} as typeof noOutput.Outputs;
    expect(() => flattenNestedStacks(parent(), [{ logicalId: 'Inner', template: noOutput }])).toThrow(
      /Nested stack Inner has no output FnArn/,
    );
  });
});
