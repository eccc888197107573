import type { CatalogModel, ModelFeature } from '#contracts/models/catalog.ts';
import { ContextWindowExceededError, NoModelAvailableError } from '../errors.ts';
import type { TokenUsage } from './types.ts';

/** What a caller asks of a model (the body of `POST /v1/models/select`). Every field is optional. */
export interface ModelConstraints {
  /** @default 'chat' */
  readonly kind?: 'chat' | 'embedding' | undefined;
  readonly minContextTokens?: number | undefined;
  readonly maxPricePer1kInputUsd?: number | undefined;
  readonly maxPricePer1kOutputUsd?: number | undefined;
  /** Every listed feature is required. */
  readonly features?: readonly ModelFeature[] | undefined;
  /** Models never evaluated have no score and fail this constraint (only when it is set). */
  readonly minEvaluationScore?: number | undefined;
  /** The model must be served in this region. */
  readonly region?: string | undefined;
  /**
   * Rank by an evaluation suite instead of price: among the models that meet every other constraint
   * (the price bounds included), the one with the highest `evaluations[suite].value` wins. Models never
   * evaluated on the suite are not candidates.
   */
  readonly rankBy?: RankBy | undefined;
}

export interface RankBy {
  /** Suite name, as in the catalog's `evaluations`. */
  readonly suite: string;
  /** The suite's score must be at least this (in [0, 1]). */
  readonly minScore?: number | undefined;
}

export interface ModelSelection {
  readonly model: CatalogModel;
  /** How many active models met every constraint. */
  readonly candidates: number;
  /** With `rankBy`: the suite, metric and value the chosen model won on. */
  readonly rankedBy?: { readonly suite: string; readonly metric: string; readonly value: number };
}

/**
 * Blended price per 1k tokens, weighting input 3 : output 1 (the usual blend, as chat traffic reads
 * much more than it writes).
 */
export function blendedPricePer1k(
  model: Pick<CatalogModel, 'pricePer1kInputUsd' | 'pricePer1kOutputUsd'>,
): number {
  return (3 * model.pricePer1kInputUsd + model.pricePer1kOutputUsd) / 4;
}

const byId = (a: CatalogModel, b: CatalogModel) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Cheapest first; then the larger context window; then the id, so the order is total. */
export function compareModels(a: CatalogModel, b: CatalogModel): number {
  return (
    3 * a.pricePer1kInputUsd + a.pricePer1kOutputUsd - (3 * b.pricePer1kInputUsd + b.pricePer1kOutputUsd) ||
    b.contextWindow - a.contextWindow ||
    byId(a, b)
  );
}

/** The score of a model on a suite, if it was evaluated on it. */
const scoreOn = (model: CatalogModel, suite: string) => model.evaluations?.[suite]?.value;

/**
 * Best score on the suite first (models without one last); then the lower blended price; then the id,
 * so the order is total.
 */
export function compareByScore(suite: string): (a: CatalogModel, b: CatalogModel) => number {
  return (a, b) =>
    (scoreOn(b, suite) ?? -1) - (scoreOn(a, suite) ?? -1) ||
    blendedPricePer1k(a) - blendedPricePer1k(b) ||
    byId(a, b);
}

interface Filter {
  /** How the constraint reads in an error message. */
  readonly label: string;
  /** The request field behind it; absent for the catalog's own rules (kind, active status). */
  readonly field?: keyof ModelConstraints | 'rankBy.suite' | 'rankBy.minScore';
  /** What to do instead of relaxing `field`, when relaxing is not the fix. */
  readonly advice?: string;
  readonly keep: (model: CatalogModel) => boolean;
  /** What the last models had instead, to say how far off the constraint is. */
  readonly closest?: (models: readonly CatalogModel[]) => string;
}

