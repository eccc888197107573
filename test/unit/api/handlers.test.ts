// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/api.ts';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { NotFoundError } from '#aws/errors.ts';
import { type ApiResponse, apiHandler } from '#aws/http.ts';
import { seedOnce } from '#aws/model-catalog.ts';
import { API_ROUTES } from '#contracts/http/routes.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import type { PromptVersion } from '#contracts/prompts/types.ts';
import { makeHandler as makeModels } from '#functions/api/models.ts';
import { buildOpenApiDocument } from '#functions/api/openapi-document.ts';
import { makeHandler as makePrompts } from '#functions/api/prompts.ts';
import { FULL_ACCESS } from '../../support/app-access.ts';
import { type ApiEventOptions, apiEvent, catalogModel } from '../../support/gateway-fixtures.ts';

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
      expect(operation?.security).toEqual([route.auth === 'iam' ? { sigv4: [] } : { apiKey: [] }]);
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
});
