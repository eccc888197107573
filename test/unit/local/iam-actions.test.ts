import { describe, expect, it } from 'vitest';
import type { SdkCall } from '#aws/sdk-call-hooks.ts';
import { type ActionEnvironment, iamRequestsFor, UnmappedSdkCallError } from '#infra/local/iam/actions.ts';

const KEY = 'arn:aws:kms:us-east-1:000000000000:key/1234';
const env: ActionEnvironment = {
  partition: 'aws',
  region: 'us-east-1',
  account: '000000000000',
  bucketKey: (bucket) => (bucket === 'sealed' ? KEY : undefined),
};
const TABLE = 'arn:aws:dynamodb:us-east-1:000000000000:table';

function requests(clientName: string, commandName: string, input: Record<string, unknown>) {
  return iamRequestsFor({ clientName, commandName: `${commandName}Command`, input } satisfies SdkCall, env);
}
const actions = (list: ReturnType<typeof requests>) => list.map((r) => `${r.action} ${r.resource}`);

describe('IAM requests of DynamoDB calls', () => {
  it('checks item actions on the table ARN, and Query and Scan on the index ARN when an index is named', () => {
    expect(actions(requests('DynamoDBClient', 'UpdateItem', { TableName: 'Docs' }))).toEqual([
      `dynamodb:UpdateItem ${TABLE}/Docs`,
    ]);
    expect(actions(requests('DynamoDBClient', 'Query', { TableName: 'Docs', IndexName: 'gsi1' }))).toEqual([
      `dynamodb:Query ${TABLE}/Docs/index/gsi1`,
    ]);
    expect(actions(requests('DynamoDBClient', 'Scan', { TableName: 'Docs' }))).toEqual([
      `dynamodb:Scan ${TABLE}/Docs`,
    ]);
  });

  it('checks a batch on every table it names and a transaction item by item', () => {
    expect(actions(requests('DynamoDBClient', 'BatchWriteItem', { RequestItems: { A: [], B: [] } }))).toEqual(
      [`dynamodb:BatchWriteItem ${TABLE}/A`, `dynamodb:BatchWriteItem ${TABLE}/B`],
    );
    expect(
      actions(
        requests('DynamoDBClient', 'TransactWriteItems', {
          TransactItems: [{ Put: { TableName: 'A' } }, { ConditionCheck: { TableName: 'B' } }],
        }),
      ),
    ).toEqual([`dynamodb:PutItem ${TABLE}/A`, `dynamodb:ConditionCheckItem ${TABLE}/B`]);
  });
});

describe('IAM requests of S3 calls', () => {
  it('reads objects with s3:GetObject, a version with s3:GetObjectVersion, and HEAD needs no decryption', () => {
    expect(actions(requests('S3Client', 'GetObject', { Bucket: 'b', Key: 'a/b.txt' }))).toEqual([
      's3:GetObject arn:aws:s3:::b/a/b.txt',
    ]);
    expect(actions(requests('S3Client', 'GetObject', { Bucket: 'b', Key: 'k', VersionId: 'v1' }))).toEqual([
      's3:GetObjectVersion arn:aws:s3:::b/k',
    ]);
    expect(actions(requests('S3Client', 'HeadObject', { Bucket: 'sealed', Key: 'k' }))).toEqual([
      's3:GetObject arn:aws:s3:::sealed/k',
    ]);
  });

  it('adds the KMS request S3 makes with the customer key of an encrypted bucket, with its context keys', () => {
    const put = requests('S3Client', 'PutObject', { Bucket: 'sealed', Key: 'k' });
    expect(actions(put)).toEqual(['s3:PutObject arn:aws:s3:::sealed/k', `kms:GenerateDataKey ${KEY}`]);
    expect(put[1]?.context).toMatchObject({
      'kms:ViaService': 's3.us-east-1.amazonaws.com',
      'kms:EncryptionContext:aws:s3:arn': 'arn:aws:s3:::sealed',
    });
    expect(actions(requests('S3Client', 'GetObject', { Bucket: 'sealed', Key: 'k' }))).toEqual([
      's3:GetObject arn:aws:s3:::sealed/k',
      `kms:Decrypt ${KEY}`,
    ]);
  });

  it('copies with s3:GetObject on the source and s3:PutObject on the destination', () => {
    expect(
      actions(
        requests('S3Client', 'CopyObject', { CopySource: 'sealed/in/a%20b.txt', Bucket: 'b', Key: 'out/c' }),
      ),
    ).toEqual([
      's3:GetObject arn:aws:s3:::sealed/in/a b.txt',
      `kms:Decrypt ${KEY}`,
      's3:PutObject arn:aws:s3:::b/out/c',
    ]);
  });

  it('lists with s3:ListBucket on the bucket ARN and the s3:prefix condition key', () => {
    const [list] = requests('S3Client', 'ListObjectsV2', { Bucket: 'b', Prefix: 'raw/', Delimiter: '/' });
    expect(list).toEqual({
      action: 's3:ListBucket',
      resource: 'arn:aws:s3:::b',
      context: { 's3:prefix': 'raw/', 's3:delimiter': '/' },
    });
    expect(requests('S3Client', 'ListObjectsV2', { Bucket: 'b' })[0]?.context).toEqual({ 's3:prefix': '' });
  });

  it('maps the multipart upload steps to s3:PutObject and s3:AbortMultipartUpload', () => {
    expect(actions(requests('S3Client', 'CreateMultipartUpload', { Bucket: 'sealed', Key: 'k' }))).toEqual([
      's3:PutObject arn:aws:s3:::sealed/k',
      `kms:GenerateDataKey ${KEY}`,
      `kms:Decrypt ${KEY}`,
    ]);
    for (const step of ['UploadPart', 'CompleteMultipartUpload']) {
      expect(actions(requests('S3Client', step, { Bucket: 'b', Key: 'k' }))).toEqual([
        's3:PutObject arn:aws:s3:::b/k',
      ]);
    }
    expect(actions(requests('S3Client', 'AbortMultipartUpload', { Bucket: 'b', Key: 'k' }))).toEqual([
      's3:AbortMultipartUpload arn:aws:s3:::b/k',
    ]);
  });
});

