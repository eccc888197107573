import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { createDocumentClient, createS3Client } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { DatasetRegistry } from '#aws/dataset-registry.ts';
import { InvalidDatasetError, SourceChangedError } from '#aws/errors.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { writeStaged } from '#aws/rag/staging.ts';
import { headObject, stripQuotes } from '#aws/s3-io.ts';
import { envVar } from '#contracts/env.ts';
import { layout, type PlanOutput } from '#contracts/pipelines/dataprep.ts';
import { planRanges } from '#core/dataprep/lines.ts';
import { isPurpose, type Purpose } from '#core/dataprep/records.ts';
import { s3ObjectCreatedEvent } from '#events/s3-object-created.ts';

/**
 * Plan: the first DataPrep task. Validates the S3 event, derives the dataset (purpose and name) from
 * the key `raw/<purpose>/<name>.jsonl` or `raw/<purpose>/<name>/<file>.jsonl`, claims the exact object
 * version in the registry (a redelivered event becomes DUPLICATE and changes nothing), and splits the
 * object into byte ranges for the parallel Map state: it stages them as the Distributed Map's items (one
 * range per line) and returns their location, so the number of parts is not bounded by the state's size.
 */
const SUPPORTED_EXTENSIONS = ['.jsonl', '.ndjson'];
const NAME_MAX = 96;

/** The state machine passes `{event, executionName}`; a bare S3 event is accepted too (manual runs). */
const wrappedInput = z.object({ event: z.unknown(), executionName: z.string().min(1) });

export interface PlanDeps {
  readonly s3: S3Client;
  readonly registry: Pick<DatasetRegistry, 'claimSource'>;
  /** Where the Map's items are staged (under `staging/dataprep/items/`). */
  readonly artifactsBucket: string;
  readonly partSizeBytes: number;
  readonly maxParts: number;
  readonly now?: () => Date;
}

/** Derives purpose and dataset name from a raw object key, or explains why it cannot. */
export function datasetFromKey(key: string): { purpose: Purpose; name: string } {
  const segments = key.split('/');
  const [root, purpose, ...rest] = segments;
  if (root !== 'raw' || purpose === undefined || rest.length === 0) {
    throw new InvalidDatasetError(`Object key "${key}" is not under raw/<purpose>/`);
  }
  if (!isPurpose(purpose)) {
    throw new InvalidDatasetError(
      `Object key "${key}": unknown purpose "${purpose}" (expected finetune, preference, rag or golden)`,
    );
  }
  const file = rest[rest.length - 1] ?? '';
  const extension = SUPPORTED_EXTENSIONS.find((ext) => file.toLowerCase().endsWith(ext));
  if (!extension) {
    throw new InvalidDatasetError(
      `Object key "${key}": only JSON Lines files (${SUPPORTED_EXTENSIONS.join(', ')}) can be prepared`,
    );
  }
  const rawName = rest.length > 1 ? (rest[0] ?? '') : file.slice(0, -extension.length);
  const name = rawName
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, NAME_MAX);
  if (name.length === 0) throw new InvalidDatasetError(`Object key "${key}" gives an empty dataset name`);
  return { purpose, name };
}

function decodeKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    return key;
  }
}

export function makeHandler(deps: PlanDeps) {
  return async (input: unknown, context: Context): Promise<PlanOutput> => {
    const wrapped = wrappedInput.safeParse(input);
    const event = parseInput(
      s3ObjectCreatedEvent,
      wrapped.success ? wrapped.data.event : input,
      'DataPrep input (S3 Object Created event)',
    );
    const executionName = wrapped.success ? wrapped.data.executionName : context.awsRequestId;
    const runId = executionName.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80);
    logger.appendKeys({ runId, eventId: event.id });

    const bucket = event.detail.bucket.name;
    let key = event.detail.object.key;
    const versionId = event.detail.object['version-id'];
    // A key outside raw/ is refused by name before anything is read (its role may not read it).
    try {
      datasetFromKey(key);
    } catch (error) {
      if (decodeKey(key) === key) throw error;
      datasetFromKey(decodeKey(key));
    }
    let head = await headObject(deps.s3, { bucket, key, versionId });
    if (!head && decodeKey(key) !== key) {
      // S3 notifications URL-encode keys in some integrations; accept both forms.
      key = decodeKey(key);
      head = await headObject(deps.s3, { bucket, key, versionId });
    }
    if (!head)
      throw new SourceChangedError(`s3://${bucket}/${key} (version ${versionId ?? 'none'}) no longer exists`);
    const eventEtag = event.detail.object.etag ? stripQuotes(event.detail.object.etag) : undefined;
    if (!versionId && eventEtag && eventEtag !== head.etag) {
      throw new SourceChangedError(`s3://${bucket}/${key} was overwritten after the event (ETag changed)`);
    }
    const dataset = datasetFromKey(key);
    const source = { bucket, key, versionId: head.versionId, etag: eventEtag ?? head.etag, size: head.size };

    const claim = await deps.registry.claimSource(source, dataset, runId, deps.now?.() ?? new Date());
    if (claim.status === 'DUPLICATE') {
      logger.info('Object version already claimed; nothing to do', { claim });
      metrics.addMetric('DuplicateUploads', 'Count', 1);
      return {
        status: 'DUPLICATE',
        runId,
        source,
        existing: { ...dataset, version: claim.version, state: claim.state, runId: claim.runId },
      };
    }
    metrics.addMetric('UploadsAccepted', 'Count', 1);
    const datasetRef = { ...dataset, version: claim.version };
    const parts = planRanges(head.size, { partSize: deps.partSizeBytes, maxParts: deps.maxParts });
    const items = { bucket: deps.artifactsBucket, key: layout.items(runId) };
    await writeStaged(deps.s3, items, parts);
    logger.info('Planned dataset preparation', { dataset: datasetRef, size: head.size, parts: parts.length });
    return {
      status: 'NEW',
      runId,
      dataset: datasetRef,
      source,
      outputPrefix: layout.outputPrefix(datasetRef),
      items,
      partCount: parts.length,
    };
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  DATASETS_TABLE: envVar.string(),
  ARTIFACTS_BUCKET: envVar.string(),
  PART_SIZE_BYTES: envVar.int(1024),
  MAX_PARTS: envVar.int(1),
};

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({
    s3: createS3Client(),
    registry: new DatasetRegistry(createDocumentClient(), config.DATASETS_TABLE),
    artifactsBucket: config.ARTIFACTS_BUCKET,
    partSizeBytes: config.PART_SIZE_BYTES,
    maxParts: config.MAX_PARTS,
  }),
);
