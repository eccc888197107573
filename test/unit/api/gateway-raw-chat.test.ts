import { afterEach, describe, expect, it, vi } from 'vitest';
import { NotFoundError, ValidationError } from '#aws/errors.ts';
import { type GatewayDeps, ModelGateway, NO_PROMPT } from '#aws/gateway.ts';
import { metrics } from '#aws/logging.ts';
import type { RetrievalRequest } from '#aws/rag/retriever.ts';
import type { GatewayChatInput } from '#contracts/http/schemas.ts';
import { RAW_CONTEXT_INSTRUCTIONS } from '#core/models/conversation.ts';
import { type InteractionRecordedDetail, interactionRecordedDetail } from '#events/interaction-recorded.ts';
import { collect, errorOf } from '../../support/async.ts';
import {
  appCaller,
  catalogModel,
  catalogOf,
  promptVersion,
  recordingProvider,
  retrievalFor,
  retrievedChunk,
} from '../../support/gateway-fixtures.ts';

/**
 * A raw chat through the gateway: no versioned prompt (what OpenAI's clients send), its system turns as
 * the system instructions, recorded with no prompt under the route it came through.
 */
// Unrestricted: these tests are not about per-app access.
const caller = appCaller('web');

const CATALOG = [
  catalogModel('cheap', { pricePer1kInputUsd: 0.0001 }),
  catalogModel('dear', { pricePer1kInputUsd: 0.01 }),
];

const prompt = promptVersion(
  'support',
  {
    messages: [
      { role: 'system', content: 'You answer support questions.' },
      { role: 'user', content: '{{question}}' },
    ],
    variables: { question: { type: 'string' } },
    commitMessage: 'first',
  },
  { version: 4, author: 'a', createdAt: '2026-01-01T00:00:00.000Z' },
);

const CHUNK = retrievedChunk({
  docId: 'refunds.md',
  text: 'Refunds are issued within 5 business days.',
  title: 'Refunds',
  source: 'refunds.md',
});

function setup() {
  const records: InteractionRecordedDetail[] = [];
  const { provider, requests } = recordingProvider();
  const getPrompt = vi.fn(async () => prompt);
  const deps: GatewayDeps = {
    prompts: { get: getPrompt },
    catalog: catalogOf(CATALOG),
    providerFor: () => provider,
    recorder: { record: async (detail) => void records.push(interactionRecordedDetail.parse(detail)) },
    retriever: {
      retrieve: async (request: RetrievalRequest) => retrievalFor(request, { chunks: [CHUNK] }),
    },
    sampleRate: 1,
    timeoutMs: 5000,
    newId: () => 'i-raw',
  };
  return { gateway: new ModelGateway(deps), records, requests, getPrompt };
}

