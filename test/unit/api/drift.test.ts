// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/drift-api.ts';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { DriftStore } from '#aws/drift/drift-store.ts';
import { ConfigError } from '#aws/errors.ts';
import { type ApiResponse, apiHandler } from '#aws/http.ts';
import { createS3Presigner } from '#aws/s3-presign.ts';
import type { DriftBaseline, DriftWindowResult } from '#contracts/drift/baseline.ts';
import {
  DRIFT_STATUS_WINDOWS,
  driftBaselineAccepted,
  driftStatusResponse,
} from '#contracts/http/drift-schemas.ts';
import { API_ROUTES } from '#contracts/http/routes.ts';
import { driftCheckRequestedDetail } from '#events/drift-check-requested.ts';
import { TEST_DRIFT_CHECKS, TEST_DRIFT_POLICY } from '../../support/env/drift-api.ts';
import { type ApiEventOptions, apiEvent } from '../../support/gateway-fixtures.ts';

const drift = await import('#functions/api/drift.ts');
const { makeHandler, reportLinker, parseDriftChecks, parseDriftPolicy } = drift;

/** Signs with fixed test credentials: presigning is local (no call is made). */
const LINK_SIGNER = createS3Presigner({
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
});

const context = { awsRequestId: 'ctx' } as Context;
const ADMIN = 'arn:aws:sts::123456789012:assumed-role/Admin/ada';
const NOW = Date.parse('2026-12-01T10:00:00.000Z');
const DAY = 24 * 60 * 60 * 1000;
const iso = (ms: number) => new Date(ms).toISOString();
const POLICY = {
  alpha: TEST_DRIFT_POLICY.alpha,
  datapointsToAlarm: TEST_DRIFT_POLICY.datapointsToAlarm,
  evaluationPeriods: TEST_DRIFT_POLICY.evaluationPeriods,
  cadenceMinutes: TEST_DRIFT_POLICY.cadenceMinutes,
};

const eventBridge = mockClient(EventBridgeClient);
afterAll(() => eventBridge.restore());
const putEvents = () => eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input);

function request(
  httpMethod: string,
  resource: string,
  { as = ADMIN, ...options }: ApiEventOptions & { as?: string | null } = {},
): APIGatewayProxyEvent {
  const identity = as ? { userArn: as, apiKeyId: null } : { userArn: null, apiKeyId: 'key-1' };
  return apiEvent(httpMethod, resource, { ...options, identity });
}

const parse = (response: ApiResponse) => JSON.parse(String(response.body));
const options = { appKeys: { 'key-1': 'web' }, appAccess: {}, maxRequestBytes: 100_000 };

/** The drift store port in memory: baselines and windows by check, newest first as the store answers. */
class FakeDriftStore implements Pick<DriftStore, 'getBaseline' | 'recentWindows'> {
  readonly baselines: DriftBaseline[] = [];
  readonly windows: DriftWindowResult[] = [];
  readonly limits: number[] = [];

  async getBaseline(check: string): Promise<DriftBaseline | undefined> {
    return this.baselines.filter((b) => b.check === check).sort((a, b) => b.version - a.version)[0];
  }

  async recentWindows(check: string, limit: number): Promise<DriftWindowResult[]> {
    this.limits.push(limit);
    return this.windows
      .filter((w) => w.check === check)
      .sort((a, b) => (a.window.end < b.window.end ? 1 : -1))
      .slice(0, limit);
  }
}

const baseline = (check: string, version: number): DriftBaseline => ({
  check,
  version,
  source: { kind: 'window', from: '2026-11-01T00:00:00.000Z', to: '2026-11-08T00:00:00.000Z' },
  records: 500,
  embedded: 500,
  embeddingModel: 'titan-embed-text-v2',
  location: { bucket: 'artifacts-test', key: `drift/baselines/${check}/b${version}.jsonl` },
  createdAt: '2026-11-08T01:00:00.000Z',
  createdBy: ADMIN,
});

const window = (check: string, hour: number, report = true): DriftWindowResult => {
  const end = iso(Date.parse('2026-12-01T00:00:00.000Z') + hour * 3_600_000);
  const start = iso(Date.parse(end) - 3_600_000);
  return {
    check,
    window: { start, end },
    baseline: 1,
    status: 'checked',
    n: { reference: 500, current: 120 },
    drift: false,
    signals: {
      embedding: {
        score: 0.2,
        pValue: 0.4,
        threshold: 0.01,
        drift: false,
        insufficient: false,
        method: 'mmd',
      },
    },
    ...(report ? { report: { bucket: 'artifacts-test', prefix: `drift/reports/${check}/${end}/` } } : {}),
    checkedAt: end,
  };
};

