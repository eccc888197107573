import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { FEEDBACK_USER, INTERACTION_ID, type StoredFeedback } from '#contracts/feedback/feedback.ts';
import type { Backoff } from '../backoff.ts';
import {
  type CursorKey,
  type CursorSpec,
  decodeCursor,
  encodeCursor,
  exactKey,
  PARTITION_KEY_MAX_BYTES,
  SORT_KEY_MAX_BYTES,
  withCursor,
} from '../cursor.ts';
import { defined, isConditionFailure, withoutStorageAttributes } from '../dynamo-items.ts';
import { ValidationError } from '../errors.ts';
import { batchGetItems, defaultBatchBackoff, type ItemKey } from './batch-get.ts';
import type { ExportedFeedback, FeedbackPage, FeedbackStore } from './stores.ts';

/**
 * People's verdicts on interactions, on DynamoDB: the house project table (string `pk`/`sk`) and its
 * index named by the `index` option (`gsi1pk`/`gsi1sk`, all attributes projected; {@link FEEDBACK_INDEX}
 * unless told otherwise).
 *
 * | item | pk | sk | gsi1pk / gsi1sk | attributes |
 * |---|---|---|---|---|
 * | verdict | `FEEDBACK#<interactionId>` | `USER#<user>` | while pending: `PENDING` / `<updatedAt ISO>#<interactionId>#<user>` | the {@link StoredFeedback} |
 * | prompt hash entry | `PROMPTHASH#<promptHash>` | `<interactionId>#<user>` | | interactionId, user |
 * | exported record | `EXPORTED#<recordId>` | `EXPORT` | | recordId, exportId, exportedAt |
 *
 * Every item also carries `type` (its kind); `pk`, `sk`, `gsi1pk`, `gsi1sk` and `type` never leave the
 * store. Interaction ids and users cannot hold `#` (`INTERACTION_ID`, `FEEDBACK_USER`), so the composite
 * keys read back unambiguously.
 *
 * - **Pending** verdicts (written or changed since an export used them) are the index partition
 *   `PENDING`, oldest change first. One partition, not shards: feedback is people clicking a button, a
 *   few writes a second at the very most, far below what one index partition takes (1,000 writes a
 *   second), and it drains as exports use it, so reading it stays one ordered query with a plain
 *   cursor. Should feedback ever come from machines at that rate, shard it (`PENDING#<n>`) and merge
 *   the shards' pages in `pending`.
 * - **Siblings by prompt hash** (the answers a preference pair is made of): an entry per verdict under
 *   its interaction's prompt hash, which points at the verdict rather than copying it; `byPromptHash`
 *   reads the verdicts behind the entries (BatchGetItem), so it always returns them as they are now.
 *   An interaction's hash never changes, so an entry never goes stale: it is written (idempotently)
 *   before its verdict, and one whose verdict write then failed points at nothing and is skipped.
 * - **Exports**: each record id an export wrote is put once (`attribute_not_exists(pk)`: a second
 *   export of the same id leaves the first as it was), then each verdict it used leaves the pending
 *   partition with one update on the condition `updatedAt = <the version used>`, so a verdict changed
 *   while the export ran stays pending. Record ids go first: an export that stops between the two steps
 *   leaves its verdicts pending, and the next export rebuilds the same records (stable ids), finds them
 *   exported and only clears the verdicts.
 *
 * Writes are plain or conditional puts and conditional updates (no transactions), so the store behaves
 * the same on DynamoDB and on dynalite. Single-item reads are strongly consistent; the pending listing
 * reads the index, which is eventually consistent: a verdict may appear there at an older version, and
 * then simply stays pending after the export (its `updatedAt` no longer matches). Throttling and other
 * service errors pass through unchanged; the handlers' error mapping deals with them in one place.
 */

/** The table's index on `gsi1pk`/`gsi1sk`: the pending verdicts. */
export const FEEDBACK_INDEX = 'gsi1';

/** Pending verdicts listed per page at most. */
export const MAX_PENDING_PAGE = 1000;

export interface DynamoFeedbackStoreOptions {
  /** The index on `gsi1pk`/`gsi1sk` (projection ALL). @default FEEDBACK_INDEX */
  readonly index?: string;
  /** Clock of an exported record's `exportedAt`. @default () => new Date() */
  readonly now?: () => Date;
  /** Retries of the keys a batch read leaves unprocessed. @default 4 attempts from 100 ms, full jitter */
  readonly backoff?: Backoff;
}

type Item = Record<string, unknown>;

const FEEDBACK_PK_PREFIX = 'FEEDBACK#';
const USER_SK_PREFIX = 'USER#';
const PENDING_PK = 'PENDING';
const EXPORTED_PK_PREFIX = 'EXPORTED#';
const EXPORTED_SK = 'EXPORT';

