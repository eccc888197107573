/**
 * Every regex of the evaluation metrics that runs over answer (or suite) text, and the engine that runs
 * caller-supplied patterns, timed on adversarial inputs (see `core/linear-time.ts`).
 */
import { describe, it } from 'vitest';
import {
  contains,
  declines,
  extractJson,
  normalizeSquadAnswer,
  rougeTokens,
  squadF1,
} from '#core/eval/metrics/reference.ts';
import { compileSafeRegex } from '#core/eval/metrics/safe-regex.ts';
import { parseSuite } from '#core/eval/suite.ts';
import type { EvalItem } from '#core/eval/types.ts';
import { expectLinear, repeatTo } from '../core/linear-time.ts';

const item = (metadata: Record<string, unknown>): EvalItem => ({
  id: 'i',
  messages: [{ role: 'user', content: 'q' }],
  references: [],
  tags: [],
  unanswerable: false,
  metadata,
});

describe('the metrics run in linear time on adversarial answers', () => {
  it.each<[string, (n: number) => string]>([
    ['articles between spaces', (n) => repeatTo(n, 'a ')],
    ['one long word', (n) => repeatTo(n, 'x')],
    ['punctuation', (n) => repeatTo(n, '.,;!')],
    ['Python whitespace', (n) => repeatTo(n, '\u001c \u3000', 'a', 'b')],
    ['letters with marks', (n) => repeatTo(n, 'e\u0301a')],
  ])('SQuAD normalization and F1: %s', (_name, make) => {
    expectLinear('squad', make, (text) => squadF1(text, 'a cat sat'));
    expectLinear('squad normalize', make, normalizeSquadAnswer);
  });

  it.each<[string, (n: number) => string]>([
    ['alphanumerics', (n) => repeatTo(n, 'a1')],
    ['separators', (n) => repeatTo(n, ' -é')],
  ])('ROUGE tokenization: %s', (_name, make) => {
    expectLinear('rouge tokens', make, rougeTokens);
  });

  it.each<[string, (n: number) => string]>([
    ['near-miss phrases', (n) => repeatTo(n, "i don't kno could not fin ")],
    ['whitespace runs', (n) => repeatTo(n, ' \t\n', 'i', 'x')],
    ['apostrophes', (n) => repeatTo(n, '\u2019\u2018')],
    ['one repeated letter', (n) => repeatTo(n, 'n')],
  ])('decline detection: %s', (_name, make) => {
    expectLinear('declines', make, declines);
  });

  it('contains, with a needle that almost matches everywhere', () => {
    const needle = item({ contains: `${'a'.repeat(50)}b` });
    expectLinear(
      'contains',
      (n) => repeatTo(n, 'a'),
      (text) => contains(text, needle),
    );
  });

  it('JSON extraction of a long fenced block', () => {
    expectLinear('json', (n) => repeatTo(n, '[1,', '```json\n', '```'), extractJson);
  });

  it('suite parsing of one long line (contexts of 10 000 characters)', () => {
    const line = (n: number) => {
      const contexts = Array.from({ length: Math.floor(n / 10_000) }, () => repeatTo(10_000 - 4, 'a '));
      return JSON.stringify({ input: 'q', tags: ['Multi Hop'], contexts });
    };
    expectLinear('suite', line, (text) => {
      if (parseSuite(text, { name: 'timing' }).items.length !== 1) throw new Error('the line did not parse');
    });
  });
});

describe('caller-supplied patterns run in linear time, including those JavaScript backtracks on', () => {
  it.each<[string, (n: number) => string]>([
    ['(a|a)*b', (n) => repeatTo(n, 'a')],
    ['\\d+\\d+\\d+x', (n) => repeatTo(n, '1')],
    ['^(a+)+$', (n) => repeatTo(n, 'a', '', '!')],
    ['(a*)*b', (n) => repeatTo(n, 'a')],
    ['^(\\w+\\s?)*$', (n) => repeatTo(n, 'ab ', '', '!')],
    ['(.*a){10}', (n) => repeatTo(n, 'a')],
    ['\\bx\\b', (n) => repeatTo(n, 'xy')],
  ])('%s', (pattern, make) => {
    const compiled = compileSafeRegex(pattern);
    expectLinear(pattern, make, (text) => compiled.test(text));
  });
});
