import * as z from 'zod';
import { datasetCounts, s3Location } from '#events/dataset-ready.ts';
import { DATASETS_PREFIX, QUARANTINE_PREFIX, STAGING_PREFIX } from '../storage-layout.ts';
import { mapRunOutput } from './map-run.ts';

/**
 * Schemas of the payloads that pass between the DataPrep state machine's tasks. Each task parses its
 * input with these, so a definition that drifts from the handlers fails with a named field.
 */
export const purposeSchema = z.enum(['finetune', 'preference', 'rag', 'golden']);

export const sourceRef = z.object({
  bucket: z.string().min(1),
  key: z.string().min(1),
  versionId: z.string().optional(),
  etag: z.string().min(1),
  size: z.number().int().nonnegative(),
});
export type SourceRef = z.infer<typeof sourceRef>;

export const datasetRef = z.object({
  name: z.string().min(1),
  purpose: purposeSchema,
  version: z.number().int().positive(),
});
export type DatasetRef = z.infer<typeof datasetRef>;

export const partRange = z.object({
  index: z.number().int().nonnegative(),
  start: z.number().int().nonnegative(),
  end: z.number().int().nonnegative(),
});
export type PartRange = z.infer<typeof partRange>;

const countsByName = z.record(z.string(), z.number().int().nonnegative());

export const planNew = z.object({
  status: z.literal('NEW'),
  runId: z.string().min(1),
  dataset: datasetRef,
  source: sourceRef,
  /** Where this version's curated files go in the curated bucket, ending in `/`. */
  outputPrefix: z.string().min(1),
  /** The Map's items: one {@link PartRange} per line (JSONL), in order. */
  items: s3Location,
  /** Lines of `items`: at least one (an empty upload is one empty part). */
  partCount: z.number().int().positive(),
});
export type PlanNew = z.infer<typeof planNew>;

export const planDuplicate = z.object({
  status: z.literal('DUPLICATE'),
  runId: z.string().min(1),
  source: sourceRef,
  existing: z.object({
    name: z.string(),
    purpose: purposeSchema,
    version: z.number().int().positive(),
    state: z.enum(['REGISTERED', 'IN_PROGRESS']),
    runId: z.string(),
  }),
});

export const planOutput = z.discriminatedUnion('status', [planNew, planDuplicate]);
export type PlanOutput = z.infer<typeof planOutput>;

export const processPartInput = z.object({
  part: partRange,
  runId: z.string().min(1),
  source: sourceRef,
  dataset: datasetRef,
});
export type ProcessPartInput = z.infer<typeof processPartInput>;

export const partResult = z.object({
  index: z.number().int().nonnegative(),
  /** Lines this part owns, blank and oversize ones included: absolute line number = offset + relative. */
  lines: z.number().int().nonnegative(),
  blank: z.number().int().nonnegative(),
  good: z.number().int().nonnegative(),
  quarantined: z.number().int().nonnegative(),
  quarantineCodes: countsByName,
  redactions: countsByName,
  bytes: z.number().int().nonnegative(),
  staging: s3Location,
  quarantine: s3Location.nullable(),
});
export type PartResult = z.infer<typeof partResult>;

/**
 * Finalize's input: the plan, and where the Map Run wrote its results (each child execution's output is
 * one {@link PartResult}).
 */
export const finalizeInput = planNew.extend({ mapRun: mapRunOutput });
export type FinalizeInput = z.infer<typeof finalizeInput>;

export const finalizeOutput = z.object({
  runId: z.string().min(1),
  dataset: datasetRef,
  source: sourceRef,
  manifest: s3Location,
  files: z.record(z.string(), s3Location),
  counts: datasetCounts,
  contentHash: z.string(),
  createdAt: z.string(),
});
export type FinalizeOutput = z.infer<typeof finalizeOutput>;

export const registerOutput = z.object({
  status: z.literal('REGISTERED'),
  outcome: z.enum(['created', 'unchanged']),
  dataset: datasetRef,
  manifest: s3Location,
  eventId: z.string(),
});
export type RegisterOutput = z.infer<typeof registerOutput>;

/**
 * Key layout of the curated bucket, and of the staging area and the quarantine in the artifacts bucket.
 * The quarantine of a dataset version mirrors its curated prefix under {@link QUARANTINE_PREFIX}.
 */
export const layout = {
  /** Where DataPrep writes in the artifacts bucket's staging area (the functions' grants name it). */
  stagingPrefix: `${STAGING_PREFIX}dataprep/`,
  /** Where Plan stages a run's Map items (the state machine may read this prefix only). */
  itemsPrefix: `${STAGING_PREFIX}dataprep/items/`,
  items: (runId: string) => `${layout.itemsPrefix}${runId}.jsonl`,
  /** Where the Map's ResultWriter writes (`<prefix>/<Map Run id>/manifest.json` and result files). */
  mapRunsPrefix: `${STAGING_PREFIX}dataprep/map-runs`,
  /** Where DataPrep writes in the artifacts bucket's quarantine. */
  quarantinePrefix: `${QUARANTINE_PREFIX}dataprep/`,
  outputPrefix: (d: DatasetRef) =>
    `${DATASETS_PREFIX}${d.purpose}/${d.name}/v${String(d.version).padStart(6, '0')}/`,
  quarantine: (d: DatasetRef) => `${layout.quarantinePrefix}${layout.outputPrefix(d)}quarantine.jsonl`,
  staging: (runId: string, index: number) =>
    `${layout.stagingPrefix}${runId}/part-${String(index).padStart(5, '0')}.tsv`,
  stagingQuarantine: (runId: string, index: number) =>
    `${layout.stagingPrefix}${runId}/part-${String(index).padStart(5, '0')}.quarantine.jsonl`,
};
