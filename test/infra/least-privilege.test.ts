/**
 * Least privilege (security finding 6), asserted on the synthesized templates:
 *
 * - model invocation names the configured catalog's models and profiles (and tagged SageMaker endpoints),
 *   never every model or every endpoint;
 * - the chat function may add the seed's catalog items and count a canary's calls, each write held to
 *   its attributes (`dynamodb:Attributes`), but never delete one;
 * - DataPrep, RagIngest and Evaluation functions reach only the key prefixes their code uses;
 * - events:PutEvents is conditioned on exactly the source and detail-types each function (and the
 *   evaluation schedules) publishes;
 * - the admin routes are open to the admin principals only, the review routes to the admin and reviewer
 *   principals only (REST API resource policy);
 * - every VPC endpoint has a policy that admits this account's principals and resources, and the actions
 *   of the functions in the VPC.
 */
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { canaryCountInput } from '#aws/model-catalog.ts';
import { API_ROUTES } from '#contracts/http/routes.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import { DATASET_READY } from '#events/dataset-ready.ts';
import { DOCUMENT_INDEXED } from '#events/document-indexed.ts';
import { DRIFT_CHECK_REQUESTED } from '#events/drift-check-requested.ts';
import { DRIFT_DETECTED } from '#events/drift-detected.ts';
import { LLMOPS_SOURCE } from '#events/envelope.ts';
import { EVALUATION_COMPLETED } from '#events/evaluation-completed.ts';
import { EVALUATION_REQUESTED } from '#events/evaluation-requested.ts';
import { FEEDBACK_EXPORT_REQUESTED } from '#events/feedback-export-requested.ts';
import { FEEDBACK_THRESHOLD_REACHED } from '#events/feedback-threshold-reached.ts';
import { FINETUNE_REQUESTED } from '#events/finetune-requested.ts';
import { INTERACTION_RECORDED } from '#events/interaction-recorded.ts';
import { MODEL_DEPLOYED } from '#events/model-deployed.ts';
import { MODEL_REGISTERED } from '#events/model-registered.ts';
import { PIPELINE_FAILED } from '#events/pipeline-failed.ts';
import { PROMPT_GATE_OVERRIDDEN } from '#events/prompt-gate-overridden.ts';
import { ROLLED_BACK } from '#events/rolled-back.ts';
import { type AppConfig, loadConfig } from '#infra/config/index.ts';
import { DEV } from '#infra/config/profiles.ts';
import { profileConfigSchema } from '#infra/config/schema.ts';
import {
  bedrockInvokeResources,
  SAGEMAKER_INVOKE_TAG_KEY,
  sageMakerInvokeTagValue,
} from '#infra/constructs/model-access.ts';
import { AccessDeniedError, LocalIam } from '#infra/local/iam/evaluator.ts';
import { LocalTemplate } from '#infra/local/template.ts';
import { cdkJsonContext, LlmOpsStack } from '#infra/stacks/llmops-stack.ts';
import {
  entryStatements,
  functionsByEntry,
  list,
  roleIdOf,
  roleStatements,
  type Statement,
} from './support/iam.ts';
import {
  type CfnJson,
  type CfnResource,
  type CfnTemplate,
  flatten,
  resourcesOfType,
  type Synthesized,
  synth,
} from './support/synth.ts';

let dev: Synthesized;
let prod: Synthesized;
/** dev with named admin principals, a SageMaker model, a global profile and an eu profile in the catalog. */
let custom: { json: CfnTemplate; config: AppConfig; app: App };

const ADMINS = ['arn:aws:iam::123456789012:role/llmops-admin', 'arn:aws:iam::123456789012:user/alice'];
const EXTRA_MODELS: CatalogModel[] = [
  {
    id: 'tuned-llama',
    provider: 'sagemaker',
    modelId: 'LlmOps-Tuned-Llama',
    inferenceComponent: 'tuned-llama-adapter',
    kind: 'chat',
    contextWindow: 8_192,
    maxOutputTokens: 1_024,
    pricePer1kInputUsd: 0,
    pricePer1kOutputUsd: 0,
    features: [],
    regions: ['us-east-1'],
    status: 'active',
  },
  {
    id: 'claude-sonnet-global',
    provider: 'bedrock',
    modelId: 'global.anthropic.claude-sonnet-4-5-20250929-v1:0',
    kind: 'chat',
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
    pricePer1kInputUsd: 0.003,
    pricePer1kOutputUsd: 0.015,
    features: ['streaming'],
    regions: ['us-east-1'],
    status: 'active',
  },
];

/** The real stack for a configuration edited in code (no context key sets these), under cdk-nag. */
function synthConfig(edit: (config: AppConfig) => AppConfig) {
  const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  const config = edit(loadConfig(app));
  const stack = new LlmOpsStack(app, config.stackName, { config });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const previous = process.env.CDK_VALIDATION;
  process.env.CDK_VALIDATION = 'false';
  try {
    return { json: Template.fromStack(stack).toJSON() as CfnTemplate, config, app };
  } finally {
    if (previous === undefined) delete process.env.CDK_VALIDATION;
    else process.env.CDK_VALIDATION = previous;
  }
}

