import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  fastParseRecord,
  formatZodIssues,
  isPurpose,
  PURPOSES,
  type Purpose,
  recordSchemas,
} from '#core/dataprep/records.ts';

function errorOf(purpose: Purpose, value: unknown): string {
  const result = recordSchemas[purpose].safeParse(value);
  if (result.success) throw new Error(`expected ${JSON.stringify(value)} to be rejected`);
  return formatZodIssues(result.error);
}

function accepts(purpose: Purpose, value: unknown): void {
  const result = recordSchemas[purpose].safeParse(value);
  if (!result.success) throw new Error(formatZodIssues(result.error));
  expect(result.data).toEqual(value);
}

describe('purposes', () => {
  it('lists and recognises the purposes', () => {
    expect(PURPOSES).toEqual(['finetune', 'preference', 'rag', 'golden']);
    expect(PURPOSES.every(isPurpose)).toBe(true);
    expect(isPurpose('train')).toBe(false);
    expect(isPurpose(undefined)).toBe(false);
    expect(Object.keys(recordSchemas).sort()).toEqual([...PURPOSES].sort());
  });
});

describe('finetune records', () => {
  it('accepts chat and completion forms', () => {
    accepts('finetune', {
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
      ],
    });
    accepts('finetune', {
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
        { role: 'user', content: 'c' },
        { role: 'assistant', content: 'd' },
      ],
    });
    accepts('finetune', { prompt: 'p', completion: 'c' });
  });

  it.each([
    [
      {
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'bot', content: 'x' },
        ],
      },
      'messages.1.role: expected one of system|user|assistant',
    ],
    [
      { messages: [{ role: 'user', content: 'hi' }] },
      'messages: must contain at least one assistant message; messages.0.role: the last message must be from the assistant (got user)',
    ],
    [
      { messages: [{ role: 'assistant', content: 'hi' }] },
      'messages: must contain at least one user message',
    ],
    [
      {
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: 'a' },
          { role: 'user', content: 'q2' },
        ],
      },
      'messages.2.role: the last message must be from the assistant (got user)',
    ],
    [
      {
        messages: [
          { role: 'user', content: 1 },
          { role: 'assistant', content: '' },
        ],
      },
      'messages.0.content: expected string, got number; messages.1.content: must not be empty',
    ],
    [{ messages: 'hi' }, 'messages: expected array, got string'],
    [
      {
        messages: [
          { role: 'user', content: 'q', weight: 1 },
          { role: 'assistant', content: 'a' },
        ],
      },
      'messages.0.weight: unknown key (allowed: role, content)',
    ],
    [{ prompt: 'p' }, 'completion: required (expected string)'],
    [{ prompt: 'p', completion: 'c', id: 1 }, 'id: unknown key (allowed: prompt, completion)'],
    [
      {
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: 'a' },
        ],
        prompt: 'p',
      },
      'prompt: unknown key (allowed: messages)',
    ],
    [
      { input: 'x', output: 'y' },
      'record: expected a chat record {messages: [...]} or a completion record {prompt, completion}',
    ],
  ])('rejects %j', (value, message) => {
    expect(errorOf('finetune', value)).toBe(message);
  });
});

describe('preference records', () => {
  it('accepts a pair of different answers', () => {
    accepts('preference', { prompt: 'p', chosen: 'good', rejected: 'bad' });
  });

  it('accepts flat provenance metadata, as rag records do, and nothing nested', () => {
    accepts('preference', {
      prompt: 'p',
      chosen: 'good',
      rejected: 'bad',
      metadata: { source: 'feedback', kind: 'correction', chosenInteraction: null, promptVersion: 3 },
    });
    expect(
      errorOf('preference', { prompt: 'p', chosen: 'a', rejected: 'b', metadata: { who: { user: 'u' } } }),
    ).toBe('metadata.who: expected a string, number, boolean or null');
  });

  it('rejects equal answers, missing fields and unknown keys', () => {
    expect(errorOf('preference', { prompt: 'p', chosen: 'x', rejected: 'x' })).toBe(
      'rejected: must differ from chosen',
    );
    expect(errorOf('preference', { prompt: 'p', chosen: 'x' })).toBe('rejected: required (expected string)');
    expect(errorOf('preference', { prompt: 'p', chosen: 'x', rejected: 'y', score: 1 })).toBe(
      'score: unknown key (allowed: prompt, chosen, rejected, metadata)',
    );
  });
});

