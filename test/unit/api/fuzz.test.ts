// The functions' environment, set before their handler modules are imported (they read it at import).
import '../../support/env/api.ts';
import '../../support/env/drift-api.ts';
import '../../support/env/finetune.ts';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { ApiResponse } from '#aws/http.ts';
import { API_ROUTES, type ApiRoute, pathParameters } from '#contracts/http/routes.ts';
import { BEDROCK_CATALOG } from '#infra/config/bedrock-catalog.ts';
import { invokeStreaming, type StreamingHandler } from '#infra/local/lambda-streaming.ts';
import { TEST_EMBEDDING_MODEL } from '../../support/env/embedding-model.ts';
import { fakeDynamo } from './dynamo-fake.ts';

/**
 * Every route of the route table, called through its function's real handler (the HTTP edge, the
 * dispatcher, the handlers' parsing, the stores) with hostile input: random and near-valid bodies,
 * query strings, path parameters, headers, identities and sizes, and forged pagination tokens. AWS is
 * mocked at the SDK client level; DynamoDB refuses what the real service refuses (a malformed or
 * oversized key or start key) with a `ValidationException`. No caller input may yield a 5xx: the 5xx
 * alarm pages on-call.
 */
process.env.MODEL_PROVIDER = 'offline';
process.env.MAX_REQUEST_BYTES = '65536';
const dynamo = fakeDynamo();
const events = mockClient(EventBridgeClient);
events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
const sagemaker = mockClient(SageMakerClient);
sagemaker.onAnyCommand().resolves({});

const handlers = {
  chat: (await import('#functions/api/chat.ts')).handler as unknown as StreamingHandler,
  prompts: (await import('#functions/api/prompts.ts')).handler,
  models: (await import('#functions/api/models.ts')).handler,
  rag: (await import('#functions/api/rag.ts')).handler,
  openapi: (await import('#functions/api/openapi.ts')).handler,
  evaluations: (await import('#functions/api/evaluations.ts')).handler,
  drift: (await import('#functions/api/drift.ts')).handler,
  finetune: (await import('#functions/api/finetune.ts')).handler,
  feedback: (await import('#functions/api/feedback.ts')).handler,
};

afterAll(() => {
  dynamo.mock.restore();
  events.restore();
  sagemaker.restore();
});

const NOW = '2026-12-01T00:00:00.000Z';
const version = (n: number) => ({
  pk: 'PROMPT#greeting',
  sk: `V#${String(n).padStart(10, '0')}`,
  name: 'greeting',
  version: n,
  messages: [{ role: 'user', content: 'Hello {{who}}' }],
  variables: { who: { type: 'string' } },
  commitMessage: `v${n}`,
  author: 'arn:aws:iam::123456789012:role/admin',
  createdAt: NOW,
  contentHash: `h${n}`,
});
const label = (name: string, n: number) => ({
  pk: 'PROMPT#greeting',
  sk: `LABEL#${name}`,
  label: name,
  version: n,
  updatedAt: NOW,
  updatedBy: 'admin',
});
dynamo.items['prompts-test'] = [version(2), version(1), label('latest', 2), label('production', 1)];
dynamo.items['catalog-test'] = BEDROCK_CATALOG.map((model) => ({ ...model, pk: model.id, source: 'config' }));
dynamo.items['documents-test'] = [
  {
    pk: 'doc#guides/intro.md',
    gsi1pk: 'upload',
    gsi1sk: 'guides/intro.md',
    docId: 'guides/intro.md',
    collection: 'upload',
    status: 'indexed',
    version: 'v',
    chunkCount: 1,
    runId: 'r',
    createdAt: NOW,
    updatedAt: NOW,
  },
];
dynamo.items['drift-test'] = [
  {
    pk: 'CHECK#support',
    sk: 'BASELINE#0000000001',
    type: 'DriftBaseline',
    check: 'support',
    version: 1,
    source: { kind: 'suite', name: 'support-golden' },
    records: 10,
    embedded: 10,
    embeddingModel: null,
    location: { bucket: 'artifacts-test', key: 'drift/baselines/support/b1.jsonl' },
    createdAt: NOW,
    createdBy: 'admin',
  },
  {
    pk: 'CHECK#support',
    sk: `WINDOW#${NOW}`,
    type: 'DriftWindow',
    check: 'support',
    window: { start: NOW, end: NOW },
    baseline: 1,
    status: 'checked',
    n: { reference: 10, current: 10 },
    drift: false,
    signals: {},
    report: { bucket: 'artifacts-test', prefix: `drift/reports/support/${NOW}/` },
    checkedAt: NOW,
  },
];
// An answer of app `web` (API key `key-1`) open to feedback until 2100.
dynamo.items['interactions-test'] = [
  {
    pk: 'i-1',
    interactionId: 'i-1',
    app: 'web',
    tenant: null,
    occurredAt: NOW,
    expiresAt: 4_102_444_800,
    route: 'chat',
    prompt: { name: 'greeting', version: 2, ref: 'greeting@latest' },
    model: { id: 'nova-micro', provider: 'offline', modelId: 'us.amazon.nova-micro-v1:0' },
    retrieval: [],
    system: null,
    messages: [{ role: 'user', content: 'Hello Ada' }],
    answer: 'Hello!',
    promptHash: `sha256:${'0'.repeat(64)}`,
    truncated: false,
  },
];
dynamo.lastKey['documents-test'] = { pk: 'doc#guides/intro.md', gsi1pk: 'upload', gsi1sk: 'guides/intro.md' };

