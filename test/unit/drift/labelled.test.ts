import { describe, expect, it } from 'vitest';
import {
  compareFeedback,
  compareReviews,
  type FeedbackCounts,
  FeedbackTally,
  mannWhitneyCounts,
  NO_FEEDBACK,
  RATING_LEVELS,
} from '#core/drift/labelled.ts';
import { ValidationError } from '#core/errors.ts';

/** Feedback counts from the ratings per level (0, 0.25, 0.5, 0.75, 1), with reviews. */
function counts(ratings: number[], reviewed = 0, confirmed = 0): FeedbackCounts {
  const [down = 0, low = 0, , high = 0, up = 0] = ratings;
  return {
    answered: 1000,
    verdicts: ratings.reduce((s, c) => s + c, 0),
    positive: high + up,
    negative: down + low,
    ratings,
    reviewed,
    confirmed,
  };
}
/** Thumbs only: `up` up, `down` down. */
const thumbs = (up: number, down: number, reviewed = 0, confirmed = 0) =>
  counts([down, 0, 0, 0, up], reviewed, confirmed);
const OPTIONS = { alpha: 0.05, minWindow: 50 };

describe('mannWhitneyCounts', () => {
  // scipy.stats.mannwhitneyu(np.repeat(levels, a), np.repeat(levels, b), method='asymptotic')
  it.each([
    [[10, 5, 8, 20, 30], [20, 9, 8, 15, 12], 3116.5, 0.0005239200681192913],
    [[3, 0, 0, 0, 7], [6, 0, 0, 0, 4], 65, 0.20392477458611868],
    [[0, 0, 5, 0, 0], [0, 0, 3, 1, 0], 7.5, 0.37109336952269756],
    [[50, 0, 0, 0, 150], [80, 0, 0, 0, 120], 23000, 0.001383726321604829],
  ])('matches scipy’s asymptotic mannwhitneyu with ties (%j vs %j)', (a, b, u, p) => {
    const result = mannWhitneyCounts(a, b);
    expect(result.statistic).toBe(u);
    expect(result.pValue).toBeCloseTo(p, 12);
    expect(result.n).toEqual({
      reference: a.reduce((s, c) => s + c, 0),
      current: b.reduce((s, c) => s + c, 0),
    });
  });

  it('gives p = 1 when every value ties, and refuses bad counts', () => {
    expect(mannWhitneyCounts([0, 4, 0], [0, 9, 0]).pValue).toBe(1);
    expect(() => mannWhitneyCounts([1, 2], [1])).toThrow(ValidationError);
    expect(() => mannWhitneyCounts([0, 0], [1, 1])).toThrow(ValidationError);
    expect(() => mannWhitneyCounts([1, -1], [1, 1])).toThrow(ValidationError);
    expect(() => mannWhitneyCounts([1, 0.5], [1, 1])).toThrow(ValidationError);
  });
});

describe('FeedbackTally', () => {
  it('counts verdicts by rating and polarity, and the reviewed complaints', () => {
    const tally = new FeedbackTally();
    tally.addAnswered(7);
    for (const score of [1, 0, 0.5, 0.75, 0.25, 0]) tally.add({ score });
    tally.add({ score: 0, reviewPassed: false });
    tally.add({ score: 0.25, reviewPassed: true });
    expect(tally.counts()).toEqual({
      answered: 7,
      verdicts: 8,
      positive: 2,
      negative: 5,
      ratings: [3, 2, 1, 1, 1],
      reviewed: 2,
      confirmed: 1,
    });
    expect(new FeedbackTally().counts()).toEqual(NO_FEEDBACK);
    expect(() => tally.add({ score: 0.3 })).toThrow(ValidationError);
    expect(RATING_LEVELS).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });
});

