import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type Backoff, makeBackoff } from '../backoff.ts';
import { TransientError } from '../errors.ts';

/**
 * Reads many items of one table by key, as the feedback stores need (interactions by id, verdicts behind
 * a prompt hash, exported record ids): BatchGetItem in chunks of {@link BATCH_GET_MAX_KEYS}, the keys
 * DynamoDB leaves unprocessed (throttling, the 16 MB response limit) asked again after the house backoff
 * (`../backoff.ts`). Keys still unprocessed after its last attempt fail the read with a `TransientError`:
 * a partial answer would read as "absent".
 */

/** Keys one BatchGetItem request may name. */
export const BATCH_GET_MAX_KEYS = 100;

/** Attempts per chunk, and the wait between them. @default 4 attempts, 100 ms doubling up to 2 s */
export const defaultBatchBackoff = (): Backoff =>
  makeBackoff({ maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 2000 });

export type ItemKey = Readonly<Record<string, string>>;

export interface BatchGetOptions {
  readonly backoff: Backoff;
  /** Strongly consistent reads. @default true */
  readonly consistent?: boolean;
  /** Only these attributes (a ProjectionExpression of plain names). @default all */
  readonly attributes?: readonly string[];
}

/**
 * The items found for `keys` (absent ones left out), in no particular order. Keys must be distinct:
 * DynamoDB refuses a request that names one twice.
 */
export async function batchGetItems(
  doc: DynamoDBDocumentClient,
  table: string,
  keys: readonly ItemKey[],
  options: BatchGetOptions,
): Promise<Record<string, unknown>[]> {
  const found: Record<string, unknown>[] = [];
  const projection =
    options.attributes === undefined
      ? {}
      : {
          ProjectionExpression: options.attributes.map((_, i) => `#a${i}`).join(', '),
          ExpressionAttributeNames: Object.fromEntries(options.attributes.map((name, i) => [`#a${i}`, name])),
        };
  for (let i = 0; i < keys.length; i += BATCH_GET_MAX_KEYS) {
    let pending: readonly ItemKey[] = keys.slice(i, i + BATCH_GET_MAX_KEYS);
    for (let attempt = 1; ; attempt++) {
      const { Responses: responses, UnprocessedKeys: unprocessed } = await doc.send(
        new BatchGetCommand({
          RequestItems: {
            [table]: { Keys: [...pending], ConsistentRead: options.consistent ?? true, ...projection },
          },
        }),
      );
      found.push(...(responses?.[table] ?? []));
      pending = (unprocessed?.[table]?.Keys ?? []) as ItemKey[];
      if (pending.length === 0) break;
      if (attempt >= options.backoff.maxAttempts) {
        throw new TransientError(
          `DynamoDB left ${pending.length} key(s) of table ${table} unprocessed after ${attempt} attempts; retry later`,
        );
      }
      await options.backoff.sleep(attempt);
    }
  }
  return found;
}
