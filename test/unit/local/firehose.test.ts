import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, type Emulators, provision, startEmulators } from '#infra/local/emulators.ts';
import {
  evaluatePrefix,
  formatTimestamp,
  LocalFirehose,
  objectKey,
  UnknownDeliveryStreamError,
  UnsupportedFirehoseFeatureError,
} from '#infra/local/firehose.ts';
import { deliverToFirehose, type EventEnvelope } from '#infra/local/local-eventbridge.ts';
import { LocalTemplate } from '#infra/local/template.ts';

/** A rule on the project bus whose target is a Firehose delivery stream to S3, as `cdk synth` writes it. */
function firehoseTemplate(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Resources: {
      Bus: { Type: 'AWS::Events::EventBus', Properties: { Name: 'llmops-bus' } },
      AnalyticsBucket1A2B3C4D: { Type: 'AWS::S3::Bucket' },
      DeliveryRole: { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: {} } },
      InteractionsStream5E6F7A8B: {
        Type: 'AWS::KinesisFirehose::DeliveryStream',
        Properties: {
          DeliveryStreamType: 'DirectPut',
          ExtendedS3DestinationConfiguration: {
            BucketARN: { 'Fn::GetAtt': ['AnalyticsBucket1A2B3C4D', 'Arn'] },
            RoleARN: { 'Fn::GetAtt': ['DeliveryRole', 'Arn'] },
            Prefix: 'interactions/dt=!{timestamp:yyyy-MM-dd}/',
            ErrorOutputPrefix: 'errors/!{firehose:error-output-type}/',
            CompressionFormat: 'GZIP',
            BufferingHints: { IntervalInSeconds: 60, SizeInMBs: 5 },
            ProcessingConfiguration: {
              Enabled: true,
              Processors: [
                {
                  Type: 'AppendDelimiterToRecord',
                  Parameters: [{ ParameterName: 'Delimiter', ParameterValue: '\\n' }],
                },
              ],
            },
            ...overrides,
          },
        },
      },
      InteractionsRule: {
        Type: 'AWS::Events::Rule',
        Properties: {
          EventBusName: { Ref: 'Bus' },
          EventPattern: { source: ['llmops'], 'detail-type': ['llmops.InteractionRecorded'] },
          State: 'ENABLED',
          Targets: [
            {
              Arn: { 'Fn::GetAtt': ['InteractionsStream5E6F7A8B', 'Arn'] },
              Id: 'Target0',
              InputPath: '$.detail',
              RoleArn: { 'Fn::GetAtt': ['DeliveryRole', 'Arn'] },
            },
          ],
        },
      },
    },
  };
}

const AT = new Date('2026-03-07T09:05:04.321Z');

function event(detail: Record<string, unknown>): EventEnvelope {
  return {
    version: '0',
    id: 'e-1',
    'detail-type': 'llmops.InteractionRecorded',
    source: 'llmops',
    account: '000000000000',
    time: '2026-03-07T09:05:04Z',
    region: 'us-east-1',
    resources: [],
    detail,
  };
}

