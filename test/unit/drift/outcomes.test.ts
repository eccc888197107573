import { describe, expect, it } from 'vitest';
import { compareJudged, type JudgedComparison } from '#core/drift/online-judge.ts';
import {
  compareOutcomes,
  countOutcomes,
  NO_OUTCOMES,
  OUTCOME_RATES,
  type OutcomeCounts,
  OutcomeTally,
} from '#core/drift/outcomes.ts';
import type { InteractionLike } from '#core/drift/window.ts';
import { ValidationError } from '#core/errors.ts';

const WINDOW = { start: new Date('2026-12-01T06:00:00.000Z'), end: new Date('2026-12-01T12:00:00.000Z') };

/** An answered, sampled call of app `web` with prompt `support` in the window; each test changes one thing. */
function call(overrides: Partial<InteractionLike> = {}): InteractionLike {
  return {
    interactionId: 'i-1',
    occurredAt: '2026-12-01T08:00:00.000Z',
    app: 'web',
    prompt: { name: 'support' },
    status: 'ok',
    guardrail: null,
    payload: { messages: [{ role: 'user', content: { text: 'q' } }], answer: { text: 'a' } },
    ...overrides,
  };
}

const counts = (calls: number, errors = 0, throttles = 0, guardrailInterventions = 0): OutcomeCounts => ({
  calls,
  errors,
  throttles,
  guardrailInterventions,
});

function validationError(run: () => unknown): ValidationError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('countOutcomes', () => {
  it('counts every call of the traffic, sampled or not, whatever its status', () => {
    const records = [
      call(),
      call({ payload: null }), // not sampled: counts
      call({ status: 'provider_error', payload: null }),
      call({ status: 'error' }),
      call({ status: 'throttled', payload: null }),
      call({ status: 'client_error' }), // the caller's mistake: a call, not an error
      call({ guardrail: { action: 'INTERVENED' } }),
      call({ status: 'provider_error', guardrail: { action: 'INTERVENED' } }), // both
      call({ guardrail: { action: 'NONE' } }),
      call({ guardrail: undefined }),
    ];
    expect(countOutcomes(records, WINDOW, {})).toEqual({
      calls: 10,
      errors: 3,
      throttles: 1,
      guardrailInterventions: 2,
    });
  });

  it('keeps to the traffic: the half-open window, the app and prompt, never the evaluation runs', () => {
    const records = [
      call({ occurredAt: WINDOW.start.toISOString(), status: 'error' }), // in
      call({ occurredAt: WINDOW.end.toISOString(), status: 'error' }), // out: the end is open
      call({ occurredAt: '2026-12-01T05:59:59.999Z', status: 'error' }),
      call({ occurredAt: 'not a date', status: 'error' }),
      call({ app: 'evaluation', status: 'error' }),
      call({ app: 'mobile', status: 'throttled' }),
      call({ prompt: { name: 'billing' }, guardrail: { action: 'INTERVENED' } }),
      call({ prompt: null }),
    ];
    expect(countOutcomes(records, WINDOW, { app: 'web', prompt: 'support' })).toEqual(counts(1, 1));
    expect(countOutcomes(records, WINDOW, { app: 'web' })).toEqual(counts(3, 1, 0, 1));
    expect(countOutcomes(records, WINDOW, {})).toEqual(counts(4, 1, 1, 1));
    expect(countOutcomes([], WINDOW, {})).toEqual(NO_OUTCOMES);
  });

  it('counts one call at a time with a tally, saying whether the call was traffic', () => {
    const tally = new OutcomeTally(WINDOW, { app: 'web' });
    expect(tally.add(call({ status: 'throttled' }))).toBe(true);
    expect(tally.add(call({ app: 'mobile' }))).toBe(false);
    expect(tally.counts()).toEqual(counts(1, 0, 1));
  });
});

