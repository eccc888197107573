import { describe, expect, it, vi } from 'vitest';
import { ModelProviderError, NotFoundError, ValidationError } from '#aws/errors.ts';
import { type GatewayDeps, ModelGateway, NO_CONTEXT_ANSWER, NO_CONTEXT_STOP_REASON } from '#aws/gateway.ts';
import { contextBlock, PASSAGES_PREAMBLE, type RetrievalRequest } from '#aws/rag/retriever.ts';
import type { ChatRequestBody } from '#contracts/http/schemas.ts';
import type { PromptDraft, PromptRef } from '#contracts/prompts/types.ts';
import { decodeEmbedding } from '#core/drift/compact-embedding.ts';
import { hashEmbedding, OfflineProvider } from '#core/models/offline.ts';
import type { RetrievedChunk } from '#core/rag/store.ts';
import { type InteractionRecordedDetail, interactionRecordedDetail } from '#events/interaction-recorded.ts';
import { collect, errorOf } from '../../support/async.ts';
import {
  appCaller,
  catalogModel,
  promptVersion,
  retrievalFor,
  retrievedChunk,
} from '../../support/gateway-fixtures.ts';

// Unrestricted: these tests are not about per-app access.
const caller = appCaller('support-bot', { tenant: 'acme' });

const chatModel = catalogModel('mid');

const version = (name: string, draft: PromptDraft) => promptVersion(name, draft, { version: 3 });

const ragPrompt = version('support-answer', {
  messages: [
    { role: 'system', content: 'Answer from the numbered passages and cite them as [n].\n\n{{context}}' },
    { role: 'user', content: '{{question}}' },
  ],
  variables: { context: { type: 'string' }, question: { type: 'string' } },
  commitMessage: 'first',
});

const plainPrompt = version('small-talk', {
  messages: [{ role: 'user', content: '{{question}}' }],
  variables: { question: { type: 'string' } },
  commitMessage: 'first',
});

const CHUNKS: RetrievedChunk[] = [
  retrievedChunk({
    docId: 'policies/refunds.md',
    docVersion: 'sha256:r1',
    text: 'Refunds are issued within 5 business days of the request.',
    title: 'Refund policy',
    source: 'policies/refunds.md',
    headings: ['Refunds', 'Timing'],
    metadata: { team: 'billing' },
    score: 0.91234,
    similarity: 0.88,
  }),
  retrievedChunk({
    docId: 'manual.pdf',
    index: 3,
    docVersion: 'sha256:m1',
    text: 'Shipping to the islands takes two weeks.',
    title: 'Manual',
    source: 'manual.pdf',
    metadata: { page: 12 },
    score: 0.7,
    similarity: 0.7,
  }),
];

function setup(
  options: {
    chunks?: RetrievedChunk[];
    retriever?: boolean;
    /** The query vector the retriever reports (none unless given). */
    queryVector?: readonly number[];
    sampleRate?: number;
  } = {},
) {
  const records: InteractionRecordedDetail[] = [];
  const provider = new OfflineProvider();
  const chat = vi.spyOn(provider, 'chat');
  const chatStream = vi.spyOn(provider, 'chatStream');
  const retrieve = vi.fn(async (request: RetrievalRequest) =>
    retrievalFor(request, {
      chunks: options.chunks ?? CHUNKS,
      vectorStore: 'opensearch',
      embedding: { modelId: 'titan-embed-text-v2', inputTokens: 9 },
      ...(options.queryVector !== undefined ? { queryVector: options.queryVector } : {}),
    }),
  );
  const deps: GatewayDeps = {
    prompts: {
      get: async (ref: PromptRef) => {
        if (ref.name === ragPrompt.name) return ragPrompt;
        if (ref.name === plainPrompt.name) return plainPrompt;
        throw new NotFoundError(`prompt ${ref.name} does not exist`);
      },
    },
    catalog: { get: async () => chatModel, list: async () => [chatModel] },
    providerFor: () => provider,
    recorder: {
      record: async (detail) => {
        records.push(interactionRecordedDetail.parse(detail));
      },
    },
    sampleRate: options.sampleRate ?? 1,
    timeoutMs: 5000,
    newId: () => 'interaction-1',
    ...(options.retriever === false ? {} : { retriever: { retrieve } }),
  };
  return { gateway: new ModelGateway(deps), records, retrieve, chat, chatStream };
}

