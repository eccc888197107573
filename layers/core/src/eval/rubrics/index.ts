/**
 * The built-in judge rubrics, each named by a versioned prompt reference: version 1 of the registry
 * prompt it seeds (`registry.ts`).
 */
import { ANSWER_RELEVANCE_RUBRIC } from './answer-relevance.ts';
import { FAITHFULNESS_RUBRIC } from './faithfulness.ts';
import { HALLUCINATION_RUBRIC } from './hallucination.ts';
import { SENTIMENT_RUBRIC } from './sentiment.ts';
import { TOXICITY_RUBRIC } from './toxicity.ts';
import type { Rubric } from './types.ts';

export * from './answer-relevance.ts';
export * from './faithfulness.ts';
export * from './hallucination.ts';
export * from './pairwise.ts';
export * from './registry.ts';
export * from './sentiment.ts';
export * from './toxicity.ts';
export type * from './types.ts';

/** The single-answer rubrics, by metric name. */
export const BUILT_IN_RUBRICS: Readonly<Record<string, Rubric>> = {
  [FAITHFULNESS_RUBRIC.name]: FAITHFULNESS_RUBRIC,
  [ANSWER_RELEVANCE_RUBRIC.name]: ANSWER_RELEVANCE_RUBRIC,
  [HALLUCINATION_RUBRIC.name]: HALLUCINATION_RUBRIC,
  [TOXICITY_RUBRIC.name]: TOXICITY_RUBRIC,
  [SENTIMENT_RUBRIC.name]: SENTIMENT_RUBRIC,
};
