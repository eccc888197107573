import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { type SdkCall, withSdkCallHooks } from '#aws/sdk-call-hooks.ts';
import { UnmappedSdkCallError } from '#infra/local/iam/actions.ts';
import { type Caller, currentCaller, runAsCaller } from '#infra/local/iam/caller.ts';
import { AccessDeniedError, LocalIam, resourceClass } from '#infra/local/iam/evaluator.ts';
import { UnknownRoleError } from '#infra/local/iam/policies.ts';
import { LocalTemplate } from '#infra/local/template.ts';

const ACCOUNT = '000000000000';
const TABLE_ARN = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/Table`;
const bucketArn = { 'Fn::GetAtt': ['Bucket', 'Arn'] };
const objects = (path: string) => ({ 'Fn::Join': ['', [bucketArn, path]] });
const policy = (...Statement: unknown[]) => ({ Version: '2012-10-17', Statement });

function iamTemplate(): Record<string, unknown> {
  return {
    Resources: {
      Key: {
        Type: 'AWS::KMS::Key',
        Properties: {
          KeyPolicy: policy({
            Effect: 'Allow',
            Principal: {
              AWS: {
                'Fn::Join': [
                  '',
                  ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root'],
                ],
              },
            },
            Action: 'kms:*',
            Resource: '*',
          }),
        },
      },
      Bucket: {
        Type: 'AWS::S3::Bucket',
        Properties: {
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [
              {
                BucketKeyEnabled: true,
                ServerSideEncryptionByDefault: {
                  SSEAlgorithm: 'aws:kms',
                  KMSMasterKeyID: { 'Fn::GetAtt': ['Key', 'Arn'] },
                },
              },
            ],
          },
        },
      },
      BucketPolicy: {
        Type: 'AWS::S3::BucketPolicy',
        Properties: {
          Bucket: { Ref: 'Bucket' },
          PolicyDocument: policy(
            {
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: 's3:*',
              Resource: [bucketArn, objects('/*')],
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            },
            {
              Effect: 'Deny',
              Principal: { AWS: { 'Fn::GetAtt': ['ReaderRole', 'Arn'] } },
              Action: 's3:GetObject',
              Resource: objects('/secret/*'),
            },
          ),
        },
      },
      Table: { Type: 'AWS::DynamoDB::Table', Properties: { TableName: 'Table' } },
      Queue: { Type: 'AWS::SQS::Queue', Properties: {} },
      // Only the reader's role may send to the queue or publish to the topic, whatever other roles allow.
      QueuePolicy: {
        Type: 'AWS::SQS::QueuePolicy',
        Properties: {
          Queues: [{ Ref: 'Queue' }],
          PolicyDocument: policy({
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 'sqs:SendMessage',
            Resource: { 'Fn::GetAtt': ['Queue', 'Arn'] },
            Condition: { ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': ['ReaderRole', 'Arn'] } } },
          }),
        },
      },
      Topic: { Type: 'AWS::SNS::Topic', Properties: {} },
      TopicPolicy: {
        Type: 'AWS::SNS::TopicPolicy',
        Properties: {
          Topics: [{ Ref: 'Topic' }],
          PolicyDocument: policy({
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 'sns:Publish',
            Resource: { Ref: 'Topic' },
            Condition: { ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': ['ReaderRole', 'Arn'] } } },
          }),
        },
      },
      Bus: { Type: 'AWS::Events::EventBus', Properties: { Name: 'llmops-bus' } },
      ReaderRole: { Type: 'AWS::IAM::Role', Properties: {} },
      ReaderPolicy: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          PolicyName: 'ReaderPolicy',
          Roles: [{ Ref: 'ReaderRole' }],
          PolicyDocument: policy(
            {
              Effect: 'Allow',
              Action: ['dynamodb:GetItem', 'dynamodb:Query'],
              Resource: [
                { 'Fn::GetAtt': ['Table', 'Arn'] },
                { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Table', 'Arn'] }, '/index/byStatus']] },
              ],
            },
            { Effect: 'Allow', Action: 's3:GetObject', Resource: objects('/*') },
            { Effect: 'Deny', Action: 's3:GetObject', Resource: objects('/private/*') },
            {
              Effect: 'Allow',
              Action: 's3:ListBucket',
              Resource: bucketArn,
              Condition: { StringLike: { 's3:prefix': ['docs/*'] } },
            },
            {
              Effect: 'Allow',
              Action: 'kms:Decrypt',
              Resource: { 'Fn::GetAtt': ['Key', 'Arn'] },
              Condition: { StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } },
            },
            { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': ['Queue', 'Arn'] } },
            { Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: 'Topic' } },
          ),
        },
      },
      WriterRole: {
        Type: 'AWS::IAM::Role',
        Properties: {
          Policies: [
            {
              PolicyName: 'inline',
              PolicyDocument: policy(
                { Effect: 'Allow', Action: 's3:PutObject', Resource: objects('/*') },
                { Effect: 'Allow', Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': ['Bus', 'Arn'] } },
                { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': ['Queue', 'Arn'] } },
                { Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: 'Topic' } },
              ),
            },
          ],
        },
      },
      ReaderFn: {
        Type: 'AWS::Lambda::Function',
        Properties: { Role: { 'Fn::GetAtt': ['ReaderRole', 'Arn'] } },
        Metadata: { 'llmops:entry': 'functions/reader.ts' },
      },
      WriterFn: {
        Type: 'AWS::Lambda::Function',
        Properties: { Role: { 'Fn::GetAtt': ['WriterRole', 'Arn'] } },
        Metadata: { 'llmops:entry': 'functions/writer.ts' },
      },
      StrayFn: {
        Type: 'AWS::Lambda::Function',
        Properties: { Role: `arn:aws:iam::${ACCOUNT}:role/made-elsewhere` },
        Metadata: { 'llmops:entry': 'functions/stray.ts' },
      },
    },
  };
}

const template = new LocalTemplate(iamTemplate(), { namePrefix: 'iam' });
const bucket = template.ref('Bucket');
const reader: Caller = { logicalId: 'ReaderFn', functionName: 'ReaderFn' };
const writer: Caller = { logicalId: 'WriterFn', functionName: 'WriterFn' };
const dynamo = (commandName: string, input: Record<string, unknown>): SdkCall => ({
  clientName: 'DynamoDBClient',
  commandName,
  input,
});
const s3 = (commandName: string, input: Record<string, unknown>): SdkCall => ({
  clientName: 'S3Client',
  commandName,
  input,
});

async function denial(promise: Promise<unknown>): Promise<AccessDeniedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AccessDeniedError);
  return error as AccessDeniedError;
}

describe('LocalIam', () => {
  const iam = new LocalIam(template);

  it('allows a call an identity policy of the function role grants', async () => {
    await expect(
      iam.authorize(reader, dynamo('GetItemCommand', { TableName: 'Table' })),
    ).resolves.toBeUndefined();
    await expect(
      iam.authorize(reader, dynamo('QueryCommand', { TableName: 'Table', IndexName: 'byStatus' })),
    ).resolves.toBeUndefined();
  });

  it('denies an ungranted call as AWS does: the service error code, 403, action, resource, function and role', async () => {
    const error = await denial(iam.authorize(reader, dynamo('ScanCommand', { TableName: 'Table' })));
    expect(error.name).toBe('AccessDeniedException');
    expect(error.$metadata.httpStatusCode).toBe(403);
    expect(error.$fault).toBe('client');
    expect(error.message).toBe(
      `User: arn:aws:sts::${ACCOUNT}:assumed-role/ReaderRole/ReaderFn is not authorized to perform: ` +
        `dynamodb:Scan on resource: ${TABLE_ARN} because no identity-based policy allows the dynamodb:Scan ` +
        'action (local IAM evaluation, function ReaderFn, role ReaderRole)',
    );
    expect(error).toMatchObject({
      action: 'dynamodb:Scan',
      resource: TABLE_ARN,
      functionLogicalId: 'ReaderFn',
    });
  });

  it('denies a query on an index the role was not granted', async () => {
    const error = await denial(
      iam.authorize(reader, dynamo('QueryCommand', { TableName: 'Table', IndexName: 'byOwner' })),
    );
    expect(error.message).toContain(`on resource: ${TABLE_ARN}/index/byOwner because`);
  });

  it("names S3's own error code, AccessDenied, for a denied S3 call", async () => {
    const error = await denial(
      iam.authorize(writer, s3('GetObjectCommand', { Bucket: bucket, Key: 'a.txt' })),
    );
    expect(error.name).toBe('AccessDenied');
    expect(error.Code).toBe('AccessDenied');
    expect(error.$metadata.httpStatusCode).toBe(403);
  });

  it('evaluates ListObjectsV2 as s3:ListBucket on the bucket with the s3:prefix condition key', async () => {
    await expect(
      iam.authorize(reader, s3('ListObjectsV2Command', { Bucket: bucket, Prefix: 'docs/2026/' })),
    ).resolves.toBeUndefined();
    const error = await denial(
      iam.authorize(reader, s3('ListObjectsV2Command', { Bucket: bucket, Prefix: 'raw/' })),
    );
    expect(error.message).toContain(`s3:ListBucket on resource: arn:aws:s3:::${bucket} because`);
  });

  it('denies a call that an explicit Deny of the bucket policy covers, although the role allows it', async () => {
    await expect(
      iam.authorize(reader, s3('GetObjectCommand', { Bucket: bucket, Key: 'public/a.txt' })),
    ).resolves.toBeUndefined();
    const error = await denial(
      iam.authorize(reader, s3('GetObjectCommand', { Bucket: bucket, Key: 'secret/a.txt' })),
    );
    expect(error.message).toContain(
      `s3:GetObject on resource: arn:aws:s3:::${bucket}/secret/a.txt with an explicit deny in a resource-based policy`,
    );
  });

  it('decides objects that no policy tells apart once, and still tells apart those a pattern does', async () => {
    const fresh = new LocalIam(template);
    const keys = [
      'public/a.txt',
      'public/b.txt',
      'docs/c.txt',
      'secret/d.txt',
      'secret/e.txt',
      'private/f.txt',
    ];
    const outcomes = await Promise.all(
      keys.map((Key) =>
        fresh.authorize(reader, s3('GetObjectCommand', { Bucket: bucket, Key })).then(
          () => 'allowed',
          (error: Error) => error.message,
        ),
      ),
    );
    expect(outcomes.slice(0, 3)).toEqual(['allowed', 'allowed', 'allowed']);
    expect(outcomes[4]).toContain(
      `s3:GetObject on resource: arn:aws:s3:::${bucket}/secret/e.txt with an explicit deny in a resource-based policy`,
    );
    expect(outcomes[5]).toContain('with an explicit deny in an identity-based policy');
    // Every request is still listed, with its own resource.
    const decided = (await fresh.decisions()).filter((d) => d.action === 's3:GetObject');
    expect(decided.map((d) => d.resource.split('/').slice(1).join('/'))).toEqual(keys);
    expect(decided.map((d) => d.allowed)).toEqual([true, true, true, false, false, false]);
  });

  it('denies a send that an explicit Deny of the queue policy covers, although the role allows it', async () => {
    const queueUrl = template.ref('Queue');
    const queueArn = template.getAtt('Queue', 'Arn');
    const send = (commandName: string, input: Record<string, unknown>): SdkCall => ({
      clientName: 'SQSClient',
      commandName,
      input: { QueueUrl: queueUrl, ...input },
    });
    await expect(
      iam.authorize(reader, send('SendMessageCommand', { MessageBody: 'x' })),
    ).resolves.toBeUndefined();
    const error = await denial(iam.authorize(writer, send('SendMessageCommand', { MessageBody: 'x' })));
    expect(error.name).toBe('AccessDenied');
    expect(error.$metadata.httpStatusCode).toBe(403);
    expect(error.message).toContain(
      `sqs:SendMessage on resource: ${queueArn} with an explicit deny in a resource-based policy`,
    );
    // A batch is authorized as SendMessage, and refused alike.
    const batch = await denial(
      iam.authorize(writer, send('SendMessageBatchCommand', { Entries: [{ Id: '1', MessageBody: 'x' }] })),
    );
    expect(batch).toMatchObject({ action: 'sqs:SendMessage', resource: queueArn });
  });

  it("denies a publish that an explicit Deny of the topic policy covers, with SNS's own error code", async () => {
    const topicArn = template.ref('Topic');
    const publish: SdkCall = {
      clientName: 'SNSClient',
      commandName: 'PublishCommand',
      input: { TopicArn: topicArn, Message: 'x' },
    };
    await expect(iam.authorize(reader, publish)).resolves.toBeUndefined();
    const error = await denial(iam.authorize(writer, publish));
    expect(error.name).toBe('AuthorizationError');
    expect(error.$metadata.httpStatusCode).toBe(403);
    expect(error.message).toContain(
      `sns:Publish on resource: ${topicArn} with an explicit deny in a resource-based policy`,
    );
  });

  it("lets an explicit Deny of the role's own policy win over its Allow", async () => {
    const error = await denial(
      iam.authorize(reader, s3('GetObjectCommand', { Bucket: bucket, Key: 'private/a.txt' })),
    );
    expect(error.message).toContain('with an explicit deny in an identity-based policy');
  });

  it('evaluates the KMS request S3 makes for an object in a bucket encrypted with a customer key', async () => {
    const error = await denial(
      iam.authorize(writer, s3('PutObjectCommand', { Bucket: bucket, Key: 'out/a.txt', Body: 'x' })),
    );
    expect(error.name).toBe('AccessDenied');
    expect(error.message).toContain(
      `kms:GenerateDataKey on resource: ${template.getAtt('Key', 'Arn')} because no identity-based policy allows`,
    );
  });

  it('evaluates PutEvents on the ARN of the bus each entry names', async () => {
    const put = (bus: string) => ({
      clientName: 'EventBridgeClient',
      commandName: 'PutEventsCommand',
      input: { Entries: [{ EventBusName: bus, Source: 'llmops.test', DetailType: 'X', Detail: '{}' }] },
    });
    await expect(iam.authorize(writer, put('llmops-bus'))).resolves.toBeUndefined();
    const error = await denial(iam.authorize(writer, put('other-bus')));
    expect(error.message).toContain(
      `events:PutEvents on resource: arn:aws:events:us-east-1:${ACCOUNT}:event-bus/other-bus`,
    );
  });

  it('refuses a command it cannot map, naming it, instead of allowing it unevaluated', async () => {
    await expect(
      iam.authorize(reader, dynamo('ExecuteStatementCommand', { Statement: 'SELECT * FROM "Table"' })),
    ).rejects.toThrow(UnmappedSdkCallError);
    await expect(
      iam.authorize(reader, dynamo('ExecuteStatementCommand', { Statement: 'SELECT * FROM "Table"' })),
    ).rejects.toThrow(/DynamoDBClient\.ExecuteStatementCommand/);
  });

  it('refuses to evaluate a function whose role the template does not declare', async () => {
    await expect(
      iam.authorize(
        { logicalId: 'StrayFn', functionName: 'StrayFn' },
        dynamo('GetItemCommand', { TableName: 'Table' }),
      ),
    ).rejects.toThrow(UnknownRoleError);
  });
});

describe('SDK calls inside and outside an invocation', () => {
  const iam = new LocalIam(template);
  /** A document client whose calls stop before the network and answer an empty result. */
  function offlineClient(): DynamoDBDocumentClient {
    const client = withSdkCallHooks(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })));
    client.middlewareStack.add(
      () => async () => ({ output: { $metadata: { httpStatusCode: 200 }, Items: [] }, response: {} }),
      { step: 'serialize', name: 'answerOffline' },
    );
    return client;
  }

  it('leaves calls made outside any invocation unevaluated', async () => {
    const client = offlineClient();
    expect(currentCaller()).toBeUndefined();
    await expect(client.send(new ScanCommand({ TableName: 'Table' }))).resolves.toMatchObject({ Items: [] });
  });

  it("evaluates a module-scope client's calls as the function whose invocation makes them", async () => {
    const client = offlineClient();
    await expect(
      runAsCaller(reader, iam, () => client.send(new GetCommand({ TableName: 'Table', Key: { pk: 'a' } }))),
    ).resolves.toMatchObject({ $metadata: { httpStatusCode: 200 } });
    await expect(
      runAsCaller(reader, iam, () => client.send(new ScanCommand({ TableName: 'Table' }))),
    ).rejects.toMatchObject({
      name: 'AccessDeniedException',
      $metadata: { httpStatusCode: 403 },
    });
  });

  it('keeps concurrent invocations of different functions apart on one shared client', async () => {
    const client = offlineClient();
    const get = new GetCommand({ TableName: 'Table', Key: { pk: 'a' } });
    const [asReader, asWriter] = await Promise.allSettled([
      runAsCaller(reader, iam, async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return client.send(get);
      }),
      runAsCaller(writer, iam, () => client.send(get)),
    ]);
    expect(asReader.status).toBe('fulfilled');
    expect(asWriter).toMatchObject({
      status: 'rejected',
      reason: {
        name: 'AccessDeniedException',
        message: expect.stringContaining('assumed-role/WriterRole/WriterFn'),
      },
    });
  });
});

describe('resourceClass', () => {
  const patterns = ['arn:aws:s3:::b/*', 'arn:aws:s3:::b/secret/*', 'arn:aws:s3:::b/a?.txt'];

  it('puts objects of one bucket that every pattern matches alike in one class', () => {
    expect(resourceClass('arn:aws:s3:::b/x/1.md', patterns)).toBe(
      resourceClass('arn:aws:s3:::b/y/2.md', patterns),
    );
    expect(resourceClass('arn:aws:s3:::b/x/1.md', patterns)).not.toBe(
      resourceClass('arn:aws:s3:::b/secret/1.md', patterns),
    );
    expect(resourceClass('arn:aws:s3:::b/x/1.md', patterns)).not.toBe(
      resourceClass('arn:aws:s3:::b/a1.txt', patterns),
    );
    expect(resourceClass('arn:aws:s3:::b/x', patterns)).not.toBe(resourceClass('arn:aws:s3:::c/x', patterns));
  });

  it('decides alone what it cannot class: policy variables, other services, keys with colons', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a template
    expect(resourceClass('arn:aws:s3:::b/x', ['arn:aws:s3:::b/${aws:username}/*'])).toBeUndefined();
    expect(resourceClass('arn:aws:dynamodb:us-east-1:1:table/T', patterns)).toBeUndefined();
    expect(resourceClass('arn:aws:s3:::b/a:b', patterns)).toBeUndefined();
    expect(resourceClass('arn:aws:s3:::b', patterns)).toBeUndefined();
    expect(resourceClass('arn:aws:s3:::b/x', ['arn:aws:s3:*'])).toBeUndefined();
  });

  it('leaves out the patterns of other services, which match no S3 object', () => {
    const withLogs = [
      ...patterns,
      'arn:aws:logs:us-east-1:1:log-group:G:*',
      'arn:aws:dynamodb:us-east-1:1:table/T',
    ];
    expect(resourceClass('arn:aws:s3:::b/x/1.md', withLogs)).toBe(
      resourceClass('arn:aws:s3:::b/x/1.md', patterns),
    );
  });
});
