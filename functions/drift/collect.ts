import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import * as z from 'zod/mini';
import { createDocumentClient, createS3Client } from '#aws/clients.ts';
import { describeIssues, readConfig } from '#aws/config.ts';
import { type DriftStore, DynamoDriftStore } from '#aws/drift/drift-store.ts';
import { DynamoVerdictReader, type VerdictReader, windowFeedback } from '#aws/drift/feedback-reader.ts';
import { readInteractions } from '#aws/drift/interaction-log.ts';
import { InvalidEventError } from '#aws/errors.ts';
import { DynamoEvaluationStore } from '#aws/eval/dynamo-evaluation-store.ts';
import type { EvaluationStore } from '#aws/eval/evaluation-store.ts';
import { createProviderRouter } from '#aws/models/router.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { embedMany } from '#aws/rag/embedder.ts';
import { embeddingModelEnvironment, embeddingModelFromEnv } from '#aws/rag/vector-store.ts';
import { readText } from '#aws/s3-io.ts';
import {
  type BaselineSource,
  baselineSource,
  type DriftCheckConfig,
  MAX_BASELINE_WINDOW_DAYS,
} from '#contracts/drift/baseline.ts';
import { envVar } from '#contracts/env.ts';
import type { DriftRecord } from '#core/drift/check.ts';
import { type OutcomeCounts, OutcomeTally } from '#core/drift/outcomes.ts';
import {
  driftRecordOf,
  inTraffic,
  isWatched,
  sampleByKey,
  type TimeWindow,
  windowEndingAt,
} from '#core/drift/window.ts';
import { questionOf } from '#core/eval/run.ts';
import { parseSuite } from '#core/eval/suite.ts';
import { driftCheckRequestedEvent } from '#events/drift-check-requested.ts';
import { type InteractionRecordedDetail, interactionRecordedDetail } from '#events/interaction-recorded.ts';
import {
  type BaselineCreated,
  type Collected,
  checkNamed,
  type DriftPolicy,
  driftEnvironment,
  driftKeys,
  parseChecks,
  parsePolicy,
  writeRecords,
} from './shared.ts';

/**
 * Collect, the DriftCheck state machine's first step, on `llmops.DriftCheckRequested`:
 *
 * - **a scheduled check** (`windowEnd`): reads the interaction log for the window of one cadence that
 *   ends there, keeps the check's traffic (sampled, answered calls of its app and prompt; never the
 *   evaluation runs' own), subsamples it to `maxWindowRecords` by a seeded hash of the call ids, embeds
 *   the questions RAG did not already embed and every answer (with the deployment's embedding model, the
 *   one RAG uses; an answer's first {@link MAX_ANSWER_EMBED_CHARS} characters), counts how every call of
 *   the check's traffic in the window ended (sampled or not, any status: the quality signal's errors,
 *   throttles and guardrail interventions), reads what people said of its answered calls (with the
 *   feedback table: the verdicts on them, and the review labels of their complaints), and stages the
 *   records for Check with the counts and the check's active baseline;
 * - **a baseline request** (`baseline`): builds the records of a new baseline version from its source
 *   (a pinned window of the check's traffic, a registered suite's questions, or a finished evaluation
 *   run's questions and answers), embeds them (questions and answers), writes them under
 *   `drift/baselines/` and records the version (with the window's outcome and feedback counts when the
 *   source is a window), which becomes the check's active baseline.
 *
 * A request that cannot be served (an unknown check, a bad source, a source with no records) fails
 * the execution with an `InvalidEventError` that names the problem; the pipeline's failure alarm sees it.
 */
export interface CollectDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly store: Pick<DriftStore, 'getBaseline' | 'createBaseline'>;
  /** Suites and runs (baseline sources), and the review labels of the window's complaints. */
  readonly evaluations: Pick<EvaluationStore, 'getSuite' | 'getRun' | 'getReviewTask'>;
  /** The verdicts of the feedback table; absent: no feedback counts (and no feedback signal). */
  readonly feedback?: VerdictReader;
  readonly checks: readonly DriftCheckConfig[];
  readonly policy: DriftPolicy;
  /** Embeds texts with the deployment's embedding model (vectors in input order). */
  readonly embed: (texts: readonly string[]) => Promise<number[][]>;
  readonly embeddingModel: string;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Ids of baseline files. @default randomUUID */
  readonly newId?: () => string;
}

