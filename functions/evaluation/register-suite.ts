import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { createDocumentClient, createS3Client } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { InvalidDatasetError, InvalidEventError } from '#aws/errors.ts';
import { DynamoEvaluationStore } from '#aws/eval/dynamo-evaluation-store.ts';
import type { EvaluationStore, SuiteVersion } from '#aws/eval/evaluation-store.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { readText } from '#aws/s3-io.ts';
import { envVar } from '#contracts/env.ts';
import { SUITE_NAME } from '#contracts/evaluation/suite.ts';
import { parseSuite } from '#core/eval/suite.ts';
import { type DatasetReadyDetail, datasetReadyEvent } from '#events/dataset-ready.ts';

/**
 * RegisterSuite: the target of `llmops.DatasetReady` with `purpose: golden`. A golden dataset version
 * that DataPrep curated becomes a registered evaluation suite version of the same name and version:
 * its curated file (`data`: DataPrep keeps each record's own fields, PII redacted, so the lines parse
 * as the suite format) is parsed as a suite to count its valid items and distinct tags, and the version
 * is registered once (a redelivered event finds it registered and changes nothing).
 *
 * Left alone, logged and counted (`EvaluationSuitesSkipped`): a dataset of another purpose, and one whose
 * name cannot be a suite name. A curated file without a single valid item fails the invocation
 * (`InvalidDatasetError`: the event goes to the dead-letter queue, which alarms).
 */
export interface RegisterSuiteDeps {
  readonly s3: S3Client;
  readonly store: Pick<EvaluationStore, 'registerSuite'>;
  readonly now?: () => Date;
}

export type RegisterSuiteResult =
  | {
      readonly outcome: 'created' | 'exists';
      readonly name: string;
      readonly version: number;
      readonly items: number;
      readonly tags: number;
    }
  | { readonly outcome: 'skipped'; readonly reason: string };

/** The file of a golden dataset version: `data` (DataPrep writes one, unsplit), or its only file. */
export function suiteFile(detail: Pick<DatasetReadyDetail, 'files' | 'name' | 'version'>): {
  bucket: string;
  key: string;
} {
  const names = Object.keys(detail.files);
  const file = detail.files.data ?? (names.length === 1 ? detail.files[names[0] as string] : undefined);
  if (file === undefined) {
    throw new InvalidEventError(
      `files: golden dataset ${detail.name} v${detail.version} must have a "data" file (got ${names.join(', ') || 'none'})`,
    );
  }
  return file;
}

function skipped(reason: string, extra: Record<string, unknown>): RegisterSuiteResult {
  logger.warn('Golden dataset not registered as a suite', { reason, ...extra });
  metrics.addMetric('EvaluationSuitesSkipped', 'Count', 1);
  return { outcome: 'skipped', reason };
}

export function makeHandler(deps: RegisterSuiteDeps) {
  const now = deps.now ?? (() => new Date());
  return async (input: unknown, _context?: Context): Promise<RegisterSuiteResult> => {
    const event = parseInput(datasetReadyEvent, input, 'llmops.DatasetReady event');
    const { detail } = event;
    logger.appendKeys({ dataset: detail.name, version: detail.version, eventId: event.id });
    if (detail.purpose !== 'golden') {
      return skipped(`dataset ${detail.name} is for ${detail.purpose}, not an evaluation suite (golden)`, {});
    }
    if (!SUITE_NAME.test(detail.name)) {
      return skipped(
        `dataset name ${JSON.stringify(detail.name)} is not a suite name (1-64 lowercase letters, digits, "_" or "-", starting with a letter or digit): rename the upload`,
        {},
      );
    }
    const location = suiteFile(detail);
    const parsed = parseSuite(await readText(deps.s3, location.bucket, location.key), {
      name: detail.name,
      version: String(detail.version),
    });
    if (parsed.quarantined.length > 0) {
      logger.warn('Lines of the golden dataset are not valid suite items', {
        quarantined: parsed.quarantined.length,
        first: parsed.quarantined.slice(0, 5),
      });
      metrics.addMetric('EvaluationSuiteLinesQuarantined', 'Count', parsed.quarantined.length);
    }
    if (parsed.items.length === 0) {
      const reasons = parsed.quarantined.slice(0, 3).map((q) => `line ${q.line}: ${q.reason}`);
      throw new InvalidDatasetError(
        `Golden dataset ${detail.name} v${detail.version} (s3://${location.bucket}/${location.key}) holds no valid suite item${reasons.length > 0 ? ` (${reasons.join('; ')})` : ''}`,
      );
    }
    const suite: SuiteVersion = {
      name: detail.name,
      version: detail.version,
      items: parsed.items.length,
      tags: Object.keys(parsed.summary.tags).sort(),
      location,
      contentHash: detail.contentHash,
      registeredAt: now().toISOString(),
    };
    const outcome = await deps.store.registerSuite(suite);
    metrics.addMetric(
      outcome === 'created' ? 'EvaluationSuitesRegistered' : 'EvaluationSuitesUnchanged',
      'Count',
      1,
    );
    logger.info(outcome === 'created' ? 'Suite registered' : 'Suite version already registered', {
      items: suite.items,
      tags: suite.tags.length,
    });
    return {
      outcome,
      name: suite.name,
      version: suite.version,
      items: suite.items,
      tags: suite.tags.length,
    };
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = { EVALUATIONS_TABLE: envVar.string() };

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({
    s3: createS3Client(),
    store: new DynamoEvaluationStore(createDocumentClient(), config.EVALUATIONS_TABLE),
  }),
);