beforeAll(() => {
  dev = synth({ profile: 'dev' }, { cfnValidation: false });
  prod = synth({ profile: 'prod' }, { cfnValidation: false });
  custom = synthConfig((config) => ({
    ...config,
    api: { ...config.api, adminPrincipals: ADMINS },
    models: { ...config.models, catalog: [...config.models.catalog, ...EXTRA_MODELS] },
  }));
});

const props = (r: CfnResource) => (r.Properties ?? {}) as Record<string, CfnJson>;
const statementsOf = (json: CfnTemplate, fn: CfnResource) => roleStatements(json, roleIdOf(fn));

/** Allowed actions by flattened resource, e.g. `<StorageRawX.Arn>/raw/*` → s3:GetObject, ... */
function actionsByResource(statements: readonly Statement[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const s of statements.filter((s) => s.Effect === 'Allow')) {
    for (const resource of list(s.Resource).map(flatten)) {
      const set = out.get(resource) ?? new Set<string>();
      for (const action of list(s.Action)) set.add(action);
      out.set(resource, set);
    }
  }
  return out;
}

const resolve = (value: unknown) => flatten(Stack.of(dev.stack).resolve(value));
const sorted = (values: Iterable<string>) => [...values].sort();

describe('model invocation (chat)', () => {
  const policyOf = (json: CfnTemplate) => {
    const found = resourcesOfType(json, 'AWS::IAM::Policy').filter(([id]) =>
      id.startsWith('ModelGatewayModelInvokePolicy'),
    );
    expect(found).toHaveLength(1);
    return props((found[0] as [string, CfnResource])[1]).PolicyDocument.Statement as Statement[];
  };
  const bySid = (statements: Statement[], sid: string) => {
    const found = statements.filter((s) => s.Sid === sid);
    expect(found, sid).toHaveLength(1);
    return found[0] as Statement;
  };

  it('names exactly the Bedrock models and inference profiles of the catalog', () => {
    const statements = policyOf(dev.json);
    const profiles = dev.config.models.catalog.filter((m) => m.modelId.startsWith('us.'));
    const direct = bySid(statements, 'InvokeCatalogBedrockModels');
    expect(sorted(list(direct.Resource).map(flatten))).toEqual(
      sorted([
        ...profiles.map(
          (m) => `arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/${m.modelId}`,
        ),
        'arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/amazon.titan-embed-text-v2:0',
      ]),
    );
    // Each profile's foundation model in the regions of the US geography, only through the profiles.
    const routed = bySid(statements, 'InvokeProfileFoundationModels');
    expect(sorted(list(routed.Resource).map(flatten))).toEqual(
      sorted(
        profiles.map(
          (m) => `arn:<AWS::Partition>:bedrock:us-*::foundation-model/${m.modelId.replace(/^us\./, '')}`,
        ),
      ),
    );
    expect(sorted(list(routed.Condition?.ArnLike?.['bedrock:InferenceProfileArn']).map(flatten))).toEqual(
      sorted(
        profiles.map(
          (m) => `arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/${m.modelId}`,
        ),
      ),
    );
    for (const s of statements) {
      for (const resource of list(s.Resource).map(flatten)) {
        expect(resource, s.Sid).not.toMatch(/(foundation-model|inference-profile)\/\*$/);
        expect(resource, s.Sid).not.toMatch(/:bedrock:\*::foundation-model/);
      }
    }
  });

  it('reaches SageMaker endpoints it cannot name only by the tag of this deployment', () => {
    const statements = policyOf(dev.json);
    expect(statements.filter((s) => list(s.Action).some((a) => a.startsWith('sagemaker:')))).toEqual([
      {
        Sid: 'InvokeTaggedSageMakerEndpoints',
        Effect: 'Allow',
        Action: ['sagemaker:InvokeEndpoint', 'sagemaker:InvokeEndpointWithResponseStream'],
        Resource: expect.any(Array),
        Condition: {
          StringEquals: {
            [`aws:ResourceTag/${SAGEMAKER_INVOKE_TAG_KEY}`]: sageMakerInvokeTagValue(dev.config.stackName),
          },
        },
      },
    ]);
    const tagged = statements.find((s) => s.Sid === 'InvokeTaggedSageMakerEndpoints') as Statement;
    expect(sorted(list(tagged.Resource).map(flatten))).toEqual([
      'arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:endpoint/*',
      'arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:inference-component/*',
    ]);
    expect(SAGEMAKER_INVOKE_TAG_KEY).toBe('llmops:invoked-by');
    expect(sageMakerInvokeTagValue('LlmOps-prod')).toBe('LlmOps-prod');
  });

  it('grants the SageMaker endpoints and components a catalog names, and global profiles in any region', () => {
    const statements = policyOf(custom.json);
    expect(sorted(list(bySid(statements, 'InvokeCatalogSageMakerEndpoints').Resource).map(flatten))).toEqual([
      'arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:endpoint/llmops-tuned-llama',
      'arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:inference-component/tuned-llama-adapter',
    ]);
    expect(list(bySid(statements, 'InvokeProfileFoundationModels').Resource).map(flatten)).toContain(
      'arn:<AWS::Partition>:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0',
    );
    // Still under the cdk-nag gate: every wildcard of the grant is acknowledged with a reason.
    expect(new AwsSolutionsChecks().validateScope(custom.app).success).toBe(true);
  });

  it('derives the regions of a profile from its geography prefix', () => {
    const model = (modelId: string) => ({ ...(EXTRA_MODELS[1] as CatalogModel), modelId });
    const routed = (modelId: string) => bedrockInvokeResources([model(modelId)]).routed.map(resolve);
    expect(routed('eu.amazon.nova-lite-v1:0')).toEqual([
      'arn:<AWS::Partition>:bedrock:eu-*::foundation-model/amazon.nova-lite-v1:0',
    ]);
    expect(routed('apac.amazon.nova-lite-v1:0')).toEqual([
      'arn:<AWS::Partition>:bedrock:ap-*::foundation-model/amazon.nova-lite-v1:0',
    ]);
    expect(routed('global.amazon.nova-2-lite-v1:0')).toEqual([
      'arn:<AWS::Partition>:bedrock:*::foundation-model/amazon.nova-2-lite-v1:0',
    ]);
    // A foundation model id (provider prefix, not a geography) is granted in the stack's region only.
    expect(routed('amazon.titan-embed-text-v2:0')).toEqual([]);
    // A system inference profile given by ARN: the ARN, and its foundation model in its geography.
    const arn = 'arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.amazon.nova-pro-v1:0';
    expect(bedrockInvokeResources([model(arn)]).direct).toEqual([arn]);
    expect(routed(arn)).toEqual(['arn:<AWS::Partition>:bedrock:eu-*::foundation-model/amazon.nova-pro-v1:0']);
  });
});

