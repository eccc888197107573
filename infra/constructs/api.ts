/**
 * The HTTPS API: an API Gateway REST API (regional) built from the one route table, `API_ROUTES`.
 *
 * For each route: a Lambda proxy integration to the route's function (response streaming for streamed
 * routes), its auth (app routes: an API key under a usage plan, taken from `x-api-key` or
 * `Authorization: Bearer` by a Lambda authorizer; admin and reviewer routes: SigV4/IAM), a request
 * model generated from the route's zod schema, and a validator for the body and the parameters. Errors
 * that API Gateway answers itself (validation, auth, throttling, quota) come back as the same JSON error
 * body the handlers use. One API key and usage plan per configured app; the chat routes throttled
 * apart (stage method settings for all apps, and each app's usage plan); access logs in JSON to an
 * encrypted log group; X-Ray tracing; and, where configured, an AWS WAF web ACL.
 */
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import type * as z from 'zod/mini';
import { DENY_ALL } from '#contracts/http/access.ts';
import { jsonSchemaOf } from '#contracts/http/json-schema.ts';
import { API_ROUTES, type ApiFunctionName, type ApiRoute, pathParameters } from '#contracts/http/routes.ts';
import type { AppConfig, DeploymentConfig } from '#infra/config/index.ts';
import type { LlmOpsAlerts } from './alerts.ts';
import { LlmOpsFunction } from './llmops-function.ts';
import { acknowledge } from './nag.ts';

/** Route groups of capabilities a profile may leave out (`fineTuning.enabled: false`). */
export const OPTIONAL_ROUTE_GROUPS = ['finetune'] as const;
type OptionalRouteGroup = (typeof OPTIONAL_ROUTE_GROUPS)[number];

/** The API's functions: every route group's, the optional ones where deployed. */
export type ApiFunctions = Readonly<Record<Exclude<ApiFunctionName, OptionalRouteGroup>, LlmOpsFunction>> &
  Readonly<Partial<Record<OptionalRouteGroup, LlmOpsFunction>>>;

export interface LlmOpsApiProps {
  /** The deployment (names, stage, log retention, removal). */
  readonly deployment: DeploymentConfig;
  /** Apps, limits and WAF of the API. */
  readonly config: AppConfig['api'];
  /**
   * The function serving each route group; each gets `APP_KEYS` and `APP_ACCESS` bound. The groups of
   * optional capabilities ({@link OPTIONAL_ROUTE_GROUPS}) may be absent: their routes are then not served.
   */
  readonly functions: ApiFunctions;
  /** Encrypts the access log group (and the WAF log group). */
  readonly encryptionKey: kms.IKey;
  /** Pages on server errors. */
  readonly alerts: LlmOpsAlerts;
  /**
   * The routes to serve.
   *
   * @default API_ROUTES
   */
  readonly routes?: readonly ApiRoute[];
}

/** `default` → `Default`, `mobile-app` → `MobileApp` (construct ids and output names). */
export function pascalCase(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part.length > 0)
    .map((part) => `${part[0]?.toUpperCase() ?? ''}${part.slice(1)}`)
    .join('');
}

/** The API Gateway request model (JSON Schema draft 4) of a zod/mini request schema. */
export function requestModelSchema(schema: z.ZodMiniType): apigateway.JsonSchema {
  // Plain draft-4 JSON Schema, which is what apigateway.JsonSchema describes.
  return {
    schema: apigateway.JsonSchemaVersion.DRAFT4,
    ...jsonSchemaOf(schema, 'draft-4'),
  } as apigateway.JsonSchema;
}

/**
 * A regular expression matching decimal integers (leading zeros allowed) strictly greater than `n`:
 * WAF reads a request's declared size from its `content-length` header this way, since it can inspect at
 * most the first 64 KB of a body.
 */
