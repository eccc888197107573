import fc from 'fast-check';
import { countTokens as libraryCount } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { countTokens, TOKENIZER, TokenStats } from '#core/dataprep/tokens.ts';

function exactPercentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1] ?? 0;
}

describe('countTokens', () => {
  it('counts o200k_base tokens', () => {
    expect(TOKENIZER).toBe('o200k_base');
    expect(countTokens('')).toBe(0);
    expect(countTokens('hello world')).toBe(2);
    expect(countTokens('The quick brown fox jumps over the lazy dog.')).toBe(10);
  });

  it('matches gpt-tokenizer exactly on ASCII text (the fast pre-tokenizer path) (property)', () => {
    const asText = { disallowedSpecial: new Set<string>() };
    const chars = [...'aZsSdtlLvVeErRmM\'0159 \t\n\r\v\f/.!-<|>_"\\~'].concat(['\u0000', '\u001f', '\u007f']);
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...chars), { maxLength: 40 }), (parts) => {
        const text = parts.join('');
        expect(countTokens(text)).toBe(libraryCount(text, asText));
      }),
      { numRuns: 3000 },
    );
    for (const text of [
      "don't  stop\n\n  now",
      "HTMLParser's 12345 a//b\r\n",
      '   x',
      'a \n ',
      '<|endoftext|>',
    ]) {
      expect(countTokens(text)).toBe(libraryCount(text, asText));
    }
  });

  it('counts special-token text as plain text instead of throwing', () => {
    expect(countTokens('end <|endoftext|> here')).toBeGreaterThan(3);
  });
});

describe('TokenStats', () => {
  it('summarises counts', () => {
    const s = new TokenStats();
    for (const n of [1, 2, 3, 4, 100]) s.add(n);
    expect(s.toJSON()).toMatchObject({
      records: 5,
      total: 110,
      min: 1,
      max: 100,
      mean: 22,
      p50: 3,
      p95: 100,
      p99: 100,
    });
  });

  it('reports zeros when empty', () => {
    expect(new TokenStats().toJSON()).toEqual({
      records: 0,
      total: 0,
      min: 0,
      max: 0,
      mean: 0,
      p50: 0,
      p95: 0,
      p99: 0,
      histogram: [],
    });
  });

  it('approximates percentiles within 2% (exactly below 25) (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 200_000 }), { minLength: 1, maxLength: 500 }),
        (values) => {
          const s = new TokenStats();
          for (const v of values) s.add(v);
          for (const q of [0.5, 0.95, 0.99]) {
            const exact = exactPercentile(values, q);
            const approx = s.percentile(q);
            if (exact < 25) expect(approx).toBe(exact);
            else expect(Math.abs(approx - exact)).toBeLessThanOrEqual(Math.ceil(exact * 0.02) + 1);
          }
        },
      ),
    );
  });

  it('merges exactly, in any grouping, and round-trips through JSON (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 50_000 }), { maxLength: 50 }), {
          minLength: 1,
          maxLength: 6,
        }),
        (groups) => {
          const whole = new TokenStats();
          for (const v of groups.flat()) whole.add(v);
          const merged = new TokenStats();
          for (const g of groups) {
            const part = new TokenStats();
            for (const v of g) part.add(v);
            // Ship it as JSON, as parts do between Lambda invocations.
            merged.merge(TokenStats.fromJSON(JSON.parse(JSON.stringify(part))));
          }
          expect(merged.toJSON()).toEqual(whole.toJSON());
        },
      ),
    );
  });

  it('rejects invalid counts and malformed JSON', () => {
    const s = new TokenStats();
    expect(() => s.add(-1)).toThrow(/non-negative integer/);
    expect(() => s.add(1.5)).toThrow(/non-negative integer/);
    expect(() => TokenStats.fromJSON({ records: 1 })).toThrow(/toJSON/);
    expect(() => TokenStats.fromJSON({ records: 2, total: 2, min: 1, max: 1, histogram: [[1, 1]] })).toThrow(
      /histogram/,
    );
  });
});
