import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import { TOXICITY } from '#core/eval/metrics/index.ts';
import { DEFAULT_JUDGED, type ItemMetric, operational, percentile, runEvaluation } from '#core/eval/run.ts';
import type { EvalAnswer, EvalItem } from '#core/eval/types.ts';
import type { ChatRequest, ModelProvider } from '#core/models/types.ts';

/**
 * A run end to end on hand-made items: answers (some failing), metrics, the offline judge, summaries
 * with intervals, and the paired gate against a baseline.
 */
const item = (id: string, reference: string, tags: string[] = []): EvalItem => ({
  id,
  messages: [{ role: 'user', content: `question ${id}` }],
  references: [reference],
  contexts: [`The answer to question ${id} is ${reference}.`],
  tags,
  unanswerable: false,
});
const ITEMS = Array.from({ length: 30 }, (_, i) =>
  item(`q${i}`, `value ${i}`, [i % 2 === 0 ? 'even' : 'odd']),
);

/** 1 when the answer contains the first reference. */
const CONTAINS: ItemMetric = {
  name: 'contains_reference',
  higherIsBetter: true,
  applies: (it) => it.references.length > 0,
  score: (it, answer) => ({
    metric: 'contains_reference',
    value: answer.answer.includes(it.references[0] ?? '\u0000') ? 1 : 0,
  }),
};

const answersFrom =
  (answer: (it: EvalItem, i: number) => string | Error) =>
  async (it: EvalItem): Promise<EvalAnswer> => {
    const i = ITEMS.indexOf(it);
    const text = answer(it, i);
    if (text instanceof Error) throw text;
    return {
      itemId: it.id,
      answer: text,
      latencyMs: 100 + i,
      usage: { inputTokens: 50, outputTokens: 10, costUsd: 0.001 },
    };
  };
const good = answersFrom((it) => `The answer to question ${it.id} is ${it.references[0]}.`);
const worse = answersFrom((it, i) => (i % 3 === 0 ? 'I do not know.' : `It is ${it.references[0]}.`));

const base = {
  runId: 'run-1',
  suite: { name: 'unit', version: 1 },
  items: ITEMS,
  metrics: [CONTAINS, TOXICITY],
  judged: DEFAULT_JUDGED,
  judge: { kind: 'offline' } as const,
  now: () => new Date('2026-12-04T00:00:00Z'),
};

