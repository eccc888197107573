import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DIMENSION_CHOICES,
  EmbeddingsGateway,
  type EmbeddingsGatewayDeps,
  MAX_LOGGED_INPUT_CHARS,
} from '#aws/embeddings-gateway.ts';
import { ContentBlockedError, ModelProviderError, ThrottledError, ValidationError } from '#aws/errors.ts';
import { NO_PROMPT } from '#aws/gateway.ts';
import { metrics } from '#aws/logging.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import { hashEmbedding, OfflineProvider } from '#core/models/offline.ts';
import type { ContentGuard, EmbedRequest, ModelProvider } from '#core/models/types.ts';
import { type InteractionRecordedDetail, interactionRecordedDetail } from '#events/interaction-recorded.ts';
import { errorOf } from '../../support/async.ts';
import { appCaller, catalogModel, catalogOf } from '../../support/gateway-fixtures.ts';

// Unrestricted: these tests are not about per-app access.
const caller = appCaller('search', { tenant: 'acme' });

const TITAN = catalogModel('titan-embed-text-v2', {
  modelId: 'amazon.titan-embed-text-v2:0',
  kind: 'embedding',
  contextWindow: 8192,
  maxOutputTokens: 0,
  dimensions: 1024,
  pricePer1kInputUsd: 0.02,
  pricePer1kOutputUsd: 0,
  features: [],
});
const SMALL: CatalogModel = {
  ...TITAN,
  id: 'small-embed',
  modelId: 'vendor.small-embed',
  contextWindow: 16,
  dimensions: 64,
};
const CHAT: CatalogModel = {
  ...TITAN,
  id: 'nova-micro',
  modelId: 'vendor.nova',
  kind: 'chat',
  dimensions: undefined,
};
const CATALOG = [TITAN, SMALL, CHAT];

function setup(
  overrides: Partial<EmbeddingsGatewayDeps> = {},
  provider: ModelProvider = new OfflineProvider(),
) {
  const records: InteractionRecordedDetail[] = [];
  const embed = vi.spyOn(provider, 'embed');
  const deps: EmbeddingsGatewayDeps = {
    catalog: catalogOf(CATALOG),
    providerFor: () => provider,
    recorder: { record: async (detail) => void records.push(interactionRecordedDetail.parse(detail)) },
    sampleRate: 1,
    timeoutMs: 2000,
    newId: () => 'i-emb',
    ...overrides,
  };
  return { gateway: new EmbeddingsGateway(deps), records, embed };
}

