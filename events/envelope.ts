import { z } from 'zod';

/**
 * The EventBridge envelope. Unknown top-level fields are kept (`looseObject`): AWS adds fields over time
 * (for example `replay-name` on archive replays) and a consumer must not break on them.
 */
export function eventBridgeEvent<D extends z.core.$ZodType, T extends string>(detailType: T, detail: D) {
  return z.looseObject({
    version: z.string(),
    id: z.string().min(1),
    'detail-type': z.literal(detailType),
    source: z.string().min(1),
    account: z.string(),
    time: z.string(),
    region: z.string(),
    resources: z.array(z.string()).default([]),
    detail,
    'replay-name': z.string().optional(),
  });
}

/** The source of every event the project emits on its own bus. */
export const LLMOPS_SOURCE = 'llmops';

/** Current version of the project's event details; bumped on a breaking change to any of them. */
export const SCHEMA_VERSION = '1.0';