describe('the model catalog table', () => {
  const catalogArn = (json: CfnTemplate) => {
    const [id] = resourcesOfType(json, 'AWS::DynamoDB::Table').find(([tableId]) =>
      tableId.startsWith('ModelGatewayCatalogTable'),
    ) as [string, CfnResource];
    return `<${id}.Arn>`;
  };

  /** The statements of an entry's role on the catalog table. */
  const onCatalog = (json: CfnTemplate, entry: string) =>
    entryStatements(json, entry).filter(
      (s) => s.Effect === 'Allow' && list(s.Resource).map(flatten).includes(catalogArn(json)),
    );
  const withAction = (statements: readonly Statement[], action: string) =>
    statements.filter((s) => list(s.Action).includes(action));

  it('chat may read, scan, put and update catalog items (canary counters), but never delete or batch-write one', () => {
    for (const s of [dev, prod]) {
      const actions = actionsByResource(entryStatements(s.json, 'functions/api/chat.ts')).get(
        catalogArn(s.json),
      );
      expect(actions).toBeDefined();
      expect(sorted(actions ?? [])).toEqual([
        'dynamodb:BatchGetItem',
        'dynamodb:ConditionCheckItem',
        'dynamodb:DescribeTable',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:Scan',
        // The rollout's candidate calls: `ADD canary.calls` on condition of the rollout id.
        'dynamodb:UpdateItem',
      ]);
      for (const action of ['dynamodb:DeleteItem', 'dynamodb:BatchWriteItem']) {
        expect(actions?.has(action), action).toBe(false);
      }
    }
  });

  it("chat's UpdateItem on the catalog names only the key and the canary counters (dynamodb:Attributes)", () => {
    for (const s of [dev, prod]) {
      const updates = withAction(onCatalog(s.json, 'functions/api/chat.ts'), 'dynamodb:UpdateItem');
      // One statement, UpdateItem alone: no unconditioned grant of it beside.
      expect(updates).toHaveLength(1);
      expect(updates[0]).toMatchObject({
        Sid: 'CountCanaryCalls',
        Action: 'dynamodb:UpdateItem',
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:Attributes': ['pk', 'canary'] } },
      });
      expect(Object.keys(updates[0]?.Condition ?? {})).toEqual(['ForAllValues:StringEquals']);
    }
  });

  it("chat's PutItem on the catalog names only the attributes of the configured seed's items", () => {
    for (const s of [dev, custom]) {
      const puts = withAction(onCatalog(s.json, 'functions/api/chat.ts'), 'dynamodb:PutItem');
      expect(puts).toHaveLength(1);
      const fields = s.config.models.catalog.flatMap((m) =>
        Object.entries(m).flatMap(([name, value]) => (value === undefined ? [] : [name])),
      );
      const allowed = list(
        (puts[0]?.Condition?.['ForAllValues:StringEquals']?.['dynamodb:Attributes'] ?? []) as string[],
      );
      expect(puts[0]).toMatchObject({ Sid: 'SeedCatalogEntries', Action: 'dynamodb:PutItem' });
      // `seedItem` of #aws/model-catalog.ts: the key, the model's fields and the seed's bookkeeping.
      expect(allowed).toEqual(
        sorted(new Set(['pk', ...fields, 'seedHash', 'source', 'updatedAt', 'updatedBy'])),
      );
      // What only a pipeline or an admin writes is never the seed's.
      for (const owned of ['canary', 'evaluations', 'evaluationScore']) expect(allowed).not.toContain(owned);
    }
    // The custom catalog's SageMaker entry sets `inferenceComponent`, which dev's entries do not.
    const devPut = withAction(onCatalog(dev.json, 'functions/api/chat.ts'), 'dynamodb:PutItem')[0];
    expect(JSON.stringify(devPut?.Condition)).not.toContain('inferenceComponent');
  });

  it('the local IAM evaluation holds the synthesized chat role to those attributes (dynamodb:Attributes evaluated)', async () => {
    const template = new LocalTemplate(dev.json, { namePrefix: 'lp' });
    const iam = new LocalIam(template);
    const [chatId] = resourcesOfType(dev.json, 'AWS::Lambda::Function').find(
      ([, r]) => r.Metadata?.['llmops:entry'] === 'functions/api/chat.ts',
    ) as [string, CfnResource];
    const chat = { logicalId: chatId, functionName: chatId };
    const [tableId] = resourcesOfType(dev.json, 'AWS::DynamoDB::Table').find(([id]) =>
      id.startsWith('ModelGatewayCatalogTable'),
    ) as [string, CfnResource];
    const table = template.ref(tableId);
    const call = (commandName: string, input: Record<string, unknown>) =>
      iam.authorize(chat, { clientName: 'DynamoDBClient', commandName, input });
    const denied = async (promise: Promise<unknown>) =>
      expect(
        await promise.then(
          () => undefined,
          (e: unknown) => e,
        ),
      ).toBeInstanceOf(AccessDeniedError);
    const model = dev.config.models.catalog[0] as CatalogModel;
    const seed = {
      ...model,
      pk: model.id,
      source: 'config',
      seedHash: 'h',
      updatedAt: 't',
      updatedBy: 'config-seed',
    };

    // What the code sends: a canary count (`canaryCountInput`) and a seed's conditional put.
    await expect(
      call('UpdateItemCommand', canaryCountInput(table, model.id, 'r-1', true)),
    ).resolves.toBeUndefined();
    await expect(
      call('PutItemCommand', {
        TableName: table,
        Item: seed,
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ).resolves.toBeUndefined();
    // What it may not: an update of another attribute, or a put that plants a canary.
    await denied(
      call('UpdateItemCommand', {
        TableName: table,
        Key: { pk: model.id },
        UpdateExpression: 'SET #status = :s',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':s': 'deprecated' },
      }),
    );
    await denied(call('PutItemCommand', { TableName: table, Item: { ...seed, canary: { share: 1 } } }));
  });

  it('the evaluation answers (Generate) without canary routing and writes nothing on the catalog', () => {
    const statements = onCatalog(dev.json, 'functions/evaluation/generate.ts');
    expect(statements.length).toBeGreaterThan(0);
    for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']) {
      expect(withAction(statements, action), action).toEqual([]);
    }
  });

  it('the models function keeps its admin edits (update) on the catalog', () => {
    const actions = actionsByResource(entryStatements(dev.json, 'functions/api/models.ts')).get(
      catalogArn(dev.json),
    );
    expect(actions?.has('dynamodb:UpdateItem')).toBe(true);
  });
});

