import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { estimateJaccard, jaccardFromAgreement, minhashSignature, shingles } from '#core/dataprep/minhash.ts';
import { fnv1a } from '#core/hash32.ts';

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

/** `n` distinct words `word0 word1 ...`. */
const numbered = (n: number) => Array.from({ length: n }, (_, i) => `word${i}`).join(' ');

describe('minhashSignature', () => {
  it('is deterministic across calls and processes (pinned values)', () => {
    const sig = minhashSignature('hello world foo bar');
    expect(sig).toHaveLength(128);
    expect(minhashSignature('hello world foo bar')).toEqual(sig);
    // Few occupied bins (2 shingles), most bins occupied (58 shingles), every bin occupied (1998).
    expect(hex(sig).slice(0, 32)).toBe('57fdafe41c393f378f02aca7a09fffc4');
    expect(hex(minhashSignature(numbered(60))).slice(0, 32)).toBe('cc3abf3c576d9da2725cf68f2270aeef');
    expect(hex(minhashSignature(numbered(2000))).slice(0, 32)).toBe('eaf5262f6c52c5c096967669e93f6f9d');
    expect(hex(minhashSignature('hello world foo bar', 5))).toBe('fffdb1e41c');
    expect(hex(minhashSignature(numbered(60), 100)).slice(0, 32)).toBe('ae01bf99b57356ede75c9d1b88a6bdef');
  });

  it('supports any signature length (bins depend on numPerm: not a prefix of a longer one)', () => {
    const text = 'some text with enough words to make several shingles';
    for (const numPerm of [1, 5, 64, 100, 128, 1000, 4096]) {
      const sig = minhashSignature(text, numPerm);
      expect(sig).toHaveLength(numPerm);
      expect(minhashSignature(text, numPerm)).toEqual(sig);
      expect(estimateJaccard(sig, minhashSignature(text.toUpperCase(), numPerm))).toBe(1);
    }
    expect(minhashSignature(text, 64)).not.toEqual(minhashSignature(text, 128).subarray(0, 64));
  });

  it('depends only on the set of shingles', () => {
    // Same 3-grams {a b c, b c a, c a b}, repeated a different number of times.
    expect(minhashSignature('a b c a b c')).toEqual(minhashSignature('a b c a b c a b c'));
    expect(minhashSignature('a b c a b c')).not.toEqual(minhashSignature('a b c a b d'));
  });

  it('gives an empty text all 0xFF and rejects bad sizes', () => {
    expect(minhashSignature('', 8)).toEqual(new Uint8Array(8).fill(0xff));
    expect(() => minhashSignature('x', 0)).toThrow(/numPerm/);
    expect(() => minhashSignature('x', 1.5)).toThrow(/numPerm/);
    expect(() => minhashSignature('x', 4097)).toThrow(/numPerm/);
  });

  it('gives unrelated texts with a single shingle unrelated bytes in every bin', () => {
    // All 128 bins of a one-shingle text hold the same minimum: each byte is mixed with its bin index,
    // so two different minima still agree in about 1/256 of the bytes, never in all of them.
    const next = xorshift(11);
    let worst = 0;
    for (let k = 0; k < 2000; k++) {
      const a = `${next()} ${next()} ${next()}`;
      const b = `${next()} ${next()} ${next()}`;
      worst = Math.max(worst, estimateJaccard(minhashSignature(a), minhashSignature(b)));
    }
    expect(worst).toBeLessThan(0.1);
  });
});

/** xorshift32 as base-36 words. */
function xorshift(seed: number): () => string {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0).toString(36);
  };
}

/** Exact Jaccard similarity of the shingle sets of two texts. */
function trueJaccard(a: string, b: string): number {
  const sa = new Set(shingles(a));
  const sb = new Set(shingles(b));
  let common = 0;
  for (const h of sa) if (sb.has(h)) common++;
  return common / (sa.size + sb.size - common);
}

/**
 * Texts of fresh random words, `nA` and `nB` shingles, sharing `common` shingles: a run of `common + 2`
 * words of A at a random place, inserted at a random place among B's own words.
 */
