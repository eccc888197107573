/**
 * Gateway responses: what API Gateway answers itself, before or instead of the integration (missing
 * route, bad key, throttling, integration failure...), customized by the template's
 * `AWS::ApiGateway::GatewayResponse` resources (status, static headers, a body template with
 * `$context.*` variables). Without a customization, 4xx use the API's error shape
 * `{"error":{"code","message"}}` and 5xx API Gateway's `{"message"}`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LocalGatewayResponse } from '../template.ts';
import { logRequest } from './access-log.ts';
import { MAX_REQUEST_BYTES } from './limits.ts';
import { headerOf, type RequestState, type ServeContext } from './request-context.ts';

/** A gateway response type API Gateway answers with before (or instead of) the integration. */
export type GatewayResponseType =
  | 'MISSING_AUTHENTICATION_TOKEN'
  | 'INVALID_API_KEY'
  | 'UNAUTHORIZED'
  | 'ACCESS_DENIED'
  | 'AUTHORIZER_FAILURE'
  | 'AUTHORIZER_CONFIGURATION_ERROR'
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
    UNAUTHORIZED: { status: 401, code: 'unauthorized', message: 'Unauthorized' },
    ACCESS_DENIED: {
      status: 403,
      code: 'access_denied',
      message: 'User is not authorized to access this resource',
    },
    AUTHORIZER_FAILURE: { status: 500, code: 'authorizer_failure', message: 'Internal server error' },
    AUTHORIZER_CONFIGURATION_ERROR: {
      status: 500,
      code: 'authorizer_configuration_error',
      message: 'Internal server error',
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

/** Answers with a gateway response: the template's customization, else the local default. */
export function sendGateway(
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
  logRequest(ctx, state, status, payload.length);
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
    case 'ACCESS_DENIED':
      return 'ForbiddenException';
    case 'UNAUTHORIZED':
      return 'UnauthorizedException';
    case 'AUTHORIZER_FAILURE':
    case 'AUTHORIZER_CONFIGURATION_ERROR':
      return 'AuthorizerConfigurationException';
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
