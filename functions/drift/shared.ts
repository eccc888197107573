import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod/mini';
import { describeIssues, parseJsonVariable } from '#aws/config.ts';
import { InvalidEventError } from '#aws/errors.ts';
import {
  type DriftBaseline,
  type DriftCheckConfig,
  type DriftPolicy,
  driftBaseline,
  driftCheckConfig,
  driftPolicy,
  outcomeCounts,
} from '#contracts/drift/baseline.ts';
import { envVar } from '#contracts/env.ts';

export type { DriftPolicy };

import {
  DRIFT_BASELINES_PREFIX,
  DRIFT_REPORTS_PREFIX,
  DRIFT_STAGING_PREFIX,
} from '#contracts/storage-layout.ts';
import type { DriftRecord } from '#core/drift/check.ts';
import { decodeEmbedding, encodeEmbedding } from '#core/drift/compact-embedding.ts';

/**
 * What the DriftCheck state machine's steps share: their configuration (the checks, the policy the
 * alarms were synthesized with), the records files (one JSON line per record, embeddings in the compact
 * int8 form), their keys in the artifacts bucket, and the state that passes from Collect to Check.
 *
 * | object | written by | read by |
 * |---|---|---|
 * | `staging/drift/<check>/<window end>/current.jsonl` | Collect | Check |
 * | `drift/baselines/<check>/<id>.jsonl` (a baseline version's records) | Collect (a baseline request), Check (a pinned first window) | Check |
 * | `drift/baselines/<check>/<id>.judged-<rubric>.json` (the online judge's scores of the baseline's sample) | Check (once per baseline and rubric) | Check |
 * | `drift/reports/<check>/<window end>/summary.json`, `report.html` | Check | operators, `GET /v1/drift/status` |
 */

/**
 * The online judge (`drift.onlineJudge`): the share of a window's answers judged, at most `maxPerWindow`
 * of them, and the fewest scores a window needs for the judge's test.
 */
export const onlineJudgeSettings = z
  .object({
    share: z.number().check(z.positive(), z.lte(1)),
    maxPerWindow: z.int().check(z.positive(), z.lte(200)),
    minJudged: z.int().check(z.positive(), z.lte(200)),
  })
  .check(
    z.refine((j) => j.minJudged <= j.maxPerWindow, {
      message: 'minJudged must be at most maxPerWindow',
      path: ['minJudged'],
    }),
  );
export type OnlineJudgeSettings = z.infer<typeof onlineJudgeSettings>;

/** Parses `DRIFT_CHECKS` (a JSON array of checks). */
export const parseChecks = (raw: string) => parseJsonVariable('DRIFT_CHECKS', z.array(driftCheckConfig), raw);
/** Parses `DRIFT_POLICY`. */
export const parsePolicy = (raw: string) => parseJsonVariable('DRIFT_POLICY', driftPolicy, raw);
/** Parses `ONLINE_JUDGE`. */
export const parseOnlineJudge = (raw: string) => parseJsonVariable('ONLINE_JUDGE', onlineJudgeSettings, raw);

/** The variables every step reads. */
export const driftEnvironment = {
  ARTIFACTS_BUCKET: envVar.string(),
  DRIFT_TABLE: envVar.string(),
  DRIFT_POLICY: envVar.string(),
};

/** The check a request names. @throws InvalidEventError naming the configured checks */
export function checkNamed(checks: readonly DriftCheckConfig[], name: string): DriftCheckConfig {
  const found = checks.find((c) => c.name === name);
  if (found === undefined) {
    throw new InvalidEventError(
      `check: "${name}" is not a configured drift check (${checks.map((c) => c.name).join(', ') || 'none'})`,
    );
  }
  return found;
}