describe('bucket prefixes of DataPrep, RagIngest and Evaluation', () => {
  const bucket = (json: CfnTemplate, name: 'Raw' | 'Curated' | 'Artifacts') => {
    const [id] = resourcesOfType(json, 'AWS::S3::Bucket').find(([bucketId]) =>
      new RegExp(`^Storage${name}[0-9A-F]{8}$`).test(bucketId),
    ) as [string, CfnResource];
    return `<${id}.Arn>`;
  };
  const READ = ['s3:GetObject', 's3:GetObjectVersion'];
  const WRITE = ['s3:AbortMultipartUpload', 's3:PutObject'];

  /** Object actions by `bucket/prefix`, and the `s3:prefix` values of each ListBucket, of one function. */
  function s3Access(json: CfnTemplate, entry: string) {
    const statements = entryStatements(json, entry).filter((s) => s.Effect === 'Allow');
    const objects: Record<string, string[]> = {};
    for (const [resource, actions] of actionsByResource(statements)) {
      const s3 = sorted(actions).filter((a) => a.startsWith('s3:') && a !== 's3:ListBucket');
      if (s3.length > 0) objects[resource] = s3;
    }
    const lists = statements
      .filter((s) => list(s.Action).includes('s3:ListBucket'))
      .map((s) => ({
        bucket: list(s.Resource).map(flatten).join(','),
        prefix: s.Condition?.StringLike?.['s3:prefix'],
      }));
    return { objects, lists };
  }

  it('each DataPrep function reaches only the prefixes its code uses', () => {
    const { json } = dev;
    const raw = bucket(json, 'Raw');
    const curated = bucket(json, 'Curated');
    const artifacts = bucket(json, 'Artifacts');
    // Plan also lists the raw bucket unconditioned, so that a deleted upload's HeadObject is a 404; it
    // writes the Distributed Map's items, nothing else.
    expect(s3Access(json, 'functions/dataprep/plan.ts')).toEqual({
      objects: { [`${raw}/raw/*`]: READ, [`${artifacts}/staging/dataprep/items/*`]: WRITE },
      lists: [
        { bucket: raw, prefix: ['raw/*'] },
        { bucket: raw, prefix: undefined },
      ],
    });
    expect(s3Access(json, 'functions/dataprep/process-part.ts')).toEqual({
      objects: { [`${raw}/raw/*`]: READ, [`${artifacts}/staging/dataprep/*`]: WRITE },
      lists: [{ bucket: raw, prefix: ['raw/*'] }],
    });
    expect(s3Access(json, 'functions/dataprep/finalize.ts')).toEqual({
      objects: {
        [`${artifacts}/staging/dataprep/*`]: READ,
        [`${curated}/datasets/*`]: WRITE,
        [`${artifacts}/quarantine/dataprep/*`]: WRITE,
      },
      lists: [{ bucket: artifacts, prefix: ['staging/dataprep/*'] }],
    });
    // Register records the version and announces it: it reads no object.
    for (const entry of ['functions/dataprep/register.ts', 'functions/dataprep/release-claim.ts']) {
      expect(s3Access(json, entry), entry).toEqual({ objects: {}, lists: [] });
    }
  });

  it('the DataPrep and RagIngest state machines read only their items prefix and write only their Map results prefix', () => {
    const { json } = dev;
    const artifacts = bucket(json, 'Artifacts');
    const writer = sorted([
      's3:AbortMultipartUpload',
      's3:GetObject',
      's3:ListMultipartUploadParts',
      's3:PutObject',
    ]);
    for (const [pipeline, prefix] of [
      ['DataPrep', 'staging/dataprep'],
      ['RagIngest', 'staging/rag'],
    ] as const) {
      const [, sm] = resourcesOfType(json, 'AWS::StepFunctions::StateMachine').find(
        ([, r]) => r.Metadata?.['llmops:pipeline'] === pipeline,
      ) as [string, CfnResource];
      const statements = roleStatements(json, props(sm).RoleArn['Fn::GetAtt'][0]).filter(
        (st) => st.Effect === 'Allow',
      );
      const objects: Record<string, string[]> = {};
      for (const [resource, actions] of actionsByResource(statements)) {
        const s3 = sorted(actions).filter((a) => a.startsWith('s3:'));
        if (s3.length > 0) objects[resource] = s3;
      }
      expect(objects, pipeline).toEqual({
        [`${artifacts}/${prefix}/items/*`]: ['s3:GetObject'],
        [`${artifacts}/${prefix}/map-runs/*`]: writer,
      });
      // No bucket-wide grant, no listing: the items object and the results are named by the state.
      expect(
        statements.flatMap((st) => list(st.Action)),
        pipeline,
      ).not.toContain('s3:ListBucket');
    }
  });

  it('RagIngest steps stay in their prefixes and delete nothing', () => {
    const { json } = dev;
    const staging = `${bucket(json, 'Artifacts')}/staging/rag/*`;
    expect(s3Access(json, 'functions/rag/plan.ts').objects).toEqual({
      [`${bucket(json, 'Raw')}/raw/rag/*`]: READ,
      [`${bucket(json, 'Curated')}/datasets/rag/*`]: READ,
      [staging]: WRITE,
    });
    for (const entry of ['functions/rag/chunk.ts', 'functions/rag/embed.ts']) {
      expect(s3Access(json, entry).objects, entry).toEqual({ [staging]: sorted([...READ, ...WRITE]) });
    }
    for (const entry of ['functions/rag/index-chunks.ts', 'functions/rag/finish.ts']) {
      expect(s3Access(json, entry).objects, entry).toEqual({ [staging]: READ });
    }
  });

  it('each Evaluation function reaches only the prefixes its code uses', () => {
    const { json } = dev;
    const curated = bucket(json, 'Curated');
    const artifacts = bucket(json, 'Artifacts');
    const staging = `${artifacts}/staging/eval/*`;
    const reports = `${artifacts}/evaluations/*`;
    const golden = `${curated}/datasets/golden/*`;
    const readWrite = sorted([...READ, ...WRITE]);
    // RegisterSuite and Plan read golden datasets only; Plan also reads a request's own predictions and
    // stages the run's batches.
    expect(s3Access(json, 'functions/evaluation/register-suite.ts')).toEqual({
      objects: { [golden]: READ },
      lists: [{ bucket: curated, prefix: ['datasets/golden/*'] }],
    });
    expect(s3Access(json, 'functions/evaluation/plan.ts')).toEqual({
      objects: { [staging]: WRITE, [golden]: READ, [`${artifacts}/predictions/*`]: READ },
      lists: [
        { bucket: artifacts, prefix: ['predictions/*'] },
        { bucket: curated, prefix: ['datasets/golden/*'] },
      ],
    });
    // Generate and Score read the staged batch and stage their answers and scores; they delete nothing.
    for (const entry of ['functions/evaluation/generate.ts', 'functions/evaluation/score.ts']) {
      expect(s3Access(json, entry), entry).toEqual({
        objects: { [staging]: readWrite },
        lists: [{ bucket: artifacts, prefix: ['staging/eval/*'] }],
      });
    }
    // Report reads the staged scores, writes each run's reports once (and reads the previous run's items
    // for the regression check): it deletes no report.
    expect(s3Access(json, 'functions/evaluation/report.ts')).toEqual({
      objects: { [staging]: READ, [reports]: readWrite },
      lists: [
        { bucket: artifacts, prefix: ['staging/eval/*'] },
        { bucket: artifacts, prefix: ['evaluations/*'] },
      ],
    });
    // The evaluations API presigns report links with its own read access.
    expect(s3Access(json, 'functions/api/evaluations.ts')).toEqual({
      objects: { [reports]: READ },
      lists: [{ bucket: artifacts, prefix: ['evaluations/*'] }],
    });
    for (const entry of [
      'functions/evaluation/record-failure.ts',
      'functions/evaluation/catalog-scores.ts',
    ]) {
      expect(s3Access(json, entry), entry).toEqual({ objects: {}, lists: [] });
    }
  });

  it("no pipeline function holds a whole bucket, and every ListBucket but Plan's of the raw bucket is limited to a prefix", () => {
    for (const s of [dev, prod]) {
      const buckets = (['Raw', 'Curated', 'Artifacts'] as const).map((name) => bucket(s.json, name));
      for (const entry of functionsByEntry(s.json).keys()) {
        if (!/^functions\/(dataprep|rag|evaluation)\/|^functions\/api\/evaluations\.ts$/.test(entry))
          continue;
        const { objects, lists } = s3Access(s.json, entry);
        for (const resource of Object.keys(objects)) {
          expect(
            buckets.map((b) => `${b}/*`),
            `${entry}: ${resource}`,
          ).not.toContain(resource);
        }
        for (const l of lists) {
          // The one exception: Plan lists the raw bucket, which holds only raw uploads (see data-prep.ts).
          if (entry === 'functions/dataprep/plan.ts' && l.bucket === buckets[0]) continue;
          expect(l.prefix, `${entry}: ListBucket on ${l.bucket}`).toBeDefined();
        }
      }
    }
  });
});

