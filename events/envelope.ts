import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

// Validation messages in English, in every function that reads or writes events: the envelope is built
// with `zod/mini` (so that the API functions that publish events carry no classic zod), which, unlike
// the classic API, installs no locale by itself.
z.config(en());

/**
 * The EventBridge envelope. Unknown top-level fields are kept (`looseObject`): AWS adds fields over time
 * (for example `replay-name` on archive replays) and a consumer must not break on them.
 */
export function eventBridgeEvent<D extends z.core.$ZodType, T extends string>(detailType: T, detail: D) {
  return z.looseObject({
    version: z.string(),
    id: z.string().check(z.minLength(1)),
    'detail-type': z.literal(detailType),
    source: z.string().check(z.minLength(1)),
    account: z.string(),
    time: z.string(),
    region: z.string(),
    resources: z._default(z.array(z.string()), []),
    detail,
    'replay-name': z.optional(z.string()),
  });
}

/** The source of every event the project emits on its own bus. */
export const LLMOPS_SOURCE = 'llmops';

/** Current version of the project's event details; bumped on a breaking change to any of them. */
export const SCHEMA_VERSION = '1.0';
