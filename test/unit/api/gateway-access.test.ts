import { describe, expect, it, vi } from 'vitest';
import { EmbeddingsGateway } from '#aws/embeddings-gateway.ts';
import { ForbiddenError, TokenBudgetExceededError } from '#aws/errors.ts';
import { type GatewayDeps, ModelGateway } from '#aws/gateway.ts';
import type { RetrievalRequest } from '#aws/rag/retriever.ts';
import type { AppAccess } from '#contracts/http/access.ts';
import type { ApiCaller } from '#contracts/http/caller.ts';
import type { GatewayChatInput } from '#contracts/http/schemas.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import type { PromptVersion } from '#contracts/prompts/types.ts';
import { collect, errorOf } from '../../support/async.ts';
import {
  appCaller,
  catalogModel,
  catalogOf,
  promptVersion,
  recordingProvider,
  retrievalFor,
} from '../../support/gateway-fixtures.ts';

/**
 * Per-app access on the chat and embeddings paths: the prompt, the model (asked for, pinned by the
 * prompt, or picked), the RAG collections and the daily token budget are checked before anything is
 * read or paid for, and each call's tokens are charged to the app.
 */
const ACCESS: AppAccess = {
  prompts: ['support-*'],
  models: ['cheap', 'embed-small'],
  collections: ['dataset:faq'],
  rawChat: false,
  tokensPerDay: 1000,
};
const callerWith = (access: AppAccess | null): ApiCaller => appCaller('mobile', { access });

const model = (id: string, overrides: Partial<CatalogModel> = {}): CatalogModel =>
  catalogModel(id, { provider: 'offline', modelId: `offline.${id}`, ...overrides });
// `cheapest` is cheaper than `cheap`, but the app may not use it.
const CATALOG = [
  model('cheapest', { pricePer1kInputUsd: 0.00001 }),
  model('cheap', { pricePer1kInputUsd: 0.0001 }),
  model('dear', { pricePer1kInputUsd: 0.01 }),
  model('embed-small', { kind: 'embedding', dimensions: 256, features: [] }),
  model('embed-other', { kind: 'embedding', dimensions: 256, features: [] }),
];

function promptNamed(name: string, pinned?: string): PromptVersion {
  const draft = {
    messages: [
      { role: 'system' as const, content: 'Answer from: {{context}}' },
      { role: 'user' as const, content: '{{question}}' },
    ],
    variables: { question: { type: 'string' as const }, context: { type: 'string' as const } },
    ...(pinned ? { model: { id: pinned } } : {}),
    commitMessage: 'first',
  };
  return promptVersion(name, draft, { author: 'a', createdAt: '2026-01-01T00:00:00.000Z' });
}

function setup(options: { used?: number; pinned?: string } = {}) {
  const { provider, requests } = recordingProvider();
  const embed = vi.spyOn(provider, 'embed');
  const getPrompt = vi.fn(async (ref: { name: string }) => promptNamed(ref.name, options.pinned));
  const retrievals: RetrievalRequest[] = [];
  let used = options.used ?? 0;
  const budget = {
    assertWithinBudget: vi.fn(async (app: string, allowance: { tokensPerDay: number | null } | null) => {
      const limit = allowance?.tokensPerDay ?? null;
      if (limit !== null && used >= limit) {
        throw new TokenBudgetExceededError(`app "${app}" has used its ${limit} tokens of today`, 60);
      }
    }),
    consume: vi.fn(async (_app: string, tokens: number) => {
      used += tokens;
      return used;
    }),
  };
  const catalog = catalogOf(CATALOG);
  const recorder = { record: async () => {} };
  const deps: GatewayDeps = {
    prompts: { get: getPrompt },
    catalog,
    providerFor: () => provider,
    recorder,
    retriever: {
      retrieve: async (request: RetrievalRequest) => {
        retrievals.push(request);
        return retrievalFor(request, { embedding: { modelId: 'embed-small', inputTokens: 3 } });
      },
    },
    budget,
    sampleRate: 0,
    timeoutMs: 5000,
  };
  const embeddings = new EmbeddingsGateway({
    catalog,
    providerFor: () => provider,
    recorder,
    budget,
    sampleRate: 0,
    timeoutMs: 5000,
  });
  return { gateway: new ModelGateway(deps), embeddings, requests, getPrompt, retrievals, budget, embed };
}

const ask = (overrides: Partial<GatewayChatInput> = {}): GatewayChatInput => ({
  prompt: 'support-answer',
  variables: { question: 'How long do refunds take?', context: 'Refunds take 5 days.' },
  ...overrides,
});

