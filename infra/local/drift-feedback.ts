/**
 * What the drift demo's users said of the replayed answers: the verdicts an app sends on the answers it
 * showed, `POST /v1/feedback` with each answer's interaction id and the app's API key, over HTTP.
 *
 * The rated calls are first kept for feedback as the chat function kept them when it answered (in the
 * interactions table its environment names, open for the days it names): the demo writes the interaction
 * log as the delivery stream wrote it, so nothing else kept them, and the route answers 404 for a call
 * that was never kept. (The chat function keeps every answered call; the others are read by nothing
 * here, so the replay leaves them out.)
 *
 * Then a seeded sample of each window's answered calls gets one thumbs verdict each, from one of a few
 * users: up with probability {@link UP_PROBABILITY}, 0.85 for an on-topic answer and 0.15 for a
 * noncommittal or off-topic one (two answers in five of the shifted windows), so the thumbs-up rate is
 * about 85% in the first two windows and about 55% in the shifted ones. One negative verdict in three
 * says why, with a comment and a category, which opens a task in the review queue.
 *
 * How many: a tenth over the check's minimum window ({@link verdictsPerWindow}), the least that lets the
 * feedback signal be scored. The verdicts of a day of traffic are replayed in seconds, which the usage
 * plan's throttle would stretch (dev: 300 verdicts at 10 requests a second, half a minute), so they go to
 * the stack's REST API served a second time on loopback for the replay ({@link startReplayApi}): the same
 * routes, API key, handler and IAM evaluation, without the plan's throttle and quota, as the traffic
 * itself is replayed into the log rather than through `POST /v1/chat` at its 5 requests a second.
 */
import { createHash } from 'node:crypto';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoInteractionStore } from '#aws/feedback/dynamo-interaction-store.ts';
import type { FeedbackResponse, StoredInteraction } from '#contracts/feedback/feedback.ts';
import { minWindowSize } from '#core/drift/embedding.ts';
import { sampleByKey } from '#core/drift/window.ts';
import { mapLimited } from '#core/map-limited.ts';
import { canonicalJson } from '#core/prompts/hash.ts';
import type { InteractionRecordedDetail } from '#events/interaction-recorded.ts';
import { LocalApi } from './api/server.ts';
import type { LocalApiClient } from './api-client.ts';
import type { LocalRunner } from './runner.ts';

/** The chance of a thumbs up: for an on-topic answer, and for a noncommittal or off-topic one. */
export const UP_PROBABILITY = { onTopic: 0.85, poor: 0.15 } as const;

/** The share of the negative verdicts that say why (a comment and a category: a review task). */
export const COMMENTED_SHARE = 1 / 3;

/** The app's users who give the verdicts. */
export const FEEDBACK_USERS = ['ana', 'bo', 'chen', 'dara', 'eli', 'femi', 'gus', 'hana'] as const;

/** Verdicts sent at once. */
export const FEEDBACK_CONCURRENCY = 8;
/** Interactions written at once. */
const KEEP_CONCURRENCY = 16;

const FEEDBACK_PATH = '/v1/feedback';
const DAY_SECONDS = 86_400;

/** One answered call of a window, as the verdicts are planned on it. */
export interface RatableCall {
  readonly interactionId: string;
  /** The call's place in its window's traffic (the seed of its verdict). */
  readonly k: number;
  /** The answer was noncommittal or off-topic. */
  readonly poor: boolean;
}

/** A verdict to send. */
export interface PlannedVerdict {
  readonly interactionId: string;
  readonly user: string;
  readonly rating: 'up' | 'down';
  readonly comment?: string;
  readonly categories?: readonly string[];
}

/** What the API answered to a window's verdicts. */
export interface PostedFeedback {
  readonly verdicts: number;
  readonly up: number;
  readonly down: number;
  /** Review tasks opened (negative verdicts with a comment). */
  readonly complaints: number;
}

/** The check's minimum window (as the Check function computes it from the policy), and a tenth more. */
export function verdictsPerWindow(policy: { alpha: number; effect: number; power: number }): number {
  return Math.ceil(minWindowSize(policy) * 1.1);
}

/** A number in [0, 1) from a seeded hash of `key`. */
function uniform(key: string): number {
  return Number.parseInt(createHash('sha256').update(key).digest('hex').slice(0, 12), 16) / 2 ** 48;
}

/** Why a commented verdict was negative, by the kind of answer it was on. */
function complaint(poor: boolean): { comment: string; categories: string[] } {
  return poor
    ? { comment: 'This does not answer my question.', categories: ['unhelpful'] }
    : { comment: 'Too generic: which setting, and where?', categories: ['too-generic'] };
}

/**
 * The verdicts on `count` of a window's answered calls (a seeded sample, the same on every run): a
 * thumbs up with the chance {@link UP_PROBABILITY} gives the answer's kind, from one of
 * {@link FEEDBACK_USERS}; one negative verdict in three with a comment.
 */
