// The feedback function's environment, set before its handler module is imported (it reads it at import).
import '../support/env/api.ts';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeBackoff } from '#aws/backoff.ts';
import { encodeCursor } from '#aws/cursor.ts';
import { TransientError, ValidationError } from '#aws/errors.ts';
import { DynamoEvaluationStore } from '#aws/eval/dynamo-evaluation-store.ts';
import { DynamoFeedbackStore, FEEDBACK_INDEX } from '#aws/feedback/dynamo-feedback-store.ts';
import { DynamoInteractionStore } from '#aws/feedback/dynamo-interaction-store.ts';
import { apiHandler } from '#aws/http.ts';
import {
  annotatorRubric,
  type StoredFeedback,
  type StoredInteraction,
} from '#contracts/feedback/feedback.ts';
import { makeHandler as makeFeedback } from '#functions/api/feedback.ts';
import { type Emulators, startEmulators } from '#infra/local/emulators.ts';
import { FULL_ACCESS } from '../support/app-access.ts';
import { evaluatedClients, synthesizedStack } from '../support/as-function.ts';
import { errorOf } from '../support/async.ts';
import { createIndexedTable, createKeyTable, isolatedDocumentClients } from '../support/dynamo.ts';
import { apiEvent } from '../support/gateway-fixtures.ts';

/**
 * The feedback stores with real DynamoDB document clients against dynalite, on tables shaped as the
 * stack's: interactions (`pk` only, TTL on `expiresAt`, which dynalite never expires: the stores' clock
 * does) and feedback (the house project table: `pk`/`sk` and the `gsi1` index). Each test of the stores
 * gets tables of its own. The feedback handler runs as the feedback function of the synthesized stack,
 * on the tables the template declares: every SDK call it makes is evaluated against that function's
 * role, and fails with AccessDenied where the role does not allow it, as on AWS.
 */
const stack = synthesizedStack();
const feedbackFunction = stack.fn('functions/api/feedback.ts');
let emulators: Emulators;
let dynamo: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let tables = 0;
const isolated = isolatedDocumentClients(() => emulators.dynamoEndpoint);

const NOW = Date.parse('2026-12-01T10:00:00.000Z');
/** Retries at once: these tests are about what is retried, not how long it waits. */
const instant = makeBackoff({ maxAttempts: 3, sleep: async () => {} });

beforeAll(async () => {
  emulators = await startEmulators();
  // Calls made outside `feedbackFunction.run` (the stores' own tests, seeding, reading back) are not
  // evaluated: they are no function's.
  ({ dynamo } = evaluatedClients(emulators));
  doc = DynamoDBDocumentClient.from(dynamo);
});

afterEach(async () => {
  // Also a denial that the handler turns into an error response.
  expect((await stack.iam.decisions()).filter((d) => !d.allowed)).toEqual([]);
});

afterAll(async () => {
  isolated.destroy();
  dynamo?.destroy();
  await emulators?.stop();
});

async function interactionsTable(): Promise<string> {
  return createKeyTable(dynamo, `interactions-${++tables}`, { sortKey: false });
}

async function feedbackTable(): Promise<string> {
  return createIndexedTable(dynamo, `feedback-${++tables}`, FEEDBACK_INDEX);
}

const interaction = (id: string, overrides: Partial<StoredInteraction> = {}): StoredInteraction => ({
  interactionId: id,
  app: 'web',
  tenant: 'acme',
  occurredAt: '2026-12-01T09:00:00.000Z',
  expiresAt: NOW / 1000 + 3600,
  route: 'chat',
  prompt: { name: 'support-answer', version: 3, ref: 'support-answer@production' },
  model: { id: 'nova-micro', provider: 'bedrock', modelId: 'us.amazon.nova-micro-v1:0' },
  variant: 'candidate',
  retrieval: [{ docId: 'policies/refunds.md', chunkId: 'policies/refunds.md#0' }],
  system: 'Answer from the context.',
  messages: [{ role: 'user', content: 'How long do refunds take?' }],
  answer: 'Refunds take 5 business days.',
  promptHash: `sha256:${'a'.repeat(64)}`,
  truncated: false,
  ...overrides,
});