describe('per-app access on the chat path', () => {
  it('refuses a prompt outside the allowlist before reading it, naming the app and the rule', async () => {
    const { gateway, getPrompt, requests } = setup();
    const error = await errorOf(
      gateway.chat(ask({ prompt: 'billing-summary@production' }), callerWith(ACCESS), 'r'),
    );
    expect(error).toBeInstanceOf(ForbiddenError);
    expect((error as Error).message).toBe(
      'app "mobile" may not use prompt "billing-summary" (allowed: support-*)',
    );
    expect(getPrompt).not.toHaveBeenCalled();
    expect(requests).toHaveLength(0);
  });

  it('refuses a chat without a prompt when rawChat is off, streamed or not', async () => {
    const { gateway } = setup();
    const raw: GatewayChatInput = { model: 'cheap', messages: [{ role: 'user', content: 'hi' }] };
    await expect(gateway.chat(raw, callerWith(ACCESS), 'r')).rejects.toThrow(/may not chat without a prompt/);
    await expect(gateway.chatStream(raw, callerWith(ACCESS), 'r')).rejects.toThrow(/rawChat is off/);
    const allowed = await gateway.chat(raw, callerWith({ ...ACCESS, rawChat: true }), 'r');
    expect(allowed.model.id).toBe('cheap');
  });

  it('refuses a model the app may not use: asked for, or pinned by an allowed prompt', async () => {
    await expect(setup().gateway.chat(ask({ model: 'dear' }), callerWith(ACCESS), 'r')).rejects.toThrow(
      'app "mobile" may not use model "dear" (allowed: cheap, embed-small)',
    );
    const pinned = setup({ pinned: 'dear' });
    await expect(pinned.gateway.chat(ask(), callerWith(ACCESS), 'r')).rejects.toBeInstanceOf(ForbiddenError);
    expect(pinned.requests).toHaveLength(0);
  });

  it('picks the cheapest model among the allowed ones, not the cheapest of the catalog', async () => {
    const { gateway } = setup();
    expect((await gateway.chat(ask(), callerWith(ACCESS), 'r')).model.id).toBe('cheap');
    expect((await gateway.chat(ask(), callerWith(null), 'r')).model.id).toBe('cheapest');
  });

  it('keeps retrieval within the allowed collections and refuses naming another', async () => {
    const { gateway, retrievals } = setup();
    const rag = (options: GatewayChatInput['rag']) =>
      ask({ variables: { question: 'How long do refunds take?' }, rag: options });
    await gateway.chat(rag({ k: 3 }), callerWith(ACCESS), 'r');
    expect(retrievals.at(-1)?.collections).toEqual(['dataset:faq']);
    await expect(
      gateway.chat(rag({ filters: { collection: 'upload' } }), callerWith(ACCESS), 'r'),
    ).rejects.toThrow(/may not search collection "upload"/);
    await expect(gateway.chat(rag({}), callerWith({ ...ACCESS, collections: [] }), 'r')).rejects.toThrow(
      /may not search any RAG collection/,
    );
    await gateway.chat(rag({}), callerWith(null), 'r');
    expect(retrievals.at(-1)?.collections).toBeUndefined();
  });

  it('charges each answer to the app and refuses it once the day is spent, before any model call', async () => {
    const { gateway, budget, requests } = setup({ used: 990 });
    const first = await gateway.chat(ask(), callerWith(ACCESS), 'r');
    const tokens = first.usage.inputTokens + first.usage.outputTokens;
    expect(tokens).toBeGreaterThan(10);
    expect(budget.consume).toHaveBeenCalledWith('mobile', tokens);
    const error = await errorOf(gateway.chat(ask(), callerWith(ACCESS), 'r'));
    expect(error).toBeInstanceOf(TokenBudgetExceededError);
    expect(requests).toHaveLength(1);
    await expect(gateway.chatStream(ask(), callerWith(ACCESS), 'r')).rejects.toBeInstanceOf(
      TokenBudgetExceededError,
    );
  });

  it('charges a streamed answer when it ends', async () => {
    const { gateway, budget } = setup();
    const chunks = await collect(await gateway.chatStream(ask(), callerWith(ACCESS), 'r'));
    const done = chunks.find((c) => c.type === 'done');
    if (done?.type !== 'done') throw new Error('no done chunk');
    expect(budget.consume).toHaveBeenCalledWith(
      'mobile',
      done.response.usage.inputTokens + done.response.usage.outputTokens,
    );
  });
});

describe('per-app access on the embeddings path', () => {
  it('refuses a model outside the allowlist and a spent budget before embedding; charges the tokens', async () => {
    const { embeddings, embed, budget } = setup();
    await expect(
      embeddings.embed({ model: 'embed-other', input: 'hello' }, callerWith(ACCESS), 'r'),
    ).rejects.toThrow('app "mobile" may not use model "embed-other" (allowed: cheap, embed-small)');
    const result = await embeddings.embed(
      { model: 'embed-small', input: 'hello there' },
      callerWith(ACCESS),
      'r',
    );
    expect(budget.consume).toHaveBeenCalledWith('mobile', result.usage.inputTokens);
    const spent = setup({ used: 1000 });
    await expect(
      spent.embeddings.embed({ model: 'embed-small', input: 'hello' }, callerWith(ACCESS), 'r'),
    ).rejects.toBeInstanceOf(TokenBudgetExceededError);
    expect(spent.embed).not.toHaveBeenCalled();
    expect(embed).toHaveBeenCalledTimes(1);
  });
});
