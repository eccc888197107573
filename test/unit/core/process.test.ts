import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { exactHash } from '#core/dataprep/dedupe.ts';
import { type OversizeLine, type RawLine, splitLines } from '#core/dataprep/lines.ts';
import { minhashSignature } from '#core/dataprep/minhash.ts';
import { emptyPiiCounts } from '#core/dataprep/pii.ts';
import {
  emptyRedactionCounts,
  firstInvalidUtf8,
  type LineOutcome,
  type ProcessOptions,
  processLine,
} from '#core/dataprep/process.ts';
import { countTokens } from '#core/dataprep/tokens.ts';
import { parseSuiteItem } from '#core/eval/suite.ts';

const MB = 1024 * 1024;

function raw(text: string | Buffer, byteOffset = 0): RawLine {
  return { lineNo: 1, bytes: Buffer.isBuffer(text) ? text : Buffer.from(text), byteOffset };
}

function run(
  value: unknown,
  opts: Partial<ProcessOptions> = {},
  counts = emptyRedactionCounts(),
): LineOutcome {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return processLine(raw(text), { purpose: 'finetune', maxRecordBytes: MB, ...opts }, counts);
}

function good(outcome: LineOutcome) {
  if (outcome.kind !== 'good') throw new Error(`expected good, got ${JSON.stringify(outcome)}`);
  return outcome;
}

describe('processLine: quarantine codes', () => {
  it('TOO_LARGE for oversize lines and lines over maxRecordBytes, naming size and limit', () => {
    const oversize: OversizeLine = { lineNo: 3, oversize: true, size: 2 * MB, byteOffset: 10 };
    expect(processLine(oversize, { purpose: 'rag', maxRecordBytes: MB }, emptyRedactionCounts())).toEqual({
      kind: 'bad',
      code: 'TOO_LARGE',
      reason: `line is ${2 * MB} bytes, over the limit of ${MB} bytes`,
    });
    expect(run({ text: 'x'.repeat(100) }, { purpose: 'rag', maxRecordBytes: 50 })).toMatchObject({
      code: 'TOO_LARGE',
      reason: 'line is 111 bytes, over the limit of 50 bytes',
    });
  });

  it('INVALID_UTF8 with the byte offset (bytes 0xC3 0x28)', () => {
    const bytes = Buffer.concat([Buffer.from('{"text":"ab'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const outcome = processLine(
      raw(bytes, 1000),
      { purpose: 'rag', maxRecordBytes: MB },
      emptyRedactionCounts(),
    );
    expect(outcome).toEqual({
      kind: 'bad',
      code: 'INVALID_UTF8',
      reason:
        'invalid UTF-8 at byte 11 of the line (object byte offset 1011); line starts at byte offset 1000',
    });
  });

  it('finds the first invalid UTF-8 byte', () => {
    expect(firstInvalidUtf8(Buffer.from('héllo 東京 😀'))).toBe(Buffer.byteLength('héllo 東京 😀'));
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xff]))).toBe(1);
    expect(firstInvalidUtf8(Buffer.from([0xc0, 0x80]))).toBe(0); // overlong
    expect(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80]))).toBe(0); // surrogate
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xe2, 0x82]))).toBe(1); // truncated
    expect(firstInvalidUtf8(Buffer.from([0xf4, 0x90, 0x80, 0x80]))).toBe(0); // > U+10FFFF
  });

  it('blank for whitespace-only lines', () => {
    for (const line of ['', '   ', '\t', ' \r ', '\u00a0\u3000'])
      expect(run(line)).toEqual({ kind: 'blank' });
  });

  it('INVALID_JSON with the parser message', () => {
    const outcome = run('{"prompt": "a", }');
    expect(outcome).toMatchObject({ kind: 'bad', code: 'INVALID_JSON' });
    if (outcome.kind === 'bad') expect(outcome.reason).toMatch(/^invalid JSON: .*position/);
    expect(run('{"prompt"').kind === 'bad' && run('{"prompt"')).toMatchObject({ code: 'INVALID_JSON' });
  });

  it('NOT_AN_OBJECT for arrays, null and primitives', () => {
    expect(run('[1,2]')).toEqual({
      kind: 'bad',
      code: 'NOT_AN_OBJECT',
      reason: 'expected a JSON object, got an array',
    });
    expect(run('null')).toMatchObject({ reason: 'expected a JSON object, got null' });
    expect(run('"text"')).toMatchObject({ reason: 'expected a JSON object, got a string' });
    expect(run('42')).toMatchObject({ reason: 'expected a JSON object, got a number' });
  });

  it('SCHEMA with field paths and rules', () => {
    expect(
      run({
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'bot', content: 'x' },
        ],
      }),
    ).toEqual({
      kind: 'bad',
      code: 'SCHEMA',
      reason: 'messages.1.role: expected one of system|user|assistant',
    });
  });

  it('EMPTY_TEXT naming the field that normalizes to nothing', () => {
    expect(
      run({
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: ' \u200b\t ' },
        ],
      }),
    ).toEqual({
      kind: 'bad',
      code: 'EMPTY_TEXT',
      reason: 'messages.1.content: is empty after normalization',
    });
    expect(run({ input: 'q', contexts: ['ok', '\u0000'] }, { purpose: 'golden' })).toMatchObject({
      code: 'EMPTY_TEXT',
      reason: 'contexts.1: is empty after normalization',
    });
  });

  it('SCHEMA when a preference pair becomes identical after normalization', () => {
    expect(
      run({ prompt: 'p', chosen: 'same  answer', rejected: 'same answer ' }, { purpose: 'preference' }),
    ).toEqual({
      kind: 'bad',
      code: 'SCHEMA',
      reason: 'rejected: must differ from chosen (after normalization and redaction)',
    });
  });

  it('truncates very long reasons', () => {
    const outcome = run(`{"prompt": "${'x'.repeat(5000)}`);
    expect(outcome.kind === 'bad' && outcome.reason.length).toBeLessThanOrEqual(300);
  });
});

