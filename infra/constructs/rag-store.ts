/**
 * The RAG vector store, one of two kinds chosen by `config.rag.vectorStore`:
 *
 * - `opensearch`: an OpenSearch Serverless VECTORSEARCH collection reached only privately. A VPC of two
 *   isolated subnets (no NAT, no internet route) with flow logs, free gateway endpoints for S3 and
 *   DynamoDB, interface endpoints (private DNS) for Bedrock Runtime, SageMaker Runtime and EventBridge, and
 *   an OpenSearch Serverless VPC endpoint; encryption (the project key), network (VPC endpoint only) and
 *   data access (exactly the granted roles) policies; and the chunk index, created natively
 *   (`AWS::OpenSearchServerless::Index`) from the one declaration in `layers/core/src/rag/opensearch-mapping.ts`.
 * - `s3vectors`: an Amazon S3 Vectors bucket (SSE-KMS with the project key) and its index; no VPC.
 *
 * Functions get access through {@link RagVectorStore.grantRead} / {@link RagVectorStore.grantReadWrite},
 * which grant AND set the environment variables the vector-store adapters read. Functions that use the
 * OpenSearch store must run in its network: pass {@link RagVectorStore.networkPlacement} as the
 * function's `network`.
 */
import { ArnFormat, Aws, Fn, Lazy, type RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as aoss from 'aws-cdk-lib/aws-opensearchserverless';
import * as s3vectors from 'aws-cdk-lib/aws-s3vectors';
import { DefaultStackSynthesizer } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import { chunkIndexBody } from '#core/rag/opensearch-mapping.ts';
import { S3_VECTORS_NON_FILTERABLE_KEYS } from '#core/rag/s3vectors-layout.ts';
import type { LlmOpsConfig, VectorStoreKind } from '../config.ts';
import type { LlmOpsFunction, LlmOpsFunctionNetwork } from './llmops-function.ts';

/** Environment variables set on every function granted access to the store. */
export const VECTOR_STORE_ENV = {
  kind: 'VECTOR_STORE_KIND',
  dimensions: 'VECTOR_DIMENSIONS',
  opensearchEndpoint: 'OPENSEARCH_ENDPOINT',
  opensearchIndex: 'OPENSEARCH_INDEX',
  s3VectorsBucket: 'S3VECTORS_BUCKET',
  s3VectorsIndex: 'S3VECTORS_INDEX',
} as const;

/** Data-plane permissions of the chunk index, per grant. */
export const AOSS_INDEX_PERMISSIONS = {
  read: ['aoss:ReadDocument', 'aoss:DescribeIndex'],
  readwrite: ['aoss:ReadDocument', 'aoss:WriteDocument', 'aoss:DescribeIndex'],
  /** CloudFormation creates, updates and deletes the index with the deploying role's credentials. */
  deploy: ['aoss:CreateIndex', 'aoss:DescribeIndex', 'aoss:UpdateIndex', 'aoss:DeleteIndex'],
} as const;

/**
 * S3 Vectors actions on the index, per grant. QueryVectors with `returnMetadata` or a metadata filter also
 * needs GetVectors (S3 Vectors API reference, QueryVectors "Permissions").
 */
export const S3_VECTORS_INDEX_ACTIONS = {
  read: ['s3vectors:QueryVectors', 's3vectors:GetVectors'],
  readwrite: [
    's3vectors:PutVectors',
    's3vectors:GetVectors',
    's3vectors:DeleteVectors',
    's3vectors:ListVectors',
    's3vectors:QueryVectors',
  ],
} as const;

/** How a function may use the store. */
export type VectorStoreAccess = keyof typeof S3_VECTORS_INDEX_ACTIONS;

/** Longest OpenSearch Serverless collection name that the CloudFormation resource accepts. */
const MAX_COLLECTION_NAME = 28;
const COLLECTION_NAME = /^[a-z][a-z0-9-]{2,27}$/;
const VECTOR_BUCKET_NAME = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const INDEX_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** Largest vector dimension an S3 Vectors index accepts. */
const S3_VECTORS_MAX_DIMENSION = 4096;

// ---------------------------------------------------------------------------------------------------------
// The index body (OpenSearch REST shape) as AWS::OpenSearchServerless::Index properties
// ---------------------------------------------------------------------------------------------------------

/** An OpenSearch index body (`PUT <index>`) in the REST, snake_case shape. */
export interface OpenSearchIndexBody {
  readonly settings?: { readonly index?: Readonly<Record<string, unknown>> };
  readonly mappings: { readonly properties: Readonly<Record<string, Readonly<Record<string, unknown>>>> };
}

/** What {@link toCfnIndexDefinition} makes of an index body. */
export interface CfnIndexDefinition {
  readonly settings?: aoss.CfnIndex.IndexSettingsProperty;
  readonly mappings: aoss.CfnIndex.MappingsProperty;
}

/** Thrown when an index body uses something the CloudFormation resource cannot express. */
export class IndexBodyConversionError extends Error {
  /** JSON path of the offending key in the index body, e.g. `mappings.properties.title.copy_to`. */
  public readonly path: string;

  constructor(path: string, message: string) {
    super(
      `Cannot declare the OpenSearch index body as AWS::OpenSearchServerless::Index: ${path}: ${message}`,
    );
    this.name = 'IndexBodyConversionError';
    this.path = path;
  }
}

type Json = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function expectString(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new IndexBodyConversionError(path, 'must be a string');
  return value;
}

function expectInteger(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new IndexBodyConversionError(path, 'must be an integer');
  }
  return value;
}

function expectBoolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new IndexBodyConversionError(path, 'must be a boolean');
  return value;
}

function expectObject(value: unknown, path: string): Json {
  if (!isObject(value)) throw new IndexBodyConversionError(path, 'must be an object');
  return value;
}

function unsupported(path: string, key: string, supported: readonly string[]): never {
  throw new IndexBodyConversionError(
    `${path}.${key}`,
    `no AWS::OpenSearchServerless::Index property for "${key}" (supported here: ${supported.join(', ')})`,
  );
}

const METHOD_KEYS = ['name', 'engine', 'space_type', 'parameters'] as const;
const PARAMETER_KEYS = ['m', 'ef_construction'] as const;

function convertMethod(method: Json, path: string): aoss.CfnIndex.MethodProperty {
  let name: string | undefined;
  let engine: string | undefined;
  let spaceType: string | undefined;
  let parameters: aoss.CfnIndex.ParametersProperty | undefined;
  for (const [key, value] of Object.entries(method)) {
    const at = `${path}.${key}`;
    switch (key) {
      case 'name':
        name = expectString(value, at);
        break;
      case 'engine':
        engine = expectString(value, at);
        break;
      case 'space_type':
        spaceType = expectString(value, at);
        break;
      case 'parameters': {
        let m: number | undefined;
        let efConstruction: number | undefined;
        for (const [pKey, pValue] of Object.entries(expectObject(value, at))) {
          if (pKey === 'm') m = expectInteger(pValue, `${at}.m`);
          else if (pKey === 'ef_construction')
            efConstruction = expectInteger(pValue, `${at}.ef_construction`);
          else unsupported(at, pKey, PARAMETER_KEYS);
        }
        parameters = {
          ...(m !== undefined ? { m } : {}),
          ...(efConstruction !== undefined ? { efConstruction } : {}),
        };
        break;
      }
      default:
        unsupported(path, key, METHOD_KEYS);
    }
  }
  if (name === undefined) throw new IndexBodyConversionError(`${path}.name`, 'is required');
  return {
    name,
    ...(engine !== undefined ? { engine } : {}),
    ...(spaceType !== undefined ? { spaceType } : {}),
    ...(parameters !== undefined ? { parameters } : {}),
  };
}

const FIELD_KEYS = [
  'type',
  'dimension',
  'method',
  'properties',
  'index',
  'analyzer',
  'data_type',
  'compression_level',
  'space_type',
] as const;

/** The property `Type`s the CloudFormation reference allows (PropertyMapping `Type`: `text | knn_vector`). */
const FIELD_TYPES: readonly string[] = ['text', 'knn_vector'];

function convertProperties(
  properties: Json,
  path: string,
): Record<string, aoss.CfnIndex.PropertyMappingProperty> {
  const out: Record<string, aoss.CfnIndex.PropertyMappingProperty> = {};
  for (const [field, mapping] of Object.entries(properties)) {
    out[field] = convertField(expectObject(mapping, `${path}.${field}`), `${path}.${field}`);
  }
  return out;
}

