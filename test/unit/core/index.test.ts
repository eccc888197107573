import { describe, expect, it } from 'vitest';
import * as core from '#core/index.ts';

describe('core public API', () => {
  it('exports the data-preparation contract', () => {
    const functions = [
      'isPurpose',
      'formatZodIssues',
      'splitLines',
      'planRanges',
      'ownedLines',
      'isOversize',
      'normalizeText',
      'redactPii',
      'luhnValid',
      'emptyPiiCounts',
      'shingles',
      'minhashSignature',
      'estimateJaccard',
      'exactHash',
      'Deduper',
      'assignSplit',
      'countTokens',
      'TokenStats',
      'processLine',
      'emptyRedactionCounts',
      'InvalidArgumentError',
    ] as const;
    const api: Record<string, unknown> = { ...core };
    for (const name of functions) expect(typeof api[name], name).toBe('function');
    expect(core.PURPOSES).toEqual(['finetune', 'preference', 'rag', 'golden']);
    expect(core.PII_KINDS).toHaveLength(9);
    expect(core.TOKENIZER).toBe('o200k_base');
    expect(Object.keys(core.recordSchemas)).toEqual([...core.PURPOSES]);
  });

  it('runs a record through the whole pipeline', () => {
    const counts = core.emptyRedactionCounts();
    const line = { lineNo: 1, bytes: Buffer.from('{"text":"Reach me at a@b.co"}'), byteOffset: 0 };
    const outcome = core.processLine(line, { purpose: 'rag', maxRecordBytes: 1024 }, counts);
    expect(outcome.kind).toBe('good');
    if (outcome.kind !== 'good') return;
    const deduper = new core.Deduper();
    expect(deduper.check(outcome.exactHash, outcome.signature)).toBe('unique');
    expect(deduper.check(outcome.exactHash, outcome.signature)).toBe('exact');
    expect(core.assignSplit(outcome.exactHash, 0)).toBe('train');
    expect(counts.EMAIL).toBe(1);
  });

  it('rejects an unknown purpose loudly', () => {
    const line = { lineNo: 1, bytes: Buffer.from('{}'), byteOffset: 0 };
    expect(() =>
      core.processLine(
        line,
        { purpose: 'nope' as core.Purpose, maxRecordBytes: 10 },
        core.emptyRedactionCounts(),
      ),
    ).toThrow(core.InvalidArgumentError);
  });
});
