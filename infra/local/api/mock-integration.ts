/**
 * MOCK integrations (CORS preflight): the static integration response chosen by the request template's
 * `statusCode`, its literal header values and its body template. VTL is not evaluated locally: a body
 * template that uses it answers with an empty body.
 */
import type { ServerResponse } from 'node:http';
import type { LocalApiMethod } from '../template.ts';
import { logRequest } from './access-log.ts';
import type { RequestState, ServeContext } from './request-context.ts';

/** Answers a MOCK method from its integration response. */
export function sendMock(
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
  const body = typeof bodyTemplate === 'string' && !/[#$]/.test(bodyTemplate) ? bodyTemplate : '';
  const out = Buffer.from(httpMethod === 'HEAD' ? '' : body, 'utf8');
  res.writeHead(status, {
    ...headers,
    'Content-Length': String(out.length),
    'x-amzn-RequestId': state.requestId,
    'x-amz-apigw-id': state.extendedRequestId,
  });
  res.end(out);
  logRequest(ctx, state, status, out.length);
}
