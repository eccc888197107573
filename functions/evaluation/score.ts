import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import * as zm from 'zod/mini';
import { createComprehendClient, createS3Client } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { InvalidEventError } from '#aws/errors.ts';
import { batchMetrics, type RunScorers, type ScoringPair } from '#aws/eval/batch-metrics.ts';
import { GroundingScorer } from '#aws/eval/grounding.ts';
import { ComprehendToxicityScorer } from '#aws/eval/toxicity-comprehend.ts';
import { createProviderRouter } from '#aws/models/router.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { embeddingModelEnvironment, embeddingModelFromEnv } from '#aws/rag/vector-store.ts';
import { envVar } from '#contracts/env.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import {
  DEFAULT_JUDGED,
  judgeItemPair,
  runSpecOfExpanded,
  type ScoredItem,
  scoreAnswer,
} from '#core/eval/run.ts';
import type { EvalAnswer, EvalItem } from '#core/eval/types.ts';
import { mapLimited } from '#core/map-limited.ts';
import type { ModelProvider, ProviderName } from '#core/models/types.ts';
import {
  type BatchInput,
  batchInput,
  checkBatch,
  evalStaging,
  judgeOf,
  pairwiseOf,
  readStagedJson,
  type StagedScores,
  stagedAnswers,
  stagedItems,
  stagedPlan,
  writeStagedJson,
} from './staging.ts';

/**
 * Score: scores a batch's answers (candidate and baseline) with every metric of the run: the reference,
 * JSON, retrieval and abstention metrics of the core; toxicity (Amazon Comprehend on AWS, when
 * `TOXICITY_SCORER` says so; the offline lexicon otherwise); the Bedrock guardrail's contextual
 * grounding check when a guardrail is configured; and the judge metrics, by the model judge the run was
 * planned (and budgeted) with, k repeats each, or by the offline judge locally. A failed answer fails its
 * metrics (never a 0). A pairwise run (`request.pairwise`) also has the judge compare each item's
 * candidate and baseline answers, once per item in both orders (2 judge calls; `judgePair`), and
 * stages the judgements with the scores. Writes `scored-<index>.json` for the Report step.
 */
export interface ScoreDeps {
  readonly s3: S3Client;
  readonly artifactsBucket: string;
  /** Comprehend toxicity and the grounding check, when configured. */
  readonly scorers: RunScorers;
  /** The provider that serves a judge model (the router chat uses). */
  readonly providerFor: (model: { provider: ProviderName }) => ModelProvider;
  /** Offline models (the local run): the offline judge, whatever the plan says. */
  readonly offline: boolean;
  /** The embedding model answer relevance embeds with (the deployment's). @default the judge provider's default */
  readonly embeddingModel?: Pick<CatalogModel, 'provider' | 'modelId'>;
  /** Items scored at once. @default 4 */
  readonly concurrency?: number;
}

/** Items scored at once (each may make k judge calls per judged metric). */
export const SCORE_CONCURRENCY = 4;

/** The answers of one side, checked to answer the batch's items in order. */
function paired(items: readonly EvalItem[], answers: readonly EvalAnswer[], side: string): ScoringPair[] {
  if (answers.length !== items.length) {
    throw new InvalidEventError(`answers.${side}: ${answers.length} answers for ${items.length} items`);
  }
  return items.map((item, i) => {
    const answer = answers[i] as EvalAnswer;
    if (answer.itemId !== item.id) {
      throw new InvalidEventError(`answers.${side}.${i}.itemId: must be ${item.id} (got ${answer.itemId})`);
    }
    return { item, answer };
  });
}

