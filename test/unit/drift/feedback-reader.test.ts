import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  DynamoVerdictReader,
  type VerdictOnAnswer,
  type VerdictReader,
  windowFeedback,
} from '#aws/drift/feedback-reader.ts';
import type { StoredReviewTask } from '#aws/eval/evaluation-store.ts';
import { DynamoFeedbackStore } from '#aws/feedback/dynamo-feedback-store.ts';
import { ratingScore, type StoredFeedback } from '#contracts/feedback/feedback.ts';

const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const ddb = mockClient(DynamoDBDocumentClient);
const TABLE = 'feedback';

/** A verdict as the feedback route stores it. */
function verdict(
  interactionId: string,
  user: string,
  rating: StoredFeedback['rating'],
  reviewTaskId?: string,
) {
  return {
    interactionId,
    user,
    app: 'web',
    rating,
    score: ratingScore(rating),
    categories: [],
    promptHash: `sha256:${interactionId}`,
    prompt: null,
    model: { id: 'nova-lite', provider: 'bedrock', modelId: 'amazon.nova-lite-v1:0' },
    createdAt: '2026-12-01T10:00:00.000Z',
    updatedAt: '2026-12-01T10:00:00.000Z',
    ...(reviewTaskId !== undefined ? { reviewTaskId } : {}),
  } satisfies StoredFeedback;
}

describe('DynamoVerdictReader', () => {
  /** The table's items, as the feedback store wrote them. */
  let items: Record<string, unknown>[];

  beforeEach(() => {
    ddb.reset();
    items = [];
    ddb.on(PutCommand).callsFake((input) => {
      items.push(input.Item as Record<string, unknown>);
      return {};
    });
    ddb.on(QueryCommand).callsFake((input) => {
      const pk = input.ExpressionAttributeValues?.[':pk'];
      const found = items.filter((item) => item.pk === pk);
      // Two a page, to read on past a page's end.
      const from = input.ExclusiveStartKey === undefined ? 0 : Number(input.ExclusiveStartKey.at);
      const page = found.slice(from, from + 2);
      return {
        Items: page,
        ...(from + 2 < found.length ? { LastEvaluatedKey: { at: String(from + 2) } } : {}),
      };
    });
  });

  it('reads every user’s verdict on an interaction as the feedback store keeps it', async () => {
    const store = new DynamoFeedbackStore(documents, TABLE);
    await store.upsert(verdict('call-1', 'ana', 'up'));
    await store.upsert(verdict('call-1', 'bo', 'down', 'review-0000000000000001'));
    await store.upsert(verdict('call-1', 'cy', 3));
    await store.upsert(verdict('call-2', 'ana', 5));

    const reader = new DynamoVerdictReader(documents, TABLE);
    const read = await reader.verdictsOn('call-1');
    expect(read.sort((a, b) => a.user.localeCompare(b.user))).toEqual([
      { user: 'ana', score: 1 },
      { user: 'bo', score: 0, reviewTaskId: 'review-0000000000000001' },
      { user: 'cy', score: 0.5 },
    ]);
    const query = ddb.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(query).toMatchObject({
      TableName: TABLE,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'FEEDBACK#call-1' },
      ProjectionExpression: '#user, score, reviewTaskId',
      ExpressionAttributeNames: { '#user': 'user' },
    });
    // Eventually consistent: half a read unit for an answer nobody rated.
    expect(query?.ConsistentRead).toBeUndefined();
    expect(await reader.verdictsOn('call-9')).toEqual([]);
  });

  it('reads nothing for an id the feedback route would refuse, and skips an item that is not a verdict', async () => {
    const reader = new DynamoVerdictReader(documents, TABLE);
    expect(await reader.verdictsOn('bad#id')).toEqual([]);
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(0);
    items.push({ pk: 'FEEDBACK#call-3', user: 'ana', score: 0.3 }, { pk: 'FEEDBACK#call-3', score: 1 });
    expect(await reader.verdictsOn('call-3')).toEqual([]);
  });
});

describe('windowFeedback', () => {
  class Verdicts implements VerdictReader {
    readonly byCall = new Map<string, VerdictOnAnswer[]>();
    readonly read: string[] = [];
    async verdictsOn(id: string) {
      this.read.push(id);
      return this.byCall.get(id) ?? [];
    }
  }
  const task = (taskId: string, label?: 'pass' | 'fail'): StoredReviewTask =>
    ({
      taskId,
      status: label === undefined ? 'open' : 'labelled',
      ...(label !== undefined ? { label: { taskId, reviewer: 'r', label, at: '2026-12-01T11:00:00Z' } } : {}),
    }) as StoredReviewTask;

  it('tallies the verdicts of each answered call once, and the reviewed complaints', async () => {
    const verdicts = new Verdicts();
    verdicts.byCall.set('a', [
      { user: 'u1', score: 1 },
      { user: 'u2', score: 0, reviewTaskId: 't1' },
    ]);
    verdicts.byCall.set('b', [
      { user: 'u1', score: 0.25, reviewTaskId: 't2' },
      { user: 'u3', score: 0, reviewTaskId: 't3' },
    ]);
    const tasks = new Map([
      ['t1', task('t1', 'fail')],
      ['t2', task('t2', 'pass')],
      ['t3', task('t3')],
    ]);
    const counts = await windowFeedback(['a', 'b', 'a', 'c'], 'seed', {
      verdicts,
      reviews: { getReviewTask: async (id) => tasks.get(id) },
    });
    expect(verdicts.read.sort()).toEqual(['a', 'b', 'c']);
    expect(counts).toEqual({
      answered: 3,
      verdicts: 4,
      positive: 1,
      negative: 3,
      ratings: [2, 1, 0, 0, 1],
      reviewed: 2,
      confirmed: 1,
    });
  });

  it('reads a seeded subsample of the answered calls beyond the cap, the same on a retry', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `call-${i}`);
    const read = async () => {
      const verdicts = new Verdicts();
      const counts = await windowFeedback(ids, 'w1', {
        verdicts,
        reviews: { getReviewTask: async () => undefined },
        maxLookups: 10,
        concurrency: 3,
      });
      return { counts, read: verdicts.read.sort() };
    };
    const first = await read();
    expect(first.counts.answered).toBe(10);
    expect(first.read).toHaveLength(10);
    expect((await read()).read).toEqual(first.read);
  });
});
