/**
 * Reads back what a finished evaluation run wrote under `evaluations/<runId>/`, as far as a later
 * comparison needs it: each item's id and scores from `items.jsonl`, and each metric's name and judge
 * calibration from `summary.json` (an uncalibrated judge metric is reported and decides nothing). The
 * Report step writes both once; the closed loop pairs a drift run with production's last passing run
 * through them (`regressionGate` in the core). A missing object is a `NotFoundError` naming it; a line
 * that is not an item (`{id, scores}`) is skipped and counted, as Report's own regression check does.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod/mini';
import type { RegressionItem } from '#core/eval/regression.ts';
import type { MetricSummary } from '#core/eval/types.ts';
import { describeIssues } from '../config.ts';
import { InvalidEventError, NotFoundError } from '../errors.ts';
import { isNotFound, readText } from '../s3-io.ts';

export interface ObjectLocation {
  readonly bucket: string;
  readonly key: string;
}

/** A line of `items.jsonl`, as far as a comparison reads it. */
const itemLine = z.looseObject({
  id: z.string(),
  scores: z.record(z.string(), z.nullable(z.number())),
  unstable: z.optional(z.array(z.string())),
});

/** `summary.json`, as far as a comparison reads it: every metric's name and judge. */
const summaryMetrics = z.looseObject({
  metrics: z.record(
    z.string(),
    z.looseObject({
      judge: z.optional(z.object({ model: z.string(), rubric: z.string(), calibrated: z.boolean() })),
    }),
  ),
});

/** What a comparison reads of a run's metric summary. */
export type RunMetric = Pick<MetricSummary, 'name' | 'judge'>;

async function readObject(s3: S3Client, location: ObjectLocation): Promise<string> {
  try {
    return await readText(s3, location.bucket, location.key);
  } catch (error) {
    if (isNotFound(error)) {
      throw new NotFoundError(`s3://${location.bucket}/${location.key} does not exist`, { cause: error });
    }
    throw error;
  }
}

/** A run's items (id and scores), in file order; `skipped` counts the lines that were not items. */
export async function readRunItems(
  s3: S3Client,
  location: ObjectLocation,
): Promise<{ items: RegressionItem[]; skipped: number }> {
  const text = await readObject(s3, location);
  const items: RegressionItem[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      skipped++;
      continue;
    }
    const parsed = z.safeParse(itemLine, value);
    if (parsed.success) {
      const { id, scores, unstable } = parsed.data;
      items.push({ id, scores, ...(unstable?.length ? { unstable } : {}) });
    } else skipped++;
  }
  return { items, skipped };
}

/** A run's metrics (name, and the judge of a judge metric) from its `summary.json`. */
export async function readRunMetrics(s3: S3Client, location: ObjectLocation): Promise<RunMetric[]> {
  const text = await readObject(s3, location);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidEventError(`s3://${location.bucket}/${location.key} is not JSON`, { cause: error });
  }
  const parsed = z.safeParse(summaryMetrics, value);
  if (!parsed.success) {
    throw new InvalidEventError(`s3://${location.bucket}/${location.key}: ${describeIssues(parsed.error)}`);
  }
  return Object.entries(parsed.data.metrics).map(([name, metric]) =>
    metric.judge === undefined ? { name } : { name, judge: metric.judge },
  );
}
