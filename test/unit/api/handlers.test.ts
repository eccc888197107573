// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/api.ts';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, NotFoundError } from '#aws/errors.ts';
import { type ApiResponse, apiHandler } from '#aws/http.ts';
import { seedOnce } from '#aws/model-catalog.ts';
import { PromptRegistry } from '#aws/prompt-registry.ts';
import type { GateMetric, PromotionGate } from '#contracts/evaluation/run.ts';
import { API_ROUTES } from '#contracts/http/routes.ts';
import { errorResponse, labelResponse } from '#contracts/http/schemas.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import type { PromptVersion } from '#contracts/prompts/types.ts';
import { evaluationRequestedDetail } from '#events/evaluation-requested.ts';
import { promptGateOverriddenDetail } from '#events/prompt-gate-overridden.ts';
import { makeHandler as makeModels } from '#functions/api/models.ts';
import { buildOpenApiDocument } from '#functions/api/openapi-document.ts';
import {
  makeHandler as makePrompts,
  type PromotionSuite,
  parsePromotionSuites,
  promotionGateOf,
} from '#functions/api/prompts.ts';
import { FULL_ACCESS } from '../../support/app-access.ts';
import { type ApiEventOptions, apiEvent, catalogModel } from '../../support/gateway-fixtures.ts';
import { FakeEvaluationStore } from './evaluation-store-fake.ts';

const context = { awsRequestId: 'ctx' } as Context;
const ADMIN = 'arn:aws:iam::123456789012:role/prompt-admin';

function request(
  httpMethod: string,
  resource: string,
  { admin, ...options }: ApiEventOptions & { admin?: boolean } = {},
): APIGatewayProxyEvent {
  const identity = admin ? { userArn: ADMIN, apiKeyId: null } : { userArn: null, apiKeyId: 'key-1' };
  return apiEvent(httpMethod, resource, { ...options, identity });
}

const parse = (response: ApiResponse) => JSON.parse(String(response.body));
// The app may use everything: these tests are not about per-app access (app-access.test.ts is).
const options = {
  appKeys: { 'key-1': 'web' },
  appAccess: { web: FULL_ACCESS },
  maxRequestBytes: 100_000,
};

const stored: PromptVersion = {
  name: 'greeting',
  version: 2,
  messages: [{ role: 'user', content: 'Hello {{who}}' }],
  variables: { who: { type: 'string' } },
  commitMessage: 'second',
  author: ADMIN,
  createdAt: '2026-11-26T00:00:00.000Z',
  contentHash: 'h',
  labels: ['latest', 'production'],
};

