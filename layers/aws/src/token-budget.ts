import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { TokenBudgetExceededError } from './errors.ts';
import { logger, metrics } from './logging.ts';

/**
 * Each app's daily token budget (`tokensPerDay` of its access), counted in one DynamoDB table (`USAGE_TABLE`,
 * key `pk`): one item per app per UTC day, `pk` = `APP#<app>#<yyyy-mm-dd>`, holding `tokens` (input and
 * output tokens of the app's chat calls that day, added with an atomic `ADD`), `app`, `day`, and
 * `expiresAt` (epoch seconds, the table's TTL attribute): two days after the day starts, so yesterday's
 * count can still be read and nothing is kept longer.
 *
 * A chat call asks {@link TokenBudget.assertWithinBudget} before it calls a model and reports what it
 * spent with {@link TokenBudget.consume} once the answer is done. The check and the count are not one
 * transaction, so the budget is approximate under concurrency: a call admitted while the app is under
 * budget is never stopped half-way, and calls in flight together may each take the count past the
 * budget by at most their own tokens. Every call after that is refused until 00:00 UTC.
 */

/** What the budget reads of an app's access: its tokens per UTC day (`null`: no limit). */
export interface TokenAllowance {
  readonly tokensPerDay: number | null;
}

export interface TokenBudgetOptions {
  /** Clock in epoch milliseconds. @default Date.now */
  readonly now?: () => number;
}

const DAY_MS = 86_400_000;
/** How long after its day starts a counter expires, in seconds (its day, and one more). */
export const USAGE_TTL_SECONDS = 2 * 86_400;
/** The table's TTL attribute. */
export const USAGE_TTL_ATTRIBUTE = 'expiresAt';

/** The UTC day of an instant, `yyyy-mm-dd`. */
export function utcDay(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

/** Seconds from an instant to the next 00:00 UTC (at least 1). */
export function secondsUntilUtcMidnight(epochMs: number): number {
  const nextDay = (Math.floor(epochMs / DAY_MS) + 1) * DAY_MS;
  return Math.max(1, Math.ceil((nextDay - epochMs) / 1000));
}

/** The key of an app's counter for a day. */
export function usageKey(app: string, day: string): string {
  return `APP#${app}#${day}`;
}

export class TokenBudget {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #now: () => number;

  constructor(doc: DynamoDBDocumentClient, tableName: string, options: TokenBudgetOptions = {}) {
    this.#doc = doc;
    this.#table = tableName;
    this.#now = options.now ?? Date.now;
  }

  /** Tokens the app has spent today (UTC), as counted so far. */
  async used(app: string): Promise<number> {
    const { Item: item } = await this.#doc.send(
      new GetCommand({
        TableName: this.#table,
        Key: { pk: usageKey(app, utcDay(this.#now())) },
        ProjectionExpression: '#tokens',
        ExpressionAttributeNames: { '#tokens': 'tokens' },
        ConsistentRead: true,
      }),
    );
    const tokens = Number(item?.tokens ?? 0);
    return Number.isFinite(tokens) ? tokens : 0;
  }

  /** Tokens the app may still spend today (at least 0), or `null` when it has no limit (nothing is read). */
  async remaining(app: string, allowance: TokenAllowance | null): Promise<number | null> {
    const limit = allowance?.tokensPerDay ?? null;
    if (limit === null) return null;
    if (limit === 0) return 0;
    return Math.max(0, limit - (await this.used(app)));
  }

  /**
   * Refuses a call when the app has spent its budget for today. An allowance of `null` (an
   * administrator) or a `tokensPerDay` of `null` is never refused and reads nothing.
   * @throws TokenBudgetExceededError (429 `token_budget_exceeded`) with the seconds until 00:00 UTC.
   */
  async assertWithinBudget(app: string, allowance: TokenAllowance | null): Promise<void> {
    const limit = allowance?.tokensPerDay ?? null;
    if (limit === null) return;
    const used = limit === 0 ? 0 : await this.used(app);
    if (used < limit) return;
    const now = this.#now();
    metrics.addMetric('TokenBudgetRefusals', 'Count', 1);
    throw new TokenBudgetExceededError(
      `app ${JSON.stringify(app)} has spent its daily token budget (tokensPerDay ${limit.toLocaleString('en-US')}; ${used.toLocaleString('en-US')} used on ${utcDay(now)}); it renews at 00:00 UTC`,
      secondsUntilUtcMidnight(now),
    );
  }

  /**
   * Adds what a call spent to the app's count for today and returns the new count. Never throws: the
   * answer it accounts for has been given already, so a failed write is logged and counted
   * (`TokenUsageWriteFailures`) and `undefined` is returned. Nothing is written for 0 tokens.
   */
  async consume(app: string, tokens: number): Promise<number | undefined> {
    if (!Number.isFinite(tokens) || tokens <= 0) return undefined;
    const now = this.#now();
    const day = utcDay(now);
    const dayStart = Math.floor(now / DAY_MS) * DAY_MS;
    try {
      const { Attributes: attributes } = await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: usageKey(app, day) },
          UpdateExpression: 'ADD #tokens :tokens SET #app = :app, #day = :day, #ttl = :ttl',
          ExpressionAttributeNames: {
            '#tokens': 'tokens',
            '#app': 'app',
            '#day': 'day',
            '#ttl': USAGE_TTL_ATTRIBUTE,
          },
          ExpressionAttributeValues: {
            ':tokens': Math.ceil(tokens),
            ':app': app,
            ':day': day,
            ':ttl': Math.floor(dayStart / 1000) + USAGE_TTL_SECONDS,
          },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return Number(attributes?.tokens);
    } catch (error) {
      logger.warn('Token usage could not be counted', { error, app, tokens });
      metrics.addMetric('TokenUsageWriteFailures', 'Count', 1);
      return undefined;
    }
  }
}
