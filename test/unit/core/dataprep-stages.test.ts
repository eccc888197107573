import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Deduper, exactHash } from '#core/dataprep/dedupe.ts';
import { minhashSignature } from '#core/dataprep/minhash.ts';
import { normalizationNeeded, normalizeText } from '#core/dataprep/normalize.ts';
import {
  emptyPiiCounts,
  PII_EVERY_FLAG,
  piiCharacterFlags,
  redactPii,
  redactPiiFlagged,
} from '#core/dataprep/pii.ts';
import {
  decodeLine,
  emptyRedactionCounts,
  isLineVerdict,
  type LineOutcome,
  normalizeFields,
  parseLine,
  processLine,
  recordTexts,
  redactFields,
  scanField,
  textFields,
  validateRecord,
} from '#core/dataprep/process.ts';
import type { Purpose } from '#core/dataprep/records.ts';
import { countTokens } from '#core/dataprep/tokens.ts';
import { countTokens as libraryCount } from '#core/tokenizer/o200k.ts';

/**
 * The fast paths of the per-line pipeline give exactly what the plain definitions give: one pass that
 * serves normalization and the PII pre-checks, the PII pre-checks themselves, MinHash's ASCII word
 * splitter, the token counter's memo, and processLine as the composition of its exported stages (which
 * the benchmark's stage profile times one by one).
 */

// Pieces of text that exercise every rule: spaces and line breaks, control and non-ASCII characters,
// and the shapes of each PII detector.
const FRAGMENTS = [
  'a',
  'Word',
  'the',
  'TOKEN',
  '42',
  '2026',
  '7',
  ' ',
  '  ',
  '\n',
  '\n\n\n',
  ' \n',
  '\t',
  '\r\n',
  '\u00a0',
  '\u200b',
  '\u0001',
  '\u007f',
  'é',
  'İ',
  'ß',
  '日本',
  '😀',
  '\u212a',
  '\u037e',
  '.',
  '-',
  '_',
  ':',
  '=',
  '@',
  '+',
  '/',
  '"',
  "'",
  'jane.doe@example.com',
  '+44 20 7946 0958',
  '(415) 555-1234',
  '4111 1111 1111 1111',
  '123-45-6789',
  '10.0.0.1',
  '2001:db8::1',
  'AKIAIOSFODNN7EXAMPLE',
  'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'password=hunter22',
  '"api_key": "abcdef123456"',
  'token: 50256',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N',
  'sk-proj-abcdefghijklmnopqrstuvwxyz1234',
  'ghp_abcdefghijklmnopqrstuvwxyz0123456789',
  'xoxb-1234567890-abcdef',
  'AIzaSyA-1234567890abcdefghijklmnopqrstu',
  'Bearer abcdefghijklmnopqrstuvwxyz.12345',
  '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----',
  '[SECRET]',
  '<|endoftext|>',
  "don't",
  "WE'LL",
];
const text = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 24 }).map((parts) => parts.join(''));
const anyText = fc.oneof(text, fc.string({ unit: 'binary', maxLength: 40 }));

