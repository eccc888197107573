import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { isRetryableErrorName, TRANSIENT_AWS_ERROR_CODES } from '#contracts/retryable-errors.ts';
import { RAG_RAW_PREFIX, STAGING_PREFIX } from '#contracts/storage-layout.ts';
import { mapLimited } from '#core/map-limited.ts';
import { type ChangeSet, planChanges } from '#core/rag/change-plan.ts';
import { DocumentParseError } from '#core/rag/parse/document.ts';
import { parseDocument } from '#core/rag/parse.ts';
import { DATASET_READY, datasetReadyEvent } from '#events/dataset-ready.ts';
import { s3ObjectCreatedEvent, s3ObjectDeletedEvent } from '#events/s3-object-created.ts';
import { InvalidEventError, SourceChangedError } from '../errors.ts';
import { parseInput } from '../parse-input.ts';
import { headObject, isNotFound, stripQuotes } from '../s3-io.ts';
import { orderableSequencer } from './documents.ts';

type S3ObjectCreatedEvent = z.infer<typeof s3ObjectCreatedEvent>;
type S3ObjectDeletedEvent = z.infer<typeof s3ObjectDeletedEvent>;
type DatasetReadyEvent = z.infer<typeof datasetReadyEvent>;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Collection of documents uploaded as files. */
export const UPLOAD_COLLECTION = 'upload';

/** An event RagIngest starts from, parsed with its schema (nothing read from S3 yet). */
export type TriggerEvent =
  | { readonly kind: 'created'; readonly event: S3ObjectCreatedEvent }
  | { readonly kind: 'deleted'; readonly event: S3ObjectDeletedEvent }
  | { readonly kind: 'dataset'; readonly event: DatasetReadyEvent };

/**
 * Parses an event RagIngest starts from: S3 Object Created/Deleted or `llmops.DatasetReady`.
 *
 * @throws InvalidEventError naming the events it starts from, or the field and rule a known one breaks
 */
export function parseTriggerEvent(event: unknown): TriggerEvent {
  const type = detailType.safeParse(event);
  const kind = type.success ? type.data['detail-type'] : undefined;
  switch (kind) {
    case 'Object Created':
      return {
        kind: 'created',
        event: parseInput(s3ObjectCreatedEvent, event, 'RagIngest input (S3 Object Created event)'),
      };
    case 'Object Deleted':
      return {
        kind: 'deleted',
        event: parseInput(s3ObjectDeletedEvent, event, 'RagIngest input (S3 Object Deleted event)'),
      };
    case DATASET_READY:
      return {
        kind: 'dataset',
        event: parseInput(datasetReadyEvent, event, 'RagIngest input (llmops.DatasetReady event)'),
      };
    default:
      throw new InvalidEventError(
        `RagIngest starts from S3 Object Created/Deleted or ${DATASET_READY}, got ${kind ?? 'an event without detail-type'}`,
      );
  }
}

const detailType = z.object({ 'detail-type': z.string() });

/**
 * One record of a batch the trigger queue delivers (an SQS record, as EventBridge Pipes passes it to
 * Step Functions). Only what Plan reads is required: the message id (to name a bad record) and the body.
 * The body is the event as JSON text; an object is taken as the event itself (what a pipe whose
 * InputTemplate references `<$.body>` passes, as Pipes parses a JSON body it is asked for).
 */
export const triggerRecord = z.looseObject({
  messageId: z.string().min(1),
  body: z.union([z.string(), z.record(z.string(), z.unknown())]),
});

/** A record of a batch that names no event RagIngest can start from, with the reason. */
export interface RejectedRecord {
  /** The SQS message id, or `#<position>` when the record has none. */
  readonly record: string;
  readonly reason: string;
  /** The record's body as delivered (absent when the record itself was malformed). */
  readonly body?: unknown;
}