export function greaterThanRegex(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error(`greaterThanRegex: expected a whole number >= 0, got ${n}`);
  const digits = String(n);
  const length = digits.length;
  const alternatives = [`[1-9][0-9]{${length},}`];
  for (let i = 0; i < length; i++) {
    const d = Number(digits[i]);
    if (d === 9) continue;
    const rest = length - i - 1;
    alternatives.push(`${digits.slice(0, i)}[${d + 1}-9]${rest > 0 ? `[0-9]{${rest}}` : ''}`);
  }
  return `^0*(?:${alternatives.join('|')})$`;
}

/**
 * The JSON error body of the API (`errorResponse` in `layers/aws/src/http.ts`) as a gateway template:
 * OpenAI's error shape (`message`, `type`, `param`, `code`) plus the request id.
 */
function errorTemplate(code: string, message: string, type: string): { 'application/json': string } {
  return {
    'application/json': `{"error":{"code":"${code}","message":${message},"type":"${type}","param":null,"requestId":"$context.requestId"}}`,
  };
}
const quoted = (text: string): string => JSON.stringify(text);

const GATEWAY_RESPONSES: readonly {
  id: string;
  type: apigateway.ResponseType;
  statusCode?: string;
  code: string;
  message: string;
  /** OpenAI's error category, which its client libraries read. */
  errorType: string;
  headers?: Record<string, string>;
}[] = [
  {
    id: 'Default4xx',
    errorType: 'invalid_request_error',
    type: apigateway.ResponseType.DEFAULT_4XX,
    code: 'client_error',
    message: '$context.error.messageString',
  },
  {
    id: 'Default5xx',
    errorType: 'api_error',
    type: apigateway.ResponseType.DEFAULT_5XX,
    code: 'internal_error',
    message: quoted('The API failed to answer; retry later'),
  },
  {
    id: 'BadRequestBody',
    errorType: 'invalid_request_error',
    type: apigateway.ResponseType.BAD_REQUEST_BODY,
    statusCode: '400',
    code: 'validation_error',
    message: '"$context.error.validationErrorString"',
  },
  {
    id: 'BadRequestParameters',
    errorType: 'invalid_request_error',
    type: apigateway.ResponseType.BAD_REQUEST_PARAMETERS,
    statusCode: '400',
    code: 'validation_error',
    message: '"$context.error.validationErrorString"',
  },
  {
    id: 'AccessDenied',
    errorType: 'permission_error',
    type: apigateway.ResponseType.ACCESS_DENIED,
    statusCode: '403',
    code: 'access_denied',
    message: quoted(
      'This IAM principal may not call this route: admin routes need a SigV4-signed request from a principal allowed execute-api:Invoke on it',
    ),
  },
  {
    id: 'MissingAuthenticationToken',
    errorType: 'invalid_request_error',
    type: apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN,
    statusCode: '403',
    code: 'unauthenticated',
    message: quoted(
      'No such route, or no credentials: app routes need an x-api-key header, admin routes a SigV4-signed request',
    ),
  },
  {
    id: 'InvalidSignature',
    errorType: 'authentication_error',
    type: apigateway.ResponseType.INVALID_SIGNATURE,
    statusCode: '403',
    code: 'invalid_signature',
    message: quoted(
      'The SigV4 signature of this request is not valid (check the region, service execute-api and clock)',
    ),
  },
  {
    id: 'Unauthorized',
    errorType: 'authentication_error',
    type: apigateway.ResponseType.UNAUTHORIZED,
    statusCode: '401',
    code: 'unauthenticated',
    message: quoted(
      'No API key: send it as Authorization: Bearer <key> or in the x-api-key header (one key, 20-128 characters)',
    ),
    headers: { 'WWW-Authenticate': "'Bearer'" },
  },
  {
    // 401, as OpenAI's clients expect for a wrong key (API Gateway's own default is 403).
    id: 'InvalidApiKey',
    errorType: 'authentication_error',
    type: apigateway.ResponseType.INVALID_API_KEY,
    statusCode: '401',
    code: 'invalid_api_key',
    message: quoted('The API key is not an enabled API key of this API'),
    headers: { 'WWW-Authenticate': "'Bearer'" },
  },
  {
    id: 'AuthorizerFailure',
    errorType: 'api_error',
    type: apigateway.ResponseType.AUTHORIZER_FAILURE,
    statusCode: '500',
    code: 'authorizer_failure',
    message: quoted('The API could not check the API key; retry later'),
  },
  {
    id: 'Throttled',
    errorType: 'rate_limit_error',
    type: apigateway.ResponseType.THROTTLED,
    statusCode: '429',
    code: 'throttled',
    message: quoted('Too many requests for this API key: retry with exponential backoff'),
    headers: { 'Retry-After': "'1'" },
  },
  {
    id: 'QuotaExceeded',
    errorType: 'rate_limit_error',
    type: apigateway.ResponseType.QUOTA_EXCEEDED,
    statusCode: '429',
    code: 'quota_exceeded',
    message: quoted("This API key's daily request quota is used up; it resets at 00:00 UTC"),
  },
  {
    id: 'RequestTooLarge',
    errorType: 'invalid_request_error',
    type: apigateway.ResponseType.REQUEST_TOO_LARGE,
    statusCode: '413',
    code: 'payload_too_large',
    message: quoted('The request is larger than API Gateway accepts (10 MB)'),
  },
  {
    id: 'WafFiltered',
    errorType: 'permission_error',
    type: apigateway.ResponseType.WAF_FILTERED,
    statusCode: '403',
    code: 'blocked',
    message: quoted('The request was blocked by the web application firewall of this API'),
  },
];

