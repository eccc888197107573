/**
 * What the drift capability keeps, as one port, and its DynamoDB implementation: the versioned
 * baselines of each check and the result of each checked window.
 *
 * | item | pk | sk | attributes |
 * |---|---|---|---|
 * | baseline version (immutable) | `CHECK#<check>` | `BASELINE#<version, 10 digits>` | the {@link DriftBaseline} |
 * | checked window (immutable) | `CHECK#<check>` | `WINDOW#<window end, ISO>` | the {@link DriftWindowResult} |
 *
 * The latest baseline version is the active one: a new version replaces it, and an older one is
 * brought back by creating a new version from the same source (versions only grow, so every result
 * names the baseline it was compared with, for good). Writes are conditional puts only, so a
 * redelivered schedule (the same window) or a retried step changes nothing; two baselines created at
 * once get consecutive versions (the loser of the put retries with the next number). Throttling and
 * other service errors pass through unchanged, for the handlers' error mapping.
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { DriftBaseline, DriftWindowResult } from '#contracts/drift/baseline.ts';
import { defined, isConditionFailure, withoutStorageAttributes } from '../dynamo-items.ts';
import { ConflictError, ValidationError } from '../errors.ts';

export interface DriftStore {
  /** Creates the next baseline version of the check. */
  createBaseline(baseline: Omit<DriftBaseline, 'version'>): Promise<DriftBaseline>;
  /** The active (latest) baseline of a check, or a given version; undefined when there is none. */
  getBaseline(check: string, version?: number): Promise<DriftBaseline | undefined>;
  /** Records a checked window once: a second record of the same window is `exists` (and changes nothing). */
  recordWindow(result: DriftWindowResult): Promise<'created' | 'exists'>;
  /** The result of the window that ended at `end`. */
  getWindow(check: string, end: string): Promise<DriftWindowResult | undefined>;
  /** The check's latest windows, newest first. */
  recentWindows(check: string, limit: number): Promise<DriftWindowResult[]>;
}

const VERSION_DIGITS = 10;
const MAX_VERSION = 10 ** VERSION_DIGITS - 1;
/** Attempts at the next version when baselines of one check are created at once. */
const VERSION_ATTEMPTS = 5;
export const MAX_RECENT_WINDOWS = 100;

const pk = (check: string) => `CHECK#${check}`;
const baselineSk = (version: number) => `BASELINE#${String(version).padStart(VERSION_DIGITS, '0')}`;
const windowSk = (end: string) => `WINDOW#${end}`;

export class DynamoDriftStore implements DriftStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(documents: DynamoDBDocumentClient, tableName: string) {
    this.#doc = documents;
    this.#table = tableName;
  }

  async createBaseline(baseline: Omit<DriftBaseline, 'version'>): Promise<DriftBaseline> {
    for (let attempt = 0; attempt < VERSION_ATTEMPTS; attempt++) {
      const latest = await this.getBaseline(baseline.check);
      const version = (latest?.version ?? 0) + 1;
      if (version > MAX_VERSION)
        throw new ValidationError('version', `a check has at most ${MAX_VERSION} baselines`);
      const created: DriftBaseline = { ...baseline, version };
      try {
        await this.#doc.send(
          new PutCommand({
            TableName: this.#table,
            Item: defined({
              ...created,
              type: 'DriftBaseline',
              pk: pk(baseline.check),
              sk: baselineSk(version),
            }),
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
        return created;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
    throw new ConflictError(`baselines of check ${baseline.check} are being created at once: try again`);
  }

  async getBaseline(check: string, version?: number): Promise<DriftBaseline | undefined> {
    if (version !== undefined) {
      if (!Number.isInteger(version) || version < 1 || version > MAX_VERSION) {
        throw new ValidationError('version', `must be a whole number from 1 to ${MAX_VERSION}`);
      }
      const { Item: item } = await this.#doc.send(
        new GetCommand({
          TableName: this.#table,
          Key: { pk: pk(check), sk: baselineSk(version) },
          ConsistentRead: true,
        }),
      );
      return item === undefined ? undefined : withoutStorageAttributes<DriftBaseline>(item);
    }
    const { Items: items } = await this.#doc.send(
      new QueryCommand({
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk(check), ':prefix': 'BASELINE#' },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const latest = items?.[0];
    return latest === undefined ? undefined : withoutStorageAttributes<DriftBaseline>(latest);
  }

  async recordWindow(result: DriftWindowResult): Promise<'created' | 'exists'> {
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#table,
          Item: defined({
            ...result,
            type: 'DriftWindow',
            pk: pk(result.check),
            sk: windowSk(result.window.end),
          }),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return 'created';
    } catch (error) {
      if (isConditionFailure(error)) return 'exists';
      throw error;
    }
  }

  async getWindow(check: string, end: string): Promise<DriftWindowResult | undefined> {
    const { Item: item } = await this.#doc.send(
      new GetCommand({
        TableName: this.#table,
        Key: { pk: pk(check), sk: windowSk(end) },
        ConsistentRead: true,
      }),
    );
    return item === undefined ? undefined : withoutStorageAttributes<DriftWindowResult>(item);
  }

  async recentWindows(check: string, limit: number): Promise<DriftWindowResult[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RECENT_WINDOWS) {
      throw new ValidationError('limit', `must be a whole number from 1 to ${MAX_RECENT_WINDOWS}`);
    }
    const { Items: items } = await this.#doc.send(
      new QueryCommand({
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk(check), ':prefix': 'WINDOW#' },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (items ?? []).map((item) => withoutStorageAttributes<DriftWindowResult>(item));
  }
}