/** Keys of the drift objects. */
export const driftKeys = {
  current: (check: string, windowEnd: string) => `${DRIFT_STAGING_PREFIX}${check}/${windowEnd}/current.jsonl`,
  baseline: (check: string, id: string) => `${DRIFT_BASELINES_PREFIX}${check}/${id}.jsonl`,
  reportPrefix: (check: string, windowEnd: string) => `${DRIFT_REPORTS_PREFIX}${check}/${windowEnd}/`,
  /**
   * The online judge's scores of a baseline's sample, beside its records: `<records key without
   * .jsonl>.judged-<rubric version>.json`, the version's `:` (and any character a key should not hold)
   * as `-`.
   */
  judged: (baselineKey: string, rubric: string) =>
    `${baselineKey.endsWith('.jsonl') ? baselineKey.slice(0, -'.jsonl'.length) : baselineKey}.judged-${rubric.replace(/[^A-Za-z0-9._-]/g, '-')}.json`,
};

const compactEmbedding = z.object({
  encoding: z.literal('int8'),
  dims: z.int(),
  scale: z.number(),
  data: z.string(),
});

/** One line of a records file. */
const storedRecord = z.object({
  text: z.optional(z.string()),
  answer: z.optional(z.string()),
  retrievalTopScore: z.optional(z.number()),
  embedding: z.optional(compactEmbedding),
  answerEmbedding: z.optional(compactEmbedding),
});

/** Records as JSON lines, each embedding in the compact form (about 1.4 KB for 1,024 dimensions). */
export function recordsJsonl(records: readonly DriftRecord[]): string {
  return records
    .map(({ embedding, answerEmbedding, ...rest }) =>
      JSON.stringify({
        ...rest,
        ...(embedding !== undefined ? { embedding: encodeEmbedding(embedding) } : {}),
        ...(answerEmbedding !== undefined ? { answerEmbedding: encodeEmbedding(answerEmbedding) } : {}),
      }),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** Parses a records file. @throws InvalidEventError naming the line */
export function parseRecords(text: string, what: string): DriftRecord[] {
  const records: DriftRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new InvalidEventError(`${what} line ${i + 1}: not JSON`);
    }
    const parsed = z.safeParse(storedRecord, value);
    if (!parsed.success)
      throw new InvalidEventError(`${what} line ${i + 1}: ${describeIssues(parsed.error)}`);
    const { embedding, answerEmbedding, ...rest } = parsed.data;
    const decode = (field: string, value: typeof embedding): number[] | undefined => {
      try {
        return value === undefined ? undefined : decodeEmbedding(value);
      } catch (error) {
        throw new InvalidEventError(`${what} line ${i + 1}: ${field}.${(error as Error).message}`, {
          cause: error,
        });
      }
    };
    const vector = decode('embedding', embedding);
    const answerVector = decode('answerEmbedding', answerEmbedding);
    records.push({
      ...rest,
      ...(vector !== undefined ? { embedding: vector } : {}),
      ...(answerVector !== undefined ? { answerEmbedding: answerVector } : {}),
    });
  });
  return records;
}

export async function writeRecords(
  s3: S3Client,
  bucket: string,
  key: string,
  records: readonly DriftRecord[],
): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: recordsJsonl(records),
      ContentType: 'application/x-ndjson',
    }),
  );
}

export async function readRecords(s3: S3Client, bucket: string, key: string): Promise<DriftRecord[]> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return parseRecords((await response.Body?.transformToString('utf8')) ?? '', `s3://${bucket}/${key}`);
}

/**
 * What Collect hands to Check: where the window's records are, how the window's calls ended, and the
 * baseline to compare them with.
 */
export const collected = z.object({
  status: z.literal('collected'),
  check: z.string(),
  window: z.object({ start: z.string(), end: z.string() }),
  baseline: z.nullable(driftBaseline),
  current: z.object({ bucket: z.string(), key: z.string(), records: z.int(), embedded: z.int() }),
  /** The model the window's records were embedded with (a baseline pinned from it names it). */
  embeddingModel: z.string(),
  /**
   * How every call of the check's traffic in the window ended (sampled or not, any status): the quality
   * signal's counts. Collect always sets it; absent only in a state from before the quality signal.
   */
  outcomes: z.optional(outcomeCounts),
});
export type Collected = z.infer<typeof collected>;

/** What Collect answers to a baseline request: the version it created. */
export interface BaselineCreated {
  readonly status: 'baseline-created';
  readonly check: string;
  readonly baseline: DriftBaseline;
}