let store: FakeDriftStore;
let handler: ReturnType<typeof apiHandler>;

beforeEach(() => {
  eventBridge.reset();
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
  store = new FakeDriftStore();
  handler = apiHandler(
    makeHandler({
      store,
      events: new EventBridgeClient({ region: 'us-east-1' }),
      busName: 'bus-test',
      checks: TEST_DRIFT_CHECKS,
      policy: POLICY,
      reportLinks: reportLinker('artifacts-test', LINK_SIGNER),
      now: () => NOW,
    }),
    options,
  );
});

const windowSource = (from: number, to: number) => ({ kind: 'window', from: iso(from), to: iso(to) });

describe('POST /v1/drift/baselines', () => {
  it('puts exactly one llmops.DriftCheckRequested with the baseline and the signing principal, and answers 202', async () => {
    const source = windowSource(NOW - 7 * DAY, NOW - DAY);
    const response = await handler(
      request('POST', '/v1/drift/baselines', {
        body: { check: 'support', source, note: 'after the March re-index' },
      }),
      context,
    );
    expect(response.statusCode).toBe(202);
    expect(response.headers?.location).toBe('/v1/drift/status?check=support');
    const body = parse(response);
    expect(body).toEqual({ check: 'support', status: 'building', requestedAt: iso(NOW), source });
    expect(driftBaselineAccepted.safeParse(body).success).toBe(true);

    const puts = putEvents();
    expect(puts).toHaveLength(1);
    expect(puts[0]?.Entries).toHaveLength(1);
    const entry = puts[0]?.Entries?.[0];
    expect(entry).toMatchObject({
      EventBusName: 'bus-test',
      Source: 'llmops',
      DetailType: 'llmops.DriftCheckRequested',
    });
    expect(driftCheckRequestedDetail.parse(JSON.parse(entry?.Detail ?? '{}'))).toEqual({
      schemaVersion: '1.0',
      check: 'support',
      requestedBy: ADMIN,
      baseline: { source, note: 'after the March re-index' },
    });
  });

  it('takes a suite or an evaluation run as the source, without a note', async () => {
    for (const source of [
      { kind: 'suite', name: 'support-golden', version: 3 },
      { kind: 'suite', name: 'support-golden' },
      { kind: 'evaluation', runId: '4f0d7c9e-8f7a-4d6b-9a51-0c2b1e3d5f60' },
    ]) {
      eventBridge.resetHistory();
      const response = await handler(
        request('POST', '/v1/drift/baselines', { body: { check: 'all-traffic', source } }),
        context,
      );
      expect(response.statusCode, JSON.stringify(source)).toBe(202);
      expect(parse(response).source).toEqual(source);
      const detail = JSON.parse(putEvents()[0]?.Entries?.[0]?.Detail ?? '{}');
      expect(detail.baseline).toEqual({ source });
      expect(detail.windowEnd).toBeUndefined();
    }
  });

  it('answers 404 naming the configured checks for an unknown check, and puts nothing', async () => {
    const response = await handler(
      request('POST', '/v1/drift/baselines', {
        body: { check: 'billing', source: windowSource(NOW - DAY, NOW) },
      }),
      context,
    );
    expect(response.statusCode).toBe(404);
    expect(parse(response).error.code).toBe('not_found');
    expect(parse(response).error.message).toMatch(/billing.*support, all-traffic/);
    expect(putEvents()).toEqual([]);
  });

  it('refuses a window that is empty, reversed, in the future, too long or off the calendar, naming the field', async () => {
    const cases: [unknown, string, RegExp][] = [
      [windowSource(NOW - DAY, NOW - DAY), 'source.to', /after source.from/],
      [windowSource(NOW - DAY, NOW - 2 * DAY), 'source.to', /after source.from/],
      [windowSource(NOW - DAY, NOW + 60_000), 'source.to', /future/],
      [windowSource(NOW + DAY, NOW + 2 * DAY), 'source.to', /future/],
      [windowSource(NOW - 32 * DAY, NOW - DAY + 1), 'source.from', /at most 31 days/],
      [
        { kind: 'window', from: '2026-02-30T00:00:00Z', to: '2026-03-05T00:00:00Z' },
        'source.from',
        /datetime|date-time/i,
      ],
    ];
    for (const [source, field, rule] of cases) {
      const response = await handler(
        request('POST', '/v1/drift/baselines', { body: { check: 'support', source } }),
        context,
      );
      expect(response.statusCode, JSON.stringify(source)).toBe(400);
      expect(parse(response).error.field, JSON.stringify(source)).toBe(field);
      expect(parse(response).error.message, JSON.stringify(source)).toMatch(rule);
    }
    // Exactly the limit, ending now, is accepted.
    const longest = await handler(
      request('POST', '/v1/drift/baselines', {
        body: { check: 'support', source: windowSource(NOW - 31 * DAY, NOW) },
      }),
      context,
    );
    expect(longest.statusCode).toBe(202);
    expect(putEvents()).toHaveLength(1);
  });

  it('names the field of a malformed body (400, never 5xx)', async () => {
    const ok = windowSource(NOW - DAY, NOW);
    const cases: [unknown, string][] = [
      [undefined, 'body'],
      [[], 'body'],
      ['support', 'body'],
      [{ source: ok }, 'check'],
      [{ check: 'Support!', source: ok }, 'check'],
      [{ check: 'x'.repeat(40), source: ok }, 'check'],
      [{ check: 'support' }, 'source'],
      [{ check: 'support', source: { kind: 'window', from: 'yesterday', to: iso(NOW) } }, 'source.from'],
      [
        {
          check: 'support',
          source: { kind: 'window', from: iso(NOW - DAY), to: '2026-12-01T10:00:00+02:00' },
        },
        'source.to',
      ],
      [{ check: 'support', source: { kind: 'sample' } }, 'source.kind'],
      [{ check: 'support', source: ok, note: 'x'.repeat(501) }, 'note'],
      [{ check: 'support', source: ok, surprise: true }, 'body'],
    ];
    for (const [body, field] of cases) {
      const response = await handler(request('POST', '/v1/drift/baselines', { body }), context);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(parse(response).error.field, JSON.stringify(body)).toBe(field);
    }
    const notJson = await handler(
      { ...request('POST', '/v1/drift/baselines'), body: '{"check":' } as APIGatewayProxyEvent,
      context,
    );
    expect(notJson.statusCode).toBe(400);
    expect(putEvents()).toEqual([]);
  });

  it('answers 5xx (the request is not accepted) when the bus refuses the event', async () => {
    eventBridge
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'boom' }] });
    const response = await handler(
      request('POST', '/v1/drift/baselines', {
        body: { check: 'support', source: windowSource(NOW - DAY, NOW) },
      }),
      context,
    );
    expect(response.statusCode).toBe(500);
    expect(parse(response).error.message).not.toMatch(/boom/);
  });

  it('refuses a caller that did not sign with IAM', async () => {
    const response = await handler(
      request('POST', '/v1/drift/baselines', {
        body: { check: 'support', source: windowSource(NOW - DAY, NOW) },
        as: null,
      }),
      context,
    );
    expect(response.statusCode).toBe(403);
    expect(putEvents()).toEqual([]);
  });
});

