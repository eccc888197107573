import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import { judgeItem } from '#core/eval/judge.ts';
import {
  type CalibrationLabel,
  calibration,
  calibrationLabels,
  humanVerdict,
  parseReviewLabel,
  type ReviewItem,
  reviewTaskId,
  selectForReview,
} from '#core/eval/review.ts';
import { TOXICITY_RUBRIC } from '#core/eval/rubrics/index.ts';
import type { EvalItem, ItemScore } from '#core/eval/types.ts';
import type { ChatRequest, ModelProvider } from '#core/models/types.ts';

const judge = 'anthropic.claude-sonnet-4-5';

/** A model judge's score as `judgeItem` reports it: the repeats' mean, spread and agreement. */
function judged(metric: string, repeats: readonly number[], extra: Record<string, unknown> = {}): ItemScore {
  const mean = repeats.reduce((s, v) => s + v, 0) / repeats.length;
  const spread = Math.max(...repeats) - Math.min(...repeats);
  return {
    metric,
    value: mean,
    details: {
      judge,
      rubric: `judge-${metric}:1`,
      k: repeats.length,
      repeats,
      mean,
      spread,
      unstable: spread > 0.1,
      rationales: repeats.map((v) => `scored ${v}`),
      ...extra,
    },
  };
}

/** `n` items whose faithfulness the judge scored confidently and steadily (0.9 or 0.1, no spread). */
const confident = (n: number, prefix = 'item'): ReviewItem[] =>
  Array.from({ length: n }, (_, i) => ({
    itemId: `${prefix}-${i}`,
    scores: [judged('faithfulness', i % 2 === 0 ? [0.9, 0.9, 0.9] : [0.1, 0.1, 0.1])],
  }));

const ids = (tasks: readonly { taskId: string }[]) => tasks.map((t) => t.taskId);