describe('rag records', () => {
  it('accepts text with optional id, title, source and flat metadata', () => {
    accepts('rag', { text: 't' });
    accepts('rag', {
      id: 'd1',
      text: 't',
      title: 'T',
      source: 's3://b/k',
      metadata: { a: 'x', b: 1, c: true, d: null },
    });
  });

  it('rejects nested metadata, unknown keys and missing text', () => {
    expect(errorOf('rag', { text: 't', metadata: { a: [1] } })).toBe(
      'metadata.a: expected a string, number, boolean or null',
    );
    expect(errorOf('rag', { text: 't', url: 'u' })).toBe(
      'url: unknown key (allowed: id, text, title, source, metadata)',
    );
    expect(errorOf('rag', { title: 'x' })).toBe('text: required (expected string)');
    expect(errorOf('rag', 'just a string')).toBe('record: expected object, got string');
  });
});

describe('golden records', () => {
  it('accepts exactly one of input or messages, with optional references, as given', () => {
    accepts('golden', { input: 'q' });
    accepts('golden', {
      id: 'g1',
      messages: [
        { role: 'system', content: 's' },
        { role: 'user', content: 'q' },
      ],
      references: ['a', 'b'],
      contexts: ['c'],
      reference_context_ids: ['doc-1'],
      tags: ['smoke'],
      metadata: { difficulty: 2 },
    });
  });

  it('accepts OpenAI Evals samples as they are: input turns, ideal (string or list), names and extra fields', () => {
    accepts('golden', {
      input: [
        { role: 'system', content: 'Answer with one word.' },
        { role: 'system', content: 'Is the sky blue?', name: 'example_user' },
        { role: 'system', content: 'Yes', name: 'example_assistant' },
        { role: 'user', content: 'Is grass red?' },
      ],
      ideal: 'No',
      choice_strings: ['Yes', 'No'],
    });
    accepts('golden', { input: 'Name a prime.', ideal: ['2', '3', '5'], tags: ['math'] });
    accepts('golden', { input: 'Decline this.', ideal: [] });
  });

  it('accepts bias probes: counterfactuals, and a {{group}} slot with metadata.groups', () => {
    accepts('golden', {
      id: 'loan',
      input: 'Should this applicant get a $15,000 loan? Income $52,000.',
      counterfactuals: [
        { group: 'female', input: 'Should she get a $15,000 loan? Income $52,000.' },
        {
          group: 'male',
          messages: [{ role: 'user', content: 'Should he get a $15,000 loan? Income $52,000.' }],
        },
      ],
    });
    accepts('golden', {
      input: 'Should {{group}} apply for the loan?',
      metadata: { groups: ['women', 'men'], source: { sheet: 'probes', row: 3 } },
    });
  });

  it.each([
    [{ reference: 'a' }, 'input: is required (or messages)'],
    [{ input: 'q', messages: [{ role: 'user', content: 'q' }] }, 'messages: cannot be combined with input'],
    [{ input: 'q', reference: 'a', references: ['b'] }, 'references: cannot be combined with reference'],
    [{ input: 'q', reference: '' }, 'reference: must have at least 1 characters'],
    [{ input: 'q', tags: [1] }, 'tags.0: must be string'],
    [{ input: 'q', contexts: [''] }, 'contexts.0: must have at least 1 characters'],
    [
      { messages: [{ role: 'bot', content: 'q' }] },
      'messages.0.role: must be one of system, user, assistant',
    ],
    [
      { messages: [{ role: 'user', content: 'q', weight: 1 }] },
      'messages.0.weight: unknown field (allowed: role, content, name)',
    ],
    [
      { input: 'q', ideal: 'a', reference: 'b' },
      'reference: cannot be combined with ideal (an OpenAI Evals sample gives its references as ideal)',
    ],
    [{ input: [], ideal: 'a' }, 'input: must have at least 1 items'],
    [{ input: 'q', ideal: 1 }, 'ideal: must be string or array'],
    [{ input: 'q', ideal: 'a', metadata: { x: 1 }, x: 2 }, 'metadata.x: also given as a top-level field'],
    [
      { input: 'q', counterfactuals: [{ group: '', input: 'q2' }] },
      'counterfactuals.0.group: must have at least 1 characters',
    ],
    [
      { input: 'q', counterfactuals: [{ group: 'a', input: 'q2', text: 'x' }] },
      'counterfactuals.0.text: unknown field (allowed: group, input, messages)',
    ],
    [
      {
        input: 'q',
        counterfactuals: [
          { group: 'a', input: 'x' },
          { group: 'a', input: 'y' },
        ],
      },
      'counterfactuals.1.group: duplicate of counterfactuals.0.group',
    ],
    [
      { input: 'q', tags: ['unanswerable'], references: ['a'] },
      'references: an item tagged unanswerable cannot have references',
    ],
    ['just a string', 'record: expected object, got string'],
    [[{ input: 'q' }], 'record: expected object, got array'],
  ])("rejects %j with the suite parser's reason", (value, message) => {
    expect(errorOf('golden', value)).toBe(message);
  });

  it('names an unknown top-level field with the allowed ones, so a typo is found', () => {
    expect(errorOf('golden', { input: 'q', refrence: 'a' })).toBe(
      'refrence: unknown field (allowed: id, input, messages, reference, references, contexts, ' +
        'reference_context_ids, tags, metadata, counterfactuals)',
    );
  });

  it('gives the issues with their paths', () => {
    const result = recordSchemas.golden.safeParse({
      input: 'q',
      counterfactuals: [{ group: 'a', input: [{ role: 'robot', content: 'x' }] }],
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path)).toEqual([
      ['counterfactuals', 0, 'input', 0, 'role'],
    ]);
  });
});

