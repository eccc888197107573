import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { createDocumentClient, createEventBridgeClient, createS3Client } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { type EvaluationAnswerTarget, gatewayAnswers } from '#aws/eval/gateway-answers.ts';
import type { GatewayDeps } from '#aws/gateway.ts';
import { EventBridgeInteractionRecorder } from '#aws/interactions.ts';
import { ModelCatalog } from '#aws/model-catalog.ts';
import { createContentGuard } from '#aws/models/guardrail.ts';
import { createProviderRouter } from '#aws/models/router.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { PromptRegistry } from '#aws/prompt-registry.ts';
import { Retriever } from '#aws/rag/retriever.ts';
import {
  embeddingModelEnvironment,
  embeddingModelFromEnv,
  vectorStoreEnvironment,
  vectorStoreFromEnv,
} from '#aws/rag/vector-store.ts';
import { envVar } from '#contracts/env.ts';
import { predictedAnswer } from '#core/eval/predictions.ts';
import type { AnswerSource } from '#core/eval/run.ts';
import type { EvalAnswer, EvalItem } from '#core/eval/types.ts';
import { mapLimited } from '#core/map-limited.ts';
import {
  type BatchInput,
  batchInput,
  checkBatch,
  evalStaging,
  readStagedJson,
  type StagedAnswers,
  stagedItems,
  stagedPlan,
  stagedPredictions,
  writeStagedJson,
} from './staging.ts';

/**
 * Generate: answers a batch of the run's items through the model gateway (the code path of every API
 * answer; see `#aws/eval/gateway-answers.ts`), the candidate and, when the run has one, the baseline,
 * a few items at once. Each answer keeps its latency, tokens and cost and, with retrieval, the passages
 * the model was given. An item that still fails after its retries is answered with its error (counted
 * failed in the report, never scored 0); the step itself fails only when it cannot read or write S3.
 */
