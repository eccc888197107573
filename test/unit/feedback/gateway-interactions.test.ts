// The chat function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/api.ts';
import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EmbeddingsGateway } from '#aws/embeddings-gateway.ts';
import type { InteractionStore } from '#aws/feedback/stores.ts';
import {
  DEFAULT_INTERACTION_TTL_DAYS,
  type GatewayDeps,
  MAX_KEPT_INTERACTION_BYTES,
  ModelGateway,
} from '#aws/gateway.ts';
import { apiHandler } from '#aws/http.ts';
import { MAX_LOGGED_CHARS } from '#aws/interactions.ts';
import { logger, metrics } from '#aws/logging.ts';
import type { RetrievalRequest } from '#aws/rag/retriever.ts';
import type { StoredInteraction } from '#contracts/feedback/feedback.ts';
import type { PromptRef } from '#contracts/prompts/types.ts';
import { OfflineProvider } from '#core/models/offline.ts';
import type { InteractionRecordedDetail } from '#events/interaction-recorded.ts';
import { makeHandler as makeChat } from '#functions/api/chat.ts';
import { invokeStreaming, type StreamingHandler } from '#infra/local/lambda-streaming.ts';
import { FULL_ACCESS } from '../../support/app-access.ts';
import { collect } from '../../support/async.ts';
import {
  apiEvent,
  appCaller,
  catalogModel,
  catalogOf,
  promptVersion,
  retrievalFor,
  retrievedChunk,
} from '../../support/gateway-fixtures.ts';

/**
 * The gateway keeps each answered chat call for feedback: `/v1/chat` and `/v1/chat/completions`,
 * buffered and streamed, redacted as the log is, with the hash that groups answers to one input; never
 * an embeddings call, nothing without a store, and a store that fails never fails the call.
 */
const NOW = Date.parse('2026-12-01T10:00:00.000Z');
const caller = appCaller('support-bot', { tenant: 'acme' });

const prompt = promptVersion(
  'support-answer',
  {
    messages: [
      { role: 'system', content: 'Answer from the context. Context: {{context}}' },
      { role: 'user', content: '{{question}}' },
    ],
    variables: { context: { type: 'string' }, question: { type: 'string' } },
    commitMessage: 'first',
  },
  { version: 3 },
);

const CHAT = catalogModel('mid');
const EMBED = catalogModel('titan-embed-text-v2', {
  modelId: 'amazon.titan-embed-text-v2:0',
  kind: 'embedding',
  contextWindow: 8192,
  maxOutputTokens: 0,
  dimensions: 1024,
  features: [],
});

/** An interaction store in memory; `fail` makes every put reject. */
function memoryStore(options: { fail?: boolean } = {}) {
  const kept: StoredInteraction[] = [];
  const store: InteractionStore = {
    put: async (record) => {
      if (options.fail) throw Object.assign(new Error('throttled'), { name: 'ThrottlingException' });
      kept.push(record);
    },
    get: async (id) => kept.find((r) => r.interactionId === id),
    getMany: async () => new Map(),
  };
  return { store, kept };
}

function setup(overrides: Partial<GatewayDeps> = {}) {
  const records: InteractionRecordedDetail[] = [];
  let ids = 0;
  const deps: GatewayDeps = {
    prompts: { get: async (_ref: PromptRef) => prompt },
    catalog: catalogOf([CHAT, EMBED]),
    providerFor: () => new OfflineProvider(),
    recorder: { record: async (detail) => void records.push(detail) },
    sampleRate: 0,
    timeoutMs: 5000,
    now: () => NOW,
    newId: () => `interaction-${++ids}`,
    ...overrides,
  };
  return { gateway: new ModelGateway(deps), records };
}