describe('prompts handler', () => {
  const registry = {
    createVersion: vi.fn(async (name: string, draft: object, author: string) => ({
      ...stored,
      ...draft,
      name,
      author,
      version: 3,
    })),
    get: vi.fn(async () => stored),
    listVersions: vi.fn(async (name: string) => ({ name, versions: [], labels: { latest: 2 } })),
    moveLabel: vi.fn(async (name: string, label: string, version: number) => ({
      name,
      label,
      version,
      previousVersion: 1,
    })),
  };
  const handler = apiHandler(makePrompts({ registry }), options);
  const draft = {
    messages: [{ role: 'user', content: 'Hi {{who}}' }],
    variables: { who: { type: 'string' } },
    commitMessage: 'c',
  };

  it('creates a version as the signing principal and answers 201 with its location', async () => {
    const response = await handler(
      request('POST', '/v1/prompts/{name}/versions', {
        path: { name: 'greeting' },
        body: draft,
        admin: true,
      }),
      context,
    );
    expect(response.statusCode).toBe(201);
    expect(response.headers?.location).toBe('/v1/prompts/greeting?version=3');
    expect(registry.createVersion).toHaveBeenCalledWith('greeting', draft, ADMIN);
  });

  it('refuses an admin route that no IAM principal signed', async () => {
    const response = await handler(
      request('POST', '/v1/prompts/{name}/versions', { path: { name: 'greeting' }, body: draft }),
      context,
    );
    expect(response.statusCode).toBe(403);
    expect(parse(response).error.message).toMatch(/admin route/);
  });

  it('names the field of a bad draft', async () => {
    const response = await handler(
      request('POST', '/v1/prompts/{name}/versions', {
        path: { name: 'greeting' },
        body: { ...draft, messages: [{ role: 'robot', content: 'x' }] },
        admin: true,
      }),
      context,
    );
    expect(response.statusCode).toBe(400);
    expect(parse(response).error.field).toBe('messages.0.role');
  });

  it('reads production by default, a label or a version, never both', async () => {
    await handler(request('GET', '/v1/prompts/{name}', { path: { name: 'greeting' } }), context);
    expect(registry.get).toHaveBeenLastCalledWith({ name: 'greeting', label: 'production' });
    await handler(
      request('GET', '/v1/prompts/{name}', { path: { name: 'greeting' }, query: { version: '7' } }),
      context,
    );
    expect(registry.get).toHaveBeenLastCalledWith({ name: 'greeting', version: 7 });
    const both = await handler(
      request('GET', '/v1/prompts/{name}', {
        path: { name: 'greeting' },
        query: { version: '7', label: 'staging' },
      }),
      context,
    );
    expect(both.statusCode).toBe(400);
    const bad = await handler(request('GET', '/v1/prompts/{name}', { path: { name: 'Greeting!' } }), context);
    expect(parse(bad).error.field).toBe('path.name');
  });

  it('moves a label (rollback) and lists versions with a bounded limit', async () => {
    const moved = await handler(
      request('PUT', '/v1/prompts/{name}/labels/{label}', {
        path: { name: 'greeting', label: 'production' },
        body: { version: 1 },
        admin: true,
      }),
      context,
    );
    expect(parse(moved)).toEqual({ name: 'greeting', label: 'production', version: 1, previousVersion: 1 });
    const tooMany = await handler(
      request('GET', '/v1/prompts/{name}/versions', { path: { name: 'greeting' }, query: { limit: '500' } }),
      context,
    );
    expect(parse(tooMany).error).toMatchObject({ field: 'query.limit' });
  });

  it('answers 404 for a prompt the registry does not know', async () => {
    registry.get.mockRejectedValueOnce(new NotFoundError('prompt nope does not exist'));
    const response = await handler(request('GET', '/v1/prompts/{name}', { path: { name: 'nope' } }), context);
    expect(response.statusCode).toBe(404);
  });
});

