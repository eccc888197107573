import * as z from 'zod';
import { eventBridgeEvent, SCHEMA_VERSION } from './envelope.ts';

export const DATASET_READY = 'llmops.DatasetReady';

export const s3Location = z.object({ bucket: z.string().min(1), key: z.string().min(1) });

/** Counts of one dataset version; `kept` = written to the curated dataset. */
export const datasetCounts = z.object({
  records: z.number().int().nonnegative(),
  blank: z.number().int().nonnegative(),
  kept: z.number().int().nonnegative(),
  quarantined: z.number().int().nonnegative(),
  duplicates: z.object({ exact: z.number().int().nonnegative(), near: z.number().int().nonnegative() }),
  splits: z.record(z.string(), z.number().int().nonnegative()),
});
export type DatasetCounts = z.infer<typeof datasetCounts>;

/** `llmops.DatasetReady`: a dataset version is curated, registered and immutable. */
export const datasetReadyDetail = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  name: z.string().min(1),
  version: z.number().int().positive(),
  purpose: z.enum(['finetune', 'preference', 'rag', 'golden']),
  manifest: s3Location,
  files: z.record(z.string(), s3Location),
  counts: datasetCounts,
  contentHash: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  source: z.object({
    bucket: z.string(),
    key: z.string(),
    versionId: z.string().optional(),
    etag: z.string(),
  }),
});
export type DatasetReadyDetail = z.infer<typeof datasetReadyDetail>;

export const datasetReadyEvent = eventBridgeEvent(DATASET_READY, datasetReadyDetail);
