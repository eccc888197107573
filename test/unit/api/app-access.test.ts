// The functions' environment, set before their handler modules are imported (they read it at import).
import '../../support/env/api.ts';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { type ApiResponse, apiHandler, json } from '#aws/http.ts';
import type { DocumentItem, DocumentPage } from '#aws/rag/documents.ts';
import type { RetrievalRequest } from '#aws/rag/retriever.ts';
import type { AppAccess } from '#contracts/http/access.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import type { PromptVersion } from '#contracts/prompts/types.ts';
import { makeHandler as makeModels } from '#functions/api/models.ts';
import { makeHandler as makeOpenApi } from '#functions/api/openapi.ts';
import { buildOpenApiDocument } from '#functions/api/openapi-document.ts';
import { makeHandler as makePrompts } from '#functions/api/prompts.ts';
import { makeHandler as makeRag } from '#functions/api/rag.ts';
import { FULL_ACCESS } from '../../support/app-access.ts';
import {
  type ApiEventOptions,
  apiEvent,
  catalogModel,
  retrievalFor,
} from '../../support/gateway-fixtures.ts';

/**
 * Per-app access at the handlers: each app reads only its prompts, lists and picks only its models,
 * searches and lists only its RAG collections, and never sees authors' ARNs; an administrator (IAM)
 * sees everything; a key of no configured app gets nothing. Refusals are 403s that name the app and
 * the rule; another collection's document is a 404, as a missing one.
 */
const context = { awsRequestId: 'ctx' } as Context;
const ADMIN_ARN = 'arn:aws:iam::123456789012:role/prompt-admin';

const MOBILE: AppAccess = {
  prompts: ['support-*'],
  models: ['nova-*'],
  collections: ['upload', 'dataset:faq-*'],
  rawChat: false,
  tokensPerDay: 50_000,
};

const options = {
  appKeys: { 'key-mobile': 'mobile', 'key-web': 'web', 'key-stray': 'stray' },
  appAccess: { mobile: MOBILE, web: FULL_ACCESS },
  maxRequestBytes: 100_000,
};

type Caller = 'mobile' | 'web' | 'stray' | 'admin' | 'anonymous';

function request(
  httpMethod: string,
  resource: string,
  caller: Caller,
  options: ApiEventOptions = {},
): APIGatewayProxyEvent {
  const identity =
    caller === 'admin'
      ? { userArn: ADMIN_ARN, apiKeyId: null }
      : caller === 'anonymous'
        ? { userArn: null, apiKeyId: null }
        : { userArn: null, apiKeyId: `key-${caller}` };
  return apiEvent(httpMethod, resource, { ...options, identity });
}

const parse = (response: ApiResponse) => JSON.parse(String(response.body));

function expectForbidden(response: ApiResponse, message: string): void {
  expect(response.statusCode).toBe(403);
  expect(parse(response).error).toMatchObject({ code: 'forbidden', message });
}

describe('the caller', () => {
  const echo = apiHandler(async (r) => json(200, r.caller), options);
  const callerOf = async (who: Caller) => parse(await echo(request('GET', '/x', who), context));

  it('holds a configured app to its own access, and an IAM principal to none (access null)', async () => {
    expect((await callerOf('mobile')).access).toEqual(MOBILE);
    expect((await callerOf('web')).access).toEqual(FULL_ACCESS);
    expect(await callerOf('admin')).toMatchObject({ app: 'admin', access: null, principal: ADMIN_ARN });
  });

  it('gives a key of no configured app, or no key at all, nothing', async () => {
    const nothing = { prompts: [], models: [], collections: [], rawChat: false, tokensPerDay: 0 };
    expect((await callerOf('stray')).access).toEqual(nothing);
    expect((await callerOf('anonymous')).access).toEqual(nothing);
    // An app named like an Object property is still just an unconfigured app.
    const odd = apiHandler(async (r) => json(200, r.caller), { ...options, appKeys: { k: 'constructor' } });
    const event = request('GET', '/x', 'anonymous');
    (event.requestContext.identity as { apiKeyId: string | null }).apiKeyId = 'k';
    expect(parse(await odd(event, context)).access).toEqual(nothing);
  });

  it('lets an app act only for the tenants its access names (x-tenant-id), refusing others with 403', async () => {
    const tenanted = apiHandler(async (r) => json(200, r.caller), {
      ...options,
      appAccess: { ...options.appAccess, mobile: { ...MOBILE, tenants: ['acme-*'] } },
    });
    const as = (tenant?: string) =>
      tenanted(request('GET', '/x', 'mobile', tenant ? { headers: { 'X-Tenant-Id': tenant } } : {}), context);
    expect(parse(await as('acme-eu')).tenant).toBe('acme-eu');
    expect(parse(await as()).tenant).toBeNull();
    expectForbidden(await as('globex'), 'app "mobile" may not act for tenant "globex" (allowed: acme-*)');
    // Without a tenants list, any tenant; an administrator, any tenant.
    expect(
      parse(await echo(request('GET', '/x', 'web', { headers: { 'x-tenant-id': 'globex' } }), context))
        .tenant,
    ).toBe('globex');
  });

  it('gives nothing to every app when no APP_ACCESS is configured (fail closed)', async () => {
    const bare = apiHandler(async (r) => json(200, r.caller), {
      appKeys: options.appKeys,
      maxRequestBytes: 1000,
    });
    expect(parse(await bare(request('GET', '/x', 'web'), context)).access).toMatchObject({ prompts: [] });
  });
});