describe('processLine: good records', () => {
  it('normalizes and redacts every text field, and computes dedupe data on the dedupe text', () => {
    const counts = emptyRedactionCounts();
    const input = {
      messages: [
        { role: 'system', content: 'You are\ta helpful   assistant.' },
        { role: 'user', content: 'Mail me at jane@example.com\r\n\r\n\r\nthanks ' },
        { role: 'assistant', content: 'Sure, e\u0301crivez-moi.\u200b' },
      ],
    };
    const outcome = good(run(input, {}, counts));
    expect(outcome.record).toEqual({
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'Mail me at [EMAIL]\n\nthanks' },
        { role: 'assistant', content: 'Sure, \u00e9crivez-moi.' },
      ],
    });
    // System messages stay out of the dedupe text but count for tokens.
    expect(outcome.dedupeText).toBe('Mail me at [EMAIL]\n\nthanks\nSure, \u00e9crivez-moi.');
    expect(outcome.exactHash).toBe(exactHash(outcome.dedupeText));
    expect(outcome.signature).toEqual(minhashSignature(outcome.dedupeText));
    expect(outcome.tokens).toBe(
      countTokens('You are a helpful assistant.\nMail me at [EMAIL]\n\nthanks\nSure, \u00e9crivez-moi.'),
    );
    expect(counts).toEqual({ ...emptyPiiCounts(), EMAIL: 1 });
    // The parsed input is not modified.
    expect(input.messages[1]?.content).toBe('Mail me at jane@example.com\r\n\r\n\r\nthanks ');
  });

  it('handles completion-form finetune records', () => {
    const outcome = good(run({ prompt: ' Q? ', completion: 'A.' }));
    expect(outcome.record).toEqual({ prompt: 'Q?', completion: 'A.' });
    expect(outcome.dedupeText).toBe('Q?\nA.');
  });

  it('handles preference records', () => {
    const outcome = good(
      run({ prompt: 'p', chosen: 'call 555-123-4567', rejected: 'no' }, { purpose: 'preference' }),
    );
    expect(outcome.record).toEqual({ prompt: 'p', chosen: 'call [PHONE]', rejected: 'no' });
    expect(outcome.dedupeText).toBe('p\ncall [PHONE]\nno');
  });

  it('keeps the provenance metadata of a preference record as it is, out of redaction and the dedupe text', () => {
    const metadata = {
      source: 'feedback',
      kind: 'correction',
      annotators: 'ann@example.com',
      promptVersion: 2,
    };
    const outcome = good(
      run(
        { prompt: ' p ', chosen: 'call 555-123-4567', rejected: 'no', metadata },
        { purpose: 'preference' },
      ),
    );
    expect(outcome.record).toEqual({ prompt: 'p', chosen: 'call [PHONE]', rejected: 'no', metadata });
    expect(outcome.dedupeText).toBe('p\ncall [PHONE]\nno');
    const bare = good(
      run({ prompt: 'p', chosen: 'call 555-123-4567', rejected: 'no' }, { purpose: 'preference' }),
    );
    expect(outcome.exactHash).toBe(bare.exactHash);
  });

  it('handles rag records: text for dedupe, title normalized or dropped when empty, metadata kept', () => {
    const outcome = good(
      run(
        { id: 'd1', text: ' Body  text ', title: '  ', source: 's', metadata: { k: 1 } },
        { purpose: 'rag' },
      ),
    );
    expect(outcome.record).toEqual({ id: 'd1', text: 'Body text', source: 's', metadata: { k: 1 } });
    expect(outcome.dedupeText).toBe('Body text');
    const titled = good(run({ text: 'Body', title: ' A  title ' }, { purpose: 'rag' }));
    expect(titled.record).toEqual({ text: 'Body', title: 'A title' });
    expect(titled.dedupeText).toBe('Body');
  });

  it('handles golden records: contexts are normalized but stay out of the dedupe text', () => {
    const outcome = good(
      run(
        {
          input: ' What is 2+2? ',
          references: ['4 ', 'four'],
          contexts: [' ctx  one '],
          tags: ['t'],
        },
        { purpose: 'golden' },
      ),
    );
    expect(outcome.record).toEqual({
      input: 'What is 2+2?',
      references: ['4', 'four'],
      contexts: ['ctx one'],
      tags: ['t'],
    });
    expect(outcome.dedupeText).toBe('What is 2+2?\n4\nfour');
    const chat = good(
      run(
        {
          messages: [
            { role: 'system', content: 's' },
            { role: 'user', content: 'q' },
          ],
          reference: ' ',
        },
        { purpose: 'golden' },
      ),
    );
    expect(chat.record).toEqual({
      messages: [
        { role: 'system', content: 's' },
        { role: 'user', content: 'q' },
      ],
    });
    expect(chat.dedupeText).toBe('q');
  });

  it('uses a custom redactor when given one', () => {
    const counts = emptyRedactionCounts();
    const outcome = good(
      run(
        { prompt: 'secret stuff', completion: 'ok' },
        {
          redact: (text, c) => {
            c.SECRET++;
            return text.replace('secret', '[SECRET]');
          },
        },
        counts,
      ),
    );
    expect(outcome.record).toEqual({ prompt: '[SECRET] stuff', completion: 'ok' });
    expect(counts.SECRET).toBe(2);
  });

  it('counts redactions only for records that come out good', () => {
    const counts = emptyRedactionCounts();
    run({ prompt: 'p', chosen: 'a@b.co', rejected: 'c@d.co' }, { purpose: 'preference' }, counts);
    expect(counts).toEqual(emptyPiiCounts());
    run({ prompt: 'mail a@b.co', chosen: 'x', rejected: 'y' }, { purpose: 'preference' }, counts);
    expect(counts.EMAIL).toBe(1);
  });
});