describe('the one-pass scan of a text field', () => {
  it('says what normalizationNeeded and piiCharacterFlags say (property)', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        expect(scanField(s)).toBe(normalizationNeeded(s) | (piiCharacterFlags(s) << 2));
      }),
      { numRuns: 3000 },
    );
  });

  it('tells apart text that normalization leaves as it is (property)', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        if (normalizationNeeded(s) === 0) expect(normalizeText(s)).toBe(s);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('the PII pre-checks', () => {
  it('never skip a detector that would have matched: the same text and counts as with every flag (property)', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        const counts = emptyPiiCounts();
        const everything = emptyPiiCounts();
        expect(redactPii(s, counts).text).toBe(redactPiiFlagged(s, PII_EVERY_FLAG, everything));
        expect(counts).toEqual(everything);
      }),
      { numRuns: 3000 },
    );
  });

  it('hold with the flags of the text before normalization (property)', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        const normal = normalizeText(s);
        if (normalizationNeeded(s) === 2) return; // the pipeline scans the NFC result again
        expect(redactPiiFlagged(normal, piiCharacterFlags(s), emptyPiiCounts())).toBe(redactPii(normal).text);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('MinHash over ASCII text', () => {
  it('gives the signature of the general path: case folded, any non-word character a separator (property)', () => {
    const words = fc.array(fc.stringMatching(/^[A-Za-z0-9]{1,8}$/), { maxLength: 30 });
    fc.assert(
      fc.property(words, fc.constantFrom(' ', '.', '\n', '--'), (list, separator) => {
        const ascii = list.join(separator);
        // An em dash is no word character either, and sends the text down the general (toLowerCase) path.
        const general = list.join('\u2014');
        expect(minhashSignature(ascii)).toEqual(minhashSignature(general));
        expect(minhashSignature(ascii.toUpperCase())).toEqual(minhashSignature(ascii.toLowerCase()));
      }),
      { numRuns: 500 },
    );
  });
});

describe('the token count memo', () => {
  it('stays exact once it has been filled and cleared', () => {
    // More distinct short pieces than the memo holds (50,000), then counts that use the refilled memo.
    const word = (i: number) =>
      ` ${i.toString(26).replace(/\d/g, (d) => String.fromCharCode(0x71 + Number(d)))}`;
    let total = 0;
    for (let i = 0; i < 60_000; i += 100) {
      const chunk = Array.from({ length: 100 }, (_, k) => word(i + k)).join('');
      total += countTokens(chunk);
      if (i % 10_000 === 0) expect(countTokens(chunk)).toBe(libraryCount(chunk));
    }
    expect(total).toBeGreaterThan(0);
    const again = Array.from({ length: 200 }, (_, k) => word(k * 293)).join('');
    expect(countTokens(again)).toBe(libraryCount(again));
  });
});

describe('processLine as its stages', () => {
  const purposes: Purpose[] = ['finetune', 'preference', 'rag', 'golden'];
  const record = fc.oneof(
    fc.record({
      messages: fc.array(fc.record({ role: fc.constantFrom('system', 'user', 'assistant'), content: text }), {
        minLength: 1,
        maxLength: 4,
      }),
    }),
    fc.record({ prompt: text, completion: text }),
    fc.record({ prompt: text, chosen: text, rejected: text }),
    fc.record({ text, title: text }),
    fc.record({ input: text, reference: text, contexts: fc.array(text, { maxLength: 2 }) }),
  );

  it('gives what the stages give when called in its order (the stage profile relies on it) (property)', () => {
    fc.assert(
      fc.property(record, fc.constantFrom(...purposes), (value, purpose) => {
        const line = { lineNo: 1, bytes: Buffer.from(JSON.stringify(value)), byteOffset: 0 };
        const opts = { purpose, maxRecordBytes: 1 << 20 };
        const whole = processLine(line, opts, emptyRedactionCounts());
        const staged = ((): LineOutcome => {
          const decoded = decodeLine(line, opts.maxRecordBytes);
          if (typeof decoded !== 'string') return decoded;
          const parsed = parseLine(decoded);
          if (isLineVerdict(parsed)) return parsed;
          const valid = validateRecord(purpose, parsed);
          if (isLineVerdict(valid)) return valid;
          const fields = textFields(purpose, valid);
          const verdict =
            normalizeFields(fields) ??
            redactFields(purpose, valid, fields, undefined, emptyRedactionCounts());
          if (verdict !== undefined) return verdict;
          const { dedupeText, tokenText } = recordTexts(fields);
          return {
            kind: 'good',
            record: valid,
            dedupeText,
            exactHash: exactHash(dedupeText),
            signature: minhashSignature(dedupeText),
            tokens: countTokens(tokenText),
          };
        })();
        expect(staged).toEqual(whole);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('Deduper', () => {
  it('reads exact hashes in either case and refuses anything but 16 hexadecimal digits', () => {
    const sig = minhashSignature('one two three four');
    const lower = new Deduper();
    expect(lower.check('00ff00ff00ff00fa', sig)).toBe('unique');
    expect(lower.check('00FF00FF00FF00FA', sig)).toBe('exact');
    for (const bad of [
      '00ff00ff00ff00f',
      '00ff00ff00ff00fa0',
      '00ff00ff00ff00fg',
      '00ff00f\u001000ff00fa',
      '',
    ]) {
      expect(() => new Deduper().check(bad, sig)).toThrow(/16 hexadecimal characters/);
    }
  });
});
