import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { selectModelRequest, selectModelResponse } from '#contracts/http/schemas.ts';
import type { CatalogEvaluation, CatalogModel, ModelFeature } from '#contracts/models/catalog.ts';
import { ContextWindowExceededError, NoModelAvailableError } from '#core/errors.ts';
import {
  assertFitsContext,
  blendedPricePer1k,
  costUsd,
  type ModelConstraints,
  selectModel,
} from '#core/models/select.ts';

const model = (id: string, overrides: Partial<CatalogModel> = {}): CatalogModel => ({
  id,
  provider: 'bedrock',
  modelId: `vendor.${id}`,
  kind: 'chat',
  contextWindow: 200_000,
  maxOutputTokens: 8192,
  pricePer1kInputUsd: 0.001,
  pricePer1kOutputUsd: 0.005,
  features: ['streaming', 'systemPrompt', 'toolUse'],
  regions: ['us-east-1', 'eu-west-1'],
  status: 'active',
  ...overrides,
});

const catalog: CatalogModel[] = [
  model('large', { pricePer1kInputUsd: 0.003, pricePer1kOutputUsd: 0.015, evaluationScore: 0.92 }),
  model('small', { pricePer1kInputUsd: 0.0008, pricePer1kOutputUsd: 0.004, evaluationScore: 0.81 }),
  model('tiny', {
    pricePer1kInputUsd: 0.0001,
    pricePer1kOutputUsd: 0.0004,
    contextWindow: 32_000,
    features: ['streaming'],
    regions: ['us-east-1'],
  }),
  model('retired', { pricePer1kInputUsd: 0, pricePer1kOutputUsd: 0, status: 'deprecated' }),
  model('embed', {
    kind: 'embedding',
    pricePer1kInputUsd: 0.00002,
    pricePer1kOutputUsd: 0,
    contextWindow: 8192,
    maxOutputTokens: 0,
    dimensions: 1024,
    features: [],
  }),
];

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('selectModel', () => {
  it('picks the cheapest active chat model by default, never a deprecated one', () => {
    expect(selectModel(catalog)).toEqual({ model: catalog[2], candidates: 3 });
  });

  it('applies every constraint', () => {
    expect(selectModel(catalog, { minContextTokens: 100_000 }).model.id).toBe('small');
    expect(selectModel(catalog, { features: ['toolUse'] }).model.id).toBe('small');
    expect(selectModel(catalog, { region: 'eu-west-1' }).model.id).toBe('small');
    expect(selectModel(catalog, { minEvaluationScore: 0.9 })).toMatchObject({
      model: { id: 'large' },
      candidates: 1,
    });
    expect(selectModel(catalog, { maxPricePer1kInputUsd: 0.0001 }).model.id).toBe('tiny');
    expect(selectModel(catalog, { kind: 'embedding' })).toMatchObject({
      model: { id: 'embed' },
      candidates: 1,
    });
    expect(selectModel(catalog, { maxPricePer1kOutputUsd: 0.01, features: [] })).toMatchObject({
      candidates: 2,
    });
  });

  it('ranks by the 3:1 blended price, then the larger context window, then the id', () => {
    // Same blend (3*0.001 + 0.004 = 3*0.002 + 0.001), so the larger window wins, then the id.
    const a = model('a', { pricePer1kInputUsd: 0.001, pricePer1kOutputUsd: 0.004, contextWindow: 100_000 });
    const b = model('b', { pricePer1kInputUsd: 0.002, pricePer1kOutputUsd: 0.001, contextWindow: 300_000 });
    const c = model('c', { pricePer1kInputUsd: 0.002, pricePer1kOutputUsd: 0.001, contextWindow: 300_000 });
    expect(selectModel([a, c, b]).model.id).toBe('b');
    // Input weighs three times as much as output.
    const cheapIn = model('in', { pricePer1kInputUsd: 0.001, pricePer1kOutputUsd: 0.01 });
    const cheapOut = model('out', { pricePer1kInputUsd: 0.005, pricePer1kOutputUsd: 0.0001 });
    expect(blendedPricePer1k(cheapIn)).toBeCloseTo(0.00325);
    expect(selectModel([cheapOut, cheapIn]).model.id).toBe('in');
  });

  it('fails a model without an evaluation score only when a minimum score is asked', () => {
    expect(selectModel([catalog[2] as CatalogModel]).model.id).toBe('tiny');
    expect(thrown(() => selectModel([catalog[2] as CatalogModel], { minEvaluationScore: 0 }))).toBeInstanceOf(
      NoModelAvailableError,
    );
  });

  it('names the constraint that eliminated the last candidates, and how close they came', () => {
    const error = thrown(() => selectModel(catalog, { region: 'eu-west-1', minContextTokens: 500_000 }));
    expect(error).toBeInstanceOf(NoModelAvailableError);
    expect(error.message).toBe(
      'No model meets the constraints: kind chat left 4, status active left 3, region eu-west-1 left 2; ' +
        'minContextTokens 500000 left none (the 2 left: largest context window 200000). ' +
        'Relax minContextTokens, or see the catalog with GET /v1/models',
    );
    expect(thrown(() => selectModel(catalog, { region: 'ap-south-1' })).message).toContain(
      'region ap-south-1 left none (the 3 left: served in eu-west-1, us-east-1)',
    );
    expect(thrown(() => selectModel(catalog, { maxPricePer1kInputUsd: 0.00001 })).message).toContain(
      'lowest input price 0.0001',
    );
    expect(
      thrown(() => selectModel([catalog[2] as CatalogModel], { minEvaluationScore: 0.5 })).message,
    ).toContain('none evaluated yet');
    expect(
      thrown(() => selectModel(catalog, { features: ['toolUse'], maxPricePer1kOutputUsd: 0.001 })).message,
    ).toContain('maxPricePer1kOutputUsd 0.001 left none');
  });

  it('says so when the catalog has no active model of the kind', () => {
    expect(thrown(() => selectModel([])).message).toBe(
      'No model meets the constraints: kind chat left none. See the catalog with GET /v1/models',
    );
    expect(thrown(() => selectModel([catalog[3] as CatalogModel])).message).toContain(
      'status active left none',
    );
  });

  const features: ModelFeature[] = ['streaming', 'toolUse', 'systemPrompt'];
  const arbModel = fc.record({
    id: fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/),
    kind: fc.constantFrom('chat' as const, 'embedding' as const),
    contextWindow: fc.integer({ min: 1000, max: 400_000 }),
    pricePer1kInputUsd: fc.integer({ min: 0, max: 50 }).map((n) => n / 1000),
    pricePer1kOutputUsd: fc.integer({ min: 0, max: 50 }).map((n) => n / 1000),
    features: fc.subarray(features),
    regions: fc.subarray(['us-east-1', 'eu-west-1', 'ap-south-1']),
    status: fc.constantFrom('active' as const, 'deprecated' as const),
    evaluationScore: fc.option(
      fc.integer({ min: 0, max: 100 }).map((n) => n / 100),
      { nil: undefined },
    ),
  });
  const arbConstraints: fc.Arbitrary<ModelConstraints> = fc.record(
    {
      kind: fc.constantFrom('chat' as const, 'embedding' as const),
      minContextTokens: fc.integer({ min: 1, max: 400_000 }),
      maxPricePer1kInputUsd: fc.integer({ min: 0, max: 50 }).map((n) => n / 1000),
      maxPricePer1kOutputUsd: fc.integer({ min: 0, max: 50 }).map((n) => n / 1000),
      features: fc.subarray(features),
      minEvaluationScore: fc.integer({ min: 0, max: 100 }).map((n) => n / 100),
      region: fc.constantFrom('us-east-1', 'eu-west-1', 'ap-south-1'),
    },
    { requiredKeys: [] },
  );
  const meets = (m: CatalogModel, c: ModelConstraints) =>
    m.status === 'active' &&
    m.kind === (c.kind ?? 'chat') &&
    (c.minContextTokens === undefined || m.contextWindow >= c.minContextTokens) &&
    (c.maxPricePer1kInputUsd === undefined || m.pricePer1kInputUsd <= c.maxPricePer1kInputUsd) &&
    (c.maxPricePer1kOutputUsd === undefined || m.pricePer1kOutputUsd <= c.maxPricePer1kOutputUsd) &&
    (c.features ?? []).every((f) => m.features.includes(f)) &&
    (c.minEvaluationScore === undefined ||
      (m.evaluationScore !== undefined && m.evaluationScore >= c.minEvaluationScore)) &&
    (c.region === undefined || m.regions.includes(c.region));

  it('selects a model meeting every constraint, never dearer than another that does (property)', () => {
    fc.assert(
      fc.property(
        fc.array(arbModel, { maxLength: 12 }).map((ms) => ms.map((m, i) => model(`${m.id}-${i}`, m))),
        arbConstraints,
        (models, constraints) => {
          const eligible = models.filter((m) => meets(m, constraints));
          if (eligible.length === 0) {
            expect(() => selectModel(models, constraints)).toThrow(NoModelAvailableError);
            return;
          }
          const { model: chosen, candidates } = selectModel(models, constraints);
          expect(candidates).toBe(eligible.length);
          expect(meets(chosen, constraints)).toBe(true);
          for (const other of eligible) {
            expect(blendedPricePer1k(chosen)).toBeLessThanOrEqual(blendedPricePer1k(other) + 1e-12);
          }
          // The order of the catalog does not matter.
          expect(selectModel([...models].reverse(), constraints).model.id).toBe(chosen.id);
        },
      ),
      { numRuns: 500 },
    );
  });
});

