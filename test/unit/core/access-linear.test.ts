import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileGlob, globMatch } from '#core/access/glob.ts';
import { AccessPolicy } from '#core/access/policy.ts';
import { bestTime, expectLinear, repeatTo } from './linear-time.ts';

/**
 * Access patterns are matched against names that callers choose (prompt names, model ids, collection
 * filters), and patterns may be long: matching must stay linear in both, whatever they hold. Each case
 * is a near-miss that makes a backtracking matcher (a regex built from the pattern, or the usual
 * "retry after the last star" loop) try every split, at sizes up to 1 MB (see `linear-time.ts`).
 */
const NAME_CASES: Array<[string, string, (n: number) => string]> = [
  // Head and tail match, so every part in between is searched for through the whole name.
  ['*aaaab* against a run of a', '*aaaab*', (n) => repeatTo(n, 'a')],
  ['many stars, then a b that never comes', `${'*a'.repeat(40)}*b*`, (n) => repeatTo(n, 'a')],
  ['a*a*…*b*c: the b never comes', `a${'*a'.repeat(200)}*b*c`, (n) => repeatTo(n, 'a', '', 'c')],
  ['near-miss part -v2 in -v-v-v…', '*-v2*', (n) => repeatTo(n, '-v', '', '-v3')],
  ['parts that overlap themselves', 'aaa*aab*aaa', (n) => repeatTo(n, 'a')],
  ['dataset:*:x* on colons', 'dataset:*:x*', (n) => repeatTo(n, ':', 'dataset', 'y')],
];

const PATTERN_CASES: Array<[string, (n: number) => string, string]> = [
  // The pattern is the long side: stars and parts repeated, against a short or a long name.
  ['stars and a, against a short name', (n) => repeatTo(n, '*a', '', '*b'), 'a'.repeat(1000)],
  ['one long part, against a run of a', (n) => repeatTo(n, 'a', '*', 'b'), 'a'.repeat(1000)],
  ['alternating parts', (n) => repeatTo(n, 'ab*'), 'ab'.repeat(2000)],
];

describe('access patterns match in linear time', () => {
  it.each(NAME_CASES)('long names: %s', (_name, pattern, make) => {
    const glob = compileGlob(pattern);
    expectLinear(`name: ${pattern.slice(0, 20)}`, make, (name) => glob(name));
  });

  it.each(PATTERN_CASES)('long patterns: %s', (name, make, text) => {
    expectLinear(`pattern: ${name}`, make, (pattern) => globMatch(pattern, text));
  });

  it('long names and long patterns together', () => {
    expectLinear(
      'both',
      (n) => repeatTo(n, 'a'),
      (name) => globMatch(`${repeatTo(name.length, 'a*')}b*`, name),
    );
  });

  it('random near-miss patterns and names stay within the budget (fuzz)', () => {
    const fragment = fc.constantFrom('a', 'b', 'aa', 'ab', '*', '*a', 'a*', '-', ':');
    fc.assert(
      fc.property(
        fc.array(fragment, { minLength: 1, maxLength: 6 }),
        fc.array(fc.constantFrom('a', 'b', 'ab', 'aab', '-'), { minLength: 1, maxLength: 4 }),
        (patternUnit, nameUnit) => {
          const pattern = repeatTo(2_000, patternUnit.join(''), '', 'z');
          const name = repeatTo(200_000, nameUnit.join(''));
          const ms = bestTime((s) => globMatch(pattern, s), name, 1);
          expect(ms, `${JSON.stringify(patternUnit)} × ${JSON.stringify(nameUnit)}`).toBeLessThan(600);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('an app policy with many patterns checks a long name quickly', () => {
    const policy = AccessPolicy.forApp('big', {
      prompts: Array.from({ length: 100 }, (_, i) => `${'*a'.repeat(20)}*p${i}`),
      models: [],
      collections: [],
      rawChat: false,
      tokensPerDay: null,
    });
    const name = repeatTo(100_000, 'a');
    expect(bestTime((s) => policy.allowsPrompt(s), name, 1)).toBeLessThan(1000);
  });
});