export function makeHandler(deps: ScoreDeps) {
  return async (input: unknown, _context?: Context): Promise<BatchInput> => {
    const { runId, batch } = checkBatch(parseInput(batchInput, input, 'Score input'));
    logger.appendKeys({ runId, batch: batch.index });
    const bucket = deps.artifactsBucket;
    const plan = await readStagedJson(deps.s3, { bucket, key: evalStaging.plan(runId) }, stagedPlan);
    const items = await readStagedJson(deps.s3, { bucket, key: batch.key }, stagedItems);
    const answers = await readStagedJson(
      deps.s3,
      { bucket, key: evalStaging.answers(runId, batch.index) },
      stagedAnswers,
    );
    const candidate = paired(items, answers.candidate, 'candidate');
    const baseline = answers.baseline === undefined ? undefined : paired(items, answers.baseline, 'baseline');

    const spec = runSpecOfExpanded({
      runId,
      suite: { name: plan.suite.name, version: plan.suite.version },
      items,
      suiteItems: plan.suite.items,
      target: plan.target,
      ...(plan.baseline ? { baseline: { target: plan.baseline } } : {}),
      metrics: await batchMetrics([...candidate, ...(baseline ?? [])], deps.scorers),
      judged: DEFAULT_JUDGED,
      judge: judgeOf(plan, deps.offline, deps.providerFor, deps.embeddingModel),
      pairwise: pairwiseOf(plan),
      seed: plan.seed,
    });
    const score = (pairs: readonly ScoringPair[]): Promise<ScoredItem[]> =>
      mapLimited(pairs, deps.concurrency ?? SCORE_CONCURRENCY, ({ item, answer }) =>
        scoreAnswer(spec, item, answer),
      );
    const pairs =
      spec.pairwise && baseline !== undefined
        ? await mapLimited(
            candidate.map((c, i) => ({ ...c, against: (baseline[i] as ScoringPair).answer })),
            deps.concurrency ?? SCORE_CONCURRENCY,
            ({ item, answer, against }) => judgeItemPair(spec, item, answer, against),
          )
        : undefined;
    const scored: StagedScores = {
      candidate: await score(candidate),
      ...(baseline ? { baseline: await score(baseline) } : {}),
      ...(pairs ? { pairs } : {}),
    };
    await writeStagedJson(deps.s3, { bucket, key: evalStaging.scored(runId, batch.index) }, scored);
    const all = [...scored.candidate, ...(scored.baseline ?? [])];
    metrics.addMetric('EvaluationItemsScored', 'Count', all.length);
    logger.info('Scored evaluation batch', {
      items: items.length,
      judge: spec.judge.kind === 'model' ? spec.judge.model : 'offline',
      metrics: spec.metrics.map((m) => m.name),
      ...(pairs
        ? { pairs: pairs.length, pairsFailed: pairs.filter((p) => p.preference === null).length }
        : {}),
    });
    return { runId, batch };
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  ARTIFACTS_BUCKET: envVar.string(),
  /** `offline` locally: the offline judge, the offline toxicity lexicon, no grounding check. */
  MODEL_PROVIDER: envVar.optionalString(),
  /** Toxicity on AWS: Amazon Comprehend DetectToxicContent, or the offline lexicon. @default offline */
  TOXICITY_SCORER: zm.pipe(
    zm.optional(zm.enum(['comprehend', 'offline'], { error: "must be 'comprehend' or 'offline'" })),
    zm.transform((v: 'comprehend' | 'offline' | undefined) => v ?? 'offline'),
  ),
  /** A guardrail with a contextual grounding policy: adds `grounding` and `grounding_relevance`. */
  GUARDRAIL_ID: envVar.optionalString(),
  GUARDRAIL_VERSION: envVar.optionalString(),
  ...embeddingModelEnvironment,
};

const config = readConfig(environment);
const offline = config.MODEL_PROVIDER === 'offline';
const guardrail =
  config.GUARDRAIL_ID !== undefined && config.GUARDRAIL_VERSION !== undefined
    ? { id: config.GUARDRAIL_ID, version: config.GUARDRAIL_VERSION }
    : undefined;

export const handler = withObservability(
  makeHandler({
    s3: createS3Client(),
    artifactsBucket: config.ARTIFACTS_BUCKET,
    // Offline (the local run), no AWS scorer is reachable: the offline lexicon, and no grounding check.
    scorers: {
      ...(!offline && config.TOXICITY_SCORER === 'comprehend'
        ? { toxicity: new ComprehendToxicityScorer({ client: createComprehendClient() }) }
        : {}),
      ...(!offline && guardrail !== undefined ? { grounding: new GroundingScorer({ guardrail }) } : {}),
    },
    providerFor: createProviderRouter({ mode: offline ? 'offline' : 'catalog' }),
    offline,
    embeddingModel: embeddingModelFromEnv(),
  }),
);
