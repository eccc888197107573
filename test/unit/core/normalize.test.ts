import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeText } from '#core/dataprep/normalize.ts';

describe('normalizeText', () => {
  it.each([
    ['line endings', 'a\r\nb\rc\u2028d', 'a\nb\nc\nd'],
    ['control characters', 'a\u0000b\u0007c\u001bd\u007f\u0085e\u009f', 'abcd\ne'],
    ['zero-width characters and BOM', '\ufeffzero\u200bwidth\u200c\u200d\u2060!', 'zerowidth!'],
    ['tabs and space runs', 'a\t\tb   c\u00a0\u00a0d\u3000e\u2003f', 'a b c d e f'],
    ['vertical tab and form feed as spaces', 'a\u000bb\u000cc', 'a b c'],
    ['trailing whitespace per line', 'a  \nb\t\n c', 'a\nb\n c'],
    ['3+ newlines to 2', 'a\n\n\n\nb\n\nc', 'a\n\nb\n\nc'],
    ['blank lines with spaces', 'a\n \n\t\n \nb', 'a\n\nb'],
    ['trim', '  \n hello \n\n', 'hello'],
    ['NFC', 'e\u0301 and A\u030a', '\u00e9 and \u00c5'],
    ['NFC across a removed zero-width char', 'e\u200b\u0301', '\u00e9'],
    ['lone surrogates', 'a\ud800b', 'a\ufffdb'],
    ['plain ASCII untouched', 'Hello, world! 42', 'Hello, world! 42'],
    ['empty', '', ''],
    ['only whitespace and controls', ' \u0000\t\u200b\n ', ''],
  ])('%s', (_name, input, expected) => {
    expect(normalizeText(input)).toBe(expected);
  });

  const tricky = fc.constantFrom(
    ' ',
    '\t',
    '\n',
    '\r',
    '\r\n',
    '\u000b',
    '\u00a0',
    '\u2000',
    '\u2001',
    '\u200b',
    '\ufeff',
    '\u0085',
    '\u2028',
    '\u0000',
    '\u009f',
    'e',
    'A',
    '\u0301',
    '\u030a',
    '\u0327',
    '\ud800',
    '\udc00',
    '\u1100',
    '\u1161',
    '\u11a8',
    'ﬁ',
    '😀',
  );

  it('is idempotent (property)', () => {
    const strings = fc.oneof(
      fc.array(tricky, { maxLength: 40 }).map((a) => a.join('')),
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.string({ unit: 'grapheme', maxLength: 60 }),
    );
    fc.assert(
      fc.property(strings, (s) => {
        const once = normalizeText(s);
        expect(normalizeText(once)).toBe(once);
      }),
      { numRuns: 2000 },
    );
  });

  it('never leaves forbidden characters, edge whitespace or long newline runs (property)', () => {
    fc.assert(
      fc.property(
        fc.array(tricky, { maxLength: 40 }).map((a) => a.join('')),
        (s) => {
          const out = normalizeText(s);
          // biome-ignore lint/suspicious/noControlCharactersInRegex: checking their absence.
          expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200d\u2060\ufeff\r]/);
          expect(out).not.toMatch(/ {2}|\t|\n{3}| \n/);
          expect(out).toBe(out.trim());
          expect(out).toBe(out.normalize('NFC'));
          expect(out.isWellFormed()).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