const HASH = `sha256:${'b'.repeat(64)}`;
const OTHER_HASH = `sha256:${'c'.repeat(64)}`;

const verdict = (
  interactionId: string,
  user: string,
  updatedAt: string,
  overrides: Partial<StoredFeedback> = {},
): StoredFeedback => ({
  interactionId,
  user,
  app: 'web',
  rating: 'up',
  score: 1,
  categories: [],
  promptHash: HASH,
  prompt: { name: 'support-answer', version: 3, ref: 'support-answer@production' },
  model: { id: 'nova-micro', provider: 'bedrock', modelId: 'us.amazon.nova-micro-v1:0' },
  createdAt: updatedAt,
  updatedAt,
  ...overrides,
});

const at = (minute: number) => new Date(NOW + minute * 60_000).toISOString();

/** Every pending verdict, page by page. */
async function allPending(store: DynamoFeedbackStore, limit: number) {
  const pages: StoredFeedback[][] = [];
  let nextToken: string | undefined;
  do {
    const page = await store.pending({ limit, ...(nextToken !== undefined ? { nextToken } : {}) });
    pages.push([...page.items]);
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  return pages;
}

const ids = (items: readonly StoredFeedback[]) => items.map((f) => `${f.interactionId}/${f.user}`);

describe('DynamoInteractionStore', () => {
  it('keeps an interaction and reads it back as it was put', async () => {
    const table = await interactionsTable();
    const store = new DynamoInteractionStore(doc, table, { now: () => new Date(NOW) });
    const kept = interaction('i-1');
    await store.put(kept);
    await store.put(kept);
    expect(await store.get('i-1')).toEqual(kept);
    expect(await store.get('i-2')).toBeUndefined();
    const { Item: raw } = await doc.send(new GetCommand({ TableName: table, Key: { pk: 'i-1' } }));
    expect(raw).toMatchObject({ pk: 'i-1', expiresAt: NOW / 1000 + 3600 });
  });

  it('treats an interaction whose expiresAt has passed as gone, before DynamoDB deletes it', async () => {
    const table = await interactionsTable();
    const clock = { now: NOW };
    const store = new DynamoInteractionStore(doc, table, { now: () => new Date(clock.now) });
    await store.put(interaction('i-1', { expiresAt: NOW / 1000 + 60 }));
    await store.put(interaction('i-2', { expiresAt: NOW / 1000 + 120 }));
    expect(await store.get('i-1')).toBeDefined();
    clock.now = NOW + 60_000;
    expect(await store.get('i-1')).toBeUndefined();
    expect([...(await store.getMany(['i-1', 'i-2'])).keys()]).toEqual(['i-2']);
    clock.now = NOW + 120_000;
    expect((await store.getMany(['i-1', 'i-2'])).size).toBe(0);
  });

  it('reads many in chunks of 100, leaving out absent ids and repeats', async () => {
    const table = await interactionsTable();
    const store = new DynamoInteractionStore(doc, table, { now: () => new Date(NOW) });
    const kept = Array.from({ length: 130 }, (_, i) => `i-${i}`);
    for (const id of kept) await store.put(interaction(id));
    const found = await store.getMany([...kept, 'i-absent', 'i-3', '', 'x'.repeat(3000)]);
    expect(found.size).toBe(130);
    expect(found.get('i-129')).toEqual(interaction('i-129'));
  });

  it('asks again for the keys DynamoDB left unprocessed, and fails when they stay so', async () => {
    const table = await interactionsTable();
    await new DynamoInteractionStore(doc, table).put(interaction('i-1'));
    await new DynamoInteractionStore(doc, table).put(interaction('i-2'));
    /** A client whose first `refusals` batch reads answer nothing and leave every key unprocessed. */
    const refusing = (refusals: number) => {
      const client = isolated.create();
      let left = refusals;
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const result = await next(args);
          if (context.commandName === 'BatchGetItemCommand' && left-- > 0) {
            const input = (args.input as { RequestItems: Record<string, { Keys: unknown[] }> }).RequestItems;
            const output = result.output as {
              Responses?: Record<string, unknown[]>;
              UnprocessedKeys?: unknown;
            };
            output.Responses = { [table]: [] };
            output.UnprocessedKeys = { [table]: { Keys: input[table]?.Keys } };
          }
          return result;
        },
        { step: 'initialize' },
      );
      return new DynamoInteractionStore(client, table, { now: () => new Date(NOW), backoff: instant });
    };
    expect((await refusing(2).getMany(['i-1', 'i-2'])).size).toBe(2);
    expect(await errorOf(refusing(3).getMany(['i-1', 'i-2']))).toBeInstanceOf(TransientError);
  });
});