describe('prompts handler: the promotion gate of production', () => {
  const SUITE = 'support-golden';
  const RUN = '9b2f4c1e-0d3a-4e5f-8a7b-6c5d4e3f2a10';
  const NOW = Date.parse('2026-12-01T10:00:00.000Z');
  const eventBridge = mockClient(EventBridgeClient);
  afterAll(() => eventBridge.restore());

  const versionOf = (version: number): PromptVersion => ({ ...stored, version, labels: [] });
  let store: FakeEvaluationStore;
  let production: number | null;
  const registry = {
    createVersion: vi.fn(async () => stored),
    get: vi.fn(async (ref: { name: string; label?: string; version?: number }) => {
      if (ref.label === 'production') {
        if (production === null) throw new NotFoundError(`prompt ${ref.name} has no label production`);
        return versionOf(production);
      }
      if (ref.version !== undefined && ref.version <= 5) return versionOf(ref.version);
      throw new NotFoundError(`prompt ${ref.name} has no version ${ref.version}`);
    }),
    listVersions: vi.fn(async (name: string) => ({ name, versions: [], labels: {} })),
    moveLabel: vi.fn(async (name: string, label: string, version: number) => ({
      name,
      label,
      version,
      previousVersion: production,
    })),
  };
  let handler: ReturnType<typeof apiHandler>;

  beforeEach(() => {
    production = 2;
    registry.moveLabel.mockClear();
    eventBridge.reset();
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
    store = new FakeEvaluationStore();
    handler = apiHandler(
      makePrompts({
        registry,
        gate: {
          store,
          events: new EventBridgeClient({ region: 'us-east-1' }),
          busName: 'bus-test',
          suites: { greeting: SUITE },
          now: () => NOW,
          newRunId: () => RUN,
        },
      }),
      options,
    );
  });

  const move = (body: object, { name = 'greeting', label = 'production' } = {}) =>
    handler(
      request('PUT', '/v1/prompts/{name}/labels/{label}', { path: { name, label }, body, admin: true }),
      context,
    );
  const gateRecord = (overrides: Partial<PromotionGate>): PromotionGate => ({
    prompt: 'greeting',
    candidateVersion: 3,
    baselineVersion: 2,
    suite: SUITE,
    runId: 'run-earlier',
    status: 'succeeded',
    updatedAt: '2026-11-30T00:00:00.000Z',
    ...overrides,
  });
  const entries = () =>
    eventBridge.commandCalls(PutEventsCommand).flatMap((call) => call.args[0].input.Entries ?? []);
  const failing: GateMetric[] = [
    { name: 'faithfulness', verdict: 'fail', diff: -0.08, margin: 0.02, reason: 'faithfulness fell by 0.08' },
    { name: 'toxicity', verdict: 'fail', diff: 0.03, margin: 0.01, reason: 'toxicity rose by 0.03' },
  ];

  it('moves production when the evaluation of the version against production passed, naming it', async () => {
    await store.putGate(gateRecord({ pass: true, failing: [] }));
    const response = await move({ version: 3 });
    expect(response.statusCode).toBe(200);
    expect(parse(response)).toEqual({
      name: 'greeting',
      label: 'production',
      version: 3,
      previousVersion: 2,
      gate: { runId: 'run-earlier', pass: true },
    });
    expect(labelResponse.safeParse(parse(response)).success).toBe(true);
    expect(registry.moveLabel).toHaveBeenCalledWith('greeting', 'production', 3, ADMIN);
    expect(entries()).toEqual([]);
  });

  it('refuses with 409 evaluation_failed naming each failing metric, with the evaluation in the error body', async () => {
    await store.putGate(gateRecord({ pass: false, failing }));
    const response = await move({ version: 3 });
    expect(response.statusCode).toBe(409);
    const { error } = parse(response);
    expect(error).toMatchObject({
      code: 'evaluation_failed',
      type: 'conflict_error',
      param: null,
      requestId: 'req',
    });
    expect(error.message).toContain('faithfulness fell by 0.08');
    expect(error.message).toContain('toxicity rose by 0.03');
    expect(error.evaluation).toEqual({ runId: 'run-earlier', status: 'succeeded', failing });
    expect(errorResponse.safeParse(parse(response)).success).toBe(true);
    expect(registry.moveLabel).not.toHaveBeenCalled();
    expect(store.runs.size).toBe(0);
  });

  it("a RAG prompt's promotion run answers with the retrieval options its suite names", async () => {
    const gated = apiHandler(
      makePrompts({
        registry,
        gate: {
          store,
          events: new EventBridgeClient({ region: 'us-east-1' }),
          busName: 'bus-test',
          suites: { greeting: { suite: SUITE, rag: { k: 5, hybrid: true } } },
          now: () => NOW,
          newRunId: () => RUN,
        },
      }),
      options,
    );
    const response = await gated(
      request('PUT', '/v1/prompts/{name}/labels/{label}', {
        path: { name: 'greeting', label: 'production' },
        body: { version: 3 },
        admin: true,
      }),
      context,
    );
    expect(response.statusCode).toBe(409);
    expect(store.runs.get(RUN)?.request).toEqual({
      suite: SUITE,
      target: { prompt: 'greeting:3' },
      baseline: { prompt: 'greeting:2' },
      rag: { k: 5, hybrid: true },
    });
  });

  it.each(['queued', 'running'] as const)(
    'refuses with 409 evaluation_pending while the evaluation is %s, naming the run to follow',
    async (status) => {
      await store.putGate(gateRecord({ status }));
      const response = await move({ version: 3 });
      expect(response.statusCode).toBe(409);
      const { error } = parse(response);
      expect(error.code).toBe('evaluation_pending');
      expect(error.message).toContain('GET /v1/evaluations/run-earlier');
      expect(error.evaluation).toEqual({ runId: 'run-earlier', status, failing: [] });
      expect(registry.moveLabel).not.toHaveBeenCalled();
      expect(entries()).toEqual([]);
    },
  );

  it.each([
    ['no evaluation yet', undefined],
    ['the last one failed', 'failed'],
    ['the last one was skipped', 'skipped'],
  ] as const)(
    'with %s, starts one (run, gate record, event) and refuses with 409 evaluation_required',
    async (_case, status) => {
      if (status !== undefined) await store.putGate(gateRecord({ status }));
      const response = await move({ version: 3 });
      expect(response.statusCode).toBe(409);
      const { error } = parse(response);
      expect(error.code).toBe('evaluation_required');
      expect(error.message).toContain(`started evaluation run ${RUN}`);
      expect(error.message).toContain(`GET /v1/evaluations/${RUN}`);
      expect(error.evaluation).toEqual({ runId: RUN, status: 'queued', failing: [] });
      const request = {
        suite: SUITE,
        target: { prompt: 'greeting:3' },
        baseline: { prompt: 'greeting:2' },
      };
      expect(store.runs.get(RUN)).toEqual({
        runId: RUN,
        status: 'queued',
        trigger: 'promotion',
        request,
        requestedBy: `promotion:${ADMIN}`,
        createdAt: '2026-12-01T10:00:00.000Z',
        updatedAt: '2026-12-01T10:00:00.000Z',
      });
      expect(await store.getGate('greeting', 3, 2, SUITE)).toEqual({
        prompt: 'greeting',
        candidateVersion: 3,
        baselineVersion: 2,
        suite: SUITE,
        runId: RUN,
        status: 'queued',
        updatedAt: '2026-12-01T10:00:00.000Z',
      });
      const [entry, ...more] = entries();
      expect(more).toEqual([]);
      expect(entry).toMatchObject({ EventBusName: 'bus-test', DetailType: 'llmops.EvaluationRequested' });
      expect(evaluationRequestedDetail.parse(JSON.parse(entry?.Detail ?? '{}'))).toEqual({
        schemaVersion: '1.0',
        runId: RUN,
        trigger: 'promotion',
        requestedBy: `promotion:${ADMIN}`,
        request,
        promotion: { prompt: 'greeting', candidateVersion: 3, baselineVersion: 2 },
      });
      expect(registry.moveLabel).not.toHaveBeenCalled();
    },
  );

  it('marks the started run and gate failed when the event cannot be put, so the next move starts anew', async () => {
    eventBridge
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure' }] });
    const response = await move({ version: 3 });
    expect(response.statusCode).toBe(500);
    expect(store.runs.get(RUN)?.status).toBe('failed');
    expect((await store.getGate('greeting', 3, 2, SUITE))?.status).toBe('failed');
  });

  it('answers 404 for a version that does not exist, starting no evaluation', async () => {
    const response = await move({ version: 9 });
    expect(response.statusCode).toBe(404);
    expect(store.runs.size).toBe(0);
    expect(entries()).toEqual([]);
  });

  it('moves without a gate when production points nowhere yet or already at the version', async () => {
    production = null;
    expect((await move({ version: 3 })).statusCode).toBe(200);
    production = 3;
    expect((await move({ version: 3 })).statusCode).toBe(200);
    expect(registry.moveLabel).toHaveBeenCalledTimes(2);
    expect(store.runs.size).toBe(0);
    expect(entries()).toEqual([]);
  });

  it('refuses force without a reason with 400 naming reason', async () => {
    await store.putGate(gateRecord({ pass: false, failing }));
    const response = await move({ version: 3, force: true });
    expect(response.statusCode).toBe(400);
    expect(parse(response).error.field).toBe('reason');
    expect(registry.moveLabel).not.toHaveBeenCalled();
  });

  it('forces past a failed gate with a reason: moves, keeps the reason, puts llmops.PromptGateOverridden', async () => {
    await store.putGate(gateRecord({ pass: false, failing }));
    const reason = 'Hotfix for incident 42; evaluation re-run tomorrow';
    const response = await move({ version: 3, force: true, reason });
    expect(response.statusCode).toBe(200);
    expect(parse(response)).toEqual({
      name: 'greeting',
      label: 'production',
      version: 3,
      previousVersion: 2,
      forced: true,
    });
    expect(registry.moveLabel).toHaveBeenCalledWith('greeting', 'production', 3, ADMIN, reason);
    const [entry, ...more] = entries();
    expect(more).toEqual([]);
    expect(entry?.DetailType).toBe('llmops.PromptGateOverridden');
    expect(promptGateOverriddenDetail.parse(JSON.parse(entry?.Detail ?? '{}'))).toEqual({
      schemaVersion: '1.0',
      prompt: 'greeting',
      label: 'production',
      version: 3,
      previousVersion: 2,
      reason,
      author: ADMIN,
      gate: { status: 'succeeded', runId: 'run-earlier', pass: false },
    });
    expect(store.runs.size).toBe(0);
  });

  it('forces past a missing evaluation, saying so in the event', async () => {
    const response = await move({ version: 3, force: true, reason: 'urgent' });
    expect(parse(response).forced).toBe(true);
    expect(JSON.parse(entries()[0]?.Detail ?? '{}').gate).toEqual({
      status: 'none',
      runId: null,
      pass: null,
    });
  });

  it('leaves other labels ungated, and refuses force on them', async () => {
    const response = await move({ version: 3 }, { label: 'staging' });
    expect(response.statusCode).toBe(200);
    expect(parse(response)).toEqual({ name: 'greeting', label: 'staging', version: 3, previousVersion: 2 });
    const forced = await move({ version: 3, force: true, reason: 'r' }, { label: 'staging' });
    expect(forced.statusCode).toBe(400);
    expect(parse(forced).error).toMatchObject({
      field: 'force',
      message: expect.stringMatching(/^force applies only to a gated production move/),
    });
    expect(registry.moveLabel).toHaveBeenCalledTimes(1);
    expect(store.runs.size).toBe(0);
    expect(entries()).toEqual([]);
  });

  it('leaves production of a prompt without a promotion suite ungated, and refuses force on it', async () => {
    const response = await move({ version: 3 }, { name: 'farewell' });
    expect(response.statusCode).toBe(200);
    expect(parse(response).gate).toBeUndefined();
    const forced = await move({ version: 3, force: true, reason: 'r' }, { name: 'farewell' });
    expect(forced.statusCode).toBe(400);
    expect(parse(forced).error.field).toBe('force');
    expect(registry.moveLabel).toHaveBeenCalledTimes(1);
    expect(entries()).toEqual([]);
  });

  it('gates nothing without a gate (no EVALUATIONS_TABLE)', async () => {
    const ungated = apiHandler(makePrompts({ registry }), options);
    const response = await ungated(
      request('PUT', '/v1/prompts/{name}/labels/{label}', {
        path: { name: 'greeting', label: 'production' },
        body: { version: 3 },
        admin: true,
      }),
      context,
    );
    expect(response.statusCode).toBe(200);
    expect(store.runs.size).toBe(0);
  });
});