const body = (question: string) => ({
  prompt: 'support-answer',
  variables: { context: 'Refunds are issued within 5 business days.', question },
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the gateway keeps answered chat calls for feedback', () => {
  it('keeps a /v1/chat answer, redacted, with its prompt, model, expiry and input hash', async () => {
    const { store, kept } = memoryStore();
    const { gateway } = setup({ interactions: store, interactionTtlDays: 7 });
    const response = await gateway.chat(
      body('How long do refunds take? Mail me at ada@example.com'),
      caller,
      'req-1',
    );
    expect(kept).toHaveLength(1);
    const record = kept[0] as StoredInteraction;
    expect(record).toMatchObject({
      interactionId: response.interactionId,
      app: 'support-bot',
      tenant: 'acme',
      occurredAt: '2026-12-01T10:00:00.000Z',
      expiresAt: NOW / 1000 + 7 * 86_400,
      route: 'chat',
      prompt: { name: 'support-answer', version: 3, ref: 'support-answer' },
      model: response.model,
      retrieval: [],
      answer: response.answer,
      truncated: false,
    });
    expect(record.system).toContain('Refunds are issued within 5 business days.');
    expect(record.messages).toEqual([
      { role: 'user', content: 'How long do refunds take? Mail me at [EMAIL]' },
    ]);
    expect(record.promptHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(record).not.toHaveProperty('variant');
  });

  it('gives two answers to the same input the same hash, and another input another', async () => {
    const { store, kept } = memoryStore();
    const { gateway } = setup({ interactions: store });
    await gateway.chat(body('Where is my parcel?'), caller, 'req-1');
    await gateway.chat(body('Where is my parcel?'), caller, 'req-2');
    await gateway.chat(body('Where is my refund?'), caller, 'req-3');
    const [a, b, c] = kept.map((r) => r.promptHash);
    expect(kept.map((r) => r.interactionId)).toEqual(['interaction-1', 'interaction-2', 'interaction-3']);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });

  it('expires after the default number of days when none is configured', async () => {
    const { store, kept } = memoryStore();
    const { gateway } = setup({ interactions: store });
    await gateway.chat(body('Hi'), caller, 'req-1');
    expect(kept[0]?.expiresAt).toBe(NOW / 1000 + DEFAULT_INTERACTION_TTL_DAYS * 86_400);
  });

  it('keeps a streamed chat.completions answer under its route', async () => {
    const { store, kept } = memoryStore();
    const { gateway } = setup({ interactions: store });
    const chunks = await collect(
      await gateway.chatStream({ ...body('Hi'), route: 'chat.completions' }, caller, 'req-1'),
    );
    const done = chunks.find((c) => c.type === 'done');
    expect(done).toBeDefined();
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({ route: 'chat.completions', interactionId: 'interaction-1' });
  });

  it('names the retrieved chunks of a RAG call', async () => {
    const { store, kept } = memoryStore();
    const chunks = [
      retrievedChunk({ docId: 'policies/refunds.md', text: 'Refunds take 5 business days.' }),
      retrievedChunk({ docId: 'manual.pdf', index: 3, text: 'Shipping takes two weeks.' }),
    ];
    const { gateway } = setup({
      interactions: store,
      retriever: { retrieve: async (request: RetrievalRequest) => retrievalFor(request, { chunks }) },
    });
    await gateway.chat(
      { prompt: 'support-answer', variables: { question: 'How long do refunds take?' }, rag: {} },
      caller,
      'req-1',
    );
    expect(kept[0]?.retrieval).toEqual([
      { docId: 'policies/refunds.md', chunkId: 'policies/refunds.md#0' },
      { docId: 'manual.pdf', chunkId: 'manual.pdf#3' },
    ]);
  });

  it('cuts a text at the log bound and says the record was truncated', async () => {
    const { store, kept } = memoryStore();
    const { gateway } = setup({ interactions: store });
    await gateway.chat(body('x'.repeat(MAX_LOGGED_CHARS + 10)), caller, 'req-1');
    expect(kept[0]?.truncated).toBe(true);
    expect(kept[0]?.messages[0]?.content).toHaveLength(MAX_LOGGED_CHARS);
  });

  it('leaves the oldest turns out of a record too large to keep, never the last one', async () => {
    const { store, kept } = memoryStore();
    const { gateway } = setup({ interactions: store });
    const messages = Array.from({ length: 23 }, (_, i) => ({
      role: i % 2 === 0 ? ('user' as const) : ('assistant' as const),
      content: `${i} ${'y'.repeat(15_000)}`,
    }));
    await gateway.chat({ model: 'mid', messages }, caller, 'req-1');
    const record = kept[0] as StoredInteraction;
    expect(record.truncated).toBe(true);
    expect(record.messages.length).toBeLessThan(messages.length);
    expect(record.messages.at(-1)?.content).toBe(messages.at(-1)?.content);
    expect(Buffer.byteLength(JSON.stringify(record))).toBeLessThanOrEqual(MAX_KEPT_INTERACTION_BYTES);
  });

  it('redacts the same texts into the sampled log payload', async () => {
    const { store, kept } = memoryStore();
    const { gateway, records } = setup({ interactions: store, sampleRate: 1 });
    await gateway.chat(body('Call me on +1 415 555 0100'), caller, 'req-1');
    const payload = records[0]?.payload;
    expect(payload?.messages[0]?.content.text).toBe('Call me on [PHONE]');
    expect(kept[0]?.messages[0]?.content).toBe('Call me on [PHONE]');
    expect(payload?.redactions).toEqual({ PHONE: 1 });
  });

  it('keeps nothing, and still answers and records, without a store', async () => {
    const { gateway, records } = setup();
    const response = await gateway.chat(body('Hi'), caller, 'req-1');
    expect(response.answer).not.toBe('');
    expect(records).toHaveLength(1);
    expect(records[0]?.payload).toBeNull();
  });

  it('never fails the call when the store fails: it logs and counts InteractionStoreFailures', async () => {
    const { store } = memoryStore({ fail: true });
    const added = vi.spyOn(metrics, 'addMetric');
    const logged = vi.spyOn(logger, 'error');
    const { gateway, records } = setup({ interactions: store });
    const response = await gateway.chat(body('Hi'), caller, 'req-1');
    expect(response.answer).not.toBe('');
    expect(records).toHaveLength(1);
    expect(added).toHaveBeenCalledWith('InteractionStoreFailures', 'Count', 1);
    expect(logged).toHaveBeenCalledWith(
      'Interaction not kept for feedback',
      expect.objectContaining({ interactionId: 'interaction-1' }),
    );
    const chunks = await collect(await gateway.chatStream(body('Hi'), caller, 'req-2'));
    expect(chunks.map((c) => c.type)).toContain('done');
    expect(chunks.map((c) => c.type)).not.toContain('error');
  });
});

describe('the chat function keeps chat answers, never embeddings', () => {
  const context = {
    awsRequestId: 'ctx',
    functionName: 'chat',
    getRemainingTimeInMillis: () => 30_000,
  } as unknown as Context;

  function chatFunction() {
    const { store, kept } = memoryStore();
    const { gateway } = setup({ interactions: store });
    const embeddings = new EmbeddingsGateway({
      catalog: catalogOf([CHAT, EMBED]),
      providerFor: () => new OfflineProvider(),
      recorder: { record: async () => {} },
      sampleRate: 1,
      timeoutMs: 5000,
    });
    const handler = apiHandler(makeChat({ gateway, embeddings, ensureSeeded: async () => {} }), {
      appKeys: { k: 'web' },
      appAccess: { web: FULL_ACCESS },
      maxRequestBytes: 100_000,
      streaming: true,
    }) as unknown as StreamingHandler;
    const post = async (resource: string, requestBody: unknown) => {
      const response = await invokeStreaming(
        handler,
        apiEvent('POST', resource, { body: requestBody, identity: { apiKeyId: 'k', userArn: null } }),
        context,
      );
      let text = '';
      for await (const chunk of response.body) text += chunk.toString('utf8');
      return { status: response.statusCode, body: JSON.parse(text) };
    };
    return { post, kept };
  }

  it('keeps a /v1/chat/completions answer, its id being the interaction behind chatcmpl-', async () => {
    const { post, kept } = chatFunction();
    const answer = await post('/v1/chat/completions', {
      model: 'mid',
      messages: [{ role: 'user', content: 'Hello there' }],
    });
    expect(answer.status).toBe(200);
    expect(kept).toHaveLength(1);
    expect(answer.body.id).toBe(`chatcmpl-${kept[0]?.interactionId}`);
    expect(kept[0]).toMatchObject({ route: 'chat.completions', prompt: null, system: null });
  });

  it('keeps nothing for /v1/embeddings', async () => {
    const { post, kept } = chatFunction();
    const answer = await post('/v1/embeddings', { model: 'titan-embed-text-v2', input: 'refunds' });
    expect(answer.status).toBe(200);
    expect(kept).toEqual([]);
  });
});