describe('processLine over a whole upload', () => {
  it('treats BOM, CRLF and blank lines as normal input and quarantines bad lines with their numbers', async () => {
    const parts = [
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('{"prompt":"a","completion":"b"}\r\n'),
      Buffer.from('\r\n'),
      Buffer.from('{"prompt":"c","completion":"d"}\r\n'),
      Buffer.from([0x7b, 0xc3, 0x28, 0x7d, 0x0a]),
      Buffer.from(`{"prompt":"${'x'.repeat(2 * MB)}","completion":"y"}\n`),
      Buffer.from('not json\n'),
      Buffer.from('{"prompt":"e","completion":"f"}'),
    ];
    const file = Buffer.concat(parts);
    async function* chunks() {
      for (let i = 0; i < file.length; i += 65536) yield file.subarray(i, i + 65536);
    }
    const results: Array<[number, string]> = [];
    const counts = emptyRedactionCounts();
    for await (const line of splitLines(chunks(), { maxLineBytes: MB, stripBom: true })) {
      const outcome = processLine(line, { purpose: 'finetune', maxRecordBytes: MB }, counts);
      results.push([line.lineNo, outcome.kind === 'bad' ? outcome.code : outcome.kind]);
    }
    expect(results).toEqual([
      [1, 'good'],
      [2, 'blank'],
      [3, 'good'],
      [4, 'INVALID_UTF8'],
      [5, 'TOO_LARGE'],
      [6, 'INVALID_JSON'],
      [7, 'good'],
    ]);
  });
});

