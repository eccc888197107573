/**
 * The template's REST API served on 127.0.0.1 with `node:http`, in front of the same handler modules Lambda
 * runs. What it does like API Gateway:
 * - routes `METHOD /path` by the template's resource tree (literal segments before `{param}`, `{proxy+}`
 *   last; `ANY` methods), serving at the root (no `/<stage>` prefix); an unknown resource or method answers
 *   403 MISSING_AUTHENTICATION_TOKEN, as API Gateway does;
 * - `ApiKeyRequired` methods need `x-api-key` (403 INVALID_API_KEY); usage plan throttles (token bucket
 *   of RateLimit/BurstLimit, per-method overrides) and quotas answer 429 THROTTLED / QUOTA_EXCEEDED;
 * - `AWS_IAM` methods: there is no SigV4 locally, so the same API key stands in for the signature (403
 *   MISSING_AUTHENTICATION_TOKEN without it, like an unsigned request) and the function sees the identity of
 *   a fixed local IAM user, `arn:aws:iam::000000000000:user/local-admin`;
 * - request bodies over 10 MB answer 413 REQUEST_TOO_LARGE;
 * - Lambda proxy integrations get the REST API proxy event (payload format 1.0) with the request context of
 *   a real request (request id, identity, resource path, stage, times); binary media types arrive base64;
 * - BUFFERED integrations: the result must be `{ statusCode, headers, multiValueHeaders, body,
 *   isBase64Encoded }` and nothing else, else 502 (Malformed Lambda proxy response); a function error is
 *   502 `{"message": "Internal server error"}`; past the integration timeout (29 s by default), 504;
 * - STREAM integrations (ResponseTransferMode STREAM): the function is invoked with response streaming, the
 *   status and headers come from its HTTP prelude and every chunk is written to the client as soon as the
 *   function writes it (server-sent events arrive incrementally); a failure before the prelude is 502, a
 *   failure mid-stream cuts the connection;
 * - MOCK integrations (CORS preflight) answer their static integration response;
 * - `AWS::ApiGateway::GatewayResponse` resources of the template customize the error responses (status,
 *   static headers, body template with `$context.*` variables).
 * Local defaults for gateway errors without a customization use the API's error shape
 * `{"error":{"code","message"}}` for 4xx and API Gateway's `{"message"}` for 5xx.
 *
 * Not emulated: request validation against the template's Models and RequestValidators (the handlers
 * validate every body with the same schemas the models are generated from, and answer the same 400 naming
 * the field), VTL mapping templates of non-proxy integrations (such methods are refused at start), Lambda
 * and Cognito authorizers (refused at start), response compression, caching, stage variables beyond what
 * the template declares, canaries, WAF, mutual TLS and custom domains.
 */

import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { readBody } from './http-body.ts';
import type { InvokeContext } from './lambda-registry.ts';
import type { StreamedHttpResponse } from './lambda-streaming.ts';
import type {
  LocalApiKey,
  LocalApiMethod,
  LocalGatewayResponse,
  LocalRestApi,
  LocalTemplate,
  LocalThrottle,
  LocalUsagePlan,
} from './template.ts';

/** API Gateway's limit on a request payload. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
/** Lambda's limit on a synchronous (buffered) response payload. */
export const MAX_BUFFERED_RESPONSE_BYTES = 6 * 1024 * 1024;
/** The IAM identity that admin (AWS_IAM) routes see locally. */
export const LOCAL_ADMIN_ARN = 'arn:aws:iam::000000000000:user/local-admin';
const LOCAL_ADMIN_USER_ID = 'AIDALOCALADMIN0000000';
const LOCAL_ADMIN_ACCESS_KEY = 'AKIALOCALADMIN000000';

/** What the server needs to invoke functions (LocalLambdas provides it). */
export interface ApiFunctionInvoker {
  invoke(functionRef: string, payload: unknown, context?: InvokeContext): Promise<unknown>;
  invokeWithResponseStream(
    functionRef: string,
    payload: unknown,
    context?: InvokeContext,
  ): Promise<StreamedHttpResponse>;
}

/** One access-log record (written as one JSON line per request). */
export interface AccessLogEntry {
  readonly requestId: string;
  readonly ip: string;
  readonly requestTime: string;
  readonly httpMethod: string;
  readonly path: string;
  /** The matched resource path, e.g. `/v1/prompts/{name}`; null when no route matched. */
  readonly resourcePath: string | null;
  readonly protocol: string;
  readonly status: number;
  readonly responseLength: number;
  readonly latencyMs: number;
  readonly integrationLatencyMs: number | null;
  readonly apiKeyId: string | null;
  /** Logical id of the function that served the request. */
  readonly function: string | null;
  readonly streaming: boolean;
  /** Gateway response type (`INVALID_API_KEY`, ...) or the integration's failure. */
  readonly errorType: string | null;
  readonly errorMessage: string | null;
}

