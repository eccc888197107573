import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { API_ROUTES, type ApiFunctionName, type ApiRoute, pathParameters } from '#contracts/http/routes.ts';
import { INTERACTION_RECORDED } from '#events/interaction-recorded.ts';
import {
  type AppConfig,
  CHAT_FUNCTION_TIMEOUT_SECONDS,
  deploymentOf,
  loadConfig,
  type VectorStoreKind,
} from '#infra/config/index.ts';
import { LOOP_RESERVED_CONCURRENCY, MAX_CHAT_RESERVED_CONCURRENCY } from '#infra/config/schema.ts';
import { LlmOpsAlerts } from '#infra/constructs/alerts.ts';
import { greaterThanRegex, LlmOpsApi, pascalCase } from '#infra/constructs/api.ts';
import { HOUSE_ENVIRONMENT_NAMES, LlmOpsFunction } from '#infra/constructs/llmops-function.ts';
import { API_FUNCTION_ENTRIES, LLMOPS_METRICS_NAMESPACE } from '#infra/constructs/model-gateway.ts';
import { checkUsage, UsageLimiter } from '#infra/local/api/usage-plans.ts';
import { LocalTemplate } from '#infra/local/template.ts';
import { cdkJsonContext } from '#infra/stacks/llmops-stack.ts';
import { list, roleIdOf, roleStatements, type Statement } from './support/iam.ts';
import {
  type CfnJson,
  type CfnResource,
  type CfnTemplate,
  flatten,
  logicalIdsOfType,
  resourcesOfType,
  type Synthesized,
  synth,
} from './support/synth.ts';

let dev: Synthesized;
let prod: Synthesized;
/** dev with `-c guardrail=false` and two apps. */
let options: Synthesized;

const TWO_APPS = [
  { name: 'web', rateLimit: 5, burstLimit: 10, quotaPerDay: 20_000 },
  { name: 'batch-jobs', rateLimit: 2, burstLimit: 4, quotaPerDay: 5_000 },
];

beforeAll(() => {
  dev = synth({ profile: 'dev' }, { cfnValidation: false });
  prod = synth({ profile: 'prod' }, { cfnValidation: false });
  options = synth({ profile: 'dev', guardrail: 'false', apiApps: JSON.stringify(TWO_APPS) });
});

const props = (r: CfnResource) => (r.Properties ?? {}) as Record<string, CfnJson>;
const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

function only(
  json: CfnTemplate,
  type: string,
  predicate: (r: CfnResource, id: string) => boolean = () => true,
) {
  const found = resourcesOfType(json, type).filter(([id, r]) => predicate(r, id));
  expect(found, `exactly one ${type}`).toHaveLength(1);
  return found[0] as [string, CfnResource];
}

function functionOf(json: CfnTemplate, fn: ApiFunctionName): [string, CfnResource] {
  return only(
    json,
    'AWS::Lambda::Function',
    (r) => r.Metadata?.['llmops:entry'] === API_FUNCTION_ENTRIES[fn],
  );
}

const envOf = (json: CfnTemplate, fn: ApiFunctionName) =>
  props(functionOf(json, fn)[1]).Environment.Variables as Record<string, CfnJson>;

/** Every Allow statement of the identity policies of a role. */
const allowedStatements = (json: CfnTemplate, roleId: string) =>
  roleStatements(json, roleId).filter((s) => s.Effect === 'Allow');

const roleOf = (json: CfnTemplate, fn: ApiFunctionName): string => roleIdOf(functionOf(json, fn)[1]);

const actionsOf = (statements: Statement[]) => statements.flatMap((s) => list(s.Action));

/** Full API Gateway path of each AWS::ApiGateway::Resource, and `/` for the root. */
function resourcePaths(json: CfnTemplate): (resourceId: CfnJson) => string {
  const resources = Object.fromEntries(resourcesOfType(json, 'AWS::ApiGateway::Resource'));
  const pathOf = (resourceId: CfnJson): string => {
    if (resourceId?.['Fn::GetAtt']?.[1] === 'RootResourceId') return '';
    const id = resourceId.Ref as string;
    const resource = resources[id] as CfnResource;
    return `${pathOf(props(resource).ParentId)}/${props(resource).PathPart}`;
  };
  return pathOf;
}

interface SynthMethod {
  id: string;
  method: string;
  path: string;
  props: Record<string, CfnJson>;
}

function methods(json: CfnTemplate): SynthMethod[] {
  const pathOf = resourcePaths(json);
  return resourcesOfType(json, 'AWS::ApiGateway::Method').map(([id, r]) => ({
    id,
    method: props(r).HttpMethod,
    path: pathOf(props(r).ResourceId),
    props: props(r),
  }));
}

function methodFor(json: CfnTemplate, method: string, path: string): SynthMethod {
  const found = methods(json).filter((m) => m.method === method && m.path === path);
  expect(found, `${method} ${path}`).toHaveLength(1);
  return found[0] as SynthMethod;
}

const HOUSE_ENV = HOUSE_ENVIRONMENT_NAMES;

/** What the vector store binds on the functions that read it (dev: S3 Vectors, prod: OpenSearch). */
const STORE_ENV: Record<VectorStoreKind, string[]> = {
  opensearch: ['VECTOR_STORE_KIND', 'VECTOR_DIMENSIONS', 'OPENSEARCH_ENDPOINT', 'OPENSEARCH_INDEX'],
  s3vectors: ['VECTOR_STORE_KIND', 'VECTOR_DIMENSIONS', 'S3VECTORS_BUCKET', 'S3VECTORS_INDEX'],
};
/** The API functions that read the vector store. */
const STORE_READERS: readonly ApiFunctionName[] = ['chat', 'rag'];

const EXPECTED_ENV: Record<ApiFunctionName, string[]> = {
  chat: [
    'PROMPTS_TABLE',
    'CATALOG_TABLE',
    'CATALOG_SEED',
    'EVENT_BUS_NAME',
    'GUARDRAIL_ID',
    'GUARDRAIL_VERSION',
    'INTERACTION_SAMPLE_RATE',
    'CHAT_TIMEOUT_MS',
    'PROMPT_CACHE_TTL_SECONDS',
    'APP_KEYS',
    'APP_ACCESS',
    'USAGE_TABLE',
    // The answered calls kept for feedback.
    'INTERACTIONS_TABLE',
    'INTERACTION_TTL_DAYS',
    'MAX_REQUEST_BYTES',
    'EMBEDDING_MODEL',
    // The Retry-After of a 503 while the GPU endpoint scales out from zero (fineTuning.enabled).
    'SAGEMAKER_RETRY_AFTER_SECONDS',
  ],
  prompts: [
    'PROMPTS_TABLE',
    'PROMPT_CACHE_TTL_SECONDS',
    'APP_KEYS',
    'APP_ACCESS',
    'MAX_REQUEST_BYTES',
    // The promotion gate of production.
    'EVALUATIONS_TABLE',
    'EVENT_BUS_NAME',
    'PROMOTION_SUITES',
  ],
  models: ['CATALOG_TABLE', 'CATALOG_SEED', 'APP_KEYS', 'APP_ACCESS', 'MAX_REQUEST_BYTES'],
  rag: [
    'DOCUMENTS_TABLE',
    'EMBEDDING_MODEL',
    'APP_KEYS',
    'APP_ACCESS',
    'MAX_REQUEST_BYTES',
    'GUARDRAIL_ID',
    'GUARDRAIL_VERSION',
  ],
  openapi: ['APP_KEYS', 'APP_ACCESS', 'MAX_REQUEST_BYTES'],
  evaluations: [
    'EVALUATIONS_TABLE',
    'EVENT_BUS_NAME',
    'ARTIFACTS_BUCKET',
    'APP_KEYS',
    'APP_ACCESS',
    'MAX_REQUEST_BYTES',
  ],
  drift: [
    'DRIFT_TABLE',
    'EVENT_BUS_NAME',
    'ARTIFACTS_BUCKET',
    'DRIFT_CHECKS',
    'DRIFT_POLICY',
    'APP_KEYS',
    'APP_ACCESS',
    'MAX_REQUEST_BYTES',
  ],
  finetune: [
    'FINETUNE_TABLE',
    'DATASETS_TABLE',
    'CATALOG_TABLE',
    'EVENT_BUS_NAME',
    'STACK_NAME',
    'FINETUNE_SETTINGS',
    'APP_KEYS',
    'APP_ACCESS',
    'MAX_REQUEST_BYTES',
  ],
  feedback: [
    'FEEDBACK_TABLE',
    'INTERACTIONS_TABLE',
    'EVALUATIONS_TABLE',
    'APP_KEYS',
    'APP_ACCESS',
    'MAX_REQUEST_BYTES',
  ],
};
const FUNCTIONS = Object.keys(EXPECTED_ENV) as ApiFunctionName[];