const context = {
  awsRequestId: 'ctx',
  functionName: 'api',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

async function invoke(route: ApiRoute, event: APIGatewayProxyEvent): Promise<number> {
  if (route.fn === 'chat') {
    const response = await invokeStreaming(handlers.chat, event, context);
    for await (const _chunk of response.body) {
      // Drained: a stream that fails after its prelude would surface here.
    }
    return response.statusCode;
  }
  const handler = handlers[route.fn] as unknown as (
    e: APIGatewayProxyEvent,
    c: Context,
  ) => Promise<ApiResponse>;
  return (await handler(event, context)).statusCode;
}

// ---- Arbitraries ----------------------------------------------------------------------------------

const b64 = (value: string) => Buffer.from(value, 'utf8').toString('base64url');

/** Text of every kind: ASCII, full Unicode (lone surrogates included), long runs, multi-byte runs. */
const text = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      '0',
      '-1',
      '1.5',
      '101',
      'null',
      '%',
      '%E0%A4%A',
      '../..',
      'a'.repeat(3000),
      '語'.repeat(1100),
      '😀'.repeat(600),
    ),
  },
);

/** A DynamoDB key as a forger might write it. */
const forgedKey = fc.oneof(
  fc.dictionary(
    fc.constantFrom('pk', 'sk', 'gsi1pk', 'gsi1sk', 'x'),
    fc.oneof(text, fc.integer(), fc.constant(null)),
  ),
  fc.record({ pk: fc.constantFrom('doc#a.md', 'PROMPT#greeting', '', 'doc#'), gsi1pk: text, gsi1sk: text }),
  fc.constant({ pk: 'PROMPT#greeting', sk: 'V#0000000001' }),
  fc.constant({ pk: 'doc#guides/intro.md' }),
);

/** Tokens: random text, base64url of random JSON, envelopes with forged keys, listings and queries. */
const nextToken = fc.oneof(
  text,
  fc.jsonValue().map((value) => b64(JSON.stringify(value))),
  fc
    .record({
      v: fc.constantFrom(1, 2, '1'),
      l: fc.constantFrom('rag-documents', 'prompt-versions', 'other'),
      q: fc.oneof(
        fc.constantFrom('[]', '[["collection","upload"]]', '[["name","greeting"]]', '[["name","other"]]'),
        text,
      ),
      k: forgedKey,
    })
    .map((envelope) => b64(JSON.stringify(envelope))),
);

const queryValue = (name: string) =>
  name === 'nextToken'
    ? nextToken
    : name === 'collection'
      ? fc.oneof(fc.constantFrom('upload', 'dataset:faq'), text)
      : name === 'status' || name === 'kind'
        ? fc.oneof(fc.constantFrom('indexed', 'failed', 'chat', 'embedding', 'active'), text)
        : name === 'label'
          ? fc.oneof(fc.constantFrom('production', 'latest', 'staging'), text)
          : name === 'check'
            ? fc.oneof(fc.constantFrom('support', 'all-traffic', 'billing'), text)
            : fc.oneof(fc.constantFrom('1', '2', '50', '100'), text);