/** Options of {@link LocalApi.start}. */
export interface LocalApiOptions {
  readonly template: LocalTemplate;
  readonly lambdas: ApiFunctionInvoker;
  /** Port to listen on; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** Only loopback: the local API never listens beyond the machine. @default '127.0.0.1' */
  readonly host?: '127.0.0.1';
  /** The API key callers send in `x-api-key`. @default the template's key Value, else a random key */
  readonly apiKey?: string;
  /**
   * Which of the template's API keys the local key stands for: an ApiKey whose Name is `appName` (or ends
   * with `-<appName>`), Description mentions it, or logical id is it. @default the first key of a usage
   * plan of the served stage
   */
  readonly appName?: string;
  /** Logical id of the RestApi to serve. @default the template's only RestApi */
  readonly restApi?: string;
  /** Stage name seen by functions. @default the API's first stage */
  readonly stage?: string;
  /** Receives one JSON line per request. @default writes to stderr */
  readonly accessLog?: (line: string, entry: AccessLogEntry) => void;
  /** Enforce usage plan throttles and quotas. @default true */
  readonly enforceUsagePlans?: boolean;
}

/** The API could not be served locally (unsupported feature, bad options, port in use). */
export class LocalApiError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LocalApiError';
  }
}

/** A gateway response type API Gateway answers with before (or instead of) the integration. */
export type GatewayResponseType =
  | 'MISSING_AUTHENTICATION_TOKEN'
  | 'INVALID_API_KEY'
  | 'REQUEST_TOO_LARGE'
  | 'THROTTLED'
  | 'QUOTA_EXCEEDED'
  | 'INTEGRATION_FAILURE'
  | 'INTEGRATION_TIMEOUT'
  | 'DEFAULT_5XX';

const LOCAL_GATEWAY_DEFAULTS: Record<GatewayResponseType, { status: number; code: string; message: string }> =
  {
    MISSING_AUTHENTICATION_TOKEN: {
      status: 403,
      code: 'missing_authentication_token',
      message: 'Missing Authentication Token',
    },
    INVALID_API_KEY: {
      status: 403,
      code: 'forbidden',
      message: 'Forbidden: a valid x-api-key header is required',
    },
    REQUEST_TOO_LARGE: {
      status: 413,
      code: 'payload_too_large',
      message: `Request Too Long: the body must be at most ${MAX_REQUEST_BYTES} bytes`,
    },
    THROTTLED: { status: 429, code: 'throttled', message: 'Too Many Requests' },
    QUOTA_EXCEEDED: { status: 429, code: 'quota_exceeded', message: 'Limit Exceeded' },
    INTEGRATION_FAILURE: { status: 502, code: 'internal_error', message: 'Internal server error' },
    INTEGRATION_TIMEOUT: { status: 504, code: 'integration_timeout', message: 'Endpoint request timed out' },
    DEFAULT_5XX: { status: 500, code: 'internal_error', message: 'Internal server error' },
  };

interface RouteNode {
  readonly literal: Map<string, RouteNode>;
  param?: { readonly name: string; readonly node: RouteNode };
  greedy?: { readonly name: string; readonly node: RouteNode };
  path?: string;
}

/** A matched route: the resource path and its path parameters. */
export interface RouteMatch {
  readonly resourcePath: string;
  readonly pathParameters: Readonly<Record<string, string>>;
}

/**
 * Resource-path matcher with API Gateway's precedence: at each segment a literal part wins over
 * `{param}`, which wins over a greedy `{name+}` (which takes the rest of the path, at least one segment).
 */
export class ApiRouter {
  readonly #root: RouteNode = { literal: new Map() };

  constructor(resourcePaths: Iterable<string>) {
    for (const path of resourcePaths) this.#add(path);
  }

  /** Matches a request path (percent-encoded, as sent). Path parameters are decoded. */
  match(requestPath: string): RouteMatch | undefined {
    const trimmed = requestPath.length > 1 ? requestPath.replace(/\/+$/, '') : requestPath;
    const segments = trimmed.split('/').filter((s) => s !== '');
    let decoded: string[];
    try {
      decoded = segments.map((s) => decodeURIComponent(s));
    } catch {
      return undefined;
    }
    return this.#walk(this.#root, decoded, 0, {});
  }

  #add(path: string): void {
    let node = this.#root;
    for (const part of path.split('/').filter((s) => s !== '')) {
      const variable = /^\{([^}]+)\}$/.exec(part)?.[1];
      if (variable?.endsWith('+')) {
        node.greedy ??= { name: variable.slice(0, -1), node: { literal: new Map() } };
        node = node.greedy.node;
      } else if (variable !== undefined) {
        node.param ??= { name: variable, node: { literal: new Map() } };
        node = node.param.node;
      } else {
        let next = node.literal.get(part);
        if (!next) {
          next = { literal: new Map() };
          node.literal.set(part, next);
        }
        node = next;
      }
    }
    node.path = path;
  }

  #walk(
    node: RouteNode,
    segments: readonly string[],
    index: number,
    params: Record<string, string>,
  ): RouteMatch | undefined {
    if (index === segments.length) {
      return node.path === undefined ? undefined : { resourcePath: node.path, pathParameters: params };
    }
    const segment = segments[index] ?? '';
    const literal = node.literal.get(segment);
    if (literal) {
      const found = this.#walk(literal, segments, index + 1, params);
      if (found) return found;
    }
    if (node.param) {
      const found = this.#walk(node.param.node, segments, index + 1, {
        ...params,
        [node.param.name]: segment,
      });
      if (found) return found;
    }
    if (node.greedy?.node.path !== undefined) {
      return {
        resourcePath: node.greedy.node.path,
        pathParameters: { ...params, [node.greedy.name]: segments.slice(index).join('/') },
      };
    }
    return undefined;
  }
}