describe('GET /v1/drift/status', () => {
  it('answers every configured check, without a baseline or windows yet', async () => {
    const response = await handler(request('GET', '/v1/drift/status'), context);
    expect(response.statusCode).toBe(200);
    const body = parse(response);
    expect(driftStatusResponse.safeParse(body).success).toBe(true);
    expect(body).toEqual({
      checks: [
        {
          check: 'support',
          filter: { app: 'web', prompt: 'support-answer' },
          baseline: null,
          policy: POLICY,
          windows: [],
        },
        { check: 'all-traffic', filter: {}, baseline: null, policy: POLICY, windows: [] },
      ],
    });
  });

  it('answers the active baseline, the latest 10 windows newest first, and links to the latest report', async () => {
    store.baselines.push(baseline('support', 1), baseline('support', 2), baseline('all-traffic', 1));
    for (let hour = 1; hour <= 12; hour++) store.windows.push(window('support', hour));
    const response = await handler(
      request('GET', '/v1/drift/status', { query: { check: 'support' } }),
      context,
    );
    expect(response.statusCode).toBe(200);
    const body = parse(response);
    expect(driftStatusResponse.safeParse(body).success).toBe(true);
    expect(body.checks).toHaveLength(1);
    const [status] = body.checks;
    expect(status.check).toBe('support');
    expect(status.baseline).toEqual(baseline('support', 2));
    expect(status.policy).toEqual(POLICY);
    expect(store.limits).toEqual([DRIFT_STATUS_WINDOWS]);
    expect(status.windows.map((w: DriftWindowResult) => w.window.end)).toEqual(
      Array.from({ length: 10 }, (_, i) => window('support', 12 - i).window.end),
    );
    // Presigned GETs of exactly the latest window's report files, valid 15 minutes.
    const prefix = `/drift/reports/support/${window('support', 12).window.end}/`;
    for (const [name, file] of [
      ['summary', 'summary.json'],
      ['html', 'report.html'],
    ] as const) {
      const link = new URL(status.links[name]);
      expect(link.hostname).toBe('artifacts-test.s3.us-east-1.amazonaws.com');
      expect(decodeURIComponent(link.pathname)).toBe(`${prefix}${file}`);
      expect(link.searchParams.get('X-Amz-Expires')).toBe('900');
      expect(link.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(Object.keys(status.links).sort()).toEqual(['html', 'summary']);
  });

  it('shows the quality signal, the window’s outcome counts and the baseline’s', async () => {
    const outcomes = { calls: 130, errors: 13, throttles: 1, guardrailInterventions: 2 };
    const reference = { calls: 900, errors: 9, throttles: 0, guardrailInterventions: 4 };
    store.baselines.push({ ...baseline('support', 1), outcomes: reference });
    const latest = window('support', 1);
    const quality = {
      score: 2.4,
      pValue: 0.00075,
      threshold: 0.05,
      drift: true,
      insufficient: false,
      method: 'errorRate',
    };
    store.windows.push({
      ...latest,
      drift: true,
      signals: { ...latest.signals, quality },
      outcomes: { reference, current: outcomes },
    });
    const body = parse(
      await handler(request('GET', '/v1/drift/status', { query: { check: 'support' } }), context),
    );
    expect(driftStatusResponse.parse(body)).toEqual(body);
    const [status] = body.checks;
    expect(status.baseline.outcomes).toEqual(reference);
    expect(status.windows[0].signals.quality).toEqual(quality);
    expect(status.windows[0].outcomes).toEqual({ reference, current: outcomes });
  });

  it('links nothing when the latest window has no report, even if an older one has', async () => {
    store.windows.push(window('support', 1, true), window('support', 2, false));
    const body = parse(
      await handler(request('GET', '/v1/drift/status', { query: { check: 'support' } }), context),
    );
    expect(body.checks[0].windows).toHaveLength(2);
    expect(body.checks[0].links).toBeUndefined();
  });

  it('links no report outside the check’s reports prefix of the artifacts bucket', async () => {
    const latest = window('support', 1);
    store.windows.push({
      ...latest,
      report: { bucket: 'someone-elses', prefix: latest.report?.prefix ?? '' },
    });
    const body = parse(await handler(request('GET', '/v1/drift/status'), context));
    expect(body.checks[0].links).toBeUndefined();
    const links = reportLinker('artifacts-test', LINK_SIGNER);
    for (const prefix of [
      'drift/reports/all-traffic/2026-12-01T00:00:00.000Z/',
      'evaluations/run-1/',
      'drift/reports/support/../../secrets/',
      'drift/reports/support/2026-12-01T00:00:00.000Z',
    ]) {
      await expect(links('support', { bucket: 'artifacts-test', prefix }), prefix).resolves.toBeUndefined();
    }
  });

  it('answers 404 naming the configured checks for an unknown check', async () => {
    const response = await handler(
      request('GET', '/v1/drift/status', { query: { check: 'billing' } }),
      context,
    );
    expect(response.statusCode).toBe(404);
    expect(parse(response).error.message).toMatch(/billing.*support, all-traffic/);
  });

  it('answers 400 naming query.check for a hostile check, never 5xx', async () => {
    for (const check of [
      '',
      'Support',
      'a'.repeat(3000),
      '語'.repeat(1100),
      '😀',
      '../support',
      'support\u0000',
      '%00',
    ]) {
      const response = await handler(request('GET', '/v1/drift/status', { query: { check } }), context);
      expect(response.statusCode, check.slice(0, 20)).toBe(400);
      expect(parse(response).error.field).toBe('query.check');
    }
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 200 }), async (check) => {
        const response = await handler(request('GET', '/v1/drift/status', { query: { check } }), context);
        expect(response.statusCode).toBeLessThan(500);
        expect([200, 400, 404]).toContain(response.statusCode);
      }),
      { seed: 20261201, numRuns: 200 },
    );
  });

  it('refuses a caller that did not sign with IAM', async () => {
    const response = await handler(request('GET', '/v1/drift/status', { as: null }), context);
    expect(response.statusCode).toBe(403);
    expect(parse(response).error.message).toMatch(/admin route/);
  });
});

