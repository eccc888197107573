import { describe, expect, it } from 'vitest';
import { ContextWindowExceededError, PromptRenderError, ValidationError } from '#aws/errors.ts';
import { parseWith } from '#aws/http.ts';
import {
  type ChatCompletionRequest,
  chatCompletion,
  chatCompletionChunk,
  chatCompletionRequest,
  embeddingsResponse,
} from '#contracts/http/openai.ts';
import { type GatewayChatResponse, modelList } from '#contracts/http/schemas.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import {
  contentChunk,
  finishChunk,
  finishReasonOf,
  inOpenAiTerms,
  openAiField,
  roleChunk,
  toChatCompletion,
  toGatewayChat,
  usageChunk,
} from '#core/openai/chat.ts';
import { base64Floats, toEmbeddingsResponse } from '#core/openai/embeddings.ts';
import { toModelEntry, toModelList } from '#core/openai/models.ts';

/** A request as the handler has it: parsed with the route's schema. */
const parse = (body: unknown): ChatCompletionRequest => parseWith(chatCompletionRequest, body, '');
const translate = (body: unknown) => toGatewayChat(parse(body));

/** The ValidationError a body is refused with (by the schema or the translation). */
function refusal(body: unknown): ValidationError {
  try {
    translate(body);
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError');
}

const base = { model: 'nova-micro', messages: [{ role: 'user', content: 'Hello' }] };

describe('toGatewayChat: an OpenAI chat completion request as the gateway input', () => {
  it('makes system and developer messages system turns and keeps the conversation in order', () => {
    const input = translate({
      model: 'nova-micro',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: 'Answer in English.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello!' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Refunds?' },
            { type: 'text', text: 'Quickly.' },
          ],
        },
      ],
    });
    expect(input).toEqual({
      route: 'chat.completions',
      model: 'nova-micro',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'system', content: 'Answer in English.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello!' },
        { role: 'user', content: 'Refunds?\nQuickly.' },
      ],
    });
  });

  it('carries sampling options, stop sequences and the llmops extension', () => {
    const input = translate({
      ...base,
      stream: true,
      max_tokens: 50,
      max_completion_tokens: 80,
      temperature: 0.2,
      top_p: 0.9,
      stop: 'END',
      llmops: {
        prompt: 'support@staging',
        variables: { question: 'Refunds?' },
        rag: { k: 3, query: 'refund policy' },
      },
    });
    expect(input).toMatchObject({
      stream: true,
      maxTokens: 80,
      temperature: 0.2,
      topP: 0.9,
      stop: ['END'],
      prompt: 'support@staging',
      variables: { question: 'Refunds?' },
      rag: { k: 3, query: 'refund policy' },
    });
    expect(translate({ ...base, max_tokens: 50, stop: ['a', 'b'] })).toMatchObject({
      maxTokens: 50,
      stop: ['a', 'b'],
    });
  });

  it('ignores harmless fields it does not know, and nulls', () => {
    const input = translate({
      ...base,
      user: 'user-42',
      seed: 7,
      presence_penalty: 0,
      metadata: { a: 'b' },
      store: false,
      n: 1,
      logprobs: false,
      response_format: { type: 'text' },
      tools: [],
      tool_choice: 'none',
      modalities: ['text'],
      max_tokens: null,
      temperature: null,
      stop: null,
      stream_options: null,
    });
    expect(input).toEqual({ route: 'chat.completions', model: 'nova-micro', messages: base.messages });
  });

  it.each([
    ['n', { n: 2 }],
    ['logprobs', { logprobs: true }],
    ['top_logprobs', { top_logprobs: 3 }],
    ['response_format.type', { response_format: { type: 'json_object' } }],
    ['tools', { tools: [{ type: 'function', function: { name: 'f' } }] }],
    ['tool_choice', { tool_choice: 'required' }],
    ['functions', { functions: [{ name: 'f' }] }],
    ['function_call', { function_call: { name: 'f' } }],
    ['modalities', { modalities: ['text', 'audio'] }],
    ['audio', { audio: { voice: 'alloy', format: 'mp3' } }],
    ['prediction', { prediction: { type: 'content', content: 'x' } }],
  ])('refuses %s, which would change what the answer means', (field, extra) => {
    const error = refusal({ ...base, ...extra });
    expect(error.field).toBe(field);
    expect(error.message).toMatch(new RegExp(`^${field.replace('.', '\\.')}: `));
  });

  it.each([
    [
      'messages.1.role',
      [
        { role: 'user', content: 'Hi' },
        { role: 'tool', content: 'x', tool_call_id: 't' },
      ],
    ],
    [
      'messages.0.tool_calls',
      [{ role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function' }] }, base.messages[0]],
    ],
    ['messages.0.content', [{ role: 'user' }]],
    ['messages.0.content', [{ role: 'user', content: null }]],
    ['messages.0.content', [{ role: 'user', content: '   ' }]],
    [
      'messages.0.content.1.type',
      [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Look' },
            { type: 'image_url', image_url: {} },
          ],
        },
      ],
    ],
    ['messages.0.content.0.text', [{ role: 'user', content: [{ type: 'text' }] }]],
  ])('refuses messages it cannot serve, naming %s', (field, messages) => {
    expect(refusal({ model: 'nova-micro', messages }).field).toBe(field);
  });

  it('refuses variables without the prompt they fill', () => {
    expect(refusal({ ...base, llmops: { variables: { q: 'x' } } }).field).toBe('llmops.variables');
  });

  it('refuses by schema what OpenAI allows but the models do not, naming the field', () => {
    expect(refusal({ ...base, temperature: 1.5 }).field).toBe('temperature');
    expect(refusal({ ...base, messages: [] }).field).toBe('messages');
    expect(translate({ ...base, messages: [], llmops: { prompt: 'support' } }).messages).toEqual([]);
    expect(refusal({ messages: base.messages }).field).toBe('model');
    expect(refusal({ ...base, llmops: { prompt: 'Bad Name' } }).field).toBe('llmops.prompt');
    expect(refusal({ ...base, llmops: { unknown: true } }).field).toBe('llmops');
  });
});