describe('processLine: golden records are evaluation suite lines', () => {
  const golden = (value: unknown, counts = emptyRedactionCounts()) =>
    run(value, { purpose: 'golden' }, counts);

  it('takes an OpenAI Evals sample as it is and keeps its fields in the curated record', () => {
    const sample = {
      input: [
        { role: 'system', content: 'Answer  yes or no.' },
        { role: 'system', content: 'Is the sky blue?', name: 'example_user' },
        { role: 'system', content: 'Yes', name: 'example_assistant' },
        { role: 'user', content: 'Is grass red? ' },
      ],
      ideal: 'No',
      choice_strings: ['Yes', 'No'],
    };
    const outcome = good(golden(sample));
    expect(outcome.record).toEqual({
      ...sample,
      input: [
        { role: 'system', content: 'Answer yes or no.' },
        { role: 'system', content: 'Is the sky blue?', name: 'example_user' },
        { role: 'system', content: 'Yes', name: 'example_assistant' },
        { role: 'user', content: 'Is grass red?' },
      ],
    });
    // System turns (few-shot examples included) stay out of the dedupe text, as for fine-tuning.
    expect(outcome.dedupeText).toBe('Is grass red?\nNo');

    const listed = good(
      golden({ id: 'primes', input: 'Name a prime.', ideal: ['2', ' 3 '], difficulty: 'easy' }),
    );
    expect(listed.record).toEqual({
      id: 'primes',
      input: 'Name a prime.',
      ideal: ['2', '3'],
      difficulty: 'easy',
    });
    expect(listed.dedupeText).toBe('Name a prime.\n2\n3');
    // The curated record is still the same suite item (the extra field in its metadata).
    expect(parseSuiteItem(listed.record)).toMatchObject({
      item: { id: 'primes', references: ['2', '3'], metadata: { difficulty: 'easy' } },
    });
  });

  it('takes bias probes: counterfactuals, and a {{group}} slot with metadata.groups', () => {
    const probe = {
      id: 'loan',
      input: 'Should this applicant get the loan?',
      counterfactuals: [
        { group: 'female', input: 'Should  she get the loan?' },
        { group: 'male', messages: [{ role: 'user', content: 'Should he get the loan?' }] },
      ],
      metadata: { source: { sheet: 'probes' } },
    };
    const outcome = good(golden(probe));
    expect(outcome.record).toEqual({
      ...probe,
      counterfactuals: [
        { group: 'female', input: 'Should she get the loan?' },
        { group: 'male', messages: [{ role: 'user', content: 'Should he get the loan?' }] },
      ],
    });
    expect(outcome.dedupeText).toBe(
      'Should this applicant get the loan?\nShould she get the loan?\nShould he get the loan?',
    );
    const slot = { input: 'Should {{group}} apply?', metadata: { groups: ['women', 'men'] } };
    expect(good(golden(slot)).record).toEqual(slot);
  });

  it('redacts PII in ideal, in system turns, in messages and in counterfactuals; metadata is kept as it is', () => {
    const counts = emptyRedactionCounts();
    const outcome = good(
      golden(
        {
          input: [
            { role: 'system', content: 'Escalate to ops@example.com.' },
            { role: 'user', content: 'Who handles outages?' },
          ],
          ideal: ['ops@example.com', 'call 415-555-0134'],
          contexts: ['Mail a@b.co'],
          counterfactuals: [
            { group: 'a', input: 'Mail jane@example.com' },
            { group: 'b', messages: [{ role: 'user', content: 'Mail joe@example.com' }] },
          ],
          owner: 'lead@example.com',
        },
        counts,
      ),
    );
    expect(outcome.record).toEqual({
      input: [
        { role: 'system', content: 'Escalate to [EMAIL].' },
        { role: 'user', content: 'Who handles outages?' },
      ],
      ideal: ['[EMAIL]', 'call [PHONE]'],
      contexts: ['Mail [EMAIL]'],
      counterfactuals: [
        { group: 'a', input: 'Mail [EMAIL]' },
        { group: 'b', messages: [{ role: 'user', content: 'Mail [EMAIL]' }] },
      ],
      owner: 'lead@example.com',
    });
    expect(counts).toEqual({ ...emptyPiiCounts(), EMAIL: 5, PHONE: 1 });
    const single = good(golden({ input: 'q', ideal: 'Mail a@b.co' }));
    expect(single.record).toEqual({ input: 'q', ideal: 'Mail [EMAIL]' });
    const own = good(golden({ messages: [{ role: 'user', content: 'Mail a@b.co' }], reference: 'a@b.co' }));
    expect(own.record).toEqual({
      messages: [{ role: 'user', content: 'Mail [EMAIL]' }],
      reference: '[EMAIL]',
    });
  });

  it('quarantines a line that neither format takes as SCHEMA, naming the field', () => {
    expect(golden({ question: 'q', answer: 'a' })).toEqual({
      kind: 'bad',
      code: 'SCHEMA',
      reason:
        'question: unknown field (allowed: id, input, messages, reference, references, contexts, ' +
        'reference_context_ids, tags, metadata, counterfactuals); answer: unknown field',
    });
    expect(golden({ input: [{ role: 'robot', content: 'q' }], ideal: 'a' })).toEqual({
      kind: 'bad',
      code: 'SCHEMA',
      reason: 'input.0.role: must be one of system, user, assistant',
    });
    expect(golden({ input: 'q', ideal: 'a', references: ['a'] })).toMatchObject({
      code: 'SCHEMA',
      reason:
        'references: cannot be combined with ideal (an OpenAI Evals sample gives its references as ideal)',
    });
  });

  it('keeps a turn emptied by cleaning, but quarantines a question with nothing left in it', () => {
    const kept = good(
      golden({
        input: [
          { role: 'system', content: '\u200b' },
          { role: 'user', content: 'q' },
        ],
        ideal: 'a',
      }),
    );
    expect(kept.record).toEqual({
      input: [
        { role: 'system', content: '' },
        { role: 'user', content: 'q' },
      ],
      ideal: 'a',
    });
    expect(golden({ input: [{ role: 'user', content: ' ' }], ideal: 'a' })).toEqual({
      kind: 'bad',
      code: 'EMPTY_TEXT',
      reason: 'input: every turn is empty after normalization',
    });
    expect(golden({ input: '\u200b ', reference: 'a' })).toMatchObject({
      code: 'EMPTY_TEXT',
      reason: 'input: is empty after normalization',
    });
    expect(
      golden({ input: 'q', counterfactuals: [{ group: 'a', messages: [{ role: 'user', content: '\t' }] }] }),
    ).toMatchObject({
      code: 'EMPTY_TEXT',
      reason: 'counterfactuals.0.messages: every turn is empty after normalization',
    });
    // A custom redactor that empties every turn.
    expect(
      run({ messages: [{ role: 'user', content: 'secret' }] }, { purpose: 'golden', redact: () => '' }),
    ).toMatchObject({ code: 'EMPTY_TEXT', reason: 'messages: every turn is empty after redaction' });
  });

  it('drops an emptied reference, and quarantines an emptied ideal or reference entry', () => {
    expect(good(golden({ input: 'q', reference: '\u200b' })).record).toEqual({ input: 'q' });
    expect(golden({ input: 'q', ideal: ' ' })).toMatchObject({
      code: 'EMPTY_TEXT',
      reason: 'ideal: is empty after normalization',
    });
    expect(golden({ input: 'q', ideal: ['a', ' '] })).toMatchObject({
      code: 'EMPTY_TEXT',
      reason: 'ideal.1: is empty after normalization',
    });
    expect(golden({ input: 'q', references: [' '] })).toMatchObject({
      code: 'EMPTY_TEXT',
      reason: 'references.0: is empty after normalization',
    });
  });

  it('quarantines a record that redaction grows over a suite limit', () => {
    const reference = `a@b.co ${'x'.repeat(10_000 - 7)}`;
    expect(golden({ input: 'q', reference })).toEqual({
      kind: 'bad',
      code: 'SCHEMA',
      reason: 'reference: must have at most 10000 characters (after normalization and redaction)',
    });
  });

  it('dedupes on the item, whichever format or input shape gives it', () => {
    const lines = [
      { input: 'Is grass red?', references: ['No'] },
      {
        input: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Is grass red?' },
        ],
        ideal: 'No',
      },
      { messages: [{ role: 'user', content: 'Is grass red?' }], reference: 'No', tags: ['colour'] },
      { input: [{ role: 'user', content: 'Is grass red?' }], ideal: ['No'], source: 'evals' },
    ];
    const hashes = lines.map((line) => good(golden(line)).exactHash);
    expect(new Set(hashes).size).toBe(1);
    // A question of system turns alone is its own dedupe text (an Evals sample may be just that).
    const systemOnly = (content: string) =>
      good(golden({ input: [{ role: 'system', content }], ideal: 'x' }));
    expect(systemOnly('Write a haiku.').dedupeText).toBe('Write a haiku.\nx');
    expect(systemOnly('Write a limerick.').exactHash).not.toBe(systemOnly('Write a haiku.').exactHash);
  });

  it('quarantines each bad line of an Evals upload with its number and the field', async () => {
    const file = [
      '{"input": [{"role": "system", "content": "Say yes."}], "ideal": "yes"}',
      '{"input": "q", "ideal": ["a", 2]}',
      '',
      '{"input": [{"role": "user", "content": "q"}], "ideal": "a", "metadata": {"k": 1}, "k": 2}',
      '{"input": "2+2?", "ideal": ["4", "four"], "choice_strings": ["4", "5"]}',
    ].join('\n');
    async function* chunks() {
      yield Buffer.from(file);
    }
    const results: Array<[number, string]> = [];
    for await (const line of splitLines(chunks(), { maxLineBytes: MB, stripBom: true })) {
      const outcome = processLine(line, { purpose: 'golden', maxRecordBytes: MB }, emptyRedactionCounts());
      results.push([
        line.lineNo,
        outcome.kind === 'bad' ? `${outcome.code} ${outcome.reason}` : outcome.kind,
      ]);
    }
    expect(results).toEqual([
      [1, 'good'],
      [2, 'SCHEMA ideal.1: must be string'],
      [3, 'blank'],
      [4, 'SCHEMA metadata.k: also given as a top-level field'],
      [5, 'good'],
    ]);
  });
});

