import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { defined, isConditionFailure } from './dynamo-items.ts';
import { ConflictError, TransientError } from './errors.ts';

/**
 * The dataset registry: one DynamoDB table, keys `pk`/`sk`, GSI `gsi1` (`gsi1pk`/`gsi1sk`).
 *
 * | item | pk | sk |
 * |---|---|---|
 * | source claim (one per S3 object version) | `SOURCE#<bucket>/<key>` | `V#<versionId or etag>` |
 * | version counter of a dataset | `DATASET#<purpose>#<name>` | `#COUNTER` |
 * | immutable dataset version | `DATASET#<purpose>#<name>` | `VERSION#<000001>` (gsi1: `PURPOSE#<purpose>` / `<name>#<000001>`) |
 *
 * Written only with conditional puts and atomic counters (no transactions), so it behaves the same on
 * DynamoDB and on local emulators. A claim makes a redelivered S3 event a no-op; a version item is
 * written once and never changed.
 */
export interface SourceKey {
  readonly bucket: string;
  readonly key: string;
  readonly versionId?: string | undefined;
  readonly etag: string;
}

export type ClaimResult =
  | { readonly status: 'NEW'; readonly version: number }
  | {
      readonly status: 'DUPLICATE';
      readonly version: number;
      readonly state: 'REGISTERED' | 'IN_PROGRESS';
      readonly runId: string;
    };

export interface DatasetVersionItem {
  readonly name: string;
  readonly purpose: string;
  readonly version: number;
  readonly runId: string;
  readonly createdAt: string;
  readonly manifest: { bucket: string; key: string };
  readonly files: Record<string, { bucket: string; key: string }>;
  readonly counts: Record<string, unknown>;
  readonly contentHash: string;
  readonly source: SourceKey;
}

const pad = (version: number) => String(version).padStart(6, '0');
const datasetPk = (purpose: string, name: string) => `DATASET#${purpose}#${name}`;
const sourcePk = (s: SourceKey) => `SOURCE#${s.bucket}/${s.key}`;
const sourceSk = (s: SourceKey) => (s.versionId ? `V#${s.versionId}` : `E#${s.etag}`);