describe('gateway errors in OpenAI terms', () => {
  it('puts the project fields under llmops and names the max-tokens field the caller used', () => {
    expect(openAiField('prompt', {})).toBe('llmops.prompt');
    expect(openAiField('variables.question', {})).toBe('llmops.variables.question');
    expect(openAiField('rag.query', {})).toBe('llmops.rag.query');
    expect(openAiField('maxTokens', {})).toBe('max_tokens');
    expect(openAiField('maxTokens', { max_completion_tokens: 10 })).toBe('max_completion_tokens');
    expect(openAiField('topP', {})).toBe('top_p');
    expect(openAiField('messages.2.role', {})).toBe('messages.2.role');
    expect(openAiField('model', {})).toBe('model');
  });

  it('re-addresses a validation error keeping its class and rule, and leaves other errors alone', () => {
    const renamed = inOpenAiTerms(new PromptRenderError('variables.q', 'is required'), {});
    expect(renamed).toBeInstanceOf(PromptRenderError);
    expect(renamed).toMatchObject({ field: 'llmops.variables.q', rule: 'is required' });
    expect((renamed as Error).message).toBe('llmops.variables.q: is required');
    const window = new ContextWindowExceededError('messages', 'too long');
    expect(inOpenAiTerms(window, {})).toBe(window);
    const other = new Error('x');
    expect(inOpenAiTerms(other, {})).toBe(other);
  });
});

const answer: GatewayChatResponse = {
  interactionId: 'i-1',
  answer: 'Refunds take 5 days [1].',
  model: { id: 'nova-micro', provider: 'offline', modelId: 'us.amazon.nova-micro-v1:0' },
  prompt: { name: 'support', version: 2 },
  usage: { inputTokens: 40, outputTokens: 6, costUsd: 0.0000023 },
  latencyMs: 3,
  stopReason: 'max_tokens',
  guardrail: { action: 'NONE', policies: [] },
  citations: [
    {
      n: 1,
      docId: 'refunds.md',
      chunkId: 'c1',
      title: 'Refunds',
      source: null,
      score: 0.9,
      similarity: 0.8,
      headings: [],
    },
  ],
};

