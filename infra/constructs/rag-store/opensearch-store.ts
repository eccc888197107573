/**
 * The `opensearch` option of the RAG store: an OpenSearch Serverless VECTORSEARCH collection reached only
 * privately. A VPC of two isolated subnets (no NAT, no internet route) with flow logs, free gateway
 * endpoints for S3 and DynamoDB, interface endpoints (private DNS) for Bedrock Runtime, SageMaker Runtime
 * and EventBridge, each with an endpoint policy (this account's principals and resources, the functions'
 * actions only: {@link ENDPOINT_ACCESS}), and an OpenSearch Serverless VPC endpoint; encryption (the project key), network (VPC
 * endpoint only) and data access (exactly the granted roles) policies; and the chunk index, created
 * natively (`AWS::OpenSearchServerless::Index`) from the one declaration in
 * `layers/core/src/rag/opensearch-mapping.ts`.
 *
 * Cost: the collection bills OpenSearch Compute Units every hour, idle or not, and each interface
 * endpoint bills per hour and per zone; this is the prod option.
 */
import { Aws, Lazy, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as aoss from 'aws-cdk-lib/aws-opensearchserverless';
import type { Construct } from 'constructs';
import { chunkIndexBody } from '#core/rag/opensearch-mapping.ts';
import type { DeploymentConfig } from '#infra/config/index.ts';
import { addKeyPolicy } from './deployment-role.ts';
import { toCfnIndexDefinition } from './index-definition.ts';

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

export interface OpenSearchStoreProps {
  /** The deployment (log retention, removal, profile). */
  readonly deployment: DeploymentConfig;
  /** Encrypts the collection and the flow logs; its policy gets the statement the collection needs. */
  readonly encryptionKey: kms.IKey;
  /** The role CloudFormation deploys with: creates the collection (key policy). */
  readonly deploymentRoleArn: string;
  readonly collectionName: string;
  readonly indexName: string;
  /** Dimension of the embedding vectors. */
  readonly dimensions: number;
  /** Standby replicas (availability across zones, twice the idle OCUs). */
  readonly standbyReplicas: boolean;
  /** The data access policy document, produced at synthesis (after every grant). */
  readonly dataAccessPolicy: () => string;
}

/**
 * What each VPC endpoint lets through (its endpoint policy): only the actions the functions in the VPC
 * (chat, the RAG API function and RagIngest Index) are granted on that service, by principals of this
 * account, on this account's resources. Bedrock foundation models are AWS-owned (no account in their ARN,
 * so no `aws:ResourceAccount`): the Bedrock endpoint allows them, and this account's inference profiles
 * and guardrails. A function put in the VPC that needs another action must add it here;
 * `test/infra/rag-store.test.ts` checks that every action of the in-VPC roles is covered.
 */
export const ENDPOINT_ACCESS = {
  BedrockRuntime: {
    actions: ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream', 'bedrock:ApplyGuardrail'],
    resources: () => [
      `arn:${Aws.PARTITION}:bedrock:*::foundation-model/*`,
      `arn:${Aws.PARTITION}:bedrock:*:${Aws.ACCOUNT_ID}:inference-profile/*`,
      `arn:${Aws.PARTITION}:bedrock:${Aws.REGION}:${Aws.ACCOUNT_ID}:guardrail/*`,
    ],
    resourceAccount: false,
  },
  SageMakerRuntime: {
    actions: ['sagemaker:InvokeEndpoint', 'sagemaker:InvokeEndpointWithResponseStream'],
    resources: () => [
      `arn:${Aws.PARTITION}:sagemaker:${Aws.REGION}:${Aws.ACCOUNT_ID}:endpoint/*`,
      `arn:${Aws.PARTITION}:sagemaker:${Aws.REGION}:${Aws.ACCOUNT_ID}:inference-component/*`,
    ],
    resourceAccount: true,
  },
  EventBridge: {
    actions: ['events:PutEvents'],
    resources: () => [`arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:event-bus/*`],
    resourceAccount: true,
  },
  S3: {
    // Index reads the staged vectors; the Evaluate Generate step reads its batch and writes its answers.
    actions: [
      's3:GetObject',
      's3:GetObjectVersion',
      's3:ListBucket',
      's3:PutObject',
      's3:AbortMultipartUpload',
    ],
    resources: () => ['*'],
    resourceAccount: true,
  },
  DynamoDB: {
    // Item reads and writes, scans and table descriptions (what bindTable grants).
    actions: [
      'dynamodb:GetItem',
      'dynamodb:BatchGetItem',
      'dynamodb:Query',
      'dynamodb:Scan',
      'dynamodb:ConditionCheckItem',
      'dynamodb:DescribeTable',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:BatchWriteItem',
    ],
    resources: () => [`arn:${Aws.PARTITION}:dynamodb:${Aws.REGION}:${Aws.ACCOUNT_ID}:table/*`],
    resourceAccount: true,
  },
} as const;

function endpointStatement(endpointId: keyof typeof ENDPOINT_ACCESS): iam.PolicyStatement {
  const access = ENDPOINT_ACCESS[endpointId];
  return new iam.PolicyStatement({
    sid: `${endpointId}ForThisAccount`,
    principals: [new iam.AnyPrincipal()],
    actions: [...access.actions],
    resources: access.resources(),
    conditions: {
      StringEquals: {
        'aws:PrincipalAccount': Aws.ACCOUNT_ID,
        ...(access.resourceAccount ? { 'aws:ResourceAccount': Aws.ACCOUNT_ID } : {}),
      },
    },
  });
}

/** Creates the collection, its network and policies, and the chunk index in `scope`. */
export function createOpenSearchStore(
  scope: Construct,
  props: OpenSearchStoreProps,
): OpenSearchStoreResources {
  const { deployment, collectionName } = props;
  const key = props.encryptionKey;
  const vpc = new ec2.Vpc(scope, 'Vpc', {
    maxAzs: 2,
    natGateways: 0,
    subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
    gatewayEndpoints: {
      S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
      DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
    },
  });

  const flowLogGroup = new logs.LogGroup(scope, 'FlowLogs', {
    retention: deployment.logRetention,
    removalPolicy: deployment.removal.logs,
    encryptionKey: key,
  });
  vpc.addFlowLog('FlowLog', {
    destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
    trafficType: ec2.FlowLogTrafficType.ALL,
  });

  const functionSecurityGroup = new ec2.SecurityGroup(scope, 'FunctionSecurityGroup', {
    vpc,
    description: 'Functions that use the RAG vector store: HTTPS to the VPC endpoints only',
    allowAllOutbound: false,
  });
  const endpointSecurityGroup = new ec2.SecurityGroup(scope, 'EndpointSecurityGroup', {
    vpc,
    description: 'VPC interface endpoints and the OpenSearch Serverless endpoint: HTTPS from the functions',
    allowAllOutbound: false,
  });
  endpointSecurityGroup.addIngressRule(functionSecurityGroup, ec2.Port.tcp(443), 'HTTPS from the functions');
  functionSecurityGroup.addEgressRule(endpointSecurityGroup, ec2.Port.tcp(443), 'HTTPS to the VPC endpoints');
  // The S3 and DynamoDB gateway endpoints are reached at the services' public addresses (AWS-managed prefix
  // lists, whose ids can only be looked up against an account, not synthesized offline). The subnets are
  // isolated: their only routes are the VPC itself and those two gateway endpoints, so scope rule reaches
  // nothing else.
  functionSecurityGroup.addEgressRule(
    ec2.Peer.anyIpv4(),
    ec2.Port.tcp(443),
    'HTTPS to the S3 and DynamoDB gateway endpoints (isolated subnets: no other route)',
  );

  const isolated = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
  const interfaceEndpoints: Array<[keyof typeof ENDPOINT_ACCESS, ec2.InterfaceVpcEndpointAwsService]> = [
    ['BedrockRuntime', ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME],
    ['SageMakerRuntime', ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME],
    ['EventBridge', ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE],
  ];
  for (const [endpointId, service] of interfaceEndpoints) {
    const endpoint = vpc.addInterfaceEndpoint(endpointId, {
      service,
      privateDnsEnabled: true,
      subnets: isolated,
      securityGroups: [endpointSecurityGroup],
      open: false,
    });
    endpoint.addToPolicy(endpointStatement(endpointId));
  }
  for (const endpointId of ['S3', 'DynamoDB'] as const) {
    (vpc.node.findChild(endpointId) as ec2.GatewayVpcEndpoint).addToPolicy(endpointStatement(endpointId));
  }

  const vpcEndpoint = new aoss.CfnVpcEndpoint(scope, 'CollectionEndpoint', {
    name: `${collectionName}-ep`,
    vpcId: vpc.vpcId,
    subnetIds: vpc.selectSubnets(isolated).subnetIds,
    securityGroupIds: [endpointSecurityGroup.securityGroupId],
  });

  const collectionResource = [`collection/${collectionName}`];
  const encryptionPolicy = new aoss.CfnSecurityPolicy(scope, 'EncryptionPolicy', {
    name: `${collectionName}-enc`,
    type: 'encryption',
    description: 'The RAG collection is encrypted with the project key',
    policy: Stack.of(scope).toJsonString({
      Rules: [{ ResourceType: 'collection', Resource: collectionResource }],
      AWSOwnedKey: false,
      KmsARN: key.keyArn,
    }),
  });
  const networkPolicy = new aoss.CfnSecurityPolicy(scope, 'NetworkPolicy', {
    name: `${collectionName}-net`,
    type: 'network',
    description: 'The RAG collection is reachable only through its VPC endpoint',
    policy: Stack.of(scope).toJsonString([
      {
        Description: 'Collection API from the VPC endpoint only; no dashboards',
        Rules: [{ ResourceType: 'collection', Resource: collectionResource }],
        AllowFromPublic: false,
        SourceVPCEs: [vpcEndpoint.attrId],
      },
    ]),
  });
  const dataAccessPolicy = new aoss.CfnAccessPolicy(scope, 'DataAccessPolicy', {
    name: `${collectionName}-acc`,
    type: 'data',
    description: 'Exactly the roles granted through RagVectorStore, on the chunk index only',
    policy: Lazy.string({ produce: props.dataAccessPolicy }),
  });

  // "Encryption at rest for Amazon OpenSearch Serverless": the principal that creates the collection
  // (CloudFormation's role) needs kms:DescribeKey and kms:CreateGrant, and OpenSearch Serverless then uses
  // a grant (GenerateDataKey, Decrypt). Kept exclusive to OpenSearch Serverless grants.
  addKeyPolicy(
    scope,
    key,
    new iam.PolicyStatement({
      sid: 'AllowOpenSearchServerlessCollectionOfRagStore',
      principals: [new iam.ArnPrincipal(props.deploymentRoleArn)],
      actions: ['kms:DescribeKey', 'kms:CreateGrant'],
      resources: ['*'],
      conditions: {
        StringEquals: { 'kms:ViaService': `aoss.${Aws.REGION}.amazonaws.com` },
        Bool: { 'kms:GrantIsForAWSResource': 'true' },
      },
    }),
  );

  const collection = new aoss.CfnCollection(scope, 'Collection', {
    name: collectionName,
    type: 'VECTORSEARCH',
    description: `RAG chunks and embeddings (${deployment.profile})`,
    standbyReplicas: props.standbyReplicas ? 'ENABLED' : 'DISABLED',
  });
  collection.addResourceDependency(
    encryptionPolicy,
    'the collection is keyed by its encryption policy at creation',
  );
  collection.addResourceDependency(networkPolicy, 'a collection cannot be created without a network policy');

  const definition = toCfnIndexDefinition(chunkIndexBody(props.dimensions));
  const index = new aoss.CfnIndex(scope, 'ChunkIndex', {
    collectionEndpoint: collection.attrCollectionEndpoint,
    indexName: props.indexName,
    ...(definition.settings ? { settings: definition.settings } : {}),
    mappings: definition.mappings,
  });
  index.addResourceDependency(collection);
  index.addResourceDependency(
    dataAccessPolicy,
    'CloudFormation creates the index under the data access policy',
  );

  const removal: RemovalPolicy = deployment.removal.data;
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