describe('compareOutcomes', () => {
  const OPTIONS = { alpha: 0.05, minWindow: 50 };

  it('finds an error rate that rose from 1% to 15% (the demo’s windows), skipping rates that are 0 in both', () => {
    // scipy.stats.chi2_contingency([[2, 198], [30, 170]], correction=True):
    // statistic 24.762228260869563, pvalue 6.485602694285682e-07
    const out = compareOutcomes(counts(200, 2), counts(200, 30), OPTIONS);
    expect(out.rates.errorRate).toEqual({
      status: 'tested',
      reference: 0.01,
      current: 0.15,
      difference: expect.closeTo(0.14, 12),
      direction: 'up',
      statistic: expect.closeTo(24.762228260869563, 9),
      pValue: expect.closeTo(6.485602694285682e-7, 15),
      // One rate tested: BH leaves its p-value as it is.
      adjustedPValue: expect.closeTo(6.485602694285682e-7, 15),
      drift: true,
    });
    for (const rate of ['throttleRate', 'guardrailRate'] as const) {
      expect(out.rates[rate]).toEqual({
        status: 'skipped',
        reference: 0,
        current: 0,
        difference: 0,
        direction: 'same',
        statistic: null,
        pValue: null,
        adjustedPValue: null,
        drift: false,
      });
    }
    expect(out).toMatchObject({
      reference: counts(200, 2),
      current: counts(200, 30),
      alpha: 0.05,
      minWindow: 50,
      insufficient: false,
      method: 'errorRate',
      drift: true,
    });
    expect(out.pValue).toBeCloseTo(6.485602694285682e-7, 15);
  });

  it('adjusts across the tested rates (BH) and leaves a rate that went down out of the signal', () => {
    // scipy.stats.chi2_contingency (correction=True):
    //   errors     [[10, 990], [25, 975]]: statistic 5.699745547073791, pvalue 0.016967372603448494
    //   throttles  [[3, 997], [4, 996]]:   statistic 0.0,               pvalue 1.0
    //   guardrail  [[60, 940], [20, 980]]: statistic 19.8046875,        pvalue 8.57720715538915e-06
    // scipy.stats.false_discovery_control([0.016967372603448494, 1.0, 8.57720715538915e-06], method='bh'):
    //   [0.02545105890517274, 1.0, 2.573162146616745e-05]
    const out = compareOutcomes(counts(1000, 10, 3, 60), counts(1000, 25, 4, 20), OPTIONS);
    expect(out.rates.errorRate).toMatchObject({
      status: 'tested',
      direction: 'up',
      statistic: expect.closeTo(5.699745547073791, 9),
      pValue: expect.closeTo(0.016967372603448494, 12),
      adjustedPValue: expect.closeTo(0.02545105890517274, 12),
      drift: true,
    });
    expect(out.rates.throttleRate).toMatchObject({
      status: 'tested',
      reference: 0.003,
      current: 0.004,
      direction: 'up',
      statistic: 0,
      pValue: 1,
      adjustedPValue: 1,
      drift: false,
    });
    // The guardrail rate fell from 6% to 2%: the smallest p-value, reported, but good news, not drift.
    expect(out.rates.guardrailRate).toMatchObject({
      status: 'tested',
      reference: 0.06,
      current: 0.02,
      difference: expect.closeTo(-0.04, 12),
      direction: 'down',
      statistic: expect.closeTo(19.8046875, 9),
      pValue: expect.closeTo(8.57720715538915e-6, 15),
      adjustedPValue: expect.closeTo(2.573162146616745e-5, 15),
      drift: false,
    });
    // The signal: the smallest adjusted p-value of the rates that did not go down.
    expect(out.method).toBe('errorRate');
    expect(out.pValue).toBeCloseTo(0.02545105890517274, 12);
    expect(out.drift).toBe(true);
  });

  it('finds nothing when the rates are close (BH across three: 0.0535 > 0.05)', () => {
    // scipy: errors [[10, 990], [20, 780]] p 0.022318760042481872, throttles [[5, 995], [2, 798]]
    // p 0.641400664649312, guardrail [[20, 980], [30, 770]] p 0.035669649276037385;
    // false_discovery_control (bh): [0.05350447, 0.64140066, 0.05350447]
    const out = compareOutcomes(counts(1000, 10, 5, 20), counts(800, 20, 2, 30), OPTIONS);
    expect(out.rates.errorRate.pValue).toBeCloseTo(0.022318760042481872, 12);
    expect(out.rates.errorRate.adjustedPValue).toBeCloseTo(0.05350447, 7);
    expect(out.rates.throttleRate).toMatchObject({ direction: 'down', drift: false });
    expect(out.rates.throttleRate.pValue).toBeCloseTo(0.641400664649312, 12);
    expect(out.rates.guardrailRate.adjustedPValue).toBeCloseTo(0.05350447, 7);
    expect(out.drift).toBe(false);
    // A tie between the two rates that rose: the first in report order.
    expect(out.method).toBe('errorRate');
    expect(out.pValue).toBeCloseTo(0.05350447, 7);
  });

  it('treats a rate that only went down as no drift: the signal’s p-value is 1 (a score of 0, not a missing one)', () => {
    // scipy: [[50, 450], [10, 490]]: statistic 26.96808510638298, pvalue 2.0684269029610404e-07.
    const out = compareOutcomes(counts(500, 50), counts(500, 10), OPTIONS);
    expect(out.rates.errorRate).toMatchObject({ status: 'tested', direction: 'down', drift: false });
    expect(out.rates.errorRate.pValue).toBeCloseTo(2.0684269029610404e-7, 15);
    expect(out).toMatchObject({ pValue: 1, method: null, drift: false, insufficient: false });
  });

  it('has nothing to compare when no call failed, was throttled or intervened in either window', () => {
    const out = compareOutcomes(counts(300), counts(120), OPTIONS);
    for (const rate of Object.keys(OUTCOME_RATES) as (keyof typeof OUTCOME_RATES)[]) {
      expect(out.rates[rate]).toMatchObject({ status: 'skipped', pValue: null, drift: false });
    }
    expect(out).toMatchObject({ pValue: 1, method: null, drift: false, insufficient: false });
  });

  it('finds no change when every call failed in both windows (one column: p = 1, as SciPy)', () => {
    const out = compareOutcomes(counts(100, 100), counts(80, 80), OPTIONS);
    expect(out.rates.errorRate).toMatchObject({
      status: 'tested',
      reference: 1,
      current: 1,
      difference: 0,
      direction: 'same',
      statistic: 0,
      pValue: 1,
      drift: false,
    });
    expect(out).toMatchObject({ pValue: 1, method: 'errorRate', drift: false });
  });

  it('finds an outage: every call of the window failed, none of the baseline’s', () => {
    const out = compareOutcomes(counts(200), counts(60, 60), OPTIONS);
    expect(out.rates.errorRate).toMatchObject({ reference: 0, current: 1, direction: 'up', drift: true });
    expect(out.pValue).toBeLessThan(1e-30);
    expect(out.method).toBe('errorRate');
  });

  it('reports every rate insufficient, with no p-value, when a window has fewer than minWindow calls', () => {
    // Even a large change: 1 in 49 calls against 40 in 49 is not tested below 50 calls.
    for (const [reference, current] of [
      [counts(49, 1), counts(200, 40)],
      [counts(200, 1), counts(49, 40)],
      [counts(200, 1), counts(0)],
    ] as const) {
      const out = compareOutcomes(reference, current, OPTIONS);
      expect(out).toMatchObject({ insufficient: true, pValue: null, method: null, drift: false });
      for (const rate of Object.values(out.rates)) {
        expect(rate).toMatchObject({
          status: 'insufficient',
          statistic: null,
          pValue: null,
          adjustedPValue: null,
          drift: false,
        });
      }
    }
    // The rates are still reported; a window without calls has none.
    const empty = compareOutcomes(counts(200, 2), NO_OUTCOMES, OPTIONS);
    expect(empty.rates.errorRate).toMatchObject({
      reference: 0.01,
      current: null,
      difference: null,
      direction: null,
    });
    // At the minimum itself, the rates are tested. scipy: [[1, 59], [6, 54]]: p 0.11923756886018147.
    const small = compareOutcomes(counts(60, 1), counts(60, 6), { alpha: 0.05, minWindow: 60 });
    expect(small.insufficient).toBe(false);
    expect(small.rates.errorRate.pValue).toBeCloseTo(0.11923756886018147, 12);
    expect(small.drift).toBe(false);
  });

  it('refuses counts that are not counts, naming the field', () => {
    const bad: [OutcomeCounts, OutcomeCounts, string][] = [
      [counts(-1), counts(100), 'reference.calls'],
      [counts(100, -2), counts(100), 'reference.errors'],
      [counts(100), counts(100, 1.5), 'current.errors'],
      [counts(100), counts(100, 0, Number.NaN), 'current.throttles'],
      [counts(100), counts(100, 0, 0, Number.POSITIVE_INFINITY), 'current.guardrailInterventions'],
      [counts(100.5), counts(100), 'reference.calls'],
      [counts(10, 11), counts(100), 'reference.errors'],
      [counts(100), counts(10, 0, 0, 11), 'current.guardrailInterventions'],
      // Errors and throttles are statuses of different calls.
      [counts(10, 6, 5), counts(100), 'reference.throttles'],
      [{ calls: 10, errors: '1' } as unknown as OutcomeCounts, counts(100), 'reference.errors'],
      [null as unknown as OutcomeCounts, counts(100), 'reference'],
    ];
    for (const [reference, current, field] of bad) {
      expect(validationError(() => compareOutcomes(reference, current, OPTIONS)).field, field).toBe(field);
    }
    expect(
      validationError(() => compareOutcomes(counts(100), counts(100), { alpha: 0, minWindow: 50 })).field,
    ).toBe('alpha');
    expect(
      validationError(() => compareOutcomes(counts(100), counts(100), { alpha: 1, minWindow: 50 })).field,
    ).toBe('alpha');
    for (const minWindow of [0, -1, 2.5, Number.NaN]) {
      expect(
        validationError(() => compareOutcomes(counts(100), counts(100), { alpha: 0.05, minWindow })).field,
      ).toBe('minWindow');
    }
  });

  it('is deterministic and does not change its inputs', () => {
    const reference = Object.freeze(counts(1000, 10, 3, 60));
    const current = Object.freeze(counts(1000, 25, 4, 20));
    expect(compareOutcomes(reference, current, OPTIONS)).toEqual(
      compareOutcomes(reference, current, OPTIONS),
    );
  });
});

