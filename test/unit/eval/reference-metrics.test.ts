/**
 * Reference metrics with hand-checked values. The SQuAD and ROUGE-L numbers were also cross-checked
 * with python3 (no packages): the SQuAD v1.1 script's `normalize_answer`, `f1_score` and
 * `exact_match_score` copied as they are, and rouge-score's `tokenize` (lowercase, `[^a-z0-9]+` to a
 * space, split, keep `^[a-z0-9]+$`) with `_score_lcs` re-implemented; every value below matched.
 */
import { describe, expect, it } from 'vitest';
import { NO_CONTEXT_ANSWER } from '#aws/gateway.ts';
import { ValidationError } from '#core/errors.ts';
import {
  abstention,
  contains,
  contextPrecision,
  contextRecall,
  declines,
  exactMatch,
  extractJson,
  f1,
  jsonSchema,
  jsonValid,
  lcsLength,
  MAX_MATCHED_ANSWER_CHARS,
  normalizeSquadAnswer,
  REFERENCE_METRICS,
  RETRIEVAL_METRICS,
  regex,
  rougeL,
  rougeTokens,
  squadF1,
} from '#core/eval/metrics/reference.ts';
import { parseSuite } from '#core/eval/suite.ts';
import type { EvalAnswer, EvalItem } from '#core/eval/types.ts';
import { OFFLINE_NO_ANSWER } from '#core/models/offline.ts';

function item(fields: Partial<EvalItem> = {}): EvalItem {
  return {
    id: 'i',
    messages: [{ role: 'user', content: 'q' }],
    references: [],
    tags: [],
    unanswerable: false,
    ...fields,
  };
}
const withRefs = (...references: string[]) => item({ references });
const withMeta = (metadata: Record<string, unknown>) => item({ metadata });

describe('SQuAD v1.1 normalization', () => {
  it.each([
    ['The Eiffel Tower!', 'eiffel tower'], // lowercase, "!" dropped, "the" removed
    ['U.S.A.', 'usa'], // punctuation is deleted, not replaced by a space
    ['state-of-the-art', 'stateoftheart'], // so "the" is no longer a word of its own
    ['(the) end', 'end'], // parentheses go first, then the article
    ["don't", 'dont'],
    ['An apple, a day', 'apple day'],
    ['Theory of a THE-an', 'theory of thean'], // "theory" keeps its "the"
    ['the_cat', 'thecat'], // "_" is punctuation too
    ['café—bar', 'café—bar'], // only ASCII punctuation: the em dash stays
    ['ça va', 'ça va'], // Python's \b is Unicode: the "a" of "ça" is not a word (JavaScript's \b would cut it)
    ['éa', 'éa'],
    ['cat\u001csat', 'cat sat'], // U+001C is whitespace to Python's split(), not to JavaScript's \s
    ['cat\ufeffsat', 'cat\ufeffsat'], // and U+FEFF the other way round
    ['the', ''],
  ])('normalizes %j to %j', (input, normal) => {
    expect(normalizeSquadAnswer(input)).toBe(normal);
  });
});

describe('exact_match', () => {
  it('is 1 when the normalized answer equals a normalized reference, else 0', () => {
    expect(exactMatch('the Eiffel tower.', withRefs('Eiffel Tower')).value).toBe(1);
    expect(exactMatch('USA', withRefs('U.S.A.')).value).toBe(1);
    expect(exactMatch('state-of-the-art', withRefs('state of the art')).value).toBe(0); // stateoftheart ≠ state of art
  });

  it('takes the best reference and says which', () => {
    expect(exactMatch('Paris', withRefs('London', 'paris'))).toEqual({
      metric: 'exact_match',
      value: 1,
      details: { reference: 1 },
    });
  });

  it('matches two answers that normalize to nothing, as the v1.1 script does (while F1 is 0)', () => {
    // "the" -> "" and "a" -> "": "" == "" is a match; F1 has no common token, so 0.
    expect(exactMatch('the', withRefs('a')).value).toBe(1);
    expect(f1('the', withRefs('a')).value).toBe(0);
  });
});