describe('events:PutEvents', () => {
  /** What each function publishes (grep `publishEvent(` in functions/ and layers/aws/src/). */
  const PUBLISHERS: Record<string, string[]> = {
    'functions/pipeline-failed/handler.ts': [PIPELINE_FAILED],
    'functions/dataprep/register.ts': [DATASET_READY],
    'functions/api/chat.ts': [INTERACTION_RECORDED],
    // Every RagIngest step reports the documents it fails (DocumentReporter); Index also those it indexes.
    'functions/rag/plan.ts': [DOCUMENT_INDEXED],
    'functions/rag/chunk.ts': [DOCUMENT_INDEXED],
    'functions/rag/embed.ts': [DOCUMENT_INDEXED],
    'functions/rag/index-chunks.ts': [DOCUMENT_INDEXED],
    'functions/rag/finish.ts': [DOCUMENT_INDEXED],
    // The promotion gate: a refused production move starts the evaluation it needs; a forced one is recorded.
    'functions/api/prompts.ts': [EVALUATION_REQUESTED, PROMPT_GATE_OVERRIDDEN],
    'functions/api/evaluations.ts': [EVALUATION_REQUESTED],
    // Generate answers through the gateway code path, which records each answer as chat does.
    'functions/evaluation/generate.ts': [INTERACTION_RECORDED],
    'functions/evaluation/report.ts': [EVALUATION_COMPLETED],
    // A baseline request starts the DriftCheck; a drift alarm becomes DriftDetected, which starts an evaluation.
    'functions/api/drift.ts': [DRIFT_CHECK_REQUESTED],
    'functions/drift/on-alarm.ts': [DRIFT_DETECTED],
    'functions/drift/start-evaluation.ts': [EVALUATION_REQUESTED],
    // Fine-tuning: a job request starts FineTune; Register announces the candidate, the candidate steps ask
    // for its evaluation, and a rollout reports what it deployed.
    'functions/api/finetune.ts': [FINETUNE_REQUESTED],
    'functions/finetune/register.ts': [MODEL_REGISTERED],
    'functions/finetune/candidate.ts': [EVALUATION_REQUESTED],
    'functions/finetune/rollout.ts': [MODEL_DEPLOYED],
    // Feedback: an export announces the pairs it wrote; the closed loop announces each rollback decision.
    'functions/feedback/export.ts': [FEEDBACK_THRESHOLD_REACHED],
    'functions/loop/on-event.ts': [ROLLED_BACK],
  };
  /** What each kind of schedule puts (through the role it is delivered with), by the role's construct. */
  const SCHEDULES_PUBLISH: Record<string, string[]> = {
    EvaluationScheduleRole: [EVALUATION_REQUESTED],
    DriftScheduleRole: [DRIFT_CHECK_REQUESTED],
    FeedbackScheduleRole: [FEEDBACK_EXPORT_REQUESTED],
  };

  /** The one statement a publisher of `detailTypes` holds: on the project bus, for exactly those events. */
  const putStatement = (busId: string, detailTypes: string[]) => ({
    Effect: 'Allow',
    Action: 'events:PutEvents',
    Resource: { 'Fn::GetAtt': [busId, 'Arn'] },
    Condition: {
      'ForAllValues:StringEquals': {
        'events:source': [LLMOPS_SOURCE],
        'events:detail-type': sorted(detailTypes),
      },
      Null: { 'events:source': 'false', 'events:detail-type': 'false' },
    },
  });
  const putsOf = (statements: Statement[]) =>
    statements.filter((s) => s.Effect === 'Allow' && list(s.Action).includes('events:PutEvents'));

  it.each(['dev', 'prod'] as const)(
    '%s: each publisher may put only its own source and detail-type, on the project bus; no one else may put',
    (p) => {
      const { json } = p === 'dev' ? dev : prod;
      const [busId] = resourcesOfType(json, 'AWS::Events::EventBus')[0] as [string, CfnResource];
      const granted = new Map<string, Statement[]>();
      for (const [entry, fn] of functionsByEntry(json)) {
        const puts = putsOf(statementsOf(json, fn));
        if (puts.length > 0) granted.set(entry, puts);
      }
      expect(sorted(granted.keys())).toEqual(sorted(Object.keys(PUBLISHERS)));
      for (const [entry, puts] of granted) {
        expect(puts, entry).toEqual([putStatement(busId, PUBLISHERS[entry] ?? [])]);
      }
      // No other role of the stack may put, but the one the schedules are delivered with, and it only
      // what the schedules put.
      const functionRoles = new Set([...functionsByEntry(json).values()].map(roleIdOf));
      const scheduleRoles = sorted(
        new Set(
          resourcesOfType(json, 'AWS::Scheduler::Schedule').map(
            ([, r]) => props(r).Target.RoleArn['Fn::GetAtt'][0] as string,
          ),
        ),
      );
      expect(scheduleRoles).toHaveLength(Object.keys(SCHEDULES_PUBLISH).length);
      const otherPutters = resourcesOfType(json, 'AWS::IAM::Role')
        .map(([id]) => id)
        .filter((id) => !functionRoles.has(id) && putsOf(roleStatements(json, id)).length > 0);
      expect(sorted(otherPutters)).toEqual(scheduleRoles);
      for (const roleId of scheduleRoles) {
        const kind = Object.keys(SCHEDULES_PUBLISH).find((prefix) => roleId.startsWith(prefix));
        expect(kind, roleId).toBeDefined();
        expect(putsOf(roleStatements(json, roleId)), roleId).toEqual([
          putStatement(busId, SCHEDULES_PUBLISH[kind ?? ''] ?? []),
        ]);
      }
    },
  );
});