export interface GenerateDeps {
  readonly s3: S3Client;
  readonly artifactsBucket: string;
  /** The gateway's dependencies, as the chat function builds them (no token budget: see the module). */
  readonly gateway: GatewayDeps;
  /** Answers in flight at once. @default 4 */
  readonly concurrency?: number;
  /** Waits between an item's attempts. @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Answers in flight at once. */
export const GENERATE_CONCURRENCY = 4;
/** Time kept back from the Lambda timeout to write the answers once every item is done. */
export const WRITE_RESERVE_MS = 10_000;

export function makeHandler(deps: GenerateDeps) {
  return async (input: unknown, context?: Context): Promise<BatchInput> => {
    const { runId, batch } = checkBatch(parseInput(batchInput, input, 'Generate input'));
    logger.appendKeys({ runId, batch: batch.index });
    const bucket = deps.artifactsBucket;
    const plan = await readStagedJson(deps.s3, { bucket, key: evalStaging.plan(runId) }, stagedPlan);
    const items = await readStagedJson(deps.s3, { bucket, key: batch.key }, stagedItems);
    const remaining = context?.getRemainingTimeInMillis?.();
    const deadline = remaining === undefined ? undefined : Date.now() + remaining - WRITE_RESERVE_MS;

    const source = (side: 'candidate' | 'baseline', target: EvaluationAnswerTarget): AnswerSource =>
      gatewayAnswers(
        { ...target, ...(plan.rag !== undefined ? { rag: plan.rag } : {}) },
        {
          gateway: deps.gateway,
          requestId: (item, attempt) => `evaluation:${runId}:${side}:${item.id}:${attempt}`,
          ...(deadline !== undefined ? { deadline: () => deadline } : {}),
          ...(deps.sleep ? { sleep: deps.sleep } : {}),
        },
      );
    // Bring-your-own predictions answer for the target; the baseline (if any) is still generated.
    const given = plan.predictions
      ? new Map(
          Object.entries(
            await readStagedJson(deps.s3, { bucket, key: evalStaging.predictions(runId) }, stagedPredictions),
          ),
        )
      : undefined;
    const candidate: AnswerSource = given
      ? async (item) => predictedAnswer(given, item)
      : source('candidate', plan.target);
    const sides: { side: 'candidate' | 'baseline'; answers: AnswerSource }[] = [
      { side: 'candidate', answers: candidate },
      ...(plan.baseline ? [{ side: 'baseline' as const, answers: source('baseline', plan.baseline) }] : []),
    ];
    const tasks = sides.flatMap(({ side, answers }) => items.map((item) => ({ side, item, answers })));
    const answered = await mapLimited(
      tasks,
      deps.concurrency ?? GENERATE_CONCURRENCY,
      async ({ item, answers }: { item: EvalItem; answers: AnswerSource }) => answers(item),
    );
    const of = (side: 'candidate' | 'baseline'): EvalAnswer[] =>
      answered.filter((_, i) => tasks[i]?.side === side);
    const staged: StagedAnswers = {
      candidate: of('candidate'),
      ...(plan.baseline ? { baseline: of('baseline') } : {}),
    };
    await writeStagedJson(deps.s3, { bucket, key: evalStaging.answers(runId, batch.index) }, staged);

    const failed = answered.filter((a) => a.error !== undefined);
    metrics.addMetric('EvaluationAnswers', 'Count', answered.length);
    metrics.addMetric('EvaluationAnswerFailures', 'Count', failed.length);
    if (failed.length > 0) {
      logger.warn('Evaluation answers failed', {
        failed: failed.length,
        of: answered.length,
        first: failed.slice(0, 3).map((a) => ({ itemId: a.itemId, error: a.error })),
      });
    }
    return { runId, batch };
  };
}

/**
 * The environment this function reads (a contract: the stack sets exactly these variables): the chat
 * function's gateway environment, less what only the API needs (app keys and access, the request size
 * limit, the catalog seed, the token budget table), plus the artifacts bucket.
 */
export const environment = {
  PROMPTS_TABLE: envVar.string(),
  CATALOG_TABLE: envVar.string(),
  EVENT_BUS_NAME: envVar.string(),
  GUARDRAIL_ID: envVar.optionalString(),
  GUARDRAIL_VERSION: envVar.optionalString(),
  INTERACTION_SAMPLE_RATE: envVar.ratio(),
  CHAT_TIMEOUT_MS: envVar.int(1000),
  PROMPT_CACHE_TTL_SECONDS: envVar.int(0),
  MODEL_PROVIDER: envVar.optionalString(),
  ...embeddingModelEnvironment,
  ...vectorStoreEnvironment,
  ARTIFACTS_BUCKET: envVar.string(),
};

const config = readConfig(environment);
const documents = createDocumentClient();
const offline = config.MODEL_PROVIDER === 'offline';
const providerFor = createProviderRouter({ mode: offline ? 'offline' : 'catalog' });
const embeddingModel = embeddingModelFromEnv();
const guardrail =
  config.GUARDRAIL_ID !== undefined && config.GUARDRAIL_VERSION !== undefined
    ? { id: config.GUARDRAIL_ID, version: config.GUARDRAIL_VERSION }
    : undefined;
const guard = createContentGuard({ offline, guardrail });

export const handler = withObservability(
  makeHandler({
    s3: createS3Client(),
    artifactsBucket: config.ARTIFACTS_BUCKET,
    gateway: {
      prompts: new PromptRegistry(documents, config.PROMPTS_TABLE, {
        cacheTtlMs: config.PROMPT_CACHE_TTL_SECONDS * 1000,
      }),
      catalog: new ModelCatalog(documents, config.CATALOG_TABLE),
      providerFor,
      retriever: new Retriever({
        store: vectorStoreFromEnv,
        model: embeddingModel,
        provider: providerFor(embeddingModel),
      }),
      recorder: new EventBridgeInteractionRecorder(createEventBridgeClient(), config.EVENT_BUS_NAME),
      ...(guardrail !== undefined ? { guardrail } : {}),
      ...(guard !== undefined ? { guard } : {}),
      sampleRate: config.INTERACTION_SAMPLE_RATE,
      timeoutMs: config.CHAT_TIMEOUT_MS,
    },
  }),
);
