import { describe, expect, it } from 'vitest';
import { NO_CONTEXT_ANSWER } from '#aws/gateway.ts';
import {
  containsPii,
  DESCRIPTORS,
  describe as describeRecords,
  nonLetterShare,
  oovRate,
  scriptCategory,
  vocabulary,
  words,
} from '#core/drift/descriptors.ts';
import { ValidationError } from '#core/errors.ts';
import { estimateTokens } from '#core/models/estimate.ts';
import { expectLinear, repeatTo } from '../core/linear-time.ts';

describe('nonLetterShare', () => {
  it.each([
    ['ab 12!', 3 / 6], // 1, 2 and ! of six characters
    ['hello world', 0],
    ['', 0],
    ['e\u0301t\u00e91', 1 / 5], // e, accent, t, é, 1: the combining accent counts with its letter
    ['😀a', 1 / 2], // the emoji is one code point, not two UTF-16 units
    ['Привет, 東京!', 2 / 11], // letters of every script are letters
    ['\t \n', 0],
  ])('%j → %d', (text, share) => {
    expect(nonLetterShare(text)).toBeCloseTo(share, 12);
  });
});

describe('scriptCategory', () => {
  it.each([
    ['Hello мир', 'latin'], // 5 Latin letters, 3 Cyrillic
    ['Привет, world', 'cyrillic'], // 6 Cyrillic, 5 Latin
    ['東京タワーはどこ', 'cjk'], // the prolonged-sound mark ー is shared by Hiragana and Katakana
    ['서울은 어디', 'cjk'],
    ['مرحبا بالعالم', 'arabic'],
    ['Γειά σου', 'other'], // Greek: a script of its own
    ['123 !!', 'other'], // no letter at all
    ['ab вг', 'latin'], // a tie goes to the first category
    ['ab αβγ', 'other'],
  ])('%j → %s', (text, category) => {
    expect(scriptCategory(text)).toBe(category);
  });
});

describe('words, vocabulary and oovRate', () => {
  it('splits on everything but letters, marks and digits, lowercased', () => {
    expect(words('Hello, World! e\u0301t\u00e9 42x_y')).toEqual([
      'hello',
      'world',
      'e\u0301t\u00e9',
      '42x',
      'y',
    ]);
    expect(words(' -- ')).toEqual([]);
  });

  it('counts the occurrences of words missing from the reference vocabulary', () => {
    const vocab = vocabulary(['The cat sat.', 'the DOG']);
    expect([...vocab].sort()).toEqual(['cat', 'dog', 'sat', 'the']);
    // the, bird, sat, on, the, cat: "bird" and "on" are new → 2 of 6.
    expect(oovRate('The bird sat on the cat', vocab)).toBeCloseTo(1 / 3, 12);
    expect(oovRate('THE CAT', vocab)).toBe(0);
    expect(oovRate('!!!', vocab)).toBeNull();
  });
});

describe('containsPii', () => {
  it.each([
    ['mail me at jane@example.com', true],
    ['my ssn is 123-45-6789', true],
    ['call +44 20 7946 0958', true],
    ['key AKIAIOSFODNN7EXAMPLE', true],
    ['version 1.2.3 shipped on 2024-05-01', false],
    ['order 12345678', false],
    ['', false],
  ])('%j → %s (the dataset pipeline’s detectors)', (text, pii) => {
    expect(containsPii(text)).toBe(pii);
  });
});

describe('describe', () => {
  const vocab = vocabulary(['how do I reset my password', 'where is the office']);

  it('gives each descriptor its values, from the fields each one reads', () => {
    const d = describeRecords(
      [
        { text: 'How do I reset my password?', answer: 'Use the reset link.', retrievalTopScore: 0.82 },
        { text: 'Где офис? jane@example.com', answer: "I don't know." },
        { answer: NO_CONTEXT_ANSWER, retrievalTopScore: 0.1 },
        { text: '' },
      ],
      vocab,
      { notFoundAnswer: NO_CONTEXT_ANSWER },
    );
    // How, do, I, reset, my (one each), password (8 letters: 2), ? (1) = 8.
    expect(d.tokens).toEqual([8, estimateTokens('Где офис? jane@example.com'), 0]);
    expect(d.nonLetterShare[0]).toBeCloseTo(1 / 27, 12);
    // Г, д, е, о, ф, и, с against j, a, n, e, e, x, a, m, p, l, e, c, o, m: 7 Cyrillic, 15 Latin.
    expect(d.language).toEqual(['latin', 'latin', 'other']);
    // The empty text has no word, so no OOV rate; "где", "офис", "jane", "example", "com" are all new.
    expect(d.oovRate).toEqual([0, 1]);
    expect(d.piiRate).toEqual([false, true, false]);
    expect(d.refusal).toEqual([false, true, true]);
    // Use, the, reset, link (one each), "." (1) = 5.
    expect(d.answerTokens[0]).toBe(5);
    expect(d.answerTokens).toHaveLength(3);
    expect(d.retrievalTopScore).toEqual([0.82, 0.1]);
    expect(d.notFound).toEqual([false, false, true]);
  });

  it('matches the no-context answer ignoring case and whitespace, and leaves notFound empty without it', () => {
    const loose = `  ${NO_CONTEXT_ANSWER.toUpperCase().replace(/ /g, '\n ')} `;
    expect(
      describeRecords([{ answer: loose }], vocab, { notFoundAnswer: NO_CONTEXT_ANSWER }).notFound,
    ).toEqual([true]);
    expect(describeRecords([{ answer: NO_CONTEXT_ANSWER }], vocab).notFound).toEqual([]);
  });

  it('names the record and field of a malformed value', () => {
    const field = (records: unknown[]) => {
      try {
        describeRecords(records as never, vocab);
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        return (err as ValidationError).field;
      }
      throw new Error('no error');
    };
    expect(field([{ text: 'ok' }, { text: 3 }])).toBe('records.1.text');
    expect(field([{ answer: null }])).toBe('records.0.answer');
    expect(field([{ retrievalTopScore: Number.NaN }])).toBe('records.0.retrievalTopScore');
  });

  it('has a kind for every descriptor it computes', () => {
    const d = describeRecords([], vocab);
    expect(Object.keys(DESCRIPTORS).sort()).toEqual(Object.keys(d).sort());
    expect(DESCRIPTORS.tokens.kind).toBe('continuous');
    expect(DESCRIPTORS.language.kind).toBe('categorical');
    expect(DESCRIPTORS.piiRate.kind).toBe('categorical');
    expect(DESCRIPTORS.retrievalTopScore.kind).toBe('continuous');
  });
});

describe('the descriptors run in linear time on adversarial text', () => {
  const vocab = vocabulary(['a b c']);
  it.each<[string, (n: number) => string]>([
    ['letters and punctuation', (n) => repeatTo(n, 'a.')],
    ['letters with marks across scripts', (n) => repeatTo(n, 'e\u0301ж中ب')],
    ['whitespace runs', (n) => repeatTo(n, ' \t\n', 'x', 'y')],
    ['digits that almost look like PII', (n) => repeatTo(n, '1-2.3 +4')],
    ['near-miss e-mails', (n) => repeatTo(n, 'a@a.')],
    ['one long word', (n) => repeatTo(n, 'x')],
  ])(
    '%s',
    (_name, make) => {
      expectLinear('describe', make, (text) =>
        describeRecords([{ text, answer: text }], vocab, { notFoundAnswer: NO_CONTEXT_ANSWER }),
      );
    },
    30_000,
  );
});
