/**
 * RagIngest in the synthesized stack: the state machine (states, Map, catches, retries), the two trigger
 * rules and how S3 events are split between RagIngest and DataPrep (with the local EventBridge matcher),
 * the documents table, the environment and the grants of each RAG function, and where the vector store is
 * reached from: with OpenSearch (prod's store) only the Index function, the API's chat and rag functions
 * and Evaluate's Generate (which answers through the gateway code path, as chat) run in the store's VPC;
 * with S3 Vectors (dev's store) there is no VPC at all.
 *
 * Three stacks are synthesized: prod, and dev with `-c vectorStore=opensearch`, without the cdk-nag plugin
 * or the CloudFormation validator (llmops-stack.test.ts and cdk-nag.test.ts gate those options), and dev
 * (S3 Vectors) with the cdk-nag plugin.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { datasetReadyEvent } from '#events/dataset-ready.ts';
import { s3ObjectCreatedEvent, s3ObjectDeletedEvent } from '#events/s3-object-created.ts';
import { rawSample } from '#events/samples.ts';
import { matchesPattern } from '#infra/local/event-pattern.ts';
import { functionsByEntry, list, roleIdOf, roleStatements, type Statement } from './support/iam.ts';
import {
  type CfnJson,
  type CfnResource,
  type CfnTemplate,
  flatten,
  logicalIdsOfType,
  resourcesOfType,
  type Synthesized,
  synth,
} from './support/synth.ts';

let dev: Synthesized;
let prod: Synthesized;
let s3v: Synthesized;

beforeAll(() => {
  const fast = { nag: false, cfnValidation: false };
  dev = synth({ profile: 'dev', vectorStore: 'opensearch' }, fast);
  prod = synth({ profile: 'prod' }, fast);
  s3v = synth({ profile: 'dev' }, { cfnValidation: false });
});

const byProfile = (p: 'dev' | 'prod') => (p === 'dev' ? dev : prod);

const props = (r: CfnResource) => (r.Properties ?? {}) as Record<string, CfnJson>;
const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

function only(
  json: CfnTemplate,
  type: string,
  predicate: (r: CfnResource, id: string) => boolean = () => true,
): [string, CfnResource] {
  const found = resourcesOfType(json, type).filter(([id, r]) => predicate(r, id));
  expect(found, `exactly one ${type}`).toHaveLength(1);
  return found[0] as [string, CfnResource];
}

const ENTRIES = {
  plan: 'functions/rag/plan.ts',
  chunk: 'functions/rag/chunk.ts',
  embed: 'functions/rag/embed.ts',
  index: 'functions/rag/index-chunks.ts',
  finish: 'functions/rag/finish.ts',
  chat: 'functions/api/chat.ts',
  ragApi: 'functions/api/rag.ts',
  generate: 'functions/evaluation/generate.ts',
} as const;
type Fn = keyof typeof ENTRIES;

function functionOf(json: CfnTemplate, fn: Fn): [string, CfnResource] {
  return only(json, 'AWS::Lambda::Function', (r) => r.Metadata?.['llmops:entry'] === ENTRIES[fn]);
}

const envOf = (json: CfnTemplate, fn: Fn): Record<string, CfnJson> =>
  props(functionOf(json, fn)[1]).Environment.Variables;

const roleOf = (json: CfnTemplate, fn: Fn): string => props(functionOf(json, fn)[1]).Role['Fn::GetAtt'][0];

/** A house function's name in {@link ENTRIES}, or its entry when it has none there. */
const nameOf = (entry: string): string =>
  (Object.keys(ENTRIES) as Fn[]).find((fn) => ENTRIES[fn] === entry) ?? entry;

/**
 * Every house function of the stack whose role is allowed an action matching `action` (not only those of
 * {@link ENTRIES}, so that another function granted the action shows up), by name, sorted.
 */
function functionsAllowed(json: CfnTemplate, action: RegExp): string[] {
  return [...functionsByEntry(json)]
    .filter(([, fn]) =>
      roleStatements(json, roleIdOf(fn)).some(
        (st) => st.Effect === 'Allow' && list(st.Action).some((a) => action.test(a)),
      ),
    )
    .map(([entry]) => nameOf(entry))
    .sort();
}

/** The functions of the stack (house functions and others) that run in a VPC, by entry. */
function vpcFunctions(json: CfnTemplate): string[] {
  return resourcesOfType(json, 'AWS::Lambda::Function')
    .filter(([, r]) => props(r).VpcConfig !== undefined)
    .map(([id, r]) => String(r.Metadata?.['llmops:entry'] ?? id))
    .sort();
}

function ragStateMachine(json: CfnTemplate): [string, CfnResource] {
  return only(
    json,
    'AWS::StepFunctions::StateMachine',
    (r) => r.Metadata?.['llmops:pipeline'] === 'RagIngest',
  );
}

const definitionOf = (json: CfnTemplate): CfnJson =>
  JSON.parse(flatten(props(ragStateMachine(json)[1]).DefinitionString));

/** The RagIngest trigger: the pipe that starts the state machine, and the queue it drains. */
function ragTrigger(json: CfnTemplate): { pipeId: string; pipe: CfnResource; queueId: string } {
  const target = JSON.stringify(ref(ragStateMachine(json)[0]));
  const [pipeId, pipe] = only(json, 'AWS::Pipes::Pipe', (r) => JSON.stringify(props(r).Target) === target);
  return { pipeId, pipe, queueId: props(pipe).Source['Fn::GetAtt'][0] };
}

