import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import { TOXICITY } from '#core/eval/metrics/index.ts';
import { renderHtml } from '#core/eval/report/html.ts';
import { renderMarkdown } from '#core/eval/report/markdown.ts';
import { itemsJsonl, summaryJson } from '#core/eval/report/summary.ts';
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

describe('a judge that flips its verdict across repeats', () => {
  const TOXIC = new Set(['q0', 'q1', 'q2', 'q3', 'q4', 'q5']);
  /**
   * A toxicity judge, k = 3: on the candidate's answers to q0..q5 it says toxic, clean, toxic when
   * `flip` (else toxic every time); every other answer is clean every time.
   */
  function toxicityJudge(flip: boolean): ModelProvider {
    const calls = new Map<string, number>();
    return {
      name: 'bedrock',
      async chat(request) {
        const asked = request.messages.at(-1)?.content ?? '';
        const repeat = calls.get(asked) ?? 0;
        calls.set(asked, repeat + 1);
        const id = /The answer to question (q\d+)/.exec(asked)?.[1] ?? '';
        const toxic = TOXIC.has(id) && (!flip || repeat !== 1);
        return {
          text: JSON.stringify({
            toxic,
            categories: toxic ? ['INSULT'] : [],
            rationale: toxic ? 'insulting' : 'clean',
          }),
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
  }
  const baselineAnswers = answersFrom((it) => `Baseline: ${it.references[0]}.`);
  const run = (flip: boolean) =>
    runEvaluation({
      ...base,
      metrics: [CONTAINS],
      judged: [{ name: 'toxicity', applies: () => true }],
      judge: {
        kind: 'model',
        provider: toxicityJudge(flip),
        model: 'vendor.judge',
        k: 3,
        calibrated: () => true,
      },
      target: { prompt: 'p:2' },
      answers: good,
      baseline: { target: { prompt: 'p:1' }, answers: baselineAnswers },
    });

  it('marks the flipping items unstable and leaves them out of the metric: counted, never a number', async () => {
    const report = await run(true);
    const toxicity = report.metrics.find((m) => m.name === 'toxicity');
    // 24 stable clean items: their mean, with a point interval; the 6 flipped items are not in n.
    expect(toxicity).toMatchObject({ value: 0, n: 24, ci: [0, 0], failed: 0, unstable: 6 });
    // pass^3 over all 30 items: the 24 whose three repeats passed; the flipped ones failed a repeat.
    expect(toxicity?.repeats).toEqual({
      k: 3,
      judged: 30,
      unstableShare: 0.2,
      passHatK: 0.8,
      passHatKItems: 30,
    });
    expect(toxicity?.byTag.even?.n).toBe(12);
    const flipped = report.items.filter((i) => TOXIC.has(i.id));
    expect(flipped.every((i) => i.unstable?.includes('toxicity'))).toBe(true);
    expect(report.items.filter((i) => i.unstable !== undefined)).toHaveLength(6);
    expect(flipped[0]?.scores.toxicity).toBeCloseTo(2 / 3, 12);
    expect(flipped[0]?.judgements?.toxicity).toEqual({
      judge: 'vendor.judge',
      rubric: 'judge-toxicity:1',
      k: 3,
      repeats: [1, 0, 1],
      mean: expect.closeTo(2 / 3, 12),
      spread: 1,
      stable: false,
      passAll: false,
      verdicts: [false, true, false],
    });
    expect(report.items[10]?.judgements?.toxicity).toMatchObject({
      repeats: [0, 0, 0],
      stable: true,
      passAll: true,
    });
  });

  it('keeps the unstable items out of the gate, which a judge consistently calling them toxic fails', async () => {
    const flipping = await run(true);
    const gated = flipping.gate?.metrics.find((m) => m.name === 'toxicity');
    expect(gated).toMatchObject({ verdict: 'pass', diff: { value: 0, n: 24 } });
    expect(gated?.reason).toMatch(/; 6 unstable items left out$/);
    expect(flipping.gate?.pass).toBe(true);

    // The same items judged toxic every time are a number, and a worse one: the gate fails.
    const consistent = await run(false);
    expect(consistent.metrics.find((m) => m.name === 'toxicity')).toMatchObject({
      value: 0.2,
      n: 30,
      unstable: 0,
    });
    expect(consistent.gate?.metrics.find((m) => m.name === 'toxicity')?.verdict).toBe('fail');
    expect(consistent.gate?.pass).toBe(false);
  });

  it('carries the repeats into summary.json, items.jsonl, the HTML report and the Markdown summary', async () => {
    const report = await run(true);
    const summary = summaryJson(report);
    expect(summary.metrics.toxicity).toMatchObject({
      value: 0,
      n: 24,
      unstable: 6,
      repeats: { k: 3, judged: 30, unstableShare: 0.2, passHatK: 0.8, passHatKItems: 30 },
      judge: { model: 'vendor.judge', rubric: 'judge-toxicity:1', calibrated: true },
    });
    expect(summary.metrics.contains_reference?.unstable).toBeUndefined();

    const lines = itemsJsonl(report)
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines[0]).toMatchObject({
      id: 'q0',
      unstable: ['toxicity'],
      judgements: {
        toxicity: {
          judge: 'vendor.judge',
          rubric: 'judge-toxicity:1',
          k: 3,
          repeats: [1, 0, 1],
          spread: 1,
          stable: false,
        },
      },
    });
    expect(lines[6].judgements.toxicity).toMatchObject({
      repeats: [0, 0, 0],
      mean: 0,
      spread: 0,
      stable: true,
    });

    const page = renderHtml(report);
    const section = page.slice(
      page.indexOf('<section id="stability"'),
      page.indexOf('</section>', page.indexOf('<section id="stability"')),
    );
    expect(section).toContain('Judge stability');
    for (const id of TOXIC) {
      expect(section).toContain(
        `<th scope="row">${id}</th><td>toxicity</td><td>1.000, 0.000, 1.000 (fail, pass, fail)</td>`,
      );
    }
    expect(section).not.toContain('<th scope="row">q6</th>');
    expect(page).toContain('<a href="#stability">');

    const md = renderMarkdown(report);
    expect(md).toContain('**Judge repeats**');
    expect(md.split('\n').filter((line) => line.startsWith('- **toxicity**:'))).toEqual([
      expect.stringMatching(/k = 3 · pass\^3 0\.800 over 30 items · 6 unstable of 30 judged \(20\.0%\)$/),
    ]);
  });

  it('judges offline once per item: every item stable, k = 1', async () => {
    const report = await runEvaluation({ ...base, target: { model: 'm' }, answers: good });
    const faithfulness = report.metrics.find((m) => m.name === 'faithfulness');
    expect(faithfulness).toMatchObject({
      n: 30,
      unstable: 0,
      repeats: { k: 1, judged: 30, unstableShare: 0 },
    });
    expect(report.items[0]?.judgements?.faithfulness).toMatchObject({
      judge: 'offline',
      rubric: 'offline-faithfulness:1',
      k: 1,
      spread: 0,
      stable: true,
    });
    // Toxicity here is a classifier metric, not judged: no judgement.
    expect(report.items[0]?.judgements?.toxicity).toBeUndefined();
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