describe('DynamoFeedbackStore', () => {
  async function freshStore() {
    const table = await feedbackTable();
    return {
      table,
      store: new DynamoFeedbackStore(doc, table, { now: () => new Date(NOW), backoff: instant }),
    };
  }

  it('creates a verdict, then replaces it: one item, created false, the previous one returned', async () => {
    const { table, store } = await freshStore();
    const first = verdict('i-1', 'ada', at(0), { comment: 'Good', reviewTaskId: 'review-0123456789abcdef' });
    expect(await store.upsert(first)).toEqual({ created: true });
    expect(await store.upsert(first)).toEqual({ created: false, previous: first });
    const second = verdict('i-1', 'ada', at(1), { rating: 'down', score: 0, createdAt: at(0) });
    expect(await store.upsert(second)).toEqual({ created: false, previous: first });
    expect(await store.get('i-1', 'ada')).toEqual(second);
    expect(await store.get('i-1', 'bob')).toBeUndefined();
    const { Items: items } = await doc.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'FEEDBACK#i-1' },
      }),
    );
    expect(items).toHaveLength(1);
  });

  it('refuses a verdict whose keys could be confused with another', async () => {
    const { store } = await freshStore();
    expect(await errorOf(store.upsert(verdict('i-1#USER#x', 'ada', at(0))))).toBeInstanceOf(ValidationError);
    expect(await errorOf(store.upsert(verdict('i-1', 'a#b', at(0))))).toBeInstanceOf(ValidationError);
    expect(await errorOf(store.upsert(verdict('i-1', 'ada', 'yesterday')))).toBeInstanceOf(ValidationError);
  });

  it('lists pending verdicts oldest change first, page by page, the last page without a token', async () => {
    const { store } = await freshStore();
    await store.upsert(verdict('i-3', 'ada', at(3)));
    await store.upsert(verdict('i-1', 'ada', at(1)));
    await store.upsert(verdict('i-2', 'bob', at(2)));
    await store.upsert(verdict('i-1', 'bob', at(4)));
    await store.upsert(verdict('i-5', 'ada', at(5)));
    // A change moves the verdict to the end.
    await store.upsert(verdict('i-1', 'ada', at(6)));
    const pages = await allPending(store, 2);
    expect(pages.map(ids)).toEqual([['i-2/bob', 'i-3/ada'], ['i-1/bob', 'i-5/ada'], ['i-1/ada']]);
    expect((await allPending(store, 5)).map(ids)).toEqual([
      ['i-2/bob', 'i-3/ada', 'i-1/bob', 'i-5/ada', 'i-1/ada'],
    ]);
    expect(await errorOf(store.pending({ limit: 0 }))).toBeInstanceOf(ValidationError);
    expect(await errorOf(store.pending({ limit: 1001 }))).toBeInstanceOf(ValidationError);
  });

  it('refuses a forged, altered or foreign cursor as a ValidationError on nextToken', async () => {
    const { store } = await freshStore();
    for (const i of [1, 2, 3]) await store.upsert(verdict(`i-${i}`, 'ada', at(i)));
    const page = await store.pending({ limit: 1 });
    expect(page.nextToken).toBeDefined();
    const key = {
      pk: 'FEEDBACK#i-1',
      sk: 'USER#ada',
      gsi1pk: 'PENDING',
      gsi1sk: `${at(1)}#i-1#ada`,
    };
    const spec = { listing: 'feedback-pending', query: {} };
    // The genuine key resumes the listing.
    const resumed = await store.pending({ limit: 5, nextToken: encodeCursor(spec, key) });
    expect(ids(resumed.items)).toEqual(['i-2/ada', 'i-3/ada']);
    const forged = [
      'not-a-token',
      Buffer.from('{"v":1}').toString('base64url'),
      encodeCursor({ listing: 'review-tasks', query: { status: 'open' } }, key),
      encodeCursor(spec, { ...key, gsi1pk: 'REVIEWS#open' }),
      encodeCursor(spec, { ...key, gsi1sk: `${at(1)}#i-9#ada` }),
      encodeCursor(spec, { ...key, gsi1sk: 'soon#i-1#ada' }),
      encodeCursor(spec, { ...key, pk: 'FEEDBACK#a#b' }),
      encodeCursor(spec, { pk: key.pk, sk: key.sk }),
      encodeCursor(spec, { ...key, extra: 'x' }),
      encodeCursor(spec, { ...key, pk: 1 }),
    ];
    for (const nextToken of forged) {
      const error = await errorOf(store.pending({ limit: 1, nextToken }));
      expect(error, nextToken).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('nextToken');
    }
  });

  it('finds the verdicts on every interaction of a prompt hash, as they are now', async () => {
    const { store } = await freshStore();
    await store.upsert(verdict('i-2', 'ada', at(1), { rating: 'down', score: 0 }));
    await store.upsert(verdict('i-1', 'ada', at(2)));
    await store.upsert(verdict('i-1', 'bob', at(3)));
    await store.upsert(verdict('i-9', 'ada', at(4), { promptHash: OTHER_HASH }));
    const changed = verdict('i-2', 'ada', at(5), { comment: 'Changed my mind', createdAt: at(1) });
    await store.upsert(changed);
    const siblings = await store.byPromptHash(HASH);
    expect(ids(siblings)).toEqual(['i-1/ada', 'i-1/bob', 'i-2/ada']);
    expect(siblings[2]).toEqual(changed);
    expect(ids(await store.byPromptHash(OTHER_HASH))).toEqual(['i-9/ada']);
    expect(await store.byPromptHash(`sha256:${'d'.repeat(64)}`)).toEqual([]);
  });

  it('records exported ids once and clears only the verdicts still at the version used', async () => {
    const { table, store } = await freshStore();
    await store.upsert(verdict('i-1', 'ada', at(1)));
    await store.upsert(verdict('i-2', 'ada', at(2)));
    await store.upsert(verdict('i-3', 'ada', at(3)));
    // The export reads the pending verdicts...
    const read = (await store.pending({ limit: 10 })).items;
    expect(ids(read)).toEqual(['i-1/ada', 'i-2/ada', 'i-3/ada']);
    // ... and while it writes, i-2 changes.
    await store.upsert(verdict('i-2', 'ada', at(4), { rating: 'down', score: 0, createdAt: at(2) }));
    expect(await store.exportedIds(['pair-1', 'pair-2'])).toEqual(new Set());
    await store.markExported(
      'feedback-1',
      ['pair-1', 'pair-2', 'pair-1'],
      read.map(({ interactionId, user, updatedAt }) => ({ interactionId, user, updatedAt })),
    );
    expect(await store.exportedIds(['pair-1', 'pair-2', 'pair-3', 'pair-1'])).toEqual(
      new Set(['pair-1', 'pair-2']),
    );
    expect(ids((await store.pending({ limit: 10 })).items)).toEqual(['i-2/ada']);
    expect((await store.pending({ limit: 10 })).items[0]?.rating).toBe('down');

    // A later export of the same id leaves the first record as it was.
    await store.markExported(
      'feedback-2',
      ['pair-1'],
      [{ interactionId: 'i-9', user: 'ghost', updatedAt: at(1) }],
    );
    const { Item: record } = await doc.send(
      new GetCommand({ TableName: table, Key: { pk: 'EXPORTED#pair-1', sk: 'EXPORT' } }),
    );
    expect(record).toMatchObject({ exportId: 'feedback-1', recordId: 'pair-1' });
    // The verdict marked exported for an absent one was not created.
    expect(await store.get('i-9', 'ghost')).toBeUndefined();

    // A verdict changed after its export is pending again.
    await store.upsert(verdict('i-1', 'ada', at(9), { rating: 2, score: 0.25, createdAt: at(1) }));
    expect(ids((await store.pending({ limit: 10 })).items)).toEqual(['i-2/ada', 'i-1/ada']);
    expect(await store.get('i-3', 'ada')).toEqual(verdict('i-3', 'ada', at(3)));
  });

  it('reads many exported ids across batch reads', async () => {
    const { store } = await freshStore();
    const written = Array.from({ length: 150 }, (_, i) => `pair-${i}`);
    await store.markExported('feedback-1', written, []);
    const asked = [...written, 'pair-x', 'pair-y'];
    expect((await store.exportedIds(asked)).size).toBe(150);
    expect(await errorOf(store.exportedIds(['']))).toBeInstanceOf(ValidationError);
  });
});

