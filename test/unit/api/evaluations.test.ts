// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/api.ts';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { StoredReviewTask } from '#aws/eval/evaluation-store.ts';
import { type ApiResponse, apiHandler } from '#aws/http.ts';
import { createS3Presigner } from '#aws/s3-presign.ts';
import type { EvaluationRun, ReportLocation } from '#contracts/evaluation/run.ts';
import {
  evaluationRunResponse,
  reviewerOf,
  reviewTaskList,
  storedReviewTask,
} from '#contracts/http/evaluation-schemas.ts';
import { evaluationRequestedDetail } from '#events/evaluation-requested.ts';
import { FULL_ACCESS } from '../../support/app-access.ts';
import { type ApiEventOptions, apiEvent } from '../../support/gateway-fixtures.ts';
import { FakeEvaluationStore } from './evaluation-store-fake.ts';

Object.assign(process.env, {
  EVALUATIONS_TABLE: process.env.EVALUATIONS_TABLE ?? 'evaluations-test',
  ARTIFACTS_BUCKET: process.env.ARTIFACTS_BUCKET ?? 'artifacts-test',
});
const { makeHandler, reportLinker } = await import('#functions/api/evaluations.ts');
/** Signs with fixed test credentials: presigning is local (no call is made). */
const LINK_SIGNER = createS3Presigner({
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
});

const context = { awsRequestId: 'ctx' } as Context;
const ADMIN = 'arn:aws:iam::123456789012:role/llmops-admin';
const REVIEWER = 'arn:aws:sts::123456789012:assumed-role/Reviewer/alice';
const NOW = Date.parse('2026-12-01T10:00:00.000Z');
const RUN_ID = '4f0d7c9e-8f7a-4d6b-9a51-0c2b1e3d5f60';
const TASK_ID = 'review-0123456789abcdef';

const eventBridge = mockClient(EventBridgeClient);
afterAll(() => eventBridge.restore());

function request(
  httpMethod: string,
  resource: string,
  { as, ...options }: ApiEventOptions & { as?: string | null } = {},
): APIGatewayProxyEvent {
  const identity = as ? { userArn: as, apiKeyId: null } : { userArn: null, apiKeyId: 'key-1' };
  return apiEvent(httpMethod, resource, { ...options, identity });
}

const parse = (response: ApiResponse) => JSON.parse(String(response.body));
const options = { appKeys: { 'key-1': 'web' }, appAccess: { web: FULL_ACCESS }, maxRequestBytes: 100_000 };

const suite = {
  name: 'support-golden',
  version: 3,
  items: 120,
  tags: ['billing'],
  location: { bucket: 'curated', key: 'datasets/support-golden/v3/data.jsonl' },
  contentHash: 'sha256:abc',
  registeredAt: '2026-11-01T00:00:00.000Z',
};

const runRequest = {
  suite: 'support-golden',
  target: { prompt: 'greeting:3' },
  baseline: { prompt: 'greeting@production' },
};

const report: ReportLocation = {
  bucket: 'artifacts-test',
  summary: `evaluations/${RUN_ID}/summary.json`,
  items: `evaluations/${RUN_ID}/items.jsonl`,
  html: `evaluations/${RUN_ID}/report.html`,
  markdown: `evaluations/${RUN_ID}/report.md`,
};

const task = (taskId: string, status: 'open' | 'labelled' = 'open'): StoredReviewTask => ({
  taskId,
  runId: RUN_ID,
  itemId: 'item-1',
  metric: 'faithfulness',
  reason: 'unstable',
  rubric: 'judge-faithfulness:1',
  judge: 'claude-haiku',
  judgeScore: 0.5,
  judgeVerdict: 'pass',
  spread: 0.6,
  unstable: true,
  rationales: ['a', 'b'],
  status,
  createdAt: '2026-11-30T00:00:00.000Z',
});

const putEvents = () => eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input);

let store: FakeEvaluationStore;
let handler: ReturnType<typeof apiHandler>;

beforeEach(() => {
  eventBridge.reset();
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
  store = new FakeEvaluationStore();
  store.suites.push(suite);
  handler = apiHandler(
    makeHandler({
      store,
      events: new EventBridgeClient({ region: 'us-east-1' }),
      busName: 'bus-test',
      reportLinks: reportLinker('artifacts-test', LINK_SIGNER),
      now: () => NOW,
      newRunId: () => RUN_ID,
    }),
    options,
  );
});

