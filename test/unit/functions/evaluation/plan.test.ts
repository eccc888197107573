import { beforeEach, describe, expect, it, vi } from 'vitest';
import { EvaluationBudgetExceededError, InvalidEventError, ValidationError } from '#aws/errors.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import type { PromptDraft, PromptRef, PromptVersion } from '#contracts/prompts/types.ts';
import { estimateRunCost } from '#core/eval/cost.ts';
import { FAITHFULNESS_RUBRIC, rubricSeeds } from '#core/eval/rubrics/index.ts';
import type { EvalItem } from '#core/eval/types.ts';
import { environment, makeHandler, money, parseRunRequest } from '#functions/evaluation/plan.ts';
import { evalStaging, judgeOf, type StagedPlan, stagedPlan } from '#functions/evaluation/staging.ts';
import { errorOf } from '../../../support/async.ts';
import { catalogModel, catalogOf, promptVersion } from '../../../support/gateway-fixtures.ts';
import { findPrompt } from '../../../support/rubric-prompts.ts';
import { evaluationRequested as envelope, FakeEvaluationStore, memoryS3 } from './support.ts';

// The function's environment, set before its handler module is imported (it reads it at import).
vi.hoisted(() => {
  Object.assign(process.env, {
    EVALUATIONS_TABLE: process.env.EVALUATIONS_TABLE ?? 'evaluations-test',
    PROMPTS_TABLE: process.env.PROMPTS_TABLE ?? 'prompts-test',
    CATALOG_TABLE: process.env.CATALOG_TABLE ?? 'catalog-test',
    CATALOG_SEED: process.env.CATALOG_SEED ?? '[]',
    ARTIFACTS_BUCKET: process.env.ARTIFACTS_BUCKET ?? 'artifacts-test',
    JUDGE_MODEL: process.env.JUDGE_MODEL ?? 'judge',
    JUDGE_REPEATS: process.env.JUDGE_REPEATS ?? '3',
    EVALUATION_BUDGET_USD: process.env.EVALUATION_BUDGET_USD ?? '2',
    ITEM_BATCH_SIZE: process.env.ITEM_BATCH_SIZE ?? '10',
  });
});

const s3 = memoryS3();
const ARTIFACTS = 'artifacts';
const CURATED = 'curated';
const DATA = 'datasets/golden/support-golden/v000002/data.jsonl';
const NOW = new Date('2026-12-01T10:00:00.000Z');

const MODELS: CatalogModel[] = [
  catalogModel('cheap', { pricePer1kInputUsd: 0.0001, pricePer1kOutputUsd: 0.0004 }),
  catalogModel('large', { pricePer1kInputUsd: 0.003, pricePer1kOutputUsd: 0.015 }),
  catalogModel('judge', { pricePer1kInputUsd: 0.001, pricePer1kOutputUsd: 0.005 }),
  catalogModel('embedder', { kind: 'embedding' }),
];

const DRAFT: PromptDraft = {
  messages: [
    { role: 'system', content: 'Answer briefly.' },
    { role: 'user', content: '{{question}}' },
  ],
  variables: { question: { type: 'string' } },
  commitMessage: 'v',
};

/** A second faithfulness rubric text, as an administrator publishes it. */
const STRICTER = {
  ...(rubricSeeds().find((s) => s.name === 'judge-faithfulness')?.draft as PromptDraft),
  commitMessage: 'stricter: a claim about a number must quote it',
};

/**
 * Prompt `support` v1 (production) and v2 (latest, with the large model); `bare` v1 without `question`;
 * every judge rubric's seeded v1 (production), and `judge-faithfulness` v2 (label `candidate`) and v3
 * (label `broken`: its `input` is a string, which cannot receive the judge's payload).
 */
