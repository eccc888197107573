import { describe, expect, it } from 'vitest';
import { TOXICITY } from '#core/eval/metrics/index.ts';
import { regressed, regressionGate, sampleItems } from '#core/eval/regression.ts';
import type { ItemRecord } from '#core/eval/report/types.ts';
import {
  assembleReport,
  DEFAULT_JUDGED,
  type ItemMetric,
  runEvaluation,
  runSpec,
  scoreAnswer,
} from '#core/eval/run.ts';
import type { EvalAnswer, EvalItem } from '#core/eval/types.ts';

/**
 * A run split into the steps of the Evaluate state machine (spec, score each answer, assemble) gives the
 * report that `runEvaluation` gives in one piece; the scored items survive JSON (they travel through S3
 * between steps). Then the seeded sample and the regression check between two runs.
 */
const item = (id: string, reference: string): EvalItem => ({
  id,
  messages: [{ role: 'user', content: `question ${id}` }],
  references: [reference],
  contexts: [`The answer to question ${id} is ${reference}.`],
  tags: [],
  unanswerable: false,
});
const ITEMS = Array.from({ length: 24 }, (_, i) => item(`q${i}`, `value ${i}`));
const CONTAINS: ItemMetric = {
  name: 'contains_reference',
  higherIsBetter: true,
  applies: (it) => it.references.length > 0,
  score: (it, answer) => ({
    metric: 'contains_reference',
    value: answer.answer.includes(it.references[0] ?? '\u0000') ? 1 : 0,
  }),
};
const answer = (it: EvalItem, good: boolean): EvalAnswer => ({
  itemId: it.id,
  answer: good ? `The answer to question ${it.id} is ${it.references[0]}.` : 'I am not sure.',
  latencyMs: 120,
  usage: { inputTokens: 40, outputTokens: 12, costUsd: 0.0005 },
});
const request = {
  runId: 'run-phases',
  suite: { name: 'unit', version: 1 },
  target: { prompt: 'unit:2' },
  items: ITEMS,
  metrics: [CONTAINS, TOXICITY],
  judged: DEFAULT_JUDGED,
  judge: { kind: 'offline' } as const,
};
const AT = new Date('2026-12-04T00:00:00Z');

describe('a run in steps', () => {
  it('spec, score each answer, assemble = runEvaluation, with the scores passed through JSON', async () => {
    const oneGo = await runEvaluation({
      ...request,
      answers: async (it) => answer(it, Number(it.id.slice(1)) % 4 !== 0),
      now: () => AT,
    });
    const spec = runSpec(request);
    const scored = await Promise.all(
      spec.items.map((it) => scoreAnswer(spec, it, answer(it, Number(it.id.slice(1)) % 4 !== 0))),
    );
    const travelled = JSON.parse(JSON.stringify(scored));
    const inSteps = assembleReport(runSpec(request), {
      candidate: travelled,
      startedAt: AT.toISOString(),
      finishedAt: AT.toISOString(),
    });
    expect(inSteps).toEqual(oneGo);
    expect(inSteps.metrics.find((m) => m.name === 'contains_reference')?.value).toBeCloseTo(18 / 24, 10);
  });

  it('a failed answer fails every metric of its item, judge metrics included, with the reason', async () => {
    const spec = runSpec(request);
    const first = spec.items[0] as EvalItem;
    const scored = await scoreAnswer(spec, first, {
      itemId: first.id,
      answer: '',
      error: 'throttled 4 times',
    });
    expect(Object.keys(scored.scores).sort()).toEqual([
      'answer_relevance',
      'contains_reference',
      'faithfulness',
      'toxicity',
    ]);
    for (const score of Object.values(scored.scores)) {
      expect(score.value).toBeNull();
      expect(score.error).toContain('throttled 4 times');
    }
  });
});

describe('sampleItems', () => {
  it('keeps max items in suite order, the same ones for the same seed whatever the input order', () => {
    const sample = sampleItems(ITEMS, 10, 'suite-a');
    expect(sample).toHaveLength(10);
    expect(sample.map((i) => ITEMS.indexOf(i))).toEqual(
      [...sample.map((i) => ITEMS.indexOf(i))].sort((a, b) => a - b),
    );
    const shuffled = [...ITEMS].reverse();
    expect(new Set(sampleItems(shuffled, 10, 'suite-a').map((i) => i.id))).toEqual(
      new Set(sample.map((i) => i.id)),
    );
    expect(sampleItems(ITEMS, 10, 'suite-b').map((i) => i.id)).not.toEqual(sample.map((i) => i.id));
    expect(sampleItems(ITEMS, 100, 'suite-a')).toEqual(ITEMS);
  });

  it('keeps most of the sample when items are added', () => {
    const before = new Set(sampleItems(ITEMS, 12, 's').map((i) => i.id));
    const more = [...ITEMS, ...Array.from({ length: 4 }, (_, i) => item(`new${i}`, `v${i}`))];
    const after = sampleItems(more, 12, 's').map((i) => i.id);
    expect(after.filter((id) => before.has(id)).length).toBeGreaterThanOrEqual(8);
  });
});