const feedbackKey = (interactionId: string, user: string) => ({
  pk: `${FEEDBACK_PK_PREFIX}${interactionId}`,
  sk: `${USER_SK_PREFIX}${user}`,
});
const promptHashPk = (promptHash: string) => `PROMPTHASH#${promptHash}`;
const exportedKey = (recordId: string) => ({ pk: `${EXPORTED_PK_PREFIX}${recordId}`, sk: EXPORTED_SK });
const pendingSk = (f: Pick<StoredFeedback, 'updatedAt' | 'interactionId' | 'user'>) =>
  `${f.updatedAt}#${f.interactionId}#${f.user}`;

/** Writes this many items at a time. */
const WRITE_CONCURRENCY = 10;

const fitsKey = (value: string, maxBytes: number) =>
  value !== '' && Buffer.byteLength(value, 'utf8') <= maxBytes;

function assertVerdictKey(interactionId: string, user: string): void {
  if (!INTERACTION_ID.test(interactionId)) {
    throw new ValidationError('interactionId', 'must be 1-128 letters, digits, "_", ".", ":" or "-"');
  }
  if (!FEEDBACK_USER.test(user)) {
    throw new ValidationError('user', 'must be 1-128 letters, digits, ".", "_", "@", "+" or "-"');
  }
}

function assertPromptHash(promptHash: string): void {
  if (promptHash === '' || !fitsKey(promptHashPk(promptHash), PARTITION_KEY_MAX_BYTES)) {
    throw new ValidationError('promptHash', 'must be a non-empty hash of at most 2000 bytes');
  }
}

function assertInstant(field: string, value: string): void {
  if (Number.isNaN(Date.parse(value))) throw new ValidationError(field, 'must be an ISO 8601 date-time');
}

/** Runs `write` on every value, {@link WRITE_CONCURRENCY} at a time; the first failure is thrown. */
async function eachInBatches<T>(values: readonly T[], write: (value: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < values.length; i += WRITE_CONCURRENCY) {
    const settled = await Promise.allSettled(values.slice(i, i + WRITE_CONCURRENCY).map(write));
    for (const result of settled) if (result.status === 'rejected') throw result.reason;
  }
}