/** The rules whose targets include the RagIngest trigger queue (the rules that start RagIngest). */
function ragRules(json: CfnTemplate): [string, CfnResource][] {
  const target = JSON.stringify(arnOf(ragTrigger(json).queueId));
  return resourcesOfType(json, 'AWS::Events::Rule').filter(([, r]) =>
    ((props(r).Targets ?? []) as CfnJson[]).some((t) => JSON.stringify(t.Arn) === target),
  );
}

const ragRule = (json: CfnTemplate, source: string): [string, CfnResource] => {
  const found = ragRules(json).filter(([, r]) => props(r).EventPattern.source.includes(source));
  expect(found, `one RagIngest rule for ${source}`).toHaveLength(1);
  return found[0] as [string, CfnResource];
};

const dataPrepRule = (json: CfnTemplate): [string, CfnResource] => {
  const [smId] = only(
    json,
    'AWS::StepFunctions::StateMachine',
    (r) => r.Metadata?.['llmops:pipeline'] === 'DataPrep',
  );
  return only(
    json,
    'AWS::Events::Rule',
    (r) =>
      props(r).EventPattern?.source?.includes('aws.s3') &&
      (props(r).Targets as CfnJson[]).some((t) => JSON.stringify(t.Arn) === JSON.stringify(ref(smId))),
  );
};

const rawBucketId = (json: CfnTemplate): string =>
  only(json, 'AWS::S3::Bucket', (_r, id) => id.startsWith('StorageRaw'))[0];
const artifactsBucketId = (json: CfnTemplate): string =>
  only(json, 'AWS::S3::Bucket', (_r, id) => id.startsWith('StorageArtifacts'))[0];
const _curatedBucketId = (json: CfnTemplate): string =>
  only(json, 'AWS::S3::Bucket', (_r, id) => id.startsWith('StorageCurated'))[0];
const keyId = (json: CfnTemplate): string => only(json, 'AWS::KMS::Key')[0];
const busId = (json: CfnTemplate): string => only(json, 'AWS::Events::EventBus')[0];

/** The documents table: the one the Plan function is given as DOCUMENTS_TABLE. */
function documentsTable(json: CfnTemplate): [string, CfnResource] {
  const id = envOf(json, 'plan').DOCUMENTS_TABLE.Ref as string;
  const table = json.Resources[id] as CfnResource;
  expect(table.Type).toBe('AWS::DynamoDB::Table');
  return [id, table];
}

/** The embedding model of the configuration, from the catalog. */
function embeddingCatalogEntry(s: Synthesized): CfnJson {
  const model = s.config.models.catalog.find((m) => m.id === s.config.models.embeddingModelId);
  expect(model?.kind).toBe('embedding');
  return model;
}

/**
 * The RAG documents that RagIngest parses itself (listed here, not imported, so that a change to the
 * list in `infra/constructs/data-prep.ts` is a visible change to this test).
 */
const RAG_DOCUMENT_WILDCARDS = [
  'raw/rag/*.md',
  'raw/rag/*.MD',
  'raw/rag/*.markdown',
  'raw/rag/*.MARKDOWN',
  'raw/rag/*.txt',
  'raw/rag/*.TXT',
  'raw/rag/*.html',
  'raw/rag/*.HTML',
  'raw/rag/*.htm',
  'raw/rag/*.HTM',
  'raw/rag/*.pdf',
  'raw/rag/*.PDF',
];
const DOCUMENT_EXTENSIONS = ['md', 'markdown', 'txt', 'html', 'htm', 'pdf'].flatMap((e) => [
  e,
  e.toUpperCase(),
]);

const LAMBDA_SERVICE_ERRORS = [
  'Lambda.TooManyRequestsException',
  'Lambda.ServiceException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
];
const STEP_ERRORS = ['TransientError', 'ThrottledError', 'ModelProviderError', 'TimeoutError'];