describe('configuration', () => {
  it('parses DRIFT_CHECKS and DRIFT_POLICY as the stack binds them (the policy keeps only what the API shows)', () => {
    expect(parseDriftChecks(JSON.stringify(TEST_DRIFT_CHECKS))).toEqual(TEST_DRIFT_CHECKS);
    expect(parseDriftChecks('[]')).toEqual([]);
    expect(parseDriftPolicy(JSON.stringify(TEST_DRIFT_POLICY))).toEqual(POLICY);
  });

  it.each([
    ['not json', /DRIFT_CHECKS is not JSON/],
    ['{}', /DRIFT_CHECKS/],
    ['[{"name":"Bad Name"}]', /DRIFT_CHECKS: 0\.name/],
    ['[{"name":"a"},{"name":"a"}]', /names a more than once/],
  ])('refuses DRIFT_CHECKS %s with a ConfigError', (raw, message) => {
    expect(() => parseDriftChecks(raw)).toThrow(ConfigError);
    expect(() => parseDriftChecks(raw)).toThrow(message);
  });

  it.each([
    ['', /DRIFT_POLICY is not JSON/],
    ['{"alpha":0.01}', /DRIFT_POLICY: datapointsToAlarm/],
    [JSON.stringify({ ...TEST_DRIFT_POLICY, alpha: 2 }), /DRIFT_POLICY: alpha/],
  ])('refuses DRIFT_POLICY %s with a ConfigError', (raw, message) => {
    expect(() => parseDriftPolicy(raw)).toThrow(ConfigError);
    expect(() => parseDriftPolicy(raw)).toThrow(message);
  });

  it('serves both drift routes, and only those', () => {
    expect(
      API_ROUTES.filter((route) => route.fn === 'drift').map(
        (r) => `${r.method} ${r.path} ${r.auth} ${r.operationId}`,
      ),
    ).toEqual([
      'POST /v1/drift/baselines iam createDriftBaseline',
      'GET /v1/drift/status iam getDriftStatus',
    ]);
  });
});

