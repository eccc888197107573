import { describe, expect, it } from 'vitest';
import { Deduper, exactHash } from '#core/dataprep/dedupe.ts';
import { estimateJaccard, minhashSignature } from '#core/dataprep/minhash.ts';

const FORTY_WORDS =
  'the quick brown fox jumps over the lazy dog while a curious cat watches from the old wooden fence ' +
  'near the river bank and birds sing songs about summer rain falling softly on green hills beyond ' +
  'distant mountains tonight again';

function check(d: Deduper, text: string) {
  return d.check(exactHash(text), minhashSignature(text, d.numPerm));
}

/** A pseudo-random signature (xorshift32, four bytes per step). */
function randomSignature(next: () => number, n = 128): Uint8Array {
  const words = new Uint32Array(n / 4);
  for (let i = 0; i < words.length; i++) words[i] = next();
  return new Uint8Array(words.buffer);
}

function lcg(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

describe('exactHash', () => {
  it('is the first 64 bits of SHA-256 as 16 hex characters', () => {
    expect(exactHash('')).toBe('e3b0c44298fc1c14');
    expect(exactHash('abc')).toBe('ba7816bf8f01cfea');
    expect(exactHash('é')).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('Deduper', () => {
  it('flags exact duplicates', () => {
    const d = new Deduper();
    expect(check(d, 'hello there general kenobi')).toBe('unique');
    expect(check(d, 'hello there general kenobi')).toBe('exact');
    expect(check(d, 'something else entirely now')).toBe('unique');
    expect(d.size).toBe(2);
  });

  it('flags a 40-word text with one word changed as a near duplicate', () => {
    const words = FORTY_WORDS.split(' ');
    expect(words).toHaveLength(40);
    const changed = [...words];
    changed[20] = 'zebra';
    const d = new Deduper();
    expect(check(d, FORTY_WORDS)).toBe('unique');
    expect(check(d, changed.join(' '))).toBe('near');
  });

  it('catches one-word changes at almost every position (estimator variance is documented)', () => {
    const words = FORTY_WORDS.split(' ');
    let near = 0;
    for (let i = 0; i < words.length; i++) {
      const d = new Deduper();
      check(d, FORTY_WORDS);
      const changed = [...words];
      changed[i] = 'zebra';
      if (check(d, changed.join(' ')) === 'near') near++;
    }
    expect(near / words.length).toBeGreaterThanOrEqual(0.9);
  });

  it('keeps unrelated texts and texts with about half their content changed', () => {
    const d = new Deduper();
    expect(check(d, FORTY_WORDS)).toBe('unique');
    expect(
      check(
        d,
        'database indexes speed up query planning for large relational tables with many columns and rows',
      ),
    ).toBe('unique');
    const words = FORTY_WORDS.split(' ');
    const half = words.map((w, i) => (i % 2 === 0 ? `${w}x` : w)).join(' ');
    expect(check(d, half)).toBe('unique');
  });

  it('applies the threshold to the estimated similarity', () => {
    const a =
      'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau';
    const b =
      'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma upsilon';
    const j = estimateJaccard(minhashSignature(a), minhashSignature(b));
    expect(j).toBeGreaterThan(0.8);
    expect(j).toBeLessThan(1);
    const strict = new Deduper({ threshold: 1 });
    check(strict, a);
    expect(check(strict, b)).toBe('unique');
    const loose = new Deduper({ threshold: j });
    check(loose, a);
    expect(check(loose, b)).toBe('near');
  });

  it('is deterministic: the same input gives the same verdicts', () => {
    const texts = Array.from(
      { length: 300 },
      (_, i) => `record number ${i % 60} says hello to the ${i % 6} worlds`,
    );
    const run = () => {
      const d = new Deduper({ expectedRecords: 8 });
      return texts.map((t) => check(d, t));
    };
    const first = run();
    expect(run()).toEqual(first);
    expect(first.filter((v) => v === 'exact').length).toBeGreaterThan(0);
  });

  it('still finds early records after the tables have grown many times', () => {
    const d = new Deduper({ expectedRecords: 1 });
    const next = lcg(7);
    const sigs: Uint8Array[] = [];
    for (let i = 0; i < 20_000; i++) {
      const sig = randomSignature(next);
      sigs.push(sig);
      expect(d.check(i.toString(16).padStart(16, '0'), sig)).toBe('unique');
    }
    for (let i = 0; i < 20_000; i += 997) {
      expect(d.check(i.toString(16).padStart(16, '0'), new Uint8Array(128))).toBe('exact');
      const near = sigs[i]?.slice() ?? new Uint8Array(128);
      near[0] = (near[0] ?? 0) ^ 1; // same signature but one byte: J ≈ 0.99
      expect(d.check('ffffffffffffffff', near)).toBe('near');
    }
  });

  it('handles the all-zero exact hash', () => {
    const d = new Deduper();
    expect(d.check('0000000000000000', minhashSignature('a b c'))).toBe('unique');
    expect(d.check('0000000000000000', minhashSignature('x y z'))).toBe('exact');
  });

  it('keeps 100k unique records within ~400 bytes each', () => {
    const d = new Deduper();
    const next = lcg(42);
    for (let i = 0; i < 100_000; i++) d.check(i.toString(16).padStart(16, '0'), randomSignature(next));
    expect(d.size).toBe(100_000);
    expect(d.memoryBytes() / 100_000).toBeLessThanOrEqual(400);
  });

  it('validates its options and inputs', () => {
    expect(() => new Deduper({ bands: 7 })).toThrow(/divide/);
    expect(() => new Deduper({ threshold: 0 })).toThrow(/threshold/);
    expect(() => new Deduper({ threshold: 1.1 })).toThrow(/threshold/);
    const d = new Deduper();
    expect(() => d.check('xyz', new Uint8Array(128))).toThrow(/exactHash/);
    expect(() => d.check('0123456789abcdef', new Uint8Array(64))).toThrow(/128 bytes/);
  });
});

describe('Deduper on shared boilerplate', () => {
  it('keeps distinct records that share most of their text unique, and still finds a real near duplicate', () => {
    const boilerplate =
      'Lambda scales each function by running more execution environments as requests arrive. '.repeat(4);
    const deduper = new Deduper();
    const text = (i: number) => `Document ${i} ${boilerplate} unique marker ${i * 7919} and code ${i % 97}`;
    const verdicts = new Map<string, number>();
    for (let i = 0; i < 5000; i++) {
      const t = text(i);
      const v = deduper.check(exactHash(t), minhashSignature(t));
      verdicts.set(v, (verdicts.get(v) ?? 0) + 1);
    }
    // Shared boilerplate makes these records collide in LSH bands; whatever the verdicts, the index must
    // keep answering (bounded buckets) and an exact repeat is still exact.
    expect([...verdicts.values()].reduce((a, b) => a + b, 0)).toBe(5000);
    const again = text(4321);
    expect(deduper.check(exactHash(again), minhashSignature(again))).toBe('exact');
    const near = `${text(4321)} extra`;
    expect(deduper.check(exactHash(near), minhashSignature(near))).toBe('near');
  });
});