describe('promotion gate configuration', () => {
  const create = vi.fn((table: string, busName: string, suites: Record<string, string | PromotionSuite>) => ({
    store: new FakeEvaluationStore(),
    events: new EventBridgeClient({ region: 'us-east-1' }),
    busName: `${table}/${busName}`,
    suites,
  }));

  it('parses PROMOTION_SUITES as prompt name → suite name, and fails naming it when invalid', () => {
    expect(parsePromotionSuites(undefined)).toEqual({});
    expect(parsePromotionSuites('')).toEqual({});
    expect(parsePromotionSuites('{"greeting":"support-golden"}')).toEqual({ greeting: 'support-golden' });
    // A RAG prompt's suite names the retrieval options its answers need.
    expect(parsePromotionSuites('{"answer":{"suite":"golden","rag":{"k":5}}}')).toEqual({
      answer: { suite: 'golden', rag: { k: 5 } },
    });
    for (const bad of [
      '{not json',
      '["greeting"]',
      '{"Greeting!":"s"}',
      '{"greeting":"Bad Suite"}',
      '{"answer":{"suite":"golden","rag":{"k":0}}}',
      '{"answer":{"suite":"golden","ragK":5}}',
    ]) {
      expect(() => parsePromotionSuites(bad), bad).toThrow(ConfigError);
      expect(() => parsePromotionSuites(bad), bad).toThrow(/PROMOTION_SUITES/);
    }
  });

  it('gates only with a table and suites, and fails at cold start when gated prompts lack the table or the bus', () => {
    const suites = '{"greeting":"support-golden"}';
    expect(promotionGateOf({}, create)).toBeUndefined();
    expect(promotionGateOf({ EVALUATIONS_TABLE: 't', EVENT_BUS_NAME: 'b' }, create)).toBeUndefined();
    expect(
      promotionGateOf({ EVALUATIONS_TABLE: 't', EVENT_BUS_NAME: 'b', PROMOTION_SUITES: suites }, create)
        ?.suites,
    ).toEqual({ greeting: 'support-golden' });
    expect(create).toHaveBeenCalledWith('t', 'b', { greeting: 'support-golden' });
    expect(() => promotionGateOf({ PROMOTION_SUITES: suites }, create)).toThrow(/EVALUATIONS_TABLE/);
    expect(() => promotionGateOf({ EVALUATIONS_TABLE: 't', PROMOTION_SUITES: suites }, create)).toThrow(
      /EVENT_BUS_NAME/,
    );
  });
});