export class DynamoFeedbackStore implements FeedbackStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #index: string;
  readonly #now: () => Date;
  readonly #backoff: Backoff;

  constructor(
    documents: DynamoDBDocumentClient,
    tableName: string,
    options: DynamoFeedbackStoreOptions = {},
  ) {
    this.#doc = documents;
    this.#table = tableName;
    this.#index = options.index ?? FEEDBACK_INDEX;
    this.#now = options.now ?? (() => new Date());
    this.#backoff = options.backoff ?? defaultBatchBackoff();
  }

  async upsert(
    feedback: StoredFeedback,
  ): Promise<{ readonly created: boolean; readonly previous?: StoredFeedback }> {
    const { interactionId, user } = feedback;
    assertVerdictKey(interactionId, user);
    assertPromptHash(feedback.promptHash);
    assertInstant('updatedAt', feedback.updatedAt);
    // The entry first: a verdict is never stored without the way its siblings find it.
    await this.#doc.send(
      new PutCommand({
        TableName: this.#table,
        Item: {
          pk: promptHashPk(feedback.promptHash),
          sk: `${interactionId}#${user}`,
          type: 'FeedbackByPromptHash',
          interactionId,
          user,
        },
      }),
    );
    const { Attributes: old } = await this.#doc.send(
      new PutCommand({
        TableName: this.#table,
        Item: defined({
          ...feedback,
          type: 'Feedback',
          ...feedbackKey(interactionId, user),
          gsi1pk: PENDING_PK,
          gsi1sk: pendingSk(feedback),
        }),
        ReturnValues: 'ALL_OLD',
      }),
    );
    return old === undefined
      ? { created: true }
      : { created: false, previous: withoutStorageAttributes<StoredFeedback>(old) };
  }

  async get(interactionId: string, user: string): Promise<StoredFeedback | undefined> {
    if (!INTERACTION_ID.test(interactionId) || !FEEDBACK_USER.test(user)) return undefined;
    const { Item: item } = await this.#doc.send(
      new GetCommand({
        TableName: this.#table,
        Key: feedbackKey(interactionId, user),
        ConsistentRead: true,
      }),
    );
    return item === undefined ? undefined : withoutStorageAttributes<StoredFeedback>(item);
  }

  async pending(options: { readonly limit: number; readonly nextToken?: string }): Promise<FeedbackPage> {
    const { limit, nextToken } = options;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PENDING_PAGE) {
      throw new ValidationError('limit', `must be a whole number from 1 to ${MAX_PENDING_PAGE}`);
    }
    const spec = pendingCursor();
    const start = nextToken === undefined ? undefined : decodeCursor(spec, nextToken);
    const page = await withCursor('nextToken', nextToken, () =>
      this.#doc.send(
        new QueryCommand({
          TableName: this.#table,
          IndexName: this.#index,
          KeyConditionExpression: 'gsi1pk = :pending',
          ExpressionAttributeValues: { ':pending': PENDING_PK },
          ScanIndexForward: true,
          // One more than asked, so that the last page does not end with a token to an empty page.
          Limit: limit + 1,
          ExclusiveStartKey: start,
        }),
      ),
    );
    const found = page.Items ?? [];
    const shown = found.slice(0, limit);
    const last = shown[shown.length - 1];
    const lastKey =
      found.length > limit && last !== undefined
        ? { pk: last.pk, sk: last.sk, gsi1pk: last.gsi1pk, gsi1sk: last.gsi1sk }
        : page.LastEvaluatedKey;
    const items = shown.map((item) => withoutStorageAttributes<StoredFeedback>(item));
    return lastKey === undefined ? { items } : { items, nextToken: encodeCursor(spec, lastKey) };
  }

  async byPromptHash(promptHash: string): Promise<StoredFeedback[]> {
    assertPromptHash(promptHash);
    const keys: ItemKey[] = [];
    let start: Item | undefined;
    do {
      const page = await this.#doc.send(
        new QueryCommand({
          TableName: this.#table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': promptHashPk(promptHash) },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const entry of page.Items ?? []) {
        keys.push(feedbackKey(String(entry.interactionId), String(entry.user)));
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    const items = await batchGetItems(this.#doc, this.#table, keys, { backoff: this.#backoff });
    return items
      .map((item) => withoutStorageAttributes<StoredFeedback>(item))
      .sort((a, b) => compare(a.interactionId, b.interactionId) || compare(a.user, b.user));
  }

  async exportedIds(recordIds: readonly string[]): Promise<Set<string>> {
    const ids = [...new Set(recordIds)];
    for (const id of ids) assertRecordId(id);
    const items = await batchGetItems(this.#doc, this.#table, ids.map(exportedKey), {
      backoff: this.#backoff,
      attributes: ['recordId'],
    });
    return new Set(items.map((item) => String(item.recordId)));
  }

  async markExported(
    exportId: string,
    recordIds: readonly string[],
    used: readonly ExportedFeedback[],
  ): Promise<void> {
    if (exportId === '') throw new ValidationError('exportId', 'must not be empty');
    const ids = [...new Set(recordIds)];
    for (const id of ids) assertRecordId(id);
    for (const verdict of used) {
      assertVerdictKey(verdict.interactionId, verdict.user);
      assertInstant('updatedAt', verdict.updatedAt);
    }
    const exportedAt = this.#now().toISOString();
    await eachInBatches(ids, async (recordId) => {
      try {
        await this.#doc.send(
          new PutCommand({
            TableName: this.#table,
            Item: { ...exportedKey(recordId), type: 'ExportedRecord', recordId, exportId, exportedAt },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
      } catch (error) {
        // Written by an earlier export: that one stands.
        if (!isConditionFailure(error)) throw error;
      }
    });
    await eachInBatches(used, async (verdict) => {
      try {
        await this.#doc.send(
          new UpdateCommand({
            TableName: this.#table,
            Key: feedbackKey(verdict.interactionId, verdict.user),
            UpdateExpression: 'REMOVE gsi1pk, gsi1sk',
            ConditionExpression: 'updatedAt = :used',
            ExpressionAttributeValues: { ':used': verdict.updatedAt },
          }),
        );
      } catch (error) {
        // Changed since the export read it (or gone): it stays as it is, pending if it was.
        if (!isConditionFailure(error)) throw error;
      }
    });
  }
}

function assertRecordId(recordId: string): void {
  if (recordId === '' || !fitsKey(exportedKey(recordId).pk, PARTITION_KEY_MAX_BYTES)) {
    throw new ValidationError('recordIds', 'each must be a non-empty id of at most 2000 bytes');
  }
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The pending listing ends at a pending verdict in the index: the table key (`FEEDBACK#<interactionId>`,
 * `USER#<user>`) and the index key (`PENDING`, `<updatedAt ISO>#<interactionId>#<user>`) of one and the
 * same verdict.
 */
function pendingCursor(): CursorSpec {
  return {
    listing: 'feedback-pending',
    query: {},
    field: 'nextToken',
    key: (key): CursorKey | undefined => {
      const exact = exactKey(key, {
        pk: { maxBytes: PARTITION_KEY_MAX_BYTES, prefix: FEEDBACK_PK_PREFIX },
        sk: { maxBytes: SORT_KEY_MAX_BYTES, prefix: USER_SK_PREFIX },
        gsi1pk: { maxBytes: PARTITION_KEY_MAX_BYTES, equals: PENDING_PK },
        gsi1sk: { maxBytes: SORT_KEY_MAX_BYTES },
      });
      if (exact === undefined) return undefined;
      const interactionId = (exact.pk as string).slice(FEEDBACK_PK_PREFIX.length);
      const user = (exact.sk as string).slice(USER_SK_PREFIX.length);
      if (!INTERACTION_ID.test(interactionId) || !FEEDBACK_USER.test(user)) return undefined;
      const sortKey = exact.gsi1sk as string;
      const suffix = `#${interactionId}#${user}`;
      if (!sortKey.endsWith(suffix)) return undefined;
      return Number.isNaN(Date.parse(sortKey.slice(0, -suffix.length))) ? undefined : exact;
    },
  };
}
