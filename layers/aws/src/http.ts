import type { Readable } from 'node:stream';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { type AppAccess, DENY_ALL } from '#contracts/http/access.ts';
import type { ApiCaller } from '#contracts/http/caller.ts';
import { AccessPolicy } from '#core/access/policy.ts';
import {
  ConflictError,
  ContentBlockedError,
  ContextWindowExceededError,
  ForbiddenError,
  GateRefusedError,
  LlmOpsError,
  ModelCapacityError,
  ModelProviderError,
  NoModelAvailableError,
  NotFoundError,
  PayloadTooLargeError,
  PromptRenderError,
  ThrottledError,
  TokenBudgetExceededError,
  ValidationError,
} from './errors.ts';
import { logger, metrics } from './logging.ts';

/**
 * The HTTP edge of every API function: API Gateway (REST, Lambda proxy) events in, JSON or streamed
 * responses out. It parses and bounds the body, works out who is calling, and maps errors to responses in
 * exactly one place: a 4xx names the field and the rule; a 5xx never shows internals, only a reference.
 * Logging and EMF metrics come from the shared Powertools instances; the X-Ray SDK is left out of API
 * bundles on purpose (Lambda active tracing and API Gateway tracing still record every request).
 */

// English messages only: `z.locales` would bundle every language.
z.config(en());

export interface ApiRequest {
  readonly event: APIGatewayProxyEvent;
  readonly requestId: string;
  readonly caller: ApiCaller;
  readonly path: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string>>;
  /** The JSON body, parsed; `undefined` when there is none. */
  readonly body: unknown;
  /** Epoch milliseconds when the function received the request. */
  readonly receivedAt: number;
}

export interface ApiResponse {
  readonly statusCode: number;
  readonly headers?: Record<string, string>;
  /** A string, or (streaming functions only) a Readable that is piped to the caller as it is produced. */
  readonly body: string | Readable;
}

export interface ApiHandlerOptions {
  /** API key id → app name (the `APP_KEYS` variable). */
  readonly appKeys: Readonly<Record<string, string>>;
  /**
   * App name → what it may use (the `APP_ACCESS` variable, see `parseAppAccess`). An app that is not in
   * it may use nothing; only an IAM principal without an app key is unrestricted.
   *
   * @default {} - no app may use anything (fail closed)
   */
  readonly appAccess?: Readonly<Record<string, AppAccess>>;
  /** Largest accepted body, in bytes. */
  readonly maxRequestBytes: number;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): ApiResponse {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** Parses `APP_KEYS`: a JSON object of API key id → app name. */
export function parseAppKeys(value: string | undefined): Record<string, string> {
  if (value === undefined || value === '') return {};
  const parsed = z.record(z.string(), z.string()).safeParse(JSON.parse(value));
  if (!parsed.success) throw new Error('APP_KEYS must be a JSON object of API key id to app name');
  return parsed.data;
}

const TENANT = /^[A-Za-z0-9._:-]{1,128}$/;

function callerOf(
  event: APIGatewayProxyEvent,
  { appKeys, appAccess = {} }: Pick<ApiHandlerOptions, 'appKeys' | 'appAccess'>,
): ApiCaller {
  const identity = event.requestContext?.identity;
  const apiKeyId = identity?.apiKeyId ?? null;
  const principal = identity?.userArn ?? null;
  const keyedApp = apiKeyId !== null && Object.hasOwn(appKeys, apiKeyId) ? appKeys[apiKeyId] : undefined;
  const app = keyedApp ?? (principal !== null ? 'admin' : 'unknown');
  // Only an IAM principal without an app key is an administrator; an app is held to its own access, and
  // a key of no configured app (or no key at all) to nothing.
  const access =
    keyedApp === undefined
      ? principal !== null
        ? null
        : DENY_ALL
      : Object.hasOwn(appAccess, keyedApp)
        ? (appAccess[keyedApp] ?? DENY_ALL)
        : DENY_ALL;
  const tenantHeader = headerValue(event, 'x-tenant-id');
  if (tenantHeader !== undefined && !TENANT.test(tenantHeader)) {
    throw new ValidationError('headers.x-tenant-id', 'must be 1-128 letters, digits, ".", "_", ":" or "-"');
  }
  const tenant = tenantHeader ?? null;
  AccessPolicy.forCaller({ app, access }).assertTenant(tenant);
  return {
    app,
    tenant,
    apiKeyId,
    principal,
    author: principal ?? `app:${app}`,
    access,
  };
}

function headerValue(event: APIGatewayProxyEvent, name: string): string | undefined {
  const headers = event.headers ?? {};
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && value !== undefined) return value;
  }
  return undefined;
}