function filters(c: ModelConstraints): Filter[] {
  const kind = c.kind ?? 'chat';
  const list: Filter[] = [
    { label: `kind ${kind}`, keep: (m) => m.kind === kind },
    { label: 'status active', keep: (m) => m.status === 'active' },
  ];
  const { region, features, minContextTokens, minEvaluationScore } = c;
  const { maxPricePer1kInputUsd: maxIn, maxPricePer1kOutputUsd: maxOut } = c;
  if (region !== undefined) {
    list.push({
      label: `region ${region}`,
      field: 'region',
      keep: (m) => m.regions.includes(region),
      closest: (ms) =>
        `served in ${[...new Set(ms.flatMap((m) => m.regions))].sort().join(', ') || 'no region'}`,
    });
  }
  if (features !== undefined && features.length > 0) {
    list.push({
      label: `features ${features.join(', ')}`,
      field: 'features',
      keep: (m) => features.every((f) => m.features.includes(f)),
    });
  }
  if (minContextTokens !== undefined) {
    list.push({
      label: `minContextTokens ${minContextTokens}`,
      field: 'minContextTokens',
      keep: (m) => m.contextWindow >= minContextTokens,
      closest: (ms) => `largest context window ${Math.max(...ms.map((m) => m.contextWindow))}`,
    });
  }
  if (maxIn !== undefined) {
    list.push({
      label: `maxPricePer1kInputUsd ${maxIn}`,
      field: 'maxPricePer1kInputUsd',
      keep: (m) => m.pricePer1kInputUsd <= maxIn,
      closest: (ms) => `lowest input price ${Math.min(...ms.map((m) => m.pricePer1kInputUsd))}`,
    });
  }
  if (maxOut !== undefined) {
    list.push({
      label: `maxPricePer1kOutputUsd ${maxOut}`,
      field: 'maxPricePer1kOutputUsd',
      keep: (m) => m.pricePer1kOutputUsd <= maxOut,
      closest: (ms) => `lowest output price ${Math.min(...ms.map((m) => m.pricePer1kOutputUsd))}`,
    });
  }
  if (minEvaluationScore !== undefined) {
    list.push({
      label: `minEvaluationScore ${minEvaluationScore}`,
      field: 'minEvaluationScore',
      keep: (m) => m.evaluationScore !== undefined && m.evaluationScore >= minEvaluationScore,
      closest: (ms) => {
        const scores = ms.flatMap((m) => (m.evaluationScore === undefined ? [] : [m.evaluationScore]));
        return scores.length === 0 ? 'none evaluated yet' : `best evaluation score ${Math.max(...scores)}`;
      },
    });
  }
  // Last, so that ranking happens among the models that meet every other constraint.
  if (c.rankBy !== undefined) {
    const { suite, minScore } = c.rankBy;
    list.push({
      label: `evaluated on suite ${suite}`,
      field: 'rankBy.suite',
      advice: `Evaluate a model on suite ${suite}, rank by another suite, or see`,
      keep: (m) => scoreOn(m, suite) !== undefined,
      closest: (ms) => {
        const suites = [...new Set(ms.flatMap((m) => Object.keys(m.evaluations ?? {})))].sort();
        return suites.length === 0 ? 'none evaluated yet' : `evaluated on ${suites.join(', ')}`;
      },
    });
    if (minScore !== undefined) {
      list.push({
        label: `rankBy.minScore ${minScore}`,
        field: 'rankBy.minScore',
        keep: (m) => (scoreOn(m, suite) ?? -1) >= minScore,
        closest: (ms) => `best ${suite} score ${Math.max(...ms.map((m) => scoreOn(m, suite) ?? 0))}`,
      });
    }
  }
  return list;
}

/**
 * Picks the cheapest active model that meets every constraint, by blended price (3 input : 1 output);
 * ties go to the larger context window, then to the smaller id. With `rankBy`, picks instead the model
 * with the best score on the suite among those that meet every other constraint (price bounds
 * included); ties go to the lower blended price, then to the smaller id.
 * @throws NoModelAvailableError naming the constraint that eliminated the last candidates, how many
 *   models each earlier constraint left, and how close the eliminated ones came.
 */
export function selectModel(
  models: readonly CatalogModel[],
  constraints: ModelConstraints = {},
): ModelSelection {
  let remaining: readonly CatalogModel[] = models;
  const steps: string[] = [];
  for (const filter of filters(constraints)) {
    const kept = remaining.filter(filter.keep);
    if (kept.length === 0) {
      const detail =
        remaining.length > 0 && filter.closest
          ? ` (the ${remaining.length} left: ${filter.closest(remaining)})`
          : '';
      const before = steps.length > 0 ? `${steps.join(', ')}; ` : '';
      const advice = filter.advice ?? (filter.field ? `Relax ${filter.field}, or see` : 'See');
      throw new NoModelAvailableError(
        `No model meets the constraints: ${before}${filter.label} left none${detail}. ` +
          `${advice} the catalog with GET /v1/models`,
      );
    }
    steps.push(`${filter.label} left ${kept.length}`);
    remaining = kept;
  }
  const rankBy = constraints.rankBy;
  const compare = rankBy === undefined ? compareModels : compareByScore(rankBy.suite);
  let best = remaining[0] as CatalogModel;
  for (const model of remaining) if (compare(model, best) < 0) best = model;
  if (rankBy === undefined) return { model: best, candidates: remaining.length };
  // Every candidate left has a score on the suite (a filter above kept only those).
  const evaluation = best.evaluations?.[rankBy.suite];
  return {
    model: best,
    candidates: remaining.length,
    ...(evaluation
      ? { rankedBy: { suite: rankBy.suite, metric: evaluation.metric, value: evaluation.value } }
      : {}),
  };
}

/** What a call cost in USD, from the catalog prices per 1k tokens, rounded to 1e-9. */
export function costUsd(
  model: Pick<CatalogModel, 'pricePer1kInputUsd' | 'pricePer1kOutputUsd'>,
  usage: TokenUsage,
): number {
  const cost =
    (usage.inputTokens / 1000) * model.pricePer1kInputUsd +
    (usage.outputTokens / 1000) * model.pricePer1kOutputUsd;
  return Math.round(cost * 1e9) / 1e9;
}

/**
 * Refuses a call that cannot fit the model's context window: the estimated input plus the output
 * tokens asked for must not exceed it. Called before any token is paid for.
 * @throws ContextWindowExceededError (field `messages`).
 */
export function assertFitsContext(
  model: Pick<CatalogModel, 'id' | 'contextWindow'>,
  estimatedInputTokens: number,
  maxOutputTokens: number,
): void {
  if (estimatedInputTokens + maxOutputTokens <= model.contextWindow) return;
  throw new ContextWindowExceededError(
    'messages',
    `about ${estimatedInputTokens} input tokens + ${maxOutputTokens} output tokens exceed the ` +
      `${model.contextWindow}-token context window of ${model.id}`,
  );
}
