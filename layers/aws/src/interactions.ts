import { createHash } from 'node:crypto';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { redactPii } from '#core/dataprep/pii.ts';
import { LLMOPS_SOURCE } from '#events/envelope.ts';
import {
  INTERACTION_RECORDED,
  type InteractionRecordedDetail,
  interactionRecordedDetail,
} from '#events/interaction-recorded.ts';
import { publishEvent } from './events-publisher.ts';
import { logger, metrics } from './logging.ts';

/**
 * The inference log: every gateway call becomes an `llmops.InteractionRecorded` event on the project bus;
 * a rule delivers the details through Firehose to S3, partitioned by date. Payloads are PII-redacted
 * before they leave the function and kept only for a configured sample of calls.
 */
export interface InteractionRecorder {
  record(detail: InteractionRecordedDetail): Promise<void>;
}

/** Each logged text is cut to this many characters, so that one event stays far below 256 KB. */
export const MAX_LOGGED_CHARS = 16_000;

export type LoggedText = { text: string; truncated: boolean };

/** Redacts PII from a text and bounds its size; `counts` accumulates redactions by kind. */
export function loggedText(text: string, counts: Record<string, number>): LoggedText {
  const truncated = text.length > MAX_LOGGED_CHARS;
  const { text: redacted, counts: found } = redactPii(truncated ? text.slice(0, MAX_LOGGED_CHARS) : text);
  for (const [kind, n] of Object.entries(found)) if (n > 0) counts[kind] = (counts[kind] ?? 0) + n;
  return { text: redacted, truncated };
}

/**
 * Whether a call's payload is kept: a deterministic function of its id, so that a retry of the same
 * record makes the same choice and the share of sampled calls converges to `rate`.
 */
export function isSampled(interactionId: string, rate: number): boolean {
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  const bucket = createHash('sha256').update(interactionId).digest().readUInt32BE(0) / 0x1_0000_0000;
  return bucket < rate;
}

/** Publishes interaction records on the project bus. */
export class EventBridgeInteractionRecorder implements InteractionRecorder {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async record(detail: InteractionRecordedDetail): Promise<void> {
    await publishEvent(this.client, {
      busName: this.busName,
      source: LLMOPS_SOURCE,
      detailType: INTERACTION_RECORDED,
      schema: interactionRecordedDetail,
      detail,
    });
  }
}

/**
 * Records without ever failing the caller's request: the answer has been paid for, so a logging failure
 * is logged and counted (`InteractionLogFailures`, which alarms) instead of being returned.
 */
export async function recordSafely(
  recorder: InteractionRecorder,
  detail: InteractionRecordedDetail,
): Promise<void> {
  try {
    await recorder.record(detail);
  } catch (error) {
    logger.error('Interaction record lost', { error, interactionId: detail.interactionId });
    metrics.addMetric('InteractionLogFailures', 'Count', 1);
  }
}