describe('prompts', () => {
  const stored: PromptVersion = {
    name: 'support-refunds',
    version: 2,
    messages: [{ role: 'system', content: 'You are the refunds desk.' }],
    variables: {},
    commitMessage: 'second',
    author: ADMIN_ARN,
    createdAt: '2026-11-26T00:00:00.000Z',
    contentHash: 'h',
    labels: ['latest', 'production'],
  };
  const summary = {
    version: 2,
    commitMessage: 'second',
    author: ADMIN_ARN,
    createdAt: stored.createdAt,
    contentHash: 'h',
    labels: ['production'],
  };
  const registry = {
    createVersion: vi.fn(async () => stored),
    get: vi.fn(async () => stored),
    listVersions: vi.fn(async (name: string) => ({ name, versions: [summary], labels: { production: 2 } })),
    moveLabel: vi.fn(async () => ({ name: 'x', label: 'production', version: 1, previousVersion: null })),
  };
  const handler = apiHandler(makePrompts({ registry }), options);
  const get = (name: string, who: Caller) =>
    handler(request('GET', '/v1/prompts/{name}', who, { path: { name } }), context);
  const versions = (name: string, who: Caller) =>
    handler(request('GET', '/v1/prompts/{name}/versions', who, { path: { name } }), context);

  beforeEach(() => {
    registry.get.mockClear();
    registry.listVersions.mockClear();
  });

  it('refuses a prompt outside the app access with 403, naming the app and the rule, before reading it', async () => {
    const message = 'app "mobile" may not use prompt "billing-summary" (allowed: support-*)';
    expectForbidden(await get('billing-summary', 'mobile'), message);
    expectForbidden(await versions('billing-summary', 'mobile'), message);
    expect(registry.get).not.toHaveBeenCalled();
    expect(registry.listVersions).not.toHaveBeenCalled();
    expectForbidden(
      await get('support-refunds', 'stray'),
      'app "stray" may not use prompt "support-refunds" (allowed: none)',
    );
  });

  it("hides the author's ARN from an app, in a version and in the list of versions", async () => {
    const version = parse(await get('support-refunds', 'mobile'));
    expect(version).toMatchObject({ name: 'support-refunds', version: 2 });
    expect(version).not.toHaveProperty('author');
    expect(JSON.stringify(version)).not.toContain('arn:aws:iam');
    const list = parse(await versions('support-refunds', 'mobile'));
    const { author: _author, ...withoutAuthor } = summary;
    expect(list.versions).toEqual([withoutAuthor]);
    expect(JSON.stringify(list)).not.toContain('arn:aws:iam');
  });

  it('shows the author to an administrator, for any prompt', async () => {
    expect(parse(await get('billing-summary', 'admin')).author).toBe(ADMIN_ARN);
    expect(parse(await versions('billing-summary', 'admin')).versions[0].author).toBe(ADMIN_ARN);
  });
});