/** What a batch of trigger events brings: one change set per event that is still current. */
export interface ChangeBatch {
  /** Records in the batch. */
  readonly records: number;
  /** The change sets of the events that won, in the order of their records. */
  readonly changeSets: readonly ChangeSet[];
  /**
   * Events that need no work of their own: a later event of the batch on the same document replaced
   * them, or their object changed after them (S3 sends an event for that change, which ingests it).
   */
  readonly superseded: number;
  /** Records that are not events RagIngest starts from, or whose source cannot be read (4xx). */
  readonly rejected: readonly RejectedRecord[];
}

/** Whether `changes` is a batch's (an array input) rather than one event's. */
export function isChangeBatch(changes: ChangeSet | ChangeBatch): changes is ChangeBatch {
  return 'changeSets' in changes;
}

/**
 * Where Plan keeps the records of a batch it rejected (one JSON line each: message id, reason, body),
 * beside the run's staging (under the staging lifecycle rule).
 */
export const ragRejectedKey = (runId: string) => `${STAGING_PREFIX}rag/${runId}/rejected.jsonl`;

/** Change sets read at once from a batch (each reads its object or dataset from S3). */
const READ_CONCURRENCY = 8;
/** Change sets planned at once (each claims its documents in the status table). */
const PLAN_CONCURRENCY = 8;
/** Origins named in a batch's origin before `(+N more)`. */
const ORIGINS_NAMED = 3;

/**
 * What each RagIngest trigger brings, read from S3: an upload under `raw/rag/` (one file, parsed here,
 * checked against the event's version and ETag), a deletion of one, or the curated records of a dataset
 * version. A file that cannot be parsed (or is too large) becomes a parse failure of the change set,
 * recorded as a failed document by the plan; a source that changed after its event is a
 * `SourceChangedError`.
 */
export class ChangeSources {
  constructor(
    private readonly s3: S3Client,
    private readonly maxDocumentBytes: number,
  ) {}

  /** The change set of one event (parsed here). @throws InvalidEventError, SourceChangedError */
  fromEvent(event: unknown): Promise<ChangeSet> {
    return this.fromTrigger(parseTriggerEvent(event));
  }

  /** The change set of a parsed event. */
  fromTrigger(trigger: TriggerEvent): Promise<ChangeSet> {
    switch (trigger.kind) {
      case 'created':
        return this.fromUpload(trigger.event);
      case 'deleted':
        return this.fromDeletion(trigger.event);
      case 'dataset':
        return this.fromDataset(trigger.event);
    }
  }

  /**
   * The change sets of a batch of SQS records (the input EventBridge Pipes gives an execution). Each
   * record is parsed with the event schemas; of the events on one document (one S3 key, or one dataset)
   * only the latest counts (see {@link latestPerSubject}); a bad record is rejected with its reason and
   * the others go on. Transient and unexpected errors are thrown, so that the step is retried.
   */
  async fromBatch(records: readonly unknown[]): Promise<ChangeBatch> {
    const rejected: RejectedRecord[] = [];
    const parsed: { record: string; trigger: TriggerEvent; position: number }[] = [];
    records.forEach((raw, position) => {
      const envelope = triggerRecord.safeParse(raw);
      if (!envelope.success) {
        rejected.push({ record: `#${position}`, reason: 'not an SQS record with a messageId and a body' });
        return;
      }
      const { messageId: record, body } = envelope.data;
      let event: unknown = body;
      if (typeof body === 'string') {
        try {
          event = JSON.parse(body);
        } catch {
          rejected.push({ record, reason: 'the body is not JSON', body });
          return;
        }
      }
      try {
        parsed.push({ record, trigger: parseTriggerEvent(event), position });
      } catch (error) {
        if (!(error instanceof InvalidEventError)) throw error;
        rejected.push({ record, reason: error.message, body: event });
      }
    });
    const current = latestPerSubject(parsed);
    let superseded = parsed.length - current.length;
    const changeSets = await mapLimited(current, READ_CONCURRENCY, async ({ record, trigger }) => {
      try {
        return await this.fromTrigger(trigger);
      } catch (error) {
        if (error instanceof SourceChangedError) {
          superseded += 1;
          return undefined;
        }
        if (!isRecordFault(error)) throw error;
        rejected.push({ record, reason: `${error.name}: ${error.message}`, body: trigger.event });
        return undefined;
      }
    });
    return {
      records: records.length,
      changeSets: changeSets.filter((c): c is ChangeSet => c !== undefined),
      superseded,
      rejected,
    };
  }

