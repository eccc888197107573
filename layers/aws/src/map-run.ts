import type { S3Client } from '@aws-sdk/client-s3';
import type * as z from 'zod/mini';
import {
  MAP_RUN_RESULT_STATUSES,
  type MapRunOutput,
  mapRunChild,
  mapRunManifest,
} from '#contracts/pipelines/map-run.ts';
import { LlmOpsError } from './errors.ts';
import { parseInput } from './parse-input.ts';
import { readText } from './s3-io.ts';

/**
 * The results of a Distributed Map run, read back from the files its ResultWriter wrote to S3 (the
 * manifest, then each result file it lists): what a pipeline's closing step reads instead of an array of
 * results in the execution state, whatever the number of children.
 */

/** A child execution that succeeded: its input and its output, parsed. */
export interface SucceededChild<O> {
  readonly input: unknown;
  readonly output: O;
}

/** A child execution that failed (or was still pending when the run ended): its input, error and cause. */
export interface FailedChild {
  readonly input: unknown;
  readonly error: string;
  readonly cause?: string;
}

export interface MapRunResults<O> {
  readonly mapRunArn: string;
  readonly succeeded: SucceededChild<O>[];
  readonly failed: FailedChild[];
}

/** The error of a child the manifest lists as pending: it never reported an outcome. */
export const PENDING_CHILD_ERROR = 'States.MapRunChildPending';

/**
 * Reads every result file of a Map Run. Each succeeded child's output is parsed with `outputSchema`; a
 * failed child keeps its input (what it was given to do) and its error and cause.
 * @throws InvalidEventError when the manifest or an entry does not have the shape Step Functions writes
 */
export async function readMapRunResults<S extends z.core.$ZodType>(
  s3: S3Client,
  run: MapRunOutput,
  outputSchema: S,
): Promise<MapRunResults<z.infer<S>>> {
  const location = { bucket: run.ResultWriterDetails.Bucket, key: run.ResultWriterDetails.Key };
  const manifest = parseInput(
    mapRunManifest,
    JSON.parse(await readText(s3, location.bucket, location.key)),
    `Map Run manifest s3://${location.bucket}/${location.key}`,
  );
  const succeeded: SucceededChild<z.infer<S>>[] = [];
  const failed: FailedChild[] = [];
  for (const status of MAP_RUN_RESULT_STATUSES) {
    for (const file of manifest.ResultFiles[status]) {
      const where = `s3://${manifest.DestinationBucket}/${file.Key}`;
      const entries = parseEntries(await readText(s3, manifest.DestinationBucket, file.Key));
      entries.forEach((raw, i) => {
        const child = parseInput(mapRunChild, raw, `Map Run result ${where} entry ${i}`);
        const input = fromJsonText(child.Input);
        if (status === 'SUCCEEDED') {
          const what = `output of the child in ${where} entry ${i}`;
          succeeded.push({ input, output: parseInput(outputSchema, fromJsonText(child.Output), what) });
        } else if (status === 'FAILED') {
          failed.push({
            input,
            error: child.Error ?? 'States.TaskFailed',
            ...(child.Cause !== undefined ? { cause: child.Cause } : {}),
          });
        } else {
          failed.push({
            input,
            error: PENDING_CHILD_ERROR,
            cause: 'The child execution had not ended when the Map Run ended.',
          });
        }
      });
    }
  }
  return { mapRunArn: manifest.MapRunArn, succeeded, failed };
}

/** A result file: a JSON array (the default `OutputType`), or JSON Lines (`OutputType` JSONL). */
function parseEntries(text: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  if (trimmed.startsWith('[')) return JSON.parse(trimmed) as unknown[];
  return trimmed
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown);
}

/** Step Functions writes a child's input and output as JSON text; a value that is not text is kept. */
function fromJsonText(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : value;
}

/**
 * A Map Run's results do not account for every item: a child failed, or the result files lack an item
 * that the plan staged. Nothing is built from a partial run.
 */
export class MapRunIncompleteError extends LlmOpsError {}