describe('RagIngest state machine', () => {
  it('is STANDARD, traced, with a 6 hour timeout, in JSONPath', () => {
    const [, sm] = ragStateMachine(dev.json);
    expect(props(sm).StateMachineType).toBe('STANDARD');
    expect(props(sm).TracingConfiguration).toEqual({ Enabled: true });
    const def = definitionOf(dev.json);
    expect(def.TimeoutSeconds).toBe(6 * 3600);
    expect(def.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
    expect(JSON.stringify(def)).not.toMatch(/JSONata|\{%/);
  });

  it('Plan → AnyBatches? → Batches → Finish → AnyFailed? → DocumentsFailed (Fail) | Done', () => {
    const def = definitionOf(dev.json);
    expect(def.StartAt).toBe('Plan');
    expect(Object.keys(def.States).sort()).toEqual(
      ['AnyBatches?', 'AnyFailed?', 'Batches', 'Done', 'DocumentsFailed', 'Finish', 'Plan'].sort(),
    );
    expect(def.States.Plan.Next).toBe('AnyBatches?');
    // A run with nothing to do (everything unchanged) starts no Map Run.
    expect(def.States['AnyBatches?']).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.batchCount', NumericGreaterThan: 0, Next: 'Batches' }],
      Default: 'Finish',
    });
    expect(def.States.Batches.Next).toBe('Finish');
    expect(def.States.Finish.Next).toBe('AnyFailed?');
    expect(def.States['AnyFailed?']).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.status', StringEquals: 'FAILED', Next: 'DocumentsFailed' }],
      Default: 'Done',
    });
    expect(def.States.DocumentsFailed).toEqual({
      Type: 'Fail',
      Error: 'DocumentsFailed',
      CausePath: '$.summary',
    });
    expect(def.States.Done).toEqual({ Type: 'Succeed' });
    // A failure of Plan, the Map Run itself (items or results unreadable) or Finish fails the execution
    // (and reaches the failure handler); a failed batch is a failed child, tolerated by the Map.
    expect(def.States.Plan.Catch).toBeUndefined();
    expect(def.States.Batches.Catch).toBeUndefined();
    expect(def.States.Finish.Catch).toBeUndefined();
  });

  it.each(['dev', 'prod'] as const)(
    '%s: Batches is a Distributed Map of STANDARD children over the items Plan staged, results to S3, every failure tolerated',
    (p) => {
      const s = byProfile(p);
      const map = definitionOf(s.json).States.Batches;
      const artifacts = `<${artifactsBucketId(s.json)}>`;
      expect(map.Type).toBe('Map');
      expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
      expect(map.MaxConcurrency).toBe(s.config.rag.maxConcurrency);
      expect(map.MaxConcurrency).toBe(p === 'dev' ? 4 : 10);
      expect(map.ItemsPath).toBeUndefined();
      expect(map.ItemReader).toEqual({
        Resource: 'arn:<AWS::Partition>:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSONL' },
        Parameters: { Bucket: artifacts, 'Key.$': '$.items.key' },
      });
      // An item is a batch reference; documents (up to maxDocumentBytes) never ride in a child's input.
      expect(map.ItemBatcher).toBeUndefined();
      expect(map.ItemSelector).toEqual({ 'runId.$': '$.runId', 'batch.$': '$$.Map.Item.Value' });
      expect(map.ToleratedFailurePercentage).toBe(100);
      expect(map.Label).toBe('Batches');
      expect(map.ResultWriter).toEqual({
        Resource: 'arn:<AWS::Partition>:states:::s3:putObject',
        Parameters: { Bucket: artifacts, Prefix: 'staging/rag/map-runs' },
      });
      expect(map.ResultPath).toBe('$.mapRun');
    },
  );

  it('per batch: IsDeletion? → Index | Chunk → Embed → Index; a step that fails after its retries fails the child', () => {
    const iterator = definitionOf(dev.json).States.Batches.ItemProcessor;
    expect(iterator.StartAt).toBe('IsDeletion?');
    expect(Object.keys(iterator.States).sort()).toEqual(['Chunk', 'Embed', 'Index', 'IsDeletion?'].sort());
    expect(iterator.States['IsDeletion?']).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.batch.kind', StringEquals: 'delete', Next: 'Index' }],
      Default: 'Chunk',
    });
    expect(iterator.States.Chunk.Next).toBe('Embed');
    expect(iterator.States.Embed.Next).toBe('Index');
    expect(iterator.States.Index.End).toBe(true);
    expect(iterator.States.Index.Next).toBeUndefined();
    // Finish reads a failed child's input, error and cause from the Map Run's FAILED result file.
    for (const name of ['Chunk', 'Embed', 'Index']) expect(iterator.States[name].Catch, name).toBeUndefined();
  });

  it('its role reads only the items prefix and writes only the results prefix of the artifacts bucket, the key through S3 only', () => {
    const [, sm] = ragStateMachine(dev.json);
    const roleId = props(sm).RoleArn['Fn::GetAtt'][0] as string;
    const statements = roleStatements(dev.json, roleId);
    const artifacts = `<${artifactsBucketId(dev.json)}.Arn>`;
    const s3 = statements.filter((st) => list(st.Action).some((a) => a.startsWith('s3:')));
    expect(
      s3.map((st) => [list(st.Resource).map(flatten), [...list(st.Action)].sort(), st.Condition]).sort(),
    ).toEqual(
      [
        [[`${artifacts}/staging/rag/items/*`], ['s3:GetObject'], undefined],
        [
          [`${artifacts}/staging/rag/map-runs/*`],
          ['s3:AbortMultipartUpload', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject'],
          undefined,
        ],
      ].sort(),
    );
    const kms = statements.filter((st) => list(st.Action).some((a) => a.startsWith('kms:')));
    expect(kms).toHaveLength(1);
    expect([...list((kms[0] as Statement).Action)].sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(list((kms[0] as Statement).Resource)).toEqual([arnOf(keyId(dev.json))]);
    expect(flatten((kms[0] as Statement).Condition?.StringEquals?.['kms:ViaService'])).toBe(
      's3.<AWS::Region>.amazonaws.com',
    );
    // The child executions: started as executions of this state machine, described, stopped and
    // redriven as executions of it (the Map Run label's, for redrive).
    const states = statements.filter((st) => list(st.Action).some((a) => a.startsWith('states:')));
    const [smId] = ragStateMachine(dev.json);
    const executions = `arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${smId}"}]}]}`;
    expect(states.map((st) => [[...list(st.Action)].sort(), list(st.Resource).map(flatten)]).sort()).toEqual(
      [
        [['states:StartExecution'], [`<${smId}>`]],
        [['states:DescribeExecution', 'states:StopExecution'], [`${executions}:*`]],
        [['states:RedriveExecution'], [`${executions}/Batches:*`]],
      ].sort(),
    );
  });

  it('each task invokes its function, keeps the Payload, and retries Lambda service and transient step errors', () => {
    const def = definitionOf(dev.json);
    const iterator = def.States.Batches.ItemProcessor.States;
    expect(def.States.Batches.ItemProcessor.ProcessorConfig.Mode).toBe('DISTRIBUTED');
    const tasks: Record<string, [CfnJson, Fn]> = {
      Plan: [def.States.Plan, 'plan'],
      Chunk: [iterator.Chunk, 'chunk'],
      Embed: [iterator.Embed, 'embed'],
      Index: [iterator.Index, 'index'],
      Finish: [def.States.Finish, 'finish'],
    };
    for (const [name, [task, fn]] of Object.entries(tasks)) {
      expect(task.Type, name).toBe('Task');
      expect(task.Resource, name).toMatch(/:states:::lambda:invoke$/);
      expect(task.OutputPath, name).toBe('$.Payload');
      expect(task.Parameters.FunctionName, name).toBe(`<${functionOf(dev.json, fn)[0]}.Arn>`);
      if (name === 'Plan') {
        // The execution name identifies the run across retries.
        expect(task.Parameters.Payload, name).toEqual({
          'event.$': '$',
          'executionName.$': '$$.Execution.Name',
        });
      } else {
        expect(task.Parameters['Payload.$'], name).toBe('$');
      }
      const retry = task.Retry as { ErrorEquals: string[]; MaxAttempts: number }[];
      expect(retry.flatMap((r) => r.ErrorEquals).sort(), name).toEqual(
        [...LAMBDA_SERVICE_ERRORS, ...STEP_ERRORS].sort(),
      );
      for (const r of retry) expect(r.MaxAttempts, name).toBeGreaterThan(0);
    }
  });

  it('its role invokes exactly the five RagIngest functions', () => {
    const [, sm] = ragStateMachine(dev.json);
    const roleId = props(sm).RoleArn['Fn::GetAtt'][0] as string;
    const invoked = roleStatements(dev.json, roleId)
      .filter((st) => list(st.Action).includes('lambda:InvokeFunction'))
      .flatMap((st) => list(st.Resource).map(flatten));
    const fns = (['plan', 'chunk', 'embed', 'index', 'finish'] as const).map(
      (fn) => `<${functionOf(dev.json, fn)[0]}.Arn>`,
    );
    expect(invoked.sort()).toEqual([...fns, ...fns.map((f) => `${f}:*`)].sort());
  });
});

