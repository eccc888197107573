// The gateway environment of the API functions; the artifacts bucket below. Set before the handler
// module is imported (it reads its environment at import, as at a cold start).
import '../../../support/env/api.ts';
import type { Context } from 'aws-lambda';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidEventError, ModelProviderError, ThrottledError } from '#aws/errors.ts';
import { EVALUATION_CALLER, gatewayInput } from '#aws/eval/gateway-answers.ts';
import type { GatewayDeps } from '#aws/gateway.ts';
import { metrics } from '#aws/logging.ts';
import type { RetrievalRequest } from '#aws/rag/retriever.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import type { PromptDraft, PromptRef } from '#contracts/prompts/types.ts';
import type { EvalItem } from '#core/eval/types.ts';
import type { ChatRequest } from '#core/models/types.ts';
import type { InteractionRecordedDetail } from '#events/interaction-recorded.ts';
import { makeHandler } from '#functions/evaluation/generate.ts';
import { evalStaging, type StagedAnswers, type StagedPlan } from '#functions/evaluation/staging.ts';
import {
  catalogModel,
  catalogOf,
  promptVersion,
  recordingProvider,
  retrievalFor,
  retrievedChunk,
} from '../../../support/gateway-fixtures.ts';
import { memoryS3, testPlan as plan } from './support.ts';

vi.hoisted(() => {
  process.env.ARTIFACTS_BUCKET ??= 'artifacts-test';
});

const s3 = memoryS3();
const ARTIFACTS = 'artifacts';
const RUN = 'run-1';
const BATCH = { index: 0, key: evalStaging.batch(RUN, 0) };
const MODELS: CatalogModel[] = [catalogModel('cheap'), catalogModel('large', { pricePer1kInputUsd: 0.01 })];

const DRAFT: PromptDraft = {
  messages: [
    { role: 'system', content: 'Answer from the context only:\n{{context}}' },
    { role: 'user', content: '{{question}}' },
  ],
  variables: { question: { type: 'string' }, context: { type: 'string', required: false } },
  commitMessage: 'v',
};
const PROMPTS = [
  promptVersion('support', DRAFT, { version: 1 }),
  promptVersion('support', { ...DRAFT, model: { maxTokens: 3 } }, { version: 2, labels: [] }),
];

const ITEMS: EvalItem[] = [
  {
    id: 'q1',
    messages: [{ role: 'user', content: 'How much memory can a function have?' }],
    references: ['10,240 MB'],
    tags: [],
    unanswerable: false,
  },
  {
    id: 'q2',
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'I have a question about Lambda.' },
      { role: 'assistant', content: 'Go ahead.' },
      { role: 'user', content: 'How long can a function run?' },
    ],
    references: ['15 minutes'],
    tags: [],
    unanswerable: false,
  },
];

function stage(p: StagedPlan, items: EvalItem[] = ITEMS): void {
  s3.put(ARTIFACTS, evalStaging.plan(RUN), JSON.stringify(p));
  s3.put(ARTIFACTS, BATCH.key, JSON.stringify(items));
}

const answers = () => s3.json<StagedAnswers>(ARTIFACTS, evalStaging.answers(RUN, 0));