const QUESTION = 'How long do refunds take?';
const body: ChatRequestBody = { prompt: 'support-answer', variables: { question: QUESTION }, rag: {} };

describe('ModelGateway with rag', () => {
  it('fills the context variable with the numbered passages and sends their texts as grounding context', async () => {
    const { gateway, retrieve, chat } = setup();
    await gateway.chat(
      { ...body, rag: { k: 2, hybrid: true, minScore: 0.6, filters: { team: 'billing' } } },
      caller,
      'r',
    );
    expect(retrieve).toHaveBeenCalledTimes(1);
    expect(retrieve.mock.calls[0]?.[0]).toMatchObject({
      query: QUESTION,
      k: 2,
      hybrid: true,
      minScore: 0.6,
      filters: { team: 'billing' },
    });
    expect(retrieve.mock.calls[0]?.[0].signal).toBeInstanceOf(AbortSignal);
    const request = chat.mock.calls[0]?.[0];
    const block = contextBlock(CHUNKS);
    expect(block).toBe(
      `${PASSAGES_PREAMBLE}\n\n` +
        '<passage n="1" title="Refund policy › Refunds › Timing" source="policies/refunds.md">\n' +
        'Refunds are issued within 5 business days of the request.\n</passage>\n\n' +
        '<passage n="2" title="Manual" source="manual.pdf">\nShipping to the islands takes two weeks.\n</passage>',
    );
    expect(request?.system).toBe(`Answer from the numbered passages and cite them as [n].\n\n${block}`);
    expect(request?.messages).toEqual([{ role: 'user', content: QUESTION }]);
    expect(request?.context).toEqual(CHUNKS.map((c) => c.text));
  });

  it('answers with citations of the retrieved chunks', async () => {
    const { gateway } = setup();
    const response = await gateway.chat(body, caller, 'r');
    expect(response.answer).toContain('Refunds are issued within 5 business days');
    expect(response.stopReason).not.toBe(NO_CONTEXT_STOP_REASON);
    expect(response.citations).toEqual([
      {
        n: 1,
        docId: 'policies/refunds.md',
        chunkId: 'policies/refunds.md#0',
        title: 'Refund policy',
        source: 'policies/refunds.md',
        score: 0.9123,
        similarity: 0.88,
        headings: ['Refunds', 'Timing'],
      },
      {
        n: 2,
        docId: 'manual.pdf',
        chunkId: 'manual.pdf#3',
        title: 'Manual',
        source: 'manual.pdf',
        score: 0.7,
        similarity: 0.7,
        headings: [],
        page: 12,
      },
    ]);
  });

  it('records the retrieval as ids and scores, never the passages', async () => {
    const { gateway, records } = setup();
    await gateway.chat({ ...body, rag: { k: 2 } }, caller, 'r');
    expect(records).toHaveLength(1);
    const retrieval = records[0]?.retrieval;
    expect(retrieval).toEqual({
      vectorStore: 'opensearch',
      k: 2,
      hybrid: false,
      minScore: null,
      embeddingModel: 'titan-embed-text-v2',
      chunks: CHUNKS.map((c) => ({
        docId: c.docId,
        chunkId: c.chunkId,
        docVersion: c.docVersion,
        score: c.score,
        similarity: c.similarity,
      })),
    });
    for (const chunk of CHUNKS) expect(JSON.stringify(retrieval)).not.toContain(chunk.text);
  });

  describe('the query embedding', () => {
    // The vector an embedding model would give the question: 1024 dimensions, L2-normalized.
    const queryVector = hashEmbedding(QUESTION, 1024);
    const cosine = (a: readonly number[], b: readonly number[]) => {
      let dot = 0;
      for (let i = 0; i < a.length; i++) dot += (a[i] as number) * (b[i] as number);
      return dot / (Math.hypot(...a) * Math.hypot(...b));
    };

    it('is kept, compact, on a sampled call: it decodes to the vector the retriever searched with', async () => {
      const { gateway, records } = setup({ queryVector });
      await gateway.chat(body, caller, 'r');
      const record = records[0];
      expect(record?.payload).not.toBeNull();
      const kept = record?.retrieval?.queryEmbedding;
      expect(kept).toMatchObject({ encoding: 'int8', dims: 1024 });
      expect(kept?.data).toHaveLength(1368);
      if (kept === undefined) throw new Error('expected a query embedding');
      const decoded = decodeEmbedding(kept);
      expect(decoded).toHaveLength(queryVector.length);
      expect(cosine(decoded, queryVector)).toBeGreaterThanOrEqual(0.999);
    });

    it('is kept on a sampled streamed call too', async () => {
      const { gateway, records } = setup({ queryVector });
      await collect(await gateway.chatStream(body, caller, 'r'));
      expect(records[0]?.retrieval?.queryEmbedding?.dims).toBe(1024);
    });

    it('is left out of an unsampled call, whose payload is not kept either', async () => {
      const { gateway, records } = setup({ queryVector, sampleRate: 0 });
      await gateway.chat(body, caller, 'r');
      expect(records[0]?.payload).toBeNull();
      expect(records[0]?.retrieval).toBeDefined();
      expect(records[0]?.retrieval).not.toHaveProperty('queryEmbedding');
    });

    it('is left out of a failed call, which keeps no payload', async () => {
      const { gateway, records, chat } = setup({ queryVector });
      chat.mockRejectedValueOnce(new ModelProviderError('the model is down'));
      await errorOf(gateway.chat(body, caller, 'r'));
      expect(records[0]).toMatchObject({ status: 'provider_error', payload: null });
      expect(records[0]?.retrieval).not.toHaveProperty('queryEmbedding');
    });

    it('is left out when retrieval embedded nothing', async () => {
      const { gateway, records } = setup();
      await gateway.chat(body, caller, 'r');
      expect(records[0]?.payload).not.toBeNull();
      expect(records[0]?.retrieval).not.toHaveProperty('queryEmbedding');
    });

    it('is left out, without failing the answer, when the vector cannot be encoded', async () => {
      const { gateway, records } = setup({ queryVector: [0.1, Number.NaN] });
      const response = await gateway.chat(body, caller, 'r');
      expect(response.citations).toHaveLength(2);
      expect(records[0]).toMatchObject({ status: 'ok' });
      expect(records[0]?.retrieval).not.toHaveProperty('queryEmbedding');
    });

    it('is accepted by the event schema, and a malformed one is refused', async () => {
      const { gateway, records } = setup({ queryVector });
      await gateway.chat(body, caller, 'r');
      const record = records[0] as InteractionRecordedDetail;
      expect(interactionRecordedDetail.safeParse(record).success).toBe(true);
      const kept = record.retrieval?.queryEmbedding;
      const malformed: [string, unknown][] = [
        ['encoding', { ...kept, encoding: 'float32' }],
        ['dims', { ...kept, dims: 10.5 }],
        ['scale', { ...kept, scale: 'big' }],
        ['data', { ...kept, data: [1, 2, 3] }],
      ];
      for (const [field, queryEmbedding] of malformed) {
        const result = interactionRecordedDetail.safeParse({
          ...record,
          retrieval: { ...record.retrieval, queryEmbedding },
        });
        expect(result.success).toBe(false);
        expect(result.error?.issues[0]?.path).toEqual(['retrieval', 'queryEmbedding', field]);
      }
    });
  });

  it('streams an answer with citations in the final event', async () => {
    const { gateway, records } = setup();
    const events = await collect(await gateway.chatStream(body, caller, 'r'));
    const done = events.at(-1);
    if (done?.type !== 'done') throw new Error('expected a done event last');
    expect(done.response.citations?.map((c) => c.chunkId)).toEqual(['policies/refunds.md#0', 'manual.pdf#3']);
    expect(records[0]).toMatchObject({ stream: true, retrieval: { k: 5 } });
  });

  describe('the query', () => {
    it('is rag.query when given', async () => {
      const { gateway, retrieve } = setup();
      await gateway.chat(
        { ...body, rag: { query: 'refund timing' }, messages: [{ role: 'user', content: 'and then?' }] },
        caller,
        'r',
      );
      expect(retrieve.mock.calls[0]?.[0].query).toBe('refund timing');
    });

    it('else the last user message', async () => {
      const { gateway, retrieve } = setup();
      await gateway.chat(
        {
          ...body,
          messages: [
            { role: 'user', content: 'first question' },
            { role: 'assistant', content: 'an answer' },
            { role: 'user', content: 'follow-up question' },
          ],
        },
        caller,
        'r',
      );
      expect(retrieve.mock.calls[0]?.[0].query).toBe('follow-up question');
    });

    it('else the question variable', async () => {
      const { gateway, retrieve } = setup();
      await gateway.chat(body, caller, 'r');
      expect(retrieve.mock.calls[0]?.[0].query).toBe(QUESTION);
    });

    it.each([
      ['no question variable', {}],
      ['a blank question variable', { question: '   ' }],
      ['a question that is not text', { question: 42 }],
    ])('is refused with %s, naming rag.query', async (_case, variables) => {
      const { gateway, retrieve, records } = setup();
      const error = await errorOf(gateway.chat({ ...body, variables }, caller, 'r'));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('rag.query');
      expect(retrieve).not.toHaveBeenCalled();
      expect(records[0]).toMatchObject({ status: 'client_error', errorCode: 'ValidationError' });
    });
  });

  it('refuses a prompt that declares no context variable', async () => {
    const { gateway, retrieve } = setup();
    const error = await errorOf(gateway.chat({ ...body, prompt: 'small-talk' }, caller, 'r'));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('rag');
    expect((error as ValidationError).rule).toBe(
      'prompt small-talk v3 declares no "context" variable to receive the retrieved passages',
    );
    expect(retrieve).not.toHaveBeenCalled();
  });

  it('refuses a context variable given with rag', async () => {
    const { gateway, retrieve } = setup();
    const error = await errorOf(
      gateway.chat({ ...body, variables: { question: QUESTION, context: 'my own' } }, caller, 'r'),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('variables.context');
    expect(retrieve).not.toHaveBeenCalled();
  });

  it('refuses rag where no retriever is configured', async () => {
    const { gateway, chat } = setup({ retriever: false });
    const error = await errorOf(gateway.chat(body, caller, 'r'));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('rag');
    expect((error as ValidationError).rule).toBe('retrieval is not available in this deployment');
    expect(chat).not.toHaveBeenCalled();
  });

  it('leaves a request without rag alone: no retrieval, no citations', async () => {
    const { gateway, retrieve, chat } = setup();
    const response = await gateway.chat(
      { prompt: 'support-answer', variables: { question: QUESTION, context: 'Refunds take 5 days.' } },
      caller,
      'r',
    );
    expect(retrieve).not.toHaveBeenCalled();
    expect(response).not.toHaveProperty('citations');
    expect(chat.mock.calls[0]?.[0]).not.toHaveProperty('context');
  });

  describe('when nothing relevant is retrieved', () => {
    it('answers plainly without calling the model', async () => {
      const { gateway, chat, chatStream, records } = setup({ chunks: [] });
      const response = await gateway.chat(body, caller, 'r');
      expect(response).toMatchObject({
        answer: NO_CONTEXT_ANSWER,
        stopReason: NO_CONTEXT_STOP_REASON,
        citations: [],
        usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
      });
      expect(chat).not.toHaveBeenCalled();
      expect(chatStream).not.toHaveBeenCalled();
      expect(records[0]).toMatchObject({
        status: 'ok',
        stopReason: NO_CONTEXT_STOP_REASON,
        retrieval: { chunks: [] },
      });
    });

    it('streams the same answer as one delta, then done', async () => {
      const { gateway, chat, chatStream } = setup({ chunks: [] });
      const events = await collect(await gateway.chatStream(body, caller, 'r'));
      expect(events.map((e) => e.type)).toEqual(['start', 'delta', 'done']);
      expect(events[1]).toEqual({ type: 'delta', text: NO_CONTEXT_ANSWER });
      const done = events[2];
      if (done?.type !== 'done') throw new Error('expected done');
      expect(done.response).toMatchObject({
        answer: NO_CONTEXT_ANSWER,
        stopReason: NO_CONTEXT_STOP_REASON,
        citations: [],
      });
      expect(chatStream).not.toHaveBeenCalled();
      expect(chat).not.toHaveBeenCalled();
    });
  });
});