describe('answers in OpenAI terms', () => {
  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['guardrail_intervened', 'content_filter'],
    ['content_filtered', 'content_filter'],
    ['other', 'stop'],
    ['no_relevant_context', 'stop'],
  ])('maps the stop reason %s to finish_reason %s', (stopReason, finish) => {
    expect(finishReasonOf(stopReason)).toBe(finish);
  });

  it('answers a chat.completion with usage and the llmops extension', () => {
    const completion = toChatCompletion(answer, 1_700_000_000);
    expect(completion).toEqual({
      id: 'chatcmpl-i-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'nova-micro',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Refunds take 5 days [1].', refusal: null },
          finish_reason: 'length',
          logprobs: null,
        },
      ],
      usage: { prompt_tokens: 40, completion_tokens: 6, total_tokens: 46 },
      llmops: {
        interactionId: 'i-1',
        costUsd: 0.0000023,
        stopReason: 'max_tokens',
        prompt: { name: 'support', version: 2 },
        guardrail: { action: 'NONE', policies: [] },
        citations: answer.citations,
      },
    });
    expect(chatCompletion.safeParse(completion).success).toBe(true);
    const raw = toChatCompletion({ ...answer, prompt: null, citations: undefined, guardrail: undefined }, 1);
    expect(raw.llmops).toEqual({
      interactionId: 'i-1',
      costUsd: 0.0000023,
      stopReason: 'max_tokens',
      prompt: null,
    });
  });

  it('builds the chunks of a stream: role, content, finish with llmops, usage with no choice', () => {
    const head = { id: 'chatcmpl-i-1', created: 5, model: 'nova-micro' };
    const chunks = [
      roleChunk(head),
      contentChunk(head, 'Refunds'),
      finishChunk(head, answer),
      usageChunk(head, answer),
    ];
    for (const chunk of chunks) expect(chatCompletionChunk.safeParse(chunk).success).toBe(true);
    expect(chunks.map((c) => c.choices)).toEqual([
      [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null }],
      [{ index: 0, delta: { content: 'Refunds' }, finish_reason: null, logprobs: null }],
      [{ index: 0, delta: {}, finish_reason: 'length', logprobs: null }],
      [],
    ]);
    expect(chunks[2]?.llmops?.interactionId).toBe('i-1');
    expect(chunks[3]?.usage).toEqual({ prompt_tokens: 40, completion_tokens: 6, total_tokens: 46 });
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === 'chatcmpl-i-1')).toBe(true);
  });
});

describe('embeddings and the model list in OpenAI terms', () => {
  it('encodes a vector as OpenAI base64: little-endian float32', () => {
    const vector = [0.5, -1.25, 3];
    const bytes = Buffer.from(base64Floats(vector), 'base64');
    expect([...new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)]).toEqual(vector);
  });

  it('answers the vectors in input order, as numbers or base64, with usage and the interaction', () => {
    const outcome = {
      interactionId: 'i-9',
      model: 'titan-embed-text-v2',
      vectors: [
        [0.25, 0.5],
        [1, -1],
      ],
      dimensions: 2,
      usage: { inputTokens: 7, costUsd: 0.00000014 },
    };
    const floats = toEmbeddingsResponse(outcome, 'float');
    expect(floats).toEqual({
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [0.25, 0.5] },
        { object: 'embedding', index: 1, embedding: [1, -1] },
      ],
      model: 'titan-embed-text-v2',
      usage: { prompt_tokens: 7, total_tokens: 7 },
      llmops: { interactionId: 'i-9', costUsd: 0.00000014, dimensions: 2 },
    });
    expect(embeddingsResponse.safeParse(floats).success).toBe(true);
    const encoded = toEmbeddingsResponse(outcome, 'base64');
    expect(encoded.data[1]?.embedding).toBe(base64Floats([1, -1]));
  });

  const model: CatalogModel = {
    id: 'nova-micro',
    provider: 'bedrock',
    modelId: 'us.amazon.nova-micro-v1:0',
    kind: 'chat',
    contextWindow: 128_000,
    maxOutputTokens: 10_000,
    pricePer1kInputUsd: 0.000035,
    pricePer1kOutputUsd: 0.00014,
    features: ['streaming'],
    regions: ['us-east-1'],
    status: 'active',
  };

  it("lists the catalog as OpenAI's model list, every catalog field kept", () => {
    const list = toModelList([model]);
    expect(list).toEqual({
      object: 'list',
      data: [{ ...model, object: 'model', created: 0, owned_by: 'bedrock' }],
    });
    expect(modelList.safeParse(list).success).toBe(true);
  });

  it('dates an entry from its createdAt, else its updatedAt, in epoch seconds', () => {
    expect(toModelEntry({ ...model, updatedAt: '2026-01-02T00:00:00.000Z' }).created).toBe(1_767_312_000);
    expect(
      toModelEntry({ ...model, createdAt: '2025-01-01T00:00:00.000Z', updatedAt: '2026-01-02T00:00:00.000Z' })
        .created,
    ).toBe(1_735_689_600);
    expect(toModelEntry({ ...model, updatedAt: 'not a date' }).created).toBe(0);
    expect(toModelEntry({ ...model, updatedAt: '2026-01-02T00:00:00.000Z' })).not.toHaveProperty('updatedAt');
  });
});