describe('f1', () => {
  it('scores "the cat sat" against "a cat sat down" at 0.8', () => {
    // tokens [cat, sat] vs [cat, sat, down]: common 2 -> P = 2/2 = 1, R = 2/3, F1 = 2·1·(2/3) / (1 + 2/3) = 0.8
    expect(f1('the cat sat', withRefs('a cat sat down'))).toEqual({
      metric: 'f1',
      value: 0.8,
      details: { precision: 1, recall: 2 / 3, reference: 0 },
    });
  });

  it('counts repeated tokens with a multiset intersection', () => {
    // [cat, cat, cat] vs [cat, cat, dog]: common min(3, 2) = 2 -> P = 2/3, R = 2/3, F1 = 2/3
    expect(squadF1('the the cat cat cat', 'cat cat dog').f1).toBe(2 / 3);
  });

  it('takes the maximum over the references', () => {
    // vs "obama": [barack, obama] vs [obama]: P = 1/2, R = 1, F1 = 2·(1/2)·1 / (3/2) = 2/3
    // vs "president barack obama": common 2 -> P = 1, R = 2/3, F1 = 0.8 (the maximum)
    expect(squadF1('Barack Obama', 'Obama').f1).toBe(2 / 3);
    const score = f1('Barack Obama', withRefs('Obama', 'President Barack Obama'));
    expect(score.value).toBe(0.8);
    expect(score.details?.reference).toBe(1);
    // "in 1990s" vs "the 1990s": P = 1/2, R = 1 -> 2/3; vs "during the 1990s decade": P = 1/2, R = 1/3 -> 0.4
    expect(f1('in 1990s', withRefs('during the 1990s decade', 'the 1990s')).value).toBeCloseTo(2 / 3, 15);
  });

  it('is 0 when punctuation glues words that the reference keeps apart', () => {
    // [stateoftheart] vs [state, of, art]: nothing in common
    expect(f1('state-of-the-art', withRefs('state of the art')).value).toBe(0);
  });

  it('splits on Python whitespace: U+001C separates tokens', () => {
    // [cat, sat] vs [cat, sat] -> 1
    expect(f1('cat\u001csat', withRefs('cat sat')).value).toBe(1);
  });

  it('cannot be computed for an item without references, and says why', () => {
    expect(f1('x', item())).toEqual({ metric: 'f1', value: null, error: 'the item has no reference answer' });
    expect(exactMatch('x', item({ unanswerable: true })).error).toMatch(/must be declined/);
  });
});

describe('rouge_l', () => {
  it("tokenizes as rouge-score's default tokenizer", () => {
    expect(rougeTokens("Hello, World! It's 2024.")).toEqual(['hello', 'world', 'it', 's', '2024']);
    expect(rougeTokens('café naïve')).toEqual(['caf', 'na', 've']); // non-ASCII letters separate
    expect(rougeTokens('İstanbul')).toEqual(['i', 'stanbul']); // lower() gives "i" + U+0307
  });

  it("reproduces rouge-score's README example", () => {
    // target [the quick brown fox jumps over the lazy dog] (9), prediction [the quick brown dog jumps on
    // the log] (8): LCS "the quick brown jumps the" = 5 -> P = 5/8 = 0.625, R = 5/9,
    // F = 2·0.625·(5/9) / (0.625 + 5/9) = 0.5882352941176471
    const score = rougeL(
      'The quick brown dog jumps on the log.',
      withRefs('The quick brown fox jumps over the lazy dog'),
    );
    expect(score.value).toBe(0.5882352941176471);
    expect(score.details).toEqual({ precision: 0.625, recall: 0.5555555555555556, reference: 0 });
  });

  it('follows order: a reversed sentence shares one token of subsequence', () => {
    // [c, b, a] vs [a, b, c]: LCS 1 -> P = R = F = 1/3
    expect(lcsLength(['a', 'b', 'c'], ['c', 'b', 'a'])).toBe(1);
    expect(rougeL('c b a', withRefs('a b c')).value).toBe(1 / 3);
  });

  it('takes the maximum F over the references', () => {
    // vs "the cat was found under the bed" (7): the prediction (6) is a subsequence: P = 1, R = 6/7,
    // F = 12/13 = 0.923076923076923; vs "a cat hid under a bed" (6): LCS [cat, under, bed] = 3 -> F = 0.5
    const score = rougeL(
      'the cat was under the bed',
      withRefs('a cat hid under a bed', 'the cat was found under the bed'),
    );
    expect(score.value).toBe(0.923076923076923);
    expect(score.details?.reference).toBe(1);
  });

  it('is 0 when the answer has no token', () => {
    expect(rougeL('!!! ...', withRefs('a b')).value).toBe(0);
  });
});

