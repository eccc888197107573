/**
 * One request's way through the local API, in API Gateway's order: the body limit, the route and method,
 * the caller's credentials (the key standing in for SigV4 on AWS_IAM routes; the method's Lambda
 * authorizer; the API key, from the header or from the authorizer), the usage plans, then the
 * integration (MOCK, buffered or streamed Lambda proxy).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../http-body.ts';
import { sameSecret } from './api-keys.ts';
import { runAuthorizer } from './authorizers.ts';
import { serveBuffered } from './buffered-integration.ts';
import { sendGateway } from './gateway-responses.ts';
import { MAX_REQUEST_BYTES } from './limits.ts';
import { sendMock } from './mock-integration.ts';
import { buildProxyEvent } from './proxy-event.ts';
import { headerOf, newRequestState, type ServeContext } from './request-context.ts';
import { serveStreaming } from './streaming-integration.ts';
import { checkUsage } from './usage-plans.ts';

/** Serves one request; every answer, error or not, ends with one access-log line. */
export async function handleRequest(
  ctx: ServeContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const rawUrl = req.url ?? '/';
  const queryAt = rawUrl.indexOf('?');
  const path = queryAt >= 0 ? rawUrl.slice(0, queryAt) : rawUrl;
  const query = queryAt >= 0 ? rawUrl.slice(queryAt + 1) : '';
  const state = newRequestState(req, method, path);

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

  // Locally the x-api-key header stands in for SigV4 on AWS_IAM routes.
  const headerKey = headerOf(req, 'x-api-key');
  const headerKeyValid = headerKey !== undefined && sameSecret(headerKey, ctx.apiKey);
  if (target.authorizationType === 'AWS_IAM' && !headerKeyValid) {
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
  const eventInput = { method: target, match, query, body, apiKey: undefined };
  let authorizer: Readonly<Record<string, string | number | boolean>> | undefined;
  let presented = ctx.api.apiKeySourceType === 'AUTHORIZER' ? undefined : headerKey;
  if (target.authorizationType === 'CUSTOM') {
    const outcome = await runAuthorizer(
      ctx,
      state,
      req,
      target,
      buildProxyEvent(ctx, req, state, eventInput),
    );
    if (!outcome.allowed) {
      state.errorMessage = outcome.reason;
      sendGateway(ctx, state, req, res, outcome.response);
      return;
    }
    authorizer = outcome.authorizer;
    if (ctx.api.apiKeySourceType === 'AUTHORIZER') presented = outcome.usageIdentifierKey;
  }
  const keyValid = presented !== undefined && sameSecret(presented, ctx.apiKey);
  if (target.apiKeyRequired) {
    if (!keyValid) {
      sendGateway(ctx, state, req, res, 'INVALID_API_KEY');
      return;
    }
    state.apiKeyId = ctx.apiKeyId;
    if (ctx.enforceUsagePlans) {
      const refused = checkUsage(
        {
          apiId: ctx.api.id,
          stage: ctx.stage,
          apiKeyId: ctx.apiKeyId,
          plans: ctx.plans,
          limiter: ctx.limiter,
        },
        target,
      );
      if (refused) {
        sendGateway(ctx, state, req, res, refused);
        return;
      }
    }
  }

  const event = buildProxyEvent(ctx, req, state, {
    ...eventInput,
    apiKey: keyValid && target.apiKeyRequired ? presented : undefined,
    ...(authorizer !== undefined ? { authorizer } : {}),
  });
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