describe('the deployed handler (DynamoDB mocked at the SDK level)', () => {
  const dynamo = mockClient(DynamoDBDocumentClient);
  afterAll(() => dynamo.restore());

  it('reads each check from the drift table and answers its status', async () => {
    dynamo.reset();
    const latest = baseline('support', 3);
    dynamo.on(QueryCommand).callsFake((input) => {
      const prefix = input.ExpressionAttributeValues?.[':prefix'];
      const pk = input.ExpressionAttributeValues?.[':pk'];
      expect(input.TableName).toBe('drift-test');
      if (pk !== 'CHECK#support') return { Items: [] };
      return prefix === 'BASELINE#'
        ? { Items: [{ ...latest, pk, sk: 'BASELINE#0000000003', type: 'DriftBaseline' }] }
        : { Items: [{ ...window('support', 1, false), pk, sk: 'WINDOW#x', type: 'DriftWindow' }] };
    });
    const response = await drift.handler(request('GET', '/v1/drift/status'), context);
    expect(response.statusCode).toBe(200);
    const body = parse(response);
    expect(driftStatusResponse.safeParse(body).success).toBe(true);
    expect(body.checks[0]).toMatchObject({ check: 'support', baseline: latest, policy: POLICY });
    expect(body.checks[0].windows).toEqual([window('support', 1, false)]);
    expect(body.checks[1]).toMatchObject({ check: 'all-traffic', baseline: null, windows: [] });
    expect(dynamo.commandCalls(QueryCommand)).toHaveLength(4);
  });
});
