import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APIGatewayProxyEventSchema } from '@aws-lambda-powertools/parser/schemas';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessLogEntry } from '#infra/local/api/access-log.ts';
import { LocalApiError } from '#infra/local/api/errors.ts';
import { MAX_REQUEST_BYTES } from '#infra/local/api/limits.ts';
import { LOCAL_ADMIN_ARN } from '#infra/local/api/proxy-event.ts';
import { LocalApi } from '#infra/local/api/server.ts';
import { LocalLambdas } from '#infra/local/lambda-registry.ts';
import { LocalTemplate } from '#infra/local/template.ts';
import { call, entryFunction, type Reply } from './fixtures.ts';

/**
 * A small CDK stack in the shape of the project's API: two functions carrying `llmops:entry` metadata, app
 * routes behind an API key, admin routes on AWS_IAM, a streaming chat route, a usage plan with a
 * per-method throttle, a CORS preflight (MOCK) and a customized gateway response.
 */
function apiFixture(): Record<string, unknown> {
  const app = new App();
  const stack = new Stack(app, 'ApiFixture');
  const fn = (id: string, entry: string) => entryFunction(stack, id, entry, { FIXTURE: 'api' });
  const chat = fn('ChatFunction', 'functions/chat.mjs');
  const prompts = fn('PromptsFunction', 'functions/prompts.mjs');
  const api = new apigw.RestApi(stack, 'Api', {
    deployOptions: { stageName: 'v1stage' },
    cloudWatchRole: false,
    binaryMediaTypes: ['application/octet-stream'],
  });
  const keyed = { apiKeyRequired: true };
  const iam = { authorizationType: apigw.AuthorizationType.IAM };
  const v1 = api.root.addResource('v1');
  const chatResource = v1.addResource('chat');
  chatResource.addMethod(
    'POST',
    new apigw.LambdaIntegration(chat, { responseTransferMode: apigw.ResponseTransferMode.STREAM }),
    keyed,
  );
  chatResource.addCorsPreflight({ allowOrigins: ['*'] });
  const promptsResource = v1.addResource('prompts');
  const byName = promptsResource.addResource('{name}');
  byName.addMethod('GET', new apigw.LambdaIntegration(prompts), {
    ...keyed,
    requestParameters: { 'method.request.querystring.label': false },
  });
  byName.addResource('versions').addMethod('POST', new apigw.LambdaIntegration(prompts), iam);
  byName
    .addResource('labels')
    .addResource('{label}')
    .addMethod('PUT', new apigw.LambdaIntegration(prompts), iam);
  promptsResource.addResource('latest').addMethod('GET', new apigw.LambdaIntegration(prompts), keyed);
  v1.addResource('files').addResource('{proxy+}').addMethod('ANY', new apigw.LambdaIntegration(prompts));
  v1.addResource('slow').addMethod(
    'GET',
    new apigw.LambdaIntegration(prompts, { timeout: Duration.millis(100) }),
    keyed,
  );
  const limited = v1.addResource('limited').addMethod('GET', new apigw.LambdaIntegration(prompts), keyed);
  const key = api.addApiKey('AppKey', { apiKeyName: 'fixture-demo', description: 'Key of the demo app' });
  const plan = api.addUsagePlan('Plan', {
    throttle: { rateLimit: 1000, burstLimit: 1000 },
    quota: { limit: 100_000, period: apigw.Period.DAY },
  });
  plan.addApiKey(key);
  plan.addApiStage({
    stage: api.deploymentStage,
    throttle: [{ method: limited, throttle: { rateLimit: 1, burstLimit: 2 } }],
  });
  api.addGatewayResponse('Throttled', {
    type: apigw.ResponseType.THROTTLED,
    statusCode: '429',
    responseHeaders: { 'Retry-After': "'1'" },
    templates: {
      'application/json':
        '{"error":{"code":"throttled","message":$context.error.messageString,"requestId":"$context.requestId"}}',
    },
  });
  return Template.fromStack(stack).toJSON() as Record<string, unknown>;
}

const ECHO = `export const handler = async (event) => {
  const q = event.queryStringParameters ?? {};
  if (q.mode === 'boom') throw new Error('handler crashed');
  if (q.mode === 'malformed') return { statusCode: 200, body: { not: 'a string' } };
  if (q.mode === 'extra') return { statusCode: 200, body: '', cookies: ['a=b'] };
  if (event.resource === '/v1/slow') await new Promise((resolve) => setTimeout(resolve, 400));
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json', 'x-single': 'one' },
    multiValueHeaders: { 'x-multi': ['a', 'b'] },
    body: JSON.stringify(event),
  };
};
`;

