import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeText } from '#core/dataprep/normalize.ts';
import { emptyPiiCounts, redactIntlPhones, redactPii } from '#core/dataprep/pii.ts';
import { OLD_JWT, oldIntlPhones } from '../../support/replaced-regexes.ts';
import { bestTime, expectLinear, repeatTo } from './linear-time.ts';

/**
 * Adversarial inputs for every detector of `pii.ts` and for `normalizeText`: near-misses repeated so
 * that a backtracking regex retries them at every start (sizes × patterns, see `linear-time.ts`).
 */
const PII_PATTERNS: Array<[string, (n: number) => string]> = [
  // PHONE_INTL: `+1` and 28 digits then a letter; every cut of the digits into groups fails.
  ['phone +1, 28 digits, letter', (n) => repeatTo(n, `+1${'2'.repeat(28)}a `)],
  ['phone +1, one digit run, letter', (n) => repeatTo(n, '2', '+1', 'a')],
  ['phone +1 separated digits, letter', (n) => repeatTo(n, `+1 ${'2-'.repeat(20)}a `)],
  ['phone groups of one digit', (n) => repeatTo(n, '+1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 ')],
  ['phone area codes', (n) => repeatTo(n, '+1(2)')],
  ['phone +12-', (n) => repeatTo(n, '+12-')],
  ['phone digit runs with separators', (n) => repeatTo(n, '+44 (20) 7946.0958-12 ')],
  // Digit-based detectors.
  ['digits', (n) => repeatTo(n, '1')],
  ['digits and spaces', (n) => repeatTo(n, '1 ')],
  ['digit groups with dashes', (n) => repeatTo(n, '123-')],
  ['digits and dots', (n) => repeatTo(n, '1.')],
  ['NA phone near-miss', (n) => repeatTo(n, '(555) 123-456')],
  ['SSN near-miss', (n) => repeatTo(n, '123-45-')],
  ['card near-miss', (n) => repeatTo(n, '4111 1111 ')],
  ['IPv4 near-miss', (n) => repeatTo(n, '1.1.')],
  ['IPv6 colons', (n) => repeatTo(n, '1:')],
  ['IPv6 dots after colons', (n) => repeatTo(n, '.', '1:2:3', '1 ')],
  ['IPv6 double colons', (n) => repeatTo(n, '::')],
  ['IPv6 hex then letter', (n) => repeatTo(n, 'a:b:', '', 'g')],
  ['IPv6 zones', (n) => repeatTo(n, '1:2:3%a', '', ':')],
  // E-mail.
  ['email numeric labels', (n) => repeatTo(n, '1.', 'a@', '1')],
  ['email @ runs', (n) => repeatTo(n, 'a@')],
  ['email dotted local part', (n) => repeatTo(n, 'a.', '', '@')],
  ['email hyphens', (n) => repeatTo(n, 'b-', 'a@')],
  ['email labels', (n) => repeatTo(n, 'a@b.')],
  // Secrets.
  ['JWT eyJ-', (n) => repeatTo(n, 'eyJ-')],
  ['JWT after a valid first part', (n) => repeatTo(n, 'eyJ-', 'eyJabcd.')],
  ['JWT parts', (n) => repeatTo(n, 'eyJaaaa.')],
  ['OpenAI sk-', (n) => repeatTo(n, 'sk-a')],
  ['OpenAI dashed', (n) => repeatTo(n, 'a-', 'sk-', '!')],
  ['GitHub', (n) => repeatTo(n, 'ghp_a')],
  ['GitHub word tail', (n) => repeatTo(n, 'a', '-ghp_', '_')],
  ['Slack', (n) => repeatTo(n, 'xoxb-')],
  ['Google', (n) => repeatTo(n, 'AIza-')],
  ['Bearer', (n) => repeatTo(n, 'Bearer ')],
  ['Bearer blanks', (n) => repeatTo(n, ' ', 'Bearer', 'x')],
  ['AWS access key prefix', (n) => repeatTo(n, 'AKIA')],
  ['AWS secret base64', (n) => repeatTo(n, 'aB3/')],
  ['AWS secret assignment blanks', (n) => repeatTo(n, ' ', 'aws_secret_access_key', 'x')],
  ['secret assignments', (n) => repeatTo(n, 'secret = ')],
  ['password unclosed quote', (n) => repeatTo(n, 'a', 'password="')],
  ['password quotes', (n) => repeatTo(n, 'password="')],
  ['token quotes', (n) => repeatTo(n, "token='")],
  ['placeholder near-miss', (n) => repeatTo(n, 'A', 'password=[')],
  ['password colons', (n) => repeatTo(n, 'password:')],
  ['private key words', (n) => repeatTo(n, 'A ', '-----BEGIN ')],
  ['private key ends', (n) => repeatTo(n, '-----END A ', '-----BEGIN PRIVATE KEY-----')],
  ['private key begins', (n) => repeatTo(n, '-----BEGIN ')],
  ['prose', (n) => repeatTo(n, 'The quick brown fox jumps over the lazy dog. ')],
];

