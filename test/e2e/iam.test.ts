import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATASET_READY } from '#events/dataset-ready.ts';
import { DOCUMENT_INDEXED } from '#events/document-indexed.ts';
import { LLMOPS_SOURCE } from '#events/envelope.ts';
import { INTERACTION_RECORDED } from '#events/interaction-recorded.ts';
import { PIPELINE_FAILED as PIPELINE_FAILED_EVENT } from '#events/pipeline-failed.ts';
import { rawSample } from '#events/samples.ts';
import type { AccessDeniedError } from '#infra/local/iam/evaluator.ts';
import { LocalRunner } from '#infra/local/runner.ts';
import { withoutAction } from '../support/template-edits.ts';

/**
 * The local run enforces the synthesized IAM: the same stack with one action taken out of a function's role
 * fails that function's call with AccessDenied, as AWS would, while every other call still passes.
 */
const PIPELINE_FAILED = 'functions/pipeline-failed/handler.ts';
const MODELS = 'functions/api/models.ts';

let stack: LocalRunner;

beforeAll(async () => {
  stack = await LocalRunner.start({
    api: { port: 0 },
    editTemplate: (template) => {
      withoutAction(template, PIPELINE_FAILED, 'events:PutEvents');
      withoutAction(template, MODELS, 'dynamodb:Scan');
      return template;
    },
  });
});
afterAll(async () => {
  await stack?.stop();
});

const functionId = (entry: string) => {
  const fn = stack.template.lambdaFunctions().find((f) => f.entry === entry);
  if (!fn) throw new Error(`No function for ${entry}`);
  return fn.logicalId;
};

describe('IAM enforced by the local run', () => {
  it('fails a call the role does not allow with AccessDenied naming the action, resource, function and role', async () => {
    const id = functionId(PIPELINE_FAILED);
    const denied = (await stack.lambdas.invoke(id, rawSample('sfn-execution-failed')).then(
      () => undefined,
      (e: unknown) => e,
    )) as AccessDeniedError;
    expect(denied).toMatchObject({ name: 'AccessDeniedException', $metadata: { httpStatusCode: 403 } });
    expect(denied.message).toMatch(
      new RegExp(
        `^User: arn:aws:sts::000000000000:assumed-role/\\w+/${id} is not authorized to perform: events:PutEvents ` +
          'on resource: arn:aws:events:us-east-1:000000000000:event-bus/\\S+ because no identity-based policy ' +
          `allows the events:PutEvents action \\(local IAM evaluation, function ${id}, role \\w+\\)$`,
      ),
    );
  });

  it('holds each publisher to the events it publishes: its own source and detail-type pass, any other entry is denied', async () => {
    const iam = stack.iam;
    if (!iam) throw new Error('IAM is not evaluated');
    const [bus] = stack.template.eventBuses();
    if (!bus) throw new Error('no project bus');
    const publishers = [
      ['functions/api/chat.ts', INTERACTION_RECORDED],
      ['functions/dataprep/register.ts', DATASET_READY],
      ['functions/rag/index-chunks.ts', DOCUMENT_INDEXED],
    ] as const;
    const put = (source: string, detailType: string) => ({
      action: 'events:PutEvents',
      resource: bus.arn,
      context: { 'events:source': source, 'events:detail-type': detailType },
    });
    for (const [entry, own] of publishers) {
      const id = functionId(entry);
      expect((await iam.evaluate(id, put(LLMOPS_SOURCE, own))).allowed, entry).toBe(true);
      for (const [, other] of publishers.filter(([e]) => e !== entry)) {
        expect((await iam.evaluate(id, put(LLMOPS_SOURCE, other))).allowed, `${entry}: ${other}`).toBe(false);
      }
      expect((await iam.evaluate(id, put('aws.s3', own))).allowed, `${entry}: aws.s3`).toBe(false);
    }
    // One check per entry: a call with one foreign entry among its own is refused as a whole.
    const register = functionId('functions/dataprep/register.ts');
    const entries = [DATASET_READY, PIPELINE_FAILED_EVENT].map((DetailType) => ({
      EventBusName: bus.name,
      Source: LLMOPS_SOURCE,
      DetailType,
      Detail: '{}',
    }));
    const denied = (await iam
      .authorize(
        { logicalId: register, functionName: register },
        { clientName: 'EventBridgeClient', commandName: 'PutEventsCommand', input: { Entries: entries } },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      )) as AccessDeniedError;
    expect(denied).toMatchObject({ name: 'AccessDeniedException', action: 'events:PutEvents' });
  });

  it('answers GET /v1/models with a 500 when the models role cannot Scan the catalog, as AWS did before the fix', async () => {
    const api = stack.api;
    if (!api) throw new Error('no API');
    const response = await fetch(`${api.url}/v1/models`, { headers: { 'x-api-key': api.apiKey } });
    expect(response.status).toBe(500);
    expect(await stack.iam?.decisions()).toContainEqual(
      expect.objectContaining({
        functionLogicalId: functionId(MODELS),
        action: 'dynamodb:Scan',
        allowed: false,
      }),
    );
  });
});
