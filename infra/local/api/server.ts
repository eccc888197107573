/**
 * The template's REST API served on 127.0.0.1 with `node:http`, in front of the same handler modules Lambda
 * runs: this module starts and stops the server; the request's way through it is `handle-request.ts`.
 * What it does like API Gateway:
 * - routes `METHOD /path` by the template's resource tree (literal segments before `{param}`, `{proxy+}`
 *   last; `ANY` methods), serving at the root (no `/<stage>` prefix); an unknown resource or method answers
 *   403 MISSING_AUTHENTICATION_TOKEN, as API Gateway does (`router.ts`);
 * - `ApiKeyRequired` methods need `x-api-key` (403 INVALID_API_KEY); usage plan throttles (token bucket
 *   of RateLimit/BurstLimit, per-method overrides) and quotas answer 429 THROTTLED / QUOTA_EXCEEDED
 *   (`api-keys.ts`, `usage-plans.ts`);
 * - `AWS_IAM` methods: there is no SigV4 locally, so the same API key stands in for the signature (403
 *   MISSING_AUTHENTICATION_TOKEN without it, like an unsigned request) and the function sees the identity of
 *   a fixed local IAM user, `arn:aws:iam::000000000000:user/local-admin`;
 * - request bodies over 10 MB answer 413 REQUEST_TOO_LARGE (`limits.ts`);
 * - Lambda proxy integrations get the REST API proxy event (payload format 1.0) with the request context of
 *   a real request (request id, identity, resource path, stage, times); binary media types arrive base64
 *   (`proxy-event.ts`);
 * - BUFFERED integrations: the result must be `{ statusCode, headers, multiValueHeaders, body,
 *   isBase64Encoded }` and nothing else, else 502 (Malformed Lambda proxy response); a function error is
 *   502 `{"message": "Internal server error"}`; past the integration timeout (29 s by default), 504
 *   (`buffered-integration.ts`, `proxy-result.ts`);
 * - STREAM integrations (ResponseTransferMode STREAM): the function is invoked with response streaming, the
 *   status and headers come from its HTTP prelude and every chunk is written to the client as soon as the
 *   function writes it (server-sent events arrive incrementally); a failure before the prelude is 502, a
 *   failure mid-stream cuts the connection (`streaming-integration.ts`);
 * - MOCK integrations (CORS preflight) answer their static integration response (`mock-integration.ts`);
 * - `AWS::ApiGateway::GatewayResponse` resources of the template customize the error responses (status,
 *   static headers, body template with `$context.*` variables) (`gateway-responses.ts`).
 * Local defaults for gateway errors without a customization use the API's error shape
 * `{"error":{"code","message"}}` for 4xx and API Gateway's `{"message"}` for 5xx.
 *
 * Not emulated: request validation against the template's Models and RequestValidators (the handlers
 * validate every body with the same schemas the models are generated from, and answer the same 400 naming
 * the field), VTL mapping templates of non-proxy integrations (such methods are refused at start), Lambda
 * and Cognito authorizers (refused at start), response compression, caching, stage variables beyond what
 * the template declares, canaries, WAF, mutual TLS and custom domains.
 */

import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { LocalApiKey, LocalApiMethod, LocalRestApi, LocalTemplate } from '../template.ts';
import type { AccessLogEntry } from './access-log.ts';
import { selectKey } from './api-keys.ts';
import { checkSupported, selectApi } from './api-selection.ts';
import { LocalApiError } from './errors.ts';
import { handleRequest } from './handle-request.ts';
import type { ApiFunctionInvoker, ServeContext } from './request-context.ts';
import { ApiRouter } from './router.ts';
import { UsageLimiter } from './usage-plans.ts';

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

  /** Starts serving the template's REST API. Rejects with {@link LocalApiError} when it cannot. */
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

    const methods = new Map<string, LocalApiMethod>();
    for (const method of api.methods) methods.set(`${method.path} ${method.httpMethod}`, method);
    const context: ServeContext = {
      api,
      stage,
      stageVariables,
      apiKey,
      apiKeyId,
      router: new ApiRouter(api.resources.map((r) => r.path)),
      methods,
      plans: keyPlans,
      limiter: new UsageLimiter(),
      enforceUsagePlans: options.enforceUsagePlans ?? true,
      lambdas: options.lambdas,
      accessLog:
        options.accessLog ??
        ((line: string) => {
          process.stderr.write(`${line}\n`);
        }),
      account: options.template.account,
      region: options.template.region,
    };
    const server = createServer((req, res) => {
      handleRequest(context, req, res).catch((error: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ message: 'Internal server error' }));
        } else {
          res.destroy(error instanceof Error ? error : undefined);
        }
      });
    });
    // A kept-alive socket closed by the server while a request is already on its way is reset on the
    // client: Node's 5 s default fires whenever the event loop stalls that long (a busy machine, a full
    // GC). API Gateway keeps idle connections far longer; so does the local API.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
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
