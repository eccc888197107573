/**
 * The RAG vector store construct on its own, in both options: what each creates, the exact access it gives
 * (data access policy, IAM, key policy), the index declared from the one index body, the private network
 * of the OpenSearch option, and a cdk-nag gate. Three stacks are synthesized (opensearch dev and prod,
 * s3vectors dev); everything else is construct-level.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Fn, LegacyStackSynthesizer, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { chunkIndexBody } from '#core/rag/opensearch-mapping.ts';
import { S3_VECTORS_NON_FILTERABLE_KEYS } from '#core/rag/s3vectors-layout.ts';
import { type AppConfig, deploymentOf, loadConfig } from '#infra/config/index.ts';
import { LlmOpsFunction, VPC_ACCESS_ACTIONS } from '#infra/constructs/llmops-function.ts';
import { MIN_REASON_LENGTH } from '#infra/constructs/nag.ts';
import { AOSS_INDEX_PERMISSIONS, S3_VECTORS_INDEX_ACTIONS } from '#infra/constructs/rag-store/access.ts';
import { embeddingModel } from '#infra/constructs/rag-store/embedding-model.ts';
import {
  IndexBodyConversionError,
  type OpenSearchIndexBody,
  toCfnIndexDefinition,
} from '#infra/constructs/rag-store/index-definition.ts';
import { chunkIndexName, collectionNameFor, vectorBucketNameFor } from '#infra/constructs/rag-store/names.ts';
import { RagVectorStore, type RagVectorStoreProps } from '#infra/constructs/rag-store.ts';
import { cdkJsonContext } from '#infra/stacks/llmops-stack.ts';
import { type CfnJson, type CfnTemplate, type ReportViolation, resourcesOfType } from './support/synth.ts';

const STACK_NAME = 'LlmOps-test';
const ENTRY = 'functions/api/openapi.ts';
/** What `Fn::Sub` of the DefaultStackSynthesizer's CloudFormation execution role looks like. */
const CFN_EXEC_ROLE = {
  'Fn::Sub':
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub template, not a JS one
    'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-cfn-exec-role-${AWS::AccountId}-${AWS::Region}',
};

interface Build {
  readonly app: App;
  readonly config: AppConfig;
  readonly store: RagVectorStore;
  readonly json: CfnTemplate;
  readonly template: Template;
  readonly violations: readonly ReportViolation[];
  /** Logical ids. */
  readonly ids: { readonly key: string; readonly writerRole: string; readonly readerRole: string };
}

/** The store's slices of a configuration, as the stack hands them out. */
function storeProps(config: AppConfig): Omit<RagVectorStoreProps, 'encryptionKey'> {
  return {
    deployment: deploymentOf(config),
    config: config.rag,
    embeddingModel: embeddingModel(config.models),
  };
}

function newApp(context: Record<string, unknown>): { app: App; config: AppConfig; stack: Stack } {
  const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], ...context } });
  return { app, config: loadConfig(app), stack: new Stack(app, STACK_NAME) };
}

function readViolations(outdir: string): ReportViolation[] {
  const file = join(outdir, 'validation-report.json');
  if (!existsSync(file)) return [];
  const report = JSON.parse(readFileSync(file, 'utf8')) as {
    pluginReports?: { pluginName: string; violations?: { ruleName: string; severity: string }[] }[];
  };
  return (report.pluginReports ?? []).flatMap((p) =>
    (p.violations ?? []).map((v) => ({
      pluginName: p.pluginName,
      ruleName: v.ruleName,
      severity: v.severity,
      constructs: [],
    })),
  );
}

/**
 * A stack with the project key, the store, a writer (grantRead then grantReadWrite: the upgrade path) and
 * a reader, synthesized under cdk-nag and CloudFormation's offline validator.
 */
