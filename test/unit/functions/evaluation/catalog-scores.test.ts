import { describe, expect, it, vi } from 'vitest';
import { InvalidEventError, NotFoundError, ValidationError } from '#aws/errors.ts';
import type { RecordedEvaluation } from '#aws/model-catalog.ts';
import type { CatalogEvaluation, CatalogModel } from '#contracts/models/catalog.ts';
import type { EvaluationCompletedDetail } from '#events/evaluation-completed.ts';
import { rawSample } from '#events/samples.ts';
import {
  type CatalogScoresDeps,
  EVALUATION_AUTHOR,
  environment,
  makeHandler,
  primaryMetric,
} from '#functions/evaluation/catalog-scores.ts';
import { catalogModel } from '../../../support/gateway-fixtures.ts';

// The function's environment, set before its handler module is imported (it reads it at import).
vi.hoisted(() => {
  process.env.CATALOG_TABLE ??= 'catalog-test';
});

const model: CatalogModel = catalogModel('claude-haiku-4-5', {
  modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
  contextWindow: 200_000,
  maxOutputTokens: 64_000,
  pricePer1kOutputUsd: 0.005,
  features: ['streaming'],
});

type Sample = { time: string; detail: EvaluationCompletedDetail };

/** The sample event, edited. */
function event(edit: (sample: Sample) => void = () => {}): Sample {
  const sample = structuredClone(rawSample('evaluation-completed')) as Sample;
  edit(sample);
  return sample;
}

/** A fake catalog that records what it was asked, answering `recorded` (or throwing `error`). */
function fakeCatalog(answer: { recorded?: boolean; error?: Error } = {}) {
  const recordEvaluation = vi.fn(
    async (_id: string, _suite: string, _score: CatalogEvaluation, _author: string) => {
      if (answer.error) throw answer.error;
      return { recorded: answer.recorded ?? true, model } satisfies RecordedEvaluation;
    },
  );
  return { recordEvaluation } satisfies CatalogScoresDeps['catalog'];
}

