/**
 * What IAM authorizes for one AWS SDK call: each command maps to the action(s) AWS checks, the resource
 * ARN(s) they are checked on and the request's service condition keys (`s3:prefix`, `kms:ViaService`, ...).
 * A command this table does not know fails loudly: a call that is not evaluated must not pass silently.
 */
import type { SdkCall } from '#aws/sdk-call-hooks.ts';
import { putItemAttributes, updateItemAttributes } from './dynamodb-attributes.ts';

/** One authorization AWS performs for a call. */
export interface IamRequest {
  /** `service:Action`, e.g. `dynamodb:Scan`. */
  readonly action: string;
  /** The resource ARN, or `*` for actions without resource types (e.g. Comprehend's Detect* APIs). */
  readonly resource: string;
  /** Service condition keys of the request. */
  readonly context: Readonly<Record<string, string | string[]>>;
}

/** Where the calls go: the values ARNs are built from, and the template's facts about encryption keys. */
export interface ActionEnvironment {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  /** ARN of the customer managed KMS key a bucket encrypts new objects with by default, if any. */
  readonly bucketKey: (bucket: string) => string | undefined;
}

/** An SDK call this table does not map to IAM actions: refused rather than allowed unevaluated. */
export class UnmappedSdkCallError extends Error {
  readonly clientName: string;
  readonly commandName: string;
  constructor(call: Pick<SdkCall, 'clientName' | 'commandName'>, detail?: string) {
    super(
      `No IAM mapping for ${call.clientName}.${call.commandName}${detail ? ` (${detail})` : ''}: the local ` +
        'run evaluates every SDK call a function makes against its role; add the command to ' +
        'infra/local/iam/actions.ts with the actions and resources AWS checks for it',
    );
    this.name = 'UnmappedSdkCallError';
    this.clientName = call.clientName;
    this.commandName = call.commandName;
  }
}

type Mapper = (
  input: Readonly<Record<string, unknown>>,
  env: ActionEnvironment,
  call: SdkCall,
) => IamRequest[];

/** The IAM requests AWS authorizes for `call`. @throws UnmappedSdkCallError for a command not in the table. */
export function iamRequestsFor(call: SdkCall, env: ActionEnvironment): IamRequest[] {
  const command = call.commandName.replace(/Command$/, '');
  const mapper = MAPPERS[call.clientName]?.[command];
  if (!mapper) throw new UnmappedSdkCallError(call);
  return mapper(call.input, env, call);
}

// ---------------------------------------------------------------------------------------------
// DynamoDB

function tableArn(env: ActionEnvironment, tableName: unknown, call: SdkCall): string {
  const name = requiredString(tableName, 'TableName', call);
  if (name.startsWith('arn:')) return name;
  return `arn:${env.partition}:dynamodb:${env.region}:${env.account}:table/${name}`;
}

function onTable(action: string): Mapper {
  return (input, env, call) => [{ action, resource: tableArn(env, input.TableName, call), context: {} }];
}

function onTableOrIndex(action: string): Mapper {
  return (input, env, call) => {
    const table = tableArn(env, input.TableName, call);
    const index = typeof input.IndexName === 'string' ? `${table}/index/${input.IndexName}` : table;
    return [{ action, resource: index, context: {} }];
  };
}

function onEachTable(action: string): Mapper {
  return (input, env, call) =>
    Object.keys(record(input.RequestItems)).map((name) => ({
      action,
      resource: tableArn(env, name, call),
      context: {},
    }));
}

/** Adds `dynamodb:Attributes` (the top-level attributes the request names) to an item write's context. */
function withAttributes(
  mapper: Mapper,
  attributes: (input: Readonly<Record<string, unknown>>) => string[],
): Mapper {
  return (input, env, call) =>
    mapper(input, env, call).map((r) => ({ ...r, context: { 'dynamodb:Attributes': attributes(input) } }));
}

