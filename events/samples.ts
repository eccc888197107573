import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { parse } from 'zod/v4/core';

/** Names of the JSON samples beside this file. */
export type SampleName =
  | 's3-object-created'
  | 's3-object-created-multipart'
  | 'sfn-execution-failed'
  | 's3-object-deleted'
  | 'dataset-ready'
  | 'document-indexed'
  | 'pipeline-failed'
  | 'evaluation-completed'
  | 'cloudwatch-alarm-state-change'
  | 'drift-detected'
  | 'drift-check-requested'
  | 'sagemaker-training-job-completed'
  | 'sagemaker-training-job-failed'
  | 'sagemaker-model-package-approved'
  | 'model-registered'
  | 'model-deployed-promoted'
  | 'model-deployed-rolled-back'
  | 'finetune-requested'
  | 'feedback-threshold-reached'
  | 'rolled-back';

/** Loads a sample event and parses it with its schema, so a sample that drifts from its schema fails loudly. */
export function loadSample<S extends z.core.$ZodType>(name: SampleName, schema: S): z.infer<S> {
  const raw: unknown = JSON.parse(readFileSync(new URL(`./samples/${name}.json`, import.meta.url), 'utf8'));
  return parse(schema, raw);
}

/** The raw JSON of a sample, unparsed. */
export function rawSample(name: SampleName): unknown {
  return JSON.parse(readFileSync(new URL(`./samples/${name}.json`, import.meta.url), 'utf8'));
}