describe('routes', () => {
  it.each(['dev', 'prod'] as const)('%s: the methods are exactly API_ROUTES, with their auth', (p) => {
    const s = p === 'dev' ? dev : prod;
    const synthesized = methods(s.json).map((m) => {
      const auth =
        m.props.AuthorizationType === 'AWS_IAM' ? 'iam' : m.props.ApiKeyRequired === true ? 'apiKey' : 'none';
      return `${m.method} ${m.path} ${auth}`;
    });
    // Admin and reviewer routes are both IAM methods (the resource policy tells their principals apart).
    const expected = API_ROUTES.map((r) => `${r.method} ${r.path} ${r.auth === 'apiKey' ? 'apiKey' : 'iam'}`);
    expect(synthesized.sort()).toEqual(expected.sort());
    expect(new Set(synthesized).size).toBe(synthesized.length);
  });

  it('every method is authenticated: an API key found by the authorizer, or IAM (never NONE)', () => {
    for (const s of [dev, prod, options]) {
      const [authorizerId, authorizer] = only(s.json, 'AWS::ApiGateway::Authorizer');
      for (const m of methods(s.json)) {
        const where = `${m.method} ${m.path}`;
        if (m.props.AuthorizationType === 'AWS_IAM') {
          expect(m.props.ApiKeyRequired ?? false, `${where}: IAM routes need no API key`).toBe(false);
        } else {
          expect(m.props.AuthorizationType, where).toBe('CUSTOM');
          expect(m.props.AuthorizerId, where).toEqual({ Ref: authorizerId });
          expect(m.props.ApiKeyRequired, `${where}: CUSTOM without an API key`).toBe(true);
        }
      }
      // Not cached (callers use either header) and invoking the authorizer function.
      expect(props(authorizer).Type).toBe('REQUEST');
      expect(props(authorizer).AuthorizerResultTtlInSeconds).toBe(0);
      expect(flatten(props(authorizer).AuthorizerUri)).toMatch(/AuthorizerFunction[0-9A-F]{8}\.Arn>/);
    }
  });

  it('admin routes (prompt writes, label moves, catalog edits, evaluations, drift, fine-tuning jobs) and reviewer routes are IAM; app routes use API keys', () => {
    const admin = [
      'PUT /v1/models/{id}',
      'POST /v1/prompts/{name}/versions',
      'PUT /v1/prompts/{name}/labels/{label}',
      'POST /v1/evaluations',
      'GET /v1/evaluations/{id}',
      'POST /v1/drift/baselines',
      'GET /v1/drift/status',
      'POST /v1/finetune-jobs',
      'GET /v1/finetune-jobs',
      'GET /v1/finetune-jobs/{id}',
      'POST /v1/finetune-jobs/{id}/approval',
    ];
    const reviewer = ['GET /v1/reviews', 'POST /v1/reviews/{id}'];
    for (const key of [...admin, ...reviewer]) {
      const [method, path] = key.split(' ') as [string, string];
      expect(methodFor(dev.json, method, path).props.AuthorizationType, key).toBe('AWS_IAM');
      expect(methodFor(dev.json, method, path).props.ApiKeyRequired ?? false, key).toBe(false);
    }
    const withAuth = (auth: string) =>
      API_ROUTES.filter((r) => r.auth === auth)
        .map((r) => `${r.method} ${r.path}`)
        .sort();
    expect(withAuth('iam')).toEqual(admin.sort());
    expect(withAuth('reviewer')).toEqual(reviewer.sort());
    expect(methodFor(dev.json, 'POST', '/v1/chat').props.ApiKeyRequired).toBe(true);
  });

  it("each method proxies to its route's function; chat streams with the function's timeout", () => {
    for (const route of API_ROUTES) {
      const m = methodFor(dev.json, route.method, route.path);
      const integration = m.props.Integration;
      const [fnId, fn] = functionOf(dev.json, route.fn);
      expect(integration.Type, route.path).toBe('AWS_PROXY');
      expect(integration.IntegrationHttpMethod, route.path).toBe('POST');
      const uri = flatten(integration.Uri);
      expect(uri, route.path).toContain(`<${fnId}.Arn>`);
      expect(m.props.OperationName, route.path).toBe(route.operationId);
      if (route.streaming) {
        expect(integration.ResponseTransferMode, route.path).toBe('STREAM');
        expect(uri).toMatch(/:lambda:path\/2021-11-15\/functions\/.+\/response-streaming-invocations$/);
        expect(integration.TimeoutInMillis).toBe(props(fn).Timeout * 1000);
      } else {
        expect(integration.ResponseTransferMode ?? 'BUFFERED', route.path).toBe('BUFFERED');
        expect(uri, route.path).toMatch(/\/2015-03-31\/functions\/.+\/invocations$/);
      }
    }
    // The chat function is a response-streaming function: all of its routes, and only they, stream.
    expect(API_ROUTES.filter((r) => r.streaming).map((r) => r.path)).toEqual([
      '/v1/chat',
      '/v1/chat/completions',
      '/v1/embeddings',
    ]);
    expect(API_ROUTES.filter((r) => r.fn === 'chat').every((r) => r.streaming)).toBe(true);
    expect(props(functionOf(dev.json, 'chat')[1]).Timeout).toBeLessThanOrEqual(CHAT_FUNCTION_TIMEOUT_SECONDS);
  });

  it('API Gateway may invoke each function only through its own methods (no test-invoke permissions)', () => {
    const permissions = resourcesOfType(dev.json, 'AWS::Lambda::Permission').filter(
      ([, p]) => props(p).Principal === 'apigateway.amazonaws.com',
    );
    // One per route, and one for the authorizer (scoped to it).
    expect(permissions).toHaveLength(API_ROUTES.length + 1);
    for (const [id, p] of permissions) {
      const source = flatten(props(p).SourceArn);
      expect(source, id).not.toContain('test-invoke-stage');
      expect(source, id).toMatch(/\/(GET|POST|PUT)\/v1\/|\/authorizers\//);
    }
  });

  it('every route with a body has a request model generated from its zod schema, and a body validator', () => {
    const validators = Object.fromEntries(resourcesOfType(dev.json, 'AWS::ApiGateway::RequestValidator'));
    for (const route of API_ROUTES) {
      const m = methodFor(dev.json, route.method, route.path);
      const validator = validators[m.props.RequestValidatorId.Ref] as CfnResource;
      expect(validator, route.path).toBeDefined();
      expect(props(validator).ValidateRequestParameters, route.path).toBe(true);
      if (!route.requestBody) {
        expect(m.props.RequestModels, route.path).toBeUndefined();
        continue;
      }
      expect(props(validator).ValidateRequestBody, route.path).toBe(true);
      const modelId = m.props.RequestModels['application/json'].Ref as string;
      const model = props(dev.json.Resources[modelId] as CfnResource);
      expect(model.ContentType).toBe('application/json');
      expect(model.Name).toMatch(/^[A-Za-z0-9]+$/);
      expect(model.Schema, route.path).toEqual(
        z.toJSONSchema(route.requestBody, { target: 'draft-4', io: 'input' }),
      );
      expect(model.Schema.$schema).toBe('http://json-schema.org/draft-04/schema#');
    }
    expect(logicalIdsOfType(dev.json, 'AWS::ApiGateway::Model')).toHaveLength(
      API_ROUTES.filter((r) => r.requestBody).length,
    );
  });

  it('path parameters are required and query parameters declared optional', () => {
    for (const route of API_ROUTES) {
      const expected: Record<string, boolean> = {};
      for (const name of pathParameters(route.path)) expected[`method.request.path.${name}`] = true;
      for (const name of route.query ?? []) expected[`method.request.querystring.${name}`] = false;
      const actual = methodFor(dev.json, route.method, route.path).props.RequestParameters ?? {};
      expect(actual, route.path).toEqual(expected);
    }
    expect(pathParameters('/v1/prompts/{name}/labels/{label}')).toEqual(['name', 'label']);
  });
});

describe('stage', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: regional, traced, ERROR execution logs, throttled, JSON access logs',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const [, api] = only(s.json, 'AWS::ApiGateway::RestApi');
      expect(props(api).EndpointConfiguration).toEqual({ Types: ['REGIONAL'] });
      expect(props(api).ApiKeySourceType).toBe('AUTHORIZER');
      const [, stage] = only(s.json, 'AWS::ApiGateway::Stage');
      const sp = props(stage);
      expect(sp.StageName).toBe(p);
      expect(sp.TracingEnabled).toBe(true);
      // The chat routes' own settings are checked under "chat bounds".
      expect(sp.MethodSettings.filter((m: CfnJson) => m.ResourcePath === '/*')).toEqual([
        {
          HttpMethod: '*',
          ResourcePath: '/*',
          LoggingLevel: 'ERROR',
          MetricsEnabled: true,
          DataTraceEnabled: false,
          ThrottlingRateLimit: s.config.api.throttling.rateLimit,
          ThrottlingBurstLimit: s.config.api.throttling.burstLimit,
        },
      ]);
      const format = JSON.parse(sp.AccessLogSetting.Format);
      for (const field of [
        'requestId',
        'ip',
        'caller',
        'user',
        'apiKeyId',
        'httpMethod',
        'resourcePath',
        'status',
        'protocol',
        'responseLength',
        'integrationLatency',
        'responseLatency',
      ]) {
        expect(format[field], field).toMatch(/^\$context\./);
      }
      const logGroupId = sp.AccessLogSetting.DestinationArn['Fn::GetAtt'][0];
      const [keyId] = only(s.json, 'AWS::KMS::Key');
      expect(props(s.json.Resources[logGroupId] as CfnResource).KmsKeyId).toEqual(arnOf(keyId));
      expect(props(s.json.Resources[logGroupId] as CfnResource).RetentionInDays).toBe(
        s.config.logRetentionDays,
      );
    },
  );

  it('outputs the URL and one API key id per app (not the key value)', () => {
    expect(flatten(props({ Type: '', Properties: dev.json.Outputs?.ApiUrl as never }).Value)).toContain(
      '.execute-api.',
    );
    const [keyId] = only(dev.json, 'AWS::ApiGateway::ApiKey');
    expect(dev.json.Outputs?.ApiKeyIdDefault?.Value).toEqual(ref(keyId));
    const outputs = Object.keys(options.json.Outputs ?? {}).filter((o) => o.startsWith('ApiKeyId'));
    expect(outputs.sort()).toEqual(['ApiKeyIdBatchJobs', 'ApiKeyIdWeb']);
    expect(pascalCase('batch-jobs')).toBe('BatchJobs');
    for (const output of outputs) {
      const value = options.json.Outputs?.[output]?.Value as { Ref: string };
      expect(options.json.Resources[value.Ref]?.Type, output).toBe('AWS::ApiGateway::ApiKey');
    }
  });
});

