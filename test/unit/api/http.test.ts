import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import {
  ContextWindowExceededError,
  ModelProviderError,
  NotFoundError,
  PromptRenderError,
  ThrottledError,
  ValidationError,
} from '#aws/errors.ts';
import { apiHandler, errorResponse, json, parseAppKeys, parseWith } from '#aws/http.ts';

const context = { awsRequestId: 'req-ctx', functionName: 'fn' } as Context;

function event(overrides: Partial<APIGatewayProxyEvent> = {}): APIGatewayProxyEvent {
  return {
    resource: '/v1/things',
    path: '/v1/things',
    httpMethod: 'POST',
    headers: { 'content-type': 'application/json' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: '{"a":1}',
    isBase64Encoded: false,
    requestContext: {
      requestId: 'req-1',
      identity: { apiKeyId: 'key-1', userArn: null },
    } as unknown as APIGatewayProxyEvent['requestContext'],
    ...overrides,
  };
}

const bodyOf = (response: { body: unknown }) => JSON.parse(String(response.body));

describe('errorResponse: errors become HTTP in one place', () => {
  it('names the field and the rule of a validation error', () => {
    const response = errorResponse(new ValidationError('messages.0.role', 'must be user or assistant'), 'r');
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).error).toEqual({
      code: 'validation_error',
      message: 'messages.0.role: must be user or assistant',
      type: 'invalid_request_error',
      param: 'messages.0.role',
      field: 'messages.0.role',
      rule: 'must be user or assistant',
      requestId: 'r',
    });
  });

  it('gives rendering and context-window refusals their own codes', () => {
    expect(bodyOf(errorResponse(new PromptRenderError('variables.q', 'is required'), 'r')).error.code).toBe(
      'prompt_render_error',
    );
    expect(
      bodyOf(errorResponse(new ContextWindowExceededError('messages', 'too long'), 'r')).error.code,
    ).toBe('context_window_exceeded');
  });

  it('answers 429 with Retry-After when the provider still throttles', () => {
    const response = errorResponse(new ThrottledError('Model throttled', 7), 'r');
    expect(response.statusCode).toBe(429);
    expect(response.headers?.['retry-after']).toBe('7');
  });

  it('hides provider and internal details behind 502/504/500', () => {
    const provider = errorResponse(new ModelProviderError('endpoint xyz exploded: stack...'), 'r');
    expect(provider.statusCode).toBe(502);
    expect(String(provider.body)).not.toContain('xyz');
    expect(errorResponse(new ModelProviderError('slow', { timedOut: true }), 'r').statusCode).toBe(504);
    const internal = errorResponse(new Error('secret table name arn:aws:dynamodb:...'), 'r');
    expect(internal.statusCode).toBe(500);
    expect(String(internal.body)).not.toContain('arn:aws');
    expect(bodyOf(internal).error.requestId).toBe('r');
  });

  it('maps not found to 404', () => {
    expect(errorResponse(new NotFoundError('no prompt x'), 'r').statusCode).toBe(404);
  });
});

describe('parseWith', () => {
  const schema = z.object({ a: z.object({ b: z.int() }) });
  it('returns the parsed value', () => {
    expect(parseWith(schema, { a: { b: 2 } }, '')).toEqual({ a: { b: 2 } });
  });
  it('names the dotted path of the first failing field', () => {
    expect(() => parseWith(schema, { a: { b: 'x' } }, '')).toThrow(/^a\.b: /);
    try {
      parseWith(schema, { a: { b: 'x' } }, '');
    } catch (error) {
      expect((error as ValidationError).field).toBe('a.b');
      expect((error as ValidationError).rule).toMatch(/expected int|number/i);
    }
  });
  it('names the body itself when it is missing', () => {
    expect(() => parseWith(schema, undefined, '')).toThrow(/^body: /);
  });
});

describe('apiHandler', () => {
  const echo = apiHandler(async (request) => json(200, { body: request.body, caller: request.caller }), {
    appKeys: { 'key-1': 'support-bot' },
    maxRequestBytes: 64,
  });

  it('parses the body and works out the calling app and tenant', async () => {
    const response = await echo(event({ headers: { 'X-Tenant-Id': 'acme' } }), context);
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toEqual({
      body: { a: 1 },
      caller: {
        app: 'support-bot',
        tenant: 'acme',
        apiKeyId: 'key-1',
        principal: null,
        author: 'app:support-bot',
        // No APP_ACCESS entry for the app: it may use nothing.
        access: { prompts: [], models: [], collections: [], rawChat: false, tokensPerDay: 0 },
      },
    });
  });

  it('refuses a body over the limit with 413, and bad JSON with 400', async () => {
    const big = await echo(event({ body: JSON.stringify({ a: 'x'.repeat(100) }) }), context);
    expect(big.statusCode).toBe(413);
    expect(bodyOf(big).error.field).toBe('body');
    const bad = await echo(event({ body: '{"a":' }), context);
    expect(bad.statusCode).toBe(400);
    expect(bodyOf(bad).error.rule).toBe('must be valid JSON');
  });

  it('refuses a malformed tenant header', async () => {
    const response = await echo(event({ headers: { 'x-tenant-id': 'has spaces' } }), context);
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).error.field).toBe('headers.x-tenant-id');
  });

  it('records the IAM principal as the author on admin routes', async () => {
    const admin = event();
    (admin.requestContext.identity as { userArn: string | null; apiKeyId: string | null }) = {
      userArn: 'arn:aws:iam::123456789012:user/alice',
      apiKeyId: null,
    };
    const response = await echo(admin, context);
    expect(bodyOf(response).caller).toMatchObject({
      app: 'admin',
      author: 'arn:aws:iam::123456789012:user/alice',
    });
  });

  it('turns a crash into a 500 without internals', async () => {
    const crash = apiHandler(
      async () => {
        throw new TypeError('Cannot read properties of undefined (reading "secret")');
      },
      { appKeys: {}, maxRequestBytes: 1000 },
    );
    const response = await crash(event(), context);
    expect(response.statusCode).toBe(500);
    expect(String(response.body)).not.toContain('secret');
  });
});

describe('parseAppKeys', () => {
  it('reads the API key id → app map and rejects anything else', () => {
    expect(parseAppKeys('{"k1":"a"}')).toEqual({ k1: 'a' });
    expect(parseAppKeys(undefined)).toEqual({});
    expect(() => parseAppKeys('["k1"]')).toThrow(/APP_KEYS/);
  });
});
