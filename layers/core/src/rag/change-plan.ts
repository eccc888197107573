import {
  type BatchRef,
  type DeletionItem,
  documentVersion,
  type PlanOutput,
  type StagedDocument,
} from '#contracts/pipelines/rag-ingest.ts';
import { mapLimited } from '../map-limited.ts';
import type { ParsedDocument } from './parse/document.ts';

/**
 * The change plan of a RagIngest run: given the documents a trigger brings (an upload, a deletion, a
 * curated dataset version), decide which document versions changed, claim each changed version
 * (`queued`), record a file that could not be parsed as failed, schedule deletions (for a dataset, the
 * documents its new version no longer has), and cut the work into batches for the Map. Unchanged
 * documents (same content hash, same settings, same embedding model) are skipped. The status table, the
 * failure reporter and the staging area come in as ports.
 */

/** What a trigger brings: the documents to (re-)index and the ones to remove. */
export interface ChangeSet {
  readonly trigger: PlanOutput['trigger'];
  /** What started the run: the S3 location or `dataset:<name>@v<version>`. */
  readonly origin: string;
  readonly collection: string;
  readonly documents: readonly ParsedDocument[];
  readonly deletions: readonly DeletionItem[];
  /** The S3 event's sequencer: orders events on the same key. */
  readonly sequencer?: string;
  /** A file that could not be parsed: recorded as a failed document. */
  readonly parseFailure?: { docId: string; version: string; error: unknown; source: string };
  /** For datasets: the documents of the collection that this version no longer has are deleted. */
  readonly replacesCollection: boolean;
}

/** A claim on a document version in the status table. */
export interface VersionClaim {
  readonly docId: string;
  readonly version: string;
  readonly collection: string;
  readonly runId: string;
  readonly embeddingModelId: string;
  readonly format?: ParsedDocument['format'];
  readonly title?: string;
  readonly source?: string;
  readonly sequencer?: string;
  readonly now: Date;
}

export interface ChangePlanPorts {
  /** Claims a version: `unchanged` when it is already indexed with the same model, `stale` when a newer event won. */
  claim(request: VersionClaim): Promise<'claimed' | 'unchanged' | 'stale'>;
  /** Documents of a collection that are live (not deleted). */
  liveDocuments(collection: string): Promise<readonly { docId: string }[]>;
  /** Records a claimed version as failed and announces it; false when a newer version took over. */
  recordFailure(
    doc: { docId: string; version: string; collection: string; source: string },
    error: unknown,
    at: Date,
  ): Promise<boolean>;
  /** Stages one batch's items and says where they are. */
  stageBatch(index: number, items: readonly unknown[]): Promise<BatchRef['location']>;
}

export interface ChangePlanSettings {
  readonly runId: string;
  readonly embeddingModelId: string;
  readonly chunkMaxTokens: number;
  readonly chunkOverlapTokens: number;
  /** Documents per Map item. */
  readonly batchSize: number;
  readonly now: Date;
}

/** What a run has to do: its batches, staged, and what happened to each document of the change set. */
export interface ChangePlan {
  readonly trigger: PlanOutput['trigger'];
  readonly origin: string;
  readonly batches: BatchRef[];
  readonly counts: PlanOutput['counts'];
}

/** Status-table claims in flight at once. */
const CLAIM_CONCURRENCY = 16;
/** Batches staged at once. */
const STAGE_CONCURRENCY = 16;

export async function planChanges(
  changes: ChangeSet,
  ports: ChangePlanPorts,
  settings: ChangePlanSettings,
): Promise<ChangePlan> {
  const { runId, now: at } = settings;
  const counts = { queued: 0, unchanged: 0, stale: 0, failed: 0, deletions: 0 };
  const sequencer = changes.sequencer ? { sequencer: changes.sequencer } : {};

  if (changes.parseFailure) {
    const { docId, version, error, source } = changes.parseFailure;
    const claim = await ports.claim({
      docId,
      version,
      collection: changes.collection,
      runId,
      embeddingModelId: settings.embeddingModelId,
      source,
      ...sequencer,
      now: at,
    });
    if (claim === 'claimed') {
      await ports.recordFailure({ docId, version, collection: changes.collection, source }, error, at);
      counts.failed += 1;
    } else counts.stale += 1;
  }

  const claimed = await mapLimited(changes.documents, CLAIM_CONCURRENCY, async (doc) => {
    const base = {
      docId: doc.id,
      collection: changes.collection,
      format: doc.format,
      text: doc.text,
      metadata: withoutNulls(doc.metadata),
      ...(doc.title !== undefined ? { title: doc.title } : {}),
      ...(doc.source !== undefined ? { source: doc.source } : {}),
      ...(doc.pages !== undefined ? { pages: doc.pages } : {}),
    };
    const version = documentVersion(base, settings);
    const claim = await ports.claim({
      docId: doc.id,
      version,
      collection: changes.collection,
      runId,
      embeddingModelId: settings.embeddingModelId,
      format: doc.format,
      ...(doc.title !== undefined ? { title: doc.title } : {}),
      ...(doc.source !== undefined ? { source: doc.source } : {}),
      ...sequencer,
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

  const deletions = [...changes.deletions];
  if (changes.replacesCollection) {
    const seen = new Set(changes.documents.map((doc) => doc.id));
    for (const live of await ports.liveDocuments(changes.collection)) {
      if (!seen.has(live.docId)) deletions.push({ docId: live.docId, collection: changes.collection });
    }
  }
  counts.deletions = deletions.length;

  // Batches of `batchSize` whatever their number: the Map reads them from S3 and writes its results there.
  const slices: { kind: BatchRef['kind']; items: readonly unknown[] }[] = [];
  const cut = (kind: BatchRef['kind'], items: readonly unknown[]) => {
    for (let start = 0; start < items.length; start += settings.batchSize) {
      slices.push({ kind, items: items.slice(start, start + settings.batchSize) });
    }
  };
  cut('ingest', staged);
  cut('delete', deletions);
  const indexed = slices.map((slice, index) => ({ ...slice, index }));
  const batches = await mapLimited(indexed, STAGE_CONCURRENCY, async ({ kind, items, index }) => ({
    kind,
    index,
    location: await ports.stageBatch(index, items),
    count: items.length,
  }));
  return { trigger: changes.trigger, origin: changes.origin, batches, counts };
}

function withoutNulls(metadata: ParsedDocument['metadata']): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(metadata)) if (value !== null) out[key] = value;
  return out;
}
