import * as z from 'zod';
import { eventBridgeEvent, SCHEMA_VERSION } from './envelope.ts';

export const FEEDBACK_EXPORT_REQUESTED = 'llmops.FeedbackExportRequested';

/**
 * `llmops.FeedbackExportRequested`: look for new preference pairs in the feedback and export them when
 * there are enough (`feedback.pairThreshold`). Put by the export's schedule (every
 * `feedback.exportEveryHours`) and by an operator who wants it now; a redelivered request exports
 * nothing twice (the export writes each record once).
 */
export const feedbackExportRequestedDetail = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  requestedBy: z.string().min(1),
  /** When it was asked for (the schedule's scheduled time). */
  requestedAt: z.string().min(1),
});
export type FeedbackExportRequestedDetail = z.infer<typeof feedbackExportRequestedDetail>;

export const feedbackExportRequestedEvent = eventBridgeEvent(
  FEEDBACK_EXPORT_REQUESTED,
  feedbackExportRequestedDetail,
);
