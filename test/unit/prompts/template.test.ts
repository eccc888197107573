import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PromptDraft, VariableSpec } from '#contracts/prompts/types.ts';
import { PromptRenderError, ValidationError } from '#core/errors.ts';
import { canonicalJson, contentHash } from '#core/prompts/hash.ts';
import { placeholders, type RenderablePrompt, renderPrompt, validateDraft } from '#core/prompts/template.ts';
import { cpuMs } from '../../support/cpu-time.ts';

const draft = (overrides: Partial<PromptDraft> = {}): PromptDraft => ({
  messages: [
    { role: 'system', content: 'You help {{ customer }} with orders.' },
    { role: 'user', content: 'Order {{order}} of {{ count }} items, gift: {{gift}}. Notes: {{ notes }}' },
  ],
  variables: {
    customer: { type: 'string' },
    order: { type: 'json' },
    count: { type: 'number' },
    gift: { type: 'boolean' },
    notes: { type: 'string', required: false },
  },
  commitMessage: 'first',
  ...overrides,
});

const version = (d: PromptDraft, n = 3): RenderablePrompt => ({
  name: 'support',
  version: n,
  messages: d.messages,
  variables: d.variables,
  contentHash: contentHash(d),
});

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('placeholders', () => {
  it('finds names with or without inner whitespace, once each, in order', () => {
    expect(placeholders('{{a}} {{ b }} {{\n c\t}} {{a}}')).toEqual(['a', 'b', 'c']);
  });

  it('leaves anything that is not {{ name }} as literal text', () => {
    expect(placeholders('{{}} {{ two words }} {"a":{"b":1}} {{ 1x }} {{-y}}')).toEqual([]);
    expect(placeholders('\\{{ escaped }}')).toEqual(['escaped']);
    expect(placeholders('{{{ x }}}')).toEqual(['x']);
  });
});