const DAY_MS = 86_400_000;

/** The characters of an answer that are embedded (about 500 tokens: the cost of a window stays bounded). */
export const MAX_ANSWER_EMBED_CHARS = 2000;

/** An answer's text as it is embedded: its first {@link MAX_ANSWER_EMBED_CHARS} code points. */
export function answerToEmbed(answer: string): string {
  const points = Array.from(answer);
  return points.length <= MAX_ANSWER_EMBED_CHARS ? answer : points.slice(0, MAX_ANSWER_EMBED_CHARS).join('');
}

/** A line of an evaluation run's `items.jsonl`, as far as a baseline reads it. */
const evaluationItemLine = z.looseObject({
  input: z.string(),
  answer: z.optional(z.nullable(z.string())),
  error: z.optional(z.nullable(z.string())),
});

/**
 * Adds an embedding to every record's question that lacks one (RAG kept its own for the calls that
 * retrieved) and to every answer that is not empty, in one batch. Returns how many questions and answers
 * were embedded here.
 */
async function embedMissing(
  records: DriftRecord[],
  embed: CollectDeps['embed'],
): Promise<{ records: DriftRecord[]; embeddedHere: number; answersEmbedded: number }> {
  const questions = records.flatMap((r, i) => (r.embedding === undefined && r.text !== undefined ? [i] : []));
  const answers = records.flatMap((r, i) =>
    r.answerEmbedding === undefined && r.answer !== undefined && r.answer.trim() !== '' ? [i] : [],
  );
  if (questions.length === 0 && answers.length === 0) {
    return { records, embeddedHere: 0, answersEmbedded: 0 };
  }
  const vectors = await embed([
    ...questions.map((i) => records[i]?.text ?? ''),
    ...answers.map((i) => answerToEmbed(records[i]?.answer ?? '')),
  ]);
  const out = [...records];
  questions.forEach((recordIndex, k) => {
    out[recordIndex] = { ...(out[recordIndex] as DriftRecord), embedding: vectors[k] as number[] };
  });
  answers.forEach((recordIndex, k) => {
    out[recordIndex] = {
      ...(out[recordIndex] as DriftRecord),
      answerEmbedding: vectors[questions.length + k] as number[],
    };
  });
  return { records: out, embeddedHere: questions.length, answersEmbedded: answers.length };
}

/** What a source gives a baseline, or a window its check: records, and for traffic how its calls ended. */
interface Gathered {
  readonly records: DriftRecord[];
  readonly outcomes?: OutcomeCounts;
}

/**
 * The check's traffic in a window: its watched calls, subsampled, as drift records, how every call
 * ended, and (with the feedback table) what people said of every answered call, sampled or not.
 */
async function windowRecords(
  deps: CollectDeps,
  check: DriftCheckConfig,
  window: TimeWindow,
  seed: string,
): Promise<Required<Gathered>> {
  const lines = await readInteractions(deps.s3, deps.bucket, window);
  const watched: InteractionRecordedDetail[] = [];
  // Every call of the traffic counts for the outcomes; only the sampled, answered ones are read.
  const tally = new OutcomeTally(window, check);
  // Every answered call of the traffic may have feedback, sampled or not.
  const answered: string[] = [];
  let invalid = lines.unparsable;
  for (const record of lines.records) {
    const parsed = z.safeParse(interactionRecordedDetail, record);
    if (!parsed.success) {
      invalid++;
      continue;
    }
    tally.add(parsed.data);
    if (parsed.data.status === 'ok' && inTraffic(parsed.data, window, check)) {
      answered.push(parsed.data.interactionId);
    }
    if (isWatched(parsed.data, window, check)) watched.push(parsed.data);
  }
  const feedback =
    deps.feedback === undefined
      ? undefined
      : await windowFeedback(answered, `${seed}:feedback`, {
          verdicts: deps.feedback,
          reviews: deps.evaluations,
        });
  const outcomes = { ...tally.counts(), ...(feedback !== undefined ? { feedback } : {}) };
  if (invalid > 0) {
    logger.warn('Interaction log lines skipped: not interaction records', { invalid });
    metrics.addMetric('DriftLogLinesSkipped', 'Count', invalid);
  }
  const sampled = sampleByKey(watched, (r) => r.interactionId, deps.policy.maxWindowRecords, seed);
  logger.info('Window read', {
    objects: lines.objects,
    watched: watched.length,
    sampled: sampled.length,
    outcomes,
  });
  const records = sampled.flatMap((r) => {
    const record = driftRecordOf(r);
    return record === undefined ? [] : [record];
  });
  return { records, outcomes };
}