describe('models', () => {
  const model = (id: string, price: number): CatalogModel =>
    catalogModel(id, {
      contextWindow: 100_000,
      pricePer1kInputUsd: price,
      pricePer1kOutputUsd: price * 4,
      features: ['streaming'],
    });
  const models = [model('claude-haiku-4-5', 0.001), model('nova-lite', 0.002), model('nova-pro', 0.003)];
  const catalog = { list: vi.fn(async () => models), put: vi.fn(async (m: CatalogModel) => m) };
  const handler = apiHandler(makeModels({ catalog, ensureSeeded: async () => {} }), options);
  const ids = (body: { data?: { id: string }[]; models?: { id: string }[] }) =>
    (body.data ?? body.models ?? []).map((m) => m.id);

  it('lists only the models the app may use; an administrator sees them all', async () => {
    expect(ids(parse(await handler(request('GET', '/v1/models', 'mobile'), context)))).toEqual([
      'nova-lite',
      'nova-pro',
    ]);
    expect(ids(parse(await handler(request('GET', '/v1/models', 'stray'), context)))).toEqual([]);
    expect(ids(parse(await handler(request('GET', '/v1/models', 'admin'), context)))).toHaveLength(3);
  });

  it('selects among the allowed models only, even when a cheaper one is outside them', async () => {
    const picked = await handler(request('POST', '/v1/models/select', 'mobile', { body: {} }), context);
    expect(parse(picked)).toMatchObject({ model: { id: 'nova-lite' }, candidates: 2 });
    const web = await handler(request('POST', '/v1/models/select', 'web', { body: {} }), context);
    expect(parse(web)).toMatchObject({ model: { id: 'claude-haiku-4-5' }, candidates: 3 });
  });

  it('refuses to select for an app that may use none of the candidates, naming the rule', async () => {
    expectForbidden(
      await handler(request('POST', '/v1/models/select', 'stray', { body: {} }), context),
      'app "stray" may not use any of the 3 candidate model(s) (allowed: none)',
    );
  });
});

describe('RAG', () => {
  const retrieve = vi.fn(async (req: RetrievalRequest) =>
    retrievalFor(req, { embedding: { modelId: 'titan-embed-text-v2', inputTokens: 1 } }),
  );
  const doc = (docId: string, collection: string): DocumentItem => ({
    docId,
    collection,
    status: 'indexed',
    version: 'sha256:v1',
    indexedVersion: 'sha256:v1',
    chunkCount: 1,
    runId: 'run-1',
    createdAt: '2026-12-01T00:00:00.000Z',
    updatedAt: '2026-12-01T00:00:00.000Z',
  });
  const docs = [doc('guide.md', 'upload'), doc('hr/pay.md', 'dataset:hr'), doc('faq/1', 'dataset:faq-en')];
  const get = vi.fn(async (docId: string) => docs.find((d) => d.docId === docId));
  const list = vi.fn(async (_options: object): Promise<DocumentPage> => ({ documents: docs }));
  const handler = apiHandler(makeRag({ retriever: { retrieve }, documents: { get, list } }), options);
  const search = (body: unknown, who: Caller) =>
    handler(request('POST', '/v1/rag/search', who, { body }), context);

  beforeEach(() => {
    retrieve.mockClear();
    list.mockClear();
  });

  it("keeps an app's search within its collections", async () => {
    expect((await search({ query: 'refunds', filters: { team: 'a' } }, 'mobile')).statusCode).toBe(200);
    expect(retrieve).toHaveBeenLastCalledWith({
      query: 'refunds',
      filters: { team: 'a' },
      collections: ['upload', 'dataset:faq-*'],
    });
  });

  it('lets a search name allowed collections, and refuses one outside them with 403', async () => {
    await search({ query: 'q', filters: { collection: ['upload', 'dataset:faq-en'] } }, 'mobile');
    expect(retrieve).toHaveBeenLastCalledWith(
      expect.objectContaining({ collections: ['upload', 'dataset:faq-*'] }),
    );
    retrieve.mockClear();
    expectForbidden(
      await search({ query: 'q', filters: { collection: ['upload', 'dataset:hr'] } }, 'mobile'),
      'app "mobile" may not search collection "dataset:hr" (allowed: upload, dataset:faq-*)',
    );
    expectForbidden(
      await search({ query: 'q' }, 'stray'),
      'app "stray" may not search any RAG collection (allowed: none)',
    );
    expect(retrieve).not.toHaveBeenCalled();
  });

  it('does not restrict the search of an app allowed every collection, nor of an administrator', async () => {
    await search({ query: 'q' }, 'web');
    expect(retrieve).toHaveBeenLastCalledWith({ query: 'q' });
    await search({ query: 'q' }, 'admin');
    expect(retrieve).toHaveBeenLastCalledWith({ query: 'q' });
  });

  it("lists only the documents of the app's collections, and refuses to list another collection", async () => {
    const page = parse(await handler(request('GET', '/v1/rag/documents', 'mobile'), context));
    expect(page.documents.map((d: { docId: string }) => d.docId)).toEqual(['guide.md', 'faq/1']);
    expectForbidden(
      await handler(
        request('GET', '/v1/rag/documents', 'mobile', { query: { collection: 'dataset:hr' } }),
        context,
      ),
      'app "mobile" may not search collection "dataset:hr" (allowed: upload, dataset:faq-*)',
    );
    const admin = parse(await handler(request('GET', '/v1/rag/documents', 'admin'), context));
    expect(admin.documents).toHaveLength(3);
  });

  it('lists the one collection an app is allowed through the collection index', async () => {
    const uploads = apiHandler(makeRag({ retriever: { retrieve }, documents: { get, list } }), {
      ...options,
      appAccess: { mobile: { ...MOBILE, collections: ['upload'] } },
    });
    await uploads(request('GET', '/v1/rag/documents', 'mobile'), context);
    expect(list).toHaveBeenLastCalledWith({ limit: 50, collection: 'upload' });
  });

  it("answers another collection's document with 404, as a missing one, so its existence does not leak", async () => {
    const read = (id: string, who: Caller) =>
      handler(
        request('GET', '/v1/rag/documents/{id}', who, { path: { id: encodeURIComponent(id) } }),
        context,
      );
    expect((await read('faq/1', 'mobile')).statusCode).toBe(200);
    const hidden = await read('hr/pay.md', 'mobile');
    const missing = await read('hr/none.md', 'mobile');
    expect(hidden.statusCode).toBe(404);
    expect(parse(hidden).error.message).toBe('No RAG document hr/pay.md');
    expect(parse(missing).error.message).toBe('No RAG document hr/none.md');
    expect((await read('hr/pay.md', 'admin')).statusCode).toBe(200);
  });
});

