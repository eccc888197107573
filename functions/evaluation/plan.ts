import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import * as zm from 'zod/mini';
import { createDocumentClient, createS3Client } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { EvaluationBudgetExceededError, NotFoundError, ValidationError } from '#aws/errors.ts';
import { RUN_METRICS } from '#aws/eval/batch-metrics.ts';
import { calibrationSnapshot } from '#aws/eval/calibration-snapshot.ts';
import { DynamoEvaluationStore } from '#aws/eval/dynamo-evaluation-store.ts';
import type { EvaluationStore } from '#aws/eval/evaluation-store.ts';
import { resolveRubrics, rubricVersions, seedRubricsOnce } from '#aws/eval/rubric-registry.ts';
import { ModelCatalog, parseSeed, seedOnce } from '#aws/model-catalog.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { PromptRegistry } from '#aws/prompt-registry.ts';
import { readText } from '#aws/s3-io.ts';
import { envVar } from '#contracts/env.ts';
import {
  type EvaluationRun,
  type EvaluationRunRequest,
  type EvaluationTarget,
  evaluationRunRequest,
  type JudgeRubricMetric,
  MAX_RUN_ITEMS,
} from '#contracts/evaluation/run.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import type { PromptVersion } from '#contracts/prompts/types.ts';
import { estimateRunCost } from '#core/eval/cost.ts';
import { type PredictionLine, parsePredictions } from '#core/eval/predictions.ts';
import { sampleItems } from '#core/eval/regression.ts';
import { isRubricMetric, rubricVersionFor } from '#core/eval/rubrics/registry.ts';
import { DEFAULT_JUDGED, runSpec } from '#core/eval/run.ts';
import { parseSuite } from '#core/eval/suite.ts';
import { compareModels } from '#core/models/select.ts';
import { parsePromptRef } from '#core/prompts/reference.ts';
import type { EvaluationRequestedDetail } from '#events/evaluation-requested.ts';
import { evaluationRequestedEvent } from '#events/evaluation-requested.ts';
import {
  type BatchRef,
  evalStaging,
  type PlannedJudge,
  runIdOf,
  type StagedPlan,
  writeStagedJson,
} from './staging.ts';

/**
 * Plan: the first task of the Evaluate state machine, started by `llmops.EvaluationRequested`. It checks
 * the request (a bad one, say from a schedule, fails the run with a message that names the field),
 * loads the suite version (not registered: the run is recorded `skipped` with the reason), resolves
 * each prompt label to the version it points at and the model that will answer, samples `maxItems`
 * items (the same ones every run of the suite version), expands the bias probes, and estimates the cost
 * of the answers and the judge calls (with `pairwise`, two more per item) from catalog prices: a run
 * above its budget is refused
 * (`EvaluationBudgetExceededError`, with the estimate, the budget, the items, k and the models) before
 * any model is called. It resolves the rubric of each judge metric in the prompt registry (the request's
 * `rubrics`, else `judge-<metric>@production`; seeded at cold start) to the version the Score step's
 * judge renders and every score records, and reads each model judge rubric version's calibration. Then
 * it stages `plan.json` and the item batches in S3 and claims the run: a run already claimed (a
 * redelivered event) is a `duplicate` and nothing more happens.
 */
export interface PlanDeps {
  readonly s3: S3Client;
  readonly store: Pick<
    EvaluationStore,
    'getSuite' | 'claimRun' | 'finishRun' | 'putGate' | 'calibrationLabels'
  >;
  /** Target and baseline prompts, and the judge rubrics (labels resolve when the run starts). */
  readonly prompts: { get: PromptRegistry['get'] };
  readonly catalog: Pick<ModelCatalog, 'get' | 'list'>;
  /**
   * Adds the configured catalog entries the table lacks (conditional puts only), as the chat function
   * does: on a fresh deployment a run may come before any chat. @default nothing to seed
   */
  readonly ensureSeeded?: () => Promise<void>;
  /**
   * Adds the judge rubric prompts the registry lacks (conditional writes only: an administrator's
   * versions and label moves stay). @default nothing to seed
   */
  readonly seedRubrics?: () => Promise<void>;
  readonly artifactsBucket: string;
  /** The judge's catalog id. */
  readonly judgeModel: string;
  /** Judge repeats when the request does not say. */
  readonly judgeRepeats: number;
  /** The profile's budget of one run, in US dollars (a request may set its own). */
  readonly budgetUsd: number;
  /** Expanded items per Map batch. */
  readonly batchSize: number;
  /** Offline models (the local run): the offline judge, which costs nothing. */
  readonly offline: boolean;
  readonly now?: () => Date;
}