const CHAT = `export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  if (event.body && event.body.includes('fail-early')) throw new Error('no model');
  const stream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 200,
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
  });
  stream.write('event: delta\\ndata: {"text":"Hello"}\\n\\n');
  await globalThis.__apiServerTestGate?.();
  if (event.body && event.body.includes('fail-late')) throw new Error('cut');
  stream.write('event: done\\ndata: {"usage":{"inputTokens":3,"outputTokens":1}}\\n\\n');
  stream.end();
});
`;

describe('LocalTemplate: REST APIs', () => {
  const template = new LocalTemplate(apiFixture(), { stackName: 'ApiFixture' });

  it('walks every method to its full path, with auth, key and integration', () => {
    const [api, ...others] = template.restApis();
    expect(others).toHaveLength(0);
    if (!api) throw new Error('no API');
    expect(api.id).toMatch(/^[a-z0-9]{10}$/);
    expect(api.stages.map((s) => s.name)).toEqual(['v1stage']);
    expect(api.binaryMediaTypes).toEqual(['application/octet-stream']);
    const summary = api.methods
      .map(
        (m) =>
          `${m.httpMethod} ${m.path} ${m.authorizationType} key=${m.apiKeyRequired} ${m.integration.type}`,
      )
      .sort();
    expect(summary).toEqual(
      [
        'ANY /v1/files/{proxy+} NONE key=false AWS_PROXY',
        'GET /v1/limited NONE key=true AWS_PROXY',
        'GET /v1/prompts/latest NONE key=true AWS_PROXY',
        'GET /v1/prompts/{name} NONE key=true AWS_PROXY',
        'GET /v1/slow NONE key=true AWS_PROXY',
        'OPTIONS /v1/chat NONE key=false MOCK',
        'POST /v1/chat NONE key=true AWS_PROXY',
        'POST /v1/prompts/{name}/versions AWS_IAM key=false AWS_PROXY',
        'PUT /v1/prompts/{name}/labels/{label} AWS_IAM key=false AWS_PROXY',
      ].sort(),
    );
    const chat = api.methods.find((m) => m.path === '/v1/chat' && m.httpMethod === 'POST');
    expect(chat?.integration).toMatchObject({
      streaming: true,
      functionLogicalId: expect.stringMatching(/^ChatFunction/),
      functionArn: expect.stringMatching(/^arn:aws:lambda:us-east-1:000000000000:function:ChatFunction/),
      timeoutMs: 29_000,
    });
    const get = api.methods.find((m) => m.path === '/v1/prompts/{name}');
    expect(get?.integration.streaming).toBe(false);
    expect(get?.integration.functionLogicalId).toMatch(/^PromptsFunction/);
    expect(get?.requestParameters).toEqual({ 'method.request.querystring.label': false });
    expect(api.methods.find((m) => m.path === '/v1/slow')?.integration.timeoutMs).toBe(100);
    expect(api.resources.map((r) => r.path)).toContain('/v1/prompts/{name}/labels');
    expect(api.gatewayResponses).toEqual([
      expect.objectContaining({
        responseType: 'THROTTLED',
        statusCode: 429,
        responseParameters: { 'gatewayresponse.header.Retry-After': "'1'" },
      }),
    ]);
  });

  it('lists API keys and usage plans with throttles, quotas and attached keys', () => {
    const [key] = template.apiKeys();
    expect(key).toMatchObject({ name: 'fixture-demo', description: 'Key of the demo app', enabled: true });
    const [plan] = template.usagePlans();
    expect(plan).toMatchObject({
      throttle: { rateLimit: 1000, burstLimit: 1000 },
      quota: { limit: 100_000, period: 'DAY', offset: 0 },
      apiKeyIds: [key?.id],
      apiStages: [
        {
          apiId: template.restApis()[0]?.id,
          stage: 'v1stage',
          throttle: { '/v1/limited/GET': { rateLimit: 1, burstLimit: 2 } },
        },
      ],
    });
  });

  it('refuses a streaming integration whose Uri is the buffered one', () => {
    const raw = apiFixture();
    const resources = raw.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>;
    const chat = Object.values(resources).find(
      (r) =>
        r.Type === 'AWS::ApiGateway::Method' &&
        (r.Properties.Integration as { ResponseTransferMode?: string }).ResponseTransferMode === 'STREAM',
    );
    const integration = chat?.Properties.Integration as { Uri: { 'Fn::Join': [string, unknown[]] } };
    const parts = integration.Uri['Fn::Join'][1];
    parts[parts.length - 1] = '/invocations';
    expect(() => new LocalTemplate(raw).restApis()).toThrow(/ResponseTransferMode STREAM needs a Uri ending/);
  });
});

