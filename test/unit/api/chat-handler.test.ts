// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/api.ts';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { ThrottledError } from '#aws/errors.ts';
import type { ModelGateway, StreamChunk } from '#aws/gateway.ts';
import { apiHandler } from '#aws/http.ts';
import type { ChatResponseBody } from '#contracts/http/schemas.ts';
import { makeHandler } from '#functions/api/chat.ts';
import { invokeStreaming, type StreamingHandler } from '#infra/local/lambda-streaming.ts';
import { apiEvent } from '../../support/gateway-fixtures.ts';

/** The chat handler as Lambda response streaming runs it: the HTTP prelude, then a JSON body or events. */
const context = {
  awsRequestId: 'ctx',
  functionName: 'chat',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

const answer: ChatResponseBody = {
  interactionId: 'i-1',
  answer: 'Refunds take 5 days.',
  model: { id: 'nova-micro', provider: 'offline', modelId: 'us.amazon.nova-micro-v1:0' },
  prompt: { name: 'support', version: 2 },
  usage: { inputTokens: 40, outputTokens: 6, costUsd: 0.0000023 },
  latencyMs: 3,
  stopReason: 'end_turn',
};

const chatEvent = (body: unknown): APIGatewayProxyEvent =>
  apiEvent('POST', '/v1/chat', { body, identity: { apiKeyId: 'k', userArn: null } });

function handlerWith(chunks: StreamChunk[]) {
  const gateway: Pick<ModelGateway, 'chat' | 'chatStream'> = {
    chat: async () => answer,
    chatStream: async () =>
      (async function* () {
        yield* chunks;
      })(),
  };
  return apiHandler(makeHandler({ gateway, ensureSeeded: async () => {} }), {
    appKeys: { k: 'web' },
    maxRequestBytes: 10_000,
    streaming: true,
  }) as unknown as StreamingHandler;
}

async function read(body: AsyncIterable<Buffer>): Promise<string> {
  let text = '';
  for await (const chunk of body) text += chunk.toString('utf8');
  return text;
}

describe('chat handler (response streaming)', () => {
  it('answers one JSON body when the caller does not ask for a stream', async () => {
    const response = await invokeStreaming(handlerWith([]), chatEvent({ prompt: 'support' }), context);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/application\/json/);
    expect(JSON.parse(await read(response.body))).toEqual(answer);
  });

  it('streams server-sent events: deltas, then done with the whole response', async () => {
    const response = await invokeStreaming(
      handlerWith([
        { type: 'delta', text: 'Refunds ' },
        { type: 'delta', text: 'take 5 days.' },
        { type: 'done', response: answer },
      ]),
      chatEvent({ prompt: 'support', stream: true }),
      context,
    );
    expect(response.headers['content-type']).toMatch(/text\/event-stream/);
    const text = await read(response.body);
    expect(text).toBe(
      'event: delta\ndata: {"text":"Refunds "}\n\n' +
        'event: delta\ndata: {"text":"take 5 days."}\n\n' +
        `event: done\ndata: ${JSON.stringify(answer)}\n\n`,
    );
  });

  it('ends a failed stream with an error event carrying the status and Retry-After reason', async () => {
    const response = await invokeStreaming(
      handlerWith([
        { type: 'delta', text: 'Ref' },
        { type: 'error', error: new ThrottledError('Model throttled', 3) },
      ]),
      chatEvent({ prompt: 'support', stream: true }),
      context,
    );
    const events = (await read(response.body)).trim().split('\n\n');
    expect(events).toHaveLength(2);
    const error = JSON.parse(events[1]?.split('data: ')[1] ?? '{}');
    expect(events[1]).toMatch(/^event: error/);
    expect(error).toMatchObject({ status: 429, error: { code: 'throttled' } });
  });

  it('refuses a bad body with a 400 that names the field, before any stream starts', async () => {
    const response = await invokeStreaming(
      handlerWith([]),
      chatEvent({ prompt: 'support', stream: 'yes' }),
      context,
    );
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(await read(response.body)).error).toMatchObject({ field: 'stream' });
  });
});
