import type { Context } from 'aws-lambda';
import { createDocumentClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { InvalidEventError, NotFoundError, ValidationError } from '#aws/errors.ts';
import { ModelCatalog } from '#aws/model-catalog.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { envVar } from '#contracts/env.ts';
import type { CatalogEvaluation } from '#contracts/models/catalog.ts';
import { type EvaluationCompletedDetail, evaluationCompletedEvent } from '#events/evaluation-completed.ts';

/**
 * Writes each model evaluation into the model catalog: the target of the rule on
 * `llmops.EvaluationCompleted`. A run whose target is a model records its primary metric as the model's
 * latest evaluation on the suite (`ModelCatalog.recordEvaluation`), which `POST /v1/models/select` with
 * `rankBy` ranks on. Offline-judged runs are recorded too (the metric says what was measured).
 *
 * Skipped, logged and counted (`CatalogScoresSkipped`), never thrown: a run of a prompt (no model), a run
 * with no metric value to record (everything failed), and a model the catalog does not hold (an unknown
 * model is not worth a dead letter). A redelivered or late event changes nothing (`CatalogScoresStale`).
 */
export interface CatalogScoresDeps {
  readonly catalog: Pick<ModelCatalog, 'recordEvaluation'>;
}

/** Who the catalog says wrote an evaluation. */
export const EVALUATION_AUTHOR = 'evaluation-pipeline';

/**
 * Metrics where lower is better (toxicity, the bias gaps): never a run's primary metric, since the
 * catalog ranks models by the highest value.
 */
const LOWER_IS_BETTER = /^(toxicity|bias_gap_)/;
/**
 * Metrics relative to the run's baseline (the pairwise win rates): a comparison of two answers, not the
 * model's score on the suite, so never a run's primary metric.
 */
const RELATIVE = /^win_rate(_lc)?$/;

export interface PrimaryMetric {
  readonly name: string;
  readonly value: number;
  readonly n: number;
  /** The 95% interval; a bound the run could not compute is the widest possible (0 or 1). */
  readonly ci: [number, number];
}

type RunMetric = EvaluationCompletedDetail['metrics'][string];

const inUnitRange = (value: number | null): value is number => value !== null && value >= 0 && value <= 1;

/**
 * The run's primary metric: `f1` when it has a value, else the first metric (in report order) whose
 * value is in [0, 1], where higher is better and that is not a win rate against the baseline;
 * `undefined` when no metric has one.
 */
export function primaryMetric(metrics: EvaluationCompletedDetail['metrics']): PrimaryMetric | undefined {
  const entries = Object.entries(metrics);
  const f1 = entries.find(([name, metric]) => name === 'f1' && inUnitRange(metric.value));
  const found =
    f1 ??
    entries.find(
      ([name, metric]) => !LOWER_IS_BETTER.test(name) && !RELATIVE.test(name) && inUnitRange(metric.value),
    );
  if (found === undefined) return undefined;
  const [name, metric] = found as [string, RunMetric & { value: number }];
  return { name, value: metric.value, n: metric.n, ci: [metric.ci[0] ?? 0, metric.ci[1] ?? 1] };
}

export type CatalogScoresResult =
  | {
      /** `stale`: the catalog already holds this run's evaluation, or a more recent one. */
      readonly outcome: 'recorded' | 'stale';
      readonly model: string;
      readonly suite: string;
      readonly metric: string;
      readonly value: number;
    }
  | { readonly outcome: 'skipped'; readonly reason: string };

function skipped(reason: string, level: 'info' | 'warn', extra: Record<string, unknown> = {}) {
  logger[level]('Evaluation not recorded in the catalog', { reason, ...extra });
  metrics.addMetric('CatalogScoresSkipped', 'Count', 1);
  return { outcome: 'skipped', reason } as const;
}

export function makeHandler(deps: CatalogScoresDeps) {
  return async (input: unknown, _context?: Context): Promise<CatalogScoresResult> => {
    const event = parseInput(evaluationCompletedEvent, input, 'EvaluationCompleted event');
    const { detail } = event;
    logger.appendKeys({ runId: detail.runId, eventId: event.id });
    const model = detail.target.model;
    if (model === undefined) {
      return skipped('the run evaluated no model (its target is a prompt)', 'info', {
        target: detail.target,
      });
    }
    const primary = primaryMetric(detail.metrics);
    if (primary === undefined) {
      return skipped('no metric of the run has a value in [0, 1] to record', 'warn', {
        model,
        failed: detail.failed,
        metrics: Object.keys(detail.metrics),
      });
    }
    const at = Date.parse(event.time);
    if (Number.isNaN(at)) throw new InvalidEventError(`Invalid EventBridge event time "${event.time}"`);
    const evaluation: CatalogEvaluation = {
      metric: primary.name,
      value: primary.value,
      ci: primary.ci,
      n: primary.n,
      runId: detail.runId,
      at: new Date(at).toISOString(),
    };
    let recorded: boolean;
    try {
      ({ recorded } = await deps.catalog.recordEvaluation(
        model,
        detail.suite.name,
        evaluation,
        EVALUATION_AUTHOR,
      ));
    } catch (error) {
      if (error instanceof NotFoundError) {
        return skipped(`model ${model} is not in the catalog`, 'warn', { model });
      }
      if (error instanceof ValidationError) {
        throw new InvalidEventError(
          `The evaluation of ${model} on suite ${detail.suite.name} does not fit the catalog: ${error.message}`,
          { cause: error },
        );
      }
      throw error;
    }
    const result = {
      outcome: recorded ? 'recorded' : 'stale',
      model,
      suite: detail.suite.name,
      metric: primary.name,
      value: primary.value,
    } as const;
    metrics.addMetric(recorded ? 'CatalogScoresRecorded' : 'CatalogScoresStale', 'Count', 1);
    logger.info(
      recorded
        ? 'Evaluation recorded in the catalog'
        : 'Evaluation not recorded: the catalog holds one as recent or more recent',
      { ...result, judge: detail.judge },
    );
    return result;
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = { CATALOG_TABLE: envVar.string() };

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({ catalog: new ModelCatalog(createDocumentClient(), config.CATALOG_TABLE) }),
);
