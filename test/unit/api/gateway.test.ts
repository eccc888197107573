import { describe, expect, it, vi } from 'vitest';
import {
  ContextWindowExceededError,
  NotFoundError,
  PromptRenderError,
  ThrottledError,
  ValidationError,
} from '#aws/errors.ts';
import { type GatewayDeps, ModelGateway } from '#aws/gateway.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import type { PromptDraft, PromptRef } from '#contracts/prompts/types.ts';
import { OfflineProvider } from '#core/models/offline.ts';
import type { ChatRequest, ModelProvider } from '#core/models/types.ts';
import type { InteractionRecordedDetail } from '#events/interaction-recorded.ts';
import { interactionRecordedDetail } from '#events/interaction-recorded.ts';
import { collect } from '../../support/async.ts';
import { appCaller, catalogModel, catalogOf, promptVersion } from '../../support/gateway-fixtures.ts';

// Unrestricted: these tests are not about per-app access.
const caller = appCaller('support-bot', { tenant: 'acme' });

const CATALOG = [
  catalogModel('big', { pricePer1kInputUsd: 0.003, pricePer1kOutputUsd: 0.015 }),
  catalogModel('small', { pricePer1kInputUsd: 0.000035, pricePer1kOutputUsd: 0.00014, contextWindow: 2000 }),
  catalogModel('mid'),
  catalogModel('embed', { kind: 'embedding', pricePer1kInputUsd: 0, pricePer1kOutputUsd: 0 }),
];

const draft: PromptDraft = {
  messages: [
    { role: 'system', content: 'Answer from the context. Context: {{context}}' },
    { role: 'user', content: '{{question}}' },
  ],
  variables: { context: { type: 'string' }, question: { type: 'string' } },
  commitMessage: 'first',
};

const prompt = promptVersion('support-answer', draft, { version: 3 });

const CONTEXT =
  'Lambda functions time out after 15 minutes at most. Refunds are issued within 5 business days. ' +
  'You can reach support at help@example.com.';

function setup(overrides: Partial<GatewayDeps> = {}, provider: ModelProvider = new OfflineProvider()) {
  const records: InteractionRecordedDetail[] = [];
  const providerFor = vi.fn((_m: CatalogModel) => provider);
  const deps: GatewayDeps = {
    prompts: {
      get: async (ref: PromptRef) => {
        if (ref.name !== 'support-answer') throw new NotFoundError(`prompt ${ref.name} does not exist`);
        return prompt;
      },
    },
    catalog: catalogOf(CATALOG),
    providerFor,
    recorder: {
      record: async (detail) => {
        records.push(interactionRecordedDetail.parse(detail));
      },
    },
    guardrail: { id: 'gr-1', version: '2' },
    sampleRate: 1,
    timeoutMs: 5000,
    newId: () => 'interaction-1',
    ...overrides,
  };
  return { gateway: new ModelGateway(deps), records, providerFor };
}

const body = {
  prompt: 'support-answer',
  variables: { context: CONTEXT, question: 'How long do refunds take?' },
};