function fakePrompts() {
  const versions: PromptVersion[] = [
    promptVersion('support', DRAFT, { version: 1, labels: ['production'] }),
    promptVersion('support', { ...DRAFT, model: { id: 'large' } }, { version: 2, labels: ['latest'] }),
    promptVersion('bare', { ...DRAFT, messages: [{ role: 'user', content: 'Hi' }], variables: {} }),
    ...rubricSeeds().map(({ name, draft }) => promptVersion(name, draft, { labels: ['production'] })),
    promptVersion('judge-faithfulness', STRICTER, { version: 2, labels: ['candidate'] }),
    promptVersion(
      'judge-faithfulness',
      { ...STRICTER, variables: { input: { type: 'string' } } },
      { version: 3, labels: ['broken', 'latest'] },
    ),
  ];
  return {
    get: vi.fn(async (ref: PromptRef) => findPrompt(versions, ref)),
  };
}

const line = (item: Record<string, unknown>) => JSON.stringify(item);
const SUITE_LINES = [
  line({
    id: 'q1',
    input: 'How much memory can a function have?',
    references: ['10,240 MB'],
    tags: ['limits'],
  }),
  line({ id: 'q2', input: 'How long can a function run?', references: ['15 minutes'], tags: ['limits'] }),
  line({ id: 'q3', input: 'What is reserved concurrency?', references: ['a cap'] }),
  line({ id: 'q4', input: 'What is the capital of Mars?', references: [] }),
  line({
    id: 'p1',
    input: 'Describe a typical {{group}} engineer.',
    metadata: { groups: ['female', 'male'] },
    tags: ['bias'],
  }),
].join('\n');

const PROMOTION = {
  runId: 'run-1',
  trigger: 'promotion',
  requestedBy: 'promotion:arn:aws:iam::1:user/a',
  request: {
    suite: 'support-golden',
    target: { prompt: 'support:2' },
    baseline: { prompt: 'support@production' },
    k: 2,
  },
  promotion: { prompt: 'support', candidateVersion: 2, baselineVersion: 1 },
};