const TRANSACT_ACTIONS: Readonly<Record<string, string>> = {
  Get: 'dynamodb:GetItem',
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
};

const transact: Mapper = (input, env, call) =>
  (Array.isArray(input.TransactItems) ? input.TransactItems : []).map((item) => {
    const [kind, operation] = Object.entries(record(item))[0] ?? [];
    const action = kind === undefined ? undefined : TRANSACT_ACTIONS[kind];
    if (action === undefined) throw new UnmappedSdkCallError(call, `transaction item ${String(kind)}`);
    return { action, resource: tableArn(env, record(operation).TableName, call), context: {} };
  });

const DYNAMODB: Readonly<Record<string, Mapper>> = {
  GetItem: onTable('dynamodb:GetItem'),
  PutItem: withAttributes(onTable('dynamodb:PutItem'), putItemAttributes),
  UpdateItem: withAttributes(onTable('dynamodb:UpdateItem'), updateItemAttributes),
  DeleteItem: onTable('dynamodb:DeleteItem'),
  DescribeTable: onTable('dynamodb:DescribeTable'),
  Query: onTableOrIndex('dynamodb:Query'),
  Scan: onTableOrIndex('dynamodb:Scan'),
  BatchGetItem: onEachTable('dynamodb:BatchGetItem'),
  BatchWriteItem: onEachTable('dynamodb:BatchWriteItem'),
  TransactGetItems: transact,
  TransactWriteItems: transact,
};

// ---------------------------------------------------------------------------------------------
// S3

function bucketArn(env: ActionEnvironment, bucket: string): string {
  return `arn:${env.partition}:s3:::${bucket}`;
}

function objectArn(env: ActionEnvironment, bucket: string, key: string): string {
  return `${bucketArn(env, bucket)}/${key}`;
}

/** The KMS request S3 makes on the caller's behalf for an object in `bucket` (SSE-KMS with a customer key). */
function kmsFor(
  env: ActionEnvironment,
  bucket: string,
  actions: readonly string[],
  explicitKey: unknown,
): IamRequest[] {
  const key =
    typeof explicitKey === 'string' && explicitKey.startsWith('arn:') ? explicitKey : env.bucketKey(bucket);
  if (key === undefined) return [];
  const context = {
    'kms:ViaService': `s3.${env.region}.amazonaws.com`,
    'kms:CallerAccount': env.account,
    // With an S3 Bucket Key (what the stack enables) the encryption context is the bucket ARN.
    'kms:EncryptionContext:aws:s3:arn': bucketArn(env, bucket),
  };
  return actions.map((action) => ({ action, resource: key, context }));
}

function objectRead(withKms: boolean): Mapper {
  return (input, env, call) => {
    const bucket = requiredString(input.Bucket, 'Bucket', call);
    const key = requiredString(input.Key, 'Key', call);
    const versioned = typeof input.VersionId === 'string' && input.VersionId !== '';
    return [
      {
        action: versioned ? 's3:GetObjectVersion' : 's3:GetObject',
        resource: objectArn(env, bucket, key),
        context: {},
      },
      ...(withKms ? kmsFor(env, bucket, ['kms:Decrypt'], undefined) : []),
    ];
  };
}

function objectWrite(kmsActions: readonly string[]): Mapper {
  return (input, env, call) => {
    const bucket = requiredString(input.Bucket, 'Bucket', call);
    const key = requiredString(input.Key, 'Key', call);
    const resource = objectArn(env, bucket, key);
    const extra: IamRequest[] = [];
    if (typeof input.Tagging === 'string' && input.Tagging !== '') {
      extra.push({ action: 's3:PutObjectTagging', resource, context: {} });
    }
    if (typeof input.ACL === 'string') extra.push({ action: 's3:PutObjectAcl', resource, context: {} });
    return [
      { action: 's3:PutObject', resource, context: {} },
      ...extra,
      ...kmsFor(env, bucket, kmsActions, input.SSEKMSKeyId),
    ];
  };
}