describe('compareOutcomes with the online judge', () => {
  const OPTIONS = { alpha: 0.05, minWindow: 50 };
  const REFERENCE = [0.91, 0.85, 0.78, 0.88, 0.95, 0.82, 0.9, 0.87, 0.79, 0.93, 0.84, 0.89];
  const LOWER = [0.61, 0.72, 0.55, 0.8, 0.66, 0.0, 0.7, 0.58, 0.75, 0.63];
  // scipy.stats.ks_2samp(REFERENCE, LOWER): statistic 0.9, pvalue 6.804341169666248e-05.
  const KS_P = 6.804341169666248e-5;
  const declined = compareJudged(REFERENCE, LOWER, { minJudged: 10 });
  const improved = compareJudged(LOWER, REFERENCE, { minJudged: 10 });

  it('joins the rates in Benjamini–Hochberg: a decline of the scores drifts, alone', () => {
    // Errors 1% in both windows: scipy.stats.chi2_contingency([[2, 198], [2, 198]]): pvalue 1.0. BH over
    // the two tests: the judge's p · 2 / 1 = 1.3608682339332496e-04, the error rate's 1.
    const out = compareOutcomes(counts(200, 2), counts(200, 2), { ...OPTIONS, judge: declined });
    expect(out.judge).toEqual({
      ...declined,
      adjustedPValue: expect.closeTo(2 * KS_P, 15),
      drift: true,
    });
    expect(out.rates.errorRate).toMatchObject({
      status: 'tested',
      pValue: 1,
      adjustedPValue: 1,
      drift: false,
    });
    expect(out).toMatchObject({ insufficient: false, method: 'judgeAnswerRelevance', drift: true });
    expect(out.pValue).toBeCloseTo(1.3608682339332496e-4, 15);
  });

  it('with a rising error rate: both adjusted together, the smaller decides', () => {
    // Errors [[2, 198], [30, 170]]: pvalue 6.485602694285682e-07 (rank 1: × 2), the judge's (rank 2: × 1).
    const out = compareOutcomes(counts(200, 2), counts(200, 30), { ...OPTIONS, judge: declined });
    expect(out.rates.errorRate.adjustedPValue).toBeCloseTo(2 * 6.485602694285682e-7, 15);
    expect(out.judge?.adjustedPValue).toBeCloseTo(KS_P, 15);
    expect(out.judge?.drift).toBe(true);
    expect(out).toMatchObject({ method: 'errorRate', drift: true });
    expect(out.pValue).toBeCloseTo(2 * 6.485602694285682e-7, 15);
  });

  it('answers judged more relevant are good news: never drift, and no part of the signal’s p-value', () => {
    const out = compareOutcomes(counts(200, 2), counts(200, 2), { ...OPTIONS, judge: improved });
    expect(improved.direction).toBe('up');
    expect(out.judge).toMatchObject({ direction: 'up', drift: false });
    expect(out.judge?.adjustedPValue).toBeCloseTo(2 * KS_P, 15);
    // The error rate stayed (a p-value of 1): the signal's p-value.
    expect(out).toMatchObject({ drift: false, pValue: 1, method: 'errorRate' });
  });

  it('an insufficient judge test changes nothing of the rates', () => {
    const short = compareJudged(REFERENCE, [0.1, 0.2], { minJudged: 10 });
    const without = compareOutcomes(counts(1000, 10, 3, 60), counts(1000, 25, 4, 20), OPTIONS);
    const out = compareOutcomes(counts(1000, 10, 3, 60), counts(1000, 25, 4, 20), {
      ...OPTIONS,
      judge: short,
    });
    expect(out.judge).toEqual({ ...short, adjustedPValue: null, drift: false });
    const { judge: _, ...rest } = out;
    expect(rest).toEqual(without);
    // Without a judge, no judge key at all: the comparison is exactly the rates'.
    expect(without).not.toHaveProperty('judge');
  });

  it('a window too small for the rates is still scored by the judge when its test had data', () => {
    const out = compareOutcomes(counts(20, 0), counts(20, 5), { ...OPTIONS, judge: declined });
    for (const rate of ['errorRate', 'throttleRate', 'guardrailRate'] as const) {
      expect(out.rates[rate].status).toBe('insufficient');
    }
    // The judge alone in the family: its p-value as it is.
    expect(out).toMatchObject({ insufficient: false, method: 'judgeAnswerRelevance', drift: true });
    expect(out.pValue).toBeCloseTo(KS_P, 15);
    // Neither had data: insufficient, as without a judge.
    const short = compareJudged(REFERENCE, [0.1], { minJudged: 10 });
    expect(compareOutcomes(counts(20, 0), counts(20, 5), { ...OPTIONS, judge: short })).toMatchObject({
      insufficient: true,
      pValue: null,
      method: null,
      drift: false,
    });
  });

  it('refuses a judge comparison without a status, or tested without a p-value', () => {
    const bad = { ...declined, status: 'maybe' } as unknown as JudgedComparison;
    expect(
      validationError(() => compareOutcomes(counts(100), counts(100), { ...OPTIONS, judge: bad })).field,
    ).toBe('judge.status');
    const noP = { ...declined, pValue: null };
    expect(
      validationError(() => compareOutcomes(counts(100), counts(100), { ...OPTIONS, judge: noP })).field,
    ).toBe('judge.pValue');
  });
});