/** Token bucket (API Gateway throttling) and period quota counters, per key. */
class UsageLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #quotas = new Map<string, { used: number; periodStart: number }>();

  /** Takes one token; false when the bucket is empty. */
  take(key: string, throttle: LocalThrottle, now: number): boolean {
    const rate = throttle.rateLimit ?? Number.POSITIVE_INFINITY;
    const burst = Math.max(1, throttle.burstLimit ?? Math.ceil(rate));
    if (!Number.isFinite(rate) && throttle.burstLimit === undefined) return true;
    const bucket = this.#buckets.get(key) ?? { tokens: burst, at: now };
    const refilled = Math.min(
      burst,
      bucket.tokens + ((now - bucket.at) / 1000) * (Number.isFinite(rate) ? rate : burst),
    );
    if (refilled < 1) {
      this.#buckets.set(key, { tokens: refilled, at: now });
      return false;
    }
    this.#buckets.set(key, { tokens: refilled - 1, at: now });
    return true;
  }

  /** Counts one request against a quota; false when the period's limit is used up. */
  count(key: string, quota: { limit: number; period: 'DAY' | 'WEEK' | 'MONTH' }, now: Date): boolean {
    const start = periodStart(quota.period, now);
    const entry = this.#quotas.get(key);
    const used = entry && entry.periodStart === start ? entry.used : 0;
    if (used >= quota.limit) return false;
    this.#quotas.set(key, { used: used + 1, periodStart: start });
    return true;
  }
}

function periodStart(period: 'DAY' | 'WEEK' | 'MONTH', now: Date): number {
  const day = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  if (period === 'DAY') return day;
  if (period === 'MONTH') return Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  // API Gateway weeks start on Monday.
  return day - ((now.getUTCDay() + 6) % 7) * 86_400_000;
}

interface RequestState {
  readonly requestId: string;
  readonly extendedRequestId: string;
  readonly traceId: string;
  readonly started: number;
  readonly receivedAt: Date;
  readonly ip: string;
  readonly method: string;
  readonly path: string;
  resourcePath: string | null;
  apiKeyId: string | null;
  fn: string | null;
  streaming: boolean;
  integrationLatencyMs: number | null;
  errorType: string | null;
  errorMessage: string | null;
}

/** The local API server. */
export class LocalApi {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** The key to send in `x-api-key`. */
  readonly apiKey: string;
  /** The local id of the ApiKey the key stands for (`requestContext.identity.apiKeyId`). */
  readonly apiKeyId: string;
  /** Logical id of that ApiKey, when the template declares one. */
  readonly apiKeyLogicalId: string | undefined;
  /** The stage name functions see. */
  readonly stage: string;
  readonly restApi: LocalRestApi;
  readonly #server: Server;

  private constructor(
    server: Server,
    port: number,
    settings: {
      apiKey: string;
      key: LocalApiKey | undefined;
      apiKeyId: string;
      stage: string;
      api: LocalRestApi;
    },
  ) {
    this.#server = server;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.apiKey = settings.apiKey;
    this.apiKeyId = settings.apiKeyId;
    this.apiKeyLogicalId = settings.key?.logicalId;
    this.stage = settings.stage;
    this.restApi = settings.api;
  }

  /** Starts serving the template's REST API. */
  static async start(options: LocalApiOptions): Promise<LocalApi> {
    const host = options.host ?? '127.0.0.1';
    if (host !== '127.0.0.1') {
      throw new LocalApiError(`The local API listens on 127.0.0.1 only (got host '${String(host)}')`);
    }
    const api = selectApi(options.template.restApis(), options.restApi);
    checkSupported(api);
    const stage = options.stage ?? api.stages[0]?.name ?? 'local';
    const stageVariables = api.stages.find((s) => s.name === stage)?.variables ?? {};
    const plans = options.template
      .usagePlans()
      .filter((plan) => plan.apiStages.some((s) => s.apiId === api.id && s.stage === stage));
    const key = selectKey(options.template.apiKeys(), plans, options.appName);
    const apiKeyId = key?.id ?? `local-${randomBytes(4).toString('hex')}`;
    const apiKey = options.apiKey ?? key?.value ?? randomBytes(24).toString('base64url');
    if (apiKey.length < 20) {
      throw new LocalApiError('The API key must be at least 20 characters long, as API Gateway requires');
    }
    const keyPlans = plans.filter((plan) => plan.apiKeyIds.includes(apiKeyId));
    if (
      api.methods.some((m) => m.apiKeyRequired) &&
      key !== undefined &&
      plans.length > 0 &&
      keyPlans.length === 0
    ) {
      throw new LocalApiError(
        `ApiKey ${key.logicalId} is in no usage plan of stage '${stage}': API Gateway would refuse it with 403 on every method that requires a key`,
      );
    }

    const router = new ApiRouter(api.resources.map((r) => r.path));
    const methods = new Map<string, LocalApiMethod>();
    for (const method of api.methods) methods.set(`${method.path} ${method.httpMethod}`, method);
    const limiter = new UsageLimiter();
    const accessLog =
      options.accessLog ??
      ((line: string) => {
        process.stderr.write(`${line}\n`);
      });
    const context: ServeContext = {
      api,
      stage,
      stageVariables,
      apiKey,
      apiKeyId,
      router,
      methods,
      plans: keyPlans,
      limiter,
      enforceUsagePlans: options.enforceUsagePlans ?? true,
      lambdas: options.lambdas,
      accessLog,
      account: options.template.account,
    };
    const server = createServer((req, res) => {
      serve(context, req, res).catch((error: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ message: 'Internal server error' }));
        } else {
          res.destroy(error instanceof Error ? error : undefined);
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) =>
        reject(
          new LocalApiError(
            `The local API cannot listen on 127.0.0.1:${options.port ?? 0}: ${error.message}`,
            { cause: error },
          ),
        ),
      );
      server.listen(options.port ?? 0, host, () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') {
      server.close();
      throw new LocalApiError('The local API is not listening on a TCP port');
    }
    return new LocalApi(server, address.port, { apiKey, key, apiKeyId, stage, api });
  }

  /** Stops listening and closes every open connection (streams in flight are cut). */
  stop(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (!this.#server.listening) {
        resolve();
        return;
      }
      this.#server.close((error) => (error ? reject(error) : resolve()));
      this.#server.closeAllConnections();
    });
  }
}

