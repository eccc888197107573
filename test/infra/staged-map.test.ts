/**
 * The staged Distributed Map on its own: what it renders, what it grants the state machine (the items
 * prefix to read, the results prefix to write, the bucket key through S3 only, nothing bucket-wide), and
 * the settings it refuses.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import { stagedDistributedMap } from '#infra/constructs/staged-map.ts';
import { list, roleStatements } from './support/iam.ts';
import { type CfnTemplate, flatten, resourcesOfType } from './support/synth.ts';

function build(overrides: Partial<Parameters<typeof stagedDistributedMap>[2]> = {}) {
  const stack = new Stack(new App(), 'Test');
  const bucket = new s3.Bucket(stack, 'Artifacts', {
    encryption: s3.BucketEncryption.KMS,
    encryptionKey: new kms.Key(stack, 'Key'),
  });
  const map = stagedDistributedMap(stack, 'Parts', {
    bucket,
    itemsPrefix: 'staging/x/items/',
    itemsKeyPath: '$.items.key',
    resultsPrefix: 'staging/x/map-runs',
    maxConcurrency: 8,
    itemSelector: { 'item.$': '$$.Map.Item.Value' },
    resultPath: '$.mapRun',
    label: 'Parts',
    ...overrides,
  }).itemProcessor(new sfn.Pass(stack, 'Work'));
  const machine = new sfn.StateMachine(stack, 'Machine', {
    definitionBody: sfn.DefinitionBody.fromChainable(map),
  });
  return { stack, machine, json: Template.fromStack(stack).toJSON() as CfnTemplate };
}

describe('stagedDistributedMap', () => {
  it('reads JSON Lines items at the key the state names and writes its results to S3, with STANDARD children', () => {
    const { json } = build({ toleratedFailurePercentage: 100 });
    const [machine] = resourcesOfType(json, 'AWS::StepFunctions::StateMachine');
    const state = JSON.parse(flatten(machine?.[1].Properties?.DefinitionString)).States.Parts;
    expect(state.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
    expect(state.ItemReader.ReaderConfig).toEqual({ InputType: 'JSONL' });
    expect(state.ItemReader.Parameters['Key.$']).toBe('$.items.key');
    expect(state.ResultWriter.Parameters.Prefix).toBe('staging/x/map-runs');
    expect(state.ToleratedFailurePercentage).toBe(100);
    expect(state.MaxConcurrency).toBe(8);
  });

  it('grants GetObject on the items prefix, the result writer on the results prefix, and the key via S3 only', () => {
    const { json } = build();
    const roleId = resourcesOfType(json, 'AWS::IAM::Role')[0]?.[0] ?? '';
    const statements = roleStatements(json, roleId);
    const bucketArn = `<${resourcesOfType(json, 'AWS::S3::Bucket')[0]?.[0]}.Arn>`;
    const s3Grants = statements
      .filter((st) => list(st.Action).some((a) => a.startsWith('s3:')))
      .map((st) => [list(st.Resource).map(flatten), [...list(st.Action)].sort()]);
    expect(s3Grants.sort()).toEqual(
      [
        [[`${bucketArn}/staging/x/items/*`], ['s3:GetObject']],
        [
          [`${bucketArn}/staging/x/map-runs/*`],
          ['s3:AbortMultipartUpload', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject'],
        ],
      ].sort(),
    );
    const kmsGrants = statements.filter((st) => list(st.Action).some((a) => a.startsWith('kms:')));
    expect(kmsGrants.length).toBeGreaterThan(0);
    for (const st of kmsGrants) {
      expect(flatten(st.Condition?.StringEquals?.['kms:ViaService'])).toBe('s3.<AWS::Region>.amazonaws.com');
    }
  });

  it.each([
    [{ maxConcurrency: 0 }, /maxConcurrency must be 1\.\.10000/],
    [{ maxConcurrency: 10_001 }, /maxConcurrency must be 1\.\.10000/],
    [{ itemsPrefix: 'staging/x/items' }, /itemsPrefix must end in "\/"/],
    [{ resultsPrefix: 'staging/x/map-runs/' }, /resultsPrefix must not/],
  ])('refuses %j', (overrides, message) => {
    expect(() => build(overrides)).toThrow(message);
  });
});