async function sourceRecords(
  deps: CollectDeps,
  check: DriftCheckConfig,
  source: BaselineSource,
  seed: string,
): Promise<Gathered> {
  const cap = deps.policy.maxWindowRecords;
  switch (source.kind) {
    case 'window': {
      const window = { start: new Date(source.from), end: new Date(source.to) };
      const span = window.end.getTime() - window.start.getTime();
      if (!(span > 0)) throw new InvalidEventError('baseline.source.to: must be after source.from');
      if (span > MAX_BASELINE_WINDOW_DAYS * DAY_MS) {
        throw new InvalidEventError(`baseline.source: a window of at most ${MAX_BASELINE_WINDOW_DAYS} days`);
      }
      return windowRecords(deps, check, window, seed);
    }
    case 'suite': {
      const suite = await deps.evaluations.getSuite(source.name, source.version);
      if (suite === undefined) {
        throw new InvalidEventError(
          `baseline.source: suite ${source.name}${source.version === undefined ? '' : ` version ${source.version}`} is not registered`,
        );
      }
      const parsed = parseSuite(await readText(deps.s3, suite.location.bucket, suite.location.key), {
        name: suite.name,
        version: String(suite.version),
      });
      const items = sampleByKey(parsed.items, (item) => item.id, cap, seed);
      return { records: items.map((item) => ({ text: questionOf(item) })).filter((r) => r.text !== '') };
    }
    case 'evaluation': {
      const run = await deps.evaluations.getRun(source.runId);
      if (run?.report === undefined || run.status !== 'succeeded') {
        throw new InvalidEventError(
          `baseline.source: evaluation run ${source.runId} has no report (it must have succeeded)`,
        );
      }
      const text = await readText(deps.s3, run.report.bucket, run.report.items);
      const lines = text.split('\n').flatMap((line, i) => {
        if (line.trim() === '') return [];
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          throw new InvalidEventError(`baseline.source: items.jsonl line ${i + 1}: not JSON`);
        }
        const parsed = z.safeParse(evaluationItemLine, value);
        if (!parsed.success) {
          throw new InvalidEventError(
            `baseline.source: items.jsonl line ${i + 1}: ${describeIssues(parsed.error)}`,
          );
        }
        return [{ key: String(i), ...parsed.data }];
      });
      const records = sampleByKey(lines, (l) => l.key, cap, seed).map((l) => ({
        text: l.input,
        ...(typeof l.answer === 'string' && (l.error ?? null) === null ? { answer: l.answer } : {}),
      }));
      return { records };
    }
  }
}