const raw: GatewayChatInput = {
  route: 'chat.completions',
  model: 'dear',
  messages: [
    { role: 'system', content: 'Refunds are issued within 5 business days.' },
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'How long do refunds take?' },
  ],
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe('ModelGateway: a raw chat (no prompt)', () => {
  it('sends the system turns as the system instructions and the rest as the conversation', async () => {
    const { gateway, requests, getPrompt } = setup();
    const response = await gateway.chat(raw, caller, 'req');
    expect(getPrompt).not.toHaveBeenCalled();
    expect(requests[0]).toMatchObject({
      modelId: 'vendor.dear',
      system: 'Refunds are issued within 5 business days.\n\nBe brief.',
      messages: [{ role: 'user', content: 'How long do refunds take?' }],
    });
    expect(response.prompt).toBeNull();
    expect(response.answer).toContain('5 business days');
  });

  it('records the interaction with no prompt, under the route it came through', async () => {
    const { gateway, records } = setup();
    await gateway.chat(raw, caller, 'req');
    expect(records[0]).toMatchObject({ route: 'chat.completions', prompt: null, status: 'ok' });
    expect(records[0]?.payload?.system?.text).toContain('Be brief.');
    const defaulted = setup();
    await defaulted.gateway.chat({ ...raw, route: undefined }, caller, 'req');
    expect(defaulted.records[0]).toMatchObject({ route: 'chat', prompt: null });
  });

  it('counts the call under the Prompt dimension (none)', async () => {
    const dimensions = vi.spyOn(metrics, 'addDimensions');
    const { gateway } = setup();
    await gateway.chat(raw, caller, 'req');
    expect(dimensions).toHaveBeenCalledWith({ Model: 'dear', Prompt: NO_PROMPT, App: 'web' });
    expect(NO_PROMPT).toBe('(none)');
  });

  it('records a refused raw chat with no prompt, under its route', async () => {
    const { gateway, records } = setup();
    await expect(gateway.chat({ ...raw, model: 'gpt-x' }, caller, 'req')).rejects.toThrow(NotFoundError);
    expect(records[0]).toMatchObject({ route: 'chat.completions', prompt: null, status: 'client_error' });
  });

  it('picks the cheapest model that fits when none is named', async () => {
    const { gateway } = setup();
    const response = await gateway.chat({ ...raw, model: undefined }, caller, 'req');
    expect(response.model.id).toBe('cheap');
  });

  it('passes top_p and stop sequences to the model', async () => {
    const { gateway, requests } = setup();
    const response = await gateway.chat({ ...raw, topP: 0.5, stop: ['business'] }, caller, 'req');
    expect(requests[0]).toMatchObject({ topP: 0.5, stopSequences: ['business'] });
    expect(response.stopReason).toBe('stop_sequence');
    expect(response.answer).not.toContain('business');
  });

  it('refuses a system turn alongside a prompt, which supplies the system instructions', async () => {
    const { gateway } = setup();
    const error = await errorOf(
      gateway.chat({ ...raw, prompt: 'support', variables: { question: 'Refunds?' } }, caller, 'req'),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field: 'messages.0.role' });
  });

  it('refuses variables without a prompt to fill', async () => {
    const { gateway } = setup();
    await expect(gateway.chat({ ...raw, variables: { q: 'x' } }, caller, 'req')).rejects.toMatchObject({
      field: 'variables',
    });
  });

  it('still needs the conversation to end with a user turn', async () => {
    const { gateway } = setup();
    const error = await errorOf(
      gateway.chat({ ...raw, messages: [{ role: 'system', content: 'Only instructions' }] }, caller, 'req'),
    );
    expect(error).toMatchObject({ field: 'messages' });
  });

  it('with rag, adds the numbered passages after the system turns and cites them', async () => {
    const { gateway, requests } = setup();
    const response = await gateway.chat(
      { ...raw, messages: [{ role: 'user', content: 'How long do refunds take?' }], rag: {} },
      caller,
      'req',
    );
    expect(requests[0]?.system).toContain(RAW_CONTEXT_INSTRUCTIONS);
    expect(requests[0]?.system).toContain('Refunds are issued within 5 business days.');
    expect(requests[0]?.context).toEqual([CHUNK.text]);
    expect(response.citations?.map((c) => c.docId)).toEqual(['refunds.md']);
    expect(response.answer).toContain('5 business days');
  });

  it('keeps a prompt-based chat as it was: rendered prompt, recorded with its reference', async () => {
    const { gateway, records } = setup();
    const response = await gateway.chat(
      { prompt: 'support', variables: { question: 'Refunds?' }, model: 'dear' },
      caller,
      'req',
    );
    expect(response.prompt).toEqual({ name: 'support', version: 4 });
    expect(records[0]).toMatchObject({
      route: 'chat',
      prompt: { name: 'support', version: 4, ref: 'support' },
    });
  });

  it('opens a stream by announcing the interaction and the model', async () => {
    const { gateway } = setup();
    const chunks = await collect(await gateway.chatStream(raw, caller, 'req'));
    expect(chunks[0]).toEqual({ type: 'start', interactionId: 'i-raw', model: 'dear' });
    expect(chunks.at(-1)?.type).toBe('done');
  });
});
