import type { ItemScore } from './types.ts';

/**
 * Whether a score comes from an offline heuristic or lexicon (never fit to gate a release on AWS). Apart
 * from the offline judge so that review and calibration read it without loading the judge's lexicons.
 */
export function isOfflineScore(score: ItemScore): boolean {
  return score.details?.offline === true;
}