describe('Firehose prefixes', () => {
  it('formats yyyy, MM, dd and HH in UTC, with literal and quoted text', () => {
    expect(formatTimestamp('yyyy-MM-dd', AT)).toBe('2026-03-07');
    expect(formatTimestamp('yyyy/MM/dd/HH/', AT)).toBe('2026/03/07/09/');
    expect(formatTimestamp("yyyy'-'MM'T'HH", AT)).toBe('2026-03T09');
    expect(formatTimestamp("dd''", AT)).toBe("07'");
  });

  it('fails loudly on patterns it does not support', () => {
    expect(() => formatTimestamp('yyyy-MM-dd HH:mm', AT)).toThrow(UnsupportedFirehoseFeatureError);
    expect(() => formatTimestamp('YYYY', AT)).toThrow(/'YYYY'/);
    expect(() => formatTimestamp("yyyy'", AT)).toThrow(/Unterminated quote/);
  });

  it('evaluates timestamp expressions, and the default prefix when none is set', () => {
    expect(evaluatePrefix('interactions/dt=!{timestamp:yyyy-MM-dd}/', AT)).toBe(
      'interactions/dt=2026-03-07/',
    );
    expect(evaluatePrefix('y=!{timestamp:yyyy}/h=!{timestamp:HH}/', AT)).toBe('y=2026/h=09/');
    expect(evaluatePrefix('', AT)).toBe('2026/03/07/09/');
    expect(evaluatePrefix('static/', AT)).toBe('static/');
  });

  it('fails loudly on namespaces other than timestamp', () => {
    expect(() => evaluatePrefix('!{firehose:random-string}/', AT)).toThrow(/only !\{timestamp:\.\.\.\}/);
    expect(() => evaluatePrefix('!{partitionKeyFromQuery:app}/', AT)).toThrow(
      UnsupportedFirehoseFeatureError,
    );
    expect(() => evaluatePrefix('!{timestamp/', AT)).toThrow(/malformed/);
  });

  it('names objects like Firehose: <prefix><stream>-<version>-<time>-<uuid><extension>', () => {
    const destination = {
      prefix: 'p/!{timestamp:yyyy}/',
      compressionFormat: 'GZIP',
      fileExtension: undefined,
    };
    expect(objectKey('my-stream', destination, AT, 'u-1')).toBe(
      'p/2026/my-stream-1-2026-03-07-09-05-04-u-1.gz',
    );
    expect(objectKey('s', { ...destination, compressionFormat: 'UNCOMPRESSED' }, AT, 'u')).toBe(
      'p/2026/s-1-2026-03-07-09-05-04-u',
    );
    expect(objectKey('s', { ...destination, fileExtension: '.json.gz' }, AT, 'u')).toMatch(/-u\.json\.gz$/);
  });
});

describe('LocalTemplate: delivery streams', () => {
  const template = new LocalTemplate(firehoseTemplate(), { namePrefix: 'fh' });

  it('reads the S3 destination with its processors', () => {
    expect(template.deliveryStreams()).toEqual([
      {
        logicalId: 'InteractionsStream5E6F7A8B',
        name: 'InteractionsStream5E6F7A8B',
        arn: 'arn:aws:firehose:us-east-1:000000000000:deliverystream/InteractionsStream5E6F7A8B',
        type: 'DirectPut',
        s3: {
          bucketArn: 'arn:aws:s3:::fh-analyticsbucket1a2b3c4d',
          bucketName: 'fh-analyticsbucket1a2b3c4d',
          prefix: 'interactions/dt=!{timestamp:yyyy-MM-dd}/',
          errorOutputPrefix: 'errors/!{firehose:error-output-type}/',
          compressionFormat: 'GZIP',
          fileExtension: undefined,
          bufferingHints: { intervalInSeconds: 60, sizeInMBs: 5 },
          processors: [{ type: 'AppendDelimiterToRecord', parameters: { Delimiter: '\\n' } }],
          dynamicPartitioning: false,
          dataFormatConversion: false,
          customTimeZone: undefined,
        },
      },
    ]);
  });

  it('resolves a rule target to the delivery stream', () => {
    const [rule] = template.rules();
    expect(rule?.targets[0]).toMatchObject({
      targetLogicalId: 'InteractionsStream5E6F7A8B',
      targetType: 'AWS::KinesisFirehose::DeliveryStream',
      InputPath: '$.detail',
    });
  });
});