interface ServeContext {
  readonly api: LocalRestApi;
  readonly stage: string;
  readonly stageVariables: Readonly<Record<string, string>>;
  readonly apiKey: string;
  readonly apiKeyId: string;
  readonly router: ApiRouter;
  readonly methods: ReadonlyMap<string, LocalApiMethod>;
  readonly plans: readonly LocalUsagePlan[];
  readonly limiter: UsageLimiter;
  readonly enforceUsagePlans: boolean;
  readonly lambdas: ApiFunctionInvoker;
  readonly accessLog: (line: string, entry: AccessLogEntry) => void;
  readonly account: string;
}

function selectApi(apis: readonly LocalRestApi[], logicalId: string | undefined): LocalRestApi {
  if (logicalId !== undefined) {
    const api = apis.find((a) => a.logicalId === logicalId);
    if (!api) {
      throw new LocalApiError(
        `No RestApi '${logicalId}' in the template (found: ${apis.map((a) => a.logicalId).join(', ') || 'none'})`,
      );
    }
    return api;
  }
  const [only, ...more] = apis;
  if (!only) throw new LocalApiError('The template declares no AWS::ApiGateway::RestApi');
  if (more.length > 0) {
    throw new LocalApiError(
      `The template declares several REST APIs (${apis.map((a) => a.logicalId).join(', ')}); choose one with 'restApi'`,
    );
  }
  return only;
}

function checkSupported(api: LocalRestApi): void {
  const problems: string[] = [];
  if (api.apiKeySourceType !== 'HEADER') {
    problems.push(`ApiKeySourceType ${api.apiKeySourceType} (only HEADER: the x-api-key header)`);
  }
  for (const method of api.methods) {
    const where = `${method.httpMethod} ${method.path} (${method.logicalId})`;
    if (method.authorizationType !== 'NONE' && method.authorizationType !== 'AWS_IAM') {
      problems.push(`${where}: AuthorizationType ${method.authorizationType} (only NONE and AWS_IAM)`);
    }
    const { integration } = method;
    if (integration.type === 'AWS_PROXY') {
      if (integration.functionArn === undefined)
        problems.push(`${where}: AWS_PROXY integration without a Lambda function`);
    } else if (integration.type !== 'MOCK') {
      problems.push(`${where}: integration type ${integration.type} (only AWS_PROXY with Lambda, and MOCK)`);
    }
  }
  if (problems.length > 0) {
    throw new LocalApiError(
      `RestApi ${api.logicalId} uses what the local API cannot serve:\n  - ${problems.join('\n  - ')}`,
    );
  }
}