export function makeHandler(deps: CollectDeps) {
  const now = deps.now ?? (() => new Date());
  const newId = deps.newId ?? randomUUID;
  return async (input: unknown, _context?: Context): Promise<Collected | BaselineCreated> => {
    const event = parseInput(driftCheckRequestedEvent, input, 'llmops.DriftCheckRequested event');
    const { detail } = event;
    const check = checkNamed(deps.checks, detail.check);
    logger.appendKeys({ check: check.name });

    if (detail.baseline !== undefined) {
      const parsed = z.safeParse(baselineSource, detail.baseline.source);
      if (!parsed.success) {
        throw new InvalidEventError(`baseline.source: ${describeIssues(parsed.error)}`);
      }
      const id = newId();
      const gathered = await sourceRecords(deps, check, parsed.data, `${check.name}:baseline:${id}`);
      if (gathered.records.length === 0) {
        throw new InvalidEventError(
          `baseline.source: the ${parsed.data.kind} holds no record of check ${check.name}`,
        );
      }
      const { records } = await embedMissing(gathered.records, deps.embed);
      const key = driftKeys.baseline(check.name, id);
      await writeRecords(deps.s3, deps.bucket, key, records);
      const baseline = await deps.store.createBaseline({
        check: check.name,
        source: parsed.data,
        records: records.length,
        embedded: records.filter((r) => r.embedding !== undefined).length,
        answerEmbedded: records.filter((r) => r.answerEmbedding !== undefined).length,
        embeddingModel: deps.embeddingModel,
        location: { bucket: deps.bucket, key },
        createdAt: now().toISOString(),
        createdBy: detail.requestedBy,
        ...(detail.baseline.note !== undefined ? { note: detail.baseline.note } : {}),
        ...(gathered.outcomes !== undefined ? { outcomes: gathered.outcomes } : {}),
      });
      metrics.addMetric('DriftBaselinesCreated', 'Count', 1);
      logger.info('Drift baseline created', { version: baseline.version, records: baseline.records });
      return { status: 'baseline-created', check: check.name, baseline };
    }

    const end = new Date(detail.windowEnd as string);
    const window = windowEndingAt(end, deps.policy.cadenceMinutes);
    const windowEnd = end.toISOString();
    const gathered = await windowRecords(deps, check, window, `${check.name}:${windowEnd}`);
    const { records, embeddedHere, answersEmbedded } = await embedMissing(gathered.records, deps.embed);
    const key = driftKeys.current(check.name, windowEnd);
    await writeRecords(deps.s3, deps.bucket, key, records);
    metrics.addMetric('DriftWindowRecords', 'Count', records.length);
    logger.info('Drift window collected', {
      records: records.length,
      embeddedHere,
      answersEmbedded,
      outcomes: gathered.outcomes,
    });
    return {
      status: 'collected',
      check: check.name,
      window: { start: window.start.toISOString(), end: windowEnd },
      embeddingModel: deps.embeddingModel,
      baseline: (await deps.store.getBaseline(check.name)) ?? null,
      current: {
        bucket: deps.bucket,
        key,
        records: records.length,
        embedded: records.filter((r) => r.embedding !== undefined).length,
      },
      outcomes: gathered.outcomes,
    };
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  ...driftEnvironment,
  DRIFT_CHECKS: envVar.string(),
  EVALUATIONS_TABLE: envVar.string(),
  /** The feedback table (the verdicts on the window's answers); absent: no feedback signal. */
  FEEDBACK_TABLE: envVar.optionalString(),
  /** `offline` locally: the offline embedding model. */
  MODEL_PROVIDER: envVar.optionalString(),
  ...embeddingModelEnvironment,
};

const config = readConfig(environment);
const embeddingModel = embeddingModelFromEnv();
const providerFor = createProviderRouter({
  mode: config.MODEL_PROVIDER === 'offline' ? 'offline' : 'catalog',
});
const documents = createDocumentClient();

export const handler = withObservability(
  makeHandler({
    s3: createS3Client(),
    bucket: config.ARTIFACTS_BUCKET,
    store: new DynamoDriftStore(documents, config.DRIFT_TABLE),
    evaluations: new DynamoEvaluationStore(documents, config.EVALUATIONS_TABLE),
    ...(config.FEEDBACK_TABLE !== undefined
      ? { feedback: new DynamoVerdictReader(documents, config.FEEDBACK_TABLE) }
      : {}),
    checks: parseChecks(config.DRIFT_CHECKS),
    policy: parsePolicy(config.DRIFT_POLICY),
    embeddingModel: embeddingModel.modelId,
    embed: async (texts) =>
      (
        await embedMany(texts, {
          provider: providerFor(embeddingModel),
          model: embeddingModel,
          batchSize: 16,
          concurrency: 4,
        })
      ).vectors,
  }),
);