  /** An uploaded file. */
  async fromUpload(event: S3ObjectCreatedEvent): Promise<ChangeSet> {
    return this.planObject({
      bucket: event.detail.bucket.name,
      key: event.detail.object.key,
      versionId: event.detail.object['version-id'],
      etag: event.detail.object.etag,
      sequencer: event.detail.object.sequencer,
    });
  }

  private async planObject(object: {
    bucket: string;
    key: string;
    versionId?: string | undefined;
    etag?: string | undefined;
    sequencer?: string | undefined;
  }): Promise<ChangeSet> {
    const { bucket, versionId } = object;
    let key = object.key;
    // One GET: its headers (size, ETag, version) come before the body, which is read only when the size is
    // within the limit; the body is then exactly the version those headers describe.
    let opened = await openObject(this.s3, { bucket, key, versionId });
    if (!opened && decodeKey(key) !== key) {
      key = decodeKey(key);
      opened = await openObject(this.s3, { bucket, key, versionId });
    }
    if (!opened)
      throw new SourceChangedError(`s3://${bucket}/${key} (version ${versionId ?? 'none'}) no longer exists`);
    const eventEtag = object.etag ? stripQuotes(object.etag) : undefined;
    if (!versionId && eventEtag && eventEtag !== opened.etag) {
      opened.discard();
      throw new SourceChangedError(`s3://${bucket}/${key} was overwritten after the event (ETag changed)`);
    }
    const docId = docIdFromKey(key);
    const planned: Mutable<ChangeSet> = {
      trigger: 'upload',
      origin: `s3://${bucket}/${key}`,
      collection: UPLOAD_COLLECTION,
      documents: [],
      deletions: [],
      replacesCollection: false,
      ...(object.sequencer ? { sequencer: object.sequencer } : {}),
    };
    const failVersion = `raw:${opened.etag}`;
    if (opened.size > this.maxDocumentBytes) {
      opened.discard();
      planned.parseFailure = {
        docId,
        version: failVersion,
        source: key,
        error: new DocumentParseError(
          key,
          `the file is ${opened.size} bytes, more than the ${this.maxDocumentBytes} bytes a document may have`,
        ),
      };
      return planned;
    }
    const bytes = await opened.read();
    try {
      // Ids and sources are relative to raw/rag/, so that the document id is the file's own path.
      planned.documents = await parseDocument({ key: docId, bytes });
    } catch (error) {
      if (!(error instanceof DocumentParseError)) throw error;
      planned.parseFailure = { docId, version: failVersion, source: docId, error };
    }
    return planned;
  }