/** What Plan returns to the state machine (small: the items are in S3). */
export type PlanOutput =
  | {
      readonly runId: string;
      readonly status: 'planned';
      readonly batches: readonly BatchRef[];
      readonly items: number;
      readonly suite: { readonly name: string; readonly version: number };
      readonly estimatedCostUsd: number;
      readonly promotion?: EvaluationRequestedDetail['promotion'];
    }
  | {
      readonly runId: string;
      readonly status: 'skipped';
      readonly reason: string;
      readonly batches: readonly BatchRef[];
      readonly promotion?: EvaluationRequestedDetail['promotion'];
    }
  | { readonly runId: string; readonly status: 'duplicate'; readonly batches: readonly BatchRef[] };

const wrappedInput = z.object({ event: z.unknown(), executionName: z.string().min(1) });

/** The request checked against `evaluationRunRequest`, a failure naming the field and the rule. */
export function parseRunRequest(request: unknown): EvaluationRunRequest {
  const parsed = zm.safeParse(evaluationRunRequest, request);
  if (parsed.success) return parsed.data;
  const fieldOf = (path: readonly PropertyKey[]) => ['request', ...path.map(String)].join('.');
  const issues = parsed.error.issues;
  const first = issues[0];
  throw new ValidationError(fieldOf(first?.path ?? []), first?.message ?? 'is invalid', {
    message: `Invalid evaluation request: ${issues.map((issue) => `${fieldOf(issue.path)}: ${issue.message}`).join('; ')}`,
  });
}

/** A target resolved: the prompt version (`name:version`), the model asked for, and the model that answers. */
interface ResolvedTarget {
  readonly target: { readonly prompt?: string; readonly model?: string };
  /** The catalog model that answers (the request's, the prompt's, or the gateway's default choice). */
  readonly model: CatalogModel;
}

/** US dollars as a reader wants them: cents from one cent up, two significant digits below. */
export function money(usd: number): string {
  return `$${usd >= 0.01 ? usd.toFixed(2) : String(Number(usd.toPrecision(2)))}`;
}