describe('compareFeedback', () => {
  it('drifts on a falling thumbs-up rate and mean rating, with scipy’s p-values and BH across the two', () => {
    // Stars: 1 to 5 stars as 0 … 1. Polar: 4-5 stars against 1-2 stars.
    const result = compareFeedback(counts([5, 5, 20, 40, 30]), counts([15, 15, 30, 25, 15]), OPTIONS);
    const { thumbsUpRate, meanRating } = result.tests;
    // scipy.stats.chi2_contingency([[70, 10], [40, 30]])
    expect(thumbsUpRate).toMatchObject({
      status: 'tested',
      test: 'chi2',
      n: { reference: 80, current: 70 },
      reference: 70 / 80,
      current: 40 / 70,
      direction: 'down',
      drift: true,
    });
    expect(thumbsUpRate.statistic).toBeCloseTo(16.07523336038961, 10);
    expect(thumbsUpRate.pValue).toBeCloseTo(6.087499313201034e-5, 15);
    // scipy.stats.mannwhitneyu of the ratings: U 6725, p 1.3384816283474529e-05
    expect(meanRating).toMatchObject({
      status: 'tested',
      test: 'mann-whitney',
      statistic: 6725,
      direction: 'down',
    });
    expect(meanRating.reference).toBeCloseTo(0.7125, 12);
    expect(meanRating.current).toBeCloseTo(0.525, 12);
    expect(meanRating.pValue).toBeCloseTo(1.3384816283474529e-5, 15);
    // scipy.stats.false_discovery_control([6.0875e-05, 1.3385e-05])
    expect(thumbsUpRate.adjustedPValue).toBeCloseTo(6.087499313201034e-5, 15);
    expect(meanRating.adjustedPValue).toBeCloseTo(2.676963256694906e-5, 15);
    expect(result).toMatchObject({ drift: true, insufficient: false, method: 'meanRating' });
    expect(result.pValue).toBeCloseTo(2.676963256694906e-5, 15);
  });

  it('never drifts on a rise: answers people like more are good news', () => {
    const result = compareFeedback(thumbs(100, 100), thumbs(160, 40), OPTIONS);
    expect(result.tests.thumbsUpRate).toMatchObject({ direction: 'up', drift: false, status: 'tested' });
    expect(result.tests.thumbsUpRate.adjustedPValue).toBeLessThan(0.05);
    expect(result).toMatchObject({ drift: false, pValue: 1, method: null });
  });

  it('finds two similar windows unchanged', () => {
    const result = compareFeedback(thumbs(160, 40), thumbs(155, 45), OPTIONS);
    expect(result.drift).toBe(false);
    expect(result.pValue).toBeGreaterThan(0.05);
  });

  it('is insufficient with fewer verdicts than the minimum window, never "no change"', () => {
    const result = compareFeedback(thumbs(160, 40), thumbs(20, 20), OPTIONS);
    expect(result).toMatchObject({ insufficient: true, pValue: null, drift: false, method: null });
    expect(result.tests.thumbsUpRate.status).toBe('insufficient');
    expect(result.tests.meanRating.status).toBe('insufficient');
    // Many 3-star verdicts: the mean rating has data, the thumbs-up rate has too few polar verdicts.
    const neutral = compareFeedback(counts([20, 0, 100, 0, 20]), counts([30, 0, 100, 0, 10]), OPTIONS);
    expect(neutral.tests.thumbsUpRate.status).toBe('insufficient');
    expect(neutral.tests.meanRating.status).toBe('tested');
    expect(neutral.insufficient).toBe(false);
  });

  it('has nothing to compare when every verdict of both windows is the same', () => {
    const result = compareFeedback(thumbs(80, 0), thumbs(60, 0), OPTIONS);
    expect(result.tests.thumbsUpRate).toMatchObject({ status: 'skipped', pValue: null, direction: 'same' });
    expect(result.tests.meanRating).toMatchObject({ status: 'skipped', pValue: null });
    expect(result).toMatchObject({ insufficient: false, pValue: 1, drift: false });
  });

  it('names what is wrong with the counts or the options', () => {
    const field = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        return (error as ValidationError).field;
      }
      throw new Error('expected a ValidationError');
    };
    expect(field(() => compareFeedback({ ...thumbs(1, 1), verdicts: 3 }, thumbs(1, 1), OPTIONS))).toBe(
      'reference.ratings',
    );
    expect(field(() => compareFeedback(thumbs(1, 1), { ...thumbs(1, 1), positive: 2 }, OPTIONS))).toBe(
      'current.positive',
    );
    expect(field(() => compareFeedback(thumbs(1, 1), { ...thumbs(1, 1), ratings: [1, 1] }, OPTIONS))).toBe(
      'current.ratings',
    );
    expect(field(() => compareFeedback(thumbs(1, 1, 1, 2), thumbs(1, 1), OPTIONS))).toBe(
      'reference.confirmed',
    );
    expect(field(() => compareFeedback(thumbs(1, 1), thumbs(1, 1), { alpha: 1, minWindow: 5 }))).toBe(
      'alpha',
    );
    expect(field(() => compareFeedback(thumbs(1, 1), thumbs(1, 1), { alpha: 0.05, minWindow: 0 }))).toBe(
      'minWindow',
    );
  });
});

describe('compareReviews', () => {
  it('drifts when more of the reviewed complaints are confirmed (their precision rose)', () => {
    // scipy.stats.chi2_contingency([[20, 40], [45, 15]]): p 1.097196026802034e-05
    const result = compareReviews(thumbs(150, 60, 60, 20), thumbs(150, 60, 60, 45), OPTIONS);
    expect(result.tests.complaintPrecision).toMatchObject({
      status: 'tested',
      n: { reference: 60, current: 60 },
      reference: 20 / 60,
      current: 45 / 60,
      direction: 'up',
      drift: true,
    });
    expect(result.tests.complaintPrecision.statistic).toBeCloseTo(19.334265734265735, 10);
    expect(result.pValue).toBeCloseTo(1.097196026802034e-5, 15);
    expect(result).toMatchObject({ drift: true, method: 'complaintPrecision' });
  });

  it('never drifts when fewer complaints are confirmed, and is insufficient with few reviewed', () => {
    expect(compareReviews(thumbs(150, 60, 60, 45), thumbs(150, 60, 60, 20), OPTIONS)).toMatchObject({
      drift: false,
      pValue: 1,
    });
    expect(compareReviews(thumbs(150, 60, 60, 20), thumbs(150, 60, 10, 9), OPTIONS)).toMatchObject({
      insufficient: true,
      pValue: null,
      drift: false,
    });
  });
});