describe('chat bounds: one key cannot starve the account', () => {
  // Per profile: reserved concurrency, the chat routes' throttle, the answer deadline, the function timeout.
  const BOUNDS = {
    dev: { reserved: 10, rateLimit: 5, burstLimit: 10, deadlineMs: 60_000, timeoutSeconds: 75 },
    prod: { reserved: 100, rateLimit: 20, burstLimit: 50, deadlineMs: 120_000, timeoutSeconds: 135 },
  } as const;
  const CHAT_ROUTES = API_ROUTES.filter((r) => r.fn === 'chat');

  it.each(['dev', 'prod'] as const)(
    "%s: the chat function reserves its concurrency, leaving the account's 100 unreserved executions",
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const chat = props(functionOf(s.json, 'chat')[1]);
      expect(chat.ReservedConcurrentExecutions).toBe(BOUNDS[p].reserved);
      // An account's default quota is 1000 and Lambda keeps 100 unreserved: every reservation together fits.
      // The whole deployment: the closed loop's function, in its nested stack, reserves one.
      const reserved = resourcesOfType(s.json, 'AWS::Lambda::Function').reduce(
        (sum, [, f]) => sum + ((props(f).ReservedConcurrentExecutions as number | undefined) ?? 0),
        0,
      );
      expect(reserved).toBeLessThanOrEqual(1000 - 100);
      expect(MAX_CHAT_RESERVED_CONCURRENCY + LOOP_RESERVED_CONCURRENCY).toBe(900);
    },
  );

  it.each(['dev', 'prod'] as const)(
    '%s: the chat routes are throttled for all apps together (stage) and for each key (usage plan)',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const { rateLimit, burstLimit } = BOUNDS[p];
      expect(CHAT_ROUTES.map((r) => `${r.method} ${r.path}`)).toContain('POST /v1/chat');
      const [, stage] = only(s.json, 'AWS::ApiGateway::Stage');
      const settings = props(stage).MethodSettings as CfnJson[];
      for (const route of CHAT_ROUTES) {
        expect(settings, route.path).toContainEqual({
          HttpMethod: route.method,
          ResourcePath: `/${route.path.replaceAll('/', '~1')}`,
          LoggingLevel: 'ERROR',
          MetricsEnabled: true,
          DataTraceEnabled: false,
          ThrottlingRateLimit: rateLimit,
          ThrottlingBurstLimit: burstLimit,
        });
      }
      expect(settings).toHaveLength(1 + CHAT_ROUTES.length);
      // Below the stage's limits, and no burst the gateway admits can exceed the reserved concurrency.
      expect(rateLimit).toBeLessThan(s.config.api.throttling.rateLimit);
      expect(burstLimit).toBeLessThanOrEqual(BOUNDS[p].reserved);
      const [, plan] = only(s.json, 'AWS::ApiGateway::UsagePlan');
      const [apiStage] = props(plan).ApiStages as CfnJson[];
      expect(apiStage.Throttle).toEqual(
        Object.fromEntries(
          CHAT_ROUTES.map((r) => [`${r.path}/${r.method}`, { RateLimit: rateLimit, BurstLimit: burstLimit }]),
        ),
      );
    },
  );

  it("each app's chat throttle is the chat limit, never above the app's own", () => {
    for (const [, plan] of resourcesOfType(options.json, 'AWS::ApiGateway::UsagePlan')) {
      const own = props(plan).Throttle;
      const chat = (props(plan).ApiStages as CfnJson[])[0].Throttle['/v1/chat/POST'];
      expect(chat).toEqual({
        RateLimit: Math.min(own.RateLimit, BOUNDS.dev.rateLimit),
        BurstLimit: Math.min(own.BurstLimit, BOUNDS.dev.burstLimit),
      });
    }
  });

  it('the local API enforces the chat throttle read from the template (dev: a burst of 10, then 429)', () => {
    const template = new LocalTemplate(dev.json, { namePrefix: 'chat-bounds' });
    const [api] = template.restApis();
    const [plan] = template.usagePlans();
    if (!api || !plan) throw new Error('no REST API or usage plan in the dev template');
    const method = (httpMethod: string, path: string) => {
      const found = api.methods.find((m) => m.httpMethod === httpMethod && m.path === path);
      if (!found) throw new Error(`no method ${httpMethod} ${path}`);
      return found;
    };
    const scope = {
      apiId: api.id,
      stage: 'dev',
      apiKeyId: plan.apiKeyIds[0] ?? '',
      plans: [plan],
      limiter: new UsageLimiter(),
    };
    const chat = Array.from({ length: BOUNDS.dev.burstLimit + 1 }, () =>
      checkUsage(scope, method('POST', '/v1/chat')),
    );
    expect(chat).toEqual([...Array(BOUNDS.dev.burstLimit).fill(undefined), 'THROTTLED']);
    // The other routes keep the app's own limits.
    expect(checkUsage(scope, method('GET', '/v1/models'))).toBeUndefined();
  });

  it.each(['dev', 'prod'] as const)(
    '%s: one answer has a deadline, and the function (and its stream) outlives it by 15 s of headroom',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const [, fn] = functionOf(s.json, 'chat');
      expect(envOf(s.json, 'chat').CHAT_TIMEOUT_MS).toBe(String(BOUNDS[p].deadlineMs));
      expect(props(fn).Timeout).toBe(BOUNDS[p].timeoutSeconds);
      expect(props(fn).Timeout * 1000 - BOUNDS[p].deadlineMs).toBe(15_000);
      const chat = methods(s.json).find((m) => m.method === 'POST' && m.path === '/v1/chat');
      expect(chat?.props.Integration.TimeoutInMillis).toBe(BOUNDS[p].timeoutSeconds * 1000);
    },
  );
});

