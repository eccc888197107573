import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignSplit, splitPoint } from '#core/dataprep/split.ts';

describe('assignSplit', () => {
  it('is deterministic (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.double({ min: 0, max: 1, noNaN: true }), (key, ratio) => {
        expect(assignSplit(key, ratio)).toBe(assignSplit(key, ratio));
        const p = splitPoint(key);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(1);
      }),
    );
  });

  it('pins the mapping so that splits stay stable across releases', () => {
    expect(splitPoint('')).toBeCloseTo(0.66892, 5);
    expect(splitPoint('a')).toBeCloseTo(0.1035, 4);
    expect(splitPoint('record-1')).toBeCloseTo(0.5425, 4);
    expect(['a', 'b', 'c', 'record-1', 'record-2'].map((k) => assignSplit(k, 0.5))).toEqual([
      'validation',
      'train',
      'validation',
      'train',
      'train',
    ]);
  });

  it('hits the ratio within tolerance on 10k keys (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 1e6 }),
        (ratio, salt) => {
          let validation = 0;
          for (let i = 0; i < 10_000; i++)
            if (assignSplit(`${salt}:${i}`, ratio) === 'validation') validation++;
          // Binomial standard deviation is at most 0.005 at 10k keys; allow 5 of them.
          expect(Math.abs(validation / 10_000 - ratio)).toBeLessThan(0.025);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('puts everything in train at ratio 0 and in validation at ratio 1', () => {
    fc.assert(
      fc.property(fc.string(), (key) => {
        expect(assignSplit(key, 0)).toBe('train');
        expect(assignSplit(key, 1)).toBe('validation');
      }),
    );
  });

  it('is monotonic in the ratio: a validation key stays in validation at a higher ratio', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (key, a, b) => {
          const [lo, hi] = a < b ? [a, b] : [b, a];
          if (assignSplit(key, lo) === 'validation') expect(assignSplit(key, hi)).toBe('validation');
        },
      ),
    );
  });

  it('rejects ratios outside [0, 1]', () => {
    expect(() => assignSplit('k', -0.1)).toThrow(/validationRatio/);
    expect(() => assignSplit('k', 1.5)).toThrow(/validationRatio/);
    expect(() => assignSplit('k', Number.NaN)).toThrow(/validationRatio/);
  });
});