function build(context: Record<string, unknown>): Build {
  const { app, config, stack } = newApp(context);
  const key = new kms.Key(stack, 'ProjectKey', { enableKeyRotation: true });
  const store = new RagVectorStore(stack, 'RagStore', { ...storeProps(config), encryptionKey: key });
  const network = store.networkPlacement();
  const fn = (id: string) =>
    new LlmOpsFunction(stack, id, {
      config: deploymentOf(config),
      vectorStore: store.kind,
      entry: ENTRY,
      description: `${id} of RAG chunks`,
      encryptionKey: key,
      ...(network ? { network } : {}),
    });
  const writer = fn('Writer');
  const reader = fn('Reader');
  store.grantRead(writer).grantReadWrite(writer).grantRead(reader);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const previous = process.env.CDK_VALIDATION;
  process.env.CDK_VALIDATION = 'true';
  try {
    const template = Template.fromStack(stack);
    const logicalId = (c: IConstruct) => stack.getLogicalId(c.node.defaultChild as never);
    return {
      app,
      config,
      store,
      template,
      json: template.toJSON() as CfnTemplate,
      violations: readViolations(app.outdir),
      ids: {
        key: logicalId(key),
        writerRole: logicalId(writer.serviceRole),
        readerRole: logicalId(reader.serviceRole),
      },
    };
  } finally {
    if (previous === undefined) delete process.env.CDK_VALIDATION;
    else process.env.CDK_VALIDATION = previous;
  }
}

/** Resolves `Fn::Join` of strings, `Ref`, `Fn::GetAtt` (`<Id.Attr>`) and `Fn::Sub` (its template) to a string. */
function text(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, CfnJson>;
  if ('Fn::Join' in v) return (v['Fn::Join'][1] as unknown[]).map(text).join(v['Fn::Join'][0]);
  if ('Fn::GetAtt' in v) return `<${v['Fn::GetAtt'][0]}.${v['Fn::GetAtt'][1]}>`;
  if ('Ref' in v) return `<${v.Ref}>`;
  if ('Fn::Sub' in v) return v['Fn::Sub'];
  throw new Error(`cannot flatten ${JSON.stringify(value)}`);
}

/** The properties of a resource by logical id (fails the test when there is none). */
function propsOf(json: CfnTemplate, logicalId: string): Record<string, CfnJson> {
  const resource = json.Resources[logicalId];
  if (!resource) throw new Error(`no resource ${logicalId}`);
  return (resource.Properties ?? {}) as Record<string, CfnJson>;
}

function only(json: CfnTemplate, type: string): { id: string; props: Record<string, CfnJson>; res: CfnJson } {
  const found = resourcesOfType(json, type);
  expect(found, type).toHaveLength(1);
  const [id, res] = found[0] as [string, CfnJson];
  return { id, props: res.Properties, res };
}

function policyStatements(json: CfnTemplate, roleId: string): CfnJson[] {
  return resourcesOfType(json, 'AWS::IAM::Policy')
    .filter(([, p]) => JSON.stringify((p.Properties as CfnJson).Roles).includes(`"${roleId}"`))
    .flatMap(([, p]) => (p.Properties as CfnJson).PolicyDocument.Statement as CfnJson[]);
}

function actionsOf(statement: CfnJson): string[] {
  return [statement.Action].flat();
}

/** The REST (snake_case) index body that a synthesized `AWS::OpenSearchServerless::Index` declares. */
function restBodyOf(props: Record<string, CfnJson>): OpenSearchIndexBody {
  const renames: Record<string, string> = {
    Type: 'type',
    Dimension: 'dimension',
    Index: 'index',
    Analyzer: 'analyzer',
    DataType: 'data_type',
    CompressionLevel: 'compression_level',
    SpaceType: 'space_type',
    Name: 'name',
    Engine: 'engine',
    M: 'm',
    EfConstruction: 'ef_construction',
  };
  const field = (mapping: Record<string, CfnJson>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(mapping)) {
      if (key === 'Properties') out.properties = fields(value);
      else if (key === 'Method' || key === 'Parameters') out[key.toLowerCase()] = field(value);
      else if (renames[key]) out[renames[key]] = value;
      else throw new Error(`unexpected mapping key ${key}`);
    }
    return out;
  };
  const fields = (properties: Record<string, CfnJson>) =>
    Object.fromEntries(Object.entries(properties).map(([name, mapping]) => [name, field(mapping)]));
  const settings: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(props.Settings?.Index ?? {})) {
    const rest = {
      Knn: 'knn',
      KnnAlgoParamEfSearch: 'knn.algo_param.ef_search',
      RefreshInterval: 'refresh_interval',
    }[key];
    if (!rest) throw new Error(`unexpected setting ${key}`);
    settings[rest] = value;
  }
  return { settings: { index: settings }, mappings: { properties: fields(props.Mappings.Properties) } };
}

