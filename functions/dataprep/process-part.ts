import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { createComprehendClient, createS3Client } from '#aws/clients.ts';
import { ComprehendRedactor } from '#aws/comprehend-pii.ts';
import { readConfig } from '#aws/config.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { readFrom, S3LineWriter } from '#aws/s3-io.ts';
import { envVar } from '#contracts/env.ts';
import { layout, type PartResult, processPartInput } from '#contracts/pipelines/dataprep.ts';
import { processPart } from '#core/dataprep/part.ts';

/**
 * ProcessPart: one Map iteration. Streams the lines its byte range owns from the raw object, validates,
 * normalizes and redacts each record, and writes two staging files to the artifacts bucket: good records
 * with their dedupe keys, and quarantined lines with part-relative numbers and reasons. Memory stays
 * flat (the current line and 256 KiB write buffers). The raw object is only read.
 */
export interface ProcessPartDeps {
  readonly s3: S3Client;
  readonly artifactsBucket: string;
  readonly maxRecordBytes: number;
  /** Optional Comprehend pass after the regex redaction. */
  readonly comprehend?: ComprehendRedactor | undefined;
}

export function makeHandler(deps: ProcessPartDeps) {
  return async (input: unknown, _context?: Context): Promise<PartResult> => {
    const { part, runId, source, dataset } = parseInput(processPartInput, input, 'ProcessPart input');
    logger.appendKeys({ runId, part: part.index });
    const staging = new S3LineWriter(
      deps.s3,
      deps.artifactsBucket,
      layout.staging(runId, part.index),
      'text/tab-separated-values',
    );
    let quarantine: S3LineWriter | undefined;
    try {
      const comprehend = deps.comprehend;
      const stats = await processPart(
        readFrom(deps.s3, source, Math.max(0, part.start - 1)),
        {
          purpose: dataset.purpose,
          maxRecordBytes: deps.maxRecordBytes,
          start: part.start,
          end: part.end,
          enrich: comprehend ? (record, counts) => comprehend.redactRecord(record, counts) : undefined,
        },
        {
          staging,
          quarantine: () => {
            quarantine = new S3LineWriter(
              deps.s3,
              deps.artifactsBucket,
              layout.stagingQuarantine(runId, part.index),
            );
            return quarantine;
          },
        },
      );
      const stagingObject = await staging.close();
      const quarantineObject = quarantine ? await quarantine.close() : undefined;
      metrics.addMetric('RecordsProcessed', 'Count', stats.good + stats.quarantined);
      metrics.addMetric('RecordsQuarantined', 'Count', stats.quarantined);
      logger.info('Part processed', { ...stats });
      return {
        index: part.index,
        ...stats,
        staging: { bucket: stagingObject.bucket, key: stagingObject.key },
        quarantine: quarantineObject ? { bucket: quarantineObject.bucket, key: quarantineObject.key } : null,
      };
    } catch (error) {
      await staging.abort();
      await quarantine?.abort();
      throw error;
    }
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  ARTIFACTS_BUCKET: envVar.string(),
  MAX_RECORD_BYTES: envVar.int(1),
  PII_COMPREHEND: envVar.bool(false),
};

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({
    s3: createS3Client(),
    artifactsBucket: config.ARTIFACTS_BUCKET,
    maxRecordBytes: config.MAX_RECORD_BYTES,
    comprehend: config.PII_COMPREHEND ? new ComprehendRedactor(createComprehendClient()) : undefined,
  }),
);
