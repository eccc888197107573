// The functions' environment, set before their handler modules are imported (they read it at import).
import '../../support/env/api.ts';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DynamoInteractionStore } from '#aws/feedback/dynamo-interaction-store.ts';
import type { FeedbackStore } from '#aws/feedback/stores.ts';
import { NO_PROMPT } from '#aws/gateway.ts';
import { type ApiResponse, apiHandler } from '#aws/http.ts';
import { metrics } from '#aws/logging.ts';
import { REVIEW_FEEDBACK_TEXT_MAX_CHARS, type ReviewTask, reviewTask } from '#contracts/evaluation/review.ts';
import {
  annotatorRubric,
  FEEDBACK_REVIEW_METRIC,
  FEEDBACK_REVIEW_RUN,
  feedbackResponse,
  type StoredFeedback,
  type StoredInteraction,
} from '#contracts/feedback/feedback.ts';
import type { AppAccess } from '#contracts/http/access.ts';
import { reviewTaskList, storedReviewTask } from '#contracts/http/evaluation-schemas.ts';
import { makeHandler as makeEvaluations } from '#functions/api/evaluations.ts';
import { feedbackReviewTaskId, makeHandler } from '#functions/api/feedback.ts';
import { FULL_ACCESS } from '../../support/app-access.ts';
import { apiEvent, type EventIdentity } from '../../support/gateway-fixtures.ts';
import { FakeEvaluationStore } from '../api/evaluation-store-fake.ts';

/**
 * `POST /v1/feedback` through the real HTTP edge and dispatcher: the interactions read by the real
 * DynamoDB store (its SDK client mocked, its clock fixed), the verdicts and the review queue in memory.
 */
const NOW = Date.parse('2026-12-01T10:00:00.000Z');
const context = { awsRequestId: 'ctx' } as Context;

const MOBILE: AppAccess = {
  prompts: ['support-*'],
  models: ['nova-*'],
  collections: [],
  rawChat: false,
  tokensPerDay: null,
};
const WEB: EventIdentity = { apiKeyId: 'key-web', userArn: null };
const MOBILE_KEY: EventIdentity = { apiKeyId: 'key-mobile', userArn: null };

function interaction(
  interactionId: string,
  overrides: Partial<StoredInteraction> = {},
): StoredInteraction & { pk: string } {
  return {
    pk: interactionId,
    interactionId,
    app: 'web',
    tenant: null,
    occurredAt: '2026-11-30T10:00:00.000Z',
    expiresAt: NOW / 1000 + 86_400,
    route: 'chat',
    prompt: { name: 'support-answer', version: 3, ref: 'support-answer@production' },
    model: { id: 'nova-micro', provider: 'bedrock', modelId: 'us.amazon.nova-micro-v1:0' },
    retrieval: [],
    system: 'Answer from the context.',
    messages: [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'How long do refunds take?' },
    ],
    answer: 'Refunds take 30 days.',
    promptHash: `sha256:${'a'.repeat(64)}`,
    truncated: false,
    ...overrides,
  };
}

const INTERACTIONS = [
  interaction('i-web'),
  interaction('i-raw', { prompt: null }),
  interaction('i-old', { expiresAt: NOW / 1000 - 1 }),
  interaction('i-long', { answer: `${'z'.repeat(9000)}😀` }),
  interaction('i-mobile', { app: 'mobile' }),
  interaction('i-billing', {
    app: 'mobile',
    prompt: { name: 'billing-summary', version: 1, ref: 'billing-summary' },
  }),
  interaction('i-claude', {
    app: 'mobile',
    model: { id: 'claude-sonnet', provider: 'bedrock', modelId: 'anthropic.claude' },
  }),
];

const dynamo = mockClient(DynamoDBDocumentClient);
afterAll(() => dynamo.restore());

