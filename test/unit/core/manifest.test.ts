import { describe, expect, it } from 'vitest';
import type { PartResult } from '#contracts/pipelines/dataprep.ts';
import { buildManifest, type WrittenFile } from '#core/dataprep/manifest.ts';
import { TokenStats } from '#core/dataprep/token-stats.ts';

const part = (index: number, good: number, quarantined: number): PartResult => ({
  index,
  lines: good + quarantined + 1,
  blank: 1,
  good,
  quarantined,
  quarantineCodes: quarantined > 0 ? { INVALID_JSON: quarantined } : {},
  redactions: { EMAIL: index + 1 },
  bytes: 1000,
  staging: { bucket: 'artifacts', key: `staging/dataprep/run/part-0000${index}.tsv` },
  quarantine: null,
});

const file = (key: string, sha256: string, lines = 1): WrittenFile => ({
  bucket: 'curated',
  key,
  lines,
  bytes: 10 * lines,
  sha256,
});

function manifestOf(written: Map<string, WrittenFile>, kept: number) {
  return buildManifest({
    quarantineExpirationDays: 7,
    dataset: { name: 'chats', purpose: 'finetune', version: 3 },
    runId: 'run',
    source: { bucket: 'raw', key: 'raw/finetune/chats.jsonl', etag: 'e', size: 2000 },
    parts: [part(0, 3, 1), part(1, 2, 0)],
    merged: {
      kept,
      quarantined: 1,
      duplicates: { exact: 1, near: 0 },
      splits: { train: kept, validation: 0 },
      tokens: new TokenStats(),
      dedupeIndexBytes: 128,
    },
    written,
    validationRatio: 0.1,
    nearDuplicateThreshold: 0.8,
    createdAt: new Date('2026-12-04T00:00:00Z'),
  });
}

describe('buildManifest', () => {
  it('adds up the parts: records, blank lines, quarantine codes and redactions by kind', () => {
    const manifest = manifestOf(new Map([['train', file('train.jsonl', 'a', 4)]]), 4);
    expect(manifest.status).toBe('READY');
    expect(manifest.counts).toMatchObject({ records: 6, blank: 2, kept: 4, quarantined: 1 });
    expect(manifest.quarantine.byCode).toEqual({ INVALID_JSON: 1 });
    expect(manifest.redactions.EMAIL).toBe(3);
    expect(manifest.pipeline).toEqual({ parts: 2, bytes: 2000 });
    expect(manifest.split).toEqual({ method: 'hash of the normalized record', validationRatio: 0.1 });
  });

  it('hashes the content of the data files only, whatever order they were written in', () => {
    const data = [
      ['validation', file('validation.jsonl', 'v')],
      ['train', file('train.jsonl', 't')],
    ] as const;
    const withQuarantine = manifestOf(new Map([...data, ['quarantine', file('quarantine.jsonl', 'q')]]), 2);
    const reversed = manifestOf(new Map([...data].reverse()), 2);
    expect(withQuarantine.contentHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(withQuarantine.contentHash).toBe(reversed.contentHash);
    const changed = manifestOf(new Map([data[0], ['train', file('train.jsonl', 'other')]]), 2);
    expect(changed.contentHash).not.toBe(reversed.contentHash);
  });

  it('lists the quarantine apart from the data files: where it is, that it is unredacted, when it expires', () => {
    const quarantine: WrittenFile = {
      bucket: 'artifacts',
      key: 'quarantine/dataprep/datasets/finetune/chats/v000003/quarantine.jsonl',
      lines: 1,
      bytes: 40,
      sha256: 'q',
    };
    const manifest = manifestOf(
      new Map([
        ['train', file('train.jsonl', 't')],
        ['quarantine', quarantine],
      ]),
      1,
    );
    expect(Object.keys(manifest.files)).toEqual(['train']);
    expect(manifest.quarantine).toEqual({
      byCode: { INVALID_JSON: 1 },
      file: {
        bucket: 'artifacts',
        key: 'quarantine/dataprep/datasets/finetune/chats/v000003/quarantine.jsonl',
        records: 1,
        bytes: 40,
        sha256: 'q',
      },
      unredacted: true,
      contents: expect.stringMatching(/original lines.*PII/i),
      access: expect.stringMatching(/operators/),
      expiresAfterDays: 7,
    });
    const clean = manifestOf(new Map([['train', file('train.jsonl', 't')]]), 1);
    expect(clean.quarantine.file).toBeNull();
  });

  it('is REJECTED when no record was kept', () => {
    expect(manifestOf(new Map([['quarantine', file('quarantine.jsonl', 'q')]]), 0).status).toBe('REJECTED');
  });
});
