import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AppAccess, DENY_ALL, parseAppAccess } from '#contracts/http/access.ts';
import {
  COLLECTION_FIELD,
  MAX_OVERSAMPLED_K,
  oversampledK,
  scopeToCollections,
} from '#core/access/collections.ts';
import { compileGlob, globMatch, isLiteral, isMatchAll } from '#core/access/glob.ts';
import { AccessPolicy } from '#core/access/policy.ts';
import { ForbiddenError } from '#core/errors.ts';
import type { MetadataValue } from '#core/rag/store.ts';

const MOBILE: AppAccess = {
  prompts: ['support-*', 'faq'],
  models: ['nova-*', 'claude-haiku-4-5'],
  collections: ['upload', 'dataset:faq-*'],
  rawChat: false,
  tokensPerDay: 50_000,
};

const mobile = AccessPolicy.forApp('mobile', MOBILE);

/** What `*` globs mean, as a regex (for small inputs only: it backtracks). */
function reference(pattern: string, name: string): boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`, 's').test(name);
}

function refusal(f: () => unknown): ForbiddenError {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(ForbiddenError);
    return error as ForbiddenError;
  }
  throw new Error('expected a ForbiddenError');
}

describe('glob patterns', () => {
  it.each([
    ['support-*', 'support-billing', true],
    ['support-*', 'support-', true],
    ['support-*', 'billing-summary', false],
    ['support-*', 'xsupport-a', false],
    ['*', '', true],
    ['*', 'anything at all', true],
    ['faq', 'faq', true],
    ['faq', 'faqs', false],
    ['dataset:*', 'dataset:faq', true],
    ['dataset:*', 'upload', false],
    ['*-v2', 'summary-v2', true],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'aXbYbZc', true],
    ['a*b*c', 'acb', false],
    ['ab*ba', 'aba', false],
    ['a**b', 'ab', true],
    ['*aab', 'aaab', true],
    ['.*', 'x', false],
    ['a.b', 'aXb', false],
  ])('%s matches %j: %s', (pattern, name, expected) => {
    expect(globMatch(pattern, name)).toBe(expected);
  });

  it('agrees with the regex meaning of `*` on random patterns and names', () => {
    const char = fc.constantFrom('a', 'b', '-', ':', '.', '*');
    const name = fc.array(fc.constantFrom('a', 'b', '-', ':', '.'), { maxLength: 12 }).map((c) => c.join(''));
    fc.assert(
      fc.property(
        fc.array(char, { maxLength: 8 }).map((c) => c.join('')),
        name,
        (pattern, n) => {
          expect(compileGlob(pattern)(n)).toBe(reference(pattern, n));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('tells literal and match-all patterns apart', () => {
    expect(isLiteral('upload')).toBe(true);
    expect(isLiteral('dataset:*')).toBe(false);
    expect(isMatchAll('*')).toBe(true);
    expect(isMatchAll('**')).toBe(true);
    expect(isMatchAll('a*')).toBe(false);
    expect(isMatchAll('')).toBe(false);
  });
});

describe('AccessPolicy of an app', () => {
  it('allows the prompts its patterns name and refuses others, naming the app, the prompt and the rule', () => {
    expect(mobile.allowsPrompt('support-refunds')).toBe(true);
    expect(mobile.allowsPrompt('faq')).toBe(true);
    expect(() => mobile.assertPrompt('support-refunds')).not.toThrow();
    const error = refusal(() => mobile.assertPrompt('billing-summary'));
    expect(error.message).toBe('app "mobile" may not use prompt "billing-summary" (allowed: support-*, faq)');
    expect(error.expose).toBe(true);
  });

  it('allows and filters models by id, keeping their order', () => {
    expect(mobile.allowsModel('nova-lite')).toBe(true);
    expect(refusal(() => mobile.assertModel('claude-sonnet-4-5')).message).toBe(
      'app "mobile" may not use model "claude-sonnet-4-5" (allowed: nova-*, claude-haiku-4-5)',
    );
    const models = [{ id: 'nova-pro' }, { id: 'claude-sonnet-4-5' }, { id: 'claude-haiku-4-5' }];
    expect(mobile.filterModels(models).map((m) => m.id)).toEqual(['nova-pro', 'claude-haiku-4-5']);
  });

  it('selects among allowed candidates, refuses when it may use none of them, and leaves no candidates alone', () => {
    expect(mobile.selectableModels([{ id: 'nova-micro' }, { id: 'llama-3-3-70b' }])).toEqual([
      { id: 'nova-micro' },
    ]);
    expect(refusal(() => mobile.selectableModels([{ id: 'llama-3-3-70b' }])).message).toBe(
      'app "mobile" may not use any of the 1 candidate model(s) (allowed: nova-*, claude-haiku-4-5)',
    );
    expect(mobile.selectableModels([])).toEqual([]);
  });

  it('gives its collection patterns as the retrieval filter and checks collections against them', () => {
    expect(mobile.collectionsFilter()).toEqual(['upload', 'dataset:faq-*']);
    expect(mobile.allowsCollection('dataset:faq-en')).toBe(true);
    expect(mobile.allowsCollection('dataset:hr')).toBe(false);
    expect(refusal(() => mobile.assertCollection('dataset:hr')).message).toBe(
      'app "mobile" may not search collection "dataset:hr" (allowed: upload, dataset:faq-*)',
    );
    expect(() => mobile.assertAnyCollection()).not.toThrow();
  });

  it('refuses chat without a prompt unless rawChat, pointing at the prompts it may use', () => {
    expect(mobile.allowsRawChat()).toBe(false);
    expect(refusal(() => mobile.assertRawChat()).message).toBe(
      'app "mobile" may not chat without a prompt (rawChat is off): name one of its prompts (allowed: support-*, faq)',
    );
    expect(() => AccessPolicy.forApp('web', { ...MOBILE, rawChat: true }).assertRawChat()).not.toThrow();
  });

  it('"*" allows everything: no collection filter at all', () => {
    const open = AccessPolicy.forApp('web', {
      prompts: ['*'],
      models: ['*'],
      collections: ['*'],
      rawChat: true,
      tokensPerDay: null,
    });
    expect(open.allowsPrompt('anything')).toBe(true);
    expect(open.allowsModel('any-model')).toBe(true);
    expect(open.collectionsFilter()).toBeUndefined();
    expect(open.tokensPerDay).toBeNull();
    expect(open.isUnrestricted).toBe(false);
  });

  it('an app that is not configured may use nothing, and says so', () => {
    const unknown = AccessPolicy.forApp('unknown', undefined);
    expect(unknown.allowsPrompt('faq')).toBe(false);
    expect(unknown.filterModels([{ id: 'nova-lite' }])).toEqual([]);
    expect(unknown.collectionsFilter()).toEqual([]);
    expect(unknown.tokensPerDay).toBe(0);
    expect(refusal(() => unknown.assertPrompt('faq')).message).toBe(
      'app "unknown" may not use prompt "faq" (allowed: none)',
    );
    expect(refusal(() => unknown.assertAnyCollection()).message).toBe(
      'app "unknown" may not search any RAG collection (allowed: none)',
    );
  });

  it('shows at most ten patterns in a refusal', () => {
    const many = AccessPolicy.forApp('big', {
      ...MOBILE,
      prompts: Array.from({ length: 13 }, (_, i) => `p${i}`),
    });
    expect(refusal(() => many.assertPrompt('x')).message).toMatch(/\(allowed: p0, p1, .*, p9 and 3 more\)$/);
  });

  it('quotes what the caller asked for as JSON, so a name cannot forge the message', () => {
    expect(refusal(() => mobile.assertModel('x" (allowed: *)')).message).toBe(
      'app "mobile" may not use model "x\\" (allowed: *)" (allowed: nova-*, claude-haiku-4-5)',
    );
  });

  it('describes each rule in one sentence', () => {
    expect(mobile.describe()).toEqual({
      caller:
        'The caller is app "mobile" (its API key); it may use only what follows ("*" in a name matches any run of characters).',
      prompts: 'Prompts: support-*, faq.',
      models: 'Models: nova-*, claude-haiku-4-5.',
      collections: 'RAG collections: upload, dataset:faq-*.',
      rawChat: 'Chat without a prompt (its own system prompt and messages): not allowed.',
      tokensPerDay:
        'Token budget: 50,000 tokens (input and output) per UTC day, then 429 token_budget_exceeded until midnight UTC.',
    });
    expect(AccessPolicy.forApp('none', DENY_ALL).describe().prompts).toBe('Prompts: none.');
  });
});

describe('AccessPolicy.unrestricted (an administrator)', () => {
  const admin = AccessPolicy.unrestricted();

  it('allows everything, has no budget, and filters nothing', () => {
    expect(admin.isUnrestricted).toBe(true);
    expect(admin.app).toBeNull();
    expect(admin.allowsPrompt('billing-summary')).toBe(true);
    expect(admin.allowsModel('claude-sonnet-4-5')).toBe(true);
    expect(() => admin.assertRawChat()).not.toThrow();
    expect(admin.collectionsFilter()).toBeUndefined();
    expect(admin.tokensPerDay).toBeNull();
    expect(admin.describe().caller).toMatch(/administrator .* no per-app restriction applies/);
    expect(admin.describe().tokensPerDay).toBe('Token budget: unlimited.');
  });

  it('is what a caller with access null gets; any other caller gets its app access', () => {
    expect(AccessPolicy.forCaller({ app: 'admin', access: null }).isUnrestricted).toBe(true);
    const app = AccessPolicy.forCaller({ app: 'mobile', access: MOBILE });
    expect(app.app).toBe('mobile');
    expect(app.allowsPrompt('billing-summary')).toBe(false);
  });
});

describe('scopeToCollections', () => {
  const chunk = (collection?: MetadataValue) => ({
    metadata:
      collection === undefined ? {} : ({ [COLLECTION_FIELD]: collection } as Record<string, MetadataValue>),
  });

  it('leaves the filters alone when every collection is allowed', () => {
    expect(scopeToCollections({ team: 'a' }, undefined)).toEqual({ filters: { team: 'a' }, empty: false });
    expect(scopeToCollections(undefined, ['*'])).toEqual({ filters: undefined, empty: false });
  });

  it('sends exact patterns to the store as a collection filter, beside the caller filters', () => {
    expect(scopeToCollections({ team: 'a' }, ['upload', 'dataset:faq', 'upload'])).toEqual({
      filters: { team: 'a', collection: ['upload', 'dataset:faq'] },
      empty: false,
    });
  });

  it("intersects the caller's own collection filter with the allowlist, never replaces it", () => {
    expect(
      scopeToCollections({ collection: ['upload', 'dataset:hr', 'dataset:faq-en'] }, [
        'upload',
        'dataset:faq-*',
      ]).filters,
    ).toEqual({ collection: ['upload', 'dataset:faq-en'] });
    expect(scopeToCollections({ collection: 'dataset:hr' }, ['upload'])).toMatchObject({ empty: true });
    expect(scopeToCollections({ collection: 7 }, ['*7'])).toMatchObject({ empty: true });
  });

  it('matches nothing when the app may search no collection', () => {
    expect(scopeToCollections(undefined, [])).toMatchObject({ empty: true });
  });

  it('post-filters chunks when a pattern has a star, dropping chunks of other or no collection', () => {
    const scope = scopeToCollections({ team: 'a' }, ['upload', 'dataset:faq-*']);
    expect(scope.filters).toEqual({ team: 'a' });
    expect(scope.keep?.(chunk('dataset:faq-en'))).toBe(true);
    expect(scope.keep?.(chunk('upload'))).toBe(true);
    expect(scope.keep?.(chunk('dataset:hr'))).toBe(false);
    expect(scope.keep?.(chunk())).toBe(false);
    expect(scope.keep?.(chunk(3))).toBe(false);
  });

  it('oversamples a post-filtered query within the store cap', () => {
    expect(oversampledK(5)).toBe(20);
    expect(oversampledK(50)).toBe(MAX_OVERSAMPLED_K);
    expect(oversampledK(200)).toBe(200);
  });
});

describe('parseAppAccess (APP_ACCESS)', () => {
  it('reads a JSON object of app name to access; absent or empty is no app', () => {
    expect(parseAppAccess(JSON.stringify({ mobile: MOBILE }))).toEqual({ mobile: MOBILE });
    expect(parseAppAccess(undefined)).toEqual({});
    expect(parseAppAccess('')).toEqual({});
  });

  it.each([
    ['not JSON', '{', /^APP_ACCESS must be a JSON object/],
    [
      'a missing rule',
      JSON.stringify({ mobile: { ...MOBILE, rawChat: undefined } }),
      /^APP_ACCESS\.mobile\.rawChat: /,
    ],
    [
      'a pattern with a space',
      JSON.stringify({ mobile: { ...MOBILE, prompts: ['a b'] } }),
      /^APP_ACCESS\.mobile\.prompts\.0: must be 1-200 printable/,
    ],
    [
      'a negative budget',
      JSON.stringify({ mobile: { ...MOBILE, tokensPerDay: -1 } }),
      /^APP_ACCESS\.mobile\.tokensPerDay: must be a whole number/,
    ],
    ['an unknown rule', JSON.stringify({ mobile: { ...MOBILE, admin: true } }), /^APP_ACCESS\.mobile: /],
  ])('refuses %s, naming the app and the field', (_case, value, message) => {
    expect(() => parseAppAccess(value)).toThrow(message);
  });
});