describe('prompt registry label history', () => {
  it('keeps the reason of a move on its label-history item, and only when one is given', async () => {
    const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
    const dynamo = mockClient(doc);
    try {
      dynamo.on(GetCommand).resolves({ Item: { ...stored, version: 3 } });
      dynamo.on(UpdateCommand).resolves({ Attributes: { version: 2 } });
      dynamo.on(PutCommand).resolves({});
      const registry = new PromptRegistry(doc, 'prompts-test', { now: () => 0 });
      await registry.moveLabel('greeting', 'production', 3, ADMIN, 'hotfix');
      await registry.moveLabel('greeting', 'production', 3, ADMIN);
      const [withReason, without] = dynamo.commandCalls(PutCommand).map((call) => call.args[0].input.Item);
      expect(withReason).toMatchObject({
        type: 'LabelMove',
        version: 3,
        previousVersion: 2,
        reason: 'hotfix',
      });
      expect(without).toMatchObject({ type: 'LabelMove', version: 3 });
      expect(without).not.toHaveProperty('reason');
      dynamo.on(QueryCommand).resolves({ Items: [withReason ?? {}, without ?? {}] });
      const history = await registry.labelHistory('greeting');
      expect(history[0]?.reason).toBe('hotfix');
      expect(history[1]).not.toHaveProperty('reason');
    } finally {
      dynamo.restore();
    }
  });
});