describe('RagIngest triggers', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: documents created or deleted under raw/rag/ in the raw bucket (default bus)',
    (p) => {
      const s = byProfile(p);
      const [, rule] = ragRule(s.json, 'aws.s3');
      expect(props(rule).EventBusName).toBeUndefined(); // the default bus, where S3 sends its events
      expect(props(rule).EventPattern).toEqual({
        source: ['aws.s3'],
        'detail-type': ['Object Created', 'Object Deleted'],
        detail: {
          bucket: { name: [ref(rawBucketId(s.json))] },
          object: { key: RAG_DOCUMENT_WILDCARDS.map((wildcard) => ({ wildcard })) },
        },
      });
    },
  );

  it.each(['dev', 'prod'] as const)('%s: llmops.DatasetReady with purpose rag (project bus)', (p) => {
    const s = byProfile(p);
    const [, rule] = ragRule(s.json, 'llmops');
    expect(props(rule).EventBusName).toEqual(ref(busId(s.json)));
    expect(props(rule).EventPattern).toEqual({
      source: ['llmops'],
      'detail-type': ['llmops.DatasetReady'],
      detail: { purpose: ['rag'] },
    });
  });

  it.each(['dev', 'prod'] as const)(
    '%s: exactly these two rules start RagIngest (through its trigger queue), with the whole event, retries and the trigger DLQ',
    (p) => {
      const s = byProfile(p);
      const rules = ragRules(s.json);
      expect(rules.map(([id]) => id).sort()).toEqual(
        [ragRule(s.json, 'aws.s3')[0], ragRule(s.json, 'llmops')[0]].sort(),
      );
      const dlqIds = new Set<string>();
      for (const [id, rule] of rules) {
        const targets = props(rule).Targets as CfnJson[];
        expect(targets, id).toHaveLength(1);
        const [target] = targets;
        expect(target.Arn, id).toEqual(arnOf(ragTrigger(s.json).queueId));
        expect(target.Input ?? target.InputPath ?? target.InputTransformer, id).toBeUndefined();
        expect(target.RetryPolicy.MaximumRetryAttempts, id).toBeGreaterThan(0);
        expect(target.RetryPolicy.MaximumEventAgeInSeconds, id).toBeGreaterThan(0);
        dlqIds.add(target.DeadLetterConfig.Arn['Fn::GetAtt'][0]);
      }
      expect([...dlqIds]).toHaveLength(1);
      const [dlqId] = [...dlqIds] as [string];
      expect(dlqId).toMatch(/^RagIngestTriggerDeadLetterQueue/);
      const dlq = s.json.Resources[dlqId] as CfnResource;
      expect(dlq.Type).toBe('AWS::SQS::Queue');
      expect(props(dlq).KmsMasterKeyId).toEqual(arnOf(keyId(s.json)));
      // The same queue takes what the pipe could not start.
      const queue = s.json.Resources[ragTrigger(s.json).queueId] as CfnResource;
      expect(props(queue).RedrivePolicy.deadLetterTargetArn).toEqual(arnOf(dlqId));
    },
  );

  it.each(['dev', 'prod'] as const)(
    '%s: a pipe drains the trigger queue into one execution per batch of 25 events (FIRE_AND_FORGET)',
    (p) => {
      const s = byProfile(p);
      const { pipe, queueId } = ragTrigger(s.json);
      expect(props(pipe)).toMatchObject({
        Source: arnOf(queueId),
        Target: ref(ragStateMachine(s.json)[0]),
        DesiredState: 'RUNNING',
        SourceParameters: { SqsQueueParameters: { BatchSize: 25, MaximumBatchingWindowInSeconds: 10 } },
        TargetParameters: { StepFunctionStateMachineParameters: { InvocationType: 'FIRE_AND_FORGET' } },
      });
      // No input template: the execution's input is the array of SQS records, which Plan parses.
      expect(props(pipe).TargetParameters.InputTemplate).toBeUndefined();
      expect(props(s.json.Resources[queueId] as CfnResource).KmsMasterKeyId).toEqual(arnOf(keyId(s.json)));
    },
  );
});