describe('usage plans and keys', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: one key and plan per configured app, with its rate, burst and daily quota',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const [apiId] = only(s.json, 'AWS::ApiGateway::RestApi');
      const [stageId] = only(s.json, 'AWS::ApiGateway::Stage');
      const [, plan] = only(s.json, 'AWS::ApiGateway::UsagePlan');
      const app = s.config.api.apps[0];
      expect(app?.name).toBe('default');
      expect(props(plan).Throttle).toEqual({ RateLimit: app?.rateLimit, BurstLimit: app?.burstLimit });
      expect(props(plan).Quota).toEqual({ Limit: app?.quotaPerDay, Period: 'DAY' });
      expect(props(plan).ApiStages).toEqual([
        expect.objectContaining({ ApiId: ref(apiId), Stage: ref(stageId) }),
      ]);
      expect(p === 'dev' ? [10, 20, 10_000] : [50, 100, 1_000_000]).toEqual([
        app?.rateLimit,
        app?.burstLimit,
        app?.quotaPerDay,
      ]);
    },
  );

  it('with apiApps, each app has its own key bound to its own plan, and APP_KEYS maps key ids to app names', () => {
    const keys = resourcesOfType(options.json, 'AWS::ApiGateway::ApiKey');
    const plans = resourcesOfType(options.json, 'AWS::ApiGateway::UsagePlan');
    const links = resourcesOfType(options.json, 'AWS::ApiGateway::UsagePlanKey');
    expect(keys).toHaveLength(2);
    expect(plans).toHaveLength(2);
    expect(links).toHaveLength(2);
    const appKeys = JSON.parse(flatten(envOf(options.json, 'chat').APP_KEYS)) as Record<string, string>;
    expect(Object.values(appKeys).sort()).toEqual(['batch-jobs', 'web']);
    for (const app of TWO_APPS) {
      const keyRef = Object.entries(appKeys).find(([, name]) => name === app.name)?.[0] as string;
      const keyId = keyRef.slice(1, -1);
      expect(options.json.Resources[keyId]?.Type).toBe('AWS::ApiGateway::ApiKey');
      const link = links.find(([, l]) => JSON.stringify(props(l).KeyId) === JSON.stringify(ref(keyId)));
      const planId = (link?.[1] && props(link[1]).UsagePlanId.Ref) as string;
      const plan = props(options.json.Resources[planId] as CfnResource);
      expect(plan.Throttle).toEqual({ RateLimit: app.rateLimit, BurstLimit: app.burstLimit });
      expect(plan.Quota).toEqual({ Limit: app.quotaPerDay, Period: 'DAY' });
    }
    for (const fn of FUNCTIONS)
      expect(envOf(options.json, fn).APP_KEYS, fn).toEqual(envOf(options.json, 'chat').APP_KEYS);
  });
});

describe('gateway responses', () => {
  const bodies = (s: Synthesized): Record<string, { status: string | undefined; body: string }> =>
    Object.fromEntries(
      resourcesOfType(s.json, 'AWS::ApiGateway::GatewayResponse').map(([, r]) => [
        props(r).ResponseType,
        { status: props(r).StatusCode, body: props(r).ResponseTemplates['application/json'] as string },
      ]),
    );

  it('answers validation errors with the validation message in the API error shape', () => {
    expect(bodies(dev).BAD_REQUEST_BODY).toEqual({
      status: '400',
      body: '{"error":{"code":"validation_error","message":"$context.error.validationErrorString","type":"invalid_request_error","param":null,"requestId":"$context.requestId"}}',
    });
  });

  it("no or a wrong key is 401 (as OpenAI clients expect), other auth failures 403, throttling and quota 429, all valid JSON in OpenAI's error shape", () => {
    const b = bodies(dev);
    for (const type of ['UNAUTHORIZED', 'INVALID_API_KEY']) expect(b[type]?.status, type).toBe('401');
    for (const type of ['ACCESS_DENIED', 'MISSING_AUTHENTICATION_TOKEN']) {
      expect(b[type]?.status, type).toBe('403');
    }
    expect(b.UNAUTHORIZED?.body).toContain('Authorization: Bearer');
    expect(b.UNAUTHORIZED?.body).toContain('x-api-key');
    expect(b.MISSING_AUTHENTICATION_TOKEN?.body).toMatch(/SigV4/);
    expect(b.THROTTLED?.status).toBe('429');
    expect(b.QUOTA_EXCEEDED?.status).toBe('429');
    expect(Object.keys(b)).toEqual(expect.arrayContaining(['DEFAULT_4XX', 'DEFAULT_5XX']));
    for (const [type, { body }] of Object.entries(b)) {
      const sample = body
        .replaceAll('$context.error.messageString', '"Missing Authentication Token"')
        .replaceAll('$context.error.validationErrorString', 'Invalid request body')
        .replaceAll('$context.requestId', 'c0ffee00-0000-4000-8000-000000000000');
      const parsed = JSON.parse(sample) as {
        error: { code: string; message: string; type: string; param: null };
      };
      expect(parsed.error.code, type).toMatch(/^[a-z_]+$/);
      expect(parsed.error.type, type).toMatch(/^[a-z_]+_error$/);
      expect(parsed.error.param, type).toBeNull();
      expect(parsed.error.message.length, type).toBeGreaterThan(5);
    }
  });
});

