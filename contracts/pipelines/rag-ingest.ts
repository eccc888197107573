import { createHash } from 'node:crypto';
import * as z from 'zod';
import { s3Location } from '#events/dataset-ready.ts';
import { STAGING_PREFIX } from '../storage-layout.ts';
import { mapRunOutput } from './map-run.ts';

/**
 * Payloads between the RagIngest state machine's tasks, and the staging layout in the artifacts bucket.
 * Documents, chunks and vectors travel through S3 (`staging/rag/<runId>/…`, expired by the staging
 * lifecycle rule), never through the state (256 KiB limit). So do the Map's items (one batch reference
 * per line, read by the Distributed Map's ItemReader) and its results (written by its ResultWriter and
 * read back by Finish), so that a run may have any number of batches.
 */

export const batchRef = z.object({
  /** `ingest`: documents to chunk, embed and index; `delete`: documents whose chunks must go. */
  kind: z.enum(['ingest', 'delete']),
  index: z.number().int().nonnegative(),
  /** Staged JSONL: one StagedDocument (ingest) or DeletionItem (delete) per line. */
  location: s3Location,
  count: z.number().int().positive(),
});
export type BatchRef = z.infer<typeof batchRef>;

export const planOutput = z.object({
  runId: z.string().min(1),
  /** `batch`: the records of a batch the trigger queue delivered (each an upload, a deletion or a dataset). */
  trigger: z.enum(['upload', 'delete', 'dataset', 'batch']),
  /** What started the run: the S3 key or `dataset:<name>@v<version>`. */
  origin: z.string().min(1),
  /** The Map's items: one {@link BatchRef} per line (JSONL), ingest batches first. */
  items: s3Location,
  /** Lines of `items` (0: nothing to chunk, embed, index or delete; the Map is skipped). */
  batchCount: z.number().int().nonnegative(),
  counts: z.object({
    /** Documents claimed for ingestion. */
    queued: z.number().int().nonnegative(),
    /** Already indexed with the same content: nothing to do. */
    unchanged: z.number().int().nonnegative(),
    /** A newer event for the same document already won. */
    stale: z.number().int().nonnegative(),
    /** Could not be parsed (recorded as failed, with the reason). */
    failed: z.number().int().nonnegative(),
    /** Documents to remove. */
    deletions: z.number().int().nonnegative(),
  }),
});
export type PlanOutput = z.infer<typeof planOutput>;

/** Input of each step inside the Map. */
export const batchInput = z.object({ runId: z.string().min(1), batch: batchRef });
export type BatchInput = z.infer<typeof batchInput>;

const count = z.number().int().nonnegative().default(0);

/** What each step returns: the batch, and what happened to its documents so far (a delete batch starts at 0). */
export const batchProgress = batchInput.extend({
  /** Documents still going on (the next step's work). */
  active: count,
  indexed: count,
  deleted: count,
  failed: count,
  /** Overtaken by a newer version while in flight: left to the newer run. */
  superseded: count,
});
export type BatchProgress = z.infer<typeof batchProgress>;

/**
 * Finish's input: the plan, and where the Map Run wrote its results (absent when there was no batch). Each
 * child execution of the Map ends with its {@link BatchProgress}, or fails with the error of the step that
 * ran out of retries; its input (a {@link BatchInput}) says which documents were left undone.
 */
export const finishInput = planOutput.extend({ mapRun: mapRunOutput.optional() });
export type FinishInput = z.infer<typeof finishInput>;

export const finishOutput = z.object({
  runId: z.string(),
  status: z.enum(['SUCCEEDED', 'FAILED']),
  origin: z.string(),
  indexed: z.number().int().nonnegative(),
  deleted: z.number().int().nonnegative(),
  unchanged: z.number().int().nonnegative(),
  superseded: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  /** A one-line account, the Fail state's cause when `failed` > 0. */
  summary: z.string(),
});
export type FinishOutput = z.infer<typeof finishOutput>;

const metadataValue = z.union([z.string(), z.number(), z.boolean()]);

/** A parsed document version, staged by Plan. */
export const stagedDocument = z.object({
  docId: z.string().min(1),
  version: z.string().min(1),
  collection: z.string().min(1),
  title: z.string().optional(),
  source: z.string().optional(),
  format: z.enum(['markdown', 'text']),
  text: z.string(),
  metadata: z.record(z.string(), metadataValue),
  pages: z
    .array(
      z.object({
        page: z.number().int().positive(),
        start: z.number().int().nonnegative(),
        end: z.number().int().nonnegative(),
      }),
    )
    .optional(),
});
export type StagedDocument = z.infer<typeof stagedDocument>;

export const deletionItem = z.object({
  docId: z.string().min(1),
  collection: z.string().min(1),
  sequencer: z.string().optional(),
});
export type DeletionItem = z.infer<typeof deletionItem>;

/** One chunk as staged between Chunk, Embed and Index (the vector is added by Embed). */
export const stagedChunk = z.object({
  chunkId: z.string().min(1),
  index: z.number().int().nonnegative(),
  text: z.string().min(1),
  tokens: z.number().int().nonnegative(),
  headings: z.array(z.string()),
  metadata: z.record(z.string(), metadataValue),
  vector: z.array(z.number()).optional(),
});
export type StagedChunk = z.infer<typeof stagedChunk>;

/** One document's chunks, a line of the `.chunks.jsonl` / `.vectors.jsonl` staging files. */
export const stagedChunks = z.object({
  docId: z.string().min(1),
  version: z.string().min(1),
  collection: z.string().min(1),
  title: z.string().optional(),
  source: z.string().optional(),
  chunks: z.array(stagedChunk),
});
export type StagedChunks = z.infer<typeof stagedChunks>;

/** Staging keys of one run. */
export const ragLayout = {
  /** Where Plan stages a run's Map items (the state machine may read this prefix only). */
  itemsPrefix: `${STAGING_PREFIX}rag/items/`,
  items: (runId: string) => `${ragLayout.itemsPrefix}${runId}.jsonl`,
  /** Where the Map's ResultWriter writes (`<prefix>/<Map Run id>/manifest.json` and result files). */
  mapRunsPrefix: `${STAGING_PREFIX}rag/map-runs`,
  batch: (runId: string, index: number) =>
    `${STAGING_PREFIX}rag/${runId}/batch-${String(index).padStart(5, '0')}.jsonl`,
  chunks: (batchKey: string) => batchKey.replace(/\.jsonl$/, '.chunks.jsonl'),
  vectors: (batchKey: string) => batchKey.replace(/\.jsonl$/, '.vectors.jsonl'),
};

/**
 * The version of a document: a hash of everything that decides its chunks and vectors (content, title,
 * source, metadata, collection, chunking settings, embedding model). Equal versions are not embedded
 * again. The collection is part of it because every chunk carries it (per-app access filters retrieval
 * on it), so documents indexed before chunks carried it are indexed again on their next ingestion.
 */
export function documentVersion(
  doc: Pick<StagedDocument, 'text' | 'title' | 'source' | 'format' | 'metadata' | 'collection'>,
  settings: { chunkMaxTokens: number; chunkOverlapTokens: number; embeddingModelId: string },
): string {
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify([
      doc.text,
      doc.title ?? null,
      doc.source ?? null,
      doc.format,
      Object.entries(doc.metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      settings.chunkMaxTokens,
      settings.chunkOverlapTokens,
      settings.embeddingModelId,
      doc.collection,
    ]),
  );
  return `sha256:${hash.digest('hex')}`;
}