describe('json_valid', () => {
  it('accepts one JSON text, bare or as the whole of one ``` or ```json block', () => {
    expect(jsonValid('  {"a": 1}\n', item()).value).toBe(1);
    expect(jsonValid('42', item()).value).toBe(1); // any JSON value (RFC 8259)
    expect(jsonValid('```json\n{"a": [1, 2]}\n```', item())).toEqual({
      metric: 'json_valid',
      value: 1,
      details: { fenced: true },
    });
    expect(jsonValid('```\n[true]\n```', item()).value).toBe(1);
  });

  it('refuses prose around the JSON, other fence languages, and broken JSON', () => {
    expect(jsonValid('Here you go: {"a": 1}', item()).value).toBe(0);
    expect(jsonValid('Sure!\n```json\n{"a": 1}\n```', item()).value).toBe(0);
    expect(jsonValid('```yaml\na: 1\n```', item()).details).toEqual({
      reason: 'the fenced block is yaml, not json',
    });
    expect(jsonValid('{"a": 1,}', item()).value).toBe(0);
    expect(jsonValid('', item()).details).toEqual({ reason: 'empty' });
    expect(extractJson('```json\n```')).toEqual({ ok: false, reason: 'empty' });
  });
});

describe('json_schema', () => {
  const schema = {
    type: 'object',
    required: ['name', 'age'],
    properties: { name: { type: 'string', pattern: '^[A-Z][a-z]+$' }, age: { type: 'integer', minimum: 0 } },
    additionalProperties: false,
  };

  it('is 1 when the answer validates, 0 with the first error when it does not', () => {
    expect(jsonSchema('{"name": "Ada", "age": 36}', withMeta({ schema })).value).toBe(1);
    expect(jsonSchema('```json\n{"name": "Ada", "age": 36}\n```', withMeta({ schema })).value).toBe(1);
    expect(jsonSchema('{"name": "Ada", "age": -1}', withMeta({ schema }))).toEqual({
      metric: 'json_schema',
      value: 0,
      details: { reason: '/age: must be >= 0' },
    });
    expect(jsonSchema('{"name": "ada", "age": 1}', withMeta({ schema })).details).toEqual({
      reason: '/name: must match pattern "^[A-Z][a-z]+$"',
    });
    expect(jsonSchema('not json', withMeta({ schema })).value).toBe(0);
  });

  it('honours a 2020-12 $schema (prefixItems)', () => {
    const tuple = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'array',
      prefixItems: [{ type: 'string' }, { type: 'number' }],
      items: false,
    };
    expect(jsonSchema('["a", 1]', withMeta({ schema: tuple })).value).toBe(1);
    expect(jsonSchema('["a", 1, 2]', withMeta({ schema: tuple })).value).toBe(0);
  });

  it('scores an invalid schema as an error, not as 0', () => {
    const broken = jsonSchema('{}', withMeta({ schema: { type: 'strnig' } }));
    expect(broken.value).toBeNull();
    expect(broken.error).toMatch(/^metadata\.schema: invalid JSON Schema \(schema is invalid: /);
    expect(jsonSchema('{}', withMeta({ schema: [1] })).error).toBe(
      'metadata.schema: invalid JSON Schema (must be a JSON Schema (an object or a boolean))',
    );
    expect(
      jsonSchema('{}', withMeta({ schema: { $schema: 'http://json-schema.org/draft-04/schema#' } })).error,
    ).toMatch(/unsupported \$schema/);
    expect(jsonSchema('{}', item()).error).toBe('the item has no metadata.schema');
  });

  it('refuses a schema whose pattern could not be matched in linear time', () => {
    const unsafe = { type: 'string', pattern: '^(a+)\\1$' };
    expect(jsonSchema('"aa"', withMeta({ schema: unsafe })).error).toMatch(/backreferences/);
    // a pattern that backtracks exponentially in JavaScript's own engine runs in linear time here
    const nested = { type: 'string', pattern: '^(a|a)*$' };
    expect(jsonSchema(JSON.stringify(`${'a'.repeat(50_000)}!`), withMeta({ schema: nested })).value).toBe(0);
  });

  it('compiles equal schemas once, whichever item carries them', () => {
    const a = withMeta({ schema: { type: 'number' } });
    const b = withMeta({ schema: { type: 'number' } });
    expect(jsonSchema('1', a).value).toBe(1);
    expect(jsonSchema('"x"', b).value).toBe(0);
  });
});

