// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/api.ts';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import type { EmbeddingsGateway } from '#aws/embeddings-gateway.ts';
import { PromptRenderError, ThrottledError, ValidationError } from '#aws/errors.ts';
import type { ModelGateway, StreamChunk } from '#aws/gateway.ts';
import { apiHandler } from '#aws/http.ts';
import type { GatewayChatInput, GatewayChatResponse } from '#contracts/http/schemas.ts';
import { base64Floats } from '#core/openai/embeddings.ts';
import { makeHandler } from '#functions/api/chat.ts';
import { buildOpenApiDocument } from '#functions/api/openapi-document.ts';
import { invokeStreaming, type StreamingHandler } from '#infra/local/lambda-streaming.ts';
import { apiEvent } from '../../support/gateway-fixtures.ts';

/** `POST /v1/chat/completions` and `POST /v1/embeddings` through the chat function's HTTP edge. */
const context = {
  awsRequestId: 'ctx',
  functionName: 'chat',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

const RECEIVED_AT = Date.UTC(2026, 0, 2); // 1_767_312_000 s
const CREATED = RECEIVED_AT / 1000;

const answer: GatewayChatResponse = {
  interactionId: 'i-1',
  answer: 'Refunds take 5 days.',
  model: { id: 'nova-micro', provider: 'offline', modelId: 'us.amazon.nova-micro-v1:0' },
  prompt: null,
  usage: { inputTokens: 40, outputTokens: 6, costUsd: 0.0000023 },
  latencyMs: 3,
  stopReason: 'end_turn',
};

const event = (path: string, body: unknown): APIGatewayProxyEvent =>
  apiEvent('POST', path, { body, identity: { apiKeyId: 'k', userArn: null } });

function setup(
  options: {
    chunks?: StreamChunk[];
    chat?: () => Promise<GatewayChatResponse>;
    embeddings?: Pick<EmbeddingsGateway, 'embed'> | null;
  } = {},
) {
  const inputs: GatewayChatInput[] = [];
  const gateway: Pick<ModelGateway, 'chat' | 'chatStream'> = {
    chat: async (input) => {
      inputs.push(input);
      return (options.chat ?? (async () => answer))();
    },
    chatStream: async (input) => {
      inputs.push(input);
      return (async function* () {
        yield* options.chunks ?? [];
      })();
    },
  };
  const embeddings =
    options.embeddings === null
      ? undefined
      : (options.embeddings ?? {
          embed: vi.fn(async () => ({
            interactionId: 'i-e',
            model: 'titan-embed-text-v2',
            provider: 'offline' as const,
            vectors: [
              [0.5, 0.25],
              [1, -2],
            ],
            dimensions: 2,
            usage: { inputTokens: 3, costUsd: 0.00000006 },
            latencyMs: 1,
          })),
        });
  const handler = apiHandler(makeHandler({ gateway, ensureSeeded: async () => {}, embeddings }), {
    appKeys: { k: 'web' },
    maxRequestBytes: 100_000,
    streaming: true,
  }) as unknown as StreamingHandler;
  const call = async (path: string, body: unknown) => {
    // The request's receipt time is the completion's `created`.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(RECEIVED_AT);
    const response = await invokeStreaming(handler, event(path, body), context).finally(() =>
      vi.useRealTimers(),
    );
    let text = '';
    for await (const chunk of response.body) text += chunk.toString('utf8');
    return { status: response.statusCode, headers: response.headers, text };
  };
  return { call, inputs, embeddings };
}

const request = { model: 'nova-micro', messages: [{ role: 'user', content: 'How long do refunds take?' }] };
const STREAM: StreamChunk[] = [
  { type: 'start', interactionId: 'i-1', model: 'nova-micro' },
  { type: 'delta', text: 'Refunds ' },
  { type: 'delta', text: 'take 5 days.' },
  { type: 'done', response: answer },
];
const head = { id: 'chatcmpl-i-1', object: 'chat.completion.chunk', created: CREATED, model: 'nova-micro' };
const line = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;
const llmops = { interactionId: 'i-1', costUsd: 0.0000023, stopReason: 'end_turn', prompt: null };

describe('POST /v1/chat/completions', () => {
  it('answers a chat.completion for the translated request', async () => {
    const { call, inputs } = setup();
    const response = await call('/v1/chat/completions', { ...request, max_tokens: 100, user: 'u-1' });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/application\/json/);
    expect(JSON.parse(response.text)).toEqual({
      id: 'chatcmpl-i-1',
      object: 'chat.completion',
      created: CREATED,
      model: 'nova-micro',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Refunds take 5 days.', refusal: null },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
      usage: { prompt_tokens: 40, completion_tokens: 6, total_tokens: 46 },
      llmops,
    });
    expect(inputs[0]).toEqual({
      route: 'chat.completions',
      model: 'nova-micro',
      messages: [{ role: 'user', content: 'How long do refunds take?' }],
      maxTokens: 100,
    });
  });

  it('streams data: chunks (role, deltas, finish_reason) then [DONE], with no usage chunk by default', async () => {
    const { call } = setup({ chunks: STREAM });
    const response = await call('/v1/chat/completions', { ...request, stream: true });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(response.text).toBe(
      line({
        ...head,
        choices: [
          { index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null },
        ],
      }) +
        line({
          ...head,
          choices: [{ index: 0, delta: { content: 'Refunds ' }, finish_reason: null, logprobs: null }],
        }) +
        line({
          ...head,
          choices: [{ index: 0, delta: { content: 'take 5 days.' }, finish_reason: null, logprobs: null }],
        }) +
        line({ ...head, choices: [{ index: 0, delta: {}, finish_reason: 'stop', logprobs: null }], llmops }) +
        'data: [DONE]\n\n',
    );
  });

  it('ends with a chunk of empty choices and the usage when stream_options.include_usage is set', async () => {
    const { call } = setup({ chunks: STREAM });
    const response = await call('/v1/chat/completions', {
      ...request,
      stream: true,
      stream_options: { include_usage: true },
    });
    const events = response.text.split('\n\n').filter((e) => e !== '');
    expect(events).toHaveLength(6);
    expect(events[4]).toBe(
      `data: ${JSON.stringify({ ...head, choices: [], usage: { prompt_tokens: 40, completion_tokens: 6, total_tokens: 46 } })}`,
    );
    expect(events[5]).toBe('data: [DONE]');
    const without = await setup({ chunks: STREAM }).call('/v1/chat/completions', {
      ...request,
      stream: true,
      stream_options: { include_usage: false },
    });
    expect(without.text).not.toContain('"usage"');
  });

  it('ends a stream that fails midway with one data: {error} line and no [DONE]', async () => {
    const { call } = setup({
      chunks: [
        { type: 'start', interactionId: 'i-1', model: 'nova-micro' },
        { type: 'delta', text: 'Ref' },
        { type: 'error', error: new ThrottledError('Model throttled', 3) },
      ],
    });
    const response = await call('/v1/chat/completions', { ...request, stream: true });
    const events = response.text.split('\n\n').filter((e) => e !== '');
    expect(events).toHaveLength(3);
    expect(events[2]).toMatch(/^data: \{"error":/);
    expect(JSON.parse(events[2]?.slice('data: '.length) ?? '{}')).toEqual({
      error: {
        code: 'throttled',
        message: 'Model throttled; retry after 3 s',
        type: 'rate_limit_error',
        param: null,
        requestId: 'req',
      },
    });
    expect(response.text).not.toContain('[DONE]');
  });

  it('refuses an unsupported feature with a 400 naming it, before any stream starts', async () => {
    const { call, inputs } = setup({ chunks: STREAM });
    const response = await call('/v1/chat/completions', {
      ...request,
      stream: true,
      tools: [{ type: 'function' }],
    });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).error).toMatchObject({
      type: 'invalid_request_error',
      param: 'tools',
      code: 'validation_error',
    });
    expect(inputs).toHaveLength(0);
  });

  it("names the OpenAI field of the gateway's refusals (llmops.variables, max_tokens)", async () => {
    const { call } = setup({
      chat: async () => {
        throw new PromptRenderError('variables.question', 'is required');
      },
    });
    const response = await call('/v1/chat/completions', { ...request, llmops: { prompt: 'support' } });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).error).toMatchObject({
      code: 'prompt_render_error',
      param: 'llmops.variables.question',
      message: 'llmops.variables.question: is required',
    });
    const tokens = await setup({
      chat: async () => {
        throw new ValidationError('maxTokens', 'must be at most 10000 for nova-micro');
      },
    }).call('/v1/chat/completions', { ...request, max_tokens: 99_999 });
    expect(JSON.parse(tokens.text).error.param).toBe('max_tokens');
  });

  it('carries the llmops extension to the gateway', async () => {
    const { call, inputs } = setup();
    await call('/v1/chat/completions', {
      ...request,
      llmops: { prompt: 'support:3', variables: { question: 'Refunds?' }, rag: { k: 2 } },
    });
    expect(inputs[0]).toMatchObject({
      prompt: 'support:3',
      variables: { question: 'Refunds?' },
      rag: { k: 2 },
    });
  });

  it('leaves POST /v1/chat events as they were: the start chunk sends nothing', async () => {
    const { call } = setup({ chunks: STREAM });
    const response = await call('/v1/chat', { prompt: 'support', stream: true });
    expect(response.text).toBe(
      'event: delta\ndata: {"text":"Refunds "}\n\n' +
        'event: delta\ndata: {"text":"take 5 days."}\n\n' +
        `event: done\ndata: ${JSON.stringify(answer)}\n\n`,
    );
  });
});

