import { describe, expect, it } from 'vitest';
import { SUITE_LINE_LIMITS } from '#contracts/evaluation/suite.ts';
import { ValidationError } from '#core/errors.ts';
import {
  deriveItemId,
  hasReferences,
  normalizeTag,
  parseSuite,
  parseSuiteItem,
  SUITE_LIMITS,
  UNANSWERABLE_TAG,
} from '#core/eval/suite.ts';

const jsonl = (...lines: unknown[]) =>
  lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n');
const parse = (text: string) => parseSuite(text, { name: 'qa', version: 'v1' });

/** The reason a single line is quarantined for. */
function reasonFor(line: unknown): string {
  const result = parseSuiteItem(line);
  if (!('reason' in result)) throw new Error(`expected a quarantine, got item ${result.item.id}`);
  return result.reason;
}

describe('parseSuite, the project format', () => {
  it('turns a plain string input into one user turn and a single reference into a list', () => {
    const { items, quarantined } = parse(
      jsonl({ id: 'q1', input: 'Capital of France?', reference: 'Paris' }),
    );
    expect(quarantined).toEqual([]);
    expect(items).toEqual([
      {
        id: 'q1',
        messages: [{ role: 'user', content: 'Capital of France?' }],
        references: ['Paris'],
        unanswerable: false,
        tags: [],
      },
    ]);
    const [item] = items;
    expect(item !== undefined && hasReferences(item)).toBe(true);
  });

  it('keeps a conversation, contexts, reference context ids, metadata and counterfactuals', () => {
    const line = {
      id: 'rag-1',
      messages: [
        { role: 'system', content: 'Answer from the context.' },
        { role: 'user', content: 'How long is the warranty?' },
      ],
      references: ['Two years', '24 months'],
      contexts: ['The warranty lasts two years.'],
      reference_context_ids: ['doc-1#0'],
      metadata: { contains: 'two years' },
      counterfactuals: [
        { group: 'a', input: 'How long is his warranty?' },
        { group: 'b', messages: [{ role: 'user', content: 'How long is her warranty?' }] },
      ],
    };
    const [item] = parse(jsonl(line)).items;
    expect(item).toEqual({
      id: 'rag-1',
      messages: line.messages,
      references: ['Two years', '24 months'],
      contexts: ['The warranty lasts two years.'],
      referenceContextIds: ['doc-1#0'],
      tags: [],
      unanswerable: false,
      counterfactuals: [
        { group: 'a', messages: [{ role: 'user', content: 'How long is his warranty?' }] },
        { group: 'b', messages: [{ role: 'user', content: 'How long is her warranty?' }] },
      ],
      metadata: { contains: 'two years' },
    });
  });

  it('tells the three reference states apart: answerable, must decline, unknown', () => {
    const { items } = parse(
      jsonl(
        { id: 'answerable', input: 'q', references: ['a'] },
        { id: 'empty-list', input: 'q', references: [] },
        { id: 'tagged', input: 'q', tags: ['Unanswerable'] },
        { id: 'unknown', input: 'q' },
      ),
    );
    const state = (id: string) => {
      const item = items.find((i) => i.id === id);
      return { references: item?.references, unanswerable: item?.unanswerable, tags: item?.tags };
    };
    expect(state('answerable')).toEqual({ references: ['a'], unanswerable: false, tags: [] });
    // An explicitly empty list means "must be declined", and the tag is added for the reports.
    expect(state('empty-list')).toEqual({ references: [], unanswerable: true, tags: [UNANSWERABLE_TAG] });
    expect(state('tagged')).toEqual({ references: [], unanswerable: true, tags: [UNANSWERABLE_TAG] });
    // No reference at all: reference-free metrics only; not to be declined.
    expect(state('unknown')).toEqual({ references: [], unanswerable: false, tags: [] });
  });

  it('quarantines an item tagged unanswerable that still gives references', () => {
    expect(reasonFor({ input: 'q', reference: 'a', tags: ['unanswerable'] })).toBe(
      'reference: an item tagged unanswerable cannot have references',
    );
  });

  it('normalizes tags: NFKC, trimmed, lowercased, whitespace to "-", deduplicated and sorted', () => {
    expect(normalizeTag('  Multi   Hop ')).toBe('multi-hop');
    expect(normalizeTag('ＦＡＱ')).toBe('faq'); // fullwidth letters fold under NFKC
    const [item] = parse(
      jsonl({ id: 'x', input: 'q', tags: ['Zeta', 'alpha', ' ALPHA ', 'multi hop'] }),
    ).items;
    expect(item?.tags).toEqual(['alpha', 'multi-hop', 'zeta']);
  });

  it('quarantines tags that are blank or carry control characters once normalized', () => {
    expect(reasonFor({ input: 'q', tags: ['ok', '   '] })).toBe('tags.1: must not be blank');
    expect(reasonFor({ input: 'q', tags: ['a\u0000b'] })).toBe(
      'tags.0: must not contain control or format characters',
    );
  });
});