describe('routing S3 events between RagIngest and DataPrep (EventBridge semantics)', () => {
  const RAW_BUCKET = 'llmops-dev-raw-example';

  /** Replaces `{Ref: id}` in a pattern with a physical name, as CloudFormation would. */
  function resolve(value: unknown, refs: Record<string, string>): unknown {
    if (Array.isArray(value)) return value.map((v) => resolve(v, refs));
    if (value && typeof value === 'object') {
      const o = value as Record<string, unknown>;
      if ('Ref' in o) {
        const name = refs[String(o.Ref)];
        if (name === undefined) throw new Error(`unresolved Ref ${String(o.Ref)}`);
        return name;
      }
      return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolve(v, refs)]));
    }
    return value;
  }

  const patterns = () => {
    const refs = { [rawBucketId(dev.json)]: RAW_BUCKET };
    return {
      upload: resolve(props(ragRule(dev.json, 'aws.s3')[1]).EventPattern, refs),
      dataPrep: resolve(props(dataPrepRule(dev.json)[1]).EventPattern, refs),
      dataset: props(ragRule(dev.json, 'llmops')[1]).EventPattern,
    };
  };

  function created(key: string, bucket = RAW_BUCKET): unknown {
    const sample = rawSample('s3-object-created') as CfnJson;
    return s3ObjectCreatedEvent.parse({
      ...sample,
      resources: [`arn:aws:s3:::${bucket}`],
      detail: { ...sample.detail, bucket: { name: bucket }, object: { ...sample.detail.object, key } },
    });
  }

  function deleted(key: string): unknown {
    const sample = rawSample('s3-object-created') as CfnJson;
    return s3ObjectDeletedEvent.parse({
      ...sample,
      'detail-type': 'Object Deleted',
      detail: {
        version: '0',
        bucket: { name: RAW_BUCKET },
        object: { key, 'version-id': 'Z1x2Y3w4V5u6T7s8R9q0P1o2N3m4L5k6', sequencer: '00617F0829A1B2C3D4' },
        'request-id': 'N4N7GDK58NMKJ12S',
        requester: '111122223333',
        'source-ip-address': '203.0.113.15',
        reason: 'DeleteObject',
        'deletion-type': 'Delete Marker Created',
      },
    });
  }

  const documents = [
    ...DOCUMENT_EXTENSIONS.map((ext) => `raw/rag/guides/setup.${ext}`),
    'raw/rag/readme.md',
    'raw/rag/a/b/c/Manual.PDF',
  ];

  it.each(documents)('%s: created or deleted → RagIngest only', (key) => {
    const { upload, dataPrep } = patterns();
    expect(matchesPattern(upload, created(key))).toBe(true);
    expect(matchesPattern(dataPrep, created(key))).toBe(false);
    expect(matchesPattern(upload, deleted(key))).toBe(true);
    expect(matchesPattern(dataPrep, deleted(key))).toBe(false);
  });

  it.each([
    'raw/rag/x.jsonl', // JSONL under raw/rag/ is validated by DataPrep first, then its DatasetReady starts RagIngest
    'raw/finetune/a.jsonl',
    'raw/rag/notes.md.jsonl',
    'raw/finetune/readme.md', // a document outside raw/rag/
    'raw/rag.md',
  ])('%s: created → DataPrep only; deleted → neither', (key) => {
    const { upload, dataPrep } = patterns();
    expect(matchesPattern(dataPrep, created(key))).toBe(true);
    expect(matchesPattern(upload, created(key))).toBe(false);
    expect(matchesPattern(upload, deleted(key))).toBe(false);
    expect(matchesPattern(dataPrep, deleted(key))).toBe(false);
  });

  it('every object created in the raw bucket starts exactly one of the two pipelines', () => {
    const { upload, dataPrep } = patterns();
    for (const key of [
      ...documents,
      'raw/rag/x.jsonl',
      'raw/rag/x.Md',
      'raw/rag/x.docx',
      'raw/rag/',
      'raw/x.md',
      'rag/x.md',
      'x.pdf',
    ]) {
      const event = created(key);
      expect(Number(matchesPattern(upload, event)) + Number(matchesPattern(dataPrep, event)), key).toBe(1);
    }
  });

  it('objects of another bucket start neither', () => {
    const { upload, dataPrep } = patterns();
    for (const key of ['raw/rag/guide.md', 'raw/finetune/a.jsonl']) {
      const event = created(key, 'someone-elses-bucket');
      expect(matchesPattern(upload, event), key).toBe(false);
      expect(matchesPattern(dataPrep, event), key).toBe(false);
    }
  });

  it('DatasetReady starts RagIngest only for rag datasets', () => {
    const { dataset, upload, dataPrep } = patterns();
    const sample = rawSample('dataset-ready') as CfnJson;
    const ready = (purpose: string) =>
      datasetReadyEvent.parse({ ...sample, detail: { ...sample.detail, purpose } });
    expect(matchesPattern(dataset, ready('rag'))).toBe(true);
    for (const purpose of ['finetune', 'preference', 'golden']) {
      expect(matchesPattern(dataset, ready(purpose)), purpose).toBe(false);
    }
    expect(matchesPattern(upload, ready('rag'))).toBe(false);
    expect(matchesPattern(dataPrep, ready('rag'))).toBe(false);
  });
});

