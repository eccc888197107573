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
          reference: '4 ',
          references: ['four'],
          contexts: [' ctx  one '],
          tags: ['t'],
        },
        { purpose: 'golden' },
      ),
    );
    expect(outcome.record).toEqual({
      input: 'What is 2+2?',
      reference: '4',
      references: ['four'],
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
