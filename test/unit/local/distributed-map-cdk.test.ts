import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, type Emulators, startEmulators } from '#infra/local/emulators.ts';
import type { LambdaInvoker } from '#infra/local/lambda-registry.ts';
import { runStateMachine } from '#infra/local/state-machines.ts';
import { LocalTemplate } from '#infra/local/template.ts';

/**
 * A tiny stack with an `sfn.DistributedMap` as aws-cdk-lib 2.276 synthesizes it (S3JsonLItemReader,
 * ItemSelector, ItemBatcher with BatchInput, ResultWriterV2, tolerated failures, EXPRESS children), so
 * the template's real shape runs locally, not a hand-written one.
 */
function synthesize(): { template: Template; raw: unknown; bucketId: string } {
  // Without this flag CDK renders the older `resultWriter` prop and silently drops `resultWriterV2`.
  const app = new App({ context: { '@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2': true } });
  const stack = new Stack(app, 'DistributedMapStack');
  const bucket = new s3.Bucket(stack, 'Staging');
  const embed = new lambda.Function(stack, 'EmbedFunction', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({});'),
  });
  const batches = new sfn.DistributedMap(stack, 'Batches', {
    itemReader: new sfn.S3JsonLItemReader({ bucket, key: sfn.JsonPath.stringAt('$.key') }),
    itemSelector: {
      doc: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
      index: sfn.JsonPath.numberAt('$$.Map.Item.Index'),
    },
    itemBatcher: new sfn.ItemBatcher({
      maxItemsPerBatch: 2,
      // ItemBatcher renders BatchInput as given: a JsonPath.stringAt() value would stay the literal '$.run'.
      batchInput: { 'run.$': '$.run' },
    }),
    resultWriterV2: new sfn.ResultWriterV2({
      bucket,
      prefix: 'map-runs',
      writerConfig: { outputType: sfn.OutputType.JSON, transformation: sfn.Transformation.NONE },
    }),
    toleratedFailurePercentage: 25,
    mapExecutionType: sfn.StateMachineType.EXPRESS,
    maxConcurrency: 4,
    resultPath: '$.mapRun',
  });
  batches.itemProcessor(
    new tasks.LambdaInvoke(stack, 'Embed', { lambdaFunction: embed, outputPath: '$.Payload' }),
  );
  new sfn.StateMachine(stack, 'Ingest', {
    definitionBody: sfn.DefinitionBody.fromChainable(batches.next(new sfn.Succeed(stack, 'Done'))),
  });
  const raw = app.synth().getStackByName(stack.stackName).template as unknown;
  return {
    template: Template.fromJSON(raw as Record<string, unknown>),
    raw,
    bucketId: stack.getLogicalId(bucket.node.defaultChild as CfnElement),
  };
}

interface Batch {
  readonly Items: {
    readonly doc: { readonly id: string; readonly fail?: boolean };
    readonly index: number;
  }[];
  readonly BatchInput: { readonly run: string };
}

describe('a synthesized sfn.DistributedMap runs locally', { timeout: 120_000 }, () => {
  let emulators: Emulators;
  let client: S3Client;

  beforeAll(async () => {
    emulators = await startEmulators();
    client = createS3Client(emulators.s3Endpoint);
  });
  afterAll(async () => {
    client?.destroy();
    await emulators?.stop();
  });

  it('reads the JSON Lines object, batches, tolerates a failed batch and writes its results', async () => {
    const { template, raw, bucketId } = synthesize();
    const local = new LocalTemplate(raw, { namePrefix: 'dmap' });
    const [sm] = local.stateMachines();
    if (!sm) throw new Error('no state machine');
    const bucket = local.ref(bucketId);
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    const docs = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((id) => ({
      id,
      ...(id === 'c' ? { fail: true } : {}),
    }));
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'staged/docs.jsonl',
        Body: docs.map((d) => JSON.stringify(d)).join('\n'),
      }),
    );

    const batchesSeen: Batch[] = [];
    const lambdas: LambdaInvoker = {
      async invoke(_functionRef, payload) {
        const batch = payload as Batch;
        batchesSeen.push(batch);
        if (batch.Items.some((item) => item.doc.fail)) {
          const error = new Error(`cannot embed ${batch.Items.map((i) => i.doc.id).join(',')}`);
          error.name = 'EmbedFailedError';
          throw error;
        }
        return {
          embedded: batch.Items.map((item) => `${batch.BatchInput.run}:${item.index}:${item.doc.id}`),
        };
      },
    };
    const result = await runStateMachine(
      sm,
      { key: 'staged/docs.jsonl', run: 'r1' },
      { lambdas, s3: client },
    );

    // 8 items in 4 batches of 2: the batch with "c" fails, 2 of 8 items (25 %) are tolerated.
    expect(result.status).toBe('SUCCEEDED');
    expect(batchesSeen).toHaveLength(4);
    expect(batchesSeen).toContainEqual({
      Items: [
        { doc: { id: 'a' }, index: 0 },
        { doc: { id: 'b' }, index: 1 },
      ],
      BatchInput: { run: 'r1' },
    });
    const { mapRun } = result.output as {
      mapRun: { MapRunArn: string; ResultWriterDetails: { Bucket: string; Key: string } };
    };
    expect(mapRun.ResultWriterDetails.Bucket).toBe(bucket);
    expect(mapRun.ResultWriterDetails.Key).toMatch(/^map-runs\/[0-9a-f-]{36}\/manifest\.json$/);
    expect(mapRun.MapRunArn).toMatch(new RegExp(`^${sm.arn.replace(':stateMachine:', ':mapRun:')}/Batches:`));

    const read = async (key: string) =>
      JSON.parse(
        (await (
          await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
        ).Body?.transformToString()) ?? 'null',
      );
    const manifest = await read(mapRun.ResultWriterDetails.Key);
    expect(manifest.ResultFiles.PENDING).toEqual([]);
    const succeeded = (await read(manifest.ResultFiles.SUCCEEDED[0].Key)) as { Output: string }[];
    expect(succeeded.flatMap((e) => JSON.parse(e.Output).embedded)).toEqual([
      'r1:0:a',
      'r1:1:b',
      'r1:4:e',
      'r1:5:f',
      'r1:6:g',
      'r1:7:h',
    ]);
    const failed = (await read(manifest.ResultFiles.FAILED[0].Key)) as { Error: string; Input: string }[];
    expect(failed).toHaveLength(1);
    expect(failed[0]?.Error).toBe('EmbedFailedError');
    expect(JSON.parse(failed[0]?.Input ?? '{}').Items.map((i: { doc: { id: string } }) => i.doc.id)).toEqual([
      'c',
      'd',
    ]);

    // What the map run did locally, the synthesized role allows on AWS: read the items, write the results,
    // start the children.
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: Match.arrayWith(['s3:PutObject', 's3:GetObject']), Effect: 'Allow' }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Action: 'states:StartExecution', Effect: 'Allow' })]),
      },
    });
  });
});
