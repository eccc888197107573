import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSupported } from '#infra/local/api/api-selection.ts';
import { evaluatePolicy, wildcardMatch } from '#infra/local/api/authorizers.ts';
import { LocalApi } from '#infra/local/api/server.ts';
import { LocalLambdas } from '#infra/local/lambda-registry.ts';
import { LocalTemplate } from '#infra/local/template.ts';
import { call, entryFunction } from './fixtures.ts';

/**
 * An API whose keys come from a Lambda REQUEST authorizer (`ApiKeySourceType: AUTHORIZER`), as the
 * project's API does: app routes CUSTOM + API key, one admin route on AWS_IAM.
 */
function authorizerFixture(): Record<string, unknown> {
  const app = new App();
  const stack = new Stack(app, 'AuthorizerFixture');
  const echo = entryFunction(stack, 'EchoFunction', 'functions/echo.mjs');
  const authorizerFn = entryFunction(stack, 'AuthorizerFunction', 'functions/authorizer.mjs');
  const api = new apigw.RestApi(stack, 'Api', {
    deployOptions: { stageName: 'dev' },
    cloudWatchRole: false,
    apiKeySourceType: apigw.ApiKeySourceType.AUTHORIZER,
  });
  const authorizer = new apigw.RequestAuthorizer(stack, 'KeyAuthorizer', {
    handler: authorizerFn,
    identitySources: [],
    resultsCacheTtl: Duration.seconds(0),
  });
  const keyed = { apiKeyRequired: true, authorizationType: apigw.AuthorizationType.CUSTOM, authorizer };
  const v1 = api.root.addResource('v1');
  for (const path of ['models', 'denied', 'broken', 'nocontext']) {
    v1.addResource(path).addMethod('GET', new apigw.LambdaIntegration(echo), keyed);
  }
  v1.addResource('admin').addMethod('PUT', new apigw.LambdaIntegration(echo), {
    authorizationType: apigw.AuthorizationType.IAM,
  });
  const key = api.addApiKey('AppKey', { apiKeyName: 'fixture-default' });
  const plan = api.addUsagePlan('Plan', { throttle: { rateLimit: 100, burstLimit: 100 } });
  plan.addApiKey(key);
  plan.addApiStage({ stage: api.deploymentStage });
  return Template.fromStack(stack).toJSON() as Record<string, unknown>;
}

const ECHO = `export const handler = async (event) => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ authorizer: event.requestContext.authorizer, identity: event.requestContext.identity }),
});
`;

/** Finds the key where the project's authorizer does; denies, fails or misbehaves on some paths. */
const AUTHORIZER = `export const handler = async (event) => {
  const h = Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const key = h['x-api-key'] ?? /^Bearer (\\S+)$/.exec(h.authorization ?? '')?.[1];
  if (key === undefined) throw new Error('Unauthorized');
  if (event.path === '/v1/broken') throw new Error('database down');
  if (event.path === '/v1/nocontext') return { principalId: 'x' };
  globalThis.__lastAuthorizerEvent = event;
  return {
    principalId: 'api-key',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [
        { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn.replace(/\\/GET\\/.*$/, '/*/*') },
        { Action: 'execute-api:*', Effect: 'Deny', Resource: '*/v1/denied' },
      ],
    },
    usageIdentifierKey: key,
    context: { keySource: h['x-api-key'] ? 'x-api-key' : 'bearer', n: 1, ok: true },
  };
};
`;