/** An evaluation on a suite, as the evaluation pipeline records it. */
const scored = (value: number, metric = 'f1'): CatalogEvaluation => ({
  metric,
  value,
  ci: [Math.max(0, value - 0.05), Math.min(1, value + 0.05)],
  n: 200,
  runId: `run-${value}`,
  at: '2026-03-01T12:00:00.000Z',
});

describe('selectModel with rankBy', () => {
  const ranked: CatalogModel[] = [
    model('premium', {
      pricePer1kInputUsd: 0.003,
      pricePer1kOutputUsd: 0.015,
      evaluations: { 'support-qa': scored(0.91), 'rag-faq': scored(0.7) },
    }),
    model('mid', {
      pricePer1kInputUsd: 0.0008,
      pricePer1kOutputUsd: 0.004,
      evaluations: { 'support-qa': scored(0.84, 'rouge_l') },
    }),
    model('budget', {
      pricePer1kInputUsd: 0.0002,
      pricePer1kOutputUsd: 0.0008,
      evaluations: { 'support-qa': scored(0.77) },
    }),
    model('unscored', { pricePer1kInputUsd: 0.0001, pricePer1kOutputUsd: 0.0002 }),
    model('retired', {
      status: 'deprecated',
      evaluations: { 'support-qa': scored(0.99) },
    }),
  ];

  it('picks the best-scoring active model on the suite, whatever its price, and says why', () => {
    const selection = selectModel(ranked, { rankBy: { suite: 'support-qa' } });
    expect(selection).toEqual({
      model: ranked[0],
      candidates: 3,
      rankedBy: { suite: 'support-qa', metric: 'f1', value: 0.91 },
    });
    expect(selectModelResponse.safeParse(selection).success).toBe(true);
  });

  it('ranks within the price bound: the best model the bound leaves', () => {
    expect(
      selectModel(ranked, { maxPricePer1kInputUsd: 0.001, rankBy: { suite: 'support-qa' } }),
    ).toMatchObject({
      model: { id: 'mid' },
      candidates: 2,
      rankedBy: { suite: 'support-qa', metric: 'rouge_l', value: 0.84 },
    });
    expect(
      selectModel(ranked, { maxPricePer1kOutputUsd: 0.001, rankBy: { suite: 'support-qa' } }).model.id,
    ).toBe('budget');
  });

  it('applies the other constraints before ranking', () => {
    const eu = [
      ...ranked,
      model('eu-only', { regions: ['eu-central-1'], evaluations: { 'support-qa': scored(1) } }),
    ];
    expect(selectModel(eu, { rankBy: { suite: 'support-qa' } }).model.id).toBe('eu-only');
    expect(selectModel(eu, { region: 'us-east-1', rankBy: { suite: 'support-qa' } }).model.id).toBe(
      'premium',
    );
  });

  it('leaves out models never evaluated on the suite, even the cheapest', () => {
    expect(selectModel(ranked, { rankBy: { suite: 'rag-faq' } })).toMatchObject({
      model: { id: 'premium' },
      candidates: 1,
    });
    // Without rankBy, the cheapest (unscored) model wins as before, with no rankedBy.
    expect(selectModel(ranked)).toEqual({ model: ranked[3], candidates: 4 });
  });

  it('breaks a tie on the score by the lower blended price, then by the id', () => {
    const tie = [
      model('dear', { pricePer1kInputUsd: 0.002, evaluations: { s: scored(0.8) } }),
      model('cheap-b', { pricePer1kInputUsd: 0.001, evaluations: { s: scored(0.8) } }),
      model('cheap-a', { pricePer1kInputUsd: 0.001, evaluations: { s: scored(0.8) } }),
      model('worse', { pricePer1kInputUsd: 0, evaluations: { s: scored(0.79) } }),
    ];
    expect(selectModel(tie, { rankBy: { suite: 's' } }).model.id).toBe('cheap-a');
    expect(selectModel([...tie].reverse(), { rankBy: { suite: 's' } }).model.id).toBe('cheap-a');
  });

  it('keeps only the models scoring at least minScore on the suite', () => {
    expect(
      selectModel(ranked, { maxPricePer1kInputUsd: 0.001, rankBy: { suite: 'support-qa', minScore: 0.8 } }),
    ).toMatchObject({ model: { id: 'mid' }, candidates: 1 });
    const error = thrown(() =>
      selectModel(ranked, { maxPricePer1kInputUsd: 0.001, rankBy: { suite: 'support-qa', minScore: 0.9 } }),
    );
    expect(error).toBeInstanceOf(NoModelAvailableError);
    expect(error.message).toBe(
      'No model meets the constraints: kind chat left 5, status active left 4, ' +
        'maxPricePer1kInputUsd 0.001 left 3, evaluated on suite support-qa left 2; ' +
        'rankBy.minScore 0.9 left none (the 2 left: best support-qa score 0.84). ' +
        'Relax rankBy.minScore, or see the catalog with GET /v1/models',
    );
  });

  it('says the suite emptied the set when no candidate was evaluated on it, and which suites they were', () => {
    const error = thrown(() => selectModel(ranked, { rankBy: { suite: 'legal-summaries' } }));
    expect(error).toBeInstanceOf(NoModelAvailableError);
    expect(error.message).toBe(
      'No model meets the constraints: kind chat left 5, status active left 4; ' +
        'evaluated on suite legal-summaries left none (the 4 left: evaluated on rag-faq, support-qa). ' +
        'Evaluate a model on suite legal-summaries, rank by another suite, or see the catalog with GET /v1/models',
    );
    expect(
      thrown(() => selectModel([ranked[3] as CatalogModel], { rankBy: { suite: 'support-qa' } })).message,
    ).toContain('evaluated on suite support-qa left none (the 1 left: none evaluated yet)');
  });

  it('says the price bound emptied the set when it left no model to rank', () => {
    expect(
      thrown(() => selectModel(ranked, { maxPricePer1kInputUsd: 0.00001, rankBy: { suite: 'support-qa' } }))
        .message,
    ).toContain('maxPricePer1kInputUsd 0.00001 left none (the 4 left: lowest input price 0.0001)');
  });

  it('accepts rankBy in the request body only with a valid suite name and a minScore in [0, 1]', () => {
    expect(selectModelRequest.safeParse({ rankBy: { suite: 'support-qa', minScore: 0.5 } }).success).toBe(
      true,
    );
    for (const rankBy of [
      { suite: 'Support QA' },
      { suite: '' },
      { suite: 'support-qa', minScore: 1.5 },
      { suite: 'support-qa', metric: 'f1' },
      {},
    ]) {
      expect(selectModelRequest.safeParse({ rankBy }).success, JSON.stringify(rankBy)).toBe(false);
    }
  });

  const arbRanked = fc.record({
    id: fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/),
    pricePer1kInputUsd: fc.integer({ min: 0, max: 20 }).map((n) => n / 1000),
    pricePer1kOutputUsd: fc.integer({ min: 0, max: 20 }).map((n) => n / 1000),
    status: fc.constantFrom('active' as const, 'deprecated' as const),
    score: fc.option(
      fc.integer({ min: 0, max: 20 }).map((n) => n / 20),
      { nil: undefined },
    ),
  });

  it('selects the best score on the suite within the price bound, never one a candidate beats (property)', () => {
    fc.assert(
      fc.property(
        fc.array(arbRanked, { maxLength: 12 }).map((ms) =>
          ms.map(({ score, ...m }, i) =>
            model(`${m.id}-${i}`, {
              ...m,
              ...(score === undefined ? {} : { evaluations: { s: scored(score) } }),
            }),
          ),
        ),
        fc.option(
          fc.integer({ min: 0, max: 20 }).map((n) => n / 1000),
          { nil: undefined },
        ),
        (models, maxIn) => {
          const eligible = models.filter(
            (m) =>
              m.status === 'active' &&
              (maxIn === undefined || m.pricePer1kInputUsd <= maxIn) &&
              m.evaluations?.s !== undefined,
          );
          const constraints: ModelConstraints = { maxPricePer1kInputUsd: maxIn, rankBy: { suite: 's' } };
          if (eligible.length === 0) {
            expect(() => selectModel(models, constraints)).toThrow(NoModelAvailableError);
            return;
          }
          const { model: chosen, candidates, rankedBy } = selectModel(models, constraints);
          expect(candidates).toBe(eligible.length);
          expect(eligible).toContain(chosen);
          expect(rankedBy?.value).toBe(chosen.evaluations?.s?.value);
          for (const other of eligible) {
            const [best, theirs] = [chosen.evaluations?.s?.value ?? 0, other.evaluations?.s?.value ?? 0];
            expect(best).toBeGreaterThanOrEqual(theirs);
            if (best === theirs) {
              expect(blendedPricePer1k(chosen)).toBeLessThanOrEqual(blendedPricePer1k(other) + 1e-12);
            }
          }
          expect(selectModel([...models].reverse(), constraints).model.id).toBe(chosen.id);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('costUsd', () => {
  it('prices input and output per 1k tokens, rounded to 1e-9', () => {
    const m = model('m', { pricePer1kInputUsd: 0.003, pricePer1kOutputUsd: 0.015 });
    expect(costUsd(m, { inputTokens: 1200, outputTokens: 350 })).toBe(0.00885);
    expect(costUsd(m, { inputTokens: 0, outputTokens: 0 })).toBe(0);
    expect(costUsd(model('x', { pricePer1kInputUsd: 0.0000001 }), { inputTokens: 1, outputTokens: 0 })).toBe(
      0,
    );
    expect(
      costUsd(model('x', { pricePer1kInputUsd: 0.001, pricePer1kOutputUsd: 0 }), {
        inputTokens: 7,
        outputTokens: 0,
      }),
    ).toBe(0.000007);
  });
});

describe('assertFitsContext', () => {
  const m = model('claude-x', { contextWindow: 200_000 });

  it('lets a call that fits exactly through', () => {
    expect(() => assertFitsContext(m, 195_904, 4096)).not.toThrow();
  });

  it('refuses a call that would not fit, with the numbers', () => {
    const error = thrown(() => assertFitsContext(m, 210_000, 4096));
    expect(error).toBeInstanceOf(ContextWindowExceededError);
    expect(error).toMatchObject({
      field: 'messages',
      rule: 'about 210000 input tokens + 4096 output tokens exceed the 200000-token context window of claude-x',
    });
    expect(() => assertFitsContext(m, 195_905, 4096)).toThrow(ContextWindowExceededError);
  });
});