const guardSaying = (action: 'NONE' | 'INTERVENED', policies: string[] = []): ContentGuard => ({
  checkInput: vi.fn(async () => ({ action, policies })),
  checkOutput: vi.fn(async () => ({ action: 'NONE' as const, policies: [] })),
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('EmbeddingsGateway', () => {
  it('embeds the texts in order with the catalog model, priced from the catalog', async () => {
    const { gateway, embed } = setup();
    const result = await gateway.embed(
      { model: 'titan-embed-text-v2', input: ['refund policy', 'shipping times'], dimensions: 256 },
      caller,
      'req',
    );
    expect(embed).toHaveBeenCalledWith(
      expect.objectContaining({
        modelId: 'amazon.titan-embed-text-v2:0',
        texts: ['refund policy', 'shipping times'],
        dimensions: 256,
      }),
    );
    expect(result.vectors).toEqual([
      hashEmbedding('refund policy', 256),
      hashEmbedding('shipping times', 256),
    ]);
    expect(result).toMatchObject({ interactionId: 'i-emb', model: 'titan-embed-text-v2', dimensions: 256 });
    expect(result.usage.inputTokens).toBeGreaterThan(0);
    expect(result.usage.costUsd).toBeCloseTo((result.usage.inputTokens / 1000) * 0.02, 9);
  });

  it('records the call under the embeddings route, with no prompt, and its redacted texts when sampled', async () => {
    const { gateway, records } = setup();
    await gateway.embed({ model: 'titan-embed-text-v2', input: 'write to ada@example.com' }, caller, 'req');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      route: 'embeddings',
      stream: false,
      prompt: null,
      status: 'ok',
      app: 'search',
      tenant: 'acme',
      model: { id: 'titan-embed-text-v2', provider: 'offline' },
      usage: { outputTokens: 0 },
      stopReason: null,
    });
    expect(records[0]?.payload?.messages[0]?.content.text).toContain('[EMAIL]');
    expect(records[0]?.payload?.redactions).toEqual({ EMAIL: 1 });
    const unsampled = setup({ sampleRate: 0 });
    await unsampled.gateway.embed({ model: 'titan-embed-text-v2', input: 'x' }, caller, 'req');
    expect(unsampled.records[0]?.payload).toBeNull();
  });

  it('logs at most a bounded share of the texts of a sampled call', async () => {
    const { gateway, records } = setup();
    const long = 'word '.repeat(3000);
    await gateway.embed({ model: 'titan-embed-text-v2', input: [long, long, long, long] }, caller, 'req');
    const logged = records[0]?.payload?.messages ?? [];
    expect(logged.reduce((n, m) => n + m.content.text.length, 0)).toBeLessThanOrEqual(MAX_LOGGED_INPUT_CHARS);
    expect(logged.at(-1)?.content.truncated).toBe(true);
  });

  it('emits the call metrics under the Prompt dimension (none)', async () => {
    const dimensions = vi.spyOn(metrics, 'addDimensions');
    const added = vi.spyOn(metrics, 'addMetric');
    const { gateway } = setup();
    await gateway.embed({ model: 'titan-embed-text-v2', input: 'x' }, caller, 'req');
    expect(dimensions).toHaveBeenCalledWith({
      Model: 'titan-embed-text-v2',
      Prompt: NO_PROMPT,
      App: 'search',
    });
    expect(added).toHaveBeenCalledWith('InputTokens', 'Count', expect.any(Number));
    expect(added).toHaveBeenCalledWith('CostUsd', 'None', expect.any(Number));
  });

  it.each([
    ['a chat model', { model: 'nova-micro', input: 'x' }, 'model', /is a chat model, not an embedding model/],
    ['an empty text', { model: 'titan-embed-text-v2', input: ['ok', '  '] }, 'input.1', /non-whitespace/],
    ['an empty single text', { model: 'titan-embed-text-v2', input: '' }, 'input', /non-whitespace/],
    [
      'a text over the per-input limit',
      { model: 'small-embed', input: ['ok', 'word '.repeat(40)] },
      'input.1',
      /at most 16 tokens per input/,
    ],
    [
      'too many texts',
      { model: 'titan-embed-text-v2', input: Array(257).fill('x') },
      'input',
      /1 to 256 texts/,
    ],
    [
      'dimensions the model cannot produce',
      { model: 'titan-embed-text-v2', input: 'x', dimensions: 300 },
      'dimensions',
      /one of 256, 512, 1024/,
    ],
    [
      'more dimensions than the model has',
      { model: 'small-embed', input: 'x', dimensions: 128 },
      'dimensions',
      /at most 64/,
    ],
  ])('refuses %s with a 400 naming the field, before any model call', async (_name, input, field, rule) => {
    const { gateway, embed, records } = setup();
    const error = await errorOf(gateway.embed(input, caller, 'req'));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field, rule: expect.stringMatching(rule) });
    expect(embed).not.toHaveBeenCalled();
    expect(records[0]).toMatchObject({
      route: 'embeddings',
      status: 'client_error',
      errorCode: 'ValidationError',
    });
  });

  it('knows the dimensions Titan Text Embeddings v2 can produce', () => {
    expect(DIMENSION_CHOICES['amazon.titan-embed-text-v2:0']).toEqual([256, 512, 1024]);
  });

  it('answers 404 for a model not in the catalog', async () => {
    const { gateway, records } = setup();
    await expect(gateway.embed({ model: 'ada-002', input: 'x' }, caller, 'req')).rejects.toThrow(
      'Model ada-002 is not in the catalog',
    );
    expect(records[0]).toMatchObject({ status: 'client_error', errorCode: 'NotFoundError', model: null });
  });

  it('refuses texts the content guard blocks, naming its policies, without calling the model', async () => {
    const guard = guardSaying('INTERVENED', ['contentPolicy:HATE']);
    const { gateway, embed, records } = setup({ guard });
    const error = await errorOf(
      gateway.embed({ model: 'titan-embed-text-v2', input: ['a', 'b'] }, caller, 'req'),
    );
    expect(error).toBeInstanceOf(ContentBlockedError);
    expect(error).toMatchObject({ field: 'input', rule: expect.stringContaining('contentPolicy:HATE') });
    expect(guard.checkInput).toHaveBeenCalledWith(['a', 'b'], expect.any(AbortSignal));
    expect(embed).not.toHaveBeenCalled();
    expect(records[0]).toMatchObject({
      status: 'client_error',
      errorCode: 'ContentBlockedError',
      guardrail: { action: 'INTERVENED', policies: ['contentPolicy:HATE'] },
    });
  });

  it('records what the guard said of texts it let through', async () => {
    const { gateway, records } = setup({ guard: guardSaying('NONE') });
    await gateway.embed({ model: 'titan-embed-text-v2', input: 'fine' }, caller, 'req');
    expect(records[0]).toMatchObject({ status: 'ok', guardrail: { action: 'NONE', policies: [] } });
  });

  it('fails as a provider timeout (504) when the model outlives the deadline, even ignoring its signal', async () => {
    const stalling: ModelProvider = {
      ...new OfflineProvider(),
      name: 'bedrock',
      chat: async () => {
        throw new Error('unused');
      },
      chatStream: () => {
        throw new Error('unused');
      },
      embed: (_request: EmbedRequest) => new Promise(() => {}),
    };
    const { gateway, records } = setup({ timeoutMs: 30 }, stalling);
    const error = await errorOf(gateway.embed({ model: 'titan-embed-text-v2', input: 'x' }, caller, 'req'));
    expect(error).toBeInstanceOf(ModelProviderError);
    expect((error as ModelProviderError).timedOut).toBe(true);
    expect(records[0]).toMatchObject({ status: 'provider_error' });
  });

  it('passes provider throttling on and records it', async () => {
    const provider = new OfflineProvider();
    vi.spyOn(provider, 'embed').mockRejectedValue(new ThrottledError('slow down', 2));
    const { gateway, records } = setup({}, provider);
    await expect(
      gateway.embed({ model: 'titan-embed-text-v2', input: 'x' }, caller, 'req'),
    ).rejects.toBeInstanceOf(ThrottledError);
    expect(records[0]).toMatchObject({ status: 'throttled', errorCode: 'ThrottledError' });
  });
});
