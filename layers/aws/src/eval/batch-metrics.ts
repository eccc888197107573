/**
 * The metrics of an evaluation run on AWS: the core's `DEFAULT_METRICS`, with the offline toxicity
 * lexicon replaced by Amazon Comprehend DetectToxicContent when the profile says so, and, when a
 * guardrail is configured, the Bedrock Guardrails contextual grounding check (`grounding`,
 * `grounding_relevance`, higher is better).
 *
 * The core scores an item's metrics synchronously (`ItemMetric.score`), and these classifiers are remote
 * calls: {@link batchMetrics} scores a batch's answers with them first (Comprehend packs 10 segments a
 * call; grounding is one ApplyGuardrail call per item, a few at a time) and returns metrics that read
 * those scores back, by answer. A call that fails fails only the scores of the answers it carried (null
 * with the error, never 0); failed answers are never sent (the core fails their metrics itself).
 */
import { DEFAULT_METRICS } from '#core/eval/metrics/index.ts';
import { TOXICITY_METRIC } from '#core/eval/metrics/toxicity.ts';
import { contextsOf, type ItemMetric } from '#core/eval/run.ts';
import type { EvalAnswer, EvalItem, ItemScore } from '#core/eval/types.ts';
import { mapLimited } from '#core/map-limited.ts';
import { GROUNDING_METRIC, GROUNDING_RELEVANCE_METRIC, type GroundingScorer } from './grounding.ts';
import type { ComprehendToxicityScorer } from './toxicity-comprehend.ts';

/** The remote scorers a run uses, when configured. */
export interface RunScorers {
  /** Toxicity by Amazon Comprehend (absent: the core's offline lexicon). */
  readonly toxicity?: Pick<ComprehendToxicityScorer, 'scoreAll'>;
  /** The Bedrock guardrail's contextual grounding check (absent: not scored). */
  readonly grounding?: Pick<GroundingScorer, 'score'>;
}

/** One answer to score, with its item. */
export interface ScoringPair {
  readonly item: EvalItem;
  readonly answer: EvalAnswer;
}

/** Items whose grounding is checked at once. */
export const GROUNDING_CONCURRENCY = 4;

/**
 * What the Report step needs of the grounding metrics: their names and direction (their scores come
 * staged from the Score step; these never score anything themselves).
 */
export const GROUNDING_METRICS: readonly ItemMetric[] = [GROUNDING_METRIC, GROUNDING_RELEVANCE_METRIC].map(
  (name) => ({
    name,
    higherIsBetter: true,
    applies: (item: EvalItem, answer: EvalAnswer) => contextsOf(item, answer).length > 0,
    score: () => ({ metric: name, value: null, error: 'scored by the Score step only' }),
  }),
);

/** Every metric a run may report: the defaults and the grounding check (for names and directions). */
export const RUN_METRICS: readonly ItemMetric[] = [...DEFAULT_METRICS, ...GROUNDING_METRICS];

/** A metric that reads back the score a remote scorer gave each answer. */
function prescored(
  name: string,
  higherIsBetter: boolean,
  scores: ReadonlyMap<EvalAnswer, ItemScore>,
  applies: (item: EvalItem, answer: EvalAnswer) => boolean,
): ItemMetric {
  return {
    name,
    higherIsBetter,
    applies,
    score: (_item, answer) =>
      scores.get(answer) ?? { metric: name, value: null, error: `${name} was not scored for this answer` },
  };
}

/**
 * The metrics that score `pairs` (see the module comment): remote scores are computed here, once per
 * answer, and the returned metrics read them back for exactly these answer objects.
 */
export async function batchMetrics(
  pairs: readonly ScoringPair[],
  scorers: RunScorers,
  signal?: AbortSignal,
): Promise<ItemMetric[]> {
  const answered = pairs.filter((pair) => pair.answer.error === undefined);
  let metrics: ItemMetric[] = [...DEFAULT_METRICS];
  if (scorers.toxicity !== undefined) {
    const scores = await scorers.toxicity.scoreAll(
      answered.map((pair) => pair.answer.answer),
      signal,
    );
    const byAnswer = new Map<EvalAnswer, ItemScore>();
    answered.forEach((pair, i) => {
      const score = scores[i];
      if (score !== undefined) byAnswer.set(pair.answer, score);
    });
    metrics = metrics.map((metric) =>
      metric.name === TOXICITY_METRIC ? prescored(TOXICITY_METRIC, false, byAnswer, () => true) : metric,
    );
  }
  const grounding = scorers.grounding;
  if (grounding !== undefined) {
    const scored = await mapLimited(answered, GROUNDING_CONCURRENCY, (pair) =>
      grounding.score(pair.item, pair.answer, signal),
    );
    for (const name of [GROUNDING_METRIC, GROUNDING_RELEVANCE_METRIC]) {
      const byAnswer = new Map<EvalAnswer, ItemScore>();
      answered.forEach((pair, i) => {
        const score = scored[i]?.find((s) => s.metric === name);
        if (score !== undefined) byAnswer.set(pair.answer, score);
      });
      // Where the check cannot say anything (no passages, an empty answer), the metric does not apply:
      // not a failure, as faithfulness without passages is not one.
      const applies = (item: EvalItem, answer: EvalAnswer) =>
        answer.error === undefined
          ? byAnswer.get(answer)?.details?.notApplicable !== true
          : contextsOf(item, answer).length > 0;
      metrics.push(prescored(name, true, byAnswer, applies));
    }
  }
  return metrics;
}