describe('selectForReview', () => {
  it('draws the same sample for the same seed whatever the order of the items, and another for another seed', () => {
    const items = confident(200);
    const first = selectForReview({ runId: 'run-1', items, sampleRate: 0.05, seed: 's' });
    // Every score is confident and steady: only the sample is picked, 5% of 200 = 10 of them.
    expect(first).toHaveLength(10);
    expect(first.every((t) => t.reason === 'sample')).toBe(true);
    const again = selectForReview({
      runId: 'run-1',
      items: [...items].reverse(),
      sampleRate: 0.05,
      seed: 's',
    });
    expect(ids(again)).toEqual(ids(first));
    const other = selectForReview({ runId: 'run-1', items, sampleRate: 0.05, seed: 't' });
    expect(other).toHaveLength(10);
    expect(new Set(ids(other))).not.toEqual(new Set(ids(first)));
  });

  it('samples each metric at the rate, at least one score when any is left', () => {
    const items: ReviewItem[] = Array.from({ length: 30 }, (_, i) => ({
      itemId: `q-${i}`,
      scores: [judged('faithfulness', [0.95, 0.95, 0.95]), judged('answer_relevance', [0.02, 0.02, 0.02])],
    }));
    const tasks = selectForReview({ runId: 'r', items, sampleRate: 0.05, seed: 1 });
    // ceil(30 × 0.05) = ceil(1.5) = 2 per metric.
    expect(tasks.filter((t) => t.metric === 'faithfulness')).toHaveLength(2);
    expect(tasks.filter((t) => t.metric === 'answer_relevance')).toHaveLength(2);
    expect(selectForReview({ runId: 'r', items, sampleRate: 0, seed: 1 })).toEqual([]);
  });

  const mixed: ReviewItem[] = [
    ...confident(100),
    { itemId: 'flip-a', scores: [judged('faithfulness', [1, 0, 1])] },
    { itemId: 'flip-b', scores: [judged('faithfulness', [0.2, 0.8, 0.8])] },
    { itemId: 'flip-c', scores: [judged('faithfulness', [0.9, 0.5, 0.9])] },
    // 0.05 from the threshold.
    { itemId: 'near-a', scores: [judged('faithfulness', [0.45, 0.45, 0.45])] },
    // 0.1 from the threshold, steady.
    { itemId: 'near-b', scores: [judged('faithfulness', [0.6, 0.6, 0.6])] },
    // Far from the threshold (0.8), but the repeats spread 0.2 and the judge called that stable.
    { itemId: 'wide', scores: [judged('faithfulness', [0.7, 0.9, 0.8], { unstable: false })] },
    // Exactly at the edge of the band: 0.65 is 0.15 from the threshold.
    { itemId: 'edge', scores: [judged('faithfulness', [0.65, 0.65, 0.65])] },
  ];

  it('picks every unstable and every low-confidence score, then the sample, in that order', () => {
    const tasks = selectForReview({
      runId: 'r',
      items: mixed,
      sampleRate: 0.05,
      lowConfidence: 0.15,
      seed: 's',
    });
    expect(tasks.map((t) => t.reason)).toEqual([
      ...Array(3).fill('unstable'),
      ...Array(4).fill('low_confidence'),
      ...Array(5).fill('sample'),
    ]);
    // Unstable: the most split first (|mean − 0.5|: flip-b 0.1, flip-a 0.167, flip-c 0.267).
    expect(tasks.slice(0, 3).map((t) => t.itemId)).toEqual(['flip-b', 'flip-a', 'flip-c']);
    // Low confidence: closest to the threshold first, the wide spread last (0.3 from the threshold).
    expect(tasks.slice(3, 7).map((t) => t.itemId)).toEqual(['near-a', 'near-b', 'edge', 'wide']);
    expect(tasks[0]).toMatchObject({
      taskId: reviewTaskId('r', 'flip-b', 'faithfulness'),
      runId: 'r',
      metric: 'faithfulness',
      rubric: 'judge-faithfulness:1',
      judge,
      judgeVerdict: 'pass',
      unstable: true,
      rationales: ['scored 0.2', 'scored 0.8', 'scored 0.8'],
    });
    expect(tasks[0]?.judgeScore).toBeCloseTo(0.6, 10);
    expect(tasks[0]?.spread).toBeCloseTo(0.6, 10);
  });

  it('caps the tasks at max, dropping samples before low-confidence ones and those before unstable ones', () => {
    const opts = { runId: 'r', items: mixed, sampleRate: 0.05, lowConfidence: 0.15, seed: 's' };
    expect(selectForReview({ ...opts, max: 5 }).map((t) => t.itemId)).toEqual([
      'flip-b',
      'flip-a',
      'flip-c',
      'near-a',
      'near-b',
    ]);
    expect(selectForReview({ ...opts, max: 2 }).map((t) => t.reason)).toEqual(['unstable', 'unstable']);
    expect(selectForReview({ ...opts, max: 0 })).toEqual([]);
    const uncapped = selectForReview(opts);
    expect(ids(selectForReview({ ...opts, max: 9 }))).toEqual(ids(uncapped).slice(0, 9));
  });

  it('gives one task per item and metric, for its most pressing score', () => {
    const items: ReviewItem[] = [
      { itemId: 'a', scores: [judged('faithfulness', [0.9, 0.9, 0.9]), judged('faithfulness', [1, 0, 1])] },
      { itemId: 'a', scores: [judged('faithfulness', [0.5, 0.5, 0.5])] },
      {
        itemId: 'b',
        scores: [judged('faithfulness', [0.2, 0.8, 0.8]), judged('answer_relevance', [0.5, 0.5, 0.5])],
      },
      { itemId: 'b', scores: [judged('answer_relevance', [0.55, 0.55, 0.55])] },
    ];
    const tasks = selectForReview({ runId: 'r', items, sampleRate: 1, seed: 's' });
    expect(new Set(ids(tasks)).size).toBe(tasks.length);
    expect(tasks.map((t) => [t.itemId, t.metric, t.reason])).toEqual([
      ['b', 'faithfulness', 'unstable'],
      ['a', 'faithfulness', 'unstable'],
      ['b', 'answer_relevance', 'low_confidence'],
    ]);
    // Of two low-confidence scores, the one nearer the threshold.
    expect(tasks[2]?.judgeScore).toBe(0.5);
  });

  it("selects a flipping judge's item as unstable, with the majority of its verdicts", async () => {
    // A toxicity judge that says "not toxic", "toxic", "not toxic" about the same answer.
    const outputs = [false, true, false].map((toxic) =>
      JSON.stringify({ toxic, categories: toxic ? ['INSULT'] : [], rationale: toxic ? 'rude' : 'polite' }),
    );
    let calls = 0;
    const provider: ModelProvider = {
      name: 'bedrock',
      async chat(request: ChatRequest) {
        const text = outputs[calls++ % outputs.length] as string;
        return {
          text,
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
      async embed() {
        throw new Error('the toxicity judge does not embed');
      },
    };
    const item: EvalItem = {
      id: 'tone-1',
      messages: [{ role: 'user', content: 'Can I return a gift?' }],
      references: ['Yes, within 30 days.'],
      tags: [],
      unanswerable: false,
    };
    const score = await judgeItem({
      rubric: TOXICITY_RUBRIC,
      item,
      answer: { itemId: item.id, answer: 'Obviously, yes. Read the policy.' },
      provider,
      model: judge,
    });
    expect(score.details).toMatchObject({ unstable: true, verdicts: [true, false, true] });
    const tasks = selectForReview({
      runId: 'r',
      items: [...confident(50), { itemId: item.id, scores: [score] }],
      sampleRate: 0,
      seed: 's',
    });
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({
      itemId: 'tone-1',
      metric: 'toxicity',
      reason: 'unstable',
      rubric: 'judge-toxicity:1',
      judge,
      // Toxicity 1/3 (lower is better): two of three repeats passed the answer.
      judgeVerdict: 'pass',
      rationales: ['polite', 'INSULT: rude', 'polite'],
    });
    expect(tasks[0]?.judgeScore).toBeCloseTo(1 / 3, 10);
  });

  it('leaves out scores that are not a model judge’s: other metrics, failed scores, the offline judge', () => {
    const items: ReviewItem[] = [
      { itemId: 'a', scores: [{ metric: 'exact_match', value: 0.5 }] },
      { itemId: 'b', scores: [{ ...judged('faithfulness', [1, 0, 1]), value: null, error: 'judge failed' }] },
      {
        itemId: 'c',
        scores: [judged('faithfulness', [1, 0, 1], { judge: 'offline', offline: true, calibrated: false })],
      },
    ];
    expect(selectForReview({ runId: 'r', items, sampleRate: 1, seed: 's' })).toEqual([]);
  });

  it('rejects options out of range, naming the option', () => {
    const base = { runId: 'r', items: confident(3) };
    const field = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        return (error as ValidationError).field;
      }
      throw new Error('did not throw');
    };
    expect(field(() => selectForReview({ ...base, sampleRate: 1.5 }))).toBe('sampleRate');
    expect(field(() => selectForReview({ ...base, lowConfidence: 0.6 }))).toBe('lowConfidence');
    expect(field(() => selectForReview({ ...base, max: 2.5 }))).toBe('max');
    expect(field(() => selectForReview({ ...base, runId: '' }))).toBe('runId');
    expect(field(() => selectForReview({ runId: 'r', items: [{ itemId: '', scores: [] }] }))).toBe(
      'items.0.itemId',
    );
  });
});