describe('runEvaluation', () => {
  it('scores every item, summarizes each metric with an interval overall and per tag, labels the offline judge', async () => {
    const report = await runEvaluation({ ...base, target: { model: 'm' }, answers: good });
    const contains = report.metrics.find((m) => m.name === 'contains_reference');
    expect(contains).toMatchObject({ value: 1, n: 30, failed: 0, ci: [1, 1] });
    expect(Object.keys(contains?.byTag ?? {}).sort()).toEqual(['even', 'odd']);
    expect(report.metrics.map((m) => m.name)).toEqual([
      'contains_reference',
      'toxicity',
      'faithfulness',
      'answer_relevance',
    ]);
    expect(report.metrics.find((m) => m.name === 'faithfulness')?.judge).toMatchObject({
      model: 'offline',
      calibrated: false,
    });
    expect(report.judge).toEqual({ model: 'offline', offline: true });
    expect(report.items).toHaveLength(30);
    expect(report.operational).toMatchObject({ latencyP50: 114, latencyP95: 128, tokensPerItem: 60 });
    expect(report.operational.costTotal).toBeCloseTo(0.03, 10);
    expect(report.gate).toBeUndefined();
  });

  it('counts an item whose answer failed as failed in every metric, never as 0', async () => {
    const flaky = answersFrom((it, i) =>
      i < 3 ? new Error('throttled after 5 retries') : `x ${it.references[0]}`,
    );
    const report = await runEvaluation({ ...base, target: { model: 'm' }, answers: flaky });
    expect(report.failed).toBe(3);
    const contains = report.metrics.find((m) => m.name === 'contains_reference');
    expect(contains).toMatchObject({ value: 1, n: 27, failed: 3 });
    // Applies to answerable items only: the failed count is of items it applies to.
    expect(report.metrics.find((m) => m.name === 'toxicity')).toMatchObject({ n: 27, failed: 3 });
    expect(report.items[0]).toMatchObject({
      error: 'throttled after 5 retries',
      scores: { contains_reference: null },
      errors: { contains_reference: 'no answer to score: throttled after 5 retries' },
    });
  });

  it('gates a worse candidate against its baseline, and lets an equal one through', async () => {
    const blocked = await runEvaluation({
      ...base,
      target: { prompt: 'p:2' },
      answers: worse,
      baseline: { target: { prompt: 'p:1' }, answers: good },
    });
    expect(blocked.gate?.pass).toBe(false);
    const verdict = blocked.gate?.metrics.find((m) => m.name === 'contains_reference');
    expect(verdict?.verdict).toBe('fail');
    expect(verdict?.diff.value).toBeCloseTo(-1 / 3, 10);
    // The offline judge's metrics are reported but never gate.
    expect(blocked.gate?.metrics.find((m) => m.name === 'faithfulness')?.verdict).toBe('uncalibrated');
    const equal = await runEvaluation({
      ...base,
      target: { prompt: 'p:2' },
      answers: good,
      baseline: { target: { prompt: 'p:1' }, answers: good },
    });
    expect(equal.gate?.pass).toBe(true);
  });

  it('summarizes a metric over the items it applies to: the others are neither 0 nor failed', async () => {
    const evenOnly: ItemMetric = { ...CONTAINS, applies: (it) => it.tags.includes('even') };
    const report = await runEvaluation({
      ...base,
      metrics: [evenOnly],
      target: { model: 'm' },
      answers: good,
    });
    expect(report.metrics.find((m) => m.name === 'contains_reference')).toMatchObject({ n: 15, failed: 0 });
    expect(report.items[1]?.scores).not.toHaveProperty('contains_reference');
  });

  it('is deterministic for a seed and the same answers', async () => {
    const run = () => runEvaluation({ ...base, target: { model: 'm' }, answers: worse });
    const [a, b] = await Promise.all([run(), run()]);
    expect(a.metrics).toEqual(b.metrics);
  });

  it('compares candidate and baseline pairwise with the offline judge and reports the win rates, without gating on them', async () => {
    const pairwise = await runEvaluation({
      ...base,
      target: { prompt: 'p:2' },
      answers: good,
      baseline: { target: { prompt: 'p:1' }, answers: worse },
      pairwise: true,
    });
    const plain = await runEvaluation({
      ...base,
      target: { prompt: 'p:2' },
      answers: good,
      baseline: { target: { prompt: 'p:1' }, answers: worse },
    });
    expect(plain.winRate).toBeUndefined();
    const w = pairwise.winRate;
    expect(w).toMatchObject({ n: 30, failed: 0, judge: 'offline', rubric: 'offline-pairwise:1' });
    // The offline heuristics see no positions: their two orders always agree.
    expect(w?.inconsistent).toBe(0);
    // The baseline declines every third item, which the candidate answers from the passage: won.
    expect(w?.wins).toBeGreaterThanOrEqual(10);
    expect(pairwise.items.filter((_, i) => i % 3 === 0).every((r) => r.preference === 'A')).toBe(true);
    expect(pairwise.items[0]?.rationales?.preference?.[0]).toMatch(/^offline merit: first /);
    expect(w?.raw.value).toBeCloseTo(
      ((w?.wins ?? 0) + ((w?.ties ?? 0) + (w?.inconsistent ?? 0)) / 2) / 30,
      12,
    );
    expect(w?.lengthControlled.ci[0]).toBeLessThanOrEqual(w?.lengthControlled.ci[1] ?? Number.NaN);
    // The win rates inform: the gate and the metrics are the run's without them.
    expect(pairwise.gate).toEqual(plain.gate);
    expect(pairwise.metrics).toEqual(plain.metrics);
  });

  it("asks the model judge twice per item (both orders) and counts a position-following judge's pairs as ties", async () => {
    const requests: ChatRequest[] = [];
    const provider: ModelProvider = {
      name: 'bedrock',
      async chat(request) {
        requests.push(request);
        return {
          text: JSON.stringify({ preferred: 'first', rationale: 'the first one' }),
          usage: { inputTokens: 1, outputTokens: 1 },
          stopReason: 'end_turn',
          provider: 'bedrock',
          modelId: request.modelId,
        };
      },
      // biome-ignore lint/correctness/useYield: a judge never streams
      async *chatStream() {
        throw new Error('judges do not stream');
      },
      embed: () => Promise.reject(new Error('not used')),
    };
    const report = await runEvaluation({
      ...base,
      metrics: [CONTAINS],
      judged: [],
      judge: { kind: 'model', provider, model: 'vendor.judge', k: 3, calibrated: () => true },
      target: { prompt: 'p:2' },
      answers: good,
      baseline: { target: { prompt: 'p:1' }, answers: worse },
      pairwise: true,
    });
    expect(requests).toHaveLength(60);
    expect(requests.every((r) => r.responseFormat?.name === 'preference')).toBe(true);
    expect(report.winRate).toMatchObject({
      n: 30,
      inconsistent: 30,
      wins: 0,
      judge: 'vendor.judge',
      rubric: 'judge-pairwise:1',
      raw: { value: 0.5, ci: [0.5, 0.5] },
    });
    expect(report.items[0]?.preference).toBe('inconsistent');
  });

  it('leaves an item whose answer failed on either side out of the win rates, counted as failed', async () => {
    const report = await runEvaluation({
      ...base,
      target: { prompt: 'p:2' },
      answers: answersFrom((it, i) => (i < 2 ? new Error('throttled') : `It is ${it.references[0]}.`)),
      baseline: { target: { prompt: 'p:1' }, answers: good },
      pairwise: true,
    });
    expect(report.winRate).toMatchObject({ n: 28, failed: 2 });
    expect(report.items[0]?.preference).toBeNull();
  });

  it('refuses a pairwise run without a baseline to compare with', async () => {
    await expect(
      runEvaluation({ ...base, target: { model: 'm' }, answers: good, pairwise: true }),
    ).rejects.toThrow(
      new ValidationError('pairwise', 'compares the target with a baseline: set baseline too'),
    );
  });

  it('refuses an empty suite', async () => {
    await expect(runEvaluation({ ...base, items: [], target: {}, answers: good })).rejects.toThrow(
      /no items to evaluate/,
    );
  });
});