const query = (route: ApiRoute) =>
  fc.oneof(
    fc.constant(null),
    fc.record(Object.fromEntries((route.query ?? []).map((name) => [name, queryValue(name)])), {
      requiredKeys: [],
    }),
    fc.dictionary(fc.oneof(fc.constantFrom(...(route.query ?? ['x'])), text), text, { maxKeys: 4 }),
  );

const pathValue = (name: string) =>
  fc.oneof(
    name === 'name'
      ? fc.constantFrom('greeting', 'other', 'a')
      : name === 'label'
        ? fc.constantFrom('production', 'latest', 'Prod')
        : name === 'id'
          ? fc.constantFrom('guides%2Fintro.md', 'guides/intro.md', 'nova-micro', 'titan-embed-text-v2')
          : fc.constant('x'),
    text,
  );

const pathParams = (route: ApiRoute) => {
  const names = pathParameters(route.path);
  if (names.length === 0) return fc.constant(null);
  return fc.oneof(
    { weight: 4, arbitrary: fc.record(Object.fromEntries(names.map((n) => [n, pathValue(n)]))) },
    { weight: 1, arbitrary: fc.constant(null) },
    {
      weight: 1,
      arbitrary: fc.record(Object.fromEntries(names.map((n) => [n, pathValue(n)])), { requiredKeys: [] }),
    },
  );
};

const headers = fc.oneof(
  { weight: 3, arbitrary: fc.constant(null) },
  {
    weight: 3,
    arbitrary: fc.record(
      {
        'x-tenant-id': fc.constantFrom('acme', 'a.b_c:d-e'),
        'content-type': fc.constant('application/json'),
      },
      { requiredKeys: [] },
    ),
  },
  fc.record(
    {
      'x-tenant-id': fc.oneof(fc.constantFrom('acme', 'a.b_c:d-e'), text),
      'content-type': fc.constantFrom('application/json', 'text/plain', ''),
      'X-Api-Key': text,
    },
    { requiredKeys: [] },
  ),
  fc.dictionary(text, text, { maxKeys: 3 }),
);

/** The query a listing's token is bound to, as the API writes it (defined entries, sorted by name). */
const boundQuery = (entries: Record<string, string | undefined>) =>
  JSON.stringify(
    Object.entries(entries)
      .filter(([, value]) => value !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );

/**
 * A token for exactly the listing and query of the request, around a forged key (or the raw key of the
 * first token format): what gets furthest towards DynamoDB's `ExclusiveStartKey`.
 */
function withBoundToken(route: ApiRoute, event: APIGatewayProxyEvent): fc.Arbitrary<APIGatewayProxyEvent> {
  if (!(route.query ?? []).includes('nextToken')) return fc.constant(event);
  const q = event.queryStringParameters ?? {};
  const listing = route.fn === 'rag' ? 'rag-documents' : 'prompt-versions';
  const bound =
    route.fn === 'rag'
      ? boundQuery({ collection: q.collection, status: q.status })
      : boundQuery({ name: event.pathParameters?.name });
  return fc
    .oneof(
      forgedKey.map((k) => b64(JSON.stringify({ v: 1, l: listing, q: bound, k }))),
      forgedKey.map((k) => b64(JSON.stringify(k))),
    )
    .map((token) => ({ ...event, queryStringParameters: { ...q, nextToken: token } }));
}

const ADMIN = { apiKeyId: null, userArn: 'arn:aws:iam::123456789012:role/admin' };
const identity = fc.constantFrom(
  { apiKeyId: 'key-1', userArn: null },
  ADMIN,
  { apiKeyId: 'unknown-key', userArn: null },
  { apiKeyId: null, userArn: null },
);

/** A body the route would accept, to be mutated. */
const VALID: Record<string, Record<string, unknown>> = {
  chat: { prompt: 'greeting', variables: { who: 'Ada' }, messages: [{ role: 'user', content: 'hi' }] },
  selectModel: { kind: 'chat', minContextTokens: 1000 },
  putModel: (({ id: _id, ...rest }) => rest)(TEST_EMBEDDING_MODEL),
  createPromptVersion: {
    messages: [{ role: 'user', content: 'Hi {{who}}' }],
    variables: { who: { type: 'string' } },
    commitMessage: 'c',
  },
  movePromptLabel: { version: 1 },
  searchRag: { query: 'refunds', k: 3 },
  createChatCompletion: {
    model: 'nova-micro',
    messages: [{ role: 'user', content: 'hi' }],
    stream_options: { include_usage: true },
    llmops: { prompt: 'greeting', variables: { who: 'Ada' } },
  },
  createEmbeddings: { model: 'titan-embed-text-v2', input: ['refunds', 'returns'], dimensions: 256 },
  sendFeedback: {
    interactionId: 'chatcmpl-i-1',
    rating: 'down',
    comment: 'Wrong: write to ada@example.com',
    correction: 'Hello, Ada!',
    categories: ['wrong_answer'],
    user: 'ada',
  },
  createDriftBaseline: {
    check: 'support',
    source: { kind: 'window', from: '2026-11-01T00:00:00.000Z', to: '2026-11-08T00:00:00.000Z' },
    note: 'fuzz',
  },
};

const jsonish = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(0, -1, Number.MAX_VALUE, 1.5, 2 ** 53, '', 'x'.repeat(120_000), [], {}),
  },
);