function textPair(random: () => number, word: () => string, nA: number, nB: number, common: number) {
  const a = Array.from({ length: nA + 2 }, word);
  const at = Math.floor(random() * (nA - common + 1));
  const shared = a.slice(at, at + common + 2);
  const own = Array.from({ length: nB - common }, word);
  const cut = Math.floor(random() * (own.length + 1));
  return [a.join(' '), [...own.slice(0, cut), ...shared, ...own.slice(cut)].join(' ')] as const;
}

/** Random shingle counts in [lo, hi] and a shared count whose Jaccard is within 0.03 of `target`. */
function sizesFor(random: () => number, target: number, lo: number, hi: number): [number, number, number] {
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const nA = lo + Math.floor(random() * (hi - lo + 1));
    const nB = lo + Math.floor(random() * (hi - lo + 1));
    const c = Math.round((target * (nA + nB)) / (1 + target));
    const identical = c === nA && c === nB;
    if (c >= 1 && c <= Math.min(nA, nB) && !identical && Math.abs(c / (nA + nB - c) - target) <= 0.03) {
      return [nA, nB, c];
    }
  }
  throw new Error(`no sizes in [${lo}, ${hi}] for J = ${target}`);
}

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

  it('is unbiased at every similarity and text size, densified bins included (measured table)', () => {
    let seed = 20_240_601;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    let counter = 0;
    const word = () => `w${(counter++).toString(36)}x${Math.floor(random() * 1e6).toString(36)}`;
    // Short texts leave most of the 128 bins empty (densification does the work); long ones fill them.
    // With at most 10 shingles per text no pair has J = 0.95 (the largest J below 1 is 9/10).
    const regimes = [
      { name: 'short (5-10 shingles)', lo: 5, hi: 10, targets: [0.3, 0.5, 0.8, 0.9] },
      { name: 'medium (50-70 shingles)', lo: 50, hi: 70, targets: [0.3, 0.5, 0.8, 0.9, 0.95] },
      { name: 'long (250-350 shingles)', lo: 250, hi: 350, targets: [0.3, 0.5, 0.8, 0.9, 0.95] },
    ];
    const pairs = 200;
    const rows: Record<string, string | number>[] = [];
    let signedBias = 0;
    for (const { name, lo, hi, targets } of regimes) {
      for (const target of targets) {
        let truth = 0;
        let estimate = 0;
        let squared = 0;
        for (let k = 0; k < pairs; k++) {
          const [nA, nB, common] = sizesFor(random, target, lo, hi);
          const [a, b] = textPair(random, word, nA, nB, common);
          const j = trueJaccard(a, b);
          const e = estimateJaccard(minhashSignature(a), minhashSignature(b));
          truth += j;
          estimate += e;
          squared += (e - j) ** 2;
        }
        const bias = (estimate - truth) / pairs;
        const rmse = Math.sqrt(squared / pairs);
        rows.push({ name, target, truth: truth / pairs, estimate: estimate / pairs, bias, rmse });
        signedBias += bias;
        expect(Math.abs(truth / pairs - target)).toBeLessThanOrEqual(0.03);
        expect(Math.abs(bias), `${name} J=${target}`).toBeLessThanOrEqual(0.03);
        // sqrt(J(1-J)/128) <= 0.045, somewhat more when a short text's shingles share bins.
        expect(rmse, `${name} J=${target}`).toBeLessThan(0.07);
      }
    }
    // No systematic bias: the per-cell biases average out.
    expect(Math.abs(signedBias / rows.length)).toBeLessThan(0.005);
    if (process.env.MINHASH_TABLE) console.table(rows);
  });

  it('rejects signatures of different lengths', () => {
    expect(() => estimateJaccard(new Uint8Array(4), new Uint8Array(5))).toThrow(/sigB/);
    expect(() => estimateJaccard(new Uint8Array(0), new Uint8Array(0))).toThrow(/sigB/);
  });
});
