/**
 * Deterministic train/validation assignment.
 */

import { fmix32, fnv1a } from '../hash32.ts';
import { InvalidArgumentError } from './errors.ts';

/** A dataset split. */
export type Split = 'train' | 'validation';

/**
 * Maps `key` to a point in [0, 1), deterministically: FNV-1a over the key's UTF-16 code units,
 * finished with the murmur3 mixer, divided by 2^32. Stable across processes and releases.
 */
export function splitPoint(key: string): number {
  return (fmix32(fnv1a(key)) >>> 0) / 4294967296;
}

/**
 * Assigns a record to `validation` when {@link splitPoint} of its key is below `validationRatio`, else
 * to `train`. The same key always lands in the same split, whichever worker or run sees it; with a key
 * that identifies content (e.g. the record's exact hash), duplicates never straddle the two splits.
 * A ratio of 0 puts everything in train, 1 everything in validation.
 */
export function assignSplit(key: string, validationRatio: number): Split {
  if (!(validationRatio >= 0 && validationRatio <= 1)) {
    throw new InvalidArgumentError('validationRatio', 'must be a number in [0, 1]', validationRatio);
  }
  return splitPoint(key) < validationRatio ? 'validation' : 'train';
}
