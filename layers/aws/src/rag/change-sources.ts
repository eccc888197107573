import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { z } from 'zod';
import { RAG_RAW_PREFIX } from '#contracts/storage-layout.ts';
import type { ChangeSet } from '#core/rag/change-plan.ts';
import { DocumentParseError } from '#core/rag/parse/document.ts';
import { parseDocument } from '#core/rag/parse.ts';
import type { datasetReadyEvent } from '#events/dataset-ready.ts';
import type { s3ObjectCreatedEvent, s3ObjectDeletedEvent } from '#events/s3-object-created.ts';
import { InvalidEventError, SourceChangedError } from '../errors.ts';
import { headObject, stripQuotes } from '../s3-io.ts';

type S3ObjectCreatedEvent = z.infer<typeof s3ObjectCreatedEvent>;
type S3ObjectDeletedEvent = z.infer<typeof s3ObjectDeletedEvent>;
type DatasetReadyEvent = z.infer<typeof datasetReadyEvent>;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Collection of documents uploaded as files. */
export const UPLOAD_COLLECTION = 'upload';

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
    let head = await headObject(this.s3, { bucket, key, versionId });
    if (!head && decodeKey(key) !== key) {
      key = decodeKey(key);
      head = await headObject(this.s3, { bucket, key, versionId });
    }
    if (!head)
      throw new SourceChangedError(`s3://${bucket}/${key} (version ${versionId ?? 'none'}) no longer exists`);
    const eventEtag = object.etag ? stripQuotes(object.etag) : undefined;
    if (!versionId && eventEtag && eventEtag !== head.etag) {
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
    const failVersion = `raw:${head.etag}`;
    if (head.size > this.maxDocumentBytes) {
      planned.parseFailure = {
        docId,
        version: failVersion,
        source: key,
        error: new DocumentParseError(
          key,
          `the file is ${head.size} bytes, more than the ${this.maxDocumentBytes} bytes a document may have`,
        ),
      };
      return planned;
    }
    const bytes = await readObject(this.s3, { bucket, key, versionId: head.versionId });
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