function selectKey(
  keys: readonly LocalApiKey[],
  plans: readonly LocalUsagePlan[],
  appName: string | undefined,
): LocalApiKey | undefined {
  if (appName !== undefined) {
    const word = new RegExp(`\\b${escapeRegExp(appName)}\\b`);
    const matchers: Array<(k: LocalApiKey) => boolean> = [
      (k) => k.name === appName || k.logicalId === appName,
      (k) => k.name?.endsWith(`-${appName}`) === true,
      (k) => k.description?.includes(`"${appName}"`) === true,
      (k) => k.description !== undefined && word.test(k.description),
    ];
    let key: LocalApiKey | undefined;
    for (const matches of matchers) {
      key = keys.find(matches);
      if (key) break;
    }
    if (!key) {
      throw new LocalApiError(
        `No ApiKey for app '${appName}' (keys: ${keys.map((k) => `${k.logicalId}${k.name ? ` "${k.name}"` : ''}`).join(', ') || 'none'})`,
      );
    }
    return key;
  }
  const planned = new Set(plans.flatMap((p) => p.apiKeyIds));
  return keys.find((k) => k.enabled && planned.has(k.id)) ?? keys.find((k) => k.enabled) ?? keys[0];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function serve(ctx: ServeContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const rawUrl = req.url ?? '/';
  const queryAt = rawUrl.indexOf('?');
  const path = queryAt >= 0 ? rawUrl.slice(0, queryAt) : rawUrl;
  const query = queryAt >= 0 ? rawUrl.slice(queryAt + 1) : '';
  const state: RequestState = {
    requestId: randomUUID(),
    extendedRequestId: randomBytes(12).toString('base64url').slice(0, 16),
    traceId: `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`,
    started: performance.now(),
    receivedAt: new Date(),
    ip: clientIp(req),
    method,
    path,
    resourcePath: null,
    apiKeyId: null,
    fn: null,
    streaming: false,
    integrationLatencyMs: null,
    errorType: null,
    errorMessage: null,
  };

  const body = await readBody(req, MAX_REQUEST_BYTES);
  if (body === undefined) {
    sendGateway(ctx, state, req, res, 'REQUEST_TOO_LARGE');
    return;
  }

  const match = ctx.router.match(path);
  const target = match
    ? (ctx.methods.get(`${match.resourcePath} ${method}`) ?? ctx.methods.get(`${match.resourcePath} ANY`))
    : undefined;
  if (!match || !target) {
    sendGateway(
      ctx,
      state,
      req,
      res,
      'MISSING_AUTHENTICATION_TOKEN',
      `Missing Authentication Token: no method ${method} ${path}`,
    );
    return;
  }
  state.resourcePath = match.resourcePath;

  const presented = headerOf(req, 'x-api-key');
  const keyValid = presented !== undefined && sameSecret(presented, ctx.apiKey);
  if (target.authorizationType === 'AWS_IAM' && !keyValid) {
    sendGateway(
      ctx,
      state,
      req,
      res,
      'MISSING_AUTHENTICATION_TOKEN',
      'Missing Authentication Token: this admin route needs AWS SigV4 credentials (locally, the x-api-key header stands in for them)',
    );
    return;
  }
  if (target.apiKeyRequired) {
    if (!keyValid) {
      sendGateway(ctx, state, req, res, 'INVALID_API_KEY');
      return;
    }
    state.apiKeyId = ctx.apiKeyId;
    if (ctx.enforceUsagePlans) {
      const refused = checkUsage(ctx, target);
      if (refused) {
        sendGateway(ctx, state, req, res, refused);
        return;
      }
    }
  }

  const event = buildEvent(
    ctx,
    req,
    state,
    target,
    match,
    query,
    body,
    keyValid && target.apiKeyRequired ? presented : undefined,
  );
  if (target.integration.type === 'MOCK') {
    sendMock(ctx, state, res, target, method);
    return;
  }
  const functionRef = target.integration.functionArn ?? '';
  state.fn = target.integration.functionLogicalId ?? functionRef;
  if (target.integration.streaming) {
    state.streaming = true;
    await serveStreaming(ctx, state, req, res, functionRef, event);
  } else {
    await serveBuffered(ctx, state, req, res, functionRef, event, target.integration.timeoutMs);
  }
}

function checkUsage(ctx: ServeContext, method: LocalApiMethod): GatewayResponseType | undefined {
  const now = Date.now();
  for (const plan of ctx.plans) {
    const stage = plan.apiStages.find((s) => s.apiId === ctx.api.id && s.stage === ctx.stage);
    const methodThrottle = stage?.throttle[`${method.path}/${method.httpMethod}`];
    const throttle = methodThrottle ?? plan.throttle;
    const bucketKey = `${plan.id}:${ctx.apiKeyId}:${methodThrottle ? `${method.path}/${method.httpMethod}` : '*'}`;
    if (throttle && !ctx.limiter.take(bucketKey, throttle, now)) return 'THROTTLED';
    if (plan.quota && !ctx.limiter.count(`${plan.id}:${ctx.apiKeyId}`, plan.quota, new Date(now))) {
      return 'QUOTA_EXCEEDED';
    }
  }
  return undefined;
}

/** Builds the REST API Lambda proxy event (payload format 1.0). */
function buildEvent(
  ctx: ServeContext,
  req: IncomingMessage,
  state: RequestState,
  method: LocalApiMethod,
  match: RouteMatch,
  query: string,
  body: Buffer,
  apiKey: string | undefined,
): APIGatewayProxyEvent {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const value = raw[i + 1] ?? '';
    headers[name] = value;
    multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
  }
  const setHeader = (name: string, value: string) => {
    const existing = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
    const values = existing === undefined ? [] : (multiValueHeaders[existing] ?? []);
    if (existing !== undefined) {
      delete headers[existing];
      delete multiValueHeaders[existing];
    }
    const merged = name === 'X-Forwarded-For' && values.length > 0 ? `${values.join(', ')}, ${value}` : value;
    headers[name] = merged;
    multiValueHeaders[name] = [merged];
  };
  setHeader('X-Forwarded-For', state.ip);
  setHeader('X-Forwarded-Port', String(req.socket.localPort ?? ''));
  setHeader('X-Forwarded-Proto', 'http');
  setHeader('X-Amzn-Trace-Id', state.traceId);

  let queryStringParameters: Record<string, string> | null = null;
  let multiValueQueryStringParameters: Record<string, string[]> | null = null;
  if (query !== '') {
    queryStringParameters = {};
    multiValueQueryStringParameters = {};
    for (const [name, value] of new URLSearchParams(query)) {
      queryStringParameters[name] = value;
      multiValueQueryStringParameters[name] = [...(multiValueQueryStringParameters[name] ?? []), value];
    }
  }
  const pathParameters = Object.keys(match.pathParameters).length > 0 ? { ...match.pathParameters } : null;
  const contentType = headerOf(req, 'content-type');
  const binary = contentType !== undefined && isBinary(ctx.api.binaryMediaTypes, contentType);
  const iam = method.authorizationType === 'AWS_IAM';
  const host = headerOf(req, 'host') ?? `127.0.0.1:${req.socket.localPort ?? ''}`;
  return {
    resource: match.resourcePath,
    path: state.path,
    httpMethod: state.method,
    headers,
    multiValueHeaders,
    queryStringParameters,
    multiValueQueryStringParameters,
    pathParameters,
    stageVariables: Object.keys(ctx.stageVariables).length > 0 ? { ...ctx.stageVariables } : null,
    requestContext: {
      accountId: ctx.account,
      apiId: ctx.api.id,
      authorizer: undefined,
      domainName: host,
      domainPrefix: host.split('.')[0]?.split(':')[0] ?? host,
      extendedRequestId: state.extendedRequestId,
      httpMethod: state.method,
      identity: {
        accessKey: iam ? LOCAL_ADMIN_ACCESS_KEY : null,
        accountId: iam ? ctx.account : null,
        apiKey: apiKey ?? null,
        apiKeyId: apiKey !== undefined ? ctx.apiKeyId : null,
        caller: iam ? LOCAL_ADMIN_USER_ID : null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: state.ip,
        user: iam ? LOCAL_ADMIN_USER_ID : null,
        userAgent: headerOf(req, 'user-agent') ?? null,
        userArn: iam ? LOCAL_ADMIN_ARN : null,
      },
      path: `/${ctx.stage}${state.path}`,
      protocol: `HTTP/${req.httpVersion}`,
      requestId: state.requestId,
      requestTime: requestTime(state.receivedAt),
      requestTimeEpoch: state.receivedAt.getTime(),
      resourceId: method.resourceId,
      resourcePath: match.resourcePath,
      stage: ctx.stage,
    },
    body: body.length === 0 ? null : binary ? body.toString('base64') : body.toString('utf8'),
    isBase64Encoded: body.length > 0 && binary,
  };
}