describe('the admin routes (REST API resource policy)', () => {
  const pattern = (method: string, path: string) =>
    `execute-api:/*/${method}${path.replace(/\{[^}/]+\}/g, '*')}`;
  const admin = API_ROUTES.filter((r) => r.auth === 'iam').map((r) => pattern(r.method, r.path));
  const reviewer = API_ROUTES.filter((r) => r.auth === 'reviewer').map((r) => pattern(r.method, r.path));
  const app = API_ROUTES.filter((r) => r.auth === 'apiKey').map((r) => pattern(r.method, r.path));
  const policyOf = (json: CfnTemplate) => {
    const [, api] = resourcesOfType(json, 'AWS::ApiGateway::RestApi')[0] as [string, CfnResource];
    return props(api).Policy.Statement as Statement[];
  };

  it('dev: app routes for any caller; admin routes for the stack AdminRole only, review routes for it and the stack ReviewerRole only, denied to every other principal', () => {
    const [roleId, role] = resourcesOfType(dev.json, 'AWS::IAM::Role').find(([id]) =>
      id.startsWith('AdminRole'),
    ) as [string, CfnResource];
    const roleArn = { 'Fn::GetAtt': [roleId, 'Arn'] };
    const policy = policyOf(dev.json);
    expect(policy.map((s) => s.Sid)).toEqual([
      'AppRoutesForAnyCaller',
      'AdminRoutesForAdminPrincipals',
      'AdminRoutesForNobodyElse',
      'ReviewerRoutesForReviewerAndAdminPrincipals',
      'ReviewerRoutesForNobodyElse',
    ]);
    const [appStatement, allow, deny, reviewAllow, reviewDeny] = policy as [
      Statement,
      Statement,
      Statement,
      Statement,
      Statement,
    ];
    expect(appStatement).toMatchObject({ Effect: 'Allow', Principal: { AWS: '*' } });
    expect(sorted(list(appStatement.Resource))).toEqual(sorted(app));
    expect(allow).toMatchObject({ Effect: 'Allow', Principal: { AWS: roleArn } });
    expect(sorted(list(allow.Resource))).toEqual(sorted(admin));
    expect(deny).toEqual({
      Sid: 'AdminRoutesForNobodyElse',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'execute-api:Invoke',
      Resource: expect.any(Array),
      Condition: { ArnNotEquals: { 'aws:PrincipalArn': [roleArn] } },
    });
    expect(sorted(list(deny.Resource))).toEqual(sorted(admin));
    // No admin route is reachable through the app statement.
    for (const route of admin) expect(app).not.toContain(route);
    // The role: assumable by the account (its administrators decide who), and an output to find it.
    expect(flatten(props(role).AssumeRolePolicyDocument.Statement[0].Principal.AWS)).toBe(
      'arn:<AWS::Partition>:iam::<AWS::AccountId>:root',
    );
    expect(dev.json.Outputs?.AdminRoleArn?.Value).toEqual(roleArn);

    // The review routes (the human review queue): the AdminRole and the stack's ReviewerRole, nobody else.
    const [reviewerId, reviewerRole] = resourcesOfType(dev.json, 'AWS::IAM::Role').find(([id]) =>
      id.startsWith('ReviewerRole'),
    ) as [string, CfnResource];
    const reviewerArn = { 'Fn::GetAtt': [reviewerId, 'Arn'] };
    expect(reviewer.length).toBeGreaterThan(0);
    expect(reviewAllow).toMatchObject({ Effect: 'Allow', Principal: { AWS: [roleArn, reviewerArn] } });
    expect(sorted(list(reviewAllow.Resource))).toEqual(sorted(reviewer));
    expect(reviewDeny).toEqual({
      Sid: 'ReviewerRoutesForNobodyElse',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'execute-api:Invoke',
      Resource: expect.any(Array),
      Condition: { ArnNotEquals: { 'aws:PrincipalArn': [roleArn, reviewerArn] } },
    });
    expect(sorted(list(reviewDeny.Resource))).toEqual(sorted(reviewer));
    // The ReviewerRole reaches no admin route, and no review route is open to any caller.
    for (const route of reviewer) {
      expect(app).not.toContain(route);
      expect(admin).not.toContain(route);
    }
    expect(flatten(props(reviewerRole).AssumeRolePolicyDocument.Statement[0].Principal.AWS)).toBe(
      'arn:<AWS::Partition>:iam::<AWS::AccountId>:root',
    );
    expect(roleStatements(dev.json, reviewerId)).toEqual([]);
    expect(dev.json.Outputs?.ReviewerRoleArn?.Value).toEqual(reviewerArn);
  });

  it('configured admin principals replace the AdminRole', () => {
    const [, allow, deny] = policyOf(custom.json) as [Statement, Statement, Statement];
    expect(allow.Principal).toEqual({ AWS: ADMINS });
    expect(deny.Condition).toEqual({ ArnNotEquals: { 'aws:PrincipalArn': ADMINS } });
    expect(
      resourcesOfType(custom.json, 'AWS::IAM::Role').filter(([id]) => id.startsWith('AdminRole')),
    ).toEqual([]);
    expect(custom.json.Outputs?.AdminRoleArn).toBeUndefined();
  });

  it('api.adminPrincipals takes IAM role and user ARNs only', () => {
    const withAdmins = (adminPrincipals: string[]) =>
      profileConfigSchema.safeParse({ ...DEV, api: { ...DEV.api, adminPrincipals } });
    expect(withAdmins(ADMINS).success).toBe(true);
    for (const bad of [
      '*',
      '123456789012',
      'arn:aws:sts::123456789012:assumed-role/admin/session',
      'arn:aws:iam::123456789012:root',
    ]) {
      const result = withAdmins([bad]);
      expect(result.success, bad).toBe(false);
      expect(result.error?.issues[0]?.path, bad).toEqual(['api', 'adminPrincipals', 0]);
    }
  });
});