function convertField(field: Json, path: string): aoss.CfnIndex.PropertyMappingProperty {
  const type = expectString(field.type, `${path}.type`);
  if (!FIELD_TYPES.includes(type)) {
    throw new IndexBodyConversionError(
      `${path}.type`,
      `AWS::OpenSearchServerless::Index allows only the types ${FIELD_TYPES.join(', ')}, not "${type}"; leave the field to dynamic mapping instead`,
    );
  }
  const out: {
    -readonly [K in keyof aoss.CfnIndex.PropertyMappingProperty]: aoss.CfnIndex.PropertyMappingProperty[K];
  } = { type };
  for (const [key, value] of Object.entries(field)) {
    const at = `${path}.${key}`;
    switch (key) {
      case 'type':
        break;
      case 'dimension':
        out.dimension = expectInteger(value, at);
        break;
      case 'method':
        out.method = convertMethod(expectObject(value, at), at);
        break;
      case 'properties':
        out.properties = convertProperties(expectObject(value, at), at);
        break;
      case 'index':
        out.index = expectBoolean(value, at);
        break;
      case 'analyzer':
        out.analyzer = expectString(value, at);
        break;
      case 'data_type':
        out.dataType = expectString(value, at);
        break;
      case 'compression_level':
        out.compressionLevel = expectString(value, at);
        break;
      case 'space_type':
        out.spaceType = expectString(value, at);
        break;
      default:
        unsupported(path, key, FIELD_KEYS);
    }
  }
  return out;
}

const SETTINGS_KEYS = ['knn', 'knn.algo_param.ef_search', 'refresh_interval'] as const;

function convertSettings(settings: Json, path: string): aoss.CfnIndex.IndexSettingsProperty {
  const index: { -readonly [K in keyof aoss.CfnIndex.IndexProperty]: aoss.CfnIndex.IndexProperty[K] } = {};
  for (const [key, value] of Object.entries(settings)) {
    if (key !== 'index') unsupported(path, key, ['index']);
    const at = `${path}.index`;
    for (const [setting, settingValue] of Object.entries(expectObject(value, at))) {
      const settingPath = `${at}.${setting}`;
      if (setting === 'knn') index.knn = expectBoolean(settingValue, settingPath);
      else if (setting === 'knn.algo_param.ef_search') {
        index.knnAlgoParamEfSearch = expectInteger(settingValue, settingPath);
      } else if (setting === 'refresh_interval') {
        index.refreshInterval = expectString(settingValue, settingPath);
      } else unsupported(at, setting, SETTINGS_KEYS);
    }
  }
  return { index };
}

/**
 * Converts an OpenSearch index body (REST, snake_case) to the properties of
 * `AWS::OpenSearchServerless::Index` (CDK camelCase), so that the index the stack creates is exactly the
 * one the adapter was written against. Every key must have a CloudFormation counterpart: anything else
 * throws {@link IndexBodyConversionError} naming its path, rather than being dropped silently. So does a
 * field `type` other than `text` or `knn_vector`, the only `Type` values the CloudFormation reference allows
 * (other fields are left to OpenSearch's dynamic mapping, see `opensearch-mapping.ts`).
 */