async function serveBuffered(
  ctx: ServeContext,
  state: RequestState,
  req: IncomingMessage,
  res: ServerResponse,
  functionRef: string,
  event: APIGatewayProxyEvent,
  timeoutMs: number,
): Promise<void> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  let result: unknown;
  try {
    result = await Promise.race([
      ctx.lambdas.invoke(functionRef, event, { awsRequestId: randomUUID() }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new IntegrationTimeout(timeoutMs)), timeoutMs);
      }),
    ]);
  } catch (error) {
    state.integrationLatencyMs = elapsed(started);
    if (error instanceof IntegrationTimeout) {
      state.errorMessage = error.message;
      sendGateway(ctx, state, req, res, 'INTEGRATION_TIMEOUT');
    } else {
      state.errorMessage = `${errorName(error)}: ${errorMessage(error)}`;
      sendGateway(ctx, state, req, res, 'INTEGRATION_FAILURE', undefined, 'LambdaError');
    }
    return;
  } finally {
    if (timer) clearTimeout(timer);
  }
  state.integrationLatencyMs = elapsed(started);
  const parsed = parseProxyResult(result);
  if (typeof parsed === 'string') {
    state.errorMessage = `Malformed Lambda proxy response: ${parsed}`;
    sendGateway(ctx, state, req, res, 'INTEGRATION_FAILURE', undefined, 'MalformedLambdaProxyResponse');
    return;
  }
  const headers = responseHeaders(state, parsed.headers, parsed.multiValueHeaders, []);
  const payload = req.method === 'HEAD' ? Buffer.alloc(0) : parsed.body;
  headers['Content-Length'] = String(parsed.body.length);
  res.writeHead(parsed.statusCode, headers);
  res.end(payload);
  log(ctx, state, parsed.statusCode, parsed.body.length);
}

async function serveStreaming(
  ctx: ServeContext,
  state: RequestState,
  req: IncomingMessage,
  res: ServerResponse,
  functionRef: string,
  event: APIGatewayProxyEvent,
): Promise<void> {
  const started = performance.now();
  let response: StreamedHttpResponse;
  try {
    response = await ctx.lambdas.invokeWithResponseStream(functionRef, event, { awsRequestId: randomUUID() });
  } catch (error) {
    state.integrationLatencyMs = elapsed(started);
    state.errorMessage = `${errorName(error)}: ${errorMessage(error)}`;
    sendGateway(ctx, state, req, res, 'INTEGRATION_FAILURE', undefined, 'LambdaError');
    return;
  }
  state.integrationLatencyMs = elapsed(started);
  const headers = responseHeaders(state, response.headers, response.multiValueHeaders, response.cookies);
  res.writeHead(response.statusCode, headers);
  res.flushHeaders();
  let length = 0;
  let clientGone = false;
  res.once('close', () => {
    clientGone = !res.writableFinished;
  });
  try {
    for await (const chunk of response.body) {
      length += chunk.length;
      if (!clientGone && req.method !== 'HEAD') res.write(chunk);
    }
    res.end();
    log(ctx, state, response.statusCode, length);
  } catch (error) {
    // API Gateway has already sent the status and part of the body: the stream is cut.
    state.errorType = 'LambdaError';
    state.errorMessage = `${errorName(error)}: ${errorMessage(error)}`;
    res.destroy();
    log(ctx, state, response.statusCode, length);
  }
}