const NORMALIZE_PATTERNS: Array<[string, (n: number) => string]> = [
  ['spaces then a letter', (n) => repeatTo(n, ' ', 'a', 'b')],
  ['blank lines with spaces', (n) => repeatTo(n, '\n \n')],
  ['mixed blanks', (n) => repeatTo(n, 'a \u00a0\t\r\n')],
  ['spaces before a newline', (n) => repeatTo(n, ' ', 'a', '\n')],
  ['control characters', (n) => repeatTo(n, '\u0000\u200b ')],
];

describe('PII redaction runs in linear time', () => {
  it.each(PII_PATTERNS)('%s', (name, make) => {
    expectLinear(name, make, (s) => redactPii(s));
  });

  it('one 1 MiB record of `+1`, 28 digits and a letter redacts in well under a second', () => {
    const record = repeatTo(1 << 20, `+1${'2'.repeat(28)}a `);
    expect(bestTime((s) => redactPii(s), record, 1)).toBeLessThan(1000);
  });

  it('random repetitions of detector fragments stay within the budget (fuzz)', () => {
    const fragment = fc.constantFrom(
      '+',
      '1',
      '9',
      '0',
      '12345',
      ' ',
      '-',
      '.',
      '(',
      ')',
      ':',
      '::',
      '@',
      '=',
      '/',
      '_',
      '"',
      "'",
      'a',
      'Z',
      '\t',
      '\u00a0',
      'eyJ',
      'sk-',
      'ghp_',
      'xoxb-',
      'AIza',
      'AKIA',
      'Bearer ',
      'password=',
      'secret:',
      'aws_secret_access_key',
      '-----BEGIN ',
      'PRIVATE KEY-----',
      '-----END ',
      '%',
    );
    fc.assert(
      fc.property(
        fc.array(fragment, { minLength: 1, maxLength: 6 }),
        fc.array(fragment, { maxLength: 3 }),
        (unit, head) => {
          // 200 KB: linear redaction takes a few ms; a quadratic detector takes tens of seconds.
          const input = repeatTo(200_000, unit.join(''), head.join(''));
          const ms = bestTime((s) => redactPii(s), input, 1);
          expect(ms, `${JSON.stringify(unit)} took ${ms.toFixed(0)} ms`).toBeLessThan(600);
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe('normalizeText runs in linear time', () => {
  it.each(NORMALIZE_PATTERNS)('%s', (name, make) => {
    expectLinear(name, make, (s) => normalizeText(s));
  });
});

// ---------------------------------------------------------------------------------------------------
// The rewrites find exactly what the regexes they replace found.

function newIntlPhones(text: string): { text: string; count: number } {
  const counts = emptyPiiCounts();
  return { text: redactIntlPhones(text, counts), count: counts.PHONE };
}

describe('international phone numbers: the same matches as the regex', () => {
  const phoneChar = fc.constantFrom(
    '+',
    '1',
    '2',
    '0',
    '9',
    '12345',
    ' ',
    '-',
    '.',
    '(',
    ')',
    'a',
    '_',
    '\u00a0',
    '\n',
    '\u3000',
  );
  const separator = fc.constantFrom('', '', ' ', '-', '.', '\t', '\u00a0', '--', '  ');
  const digits = (min: number, max: number) =>
    fc.stringMatching(new RegExp(`^[0-9]{${min},${max}}$`)).filter((s) => s.length >= min);
  /** Shaped like a number: `+`, a country code, an optional area code, groups, a tail. */
  const shaped = fc
    .tuple(
      fc.constantFrom('', ' ', 'a', '+', '(', 'x '),
      digits(1, 4),
      fc.option(fc.tuple(separator, digits(0, 6)), { nil: undefined }),
      fc.array(fc.tuple(separator, digits(1, 7)), { minLength: 0, maxLength: 8 }),
      fc.constantFrom('', ' ', '.', '-', '-1', '.5', 'a', '_', ')', ', ', '+1 234 5678 9012'),
    )
    .map(
      ([before, code, area, groups, tail]) =>
        `${before}+${code}${area === undefined ? '' : `${area[0]}(${area[1]})`}${groups.map(([s, d]) => s + d).join('')}${tail}`,
    );

  it('on random text over the characters it reads', () => {
    fc.assert(
      fc.property(fc.array(phoneChar, { maxLength: 40 }), (parts) => {
        const text = parts.join('');
        expect(newIntlPhones(text)).toEqual(oldIntlPhones(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('on numbers, near-misses and runs of them', () => {
    fc.assert(
      fc.property(fc.array(shaped, { minLength: 1, maxLength: 3 }), (numbers) => {
        const text = numbers.join(' ');
        expect(newIntlPhones(text)).toEqual(oldIntlPhones(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('examples', () => {
    for (const text of [
      'call +1 555 123 4567',
      'office +44 20 7946 0958',
      'paris +33 1 23 45 67 89',
      'e164 +14155552671',
      'uk +44 (0)20 7946 0958.',
      'short +1 23',
      'long +1 2345 6789 0123 4567 8901',
      'x+14155552671',
      '++14155552671',
      '+1-415-555-2671-',
      '+1.415.555.2671.9',
      `+1${'2'.repeat(28)}a`,
      '+49 (30) 1234 5678 and +49 (30) 1234 5678',
    ]) {
      expect(newIntlPhones(text), text).toEqual(oldIntlPhones(text));
    }
  });
});

describe('JWT: the same matches as the regex', () => {
  const jwtPart = fc.constantFrom('eyJ', 'a', 'b', 'Z9', '-', '_', '.', ' ', 'eyJhbGci', 'eyJ-');
  it('on random text over the characters it reads', () => {
    fc.assert(
      fc.property(fc.array(jwtPart, { maxLength: 30 }), (parts) => {
        const text = parts.join('');
        // Nothing else in redactPii matches these characters, so only the JWT detector can change them.
        let count = 0;
        const expected = text.replace(OLD_JWT, () => {
          count++;
          return '[SECRET]';
        });
        const result = redactPii(text);
        expect(result.text).toBe(expected);
        expect(result.counts.SECRET).toBe(count);
      }),
      { numRuns: 3000 },
    );
  });

  it('keeps what comes before a token inside a run', () => {
    const jwt =
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
    expect(redactPii(`x-${jwt}!`).text).toBe('x-[SECRET]!');
    expect(redactPii(`eyJ-${jwt} ${jwt}`).text).toBe('[SECRET] [SECRET]');
    expect(redactPii('ab-eyJ0123.eyJabcd.z ab-eyJ0.eyJabcd.z').text).toBe('ab-[SECRET] ab-eyJ0.eyJabcd.z');
    expect(redactPii('xeyJabcd.eyJabcd.').text).toBe('xeyJabcd.eyJabcd.');
  });
});

describe('IPv6: trailing dots stay out of the address', () => {
  it('as before, and linear on a long run of dots', () => {
    expect(redactPii('doc 2001:db8::8a2e:370:7334...').text).toBe('doc [IP_ADDRESS]...');
    expect(redactPii('1:2:3....3 x').text).toBe('1:2:3....3 x');
    expect(redactPii('see ::1...').text).toBe('see [IP_ADDRESS]...');
  });
});
