import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import * as zc from 'zod';
import * as z from 'zod/mini';
import { describeIssues } from '#aws/config.ts';
import { InvalidEventError, TransientError } from '#aws/errors.ts';
import { stagedRubrics } from '#aws/eval/rubric-registry.ts';
import {
  EVALUATION_TRIGGERS,
  evaluationRag,
  evaluationRunRequest,
  type ReportLocation,
  RUN_ID,
} from '#contracts/evaluation/run.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import { EVALUATION_STAGING_PREFIX, EVALUATIONS_PREFIX } from '#contracts/storage-layout.ts';
import type { PairJudgement } from '#core/eval/judge.ts';
import type { JudgeSpec, ScoredItem } from '#core/eval/run.ts';
import type { EvalAnswer, EvalItem } from '#core/eval/types.ts';
import type { ModelProvider, ProviderName } from '#core/models/types.ts';

/**
 * What the steps of the Evaluate state machine hand to one another through the artifacts bucket: the
 * state carries a run id and batch locations only (Step Functions' 256 KB limit), the items, answers and
 * scores lie in S3 under `staging/eval/<runId>/`:
 *
 * | object | written by | read by |
 * |---|---|---|
 * | `plan.json` ({@link StagedPlan}) | Plan | Generate, Score, Report |
 * | `batch-<index>.json` (the batch's expanded items) | Plan | Generate, Score |
 * | `answers-<index>.json` ({@link StagedAnswers}) | Generate | Score |
 * | `scored-<index>.json` ({@link StagedScores}; a pairwise run's judgements too) | Score | Report |
 *
 * Indexes are zero-padded to 5 digits, so that a listing sorts in batch order. The report itself goes to
 * `evaluations/<runId>/` ({@link reportLocation}), which the staging lifecycle rule does not expire.
 */

const pad = (index: number) => String(index).padStart(5, '0');

/** Keys of a run's staged objects. */
export const evalStaging = {
  prefix: (runId: string) => `${EVALUATION_STAGING_PREFIX}${runId}/`,
  plan: (runId: string) => `${evalStaging.prefix(runId)}plan.json`,
  batch: (runId: string, index: number) => `${evalStaging.prefix(runId)}batch-${pad(index)}.json`,
  answers: (runId: string, index: number) => `${evalStaging.prefix(runId)}answers-${pad(index)}.json`,
  scored: (runId: string, index: number) => `${evalStaging.prefix(runId)}scored-${pad(index)}.json`,
  /** The run's bring-your-own predictions, by item id (only the items it evaluates). */
  predictions: (runId: string) => `${evalStaging.prefix(runId)}predictions.json`,
};

/**
 * The run id of an `llmops.EvaluationRequested` detail: the one it carries (API and promotion runs), else
 * the name of the execution that runs it (a scheduled run), with any character outside letters, digits,
 * `-` and `_` replaced by `-`.
 * @throws InvalidEventError when the result is not a valid run id
 */
export function runIdOf(detail: { readonly runId?: string | undefined }, executionName: string): string {
  const runId = detail.runId ?? executionName.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80);
  if (!RUN_ID.test(runId)) {
    throw new InvalidEventError(
      `runId: must be 1-80 letters, digits, "_" or "-", starting with a letter or digit (got ${JSON.stringify(runId)})`,
    );
  }
  return runId;
}

/** Where a run's report lies in the artifacts bucket (`evaluations/<runId>/`). */
export function reportLocation(bucket: string, runId: string): ReportLocation {
  const prefix = `${EVALUATIONS_PREFIX}${runId}/`;
  return {
    bucket,
    summary: `${prefix}summary.json`,
    items: `${prefix}items.jsonl`,
    html: `${prefix}report.html`,
    markdown: `${prefix}report.md`,
  };
}

/** One Map item: a batch of the run's expanded items, by index and key. */
export const batchRef = z.object({
  index: z.int().check(z.nonnegative()),
  key: z.string().check(z.minLength(1)),
});
export type BatchRef = z.infer<typeof batchRef>;

/** The input of Generate and Score, and what each returns (extra fields of the state are ignored). */
export const batchInput = zc.looseObject({
  runId: zc.string().min(1),
  batch: zc.object({ index: zc.number().int().nonnegative(), key: zc.string().min(1) }),
});
export type BatchInput = { readonly runId: string; readonly batch: BatchRef };

