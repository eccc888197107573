import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { envVar, readConfig } from '#aws/config.ts';
import { InvalidEventError, SourceChangedError } from '#aws/errors.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import type { DocumentTable } from '#aws/rag/documents.ts';
import type { DocumentReporter } from '#aws/rag/reporter.ts';
import { writeStaged } from '#aws/rag/staging.ts';
import { headObject, stripQuotes } from '#aws/s3-io.ts';
import {
  type BatchRef,
  type DeletionItem,
  documentVersion,
  type PlanOutput,
  ragLayout,
  type StagedDocument,
} from '#contracts/pipelines/rag-ingest.ts';
import { RAG_RAW_PREFIX } from '#contracts/storage-layout.ts';
import { DocumentParseError, type ParsedDocument, parseDocument } from '#core/rag/parse.ts';
import { DATASET_READY, datasetReadyEvent } from '#events/dataset-ready.ts';
import { s3ObjectCreatedEvent, s3ObjectDeletedEvent } from '#events/s3-object-created.ts';
import { ragEnv, stepDeps } from './shared.ts';

/**
 * Plan: the first RagIngest task. From an upload under `raw/rag/` (one file, parsed here), a deletion of
 * one, or `llmops.DatasetReady {purpose: rag}` (the curated records of a dataset version), it works out
 * which documents changed, claims each changed version in the status table (`queued`), and stages them
 * in batches for the Map. Unchanged documents (same content hash, same embedding model) are skipped;
 * documents a newer dataset version no longer has are scheduled for deletion. A file that cannot be
 * parsed is recorded as `failed` with the reason, and the run fails at the end so that an alarm sees it.
 */
/** Collection of documents uploaded as files. */
export const UPLOAD_COLLECTION = 'upload';
/**
 * Most Map items per run: each item's result stays in the execution state (256 KiB in all), so a large
 * dataset gets bigger batches rather than more of them.
 */
export const MAX_BATCHES = 500;
/** Status-table claims in flight at once. */
const CLAIM_CONCURRENCY = 16;

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

const wrappedInput = z.object({ event: z.unknown(), executionName: z.string().min(1) });
const detailType = z.object({ 'detail-type': z.string() });

export interface PlanDeps {
  readonly s3: S3Client;
  readonly table: Pick<DocumentTable, 'claim' | 'liveDocuments' | 'markFailed'>;
  readonly reporter: Pick<DocumentReporter, 'fail'>;
  readonly artifactsBucket: string;
  readonly chunkMaxTokens: number;
  readonly chunkOverlapTokens: number;
  readonly embeddingModelId: string;
  readonly maxDocumentBytes: number;
  /** Documents per Map item. */
  readonly batchSize: number;
  readonly now?: () => Date;
}

interface Planned {
  trigger: PlanOutput['trigger'];
  origin: string;
  collection: string;
  documents: ParsedDocument[];
  deletions: DeletionItem[];
  sequencer?: string;
  /** A file that could not be parsed: recorded as a failed document. */
  parseFailure?: { docId: string; version: string; error: unknown; source: string };
  /** For datasets: the documents of the collection that the new version no longer has are deleted. */
  replacesCollection: boolean;
}

/** The document id of an upload: its key under `raw/rag/`. */
export function docIdFromKey(key: string): string {
  if (!key.startsWith(RAG_RAW_PREFIX) || key.length === RAG_RAW_PREFIX.length) {
    throw new InvalidEventError(`Object key "${key}" is not under ${RAG_RAW_PREFIX}`);
  }
  return key.slice(RAG_RAW_PREFIX.length);
}

function decodeKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    return key;
  }
}

async function readObject(
  s3: S3Client,
  ref: { bucket: string; key: string; versionId?: string | undefined },
): Promise<Uint8Array> {
  const response = await s3.send(
    new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, VersionId: ref.versionId }),
  );
  return (await response.Body?.transformToByteArray()) ?? new Uint8Array();
}

function cleanMetadata(metadata: ParsedDocument['metadata']): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(metadata)) if (value !== null) out[key] = value;
  return out;
}