/** The REST API, its stage, keys, usage plans and (optionally) its web ACL. */
export class LlmOpsApi extends Construct {
  public readonly api: apigateway.RestApi;
  /** The stage, named after the profile (paths already carry the API version, `/v1/...`). */
  public readonly stage: apigateway.Stage;
  /** The stage's invoke URL. */
  public readonly url: string;
  public readonly accessLogGroup: logs.LogGroup;
  /** One API key per configured app, by app name. */
  public readonly apiKeys: Readonly<Record<string, apigateway.ApiKey>>;
  /** One usage plan per configured app, by app name. */
  public readonly usagePlans: Readonly<Record<string, apigateway.UsagePlan>>;
  /** Methods by `METHOD /path`, e.g. `POST /v1/chat`. */
  public readonly methods: ReadonlyMap<string, apigateway.Method>;
  /** Request models by route operation id. */
  public readonly requestModels: ReadonlyMap<string, apigateway.Model>;
  /** `APP_KEYS`: JSON object of API key id → app name (bound on every route function). */
  public readonly appKeysJson: string;
  /** `APP_ACCESS`: JSON object of app name → what it may use (bound on every route function). */
  public readonly appAccessJson: string;
  /** The web ACL in front of the stage (only when `config.api.waf`). */
  public readonly webAcl?: wafv2.CfnWebACL;
  /** ALARM on API Gateway 5XX answers. */
  public readonly serverErrorsAlarm: cloudwatch.Alarm;
  /** The Lambda REQUEST authorizer of the app routes (`functions/api/authorizer.ts`). */
  public readonly authorizerFunction: LlmOpsFunction;

