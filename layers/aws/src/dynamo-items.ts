/**
 * What every DynamoDB store of the project does the same way: items written as plain JSON values
 * (undefined fields dropped, whatever the document client's marshalling options), the storage
 * attributes (keys, index keys, item type) kept out of what a store returns, and a failed condition
 * told apart from every other error (a throttled write is never mistaken for one).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

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
