import { createHash } from 'node:crypto';
import type { DatasetRef, PartResult, SourceRef } from '#contracts/pipelines/dataprep.ts';
import { SCHEMA_VERSION } from '#events/envelope.ts';
import type { MergeStats } from './merge.ts';
import { PII_KINDS } from './pii.ts';
import { TOKENIZER } from './token-stats.ts';

/** A curated file as written: where it is, how many records and bytes, and its SHA-256. */
export interface WrittenFile {
  readonly bucket: string;
  readonly key: string;
  readonly lines: number;
  readonly bytes: number;
  readonly sha256: string;
}

export interface ManifestInput {
  readonly dataset: DatasetRef;
  readonly runId: string;
  readonly source: SourceRef;
  /** The parts' results, in part order. */
  readonly parts: readonly PartResult[];
  readonly merged: MergeStats;
  /**
   * Every file written, by output name (`train`, `validation`, `data`, `quarantine`). The `quarantine`
   * file is listed apart from the data files: it holds the original lines, PII not redacted.
   */
  readonly written: ReadonlyMap<string, WrittenFile>;
  /** Days after which the quarantine file expires (the lifecycle rule of its prefix). */
  readonly quarantineExpirationDays: number;
  readonly validationRatio: number;
  readonly nearDuplicateThreshold: number;
  readonly createdAt: Date;
}

export interface DatasetCounts {
  readonly records: number;
  readonly blank: number;
  readonly kept: number;
  readonly quarantined: number;
  readonly duplicates: MergeStats['duplicates'];
  readonly splits: MergeStats['splits'];
}

/** What the manifest says of the quarantine file, beside where it is. */
export const QUARANTINE_CONTENTS =
  'the original lines as uploaded, PII not redacted, each with its line number, code and reason';
export const QUARANTINE_ACCESS =
  'operators only: it is kept apart from the curated data, and no function of the stack reads it';

const fileEntry = (w: WrittenFile) => ({
  bucket: w.bucket,
  key: w.key,
  records: w.lines,
  bytes: w.bytes,
  sha256: w.sha256,
});

/**
 * The manifest of a curated dataset version: what came in, what was kept, quarantined (by code) and
 * redacted (by kind), the token statistics, how duplicates were found and the split made, every data file
 * with its checksum, and a content hash over the data files that identifies the version's content. The
 * quarantine file is not a data file: `quarantine.file` says where it is (null when no line was
 * quarantined), that it is unredacted, who may read it and when it expires. `READY` when at least one
 * record was kept, else `REJECTED`.
 */
export function buildManifest(input: ManifestInput) {
  const { dataset, parts, merged, written } = input;
  const counts: DatasetCounts = {
    records: parts.reduce((n, p) => n + p.good + p.quarantined, 0),
    blank: parts.reduce((n, p) => n + p.blank, 0),
    kept: merged.kept,
    quarantined: merged.quarantined,
    duplicates: merged.duplicates,
    splits: merged.splits,
  };
  const dataFiles = [...written.entries()]
    .filter(([name]) => name !== 'quarantine')
    .sort(([a], [b]) => a.localeCompare(b));
  const quarantineFile = written.get('quarantine');
  const contentHash = `sha256:${createHash('sha256')
    .update(dataFiles.map(([name, w]) => `${name}:${w.sha256}`).join('\n'))
    .digest('hex')}`;
  const quarantineCodes: Record<string, number> = {};
  const redactions: Record<string, number> = Object.fromEntries(PII_KINDS.map((k) => [k, 0]));
  for (const part of parts) {
    for (const [code, n] of Object.entries(part.quarantineCodes))
      quarantineCodes[code] = (quarantineCodes[code] ?? 0) + n;
    for (const [kind, n] of Object.entries(part.redactions)) redactions[kind] = (redactions[kind] ?? 0) + n;
  }
  const createdAt = input.createdAt.toISOString();
  return {
    schemaVersion: SCHEMA_VERSION,
    status: counts.kept > 0 ? ('READY' as const) : ('REJECTED' as const),
    dataset,
    runId: input.runId,
    createdAt,
    source: input.source,
    counts,
    quarantine: {
      byCode: quarantineCodes,
      file: quarantineFile ? fileEntry(quarantineFile) : null,
      unredacted: true,
      contents: QUARANTINE_CONTENTS,
      access: QUARANTINE_ACCESS,
      expiresAfterDays: input.quarantineExpirationDays,
    },
    redactions,
    tokens: { tokenizer: TOKENIZER, ...merged.tokens.toJSON() },
    dedupe: {
      method:
        'exact: sha256 of the normalized text; near: MinHash of word 3-grams (one-permutation hashing, 128 bins, 8 bits) with LSH (16 bands x 8 rows)',
      nearDuplicateThreshold: input.nearDuplicateThreshold,
      indexBytes: merged.dedupeIndexBytes,
    },
    split:
      dataset.purpose === 'finetune' || dataset.purpose === 'preference'
        ? { method: 'hash of the normalized record', validationRatio: input.validationRatio }
        : { method: 'none' },
    files: Object.fromEntries(
      [...written.entries()]
        .filter(([name]) => name !== 'quarantine')
        .map(([name, w]) => [name, fileEntry(w)]),
    ),
    contentHash,
    pipeline: { parts: parts.length, bytes: parts.reduce((n, p) => n + p.bytes, 0) },
  };
}

export type DatasetManifest = ReturnType<typeof buildManifest>;