function readBody(event: APIGatewayProxyEvent, maxBytes: number): unknown {
  if (event.body === null || event.body === undefined || event.body === '') return undefined;
  const raw = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  const bytes = Buffer.byteLength(raw, 'utf8');
  if (bytes > maxBytes) {
    throw new PayloadTooLargeError('body', `must be at most ${maxBytes} bytes (got ${bytes})`);
  }
  try {
    return JSON.parse(raw);
  } catch {
    throw new ValidationError('body', 'must be valid JSON');
  }
}

/**
 * Parses a value with a schema; the first failing issue becomes a ValidationError naming the field as a
 * dotted path under `root` (`''` for body fields: `messages.0.role`), or `root`/`body` for the value itself.
 */
export function parseWith<S extends z.ZodMiniType>(schema: S, value: unknown, root: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data as z.infer<S>;
  const issue = result.error.issues[0];
  const path = (issue?.path ?? []).map(String);
  const field = path.length > 0 ? [root, ...path].filter((p) => p !== '').join('.') : root || 'body';
  throw new ValidationError(field, issue?.message ?? 'is invalid');
}

/**
 * OpenAI's error category (`error.type`) of a status, which its client libraries read; a spent token
 * budget is OpenAI's `insufficient_quota`.
 */
export function errorType(status: number, code: string): string {
  if (code === 'token_budget_exceeded') return 'insufficient_quota';
  if (status >= 500) return 'api_error';
  const types: Record<number, string> = {
    401: 'authentication_error',
    403: 'permission_error',
    404: 'not_found_error',
    409: 'conflict_error',
    429: 'rate_limit_error',
  };
  return types[status] ?? 'invalid_request_error';
}

/**
 * An error response: `{error: {code, message, type, param, ...extra, requestId}}`, a superset of OpenAI's
 * error object (`param` is the failing field, from `extra.field`, else null; a refused promotion adds
 * `evaluation`).
 */
export function errorJson(
  status: number,
  code: string,
  message: string,
  requestId: string,
  extra: Record<string, unknown> = {},
): ApiResponse {
  const type = errorType(status, code);
  const param = typeof extra.field === 'string' ? extra.field : null;
  return json(status, { error: { code, message, type, param, ...extra, requestId } });
}

