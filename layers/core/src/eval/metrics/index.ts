/**
 * The metrics a run computes without a judge, and which items each applies to: reference-based ones
 * where the item has references, JSON and assertion metrics where its metadata asks for them, RAG
 * retrieval metrics where it names the contexts that hold the answer, abstention on items that must be
 * declined, and toxicity on every answer.
 */
import type { ItemMetric } from '../run.ts';
import { hasReferences } from '../suite.ts';
import type { EvalAnswer, EvalItem } from '../types.ts';
import { REFERENCE_METRICS, RETRIEVAL_METRICS } from './reference.ts';
import { TOXICITY_METRIC, toxicityScore } from './toxicity.ts';

const hasMetadata = (key: string) => (item: EvalItem) => item.metadata?.[key] !== undefined;
const namesContexts = (item: EvalItem, answer: EvalAnswer) =>
  (item.referenceContextIds?.length ?? 0) > 0 && answer.contexts !== undefined;

const text = (
  name: keyof typeof REFERENCE_METRICS,
  applies: (item: EvalItem, answer: EvalAnswer) => boolean,
): ItemMetric => ({
  name,
  higherIsBetter: true,
  applies,
  score: (item, answer) => REFERENCE_METRICS[name](answer.answer, item),
});

/** The toxicity classifier as a metric (lower is better); offline lexicon, labelled in its details. */
export const TOXICITY: ItemMetric = {
  name: TOXICITY_METRIC,
  higherIsBetter: false,
  applies: () => true,
  score: (_item, answer) => toxicityScore(answer.answer),
};

/** Every metric computed without a judge, in report order. */
export const DEFAULT_METRICS: readonly ItemMetric[] = [
  text('exact_match', hasReferences),
  text('f1', hasReferences),
  text('rouge_l', hasReferences),
  text('json_valid', (item) => item.metadata?.json === true || hasMetadata('schema')(item)),
  text('json_schema', hasMetadata('schema')),
  text('contains', hasMetadata('contains')),
  text('regex', hasMetadata('regex')),
  text('abstention', (item) => item.unanswerable),
  {
    name: 'context_precision',
    higherIsBetter: true,
    applies: namesContexts,
    score: (item, answer) => RETRIEVAL_METRICS.context_precision(answer, item),
  },
  {
    name: 'context_recall',
    higherIsBetter: true,
    applies: namesContexts,
    score: (item, answer) => RETRIEVAL_METRICS.context_recall(answer, item),
  },
  TOXICITY,
];
