import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { createS3Client } from '#aws/clients.ts';
import { envVar, readConfig } from '#aws/config.ts';
import { NoValidRecordsError } from '#aws/errors.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { readFrom, S3LineWriter, textLines, type WrittenObject } from '#aws/s3-io.ts';
import { type FinalizeOutput, finalizeInput } from '#contracts/pipelines/dataprep.ts';
import { mergeParts } from '#core/dataprep/merge.ts';
import { PII_KINDS } from '#core/dataprep/pii.ts';
import { TOKENIZER } from '#core/dataprep/token-stats.ts';
import { SCHEMA_VERSION } from '#events/envelope.ts';

/**
 * Finalize: merges the parts in order. Removes exact and near duplicates across the whole upload (the
 * first occurrence wins), splits train/validation deterministically for finetune and preference data,
 * writes the curated JSONL files, the quarantine file with absolute line numbers, and the manifest.
 * Reads staging line by line; memory grows only with the dedupe index (bytes per unique record are
 * reported in the manifest).
 */
export interface FinalizeDeps {
  readonly s3: S3Client;
  readonly curatedBucket: string;
  readonly validationRatio: number;
  readonly nearDuplicateThreshold: number;
  readonly now?: () => Date;
}

export function makeHandler(deps: FinalizeDeps) {
  return async (input: unknown, _context?: Context): Promise<FinalizeOutput> => {
    const state = parseInput(finalizeInput, input, 'Finalize input');
    const { dataset, source, runId, outputPrefix } = state;
    logger.appendKeys({ runId });
    const parts = [...state.partResults].sort((a, b) => a.index - b.index);
    const writers = new Map<string, S3LineWriter>();
    const writerFor = (name: string) => {
      const writer = new S3LineWriter(deps.s3, deps.curatedBucket, `${outputPrefix}${name}.jsonl`);
      writers.set(name, writer);
      return writer;
    };
    const lines = (location: { bucket: string; key: string }) => () =>
      textLines(readFrom(deps.s3, location, 0));

    try {
      const merged = await mergeParts(
        parts.map((part) => ({
          staging: lines(part.staging),
          quarantine: part.quarantine ? lines(part.quarantine) : undefined,
          lines: part.lines,
          records: part.good,
        })),
        {
          purpose: dataset.purpose,
          validationRatio: deps.validationRatio,
          nearDuplicateThreshold: deps.nearDuplicateThreshold,
        },
        writerFor,
      );
      const { kept, quarantined, duplicates, splits, tokens } = merged;

      const written = new Map<string, WrittenObject>();
      for (const [name, writer] of writers) written.set(name, await writer.close());
      writers.clear();

      const blank = parts.reduce((n, p) => n + p.blank, 0);
      const records = parts.reduce((n, p) => n + p.good + p.quarantined, 0);
      const counts = {
        records,
        blank,
        kept,
        quarantined,
        duplicates,
        splits,
      };
      const dataFiles = [...written.entries()]
        .filter(([name]) => name !== 'quarantine')
        .sort(([a], [b]) => a.localeCompare(b));
      const contentHash = `sha256:${createHash('sha256')
        .update(dataFiles.map(([name, w]) => `${name}:${w.sha256}`).join('\n'))
        .digest('hex')}`;
      const quarantineCodes: Record<string, number> = {};
      const redactions: Record<string, number> = Object.fromEntries(PII_KINDS.map((k) => [k, 0]));
      for (const part of parts) {
        for (const [code, n] of Object.entries(part.quarantineCodes))
          quarantineCodes[code] = (quarantineCodes[code] ?? 0) + n;
        for (const [kind, n] of Object.entries(part.redactions))
          redactions[kind] = (redactions[kind] ?? 0) + n;
      }
      const createdAt = (deps.now?.() ?? new Date()).toISOString();
      const files = Object.fromEntries(
        [...written.entries()].map(([name, w]) => [name, { bucket: w.bucket, key: w.key }]),
      );
      const manifestKey = `${outputPrefix}manifest.json`;
      const manifest = {
        schemaVersion: SCHEMA_VERSION,
        status: kept > 0 ? 'READY' : 'REJECTED',
        dataset,
        runId,
        createdAt,
        source,
        counts,
        quarantine: { byCode: quarantineCodes },
        redactions,
        tokens: { tokenizer: TOKENIZER, ...tokens.toJSON() },
        dedupe: {
          method:
            'exact: sha256 of the normalized text; near: MinHash of word 3-grams (one-permutation hashing, 128 bins, 8 bits) with LSH (16 bands x 8 rows)',
          nearDuplicateThreshold: deps.nearDuplicateThreshold,
          indexBytes: merged.dedupeIndexBytes,
        },
        split:
          dataset.purpose === 'finetune' || dataset.purpose === 'preference'
            ? { method: 'hash of the normalized record', validationRatio: deps.validationRatio }
            : { method: 'none' },
        files: Object.fromEntries(
          [...written.entries()].map(([name, w]) => [
            name,
            { bucket: w.bucket, key: w.key, records: w.lines, bytes: w.bytes, sha256: w.sha256 },
          ]),
        ),
        contentHash,
        pipeline: { parts: parts.length, bytes: parts.reduce((n, p) => n + p.bytes, 0) },
      };
      await deps.s3.send(
        new PutObjectCommand({
          Bucket: deps.curatedBucket,
          Key: manifestKey,
          Body: JSON.stringify(manifest, null, 2),
          ContentType: 'application/json',
        }),
      );
      metrics.addMetric('RecordsKept', 'Count', kept);
      metrics.addMetric('DuplicatesExact', 'Count', duplicates.exact);
      metrics.addMetric('DuplicatesNear', 'Count', duplicates.near);
      if (kept === 0) {
        throw new NoValidRecordsError(
          `s3://${source.bucket}/${source.key} has no valid record: ${quarantined} line(s) quarantined` +
            (duplicates.exact + duplicates.near > 0
              ? ` and ${duplicates.exact + duplicates.near} duplicate(s)`
              : '') +
            ` (see s3://${deps.curatedBucket}/${outputPrefix}quarantine.jsonl)`,
        );
      }
      logger.info('Dataset curated', { dataset, counts });
      return {
        runId,
        dataset,
        source,
        manifest: { bucket: deps.curatedBucket, key: manifestKey },
        files,
        counts,
        contentHash,
        createdAt,
      };
    } catch (error) {
      for (const writer of writers.values()) await writer.abort();
      throw error;
    }
  };
}

const config = readConfig({
  CURATED_BUCKET: envVar.string(),
  VALIDATION_RATIO: envVar.ratio(),
  NEAR_DUP_THRESHOLD: envVar.ratio(),
});

export const handler = withObservability(
  makeHandler({
    s3: createS3Client(),
    curatedBucket: config.CURATED_BUCKET,
    validationRatio: config.VALIDATION_RATIO,
    nearDuplicateThreshold: config.NEAR_DUP_THRESHOLD,
  }),
);
