import * as z from 'zod';

/**
 * What a Distributed Map state with a ResultWriter leaves behind, as Step Functions writes it: the state's
 * output names the Map Run and its `manifest.json`; the manifest lists the result files by the status of
 * the child executions they hold (`SUCCEEDED_<n>.json`, `FAILED_<n>.json`, `PENDING_<n>.json`), each a
 * JSON array (JSON Lines with `WriterConfig.OutputType` JSONL) of one entry per child execution. With the
 * default transformation (`NONE`) an entry carries the child's input and output as JSON text; a failed
 * child's entry carries its `Error` and `Cause` instead of an output.
 */

/** The output of a Distributed Map state that writes its results to S3 (its ResultPath). */
export const mapRunOutput = z.object({
  MapRunArn: z.string().min(1),
  /** Where the Map Run's `manifest.json` is. */
  ResultWriterDetails: z.object({ Bucket: z.string().min(1), Key: z.string().min(1) }),
});
export type MapRunOutput = z.infer<typeof mapRunOutput>;

const resultFile = z.object({ Key: z.string().min(1), Size: z.number().int().nonnegative().optional() });

/** `manifest.json` of a Map Run. */
export const mapRunManifest = z.object({
  DestinationBucket: z.string().min(1),
  MapRunArn: z.string().min(1),
  ResultFiles: z.object({
    SUCCEEDED: z.array(resultFile).default([]),
    FAILED: z.array(resultFile).default([]),
    PENDING: z.array(resultFile).default([]),
  }),
});
export type MapRunManifest = z.infer<typeof mapRunManifest>;

/** Child execution statuses a result file groups entries by. */
export const MAP_RUN_RESULT_STATUSES = ['SUCCEEDED', 'FAILED', 'PENDING'] as const;
export type MapRunResultStatus = (typeof MAP_RUN_RESULT_STATUSES)[number];

/** One child execution in a result file (the fields this project reads; Step Functions writes more). */
export const mapRunChild = z.object({
  ExecutionArn: z.string().optional(),
  Name: z.string().optional(),
  Status: z.string().optional(),
  /** The child's input: JSON text (as written), or the value itself. */
  Input: z.unknown(),
  /** A succeeded child's output: JSON text (as written), or the value itself. */
  Output: z.unknown().optional(),
  /** A failed child's error name and cause. */
  Error: z.string().optional(),
  Cause: z.string().optional(),
});
export type MapRunChild = z.infer<typeof mapRunChild>;
