/**
 * What every DynamoDB store of the project does the same way: items written as plain JSON values
 * (undefined fields dropped, whatever the document client's marshalling options), the storage
 * attributes (keys, index keys, item type) kept out of what a store returns, a failed condition told
 * apart from every other error (a throttled write is never mistaken for one), and a put that creates an
 * item only once.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';

/** The attributes the project tables use for keys, index keys and the item's kind. */
const STORAGE_ATTRIBUTES = new Set(['pk', 'sk', 'gsi1pk', 'gsi1sk', 'type']);

/** Drops undefined fields: an item as plain JSON values. */
export const defined = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** The item without its storage attributes. */
export function withoutStorageAttributes<T>(item: Record<string, unknown>): T {
  return Object.fromEntries(Object.entries(item).filter(([name]) => !STORAGE_ATTRIBUTES.has(name))) as T;
}

/** Whether a write failed its condition (and nothing else). */
export function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as { name?: string } | null)?.name === 'ConditionalCheckFailedException'
  );
}

/**
 * Puts an item unless its key is taken: `created`, or `exists` when an item with that key was there (it
 * is left as it was). What a redelivered event's write comes to; any other error is thrown as it is.
 */
export async function putIfAbsent(
  doc: DynamoDBDocumentClient,
  table: string,
  item: Record<string, unknown>,
): Promise<'created' | 'exists'> {
  try {
    await doc.send(
      new PutCommand({ TableName: table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }),
    );
    return 'created';
  } catch (error) {
    if (isConditionFailure(error)) return 'exists';
    throw error;
  }
}
