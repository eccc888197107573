import fc from 'fast-check';
import { O200K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants';
import { describe, expect, it } from 'vitest';
import { countTokens } from '#core/dataprep/tokens.ts';
import { preTokenEnd, TokenIndex } from '#core/rag/pretokens.ts';

/** Pieces that exercise every alternative of the o200k pattern and the cuts between them. */
const piece = fc.constantFrom(
  'a',
  'z',
  'B',
  'DON',
  'Lambda',
  ' ',
  '  ',
  '\n',
  '\r\n',
  '\r',
  '\t',
  '\v',
  '\f',
  '.',
  '/',
  '#',
  '`',
  '-->',
  '1',
  '2024',
  "'",
  "'s",
  "'LL",
  "'Ve",
  'é',
  'É',
  '漢',
  'ﬁ',
  '\u0301',
  '²',
  '—',
  '’',
  '👍',
  '𒐀',
  '𝐀',
  '𝟙',
  '\ud83d',
  '\udc00',
  '\u200d',
  '\u00a0',
  '\u2028',
  '\u3000',
  '\u000b',
  '\u001f',
  '\u007f',
);

const text = fc.oneof(
  { weight: 4, arbitrary: fc.array(piece, { maxLength: 40 }).map((ps) => ps.join('')) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  {
    weight: 1,
    arbitrary: fc.string({ unit: fc.constantFrom('a', 'A', ' ', '\n', '.', '1'), maxLength: 30 }),
  },
);

/** The pre-tokens of `text`, as the tokenizer cuts them. */
const libraryCuts = (s: string): number[] =>
  [...s.matchAll(new RegExp(O200K_TOKEN_SPLIT_REGEX.source, 'gu'))].map((m) => (m.index ?? 0) + m[0].length);

describe('preTokenEnd', () => {
  it('cuts a text where the tokenizer pattern does, at any end', () => {
    fc.assert(
      fc.property(text, fc.nat(), (s, cut) => {
        const to = s.length === 0 ? 0 : cut % (s.length + 1);
        const ends: number[] = [];
        for (let at = 0; at < to; ) {
          at = preTokenEnd(s, at, to);
          ends.push(at);
        }
        expect(ends).toEqual(libraryCuts(s.slice(0, to)));
      }),
      { numRuns: 1000 },
    );
  });

  it('cuts a long non-ASCII word before a range end as the pattern does on the range alone', () => {
    // Short of the text's end, such a word is matched in windows of 64, 128... characters: a
    // contraction or a run at a window's edge must not end the match early.
    const tail = fc.constantFrom("'ll x", "'s", "'ve  y", "'l", '  \n', '\u3000 z', '漢字', '👍', '\u0301x');
    fc.assert(
      fc.property(fc.integer({ min: 50, max: 300 }), tail, fc.nat(3), fc.nat(12), (run, end, a, cut) => {
        const s = `ab\u00e9${'a'.repeat(run)}${end} tail`;
        const to = Math.max(a + 1, s.length - cut);
        expect(preTokenEnd(s, a, to)).toBe(a + (libraryCuts(s.slice(a, to))[0] ?? 0));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('TokenIndex', () => {
  it('counts every range of a text exactly as counting the slice alone', () => {
    fc.assert(
      fc.property(text, (s) => {
        const index = new TokenIndex(s);
        for (let a = 0; a <= s.length; a++) {
          for (let b = a; b <= s.length; b++) {
            expect(index.count(a, b)).toBe(countTokens(s.slice(a, b)));
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('counts ranges of long Markdown with code, whitespace runs and digits exactly', () => {
    const line = fc
      .array(fc.constantFrom('Lambda', 'the', ' ', '    ', '\t', '1234567', '`x`', '—', "it's", 'É', '/'), {
        maxLength: 20,
      })
      .map((ws) => ws.join(' '));
    const doc = fc.array(line, { minLength: 1, maxLength: 40 }).map((ls) => ls.join('\n'));
    fc.assert(
      fc.property(
        doc,
        fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 30 }),
        (s, ranges) => {
          const index = new TokenIndex(s);
          for (const [x, y] of ranges) {
            const a = x % (s.length + 1);
            const b = y % (s.length + 1);
            const [from, to] = a <= b ? [a, b] : [b, a];
            expect(index.count(from, to)).toBe(countTokens(s.slice(from, to)));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('counts a text with one very long pre-token, and an empty one', () => {
    const long = `${'a'.repeat(5000)} ${'7'.repeat(1001)}\n${'\u3000'.repeat(300)}漢`;
    const index = new TokenIndex(long);
    for (const [a, b] of [
      [0, long.length],
      [17, 4999],
      [4990, 5300],
      [5001, 6002],
      [6003, long.length],
    ] as const) {
      expect(index.count(a, b)).toBe(countTokens(long.slice(a, b)));
    }
    expect(new TokenIndex('').count(0, 0)).toBe(0);
  });
});
