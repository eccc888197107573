import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  estimateJaccard,
  fnv1a,
  jaccardFromAgreement,
  minhashSignature,
  shingles,
} from '../../../layers/core/src/dataprep/minhash.ts';

const hex = (a: Uint8Array) => Buffer.from(a).toString('hex');

describe('shingles', () => {
  it('uses word 3-grams, case- and punctuation-insensitively', () => {
    expect(shingles('one two three four')).toHaveLength(2);
    expect(shingles('One, TWO; three! four?')).toEqual(shingles('one two three four'));
    expect(shingles('a b c')).toHaveLength(1);
    // Order matters: 3-grams are sequences.
    expect(shingles('a b c')).not.toEqual(shingles('c b a'));
  });

  it('splits on Unicode letters and digits', () => {
    expect(shingles('Ünïcödé wörds — 東京 42')).toEqual(shingles('ünïcödé wörds 東京 42'));
    expect(shingles('emoji 😀 between words here')).toEqual(shingles('emoji between words here'));
    expect(shingles('𝒜𝒷𝒸 x y')).toHaveLength(1);
  });

  it('falls back to character 4-grams below three words', () => {
    expect(shingles('hello world')).toHaveLength('hello world'.length - 3);
    expect(shingles('Hello,   WORLD')).toEqual(shingles('hello world'));
    expect(shingles('abcd')).toHaveLength(1);
    expect(shingles('ab')).toHaveLength(1);
    expect(shingles('')).toHaveLength(0);
    expect(shingles('   ')).toHaveLength(0);
    // Texts with no letters or digits still shingle by content.
    expect(shingles('!!! ???')).not.toEqual(shingles('... ---'));
  });

  it('FNV-1a matches the reference values', () => {
    expect(fnv1a('') >>> 0).toBe(0x811c9dc5);
    expect(fnv1a('a') >>> 0).toBe(0xe40c292c);
    expect(fnv1a('foobar') >>> 0).toBe(0xbf9cf968);
  });
});

describe('minhashSignature', () => {
  it('is deterministic across calls and processes (pinned value)', () => {
    const sig = minhashSignature('hello world foo bar');
    expect(sig).toHaveLength(128);
    expect(hex(sig).slice(0, 32)).toBe('9647ba5c019f849ab891987d4b4b2b49');
    expect(minhashSignature('hello world foo bar')).toEqual(sig);
  });

  it('a shorter signature is a prefix of a longer one', () => {
    const text = 'some text with enough words to make several shingles';
    expect(minhashSignature(text, 64)).toEqual(minhashSignature(text, 128).subarray(0, 64));
    expect(minhashSignature(text, 5)).toEqual(minhashSignature(text, 128).subarray(0, 5));
  });

  it('gives an empty text all 0xFF and rejects bad sizes', () => {
    expect(minhashSignature('', 8)).toEqual(new Uint8Array(8).fill(0xff));
    expect(() => minhashSignature('x', 0)).toThrow(/numPerm/);
    expect(() => minhashSignature('x', 1.5)).toThrow(/numPerm/);
  });
});

describe('estimateJaccard', () => {
  it('is 1 for identical texts and near 0 for unrelated ones', () => {
    const a = minhashSignature('the quick brown fox jumps over the lazy dog again and again');
    const b = minhashSignature('database indexes speed up query planning for large relational tables');
    expect(estimateJaccard(a, a)).toBe(1);
    expect(estimateJaccard(a, b)).toBeLessThan(0.1);
  });

  it('corrects for 8-bit collisions', () => {
    expect(jaccardFromAgreement(128, 128)).toBe(1);
    expect(jaccardFromAgreement(0, 128)).toBe(0);
    expect(jaccardFromAgreement(1, 256)).toBe(0);
    expect(jaccardFromAgreement(64, 128)).toBeCloseTo((0.5 - 1 / 256) / (1 - 1 / 256), 10);
  });

  it('tracks the true Jaccard similarity of word-shingle sets (property)', () => {
    // Texts of distinct words: n words give n - 2 shingles; sharing a prefix of k words shares k - 2.
    const vocabulary = Array.from({ length: 400 }, (_, i) => `w${i}`);
    fc.assert(
      fc.property(
        fc.integer({ min: 30, max: 120 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (n, frac) => {
          const shared = Math.max(2, Math.round(n * frac));
          const a = vocabulary.slice(0, n);
          const b = [...vocabulary.slice(0, shared), ...vocabulary.slice(200, 200 + n - shared)];
          const sa = n - 2;
          const common = Math.max(0, shared - 2);
          const trueJ = common / (2 * sa - common);
          const est = estimateJaccard(minhashSignature(a.join(' ')), minhashSignature(b.join(' ')));
          // 128 permutations: standard error <= 0.045; allow 4 standard errors.
          expect(Math.abs(est - trueJ)).toBeLessThan(0.18);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects signatures of different lengths', () => {
    expect(() => estimateJaccard(new Uint8Array(4), new Uint8Array(5))).toThrow(/sigB/);
    expect(() => estimateJaccard(new Uint8Array(0), new Uint8Array(0))).toThrow(/sigB/);
  });
});