/**
 * The key of a batch, checked to lie under its run's staging prefix: a state that names another object
 * is refused (the functions' grants would refuse most of them anyway).
 */
export function checkBatch(input: BatchInput): BatchInput {
  if (input.batch.key !== evalStaging.batch(input.runId, input.batch.index)) {
    throw new InvalidEventError(
      `batch.key: must be ${evalStaging.batch(input.runId, input.batch.index)} for batch ${input.batch.index} of run ${input.runId} (got ${input.batch.key})`,
    );
  }
  return input;
}

/** A target as the run evaluates it: prompt labels resolved to versions (`name:version`). */
const resolvedTarget = z.object({
  prompt: z.optional(z.string()),
  model: z.optional(z.string()),
});

/** The judge of the run's judge metrics, as planned (and budgeted). */
export const plannedJudge = z.union([
  z.object({ offline: z.literal(true) }),
  z.object({
    offline: z.literal(false),
    /** The judge's catalog id (`JUDGE_MODEL`). */
    id: z.string(),
    /** The provider's model id: what the judge calls send and what scores and reports name. */
    modelId: z.string(),
    provider: z.enum(['bedrock', 'sagemaker', 'offline']),
  }),
]);
export type PlannedJudge = z.infer<typeof plannedJudge>;

/** `plan.json`: everything the later steps need to know of the run. */
export const stagedPlan = z.object({
  runId: z.string(),
  /** The execution that planned the run. */
  executionName: z.string(),
  trigger: z.enum(EVALUATION_TRIGGERS),
  requestedBy: z.string(),
  request: evaluationRunRequest,
  promotion: z.optional(
    z.object({
      prompt: z.string(),
      candidateVersion: z.int(),
      baselineVersion: z.int(),
    }),
  ),
  suite: z.object({
    name: z.string(),
    version: z.int(),
    /** Items of the suite (a bias probe counts once), after `maxItems` sampling. */
    items: z.int(),
    location: z.object({ bucket: z.string(), key: z.string() }),
  }),
  target: resolvedTarget,
  baseline: z.optional(resolvedTarget),
  rag: z.optional(evaluationRag),
  /** Judge repeats per judged item. */
  k: z.int().check(z.positive()),
  judge: plannedJudge,
  /** Each judge rubric version's calibration when the run started (kappa ≥ 0.6 on ≥ 50 labels). */
  calibrated: z.record(z.string(), z.boolean()),
  /** The registry version of each judge metric's rubric, resolved when the run started, by metric. */
  rubrics: z.optional(stagedRubrics),
  seed: z.string(),
  startedAt: z.string(),
  /** Items answered (bias probes expanded). */
  items: z.int(),
  batches: z.array(batchRef),
  estimatedCostUsd: z.number(),
  /** The target's answers are the request's predictions (staged as `predictions.json`), not generated. */
  predictions: z.optional(z.boolean()),
});
export type StagedPlan = z.infer<typeof stagedPlan>;

/** `predictions.json`: the predictions of the run's items, by item id (`#core/eval/predictions.ts`). */
export const stagedPredictions = z.record(
  z.string(),
  z.object({
    id: z.string(),
    prediction: z.string(),
    contexts: z.optional(
      z.array(z.union([z.string(), z.object({ id: z.optional(z.string()), text: z.string() })])),
    ),
  }),
);

/**
 * The judge of a planned run: the model judge it was planned (and budgeted) with, k repeats, calibrated
 * as the plan's snapshot says; or the offline judge (offline models, or an offline plan). Both carry the
 * rubric versions the plan resolved.
 */
export function judgeOf(
  plan: Pick<StagedPlan, 'judge' | 'k' | 'calibrated' | 'rubrics'>,
  offline: boolean,
  providerFor: (model: { provider: ProviderName }) => ModelProvider,
  embedding?: Pick<CatalogModel, 'provider' | 'modelId'>,
): JudgeSpec {
  // The rubric versions the plan resolved: the model judge renders them; every score records them.
  const rubrics = plan.rubrics === undefined ? {} : { rubrics: plan.rubrics };
  if (offline || plan.judge.offline) return { kind: 'offline', ...rubrics };
  return {
    kind: 'model',
    ...rubrics,
    provider: providerFor({ provider: plan.judge.provider }),
    model: plan.judge.modelId,
    k: plan.k,
    calibrated: (rubric) => plan.calibrated[rubric] ?? false,
    // Answer relevance embeds with the deployment's embedding model (the one Score is granted).
    ...(embedding ? { embedding: { provider: providerFor(embedding), model: embedding.modelId } } : {}),
  };
}