describe('VPC endpoint policies (OpenSearch store)', () => {
  /** The endpoint of each service, by the end of its service name. */
  const SERVICE_OF_PREFIX: Record<string, string> = {
    bedrock: 'bedrock-runtime',
    sagemaker: 'sagemaker.runtime',
    events: 'events',
    s3: 's3',
    dynamodb: 'dynamodb',
  };
  /** Actions that do not go through the VPC's endpoints (the service calls KMS; Lambda attaches ENIs). */
  const NOT_THROUGH_ENDPOINTS = /^(kms|logs|xray|ec2|aoss):/;

  const endpoints = (json: CfnTemplate) =>
    new Map(
      resourcesOfType(json, 'AWS::EC2::VPCEndpoint').map(([, r]) => [
        flatten(props(r).ServiceName).replace(/^com\.amazonaws\.<AWS::Region>\./, ''),
        props(r).PolicyDocument?.Statement as Statement[] | undefined,
      ]),
    );

  it('every endpoint admits only principals of this account (and, but for Bedrock models, its resources)', () => {
    const found = endpoints(prod.json);
    expect(sorted(found.keys())).toEqual(sorted(Object.values(SERVICE_OF_PREFIX)));
    for (const [service, statements] of found) {
      expect(statements, service).toBeDefined();
      for (const s of statements ?? []) {
        expect(s.Effect, service).toBe('Allow');
        expect(
          list(s.Action).some((a) => a.includes('*')),
          service,
        ).toBe(false);
        expect(s.Condition?.StringEquals?.['aws:PrincipalAccount'], service).toEqual({
          Ref: 'AWS::AccountId',
        });
        if (service !== 'bedrock-runtime') {
          expect(s.Condition?.StringEquals?.['aws:ResourceAccount'], service).toEqual({
            Ref: 'AWS::AccountId',
          });
        }
      }
    }
  });

  it('covers every action the functions in the VPC are granted on the endpoints’ services, and no more services', () => {
    const found = endpoints(prod.json);
    const inVpc = [...functionsByEntry(prod.json)].filter(([, fn]) => props(fn).VpcConfig !== undefined);
    expect(sorted(inVpc.map(([entry]) => entry))).toEqual([
      'functions/api/chat.ts',
      'functions/api/rag.ts',
      'functions/evaluation/generate.ts',
      'functions/rag/index-chunks.ts',
    ]);
    const needed = new Set<string>();
    for (const [entry, fn] of inVpc) {
      for (const s of statementsOf(prod.json, fn).filter((x) => x.Effect === 'Allow')) {
        for (const action of list(s.Action)) {
          if (NOT_THROUGH_ENDPOINTS.test(action)) continue;
          const service = SERVICE_OF_PREFIX[action.split(':')[0] ?? ''];
          expect(service, `${entry}: ${action} has no VPC endpoint`).toBeDefined();
          const allowed = (found.get(service ?? '') ?? []).flatMap((x) => list(x.Action));
          expect(allowed, `${entry}: ${action} is not allowed by the ${service} endpoint`).toContain(action);
          needed.add(action);
        }
      }
    }
    // The endpoints allow nothing that no function in the VPC needs (other than the tagged-endpoint and
    // guardrail actions, which the chat role holds too).
    const allowedActions = [...found.values()].flatMap((statements) =>
      (statements ?? []).flatMap((s) => list(s.Action)),
    );
    for (const action of allowedActions) expect(needed, action).toContain(action);
  });
});