export function makeHandler(deps: PlanDeps) {
  const now = deps.now ?? (() => new Date());

  async function catalogModel(id: string, field: string): Promise<CatalogModel> {
    let model: CatalogModel;
    try {
      model = await deps.catalog.get(id);
    } catch (error) {
      if (error instanceof NotFoundError) throw new ValidationError(field, error.message, { cause: error });
      throw error;
    }
    if (model.kind !== 'chat') throw new ValidationError(field, `${model.id} is not a chat model`);
    return model;
  }

  /** The model the gateway chooses without one: the cheapest active chat model (the estimate's). */
  async function defaultModel(field: string): Promise<CatalogModel> {
    const models = [...(await deps.catalog.list({ kind: 'chat', status: 'active' }))].sort(compareModels);
    const cheapest = models[0];
    if (cheapest === undefined) {
      throw new ValidationError(field, 'names no model, and the catalog has no active chat model to answer');
    }
    return cheapest;
  }

  async function resolve(
    target: EvaluationTarget,
    field: 'target' | 'baseline',
    rag: boolean,
  ): Promise<ResolvedTarget> {
    let prompt: PromptVersion | undefined;
    if (target.prompt !== undefined) {
      try {
        prompt = await deps.prompts.get(parsePromptRef(target.prompt, `${field}.prompt`));
      } catch (error) {
        if (error instanceof NotFoundError) {
          throw new ValidationError(`${field}.prompt`, error.message, { cause: error });
        }
        throw error;
      }
      const ref = `${prompt.name} v${prompt.version}`;
      if (!Object.hasOwn(prompt.variables, 'question')) {
        throw new ValidationError(
          `${field}.prompt`,
          `${ref} declares no "question" variable to receive each item's question`,
        );
      }
      if (rag && !Object.hasOwn(prompt.variables, 'context')) {
        throw new ValidationError(
          `${field}.prompt`,
          `${ref} declares no "context" variable to receive the retrieved passages (rag is set)`,
        );
      }
    }
    const modelId = target.model ?? prompt?.model?.id;
    const model =
      modelId !== undefined
        ? await catalogModel(modelId, target.model !== undefined ? `${field}.model` : `${field}.prompt`)
        : await defaultModel(field);
    return {
      target: {
        ...(prompt !== undefined ? { prompt: `${prompt.name}:${prompt.version}` } : {}),
        ...(target.model !== undefined ? { model: target.model } : {}),
      },
      model,
    };
  }

  /**
   * What a run's own answers cost when they are given: nothing (a price-free stand-in for the estimate,
   * so that only the baseline and the judge are priced).
   */
  async function predictionsPrice(): Promise<CatalogModel> {
    const model =
      (await deps.catalog.list({ kind: 'chat', status: 'active' }))[0] ?? (await defaultModel('target'));
    return { ...model, pricePer1kInputUsd: 0, pricePer1kOutputUsd: 0 };
  }

  /** The request's predictions object, parsed: a missing object or a bad line fails naming the field. */
  async function readPredictions(key: string): Promise<Map<string, PredictionLine>> {
    let text: string;
    try {
      text = await readText(deps.s3, deps.artifactsBucket, key);
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') {
        throw new ValidationError('request.predictions', `no object ${key} in the artifacts bucket`, {
          cause: error,
        });
      }
      throw error;
    }
    try {
      return parsePredictions(text, key);
    } catch (error) {
      if (error instanceof ValidationError) {
        throw new ValidationError('request.predictions', error.message, { cause: error });
      }
      throw error;
    }
  }

  async function judgeOf(): Promise<{ planned: PlannedJudge; model: CatalogModel | undefined }> {
    if (deps.offline) return { planned: { offline: true }, model: undefined };
    const model = await catalogModel(deps.judgeModel, 'JUDGE_MODEL');
    return {
      planned: { offline: false, id: model.id, modelId: model.modelId, provider: model.provider },
      model,
    };
  }

  /** Records a run that cannot start for want of its suite; `false` when another execution has it. */
  async function skip(
    run: EvaluationRun,
    reason: string,
    promotion: EvaluationRequestedDetail['promotion'],
  ): Promise<boolean> {
    if (!(await deps.store.claimRun(run, {}))) return false;
    await deps.store.finishRun(run.runId, { status: 'skipped', error: reason });
    if (promotion !== undefined) {
      await deps.store.putGate({
        ...promotion,
        suite: run.request.suite,
        runId: run.runId,
        status: 'skipped',
        updatedAt: now().toISOString(),
      });
    }
    return true;
  }

  return async (input: unknown, context?: Context): Promise<PlanOutput> => {
    await Promise.all([deps.ensureSeeded?.(), deps.seedRubrics?.()]);
    const wrapped = wrappedInput.safeParse(input);
    const raw = wrapped.success ? wrapped.data.event : input;
    const executionName = wrapped.success ? wrapped.data.executionName : (context?.awsRequestId ?? '');
    const event = parseInput(
      evaluationRequestedEvent,
      raw,
      'Evaluate input (llmops.EvaluationRequested event)',
    );
    const { detail } = event;
    const runId = runIdOf(detail, executionName);
    logger.appendKeys({ runId, trigger: detail.trigger });
    const request = parseRunRequest(detail.request);
    const promotion = detail.promotion;
    const at = now().toISOString();
    const run: EvaluationRun = {
      runId,
      status: 'running',
      trigger: detail.trigger,
      request,
      requestedBy: detail.requestedBy,
      createdAt: at,
      updatedAt: at,
    };

    const suite = await deps.store.getSuite(request.suite, request.suiteVersion);
    if (suite === undefined) {
      const reason =
        request.suiteVersion === undefined
          ? `suite ${request.suite} has no registered version: upload a golden dataset named ${request.suite} (DataPrep curates and registers it)`
          : `suite ${request.suite} version ${request.suiteVersion} is not registered`;
      if (!(await skip(run, reason, promotion))) {
        logger.info('Evaluation run already claimed: nothing to do', { reason });
        return { runId, status: 'duplicate', batches: [] };
      }
      logger.warn('Evaluation run skipped', { reason });
      metrics.addMetric('EvaluationRunsSkipped', 'Count', 1);
      return { runId, status: 'skipped', reason, batches: [], ...(promotion ? { promotion } : {}) };
    }

    const rag = request.rag !== undefined;
    let target: ResolvedTarget;
    try {
      // Bring-your-own predictions: the target only names where they came from; nothing answers for it.
      target =
        request.predictions === undefined
          ? await resolve(request.target, 'target', rag)
          : { target: request.target, model: await predictionsPrice() };
    } catch (error) {
      // A schedule waits for its prompt as it waits for its suite: a prompt (or its label) that does not
      // exist yet skips the run; asked for by a person, it fails, naming the field.
      const missing = error instanceof ValidationError && error.cause instanceof NotFoundError;
      if (!(missing && detail.trigger === 'schedule')) throw error;
      const reason = `${request.target.prompt} does not resolve yet: ${(error.cause as Error).message}`;
      if (!(await skip(run, reason, promotion))) return { runId, status: 'duplicate', batches: [] };
      logger.warn('Evaluation run skipped', { reason });
      metrics.addMetric('EvaluationRunsSkipped', 'Count', 1);
      return { runId, status: 'skipped', reason, batches: [], ...(promotion ? { promotion } : {}) };
    }
    const baseline =
      request.baseline === undefined ? undefined : await resolve(request.baseline, 'baseline', rag);
    const judge = await judgeOf();
    const k = request.k ?? deps.judgeRepeats;

    const predictions =
      request.predictions === undefined ? undefined : await readPredictions(request.predictions);
    const parsed = parseSuite(await readText(deps.s3, suite.location.bucket, suite.location.key), {
      name: suite.name,
      version: String(suite.version),
    });
    const items =
      request.maxItems === undefined
        ? parsed.items
        : sampleItems(parsed.items, request.maxItems, `${suite.name}:${suite.version}`);
    const spec = runSpec({
      runId,
      suite: { name: suite.name, version: suite.version },
      items,
      target: target.target,
      ...(baseline ? { baseline: { target: baseline.target } } : {}),
      metrics: RUN_METRICS,
      judged: DEFAULT_JUDGED,
      judge: { kind: 'offline' },
      pairwise: request.pairwise === true,
      seed: runId,
    });
    if (spec.items.length > MAX_RUN_ITEMS) {
      throw new ValidationError(
        'request.maxItems',
        `suite ${suite.name} v${suite.version} expands to ${spec.items.length} items (bias probes once per group), more than the ${MAX_RUN_ITEMS} a run evaluates: set maxItems`,
      );
    }

    // The offline judge costs nothing; otherwise each side's answers and judge calls at catalog prices.
    const judgePrice: CatalogModel = judge.model ?? {
      ...target.model,
      pricePer1kInputUsd: 0,
      pricePer1kOutputUsd: 0,
    };
    // The pairwise calls compare both sides: counted once, with the target's side.
    const side = (model: CatalogModel, pairwise: boolean) =>
      estimateRunCost({
        items: spec.items,
        target: model,
        judge: judgePrice,
        judgedMetrics: spec.judged.length,
        k,
        rag,
        baseline: false,
        pairwise,
      }).totalUsd;
    const estimatedCostUsd = side(target.model, spec.pairwise) + (baseline ? side(baseline.model, false) : 0);
    const budgetUsd = request.budgetUsd ?? deps.budgetUsd;
    if (estimatedCostUsd > budgetUsd) {
      const models = [
        `target ${target.model.id}`,
        ...(baseline ? [`baseline ${baseline.model.id}`] : []),
        `judge ${judge.model?.id ?? 'offline'}`,
      ].join(', ');
      throw new EvaluationBudgetExceededError(
        `Evaluation run ${runId} refused: its estimated cost ${money(estimatedCostUsd)} is above its budget of ${money(budgetUsd)} (${spec.items.length} items${baseline ? ' answered twice (target and baseline)' : ''}, ${spec.judged.length} judged metrics × k=${k} repeats${spec.pairwise ? ', 2 pairwise judge calls per item' : ''}; ${models}). Lower maxItems or k, or set budgetUsd.`,
        estimatedCostUsd,
        budgetUsd,
      );
    }

    // The offline judge stands in for the same rubric versions: they are resolved and recorded too.
    const judgedRubrics: JudgeRubricMetric[] = [
      ...spec.judged.flatMap((j) => (isRubricMetric(j.name) ? [j.name] : [])),
      ...(spec.pairwise ? (['preference'] as const) : []),
    ];
    const rubrics = await resolveRubrics(deps.prompts, judgedRubrics, request.rubrics);
    const calibrated = judge.planned.offline
      ? {}
      : await calibrationSnapshot(
          deps.store,
          spec.judged.map((j) => rubricVersionFor(j.name, rubrics) ?? j.name),
        );

    // Claimed first, staged after: an execution that loses the claim (a redelivered request, or the
    // duplicates a drift alarm's signals start together) stops before it writes anything, so it never
    // overwrites the staging the claiming execution is reading. A retry of this step in the claiming
    // execution claims the run again (the claim names the execution) and stages the same objects again;
    // a claiming execution that fails after the claim ends the run in RecordFailure, never leaving it
    // running.
    const claimed = await deps.store.claimRun(run, {
      resolved: {
        target: target.target,
        ...(baseline ? { baseline: baseline.target } : {}),
        rubrics: rubricVersions(rubrics),
      },
      suite: { name: suite.name, version: suite.version, items: spec.suiteItems },
      estimatedCostUsd,
      ...(executionName !== '' ? { claimedBy: executionName } : {}),
    });
    if (!claimed) {
      logger.info('Evaluation run already claimed: nothing to do');
      return { runId, status: 'duplicate', batches: [] };
    }
    const batches: BatchRef[] = [];
    for (let from = 0, index = 0; from < spec.items.length; from += deps.batchSize, index++) {
      const location = { bucket: deps.artifactsBucket, key: evalStaging.batch(runId, index) };
      await writeStagedJson(deps.s3, location, spec.items.slice(from, from + deps.batchSize));
      batches.push({ index, key: location.key });
    }
    if (predictions !== undefined) {
      // Only the run's items' predictions travel to Generate; an item without one fails there, by name.
      const ofItems: Record<string, PredictionLine> = {};
      for (const item of spec.items) {
        const line = predictions.get(item.id);
        if (line !== undefined) ofItems[item.id] = line;
      }
      await writeStagedJson(
        deps.s3,
        { bucket: deps.artifactsBucket, key: evalStaging.predictions(runId) },
        ofItems,
      );
    }
    const plan: StagedPlan = {
      runId,
      executionName,
      trigger: detail.trigger,
      requestedBy: detail.requestedBy,
      request,
      ...(promotion ? { promotion } : {}),
      suite: { name: suite.name, version: suite.version, items: spec.suiteItems, location: suite.location },
      target: target.target,
      ...(baseline ? { baseline: baseline.target } : {}),
      ...(request.rag ? { rag: request.rag } : {}),
      k,
      judge: judge.planned,
      calibrated,
      rubrics,
      seed: spec.seed,
      startedAt: at,
      items: spec.items.length,
      batches,
      estimatedCostUsd,
      ...(predictions !== undefined ? { predictions: true } : {}),
    };
    await writeStagedJson(deps.s3, { bucket: deps.artifactsBucket, key: evalStaging.plan(runId) }, plan);

    metrics.addMetric('EvaluationRunsStarted', 'Count', 1);
    metrics.addMetric('EvaluationItemsPlanned', 'Count', spec.items.length);
    logger.info('Planned evaluation run', {
      suite: `${suite.name}:${suite.version}`,
      items: spec.items.length,
      batches: batches.length,
      target: target.target,
      baseline: baseline?.target,
      rubrics: rubricVersions(rubrics),
      pairwise: spec.pairwise,
      estimatedCostUsd,
      budgetUsd,
      quarantined: parsed.quarantined.length,
    });
    return {
      runId,
      status: 'planned',
      batches,
      items: spec.items.length,
      suite: { name: suite.name, version: suite.version },
      estimatedCostUsd,
      ...(promotion ? { promotion } : {}),
    };
  };
}

