/**
 * The `s3vectors` option of the RAG store: an Amazon S3 Vectors bucket (SSE-KMS with the project key) and
 * its chunk index; no VPC. Billed per GB stored and per request: nothing bills while it is idle, so this
 * is the dev default.
 */
import { ArnFormat, Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3vectors from 'aws-cdk-lib/aws-s3vectors';
import type { Construct } from 'constructs';
import { S3_VECTORS_NON_FILTERABLE_KEYS } from '#core/rag/s3vectors-layout.ts';
import type { DeploymentConfig } from '#infra/config/index.ts';
import { addKeyPolicy } from './deployment-role.ts';
import { vectorBucketNameFor } from './names.ts';

/** Largest vector dimension an S3 Vectors index accepts. */
export const S3_VECTORS_MAX_DIMENSION = 4096;

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

export interface S3VectorsStoreProps {
  /** The deployment (removal). */
  readonly deployment: DeploymentConfig;
  /** Encrypts the vector bucket; its policy gets the statements S3 Vectors needs. */
  readonly encryptionKey: kms.IKey;
  /** The role CloudFormation deploys with: creates the vector bucket with the key. */
  readonly deploymentRoleArn: string;
  readonly indexName: string;
  /** Dimension of the embedding vectors. */
  readonly dimensions: number;
}

/** Creates the vector bucket and the chunk index in `scope`. */
export function createS3VectorsStore(scope: Construct, props: S3VectorsStoreProps): S3VectorsStoreResources {
  const { deployment } = props;
  const key = props.encryptionKey;
  const stack = Stack.of(scope);
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
    scope,
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
    scope,
    key,
    new iam.PolicyStatement({
      sid: 'AllowS3VectorsBucketCreationOfRagStore',
      principals: [new iam.ArnPrincipal(props.deploymentRoleArn)],
      actions: ['kms:GenerateDataKey'],
      resources: ['*'],
      conditions: { StringEquals: { 'kms:ViaService': `s3vectors.${Aws.REGION}.amazonaws.com` } },
    }),
  );

  const vectorBucket = new s3vectors.CfnVectorBucket(scope, 'VectorBucket', {
    vectorBucketName,
    encryptionConfiguration: { sseType: 'aws:kms', kmsKeyArn: key.keyArn },
  });
  const index = new s3vectors.CfnIndex(scope, 'ChunkIndex', {
    vectorBucketArn: vectorBucket.attrVectorBucketArn,
    indexName: props.indexName,
    dataType: 'float32',
    dimension: props.dimensions,
    distanceMetric: 'cosine',
    metadataConfiguration: { nonFilterableMetadataKeys: [...S3_VECTORS_NON_FILTERABLE_KEYS] },
  });
  vectorBucket.applyRemovalPolicy(deployment.removal.data);
  index.applyRemovalPolicy(deployment.removal.data);
  // IAM statements name the index through its attribute, so that functions are created after it.
  return { vectorBucket, index, vectorBucketName, vectorBucketArn, indexArn: index.attrIndexArn };
}