describe('guardrail', () => {
  it('filters harmful content, prompt attacks (input only), masks or blocks PII, checks grounding', () => {
    const [keyId] = only(dev.json, 'AWS::KMS::Key');
    const [, guardrail] = only(dev.json, 'AWS::Bedrock::Guardrail');
    const g = props(guardrail);
    expect(g.KmsKeyArn).toEqual(arnOf(keyId));
    const filters = Object.fromEntries(
      (g.ContentPolicyConfig.FiltersConfig as CfnJson[]).map((f) => [
        f.Type,
        [f.InputStrength, f.OutputStrength],
      ]),
    );
    expect(filters.PROMPT_ATTACK).toEqual(['HIGH', 'NONE']);
    expect(Object.keys(filters).sort()).toEqual(
      ['HATE', 'INSULTS', 'MISCONDUCT', 'PROMPT_ATTACK', 'SEXUAL', 'VIOLENCE'].sort(),
    );
    const pii = Object.fromEntries(
      (g.SensitiveInformationPolicyConfig.PiiEntitiesConfig as CfnJson[]).map((e) => [e.Type, e.Action]),
    );
    for (const type of ['EMAIL', 'PHONE', 'NAME', 'US_SOCIAL_SECURITY_NUMBER', 'CREDIT_DEBIT_CARD_NUMBER']) {
      expect(pii[type], type).toBe('ANONYMIZE');
    }
    for (const type of ['AWS_ACCESS_KEY', 'AWS_SECRET_KEY']) expect(pii[type], type).toBe('BLOCK');
    expect(g.ContextualGroundingPolicyConfig.FiltersConfig).toEqual([
      { Type: 'GROUNDING', Threshold: 0.75 },
      { Type: 'RELEVANCE', Threshold: 0.5 },
    ]);
    expect(g.BlockedInputMessaging).toMatch(/blocked/);
    expect(g.BlockedOutputsMessaging).toMatch(/withheld/);
  });

  it("the chat function pins the published version and may apply exactly that guardrail; only the rag function (search queries), Evaluate's Generate (the gateway code path) and Score (the grounding check) may too", () => {
    const [guardrailId] = only(dev.json, 'AWS::Bedrock::Guardrail');
    const [versionId, version] = only(dev.json, 'AWS::Bedrock::GuardrailVersion');
    expect(props(version).GuardrailIdentifier).toEqual({ 'Fn::GetAtt': [guardrailId, 'GuardrailId'] });
    expect(props(version).Description).toMatch(/configuration [0-9a-f]{16}$/);
    // Each function that applies the guardrail pins the same published version, and may apply exactly it.
    const appliers = {
      chat: functionOf(dev.json, 'chat'),
      rag: functionOf(dev.json, 'rag'),
      generate: only(
        dev.json,
        'AWS::Lambda::Function',
        (r) => r.Metadata?.['llmops:entry'] === 'functions/evaluation/generate.ts',
      ),
      score: only(
        dev.json,
        'AWS::Lambda::Function',
        (r) => r.Metadata?.['llmops:entry'] === 'functions/evaluation/score.ts',
      ),
    };
    for (const [name, [, fn]] of Object.entries(appliers)) {
      const env = props(fn).Environment.Variables as Record<string, CfnJson>;
      expect(env.GUARDRAIL_ID, name).toEqual({ 'Fn::GetAtt': [guardrailId, 'GuardrailId'] });
      expect(env.GUARDRAIL_VERSION, name).toEqual({ 'Fn::GetAtt': [versionId, 'Version'] });
      const apply = allowedStatements(dev.json, roleIdOf(fn)).filter((s) =>
        list(s.Action).includes('bedrock:ApplyGuardrail'),
      );
      expect(apply, name).toHaveLength(1);
      expect(apply[0]?.Resource, name).toEqual({ 'Fn::GetAtt': [guardrailId, 'GuardrailArn'] });
    }
    // Nobody else: the only policies that mention ApplyGuardrail are those of these four roles.
    const everyone = resourcesOfType(dev.json, 'AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(props(p)).includes('bedrock:ApplyGuardrail'))
      .flatMap(([, p]) => (props(p).Roles as CfnJson[]).map((r) => r.Ref as string));
    expect(everyone.sort()).toEqual(
      Object.values(appliers)
        .map(([, fn]) => roleIdOf(fn))
        .sort(),
    );
    const inline = resourcesOfType(dev.json, 'AWS::IAM::Role').filter(([, r]) =>
      JSON.stringify(props(r).Policies ?? []).includes('bedrock:ApplyGuardrail'),
    );
    expect(inline).toEqual([]);
  });

  it('-c guardrail=false: no guardrail, empty GUARDRAIL_* variables, no ApplyGuardrail grant', () => {
    expect(logicalIdsOfType(options.json, 'AWS::Bedrock::Guardrail')).toEqual([]);
    expect(logicalIdsOfType(options.json, 'AWS::Bedrock::GuardrailVersion')).toEqual([]);
    const env = envOf(options.json, 'chat');
    expect(env.GUARDRAIL_ID).toBe('');
    expect(env.GUARDRAIL_VERSION).toBe('');
    expect(JSON.stringify(options.json)).not.toContain('bedrock:ApplyGuardrail');
    expect(options.json.Outputs?.GuardrailId).toBeUndefined();
    // Synthesized with the cdk-nag plugin: nothing unacknowledged either.
    expect(options.validationViolations).toEqual([]);
  });
});

describe('least privilege', () => {
  const tableId = (s: Synthesized, name: 'Prompts' | 'Catalog') =>
    only(s.json, 'AWS::DynamoDB::Table', (_r, id) => id.startsWith(`ModelGateway${name}Table`))[0];
  const WRITES = [
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:BatchWriteItem',
  ];

  const onTable = (statements: Statement[], id: string) =>
    statements.filter((s) => list(s.Resource).some((r) => JSON.stringify(r) === JSON.stringify(arnOf(id))));

  it("chat reads prompts but cannot write them; it may only add catalog items and count a canary's calls on them; it invokes catalog models and tagged endpoints", () => {
    const statements = allowedStatements(dev.json, roleOf(dev.json, 'chat'));
    const prompts = actionsOf(onTable(statements, tableId(dev, 'Prompts')));
    expect(prompts).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query']));
    for (const action of WRITES) expect(prompts).not.toContain(action);
    // The seed adds missing entries with conditional puts; the one update is a rollout's canary counter
    // (`ADD canary.calls`, fine-tuning): no delete or batch write.
    const catalog = actionsOf(onTable(statements, tableId(dev, 'Catalog')));
    expect(catalog).toEqual(
      expect.arrayContaining([
        'dynamodb:GetItem',
        'dynamodb:Scan',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
      ]),
    );
    for (const action of WRITES.filter((a) => a !== 'dynamodb:PutItem' && a !== 'dynamodb:UpdateItem'))
      expect(catalog).not.toContain(action);
    const invoke = statements.filter((s) => list(s.Action).includes('bedrock:InvokeModel'));
    expect(invoke.length).toBeGreaterThan(0);
    for (const statement of invoke) {
      expect(list(statement.Action).sort()).toEqual([
        'bedrock:InvokeModel',
        'bedrock:InvokeModelWithResponseStream',
      ]);
      // Named models and profiles only: no model or profile wildcard.
      for (const resource of list(statement.Resource).map(flatten)) {
        expect(resource).not.toMatch(/(foundation-model|inference-profile)\/\*$/);
      }
    }
    const sagemaker = statements.filter((s) => list(s.Action).some((a) => a.startsWith('sagemaker:')));
    expect(sagemaker).toHaveLength(1);
    expect(list(sagemaker[0]?.Action).sort()).toEqual([
      'sagemaker:InvokeEndpoint',
      'sagemaker:InvokeEndpointWithResponseStream',
    ]);
    expect(sagemaker[0]?.Condition).toEqual({
      StringEquals: { 'aws:ResourceTag/llmops:invoked-by': dev.config.stackName },
    });
    expect(actionsOf(statements)).toContain('events:PutEvents');
  });

  it('only chat may call models; prompts and models touch only their own table; openapi touches no data', () => {
    for (const fn of ['prompts', 'models', 'openapi', 'evaluations', 'drift'] as const) {
      const actions = actionsOf(allowedStatements(dev.json, roleOf(dev.json, fn)));
      expect(
        actions.filter((a) => /^(bedrock|sagemaker):/.test(a)),
        fn,
      ).toEqual([]);
      // The prompts function puts the promotion gate's events (EvaluationRequested, PromptGateOverridden);
      // evaluations puts EvaluationRequested, drift DriftCheckRequested.
      const events = fn === 'prompts' || fn === 'evaluations' || fn === 'drift' ? ['events:PutEvents'] : [];
      expect([...new Set(actions.filter((a) => a.startsWith('events:')))], fn).toEqual(events);
    }
    for (const fn of ['prompts', 'models', 'openapi'] as const) {
      const actions = actionsOf(allowedStatements(dev.json, roleOf(dev.json, fn)));
      expect(
        actions.filter((a) => a.startsWith('s3:')),
        fn,
      ).toEqual([]);
    }
    const prompts = allowedStatements(dev.json, roleOf(dev.json, 'prompts'));
    expect(onTable(prompts, tableId(dev, 'Catalog'))).toEqual([]);
    expect(actionsOf(onTable(prompts, tableId(dev, 'Prompts')))).toEqual(expect.arrayContaining(WRITES));
    const models = allowedStatements(dev.json, roleOf(dev.json, 'models'));
    expect(onTable(models, tableId(dev, 'Prompts'))).toEqual([]);
    const openapi = actionsOf(allowedStatements(dev.json, roleOf(dev.json, 'openapi')));
    expect(openapi.filter((a) => !a.startsWith('xray:') && !a.startsWith('logs:'))).toEqual([]);
  });

  it('drift reads the drift table without writing it, and reads only the drift reports of the artifacts bucket', () => {
    const statements = allowedStatements(dev.json, roleOf(dev.json, 'drift'));
    const driftTableId = envOf(dev.json, 'drift').DRIFT_TABLE.Ref as string;
    expect(dev.json.Resources[driftTableId]?.Type).toBe('AWS::DynamoDB::Table');
    const onDrift = actionsOf(onTable(statements, driftTableId));
    expect(onDrift).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query']));
    for (const action of WRITES) expect(onDrift).not.toContain(action);
    const dynamo = statements.filter((st) => list(st.Action).some((a) => a.startsWith('dynamodb:')));
    for (const st of dynamo) {
      for (const r of list(st.Resource))
        expect(JSON.stringify(r), 'drift: only the drift table').toContain(driftTableId);
    }
    const s3 = statements.filter((st) => list(st.Action).some((a) => a.startsWith('s3:')));
    expect(actionsOf(s3).filter((a) => !/^s3:(Get|List)/.test(a))).toEqual([]);
    for (const st of s3.filter((x) => list(x.Action).some((a) => a.startsWith('s3:Get')))) {
      for (const r of list(st.Resource))
        expect(flatten(r), 'drift: only drift/reports/').toMatch(/\/drift\/reports\/\*$/);
    }
  });

  it('chat and models may Scan exactly the catalog table, rag exactly the documents table; no other API function scans', () => {
    const scans = (fn: ApiFunctionName) =>
      allowedStatements(dev.json, roleOf(dev.json, fn))
        .filter((s) => list(s.Action).includes('dynamodb:Scan'))
        .flatMap((s) => list(s.Resource).map((r) => JSON.stringify(r)));
    const catalog = JSON.stringify(arnOf(tableId(dev, 'Catalog')));
    const [documentsId] = only(dev.json, 'AWS::DynamoDB::Table', (_r, id) =>
      id.startsWith('RagIngestDocumentsTable'),
    );
    expect(scans('chat')).toEqual([catalog]);
    expect(scans('models')).toEqual([catalog]);
    expect(scans('rag')).toEqual([JSON.stringify(arnOf(documentsId))]);
    expect(scans('prompts')).toEqual([]);
    expect(scans('openapi')).toEqual([]);
    expect(scans('evaluations')).toEqual([]);
    expect(scans('drift')).toEqual([]);
  });

  it('the tables: prompts pk/sk, catalog pk, on-demand, encrypted with the project key', () => {
    const [keyId] = only(dev.json, 'AWS::KMS::Key');
    const prompts = props(dev.json.Resources[tableId(dev, 'Prompts')] as CfnResource);
    expect(prompts.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    const catalog = props(dev.json.Resources[tableId(dev, 'Catalog')] as CfnResource);
    expect(catalog.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    for (const table of [prompts, catalog]) {
      expect(table.BillingMode).toBe('PAY_PER_REQUEST');
      expect(table.SSESpecification).toEqual({
        KMSMasterKeyId: arnOf(keyId),
        SSEEnabled: true,
        SSEType: 'KMS',
      });
    }
  });
});

describe('function environments', () => {
  it.each(['dev', 'prod'] as const)('%s: each API function gets exactly its variables', (p) => {
    const s = p === 'dev' ? dev : prod;
    for (const fn of FUNCTIONS) {
      const names = Object.keys(envOf(s.json, fn)).filter((n) => !HOUSE_ENV.includes(n));
      const store = STORE_READERS.includes(fn) ? STORE_ENV[s.config.rag.vectorStore] : [];
      expect(names.sort(), fn).toEqual([...EXPECTED_ENV[fn], ...store].sort());
    }
    const chat = envOf(s.json, 'chat');
    expect(chat.PROMPTS_TABLE.Ref).toMatch(/^ModelGatewayPromptsTable/);
    expect(chat.CATALOG_TABLE.Ref).toMatch(/^ModelGatewayCatalogTable/);
    expect(chat.EVENT_BUS_NAME).toEqual(ref(only(s.json, 'AWS::Events::EventBus')[0]));
    expect(JSON.parse(chat.CATALOG_SEED)).toEqual(s.config.models.catalog);
    expect(envOf(s.json, 'models').CATALOG_SEED).toBe(chat.CATALOG_SEED);
    expect(chat.INTERACTION_SAMPLE_RATE).toBe(p === 'dev' ? '1' : '0.1');
    expect(chat.CHAT_TIMEOUT_MS).toBe(String(s.config.models.chatTimeoutMs));
    expect(chat.PROMPT_CACHE_TTL_SECONDS).toBe(String(s.config.models.promptCacheTtlSeconds));
    for (const fn of FUNCTIONS) expect(envOf(s.json, fn).MAX_REQUEST_BYTES, fn).toBe('262144');
    const chatFn = props(functionOf(s.json, 'chat')[1]);
    expect(chatFn.MemorySize).toBe(1024);
    expect(chatFn.Timeout * 1000).toBeGreaterThan(s.config.models.chatTimeoutMs);
  });

  it('stays within the 4 KiB Lambda environment limit once names are resolved', () => {
    for (const s of [dev, prod, options]) {
      for (const fn of FUNCTIONS) {
        const env = envOf(s.json, fn);
        // Each reference resolves to a physical name or id; 64 characters is more than any of them.
        const size = Object.entries(env).reduce(
          (sum, [k, v]) => sum + k.length + flatten(v).replace(/<[^>]+>/g, 'x'.repeat(64)).length,
          0,
        );
        expect(size, fn).toBeLessThan(4096);
      }
    }
  });
});

describe('alarms', () => {
  const paged = (s: Synthesized, id: string) => {
    const [topicId] = only(s.json, 'AWS::SNS::Topic');
    const alarm = props(s.json.Resources[id] as CfnResource);
    expect(alarm.AlarmActions, id).toEqual([ref(topicId)]);
    expect(alarm.OKActions, id).toEqual([ref(topicId)]);
    return alarm;
  };

  it('page on chat errors, API 5XX and sustained model throttling (all dimensions summed)', () => {
    const [chatId] = functionOf(dev.json, 'chat');
    const [errorsId] = only(dev.json, 'AWS::CloudWatch::Alarm', (_r, id) =>
      id.startsWith('ModelGatewayChatErrorsAlarm'),
    );
    const errors = paged(dev, errorsId);
    expect(errors.MetricName).toBe('Errors');
    expect(errors.Dimensions).toEqual([{ Name: 'FunctionName', Value: ref(chatId) }]);

    const [serverId] = only(dev.json, 'AWS::CloudWatch::Alarm', (_r, id) =>
      id.startsWith('ApiServerErrorsAlarm'),
    );
    const server = paged(dev, serverId);
    expect(server.Namespace).toBe('AWS/ApiGateway');
    expect(server.MetricName).toBe('5XXError');
    expect(server.Dimensions).toEqual([{ Name: 'ApiName', Value: 'LlmOps-dev-api' }]);

    const [throttleId] = only(dev.json, 'AWS::CloudWatch::Alarm', (_r, id) =>
      id.startsWith('ModelGatewayModelThrottlesAlarm'),
    );
    const throttles = paged(dev, throttleId);
    expect(throttles.Metrics).toEqual([
      expect.objectContaining({
        Expression: `SELECT SUM(ModelThrottles) FROM "${LLMOPS_METRICS_NAMESPACE}"`,
        Period: 300,
      }),
    ]);
    expect(envOf(dev.json, 'chat').POWERTOOLS_METRICS_NAMESPACE).toBe(LLMOPS_METRICS_NAMESPACE);
  });
});

describe('interaction log', () => {
  const stream = (s: Synthesized) => only(s.json, 'AWS::KinesisFirehose::DeliveryStream');

  it('a project-bus rule sends the detail of each llmops.InteractionRecorded to Firehose, with a DLQ', () => {
    const [streamId] = stream(dev);
    const [busId] = only(dev.json, 'AWS::Events::EventBus');
    const [, rule] = only(dev.json, 'AWS::Events::Rule', (r) =>
      JSON.stringify(props(r).EventPattern).includes('InteractionRecorded'),
    );
    expect(props(rule).EventBusName).toEqual(ref(busId));
    expect(props(rule).EventPattern).toEqual({ source: ['llmops'], 'detail-type': [INTERACTION_RECORDED] });
    const targets = props(rule).Targets as CfnJson[];
    expect(targets).toHaveLength(1);
    const target = targets[0];
    expect(target.Arn).toEqual(arnOf(streamId));
    expect(target.InputPath).toBe('$.detail');
    const dlqId = target.DeadLetterConfig.Arn['Fn::GetAtt'][0];
    expect(dev.json.Resources[dlqId]?.Type).toBe('AWS::SQS::Queue');
    expect(target.RetryPolicy.MaximumRetryAttempts).toBeGreaterThan(0);
    const roleActions = actionsOf(allowedStatements(dev.json, target.RoleArn['Fn::GetAtt'][0]));
    expect(roleActions.sort()).toEqual(['firehose:PutRecord', 'firehose:PutRecordBatch']);
  });

  it.each(['dev', 'prod'] as const)(
    '%s: DirectPut, KMS, GZIP, one JSON line per record, dt= partitions',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const [keyId] = only(s.json, 'AWS::KMS::Key');
      const fp = props(stream(s)[1]);
      expect(fp.DeliveryStreamType).toBe('DirectPut');
      expect(fp.DeliveryStreamEncryptionConfigurationInput).toEqual({
        KeyType: 'CUSTOMER_MANAGED_CMK',
        KeyARN: arnOf(keyId),
      });
      const dest = fp.ExtendedS3DestinationConfiguration;
      const artifactsId = logicalIdsOfType(s.json, 'AWS::S3::Bucket').find((id) =>
        id.startsWith('StorageArtifacts'),
      );
      expect(dest.BucketARN).toEqual(arnOf(artifactsId as string));
      expect(dest.Prefix).toBe('interactions/dt=!{timestamp:yyyy-MM-dd}/');
      expect(dest.ErrorOutputPrefix).toBe(
        'interactions-errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/',
      );
      expect(dest.CompressionFormat).toBe('GZIP');
      expect(dest.EncryptionConfiguration).toEqual({ KMSEncryptionConfig: { AWSKMSKeyARN: arnOf(keyId) } });
      expect(dest.ProcessingConfiguration).toEqual({
        Enabled: true,
        Processors: [{ Type: 'AppendDelimiterToRecord' }],
      });
      expect(dest.CloudWatchLoggingOptions.Enabled).toBe(true);
      expect(dest.BufferingHints).toEqual(
        p === 'dev' ? { IntervalInSeconds: 60, SizeInMBs: 5 } : { IntervalInSeconds: 300, SizeInMBs: 64 },
      );
      const rules = props(s.json.Resources[artifactsId as string] as CfnResource).LifecycleConfiguration
        .Rules;
      expect(rules).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Prefix: 'interactions/',
            ExpirationInDays: p === 'dev' ? 30 : 400,
            Status: 'Enabled',
          }),
        ]),
      );
    },
  );

  it('Firehose may only write the two interactions prefixes, and use the key only through S3', () => {
    const roleId = props(stream(dev)[1]).ExtendedS3DestinationConfiguration.RoleARN[
      'Fn::GetAtt'
    ][0] as string;
    const role = dev.json.Resources[roleId] as CfnResource;
    expect(JSON.stringify(props(role).AssumeRolePolicyDocument)).toContain('firehose.amazonaws.com');
    expect(JSON.stringify(props(role).AssumeRolePolicyDocument)).toContain('sts:ExternalId');
    const statements = allowedStatements(dev.json, roleId);
    const objectWrites = statements.filter((s) => list(s.Action).includes('s3:PutObject'));
    expect(objectWrites).toHaveLength(1);
    expect(
      list(objectWrites[0]?.Resource)
        .map(flatten)
        .map((r) => r.replace(/^<[^>]+>/, ''))
        .sort(),
    ).toEqual(['/interactions-errors/*', '/interactions/*']);
    expect(actionsOf(statements).filter((a) => a.startsWith('s3:') && /Get(Object)|Delete/.test(a))).toEqual(
      [],
    );
    for (const s of statements.filter((st) => list(st.Action).some((a) => a.startsWith('kms:')))) {
      expect(flatten(s.Condition?.StringEquals?.['kms:ViaService'])).toBe('s3.<AWS::Region>.amazonaws.com');
    }
  });

  it('pages when delivery falls behind or fails', () => {
    const [streamId] = stream(dev);
    const [topicId] = only(dev.json, 'AWS::SNS::Topic');
    const alarms = resourcesOfType(dev.json, 'AWS::CloudWatch::Alarm').filter(
      ([, a]) => props(a).Namespace === 'AWS/Firehose',
    );
    expect(alarms.map(([, a]) => props(a).MetricName).sort()).toEqual([
      'DeliveryToS3.DataFreshness',
      'DeliveryToS3.Success',
    ]);
    for (const [id, a] of alarms) {
      expect(props(a).Dimensions, id).toEqual([{ Name: 'DeliveryStreamName', Value: ref(streamId) }]);
      expect(props(a).AlarmActions, id).toEqual([ref(topicId)]);
    }
    const success = alarms.find(
      ([, a]) => props(a).MetricName === 'DeliveryToS3.Success',
    )?.[1] as CfnResource;
    expect(props(success)).toMatchObject({ ComparisonOperator: 'LessThanThreshold', Threshold: 1 });
  });
});