describe('processLine: golden records agree with the suite parser', () => {
  // Varied lines in either format: mostly good values, with a few of the ones each rule rejects.
  const mostly = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) =>
    fc.oneof({ arbitrary: good, weight: 8 }, { arbitrary: bad, weight: 1 });
  /** `{key: value}` or `{}` (twice as often, at the default weight); `rarely`: one time in 13. */
  const some = (key: string, value: fc.Arbitrary<unknown>, weight = 1) =>
    fc.oneof(
      { arbitrary: fc.constant({}), weight: 2 },
      { arbitrary: value.map((v) => ({ [key]: v })), weight },
    );
  const merge = (...parts: fc.Arbitrary<object>[]) =>
    fc.tuple(...parts).map((objects) => Object.assign({}, ...objects) as Record<string, unknown>);
  const rarely = (key: string, value: fc.Arbitrary<unknown>) =>
    fc.oneof(
      { arbitrary: fc.constant({}), weight: 12 },
      { arbitrary: value.map((v) => ({ [key]: v })), weight: 1 },
    );

  const text = mostly(
    fc.constantFrom('q', 'What is 2+2?', 'Mail a@b.co now.', 'Should {{group}} apply?'),
    fc.constantFrom('', ' ', 'x'.repeat(10_001)),
  );
  const turn = merge(
    fc.record({
      role: mostly(fc.constantFrom('system', 'user', 'assistant', 'user'), fc.constant('bot')),
      content: mostly(text, fc.constant(7)),
    }),
    some('name', mostly(fc.constant('example_user'), fc.constant('n'.repeat(65))), 1),
    rarely('weight', fc.constant(1)),
  );
  const conversation = mostly(fc.array(turn, { minLength: 1, maxLength: 3 }), fc.constant([]));
  const input = mostly(fc.oneof(text, conversation), fc.constant(5));
  const texts = mostly(fc.array(text, { maxLength: 3 }), fc.constant('not a list'));
  const question = fc.oneof(
    { arbitrary: input.map((v) => ({ input: v })), weight: 6 },
    { arbitrary: conversation.map((v) => ({ messages: v })), weight: 3 },
    { arbitrary: fc.constant({}), weight: 1 },
    { arbitrary: fc.tuple(input, conversation).map(([i, m]) => ({ input: i, messages: m })), weight: 1 },
  );
  const counterfactual = merge(
    fc.record({ group: mostly(fc.constantFrom('women', 'men'), fc.constant('')) }),
    question,
    rarely('text', text),
  );
  const common = [
    some('id', mostly(fc.constantFrom('g-1', 'item:2'), fc.constant('bad id!'))),
    some('contexts', texts),
    rarely(
      'reference_context_ids',
      mostly(fc.array(fc.constant('doc-1'), { minLength: 1 }), fc.constant([])),
    ),
    some(
      'tags',
      mostly(fc.array(fc.constantFrom('smoke', 'Hard  Case'), { maxLength: 2 }), fc.constant([' '])),
    ),
    rarely('tags', fc.constant(['unanswerable'])),
    some('metadata', mostly(fc.constantFrom({ groups: ['women', 'men'] }, { k: 1 }), fc.constant('meta'))),
    rarely('counterfactuals', fc.array(counterfactual, { maxLength: 3 })),
  ];
  const own = merge(
    question,
    fc.oneof(
      fc.constant({}),
      text.map((v) => ({ reference: v })),
      texts.map((v) => ({ references: v })),
      fc.constant({ reference: 'a', references: ['a'] }),
    ),
    ...common,
    rarely('refrence', text),
  );
  const evals = merge(
    fc.record({ input, ideal: mostly(fc.oneof(text, texts), fc.constant(3)) }),
    ...common,
    some('choice_strings', fc.constant(['Yes', 'No'])),
    rarely('k', fc.constant(2)),
    rarely('reference', text),
  );
  const line = fc.oneof(own, evals);

  /** Whether the line holds a text that cleaning empties (the one case where the two may differ). */
  const hasBlankText = (value: unknown) => /"\s*"/.test(JSON.stringify(value));
  const withoutAllowed = (reason: string) => reason.replace(/ \(allowed: [^)]*\)/g, '');

  it('quarantines a line as SCHEMA exactly when the suite parser rejects it, with its reason', () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(line, (value) => {
        const suite = parseSuiteItem(structuredClone(value));
        const outcome = run(value, { purpose: 'golden' });
        if ('reason' in suite) {
          rejected++;
          expect(outcome).toMatchObject({ kind: 'bad', code: 'SCHEMA' });
          if (outcome.kind === 'bad' && !outcome.reason.endsWith('…')) {
            expect(withoutAllowed(outcome.reason)).toBe(suite.reason);
          }
          return;
        }
        if (outcome.kind === 'bad') {
          // Taken by the suite, refused only because cleaning left a required text empty.
          expect(outcome.code).toBe('EMPTY_TEXT');
          expect(hasBlankText(value)).toBe(true);
          return;
        }
        accepted++;
        expect(outcome.kind).toBe('good');
        if (outcome.kind !== 'good') return;
        // The curated record is the same suite item, cleaned: placeholders for PII, blank turns empty,
        // a blank `reference` dropped (and derived ids follow the content).
        const again = parseSuiteItem(structuredClone(outcome.record));
        expect(again).toHaveProperty('item');
        if (!('item' in again)) return;
        const line = structuredClone(value);
        if (typeof line.reference === 'string' && line.reference.trim() === '') delete line.reference;
        const expected = parseSuiteItem(line);
        if (!('item' in expected)) throw new Error(expected.reason);
        const cleaned = (item: object, derived: boolean) =>
          JSON.parse(
            JSON.stringify({ ...item, id: derived ? 'derived' : (item as { id: string }).id })
              .replaceAll('a@b.co', '[EMAIL]')
              .replaceAll('" "', '""'),
          );
        expect(cleaned(again.item, again.derivedId)).toEqual(cleaned(expected.item, expected.derivedId));
      }),
      { numRuns: 600 },
    );
    // Both sides of the rule are exercised.
    expect(accepted).toBeGreaterThan(30);
    expect(rejected).toBeGreaterThan(30);
  });
});
