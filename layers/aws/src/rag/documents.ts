/**
 * The RAG document status table: one item per document (`pk = doc#<docId>`), moved through
 * `queued → chunked → embedded → indexed`, or to `failed` with the reason, or `deleted`. The API reads it
 * for progress; the pipeline reads it to skip documents whose content did not change.
 *
 * Every transition is a conditional write on the document's current `version`, so a run that was
 * overtaken by a newer version of the same document cannot overwrite it. S3 events carry a `sequencer`
 * that orders the writes of one key; a claim only succeeds when its sequencer is not older than the one
 * recorded, so an out-of-order redelivery of an older upload changes nothing.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  type CursorKey,
  decodeCursor,
  encodeCursor,
  exactKey,
  PARTITION_KEY_MAX_BYTES,
  SORT_KEY_MAX_BYTES,
  withCursor,
} from '../cursor.ts';

export const DOCUMENT_STATUSES = ['queued', 'chunked', 'embedded', 'indexed', 'failed', 'deleted'] as const;
export type DocumentStatus = (typeof DOCUMENT_STATUSES)[number];

/** Name of the table's index by collection (`gsi1pk` = collection, `gsi1sk` = document id). */
export const DOCUMENTS_COLLECTION_INDEX = 'gsi1';

export interface DocumentItem {
  readonly docId: string;
  /** `upload` for files under `raw/rag/`, `dataset:<name>` for the records of a curated dataset. */
  readonly collection: string;
  readonly status: DocumentStatus;
  /** Content hash of the version being (or last) processed. */
  readonly version: string;
  /** The version whose chunks are in the store (absent until one is indexed, and after a deletion). */
  readonly indexedVersion?: string;
  /** Chunks of `indexedVersion` in the store. */
  readonly chunkCount: number;
  /**
   * The most chunks any write of this document may have left in the store (a write interrupted half-way
   * leaves more than `chunkCount`): what a store keyed by chunk id must clean up to.
   */
  readonly maxChunkCount?: number;
  readonly title?: string;
  readonly source?: string;
  readonly format?: string;
  readonly embeddingModelId?: string;
  /** Why the document failed (status `failed`). */
  readonly reason?: string;
  readonly runId: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface ClaimRequest {
  readonly docId: string;
  readonly version: string;
  readonly collection: string;
  readonly runId: string;
  readonly embeddingModelId: string;
  readonly title?: string;
  readonly source?: string;
  readonly format?: string;
  /** The S3 event's sequencer (hex); orders the writes of one key. */
  readonly sequencer?: string;
  readonly now: Date;
}

/** `claimed`: this run processes the version; `unchanged`: already indexed; `stale`: a newer event won. */
export type ClaimOutcome = 'claimed' | 'unchanged' | 'stale';

export interface DocumentPage {
  readonly documents: DocumentItem[];
  /** Pass back as `cursor` for the next page; absent on the last page. */
  readonly nextCursor?: string;
}

/** Sequencers are hex strings of varying length: left-padded, they compare as strings. */
export function orderableSequencer(sequencer: string): string {
  return sequencer.toUpperCase().padStart(40, '0');
}

const pk = (docId: string) => `doc#${docId}`;

const DOC_PK = { maxBytes: PARTITION_KEY_MAX_BYTES, prefix: 'doc#' };

/**
 * The cursor of a listing: by collection, the index key (`pk`, `gsi1pk` = the collection, `gsi1sk` = the
 * document id of `pk`); of the whole table, the table key (`pk`), or the index key of any collection as
 * a scan may report it. Bound to the listing's collection and status filter.
 */
function cursorSpec(options: { collection?: string; status?: DocumentStatus }) {
  const { collection, status } = options;
  const indexKey = (key: Readonly<Record<string, unknown>>, gsi1pk?: string): CursorKey | undefined => {
    const exact = exactKey(key, {
      pk: DOC_PK,
      gsi1pk: { maxBytes: PARTITION_KEY_MAX_BYTES, ...(gsi1pk !== undefined ? { equals: gsi1pk } : {}) },
      gsi1sk: { maxBytes: SORT_KEY_MAX_BYTES },
    });
    return exact !== undefined && exact.pk === `doc#${exact.gsi1sk}` ? exact : undefined;
  };
  return {
    listing: 'rag-documents',
    query: { collection, status },
    field: 'query.nextToken',
    key: (key: Readonly<Record<string, unknown>>) =>
      collection !== undefined ? indexKey(key, collection) : (exactKey(key, { pk: DOC_PK }) ?? indexKey(key)),
  };
}

function toItem(raw: Record<string, unknown>): DocumentItem {
  const { pk: _pk, gsi1pk: _g1, gsi1sk: _g2, sequencer: _s, ...rest } = raw;
  return rest as unknown as DocumentItem;
}

export class DocumentTable {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(docId: string): Promise<DocumentItem | undefined> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: pk(docId) }, ConsistentRead: true }),
    );
    return result.Item ? toItem(result.Item) : undefined;
  }

  /**
   * Claims a document version for this run (status `queued`), unless that version is already indexed
   * with the same embedding model (`unchanged`) or a newer S3 event already claimed the key (`stale`).
   */
  async claim(request: ClaimRequest): Promise<ClaimOutcome> {
    const now = request.now.toISOString();
    const names: Record<string, string> = {
      '#status': 'status',
      '#version': 'version',
      '#collection': 'collection',
    };
    const values: Record<string, unknown> = {
      ':queued': 'queued',
      ':version': request.version,
      ':collection': request.collection,
      ':runId': request.runId,
      ':model': request.embeddingModelId,
      ':now': now,
      ':docId': request.docId,
      ':zero': 0,
    };
    const sets = [
      'docId = :docId',
      '#status = :queued',
      '#version = :version',
      '#collection = :collection',
      'gsi1pk = :collection',
      'gsi1sk = :docId',
      'runId = :runId',
      'embeddingModelId = :model',
      'updatedAt = :now',
      'createdAt = if_not_exists(createdAt, :now)',
      'chunkCount = if_not_exists(chunkCount, :zero)',
    ];
    const removes = ['reason'];
    for (const field of ['title', 'source', 'format'] as const) {
      const value = request[field];
      if (value !== undefined) {
        sets.push(`#${field} = :${field}`);
        names[`#${field}`] = field;
        values[`:${field}`] = value;
      } else {
        removes.push(`#${field}`);
        names[`#${field}`] = field;
      }
    }
    // One conditional write decides: it claims unless this version is already indexed with this model or
    // a newer S3 event claimed the key; only when it does not claim is the item read, to say which.
    names['#indexedVersion'] = 'indexedVersion';
    names['#model'] = 'embeddingModelId';
    values[':indexed'] = 'indexed';
    let condition = 'NOT (#status = :indexed AND #indexedVersion = :version AND #model = :model)';
    if (request.sequencer !== undefined) {
      names['#seq'] = 'sequencer';
      sets.push('#seq = :seq');
      values[':seq'] = orderableSequencer(request.sequencer);
      condition = `(${condition}) AND (attribute_not_exists(#seq) OR #seq <= :seq)`;
    }
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: pk(request.docId) },
          UpdateExpression: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return 'claimed';
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    const current = await this.get(request.docId);
    return current?.status === 'indexed' &&
      current.indexedVersion === request.version &&
      current.embeddingModelId === request.embeddingModelId
      ? 'unchanged'
      : 'stale';
  }

  /**
   * Moves the document to `status` if `version` is still its current version; false when a newer version
   * took over (the caller then leaves the document alone). With `chunkCount` (Embed, which knows how many
   * chunks Index will write), the same write raises `maxChunkCount` to it, as {@link noteChunkWrite} does,
   * so that Index need not.
   */
  async advance(
    docId: string,
    version: string,
    status: 'chunked' | 'embedded',
    now: Date,
    chunkCount?: number,
  ): Promise<boolean> {
    const values = { ':status': status, ':now': now.toISOString() };
    if (
      chunkCount !== undefined &&
      (await this.update(
        docId,
        version,
        'SET #status = :status, updatedAt = :now, maxChunkCount = :n',
        { ...values, ':n': chunkCount },
        '(attribute_not_exists(maxChunkCount) OR maxChunkCount <= :n)',
      ))
    ) {
      return true;
    }
    // Without a count, or with a recorded maximum above it (which stays): the status alone.
    return this.update(docId, version, 'SET #status = :status, updatedAt = :now', values);
  }

  /**
   * Before a write of `chunkCount` chunks: raises `maxChunkCount` to it (never lowers it). `current`, the
   * item as just read, saves the write when it already records at least that many (the raise would change
   * nothing), e.g. when the document advanced to `embedded` with its chunk count.
   */
  async noteChunkWrite(
    docId: string,
    chunkCount: number,
    current?: Pick<DocumentItem, 'maxChunkCount'>,
  ): Promise<void> {
    if (current?.maxChunkCount !== undefined && current.maxChunkCount >= chunkCount) return;
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: pk(docId) },
          UpdateExpression: 'SET maxChunkCount = :n',
          ConditionExpression:
            'attribute_exists(pk) AND (attribute_not_exists(maxChunkCount) OR maxChunkCount < :n)',
          ExpressionAttributeValues: { ':n': chunkCount },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /** The version is searchable: records its chunk count (the store holds exactly these chunks now). */
  async markIndexed(docId: string, version: string, chunkCount: number, now: Date): Promise<boolean> {
    return this.update(
      docId,
      version,
      'SET #status = :status, indexedVersion = :version, chunkCount = :count, maxChunkCount = :count, updatedAt = :now REMOVE reason',
      { ':status': 'indexed', ':count': chunkCount, ':now': now.toISOString() },
    );
  }

  /**
   * The version failed; whatever version was indexed before stays searchable (and recorded). A version
   * that already reached `indexed` stays indexed (returns false). The reason is stored as
   * `<code>: <message>` (the API returns it): a code and a message that are safe to show, never an error's
   * own text (see `failureOf` in `reporter.ts`).
   */
  async markFailed(
    docId: string,
    version: string,
    failure: { readonly code: string; readonly message: string },
    now: Date,
  ): Promise<boolean> {
    return this.update(
      docId,
      version,
      'SET #status = :status, reason = :reason, updatedAt = :now',
      {
        ':status': 'failed',
        ':reason': `${failure.code}: ${failure.message}`.slice(0, 2000),
        ':now': now.toISOString(),
        ':indexed': 'indexed',
      },
      '#status <> :indexed',
    );
  }

  /**
   * Records that the document's source is gone (its chunks were removed). With a sequencer, an older
   * event than the one recorded changes nothing (returns false).
   */
  async markDeleted(
    docId: string,
    options: { runId: string; now: Date; sequencer?: string; collection?: string },
  ): Promise<boolean> {
    const now = options.now.toISOString();
    const values: Record<string, unknown> = {
      ':status': 'deleted',
      ':now': now,
      ':zero': 0,
      ':runId': options.runId,
      ':docId': docId,
      ':version': 'deleted',
      ':collection': options.collection ?? 'upload',
    };
    const sets = [
      'docId = :docId',
      '#status = :status',
      '#version = :version',
      'chunkCount = :zero',
      'runId = :runId',
      'updatedAt = :now',
      'createdAt = if_not_exists(createdAt, :now)',
      '#collection = if_not_exists(#collection, :collection)',
      'gsi1pk = if_not_exists(gsi1pk, :collection)',
      'gsi1sk = :docId',
    ];
    const names: Record<string, string> = {
      '#status': 'status',
      '#version': 'version',
      '#collection': 'collection',
    };
    let condition: string | undefined;
    if (options.sequencer !== undefined) {
      names['#seq'] = 'sequencer';
      values[':seq'] = orderableSequencer(options.sequencer);
      sets.push('#seq = :seq');
      condition = 'attribute_not_exists(#seq) OR #seq <= :seq';
    }
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: pk(docId) },
          UpdateExpression: `SET ${sets.join(', ')} REMOVE indexedVersion, reason`,
          ...(condition ? { ConditionExpression: condition } : {}),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Documents, newest key order not guaranteed: by collection (an index query) or all (a scan). */
  async list(options: {
    collection?: string;
    status?: DocumentStatus;
    limit: number;
    cursor?: string;
  }): Promise<DocumentPage> {
    const spec = cursorSpec(options);
    const startKey = options.cursor !== undefined ? decodeCursor(spec, options.cursor) : undefined;
    const filter =
      options.status !== undefined
        ? {
            FilterExpression: '#status = :status',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':status': options.status } as Record<string, unknown>,
          }
        : {};
    const result = await withCursor(spec.field, options.cursor, () =>
      options.collection !== undefined
        ? this.client.send(
            new QueryCommand({
              TableName: this.tableName,
              IndexName: DOCUMENTS_COLLECTION_INDEX,
              KeyConditionExpression: 'gsi1pk = :collection',
              Limit: options.limit,
              ExclusiveStartKey: startKey,
              ...filter,
              ExpressionAttributeValues: {
                ...(filter.ExpressionAttributeValues ?? {}),
                ':collection': options.collection,
              },
            }),
          )
        : this.client.send(
            new ScanCommand({
              TableName: this.tableName,
              Limit: options.limit,
              ExclusiveStartKey: startKey,
              ...filter,
            }),
          ),
    );
    const cursor = result.LastEvaluatedKey ? encodeCursor(spec, result.LastEvaluatedKey) : undefined;
    return {
      documents: (result.Items ?? []).map(toItem),
      ...(cursor !== undefined ? { nextCursor: cursor } : {}),
    };
  }

  /** Ids and chunk counts of every live (not deleted) document of a collection. */
  async liveDocuments(collection: string): Promise<{ docId: string; chunkCount: number }[]> {
    const out: { docId: string; chunkCount: number }[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.list({ collection, limit: 500, ...(cursor ? { cursor } : {}) });
      for (const doc of page.documents) {
        if (doc.status !== 'deleted') out.push({ docId: doc.docId, chunkCount: doc.chunkCount });
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return out;
  }

  private async update(
    docId: string,
    version: string,
    expression: string,
    values: Record<string, unknown>,
    extraCondition?: string,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: pk(docId) },
          UpdateExpression: expression,
          ConditionExpression: `#version = :version${extraCondition ? ` AND ${extraCondition}` : ''}`,
          ExpressionAttributeNames: { '#status': 'status', '#version': 'version' },
          ExpressionAttributeValues: { ...values, ':version': version },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