describe('WAF', () => {
  it('dev has none', () => {
    expect(logicalIdsOfType(dev.json, 'AWS::WAFv2::WebACL')).toEqual([]);
    expect(logicalIdsOfType(dev.json, 'AWS::WAFv2::WebACLAssociation')).toEqual([]);
  });

  it('prod: a regional web ACL on the stage with managed rules, a per-IP rate limit and a body size limit', () => {
    const [aclId, acl] = only(prod.json, 'AWS::WAFv2::WebACL');
    const a = props(acl);
    expect(a.Scope).toBe('REGIONAL');
    expect(a.DefaultAction).toEqual({ Allow: {} });
    expect(a.VisibilityConfig).toMatchObject({
      CloudWatchMetricsEnabled: true,
      SampledRequestsEnabled: true,
    });
    const rules = a.Rules as CfnJson[];
    const managed = rules
      .map((r) => r.Statement.ManagedRuleGroupStatement?.Name)
      .filter((n): n is string => n !== undefined)
      .sort();
    expect(managed).toEqual([
      'AWSManagedRulesAmazonIpReputationList',
      'AWSManagedRulesCommonRuleSet',
      'AWSManagedRulesKnownBadInputsRuleSet',
    ]);
    const rate = rules.find((r) => r.Statement.RateBasedStatement);
    expect(rate.Statement.RateBasedStatement).toMatchObject({ Limit: 3000, AggregateKeyType: 'IP' });
    expect(rate.Action.Block.CustomResponse.ResponseCode).toBe(429);
    const size = rules.find((r) => r.Statement.RegexMatchStatement);
    expect(size.Statement.RegexMatchStatement.FieldToMatch).toEqual({
      SingleHeader: { Name: 'content-length' },
    });
    expect(size.Statement.RegexMatchStatement.RegexString).toBe(
      greaterThanRegex(prod.config.api.maxRequestBytes),
    );
    expect(size.Action.Block.CustomResponse.ResponseCode).toBe(413);
    for (const rule of rules) expect(rule.VisibilityConfig.CloudWatchMetricsEnabled, rule.Name).toBe(true);
    const [, association] = only(prod.json, 'AWS::WAFv2::WebACLAssociation');
    const [stageId] = only(prod.json, 'AWS::ApiGateway::Stage');
    const [apiId] = only(prod.json, 'AWS::ApiGateway::RestApi');
    expect(flatten(props(association).ResourceArn)).toMatch(
      new RegExp(`/restapis/<${apiId}>/stages/<${stageId}>$`),
    );
    expect(props(association).WebACLArn).toEqual(arnOf(aclId));
    const [, logging] = only(prod.json, 'AWS::WAFv2::LoggingConfiguration');
    expect(flatten(props(logging).LogDestinationConfigs[0])).toContain(':log-group:aws-waf-logs-');
    expect(JSON.stringify(props(logging).RedactedFields)).toContain('x-api-key');
  });

  it('the declared-size regex matches exactly the sizes above the limit', () => {
    for (const n of [0, 1, 9, 10, 99, 100, 262_144, 999_999, 10 * 1024 * 1024]) {
      const re = new RegExp(greaterThanRegex(n));
      for (const x of [0, n - 1, n, n + 1, n * 10, n + 1000].filter((v) => v >= 0)) {
        expect(re.test(String(x)), `${x} > ${n}`).toBe(x > n);
      }
      expect(re.test(`00${n + 1}`), `leading zeros, ${n}`).toBe(true);
      expect(re.test(''), 'empty').toBe(false);
      expect(re.test('12a'), 'not a number').toBe(false);
    }
    fc.assert(
      fc.property(
        fc.nat(20_000_000),
        fc.nat(20_000_000),
        (n, x) => new RegExp(greaterThanRegex(n)).test(String(x)) === x > n,
      ),
    );
    expect(greaterThanRegex(262_144).length).toBeLessThan(512);
  });
});

