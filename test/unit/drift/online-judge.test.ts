import { describe, expect, it } from 'vitest';
import type { DriftRecord } from '#core/drift/check.ts';
import { compareJudged, JUDGE_TEST, judgeSample, judgeSampleSize } from '#core/drift/online-judge.ts';
import { ValidationError } from '#core/errors.ts';

const NOT_FOUND =
  'I could not find anything relevant to this question in the indexed documents, so I cannot answer it from them.';

/** n answered records, each question and answer distinct. */
const answered = (n: number, from = 0): DriftRecord[] =>
  Array.from({ length: n }, (_, i) => ({
    text: `How do I configure option ${from + i}?`,
    answer: `Set option ${from + i} in the console.`,
  }));

function validationError(f: () => unknown): ValidationError {
  try {
    f();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('judgeSampleSize', () => {
  it('is min(maxPerWindow, ⌈share × eligible⌉)', () => {
    const dev = { share: 0.1, maxPerWindow: 20 };
    expect(judgeSampleSize(0, dev)).toBe(0);
    expect(judgeSampleSize(1, dev)).toBe(1);
    expect(judgeSampleSize(170, dev)).toBe(17);
    expect(judgeSampleSize(198, dev)).toBe(20);
    expect(judgeSampleSize(500, dev)).toBe(20);
    // 0.1 × 30 is 3.0000000000000004 in floating point: still 3.
    expect(judgeSampleSize(30, dev)).toBe(3);
    expect(judgeSampleSize(2000, { share: 0.05, maxPerWindow: 50 })).toBe(50);
    expect(judgeSampleSize(7, { share: 1, maxPerWindow: 200 })).toBe(7);
  });

  it('refuses a share outside (0, 1], a cap that is not a positive integer, a count that is not one', () => {
    expect(validationError(() => judgeSampleSize(10, { share: 0, maxPerWindow: 5 })).field).toBe('share');
    expect(validationError(() => judgeSampleSize(10, { share: 1.5, maxPerWindow: 5 })).field).toBe('share');
    expect(validationError(() => judgeSampleSize(10, { share: 0.1, maxPerWindow: 0 })).field).toBe(
      'maxPerWindow',
    );
    expect(validationError(() => judgeSampleSize(10, { share: 0.1, maxPerWindow: 2.5 })).field).toBe(
      'maxPerWindow',
    );
    expect(validationError(() => judgeSampleSize(-1, { share: 0.1, maxPerWindow: 5 })).field).toBe(
      'eligible',
    );
  });
});

describe('judgeSample', () => {
  const options = { share: 0.1, maxPerWindow: 20, seed: 'support:online-judge', notFoundAnswer: NOT_FOUND };

  it('judges only records with a question and an answer that is not the no-context answer', () => {
    const records: DriftRecord[] = [
      { text: 'Where are the logs?' },
      { answer: 'In CloudWatch.' },
      { text: 'Where are the metrics?', answer: '   ' },
      { text: '  ', answer: 'Somewhere.' },
      { text: 'What is the quota?', answer: ` ${NOT_FOUND.toUpperCase().replace(/ /g, '  ')} ` },
      { text: 'What is the timeout?', answer: 'Fifteen minutes at most.' },
    ];
    expect(judgeSample(records, { ...options, share: 1 })).toEqual([records[5]]);
    // Without the no-context answer, it is an answer like any other.
    const { notFoundAnswer: _, ...withoutNotFound } = options;
    expect(judgeSample(records, { ...withoutNotFound, share: 1 })).toEqual([records[4], records[5]]);
  });

  it('takes ⌈share × eligible⌉ up to the cap, the same records whatever their order, in input order', () => {
    const records = answered(170);
    const sample = judgeSample(records, options);
    expect(sample).toHaveLength(17);
    expect(
      judgeSample([...records].reverse(), options)
        .map((r) => r.text)
        .sort(),
    ).toEqual(sample.map((r) => r.text).sort());
    const order = sample.map((r) => records.indexOf(r));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(judgeSample(answered(500), options)).toHaveLength(20);
    expect(judgeSample(answered(500), options)).toEqual(judgeSample(answered(500), options));
  });

  it('chooses by the seed: another seed, another sample of the same size', () => {
    const records = answered(500);
    const a = judgeSample(records, options).map((r) => r.text);
    const b = judgeSample(records, { ...options, seed: 'other:online-judge' }).map((r) => r.text);
    expect(b).toHaveLength(a.length);
    expect(b).not.toEqual(a);
  });

  it('is empty when no record has an answer to judge', () => {
    expect(judgeSample([{ text: 'q1' }, { text: 'q2' }], options)).toEqual([]);
    expect(judgeSample([], options)).toEqual([]);
  });

  it('validates its bounds', () => {
    expect(validationError(() => judgeSample(answered(3), { ...options, share: 0 })).field).toBe('share');
    expect(validationError(() => judgeSample(answered(3), { ...options, maxPerWindow: 0 })).field).toBe(
      'maxPerWindow',
    );
  });
});

describe('compareJudged', () => {
  const reference = [0.91, 0.85, 0.78, 0.88, 0.95, 0.82, 0.9, 0.87, 0.79, 0.93, 0.84, 0.89];

  it('a decline: the KS test of the scores, both means, direction down (scipy reference)', () => {
    const current = [0.61, 0.72, 0.55, 0.8, 0.66, 0.0, 0.7, 0.58, 0.75, 0.63];
    const out = compareJudged(reference, current, { minJudged: 10 });
    // scipy.stats.ks_2samp(reference, current): statistic 0.9, pvalue 6.804341169666248e-05.
    expect(out).toEqual({
      status: 'tested',
      n: { reference: 12, current: 10 },
      reference: expect.closeTo(0.8675, 12),
      current: expect.closeTo(0.6, 12),
      difference: expect.closeTo(-0.2675, 12),
      direction: 'down',
      statistic: expect.closeTo(0.9, 12),
      pValue: expect.closeTo(6.804341169666248e-5, 15),
      minJudged: 10,
    });
  });

  it('similar scores: a large p-value', () => {
    const current = [0.86, 0.92, 0.8, 0.89, 0.83, 0.94, 0.77, 0.88, 0.91, 0.85, 0.81];
    const out = compareJudged(reference, current, { minJudged: 10 });
    // scipy.stats.ks_2samp: statistic 0.12878787878787878, pvalue 0.999242647243724.
    expect(out.statistic).toBeCloseTo(0.12878787878787878, 12);
    expect(out.pValue).toBeCloseTo(0.999242647243724, 12);
    expect(out.current).toBeCloseTo(0.86, 12);
    expect(out.direction).toBe('down');
  });

  it('ties (noncommittal answers score 0): as scipy', () => {
    const before = [0, 0, 0.8, 0.9, 0.85, 0, 0.7, 0.9, 0.8, 0.75];
    const after = [0, 0, 0, 0, 0, 0.6, 0.7, 0, 0.8, 0];
    const out = compareJudged(before, after, { minJudged: 5 });
    // scipy.stats.ks_2samp(before, after): statistic 0.5, pvalue 0.16782134274394334.
    expect(out.statistic).toBeCloseTo(0.5, 12);
    expect(out.pValue).toBeCloseTo(0.16782134274394334, 12);
    expect(out.reference).toBeCloseTo(0.57, 12);
    expect(out.current).toBeCloseTo(0.21, 12);
    // Better answers: direction up (the same p-value; it never drifts).
    const reversed = compareJudged(after, before, { minJudged: 5 });
    expect(reversed.direction).toBe('up');
    expect(reversed.pValue).toBeCloseTo(0.16782134274394334, 12);
  });

  it('the same mean: direction same', () => {
    expect(compareJudged([0.2, 0.8], [0.5, 0.5], { minJudged: 2 }).direction).toBe('same');
  });

  it('a window with fewer than minJudged scores is insufficient: means kept, no test', () => {
    const out = compareJudged(reference, [0.5, 0.4], { minJudged: 10 });
    expect(out).toEqual({
      status: 'insufficient',
      n: { reference: 12, current: 2 },
      reference: expect.closeTo(0.8675, 12),
      current: expect.closeTo(0.45, 12),
      difference: expect.closeTo(-0.4175, 12),
      direction: 'down',
      statistic: null,
      pValue: null,
      minJudged: 10,
    });
    // Every judge call of the window failed: no score, no mean, no direction.
    expect(compareJudged(reference, [], { minJudged: 10 })).toMatchObject({
      status: 'insufficient',
      current: null,
      difference: null,
      direction: null,
      pValue: null,
    });
  });

  it('refuses a score that is not a finite number, and a minJudged that is not a positive integer', () => {
    expect(validationError(() => compareJudged([0.5, Number.NaN], [0.5], { minJudged: 1 })).field).toBe(
      'reference.1',
    );
    expect(
      validationError(() => compareJudged([0.5], ['x' as unknown as number], { minJudged: 1 })).field,
    ).toBe('current.0');
    expect(validationError(() => compareJudged([0.5], [0.5], { minJudged: 0 })).field).toBe('minJudged');
  });

  it('names its test judgeAnswerRelevance', () => {
    expect(JUDGE_TEST).toBe('judgeAnswerRelevance');
  });

  it('labels the comparison with the rubric version and the judge model when given, and only then', () => {
    const current = [0.86, 0.92, 0.8, 0.89, 0.83, 0.94, 0.77, 0.88, 0.91, 0.85];
    const bare = compareJudged(reference, current, { minJudged: 10 });
    expect(bare).not.toHaveProperty('rubric');
    expect(bare).not.toHaveProperty('model');
    const labelled = compareJudged(reference, current, {
      minJudged: 10,
      rubric: 'judge-answer-relevance:2',
      model: 'offline',
    });
    expect(labelled).toEqual({ ...bare, rubric: 'judge-answer-relevance:2', model: 'offline' });
  });
});