describe('LocalApi', () => {
  let root: string;
  let api: LocalApi;
  let template: LocalTemplate;
  const logs: AccessLogEntry[] = [];
  const key = 'local-test-key-0123456789';
  const gate = globalThis as { __apiServerTestGate?: () => Promise<void> };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'llmops-api-'));
    await mkdir(join(root, 'functions'));
    await writeFile(join(root, 'functions/prompts.mjs'), ECHO);
    await writeFile(join(root, 'functions/chat.mjs'), CHAT);
    template = new LocalTemplate(apiFixture(), { stackName: 'ApiFixture' });
    const lambdas = new LocalLambdas(template.lambdaFunctions(), { repoRoot: root });
    api = await LocalApi.start({
      template,
      lambdas,
      port: 0,
      apiKey: key,
      accessLog: (line, entry) => {
        expect(JSON.parse(line)).toEqual(entry);
        logs.push(entry);
      },
    });
  });
  afterAll(async () => {
    await api.stop();
    delete gate.__apiServerTestGate;
    await rm(root, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 and exposes the key and its ApiKey id', () => {
    expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(api.apiKey).toBe(key);
    expect(api.apiKeyId).toBe(template.apiKeys()[0]?.id);
    expect(api.stage).toBe('v1stage');
  });

  it('refuses a missing or wrong API key like INVALID_API_KEY', async () => {
    const attempts: Array<Record<string, string>> = [{}, { 'x-api-key': 'not-the-key-not-the-key' }];
    for (const headers of attempts) {
      const reply = await call(api.url, 'GET', '/v1/prompts/a', { headers });
      expect(reply.status).toBe(403);
      expect(reply.json()).toEqual({
        error: { code: 'forbidden', message: 'Forbidden: a valid x-api-key header is required' },
      });
      expect(reply.headers['x-amzn-errortype']).toBe('ForbiddenException');
      expect(reply.headers['x-amzn-requestid']).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('answers unknown resources and methods with 403 Missing Authentication Token', async () => {
    for (const [method, path] of [
      ['GET', '/v2/nothing'],
      ['DELETE', '/v1/prompts/a'],
      ['GET', '/v1/prompts'],
    ] as const) {
      const reply = await call(api.url, method, path, { headers: { 'x-api-key': key } });
      expect(reply.status, `${method} ${path}`).toBe(403);
      expect(reply.json()).toMatchObject({ error: { code: 'missing_authentication_token' } });
      expect((reply.json().error as { message: string }).message).toContain('Missing Authentication Token');
    }
  });

  it('builds the REST API proxy event exactly', async () => {
    const reply = await call(api.url, 'GET', '/v1/prompts/my%20prompt?label=prod&label=staging&x=1', {
      headers: { 'x-api-key': key, 'X-Dup': ['1', '2'], 'User-Agent': 'unit-test' },
    });
    expect(reply.status).toBe(200);
    expect(reply.headers['x-single']).toBe('one');
    expect(reply.headers['x-multi']).toBe('a, b');
    const event = reply.json();
    expect(() => APIGatewayProxyEventSchema.parse(event)).not.toThrow();
    const restApi = template.restApis()[0];
    expect(event).toMatchObject({
      resource: '/v1/prompts/{name}',
      path: '/v1/prompts/my%20prompt',
      httpMethod: 'GET',
      pathParameters: { name: 'my prompt' },
      queryStringParameters: { label: 'staging', x: '1' },
      multiValueQueryStringParameters: { label: ['prod', 'staging'], x: ['1'] },
      stageVariables: null,
      body: null,
      isBase64Encoded: false,
      requestContext: {
        accountId: '000000000000',
        apiId: restApi?.id,
        resourceId: restApi?.methods.find((m) => m.path === '/v1/prompts/{name}')?.resourceId,
        stage: 'v1stage',
        resourcePath: '/v1/prompts/{name}',
        httpMethod: 'GET',
        path: '/v1stage/v1/prompts/my%20prompt',
        protocol: 'HTTP/1.1',
        requestId: reply.headers['x-amzn-requestid'],
        identity: {
          apiKey: key,
          apiKeyId: api.apiKeyId,
          sourceIp: '127.0.0.1',
          userArn: null,
          caller: null,
          user: null,
          accessKey: null,
          userAgent: 'unit-test',
        },
      },
    });
    const headers = event.headers as Record<string, string>;
    const multi = event.multiValueHeaders as Record<string, string[]>;
    expect(headers['x-api-key']).toBe(key);
    expect(headers['X-Dup']).toBe('2');
    expect(multi['X-Dup']).toEqual(['1', '2']);
    expect(headers['X-Forwarded-For']).toBe('127.0.0.1');
    expect(headers['X-Amzn-Trace-Id']).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/);
    const context = event.requestContext as { requestTimeEpoch: number; requestTime: string };
    expect(Math.abs(context.requestTimeEpoch - Date.now())).toBeLessThan(60_000);
    expect(context.requestTime).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
  });

  it('routes literal resources first and greedy paths last', async () => {
    const latest = await call(api.url, 'GET', '/v1/prompts/latest', { headers: { 'x-api-key': key } });
    expect(latest.json()).toMatchObject({ resource: '/v1/prompts/latest', pathParameters: null });
    const files = await call(api.url, 'PATCH', '/v1/files/a/b.txt');
    expect(files.status).toBe(200);
    expect(files.json()).toMatchObject({
      resource: '/v1/files/{proxy+}',
      pathParameters: { proxy: 'a/b.txt' },
    });
  });

  it('lets the API key stand in for SigV4 on AWS_IAM routes, with the local admin identity', async () => {
    const unsigned = await call(api.url, 'POST', '/v1/prompts/a/versions', { body: '{}' });
    expect(unsigned.status).toBe(403);
    expect(unsigned.json()).toMatchObject({
      error: { code: 'missing_authentication_token', message: expect.stringContaining('SigV4') },
    });
    const signed = await call(api.url, 'PUT', '/v1/prompts/a/labels/production', {
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: '{"version":2}',
    });
    expect(signed.status).toBe(200);
    expect(signed.json()).toMatchObject({
      pathParameters: { name: 'a', label: 'production' },
      body: '{"version":2}',
      isBase64Encoded: false,
      requestContext: {
        identity: {
          userArn: LOCAL_ADMIN_ARN,
          accountId: '000000000000',
          apiKey: null,
          apiKeyId: null,
          caller: expect.stringMatching(/^AIDA/),
          accessKey: expect.stringMatching(/^AKIA/),
        },
      },
    });
  });

  it('sends binary media types base64-encoded', async () => {
    const reply = await call(api.url, 'PUT', '/v1/files/blob', {
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.from([0, 1, 2, 255]),
    });
    expect(reply.json()).toMatchObject({
      body: Buffer.from([0, 1, 2, 255]).toString('base64'),
      isBase64Encoded: true,
    });
  });

  it('refuses bodies over 10 MB with 413', async () => {
    const reply = await call(api.url, 'PUT', '/v1/files/big', { body: Buffer.alloc(MAX_REQUEST_BYTES + 1) });
    expect(reply.status).toBe(413);
    expect(reply.json()).toMatchObject({ error: { code: 'payload_too_large' } });
  });

  it('maps a crash, a malformed result and a slow function like API Gateway', async () => {
    const crash = await call(api.url, 'GET', '/v1/files/x?mode=boom');
    expect(crash.status).toBe(502);
    expect(crash.json()).toEqual({ message: 'Internal server error' });
    const malformed = await call(api.url, 'GET', '/v1/files/x?mode=malformed');
    expect(malformed.status).toBe(502);
    expect(malformed.json()).toEqual({ message: 'Internal server error' });
    expect((await call(api.url, 'GET', '/v1/files/x?mode=extra')).status).toBe(502);
    const slow = await call(api.url, 'GET', '/v1/slow', { headers: { 'x-api-key': key } });
    expect(slow.status).toBe(504);
    expect(slow.json()).toEqual({ message: 'Endpoint request timed out' });
    const crashLog = logs.find(
      (l) => l.path === '/v1/files/x' && l.status === 502 && l.errorType === 'LambdaError',
    );
    expect(crashLog?.errorMessage).toContain('handler crashed');
  });

  it('streams a STREAM integration chunk by chunk as the function writes', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    gate.__apiServerTestGate = () => held;
    const received: string[] = [];
    const result = await new Promise<{ status: number; headers: Record<string, unknown> }>(
      (resolve, reject) => {
        const req = request(
          `${api.url}/v1/chat`,
          { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' } },
          (res) => {
            res.on('data', (chunk: Buffer) => {
              received.push(chunk.toString('utf8'));
              // The first event arrived while the function is still held: release it for the rest.
              if (received.length === 1) release();
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end('{"prompt":"x","stream":true}');
      },
    );
    delete gate.__apiServerTestGate;
    expect(result.status).toBe(200);
    expect(result.headers['content-type']).toBe('text/event-stream');
    expect(result.headers['transfer-encoding']).toBe('chunked');
    expect(received[0]).toBe('event: delta\ndata: {"text":"Hello"}\n\n');
    expect(received.join('')).toContain('event: done\ndata: {"usage":{"inputTokens":3,"outputTokens":1}}');
    expect(logs.at(-1)).toMatchObject({ path: '/v1/chat', status: 200, streaming: true, errorType: null });
  });

  it('answers 502 when a streaming function fails before its prelude, and cuts a stream that fails later', async () => {
    const early = await call(api.url, 'POST', '/v1/chat', {
      headers: { 'x-api-key': key },
      body: 'fail-early',
    });
    expect(early.status).toBe(502);
    expect(early.json()).toEqual({ message: 'Internal server error' });
    await expect(
      call(api.url, 'POST', '/v1/chat', { headers: { 'x-api-key': key }, body: 'fail-late' }),
    ).rejects.toThrow();
    expect(logs.at(-1)).toMatchObject({
      path: '/v1/chat',
      errorType: 'LambdaError',
      errorMessage: 'Error: cut',
    });
  });

  it('answers a CORS preflight from its MOCK integration', async () => {
    const reply = await call(api.url, 'OPTIONS', '/v1/chat', {
      headers: { origin: 'http://localhost:5173' },
    });
    expect(reply.status).toBe(204);
    expect(reply.headers['access-control-allow-origin']).toBe('*');
  });

  it('throttles by the usage plan, with the template gateway response', async () => {
    const statuses: number[] = [];
    let throttled: Reply | undefined;
    for (let i = 0; i < 4; i++) {
      const reply = await call(api.url, 'GET', '/v1/limited', { headers: { 'x-api-key': key } });
      statuses.push(reply.status);
      if (reply.status === 429) throttled = reply;
    }
    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    expect(statuses).toContain(429);
    expect(throttled?.headers['retry-after']).toBe('1');
    expect(throttled?.json()).toEqual({
      error: {
        code: 'throttled',
        message: 'Too Many Requests',
        requestId: throttled?.headers['x-amzn-requestid'],
      },
    });
  });

  it('writes one access-log line per request', () => {
    expect(logs.length).toBeGreaterThan(10);
    expect(logs.every((l) => /^[0-9a-f-]{36}$/.test(l.requestId) && l.ip === '127.0.0.1')).toBe(true);
    expect(logs.find((l) => l.errorType === 'INVALID_API_KEY')).toMatchObject({
      status: 403,
      resourcePath: '/v1/prompts/{name}',
    });
  });
});

describe('LocalApi.start', () => {
  const template = new LocalTemplate(apiFixture(), { stackName: 'ApiFixture' });
  const lambdas = new LocalLambdas(template.lambdaFunctions(), { repoRoot: tmpdir() });

  it('listens on loopback only and generates a key when none is given', async () => {
    await expect(
      LocalApi.start({ template, lambdas, host: '0.0.0.0' as '127.0.0.1', accessLog: () => undefined }),
    ).rejects.toThrow(LocalApiError);
    const api = await LocalApi.start({ template, lambdas, accessLog: () => undefined });
    try {
      expect(api.apiKey.length).toBeGreaterThanOrEqual(20);
    } finally {
      await api.stop();
    }
  });

  it('finds the key of an app by name and refuses an unknown app', async () => {
    const api = await LocalApi.start({ template, lambdas, appName: 'demo', accessLog: () => undefined });
    try {
      expect(api.apiKeyLogicalId).toMatch(/^ApiAppKey/);
    } finally {
      await api.stop();
    }
    await expect(LocalApi.start({ template, lambdas, appName: 'nobody' })).rejects.toThrow(
      /No ApiKey for app/,
    );
  });

  it('refuses authorizers it cannot emulate', async () => {
    const raw = apiFixture();
    const resources = raw.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>;
    const method = Object.values(resources).find((r) => r.Type === 'AWS::ApiGateway::Method');
    if (method) method.Properties.AuthorizationType = 'COGNITO_USER_POOLS';
    await expect(
      LocalApi.start({ template: new LocalTemplate(raw), lambdas, accessLog: () => undefined }),
    ).rejects.toThrow(/AuthorizationType COGNITO_USER_POOLS/);
  });
});