const taskId = reviewTaskId('r', 'item-1', 'faithfulness');
const label = { taskId, reviewer: 'ana.lima@example.com', label: 'fail', at: '2025-06-01T12:00:00Z' };

describe('parseReviewLabel', () => {
  it('accepts a verdict or a grade in [0, 1], with an optional comment', () => {
    expect(parseReviewLabel(label)).toEqual(label);
    const graded = {
      ...label,
      label: 0.75,
      comment: 'cites the wrong passage',
      at: '2025-06-01T14:00:00+02:00',
    };
    expect(parseReviewLabel(graded)).toEqual(graded);
  });

  it.each([
    [
      'a comment over 2000 characters',
      { comment: 'x'.repeat(2001) },
      'comment',
      'must have at most 2000 characters',
    ],
    ['a reviewer id with a space', { reviewer: 'ana lima' }, 'reviewer', /^must be 1-128 letters, digits/],
    ['a grade above 1', { label: 1.5 }, 'label', 'must be at most 1'],
    [
      'a label that is no verdict',
      { label: 'maybe' },
      'label',
      'must be "pass", "fail" or a number in [0, 1]',
    ],
    [
      'a time without a zone',
      { at: '2025-06-01T12:00:00' },
      'at',
      'must be an ISO 8601 date-time with a time zone',
    ],
    ['a task id of another shape', { taskId: 'task-1' }, 'taskId', /^must be "review-"/],
    ['a missing time', { at: undefined }, 'at', 'is required'],
    ['an unknown field', { score: 1 }, 'score', 'is not a known field'],
  ])('rejects %s, naming the field', (_, change, field, rule) => {
    let error: unknown;
    try {
      parseReviewLabel({ ...label, ...change });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    if (typeof rule === 'string') expect((error as ValidationError).rule).toBe(rule);
    else expect((error as ValidationError).rule).toMatch(rule);
  });

  it('puts the prefix before the field', () => {
    expect(() => parseReviewLabel({ ...label, reviewer: '' }, 'labels.3')).toThrow(/^labels\.3\.reviewer: /);
  });
});

describe('humanVerdict', () => {
  it('passes "pass" and grades at or above 0.5', () => {
    expect(humanVerdict({ label: 'pass' })).toBe(true);
    expect(humanVerdict({ label: 'fail' })).toBe(false);
    expect(humanVerdict({ label: 0.5 })).toBe(true);
    expect(humanVerdict({ label: 0.49 })).toBe(false);
  });
});

describe('calibrationLabels', () => {
  const tasks = [
    { taskId, rubric: 'judge-faithfulness:1', judgeVerdict: 'pass' as const },
    {
      taskId: reviewTaskId('r', 'item-2', 'toxicity'),
      rubric: 'judge-toxicity:1',
      judgeVerdict: 'fail' as const,
    },
  ];

  it("pairs each reviewer's latest label with the judge's verdict on its task", () => {
    const labels = [
      { ...label, reviewer: 'ana', label: 'pass', at: '2025-06-01T10:00:00Z' },
      { ...label, reviewer: 'ana', label: 'fail', at: '2025-06-01T11:00:00Z' },
      { ...label, reviewer: 'ben', label: 0.8, at: '2025-06-01T09:00:00Z' },
      { ...label, taskId: tasks[1]?.taskId, reviewer: 'ana', label: 0.1 },
    ];
    expect(calibrationLabels(tasks, labels)).toEqual([
      { rubric: 'judge-faithfulness:1', judgeVerdict: true, humanVerdict: false },
      { rubric: 'judge-faithfulness:1', judgeVerdict: true, humanVerdict: true },
      { rubric: 'judge-toxicity:1', judgeVerdict: false, humanVerdict: false },
    ]);
  });

  it('rejects a label for a task that is not under review, and an invalid label, naming it', () => {
    const stray = { ...label, taskId: reviewTaskId('r', 'other', 'faithfulness') };
    expect(() => calibrationLabels(tasks, [label, stray])).toThrow(/^labels\.1\.taskId: names no task/);
    expect(() => calibrationLabels(tasks, [{ ...label, comment: 'x'.repeat(2001) }])).toThrow(
      /^labels\.0\.comment: must have at most 2000 characters/,
    );
  });
});

/**
 * Labels of one rubric from a 2×2 table, `fail` the positive class: tp = both failed the answer,
 * fp = the judge failed what the person passed, fn = the judge passed what the person failed, tn = both passed.
 */
function table(rubric: string, tp: number, fp: number, fn: number, tn: number): CalibrationLabel[] {
  const rows = (n: number, judgeVerdict: boolean, humanVerdict: boolean) =>
    Array.from({ length: n }, () => ({ rubric, judgeVerdict, humanVerdict }));
  return [
    ...rows(tp, false, false),
    ...rows(fp, false, true),
    ...rows(fn, true, false),
    ...rows(tn, true, true),
  ];
}

describe('calibration', () => {
  it('calibrates a judge that agrees with people on 60 labels with kappa 2/3', () => {
    // tp 26, fp 4, fn 6, tn 24 (n 60):
    //   p_o = (26 + 24) / 60 = 0.8333
    //   judge fails 30/60 = 0.5, people fail 32/60 = 0.5333
    //   p_e = 0.5 × 0.5333 + 0.5 × 0.4667 = 0.5
    //   kappa = (0.8333 − 0.5) / (1 − 0.5) = 0.6667 ≥ 0.6, on 60 ≥ 50 labels → calibrated
    // Standard error (Fleiss, Cohen & Everitt), 1 − kappa = 1/3:
    //   A = 26/60 × (1 − (0.5 + 0.5333)/3)² + 24/60 × (1 − (0.5 + 0.4667)/3)² = 0.18623 + 0.18375 = 0.36998
    //   B = (1/3)² × [4/60 × (0.5333 + 0.5)² + 6/60 × (0.4667 + 0.5)²] = (0.07119 + 0.09344) / 9 = 0.01829
    //   C = (0.6667 − 0.5 × 1/3)² = 0.25
    //   se = √((A + B − C) / ((1 − 0.5)² × 60)) = √(0.13827 / 15) = 0.09601
    //   95% interval 0.6667 ± 1.96 × 0.09601 = [0.4785, 0.8548]
    // Precision (of the judge's fails, people's fails) 26/30 = 0.8667; recall (of people's fails, caught) 26/32 = 0.8125.
    const [result, ...others] = calibration(table('judge-faithfulness:1', 26, 4, 6, 24));
    expect(others).toEqual([]);
    expect(result?.rubric).toBe('judge-faithfulness:1');
    expect(result?.n).toBe(60);
    expect(result?.kappa.value).toBeCloseTo(2 / 3, 10);
    expect(result?.kappa.observed).toBeCloseTo(50 / 60, 10);
    expect(result?.kappa.expected).toBeCloseTo(0.5, 10);
    expect(result?.kappa.ci[0]).toBeCloseTo(0.4785, 4);
    expect(result?.kappa.ci[1]).toBeCloseTo(0.8548, 4);
    expect(result?.precision).toBeCloseTo(26 / 30, 10);
    expect(result?.recall).toBeCloseTo(26 / 32, 10);
    expect(result?.calibrated).toBe(true);
    expect(result?.reason).toBe(
      'kappa 0.67 [0.48, 0.85] on 60 labels: at least 0.6 on at least 50 labels; calibrated to gate',
    );
  });

  it('reports, without calibrating, a judge below kappa 0.6 or with fewer than 50 labels', () => {
    const results = calibration([
      // tp 20, fp 10, fn 10, tn 20: p_o 40/60 = 0.6667, p_e 0.5, kappa (0.6667 − 0.5) / 0.5 = 0.3333.
      ...table('judge-a:1', 20, 10, 10, 20),
      // tp 13, fp 2, fn 2, tn 13: p_o 26/30 = 0.8667, p_e 0.5, kappa 0.7333, but on 30 labels.
      ...table('judge-b:1', 13, 2, 2, 13),
      // tp 10, fp 10, fn 10, tn 10: chance agreement, kappa 0 on 40 labels.
      ...table('judge-c:1', 10, 10, 10, 10),
    ]);
    expect(results.map((r) => [r.rubric, r.n, r.calibrated])).toEqual([
      ['judge-a:1', 60, false],
      ['judge-b:1', 30, false],
      ['judge-c:1', 40, false],
    ]);
    expect(results[0]?.kappa.value).toBeCloseTo(1 / 3, 10);
    expect(results[0]?.reason).toBe('kappa 0.33 [0.09, 0.57] on 60 labels: below 0.6; reported, not gated');
    expect(results[1]?.kappa.value).toBeCloseTo(11 / 15, 10);
    expect(results[1]?.reason).toBe(
      'kappa 0.73 [0.49, 0.98] on 30 labels: fewer than 50 labels; reported, not gated',
    );
    expect(results[2]?.reason).toBe(
      'kappa 0.00 [-0.31, 0.31] on 40 labels: below 0.6 and fewer than 50 labels; reported, not gated',
    );
  });

  it('says so when agreement cannot be measured: every verdict the same', () => {
    const [result] = calibration(table('judge-a:1', 0, 0, 0, 60));
    expect(result?.calibrated).toBe(false);
    expect(Number.isNaN(result?.kappa.value)).toBe(true);
    expect(Number.isNaN(result?.precision)).toBe(true);
    expect(result?.reason).toMatch(
      /^kappa undefined on 60 labels .*: no agreement can be measured; reported, not gated$/,
    );
  });

  it('rejects a label that is not {rubric, judgeVerdict, humanVerdict}, naming it', () => {
    const bad = [
      { rubric: 'judge-a:1', judgeVerdict: true, humanVerdict: 'yes' },
    ] as unknown as CalibrationLabel[];
    expect(() => calibration(bad)).toThrow(/^labels\.0\.humanVerdict: must be boolean/);
    expect(calibration([])).toEqual([]);
  });
});