// Staged items, answers and scores are written by the steps themselves: checked for their shape only.
const evalItem = z.looseObject({
  id: z.string(),
  messages: z.array(z.looseObject({ role: z.enum(['system', 'user', 'assistant']), content: z.string() })),
  references: z.array(z.string()),
  tags: z.array(z.string()),
  unanswerable: z.boolean(),
});
const evalAnswer = z.looseObject({ itemId: z.string(), answer: z.string() });
const scoredItem = z.looseObject({
  item: evalItem,
  answer: evalAnswer,
  scores: z.record(z.string(), z.looseObject({ metric: z.string(), value: z.nullable(z.number()) })),
});

/** `batch-<index>.json`: the batch's items, bias probes already expanded. */
export const stagedItems = z.array(evalItem) as unknown as z.ZodMiniType<EvalItem[]>;

/** `answers-<index>.json`: the batch's answers, in the order of its items. */
export interface StagedAnswers {
  readonly candidate: readonly EvalAnswer[];
  readonly baseline?: readonly EvalAnswer[];
}
export const stagedAnswers = z.object({
  candidate: z.array(evalAnswer),
  baseline: z.optional(z.array(evalAnswer)),
}) as unknown as z.ZodMiniType<StagedAnswers>;

const pairOrder = z.looseObject({
  order: z.enum(['AB', 'BA']),
  preferred: z.nullable(z.enum(['A', 'B', 'tie'])),
});
const pairJudgement = z.looseObject({
  itemId: z.string(),
  preference: z.nullable(z.enum(['A', 'B', 'tie', 'inconsistent'])),
  orders: z.tuple([pairOrder, pairOrder]),
  judge: z.string(),
  rubric: z.string(),
});

/**
 * `scored-<index>.json`: the batch's scored items, in the order of its items, and in a pairwise run the
 * judge's comparison of each item's candidate answer (A) with the baseline's (B).
 */
export interface StagedScores {
  readonly candidate: readonly ScoredItem[];
  readonly baseline?: readonly ScoredItem[];
  readonly pairs?: readonly PairJudgement[];
}
export const stagedScores = z.object({
  candidate: z.array(scoredItem),
  baseline: z.optional(z.array(scoredItem)),
  pairs: z.optional(z.array(pairJudgement)),
}) as unknown as z.ZodMiniType<StagedScores>;

/** Whether a planned run compares pairwise: asked for, with a baseline to compare with. */
export function pairwiseOf(plan: Pick<StagedPlan, 'request' | 'baseline'>): boolean {
  return plan.request.pairwise === true && plan.baseline !== undefined;
}

/** Reads a staged JSON object and checks it against `schema`. */
export async function readStagedJson<T>(
  s3: S3Client,
  location: { readonly bucket: string; readonly key: string },
  schema: z.ZodMiniType<T>,
): Promise<T> {
  const response = await s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
  const text = (await response.Body?.transformToString('utf-8')) ?? '';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidEventError(`s3://${location.bucket}/${location.key} is not JSON`, { cause: error });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new InvalidEventError(
      `s3://${location.bucket}/${location.key}: ${describeIssues(parsed.error as z.core.$ZodError)}`,
    );
  }
  return parsed.data;
}

/** Writes a value as a staged JSON object. */
export async function writeStagedJson(
  s3: S3Client,
  location: { readonly bucket: string; readonly key: string },
  value: unknown,
): Promise<void> {
  await putObject(s3, location, JSON.stringify(value), 'application/json');
}

/** Puts an object; a failure is a `TransientError`, which the state machine retries. */
export async function putObject(
  s3: S3Client,
  location: { readonly bucket: string; readonly key: string },
  body: string,
  contentType: string,
): Promise<void> {
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: location.bucket,
        Key: location.key,
        Body: body,
        ContentType: contentType,
      }),
    );
  } catch (error) {
    throw new TransientError(`Could not write s3://${location.bucket}/${location.key}`, { cause: error });
  }
}