describe('POST /v1/evaluations', () => {
  it('queues a run for a registered suite, puts llmops.EvaluationRequested and answers 202 with its location', async () => {
    const response = await handler(
      request('POST', '/v1/evaluations', { body: runRequest, as: ADMIN }),
      context,
    );
    expect(response.statusCode).toBe(202);
    expect(response.headers?.location).toBe(`/v1/evaluations/${RUN_ID}`);
    const run = parse(response);
    expect(run).toEqual({
      runId: RUN_ID,
      status: 'queued',
      trigger: 'api',
      request: runRequest,
      requestedBy: ADMIN,
      createdAt: '2026-12-01T10:00:00.000Z',
      updatedAt: '2026-12-01T10:00:00.000Z',
    });
    expect(evaluationRunResponse.safeParse(run).success).toBe(true);
    expect(store.runs.get(RUN_ID)).toEqual(run);

    const [put] = putEvents();
    expect(put?.Entries).toHaveLength(1);
    expect(put?.Entries?.[0]).toMatchObject({
      EventBusName: 'bus-test',
      Source: 'llmops',
      DetailType: 'llmops.EvaluationRequested',
    });
    expect(evaluationRequestedDetail.parse(JSON.parse(put?.Entries?.[0]?.Detail ?? '{}'))).toEqual({
      schemaVersion: '1.0',
      runId: RUN_ID,
      trigger: 'api',
      requestedBy: ADMIN,
      request: runRequest,
    });
  });

  it('answers 404 naming the suite and version when that suite version is not registered, and queues nothing', async () => {
    const response = await handler(
      request('POST', '/v1/evaluations', { body: { ...runRequest, suiteVersion: 9 }, as: ADMIN }),
      context,
    );
    expect(response.statusCode).toBe(404);
    expect(parse(response).error.message).toMatch(/support-golden version 9 is not registered/);
    const unknown = await handler(
      request('POST', '/v1/evaluations', { body: { ...runRequest, suite: 'nope' }, as: ADMIN }),
      context,
    );
    expect(parse(unknown).error.message).toMatch(/Suite nope has no registered version/);
    expect(store.runs.size).toBe(0);
    expect(putEvents()).toEqual([]);
  });

  it('names the field of an invalid request', async () => {
    const cases: [unknown, string][] = [
      [{ ...runRequest, suite: 'Bad Suite' }, 'suite'],
      [{ ...runRequest, target: { prompt: 'greeting' } }, 'target.prompt'],
      [{ ...runRequest, k: 9 }, 'k'],
      [{ ...runRequest, surprise: true }, 'body'],
      [undefined, 'body'],
    ];
    for (const [body, field] of cases) {
      const response = await handler(request('POST', '/v1/evaluations', { body, as: ADMIN }), context);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(parse(response).error.field, JSON.stringify(body)).toBe(field);
    }
    expect(store.runs.size).toBe(0);
  });

  it('answers 400 naming pairwise when it is asked for without a baseline to compare with', async () => {
    const { baseline: _, ...alone } = runRequest;
    const response = await handler(
      request('POST', '/v1/evaluations', { body: { ...alone, pairwise: true }, as: ADMIN }),
      context,
    );
    expect(response.statusCode).toBe(400);
    expect(parse(response).error).toMatchObject({
      code: 'validation_error',
      field: 'pairwise',
      param: 'pairwise',
      message: expect.stringContaining('compares the target with a baseline: set baseline too'),
    });
    expect(store.runs.size).toBe(0);
    expect(putEvents()).toEqual([]);
    const accepted = await handler(
      request('POST', '/v1/evaluations', { body: { ...runRequest, pairwise: true }, as: ADMIN }),
      context,
    );
    expect(accepted.statusCode).toBe(202);
    expect(parse(accepted).request).toEqual({ ...runRequest, pairwise: true });
  });

  it('records the run failed (not queued for ever) when the event cannot be put, and answers 500', async () => {
    eventBridge
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'boom' }] });
    const response = await handler(
      request('POST', '/v1/evaluations', { body: runRequest, as: ADMIN }),
      context,
    );
    expect(response.statusCode).toBe(500);
    expect(store.runs.get(RUN_ID)?.status).toBe('failed');
  });

  it('refuses a caller that did not sign with IAM', async () => {
    const response = await handler(request('POST', '/v1/evaluations', { body: runRequest }), context);
    expect(response.statusCode).toBe(403);
    expect(putEvents()).toEqual([]);
  });
});

