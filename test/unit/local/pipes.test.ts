import { createHash } from 'node:crypto';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import { deploymentOf, loadConfig } from '#infra/config/index.ts';
import { LlmOpsAlerts } from '#infra/constructs/alerts.ts';
import { BatchedTrigger } from '#infra/constructs/batched-trigger.ts';
import { LlmOpsDeadLetterQueue } from '#infra/constructs/dead-letter-queue.ts';
import { deliverToQueue, type EventEnvelope } from '#infra/local/local-eventbridge.ts';
import {
  LocalPipes,
  LocalPipesError,
  type LocalPipesOptions,
  pipeRoleAuthorizer,
  type SqsRecord,
} from '#infra/local/pipes.ts';
import { LocalTemplate } from '#infra/local/template.ts';
import type { CfnJson } from '../../infra/support/synth.ts';

/**
 * The local EventBridge Pipes on the template that BatchedTrigger synthesizes (not a hand-written one): a
 * KMS-encrypted queue with a dead-letter queue, a pipe with BatchSize 3 and a 10 s window to a state
 * machine, and the pipe's role.
 */
const config = loadConfig({});

function synthesize(edit: (template: CfnJson) => void = () => undefined): LocalTemplate {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'PipeStack');
  const key = new kms.Key(stack, 'Key');
  const alerts = new LlmOpsAlerts(stack, 'Alerts', {
    deployment: deploymentOf(config),
    config: config.alerts,
    encryptionKey: key,
  });
  const machine = new sfn.StateMachine(stack, 'Machine', {
    definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Pass')),
  });
  const trigger = new BatchedTrigger(stack, 'Trigger', {
    stateMachine: machine,
    encryptionKey: key,
    deadLetterQueue: new LlmOpsDeadLetterQueue(stack, 'DeadLetters', {
      alerts,
      description: 'the test trigger',
      encryptionKey: key,
      allowEventBridge: true,
    }),
    alerts,
    batchSize: 3,
    maximumBatchingWindow: Duration.seconds(10),
    maxRecordBytes: 1024,
    maxReceiveCount: 2,
    description: 'test pipe',
  });
  new events.Rule(stack, 'Rule', { eventPattern: { source: ['test'] }, targets: [trigger.ruleTarget()] });
  const previous = process.env.CDK_VALIDATION;
  process.env.CDK_VALIDATION = 'false';
  try {
    const template = structuredClone(app.synth().getStackByName(stack.stackName).template) as CfnJson;
    edit(template);
    return new LocalTemplate(template, { region: 'us-east-1', account: '000000000000' });
  } finally {
    if (previous === undefined) delete process.env.CDK_VALIDATION;
    else process.env.CDK_VALIDATION = previous;
  }
}

const synthesized = synthesize();

/** The pipes of a template, with what they start and the work they hand over collected. */
function pipesOf(template: LocalTemplate, options: Partial<LocalPipesOptions> = {}) {
  const started: { pipe: string; records: readonly SqsRecord[] }[] = [];
  const depths: [string, number][] = [];
  const pending = new Set<Promise<unknown>>();
  const pipes = new LocalPipes(template, {
    region: 'us-east-1',
    startExecution: (pipe, records) => {
      started.push({ pipe: pipe.logicalId, records });
    },
    track: (work) => {
      const tracked = work.finally(() => pending.delete(tracked));
      pending.add(tracked);
    },
    onQueueDepth: (queue, visible) => depths.push([queue.logicalId, visible]),
    ...options,
  });
  /** What the runner's idle() does: wait until no work is left, including what work started. */
  const idle = async () => {
    while (pending.size > 0) await Promise.allSettled([...pending]);
  };
  const source = pipes.pipes[0]?.source.arn ?? '';
  return { pipes, started, depths, idle, pending, source };
}

const bodies = (records: readonly SqsRecord[]) => records.map((r) => r.body);

