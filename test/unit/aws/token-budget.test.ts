import { DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { errorResponse } from '#aws/http.ts';
import {
  secondsUntilUtcMidnight,
  TokenBudget,
  USAGE_TTL_SECONDS,
  usageKey,
  utcDay,
} from '#aws/token-budget.ts';
import { TokenBudgetExceededError } from '#core/errors.ts';

const ddb = mockClient(DynamoDBDocumentClient);
/** 2026-12-01 21:30:00 UTC: 2 h 30 min before the budget renews. */
const NOW = Date.UTC(2026, 11, 1, 21, 30, 0);
const DAY_START_S = Date.UTC(2026, 11, 1) / 1000;
const budget = new TokenBudget(
  DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
  'usage',
  { now: () => NOW },
);

const limited = { tokensPerDay: 10_000 };

beforeEach(() => {
  ddb.reset();
});

async function refusal(promise: Promise<unknown>): Promise<TokenBudgetExceededError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TokenBudgetExceededError);
    return error as TokenBudgetExceededError;
  }
  throw new Error('expected a TokenBudgetExceededError');
}

describe('TokenBudget', () => {
  it('keys one counter per app per UTC day', () => {
    expect(utcDay(NOW)).toBe('2026-12-01');
    expect(usageKey('mobile', '2026-12-01')).toBe('APP#mobile#2026-12-01');
    expect(secondsUntilUtcMidnight(NOW)).toBe(9000);
    expect(secondsUntilUtcMidnight(Date.UTC(2026, 11, 2) - 1)).toBe(1);
  });

  it("reads today's count of the app with a consistent read (0 when there is none)", async () => {
    ddb.on(GetCommand).resolves({ Item: { tokens: 1234 } });
    expect(await budget.used('mobile')).toBe(1234);
    const input = ddb.commandCalls(GetCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      TableName: 'usage',
      Key: { pk: 'APP#mobile#2026-12-01' },
      ConsistentRead: true,
    });
    ddb.on(GetCommand).resolves({});
    expect(await budget.used('mobile')).toBe(0);
  });

  it('lets a call through under budget and says what remains', async () => {
    ddb.on(GetCommand).resolves({ Item: { tokens: 9_999 } });
    await expect(budget.assertWithinBudget('mobile', limited)).resolves.toBeUndefined();
    expect(await budget.remaining('mobile', limited)).toBe(1);
  });

  it('refuses a call once the budget is spent, until 00:00 UTC, naming the app and the rule', async () => {
    ddb.on(GetCommand).resolves({ Item: { tokens: 10_250 } });
    const error = await refusal(budget.assertWithinBudget('mobile', limited));
    expect(error.message).toBe(
      'app "mobile" has spent its daily token budget (tokensPerDay 10,000; 10,250 used on 2026-12-01); it renews at 00:00 UTC',
    );
    expect(error.retryAfterSeconds).toBe(9000);
    expect(error.expose).toBe(true);
    expect(await budget.remaining('mobile', limited)).toBe(0);
  });

  it('is answered 429 token_budget_exceeded with Retry-After', async () => {
    ddb.on(GetCommand).resolves({ Item: { tokens: 10_000 } });
    const response = errorResponse(await refusal(budget.assertWithinBudget('mobile', limited)), 'req-1');
    expect(response.statusCode).toBe(429);
    expect(response.headers?.['retry-after']).toBe('9000');
    const body = JSON.parse(String(response.body));
    expect(body.error.code).toBe('token_budget_exceeded');
    expect(body.error.message).toMatch(/^app "mobile" has spent its daily token budget/);
  });

  it('never reads for an unlimited app or an administrator, and refuses a budget of 0 without reading', async () => {
    await budget.assertWithinBudget('mobile', { tokensPerDay: null });
    await budget.assertWithinBudget('admin', null);
    expect(await budget.remaining('mobile', { tokensPerDay: null })).toBeNull();
    await refusal(budget.assertWithinBudget('unknown', { tokensPerDay: 0 }));
    expect(ddb.commandCalls(GetCommand)).toHaveLength(0);
  });

  it('adds what a call spent to the counter atomically, with a TTL two days after its day starts', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { tokens: 1500 } });
    expect(await budget.consume('mobile', 1499.2)).toBe(1500);
    const input = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      TableName: 'usage',
      Key: { pk: 'APP#mobile#2026-12-01' },
      UpdateExpression: 'ADD #tokens :tokens SET #app = :app, #day = :day, #ttl = :ttl',
      ExpressionAttributeNames: { '#tokens': 'tokens', '#app': 'app', '#day': 'day', '#ttl': 'expiresAt' },
      ExpressionAttributeValues: {
        ':tokens': 1500,
        ':app': 'mobile',
        ':day': '2026-12-01',
        ':ttl': DAY_START_S + USAGE_TTL_SECONDS,
      },
    });
    expect(input?.ConditionExpression).toBeUndefined();
  });

  it('writes nothing for 0 tokens', async () => {
    expect(await budget.consume('mobile', 0)).toBeUndefined();
    expect(await budget.consume('mobile', Number.NaN)).toBeUndefined();
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('never fails an answer already given: a failed count is logged and reported as undefined', async () => {
    ddb
      .on(UpdateCommand)
      .rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    await expect(budget.consume('mobile', 10)).resolves.toBeUndefined();
  });

  it('lets a read failure through (no call is admitted on a count it could not read)', async () => {
    ddb.on(GetCommand).rejects(new Error('unavailable'));
    await expect(budget.assertWithinBudget('mobile', limited)).rejects.toThrow('unavailable');
  });
});