/** Status and code of each error class: the one place errors become HTTP. */
export function errorResponse(error: unknown, requestId: string): ApiResponse {
  const body = (status: number, code: string, message: string, extra: Record<string, unknown> = {}) =>
    errorJson(status, code, message, requestId, extra);
  if (error instanceof ValidationError) {
    const status = error instanceof PayloadTooLargeError ? 413 : 400;
    const code =
      error instanceof PromptRenderError
        ? 'prompt_render_error'
        : error instanceof ContextWindowExceededError
          ? 'context_window_exceeded'
          : error instanceof PayloadTooLargeError
            ? 'payload_too_large'
            : error instanceof ContentBlockedError
              ? 'content_blocked'
              : 'validation_error';
    return body(status, code, error.message, { field: error.field, rule: error.rule });
  }
  if (error instanceof NotFoundError) return body(404, 'not_found', error.message);
  // A refused promotion says which evaluation refused it (`error.evaluation`), so a client can follow it.
  if (error instanceof GateRefusedError) {
    return body(409, error.code, error.message, { evaluation: error.details });
  }
  if (error instanceof ConflictError) return body(409, 'conflict', error.message);
  if (error instanceof ForbiddenError) return body(403, 'forbidden', error.message);
  if (error instanceof NoModelAvailableError) return body(422, 'no_model_available', error.message);
  if (error instanceof ThrottledError) {
    const response = body(429, 'throttled', `${error.message}; retry after ${error.retryAfterSeconds} s`);
    return { ...response, headers: { ...response.headers, 'retry-after': String(error.retryAfterSeconds) } };
  }
  if (error instanceof TokenBudgetExceededError) {
    const response = body(429, 'token_budget_exceeded', error.message);
    return { ...response, headers: { ...response.headers, 'retry-after': String(error.retryAfterSeconds) } };
  }
  // A model scaling out from zero: expected, said plainly, retried by the caller after `Retry-After`.
  if (error instanceof ModelCapacityError) {
    const response = body(503, 'model_capacity_unavailable', error.message, { model: error.modelId });
    return { ...response, headers: { ...response.headers, 'retry-after': String(error.retryAfterSeconds) } };
  }
  if (error instanceof ModelProviderError) {
    return error.timedOut
      ? body(504, 'model_timeout', 'The model did not answer in time; try again later')
      : body(502, 'model_error', 'The model provider failed to answer; try again later');
  }
  if (error instanceof LlmOpsError && error.expose) return body(400, 'bad_request', error.message);
  return body(500, 'internal_error', 'Internal error; quote the requestId when reporting it');
}

function httpErrors(): MiddlewareObj<APIGatewayProxyEvent, ApiResponse> {
  return {
    onError: async (request) => {
      const error = request.error;
      const requestId = request.event?.requestContext?.requestId ?? request.context.awsRequestId ?? '';
      const response = errorResponse(error, requestId);
      if (error instanceof ModelCapacityError) {
        // Not a fault of ours: counted apart from ServerErrors, so that it never pages.
        logger.warn('Model has no capacity', { model: error.modelId, retryAfter: error.retryAfterSeconds });
        metrics.addMetric('ModelCapacityUnavailable', 'Count', 1);
      } else if (response.statusCode >= 500) {
        logger.error('Request failed', { error, status: response.statusCode });
        metrics.addMetric('ServerErrors', 'Count', 1);
      } else {
        logger.info('Request refused', { errorName: error?.name, reason: error?.message });
        metrics.addMetric('ClientErrors', 'Count', 1);
      }
      request.response = response;
      request.error = undefined;
    },
  };
}

/**
 * Wraps an API route handler with the project's HTTP edge. `streaming: true` builds a Lambda
 * response-streaming handler (API Gateway's STREAM transfer mode), whose body may be a Readable.
 */
export function apiHandler(
  route: (request: ApiRequest, context: Context) => Promise<ApiResponse>,
  options: ApiHandlerOptions & { readonly streaming?: boolean },
) {
  const core = async (event: APIGatewayProxyEvent, context: Context): Promise<ApiResponse> => {
    const receivedAt = Date.now();
    const requestId = event.requestContext?.requestId ?? context.awsRequestId;
    const caller = callerOf(event, options);
    logger.appendKeys({ requestId, app: caller.app });
    metrics.addMetric('ApiRequests', 'Count', 1);
    const request: ApiRequest = {
      event,
      requestId,
      caller,
      path: clean(event.pathParameters),
      query: clean(event.queryStringParameters),
      body: readBody(event, options.maxRequestBytes),
      receivedAt,
    };
    return route(request, context);
  };
  const base = options.streaming
    ? middy(core, { executionMode: executionModeStreamifyResponse })
    : middy(core);
  return base
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }))
    .use(httpErrors());
}

function clean(values: Record<string, string | undefined> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(values ?? {})) if (value !== undefined) out[key] = value;
  return out;
}