describe('ModelGateway.chat', () => {
  it('renders the prompt, picks the cheapest model that fits, prices the call and records it', async () => {
    const { gateway, records } = setup();
    const response = await gateway.chat(body, caller, 'req-1');
    expect(response.answer).toContain('Refunds are issued within 5 business days');
    expect(response.model).toEqual({ id: 'small', provider: 'offline', modelId: 'vendor.small' });
    expect(response.prompt).toEqual({ name: 'support-answer', version: 3 });
    const expectedCost =
      (response.usage.inputTokens / 1000) * 0.000035 + (response.usage.outputTokens / 1000) * 0.00014;
    expect(response.usage.costUsd).toBeCloseTo(expectedCost, 9);
    expect(response.usage.inputTokens).toBeGreaterThan(0);
    expect(records).toHaveLength(1);
    const record = records[0];
    expect(record).toMatchObject({
      interactionId: 'interaction-1',
      app: 'support-bot',
      tenant: 'acme',
      status: 'ok',
      prompt: { name: 'support-answer', version: 3, ref: 'support-answer' },
      usage: response.usage,
    });
    // The sampled payload is PII-redacted before it leaves the function.
    expect(record?.payload?.system?.text).not.toContain('help@example.com');
    expect(record?.payload?.system?.text).toContain('[EMAIL]');
    expect(record?.payload?.redactions).toEqual({ EMAIL: 1 });
  });

  it('keeps metadata but no payload for calls outside the sample', async () => {
    const { gateway, records } = setup({ sampleRate: 0 });
    await gateway.chat(body, caller, 'req-1');
    expect(records[0]?.payload).toBeNull();
    expect(records[0]?.usage.inputTokens).toBeGreaterThan(0);
  });

  it('applies the guardrail to Bedrock models only', async () => {
    const seen: ChatRequest[] = [];
    const spy: ModelProvider = {
      name: 'offline',
      chat: async (request) => {
        seen.push(request);
        return new OfflineProvider().chat(request);
      },
      chatStream: (request) => new OfflineProvider().chatStream(request),
      embed: (request) => new OfflineProvider().embed(request),
    };
    const { gateway } = setup({}, spy);
    await gateway.chat({ ...body, model: 'mid' }, caller, 'r');
    expect(seen[0]?.guardrail).toEqual({ id: 'gr-1', version: '2' });
    const sagemaker = setup(
      {
        catalog: {
          get: async () => catalogModel('tgi', { provider: 'sagemaker', inferenceComponent: 'ic-1' }),
          list: async () => [],
        },
      },
      spy,
    );
    await sagemaker.gateway.chat({ ...body, model: 'tgi' }, caller, 'r');
    expect(seen[1]?.guardrail).toBeUndefined();
    expect(seen[1]?.inferenceComponent).toBe('ic-1');
  });

  it('refuses input that cannot fit the context window before calling the model', async () => {
    const { gateway, records, providerFor } = setup();
    const long = 'word '.repeat(3000);
    await expect(
      gateway.chat({ ...body, model: 'small', variables: { ...body.variables, context: long } }, caller, 'r'),
    ).rejects.toBeInstanceOf(ContextWindowExceededError);
    expect(providerFor).not.toHaveBeenCalled();
    expect(records[0]).toMatchObject({
      status: 'client_error',
      errorCode: 'ContextWindowExceededError',
      payload: null,
    });
  });

  it('refuses an embedding model, a maxTokens above the model limit and a missing variable', async () => {
    const { gateway } = setup();
    await expect(gateway.chat({ ...body, model: 'embed' }, caller, 'r')).rejects.toThrow(/embedding model/);
    await expect(gateway.chat({ ...body, model: 'mid', maxTokens: 10_000 }, caller, 'r')).rejects.toThrow(
      ValidationError,
    );
    await expect(
      gateway.chat({ prompt: 'support-answer', variables: { context: 'x' } }, caller, 'r'),
    ).rejects.toThrow(PromptRenderError);
  });

  it('records a throttled call and lets the 429 through', async () => {
    const throttled: ModelProvider = {
      name: 'bedrock',
      chat: async () => {
        throw new ThrottledError('Model throttled', 4);
      },
      chatStream: () => {
        throw new ThrottledError('Model throttled', 4);
      },
      embed: async () => {
        throw new ThrottledError('Model throttled', 4);
      },
    };
    const { gateway, records } = setup({}, throttled);
    await expect(gateway.chat(body, caller, 'r')).rejects.toBeInstanceOf(ThrottledError);
    expect(records[0]).toMatchObject({ status: 'throttled', model: { id: 'small' } });
  });

  it('answers even when the interaction log is down', async () => {
    const { gateway } = setup({
      recorder: {
        record: async () => {
          throw new Error('PutEvents failed');
        },
      },
    });
    await expect(gateway.chat(body, caller, 'r')).resolves.toMatchObject({ model: { id: 'small' } });
  });
});

describe('ModelGateway.chatStream', () => {
  it('streams deltas whose concatenation is the final answer, then one done', async () => {
    const { gateway, records } = setup();
    const chunks = await collect(await gateway.chatStream(body, caller, 'r'));
    const last = chunks.at(-1);
    expect(last?.type).toBe('done');
    const text = chunks.flatMap((c) => (c.type === 'delta' ? [c.text] : [])).join('');
    expect(last?.type === 'done' && last.response.answer).toBe(text);
    expect(records[0]).toMatchObject({ status: 'ok', stream: true });
  });

  it('refuses before streaming when the model cannot stream', async () => {
    const { gateway } = setup({
      catalog: {
        get: async () => catalogModel('batch-only', { features: ['systemPrompt'] }),
        list: async () => [],
      },
    });
    await expect(gateway.chatStream({ ...body, model: 'batch-only' }, caller, 'r')).rejects.toThrow(
      /does not support streaming/,
    );
  });

  it('ends with an error event when the provider fails mid-stream', async () => {
    const failing: ModelProvider = {
      name: 'bedrock',
      chat: async () => {
        throw new Error('unused');
      },
      async *chatStream() {
        yield { type: 'delta' as const, text: 'Partial' };
        throw new ThrottledError('Model throttled', 2);
      },
      embed: async () => {
        throw new Error('unused');
      },
    };
    const { gateway, records } = setup({}, failing);
    const chunks = await collect(await gateway.chatStream(body, caller, 'r'));
    expect(chunks.map((c) => c.type)).toEqual(['start', 'delta', 'error']);
    expect(records[0]).toMatchObject({ status: 'throttled', stream: true });
  });
});
