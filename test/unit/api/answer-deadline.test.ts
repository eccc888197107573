// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/api.ts';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { AnswerDeadlineError, ModelGateway, type StreamChunk } from '#aws/gateway.ts';
import { apiHandler } from '#aws/http.ts';
import type { ChatRequest, ModelProvider } from '#core/models/types.ts';
import type { InteractionRecordedDetail } from '#events/interaction-recorded.ts';
import { makeHandler } from '#functions/api/chat.ts';
import { invokeStreaming, type StreamingHandler } from '#infra/local/lambda-streaming.ts';
import { FULL_ACCESS } from '../../support/app-access.ts';
import { collect } from '../../support/async.ts';
import { apiEvent, appCaller, catalogModel, promptVersion } from '../../support/gateway-fixtures.ts';

/** The deadline of one answer (CHAT_TIMEOUT_MS): a stream that outlives it ends with a clear error event. */
const DEADLINE_MS = 80;

// Unrestricted: these tests are not about per-app access.
const caller = appCaller('web');

const chatModel = catalogModel('mid');

const prompt = promptVersion(
  'support',
  {
    messages: [{ role: 'user', content: '{{question}}' }],
    variables: { question: { type: 'string' } },
    commitMessage: 'first',
  },
  { labels: [] },
);

const body = { prompt: 'support', variables: { question: 'Tell me everything.' } };

/** A model that starts answering, then stalls forever and ignores its abort signal. */
function stallingProvider(signals: AbortSignal[]): ModelProvider {
  const never = new Promise<never>(() => {});
  return {
    name: 'bedrock',
    chat: async (request: ChatRequest) => {
      if (request.signal) signals.push(request.signal);
      return never;
    },
    async *chatStream(request: ChatRequest) {
      if (request.signal) signals.push(request.signal);
      yield { type: 'delta' as const, text: 'Once upon a time' };
      await never;
    },
    embed: async () => never,
  };
}

function gatewayWith(provider: ModelProvider) {
  const records: InteractionRecordedDetail[] = [];
  const gateway = new ModelGateway({
    prompts: { get: async () => prompt },
    catalog: { get: async () => chatModel, list: async () => [chatModel] },
    providerFor: () => provider,
    recorder: {
      record: async (detail) => {
        records.push(detail);
      },
    },
    sampleRate: 0,
    timeoutMs: DEADLINE_MS,
  });
  return { gateway, records };
}

/** Fails the test (rather than hanging it) when `promise` outlives the deadline by far. */
function within<T>(promise: Promise<T>, ms = 2_000): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms),
    ),
  ]);
}

describe('answer deadline (CHAT_TIMEOUT_MS)', () => {
  it('ends a stream that outlives its deadline with an AnswerDeadlineError, even if the model ignores its signal', async () => {
    const signals: AbortSignal[] = [];
    const { gateway, records } = gatewayWith(stallingProvider(signals));
    const started = Date.now();
    const chunks = await within(collect(await gateway.chatStream({ ...body, stream: true }, caller, 'r')));
    expect(Date.now() - started).toBeGreaterThanOrEqual(DEADLINE_MS - 5);
    expect(chunks.map((c) => c.type)).toEqual(['start', 'delta', 'error']);
    const error = chunks[2]?.type === 'error' ? chunks[2].error : undefined;
    expect(error).toBeInstanceOf(AnswerDeadlineError);
    expect((error as AnswerDeadlineError).deadlineMs).toBe(DEADLINE_MS);
    // The model call was told to stop, and the failure is recorded under its own error code.
    expect(signals[0]?.aborted).toBe(true);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ stream: true, errorCode: 'AnswerDeadlineError' });
  });

  it('fails a buffered answer past its deadline the same way', async () => {
    const { gateway, records } = gatewayWith(stallingProvider([]));
    await expect(within(gateway.chat(body, caller, 'r'))).rejects.toBeInstanceOf(AnswerDeadlineError);
    expect(records[0]).toMatchObject({ stream: false, errorCode: 'AnswerDeadlineError' });
  });

  it('the chat handler ends the stream with an error event that says the deadline passed', async () => {
    const { gateway } = gatewayWith(stallingProvider([]));
    const handler = apiHandler(makeHandler({ gateway, ensureSeeded: async () => {} }), {
      appKeys: { k: 'web' },
      appAccess: { web: FULL_ACCESS },
      maxRequestBytes: 10_000,
      streaming: true,
    }) as unknown as StreamingHandler;
    const response = await invokeStreaming(handler, chatEvent({ ...body, stream: true }), context);
    expect(response.statusCode).toBe(200);
    let text = '';
    for await (const chunk of response.body) text += chunk.toString('utf8');
    const events = text.trim().split('\n\n');
    expect(events[0]).toBe('event: delta\ndata: {"text":"Once upon a time"}');
    expect(events).toHaveLength(2);
    expect(events[1]).toMatch(/^event: error\ndata: /);
    const data = JSON.parse(events[1]?.split('data: ')[1] ?? '{}');
    expect(data).toEqual({
      status: 504,
      error: {
        code: 'answer_deadline_exceeded',
        message: expect.stringMatching(/longer than the 0\.1 s this API allows for one answer/),
        type: 'api_error',
        param: null,
        requestId: 'req',
      },
    });
  });

  it('a buffered answer past its deadline is a 504 answer_deadline_exceeded', async () => {
    const { gateway } = gatewayWith(stallingProvider([]));
    const handler = apiHandler(makeHandler({ gateway, ensureSeeded: async () => {} }), {
      appKeys: { k: 'web' },
      appAccess: { web: FULL_ACCESS },
      maxRequestBytes: 10_000,
      streaming: true,
    }) as unknown as StreamingHandler;
    const response = await within(invokeStreaming(handler, chatEvent(body), context));
    expect(response.statusCode).toBe(504);
    let text = '';
    for await (const chunk of response.body) text += chunk.toString('utf8');
    expect(JSON.parse(text).error.code).toBe('answer_deadline_exceeded');
  });

  it('names the configured deadline in seconds', async () => {
    const { gateway } = gatewayWith(stallingProvider([]));
    const chunks: StreamChunk[] = [{ type: 'error', error: new AnswerDeadlineError(60_000) }];
    const handler = apiHandler(
      makeHandler({
        gateway: {
          chat: gateway.chat.bind(gateway),
          chatStream: async () =>
            (async function* () {
              yield* chunks;
            })(),
        },
        ensureSeeded: async () => {},
      }),
      { appKeys: { k: 'web' }, appAccess: { web: FULL_ACCESS }, maxRequestBytes: 10_000, streaming: true },
    ) as unknown as StreamingHandler;
    const response = await invokeStreaming(handler, chatEvent({ ...body, stream: true }), context);
    let text = '';
    for await (const chunk of response.body) text += chunk.toString('utf8');
    expect(text).toContain('"code":"answer_deadline_exceeded"');
    expect(text).toContain('longer than the 60 s this API allows');
  });
});

const context = {
  awsRequestId: 'ctx',
  functionName: 'chat',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

const chatEvent = (payload: unknown): APIGatewayProxyEvent =>
  apiEvent('POST', '/v1/chat', { body: payload, identity: { apiKeyId: 'k', userArn: null } });
