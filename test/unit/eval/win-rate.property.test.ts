import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PairedPreference, type PairOutcome, winRate } from '#core/eval/win-rate.ts';

/** Judgements of up to 40 items, some failed, with answer lengths up to 2,000 characters. */
const judgements = fc.array(
  fc.record({
    preference: fc.constantFrom<PairOutcome>('A', 'B', 'tie', 'inconsistent', null),
    lengthA: fc.nat({ max: 2000 }),
    lengthB: fc.nat({ max: 2000 }),
  }),
  { maxLength: 40 },
);
const seeds = fc.string({ maxLength: 12 });
const OPTS = { resamples: 200 } as const;

const SWAPPED = { A: 'B', B: 'A', tie: 'tie', inconsistent: 'inconsistent' } as const;
/** The same judgements with candidate and baseline swapped. */
function swap(items: readonly PairedPreference[]): PairedPreference[] {
  return items.map(({ preference, lengthA, lengthB }) => ({
    preference: preference === null ? null : SWAPPED[preference],
    lengthA: lengthB,
    lengthB: lengthA,
  }));
}

const inUnit = (v: number) => v >= 0 && v <= 1;

describe('winRate (properties)', () => {
  it('keeps both rates and their intervals in [0, 1], ordered, and the counts adding up', () => {
    fc.assert(
      fc.property(judgements, seeds, (items, seed) => {
        const result = winRate(items, { ...OPTS, seed });
        expect(result.n + result.failed).toBe(items.length);
        expect(result.wins + result.losses + result.ties + result.inconsistent).toBe(result.n);
        if (result.n === 0) {
          expect(result.raw.value).toBeNaN();
          return;
        }
        for (const e of [result.raw, result.lengthControlled]) {
          expect(inUnit(e.value)).toBe(true);
          expect(inUnit(e.ci[0]) && inUnit(e.ci[1])).toBe(true);
          expect(e.ci[0]).toBeLessThanOrEqual(e.ci[1]);
          expect(e.n).toBe(result.n);
        }
        expect(result.model?.converged).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('gives the same numbers, bit for bit, for the same judgements and seed', () => {
    fc.assert(
      fc.property(judgements, seeds, (items, seed) => {
        expect(winRate(items, { ...OPTS, seed })).toEqual(winRate(items, { ...OPTS, seed }));
      }),
      { numRuns: 50 },
    );
  });

  it('maps p to 1 − p (and the interval [lo, hi] to [1 − hi, 1 − lo]) when A and B swap', () => {
    fc.assert(
      fc.property(judgements, seeds, (items, seed) => {
        const ab = winRate(items, { ...OPTS, seed });
        const ba = winRate(swap(items), { ...OPTS, seed });
        expect(ba.wins).toBe(ab.losses);
        expect(ba.losses).toBe(ab.wins);
        if (ab.n === 0) return;
        for (const key of ['raw', 'lengthControlled'] as const) {
          expect(ba[key].value).toBeCloseTo(1 - ab[key].value, 9);
          expect(ba[key].ci[0]).toBeCloseTo(1 - ab[key].ci[1], 9);
          expect(ba[key].ci[1]).toBeCloseTo(1 - ab[key].ci[0], 9);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('equals the raw rate, up to the ridge, when the answers are always of equal length', () => {
    fc.assert(
      fc.property(judgements, fc.nat({ max: 500 }), (items, length) => {
        const equal = items.map((item) => ({ ...item, lengthA: length, lengthB: length }));
        const result = winRate(equal, { ...OPTS, seed: 'equal' });
        if (result.n === 0 || result.raw.value === 0 || result.raw.value === 1) return;
        // The ridge shrinks the logit toward 0 by a small fraction: the rate moves toward ½, barely.
        expect(Math.abs(result.lengthControlled.value - result.raw.value)).toBeLessThan(0.01);
        expect(Math.abs(result.lengthControlled.value - 0.5)).toBeLessThanOrEqual(
          Math.abs(result.raw.value - 0.5) + 1e-12,
        );
      }),
      { numRuns: 100 },
    );
  });
});