export function toCfnIndexDefinition(body: OpenSearchIndexBody): CfnIndexDefinition {
  for (const key of Object.keys(body)) {
    if (key !== 'settings' && key !== 'mappings') unsupported('body', key, ['settings', 'mappings']);
  }
  const mappings = expectObject(body.mappings, 'mappings');
  for (const key of Object.keys(mappings)) {
    if (key !== 'properties') unsupported('mappings', key, ['properties']);
  }
  const properties = convertProperties(
    expectObject(mappings.properties, 'mappings.properties'),
    'mappings.properties',
  );
  return {
    ...(body.settings !== undefined
      ? { settings: convertSettings(expectObject(body.settings, 'settings'), 'settings') }
      : {}),
    mappings: { properties },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------------------

/** The embedding model of the configuration (kind `embedding`, with `dimensions`). */
export function embeddingModel(config: LlmOpsConfig): CatalogModel & { readonly dimensions: number } {
  const id = config.models.embeddingModelId;
  const model = config.models.catalog.find((m) => m.id === id);
  if (!model) throw new Error(`RagVectorStore: the embedding model "${id}" is not in models.catalog`);
  if (model.kind !== 'embedding' || model.dimensions === undefined) {
    throw new Error(`RagVectorStore: "${id}" must be an embedding model with dimensions`);
  }
  return { ...model, dimensions: model.dimensions };
}

/**
 * Name of the chunk index: one per embedding model and dimension (`chunks-titan-embed-text-v2-1024`), so
 * that changing the model replaces the index instead of mixing vectors of two models (or failing to
 * change a vector field's dimension in place). Valid for both stores (lowercase, digits, `-`, 3–63 chars).
 *
 * On OpenSearch the data access policy follows the new name at once, so CloudFormation's clean-up of the
 * old index after such a replacement is refused: delete the old index by hand (or leave it, in dev).
 */
export function chunkIndexName(model: Pick<CatalogModel, 'id'> & { readonly dimensions: number }): string {
  const slug = model.id.replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-');
  const name = `chunks-${slug}-${model.dimensions}`;
  if (!INDEX_NAME.test(name)) {
    throw new Error(
      `RagVectorStore: index name "${name}" (from embedding model "${model.id}") must be 3-63 lowercase letters, digits, "." or "-"`,
    );
  }
  return name;
}

/**
 * The OpenSearch Serverless collection name of a stack: the stack name in lowercase with `-rag`
 * (`LlmOps-dev` → `llmops-dev-rag`). Collection names are 3–28 characters (the CloudFormation resource's
 * limit), lowercase letters, digits and `-`, starting with a letter; the security policies and the VPC
 * endpoint are named after it with a 3–4 character suffix, within their 32-character limit.
 *
 * @throws Error naming the rule when the derived (or given) name is invalid
 */
export function collectionNameFor(stackName: string, override?: string): string {
  if (Token.isUnresolved(stackName) && override === undefined) {
    throw new Error('RagVectorStore: the stack name must be known at synthesis to name the collection');
  }
  const name =
    override ??
    `${stackName
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')}-rag`;
  if (!COLLECTION_NAME.test(name)) {
    throw new Error(
      `RagVectorStore: collection name "${name}" must be 3-${MAX_COLLECTION_NAME} characters, lowercase letters, digits and "-", starting with a letter (${override === undefined ? `derived from the stack name "${stackName}"; use a shorter stack name or pass collectionName` : 'from collectionName'})`,
    );
  }
  return name;
}

// ---------------------------------------------------------------------------------------------------------
// The construct
// ---------------------------------------------------------------------------------------------------------

export interface RagVectorStoreProps {
  /** The validated app configuration (`rag`, `models`, `removal`, log retention). */
  readonly config: LlmOpsConfig;
  /**
   * The project key: it encrypts the collection or the vector bucket, and the VPC flow logs. Its key policy
   * gets the statements the store's service needs, so it must be a key defined in this app.
   */
  readonly encryptionKey: kms.IKey;
  /**
   * ARN of the role CloudFormation deploys the stack with: it creates the OpenSearch index (data access
   * policy) and creates the collection or vector bucket with the project key (key policy).
   *
   * @default - the `DefaultStackSynthesizer`'s CloudFormation execution role (required with any other synthesizer)
   */
  readonly deploymentRoleArn?: string;
  /**
   * OpenSearch Serverless collection name.
   *
   * @default - derived from the stack name, see {@link collectionNameFor}
   */
  readonly collectionName?: string;
}

/** The resources of the `opensearch` store. */
export interface OpenSearchStoreResources {
  readonly vpc: ec2.Vpc;
  /** Security group of the functions that use the store (egress 443 only). */
  readonly functionSecurityGroup: ec2.SecurityGroup;
  /** Security group of the interface endpoints and the OpenSearch Serverless VPC endpoint (443 from the functions). */
  readonly endpointSecurityGroup: ec2.SecurityGroup;
  readonly flowLogGroup: logs.LogGroup;
  readonly vpcEndpoint: aoss.CfnVpcEndpoint;
  readonly encryptionPolicy: aoss.CfnSecurityPolicy;
  readonly networkPolicy: aoss.CfnSecurityPolicy;
  readonly dataAccessPolicy: aoss.CfnAccessPolicy;
  readonly collection: aoss.CfnCollection;
  readonly index: aoss.CfnIndex;
}

/** The resources of the `s3vectors` store. */
export interface S3VectorsStoreResources {
  readonly vectorBucket: s3vectors.CfnVectorBucket;
  readonly index: s3vectors.CfnIndex;
  /** Name of the vector bucket. */
  readonly vectorBucketName: string;
  /** ARN of the vector bucket. */
  readonly vectorBucketArn: string;
  /** ARN of the index. */
  readonly indexArn: string;
}

/** The RAG vector store of the project (OpenSearch Serverless or S3 Vectors, by configuration). */
export class RagVectorStore extends Construct {
  /** Which store this is. */
  public readonly kind: VectorStoreKind;
  /** Dimension of the embedding model's vectors. */
  public readonly dimensions: number;
  /** Name of the chunk index. */
  public readonly indexName: string;
  /** The `opensearch` store's resources (undefined for `s3vectors`). */
  public readonly opensearch?: OpenSearchStoreResources;
  /** The `s3vectors` store's resources (undefined for `opensearch`). */
  public readonly s3vectors?: S3VectorsStoreResources;
  /** Name of the OpenSearch Serverless collection (undefined for `s3vectors`). */
  public readonly collectionName?: string;

  private readonly encryptionKey: kms.IKey;
  /** Roles granted through the construct, by node path of the function, with their access. */
  private readonly grants = new Map<string, { readonly role: iam.IRole; access: VectorStoreAccess }>();
  private readonly deploymentRoleArn: string;

  constructor(scope: Construct, id: string, props: RagVectorStoreProps) {
    super(scope, id);
    const { config } = props;
    const model = embeddingModel(config);
    this.kind = config.rag.vectorStore;
    this.dimensions = model.dimensions;
    this.indexName = chunkIndexName(model);
    this.encryptionKey = props.encryptionKey;
    this.deploymentRoleArn = props.deploymentRoleArn ?? defaultDeploymentRoleArn(this);

    if (this.kind === 'opensearch') {
      this.collectionName = collectionNameFor(Stack.of(this).stackName, props.collectionName);
      this.opensearch = this.createOpenSearch(config, this.collectionName);
    } else {
      if (this.dimensions > S3_VECTORS_MAX_DIMENSION) {
        throw new Error(
          `RagVectorStore: S3 Vectors indexes take at most ${S3_VECTORS_MAX_DIMENSION} dimensions, the embedding model "${model.id}" has ${this.dimensions}`,
        );
      }
      this.s3vectors = this.createS3Vectors(config);
    }
  }

  /**
   * The VPC placement of functions that use the store (pass it as `LlmOpsFunctionProps.network`): the
   * isolated subnets and the functions' security group. `undefined` for `s3vectors`, which is reached over
   * its public, IAM-authenticated API.
   */
  public networkPlacement(): LlmOpsFunctionNetwork | undefined {
    if (!this.opensearch) return undefined;
    return {
      vpc: this.opensearch.vpc,
      subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [this.opensearch.functionSecurityGroup],
    };
  }

  /**
   * Lets the function query the store (kNN and, for OpenSearch, keyword search) and read chunks, and sets
   * its environment (`VECTOR_STORE_KIND`, `VECTOR_DIMENSIONS` and the store's endpoint or bucket, and index).
   *
   * - opensearch: the data access policy gives its role `aoss:ReadDocument` and `aoss:DescribeIndex` on the
   *   chunk index; IAM gives `aoss:APIAccessAll` on the collection.
   * - s3vectors: `s3vectors:QueryVectors` and `s3vectors:GetVectors` on the index, `kms:Decrypt` on the
   *   project key through S3 Vectors for this bucket and index only.
   *
   * @throws Error when the store is OpenSearch and the function is not placed in its network
   */
  public grantRead(fn: LlmOpsFunction): this {
    return this.grant(fn, 'read');
  }

  /**
   * Like {@link grantRead}, plus writing and deleting chunks.
   *
   * - opensearch: adds `aoss:WriteDocument`.
   * - s3vectors: `PutVectors`, `GetVectors`, `DeleteVectors`, `ListVectors`, `QueryVectors` on the index.
   */
  public grantReadWrite(fn: LlmOpsFunction): this {
    return this.grant(fn, 'readwrite');
  }

  private grant(fn: LlmOpsFunction, access: VectorStoreAccess): this {
    const key = fn.node.path;
    const existing = this.grants.get(key);
    if (existing?.access === 'readwrite' || existing?.access === access) return this;
    if (this.opensearch) this.grantOpenSearch(fn, this.opensearch, existing === undefined);
    if (this.s3vectors) this.grantS3Vectors(fn, access, this.s3vectors, existing === undefined);
    this.grants.set(key, { role: fn.serviceRole, access });
    // The environment does not depend on the access level: set once, on the first grant.
    if (existing === undefined) this.bindEnvironment(fn);
    return this;
  }

  private bindEnvironment(fn: LlmOpsFunction): void {
    fn.bindString(VECTOR_STORE_ENV.kind, this.kind);
    fn.bindString(VECTOR_STORE_ENV.dimensions, String(this.dimensions));
    if (this.opensearch) {
      fn.bindString(VECTOR_STORE_ENV.opensearchEndpoint, this.opensearch.collection.attrCollectionEndpoint);
      fn.bindString(VECTOR_STORE_ENV.opensearchIndex, this.indexName);
    }
    if (this.s3vectors) {
      fn.bindString(VECTOR_STORE_ENV.s3VectorsBucket, this.s3vectors.vectorBucketName);
      fn.bindString(VECTOR_STORE_ENV.s3VectorsIndex, this.indexName);
    }
  }

  private grantOpenSearch(fn: LlmOpsFunction, resources: OpenSearchStoreResources, first: boolean): void {
    const placed = fn.isBoundToVpc && fn.connections.securityGroups.includes(resources.functionSecurityGroup);
    if (!placed) {
      throw new Error(
        `RagVectorStore: ${fn.node.path} must run in the vector store's network to reach OpenSearch Serverless (create it with network: store.networkPlacement())`,
      );
    }
    // The data-plane permissions are in the data access policy (built lazily from the grants); IAM only
    // lets the role call the collection's endpoint at all.
    if (first) {
      fn.serviceRole.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['aoss:APIAccessAll'],
          resources: [resources.collection.attrArn],
        }),
      );
    }
  }

  private grantS3Vectors(
    fn: LlmOpsFunction,
    access: VectorStoreAccess,
    store: S3VectorsStoreResources,
    first: boolean,
  ): void {
    fn.serviceRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [...S3_VECTORS_INDEX_ACTIONS[access]],
        resources: [store.indexArn],
      }),
    );
    if (!first) return; // read → readwrite: the key grant is already there
    // "Data protection and encryption in S3 Vectors": every vector-level operation needs kms:Decrypt on the
    // bucket's customer managed key; scoped to S3 Vectors and to this bucket's and index's encryption context.
    fn.serviceRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [this.encryptionKey.keyArn],
        conditions: {
          StringEquals: {
            'kms:ViaService': `s3vectors.${Aws.REGION}.amazonaws.com`,
            'kms:EncryptionContext:aws:s3vectors:arn': [store.vectorBucketArn, store.indexArn],
          },
        },
      }),
    );
  }

  /** The data access policy document: one rule per access level, principals = the granted roles. */
  private dataAccessPolicyDocument(collectionName: string): string {
    const index = `index/${collectionName}/${this.indexName}`;
    const rule = (description: string, permissions: readonly string[], principals: readonly string[]) => ({
      Description: description,
      Rules: [{ ResourceType: 'index', Resource: [index], Permission: [...permissions] }],
      Principal: [...principals],
    });
    const roles = (access: VectorStoreAccess): string[] =>
      [...this.grants.values()].filter((g) => g.access === access).map((g) => g.role.roleArn);
    const document = [
      rule('CloudFormation creates, updates and deletes the chunk index', AOSS_INDEX_PERMISSIONS.deploy, [
        this.deploymentRoleArn,
      ]),
      rule('Functions granted read-write access', AOSS_INDEX_PERMISSIONS.readwrite, roles('readwrite')),
      rule('Functions granted read access', AOSS_INDEX_PERMISSIONS.read, roles('read')),
    ].filter((r) => r.Principal.length > 0);
    return Stack.of(this).toJsonString(document);
  }

  private createOpenSearch(config: LlmOpsConfig, collectionName: string): OpenSearchStoreResources {
    const key = this.encryptionKey;
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
    });

    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: config.logRetention,
      removalPolicy: config.removal.logs,
      encryptionKey: key,
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });

    const functionSecurityGroup = new ec2.SecurityGroup(this, 'FunctionSecurityGroup', {
      vpc,
      description: 'Functions that use the RAG vector store: HTTPS to the VPC endpoints only',
      allowAllOutbound: false,
    });
    const endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc,
      description: 'VPC interface endpoints and the OpenSearch Serverless endpoint: HTTPS from the functions',
      allowAllOutbound: false,
    });
    endpointSecurityGroup.addIngressRule(
      functionSecurityGroup,
      ec2.Port.tcp(443),
      'HTTPS from the functions',
    );
    functionSecurityGroup.addEgressRule(
      endpointSecurityGroup,
      ec2.Port.tcp(443),
      'HTTPS to the VPC endpoints',
    );
    // The S3 and DynamoDB gateway endpoints are reached at the services' public addresses (AWS-managed prefix
    // lists, whose ids can only be looked up against an account, not synthesized offline). The subnets are
    // isolated: their only routes are the VPC itself and those two gateway endpoints, so this rule reaches
    // nothing else.
    functionSecurityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'HTTPS to the S3 and DynamoDB gateway endpoints (isolated subnets: no other route)',
    );

    const isolated = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
    const interfaceEndpoints: Array<[string, ec2.InterfaceVpcEndpointAwsService]> = [
      ['BedrockRuntime', ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME],
      ['SageMakerRuntime', ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME],
      ['EventBridge', ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE],
    ];
    for (const [endpointId, service] of interfaceEndpoints) {
      vpc.addInterfaceEndpoint(endpointId, {
        service,
        privateDnsEnabled: true,
        subnets: isolated,
        securityGroups: [endpointSecurityGroup],
        open: false,
      });
    }

    const vpcEndpoint = new aoss.CfnVpcEndpoint(this, 'CollectionEndpoint', {
      name: `${collectionName}-ep`,
      vpcId: vpc.vpcId,
      subnetIds: vpc.selectSubnets(isolated).subnetIds,
      securityGroupIds: [endpointSecurityGroup.securityGroupId],
    });

    const collectionResource = [`collection/${collectionName}`];
    const encryptionPolicy = new aoss.CfnSecurityPolicy(this, 'EncryptionPolicy', {
      name: `${collectionName}-enc`,
      type: 'encryption',
      description: 'The RAG collection is encrypted with the project key',
      policy: Stack.of(this).toJsonString({
        Rules: [{ ResourceType: 'collection', Resource: collectionResource }],
        AWSOwnedKey: false,
        KmsARN: key.keyArn,
      }),
    });
    const networkPolicy = new aoss.CfnSecurityPolicy(this, 'NetworkPolicy', {
      name: `${collectionName}-net`,
      type: 'network',
      description: 'The RAG collection is reachable only through its VPC endpoint',
      policy: Stack.of(this).toJsonString([
        {
          Description: 'Collection API from the VPC endpoint only; no dashboards',
          Rules: [{ ResourceType: 'collection', Resource: collectionResource }],
          AllowFromPublic: false,
          SourceVPCEs: [vpcEndpoint.attrId],
        },
      ]),
    });
    const dataAccessPolicy = new aoss.CfnAccessPolicy(this, 'DataAccessPolicy', {
      name: `${collectionName}-acc`,
      type: 'data',
      description: 'Exactly the roles granted through RagVectorStore, on the chunk index only',
      policy: Lazy.string({ produce: () => this.dataAccessPolicyDocument(collectionName) }),
    });

    // "Encryption at rest for Amazon OpenSearch Serverless": the principal that creates the collection
    // (CloudFormation's role) needs kms:DescribeKey and kms:CreateGrant, and OpenSearch Serverless then uses
    // a grant (GenerateDataKey, Decrypt). Kept exclusive to OpenSearch Serverless grants.
    addKeyPolicy(
      this,
      key,
      new iam.PolicyStatement({
        sid: 'AllowOpenSearchServerlessCollectionOfRagStore',
        principals: [new iam.ArnPrincipal(this.deploymentRoleArn)],
        actions: ['kms:DescribeKey', 'kms:CreateGrant'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'kms:ViaService': `aoss.${Aws.REGION}.amazonaws.com` },
          Bool: { 'kms:GrantIsForAWSResource': 'true' },
        },
      }),
    );

    const collection = new aoss.CfnCollection(this, 'Collection', {
      name: collectionName,
      type: 'VECTORSEARCH',
      description: `RAG chunks and embeddings (${config.profile})`,
      standbyReplicas: config.rag.standbyReplicas ? 'ENABLED' : 'DISABLED',
    });
    collection.addResourceDependency(
      encryptionPolicy,
      'the collection is keyed by its encryption policy at creation',
    );
    collection.addResourceDependency(
      networkPolicy,
      'a collection cannot be created without a network policy',
    );

    const definition = toCfnIndexDefinition(chunkIndexBody(this.dimensions));
    const index = new aoss.CfnIndex(this, 'ChunkIndex', {
      collectionEndpoint: collection.attrCollectionEndpoint,
      indexName: this.indexName,
      ...(definition.settings ? { settings: definition.settings } : {}),
      mappings: definition.mappings,
    });
    index.addResourceDependency(collection);
    index.addResourceDependency(
      dataAccessPolicy,
      'CloudFormation creates the index under the data access policy',
    );

    const removal: RemovalPolicy = config.removal.data;
    collection.applyRemovalPolicy(removal);
    index.applyRemovalPolicy(removal);
    // Deleting an encryption policy does not touch the collections it keyed, but it is kept beside a
    // retained collection so that the collection's key assignment stays visible.
    encryptionPolicy.applyRemovalPolicy(removal);

    return {
      vpc,
      functionSecurityGroup,
      endpointSecurityGroup,
      flowLogGroup,
      vpcEndpoint,
      encryptionPolicy,
      networkPolicy,
      dataAccessPolicy,
      collection,
      index,
    };
  }

  private createS3Vectors(config: LlmOpsConfig): S3VectorsStoreResources {
    const key = this.encryptionKey;
    const stack = Stack.of(this);
    const vectorBucketName = vectorBucketNameFor(stack.stackName);
    const vectorBucketArn = stack.formatArn({
      service: 's3vectors',
      resource: 'bucket',
      resourceName: vectorBucketName,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });

    // "Data protection and encryption in S3 Vectors": the indexing service decrypts in the background, and
    // creating a vector bucket with the key needs kms:GenerateDataKey (CloudFormation's role). The bucket is
    // named (from the stack) so that the key policy can name it without a dependency cycle.
    addKeyPolicy(
      this,
      key,
      new iam.PolicyStatement({
        sid: 'AllowS3VectorsIndexingOfRagStore',
        principals: [new iam.ServicePrincipal('indexing.s3vectors.amazonaws.com')],
        actions: ['kms:Decrypt'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': [vectorBucketArn, `${vectorBucketArn}/*`] },
          'ForAnyValue:StringEquals': {
            'kms:EncryptionContextKeys': ['aws:s3vectors:arn', 'aws:s3vectors:resource-id'],
          },
        },
      }),
    );
    addKeyPolicy(
      this,
      key,
      new iam.PolicyStatement({
        sid: 'AllowS3VectorsBucketCreationOfRagStore',
        principals: [new iam.ArnPrincipal(this.deploymentRoleArn)],
        actions: ['kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'kms:ViaService': `s3vectors.${Aws.REGION}.amazonaws.com` } },
      }),
    );

    const vectorBucket = new s3vectors.CfnVectorBucket(this, 'VectorBucket', {
      vectorBucketName,
      encryptionConfiguration: { sseType: 'aws:kms', kmsKeyArn: key.keyArn },
    });
    const index = new s3vectors.CfnIndex(this, 'ChunkIndex', {
      vectorBucketArn: vectorBucket.attrVectorBucketArn,
      indexName: this.indexName,
      dataType: 'float32',
      dimension: this.dimensions,
      distanceMetric: 'cosine',
      metadataConfiguration: { nonFilterableMetadataKeys: [...S3_VECTORS_NON_FILTERABLE_KEYS] },
    });
    vectorBucket.applyRemovalPolicy(config.removal.data);
    index.applyRemovalPolicy(config.removal.data);
    // IAM statements name the index through its attribute, so that functions are created after it.
    return { vectorBucket, index, vectorBucketName, vectorBucketArn, indexArn: index.attrIndexArn };
  }
}

