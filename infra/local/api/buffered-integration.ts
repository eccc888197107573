/**
 * BUFFERED Lambda proxy integrations: the function is invoked, its whole result validated and sent.
 * A function error or a malformed result is 502; past the integration timeout (29 s by default), 504.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { logRequest } from './access-log.ts';
import { sendGateway } from './gateway-responses.ts';
import { parseProxyResult, responseHeaders } from './proxy-result.ts';
import { describeFailure, elapsed, type RequestState, type ServeContext } from './request-context.ts';

/** The integration did not answer within its timeout. */
class IntegrationTimeout extends Error {
  constructor(ms: number) {
    super(`Integration timed out after ${ms} ms`);
    this.name = 'IntegrationTimeout';
  }
}

/** Invokes the function with `event` and answers with its proxy result (or the gateway's error). */
export async function serveBuffered(
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
      state.errorMessage = describeFailure(error);
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
  logRequest(ctx, state, parsed.statusCode, parsed.body.length);
}