export function makeHandler(deps: PlanDeps) {
  const now = deps.now ?? (() => new Date());
  const settings = {
    chunkMaxTokens: deps.chunkMaxTokens,
    chunkOverlapTokens: deps.chunkOverlapTokens,
    embeddingModelId: deps.embeddingModelId,
  };

  async function fromUpload(input: unknown): Promise<Planned> {
    const event = parseInput(s3ObjectCreatedEvent, input, 'RagIngest input (S3 Object Created event)');
    return planObject({
      bucket: event.detail.bucket.name,
      key: event.detail.object.key,
      versionId: event.detail.object['version-id'],
      etag: event.detail.object.etag,
      sequencer: event.detail.object.sequencer,
    });
  }

  async function planObject(object: {
    bucket: string;
    key: string;
    versionId?: string | undefined;
    etag?: string | undefined;
    sequencer?: string | undefined;
  }): Promise<Planned> {
    const { bucket, versionId } = object;
    let key = object.key;
    let head = await headObject(deps.s3, { bucket, key, versionId });
    if (!head && decodeKey(key) !== key) {
      key = decodeKey(key);
      head = await headObject(deps.s3, { bucket, key, versionId });
    }
    if (!head)
      throw new SourceChangedError(`s3://${bucket}/${key} (version ${versionId ?? 'none'}) no longer exists`);
    const eventEtag = object.etag ? stripQuotes(object.etag) : undefined;
    if (!versionId && eventEtag && eventEtag !== head.etag) {
      throw new SourceChangedError(`s3://${bucket}/${key} was overwritten after the event (ETag changed)`);
    }
    const docId = docIdFromKey(key);
    const planned: Planned = {
      trigger: 'upload',
      origin: `s3://${bucket}/${key}`,
      collection: UPLOAD_COLLECTION,
      documents: [],
      deletions: [],
      replacesCollection: false,
      ...(object.sequencer ? { sequencer: object.sequencer } : {}),
    };
    const failVersion = `raw:${head.etag}`;
    if (head.size > deps.maxDocumentBytes) {
      planned.parseFailure = {
        docId,
        version: failVersion,
        source: key,
        error: new DocumentParseError(
          key,
          `the file is ${head.size} bytes, more than the ${deps.maxDocumentBytes} bytes a document may have`,
        ),
      };
      return planned;
    }
    const bytes = await readObject(deps.s3, { bucket, key, versionId: head.versionId });
    try {
      // Ids and sources are relative to raw/rag/, so that the document id is the file's own path.
      planned.documents = await parseDocument({ key: docId, bytes });
    } catch (error) {
      if (!(error instanceof DocumentParseError)) throw error;
      planned.parseFailure = { docId, version: failVersion, source: docId, error };
    }
    return planned;
  }

  async function fromDeletion(input: unknown): Promise<Planned> {
    const event = parseInput(s3ObjectDeletedEvent, input, 'RagIngest input (S3 Object Deleted event)');
    const bucket = event.detail.bucket.name;
    const key = decodeKey(event.detail.object.key);
    const sequencer = event.detail.object.sequencer;
    // In a versioned bucket, deleting an old version (or a delete marker) leaves a current version: the
    // document is still there, and is (re-)ingested as it now is rather than removed.
    if (await headObject(deps.s3, { bucket, key })) {
      return planObject({ bucket, key, sequencer });
    }
    return {
      trigger: 'delete',
      origin: `s3://${event.detail.bucket.name}/${key}`,
      collection: UPLOAD_COLLECTION,
      documents: [],
      deletions: [
        { docId: docIdFromKey(key), collection: UPLOAD_COLLECTION, ...(sequencer ? { sequencer } : {}) },
      ],
      replacesCollection: false,
    };
  }

  async function fromDataset(input: unknown): Promise<Planned> {
    const event = parseInput(datasetReadyEvent, input, 'RagIngest input (llmops.DatasetReady event)');
    const { detail } = event;
    if (detail.purpose !== 'rag') {
      throw new InvalidEventError(
        `Dataset ${detail.name} v${detail.version} has purpose ${detail.purpose}, not rag`,
      );
    }
    const file = detail.files.data;
    if (!file) throw new InvalidEventError(`Dataset ${detail.name} v${detail.version} has no "data" file`);
    const bytes = await readObject(deps.s3, file);
    // Record ids become `<dataset>/<id>`; records without one are `<dataset>#<line>`.
    const parsed = await parseDocument({ key: detail.name, bytes, contentType: 'application/jsonl' });
    const documents = parsed.map((doc) =>
      doc.id.startsWith(`${detail.name}#`) ? doc : { ...doc, id: `${detail.name}/${doc.id}` },
    );
    return {
      trigger: 'dataset',
      origin: `dataset:${detail.name}@v${detail.version}`,
      collection: `dataset:${detail.name}`,
      documents,
      deletions: [],
      replacesCollection: true,
    };
  }

  return async (input: unknown, context: Context): Promise<PlanOutput> => {
    const wrapped = wrappedInput.safeParse(input);
    const event = wrapped.success ? wrapped.data.event : input;
    const executionName = wrapped.success ? wrapped.data.executionName : context.awsRequestId;
    const runId = executionName.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80);
    logger.appendKeys({ runId });
    const type = detailType.safeParse(event);
    const kind = type.success ? type.data['detail-type'] : undefined;
    const planned =
      kind === 'Object Created'
        ? await fromUpload(event)
        : kind === 'Object Deleted'
          ? await fromDeletion(event)
          : kind === DATASET_READY
            ? await fromDataset(event)
            : (() => {
                throw new InvalidEventError(
                  `RagIngest starts from S3 Object Created/Deleted or ${DATASET_READY}, got ${kind ?? 'an event without detail-type'}`,
                );
              })();

    const counts = { queued: 0, unchanged: 0, stale: 0, failed: 0, deletions: 0 };
    const at = now();
    if (planned.parseFailure) {
      const { docId, version, error, source } = planned.parseFailure;
      const claim = await deps.table.claim({
        docId,
        version,
        collection: planned.collection,
        runId,
        embeddingModelId: deps.embeddingModelId,
        source,
        ...(planned.sequencer ? { sequencer: planned.sequencer } : {}),
        now: at,
      });
      if (claim === 'claimed') {
        await deps.reporter.fail(
          deps.table,
          { docId, version, collection: planned.collection, source },
          error,
          runId,
          at,
        );
        counts.failed += 1;
      } else counts.stale += 1;
    }

    const seen = new Set(planned.documents.map((doc) => doc.id));
    const claimed = await mapLimit(planned.documents, CLAIM_CONCURRENCY, async (doc) => {
      const metadata = cleanMetadata(doc.metadata);
      const base = {
        docId: doc.id,
        collection: planned.collection,
        format: doc.format,
        text: doc.text,
        metadata,
        ...(doc.title !== undefined ? { title: doc.title } : {}),
        ...(doc.source !== undefined ? { source: doc.source } : {}),
        ...(doc.pages !== undefined ? { pages: doc.pages } : {}),
      };
      const version = documentVersion(base, settings);
      const claim = await deps.table.claim({
        docId: doc.id,
        version,
        collection: planned.collection,
        runId,
        embeddingModelId: deps.embeddingModelId,
        format: doc.format,
        ...(doc.title !== undefined ? { title: doc.title } : {}),
        ...(doc.source !== undefined ? { source: doc.source } : {}),
        ...(planned.sequencer ? { sequencer: planned.sequencer } : {}),
        now: at,
      });
      return { claim, staged: { ...base, version } };
    });
    const staged: StagedDocument[] = [];
    for (const { claim, staged: doc } of claimed) {
      if (claim === 'claimed') {
        staged.push(doc);
        counts.queued += 1;
      } else if (claim === 'unchanged') counts.unchanged += 1;
      else counts.stale += 1;
    }

    const deletions = [...planned.deletions];
    if (planned.replacesCollection) {
      for (const live of await deps.table.liveDocuments(planned.collection)) {
        if (!seen.has(live.docId)) deletions.push({ docId: live.docId, collection: planned.collection });
      }
    }
    counts.deletions = deletions.length;

    const batches: BatchRef[] = [];
    const batchSize = Math.max(deps.batchSize, Math.ceil((staged.length + deletions.length) / MAX_BATCHES));
    const stage = async (kind: BatchRef['kind'], items: readonly unknown[]) => {
      for (let start = 0; start < items.length; start += batchSize) {
        const slice = items.slice(start, start + batchSize);
        const location = { bucket: deps.artifactsBucket, key: ragLayout.batch(runId, batches.length) };
        await writeStaged(deps.s3, location, slice);
        batches.push({ kind, index: batches.length, location, count: slice.length });
      }
    };
    await stage('ingest', staged);
    await stage('delete', deletions);

    metrics.addMetric('RagDocumentsQueued', 'Count', counts.queued);
    metrics.addMetric('RagDocumentsUnchanged', 'Count', counts.unchanged);
    logger.info('Planned RAG ingestion', { origin: planned.origin, counts, batches: batches.length });
    return { runId, trigger: planned.trigger, origin: planned.origin, batches, counts };
  };
}

const config = readConfig({
  ...ragEnv,
  CHUNK_MAX_TOKENS: envVar.int(1),
  CHUNK_OVERLAP_TOKENS: envVar.int(0),
  EMBEDDING_MODEL_ID: envVar.string(),
  MAX_DOCUMENT_BYTES: envVar.int(1),
  DOCUMENT_BATCH_SIZE: envVar.int(1),
});

export const handler = withObservability(
  makeHandler({
    ...stepDeps(config),
    artifactsBucket: config.ARTIFACTS_BUCKET,
    chunkMaxTokens: config.CHUNK_MAX_TOKENS,
    chunkOverlapTokens: config.CHUNK_OVERLAP_TOKENS,
    embeddingModelId: config.EMBEDDING_MODEL_ID,
    maxDocumentBytes: config.MAX_DOCUMENT_BYTES,
    batchSize: config.DOCUMENT_BATCH_SIZE,
  }),
);