function sendMock(
  ctx: ServeContext,
  state: RequestState,
  res: ServerResponse,
  method: LocalApiMethod,
  httpMethod: string,
): void {
  const template = method.integration.requestTemplates['application/json'] ?? '';
  const requested = /"?statusCode"?\s*:\s*(\d{3})/.exec(template)?.[1];
  const responses = method.integration.integrationResponses;
  const chosen =
    responses.find((r) => requested !== undefined && String(r.StatusCode) === requested) ??
    responses.find((r) => r.SelectionPattern === undefined || r.SelectionPattern === '') ??
    responses[0];
  const status = Number(chosen?.StatusCode ?? requested ?? 200);
  const headers: Record<string, string> = {};
  const parameters = chosen?.ResponseParameters;
  if (typeof parameters === 'object' && parameters !== null) {
    for (const [name, value] of Object.entries(parameters as Record<string, unknown>)) {
      const header = /^method\.response\.header\.(.+)$/.exec(name)?.[1];
      const literal = typeof value === 'string' ? /^'(.*)'$/s.exec(value)?.[1] : undefined;
      if (header !== undefined && literal !== undefined) headers[header] = literal;
    }
  }
  const templates = chosen?.ResponseTemplates as Record<string, unknown> | undefined;
  const bodyTemplate = templates?.['application/json'];
  // VTL is not evaluated locally: a template that uses it answers with an empty body.
  const body = typeof bodyTemplate === 'string' && !/[#$]/.test(bodyTemplate) ? bodyTemplate : '';
  const out = Buffer.from(httpMethod === 'HEAD' ? '' : body, 'utf8');
  res.writeHead(status, {
    ...headers,
    'Content-Length': String(out.length),
    'x-amzn-RequestId': state.requestId,
    'x-amz-apigw-id': state.extendedRequestId,
  });
  res.end(out);
  log(ctx, state, status, out.length);
}

interface ProxyResult {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly multiValueHeaders: Readonly<Record<string, readonly string[]>>;
  readonly body: Buffer;
}

const PROXY_RESULT_KEYS = new Set(['statusCode', 'headers', 'multiValueHeaders', 'body', 'isBase64Encoded']);

/** Validates a Lambda proxy result as API Gateway (REST) does; a string says what is malformed. */
export function parseProxyResult(result: unknown): ProxyResult | string {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) {
    return 'the function must return an object';
  }
  const record = result as Record<string, unknown>;
  const extra = Object.keys(record).filter((k) => !PROXY_RESULT_KEYS.has(k));
  if (extra.length > 0) return `unexpected field(s) ${extra.join(', ')}`;
  const status = typeof record.statusCode === 'string' ? Number(record.statusCode) : record.statusCode;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
    return `statusCode must be an HTTP status (got ${JSON.stringify(record.statusCode)})`;
  }
  const headers: Record<string, string> = {};
  if (record.headers !== undefined && record.headers !== null) {
    if (typeof record.headers !== 'object' || Array.isArray(record.headers))
      return 'headers must be an object';
    for (const [name, value] of Object.entries(record.headers)) {
      if (value === null || value === undefined) continue;
      if (typeof value === 'object') return `headers.${name} must be a string`;
      headers[name] = String(value);
    }
  }
  const multiValueHeaders: Record<string, string[]> = {};
  if (record.multiValueHeaders !== undefined && record.multiValueHeaders !== null) {
    if (typeof record.multiValueHeaders !== 'object' || Array.isArray(record.multiValueHeaders)) {
      return 'multiValueHeaders must be an object';
    }
    for (const [name, values] of Object.entries(record.multiValueHeaders)) {
      if (!Array.isArray(values)) return `multiValueHeaders.${name} must be a list`;
      multiValueHeaders[name] = values.map(String);
    }
  }
  if (record.body !== undefined && record.body !== null && typeof record.body !== 'string') {
    return 'body must be a string';
  }
  if (record.isBase64Encoded !== undefined && typeof record.isBase64Encoded !== 'boolean') {
    return 'isBase64Encoded must be a boolean';
  }
  const text = typeof record.body === 'string' ? record.body : '';
  const body = record.isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
  if (body.length > MAX_BUFFERED_RESPONSE_BYTES) {
    return `the response is over Lambda's ${MAX_BUFFERED_RESPONSE_BYTES}-byte limit`;
  }
  return { statusCode: status, headers, multiValueHeaders, body };
}

function responseHeaders(
  state: RequestState,
  single: Readonly<Record<string, string>>,
  multi: Readonly<Record<string, readonly string[]>>,
  cookies: readonly string[],
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const put = (name: string, value: string | string[]) => {
    for (const key of Object.keys(out)) if (key.toLowerCase() === name.toLowerCase()) delete out[key];
    out[name] = value;
  };
  for (const [name, value] of Object.entries(single)) put(name, value);
  // Values from multiValueHeaders replace those of headers with the same name.
  for (const [name, values] of Object.entries(multi)) put(name, [...values]);
  if (cookies.length > 0) put('Set-Cookie', [...cookies]);
  if (!Object.keys(out).some((k) => k.toLowerCase() === 'content-type'))
    out['Content-Type'] = 'application/json';
  out['x-amzn-RequestId'] = state.requestId;
  out['x-amz-apigw-id'] = state.extendedRequestId;
  out['X-Amzn-Trace-Id'] = state.traceId;
  return out;
}