  constructor(scope: Construct, id: string, props: LlmOpsApiProps) {
    super(scope, id);
    const { deployment, config: api, functions, encryptionKey, alerts } = props;
    const routes = (props.routes ?? API_ROUTES).filter(
      (route) => !(OPTIONAL_ROUTE_GROUPS as readonly string[]).includes(route.fn) || functions[route.fn],
    );
    validateRoutes(routes, functions);
    const fnOf = (name: ApiFunctionName): LlmOpsFunction => {
      const fn = functions[name];
      if (!fn) throw new Error(`LlmOpsApi: no function for the ${name} routes`);
      return fn;
    };

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', {
      retention: deployment.logRetention,
      removalPolicy: deployment.removal.logs,
      encryptionKey,
    });
    const F = apigateway.AccessLogField;
    this.api = new apigateway.RestApi(this, 'RestApi', {
      restApiName: `${deployment.stackName}-api`,
      description: `${deployment.stackName}: chat, prompts and model catalog (routes from functions/api/routes.ts)`,
      endpointConfiguration: { types: [apigateway.EndpointType.REGIONAL] },
      // App routes for any caller (their authorizer and API keys authenticate them); admin routes for
      // the admin principals only (`api.adminPrincipals`), reviewer routes for them and the reviewer
      // principals (`api.reviewerPrincipals`), each with an explicit deny for everyone else.
      policy: this.resourcePolicy(routes, api.adminPrincipals, api.reviewerPrincipals),
      // The authorizer finds the key in x-api-key or Authorization: Bearer; API Gateway still checks it.
      apiKeySourceType: apigateway.ApiKeySourceType.AUTHORIZER,
      // Execution logs (ERROR level) need the account's API Gateway CloudWatch role.
      cloudWatchRole: true,
      deployOptions: {
        stageName: deployment.profile,
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: apigateway.AccessLogFormat.custom(
          JSON.stringify({
            requestId: F.contextRequestId(),
            requestTime: F.contextRequestTime(),
            ip: F.contextIdentitySourceIp(),
            caller: F.contextIdentityCaller(),
            user: F.contextIdentityUser(),
            apiKeyId: F.contextIdentityApiKeyId(),
            httpMethod: F.contextHttpMethod(),
            resourcePath: F.contextResourcePath(),
            status: F.contextStatus(),
            protocol: F.contextProtocol(),
            responseLength: F.contextResponseLength(),
            integrationLatency: F.contextIntegrationLatency(),
            responseLatency: F.contextResponseLatency(),
            errorMessage: F.contextErrorMessage(),
            wafStatus: F.contextWafResponseCode(),
          }),
        ),
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        // Request and response bodies hold prompts and answers: never in execution logs.
        dataTraceEnabled: false,
        throttlingRateLimit: api.throttling.rateLimit,
        throttlingBurstLimit: api.throttling.burstLimit,
        // The chat routes, all apps together: each answer holds a chat function for up to its deadline.
        // A method setting replaces the stage's defaults for its method, so logging is restated.
        methodOptions: Object.fromEntries(
          chatMethodPaths(routes).map((path) => [
            path,
            {
              throttlingRateLimit: api.chatThrottling.rateLimit,
              throttlingBurstLimit: api.chatThrottling.burstLimit,
              metricsEnabled: true,
              loggingLevel: apigateway.MethodLoggingLevel.ERROR,
              dataTraceEnabled: false,
            },
          ]),
        ),
      },
    });
    this.stage = this.api.deploymentStage;
    this.url = this.api.url;
    // The stack outputs the URL as ApiUrl; the RestApi's own generated output would repeat it.
    this.api.node.tryRemoveChild('Endpoint');
    acknowledge(
      this.api.node.findChild('CloudWatchRole'),
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      "API Gateway's account-wide CloudWatch role (execution logs) uses the AWS managed policy AWS documents for it; it only creates and writes API Gateway log groups.",
    );

    for (const response of GATEWAY_RESPONSES) {
      this.api.addGatewayResponse(response.id, {
        type: response.type,
        ...(response.statusCode ? { statusCode: response.statusCode } : {}),
        templates: errorTemplate(response.code, response.message, response.errorType),
        responseHeaders: { 'Cache-Control': "'no-store'", ...response.headers },
      });
    }

    const bodyValidator = this.api.addRequestValidator('BodyAndParametersValidator', {
      requestValidatorName: 'body-and-parameters',
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const parametersValidator = this.api.addRequestValidator('ParametersValidator', {
      requestValidatorName: 'parameters',
      validateRequestBody: false,
      validateRequestParameters: true,
    });

    // App routes: the key is read from x-api-key or Authorization: Bearer by a REQUEST authorizer and
    // checked by API Gateway against the usage plans. Not cached: a cache needs identity sources that
    // every request carries, and callers use either header.
    this.authorizerFunction = new LlmOpsFunction(this, 'AuthorizerFunction', {
      entry: 'functions/api/authorizer.ts',
      description: 'API authorizer: takes the API key from x-api-key or Authorization: Bearer',
      config: deployment,
      encryptionKey,
      sourceMaps: false,
      memorySize: 256,
      timeout: Duration.seconds(5),
    });
    const authorizer = new apigateway.RequestAuthorizer(this, 'ApiKeyAuthorizer', {
      authorizerName: `${deployment.stackName}-api-key`,
      handler: this.authorizerFunction,
      identitySources: [],
      resultsCacheTtl: Duration.seconds(0),
    });

    const methods = new Map<string, apigateway.Method>();
    const models = new Map<string, apigateway.Model>();
    for (const route of routes) {
      const fn = fnOf(route.fn);
      const integration = new apigateway.LambdaIntegration(fn, {
        proxy: true,
        allowTestInvoke: false,
        // A streamed answer may last as long as its function runs (API Gateway allows up to 15 minutes).
        ...(route.streaming
          ? { responseTransferMode: apigateway.ResponseTransferMode.STREAM, timeout: streamTimeout(fn) }
          : {}),
      });
      let model: apigateway.Model | undefined;
      if (route.requestBody) {
        const name = `${pascalCase(route.operationId)}Request`;
        model = this.api.addModel(`${name}Model`, {
          modelName: name,
          contentType: 'application/json',
          description: `Request body of ${route.method} ${route.path}`,
          schema: requestModelSchema(route.requestBody),
        });
        models.set(route.operationId, model);
      }
      const requestParameters: Record<string, boolean> = {};
      for (const name of pathParameters(route.path)) requestParameters[`method.request.path.${name}`] = true;
      for (const name of route.query ?? []) requestParameters[`method.request.querystring.${name}`] = false;

      const method = this.api.root.resourceForPath(route.path).addMethod(route.method, integration, {
        operationName: route.operationId,
        ...(route.auth === 'iam' || route.auth === 'reviewer'
          ? { authorizationType: apigateway.AuthorizationType.IAM }
          : { authorizationType: apigateway.AuthorizationType.CUSTOM, authorizer }),
        apiKeyRequired: route.auth === 'apiKey',
        requestParameters,
        requestValidator: model ? bodyValidator : parametersValidator,
        ...(model ? { requestModels: { 'application/json': model } } : {}),
      });
      methods.set(`${route.method} ${route.path}`, method);
      acknowledge(
        method,
        'AwsSolutions-COG4',
        'Apps authenticate with API keys under usage plans and admins with IAM SigV4; this project has no Cognito user pool.',
      );
    }
    this.methods = methods;
    this.requestModels = models;

    const keys: Record<string, apigateway.ApiKey> = {};
    const plans: Record<string, apigateway.UsagePlan> = {};
    for (const app of api.apps) {
      const suffix = pascalCase(app.name);
      const key = new apigateway.ApiKey(this, `ApiKey${suffix}`, {
        description: `${deployment.stackName}: API key of app "${app.name}"`,
        enabled: true,
      });
      // The app's key on the chat routes: the chat limits, never above the app's own.
      const chatThrottle = {
        rateLimit: Math.min(app.rateLimit, api.chatThrottling.rateLimit),
        burstLimit: Math.min(app.burstLimit, api.chatThrottling.burstLimit),
      };
      const plan = new apigateway.UsagePlan(this, `UsagePlan${suffix}`, {
        description: `${deployment.stackName}: limits of app "${app.name}"`,
        throttle: { rateLimit: app.rateLimit, burstLimit: app.burstLimit },
        quota: { limit: app.quotaPerDay, period: apigateway.Period.DAY },
        apiStages: [
          {
            api: this.api,
            stage: this.stage,
            throttle: routes
              .filter((route) => route.fn === 'chat' && route.auth === 'apiKey')
              .flatMap((route) => {
                const method = methods.get(`${route.method} ${route.path}`);
                return method ? [{ method, throttle: chatThrottle }] : [];
              }),
          },
        ],
      });
      plan.addApiKey(key);
      keys[app.name] = key;
      plans[app.name] = plan;
    }
    this.apiKeys = keys;
    this.usagePlans = plans;
    this.appKeysJson = Stack.of(this).toJsonString(
      Object.fromEntries(api.apps.map((app) => [keys[app.name]?.keyId, app.name])),
    );
    for (const fnName of new Set(routes.map((r) => r.fn))) {
      fnOf(fnName).bindString('APP_KEYS', this.appKeysJson);
    }
    // What each app may use (an app without `access` may use nothing), on every route function.
    this.appAccessJson = JSON.stringify(
      Object.fromEntries(api.apps.map((app) => [app.name, app.access ?? DENY_ALL])),
    );
    for (const fnName of new Set(routes.map((r) => r.fn))) {
      fnOf(fnName).bindString('APP_ACCESS', this.appAccessJson);
    }

    if (api.waf) {
      this.webAcl = this.addWebAcl(deployment, api, encryptionKey);
    } else {
      acknowledge(
        this.stage,
        'AwsSolutions-APIG3',
        `Profile ${deployment.profile} has no WAF web ACL (config.api.waf is false, to save its fixed monthly cost); API keys, usage plans and stage throttling still apply.`,
      );
    }

    this.serverErrorsAlarm = new cloudwatch.Alarm(this, 'ServerErrorsAlarm', {
      alarmDescription:
        'The API answered 5XX 5 times or more in 5 minutes (failed or timed-out integrations). Check the access logs and the functions.',
      metric: this.api.metricServerError({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      threshold: 5,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alerts.page(this.serverErrorsAlarm);
  }

  /**
   * The REST API's resource policy: `execute-api:Invoke` on the app routes for any principal; on the admin
   * routes (`auth: 'iam'`) for `adminPrincipals`, and an explicit deny for any other principal
   * (`aws:PrincipalArn` not one of them: an identity policy elsewhere in the account cannot open them);
   * on the reviewer routes (`auth: 'reviewer'`) likewise for `adminPrincipals` and `reviewerPrincipals`.
   * With no principal for a kind of route, those routes are denied to everyone.
   *
   * @throws Error when a signed route's pattern would also match a route of another kind (its deny
   *   would close that route)
   */
  private resourcePolicy(
    routes: readonly ApiRoute[],
    adminPrincipals: readonly string[],
    reviewerPrincipals: readonly string[],
  ): iam.PolicyDocument {
    // `execute-api:/<stage>/<METHOD>/<path>`, path parameters as `*` (API Gateway expands the prefix).
    const pattern = (route: ApiRoute) =>
      `execute-api:/*/${route.method}${route.path.replace(/\{[^}/]+\}/g, '*')}`;
    const admin = routes.filter((route) => route.auth === 'iam');
    const reviewer = routes.filter((route) => route.auth === 'reviewer');
    const app = routes.filter((route) => route.auth === 'apiKey');
    const kindOf = (route: ApiRoute) =>
      route.auth === 'iam' ? 'admin' : route.auth === 'reviewer' ? 'reviewer' : 'app';
    for (const signed of [...admin, ...reviewer]) {
      const matcher = new RegExp(
        `^${pattern(signed)
          .split('*')
          .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('.*')}$`,
      );
      const shadowed = routes.find(
        (route) => route.auth !== signed.auth && matcher.test(pattern(route).replaceAll('*', 'x')),
      );
      if (shadowed) {
        throw new Error(
          `LlmOpsApi: ${kindOf(signed)} route ${signed.method} ${signed.path} would also deny ${kindOf(shadowed)} route ${shadowed.method} ${shadowed.path}`,
        );
      }
    }
    const invoke = ['execute-api:Invoke'];
    const statements: iam.PolicyStatement[] = [];
    if (app.length > 0) {
      statements.push(
        new iam.PolicyStatement({
          sid: 'AppRoutesForAnyCaller',
          principals: [new iam.AnyPrincipal()],
          actions: invoke,
          resources: app.map(pattern),
        }),
      );
    }
    if (admin.length > 0) {
      const adminResources = admin.map(pattern);
      if (adminPrincipals.length > 0) {
        statements.push(
          new iam.PolicyStatement({
            sid: 'AdminRoutesForAdminPrincipals',
            principals: adminPrincipals.map((arn) => new iam.ArnPrincipal(arn)),
            actions: invoke,
            resources: adminResources,
          }),
        );
      }
      statements.push(
        new iam.PolicyStatement({
          sid: 'AdminRoutesForNobodyElse',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: invoke,
          resources: adminResources,
          ...(adminPrincipals.length > 0
            ? { conditions: { ArnNotEquals: { 'aws:PrincipalArn': [...adminPrincipals] } } }
            : {}),
        }),
      );
    }
    if (reviewer.length > 0) {
      const reviewerResources = reviewer.map(pattern);
      const allowed = [...new Set([...adminPrincipals, ...reviewerPrincipals])];
      if (allowed.length > 0) {
        statements.push(
          new iam.PolicyStatement({
            sid: 'ReviewerRoutesForReviewerAndAdminPrincipals',
            principals: allowed.map((arn) => new iam.ArnPrincipal(arn)),
            actions: invoke,
            resources: reviewerResources,
          }),
        );
      }
      statements.push(
        new iam.PolicyStatement({
          sid: 'ReviewerRoutesForNobodyElse',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: invoke,
          resources: reviewerResources,
          ...(allowed.length > 0 ? { conditions: { ArnNotEquals: { 'aws:PrincipalArn': allowed } } } : {}),
        }),
      );
    }
    return new iam.PolicyDocument({ statements });
  }

  /**
   * A regional web ACL on the stage: AWS IP reputation, a per-IP rate limit, a declared-size limit
   * (`content-length` > `maxRequestBytes`), the common rule set and known bad inputs; blocked requests get
   * the API's JSON error body; sampled requests and metrics on; logs (API keys and signatures redacted) to
   * an encrypted log group.
   */
  private addWebAcl(
    deployment: DeploymentConfig,
    api: AppConfig['api'],
    encryptionKey: kms.IKey,
  ): wafv2.CfnWebACL {
    const metric = (name: string) => ({
      cloudWatchMetricsEnabled: true,
      metricName: `${deployment.stackName}-${name}`,
      sampledRequestsEnabled: true,
    });
    const block = (responseCode: number, key: string) => ({
      block: { customResponse: { responseCode, customResponseBodyKey: key } },
    });
    const body = (code: string, message: string) => ({
      contentType: 'APPLICATION_JSON',
      content: JSON.stringify({ error: { code, message } }),
    });
    const managed = (priority: number, name: string, excluded: string[] = []) => ({
      name: `AWS-${name}`,
      priority,
      overrideAction: { none: {} },
      statement: {
        managedRuleGroupStatement: {
          vendorName: 'AWS',
          name,
          ...(excluded.length > 0
            ? { ruleActionOverrides: excluded.map((rule) => ({ name: rule, actionToUse: { count: {} } })) }
            : {}),
        },
      },
      visibilityConfig: metric(name),
    });

    const acl = new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      description: `${deployment.stackName}: protects the API stage`,
      defaultAction: { allow: {} },
      visibilityConfig: metric('api'),
      customResponseBodies: {
        blocked: body('blocked', 'The request was blocked by the web application firewall of this API'),
        rateLimited: body('rate_limited', 'Too many requests from this IP address: retry in a few minutes'),
        tooLarge: body(
          'payload_too_large',
          `The request body is larger than ${api.maxRequestBytes} bytes, the limit of this API`,
        ),
      },
      rules: [
        managed(0, 'AWSManagedRulesAmazonIpReputationList'),
        {
          name: 'RateLimitPerIp',
          priority: 1,
          action: block(429, 'rateLimited'),
          statement: {
            rateBasedStatement: {
              limit: api.wafIpRateLimit,
              aggregateKeyType: 'IP',
              evaluationWindowSec: 300,
            },
          },
          visibilityConfig: metric('RateLimitPerIp'),
        },
        {
          // WAF inspects at most 64 KB of a body, so the declared size is what can be compared with
          // maxRequestBytes; the handlers check the actual size too.
          name: 'RequestBodyTooLarge',
          priority: 2,
          action: block(413, 'tooLarge'),
          statement: {
            regexMatchStatement: {
              fieldToMatch: { singleHeader: { Name: 'content-length' } },
              regexString: greaterThanRegex(api.maxRequestBytes),
              textTransformations: [{ priority: 0, type: 'NONE' }],
            },
          },
          visibilityConfig: metric('RequestBodyTooLarge'),
        },
        // SizeRestrictions_BODY blocks bodies over 8 KB, below what chat requests legitimately carry:
        // it only counts, and RequestBodyTooLarge enforces the configured limit instead.
        managed(3, 'AWSManagedRulesCommonRuleSet', ['SizeRestrictions_BODY']),
        managed(4, 'AWSManagedRulesKnownBadInputsRuleSet'),
      ],
    });
    new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
      resourceArn: this.stage.stageArn,
      webAclArn: acl.attrArn,
    });

    // WAF requires the log group name to start with aws-waf-logs-.
    const logGroupName = `aws-waf-logs-${deployment.stackName}`;
    const logGroup = new logs.LogGroup(this, 'WafLogs', {
      logGroupName,
      retention: deployment.logRetention,
      removalPolicy: deployment.removal.logs,
      encryptionKey,
    });
    const logging = new wafv2.CfnLoggingConfiguration(this, 'WafLogging', {
      resourceArn: acl.attrArn,
      logDestinationConfigs: [
        Stack.of(this).formatArn({
          service: 'logs',
          resource: 'log-group',
          resourceName: logGroupName,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ],
      redactedFields: [{ singleHeader: { Name: 'x-api-key' } }, { singleHeader: { Name: 'authorization' } }],
    });
    // WAF wants the log group ARN without the `:*` suffix of its Arn attribute: built from the name.
    logging.node.addDependency(logGroup);
    return acl;
  }
}

/** Stage method-setting paths (`/v1/chat/POST`) of the routes served by the chat function. */
export function chatMethodPaths(routes: readonly ApiRoute[]): string[] {
  return routes.filter((route) => route.fn === 'chat').map((route) => `${route.path}/${route.method}`);
}

function streamTimeout(fn: LlmOpsFunction): Duration {
  const seconds = fn.timeout?.toSeconds() ?? 3;
  return Duration.seconds(Math.min(Math.max(seconds, 1), 900));
}

function validateRoutes(
  routes: readonly ApiRoute[],
  functions: Readonly<Partial<Record<ApiFunctionName, unknown>>>,
): void {
  if (routes.length === 0) throw new Error('LlmOpsApi: no routes');
  const seen = new Set<string>();
  for (const route of routes) {
    const key = `${route.method} ${route.path}`;
    if (seen.has(key)) throw new Error(`LlmOpsApi: route ${key} is listed twice`);
    seen.add(key);
    if (!route.path.startsWith('/v1/')) throw new Error(`LlmOpsApi: route ${key} must start with /v1/`);
    if (!functions[route.fn])
      throw new Error(`LlmOpsApi: route ${key} names function "${route.fn}", which was not given`);
  }
}