  /** A deleted file: its document leaves the store, unless a current version of the key remains. */
  async fromDeletion(event: S3ObjectDeletedEvent): Promise<ChangeSet> {
    const bucket = event.detail.bucket.name;
    const key = decodeKey(event.detail.object.key);
    const sequencer = event.detail.object.sequencer;
    // In a versioned bucket, deleting an old version (or a delete marker) leaves a current version: the
    // document is still there, and is (re-)ingested as it now is rather than removed.
    if (await headObject(this.s3, { bucket, key })) {
      return this.planObject({ bucket, key, sequencer });
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

  /** A curated dataset version: its records are the collection's documents from now on. */
  async fromDataset(event: DatasetReadyEvent): Promise<ChangeSet> {
    const { detail } = event;
    if (detail.purpose !== 'rag') {
      throw new InvalidEventError(
        `Dataset ${detail.name} v${detail.version} has purpose ${detail.purpose}, not rag`,
      );
    }
    const file = detail.files.data;
    if (!file) throw new InvalidEventError(`Dataset ${detail.name} v${detail.version} has no "data" file`);
    const bytes = await readObject(this.s3, file);
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

/** An object whose GET answered: its headers, with the body not read yet. */
interface OpenedObject {
  readonly size: number;
  readonly etag: string;
  /** Reads the whole body. */
  read(): Promise<Uint8Array>;
  /** Drops the body unread (the connection is closed, nothing more is transferred). */
  discard(): void;
}

/** GETs an object version and stops at its headers; undefined when it does not exist. */
async function openObject(
  s3: S3Client,
  ref: { bucket: string; key: string; versionId?: string | undefined },
): Promise<OpenedObject | undefined> {
  let response: GetObjectCommandOutput;
  try {
    response = await s3.send(
      new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, VersionId: ref.versionId }),
    );
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  const body = response.Body;
  return {
    size: response.ContentLength ?? 0,
    etag: stripQuotes(response.ETag ?? ''),
    read: async () => (await body?.transformToByteArray()) ?? new Uint8Array(),
    discard: () => {
      (body as { destroy?: () => void } | undefined)?.destroy?.();
    },
  };
}

/**
 * Of the events on one subject (the object of an S3 key, or a dataset's collection), the latest: by S3's
 * sequencer when both events carry one (it orders the events of one key, whatever their times), else by
 * event time, else by dataset version, else by position in the batch. Survivors keep their batch order.
 * An earlier event would only be planned to lose (its claim is stale) or, for an object that changed
 * since, fail to read it.
 */
export function latestPerSubject<T extends { trigger: TriggerEvent; position: number }>(
  events: readonly T[],
): T[] {
  const latest = new Map<string, T>();
  for (const candidate of events) {
    const subject = subjectOf(candidate.trigger);
    const held = latest.get(subject);
    if (held === undefined || isLater(candidate, held)) latest.set(subject, candidate);
  }
  const kept = new Set(latest.values());
  return events.filter((e) => kept.has(e));
}

function subjectOf(trigger: TriggerEvent): string {
  if (trigger.kind === 'dataset') return `dataset:${trigger.event.detail.name}`;
  const { bucket, object } = trigger.event.detail;
  return `s3://${bucket.name}/${decodeKey(object.key)}`;
}

function isLater(
  a: { trigger: TriggerEvent; position: number },
  b: { trigger: TriggerEvent; position: number },
): boolean {
  const sa = sequencerOf(a.trigger);
  const sb = sequencerOf(b.trigger);
  if (sa !== undefined && sb !== undefined && sa !== sb) return sa > sb;
  const ta = Date.parse(a.trigger.event.time);
  const tb = Date.parse(b.trigger.event.time);
  if (Number.isFinite(ta) && Number.isFinite(tb) && ta !== tb) return ta > tb;
  if (a.trigger.kind === 'dataset' && b.trigger.kind === 'dataset') {
    const va = a.trigger.event.detail.version;
    const vb = b.trigger.event.detail.version;
    if (va !== vb) return va > vb;
  }
  return a.position > b.position;
}

function sequencerOf(trigger: TriggerEvent): string | undefined {
  if (trigger.kind === 'dataset') return undefined;
  const sequencer = trigger.event.detail.object.sequencer;
  return sequencer === undefined ? undefined : orderableSequencer(sequencer);
}

const TRANSIENT_CODES = new Set(TRANSIENT_AWS_ERROR_CODES);

/**
 * Whether an error reading one record's source is the record's own fault (an event that names something
 * RagIngest does not take, or an object or dataset file that cannot be read: a 4xx other than
 * throttling), rather than a transient or unexpected failure that a retry of the step may get past.
 */
function isRecordFault(error: unknown): error is Error {
  if (error instanceof InvalidEventError) return true;
  if (!(error instanceof Error) || isRetryableErrorName(error.name) || TRANSIENT_CODES.has(error.name)) {
    return false;
  }
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status !== undefined && status >= 400 && status < 500 && status !== 429;
}

/** The plan of a run: the change plan of one event, or of each change set of a batch, batched together. */
export type BatchPlan = Awaited<ReturnType<typeof planChanges>>;

/** The ports of {@link planChangeBatch}: the change plan's, and where a batch's rejected records go. */
export type ChangeBatchPorts = Parameters<typeof planChanges>[1] & {
  /** Keeps a batch's rejected records (one JSON line each) and says where they are. */
  stageRejected(records: readonly RejectedRecord[]): Promise<{ bucket: string; key: string }>;
};

/**
 * Plans a run. One event's change set goes to the change plan as it is. A batch's change sets are each
 * planned (claims, failures and deletions exactly as for one event, so duplicates and stale events change
 * nothing), then their documents and deletions are cut into batches of `batchSize` together: a Map item
 * holds documents of many uploads. Rejected records count as failed (the run fails at the end, so the
 * pipeline alarm pages) and are kept in a staged file that the run's origin names; superseded events
 * count as stale.
 */
export async function planChangeBatch(
  changes: ChangeSet | ChangeBatch,
  ports: ChangeBatchPorts,
  settings: Parameters<typeof planChanges>[2],
): Promise<BatchPlan> {
  if (!isChangeBatch(changes)) return planChanges(changes, ports, settings);
  const planned = await mapLimited(changes.changeSets, PLAN_CONCURRENCY, async (changeSet) => {
    // The change set's slices are kept here by index and staged below with the other change sets' items.
    const slices = new Map<number, readonly unknown[]>();
    const plan = await planChanges(
      changeSet,
      {
        ...ports,
        stageBatch: async (index, items) => {
          slices.set(index, items);
          return { bucket: '', key: '' };
        },
      },
      settings,
    );
    const items = plan.batches.flatMap((batch) =>
      (slices.get(batch.index) ?? []).map((value) => ({ kind: batch.kind, value })),
    );
    return { plan, items };
  });
  const counts = { queued: 0, unchanged: 0, stale: changes.superseded, failed: 0, deletions: 0 };
  for (const { plan } of planned) {
    for (const key of Object.keys(counts) as (keyof typeof counts)[]) counts[key] += plan.counts[key];
  }
  counts.failed += changes.rejected.length;
  const all = planned.flatMap(({ items }) => items);
  const slices: { kind: BatchPlan['batches'][number]['kind']; items: unknown[] }[] = [];
  for (const kind of ['ingest', 'delete'] as const) {
    const values = all.filter((item) => item.kind === kind).map((item) => item.value);
    for (let start = 0; start < values.length; start += settings.batchSize) {
      slices.push({ kind, items: values.slice(start, start + settings.batchSize) });
    }
  }
  const batches = await mapLimited(
    slices.map((slice, index) => ({ ...slice, index })),
    PLAN_CONCURRENCY,
    async ({ kind, items, index }) => ({
      kind,
      index,
      location: await ports.stageBatch(index, items),
      count: items.length,
    }),
  );
  const origins = planned.map(({ plan }) => plan.origin);
  let origin =
    `batch of ${changes.records} event(s): ${origins.slice(0, ORIGINS_NAMED).join(', ') || 'nothing to do'}` +
    (origins.length > ORIGINS_NAMED ? ` (+${origins.length - ORIGINS_NAMED} more)` : '');
  if (changes.rejected.length > 0) {
    const kept = await ports.stageRejected(changes.rejected);
    origin += `; ${changes.rejected.length} record(s) rejected (s3://${kept.bucket}/${kept.key})`;
  }
  return { trigger: 'batch', origin, batches, counts };
}