describe('POST /v1/embeddings', () => {
  it('answers the vectors as numbers, after asking the embeddings gateway', async () => {
    const { call, embeddings } = setup();
    const response = await call('/v1/embeddings', {
      model: 'titan-embed-text-v2',
      input: ['refunds', 'returns'],
      dimensions: 256,
      encoding_format: 'float',
    });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.text)).toEqual({
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [0.5, 0.25] },
        { object: 'embedding', index: 1, embedding: [1, -2] },
      ],
      model: 'titan-embed-text-v2',
      usage: { prompt_tokens: 3, total_tokens: 3 },
      llmops: { interactionId: 'i-e', costUsd: 0.00000006, dimensions: 2 },
    });
    expect(embeddings?.embed).toHaveBeenCalledWith(
      { model: 'titan-embed-text-v2', input: ['refunds', 'returns'], dimensions: 256 },
      expect.objectContaining({ app: 'web' }),
      'req',
    );
  });

  it('answers base64 vectors when asked (what the official clients ask for)', async () => {
    const { call } = setup();
    const response = await call('/v1/embeddings', {
      model: 'titan-embed-text-v2',
      input: 'refunds',
      encoding_format: 'base64',
    });
    const body = JSON.parse(response.text);
    expect(body.data.map((d: { embedding: string }) => d.embedding)).toEqual([
      base64Floats([0.5, 0.25]),
      base64Floats([1, -2]),
    ]);
  });

  it('refuses a bad body with a 400 naming the field', async () => {
    const { call } = setup();
    const tokens = await call('/v1/embeddings', { model: 'titan-embed-text-v2', input: [[1, 2, 3]] });
    expect(tokens.status).toBe(400);
    expect(JSON.parse(tokens.text).error.param).toBe('input');
    const format = await call('/v1/embeddings', {
      model: 'titan-embed-text-v2',
      input: 'x',
      encoding_format: 'int8',
    });
    expect(JSON.parse(format.text).error.param).toBe('encoding_format');
    const many = await call('/v1/embeddings', { model: 'titan-embed-text-v2', input: Array(257).fill('x') });
    expect(JSON.parse(many.text).error.param).toBe('input');
  });

  it('answers 404 where the deployment serves no embeddings', async () => {
    const { call } = setup({ embeddings: null });
    const response = await call('/v1/embeddings', { model: 'titan-embed-text-v2', input: 'x' });
    expect(response.status).toBe(404);
    expect(JSON.parse(response.text).error.type).toBe('not_found_error');
  });
});

/** The value at a path of keys in a JSON document. */
function at(value: unknown, ...keys: string[]): unknown {
  return keys.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], value);
}

describe('the OpenAPI document', () => {
  it('describes the OpenAI routes, with server-sent chunks only for chat completions', () => {
    const paths = buildOpenApiDocument('test').paths;
    const completions = at(paths, '/v1/chat/completions', 'post');
    expect(at(completions, 'operationId')).toBe('createChatCompletion');
    expect(
      at(completions, 'responses', '200', 'content', 'text/event-stream', 'schema', 'description'),
    ).toMatch(/\[DONE\]/);
    expect(
      at(completions, 'requestBody', 'content', 'application/json', 'schema', 'properties', 'llmops'),
    ).toBeDefined();
    const embeddings = at(paths, '/v1/embeddings', 'post');
    expect(at(embeddings, 'operationId')).toBe('createEmbeddings');
    expect(at(embeddings, 'responses', '200', 'content', 'text/event-stream')).toBeUndefined();
    expect(
      at(
        paths,
        '/v1/models',
        'get',
        'responses',
        '200',
        'content',
        'application/json',
        'schema',
        'properties',
        'object',
      ),
    ).toEqual({ type: 'string', enum: ['list'] });
  });
});