describe('parseSuite, OpenAI Evals samples', () => {
  it('accepts a sample as it is: input as turns, ideal as a string', () => {
    const sample = {
      input: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'What is 2+2?' },
      ],
      ideal: '4',
    };
    const [item] = parse(jsonl(sample)).items;
    expect(item?.messages).toEqual(sample.input);
    expect(item?.references).toEqual(['4']);
    expect(item?.unanswerable).toBe(false);
  });

  it('takes a list ideal as several references, and keeps few-shot names out of the turns', () => {
    const sample = {
      input: [
        { role: 'system', content: 'Q: 1+1?', name: 'example_user' },
        { role: 'system', content: '2', name: 'example_assistant' },
        { role: 'user', content: 'Q: 2+3?' },
      ],
      ideal: ['5', 'five'],
    };
    const [item] = parse(jsonl(sample)).items;
    expect(item?.references).toEqual(['5', 'five']);
    expect(item?.messages[0]).toEqual({ role: 'system', content: 'Q: 1+1?' });
  });

  it("keeps a sample's other fields as metadata, and the shared fields with their meaning", () => {
    const [item] = parse(
      jsonl({ input: 'q', ideal: 'a', id: 'e-1', tags: ['Math'], difficulty: 'hard' }),
    ).items;
    expect(item).toMatchObject({ id: 'e-1', tags: ['math'], metadata: { difficulty: 'hard' } });
  });

  it('treats an empty ideal list as an item to decline', () => {
    const [item] = parse(jsonl({ input: 'Who won the 2040 World Cup?', ideal: [] })).items;
    expect(item).toMatchObject({ references: [], unanswerable: true, tags: ['unanswerable'] });
  });

  it('refuses ideal beside the project’s reference fields, and a top-level field that metadata repeats', () => {
    expect(reasonFor({ input: 'q', ideal: 'a', reference: 'b' })).toBe(
      'reference: cannot be combined with ideal (an OpenAI Evals sample gives its references as ideal)',
    );
    expect(reasonFor({ input: 'q', ideal: 'a', level: 1, metadata: { level: 2 } })).toBe(
      'metadata.level: also given as a top-level field',
    );
  });
});