describe('GET /v1/evaluations/{id}', () => {
  const run: EvaluationRun = {
    runId: RUN_ID,
    status: 'succeeded',
    trigger: 'api',
    request: runRequest,
    requestedBy: ADMIN,
    createdAt: '2026-12-01T10:00:00.000Z',
    updatedAt: '2026-12-01T10:20:00.000Z',
    gate: { pass: true, metrics: [] },
  };

  it('answers a run without a report as it is, without links', async () => {
    store.runs.set(RUN_ID, run);
    const response = await handler(
      request('GET', '/v1/evaluations/{id}', { path: { id: RUN_ID }, as: ADMIN }),
      context,
    );
    expect(response.statusCode).toBe(200);
    expect(parse(response)).toEqual(run);
  });

  it('adds links to the report files of a run that has one', async () => {
    store.runs.set(RUN_ID, { ...run, report });
    const response = await handler(
      request('GET', '/v1/evaluations/{id}', { path: { id: RUN_ID }, as: ADMIN }),
      context,
    );
    const body = parse(response);
    // Presigned GETs of exactly the report's keys, valid 15 minutes.
    for (const [name, file] of [
      ['html', 'report.html'],
      ['markdown', 'report.md'],
      ['summary', 'summary.json'],
      ['items', 'items.jsonl'],
    ] as const) {
      const link = new URL(body.links[name]);
      expect(link.hostname).toBe('artifacts-test.s3.us-east-1.amazonaws.com');
      expect(link.pathname).toBe(`/evaluations/${RUN_ID}/${file}`);
      expect(link.searchParams.get('X-Amz-Expires')).toBe('900');
      expect(link.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(body.report).toEqual(report);
    expect(evaluationRunResponse.safeParse(body).success).toBe(true);
  });

  it('links no report outside the evaluations prefix of the artifacts bucket', async () => {
    store.runs.set(RUN_ID, { ...run, report: { ...report, bucket: 'someone-elses' } });
    const response = await handler(
      request('GET', '/v1/evaluations/{id}', { path: { id: RUN_ID }, as: ADMIN }),
      context,
    );
    expect(parse(response).links).toBeUndefined();
    await expect(
      reportLinker('artifacts-test', LINK_SIGNER)({ ...report, html: 'secrets/x.html' }),
    ).resolves.toBeUndefined();
  });

  it('answers 400 naming path.id for a malformed id and 404 for an unknown run', async () => {
    const bad = await handler(
      request('GET', '/v1/evaluations/{id}', { path: { id: 'not a run!' }, as: ADMIN }),
      context,
    );
    expect(bad.statusCode).toBe(400);
    expect(parse(bad).error.field).toBe('path.id');
    const missing = await handler(
      request('GET', '/v1/evaluations/{id}', { path: { id: RUN_ID }, as: ADMIN }),
      context,
    );
    expect(missing.statusCode).toBe(404);
    expect(parse(missing).error.message).toContain(RUN_ID);
  });
});

describe('GET /v1/reviews', () => {
  it('lists open tasks by default, page by page', async () => {
    store.tasks.push(
      task('review-0000000000000001'),
      task('review-0000000000000002', 'labelled'),
      task('review-0000000000000003'),
    );
    const first = await handler(
      request('GET', '/v1/reviews', { query: { limit: '1' }, as: REVIEWER }),
      context,
    );
    expect(first.statusCode).toBe(200);
    const page = parse(first);
    expect(reviewTaskList.safeParse(page).success).toBe(true);
    expect(page.tasks.map((t: StoredReviewTask) => t.taskId)).toEqual(['review-0000000000000001']);
    expect(page.nextToken).toEqual(expect.any(String));
    const second = parse(
      await handler(
        request('GET', '/v1/reviews', { query: { limit: '1', nextToken: page.nextToken }, as: REVIEWER }),
        context,
      ),
    );
    expect(second.tasks.map((t: StoredReviewTask) => t.taskId)).toEqual(['review-0000000000000003']);
    expect(second.nextToken).toBeUndefined();
    const labelled = parse(
      await handler(request('GET', '/v1/reviews', { query: { status: 'labelled' }, as: REVIEWER }), context),
    );
    expect(labelled.tasks.map((t: StoredReviewTask) => t.taskId)).toEqual(['review-0000000000000002']);
  });

  it('names the query parameter of a bad status, limit or forged nextToken', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ status: 'closed' }, 'query.status'],
      [{ limit: '0' }, 'query.limit'],
      [{ limit: '101' }, 'query.limit'],
      [{ nextToken: 'not+base64' }, 'query.nextToken'],
      // Well-formed, but not a token the store issued: refused by the store, named as the query parameter.
      [{ nextToken: Buffer.from('forged').toString('base64url') }, 'query.nextToken'],
    ];
    for (const [query, field] of cases) {
      const response = await handler(request('GET', '/v1/reviews', { query, as: REVIEWER }), context);
      expect(response.statusCode, JSON.stringify(query)).toBe(400);
      expect(parse(response).error.field, JSON.stringify(query)).toBe(field);
    }
  });

  it('refuses a caller that did not sign with IAM', async () => {
    const response = await handler(request('GET', '/v1/reviews'), context);
    expect(response.statusCode).toBe(403);
    expect(parse(response).error.message).toMatch(/reviewer route/);
  });
});