describe('POST /v1/feedback on the real stores', () => {
  beforeAll(async () => {
    await stack.provision(emulators);
  });

  it('stores the verdict pending, opens the review task, whose label becomes the annotator calibration', async () => {
    const table = (variable: string) => feedbackFunction.environment[variable] ?? '';
    const interactions = table('INTERACTIONS_TABLE');
    const feedbackName = table('FEEDBACK_TABLE');
    const evaluations = table('EVALUATIONS_TABLE');
    const interactionStore = new DynamoInteractionStore(doc, interactions, { now: () => new Date(NOW) });
    const feedbackStore = new DynamoFeedbackStore(doc, feedbackName);
    const evaluationStore = new DynamoEvaluationStore(doc, evaluations, { now: () => new Date(NOW) });
    await interactionStore.put(interaction('i-1'));
    const handler = feedbackFunction.wrap(
      apiHandler(
        makeFeedback({
          interactions: interactionStore,
          feedback: feedbackStore,
          reviews: evaluationStore,
          now: () => NOW,
        }),
        { appKeys: { 'key-web': 'web' }, appAccess: { web: FULL_ACCESS }, maxRequestBytes: 100_000 },
      ),
    );
    const post = async (body: unknown) => {
      const response = await handler(
        apiEvent('POST', '/v1/feedback', { body, identity: { apiKeyId: 'key-web', userArn: null } }),
        { awsRequestId: 'ctx' } as Context,
      );
      return { status: response.statusCode, body: JSON.parse(String(response.body)) };
    };
    const first = await post({
      interactionId: 'chatcmpl-i-1',
      rating: 'down',
      comment: 'Wrong, write to ada@example.com',
      user: 'ada',
    });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ created: true, redactions: { EMAIL: 1 } });
    const again = await post({ interactionId: 'i-1', rating: 'down', comment: 'Still wrong', user: 'ada' });
    expect(again.body).toMatchObject({ created: false, reviewTaskId: first.body.reviewTaskId });
    // Its reads of the interaction and its writes of the verdict and the review task were evaluated.
    const evaluated = (await stack.iam.decisions()).filter(
      (d) => d.functionLogicalId === feedbackFunction.logicalId,
    );
    expect(evaluated.map((d) => d.resource)).toEqual(
      expect.arrayContaining(
        [interactions, feedbackName, evaluations].map((t) => expect.stringMatching(`:table/${t}$`)),
      ),
    );

    const pending = await feedbackStore.pending({ limit: 10 });
    expect(pending.items).toHaveLength(1);
    expect(pending.items[0]).toMatchObject({
      comment: 'Still wrong',
      promptHash: interaction('i-1').promptHash,
    });
    expect(ids(await feedbackStore.byPromptHash(interaction('i-1').promptHash))).toEqual(['i-1/ada']);

    const open = await evaluationStore.listReviewTasks({ status: 'open' });
    expect(open.items).toHaveLength(1);
    expect(open.items[0]).toMatchObject({
      taskId: first.body.reviewTaskId,
      reason: 'feedback',
      rationales: ['Wrong, write to [EMAIL]'],
      feedback: { app: 'web', question: 'How long do refunds take?' },
    });
    await evaluationStore.labelReviewTask({
      taskId: first.body.reviewTaskId,
      reviewer: 'alice',
      label: 'pass',
      at: '2026-12-01T11:00:00.000Z',
    });
    expect(await evaluationStore.calibrationLabels(annotatorRubric('ada'))).toEqual([
      { rubric: 'feedback-annotator:ada', judgeVerdict: false, humanVerdict: true },
    ]);
  });
});