describe('parseSuite, quarantine', () => {
  it('quarantines each bad line with its line number and the field it broke, and keeps the good ones', () => {
    const text = jsonl(
      { id: 'ok-1', input: 'q', reference: 'a' },
      '{not json',
      '[1, 2]',
      { id: 'bad-role', messages: [{ role: 'robot', content: 'hi' }] },
      '',
      { id: 'typo', input: 'q', refrence: 'a' },
      { id: 'both', input: 'q', messages: [{ role: 'user', content: 'q' }] },
      { id: 'none', reference: 'a' },
      { id: 'bad input', input: 'q' },
      { id: 'bad-type', input: 42 },
      { id: 'both-refs', input: 'q', reference: 'a', references: ['b'] },
      { id: 'empty', input: '' },
    );
    const { items, quarantined } = parse(text);
    expect(items.map((item) => item.id)).toEqual(['ok-1']);
    expect(quarantined[0]).toMatchObject({ line: 2 });
    expect(quarantined[0]?.reason).toMatch(/^line: not valid JSON \(/);
    expect(quarantined.slice(1)).toEqual([
      { line: 3, reason: 'line: must be a JSON object' },
      { line: 4, reason: 'messages.0.role: must be one of system, user, assistant' },
      // line 5 is blank: skipped, not an item
      { line: 6, reason: 'refrence: unknown field' },
      { line: 7, reason: 'messages: cannot be combined with input' },
      { line: 8, reason: 'input: is required (or messages)' },
      { line: 9, reason: 'id: must be 1-128 letters, digits, "_", ".", ":", "/" or "-"' },
      { line: 10, reason: 'input: must be string or array' },
      { line: 11, reason: 'references: cannot be combined with reference' },
      { line: 12, reason: 'input: must have at least 1 characters' },
    ]);
  });

  it('names the limit a line breaks: its size, its number of turns', () => {
    const turns = Array.from({ length: SUITE_LINE_LIMITS.maxMessages + 1 }, () => ({
      role: 'user',
      content: 'x',
    }));
    const big = { id: 'big', input: 'x'.repeat(200) };
    const { quarantined } = parseSuite(jsonl({ id: 'long', messages: turns }, big), {
      name: 'qa',
      limits: { maxLineBytes: 150 },
    });
    expect(quarantined).toEqual([
      { line: 1, reason: expect.stringMatching(/^line: must be at most 150 bytes \(it has \d+\)$/) },
      { line: 2, reason: expect.stringMatching(/^line: must be at most 150 bytes/) },
    ]);
    expect(parseSuite(jsonl({ id: 'long', messages: turns }), { name: 'qa' }).quarantined).toEqual([
      { line: 1, reason: `messages: must have at most ${SUITE_LINE_LIMITS.maxMessages} items` },
    ]);
  });

  it('refuses a whole suite over the item limit, naming the line that went over', () => {
    const text = jsonl({ input: 'a' }, { input: 'b' }, '', { input: 'c' });
    expect(() => parseSuite(text, { name: 'qa', limits: { maxItems: 2 } })).toThrow(
      new ValidationError('suite', 'must have at most 2 items (line 4 is item 3)'),
    );
    expect(SUITE_LIMITS.maxItems).toBeGreaterThan(10_000);
  });

  it('quarantines a duplicate id, and a second line with the same content and no id', () => {
    const { items, quarantined } = parse(
      jsonl(
        { id: 'q1', input: 'a' },
        { id: 'q1', input: 'b' },
        { input: 'same', reference: 'x', tags: ['one'] },
        { input: 'same', reference: 'x', tags: ['two'] }, // tags are labels, not content
      ),
    );
    expect(items).toHaveLength(2);
    expect(quarantined).toEqual([
      { line: 2, reason: 'id: duplicate of line 1 (q1)' },
      { line: 4, reason: `id: same content as line 3 (derived id ${items[1]?.id})` },
    ]);
  });

  it('quarantines counterfactuals without a conversation or with a repeated group', () => {
    expect(reasonFor({ input: 'q', counterfactuals: [{ group: 'a' }] })).toBe(
      'counterfactuals.0.input: is required (or counterfactuals.0.messages)',
    );
    expect(
      reasonFor({
        input: 'q',
        counterfactuals: [
          { group: 'a', input: 'x' },
          { group: 'a', input: 'y' },
        ],
      }),
    ).toBe('counterfactuals.1.group: duplicate of counterfactuals.0.group');
  });

  it('skips a byte order mark, carriage returns and blank lines', () => {
    const { items, quarantined } = parse(`\uFEFF${JSON.stringify({ id: 'a', input: 'q' })}\r\n\r\n   \n`);
    expect(items.map((item) => item.id)).toEqual(['a']);
    expect(quarantined).toEqual([]);
  });
});

describe('ids and the summary', () => {
  it('derives an id from the content, the same on every parse and different for different content', () => {
    const line = { input: 'What is RAG?', reference: 'Retrieval-augmented generation' };
    const first = parse(jsonl(line)).items[0];
    const again = parse(jsonl(line)).items[0];
    const other = parse(jsonl({ ...line, reference: 'Something else' })).items[0];
    expect(first?.id).toMatch(/^item-[0-9a-f]{16}$/);
    expect(again?.id).toBe(first?.id);
    expect(other?.id).not.toBe(first?.id);
    expect(first?.id).toBe(
      deriveItemId({
        messages: [{ role: 'user', content: 'What is RAG?' }],
        references: ['Retrieval-augmented generation'],
        unanswerable: false,
      }),
    );
  });

  it('summarizes the suite: name, version, item count and items per tag', () => {
    const { summary } = parse(
      jsonl(
        { input: 'a', tags: ['math', 'easy'] },
        { input: 'b', tags: ['math'] },
        { input: 'c', references: [] },
        '{broken',
      ),
    );
    expect(summary).toEqual({
      name: 'qa',
      version: 'v1',
      items: 3,
      tags: { easy: 1, math: 2, unanswerable: 1 },
    });
  });

  it('derives the version from the items when none is given, stable across parses', () => {
    const text = jsonl({ input: 'a' }, { input: 'b' });
    const version = parseSuite(text, { name: 'qa' }).summary.version;
    expect(version).toMatch(/^sha256-[0-9a-f]{16}$/);
    expect(parseSuite(text, { name: 'qa' }).summary.version).toBe(version);
    expect(parseSuite(jsonl({ input: 'a' }), { name: 'qa' }).summary.version).not.toBe(version);
  });

  it('refuses a bad suite name or version, naming the option', () => {
    expect(() => parseSuite('', { name: 'Bad Name' })).toThrow(ValidationError);
    expect(() => parseSuite('', { name: 'Bad Name' })).toThrow(/^name: must match/);
    expect(() => parseSuite('', { name: 'ok', version: '../x' })).toThrow(/^version: /);
    expect(() => parseSuite('', { name: 'ok', limits: { maxItems: 0 } })).toThrow(
      'limits.maxItems: must be a positive whole number',
    );
  });
});