describe('validateDraft', () => {
  it('accepts a draft whose placeholders are all declared (unused variables allowed)', () => {
    expect(() =>
      validateDraft(draft({ variables: { ...draft().variables, spare: { type: 'string' } } })),
    ).not.toThrow();
  });

  it('names the message and the variable of an undeclared placeholder', () => {
    const error = thrown(() =>
      validateDraft(draft({ messages: [{ role: 'user', content: 'Hi {{ customer }} {{ who }}' }] })),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({
      field: 'messages.0.content',
      rule: 'uses {{ who }}, which is not declared in variables',
    });
  });

  it('refuses a second system message and a system message that is not first', () => {
    expect(
      thrown(() =>
        validateDraft(
          draft({
            messages: [
              { role: 'system', content: 'a' },
              { role: 'system', content: 'b' },
            ],
          }),
        ),
      ),
    ).toMatchObject({ field: 'messages.1.role' });
    expect(
      thrown(() =>
        validateDraft(
          draft({
            messages: [
              { role: 'user', content: 'a' },
              { role: 'system', content: 'b' },
            ],
          }),
        ),
      ),
    ).toMatchObject({ name: 'ValidationError', field: 'messages.1.role' });
  });

  it('checks the schema too, naming the field', () => {
    expect(thrown(() => validateDraft(draft({ messages: [] })))).toMatchObject({
      field: 'messages',
      rule: 'must have at least 1 items',
    });
    expect(
      thrown(() => validateDraft(draft({ variables: { 'bad-name': { type: 'string' } } }))),
    ).toMatchObject({ field: 'variables.bad-name' });
    expect(thrown(() => validateDraft({ ...draft(), commitMessage: '' }))).toMatchObject({
      field: 'commitMessage',
    });
  });
});

describe('renderPrompt', () => {
  const values = { customer: 'Ada', order: { id: 7, sku: ['a', 'b'] }, count: 2, gift: false };

  it('renders the system message apart and types each value into text', () => {
    expect(renderPrompt(version(draft()), values)).toEqual({
      system: 'You help Ada with orders.',
      messages: [
        { role: 'user', content: 'Order {"id":7,"sku":["a","b"]} of 2 items, gift: false. Notes: ' },
      ],
    });
  });

  it('renders an optional variable that is given', () => {
    expect(renderPrompt(version(draft()), { ...values, notes: 'fragile' }).messages[0]?.content).toMatch(
      /Notes: fragile$/,
    );
  });

  it('has no system field when the prompt has no system message', () => {
    const d = draft({
      messages: [
        { role: 'user', content: 'Q: {{ q }}' },
        { role: 'assistant', content: 'A:' },
      ],
      variables: { q: { type: 'string' } },
    });
    const rendered = renderPrompt(version(d), { q: 'why?' });
    expect(rendered).toEqual({
      messages: [
        { role: 'user', content: 'Q: why?' },
        { role: 'assistant', content: 'A:' },
      ],
    });
    expect('system' in rendered).toBe(false);
  });

  it('refuses a missing required variable', () => {
    const { customer: _, ...rest } = values;
    const error = thrown(() => renderPrompt(version(draft()), rest));
    expect(error).toBeInstanceOf(PromptRenderError);
    expect(error).toMatchObject({ field: 'variables.customer', rule: 'is required' });
  });

  it.each([
    ['count', 'two', 'must be a number'],
    ['count', Number.NaN, 'must be a number'],
    ['customer', 42, 'must be a string'],
    ['customer', null, 'must be a string'],
    ['gift', 'yes', 'must be a boolean'],
    ['order', 10n, 'must be JSON-serializable'],
    ['order', () => 1, 'must be JSON-serializable'],
  ])('refuses %s = %s: %s', (name, value, rule) => {
    const error = thrown(() => renderPrompt(version(draft()), { ...values, [name]: value }));
    expect(error).toBeInstanceOf(PromptRenderError);
    expect(error).toMatchObject({ field: `variables.${name}`, rule });
  });

  it('says what type it got in the message', () => {
    expect(thrown(() => renderPrompt(version(draft()), { ...values, count: '2' }))).toMatchObject({
      message: 'variables.count: must be a number (got string)',
    });
  });

  it('refuses an undeclared variable, naming the prompt and version', () => {
    const error = thrown(() => renderPrompt(version(draft(), 4), { ...values, extra: 1 }));
    expect(error).toBeInstanceOf(PromptRenderError);
    expect(error).toMatchObject({
      field: 'variables.extra',
      rule: 'is not declared by prompt support version 4',
    });
  });

  it('does not mistake inherited properties for values or declarations', () => {
    const d = draft({
      messages: [{ role: 'user', content: '{{ constructor }}|{{ toString }}' }],
      variables: Object.fromEntries<VariableSpec>([
        ['constructor', { type: 'string', required: false }],
        ['toString', { type: 'string' }],
      ]),
    });
    expect(() => renderPrompt(version(d), {})).toThrow(/variables.toString: is required/);
    expect(renderPrompt(version(d), { toString: 'x' }).messages[0]?.content).toBe('|x');
  });

  it('inserts values verbatim and never scans them again', () => {
    const d = draft({
      messages: [{ role: 'user', content: '{{ a }}-{{ b }}' }],
      variables: { a: { type: 'string' }, b: { type: 'string' } },
    });
    expect(renderPrompt(version(d), { a: '{{ b }}', b: '$& $1' }).messages[0]?.content).toBe('{{ b }}-$& $1');
  });

  it('keeps a JSON string value quoted and renders JSON null', () => {
    const d = draft({
      messages: [{ role: 'user', content: '{{ j }}' }],
      variables: { j: { type: 'json' } },
    });
    expect(renderPrompt(version(d), { j: 'hi' }).messages[0]?.content).toBe('"hi"');
    expect(renderPrompt(version(d), { j: null }).messages[0]?.content).toBe('null');
  });

  it('renders the right content when two hand-built versions share a hash', () => {
    const a = draft({
      messages: [{ role: 'user', content: 'A {{ x }}' }],
      variables: { x: { type: 'string' } },
    });
    const b = draft({
      messages: [{ role: 'user', content: 'B {{ x }}' }],
      variables: { x: { type: 'string' } },
    });
    const same = 'same-hash';
    expect(renderPrompt({ ...version(a), contentHash: same }, { x: '1' }).messages[0]?.content).toBe('A 1');
    expect(renderPrompt({ ...version(b), contentHash: same }, { x: '1' }).messages[0]?.content).toBe('B 1');
  });

  it('never leaves a placeholder of a declared variable (property)', () => {
    const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);
    const text = fc.string({ maxLength: 20 }).filter((s) => !s.includes('{') && !s.includes('}'));
    fc.assert(
      fc.property(
        fc.uniqueArray(name, { minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(text, fc.nat(), fc.constantFrom('', ' ', '  ', '\n')), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.array(text, { minLength: 5, maxLength: 5 }),
        (names, pieces, vals) => {
          const content = pieces
            .map(([literal, i, space]) => `${literal}{{${space}${names[i % names.length]}${space}}}`)
            .join('');
          const variables: Record<string, VariableSpec> = Object.fromEntries(
            names.map((n) => [n, { type: 'string' as const }]),
          );
          const d = draft({ messages: [{ role: 'user', content }], variables });
          validateDraft(d);
          const given = Object.fromEntries(names.map((n, i) => [n, vals[i] ?? '']));
          const out = renderPrompt(version(d), given).messages[0]?.content ?? '';
          expect(placeholders(out)).toEqual([]);
          expect(out).not.toContain('{{');
          // Removing the values again gives back the literals.
          const literals = pieces.map(([literal]) => literal).join('');
          expect(out.length).toBe(
            literals.length +
              pieces.reduce(
                (sum, [, i]) => sum + (given[names[i % names.length] as string] as string).length,
                0,
              ),
          );
        },
      ),
    );
  });

  it('renders a large template quickly once compiled', () => {
    const content = Array.from({ length: 200 }, (_, i) => `line ${i}: {{ v${i % 20} }}`).join('\n');
    const variables = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [`v${i}`, { type: 'string' as const }]),
    );
    const v = version(draft({ messages: [{ role: 'user', content }], variables }));
    const given = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`v${i}`, `value ${i}`]));
    renderPrompt(v, given);
    const cpu = cpuMs(() => {
      for (let i = 0; i < 2000; i++) renderPrompt(v, given);
    });
    expect(cpu / 2000).toBeLessThan(0.5);
  });
});

describe('contentHash', () => {
  it('ignores key order and the commit message, and sees every content change', () => {
    const d = draft();
    const reordered: PromptDraft = {
      commitMessage: 'another message',
      variables: Object.fromEntries(Object.entries(d.variables).reverse()),
      messages: d.messages.map((m) => ({ content: m.content, role: m.role })),
    };
    expect(contentHash(reordered)).toBe(contentHash(d));
    expect(contentHash(d)).toMatch(/^[0-9a-f]{64}$/);
    expect(contentHash({ ...d, model: { temperature: 0.2 } })).not.toBe(contentHash(d));
    expect(contentHash({ ...d, variables: {} })).not.toBe(contentHash(d));
  });

  it('canonicalJson sorts keys at every level and drops undefined fields', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });
});