const body = (route: ApiRoute) => {
  const valid = VALID[route.operationId];
  const bodies: fc.Arbitrary<unknown>[] = [jsonish];
  if (valid !== undefined) {
    const keys = Object.keys(valid);
    bodies.push(
      fc.constant(valid),
      fc.tuple(fc.constantFrom(...keys), jsonish).map(([key, value]) => ({ ...valid, [key]: value })),
      fc.tuple(fc.string({ maxLength: 12 }), jsonish).map(([key, value]) => ({ ...valid, [key]: value })),
      fc
        .record({ stream: fc.boolean(), rag: fc.oneof(fc.constant({}), fc.constant({ k: 2 }), jsonish) })
        .map((extra) => ({ ...valid, ...extra })),
    );
  }
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant({ body: null, base64: false }) },
    { weight: 1, arbitrary: text.map((raw) => ({ body: raw, base64: false })) },
    { weight: 1, arbitrary: text.map((raw) => ({ body: b64(raw), base64: true })) },
    {
      weight: 5,
      arbitrary: fc.tuple(fc.oneof(...bodies), fc.boolean()).map(([value, base64]) => {
        const raw = JSON.stringify(value) ?? 'null';
        return { body: base64 ? Buffer.from(raw).toString('base64') : raw, base64 };
      }),
    },
  );
};

const request = (route: ApiRoute) =>
  fc
    .record({
      path: pathParams(route),
      query: query(route),
      headers,
      identity: route.auth === 'iam' ? fc.oneof(fc.constant(ADMIN), identity) : identity,
      body: body(route),
    })
    .map(
      (r) =>
        ({
          resource: route.path,
          path: route.path,
          httpMethod: route.method,
          headers: r.headers,
          multiValueHeaders: {},
          queryStringParameters: r.query,
          multiValueQueryStringParameters: null,
          pathParameters: r.path,
          stageVariables: null,
          body: r.body.body,
          isBase64Encoded: r.body.base64,
          requestContext: { requestId: 'req', identity: r.identity },
        }) as unknown as APIGatewayProxyEvent,
    )
    .chain((event) =>
      fc.oneof(
        { weight: 3, arbitrary: fc.constant(event) },
        { weight: 1, arbitrary: withBoundToken(route, event) },
      ),
    );

// ---- Properties -------------------------------------------------------------------------------------

describe('every route, hostile input', () => {
  it('covers the whole route table', () => {
    expect(API_ROUTES.length).toBeGreaterThan(0);
    for (const route of API_ROUTES) expect(Object.keys(handlers)).toContain(route.fn);
  });

  it.each(API_ROUTES.map((route) => [`${route.method} ${route.path}`, route] as const))(
    '%s never answers 5xx',
    async (_name, route) => {
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(request(route), async (event) => {
          const status = await invoke(route, event);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          expect(status, JSON.stringify(event).slice(0, 2000)).toBeLessThan(500);
        }),
        { seed: 20261201, numRuns: 300, endOnFailure: true },
      );
      if (process.env.FUZZ_REPORT) console.log(route.operationId, Object.fromEntries(statuses));
      // Some input got past parsing: the property is not only exercising the 400 path.
      expect([...statuses.keys()].some((status) => status < 400 || status === 404 || status === 403)).toBe(
        true,
      );
    },
    30_000,
  );
});