describe('the index body as AWS::OpenSearchServerless::Index properties', () => {
  it('declares exactly chunkIndexBody as typed properties', () => {
    const definition = toCfnIndexDefinition(chunkIndexBody(768));
    expect(definition).toEqual({
      settings: { index: { knn: true, knnAlgoParamEfSearch: 256 } },
      mappings: {
        properties: {
          embedding: {
            type: 'knn_vector',
            dimension: 768,
            method: {
              name: 'hnsw',
              engine: 'faiss',
              spaceType: 'innerproduct',
              parameters: { m: 16, efConstruction: 512 },
            },
          },
          text: { type: 'text' },
          title: { type: 'text' },
          headings: { type: 'text' },
          metadata_json: { type: 'text', index: false },
        },
      },
    });
  });

  it.each([
    [
      { mappings: { properties: { title: { type: 'text', copy_to: 'all' } } } },
      'mappings.properties.title.copy_to',
    ],
    [
      { settings: { index: { knn: true, number_of_shards: 2 } }, mappings: { properties: {} } },
      'settings.index.number_of_shards',
    ],
    [
      { mappings: { properties: { meta: { type: 'text', enabled: false } } } },
      'mappings.properties.meta.enabled',
    ],
    [{ mappings: { properties: { id: { type: 'keyword' } } } }, 'mappings.properties.id.type'],
    [
      { mappings: { properties: { meta: { type: 'object', enabled: false } } } },
      'mappings.properties.meta.type',
    ],
    [
      {
        mappings: {
          properties: { v: { type: 'knn_vector', method: { name: 'hnsw', parameters: { ef_search: 9 } } } },
        },
      },
      'mappings.properties.v.method.parameters.ef_search',
    ],
    [{ mappings: { dynamic: 'strict', properties: {} } }, 'mappings.dynamic'],
    [{ mappings: { properties: { n: { type: 'text', index: 'no' } } } }, 'mappings.properties.n.index'],
  ])('refuses what CloudFormation cannot declare, naming the path (%#)', (body, path) => {
    const attempt = () => toCfnIndexDefinition(body as unknown as OpenSearchIndexBody);
    expect(attempt).toThrow(IndexBodyConversionError);
    expect(attempt).toThrow(path);
  });
});

