import * as z from 'zod';
import { eventBridgeEvent, SCHEMA_VERSION } from './envelope.ts';

export const FEEDBACK_THRESHOLD_REACHED = 'llmops.FeedbackThresholdReached';

const location = z.object({ bucket: z.string().min(1), key: z.string().min(1) });

/**
 * `llmops.FeedbackThresholdReached`: enough new preference pairs were built from human feedback, and the
 * export wrote them to `raw/preference/<dataset>/<exportId>.jsonl` in the raw bucket: the normal upload
 * path (each export is a new version of the dataset), so DataPrep validates, redacts, deduplicates and
 * registers them (`llmops.DatasetReady {purpose: preference}`), and the fine-tuning pipeline's
 * preference recipe trains on the curated version. The event is the audit of the export; nothing
 * downstream needs it to start.
 */
export const feedbackThresholdReachedDetail = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  /** The export: `<dataset>-<time>` (`feedback-20261205t060040z`); also its files' name. */
  exportId: z.string().min(1),
  /** Pairs written (each new: never exported before). */
  pairs: z.number().int().positive(),
  /** The pairs it took: the profile's `feedback.pairThreshold`. */
  threshold: z.number().int().positive(),
  /** Where the pairs are (`raw/preference/<dataset>/<exportId>.jsonl`). */
  location,
  /** Thumbs without a pair, as KTO records (kept apart from DataPrep's input), and how many. */
  unpaired: z.object({ records: z.number().int().nonnegative(), location: location.nullable() }),
  /** Held-out feedback prompts for the win-rate report (`raw/golden/<dataset>-holdout/<exportId>.jsonl`). */
  heldOut: z.object({ prompts: z.number().int().nonnegative(), location: location.nullable() }),
  /**
   * Annotators whose feedback was used, and those left out for their agreement with the reviewers, as
   * pseudonyms (`annotator-` and 12 hex digits of the SHA-256 of the user id): the bus and its archive
   * keep no user id.
   */
  annotators: z.object({
    included: z.number().int().nonnegative(),
    excluded: z.array(z.object({ user: z.string(), agreement: z.number(), reviewed: z.number().int() })),
  }),
});
export type FeedbackThresholdReachedDetail = z.infer<typeof feedbackThresholdReachedDetail>;

export const feedbackThresholdReachedEvent = eventBridgeEvent(
  FEEDBACK_THRESHOLD_REACHED,
  feedbackThresholdReachedDetail,
);