describe('documents table', () => {
  it('pk, gsi1 on gsi1pk/gsi1sk (all attributes), on-demand, encrypted with the project key', () => {
    const [, table] = documentsTable(dev.json);
    const p = props(table);
    expect(p.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    expect(p.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'gsi1',
        KeySchema: [
          { AttributeName: 'gsi1pk', KeyType: 'HASH' },
          { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ]);
    expect(p.SSESpecification).toEqual({
      KMSMasterKeyId: arnOf(keyId(dev.json)),
      SSEEnabled: true,
      SSEType: 'KMS',
    });
  });

  it.each(['dev', 'prod'] as const)('%s: PITR, deletion protection and retention follow the profile', (p) => {
    const [, table] = documentsTable(byProfile(p).json);
    expect(props(table).PointInTimeRecoverySpecification).toEqual({
      PointInTimeRecoveryEnabled: p === 'prod',
    });
    expect(props(table).DeletionProtectionEnabled).toBe(p === 'prod');
    expect(table.DeletionPolicy).toBe(p === 'prod' ? 'Retain' : 'Delete');
  });
});

describe('RAG functions', () => {
  const HOUSE = [
    'NODE_OPTIONS',
    'POWERTOOLS_SERVICE_NAME',
    'POWERTOOLS_METRICS_NAMESPACE',
    'POWERTOOLS_LOG_LEVEL',
    'LLMOPS_PROFILE',
  ];
  const COMMON = ['DOCUMENTS_TABLE', 'EVENT_BUS_NAME', 'VECTOR_STORE_KIND', 'ARTIFACTS_BUCKET'];
  const names = (...specific: string[]) => [...HOUSE, ...COMMON, ...specific].sort();
  const EXPECTED_NAMES: Record<'plan' | 'chunk' | 'embed' | 'finish', string[]> = {
    // Plan reads raw and curated objects where its event says (granted, not configured).
    plan: names(
      'CHUNK_MAX_TOKENS',
      'CHUNK_OVERLAP_TOKENS',
      'EMBEDDING_MODEL_ID',
      'MAX_DOCUMENT_BYTES',
      'DOCUMENT_BATCH_SIZE',
    ),
    chunk: names('CHUNK_MAX_TOKENS', 'CHUNK_OVERLAP_TOKENS'),
    embed: names('EMBEDDING_MODEL', 'EMBED_BATCH_SIZE', 'EMBED_CONCURRENCY'),
    finish: names(),
  };

  it.each(['plan', 'chunk', 'embed', 'finish'] as const)('%s: exactly its environment variables', (fn) => {
    expect(Object.keys(envOf(dev.json, fn)).sort()).toEqual(EXPECTED_NAMES[fn]);
  });

  it('index (OpenSearch): exactly its environment variables', () => {
    expect(Object.keys(envOf(dev.json, 'index')).sort()).toEqual(
      names('VECTOR_DIMENSIONS', 'OPENSEARCH_ENDPOINT', 'OPENSEARCH_INDEX'),
    );
  });

  it('the variables name the resources and settings they stand for', () => {
    const json = dev.json;
    const { rag } = dev.config;
    const [tableId] = documentsTable(json);
    for (const fn of ['plan', 'chunk', 'embed', 'index', 'finish'] as const) {
      expect(envOf(json, fn), fn).toMatchObject({
        DOCUMENTS_TABLE: ref(tableId),
        EVENT_BUS_NAME: ref(busId(json)),
        ARTIFACTS_BUCKET: ref(artifactsBucketId(json)),
        VECTOR_STORE_KIND: 'opensearch',
      });
    }
    expect(envOf(json, 'plan')).toMatchObject({
      CHUNK_MAX_TOKENS: String(rag.chunkMaxTokens),
      CHUNK_OVERLAP_TOKENS: String(rag.chunkOverlapTokens),
      EMBEDDING_MODEL_ID: dev.config.models.embeddingModelId,
      MAX_DOCUMENT_BYTES: String(rag.maxDocumentBytes),
      DOCUMENT_BATCH_SIZE: '25',
    });
    expect(envOf(json, 'chunk')).toMatchObject({
      CHUNK_MAX_TOKENS: String(rag.chunkMaxTokens),
      CHUNK_OVERLAP_TOKENS: String(rag.chunkOverlapTokens),
    });
    expect(envOf(json, 'embed')).toMatchObject({
      EMBED_BATCH_SIZE: String(rag.embedBatchSize),
      EMBED_CONCURRENCY: String(rag.embedConcurrency),
    });
    const model = embeddingCatalogEntry(dev);
    expect(JSON.parse(envOf(json, 'embed').EMBEDDING_MODEL)).toEqual(model);
    const [collectionId] = only(json, 'AWS::OpenSearchServerless::Collection');
    const [, index] = only(json, 'AWS::OpenSearchServerless::Index');
    expect(envOf(json, 'index')).toMatchObject({
      VECTOR_DIMENSIONS: String(model.dimensions),
      OPENSEARCH_ENDPOINT: { 'Fn::GetAtt': [collectionId, 'CollectionEndpoint'] },
      OPENSEARCH_INDEX: props(index).IndexName,
    });
  });

  it('Embed may invoke exactly the embedding model (bedrock:InvokeModel on its foundation-model ARN)', () => {
    const model = embeddingCatalogEntry(dev);
    expect(model.provider).toBe('bedrock');
    expect(model.modelId).not.toMatch(/^arn:/);
    const modelStatements = roleStatements(dev.json, roleOf(dev.json, 'embed')).filter((st) =>
      list(st.Action).some((a) => /^(bedrock|sagemaker):/.test(a)),
    );
    expect(modelStatements).toHaveLength(1);
    const [statement] = modelStatements as [Statement];
    expect(statement.Effect).toBe('Allow');
    expect(list(statement.Action)).toEqual(['bedrock:InvokeModel']);
    expect(list(statement.Resource).map(flatten)).toEqual([
      `arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/${model.modelId}`,
    ]);
    expect(statement.Condition).toBeUndefined();
  });

  it('no other RagIngest function may invoke a model', () => {
    for (const fn of ['plan', 'chunk', 'index', 'finish'] as const) {
      const statements = roleStatements(dev.json, roleOf(dev.json, fn));
      const actions = statements.flatMap((st) => list(st.Action));
      expect(
        actions.filter((a) => /^(bedrock|sagemaker):/.test(a)),
        fn,
      ).toEqual([]);
    }
  });
});

describe('vector store access: OpenSearch (prod, or -c vectorStore=opensearch)', () => {
  it.each(['dev', 'prod'] as const)(
    "%s: only Index, the API chat and rag functions and Evaluate's Generate run in the VPC, on its isolated subnets",
    (p) => {
      const s = byProfile(p);
      expect(vpcFunctions(s.json)).toEqual(
        [ENTRIES.chat, ENTRIES.ragApi, ENTRIES.index, ENTRIES.generate].sort(),
      );
      const subnets = resourcesOfType(s.json, 'AWS::EC2::Subnet');
      expect(subnets).toHaveLength(2);
      for (const [id, subnet] of subnets) {
        expect(props(subnet).MapPublicIpOnLaunch, id).toBe(false);
        expect(props(subnet).Tags, id).toContainEqual({ Key: 'aws-cdk:subnet-type', Value: 'Isolated' });
      }
      expect(logicalIdsOfType(s.json, 'AWS::EC2::InternetGateway')).toEqual([]);
      expect(logicalIdsOfType(s.json, 'AWS::EC2::NatGateway')).toEqual([]);
      const configs = (['index', 'chat', 'ragApi', 'generate'] as const).map(
        (fn) => props(functionOf(s.json, fn)[1]).VpcConfig,
      );
      for (const config of configs) {
        expect(config.SubnetIds).toEqual(subnets.map(([id]) => ref(id)));
        expect(config.SecurityGroupIds).toHaveLength(1);
        expect(config.SecurityGroupIds).toEqual(configs[0].SecurityGroupIds);
      }
    },
  );

  it('only Index, chat, rag and Generate may call the collection, each on the collection alone', () => {
    const [collectionId] = only(dev.json, 'AWS::OpenSearchServerless::Collection');
    expect(functionsAllowed(dev.json, /^aoss:/)).toEqual(['chat', 'generate', 'index', 'ragApi']);
    for (const fn of ['index', 'chat', 'ragApi', 'generate'] as const) {
      const aoss = roleStatements(dev.json, roleOf(dev.json, fn)).filter((st) =>
        list(st.Action).some((a) => a.startsWith('aoss:')),
      );
      expect(aoss, fn).toEqual([
        { Effect: 'Allow', Action: 'aoss:APIAccessAll', Resource: arnOf(collectionId) },
      ]);
    }
    // Also no S3 Vectors grants in this option.
    expect(functionsAllowed(dev.json, /^s3vectors:/)).toEqual([]);
  });

  it('the data access policy: Index reads and writes, chat, rag and Generate read', () => {
    const [, policy] = only(dev.json, 'AWS::OpenSearchServerless::AccessPolicy');
    // Fn::Sub (the deployment role) would break the JSON if flattened as an object: name it instead.
    const text = flatten(
      JSON.parse(JSON.stringify(props(policy).Policy).replace(/\{"Fn::Sub":"[^"]*"\}/g, '"<DeployRole>"')),
    );
    const rules = JSON.parse(text) as { Description: string; Principal: string[] }[];
    const principals = (description: string) =>
      rules
        .find((r) => r.Description === description)
        ?.Principal.slice()
        .sort();
    const roleArn = (fn: Fn) => `<${roleOf(dev.json, fn)}.Arn>`;
    expect(principals('Functions granted read-write access')).toEqual([roleArn('index')]);
    expect(principals('Functions granted read access')).toEqual(
      [roleArn('chat'), roleArn('ragApi'), roleArn('generate')].sort(),
    );
    expect(rules.flatMap((r) => r.Principal).sort()).toEqual(
      ['<DeployRole>', roleArn('index'), roleArn('chat'), roleArn('ragApi'), roleArn('generate')].sort(),
    );
  });

  it('the endpoint of the collection is only in the environment of the functions that may reach it', () => {
    const withEndpoint = [...functionsByEntry(dev.json)]
      .filter(([, fn]) => props(fn).Environment?.Variables?.OPENSEARCH_ENDPOINT !== undefined)
      .map(([entry]) => nameOf(entry))
      .sort();
    expect(withEndpoint).toEqual(['chat', 'generate', 'index', 'ragApi']);
  });
});

describe('vector store access: S3 Vectors (the dev default)', () => {
  it('no VPC, no OpenSearch: a vector bucket and its index only', () => {
    const types = new Set(Object.values(s3v.json.Resources).map((r) => r.Type));
    expect([...types].filter((t) => t.startsWith('AWS::EC2::'))).toEqual([]);
    expect([...types].filter((t) => t.startsWith('AWS::OpenSearchServerless::'))).toEqual([]);
    expect(logicalIdsOfType(s3v.json, 'AWS::S3Vectors::VectorBucket')).toHaveLength(1);
    expect(logicalIdsOfType(s3v.json, 'AWS::S3Vectors::Index')).toHaveLength(1);
    expect(vpcFunctions(s3v.json)).toEqual([]);
    const vpcPolicies = resourcesOfType(s3v.json, 'AWS::IAM::Policy').filter(([, r]) =>
      JSON.stringify(props(r).PolicyDocument).includes('ec2:'),
    );
    expect(vpcPolicies.map(([id]) => id)).toEqual([]);
  });

  it('Index: S3VECTORS_BUCKET and S3VECTORS_INDEX name the vector bucket and its index', () => {
    const [, bucket] = only(s3v.json, 'AWS::S3Vectors::VectorBucket');
    const [, index] = only(s3v.json, 'AWS::S3Vectors::Index');
    const env = envOf(s3v.json, 'index');
    expect(Object.keys(env).sort()).toEqual(
      [
        'NODE_OPTIONS',
        'POWERTOOLS_SERVICE_NAME',
        'POWERTOOLS_METRICS_NAMESPACE',
        'POWERTOOLS_LOG_LEVEL',
        'LLMOPS_PROFILE',
        'DOCUMENTS_TABLE',
        'EVENT_BUS_NAME',
        'VECTOR_STORE_KIND',
        'ARTIFACTS_BUCKET',
        'VECTOR_DIMENSIONS',
        'S3VECTORS_BUCKET',
        'S3VECTORS_INDEX',
      ].sort(),
    );
    expect(env).toMatchObject({
      VECTOR_STORE_KIND: 's3vectors',
      S3VECTORS_BUCKET: props(bucket).VectorBucketName,
      S3VECTORS_INDEX: props(index).IndexName,
    });
    for (const fn of ['plan', 'chunk', 'embed', 'finish'] as const) {
      expect(envOf(s3v.json, fn).VECTOR_STORE_KIND, fn).toBe('s3vectors');
    }
  });

  it('only Index writes the index; chat, rag and Generate read it', () => {
    const [indexId] = only(s3v.json, 'AWS::S3Vectors::Index');
    expect(functionsAllowed(s3v.json, /^s3vectors:/)).toEqual(['chat', 'generate', 'index', 'ragApi']);
    const actions = (fn: Fn) =>
      roleStatements(s3v.json, roleOf(s3v.json, fn))
        .filter((st) => list(st.Action).some((a) => a.startsWith('s3vectors:')))
        .map((st) => {
          expect(st.Resource, fn).toEqual({ 'Fn::GetAtt': [indexId, 'IndexArn'] });
          return list(st.Action).sort();
        });
    expect(actions('index')).toEqual([
      [
        's3vectors:DeleteVectors',
        's3vectors:GetVectors',
        's3vectors:ListVectors',
        's3vectors:PutVectors',
        's3vectors:QueryVectors',
      ],
    ]);
    for (const fn of ['chat', 'ragApi', 'generate'] as const) {
      expect(actions(fn), fn).toEqual([['s3vectors:GetVectors', 's3vectors:QueryVectors']]);
    }
  });

  it('cdk-nag reports nothing', () => {
    expect(s3v.validationViolations, JSON.stringify(s3v.validationViolations, null, 2)).toEqual([]);
  });
});
