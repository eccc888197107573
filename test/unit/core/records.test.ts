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

  it('rejects equal answers, missing fields and unknown keys', () => {
    expect(errorOf('preference', { prompt: 'p', chosen: 'x', rejected: 'x' })).toBe(
      'rejected: must differ from chosen',
    );
    expect(errorOf('preference', { prompt: 'p', chosen: 'x' })).toBe('rejected: required (expected string)');
    expect(errorOf('preference', { prompt: 'p', chosen: 'x', rejected: 'y', score: 1 })).toBe(
      'score: unknown key (allowed: prompt, chosen, rejected)',
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
  it('accepts exactly one of input or messages, with optional references', () => {
    accepts('golden', { input: 'q' });
    accepts('golden', {
      id: 'g1',
      messages: [
        { role: 'system', content: 's' },
        { role: 'user', content: 'q' },
      ],
      reference: 'a',
      references: ['a', 'b'],
      contexts: ['c'],
      reference_context_ids: ['doc-1'],
      tags: ['smoke'],
      metadata: { difficulty: 2 },
    });
  });

  it('rejects neither, both, typos and bad types', () => {
    expect(errorOf('golden', { reference: 'a' })).toBe(
      'record: expected exactly one of input or messages, got neither',
    );
    expect(errorOf('golden', { input: 'q', messages: [{ role: 'user', content: 'q' }] })).toBe(
      'record: expected exactly one of input or messages, got both',
    );
    expect(errorOf('golden', { input: 'q', refrence: 'a' })).toMatch(
      /^refrence: unknown key \(allowed: id, input, messages,/,
    );
    expect(errorOf('golden', { input: 'q', tags: [1] })).toBe('tags.0: expected string, got number');
    expect(errorOf('golden', { messages: [{ role: 'assistant', content: 'a' }] })).toBe(
      'messages: must contain at least one user message',
    );
    expect(errorOf('golden', { input: 'q', contexts: [''] })).toBe('contexts.0: must not be empty');
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