describe('LocalFirehose', () => {
  let emulators: Emulators;
  const template = new LocalTemplate(firehoseTemplate(), { namePrefix: 'fh' });
  const s3 = () => createS3Client(emulators.s3Endpoint);

  beforeAll(async () => {
    emulators = await startEmulators();
    const client = s3();
    await provision(template, { s3: client, dynamo: { send: async () => ({}) } as never });
    client.destroy();
  });
  afterAll(async () => {
    await emulators.stop();
  });

  it('writes the rule target input (InputPath $.detail) as a gzipped, newline-delimited record', async () => {
    const client = s3();
    try {
      const firehose = new LocalFirehose(template.deliveryStreams(), client, { now: () => AT });
      const [rule] = template.rules();
      const target = rule?.targets[0];
      if (!target) throw new Error('no target');
      await deliverToFirehose(firehose, target, event({ interactionId: 'i-1', usage: { inputTokens: 3 } }));
      await deliverToFirehose(firehose, target, event({ interactionId: 'i-2' }));
      const listed = await client.send(
        new ListObjectsV2Command({ Bucket: 'fh-analyticsbucket1a2b3c4d', Prefix: 'interactions/' }),
      );
      const keys = (listed.Contents ?? []).map((o) => o.Key ?? '').sort();
      expect(keys).toHaveLength(2);
      for (const key of keys) {
        expect(key).toMatch(
          /^interactions\/dt=2026-03-07\/InteractionsStream5E6F7A8B-1-2026-03-07-09-05-04-[0-9a-f-]{36}\.gz$/,
        );
      }
      const records: unknown[] = [];
      for (const key of keys) {
        const object = await client.send(
          new GetObjectCommand({ Bucket: 'fh-analyticsbucket1a2b3c4d', Key: key }),
        );
        const text = gunzipSync(Buffer.from((await object.Body?.transformToByteArray()) ?? [])).toString(
          'utf8',
        );
        expect(text.endsWith('\n')).toBe(true);
        records.push(
          ...text
            .trimEnd()
            .split('\n')
            .map((line) => JSON.parse(line)),
        );
      }
      expect(records).toEqual(
        expect.arrayContaining([
          { interactionId: 'i-1', usage: { inputTokens: 3 } },
          { interactionId: 'i-2' },
        ]),
      );
      expect(firehose.deliveries().map((d) => d.stream)).toEqual([
        'InteractionsStream5E6F7A8B',
        'InteractionsStream5E6F7A8B',
      ]);
    } finally {
      client.destroy();
    }
  });

  it('writes uncompressed records as they are, without a delimiter processor', async () => {
    const plain = new LocalTemplate(
      firehoseTemplate({
        CompressionFormat: 'UNCOMPRESSED',
        ProcessingConfiguration: { Enabled: false },
        Prefix: 'raw/',
      }),
      { namePrefix: 'fh' },
    );
    const client = s3();
    try {
      const firehose = new LocalFirehose(plain.deliveryStreams(), client, { now: () => AT });
      const delivery = await firehose.putRecord('InteractionsStream5E6F7A8B', '{"a":1}');
      expect(delivery.key).toMatch(/^raw\/InteractionsStream5E6F7A8B-1-2026-03-07-09-05-04-[0-9a-f-]{36}$/);
      const object = await client.send(new GetObjectCommand({ Bucket: delivery.bucket, Key: delivery.key }));
      expect(await object.Body?.transformToString()).toBe('{"a":1}');
    } finally {
      client.destroy();
    }
  });

  it('fails loudly on what it cannot reproduce, and on unknown streams', async () => {
    const client = s3();
    try {
      for (const override of [
        { CompressionFormat: 'Snappy' },
        { Prefix: 'x/!{firehose:random-string}/' },
        { DynamicPartitioningConfiguration: { Enabled: true } },
        { CustomTimeZone: 'Asia/Tokyo' },
        { ProcessingConfiguration: { Enabled: true, Processors: [{ Type: 'Lambda', Parameters: [] }] } },
      ]) {
        const firehose = new LocalFirehose(
          new LocalTemplate(firehoseTemplate(override), { namePrefix: 'fh' }).deliveryStreams(),
          client,
        );
        await expect(
          firehose.putRecord('InteractionsStream5E6F7A8B', '{}'),
          JSON.stringify(override),
        ).rejects.toThrow(UnsupportedFirehoseFeatureError);
      }
      const firehose = new LocalFirehose(template.deliveryStreams(), client);
      await expect(firehose.putRecord('nope', '{}')).rejects.toThrow(UnknownDeliveryStreamError);
    } finally {
      client.destroy();
    }
  });
});