export function planVerdicts(calls: readonly RatableCall[], window: number, count: number): PlannedVerdict[] {
  const seed = `drift-demo-feedback:${window}`;
  return sampleByKey(calls, (c) => String(c.k), count, seed).map((call) => {
    const key = `${seed}:${call.k}`;
    const up = uniform(`${key}:rating`) < (call.poor ? UP_PROBABILITY.poor : UP_PROBABILITY.onTopic);
    const user = FEEDBACK_USERS[Math.floor(uniform(`${key}:user`) * FEEDBACK_USERS.length)] as string;
    const said = !up && uniform(`${key}:comment`) < COMMENTED_SHARE ? complaint(call.poor) : {};
    return { interactionId: call.interactionId, user, rating: up ? 'up' : 'down', ...said };
  });
}

/**
 * An answered call as the chat function keeps it for feedback (`keptInteraction` of the gateway): its
 * prompt, model, system prompt, messages and answer as the interaction log recorded them, the hash of its
 * input, and no retrieved chunks (the replayed calls retrieved nothing).
 * @throws Error for a call without an answer (only answered calls are kept)
 */
export function keptForFeedback(call: InteractionRecordedDetail, expiresAt: number): StoredInteraction {
  const payload = call.payload;
  if (call.status !== 'ok' || call.model === null || payload === null || payload.answer === null) {
    throw new Error(`Interaction ${call.interactionId} has no answer to keep for feedback`);
  }
  const system = payload.system?.text ?? null;
  const messages = payload.messages.map((m) => ({ role: m.role, content: m.content.text }));
  return {
    interactionId: call.interactionId,
    app: call.app,
    tenant: call.tenant,
    occurredAt: call.occurredAt,
    expiresAt,
    route: 'chat',
    prompt: call.prompt,
    model: call.model,
    retrieval: [],
    system,
    messages,
    answer: payload.answer.text,
    promptHash: `sha256:${createHash('sha256').update(canonicalJson({ system, messages })).digest('hex')}`,
    truncated: false,
  };
}

/**
 * Keeps answered calls for feedback where and for as long as the template's chat function does (its
 * `INTERACTIONS_TABLE` and `INTERACTION_TTL_DAYS`), each from the time it was answered.
 */
export async function keepForFeedback(
  stack: LocalRunner,
  calls: readonly InteractionRecordedDetail[],
): Promise<void> {
  const chat = stack.template.lambdaFunctions().find((f) => f.entry === 'functions/api/chat.ts');
  const table = chat?.environment.INTERACTIONS_TABLE;
  const ttlDays = Number(chat?.environment.INTERACTION_TTL_DAYS);
  if (table === undefined || !Number.isInteger(ttlDays)) {
    throw new Error('The template has no chat function that keeps its calls for feedback');
  }
  const documents = DynamoDBDocumentClient.from(stack.dynamo, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const store = new DynamoInteractionStore(documents, table);
  await mapLimited(calls, KEEP_CONCURRENCY, (call) =>
    store.put(keptForFeedback(call, Math.floor(Date.parse(call.occurredAt) / 1000) + ttlDays * DAY_SECONDS)),
  );
}

/**
 * The stack's REST API served again on 127.0.0.1 for a replay: the same API, stage and key as the
 * served one (the same app), the same handlers, without the usage plans' throttles and quotas (a replay
 * sends in seconds what callers sent over hours). Stop it when the replay is done.
 * @throws Error when the stack serves no API
 */
export async function startReplayApi(stack: LocalRunner): Promise<LocalApi> {
  const api = stack.api;
  if (api === undefined) throw new Error('The local API is not running');
  return LocalApi.start({
    template: stack.template,
    lambdas: stack.lambdas,
    restApi: api.restApi.logicalId,
    stage: api.stage,
    apiKey: api.apiKey,
    ...(api.apiKeyLogicalId !== undefined ? { appName: api.apiKeyLogicalId } : {}),
    enforceUsagePlans: false,
    accessLog: () => undefined,
  });
}

/**
 * Sends the verdicts through `POST /v1/feedback`, {@link FEEDBACK_CONCURRENCY} at a time.
 * @throws ApiCallError when the API refuses one (after the client's retries)
 */
export async function postVerdicts(
  client: LocalApiClient,
  verdicts: readonly PlannedVerdict[],
): Promise<PostedFeedback> {
  const answers = await mapLimited(verdicts, FEEDBACK_CONCURRENCY, (verdict) =>
    client.call<FeedbackResponse>(`POST ${FEEDBACK_PATH}`, 'POST', FEEDBACK_PATH, verdict),
  );
  return {
    verdicts: answers.length,
    up: answers.filter((a) => a.rating === 'up').length,
    down: answers.filter((a) => a.rating === 'down').length,
    complaints: answers.filter((a) => a.reviewTaskId !== undefined).length,
  };
}