/** A positive amount of US dollars, as a decimal string (`2`, `0.5`). */
const usdAmount = () =>
  zm.pipe(
    zm
      .string({ error: 'is required' })
      .check(zm.regex(/^\d+(\.\d+)?$/, { error: 'must be a decimal amount of US dollars, e.g. 2 or 0.5' })),
    zm.pipe(zm.transform(Number), zm.number().check(zm.gt(0, { error: 'must be above 0' }))),
  );

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  EVALUATIONS_TABLE: envVar.string(),
  /** The prompt registry: targets' prompts and the judge rubrics (seeded with conditional writes). */
  PROMPTS_TABLE: envVar.string(),
  CATALOG_TABLE: envVar.string(),
  ARTIFACTS_BUCKET: envVar.string(),
  /** The configured catalog, added to the table where it lacks an entry (as the chat function does). */
  CATALOG_SEED: envVar.string(),
  /** The judge's catalog id. */
  JUDGE_MODEL: envVar.string(),
  /** Judge repeats per judged item when a request does not say. */
  JUDGE_REPEATS: envVar.int(1),
  /** The profile's budget of one run (US dollars). */
  EVALUATION_BUDGET_USD: usdAmount(),
  /** Expanded items per Map batch. */
  ITEM_BATCH_SIZE: envVar.int(1),
  /** `offline` locally: offline models and the offline judge. */
  MODEL_PROVIDER: envVar.optionalString(),
};

const config = readConfig(environment);
const documents = createDocumentClient();

const catalog = new ModelCatalog(documents, config.CATALOG_TABLE);
// Labels resolve to the version they point at now (no cache): a run right after a move evaluates it.
const registry = new PromptRegistry(documents, config.PROMPTS_TABLE, { cacheTtlMs: 0 });

export const handler = withObservability(
  makeHandler({
    s3: createS3Client(),
    store: new DynamoEvaluationStore(documents, config.EVALUATIONS_TABLE),
    prompts: registry,
    catalog,
    ensureSeeded: seedOnce(catalog, parseSeed(config.CATALOG_SEED), { mode: 'insert' }),
    seedRubrics: seedRubricsOnce(registry),
    artifactsBucket: config.ARTIFACTS_BUCKET,
    judgeModel: config.JUDGE_MODEL,
    judgeRepeats: config.JUDGE_REPEATS,
    budgetUsd: config.EVALUATION_BUDGET_USD,
    batchSize: config.ITEM_BATCH_SIZE,
    offline: config.MODEL_PROVIDER === 'offline',
  }),
);