describe('bias probes in a run', () => {
  const probe = (id: string): EvalItem => ({
    id,
    messages: [{ role: 'user', content: `Should {{group}} get the ${id} loan?` }],
    references: ['yes if the income covers the payments'],
    tags: ['bias'],
    unanswerable: false,
    metadata: { groups: ['Ann', 'Bob', 'Cy'] },
  });
  // Bob is refused on every probe; the others get the reference answer.
  const answers = async (it: EvalItem): Promise<EvalAnswer> => ({
    itemId: it.id,
    answer: it.metadata?.group === 'Bob' ? 'I cannot answer that.' : 'yes if the income covers the payments.',
  });

  it('answers each probe once per group and reports the largest gaps between groups, with intervals', async () => {
    const report = await runEvaluation({
      ...base,
      items: [probe('car'), probe('home'), ...ITEMS.slice(0, 2)],
      metrics: [CONTAINS],
      judged: [],
      target: { model: 'm' },
      answers,
    });
    expect(report.suite.items).toBe(4);
    expect(report.items.map((i) => i.id)).toContain('car@bob');
    expect(report.items).toHaveLength(2 * 3 + 2);
    const gap = (name: string) => report.metrics.find((m) => m.name === name);
    // Refused: Bob 1, the others 0 on both probes → gap 1 on each, mean 1.
    expect(gap('bias_gap_refused')).toMatchObject({ value: 1, n: 2, ci: [1, 1], failed: 0 });
    // The primary metric (here the only one): 0 for Bob, 1 for the others.
    expect(gap('bias_gap_value')).toMatchObject({ value: 1, n: 2 });
    // Sentiment is judged on the variants (offline), compared, and never gated.
    expect(gap('bias_gap_sentiment')?.n).toBe(2);
    expect(report.metrics.find((m) => m.name === 'sentiment')?.n).toBe(6);
  });
});

describe('operational numbers', () => {
  it('takes nearest-rank percentiles and leaves what was not measured as NaN', () => {
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(percentile([1, 2, 3, 4], 0.95)).toBe(4);
    expect(percentile([], 0.5)).toBeNaN();
    expect(operational([{ itemId: 'a', answer: 'x' }]).costTotal).toBeNaN();
  });
});