describe('contains', () => {
  it('needs every string, ignoring case, as literals', () => {
    expect(
      contains('The Warranty lasts TWO years.', withMeta({ contains: ['warranty', 'two years'] })).value,
    ).toBe(1);
    expect(contains('Costs $5 (a.k.a. five)', withMeta({ contains: '$5 (a.k.a.' })).value).toBe(1);
    expect(contains('The warranty lasts two years.', withMeta({ contains: ['warranty', 'refund'] }))).toEqual(
      {
        metric: 'contains',
        value: 0,
        details: { missing: ['refund'] },
      },
    );
  });

  it('is an error without a usable metadata.contains', () => {
    expect(contains('x', item()).error).toBe('the item has no metadata.contains');
    expect(contains('x', withMeta({ contains: [''] })).value).toBeNull();
    expect(contains('x', withMeta({ contains: 3 })).value).toBeNull();
  });
});

describe('regex', () => {
  it('is 1 when the pattern matches somewhere in the answer, with the given flags', () => {
    expect(regex('Order #12345 shipped', withMeta({ regex: '#\\d{5}\\b' })).value).toBe(1);
    expect(regex('ORDER shipped', withMeta({ regex: '^order', regex_flags: 'i' })).value).toBe(1);
    expect(regex('ORDER shipped', withMeta({ regex: '^order' })).value).toBe(0);
  });

  it('scores an unsafe or malformed pattern as an error naming the reason', () => {
    expect(regex('aa', withMeta({ regex: '(a)\\1' })).error).toBe(
      'metadata.regex: backreferences (\\1 ...) are not supported',
    );
    expect(regex('ab', withMeta({ regex: 'a(?=b)' })).error).toMatch(/^metadata\.regex: lookaround/);
    expect(regex('a', withMeta({ regex: 'a'.repeat(201) })).error).toBe(
      'metadata.regex: must be at most 200 characters',
    );
    expect(regex('a', withMeta({ regex: '(a' })).error).toMatch(
      /^metadata\.regex: not a valid regular expression/,
    );
    expect(regex('a', withMeta({ regex: 'a', regex_flags: 'g' })).error).toMatch(/flags must be/);
  });

  it('accepts nested quantifiers (safe here) and refuses an answer over the length cap', () => {
    expect(regex(`${'a'.repeat(30)}!`, withMeta({ regex: '^(a+)+$' })).value).toBe(0);
    expect(regex('a'.repeat(MAX_MATCHED_ANSWER_CHARS + 1), withMeta({ regex: 'a' })).error).toMatch(
      /longer than/,
    );
  });
});

describe('abstention', () => {
  const toDecline = item({ unanswerable: true, tags: ['unanswerable'] });

  it('recognizes declining phrases, typographic apostrophes and the project’s own no-answer texts', () => {
    expect(declines('I don’t know.')).toBe(true);
    expect(declines('That is not in the provided context.')).toBe(true);
    expect(declines('Sorry, I  could\nnot find it.')).toBe(true);
    expect(declines(NO_CONTEXT_ANSWER)).toBe(true);
    expect(declines(OFFLINE_NO_ANSWER)).toBe(true);
    expect(declines('The warranty lasts two years.')).toBe(false);
  });

  it('is 1 when an item to decline is declined, and when an answerable one is answered', () => {
    expect(abstention('I cannot answer that from the documents.', toDecline)).toEqual({
      metric: 'abstention',
      value: 1,
      details: { declined: true, expected: 'decline' },
    });
    expect(abstention('It was 1998.', toDecline).value).toBe(0);
    expect(abstention('Paris.', withRefs('Paris')).value).toBe(1);
    expect(abstention("I don't know.", withRefs('Paris')).value).toBe(0);
  });

  it('cannot be computed without a reference: nobody knows whether to decline', () => {
    expect(abstention('x', item()).value).toBeNull();
  });
});