describe('POST /v1/reviews/{id}', () => {
  it('labels an open task as the signing reviewer, now, and answers the stored task', async () => {
    store.tasks.push(task(TASK_ID));
    const response = await handler(
      request('POST', '/v1/reviews/{id}', {
        path: { id: TASK_ID },
        body: { label: 0.8, comment: 'grounded' },
        as: REVIEWER,
      }),
      context,
    );
    expect(response.statusCode).toBe(200);
    const stored = parse(response);
    expect(storedReviewTask.safeParse(stored).success).toBe(true);
    expect(stored).toMatchObject({
      taskId: TASK_ID,
      status: 'labelled',
      label: {
        taskId: TASK_ID,
        reviewer: 'alice',
        label: 0.8,
        comment: 'grounded',
        at: '2026-12-01T10:00:00.000Z',
      },
    });
    expect(store.tasks[0]?.label?.reviewer).toBe('alice');
  });

  it('answers 409 for a task already labelled and 404 for an unknown one', async () => {
    store.tasks.push(task(TASK_ID));
    const label = (id: string) =>
      handler(
        request('POST', '/v1/reviews/{id}', { path: { id }, body: { label: 'pass' }, as: ADMIN }),
        context,
      );
    expect((await label(TASK_ID)).statusCode).toBe(200);
    const again = await label(TASK_ID);
    expect(again.statusCode).toBe(409);
    expect(parse(again).error.code).toBe('conflict');
    expect(store.tasks[0]?.label?.reviewer).toBe('llmops-admin');
    const unknown = await label('review-ffffffffffffffff');
    expect(unknown.statusCode).toBe(404);
  });

  it('names the field of a bad id or label', async () => {
    store.tasks.push(task(TASK_ID));
    const cases: [string, unknown, string][] = [
      ['review-XYZ', { label: 'pass' }, 'path.id'],
      [TASK_ID, { label: 'maybe' }, 'label'],
      [TASK_ID, { label: 1.5 }, 'label'],
      [TASK_ID, { label: 'pass', comment: 'x'.repeat(2001) }, 'comment'],
      [TASK_ID, { label: 'pass', reviewer: 'mallory' }, 'body'],
    ];
    for (const [id, body, field] of cases) {
      const response = await handler(
        request('POST', '/v1/reviews/{id}', { path: { id }, body, as: REVIEWER }),
        context,
      );
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(parse(response).error.field, JSON.stringify(body)).toBe(field);
    }
    expect(store.tasks[0]?.status).toBe('open');
  });

  it('refuses a principal whose ARN yields no reviewer id', async () => {
    store.tasks.push(task(TASK_ID));
    const response = await handler(
      request('POST', '/v1/reviews/{id}', {
        path: { id: TASK_ID },
        body: { label: 'fail' },
        as: 'arn:aws:iam::123456789012:root',
      }),
      context,
    );
    expect(response.statusCode).toBe(403);
    expect(store.tasks[0]?.status).toBe('open');
  });
});

describe('reviewerOf', () => {
  it.each([
    ['arn:aws:sts::123456789012:assumed-role/Reviewer/alice', 'alice'],
    ['arn:aws:sts::123456789012:assumed-role/Reviewer/bob@example.com', 'bob@example.com'],
    ['arn:aws:iam::123456789012:user/team/carol', 'carol'],
    ['arn:aws:iam::123456789012:root', undefined],
    ['arn:aws:sts::123456789012:assumed-role/Reviewer/a,b=c', undefined],
    ['not-an-arn', undefined],
  ])('%s → %s', (arn, reviewer) => {
    expect(reviewerOf(arn)).toBe(reviewer);
  });
});
