// The functions' environment, set before their handler modules are imported (they read it at import).
import '../../support/env/api.ts';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { ApiResponse } from '#aws/http.ts';
import { type FakeDynamo, fakeDynamo } from './dynamo-fake.ts';

process.env.MODEL_PROVIDER = 'offline';
const { handler: rag } = await import('#functions/api/rag.ts');
const { handler: prompts } = await import('#functions/api/prompts.ts');

/**
 * Pagination tokens as callers can send them: only a token this API returned for the same listing is
 * passed to DynamoDB; anything else is a 400 naming `query.nextToken`, never a 5xx.
 */
const context = { awsRequestId: 'ctx' } as Context;
const b64 = (value: string) => Buffer.from(value, 'utf8').toString('base64url');

function get(resource: string, query: Record<string, string>, path: Record<string, string> = {}) {
  return {
    resource,
    path: resource,
    httpMethod: 'GET',
    headers: {},
    multiValueHeaders: {},
    queryStringParameters: query,
    multiValueQueryStringParameters: null,
    pathParameters: path,
    stageVariables: null,
    body: null,
    isBase64Encoded: false,
    requestContext: { requestId: 'req', identity: { apiKeyId: 'key-1', userArn: null } },
  } as unknown as APIGatewayProxyEvent;
}

const call = (h: unknown, event: APIGatewayProxyEvent) =>
  (h as (e: APIGatewayProxyEvent, c: Context) => Promise<ApiResponse>)(event, context);
const parse = (response: ApiResponse) => JSON.parse(String(response.body));

const docRow = (docId: string, collection = 'upload') => ({
  pk: `doc#${docId}`,
  gsi1pk: collection,
  gsi1sk: docId,
  docId,
  collection,
  status: 'indexed',
  version: 'v',
  chunkCount: 1,
  runId: 'r',
  createdAt: 'c',
  updatedAt: 'u',
});

let dynamo: FakeDynamo;
beforeEach(() => {
  dynamo = fakeDynamo();
});
afterAll(() => dynamo.mock.restore());

const FORGED: [string, string][] = [
  ['an empty object', b64('{}')],
  ['a number for pk', b64('{"pk":5}')],
  ['garbage base64', 'bm90IGpzb24'],
  ['not base64', '!!!'],
  ['an array', b64('[1,2]')],
  ['null', b64('null')],
  ['a key with extra attributes', b64('{"pk":"doc#a","sk":"x"}')],
  ['an empty pk', b64('{"pk":""}')],
  ['a prompt-registry key', b64('{"pk":"PROMPT#greeting","sk":"V#0000000001"}')],
  ['an oversized pk', b64(JSON.stringify({ pk: `doc#${'語'.repeat(700)}` }))],
];

describe('GET /v1/rag/documents?nextToken=', () => {
  it.each(FORGED)('answers 400 naming query.nextToken for %s (scan)', async (_case, nextToken) => {
    const response = await call(rag, get('/v1/rag/documents', { nextToken }));
    expect(response.statusCode).toBe(400);
    expect(parse(response).error).toMatchObject({ code: 'validation_error', field: 'query.nextToken' });
  });

  it.each(FORGED)(
    'answers 400 naming query.nextToken for %s (collection query)',
    async (_case, nextToken) => {
      const response = await call(rag, get('/v1/rag/documents', { collection: 'upload', nextToken }));
      expect(response.statusCode).toBe(400);
      expect(parse(response).error).toMatchObject({ code: 'validation_error', field: 'query.nextToken' });
    },
  );

  it('pages with the token it returned, and refuses it on another collection or another filter', async () => {
    dynamo.items['documents-test'] = [docRow('a.md')];
    dynamo.lastKey['documents-test'] = { pk: 'doc#a.md', gsi1pk: 'upload', gsi1sk: 'a.md' };
    const first = await call(rag, get('/v1/rag/documents', { collection: 'upload', limit: '1' }));
    expect(first.statusCode).toBe(200);
    const nextToken = parse(first).nextToken as string;
    expect(nextToken).toMatch(/^[A-Za-z0-9_-]+$/);

    const second = await call(rag, get('/v1/rag/documents', { collection: 'upload', limit: '1', nextToken }));
    expect(second.statusCode).toBe(200);
    const replays: Record<string, string>[] = [
      { collection: 'dataset:faq', nextToken },
      { collection: 'upload', status: 'failed', nextToken },
      { nextToken },
    ];
    for (const query of replays) {
      const replayed = await call(rag, get('/v1/rag/documents', query));
      expect(replayed.statusCode).toBe(400);
      expect(parse(replayed).error.field).toBe('query.nextToken');
    }
  });

  it('refuses a token that DynamoDB itself rejects as a 400 naming query.nextToken', async () => {
    dynamo.items['documents-test'] = [docRow('a.md')];
    // A key DynamoDB would answer for a scan of the index: accepted as a listing's token, refused by the table.
    dynamo.lastKey['documents-test'] = { pk: 'doc#a.md', gsi1pk: 'upload', gsi1sk: 'a.md' };
    const first = await call(rag, get('/v1/rag/documents', {}));
    const response = await call(rag, get('/v1/rag/documents', { nextToken: parse(first).nextToken }));
    expect(response.statusCode).toBe(400);
    expect(parse(response).error.field).toBe('query.nextToken');
  });
});

describe('GET /v1/prompts/{name}/versions?nextToken=', () => {
  it.each(FORGED)('answers 400 naming query.nextToken for %s', async (_case, nextToken) => {
    const response = await call(
      prompts,
      get('/v1/prompts/{name}/versions', { nextToken }, { name: 'greeting' }),
    );
    expect(response.statusCode).toBe(400);
    expect(parse(response).error).toMatchObject({ code: 'validation_error', field: 'query.nextToken' });
  });

  it('refuses a token of another prompt', async () => {
    dynamo.items['prompts-test'] = [
      {
        pk: 'PROMPT#greeting',
        sk: 'V#0000000002',
        version: 2,
        commitMessage: 'c',
        author: 'a',
        createdAt: 't',
        contentHash: 'h',
      },
      {
        pk: 'PROMPT#greeting',
        sk: 'V#0000000001',
        version: 1,
        commitMessage: 'c',
        author: 'a',
        createdAt: 't',
        contentHash: 'h',
      },
    ];
    const first = await call(
      prompts,
      get('/v1/prompts/{name}/versions', { limit: '1' }, { name: 'greeting' }),
    );
    expect(first.statusCode).toBe(200);
    const { nextToken } = parse(first);
    expect(nextToken).toBeDefined();
    const same = await call(prompts, get('/v1/prompts/{name}/versions', { nextToken }, { name: 'greeting' }));
    expect(same.statusCode).toBe(200);
    const other = await call(
      prompts,
      get('/v1/prompts/{name}/versions', { nextToken }, { name: 'farewell' }),
    );
    expect(other.statusCode).toBe(400);
    expect(parse(other).error.field).toBe('query.nextToken');
  });
});

describe('GET /v1/rag/documents/{id}', () => {
  it('answers 400 naming path.id for an id longer than DynamoDB takes as a key (multi-byte characters)', async () => {
    const response = await call(rag, get('/v1/rag/documents/{id}', {}, { id: '😀'.repeat(600) }));
    expect(response.statusCode).toBe(400);
    expect(parse(response).error.field).toBe('path.id');
  });
});