describe('LocalPipes from the synthesized template', () => {
  it('reads the pipe: its SQS source, its state machine target, BatchSize and window', () => {
    const { pipes } = pipesOf(synthesized);
    expect(pipes.pipes).toHaveLength(1);
    const [pipe] = pipes.pipes;
    expect(pipe).toMatchObject({
      batchSize: 3,
      windowSeconds: 10,
      desiredState: 'RUNNING',
      targetLogicalId: expect.stringMatching(/^Machine/),
      source: {
        logicalId: expect.stringMatching(/^TriggerQueue/),
        visibilityTimeoutSeconds: 70,
        kmsKeyArn: expect.stringMatching(/^arn:aws:kms:us-east-1:000000000000:key\//),
        redrive: { deadLetterArn: expect.stringMatching(/:DeadLetters/), maxReceiveCount: 2 },
      },
    });
  });

  it('starts a batch as soon as BatchSize messages wait, without waiting for the window, in arrival order', async () => {
    // A window of 10 s × 1000: only full batches can start during this test.
    const { pipes, started, source } = pipesOf(synthesized, { windowScale: 1000 });
    for (const n of [1, 2, 3, 4, 5, 6, 7]) pipes.sendMessage(source, `{"n":${n}}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(started.map((s) => bodies(s.records))).toEqual([
      ['{"n":1}', '{"n":2}', '{"n":3}'],
      ['{"n":4}', '{"n":5}', '{"n":6}'],
    ]);
    // The seventh waits for its window.
    expect(pipes.messages(source).map((m) => m.body)).toEqual(['{"n":7}']);
    pipes.stop();
  });

  it('starts what is waiting when the window closes, and idle() waits for the open window', async () => {
    const { pipes, started, idle, source } = pipesOf(synthesized, { windowScale: 0.005 });
    pipes.sendMessage(source, 'a');
    pipes.sendMessage(source, 'b');
    expect(started).toEqual([]);
    const t0 = performance.now();
    await idle();
    // 10 s × 0.005 = 50 ms (timers may fire a millisecond early).
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    expect(started.map((s) => bodies(s.records))).toEqual([['a', 'b']]);
    expect(pipes.messages(source)).toEqual([]);
  });

  it('passes each message as the SQS record Pipes passes its target', async () => {
    const { pipes, started, idle, source } = pipesOf(synthesized, { windowScale: 0 });
    const id = pipes.sendMessage(source, '{"detail-type":"Object Created"}');
    await idle();
    const [record] = started[0]?.records ?? [];
    expect(record).toEqual({
      messageId: id,
      receiptHandle: expect.any(String),
      body: '{"detail-type":"Object Created"}',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: expect.stringMatching(/^\d{13}$/),
        SenderId: expect.any(String),
        ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
      },
      messageAttributes: {},
      md5OfBody: createHash('md5').update('{"detail-type":"Object Created"}').digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: source,
      awsRegion: 'us-east-1',
    });
    expect(JSON.parse(JSON.stringify(started[0]?.records))).toEqual(started[0]?.records);
  });

  it('the synthesized role may do what the pipe does (read, decrypt through SQS, start the state machine)', async () => {
    const { pipes, started, idle, source } = pipesOf(synthesized, {
      windowScale: 0,
      authorize: pipeRoleAuthorizer(synthesized),
    });
    pipes.sendMessage(source, 'x');
    await idle();
    expect(pipes.batches).toEqual([
      { pipe: expect.stringMatching(/^TriggerPipe/), messageIds: [expect.any(String)], ok: true },
    ]);
    expect(started).toHaveLength(1);
  });

  it('a batch the role may not start is received again after the visibility timeout, then dead-lettered (maxReceiveCount)', async () => {
    const denied = synthesize((template) => {
      for (const resource of Object.values(template.Resources) as CfnJson[]) {
        if (resource.Type !== 'AWS::IAM::Policy') continue;
        const document = resource.Properties.PolicyDocument;
        document.Statement = document.Statement.filter((s: { Sid?: string }) => s.Sid !== 'StartExecution');
      }
    });
    const progress: string[] = [];
    const { pipes, started, idle, depths, source } = pipesOf(denied, {
      windowScale: 0.001,
      authorize: pipeRoleAuthorizer(denied),
      onProgress: (message) => progress.push(message),
    });
    pipes.sendMessage(source, 'x');
    await idle();
    expect(started).toEqual([]);
    expect(pipes.batches.map((b) => b.ok)).toEqual([false, false]);
    expect(pipes.batches[0]?.error).toMatch(
      /^AccessDeniedException: .* is not authorized to perform: states:StartExecution on resource: arn:aws:states:/,
    );
    const deadLetters = denied
      .resourcesOfType('AWS::SQS::Queue')
      .find((q) => q.logicalId.startsWith('DeadLetters'));
    expect(pipes.messages(denied.getAtt(deadLetters?.logicalId ?? '', 'Arn')).map((m) => m.body)).toEqual([
      'x',
    ]);
    expect(pipes.messages(source)).toEqual([]);
    // The dead-letter queue's depth is what its alarm reads.
    expect(depths.at(-1)).toEqual([deadLetters?.logicalId, 1]);
    expect(progress.some((p) => p.includes('received 2 times'))).toBe(true);
  });

  it('a stopped pipe leaves its messages in the queue', async () => {
    const stopped = synthesize((template) => {
      for (const resource of Object.values(template.Resources) as CfnJson[]) {
        if (resource.Type === 'AWS::Pipes::Pipe') resource.Properties.DesiredState = 'STOPPED';
      }
    });
    const { pipes, started, idle, source } = pipesOf(stopped, { windowScale: 0 });
    pipes.sendMessage(source, 'x');
    await idle();
    expect(started).toEqual([]);
    expect(pipes.messages(source)).toHaveLength(1);
  });

  it.each([
    [
      'an input template',
      (p: CfnJson) => (p.TargetParameters.InputTemplate = '<$.body>'),
      /an InputTemplate is not emulated/,
    ],
    [
      'a filter',
      (p: CfnJson) => (p.SourceParameters.FilterCriteria = { Filters: [] }),
      /FilterCriteria is not emulated/,
    ],
    [
      'an enrichment',
      (p: CfnJson) => (p.Enrichment = 'arn:aws:lambda:us-east-1:0:function:x'),
      /Enrichment is not emulated/,
    ],
    [
      'REQUEST_RESPONSE',
      (p: CfnJson) =>
        (p.TargetParameters.StepFunctionStateMachineParameters.InvocationType = 'REQUEST_RESPONSE'),
      /InvocationType REQUEST_RESPONSE/,
    ],
    [
      'another target',
      (p: CfnJson) => (p.Target = 'arn:aws:sns:us-east-1:000000000000:topic'),
      /a target other than a state machine/,
    ],
  ])('refuses, by name, a pipe with %s', (_what, change, message) => {
    const template = synthesize((t) => {
      for (const resource of Object.values(t.Resources) as CfnJson[]) {
        if (resource.Type === 'AWS::Pipes::Pipe') change(resource.Properties);
      }
    });
    expect(() => pipesOf(template)).toThrow(LocalPipesError);
    expect(() => pipesOf(template)).toThrow(message);
  });

  it('a rule target that is a queue sends the event (its input) as the JSON text of one message', () => {
    const { pipes, source } = pipesOf(synthesized, { windowScale: 1000 });
    const [rule] = synthesized.rules();
    const target = rule?.targets[0];
    expect(target?.targetType).toBe('AWS::SQS::Queue');
    const event = {
      version: '0',
      id: 'e-1',
      'detail-type': 'T',
      source: 'test',
      detail: { a: 1 },
    } as unknown as EventEnvelope;
    deliverToQueue(pipes, target as NonNullable<typeof target>, event);
    expect(pipes.messages(source).map((m) => JSON.parse(m.body))).toEqual([event]);
    expect(() => pipes.sendMessage('arn:aws:sqs:us-east-1:000000000000:missing', 'x')).toThrow(/No queue/);
    pipes.stop();
  });
});