describe('names and validation', () => {
  const config = loadConfig({});

  it('derives the collection, vector bucket and index names from the stack and the embedding model', () => {
    expect(collectionNameFor('LlmOps-dev')).toBe('llmops-dev-rag');
    expect(vectorBucketNameFor('LlmOps-prod')).toBe('llmops-prod-rag-vectors');
    expect(chunkIndexName(embeddingModel(config.models))).toBe('chunks-titan-embed-text-v2-1024');
    expect(chunkIndexName({ id: 'cohere.embed_v4', dimensions: 1536 })).toBe('chunks-cohere-embed-v4-1536');
  });

  it.each([
    ['A-stack-name-far-too-long-for-a-collection', undefined, /must be 3-28 characters.*shorter stack name/],
    ['LlmOps', '9starts-with-a-digit', /collection name "9starts-with-a-digit".*from collectionName/],
    [Fn.ref('AWS::StackName'), undefined, /stack name must be known at synthesis/],
  ])('rejects the collection name of stack %s (override %s)', (stackName, override, message) => {
    expect(() => collectionNameFor(stackName, override)).toThrow(message);
  });

  it('needs an embedding model with dimensions, and a deployment role when the synthesizer is not the default', () => {
    const { stack } = newApp({});
    const key = new kms.Key(stack, 'Key');
    const noEmbedding = { ...config, models: { ...config.models, embeddingModelId: 'nova-micro' } };
    expect(() => new RagVectorStore(stack, 'A', { ...storeProps(noEmbedding), encryptionKey: key })).toThrow(
      /"nova-micro" must be an embedding model with dimensions/,
    );
    const legacy = new Stack(new App(), 'Legacy', { synthesizer: new LegacyStackSynthesizer() });
    const legacyKey = new kms.Key(legacy, 'Key');
    expect(
      () => new RagVectorStore(legacy, 'B', { ...storeProps(config), encryptionKey: legacyKey }),
    ).toThrow(/pass deploymentRoleArn/);
    expect(
      () =>
        new RagVectorStore(legacy, 'C', {
          ...storeProps(config),
          encryptionKey: legacyKey,
          deploymentRoleArn: 'arn:aws:iam::111122223333:role/deployer',
        }),
    ).not.toThrow();
  });

  it('refuses an imported key (its policy cannot take the statements the store needs)', () => {
    const { stack } = newApp({ vectorStore: 's3vectors' });
    const imported = kms.Key.fromKeyArn(stack, 'Imported', 'arn:aws:kms:us-east-1:111122223333:key/abc');
    expect(
      () =>
        new RagVectorStore(stack, 'Store', {
          ...storeProps(loadConfig({ vectorStore: 's3vectors' })),
          encryptionKey: imported,
        }),
    ).toThrow(/imported key/);
  });

  it('refuses to grant OpenSearch access to a function outside the store network', () => {
    const { stack, config: withOpenSearch } = newApp({ vectorStore: 'opensearch' });
    const key = new kms.Key(stack, 'Key');
    const store = new RagVectorStore(stack, 'Store', { ...storeProps(withOpenSearch), encryptionKey: key });
    const outside = new LlmOpsFunction(stack, 'Outside', {
      config: deploymentOf(withOpenSearch),
      vectorStore: store.kind,
      entry: ENTRY,
      description: 'not in the VPC',
    });
    expect(() => store.grantRead(outside)).toThrow(/must run in the vector store's network/);
  });

  it('refuses to grant access to a function not bundled with the store adapter', () => {
    const { stack, config } = newApp({ vectorStore: 's3vectors' });
    const key = new kms.Key(stack, 'Key');
    const store = new RagVectorStore(stack, 'Store', { ...storeProps(config), encryptionKey: key });
    const unbundled = new LlmOpsFunction(stack, 'Unbundled', {
      config: deploymentOf(config),
      entry: ENTRY,
      description: 'bundled without a vector store',
    });
    expect(() => store.grantRead(unbundled)).toThrow(/must be bundled with the s3vectors adapter/);
  });
});

describe('opensearch store', () => {
  let dev: Build;
  let prod: Build;
  beforeAll(() => {
    dev = build({ profile: 'dev', vectorStore: 'opensearch' });
    prod = build({ profile: 'prod' });
  });

  it('is a VECTORSEARCH collection, standby replicas off in dev and on in prod, retained in prod', () => {
    expect(dev.store.kind).toBe('opensearch');
    const devCollection = only(dev.json, 'AWS::OpenSearchServerless::Collection');
    expect(devCollection.props).toMatchObject({
      Name: 'llmops-test-rag',
      Type: 'VECTORSEARCH',
      StandbyReplicas: 'DISABLED',
    });
    expect(devCollection.res.DeletionPolicy).toBe('Delete');
    const prodCollection = only(prod.json, 'AWS::OpenSearchServerless::Collection');
    expect(prodCollection.props).toMatchObject({ Type: 'VECTORSEARCH', StandbyReplicas: 'ENABLED' });
    expect(prodCollection.res.DeletionPolicy).toBe('Retain');
    expect(only(prod.json, 'AWS::OpenSearchServerless::Index').res.DeletionPolicy).toBe('Retain');
  });

  it('encrypts with the project key (not an AWS-owned key) and the key policy lets CloudFormation create the grant', () => {
    const policy = resourcesOfType(dev.json, 'AWS::OpenSearchServerless::SecurityPolicy').find(
      ([, r]) => (r.Properties as CfnJson).Type === 'encryption',
    );
    expect(policy).toBeDefined();
    const document = JSON.parse(text(propsOf(dev.json, policy?.[0] ?? '').Policy));
    expect(document).toEqual({
      Rules: [{ ResourceType: 'collection', Resource: ['collection/llmops-test-rag'] }],
      AWSOwnedKey: false,
      KmsARN: `<${dev.ids.key}.Arn>`,
    });
    const keyPolicy = propsOf(dev.json, dev.ids.key).KeyPolicy.Statement as CfnJson[];
    expect(keyPolicy.find((s) => s.Sid === 'AllowOpenSearchServerlessCollectionOfRagStore')).toEqual({
      Sid: 'AllowOpenSearchServerlessCollectionOfRagStore',
      Effect: 'Allow',
      Principal: { AWS: CFN_EXEC_ROLE },
      Action: ['kms:CreateGrant', 'kms:DescribeKey'],
      Resource: '*',
      Condition: {
        StringEquals: {
          'kms:ViaService': { 'Fn::Join': ['', ['aoss.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
        },
        Bool: { 'kms:GrantIsForAWSResource': 'true' },
      },
    });
  });

  it('allows no public access: the network policy names the VPC endpoint only, and both policies precede the collection', () => {
    const endpoint = only(dev.json, 'AWS::OpenSearchServerless::VpcEndpoint');
    const network = resourcesOfType(dev.json, 'AWS::OpenSearchServerless::SecurityPolicy').find(
      ([, r]) => (r.Properties as CfnJson).Type === 'network',
    ) as [string, CfnJson];
    expect(JSON.parse(text(network[1].Properties.Policy))).toEqual([
      {
        Description: expect.any(String),
        Rules: [{ ResourceType: 'collection', Resource: ['collection/llmops-test-rag'] }],
        AllowFromPublic: false,
        SourceVPCEs: [`<${endpoint.id}.Id>`],
      },
    ]);
    const encryption = resourcesOfType(dev.json, 'AWS::OpenSearchServerless::SecurityPolicy').find(
      ([, r]) => (r.Properties as CfnJson).Type === 'encryption',
    ) as [string, CfnJson];
    const collection = only(dev.json, 'AWS::OpenSearchServerless::Collection');
    expect(collection.res.DependsOn).toEqual(expect.arrayContaining([network[0], encryption[0]]));
  });

  it('gives data access to exactly the granted roles and the CloudFormation role, on exactly the index', () => {
    const access = only(dev.json, 'AWS::OpenSearchServerless::AccessPolicy');
    expect(access.props.Type).toBe('data');
    const index = `index/llmops-test-rag/${dev.store.indexName}`;
    const rules = (JSON.parse(text(access.props.Policy)) as CfnJson[]).map((r) => ({
      principals: r.Principal,
      rules: r.Rules,
    }));
    const onIndex = (permissions: readonly string[]) => [
      { ResourceType: 'index', Resource: [index], Permission: [...permissions] },
    ];
    expect(rules).toEqual([
      { principals: [CFN_EXEC_ROLE['Fn::Sub']], rules: onIndex(AOSS_INDEX_PERMISSIONS.deploy) },
      { principals: [`<${dev.ids.writerRole}.Arn>`], rules: onIndex(AOSS_INDEX_PERMISSIONS.readwrite) },
      { principals: [`<${dev.ids.readerRole}.Arn>`], rules: onIndex(AOSS_INDEX_PERMISSIONS.read) },
    ]);
    expect(AOSS_INDEX_PERMISSIONS.readwrite).toEqual([
      'aoss:ReadDocument',
      'aoss:WriteDocument',
      'aoss:DescribeIndex',
    ]);
    expect(AOSS_INDEX_PERMISSIONS.read).toEqual(['aoss:ReadDocument', 'aoss:DescribeIndex']);
    expect(JSON.stringify(access.props.Policy)).not.toMatch(/collection\/|\*/);
  });

  it('gives each granted role aoss:APIAccessAll on the collection ARN only', () => {
    const collection = only(dev.json, 'AWS::OpenSearchServerless::Collection');
    for (const role of [dev.ids.writerRole, dev.ids.readerRole]) {
      const aoss = policyStatements(dev.json, role).filter((s) => JSON.stringify(s.Action).includes('aoss:'));
      expect(aoss).toEqual([
        { Action: 'aoss:APIAccessAll', Effect: 'Allow', Resource: { 'Fn::GetAtt': [collection.id, 'Arn'] } },
      ]);
    }
  });

  it('declares the index natively from chunkIndexBody, with the embedding model dimension, after the collection and the policy', () => {
    const index = only(dev.json, 'AWS::OpenSearchServerless::Index');
    const { dimensions } = embeddingModel(dev.config.models);
    expect(dev.store.dimensions).toBe(dimensions);
    expect(index.props.Mappings.Properties.embedding.Dimension).toBe(dimensions);
    expect(restBodyOf(index.props)).toEqual(chunkIndexBody(dimensions));
    // The PropertyMapping `Type`s the CloudFormation reference allows, at every level.
    const types = (properties: Record<string, CfnJson>): unknown[] =>
      Object.values(properties).flatMap((mapping) => [
        mapping.Type,
        ...(mapping.Properties ? types(mapping.Properties) : []),
      ]);
    const declared = types(index.props.Mappings.Properties);
    expect(declared.length).toBeGreaterThan(0);
    for (const type of declared) expect(['text', 'knn_vector']).toContain(type);
    expect(index.props.IndexName).toBe(dev.store.indexName);
    const collection = only(dev.json, 'AWS::OpenSearchServerless::Collection');
    const access = only(dev.json, 'AWS::OpenSearchServerless::AccessPolicy');
    expect(index.props.CollectionEndpoint).toEqual({ 'Fn::GetAtt': [collection.id, 'CollectionEndpoint'] });
    expect(index.res.DependsOn).toEqual(expect.arrayContaining([collection.id, access.id]));
  });

  it('places the functions in the isolated subnets with their security group, with ENI rights inline and env set', () => {
    const functions = resourcesOfType(dev.json, 'AWS::Lambda::Function');
    expect(functions).toHaveLength(2);
    for (const [, fn] of functions) {
      const props = fn.Properties as CfnJson;
      expect(props.VpcConfig.SecurityGroupIds).toHaveLength(1);
      expect(text(props.VpcConfig.SecurityGroupIds[0])).toMatch(/FunctionSecurityGroup.*\.GroupId/);
      expect(props.VpcConfig.SubnetIds.map(text).join()).toMatch(/isolatedSubnet1.*isolatedSubnet2/);
      expect(props.Environment.Variables).toMatchObject({
        VECTOR_STORE_KIND: 'opensearch',
        OPENSEARCH_INDEX: dev.store.indexName,
        VECTOR_DIMENSIONS: '1024',
      });
      expect(text(props.Environment.Variables.OPENSEARCH_ENDPOINT)).toMatch(
        /Collection.*\.CollectionEndpoint/,
      );
    }
    for (const role of [dev.ids.writerRole, dev.ids.readerRole]) {
      const eni = policyStatements(dev.json, role).filter((s) =>
        actionsOf(s).some((a) => a.startsWith('ec2:')),
      );
      expect(eni).toEqual([{ Action: [...VPC_ACCESS_ACTIONS].sort(), Effect: 'Allow', Resource: '*' }]);
    }
    expect(JSON.stringify(dev.json)).not.toContain('AWSLambdaVPCAccessExecutionRole');
  });

  it('has no route to the internet: isolated subnets, no NAT or internet gateway, private endpoints for what functions call', () => {
    for (const type of ['AWS::EC2::NatGateway', 'AWS::EC2::InternetGateway', 'AWS::EC2::EIP']) {
      expect(resourcesOfType(dev.json, type), type).toEqual([]);
    }
    expect(resourcesOfType(dev.json, 'AWS::EC2::Route')).toEqual([]);
    expect(resourcesOfType(dev.json, 'AWS::EC2::Subnet')).toHaveLength(2);
    const endpoints = resourcesOfType(dev.json, 'AWS::EC2::VPCEndpoint').map(
      ([, e]) => e.Properties as CfnJson,
    );
    const services = endpoints.map(
      (e) => `${e.VpcEndpointType}:${text(e.ServiceName)}:${e.PrivateDnsEnabled ?? '-'}`,
    );
    expect(services.sort()).toEqual(
      [
        'Gateway:com.amazonaws.<AWS::Region>.dynamodb:-',
        'Gateway:com.amazonaws.<AWS::Region>.s3:-',
        'Interface:com.amazonaws.<AWS::Region>.bedrock-runtime:true',
        'Interface:com.amazonaws.<AWS::Region>.events:true',
        'Interface:com.amazonaws.<AWS::Region>.sagemaker.runtime:true',
      ].sort(),
    );
    const flowLog = only(dev.json, 'AWS::EC2::FlowLog');
    expect(flowLog.props).toMatchObject({
      ResourceType: 'VPC',
      TrafficType: 'ALL',
      LogDestinationType: 'cloud-watch-logs',
    });
    const flowLogGroup = propsOf(dev.json, text(flowLog.props.LogGroupName).replace(/[<>]/g, ''));
    expect(flowLogGroup.KmsKeyId).toEqual({ 'Fn::GetAtt': [dev.ids.key, 'Arn'] });
  });

  it('lets the functions reach the endpoints on 443 only, and the endpoints accept 443 from the functions only', () => {
    const groups = resourcesOfType(dev.json, 'AWS::EC2::SecurityGroup');
    const [fnSgId] = groups.find(([id]) => id.includes('FunctionSecurityGroup')) as [string, CfnJson];
    const [endpointSgId, endpointSg] = groups.find(([id]) => id.includes('EndpointSecurityGroup')) as [
      string,
      CfnJson,
    ];
    expect(endpointSg.Properties.SecurityGroupIngress ?? []).toEqual([]);
    expect(resourcesOfType(dev.json, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties)).toEqual([
      expect.objectContaining({
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
        GroupId: { 'Fn::GetAtt': [endpointSgId, 'GroupId'] },
        SourceSecurityGroupId: { 'Fn::GetAtt': [fnSgId, 'GroupId'] },
      }),
    ]);
    const egress = [
      ...(propsOf(dev.json, fnSgId).SecurityGroupEgress as CfnJson[]),
      ...resourcesOfType(dev.json, 'AWS::EC2::SecurityGroupEgress').map(([, r]) => r.Properties as CfnJson),
    ];
    expect(
      egress.every((rule) => rule.FromPort === 443 && rule.ToPort === 443 && rule.IpProtocol === 'tcp'),
    ).toBe(true);
    const aossEndpoint = only(dev.json, 'AWS::OpenSearchServerless::VpcEndpoint');
    expect(aossEndpoint.props.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [endpointSgId, 'GroupId'] }]);
  });

  it('passes the cdk-nag gate and CloudFormation validation with nothing unacknowledged', () => {
    for (const b of [dev, prod]) expectCleanNag(b);
  });
});

describe('s3vectors store', () => {
  let s3: Build;
  beforeAll(() => {
    s3 = build({ profile: 'dev', vectorStore: 's3vectors' });
  });

  it('creates a KMS-encrypted vector bucket and a cosine float32 index of the model dimension, and no network', () => {
    expect(s3.store.kind).toBe('s3vectors');
    expect(s3.store.networkPlacement()).toBeUndefined();
    const bucket = only(s3.json, 'AWS::S3Vectors::VectorBucket');
    expect(bucket.props).toEqual({
      VectorBucketName: 'llmops-test-rag-vectors',
      EncryptionConfiguration: { SseType: 'aws:kms', KmsKeyArn: { 'Fn::GetAtt': [s3.ids.key, 'Arn'] } },
    });
    const index = only(s3.json, 'AWS::S3Vectors::Index');
    expect(index.props).toEqual({
      VectorBucketArn: { 'Fn::GetAtt': [bucket.id, 'VectorBucketArn'] },
      IndexName: s3.store.indexName,
      DataType: 'float32',
      Dimension: embeddingModel(s3.config.models).dimensions,
      DistanceMetric: 'cosine',
      MetadataConfiguration: { NonFilterableMetadataKeys: [...S3_VECTORS_NON_FILTERABLE_KEYS] },
    });
    for (const type of ['AWS::EC2::VPC', 'AWS::OpenSearchServerless::Collection', 'AWS::EC2::VPCEndpoint']) {
      expect(resourcesOfType(s3.json, type), type).toEqual([]);
    }
    for (const [, fn] of resourcesOfType(s3.json, 'AWS::Lambda::Function')) {
      const props = fn.Properties as CfnJson;
      expect(props.VpcConfig).toBeUndefined();
      expect(props.Environment.Variables).toMatchObject({
        VECTOR_STORE_KIND: 's3vectors',
        S3VECTORS_BUCKET: 'llmops-test-rag-vectors',
        S3VECTORS_INDEX: s3.store.indexName,
        VECTOR_DIMENSIONS: '1024',
      });
    }
  });

  it('grants least privilege on the index ARN only, and kms:Decrypt through S3 Vectors for this bucket and index', () => {
    const index = only(s3.json, 'AWS::S3Vectors::Index');
    const indexArn = { 'Fn::GetAtt': [index.id, 'IndexArn'] };
    const bucketArn = `arn:<AWS::Partition>:s3vectors:<AWS::Region>:<AWS::AccountId>:bucket/llmops-test-rag-vectors`;
    for (const [role, access] of [
      [s3.ids.writerRole, 'readwrite'],
      [s3.ids.readerRole, 'read'],
    ] as const) {
      const statements = policyStatements(s3.json, role).filter(
        (s) => !actionsOf(s).some((a) => /^(xray|logs):/.test(a)),
      );
      const vectors = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('s3vectors:')));
      expect(vectors.every((s) => JSON.stringify(s.Resource) === JSON.stringify(indexArn))).toBe(true);
      expect([...new Set(vectors.flatMap(actionsOf))].sort()).toEqual(
        [...S3_VECTORS_INDEX_ACTIONS[access]].sort(),
      );
      const key = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
      expect(key).toHaveLength(1);
      expect(key[0].Action).toBe('kms:Decrypt');
      expect(key[0].Resource).toEqual({ 'Fn::GetAtt': [s3.ids.key, 'Arn'] });
      expect(text(key[0].Condition.StringEquals['kms:ViaService'])).toBe(
        's3vectors.<AWS::Region>.amazonaws.com',
      );
      expect(key[0].Condition.StringEquals['kms:EncryptionContext:aws:s3vectors:arn'].map(text)).toEqual([
        bucketArn,
        `<${index.id}.IndexArn>`,
      ]);
      expect(statements).toHaveLength(vectors.length + 1);
    }
    expect(S3_VECTORS_INDEX_ACTIONS.read).toEqual(['s3vectors:QueryVectors', 's3vectors:GetVectors']);
  });

  it('lets the S3 Vectors indexing service decrypt for this bucket only, and CloudFormation create the bucket', () => {
    const statements = propsOf(s3.json, s3.ids.key).KeyPolicy.Statement as CfnJson[];
    const indexing = statements.find((s) => s.Sid === 'AllowS3VectorsIndexingOfRagStore');
    expect(indexing.Principal).toEqual({ Service: 'indexing.s3vectors.amazonaws.com' });
    expect(indexing.Action).toBe('kms:Decrypt');
    expect(indexing.Condition.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    expect(indexing.Condition.ArnLike['aws:SourceArn'].map(text)).toEqual([
      'arn:<AWS::Partition>:s3vectors:<AWS::Region>:<AWS::AccountId>:bucket/llmops-test-rag-vectors',
      'arn:<AWS::Partition>:s3vectors:<AWS::Region>:<AWS::AccountId>:bucket/llmops-test-rag-vectors/*',
    ]);
    const creation = statements.find((s) => s.Sid === 'AllowS3VectorsBucketCreationOfRagStore');
    expect(creation.Principal).toEqual({ AWS: CFN_EXEC_ROLE });
    expect(creation.Action).toBe('kms:GenerateDataKey');
  });

  it('passes the cdk-nag gate and CloudFormation validation with nothing unacknowledged', () => {
    expectCleanNag(s3);
  });
});

function expectCleanNag(b: Build): void {
  expect(b.violations, JSON.stringify(b.violations)).toEqual([]);
  const report = new AwsSolutionsChecks().validateScope(b.app);
  expect(
    report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath)}`),
  ).toEqual([]);
  for (const c of b.app.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY || !entry.data) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        expect(reason.length, `${id} on ${c.node.path}`).toBeGreaterThanOrEqual(MIN_REASON_LENGTH);
        if (id.includes('AwsSolutions-IAM5')) expect(id, c.node.path).toMatch(/IAM5\[Resource::\*\]$/);
      }
    }
  }
}