/** Answers with a gateway response: the template's customization, else the local default. */
function sendGateway(
  ctx: ServeContext,
  state: RequestState,
  req: IncomingMessage,
  res: ServerResponse,
  type: GatewayResponseType,
  message?: string,
  errorType?: string,
): void {
  const fallback = LOCAL_GATEWAY_DEFAULTS[type];
  const text = message ?? fallback.message;
  const custom = findGatewayResponse(ctx.api.gatewayResponses, type, fallback.status);
  let status = fallback.status;
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'x-amzn-RequestId': state.requestId,
    'x-amz-apigw-id': state.extendedRequestId,
    'x-amzn-ErrorType': errorTypeHeader(type),
  };
  let body: string;
  if (custom) {
    status = custom.statusCode ?? status;
    for (const [name, expression] of Object.entries(custom.responseParameters)) {
      const header = /^gatewayresponse\.header\.(.+)$/.exec(name)?.[1];
      if (header === undefined) continue;
      const literal = /^'(.*)'$/s.exec(expression)?.[1];
      const fromRequest = /^method\.request\.header\.(.+)$/.exec(expression)?.[1];
      const value = literal ?? (fromRequest !== undefined ? headerOf(req, fromRequest) : undefined);
      if (value !== undefined) headers[header] = value;
    }
    const templates = custom.responseTemplates;
    const template = templates['application/json'] ?? Object.values(templates)[0];
    body =
      template === undefined
        ? JSON.stringify({ message: text })
        : renderGatewayTemplate(template, { ctx, state, type, message: text });
  } else if (status >= 500) {
    body = JSON.stringify({ message: text });
  } else {
    body = JSON.stringify({ error: { code: fallback.code, message: text } });
  }
  const payload = Buffer.from(body, 'utf8');
  headers['Content-Length'] = String(payload.length);
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : payload);
  state.errorType = errorType ?? type;
  state.errorMessage ??= text;
  log(ctx, state, status, payload.length);
}

function findGatewayResponse(
  responses: readonly LocalGatewayResponse[],
  type: GatewayResponseType,
  status: number,
): LocalGatewayResponse | undefined {
  const family = status >= 500 ? 'DEFAULT_5XX' : 'DEFAULT_4XX';
  const specific =
    type === 'INTEGRATION_FAILURE' ? undefined : responses.find((r) => r.responseType === type);
  return specific ?? responses.find((r) => r.responseType === family);
}

function errorTypeHeader(type: GatewayResponseType): string {
  switch (type) {
    case 'MISSING_AUTHENTICATION_TOKEN':
      return 'MissingAuthenticationTokenException';
    case 'INVALID_API_KEY':
      return 'ForbiddenException';
    case 'REQUEST_TOO_LARGE':
      return 'RequestTooLargeException';
    case 'THROTTLED':
    case 'QUOTA_EXCEEDED':
      return 'TooManyRequestsException';
    default:
      return 'InternalServerErrorException';
  }
}

/** Fills the `$context.*` variables API Gateway offers gateway response templates. */
export function renderGatewayTemplate(
  template: string,
  values: {
    ctx: Pick<ServeContext, 'stage'>;
    state: Pick<RequestState, 'requestId' | 'extendedRequestId' | 'method' | 'path' | 'resourcePath' | 'ip'>;
    type: string;
    message: string;
  },
): string {
  const variables: Record<string, string> = {
    'context.error.messageString': JSON.stringify(values.message),
    'context.error.message': values.message,
    'context.error.responseType': values.type,
    'context.error.validationErrorString': values.message,
    'context.requestId': values.state.requestId,
    'context.extendedRequestId': values.state.extendedRequestId,
    'context.httpMethod': values.state.method,
    'context.path': `/${values.ctx.stage}${values.state.path}`,
    'context.resourcePath': values.state.resourcePath ?? '',
    'context.stage': values.ctx.stage,
    'context.identity.sourceIp': values.state.ip,
  };
  return template.replace(
    /\$\{?(context(?:\.[A-Za-z]+)+)\}?/g,
    (whole, name: string) => variables[name] ?? whole,
  );
}

function log(ctx: ServeContext, state: RequestState, status: number, responseLength: number): void {
  const entry: AccessLogEntry = {
    requestId: state.requestId,
    ip: state.ip,
    requestTime: state.receivedAt.toISOString(),
    httpMethod: state.method,
    path: state.path,
    resourcePath: state.resourcePath,
    protocol: 'HTTP/1.1',
    status,
    responseLength,
    latencyMs: elapsed(state.started),
    integrationLatencyMs: state.integrationLatencyMs,
    apiKeyId: state.apiKeyId,
    function: state.fn,
    streaming: state.streaming,
    errorType: state.errorType,
    errorMessage: state.errorMessage,
  };
  try {
    ctx.accessLog(JSON.stringify(entry), entry);
  } catch {
    // A failing logger must not take the request down with it.
  }
}

class IntegrationTimeout extends Error {
  constructor(ms: number) {
    super(`Integration timed out after ${ms} ms`);
    this.name = 'IntegrationTimeout';
  }
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[value.length - 1] : value;
}

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

function isBinary(binaryMediaTypes: readonly string[], contentType: string): boolean {
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return binaryMediaTypes.some((pattern) => {
    const p = pattern.toLowerCase();
    if (p === '*/*') return true;
    if (p.endsWith('/*')) return type.startsWith(p.slice(0, -1));
    return p === type;
  });
}

function clientIp(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? '127.0.0.1';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `09/Apr/2015:12:34:56 +0000`, API Gateway's `requestTime`. */
function requestTime(at: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${pad(at.getUTCDate())}/${MONTHS[at.getUTCMonth()]}/${at.getUTCFullYear()}:` +
    `${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())} +0000`
  );
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