describe('regressionGate', () => {
  const record = (
    id: string,
    value: number | null,
    extra: Record<string, number | null> = {},
  ): ItemRecord => ({
    id,
    tags: [],
    input: 'q',
    answer: 'a',
    references: [],
    scores: { f1: value, ...extra },
    errors: {},
  });
  const f1 = { name: 'f1', value: 0.5, n: 20, ci: [0.4, 0.6] as const, failed: 0, byTag: {} };
  const ids = Array.from({ length: 20 }, (_, i) => `q${i}`);

  it('a run that keeps its scores passes; one that drops beyond the margin regresses, paired by id', () => {
    const previous = ids.map((id) => record(id, 0.8));
    const same = regressionGate({
      current: { items: [...ids].reverse().map((id) => record(id, 0.8)), metrics: [f1] },
      previous,
      metrics: [{ name: 'f1', higherIsBetter: true }],
      seed: 's',
    });
    expect(same?.pass).toBe(true);
    expect(regressed(same)).toBe(false);
    const dropped = regressionGate({
      current: { items: ids.map((id, i) => record(id, i % 2 === 0 ? 0.2 : 0.7)), metrics: [f1] },
      previous,
      metrics: [{ name: 'f1', higherIsBetter: true }],
      seed: 's',
    });
    expect(dropped?.metrics[0]?.verdict).toBe('fail');
    expect(regressed(dropped)).toBe(true);
  });

  it('leaves out an item whose judge was unstable on either run, as the gate does', () => {
    const judged = {
      ...f1,
      name: 'faithfulness',
      judge: { model: 'judge', rubric: 'judge-faithfulness:1', calibrated: true },
    };
    // Six items drop from 1 to 1/3 now, but the judge flipped on each of them (three this run, three
    // the previous one): no evidence of a regression.
    const shaky = new Set(ids.slice(0, 6));
    const current = ids.map((id, i) => ({
      ...record(id, 0.8, { faithfulness: shaky.has(id) ? 1 / 3 : 1 }),
      ...(shaky.has(id) && i < 3 ? { unstable: ['faithfulness'] } : {}),
    }));
    const previous = ids.map((id, i) => ({
      ...record(id, 0.8, { faithfulness: 1 }),
      ...(shaky.has(id) && i >= 3 ? { unstable: ['faithfulness'] } : {}),
    }));
    const gate = regressionGate({
      current: { items: current, metrics: [f1, judged] },
      previous,
      metrics: [{ name: 'f1', higherIsBetter: true }],
      seed: 's',
    });
    const faithfulness = gate?.metrics.find((m) => m.name === 'faithfulness');
    expect(faithfulness).toMatchObject({ verdict: 'pass', diff: { value: 0, n: 14 } });
    expect(faithfulness?.reason).toMatch(/6 unstable items left out$/);
    // Without the flags, the same scores are a regression.
    const counted = regressionGate({
      current: { items: current.map(({ unstable: _, ...item }) => item), metrics: [f1, judged] },
      previous: previous.map(({ unstable: _, ...item }) => item),
      metrics: [{ name: 'f1', higherIsBetter: true }],
      seed: 's',
    });
    expect(counted?.metrics.find((m) => m.name === 'faithfulness')?.verdict).toBe('fail');
  });

  it('an uncalibrated judge metric is reported and decides nothing; no shared item is no comparison', () => {
    const judged = {
      ...f1,
      name: 'faithfulness',
      judge: { model: 'judge', rubric: 'judge-faithfulness:1', calibrated: false },
    };
    const gate = regressionGate({
      current: { items: ids.map((id) => record(id, 0.8, { faithfulness: 0 })), metrics: [f1, judged] },
      previous: ids.map((id) => record(id, 0.8, { faithfulness: 1 })),
      metrics: [{ name: 'f1', higherIsBetter: true }],
      seed: 's',
    });
    expect(gate?.metrics.find((m) => m.name === 'faithfulness')?.verdict).toBe('uncalibrated');
    expect(regressed(gate)).toBe(false);
    expect(
      regressionGate({
        current: { items: [record('other', 1)], metrics: [f1] },
        previous: ids.map((id) => record(id, 0.8)),
        metrics: [{ name: 'f1', higherIsBetter: true }],
        seed: 's',
      }),
    ).toBeUndefined();
  });
});
