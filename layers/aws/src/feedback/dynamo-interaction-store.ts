import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { StoredInteraction } from '#contracts/feedback/feedback.ts';
import type { Backoff } from '../backoff.ts';
import { PARTITION_KEY_MAX_BYTES } from '../cursor.ts';
import { defined, withoutStorageAttributes } from '../dynamo-items.ts';
import { batchGetItems, defaultBatchBackoff } from './batch-get.ts';
import type { InteractionStore } from './stores.ts';

/**
 * The interactions open to feedback, on DynamoDB: a table with a string partition key `pk` only, and
 * time to live on {@link INTERACTION_TTL_ATTRIBUTE}.
 *
 * | item | pk | attributes |
 * |---|---|---|
 * | interaction | `<interactionId>` | the {@link StoredInteraction}, `type` |
 *
 * DynamoDB deletes an expired item up to a few days after its `expiresAt`, so a read compares
 * `expiresAt` with the store's clock and treats a passed one as gone: feedback on it is a 404 on the
 * day the profile says, not whenever the deletion happens. Reads are strongly consistent (a streamed
 * answer reaches its caller before the gateway has kept it, and feedback may follow at once).
 * Throttling and other service errors pass through unchanged.
 */

/** The table's time-to-live attribute (epoch seconds), which the stack's table names. */
export const INTERACTION_TTL_ATTRIBUTE = 'expiresAt';

export interface DynamoInteractionStoreOptions {
  /** Clock that decides whether an interaction has expired. @default () => new Date() */
  readonly now?: () => Date;
  /** Retries of the keys a batch read leaves unprocessed. @default 4 attempts from 100 ms, full jitter */
  readonly backoff?: Backoff;
}

/** An id that can be a key (non-empty, within DynamoDB's key size): any other was never kept. */
const isKeyable = (id: string) => id !== '' && Buffer.byteLength(id, 'utf8') <= PARTITION_KEY_MAX_BYTES;

export class DynamoInteractionStore implements InteractionStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #now: () => Date;
  readonly #backoff: Backoff;

  constructor(
    documents: DynamoDBDocumentClient,
    tableName: string,
    options: DynamoInteractionStoreOptions = {},
  ) {
    this.#doc = documents;
    this.#table = tableName;
    this.#now = options.now ?? (() => new Date());
    this.#backoff = options.backoff ?? defaultBatchBackoff();
  }

  async put(record: StoredInteraction): Promise<void> {
    await this.#doc.send(
      new PutCommand({
        TableName: this.#table,
        Item: defined({ ...record, type: 'Interaction', pk: record.interactionId }),
      }),
    );
  }

  async get(interactionId: string): Promise<StoredInteraction | undefined> {
    if (!isKeyable(interactionId)) return undefined;
    const { Item: item } = await this.#doc.send(
      new GetCommand({ TableName: this.#table, Key: { pk: interactionId }, ConsistentRead: true }),
    );
    return item === undefined ? undefined : this.#live(item);
  }

  async getMany(interactionIds: readonly string[]): Promise<Map<string, StoredInteraction>> {
    const ids = [...new Set(interactionIds)].filter(isKeyable);
    const items = await batchGetItems(
      this.#doc,
      this.#table,
      ids.map((pk) => ({ pk })),
      { backoff: this.#backoff },
    );
    const found = new Map<string, StoredInteraction>();
    for (const item of items) {
      const interaction = this.#live(item);
      if (interaction !== undefined) found.set(interaction.interactionId, interaction);
    }
    return found;
  }

  /** The item as an interaction, or undefined once its `expiresAt` has passed. */
  #live(item: Record<string, unknown>): StoredInteraction | undefined {
    const expiresAt = item[INTERACTION_TTL_ATTRIBUTE];
    if (typeof expiresAt !== 'number' || expiresAt * 1000 <= this.#now().getTime()) return undefined;
    return withoutStorageAttributes<StoredInteraction>(item);
  }
}
