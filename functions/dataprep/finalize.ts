import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { createS3Client } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { NoValidRecordsError } from '#aws/errors.ts';
import { MapRunIncompleteError, readMapRunResults } from '#aws/map-run.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { readFrom, S3LineWriter, textLines, type WrittenObject } from '#aws/s3-io.ts';
import { envVar } from '#contracts/env.ts';
import {
  type FinalizeInput,
  type FinalizeOutput,
  finalizeInput,
  layout,
  type PartResult,
  partResult,
} from '#contracts/pipelines/dataprep.ts';
import { buildManifest } from '#core/dataprep/manifest.ts';
import { mergeParts } from '#core/dataprep/merge.ts';

/**
 * Finalize: reads each part's result from the Map Run's result files (written to S3 by the Distributed
 * Map's ResultWriter), and refuses a run that does not account for every planned part. Merges the parts in
 * order. Removes exact and near duplicates across the whole upload (the first occurrence wins), splits
 * train/validation deterministically for finetune and preference data, writes the curated JSONL files and
 * the manifest to the curated bucket, and the quarantine file (the original bad lines, PII not redacted,
 * with absolute line numbers) to its own location under `quarantine/` in the artifacts bucket, which no
 * reader of curated data can read and which expires. Reads staging line by line; memory grows only with
 * the dedupe index (bytes per unique record are reported in the manifest).
 */
export interface FinalizeDeps {
  readonly s3: S3Client;
  readonly curatedBucket: string;
  /** Where the quarantine file goes (the artifacts bucket, under `quarantine/`). */
  readonly quarantineBucket: string;
  /** Days after which the quarantine file expires (written into the manifest). */
  readonly quarantineExpirationDays: number;
  readonly validationRatio: number;
  readonly nearDuplicateThreshold: number;
  readonly now?: () => Date;
}

/** Every planned part's result, in part order. @throws MapRunIncompleteError when any is missing */
async function partResultsOf(s3: S3Client, state: FinalizeInput): Promise<PartResult[]> {
  const run = await readMapRunResults(s3, state.mapRun, partResult);
  const [failure] = run.failed;
  if (failure) {
    throw new MapRunIncompleteError(
      `${run.failed.length} of ${state.partCount} part(s) failed in ${run.mapRunArn}, the first with ${failure.error}: ${failure.cause ?? 'no cause given'}`,
    );
  }
  const parts = run.succeeded.map((child) => child.output).sort((a, b) => a.index - b.index);
  if (parts.length !== state.partCount || parts.some((part, i) => part.index !== i)) {
    const seen = new Set(parts.map((part) => part.index));
    const missing = Array.from({ length: state.partCount }, (_, i) => i).filter((i) => !seen.has(i));
    const twice = [
      ...new Set(parts.filter((part, i) => parts[i - 1]?.index === part.index).map((p) => p.index)),
    ];
    const list = (indexes: number[]) => indexes.slice(0, 10).join(', ') + (indexes.length > 10 ? ', …' : '');
    throw new MapRunIncompleteError(
      `${run.mapRunArn} has ${parts.length} part result(s) for ${state.partCount} planned part(s)` +
        (missing.length > 0 ? `; missing part(s) ${list(missing)}` : '') +
        (twice.length > 0 ? `; part(s) ${list(twice)} more than once` : ''),
    );
  }
  return parts;
}

export function makeHandler(deps: FinalizeDeps) {
  return async (input: unknown, _context?: Context): Promise<FinalizeOutput> => {
    const state = parseInput(finalizeInput, input, 'Finalize input');
    const { dataset, source, runId, outputPrefix } = state;
    logger.appendKeys({ runId });
    const parts = await partResultsOf(deps.s3, state);
    const writers = new Map<string, S3LineWriter>();
    const quarantineKey = layout.quarantine(dataset);
    const writerFor = (name: string) => {
      const writer =
        name === 'quarantine'
          ? new S3LineWriter(deps.s3, deps.quarantineBucket, quarantineKey)
          : new S3LineWriter(deps.s3, deps.curatedBucket, `${outputPrefix}${name}.jsonl`);
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
      const written = new Map<string, WrittenObject>();
      for (const [name, writer] of writers) written.set(name, await writer.close());
      writers.clear();

      const manifest = buildManifest({
        dataset,
        runId,
        source,
        parts,
        merged,
        written,
        validationRatio: deps.validationRatio,
        nearDuplicateThreshold: deps.nearDuplicateThreshold,
        quarantineExpirationDays: deps.quarantineExpirationDays,
        createdAt: deps.now?.() ?? new Date(),
      });
      const { counts, contentHash, createdAt } = manifest;
      const { kept, quarantined, duplicates } = counts;
      // The data files only: the quarantine is announced nowhere but in the manifest.
      const files = Object.fromEntries(
        [...written.entries()]
          .filter(([name]) => name !== 'quarantine')
          .map(([name, w]) => [name, { bucket: w.bucket, key: w.key }]),
      );
      const manifestKey = `${outputPrefix}manifest.json`;
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
            ` (see s3://${deps.quarantineBucket}/${quarantineKey}, readable by operators only)`,
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

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  CURATED_BUCKET: envVar.string(),
  QUARANTINE_BUCKET: envVar.string(),
  QUARANTINE_EXPIRATION_DAYS: envVar.int(1),
  VALIDATION_RATIO: envVar.ratio(),
  NEAR_DUP_THRESHOLD: envVar.ratio(),
};

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({
    s3: createS3Client(),
    curatedBucket: config.CURATED_BUCKET,
    quarantineBucket: config.QUARANTINE_BUCKET,
    quarantineExpirationDays: config.QUARANTINE_EXPIRATION_DAYS,
    validationRatio: config.VALIDATION_RATIO,
    nearDuplicateThreshold: config.NEAR_DUP_THRESHOLD,
  }),
);