/** Verdicts in memory, replaced per (interaction, user) as the store's port says. */
class MemoryFeedback implements Pick<FeedbackStore, 'get' | 'upsert'> {
  readonly verdicts = new Map<string, StoredFeedback>();
  async get(interactionId: string, user: string) {
    return this.verdicts.get(`${interactionId}/${user}`);
  }
  async upsert(feedback: StoredFeedback) {
    const key = `${feedback.interactionId}/${feedback.user}`;
    const previous = this.verdicts.get(key);
    this.verdicts.set(key, feedback);
    return previous === undefined ? { created: true } : { created: false, previous };
  }
}

let feedback: MemoryFeedback;
let tasks: ReviewTask[];
let clock: number;
let emitted: Array<{ name: string; unit: string; value: number; dimensions: Record<string, string> }>;

beforeEach(() => {
  dynamo.reset();
  dynamo.on(GetCommand).callsFake((input: { Key: { pk: string } }) => {
    const item = INTERACTIONS.find((i) => i.pk === input.Key.pk);
    return item === undefined ? {} : { Item: { ...item, type: 'Interaction' } };
  });
  feedback = new MemoryFeedback();
  tasks = [];
  clock = NOW;
  emitted = [];
  vi.spyOn(metrics, 'singleMetric').mockImplementation(() => {
    const dimensions: Record<string, string> = {};
    return {
      addDimensions: (d: Record<string, string>) => Object.assign(dimensions, d),
      addMetric: (name: string, unit: string, value: number) =>
        emitted.push({ name, unit, value, dimensions }),
    } as unknown as ReturnType<typeof metrics.singleMetric>;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

function handler() {
  const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  return apiHandler(
    makeHandler({
      interactions: new DynamoInteractionStore(documents, 'interactions-test', { now: () => new Date(NOW) }),
      feedback,
      reviews: {
        addReviewTasks: async (added) => {
          const fresh = added.filter((task) => !tasks.some((t) => t.taskId === task.taskId));
          tasks.push(...fresh);
          return fresh.length;
        },
      },
      now: () => clock,
    }),
    {
      appKeys: { 'key-web': 'web', 'key-mobile': 'mobile' },
      appAccess: { web: FULL_ACCESS, mobile: MOBILE },
      maxRequestBytes: 100_000,
    },
  );
}

async function send(body: unknown, identity: EventIdentity = WEB) {
  const response: ApiResponse = await handler()(
    apiEvent('POST', '/v1/feedback', { body, identity }),
    context,
  );
  return { status: response.statusCode, body: JSON.parse(String(response.body)) };
}

describe('POST /v1/feedback', () => {
  it('stores a first verdict with what the interaction says, and answers 200 created', async () => {
    const { status, body } = await send({
      interactionId: 'i-web',
      rating: 4,
      categories: ['helpful', 'helpful', 'clear'],
      user: 'ada',
    });
    expect(status).toBe(200);
    expect(feedbackResponse.safeParse(body).success).toBe(true);
    expect(body).toEqual({
      interactionId: 'i-web',
      user: 'ada',
      created: true,
      rating: 4,
      score: 0.75,
      redactions: {},
      updatedAt: '2026-12-01T10:00:00.000Z',
    });
    expect(await feedback.get('i-web', 'ada')).toEqual({
      interactionId: 'i-web',
      user: 'ada',
      app: 'web',
      rating: 4,
      score: 0.75,
      categories: ['helpful', 'clear'],
      promptHash: `sha256:${'a'.repeat(64)}`,
      prompt: { name: 'support-answer', version: 3, ref: 'support-answer@production' },
      model: { id: 'nova-micro', provider: 'bedrock', modelId: 'us.amazon.nova-micro-v1:0' },
      createdAt: '2026-12-01T10:00:00.000Z',
      updatedAt: '2026-12-01T10:00:00.000Z',
    });
  });

  it('replaces a repeat by the same user: created false, one verdict, its first createdAt kept', async () => {
    await send({ interactionId: 'i-web', rating: 'up', user: 'ada' });
    clock = NOW + 60_000;
    const { status, body } = await send({ interactionId: 'i-web', rating: 'down', user: 'ada' });
    expect(status).toBe(200);
    expect(body).toMatchObject({ created: false, rating: 'down', score: 0 });
    expect(feedback.verdicts.size).toBe(1);
    expect(await feedback.get('i-web', 'ada')).toMatchObject({
      rating: 'down',
      createdAt: '2026-12-01T10:00:00.000Z',
      updatedAt: '2026-12-01T10:01:00.000Z',
    });
  });

  it('moves updatedAt past the earlier verdict even when the clock has not', async () => {
    await send({ interactionId: 'i-web', rating: 'up' });
    const { body } = await send({ interactionId: 'i-web', rating: 'down' });
    expect(body.updatedAt).toBe('2026-12-01T10:00:00.001Z');
  });

  it('keeps one verdict per user: the anonymous one and a named one are two', async () => {
    await send({ interactionId: 'i-web', rating: 'up' });
    const { body } = await send({ interactionId: 'i-web', rating: 'up', user: 'bob' });
    expect(body.created).toBe(true);
    expect([...feedback.verdicts.keys()].sort()).toEqual(['i-web/anonymous', 'i-web/bob']);
  });

  it('accepts the id of the OpenAI-compatible route (chatcmpl-<interaction>)', async () => {
    const { status, body } = await send({ interactionId: 'chatcmpl-i-web', rating: 'up' });
    expect(status).toBe(200);
    expect(body).toMatchObject({ interactionId: 'i-web', user: 'anonymous', created: true });
  });

  it('rates a raw chat (no prompt) under the model only', async () => {
    const { status } = await send({ interactionId: 'i-raw', rating: 5 });
    expect(status).toBe(200);
    expect(emitted[0]?.dimensions).toEqual({ Model: 'nova-micro', Prompt: NO_PROMPT, App: 'web' });
  });

  it.each([
    ['an interaction never kept', 'i-unknown'],
    ['an interaction past its expiresAt (not yet deleted by DynamoDB)', 'i-old'],
  ])('answers 404 for %s', async (_what, interactionId) => {
    const { status, body } = await send({ interactionId, rating: 'up' });
    expect(status).toBe(404);
    expect(body.error.message).toContain(`Interaction ${interactionId} does not exist or is no longer open`);
    expect(feedback.verdicts.size).toBe(0);
  });

  it("answers 403 for another app's interaction", async () => {
    const { status, body } = await send({ interactionId: 'i-mobile', rating: 'up' });
    expect(status).toBe(403);
    expect(body.error.message).toBe(`app "web" may not give feedback on another app's interaction`);
    expect(feedback.verdicts.size).toBe(0);
  });

  it('answers 403 when the app may no longer use the prompt or the model that answered', async () => {
    const prompt = await send({ interactionId: 'i-billing', rating: 'up' }, MOBILE_KEY);
    expect(prompt.status).toBe(403);
    expect(prompt.body.error.message).toBe(
      'app "mobile" may not use prompt "billing-summary" (allowed: support-*)',
    );
    const model = await send({ interactionId: 'i-claude', rating: 'up' }, MOBILE_KEY);
    expect(model.status).toBe(403);
    expect(model.body.error.message).toBe('app "mobile" may not use model "claude-sonnet" (allowed: nova-*)');
    const allowed = await send({ interactionId: 'i-mobile', rating: 'up' }, MOBILE_KEY);
    expect(allowed.status).toBe(200);
    expect(feedback.verdicts.size).toBe(1);
  });

  it.each([
    ['a rating out of range', { interactionId: 'i-web', rating: 6 }, 'rating'],
    ['a rating of another kind', { interactionId: 'i-web', rating: 'meh' }, 'rating'],
    ['no rating', { interactionId: 'i-web' }, 'rating'],
    ['no interaction id', { rating: 'up' }, 'interactionId'],
    ['a path as the id', { interactionId: '../i-web', rating: 'up' }, 'interactionId'],
    ['a key separator in the id', { interactionId: 'i-web#USER#x', rating: 'up' }, 'interactionId'],
    ['the completion prefix alone', { interactionId: 'chatcmpl-', rating: 'up' }, 'interactionId'],
    ['the prefix before what is no id', { interactionId: 'chatcmpl-_x', rating: 'up' }, 'interactionId'],
    ['an id too long', { interactionId: `i${'x'.repeat(128)}`, rating: 'up' }, 'interactionId'],
    ['a user with a key separator', { interactionId: 'i-web', rating: 'up', user: 'a#b' }, 'user'],
    ['a blank correction', { interactionId: 'i-web', rating: 'down', correction: '  ' }, 'correction'],
    [
      'a category in capitals',
      { interactionId: 'i-web', rating: 'up', categories: ['Wrong'] },
      'categories.0',
    ],
    [
      'too many categories',
      { interactionId: 'i-web', rating: 'up', categories: Array.from({ length: 11 }, (_, i) => `c${i}`) },
      'categories',
    ],
    ['a comment too long', { interactionId: 'i-web', rating: 'up', comment: 'x'.repeat(2001) }, 'comment'],
    ['an unknown field', { interactionId: 'i-web', rating: 'up', app: 'mobile' }, ''],
  ])('answers 400 for %s, naming the field', async (_what, body, field) => {
    const { status, body: answer } = await send(body);
    expect(status).toBe(400);
    if (field !== '') expect(answer.error.field).toBe(field);
    expect(feedback.verdicts.size).toBe(0);
  });

  it('redacts PII from the free text before storing it, and counts it by kind', async () => {
    const { body } = await send({
      interactionId: 'i-web',
      rating: 'down',
      comment: 'Wrong. Mail me at ada@example.com or call +1 415 555 0100',
      correction: 'Refunds take 5 business days; ask billing@example.com',
      preferredAnswer: 'Five business days.',
    });
    expect(body.redactions).toEqual({ EMAIL: 2, PHONE: 1 });
    const stored = await feedback.get('i-web', 'anonymous');
    expect(stored?.comment).toBe('Wrong. Mail me at [EMAIL] or call [PHONE]');
    expect(stored?.correction).toBe('Refunds take 5 business days; ask [EMAIL]');
    expect(stored?.preferredAnswer).toBe('Five business days.');
    expect(JSON.stringify(tasks)).not.toContain('example.com');
  });

  it('opens a review task for negative feedback with a comment, naming the annotator', async () => {
    const { body } = await send({
      interactionId: 'chatcmpl-i-web',
      rating: 'down',
      comment: 'It is 5 days, not 30',
      categories: ['wrong_answer'],
      correction: 'Refunds take 5 business days.',
      user: 'ada',
    });
    const taskId = feedbackReviewTaskId('i-web', 'ada');
    expect(taskId).toMatch(/^review-[0-9a-f]{16}$/);
    expect(body.reviewTaskId).toBe(taskId);
    expect(tasks).toEqual([
      {
        taskId,
        runId: FEEDBACK_REVIEW_RUN,
        itemId: 'i-web',
        metric: FEEDBACK_REVIEW_METRIC,
        reason: 'feedback',
        rubric: annotatorRubric('ada'),
        judge: 'ada',
        judgeScore: 0,
        judgeVerdict: 'fail',
        spread: null,
        unstable: false,
        rationales: ['It is 5 days, not 30'],
        feedback: {
          app: 'web',
          question: 'How long do refunds take?',
          answer: 'Refunds take 30 days.',
          comment: 'It is 5 days, not 30',
          categories: ['wrong_answer'],
          correction: 'Refunds take 5 business days.',
        },
      },
    ]);
    expect(reviewTask.safeParse(tasks[0]).success).toBe(true);
    expect((await feedback.get('i-web', 'ada'))?.reviewTaskId).toBe(taskId);
  });

  it('bounds the texts a review task copies, so that the task stays small', async () => {
    await send({ interactionId: 'i-long', rating: 'down', comment: 'Far too long' });
    const copied = tasks[0]?.feedback?.answer ?? '';
    expect(copied).toHaveLength(REVIEW_FEEDBACK_TEXT_MAX_CHARS);
    expect(copied.endsWith('z…')).toBe(true);
    expect(reviewTask.safeParse(tasks[0]).success).toBe(true);
  });

  it('opens one task per interaction and user, and keeps its id on a later verdict', async () => {
    await send({ interactionId: 'i-web', rating: 1, comment: 'Wrong', user: 'ada' });
    await send({ interactionId: 'i-web', rating: 'down', comment: 'Still wrong', user: 'ada' });
    expect(tasks).toHaveLength(1);
    const { body } = await send({ interactionId: 'i-web', rating: 'up', user: 'ada' });
    expect(body.reviewTaskId).toBeUndefined();
    expect((await feedback.get('i-web', 'ada'))?.reviewTaskId).toBe(feedbackReviewTaskId('i-web', 'ada'));
  });

  it.each([
    ['negative without a comment', { rating: 'down' }],
    ['negative with a blank comment', { rating: 'down', comment: '   ' }],
    ['positive with a comment', { rating: 'up', comment: 'Great' }],
    ['neutral with a comment', { rating: 3, comment: 'So-so' }],
  ])('opens no review task for %s', async (_what, verdict) => {
    const { status, body } = await send({ interactionId: 'i-web', ...verdict });
    expect(status).toBe(200);
    expect(body.reviewTaskId).toBeUndefined();
    expect(tasks).toEqual([]);
  });

  it('emits the first verdict as count, score and polarity by model, prompt and app', async () => {
    await send({ interactionId: 'i-web', rating: 2 });
    const dimensions = { Model: 'nova-micro', Prompt: 'support-answer', App: 'web' };
    expect(emitted).toEqual([
      { name: 'FeedbackCount', unit: 'Count', value: 1, dimensions },
      { name: 'FeedbackScore', unit: 'None', value: 0.25, dimensions },
      { name: 'FeedbackPositive', unit: 'Count', value: 0, dimensions },
    ]);
  });

  it('emits no polarity for a neutral verdict, and only FeedbackUpdated for a replaced one', async () => {
    await send({ interactionId: 'i-web', rating: 3 });
    expect(emitted.map((m) => m.name)).toEqual(['FeedbackCount', 'FeedbackScore']);
    emitted.length = 0;
    await send({ interactionId: 'i-web', rating: 'up' });
    expect(emitted.map((m) => [m.name, m.value])).toEqual([['FeedbackUpdated', 1]]);
  });
});

describe('a feedback review task in the review routes', () => {
  it('is listed with its feedback context and labelled as any other task', async () => {
    await send({ interactionId: 'i-web', rating: 'down', comment: 'Wrong', user: 'ada' });
    const store = new FakeEvaluationStore();
    store.tasks.push(
      ...tasks.map((task) => ({ ...task, status: 'open' as const, createdAt: '2026-12-01T10:00:00.000Z' })),
    );
    const reviews = apiHandler(
      makeEvaluations({
        store,
        events: new EventBridgeClient({}),
        busName: 'bus-test',
        reportLinks: async () => undefined,
      }),
      { appKeys: {}, maxRequestBytes: 100_000 },
    );
    const reviewer = { apiKeyId: null, userArn: 'arn:aws:sts::123456789012:assumed-role/Reviewer/alice' };
    const listed = await reviews(apiEvent('GET', '/v1/reviews', { identity: reviewer }), context);
    expect(listed.statusCode).toBe(200);
    const page = reviewTaskList.parse(JSON.parse(String(listed.body)));
    expect(page.tasks[0]).toMatchObject({ reason: 'feedback', feedback: { app: 'web', comment: 'Wrong' } });
    const taskId = feedbackReviewTaskId('i-web', 'ada');
    const labelled = await reviews(
      apiEvent('POST', '/v1/reviews/{id}', {
        path: { id: taskId },
        body: { label: 'fail' },
        identity: reviewer,
      }),
      context,
    );
    expect(labelled.statusCode).toBe(200);
    expect(storedReviewTask.parse(JSON.parse(String(labelled.body)))).toMatchObject({
      status: 'labelled',
      rubric: 'feedback-annotator:ada',
      label: { reviewer: 'alice', label: 'fail' },
    });
  });
});
