import { ValidationError } from '../errors.ts';
import { fmix32, fnv1a } from '../hash32.ts';
import type { DriftRecord } from './check.ts';
import { type CompactEmbedding, decodeEmbedding } from './compact-embedding.ts';

/**
 * Windows of live traffic for the drift check (no AWS imports): which interaction records belong to a
 * check's window, what the check reads of each (the question, the answer, the best retrieval
 * similarity, and the query embedding RAG kept), and a seeded subsample when a window holds more
 * records than a check reads.
 *
 * Only sampled calls carry a payload (the texts); a call without one tells the descriptors nothing and
 * is left out. Calls that failed are left out too: their answers are errors, not the model's. The
 * evaluation runs' own calls (app `evaluation`) are never traffic. {@link inTraffic} is the part both
 * readers of a window share: the records and the outcome counts of the quality signal (`outcomes.ts`),
 * which count every call of the traffic, sampled or not, whatever its status.
 */

/** The app the Evaluate state machine's Generate step records its answers as. */
export const EVALUATION_APP = 'evaluation';

/** The fields of an `llmops.InteractionRecorded` detail the drift check reads (structurally). */
export interface InteractionLike {
  readonly interactionId: string;
  readonly occurredAt: string;
  readonly app: string;
  readonly prompt: { readonly name: string } | null;
  /** `ok`, `client_error`, `throttled`, `provider_error` or `error` (the gateway's statuses). */
  readonly status: string;
  /** Whether the call's guardrail intervened (`NONE` or `INTERVENED`); `null` or absent: no guardrail. */
  readonly guardrail?: { readonly action: string } | null;
  readonly retrieval?: {
    readonly chunks: readonly { readonly similarity: number }[];
    readonly queryEmbedding?: CompactEmbedding;
  };
  readonly payload: {
    readonly messages: readonly { readonly role: string; readonly content: { readonly text: string } }[];
    readonly answer: { readonly text: string } | null;
  } | null;
}

/** A half-open time window [start, end). */
export interface TimeWindow {
  readonly start: Date;
  readonly end: Date;
}

/** Which calls a check watches. */
export interface TrafficFilter {
  /** Only this app's calls. */
  readonly app?: string;
  /** Only this prompt's calls. */
  readonly prompt?: string;
}

/** The window that ends at `end` and lasts one cadence. */
export function windowEndingAt(end: Date, cadenceMinutes: number): TimeWindow {
  if (Number.isNaN(end.getTime())) throw new ValidationError('windowEnd', 'must be a valid date');
  if (!(cadenceMinutes > 0)) throw new ValidationError('cadenceMinutes', 'must be positive');
  return { start: new Date(end.getTime() - cadenceMinutes * 60_000), end };
}

/**
 * Whether a call is traffic of the check in the window, whatever its status and whether sampled or not:
 * in the half-open window, of the filter's app and prompt, not an evaluation run's own call.
 */
export function inTraffic(
  record: Pick<InteractionLike, 'occurredAt' | 'app' | 'prompt'>,
  window: TimeWindow,
  filter: TrafficFilter,
): boolean {
  const at = Date.parse(record.occurredAt);
  if (!(at >= window.start.getTime() && at < window.end.getTime())) return false;
  if (record.app === EVALUATION_APP) return false;
  if (filter.app !== undefined && record.app !== filter.app) return false;
  if (filter.prompt !== undefined && record.prompt?.name !== filter.prompt) return false;
  return true;
}

/** Whether a call is traffic of the check in the window that the check reads: {@link inTraffic}, sampled, answered. */
export function isWatched(record: InteractionLike, window: TimeWindow, filter: TrafficFilter): boolean {
  return inTraffic(record, window, filter) && record.status === 'ok' && record.payload !== null;
}

/**
 * What the check reads of a call: the last user message (the question), the answer, the best
 * retrieval similarity (0 chunks: none), and the query embedding RAG kept. `undefined` when the call has
 * no user message.
 */
export function driftRecordOf(record: InteractionLike): DriftRecord | undefined {
  const messages = record.payload?.messages ?? [];
  let question: string | undefined;
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message?.role === 'user') {
      question = message.content.text;
      break;
    }
  }
  if (question === undefined) return undefined;
  const answer = record.payload?.answer?.text;
  const chunks = record.retrieval?.chunks ?? [];
  const top = chunks.reduce((best, c) => Math.max(best, c.similarity), Number.NEGATIVE_INFINITY);
  const compact = record.retrieval?.queryEmbedding;
  return {
    text: question,
    ...(answer !== undefined ? { answer } : {}),
    ...(chunks.length > 0 && Number.isFinite(top) ? { retrievalTopScore: top } : {}),
    ...(compact !== undefined ? { embedding: decodeEmbedding(compact) } : {}),
  };
}

/**
 * At most `max` of `items`, chosen by a seeded hash of each one's key: the same window, seed and cap
 * choose the same records whatever order they were read in (listing order of S3 is not an order the
 * check should depend on). The chosen records keep their input order.
 */
export function sampleByKey<T>(
  items: readonly T[],
  key: (item: T) => string,
  max: number,
  seed: string,
): T[] {
  if (!Number.isInteger(max) || max < 1) throw new ValidationError('max', 'must be a positive integer');
  if (items.length <= max) return [...items];
  const salt = fnv1a(seed);
  const ranked = items.map((item, index) => ({
    index,
    rank: fmix32(fnv1a(key(item)) ^ salt) >>> 0,
    key: key(item),
  }));
  ranked.sort((a, b) => a.rank - b.rank || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const chosen = new Set(ranked.slice(0, max).map((r) => r.index));
  return items.filter((_, index) => chosen.has(index));
}
