/**
 * The RAG vector store, one of two kinds chosen by `rag.vectorStore`:
 *
 * - `opensearch` (prod): an OpenSearch Serverless collection in a private network, see
 *   `rag-store/opensearch-store.ts`.
 * - `s3vectors` (dev): an Amazon S3 Vectors bucket and index, see `rag-store/s3-vectors-store.ts`.
 *
 * Functions get access through {@link RagVectorStore.grantRead} / {@link RagVectorStore.grantReadWrite},
 * which grant AND set the environment variables the vector-store adapters read. Functions that use the
 * OpenSearch store must run in its network: pass {@link RagVectorStore.networkPlacement} as the
 * function's `network`; every function granted access must be bundled for the store's kind (its
 * `vectorStore` prop).
 */
import { Aws, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { AppConfig, DeploymentConfig, VectorStoreKind } from '#infra/config/index.ts';
import type { LlmOpsFunction, LlmOpsFunctionNetwork } from './llmops-function.ts';
import {
  AOSS_INDEX_PERMISSIONS,
  S3_VECTORS_INDEX_ACTIONS,
  VECTOR_STORE_ENV,
  type VectorStoreAccess,
} from './rag-store/access.ts';
import { defaultDeploymentRoleArn } from './rag-store/deployment-role.ts';
import type { EmbeddingModel } from './rag-store/embedding-model.ts';
import { chunkIndexName, collectionNameFor } from './rag-store/names.ts';
import { createOpenSearchStore, type OpenSearchStoreResources } from './rag-store/opensearch-store.ts';
import {
  createS3VectorsStore,
  S3_VECTORS_MAX_DIMENSION,
  type S3VectorsStoreResources,
} from './rag-store/s3-vectors-store.ts';

export interface RagVectorStoreProps {
  /** The deployment (names, log retention, removal). */
  readonly deployment: DeploymentConfig;
  /** Which store, and its OpenSearch standby replicas. */
  readonly config: Pick<AppConfig['rag'], 'vectorStore' | 'standbyReplicas'>;
  /** The model the chunks are embedded with: the index is made for its dimension (see `embeddingModel()`). */
  readonly embeddingModel: EmbeddingModel;
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

/** The RAG vector store of the project (OpenSearch Serverless or S3 Vectors, by configuration). */
export class RagVectorStore extends Construct {
  /** Which store this is. */
  public readonly kind: VectorStoreKind;
  /** The model the chunks are embedded with (ingestion and retrieval embed with it). */
  public readonly embeddingModel: EmbeddingModel;
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
    const { deployment, config } = props;
    const model = props.embeddingModel;
    this.kind = config.vectorStore;
    this.embeddingModel = model;
    this.dimensions = model.dimensions;
    this.indexName = chunkIndexName(model);
    this.encryptionKey = props.encryptionKey;
    this.deploymentRoleArn = props.deploymentRoleArn ?? defaultDeploymentRoleArn(this);
    const common = {
      deployment,
      encryptionKey: this.encryptionKey,
      deploymentRoleArn: this.deploymentRoleArn,
      indexName: this.indexName,
      dimensions: this.dimensions,
    };

    if (this.kind === 'opensearch') {
      const collectionName = collectionNameFor(Stack.of(this).stackName, props.collectionName);
      this.collectionName = collectionName;
      this.opensearch = createOpenSearchStore(this, {
        ...common,
        collectionName,
        standbyReplicas: config.standbyReplicas,
        dataAccessPolicy: () => this.dataAccessPolicyDocument(collectionName),
      });
    } else {
      if (this.dimensions > S3_VECTORS_MAX_DIMENSION) {
        throw new Error(
          `RagVectorStore: S3 Vectors indexes take at most ${S3_VECTORS_MAX_DIMENSION} dimensions, the embedding model "${model.id}" has ${this.dimensions}`,
        );
      }
      this.s3vectors = createS3VectorsStore(this, common);
    }
  }

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
    if (fn.vectorStore !== this.kind) {
      throw new Error(
        `RagVectorStore: ${fn.node.path} must be bundled with the ${this.kind} adapter (create it with vectorStore: store.kind)`,
      );
    }
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
}