describe('local API: Lambda authorizers and keys from the authorizer', () => {
  let root: string;
  let api: LocalApi;
  let template: LocalTemplate;
  const key = 'fixture-key-0123456789-abcdef';
  const seen = globalThis as { __lastAuthorizerEvent?: Record<string, unknown> };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'llmops-authorizer-'));
    await mkdir(join(root, 'functions'));
    await writeFile(join(root, 'functions/echo.mjs'), ECHO);
    await writeFile(join(root, 'functions/authorizer.mjs'), AUTHORIZER);
    template = new LocalTemplate(authorizerFixture(), {
      stackName: 'AuthorizerFixture',
      region: 'eu-west-1',
    });
    const lambdas = new LocalLambdas(template.lambdaFunctions(), { repoRoot: root });
    api = await LocalApi.start({ template, lambdas, port: 0, apiKey: key, accessLog: () => {} });
  });
  afterAll(async () => {
    await api.stop();
    delete seen.__lastAuthorizerEvent;
    await rm(root, { recursive: true, force: true });
  });

  it('reads the authorizer and the methods that use it from the template', () => {
    const [restApi] = template.restApis();
    expect(restApi?.apiKeySourceType).toBe('AUTHORIZER');
    expect(restApi?.authorizers).toEqual([
      expect.objectContaining({
        type: 'REQUEST',
        resultTtlSeconds: 0,
        identitySource: undefined,
        functionArn: expect.stringMatching(/:function:AuthorizerFunction/),
      }),
    ]);
    const models = restApi?.methods.find((m) => m.path === '/v1/models');
    expect(models?.authorizationType).toBe('CUSTOM');
    expect(models?.authorizerId).toBe(restApi?.authorizers[0]?.id);
  });

  it('takes the key from the authorizer: Bearer or x-api-key both reach the function with its context', async () => {
    const attempts: Record<string, string>[] = [{ authorization: `Bearer ${key}` }, { 'x-api-key': key }];
    for (const headers of attempts) {
      const reply = await call(api.url, 'GET', '/v1/models', { headers });
      expect(reply.status).toBe(200);
      expect(reply.json().authorizer).toMatchObject({
        principalId: 'api-key',
        keySource: headers.authorization ? 'bearer' : 'x-api-key',
        n: 1,
        ok: true,
        integrationLatency: expect.any(Number),
      });
      expect(reply.json().identity).toMatchObject({ apiKey: key, apiKeyId: api.apiKeyId });
    }
    const event = seen.__lastAuthorizerEvent;
    expect(event).toMatchObject({
      type: 'REQUEST',
      methodArn: `arn:aws:execute-api:eu-west-1:000000000000:${template.restApis()[0]?.id}/dev/GET/v1/models`,
      resource: '/v1/models',
      httpMethod: 'GET',
    });
    expect(event).not.toHaveProperty('body');
  });

  it('answers what API Gateway answers when the authorizer refuses, fails or misbehaves', async () => {
    const cases: Array<[string, Record<string, string>, number, string]> = [
      ['/v1/models', {}, 401, 'UnauthorizedException'],
      ['/v1/models', { authorization: 'Bearer wrong-key-0123456789-xyz' }, 403, 'ForbiddenException'],
      ['/v1/denied', { 'x-api-key': key }, 403, 'ForbiddenException'],
      ['/v1/broken', { 'x-api-key': key }, 500, 'AuthorizerConfigurationException'],
      ['/v1/nocontext', { 'x-api-key': key }, 500, 'AuthorizerConfigurationException'],
    ];
    for (const [path, headers, status, errorType] of cases) {
      const reply = await call(api.url, 'GET', path, { headers });
      expect(reply.status, `${path} ${JSON.stringify(headers)}`).toBe(status);
      expect(reply.headers['x-amzn-errortype'], path).toBe(errorType);
    }
  });

  it('keeps the x-api-key header standing in for SigV4 on AWS_IAM routes', async () => {
    expect((await call(api.url, 'PUT', '/v1/admin', { headers: { 'x-api-key': key } })).status).toBe(200);
    expect(
      (await call(api.url, 'PUT', '/v1/admin', { headers: { authorization: `Bearer ${key}` } })).status,
    ).toBe(403);
  });

  it('refuses at start a keyed method with no authorizer when keys come from one', () => {
    const [restApi] = template.restApis();
    if (!restApi) throw new Error('no API');
    const broken = {
      ...restApi,
      methods: restApi.methods.map((m) => ({ ...m, authorizationType: 'NONE', authorizerId: undefined })),
    };
    expect(() => checkSupported(broken)).toThrow(
      /requires an API key taken from an authorizer, but has none/,
    );
  });
});

describe('authorizer policies', () => {
  const arn = 'arn:aws:execute-api:eu-west-1:1:abc/dev/GET/v1/models';

  it('matches * and ? wildcards, and only them', () => {
    expect(wildcardMatch('arn:aws:execute-api:*:1:abc/*/GET/*', arn)).toBe(true);
    expect(wildcardMatch('arn:aws:execute-api:eu-west-?:1:abc/dev/GET/v1/models', arn)).toBe(true);
    expect(wildcardMatch('arn:aws:execute-api:eu-west-1:1:abc/dev/POST/*', arn)).toBe(false);
    expect(wildcardMatch('*', '')).toBe(true);
    expect(wildcardMatch('a.c', 'abc')).toBe(false);
    // Many stars over a long near-miss: one backtrack point at a time, so it stays fast.
    const started = performance.now();
    expect(wildcardMatch(`${'*a'.repeat(50)}b`, 'a'.repeat(100_000))).toBe(false);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('allows when a statement allows and none denies; statements may be one object', () => {
    const allow = { Effect: 'Allow', Action: 'execute-api:Invoke', Resource: arn };
    expect(evaluatePolicy({ Statement: allow }, arn)).toBe('allow');
    expect(evaluatePolicy({ Statement: [allow, { ...allow, Effect: 'Deny', Action: '*' }] }, arn)).toBe(
      'deny',
    );
    expect(evaluatePolicy({ Statement: [{ ...allow, Resource: [`${arn}/x`] }] }, arn)).toBe('none');
    expect(evaluatePolicy({ Statement: [{ ...allow, Action: ['s3:GetObject'] }] }, arn)).toBe('none');
    expect(evaluatePolicy({}, arn)).toBe('none');
  });
});