/** The vector bucket name of a stack: its name in lowercase with `-rag-vectors`. */
export function vectorBucketNameFor(stackName: string): string {
  if (Token.isUnresolved(stackName)) {
    throw new Error('RagVectorStore: the stack name must be known at synthesis to name the vector bucket');
  }
  const name = `${stackName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')}-rag-vectors`;
  if (!VECTOR_BUCKET_NAME.test(name)) {
    throw new Error(
      `RagVectorStore: vector bucket name "${name}" (from the stack name "${stackName}") must be 3-63 lowercase letters, digits and "-"`,
    );
  }
  return name;
}

function defaultDeploymentRoleArn(scope: Construct): string {
  const synthesizer = Stack.of(scope).synthesizer;
  if (!(synthesizer instanceof DefaultStackSynthesizer)) {
    throw new Error(
      `RagVectorStore: the stack does not use the DefaultStackSynthesizer; pass deploymentRoleArn (the role CloudFormation deploys with)`,
    );
  }
  // The synthesizer's ARN carries `${AWS::AccountId}`-style placeholders meant for the CLI; in the template
  // they must go through Fn::Sub.
  return Fn.sub(synthesizer.cloudFormationExecutionRoleArn);
}

function addKeyPolicy(scope: Construct, key: kms.IKey, statement: iam.PolicyStatement): void {
  const { statementAdded } = key.addToResourcePolicy(statement, true);
  if (!statementAdded) {
    throw new Error(
      `RagVectorStore ${scope.node.path}: the encryption key's policy cannot be changed (imported key); the store needs statement ${statement.sid}`,
    );
  }
}