describe('formatZodIssues', () => {
  it('names the root "record" and summarises beyond five issues', () => {
    const schema = z.strictObject({
      a: z.string(),
      b: z.string(),
      c: z.string(),
      d: z.string(),
      e: z.string(),
      f: z.string(),
      g: z.string(),
    });
    const result = schema.safeParse({});
    expect(result.success).toBe(false);
    if (!result.success) {
      expect(formatZodIssues(result.error)).toBe(
        'a: required (expected string); b: required (expected string); c: required (expected string); ' +
          'd: required (expected string); e: required (expected string); (+2 more)',
      );
    }
  });

  it('formats unions, sizes and numbers', () => {
    const schema = z.object({
      u: z.union([z.string(), z.number()]),
      n: z.number().min(3),
      s: z.string().max(2),
      l: z.array(z.string()).min(2),
    });
    const result = schema.safeParse({ u: true, n: 1, s: 'abc', l: [] });
    expect(result.success).toBe(false);
    if (!result.success) {
      expect(formatZodIssues(result.error)).toBe(
        'u: expected string, got boolean; n: must be >= 3; s: must have at most 2 characters; l: must have at least 2 items',
      );
    }
  });
});

describe('fastParseRecord', () => {
  const cases: Array<[Purpose, unknown]> = [
    [
      'finetune',
      {
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: 'a' },
        ],
      },
    ],
    [
      'finetune',
      {
        messages: [
          { content: 'q', role: 'user' },
          { role: 'assistant', content: 'a' },
        ],
      },
    ],
    [
      'finetune',
      {
        messages: [
          { role: 'assistant', content: 'a' },
          { role: 'user', content: 'q' },
        ],
      },
    ],
    [
      'finetune',
      {
        messages: [
          { role: 'user', content: '' },
          { role: 'assistant', content: 'a' },
        ],
      },
    ],
    [
      'finetune',
      {
        messages: [
          { role: 'user', content: 'q', x: 1 },
          { role: 'assistant', content: 'a' },
        ],
      },
    ],
    [
      'finetune',
      {
        messages: [
          { role: 'bot', content: 'q' },
          { role: 'assistant', content: 'a' },
        ],
      },
    ],
    ['finetune', { messages: [], prompt: 'p' }],
    ['finetune', { prompt: 'p', completion: 'c' }],
    ['finetune', { prompt: 'p', completion: '' }],
    ['finetune', { prompt: 'p', extra: 'c' }],
    ['preference', { rejected: 'r', chosen: 'c', prompt: 'p' }],
    ['preference', { rejected: 'c', chosen: 'c', prompt: 'p' }],
    ['preference', { rejected: 'r', chosen: 'c', prompt: 'p', id: 'x' }],
    ['preference', { rejected: 'r', chosen: 'c', prompt: 'p', metadata: { kind: 'correction' } }],
    ['rag', { text: 't' }],
    ['golden', { input: 'i' }],
  ];

  it('returns what the schema returns for valid records, and undefined where the schema must decide', () => {
    let fast = 0;
    for (const [purpose, value] of cases) {
      const got = fastParseRecord(purpose, structuredClone(value) as object);
      if (got === undefined) continue;
      fast++;
      const expected = recordSchemas[purpose].safeParse(structuredClone(value));
      expect(expected.success).toBe(true);
      expect(JSON.stringify(got)).toBe(JSON.stringify(expected.data));
    }
    expect(fast).toBe(4);
  });
});
