import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CursorSpec, decodeCursor, encodeCursor, exactKey, withCursor } from '#aws/cursor.ts';
import { ValidationError } from '#aws/errors.ts';

const spec = (query: Record<string, string | undefined>): CursorSpec => ({
  listing: 'things',
  query,
  field: 'query.nextToken',
  key: (key) =>
    exactKey(key, { pk: { maxBytes: 2048, prefix: 'T#' }, sk: { maxBytes: 1024, pattern: /^V#\d+$/ } }),
});

const refused = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('not refused');
};

describe('cursor', () => {
  it('round-trips a key for the same listing and query, whatever the order of the query', () => {
    const key = { pk: 'T#a', sk: 'V#1' };
    const token = encodeCursor(spec({ a: 'x', b: undefined, c: 'y' }), key);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(spec({ c: 'y', a: 'x' }), token)).toEqual(key);
  });

  it.each([
    ['another query', spec({ a: 'other' })],
    ['no query', spec({})],
    ['another listing', { ...spec({ a: 'x' }), listing: 'others' }],
  ])('refuses a token replayed against %s', (_case, other) => {
    const token = encodeCursor(spec({ a: 'x' }), { pk: 'T#a', sk: 'V#1' });
    const error = refused(() => decodeCursor(other, token));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field: 'query.nextToken' });
  });

  it('refuses keys of the wrong shape: missing, extra, non-string, empty, oversized, off-pattern', () => {
    for (const key of [
      {},
      { pk: 'T#a' },
      { pk: 'T#a', sk: 'V#1', x: 'y' },
      { pk: 5, sk: 'V#1' },
      { pk: '', sk: 'V#1' },
      { pk: 'T#', sk: 'V#1' },
      { pk: 'U#a', sk: 'V#1' },
      { pk: 'T#a', sk: 'LABEL#x' },
      { pk: `T#${'語'.repeat(700)}`, sk: 'V#1' },
    ]) {
      const token = encodeCursor(spec({}), key);
      expect(
        refused(() => decodeCursor(spec({}), token)),
        JSON.stringify(key),
      ).toBeInstanceOf(ValidationError);
    }
  });

  it('never lets anything but a ValidationError out of decoding, for any input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? '').toString('base64url')),
          fc
            .record({ v: fc.jsonValue(), l: fc.jsonValue(), q: fc.jsonValue(), k: fc.jsonValue() })
            .map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
        ),
        (token) => {
          try {
            decodeCursor(spec({}), token);
          } catch (error) {
            expect(error).toBeInstanceOf(ValidationError);
          }
        },
      ),
      { seed: 7, numRuns: 500 },
    );
  });

  it('turns DynamoDB refusing a caller token into a 400 on the field, and leaves other errors alone', async () => {
    const refusal = Object.assign(new Error('The provided starting key is invalid'), {
      name: 'ValidationException',
    });
    await expect(withCursor('query.nextToken', 'tok', () => Promise.reject(refusal))).rejects.toMatchObject({
      name: 'ValidationError',
      field: 'query.nextToken',
    });
    await expect(withCursor('query.nextToken', undefined, () => Promise.reject(refusal))).rejects.toBe(
      refusal,
    );
    const other = new Error('boom');
    await expect(withCursor('query.nextToken', 'tok', () => Promise.reject(other))).rejects.toBe(other);
  });
});
