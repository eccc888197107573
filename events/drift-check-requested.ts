import * as z from 'zod/mini';
import { eventBridgeEvent, SCHEMA_VERSION } from './envelope.ts';

export const DRIFT_CHECK_REQUESTED = 'llmops.DriftCheckRequested';

/**
 * `llmops.DriftCheckRequested`: start the DriftCheck state machine. Put by each check's schedule (with
 * `windowEnd`, the schedule's own scheduled time: the check reads the window of one cadence that ends
 * there, so a redelivered schedule checks the same window and changes nothing), and by
 * `POST /v1/drift/baselines` (with `baseline`: build a new baseline version of the check from the
 * source). The source itself is validated by the state machine's Collect step against
 * `baselineSource` (`#contracts/drift/baseline.ts`), which names what is wrong.
 */
export const driftCheckRequestedDetail = z
  .object({
    schemaVersion: z.literal(SCHEMA_VERSION),
    check: z.string().check(z.minLength(1)),
    requestedBy: z.string().check(z.minLength(1)),
    windowEnd: z.optional(z.iso.datetime()),
    baseline: z.optional(
      z.object({
        source: z.record(z.string(), z.unknown()),
        note: z.optional(z.string().check(z.maxLength(500))),
      }),
    ),
  })
  .check(
    z.refine((d) => (d.windowEnd === undefined) !== (d.baseline === undefined), {
      message: 'must carry either windowEnd (a scheduled check) or baseline (a baseline to build)',
      path: ['windowEnd'],
    }),
  );
export type DriftCheckRequestedDetail = z.infer<typeof driftCheckRequestedDetail>;

export const driftCheckRequestedEvent = eventBridgeEvent(DRIFT_CHECK_REQUESTED, driftCheckRequestedDetail);