export class DatasetRegistry {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    /** How long an unfinished claim blocks a redelivery before a new run may take it over. */
    private readonly leaseMs = 3 * 60 * 60 * 1000,
  ) {}

  /**
   * Claims an S3 object version for a run. The first claim allocates the next version number of the
   * dataset; a redelivery of the same object version returns DUPLICATE (registered, or still in
   * progress within the lease). An expired claim (its run died) is taken over with the same version.
   */
  async claimSource(
    source: SourceKey,
    dataset: { name: string; purpose: string },
    runId: string,
    now = new Date(),
  ): Promise<ClaimResult> {
    const key = { pk: sourcePk(source), sk: sourceSk(source) };
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = (
        await this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }))
      ).Item;
      if (existing) {
        const version = Number(existing.version);
        if (existing.state === 'REGISTERED') {
          return { status: 'DUPLICATE', version, state: 'REGISTERED', runId: String(existing.runId) };
        }
        const claimedAt = Date.parse(String(existing.claimedAt));
        if (existing.runId === runId && existing.state === 'PENDING') return { status: 'NEW', version };
        if (existing.state === 'PENDING' && now.getTime() - claimedAt < this.leaseMs) {
          return { status: 'DUPLICATE', version, state: 'IN_PROGRESS', runId: String(existing.runId) };
        }
        // A FAILED claim (its run released it) or an expired one (its run died) is taken over.
        try {
          await this.doc.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: key,
              UpdateExpression: 'SET runId = :run, claimedAt = :now, #state = :pending',
              ConditionExpression: 'claimedAt = :old AND #state = :seen',
              ExpressionAttributeNames: { '#state': 'state' },
              ExpressionAttributeValues: {
                ':run': runId,
                ':now': now.toISOString(),
                ':old': existing.claimedAt,
                ':seen': existing.state,
                ':pending': 'PENDING',
              },
            }),
          );
          return { status: 'NEW', version };
        } catch (error) {
          if (isConditionFailure(error)) continue;
          throw error;
        }
      }
      const version = await this.#nextVersion(dataset);
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              ...key,
              type: 'SourceClaim',
              state: 'PENDING',
              runId,
              claimedAt: now.toISOString(),
              dataset: dataset.name,
              purpose: dataset.purpose,
              version,
              etag: source.etag,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
        return { status: 'NEW', version };
      } catch (error) {
        // A concurrent delivery of the same object won: loop and report it as a duplicate. The version
        // number this attempt allocated stays unused (versions are increasing, not necessarily dense).
        if (isConditionFailure(error)) continue;
        throw error;
      }
    }
    throw new TransientError(
      `Could not claim s3://${source.bucket}/${source.key}: too many concurrent claims`,
    );
  }

  async #nextVersion(dataset: { name: string; purpose: string }): Promise<number> {
    const result = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: datasetPk(dataset.purpose, dataset.name), sk: '#COUNTER' },
        UpdateExpression: 'ADD latestVersion :one SET #type = :type',
        ExpressionAttributeNames: { '#type': 'type' },
        ExpressionAttributeValues: { ':one': 1, ':type': 'VersionCounter' },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(result.Attributes?.latestVersion);
  }

  /**
   * Writes an immutable dataset version, then marks its source claim registered. Idempotent: writing
   * the same version again from the same run succeeds without change; a different content under an
   * existing version number is a ConflictError.
   */
  async registerVersion(item: DatasetVersionItem): Promise<'created' | 'unchanged'> {
    let outcome: 'created' | 'unchanged' = 'created';
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: defined({
            pk: datasetPk(item.purpose, item.name),
            sk: `VERSION#${pad(item.version)}`,
            gsi1pk: `PURPOSE#${item.purpose}`,
            gsi1sk: `${item.name}#${pad(item.version)}`,
            type: 'DatasetVersion',
            ...item,
          }),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const existing = await this.getVersion(item.purpose, item.name, item.version);
      if (existing?.contentHash !== item.contentHash || existing.source.etag !== item.source.etag) {
        throw new ConflictError(
          `Dataset ${item.purpose}/${item.name} v${item.version} already exists with different content`,
        );
      }
      outcome = 'unchanged';
    }
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: sourcePk(item.source), sk: sourceSk(item.source) },
        UpdateExpression: 'SET #state = :registered, registeredAt = :now',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':registered': 'REGISTERED', ':now': item.createdAt },
      }),
    );
    return outcome;
  }

  /**
   * Marks the claim of a failed run as FAILED, so the next delivery of the same object version is
   * processed again (with the same version number). Only the run that holds the claim can release it;
   * returns false when it no longer does (another run took over, or the version was registered).
   */
  async releaseClaim(source: SourceKey, runId: string, reason: string, now = new Date()): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: sourcePk(source), sk: sourceSk(source) },
          UpdateExpression: 'SET #state = :failed, failedAt = :now, failure = :reason',
          ConditionExpression: 'runId = :run AND #state = :pending',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':failed': 'FAILED',
            ':now': now.toISOString(),
            ':reason': reason.slice(0, 1000),
            ':run': runId,
            ':pending': 'PENDING',
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async getVersion(purpose: string, name: string, version: number): Promise<DatasetVersionItem | undefined> {
    const result = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: datasetPk(purpose, name), sk: `VERSION#${pad(version)}` },
        ConsistentRead: true,
      }),
    );
    return result.Item as DatasetVersionItem | undefined;
  }

  /** Every version of one dataset, oldest first. */
  async listVersions(purpose: string, name: string): Promise<DatasetVersionItem[]> {
    return this.#queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': datasetPk(purpose, name), ':prefix': 'VERSION#' },
    });
  }

  /** Every dataset version of one purpose (for example every RAG corpus), by name then version. */
  async listByPurpose(purpose: string): Promise<DatasetVersionItem[]> {
    return this.#queryAll({
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': `PURPOSE#${purpose}` },
    });
  }

  async #queryAll(input: {
    IndexName?: string;
    KeyConditionExpression: string;
    ExpressionAttributeValues: Record<string, unknown>;
  }): Promise<DatasetVersionItem[]> {
    const items: DatasetVersionItem[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({ TableName: this.tableName, ...input, ExclusiveStartKey: start }),
      );
      items.push(...((page.Items ?? []) as DatasetVersionItem[]));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }
}
