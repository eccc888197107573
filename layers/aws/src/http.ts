import type { Readable } from 'node:stream';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import type { ApiCaller } from '#contracts/http/caller.ts';
import {
  ConflictError,
  ContextWindowExceededError,
  ForbiddenError,
  LlmOpsError,
  ModelProviderError,
  NoModelAvailableError,
  NotFoundError,
  PayloadTooLargeError,
  PromptRenderError,
  ThrottledError,
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

function callerOf(event: APIGatewayProxyEvent, appKeys: Readonly<Record<string, string>>): ApiCaller {
  const identity = event.requestContext?.identity;
  const apiKeyId = identity?.apiKeyId ?? null;
  const principal = identity?.userArn ?? null;
  const app =
    (apiKeyId !== null ? appKeys[apiKeyId] : undefined) ?? (principal !== null ? 'admin' : 'unknown');
  const tenantHeader = headerValue(event, 'x-tenant-id');
  if (tenantHeader !== undefined && !TENANT.test(tenantHeader)) {
    throw new ValidationError('headers.x-tenant-id', 'must be 1-128 letters, digits, ".", "_", ":" or "-"');
  }
  return {
    app,
    tenant: tenantHeader ?? null,
    apiKeyId,
    principal,
    author: principal ?? `app:${app}`,
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

/** Status and code of each error class: the one place errors become HTTP. */
export function errorResponse(error: unknown, requestId: string): ApiResponse {
  const body = (status: number, code: string, message: string, extra: Record<string, string> = {}) =>
    json(status, { error: { code, message, ...extra, requestId } });
  if (error instanceof ValidationError) {
    const status = error instanceof PayloadTooLargeError ? 413 : 400;
    const code =
      error instanceof PromptRenderError
        ? 'prompt_render_error'
        : error instanceof ContextWindowExceededError
          ? 'context_window_exceeded'
          : error instanceof PayloadTooLargeError
            ? 'payload_too_large'
            : 'validation_error';
    return body(status, code, error.message, { field: error.field, rule: error.rule });
  }
  if (error instanceof NotFoundError) return body(404, 'not_found', error.message);
  if (error instanceof ConflictError) return body(409, 'conflict', error.message);
  if (error instanceof ForbiddenError) return body(403, 'forbidden', error.message);
  if (error instanceof NoModelAvailableError) return body(422, 'no_model_available', error.message);
  if (error instanceof ThrottledError) {
    const response = body(429, 'throttled', `${error.message}; retry after ${error.retryAfterSeconds} s`);
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
      if (response.statusCode >= 500) {
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
    const caller = callerOf(event, options.appKeys);
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