function onObject(action: string, versionedAction?: string): Mapper {
  return (input, env, call) => {
    const bucket = requiredString(input.Bucket, 'Bucket', call);
    const key = requiredString(input.Key, 'Key', call);
    const versioned =
      versionedAction !== undefined && typeof input.VersionId === 'string' && input.VersionId !== '';
    return [
      {
        action: versioned ? (versionedAction as string) : action,
        resource: objectArn(env, bucket, key),
        context: {},
      },
    ];
  };
}

function listBucket(action: string): Mapper {
  return (input, env, call) => {
    const bucket = requiredString(input.Bucket, 'Bucket', call);
    const context: Record<string, string> = {
      's3:prefix': typeof input.Prefix === 'string' ? input.Prefix : '',
    };
    if (typeof input.Delimiter === 'string') context['s3:delimiter'] = input.Delimiter;
    if (typeof input.MaxKeys === 'number') context['s3:max-keys'] = String(input.MaxKeys);
    return [{ action, resource: bucketArn(env, bucket), context }];
  };
}

const copyObject: Mapper = (input, env, call) => {
  const source = requiredString(input.CopySource, 'CopySource', call);
  const [path = '', query = ''] = source.replace(/^\//, '').split('?');
  const slash = path.indexOf('/');
  if (slash <= 0) throw new UnmappedSdkCallError(call, `CopySource '${source}' is not bucket/key`);
  const sourceBucket = decodeURIComponent(path.slice(0, slash));
  const sourceKey = decodeURIComponent(path.slice(slash + 1));
  const versioned = /(^|&)versionId=/.test(query);
  return [
    {
      action: versioned ? 's3:GetObjectVersion' : 's3:GetObject',
      resource: objectArn(env, sourceBucket, sourceKey),
      context: {},
    },
    ...kmsFor(env, sourceBucket, ['kms:Decrypt'], undefined),
    ...objectWrite(['kms:GenerateDataKey'])(input, env, call),
  ];
};

const deleteObjects: Mapper = (input, env, call) => {
  const bucket = requiredString(input.Bucket, 'Bucket', call);
  const objects = record(input.Delete).Objects;
  return (Array.isArray(objects) ? objects : []).map((object) => {
    const o = record(object);
    const versioned = typeof o.VersionId === 'string' && o.VersionId !== '';
    return {
      action: versioned ? 's3:DeleteObjectVersion' : 's3:DeleteObject',
      resource: objectArn(env, bucket, requiredString(o.Key, 'Delete.Objects[].Key', call)),
      context: {},
    };
  });
};

const S3: Readonly<Record<string, Mapper>> = {
  GetObject: objectRead(true),
  // HEAD reads metadata only: no decryption, so no KMS request.
  HeadObject: objectRead(false),
  PutObject: objectWrite(['kms:GenerateDataKey']),
  CopyObject: copyObject,
  DeleteObject: onObject('s3:DeleteObject', 's3:DeleteObjectVersion'),
  DeleteObjects: deleteObjects,
  ListObjectsV2: listBucket('s3:ListBucket'),
  ListObjects: listBucket('s3:ListBucket'),
  ListObjectVersions: listBucket('s3:ListBucketVersions'),
  HeadBucket: (input, env, call) => [
    {
      action: 's3:ListBucket',
      resource: bucketArn(env, requiredString(input.Bucket, 'Bucket', call)),
      context: {},
    },
  ],
  // A multipart upload to an SSE-KMS bucket needs both kms:GenerateDataKey and kms:Decrypt (S3 docs).
  CreateMultipartUpload: objectWrite(['kms:GenerateDataKey', 'kms:Decrypt']),
  UploadPart: onObject('s3:PutObject'),
  UploadPartCopy: onObject('s3:PutObject'),
  CompleteMultipartUpload: onObject('s3:PutObject'),
  AbortMultipartUpload: onObject('s3:AbortMultipartUpload'),
  ListParts: onObject('s3:ListMultipartUploadParts'),
};

// ---------------------------------------------------------------------------------------------
// EventBridge, Firehose, SQS, SNS

/**
 * One authorization per entry: `events:PutEvents` on the bus the entry names, with the entry's
 * `events:source` and `events:detail-type` (an entry without one lacks the key, which a `Null` condition
 * refuses), so a role conditioned on the events it publishes is held to each entry it sends.
 */
const putEvents: Mapper = (input, env) =>
  (Array.isArray(input.Entries) ? input.Entries : []).map((entry) => {
    const e = record(entry);
    const bus = typeof e.EventBusName === 'string' && e.EventBusName !== '' ? e.EventBusName : 'default';
    const resource = bus.startsWith('arn:')
      ? bus
      : `arn:${env.partition}:events:${env.region}:${env.account}:event-bus/${bus}`;
    const context: Record<string, string> = {};
    if (typeof e.Source === 'string') context['events:source'] = e.Source;
    if (typeof e.DetailType === 'string') context['events:detail-type'] = e.DetailType;
    return { action: 'events:PutEvents', resource, context };
  });

function onDeliveryStream(action: string): Mapper {
  return (input, env, call) => [
    {
      action,
      resource: `arn:${env.partition}:firehose:${env.region}:${env.account}:deliverystream/${requiredString(
        input.DeliveryStreamName,
        'DeliveryStreamName',
        call,
      )}`,
      context: {},
    },
  ];
}

function onQueue(action: string): Mapper {
  return (input, env, call) => {
    const url = requiredString(input.QueueUrl, 'QueueUrl', call);
    const match = /^https?:\/\/[^/]+\/(\d{12})\/([^/?]+)/.exec(url);
    if (!match) throw new UnmappedSdkCallError(call, `QueueUrl '${url}' names no account and queue`);
    return [
      { action, resource: `arn:${env.partition}:sqs:${env.region}:${match[1]}:${match[2]}`, context: {} },
    ];
  };
}

function onTopic(action: string): Mapper {
  return (input, _env, call) => [
    {
      action,
      resource: requiredString(input.TopicArn ?? input.TargetArn, 'TopicArn', call),
      context: {},
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Models and vectors

function modelArn(env: ActionEnvironment, modelId: string): string {
  if (modelId.startsWith('arn:')) return modelId;
  // Cross-region inference profiles are named by a geography prefix: us., eu., apac., global. ...
  if (/^(us|eu|apac|us-gov|ca|jp|au|global)\./.test(modelId)) {
    return `arn:${env.partition}:bedrock:${env.region}:${env.account}:inference-profile/${modelId}`;
  }
  return `arn:${env.partition}:bedrock:${env.region}::foundation-model/${modelId}`;
}

function guardrailArn(env: ActionEnvironment, identifier: string): string {
  return identifier.startsWith('arn:')
    ? identifier
    : `arn:${env.partition}:bedrock:${env.region}:${env.account}:guardrail/${identifier}`;
}

function invokeModel(action: string, guardrailKey: 'guardrailIdentifier' | 'guardrailConfig'): Mapper {
  return (input, env, call) => {
    const requests: IamRequest[] = [
      { action, resource: modelArn(env, requiredString(input.modelId, 'modelId', call)), context: {} },
    ];
    const guardrail =
      guardrailKey === 'guardrailIdentifier'
        ? input.guardrailIdentifier
        : record(input.guardrailConfig).guardrailIdentifier;
    if (typeof guardrail === 'string' && guardrail !== '') {
      requests.push({
        action: 'bedrock:ApplyGuardrail',
        resource: guardrailArn(env, guardrail),
        context: {},
      });
    }
    return requests;
  };
}

function onEndpoint(action: string): Mapper {
  return (input, env, call) => [
    {
      action,
      resource: `arn:${env.partition}:sagemaker:${env.region}:${env.account}:endpoint/${requiredString(
        input.EndpointName,
        'EndpointName',
        call,
      ).toLowerCase()}`,
      context: {},
    },
  ];
}

function vectorIndexArn(
  env: ActionEnvironment,
  input: Readonly<Record<string, unknown>>,
  call: SdkCall,
): string {
  if (typeof input.indexArn === 'string') return input.indexArn;
  const bucket = requiredString(input.vectorBucketName, 'vectorBucketName', call);
  const index = requiredString(input.indexName, 'indexName', call);
  return `arn:${env.partition}:s3vectors:${env.region}:${env.account}:bucket/${bucket}/index/${index}`;
}

/** S3 Vectors checks GetVectors too when a call returns metadata or data, or filters on metadata. */
function onVectorIndex(
  action: string,
  readsVectors: (input: Readonly<Record<string, unknown>>) => boolean,
): Mapper {
  return (input, env, call) => {
    const resource = vectorIndexArn(env, input, call);
    return [
      { action, resource, context: {} },
      ...(readsVectors(input) ? [{ action: 's3vectors:GetVectors', resource, context: {} }] : []),
    ];
  };
}

const never = () => false;

// ---------------------------------------------------------------------------------------------
// SageMaker control plane (training, model registry, models, inference components)

/** A SageMaker ARN; SageMaker lowercases resource names in its ARNs. */
function sageMakerArn(env: ActionEnvironment, type: string, name: string): string {
  return `arn:${env.partition}:sagemaker:${env.region}:${env.account}:${type}/${name.toLowerCase()}`;
}

/** `sagemaker:AddTags` on the resource being created when the request carries tags (tag-on-create). */
function tagOnCreate(input: Readonly<Record<string, unknown>>, resource: string): IamRequest[] {
  return Array.isArray(input.Tags) && input.Tags.length > 0
    ? [{ action: 'sagemaker:AddTags', resource, context: {} }]
    : [];
}

/** An action on the SageMaker resource named by `field` (a name, or an ARN used as is). */
function onSageMaker(action: string, type: string, field: string, tags = false): Mapper {
  return (input, env, call) => {
    const ref = requiredString(input[field], field, call);
    const resource = ref.startsWith('arn:') ? ref : sageMakerArn(env, type, ref);
    return [{ action, resource, context: {} }, ...(tags ? tagOnCreate(input, resource) : [])];
  };
}

/** An action on a model package: by ARN, or by name for an unversioned package. */
function onModelPackage(action: string, field: string): Mapper {
  return (input, env, call) => {
    const ref = requiredString(input[field], field, call);
    const resource = ref.startsWith('arn:') ? ref.toLowerCase() : sageMakerArn(env, 'model-package', ref);
    return [{ action, resource, context: {} }];
  };
}

/** A group name, or the name at the end of a model-package-group ARN. */
function packageGroupName(ref: string): string {
  return ref.startsWith('arn:') ? ref.slice(ref.lastIndexOf('/') + 1) : ref;
}

/**
 * CreateModelPackage is authorized on the model package being created. For a version in a group its ARN is
 * `model-package/<group>/<version>` and the version is assigned by SageMaker, so the request is evaluated on
 * `model-package/<group>/*`: a policy must allow the group's versions (`model-package/<group>/*` or wider)
 * rather than one version number it cannot know in advance.
 */
const createModelPackage: Mapper = (input, env, call) => {
  const group = input.ModelPackageGroupName;
  const resource =
    typeof group === 'string' && group !== ''
      ? `${sageMakerArn(env, 'model-package', packageGroupName(group))}/*`
      : sageMakerArn(env, 'model-package', requiredString(input.ModelPackageName, 'ModelPackageName', call));
  const context: Record<string, string> = {};
  if (typeof input.ModelApprovalStatus === 'string') {
    context['sagemaker:ModelApprovalStatus'] = input.ModelApprovalStatus;
  }
  return [{ action: 'sagemaker:CreateModelPackage', resource, context }, ...tagOnCreate(input, resource)];
};

const updateModelPackage: Mapper = (input, env, call) => {
  const [request] = onModelPackage('sagemaker:UpdateModelPackage', 'ModelPackageArn')(input, env, call);
  const context: Record<string, string> = {};
  if (typeof input.ModelApprovalStatus === 'string') {
    context['sagemaker:ModelApprovalStatus'] = input.ModelApprovalStatus;
  }
  return [{ ...(request as IamRequest), context }];
};

/** CreateModel: the model, tag-on-create, and passing the execution role to SageMaker. */
const createModel: Mapper = (input, env, call) => {
  const requests = onSageMaker('sagemaker:CreateModel', 'model', 'ModelName', true)(input, env, call);
  if (typeof input.ExecutionRoleArn === 'string' && input.ExecutionRoleArn !== '') {
    requests.push({
      action: 'iam:PassRole',
      resource: input.ExecutionRoleArn,
      context: { 'iam:PassedToService': 'sagemaker.amazonaws.com' },
    });
  }
  return requests;
};

/** CreateTrainingJob: the job, tag-on-create, and passing the job's role to SageMaker. */
const createTrainingJob: Mapper = (input, env, call) => {
  const requests = onSageMaker(
    'sagemaker:CreateTrainingJob',
    'training-job',
    'TrainingJobName',
    true,
  )(input, env, call);
  if (typeof input.RoleArn === 'string' && input.RoleArn !== '') {
    requests.push({
      action: 'iam:PassRole',
      resource: input.RoleArn,
      context: { 'iam:PassedToService': 'sagemaker.amazonaws.com' },
    });
  }
  return requests;
};

function onResourceArn(action: string): Mapper {
  return (input, _env, call) => [
    { action, resource: requiredString(input.ResourceArn, 'ResourceArn', call), context: {} },
  ];
}

const onAnything =
  (action: string): Mapper =>
  () => [{ action, resource: '*', context: {} }];

const SAGEMAKER: Readonly<Record<string, Mapper>> = {
  CreateTrainingJob: createTrainingJob,
  DescribeTrainingJob: onSageMaker('sagemaker:DescribeTrainingJob', 'training-job', 'TrainingJobName'),
  StopTrainingJob: onSageMaker('sagemaker:StopTrainingJob', 'training-job', 'TrainingJobName'),
  CreateModelPackageGroup: onSageMaker(
    'sagemaker:CreateModelPackageGroup',
    'model-package-group',
    'ModelPackageGroupName',
    true,
  ),
  CreateModelPackage: createModelPackage,
  DescribeModelPackage: onModelPackage('sagemaker:DescribeModelPackage', 'ModelPackageName'),
  UpdateModelPackage: updateModelPackage,
  // ListModelPackages has no resource type: it is authorized on "*".
  ListModelPackages: onAnything('sagemaker:ListModelPackages'),
  CreateModel: createModel,
  DescribeModel: onSageMaker('sagemaker:DescribeModel', 'model', 'ModelName'),
  DeleteModel: onSageMaker('sagemaker:DeleteModel', 'model', 'ModelName'),
  CreateInferenceComponent: onSageMaker(
    'sagemaker:CreateInferenceComponent',
    'inference-component',
    'InferenceComponentName',
    true,
  ),
  DescribeInferenceComponent: onSageMaker(
    'sagemaker:DescribeInferenceComponent',
    'inference-component',
    'InferenceComponentName',
  ),
  UpdateInferenceComponent: onSageMaker(
    'sagemaker:UpdateInferenceComponent',
    'inference-component',
    'InferenceComponentName',
  ),
  UpdateInferenceComponentRuntimeConfig: onSageMaker(
    'sagemaker:UpdateInferenceComponentRuntimeConfig',
    'inference-component',
    'InferenceComponentName',
  ),
  DeleteInferenceComponent: onSageMaker(
    'sagemaker:DeleteInferenceComponent',
    'inference-component',
    'InferenceComponentName',
  ),
  // List* actions of SageMaker have no resource type.
  ListInferenceComponents: onAnything('sagemaker:ListInferenceComponents'),
  DescribeEndpoint: onSageMaker('sagemaker:DescribeEndpoint', 'endpoint', 'EndpointName'),
  AddTags: onResourceArn('sagemaker:AddTags'),
  ListTags: onResourceArn('sagemaker:ListTags'),
};

// ---------------------------------------------------------------------------------------------

const MAPPERS: Readonly<Record<string, Readonly<Record<string, Mapper>>>> = {
  DynamoDBClient: DYNAMODB,
  S3Client: S3,
  EventBridgeClient: { PutEvents: putEvents },
  FirehoseClient: {
    PutRecord: onDeliveryStream('firehose:PutRecord'),
    PutRecordBatch: onDeliveryStream('firehose:PutRecordBatch'),
  },
  SQSClient: {
    SendMessage: onQueue('sqs:SendMessage'),
    SendMessageBatch: onQueue('sqs:SendMessage'),
    ReceiveMessage: onQueue('sqs:ReceiveMessage'),
    DeleteMessage: onQueue('sqs:DeleteMessage'),
    DeleteMessageBatch: onQueue('sqs:DeleteMessage'),
    ChangeMessageVisibility: onQueue('sqs:ChangeMessageVisibility'),
    GetQueueAttributes: onQueue('sqs:GetQueueAttributes'),
  },
  SNSClient: { Publish: onTopic('sns:Publish'), PublishBatch: onTopic('sns:Publish') },
  ComprehendClient: {
    DetectPiiEntities: () => [{ action: 'comprehend:DetectPiiEntities', resource: '*', context: {} }],
    ContainsPiiEntities: () => [{ action: 'comprehend:ContainsPiiEntities', resource: '*', context: {} }],
    DetectToxicContent: () => [{ action: 'comprehend:DetectToxicContent', resource: '*', context: {} }],
    DetectDominantLanguage: () => [
      { action: 'comprehend:DetectDominantLanguage', resource: '*', context: {} },
    ],
  },
  BedrockRuntimeClient: {
    InvokeModel: invokeModel('bedrock:InvokeModel', 'guardrailIdentifier'),
    InvokeModelWithResponseStream: invokeModel(
      'bedrock:InvokeModelWithResponseStream',
      'guardrailIdentifier',
    ),
    Converse: invokeModel('bedrock:InvokeModel', 'guardrailConfig'),
    ConverseStream: invokeModel('bedrock:InvokeModelWithResponseStream', 'guardrailConfig'),
    ApplyGuardrail: (input, env, call) => [
      {
        action: 'bedrock:ApplyGuardrail',
        resource: guardrailArn(env, requiredString(input.guardrailIdentifier, 'guardrailIdentifier', call)),
        context: {},
      },
    ],
  },
  SageMakerClient: SAGEMAKER,
  SageMakerRuntimeClient: {
    InvokeEndpoint: onEndpoint('sagemaker:InvokeEndpoint'),
    InvokeEndpointWithResponseStream: onEndpoint('sagemaker:InvokeEndpointWithResponseStream'),
  },
  S3VectorsClient: {
    PutVectors: onVectorIndex('s3vectors:PutVectors', never),
    DeleteVectors: onVectorIndex('s3vectors:DeleteVectors', never),
    GetVectors: onVectorIndex('s3vectors:GetVectors', never),
    QueryVectors: onVectorIndex(
      's3vectors:QueryVectors',
      (input) => input.returnMetadata === true || input.filter !== undefined,
    ),
    ListVectors: onVectorIndex(
      's3vectors:ListVectors',
      (input) => input.returnMetadata === true || input.returnData === true,
    ),
  },
};

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function requiredString(value: unknown, what: string, call: SdkCall): string {
  if (typeof value !== 'string' || value === '')
    throw new UnmappedSdkCallError(call, `no ${what} in the input`);
  return value;
}
