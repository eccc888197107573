import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CompactEmbedding,
  decodeEmbedding,
  encodeEmbedding,
  MAX_EMBEDDING_DIMS,
} from '#core/drift/compact-embedding.ts';
import { ValidationError } from '#core/errors.ts';
import { createRng } from '#core/eval/stats.ts';

/** `dim` independent N(0, 1) values, L2-normalized like an embedding model's output (seeded Box–Muller). */
function unitVector(seed: string, dim: number): number[] {
  const rng = createRng(seed);
  const normal = () => {
    const u = 1 - rng.next(); // (0, 1]: log(u) is finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  };
  const v = Array.from({ length: dim }, normal);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(na * nb);
}

/** Floating-point slack on the scale / 2 bound (x / scale and q · scale each round once). */
const ULP_SLACK = 1e-12;

/** The field a call's ValidationError names (fails the test when the call does not throw one). */
function fieldOf(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).field;
  }
  throw new Error('expected a ValidationError');
}

describe('encodeEmbedding and decodeEmbedding', () => {
  it('round-trips every value within scale / 2, the largest one exactly', () => {
    const vector = unitVector('round-trip', 1024);
    const compact = encodeEmbedding(vector);
    const max = Math.max(...vector.map(Math.abs));
    expect(compact).toMatchObject({ encoding: 'int8', dims: 1024 });
    expect(compact.scale).toBeCloseTo(max / 127, 15);
    const decoded = decodeEmbedding(compact);
    expect(decoded).toHaveLength(1024);
    for (let i = 0; i < vector.length; i++) {
      expect(Math.abs((vector[i] as number) - (decoded[i] as number))).toBeLessThanOrEqual(
        compact.scale / 2 + ULP_SLACK,
      );
    }
    const top = vector.findIndex((x) => Math.abs(x) === max);
    expect(decoded[top]).toBeCloseTo(vector[top] as number, 12);
  });

  it('keeps the direction: cosine similarity ≥ 0.999 on random 1024-d vectors', () => {
    for (let s = 0; s < 20; s++) {
      const vector = unitVector(`cosine-${s}`, 1024);
      expect(cosine(vector, decodeEmbedding(encodeEmbedding(vector)))).toBeGreaterThanOrEqual(0.999);
    }
  });

  it('holds the bound for any finite vector (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }), {
          minLength: 1,
          maxLength: 64,
        }),
        (vector) => {
          const compact = encodeEmbedding(vector);
          const decoded = decodeEmbedding(compact);
          expect(decoded).toHaveLength(vector.length);
          vector.forEach((x, i) => {
            expect(Math.abs(x - (decoded[i] as number))).toBeLessThanOrEqual(
              compact.scale / 2 + ULP_SLACK * Math.max(1, compact.scale * 127),
            );
          });
        },
      ),
    );
  });

  it('encodes the zero vector with scale 0 and decodes it to zeros', () => {
    const compact = encodeEmbedding([0, 0, 0, 0]);
    expect(compact).toEqual({ encoding: 'int8', dims: 4, scale: 0, data: 'AAAAAA==' });
    expect(decodeEmbedding(compact)).toEqual([0, 0, 0, 0]);
  });

  it('keeps signs: negative values map to negative bytes, -127 at the most negative', () => {
    const compact = encodeEmbedding([-2, 1, -0.5, 0]);
    expect(compact.scale).toBe(2 / 127);
    expect([...Buffer.from(compact.data, 'base64')].map((b) => (b << 24) >> 24)).toEqual([-127, 64, -32, 0]);
    const decoded = decodeEmbedding(compact);
    expect(decoded[0]).toBeCloseTo(-2, 12);
    expect(decoded[2]).toBeLessThan(0);
    for (const [i, x] of [-2, 1, -0.5, 0].entries()) {
      expect(Math.abs(x - (decoded[i] as number))).toBeLessThanOrEqual(compact.scale / 2 + ULP_SLACK);
    }
  });

  it('takes 1,368 base64 characters for 1024 dimensions, against about 20 KB of JSON floats', () => {
    const vector = unitVector('size', 1024);
    const compact = encodeEmbedding(vector);
    expect(compact.data).toHaveLength(1368);
    expect(JSON.stringify(compact).length).toBeLessThan(1450);
    expect(JSON.stringify(vector).length).toBeGreaterThan(18_000);
  });
});

describe('encodeEmbedding refuses', () => {
  it.each([
    ['an empty vector', [], 'vector'],
    ['NaN', [0.1, Number.NaN], 'vector.1'],
    ['an infinite value', [Number.POSITIVE_INFINITY, 0], 'vector.0'],
    ['a value that is not a number', [0.1, 0.2, '0.3' as unknown as number], 'vector.2'],
  ])('%s, naming the field', (_case, vector, field) => {
    expect(fieldOf(() => encodeEmbedding(vector))).toBe(field);
  });

  it(`more than ${MAX_EMBEDDING_DIMS} dimensions`, () => {
    expect(fieldOf(() => encodeEmbedding(new Array(8193).fill(0.1)))).toBe('vector');
    expect(() => encodeEmbedding(new Array(8193).fill(0.1))).toThrow(
      'vector: must have 1 to 8192 dimensions (has 8193)',
    );
    expect(encodeEmbedding(new Array(MAX_EMBEDDING_DIMS).fill(0.1)).dims).toBe(MAX_EMBEDDING_DIMS);
  });
});

describe('decodeEmbedding refuses', () => {
  const valid = encodeEmbedding([0.5, -0.25, 0.125]);
  const bad = (override: Record<string, unknown>) => ({ ...valid, ...override }) as CompactEmbedding;

  it.each([
    ['another encoding', { encoding: 'float32' }, 'encoding'],
    ['dims that do not match the data', { dims: 4 }, 'data'],
    ['dims of zero', { dims: 0 }, 'dims'],
    ['fractional dims', { dims: 2.5 }, 'dims'],
    ['too many dims', { dims: MAX_EMBEDDING_DIMS + 1 }, 'dims'],
    ['a negative scale', { scale: -0.1 }, 'scale'],
    ['a NaN scale', { scale: Number.NaN }, 'scale'],
    ['an infinite scale', { scale: Number.POSITIVE_INFINITY }, 'scale'],
    ['data that is not base64', { data: 'QD@!' }, 'data'],
    // Four bytes: 'AQIDBA==' padded.
    ['base64 without its padding', { dims: 4, data: 'AQIDBA' }, 'data'],
    ['base64 with a blank inside', { data: `${valid.data.slice(0, 2)} ${valid.data.slice(2)}` }, 'data'],
    ['a byte of -128', { data: Buffer.from([0x80, 0, 0]).toString('base64') }, 'data'],
  ])('%s, naming the field', (_case, override, field) => {
    expect(fieldOf(() => decodeEmbedding(bad(override)))).toBe(field);
  });

  it('says how long the data is when dims do not match', () => {
    expect(() => decodeEmbedding(bad({ dims: 4 }))).toThrow(
      'data: must decode to dims (4) bytes (decodes to 3)',
    );
  });
});
