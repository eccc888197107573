/**
 * STREAM Lambda proxy integrations (ResponseTransferMode STREAM): the function is invoked with response
 * streaming, the status and headers come from its HTTP prelude, and every chunk is written to the client
 * as soon as the function writes it (server-sent events arrive incrementally). A failure before the
 * prelude is 502; a failure mid-stream cuts the connection, as API Gateway has sent the status already.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { StreamedHttpResponse } from '../lambda-streaming.ts';
import { logRequest } from './access-log.ts';
import { sendGateway } from './gateway-responses.ts';
import { responseHeaders } from './proxy-result.ts';
import { describeFailure, elapsed, type RequestState, type ServeContext } from './request-context.ts';

/** Invokes the function with response streaming and relays its stream to the client. */
export async function serveStreaming(
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
    state.errorMessage = describeFailure(error);
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
    logRequest(ctx, state, response.statusCode, length);
  } catch (error) {
    // API Gateway has already sent the status and part of the body: the stream is cut.
    state.errorType = 'LambdaError';
    state.errorMessage = describeFailure(error);
    res.destroy();
    logRequest(ctx, state, response.statusCode, length);
  }
}