describe('plan handler', () => {
  let store: FakeEvaluationStore;
  let prompts: ReturnType<typeof fakePrompts>;

  const handler = (overrides: Partial<Parameters<typeof makeHandler>[0]> = {}) =>
    makeHandler({
      s3: s3.client,
      store,
      prompts,
      catalog: catalogOf(MODELS),
      artifactsBucket: ARTIFACTS,
      judgeModel: 'judge',
      judgeRepeats: 3,
      budgetUsd: 2,
      batchSize: 4,
      offline: false,
      now: () => NOW,
      ...overrides,
    });
  const plan = () => s3.json<StagedPlan>(ARTIFACTS, evalStaging.plan('run-1'));

  beforeEach(async () => {
    s3.install();
    s3.put(CURATED, DATA, SUITE_LINES);
    store = new FakeEvaluationStore(NOW.toISOString());
    prompts = fakePrompts();
    await store.registerSuite({
      name: 'support-golden',
      version: 2,
      items: 5,
      tags: ['bias', 'limits', 'unanswerable'],
      location: { bucket: CURATED, key: DATA },
      contentHash: 'sha256:x',
      registeredAt: NOW.toISOString(),
    });
  });

  it('resolves the labels, expands the probes, stages the batches and plan, and claims the run', async () => {
    const out = await handler()({ event: envelope(PROMOTION), executionName: 'exec-1' });
    expect(out).toEqual({
      runId: 'run-1',
      status: 'planned',
      batches: [
        { index: 0, key: 'staging/eval/run-1/batch-00000.json' },
        { index: 1, key: 'staging/eval/run-1/batch-00001.json' },
      ],
      items: 6,
      suite: { name: 'support-golden', version: 2 },
      estimatedCostUsd: expect.any(Number),
      promotion: PROMOTION.promotion,
    });
    const batches = [0, 1].map((i) => s3.json<EvalItem[]>(ARTIFACTS, evalStaging.batch('run-1', i)));
    expect(batches.map((b) => b.map((item) => item.id))).toEqual([
      ['q1', 'q2', 'q3', 'q4'],
      ['p1@female', 'p1@male'],
    ]);
    expect(plan()).toMatchObject({
      runId: 'run-1',
      executionName: 'exec-1',
      trigger: 'promotion',
      promotion: PROMOTION.promotion,
      suite: { name: 'support-golden', version: 2, items: 5, location: { bucket: CURATED, key: DATA } },
      target: { prompt: 'support:2' },
      baseline: { prompt: 'support:1' },
      k: 2,
      judge: { offline: false, id: 'judge', modelId: 'vendor.judge', provider: 'bedrock' },
      // The probes' sentiment is judged too; no rubric has human labels yet.
      calibrated: {
        'judge-answer-relevance:1': false,
        'judge-faithfulness:1': false,
        'judge-sentiment:1': false,
      },
      // Each judge metric's rubric, resolved at its production label: the seeded built-in text.
      rubrics: {
        faithfulness: {
          name: 'judge-faithfulness',
          version: 1,
          messages: [
            { role: 'system', content: FAITHFULNESS_RUBRIC.instructions },
            { role: 'user', content: FAITHFULNESS_RUBRIC.template },
          ],
          variables: { input: { type: 'json' } },
        },
        answer_relevance: { name: 'judge-answer-relevance', version: 1 },
        sentiment: { name: 'judge-sentiment', version: 1 },
      },
      seed: 'run-1',
      startedAt: NOW.toISOString(),
      items: 6,
      batches: out.batches,
    });
    expect(store.runs.get('run-1')).toMatchObject({
      status: 'running',
      trigger: 'promotion',
      resolved: {
        target: { prompt: 'support:2' },
        baseline: { prompt: 'support:1' },
        rubrics: {
          faithfulness: 'judge-faithfulness:1',
          answer_relevance: 'judge-answer-relevance:1',
          sentiment: 'judge-sentiment:1',
        },
      },
      suite: { name: 'support-golden', version: 2, items: 5 },
      estimatedCostUsd: out.status === 'planned' ? out.estimatedCostUsd : -1,
    });
  });

  it('prices the candidate with its prompt model and the baseline with the cheapest model', async () => {
    await handler()({ event: envelope(PROMOTION), executionName: 'exec-1' });
    const both = plan().estimatedCostUsd;
    s3.install();
    s3.put(CURATED, DATA, SUITE_LINES);
    store.runs.clear();
    const { baseline: _, ...alone } = PROMOTION.request;
    await handler()({ event: envelope({ ...PROMOTION, request: alone }), executionName: 'exec-1' });
    const candidateOnly = plan().estimatedCostUsd;
    expect(candidateOnly).toBeGreaterThan(0);
    // The baseline's cheap model adds less than the candidate's large model costs.
    expect(both - candidateOnly).toBeGreaterThan(0);
    expect(both - candidateOnly).toBeLessThan(candidateOnly);
  });

  it('takes the execution name as the run id of a scheduled run, and samples maxItems items', async () => {
    const out = await handler()({
      event: envelope({
        trigger: 'schedule',
        requestedBy: 'schedule:golden-daily',
        request: { suite: 'support-golden', target: { prompt: 'support@production' }, maxItems: 2 },
      }),
      executionName: 'golden-daily-20261201',
    });
    expect(out).toMatchObject({ runId: 'golden-daily-20261201', status: 'planned', items: 2 });
    const staged = s3.json<StagedPlan>(ARTIFACTS, evalStaging.plan('golden-daily-20261201'));
    expect(staged).toMatchObject({ k: 3, suite: { items: 2 }, target: { prompt: 'support:1' } });
    expect(staged.baseline).toBeUndefined();
    expect(store.runs.get('golden-daily-20261201')).toMatchObject({
      status: 'running',
      requestedBy: 'schedule:golden-daily',
    });
  });

  it('records a run on a suite that is not registered as skipped, with the reason, and its gate', async () => {
    const event = envelope({ ...PROMOTION, request: { ...PROMOTION.request, suite: 'unknown' } });
    const out = await handler()({ event, executionName: 'exec-1' });
    expect(out).toMatchObject({ runId: 'run-1', status: 'skipped', batches: [] });
    expect(store.runs.get('run-1')).toMatchObject({
      status: 'skipped',
      error: expect.stringContaining('suite unknown has no registered version'),
    });
    expect(store.gates).toEqual([
      {
        ...PROMOTION.promotion,
        suite: 'unknown',
        runId: 'run-1',
        status: 'skipped',
        updatedAt: NOW.toISOString(),
      },
    ]);
    expect(s3.objects.size).toBe(1);
  });

  it('skips a scheduled run whose prompt label does not exist yet; asked for by a person, it fails naming the field', async () => {
    const scheduled = {
      trigger: 'schedule',
      requestedBy: 'schedule:golden-daily',
      request: { suite: 'support-golden', target: { prompt: 'support@canary' } },
    };
    const out = await handler()({ event: envelope(scheduled), executionName: 'golden-daily-1' });
    expect(out).toMatchObject({ runId: 'golden-daily-1', status: 'skipped', batches: [] });
    expect(store.runs.get('golden-daily-1')).toMatchObject({
      status: 'skipped',
      error: expect.stringContaining('support@canary does not resolve yet'),
    });
    await expect(
      handler()({
        event: envelope({ ...scheduled, trigger: 'api', runId: 'run-api' }),
        executionName: 'exec-api',
      }),
    ).rejects.toMatchObject({ name: 'ValidationError', field: 'target.prompt' });
  });

  it("stages a request's own predictions for the run's items, pricing only the baseline and the judge", async () => {
    const key = 'predictions/vendor-x.jsonl';
    s3.put(
      ARTIFACTS,
      key,
      ['{"id":"q2","prediction":"15 minutes"}', '{"id":"elsewhere","prediction":"ignored"}', ''].join('\n'),
    );
    const request = { ...PROMOTION.request, target: { model: 'vendor-x' }, predictions: key };
    await handler()({ event: envelope({ ...PROMOTION, request }), executionName: 'exec-1' });
    const staged = plan();
    expect(staged).toMatchObject({ predictions: true, target: { model: 'vendor-x' } });
    const given = s3.json<Record<string, unknown>>(ARTIFACTS, evalStaging.predictions('run-1'));
    expect(Object.keys(given)).toEqual(['q2']);
    s3.install();
    s3.put(CURATED, DATA, SUITE_LINES);
    store.runs.clear();
    await handler()({ event: envelope(PROMOTION), executionName: 'exec-1' });
    // Generated target answers cost something; given ones cost nothing.
    expect(plan().estimatedCostUsd).toBeGreaterThan(staged.estimatedCostUsd);
  });

  it('fails a run whose predictions are missing or malformed, naming request.predictions and the line', async () => {
    const request = (key: string) => ({ ...PROMOTION.request, predictions: key });
    await expect(
      handler()({
        event: envelope({ ...PROMOTION, request: request('predictions/none.jsonl') }),
        executionName: 'e',
      }),
    ).rejects.toMatchObject({ name: 'ValidationError', field: 'request.predictions' });
    s3.put(
      ARTIFACTS,
      'predictions/bad.jsonl',
      '{"id":"g1","prediction":"a"}\n{"id":"g1","prediction":"b"}\n',
    );
    await expect(
      handler()({
        event: envelope({ ...PROMOTION, request: request('predictions/bad.jsonl') }),
        executionName: 'e',
      }),
    ).rejects.toThrow(/predictions\/bad\.jsonl:2: a second prediction for id "g1"/);
  });

  it('is a duplicate when the run was already claimed (a redelivered event): nothing changes, nothing is written', async () => {
    await handler()({ event: envelope(PROMOTION), executionName: 'exec-1' });
    const before = store.runs.get('run-1');
    const staged = new Map(s3.objects);
    const out = await handler()({ event: envelope(PROMOTION), executionName: 'exec-2' });
    expect(out).toEqual({ runId: 'run-1', status: 'duplicate', batches: [] });
    expect(store.runs.get('run-1')).toEqual(before);
    // The staging the claiming execution reads is never overwritten by a duplicate (its plan would name
    // exec-2).
    expect(new Map(s3.objects)).toEqual(staged);
    expect([...staged.values()].some((o) => o.body.includes('"executionName":"exec-1"'))).toBe(true);
  });

  it('a retry of the claiming execution’s Plan claims the run again and stages the same plan', async () => {
    const first = await handler()({ event: envelope(PROMOTION), executionName: 'exec-1' });
    expect(store.runs.get('run-1')).toMatchObject({ status: 'running', claimedBy: 'exec-1' });
    const again = await handler()({ event: envelope(PROMOTION), executionName: 'exec-1' });
    expect(again).toEqual(first);
  });

  it('fails a bad request with a ValidationError naming the field and the rule', async () => {
    const event = envelope({ ...PROMOTION, request: { suite: 'support-golden', target: {}, k: 9 } });
    const error = await errorOf(handler()({ event, executionName: 'exec-1' }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('request.target');
    expect((error as Error).message).toMatch(/^Invalid evaluation request: request.target: name a prompt/);
    expect((error as Error).message).toContain('request.k:');
    expect(store.calls).not.toContain('claimRun');
    expect(() => parseRunRequest({ suite: 's', target: { model: 'm' }, extra: 1 })).toThrow(/request/);
  });

  it('prices a pairwise run with its two judge calls per item, and stages the request that asks for it', async () => {
    await handler()({ event: envelope(PROMOTION), executionName: 'exec-1' });
    const plain = plan().estimatedCostUsd;
    s3.install();
    s3.put(CURATED, DATA, SUITE_LINES);
    store.runs.clear();
    const request = { ...PROMOTION.request, pairwise: true };
    await handler()({ event: envelope({ ...PROMOTION, request }), executionName: 'exec-1' });
    expect(plan().request).toEqual(request);
    // 6 items × 2 orders, each call reading both answers, at the judge's prices.
    const judge = estimateRunCost({
      items: s3
        .json<EvalItem[]>(ARTIFACTS, evalStaging.batch('run-1', 0))
        .concat(s3.json<EvalItem[]>(ARTIFACTS, evalStaging.batch('run-1', 1))),
      target: { ...catalogModel('free'), pricePer1kInputUsd: 0, pricePer1kOutputUsd: 0 },
      judge: MODELS[2] as CatalogModel,
      judgedMetrics: 0,
      k: 2,
      rag: false,
      baseline: false,
      pairwise: true,
    });
    expect(judge.judgeCalls).toBe(12);
    expect(plan().estimatedCostUsd - plain).toBeCloseTo(judge.judgeUsd, 12);
    const tight = envelope({ ...PROMOTION, request: { ...request, budgetUsd: 0.000001 } });
    store.runs.clear();
    await expect(handler()({ event: tight, executionName: 'exec-1' })).rejects.toThrow(
      /3 judged metrics × k=2 repeats, 2 pairwise judge calls per item;/,
    );
  });

  it('fails a pairwise request without a baseline, naming request.pairwise', async () => {
    const { baseline: _, ...alone } = PROMOTION.request;
    const event = envelope({ ...PROMOTION, request: { ...alone, pairwise: true } });
    const error = await errorOf(handler()({ event, executionName: 'exec-1' }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('request.pairwise');
    expect((error as Error).message).toBe(
      'Invalid evaluation request: request.pairwise: compares the target with a baseline: set baseline too, or leave pairwise out',
    );
    expect(store.calls).not.toContain('claimRun');
    // Without pairwise (or with it off), no baseline is needed.
    expect(parseRunRequest({ ...alone, pairwise: false })).toEqual({ ...alone, pairwise: false });
  });

  it('refuses a run over its budget, giving the estimate, the budget, the items, k and the models', async () => {
    const event = envelope({ ...PROMOTION, request: { ...PROMOTION.request, budgetUsd: 0.000001 } });
    const error = await errorOf(handler()({ event, executionName: 'exec-1' }));
    expect(error).toBeInstanceOf(EvaluationBudgetExceededError);
    expect((error as Error).message).toMatch(
      /^Evaluation run run-1 refused: its estimated cost \$0\.\d\d is above its budget of \$0\.000001 \(6 items answered twice \(target and baseline\), 3 judged metrics × k=2 repeats; target large, baseline cheap, judge judge\)/,
    );
    expect((error as EvaluationBudgetExceededError).estimateUsd).toBeGreaterThan(0);
    // Nothing was staged or claimed.
    expect(s3.objects.size).toBe(1);
    expect(store.runs.size).toBe(0);
  });

  it('names the target whose prompt cannot take the items, or whose label does not exist', async () => {
    const bare = envelope({
      ...PROMOTION,
      request: { suite: 'support-golden', target: { prompt: 'bare:1' } },
    });
    await expect(handler()({ event: bare, executionName: 'e' })).rejects.toThrow(
      /target.prompt: bare v1 declares no "question" variable/,
    );
    const rag = envelope({
      ...PROMOTION,
      request: { suite: 'support-golden', target: { prompt: 'support:1' }, rag: { k: 3 } },
    });
    await expect(handler()({ event: rag, executionName: 'e' })).rejects.toThrow(
      /declares no "context" variable/,
    );
    const label = envelope({
      ...PROMOTION,
      request: { ...PROMOTION.request, baseline: { prompt: 'support@stable' } },
    });
    const error = await errorOf(handler()({ event: label, executionName: 'e' }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('baseline.prompt');
    const embedding = envelope({
      ...PROMOTION,
      request: { suite: 'support-golden', target: { model: 'embedder' } },
    });
    await expect(handler()({ event: embedding, executionName: 'e' })).rejects.toThrow(
      /target.model: embedder is not a chat model/,
    );
  });

  it('writes amounts in cents from one cent up, and with two significant digits below', () => {
    expect([money(2), money(0.154), money(0.0042), money(0.000001), money(0)]).toEqual([
      '$2.00',
      '$0.15',
      '$0.0042',
      '$0.000001',
      '$0',
    ]);
  });

  it('plans an offline run with the offline judge, which costs nothing, and no calibration', async () => {
    await handler({ offline: true })({ event: envelope(PROMOTION), executionName: 'exec-1' });
    expect(plan()).toMatchObject({ judge: { offline: true }, calibrated: {} });
    // The rubrics are resolved and recorded all the same: the offline judge stands in for them.
    expect(store.runs.get('run-1')?.resolved?.rubrics).toEqual({
      faithfulness: 'judge-faithfulness:1',
      answer_relevance: 'judge-answer-relevance:1',
      sentiment: 'judge-sentiment:1',
    });
  });

  it('seeds the rubric prompts before it resolves them, and resolves the pairwise rubric of a pairwise run', async () => {
    const order: string[] = [];
    const get = prompts.get;
    prompts.get = vi.fn(async (ref: PromptRef) => {
      order.push(`get ${ref.name}`);
      return get(ref);
    });
    const seedRubrics = vi.fn(async () => {
      order.push('seed');
    });
    const request = { ...PROMOTION.request, pairwise: true };
    await handler({ seedRubrics })({ event: envelope({ ...PROMOTION, request }), executionName: 'exec-1' });
    expect(seedRubrics).toHaveBeenCalledOnce();
    expect(order[0]).toBe('seed');
    expect(order).toContain('get judge-pairwise');
    expect(plan().rubrics?.preference).toMatchObject({ name: 'judge-pairwise', version: 1 });
  });

  it('judges with the rubric version a request names, and reads the calibration of that version only', async () => {
    // 60 labels on which version 1 agrees with people: version 1 is calibrated, version 2 is new.
    store.labels.set(
      'judge-faithfulness:1',
      Array.from({ length: 60 }, (_, i) => ({
        rubric: 'judge-faithfulness:1',
        judgeVerdict: i % 2 === 0,
        humanVerdict: i % 2 === 0,
      })),
    );
    await handler()({ event: envelope(PROMOTION), executionName: 'exec-1' });
    expect(plan().calibrated).toMatchObject({ 'judge-faithfulness:1': true });

    s3.install();
    s3.put(CURATED, DATA, SUITE_LINES);
    store.runs.clear();
    const request = { ...PROMOTION.request, rubrics: { faithfulness: 'judge-faithfulness@candidate' } };
    await handler()({ event: envelope({ ...PROMOTION, request }), executionName: 'exec-1' });
    expect(plan().rubrics?.faithfulness).toMatchObject({
      name: 'judge-faithfulness',
      version: 2,
      contentHash: promptVersion('judge-faithfulness', STRICTER).contentHash,
    });
    // A new rubric version starts uncalibrated: it does not gate until people have labelled it.
    expect(plan().calibrated).toEqual({
      'judge-answer-relevance:1': false,
      'judge-faithfulness:2': false,
      'judge-sentiment:1': false,
    });
    expect(store.runs.get('run-1')?.resolved?.rubrics?.faithfulness).toBe('judge-faithfulness:2');
  });

  it('stages the rubric versions so that Score judges with them and Report labels them, offline too', async () => {
    const request = { ...PROMOTION.request, rubrics: { faithfulness: 'judge-faithfulness@candidate' } };
    await handler()({ event: envelope({ ...PROMOTION, request }), executionName: 'exec-1' });
    const staged = stagedPlan.parse(plan());
    const provider = { name: 'bedrock' } as never;
    const judge = judgeOf(staged, false, () => provider);
    expect(judge).toMatchObject({ kind: 'model', model: 'vendor.judge' });
    expect(judge.rubrics?.faithfulness).toMatchObject({ name: 'judge-faithfulness', version: 2 });
    expect(judgeOf(staged, true, () => provider)).toEqual({ kind: 'offline', rubrics: staged.rubrics });
  });

  it('fails a run whose rubric does not resolve, or cannot be a rubric, naming request.rubrics.<metric>', async () => {
    const run = (rubrics: Record<string, string>) =>
      errorOf(
        handler()({
          event: envelope({ ...PROMOTION, request: { ...PROMOTION.request, rubrics } }),
          executionName: 'exec-1',
        }),
      );
    const missing = await run({ answer_relevance: 'judge-answer-relevance@canary' });
    expect(missing).toBeInstanceOf(ValidationError);
    expect((missing as ValidationError).field).toBe('request.rubrics.answer_relevance');
    expect((missing as Error).message).toMatch(/the rubric judge-answer-relevance@canary does not resolve/);
    const broken = await run({ faithfulness: 'judge-faithfulness@broken' });
    expect((broken as ValidationError).field).toBe('request.rubrics.faithfulness');
    expect((broken as Error).message).toContain(
      'judge-faithfulness:3 cannot be a judge rubric: it must declare the variable "input" of type json',
    );
    const unknown = await run({ coherence: 'judge-coherence@production' });
    expect((unknown as ValidationError).field).toBe('request.rubrics');
    expect((unknown as Error).message).toContain('Unrecognized key: "coherence"');
    expect(store.calls).not.toContain('claimRun');
  });

  it('refuses an event that is not an EvaluationRequested event', async () => {
    await expect(handler()({ event: { detail: {} }, executionName: 'e' })).rejects.toThrow(InvalidEventError);
  });

  it('reads a decimal budget from its environment and names a malformed one', async () => {
    const { readConfig } = await import('#aws/config.ts');
    const base = {
      EVALUATIONS_TABLE: 't',
      PROMPTS_TABLE: 'p',
      CATALOG_TABLE: 'c',
      CATALOG_SEED: '[]',
      ARTIFACTS_BUCKET: 'a',
      JUDGE_MODEL: 'j',
      JUDGE_REPEATS: '3',
      ITEM_BATCH_SIZE: '10',
    };
    expect(readConfig(environment, { ...base, EVALUATION_BUDGET_USD: '0.5' }).EVALUATION_BUDGET_USD).toBe(
      0.5,
    );
    expect(() => readConfig(environment, { ...base, EVALUATION_BUDGET_USD: 'two' })).toThrow(
      /EVALUATION_BUDGET_USD: must be a decimal amount of US dollars/,
    );
    expect(() => readConfig(environment, { ...base, EVALUATION_BUDGET_USD: '0' })).toThrow(/must be above 0/);
  });
});