describe('IAM requests of the other services', () => {
  it('puts events on the ARN of each named bus (default when none), with source and detail-type keys', () => {
    const put = requests('EventBridgeClient', 'PutEvents', {
      Entries: [
        { EventBusName: 'llmops', Source: 'llmops.rag', DetailType: 'X' },
        { Source: 'a', DetailType: 'Y' },
      ],
    });
    expect(put).toEqual([
      {
        action: 'events:PutEvents',
        resource: 'arn:aws:events:us-east-1:000000000000:event-bus/llmops',
        context: { 'events:source': 'llmops.rag', 'events:detail-type': 'X' },
      },
      {
        action: 'events:PutEvents',
        resource: 'arn:aws:events:us-east-1:000000000000:event-bus/default',
        context: { 'events:source': 'a', 'events:detail-type': 'Y' },
      },
    ]);
  });

  it('invokes Bedrock models by foundation-model or inference-profile ARN, and the guardrail it applies', () => {
    expect(
      actions(requests('BedrockRuntimeClient', 'InvokeModel', { modelId: 'amazon.titan-embed-text-v2:0' })),
    ).toEqual([
      'bedrock:InvokeModel arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0',
    ]);
    expect(
      actions(
        requests('BedrockRuntimeClient', 'ConverseStream', {
          modelId: 'us.amazon.nova-micro-v1:0',
          guardrailConfig: { guardrailIdentifier: 'g1', guardrailVersion: '1' },
        }),
      ),
    ).toEqual([
      'bedrock:InvokeModelWithResponseStream arn:aws:bedrock:us-east-1:000000000000:inference-profile/us.amazon.nova-micro-v1:0',
      'bedrock:ApplyGuardrail arn:aws:bedrock:us-east-1:000000000000:guardrail/g1',
    ]);
  });

  it('invokes SageMaker endpoints by their lowercase ARN, and Comprehend on *', () => {
    expect(
      actions(requests('SageMakerRuntimeClient', 'InvokeEndpoint', { EndpointName: 'Tuned-Model' })),
    ).toEqual(['sagemaker:InvokeEndpoint arn:aws:sagemaker:us-east-1:000000000000:endpoint/tuned-model']);
    expect(
      actions(requests('ComprehendClient', 'DetectPiiEntities', { Text: 'x', LanguageCode: 'en' })),
    ).toEqual(['comprehend:DetectPiiEntities *']);
  });

  it('queries S3 Vectors on the index ARN, and also needs GetVectors when it returns metadata', () => {
    const index = 'arn:aws:s3vectors:us-east-1:000000000000:bucket/vectors/index/chunks';
    expect(
      actions(
        requests('S3VectorsClient', 'QueryVectors', { vectorBucketName: 'vectors', indexName: 'chunks' }),
      ),
    ).toEqual([`s3vectors:QueryVectors ${index}`]);
    expect(
      actions(requests('S3VectorsClient', 'QueryVectors', { indexArn: index, returnMetadata: true })),
    ).toEqual([`s3vectors:QueryVectors ${index}`, `s3vectors:GetVectors ${index}`]);
  });

  it('sends to the queue of a QueueUrl and publishes to a topic ARN', () => {
    expect(
      actions(
        requests('SQSClient', 'SendMessage', {
          QueueUrl: 'https://sqs.us-east-1.amazonaws.com/000000000000/dlq',
        }),
      ),
    ).toEqual(['sqs:SendMessage arn:aws:sqs:us-east-1:000000000000:dlq']);
    expect(
      actions(requests('SNSClient', 'Publish', { TopicArn: 'arn:aws:sns:us-east-1:000000000000:alerts' })),
    ).toEqual(['sns:Publish arn:aws:sns:us-east-1:000000000000:alerts']);
  });

  it('refuses an unknown command, or a known one without the input it needs, naming the call', () => {
    expect(() => requests('DynamoDBClient', 'ExecuteStatement', {})).toThrow(UnmappedSdkCallError);
    expect(() => requests('S3Client', 'PutBucketPolicy', { Bucket: 'b' })).toThrow(
      /S3Client\.PutBucketPolicyCommand/,
    );
    expect(() => requests('KinesisClient', 'PutRecord', {})).toThrow(/KinesisClient\.PutRecordCommand/);
    expect(() => requests('S3Client', 'GetObject', { Bucket: 'b' })).toThrow(/no Key in the input/);
  });
});