describe('context_precision and context_recall', () => {
  const rag = item({ references: ['x'], referenceContextIds: ['d1', 'd3'] });
  const retrieved = (...ids: (string | undefined)[]): EvalAnswer => ({
    itemId: 'i',
    answer: 'x',
    contexts: ids.map((id) => (id === undefined ? { text: 't' } : { id, text: 't' })),
  });

  it('averages precision@i over the ranks that hold a relevant context', () => {
    // ranks: d1 (relevant), d2, d3 (relevant): precision@1 = 1/1, precision@3 = 2/3 -> (1 + 2/3) / 2 = 5/6
    expect(contextPrecision(retrieved('d1', 'd2', 'd3'), rag)).toEqual({
      metric: 'context_precision',
      value: (1 / 1 + 2 / 3) / 2, // 5/6, summed in rank order as the metric does
      details: { k: 3, relevantRetrieved: 2 },
    });
    // d2, d1: precision@2 = 1/2 -> 0.5
    expect(contextPrecision(retrieved('d2', 'd1'), rag).value).toBe(0.5);
    // both relevant first: (1/1 + 2/2) / 2 = 1
    expect(contextPrecision(retrieved('d3', 'd1', 'd9'), rag).value).toBe(1);
    expect(contextPrecision(retrieved('d7', 'd8'), rag).value).toBe(0);
    expect(contextPrecision(retrieved(), rag).value).toBe(0);
  });

  it('judges only the first k', () => {
    // k = 2 over d2, d1, d3: only d1 at rank 2 -> 1/2
    expect(contextPrecision(retrieved('d2', 'd1', 'd3'), rag, { k: 2 }).value).toBe(0.5);
    expect(contextRecall(retrieved('d2', 'd1', 'd3'), rag, { k: 2 }).value).toBe(0.5);
    expect(() => contextRecall(retrieved('d1'), rag, { k: 0 })).toThrow(ValidationError);
  });

  it('recalls the share of the reference context ids retrieved', () => {
    expect(contextRecall(retrieved('d3', 'd2', 'd1'), rag)).toEqual({
      metric: 'context_recall',
      value: 1,
      details: { k: 3, missed: [] },
    });
    expect(contextRecall(retrieved('d1', 'd1'), rag)).toEqual({
      metric: 'context_recall',
      value: 0.5,
      details: { k: 2, missed: ['d3'] },
    });
  });

  it('cannot be computed without reference context ids, retrieved contexts, or their ids', () => {
    expect(contextPrecision(retrieved('d1'), item()).error).toBe('the item has no reference_context_ids');
    expect(contextRecall({ itemId: 'i', answer: 'x' }, rag).error).toBe(
      'the answer carries no retrieved contexts',
    );
    expect(contextPrecision(retrieved('d1', undefined), rag).error).toBe(
      'retrieved context 2 has no id: relevance is judged by id',
    );
  });
});

describe('the metric tables', () => {
  it('name every metric as its scores do', () => {
    for (const [name, metric] of Object.entries(REFERENCE_METRICS))
      expect(metric('x', item()).metric).toBe(name);
    const answer: EvalAnswer = { itemId: 'i', answer: 'x' };
    for (const [name, metric] of Object.entries(RETRIEVAL_METRICS))
      expect(metric(answer, item()).metric).toBe(name);
  });

  it('score an OpenAI Evals sample end to end', () => {
    const { items } = parseSuite(
      JSON.stringify({
        input: [{ role: 'user', content: 'Who wrote Hamlet?' }],
        ideal: ['Shakespeare', 'William Shakespeare'],
      }),
      { name: 'evals' },
    );
    const [sample] = items;
    if (sample === undefined) throw new Error('the sample did not parse');
    // "Shakespeare." -> [shakespeare] vs [shakespeare]: F1 1, exact match 1
    expect(exactMatch('Shakespeare.', sample).value).toBe(1);
    // "It was William Shakespeare" -> [it, was, william, shakespeare] vs [william, shakespeare]:
    // P = 2/4, R = 1 -> F1 = 2/3 (vs [shakespeare]: P = 1/4, R = 1 -> 0.4)
    expect(f1('It was William Shakespeare', sample).value).toBeCloseTo(2 / 3, 15);
  });
});