describe('catalog-scores handler', () => {
  it('records the f1 of a model run as its latest evaluation on the suite', async () => {
    const catalog = fakeCatalog();
    const result = await makeHandler({ catalog })(event());

    expect(result).toEqual({
      outcome: 'recorded',
      model: 'claude-haiku-4-5',
      suite: 'support-qa',
      metric: 'f1',
      value: 0.786,
    });
    expect(catalog.recordEvaluation).toHaveBeenCalledExactlyOnceWith(
      'claude-haiku-4-5',
      'support-qa',
      {
        metric: 'f1',
        value: 0.786,
        ci: [0.741, 0.829],
        n: 114,
        runId: 'eval-20261121-104012-support-qa-haiku',
        at: '2026-11-21T10:42:07.000Z',
      },
      EVALUATION_AUTHOR,
    );
  });

  it('records offline-judged runs too', async () => {
    const catalog = fakeCatalog();
    const result = await makeHandler({ catalog })(
      event((e) => {
        e.detail.judge = 'offline';
      }),
    );
    expect(result).toMatchObject({ outcome: 'recorded', metric: 'f1' });
  });

  it('reports a redelivered or late event, which the catalog ignores, as stale', async () => {
    const result = await makeHandler({ catalog: fakeCatalog({ recorded: false }) })(event());
    expect(result).toMatchObject({ outcome: 'stale', model: 'claude-haiku-4-5', suite: 'support-qa' });
  });

  it('skips a run of a prompt (no model in the target) without touching the catalog', async () => {
    const catalog = fakeCatalog();
    const result = await makeHandler({ catalog })(
      event((e) => {
        e.detail.target = { prompt: 'support-answer@production' };
      }),
    );
    expect(result).toEqual({
      outcome: 'skipped',
      reason: 'the run evaluated no model (its target is a prompt)',
    });
    expect(catalog.recordEvaluation).not.toHaveBeenCalled();
  });

  it('skips a run where every item failed (no metric has a value)', async () => {
    const catalog = fakeCatalog();
    const result = await makeHandler({ catalog })(
      event((e) => {
        e.detail.failed = 120;
        for (const metric of Object.values(e.detail.metrics)) {
          metric.value = null;
          metric.n = 0;
          metric.ci = [null, null];
        }
      }),
    );
    expect(result).toMatchObject({ outcome: 'skipped', reason: expect.stringMatching(/no metric/) });
    expect(catalog.recordEvaluation).not.toHaveBeenCalled();
  });

  it('skips, never throws, when the model is not in the catalog (no dead letter for an unknown model)', async () => {
    const catalog = fakeCatalog({ error: new NotFoundError('Model claude-haiku-4-5 is not in the catalog') });
    await expect(makeHandler({ catalog })(event())).resolves.toEqual({
      outcome: 'skipped',
      reason: 'model claude-haiku-4-5 is not in the catalog',
    });
  });

  it('refuses an event that does not match its schema with InvalidEventError naming the field', async () => {
    const catalog = fakeCatalog();
    const bad = event((e) => {
      (e.detail as { runId: unknown }).runId = 42;
    });
    const error = await makeHandler({ catalog })(bad).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidEventError);
    expect((error as Error).message).toContain('detail.runId');
    expect(catalog.recordEvaluation).not.toHaveBeenCalled();
  });

  it('turns an evaluation the catalog refuses (a suite name it cannot hold) into InvalidEventError', async () => {
    const catalog = fakeCatalog({ error: new ValidationError('suite', 'must match the suite name pattern') });
    await expect(makeHandler({ catalog })(event())).rejects.toBeInstanceOf(InvalidEventError);
  });

  it('rethrows any other catalog failure, so that the event is retried', async () => {
    const throttled = Object.assign(new Error('throughput exceeded'), {
      name: 'ProvisionedThroughputExceededException',
    });
    await expect(makeHandler({ catalog: fakeCatalog({ error: throttled }) })(event())).rejects.toBe(
      throttled,
    );
  });

  it('reads only CATALOG_TABLE', () => {
    expect(Object.keys(environment)).toEqual(['CATALOG_TABLE']);
  });
});

describe('primaryMetric', () => {
  const metric = (value: number | null, ci: [number | null, number | null] = [value, value]) => ({
    value,
    n: value === null ? 0 : 10,
    ci,
  });

  it('is f1 when it has a value, wherever it comes in the report', () => {
    expect(primaryMetric({ exact_match: metric(0.4), f1: metric(0.7, [0.6, 0.8]) })).toEqual({
      name: 'f1',
      value: 0.7,
      n: 10,
      ci: [0.6, 0.8],
    });
  });

  it('is otherwise the first metric with a value in [0, 1] where higher is better', () => {
    expect(
      primaryMetric({
        f1: metric(null),
        toxicity: metric(0.01),
        bias_gap_value: metric(0.05),
        latency_ms: metric(812),
        faithfulness: metric(0.9),
        answer_relevance: metric(0.8),
      })?.name,
    ).toBe('faithfulness');
  });

  it("is never a pairwise win rate, which compares with the run's baseline rather than scoring the model", () => {
    expect(
      primaryMetric({ win_rate: metric(0.7), win_rate_lc: metric(0.6), faithfulness: metric(0.9) })?.name,
    ).toBe('faithfulness');
    expect(primaryMetric({ win_rate: metric(0.7), win_rate_lc: metric(0.6) })).toBeUndefined();
  });

  it('widens a bound the run could not compute to the whole range', () => {
    expect(primaryMetric({ f1: metric(1, [null, null]) })?.ci).toEqual([0, 1]);
  });

  it('is undefined when no metric has such a value', () => {
    expect(primaryMetric({})).toBeUndefined();
    expect(primaryMetric({ f1: metric(null), toxicity: metric(0.2), cost: metric(3.5) })).toBeUndefined();
  });
});