describe('generate handler', () => {
  let provider: ReturnType<typeof recordingProvider>;
  let records: InteractionRecordedDetail[];
  let retrievals: RetrievalRequest[];
  let sleeps: number[];

  function deps(overrides: Partial<GatewayDeps> = {}) {
    const gateway: GatewayDeps = {
      prompts: {
        get: async (ref: PromptRef) => {
          const found = PROMPTS.find((p) => 'version' in ref && p.version === ref.version);
          if (!found) throw new Error(`no prompt ${JSON.stringify(ref)}`);
          return found;
        },
      },
      catalog: catalogOf(MODELS),
      providerFor: () => provider.provider,
      recorder: { record: async (detail) => void records.push(detail) },
      retriever: {
        retrieve: async (request) => {
          retrievals.push(request);
          return retrievalFor(request, {
            chunks: [
              retrievedChunk({ docId: 'limits.md', text: 'Memory ranges from 128 MB to 10,240 MB.' }),
              retrievedChunk({ docId: 'timeouts.md', text: 'Functions run for up to 15 minutes.' }),
            ],
          });
        },
      },
      sampleRate: 0,
      timeoutMs: 5000,
      ...overrides,
    };
    return {
      s3: s3.client,
      artifactsBucket: ARTIFACTS,
      gateway,
      sleep: async (ms: number) => void sleeps.push(ms),
    };
  }

  beforeEach(() => {
    s3.install();
    provider = recordingProvider();
    records = [];
    retrievals = [];
    sleeps = [];
  });

  it('answers each item with the candidate and the baseline prompt versions, the last user turn as the question', async () => {
    stage(plan());
    const out = await makeHandler(deps())({ runId: RUN, batch: BATCH });
    expect(out).toEqual({ runId: RUN, batch: BATCH });
    const staged = answers();
    expect(staged.candidate.map((a) => a.itemId)).toEqual(['q1', 'q2']);
    expect(staged.baseline?.map((a) => a.itemId)).toEqual(['q1', 'q2']);
    for (const answer of [...staged.candidate, ...(staged.baseline ?? [])]) {
      expect(answer.error).toBeUndefined();
      expect(answer.answer).not.toBe('');
      expect(answer.latencyMs).toEqual(expect.any(Number));
      expect(answer.usage).toEqual({
        inputTokens: expect.any(Number),
        outputTokens: expect.any(Number),
        costUsd: expect.any(Number),
      });
      expect(answer.contexts).toBeUndefined();
    }
    const questions = provider.requests.map((r: ChatRequest) => r.messages.at(-1)?.content).sort();
    expect(questions).toEqual([
      'How long can a function run?',
      'How long can a function run?',
      'How much memory can a function have?',
      'How much memory can a function have?',
    ]);
    // Every call is an administrator's (no app access, no token budget), recorded as app `evaluation`.
    expect(records.map((r) => [r.app, r.route, r.prompt?.ref]).sort()).toEqual([
      ['evaluation', 'chat', 'support:1'],
      ['evaluation', 'chat', 'support:1'],
      ['evaluation', 'chat', 'support:2'],
      ['evaluation', 'chat', 'support:2'],
    ]);
    expect(records[0]?.requestId).toMatch(/^evaluation:run-1:(candidate|baseline):q[12]:1$/);
    expect(EVALUATION_CALLER.access).toBeNull();
  });

  it('takes the target answers from the staged predictions (nothing generated for it), still answering the baseline', async () => {
    stage(plan({ predictions: true, target: { model: 'vendor-x' } }));
    s3.put(
      ARTIFACTS,
      evalStaging.predictions(RUN),
      JSON.stringify({
        q1: { id: 'q1', prediction: 'Up to 15 minutes.', contexts: ['Functions run for up to 15 minutes.'] },
      }),
    );
    await makeHandler(deps())({ runId: RUN, batch: BATCH });
    const staged = answers();
    expect(staged.candidate).toEqual([
      {
        itemId: 'q1',
        answer: 'Up to 15 minutes.',
        contexts: [{ text: 'Functions run for up to 15 minutes.' }],
      },
      // An item without a prediction fails by name, never scores 0.
      { itemId: 'q2', answer: '', error: 'no prediction for item q2' },
    ]);
    expect(staged.baseline?.every((a) => a.error === undefined && a.answer !== '')).toBe(true);
    // Only the baseline's two answers went to a model.
    expect(records.map((r) => r.prompt?.ref)).toEqual(['support:1', 'support:1']);
  });

  it('answers a model target with the whole conversation, as /v1/chat/completions does', async () => {
    stage(plan({ target: { model: 'large' }, baseline: undefined }));
    await makeHandler(deps())({ runId: RUN, batch: BATCH });
    const staged = answers();
    expect(staged.baseline).toBeUndefined();
    expect(staged.candidate.every((a) => a.error === undefined)).toBe(true);
    const multiTurn = provider.requests.find((r) => r.messages.length > 1);
    expect(multiTurn?.system).toBe('You are terse.');
    expect(multiTurn?.messages.map((m) => m.content)).toEqual([
      'I have a question about Lambda.',
      'Go ahead.',
      'How long can a function run?',
    ]);
    expect(records.map((r) => [r.route, r.prompt, r.model?.id])).toEqual([
      ['chat.completions', null, 'large'],
      ['chat.completions', null, 'large'],
    ]);
    expect(gatewayInput({ model: 'large', rag: { k: 2 } }, ITEMS[0] as EvalItem)).toMatchObject({
      route: 'chat.completions',
      model: 'large',
      rag: { k: 2 },
    });
  });

  it('keeps the passages the model was given as the contexts, from the one retrieval the gateway made', async () => {
    stage(plan({ rag: { k: 2 }, baseline: undefined }));
    await makeHandler(deps())({ runId: RUN, batch: BATCH });
    const staged = answers();
    expect(staged.candidate[0]?.contexts).toEqual([
      { id: 'limits.md', text: 'Memory ranges from 128 MB to 10,240 MB.' },
      { id: 'timeouts.md', text: 'Functions run for up to 15 minutes.' },
    ]);
    expect(retrievals.map((r) => [r.query, r.k])).toEqual([
      ['How much memory can a function have?', 2],
      ['How long can a function run?', 2],
    ]);
  });

  it('retries a throttled answer with backoff, and fails an item that keeps failing with its reason', async () => {
    stage(plan({ baseline: undefined }));
    const chat = provider.provider.chat.bind(provider.provider);
    let calls = 0;
    provider.provider.chat = async (request) => {
      calls++;
      if (request.messages.at(-1)?.content.startsWith('How much')) {
        if (calls === 1) throw new ThrottledError('slow down', 2);
        return chat(request);
      }
      throw new ModelProviderError('the endpoint is down');
    };
    await makeHandler({ ...deps(), concurrency: 1 })({ runId: RUN, batch: BATCH });
    const [q1, q2] = answers().candidate;
    expect(q1?.error).toBeUndefined();
    expect(q2).toEqual({
      itemId: 'q2',
      answer: '',
      error: 'ModelProviderError: the endpoint is down (after 4 attempts)',
    });
    // The throttled attempt waited at least the 2 s the provider asked for.
    expect(sleeps[0]).toBeGreaterThanOrEqual(2000);
    expect(sleeps).toHaveLength(4);
  });

  it('does not retry what another attempt cannot fix, nor past the time left in the step', async () => {
    stage(plan({ target: { model: 'unknown' }, baseline: { prompt: 'support:1' } }));
    provider.provider.chat = async () => {
      throw new ThrottledError('slow down', 1);
    };
    const context = { getRemainingTimeInMillis: () => 12_000 } as Context;
    await makeHandler(deps())({ runId: RUN, batch: BATCH }, context);
    const staged = answers();
    expect(staged.candidate[0]?.error).toMatch(/^NotFoundError: Model unknown is not in the catalog/);
    expect(staged.baseline?.[0]?.error).toBe(
      'ThrottledError: slow down; no time left in this step for another attempt',
    );
    expect(sleeps).toEqual([]);
  });

  it("publishes each call's metrics as it ends, under that call's model and prompt only", async () => {
    stage(plan());
    const published: unknown[] = [];
    const publish = vi.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => {
      published.push(JSON.parse(JSON.stringify(metrics.serializeMetrics())));
      metrics.clearMetrics();
      metrics.clearDimensions();
      return metrics;
    });
    try {
      await makeHandler({ ...deps(), concurrency: 4 })({ runId: RUN, batch: BATCH });
    } finally {
      publish.mockRestore();
    }
    expect(published).toHaveLength(4);
    for (const emf of published as {
      _aws: { CloudWatchMetrics: { Dimensions: string[][] }[] };
      Prompt: string;
    }[]) {
      // One dimension set per publication: the call's own.
      expect(emf._aws.CloudWatchMetrics[0]?.Dimensions).toHaveLength(1);
      expect(emf.Prompt).toBe('support');
    }
  });

  it('refuses a batch that is not its run batch', async () => {
    await expect(
      makeHandler(deps())({ runId: RUN, batch: { index: 0, key: 'staging/eval/other/batch-00000.json' } }),
    ).rejects.toThrow(InvalidEventError);
  });
});