describe('per-app access', () => {
  it("binds APP_ACCESS, every app's access by name, on every API function; an app without access gets nothing", () => {
    const devAccess = JSON.parse(envOf(dev.json, 'chat').APP_ACCESS);
    expect(devAccess).toEqual({ default: dev.config.api.apps[0]?.access });
    expect(JSON.parse(envOf(prod.json, 'chat').APP_ACCESS)).toEqual({
      default: prod.config.api.apps[0]?.access,
    });
    // -c apiApps without access: both apps may use nothing until their access is configured.
    const nothing = { prompts: [], models: [], collections: [], rawChat: false, tokensPerDay: 0 };
    expect(JSON.parse(envOf(options.json, 'chat').APP_ACCESS)).toEqual({
      web: nothing,
      'batch-jobs': nothing,
    });
    for (const s of [dev, prod, options]) {
      for (const fn of FUNCTIONS)
        expect(envOf(s.json, fn).APP_ACCESS, fn).toBe(envOf(s.json, 'chat').APP_ACCESS);
    }
  });

  it('the usage table: pk, on-demand, encrypted, TTL on expiresAt', () => {
    const [, table] = only(dev.json, 'AWS::DynamoDB::Table', (_r, id) =>
      id.startsWith('ModelGatewayUsageTable'),
    );
    expect(props(table).KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(props(table).BillingMode).toBe('PAY_PER_REQUEST');
    expect(props(table).TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(props(table).SSESpecification).toMatchObject({ SSEEnabled: true, SSEType: 'KMS' });
  });

  it.each(['dev', 'prod'] as const)(
    '%s: only chat is bound to the usage table, with GetItem and UpdateItem and nothing else',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const [usageId] = only(s.json, 'AWS::DynamoDB::Table', (_r, id) =>
        id.startsWith('ModelGatewayUsageTable'),
      );
      const usageArn = JSON.stringify(arnOf(usageId));
      const onUsage = (fn: ApiFunctionName) =>
        allowedStatements(s.json, roleOf(s.json, fn)).filter((st) =>
          list(st.Resource).some((r) => JSON.stringify(r).includes(usageId)),
        );
      expect(envOf(s.json, 'chat').USAGE_TABLE).toEqual(ref(usageId));
      const chat = onUsage('chat');
      expect(chat.map((st) => list(st.Resource).map((r) => JSON.stringify(r)))).toEqual([[usageArn]]);
      expect(actionsOf(chat).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:UpdateItem']);
      for (const fn of FUNCTIONS.filter((f) => f !== 'chat')) {
        expect(onUsage(fn), fn).toEqual([]);
        expect(envOf(s.json, fn).USAGE_TABLE, fn).toBeUndefined();
      }
      // No other function of the stack reads or writes it either.
      const chatRole = roleOf(s.json, 'chat');
      for (const [id, policy] of resourcesOfType(s.json, 'AWS::IAM::Policy')) {
        const onTable = (props(policy).PolicyDocument.Statement as Statement[]).some((st) =>
          list(st.Resource).some((r) => JSON.stringify(r).includes(usageId)),
        );
        if (!onTable) continue;
        expect(props(policy).Roles, id).toEqual([ref(chatRole)]);
      }
    },
  );
});

describe('resource policy of the signed routes (the API construct on its own)', () => {
  const ADMINS = ['arn:aws:iam::123456789012:role/llmops-admin'];
  const REVIEWERS = [
    'arn:aws:iam::123456789012:role/llmops-reviewer',
    'arn:aws:iam::123456789012:user/alice',
  ];
  const pattern = (r: ApiRoute) => `execute-api:/*/${r.method}${r.path.replace(/\{[^}/]+\}/g, '*')}`;
  const patternsOf = (auth: ApiRoute['auth']) =>
    API_ROUTES.filter((r) => r.auth === auth)
      .map(pattern)
      .sort();

  /** The REST API's policy statements for an API configuration, built without the rest of the stack. */
  function policyFor(api: Partial<AppConfig['api']>, routes?: readonly ApiRoute[]): Statement[] {
    const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'ApiOnly');
    const config = loadConfig({});
    const deployment = deploymentOf(config);
    const encryptionKey = new kms.Key(stack, 'Key');
    const alerts = new LlmOpsAlerts(stack, 'Alerts', { deployment, config: config.alerts, encryptionKey });
    const functions = Object.fromEntries(
      FUNCTIONS.map((name) => [
        name,
        new LlmOpsFunction(stack, `Fn${pascalCase(name)}`, {
          config: deployment,
          entry: 'functions/api/openapi.ts',
          description: `serves the ${name} routes here`,
        }),
      ]),
    ) as Record<ApiFunctionName, LlmOpsFunction>;
    new LlmOpsApi(stack, 'Api', {
      deployment,
      config: { ...config.api, ...api },
      functions,
      encryptionKey,
      alerts,
      ...(routes !== undefined ? { routes } : {}),
    });
    const previous = process.env.CDK_VALIDATION;
    process.env.CDK_VALIDATION = 'false';
    try {
      const json = Template.fromStack(stack).toJSON() as CfnTemplate;
      return props(only(json, 'AWS::ApiGateway::RestApi')[1]).Policy.Statement as Statement[];
    } finally {
      if (previous === undefined) delete process.env.CDK_VALIDATION;
      else process.env.CDK_VALIDATION = previous;
    }
  }
  const bySid = (statements: Statement[], sid: string) => {
    const found = statements.filter((s) => s.Sid === sid);
    expect(found, sid).toHaveLength(1);
    return found[0] as Statement;
  };

  it('reviewer routes: admin and reviewer principals, and an explicit deny for everyone else; admin routes stay admin-only', () => {
    const statements = policyFor({ adminPrincipals: ADMINS, reviewerPrincipals: REVIEWERS });
    expect(statements.map((s) => s.Sid)).toEqual([
      'AppRoutesForAnyCaller',
      'AdminRoutesForAdminPrincipals',
      'AdminRoutesForNobodyElse',
      'ReviewerRoutesForReviewerAndAdminPrincipals',
      'ReviewerRoutesForNobodyElse',
    ]);
    const both = [...ADMINS, ...REVIEWERS];
    const allow = bySid(statements, 'ReviewerRoutesForReviewerAndAdminPrincipals');
    expect(allow).toMatchObject({ Effect: 'Allow', Action: 'execute-api:Invoke' });
    expect(list(allow.Principal.AWS)).toEqual(both);
    expect(list(allow.Resource).sort()).toEqual(patternsOf('reviewer'));
    expect(patternsOf('reviewer')).toEqual([
      'execute-api:/*/GET/v1/reviews',
      'execute-api:/*/POST/v1/reviews/*',
    ]);
    const deny = bySid(statements, 'ReviewerRoutesForNobodyElse');
    expect(deny).toMatchObject({ Effect: 'Deny', Principal: { AWS: '*' }, Action: 'execute-api:Invoke' });
    expect(list(deny.Resource).sort()).toEqual(patternsOf('reviewer'));
    expect(deny.Condition).toEqual({ ArnNotEquals: { 'aws:PrincipalArn': both } });
    // Reviewers reach no admin route, and no reviewer route is open to any caller.
    const adminDeny = bySid(statements, 'AdminRoutesForNobodyElse');
    expect(list(adminDeny.Resource).sort()).toEqual(patternsOf('iam'));
    expect(list(adminDeny.Condition?.ArnNotEquals?.['aws:PrincipalArn'])).toEqual(ADMINS);
    expect(list(bySid(statements, 'AdminRoutesForAdminPrincipals').Principal.AWS)).toEqual(ADMINS);
    expect(list(bySid(statements, 'AppRoutesForAnyCaller').Resource).sort()).toEqual(patternsOf('apiKey'));
  });

  it('without reviewer principals the admin principals alone may review; without any principal nobody may', () => {
    const adminsOnly = policyFor({ adminPrincipals: ADMINS, reviewerPrincipals: [] });
    expect(list(bySid(adminsOnly, 'ReviewerRoutesForReviewerAndAdminPrincipals').Principal.AWS)).toEqual(
      ADMINS,
    );
    expect(bySid(adminsOnly, 'ReviewerRoutesForNobodyElse').Condition).toEqual({
      ArnNotEquals: { 'aws:PrincipalArn': ADMINS },
    });
    const nobody = policyFor({ adminPrincipals: [], reviewerPrincipals: [] });
    expect(nobody.map((s) => s.Sid)).toEqual([
      'AppRoutesForAnyCaller',
      'AdminRoutesForNobodyElse',
      'ReviewerRoutesForNobodyElse',
    ]);
    expect(bySid(nobody, 'ReviewerRoutesForNobodyElse').Condition).toBeUndefined();
  });

  it('refuses a reviewer route whose pattern would also deny an app route', () => {
    const appRoute = API_ROUTES.find((r) => r.operationId === 'listModels') as ApiRoute;
    const greedy: ApiRoute = { ...appRoute, path: '/v1/{any}', auth: 'reviewer', operationId: 'greedy' };
    expect(() => policyFor({ adminPrincipals: ADMINS }, [appRoute, greedy])).toThrow(
      /reviewer route GET \/v1\/\{any\} would also deny app route GET \/v1\/models/,
    );
  });
});