const pricedModel = (id: string, price: number): CatalogModel =>
  catalogModel(id, {
    contextWindow: 100_000,
    pricePer1kInputUsd: price,
    pricePer1kOutputUsd: price * 4,
    features: ['streaming'],
  });

describe('models handler', () => {
  const models = [pricedModel('b', 0.002), pricedModel('a', 0.001)];
  const catalog = {
    list: vi.fn(async () => models),
    put: vi.fn(async (model: CatalogModel) => model),
  };
  const ensureSeeded = vi.fn(async () => {});
  const handler = apiHandler(makeModels({ catalog, ensureSeeded }), options);

  it("lists the catalog after seeding it once, as OpenAI's model list carrying every catalog field", async () => {
    const response = await handler(request('GET', '/v1/models', { query: { kind: 'chat' } }), context);
    const list = parse(response);
    expect(list.object).toBe('list');
    expect(list.data).toEqual(
      models.map((model) => ({ ...model, object: 'model', created: 0, owned_by: 'bedrock' })),
    );
    expect(catalog.list).toHaveBeenCalledWith({ kind: 'chat' });
    expect(ensureSeeded).toHaveBeenCalled();
    const bad = await handler(request('GET', '/v1/models', { query: { kind: 'vision' } }), context);
    expect(parse(bad).error.field).toBe('query.kind');
  });

  it('selects the cheapest model that meets the constraints', async () => {
    const response = await handler(
      request('POST', '/v1/models/select', { body: { features: ['streaming'] } }),
      context,
    );
    expect(parse(response)).toMatchObject({ model: { id: 'a' }, candidates: 2 });
    const none = await handler(
      request('POST', '/v1/models/select', { body: { minContextTokens: 1_000_000 } }),
      context,
    );
    expect(none.statusCode).toBe(422);
  });

  it('lets an admin put a catalog entry, with the id from the path', async () => {
    const { id: _id, ...entry } = pricedModel('c', 0.5);
    const response = await handler(
      request('PUT', '/v1/models/{id}', { path: { id: 'c' }, body: entry, admin: true }),
      context,
    );
    expect(response.statusCode).toBe(200);
    expect(catalog.put).toHaveBeenCalledWith({ ...entry, id: 'c' }, ADMIN);
  });

  it('seeds once per process and retries after a failure', async () => {
    const seed = vi.fn().mockRejectedValueOnce(new Error('throttled')).mockResolvedValue(undefined);
    const ensure = seedOnce({ seed }, []);
    await ensure();
    await ensure();
    await ensure();
    expect(seed).toHaveBeenCalledTimes(2);
  });
});