describe('OpenAPI document', () => {
  const handler = apiHandler(makeOpenApi(buildOpenApiDocument('1.0.0')), options);
  type Doc = {
    info: { description: string; 'x-llmops-access': Record<string, unknown> };
    paths: Record<string, Record<string, { description?: string }>>;
  };
  const documentFor = async (who: Caller) =>
    parse(await handler(request('GET', '/v1/openapi.json', who), context)) as Doc;

  it("states the calling app's allowlists and daily token budget, in the description and as data", async () => {
    const doc = await documentFor('mobile');
    expect(doc.info.description).toContain('The caller is app "mobile"');
    expect(doc.info.description).toContain('Prompts: support-*.');
    expect(doc.info.description).toContain('Models: nova-*.');
    expect(doc.info.description).toContain('RAG collections: upload, dataset:faq-*.');
    expect(doc.info.description).toContain(
      'Chat without a prompt (its own system prompt and messages): not allowed.',
    );
    expect(doc.info.description).toContain('Token budget: 50,000 tokens (input and output) per UTC day');
    expect(doc.info['x-llmops-access']).toEqual({ app: 'mobile', unrestricted: false, ...MOBILE });
  });

  it('says on each restricted operation which of the rules apply to it', async () => {
    const { paths } = await documentFor('mobile');
    expect(paths['/v1/prompts/{name}']?.get?.description).toContain('Prompts: support-*.');
    expect(paths['/v1/models']?.get?.description).toContain('Models: nova-*.');
    expect(paths['/v1/rag/search']?.post?.description).toContain('RAG collections: upload, dataset:faq-*.');
    const chat = paths['/v1/chat']?.post?.description ?? '';
    for (const rule of [
      'Prompts: support-*.',
      'Models: nova-*.',
      'RAG collections:',
      'Token budget: 50,000',
    ]) {
      expect(chat).toContain(rule);
    }
    expect(paths['/v1/openapi.json']?.get?.description).toBeUndefined();
    // Admin routes are not the app's to call: no app rules on them.
    expect(paths['/v1/prompts/{name}/versions']?.post?.description).toBeUndefined();
  });

  it('says an administrator is unrestricted, and an unconfigured app may use nothing', async () => {
    const admin = await documentFor('admin');
    expect(admin.info.description).toContain('no per-app restriction applies');
    expect(admin.info.description).toContain('Token budget: unlimited.');
    expect(admin.info['x-llmops-access']).toEqual({ app: null, unrestricted: true });
    const stray = await documentFor('stray');
    expect(stray.info.description).toContain('Prompts: none.');
    expect(stray.info.description).toContain('Token budget: 0 tokens');
  });

  it('leaves the shared document untouched between callers', async () => {
    const mobile = await documentFor('mobile');
    const web = await documentFor('web');
    expect(web.info.description).not.toContain('mobile');
    expect(web.info.description).toContain('Prompts: all.');
    expect(mobile.info.description).not.toContain('"web"');
  });
});