describe('OpenAPI document', () => {
  const document = buildOpenApiDocument('1.0.0') as {
    paths: Record<string, Record<string, { security: object[]; requestBody?: unknown }>>;
  };

  it('describes every route with its auth, and every body from the same schemas', () => {
    for (const route of API_ROUTES) {
      const operation = document.paths[route.path]?.[route.method.toLowerCase()];
      expect(operation, `${route.method} ${route.path}`).toBeDefined();
      // Admin and reviewer routes are signed with SigV4; only app routes take an API key.
      expect(operation?.security).toEqual([route.auth === 'apiKey' ? { apiKey: [] } : { sigv4: [] }]);
      expect(operation?.requestBody !== undefined).toBe(route.requestBody !== undefined);
    }
    const chat = document.paths['/v1/chat']?.post as unknown as {
      requestBody: {
        content: { 'application/json': { schema: { required: string[]; additionalProperties: boolean } } };
      };
    };
    expect(chat.requestBody.content['application/json'].schema.required).toEqual(['prompt']);
    expect(chat.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
  });

  it('describes the evaluation and review routes: 202 for a started run, SigV4 for reviewers, the gate 409', () => {
    type Operation = {
      security: object[];
      parameters: { name: string; in: string }[];
      responses: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }>;
    };
    const op = (path: string, method: string) =>
      (document.paths[path] as unknown as Record<string, Operation>)[method] as Operation;
    const create = op('/v1/evaluations', 'post');
    expect(Object.keys(create.responses)).toContain('202');
    expect(Object.keys(create.responses)).not.toContain('200');
    const run = create.responses['202']?.content?.['application/json']?.schema as {
      properties: Record<string, unknown>;
    };
    expect(Object.keys(run.properties)).toEqual(expect.arrayContaining(['runId', 'status', 'links']));
    expect(op('/v1/evaluations/{id}', 'get').parameters).toEqual([
      { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
    ]);
    for (const [path, method] of [
      ['/v1/reviews', 'get'],
      ['/v1/reviews/{id}', 'post'],
    ] as const) {
      expect(op(path, method).security, `${method} ${path}`).toEqual([{ sigv4: [] }]);
    }
    expect(op('/v1/reviews', 'get').parameters.map((p) => p.name)).toEqual(['status', 'limit', 'nextToken']);
    expect(Object.keys(op('/v1/prompts/{name}/labels/{label}', 'put').responses)).toContain('409');
    const error = (document as unknown as { components: { schemas: { Error: Record<string, unknown> } } })
      .components.schemas.Error as { properties: { error: { properties: Record<string, unknown> } } };
    expect(Object.keys(error.properties.error.properties)).toContain('evaluation');
  });

  it('describes the drift routes: SigV4, 202 for a baseline request, the check query, the status of each check', () => {
    type Operation = {
      security: object[];
      parameters: { name: string; in: string }[];
      requestBody?: { content: Record<string, { schema: { required?: string[] } }> };
      responses: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }>;
    };
    const op = (path: string, method: string) =>
      (document.paths[path] as unknown as Record<string, Operation>)[method] as Operation;
    const create = op('/v1/drift/baselines', 'post');
    expect(create.security).toEqual([{ sigv4: [] }]);
    expect(create.requestBody?.content['application/json']?.schema.required).toEqual(['check', 'source']);
    expect(Object.keys(create.responses)).toContain('202');
    const accepted = create.responses['202']?.content?.['application/json']?.schema as {
      properties: Record<string, unknown>;
    };
    expect(Object.keys(accepted.properties).sort()).toEqual(['check', 'requestedAt', 'source', 'status']);
    const status = op('/v1/drift/status', 'get');
    expect(status.security).toEqual([{ sigv4: [] }]);
    expect(status.parameters).toEqual([
      { name: 'check', in: 'query', required: false, schema: { type: 'string' } },
    ]);
    const checks = status.responses['200']?.content?.['application/json']?.schema as {
      properties: { checks: { items: { properties: Record<string, unknown> } } };
    };
    expect(Object.keys(checks.properties.checks.items.properties)).toEqual(
      expect.arrayContaining(['check', 'filter', 'baseline', 'policy', 'windows', 'links']),
    );
  });
});
