/**
 * What the Rollout function keeps, and the catalog writes it makes.
 *
 * {@link DynamoRolloutStore}, on the rollout table (string `pk` and `sk`):
 *
 * | item | pk | sk | attributes |
 * |---|---|---|---|
 * | lock (one rollout at a time per served model) | `rollout#<servedModel>` | `active` | `rolloutId`, `startedAt` |
 * | rollout | `rollout#<servedModel>` | `<rolloutId>` | the {@link RolloutRecord} |
 * | what serves now | `rollout#<servedModel>` | `current` | `model`, `inferenceComponent`, `rolloutId`, `at` |
 *
 * The lock is a conditional put (free, or already held by the same rollout: a retried Start takes it
 * again) and is released by the rollout that holds it. A rollout's item is created once
 * (`attribute_not_exists`); its status only moves forward (`canary` → `promoted` | `rolled_back`), and a
 * repeated move to the same status is accepted, so every step may be retried. Breaches are a list kept
 * as a set (appended only when absent). `current` says which candidate the served model serves, so that
 * the next rollout can name it as `previous.model` (the catalog entry of the served model does not).
 *
 * {@link DynamoRolloutCatalog}, on the catalog table (`pk` = model id): the served model's `canary`
 * (set, promoted, cleared; every write conditioned on `canary.rolloutId`), the served entry of a first
 * rollout (a copy of the candidate's), and a rolled-back candidate's `status: deprecated`. Throttling
 * and other service errors pass through unchanged, for the handler's error mapping.
 */
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import {
  type CatalogCanary,
  type CatalogLineage,
  type CatalogModel,
  catalogCanary,
  catalogModel,
} from '#contracts/models/catalog.ts';
import { describeRule } from '#core/schema-rules.ts';
import { describeIssues } from '../config.ts';
import { defined, isConditionFailure, putIfAbsent, withoutStorageAttributes } from '../dynamo-items.ts';
import { ConflictError, LlmOpsError, TransientError, ValidationError } from '../errors.ts';

/** What served the model before the rollout: null on a first rollout. */
export interface PreviousServing {
  /** The candidate id that served (known when an earlier rollout promoted it). */
  readonly model?: string;
  readonly inferenceComponent?: string;
}

export type RolloutStatus = 'canary' | 'promoted' | 'rolled_back';

export interface RolloutCheckRecord {
  readonly decision: 'continue' | 'promote' | 'rollback';
  readonly reason: string;
  readonly calls: number;
  readonly errors: number;
  readonly at: string;
}

export interface RolloutVerification {
  readonly inferenceComponent: string;
  readonly status: string;
  readonly artifactUrl: string | null;
  readonly expectedArtifactUrl: string | null;
  readonly endpointStatus: string;
  readonly matches: boolean;
  readonly at: string;
}

export interface RolloutRecord {
  readonly rolloutId: string;
  readonly servedModel: string;
  readonly candidateModel: string;
  readonly jobId: string;
  readonly modelPackageArn: string;
  /** The candidate's inference component. */
  readonly inferenceComponent: string;
  readonly endpoint: string;
  readonly share: number;
  readonly bakeSeconds: number;
  readonly startedAt: string;
  readonly bakeUntil: string;
  /** A first rollout: the served entry was created from the candidate's, with no canary. */
  readonly initial: boolean;
  readonly previous: PreviousServing | null;
  /** Canary alarms that entered ALARM during the bake (no duplicates). */
  readonly breaches: string[];
  readonly status: RolloutStatus;
  /** The Step Functions execution that started it (a retried Start of the same execution is no duplicate). */
  readonly executionId?: string;
  /** The latest Check. */
  readonly check?: RolloutCheckRecord;
  /** Why it was promoted or rolled back. */
  readonly reason?: string;
  readonly decidedAt?: string;
  readonly verified?: RolloutVerification;
  readonly finishedAt?: string;
}

export interface CurrentServing {
  readonly model: string;
  readonly inferenceComponent: string;
  readonly rolloutId: string;
  readonly at: string;
}

export type LockResult = { readonly acquired: true } | { readonly acquired: false; readonly holder: string };

export interface RolloutStore {
  get(servedModel: string, rolloutId: string): Promise<RolloutRecord | undefined>;
  /** Creates the rollout's item once: `exists` when it is already there (and nothing changes). */
  create(record: RolloutRecord): Promise<'created' | 'exists'>;
  /** Takes the served model's lock, unless another rollout holds it. */
  acquireLock(servedModel: string, rolloutId: string, at: string): Promise<LockResult>;
  /** Releases the lock when this rollout holds it (`false` when it did not). */
  releaseLock(servedModel: string, rolloutId: string): Promise<boolean>;
  /** The rollouts holding a lock now. */
  activeRollouts(): Promise<{ servedModel: string; rolloutId: string }[]>;
  /** Adds a breached alarm to a rollout in canary; `exists` when already recorded, `closed` when not in canary. */
  recordBreach(
    servedModel: string,
    rolloutId: string,
    alarmName: string,
  ): Promise<'recorded' | 'exists' | 'closed'>;
  recordCheck(servedModel: string, rolloutId: string, check: RolloutCheckRecord): Promise<void>;
  /**
   * Moves a rollout in canary to its outcome (a repeat of the same outcome changes nothing).
   * @throws ConflictError when it already ended the other way, or does not exist.
   */
  recordOutcome(
    servedModel: string,
    rolloutId: string,
    outcome: 'promoted' | 'rolled_back',
    reason: string,
    at: string,
  ): Promise<RolloutRecord>;
  recordVerification(servedModel: string, rolloutId: string, verified: RolloutVerification): Promise<void>;
  /** Marks it finished (first finish wins: a retry keeps the first time). */
  finish(servedModel: string, rolloutId: string, at: string): Promise<RolloutRecord>;
  getCurrent(servedModel: string): Promise<CurrentServing | undefined>;
  setCurrent(servedModel: string, current: CurrentServing): Promise<void>;
}

const LOCK_SK = 'active';
const CURRENT_SK = 'current';
const RESERVED_SKS = new Set([LOCK_SK, CURRENT_SK]);

export const rolloutPk = (servedModel: string) => `rollout#${servedModel}`;

/** A rollout id must not collide with the lock or `current` items' sort keys. */
function rolloutSk(rolloutId: string): string {
  if (RESERVED_SKS.has(rolloutId)) throw new ConflictError(`"${rolloutId}" cannot be a rollout id`);
  return rolloutId;
}

export class DynamoRolloutStore implements RolloutStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(documents: DynamoDBDocumentClient, tableName: string) {
    this.#doc = documents;
    this.#table = tableName;
  }

  async get(servedModel: string, rolloutId: string): Promise<RolloutRecord | undefined> {
    const { Item: item } = await this.#doc.send(
      new GetCommand({
        TableName: this.#table,
        Key: { pk: rolloutPk(servedModel), sk: rolloutSk(rolloutId) },
        ConsistentRead: true,
      }),
    );
    return item === undefined ? undefined : withoutStorageAttributes<RolloutRecord>(item);
  }

  async create(record: RolloutRecord): Promise<'created' | 'exists'> {
    return putIfAbsent(
      this.#doc,
      this.#table,
      defined({
        ...record,
        type: 'Rollout',
        pk: rolloutPk(record.servedModel),
        sk: rolloutSk(record.rolloutId),
      }),
    );
  }

  async acquireLock(servedModel: string, rolloutId: string, at: string): Promise<LockResult> {
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#table,
          Item: {
            pk: rolloutPk(servedModel),
            sk: LOCK_SK,
            type: 'RolloutLock',
            servedModel,
            rolloutId,
            startedAt: at,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR rolloutId = :rid',
          ExpressionAttributeValues: { ':rid': rolloutId },
        }),
      );
      return { acquired: true };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const { Item: lock } = await this.#doc.send(
      new GetCommand({
        TableName: this.#table,
        Key: { pk: rolloutPk(servedModel), sk: LOCK_SK },
        ConsistentRead: true,
      }),
    );
    // Released between the put and the read: the caller may try again.
    if (lock === undefined)
      throw new TransientError(`the rollout lock of ${servedModel} changed hands: try again`);
    return { acquired: false, holder: String(lock.rolloutId) };
  }

  async releaseLock(servedModel: string, rolloutId: string): Promise<boolean> {
    try {
      await this.#doc.send(
        new DeleteCommand({
          TableName: this.#table,
          Key: { pk: rolloutPk(servedModel), sk: LOCK_SK },
          ConditionExpression: 'rolloutId = :rid',
          ExpressionAttributeValues: { ':rid': rolloutId },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async activeRollouts(): Promise<{ servedModel: string; rolloutId: string }[]> {
    const found: { servedModel: string; rolloutId: string }[] = [];
    let startKey: Record<string, unknown> | undefined;
    // The table holds a few items per rollout: a filtered scan finds the locks without an index.
    do {
      const page = await this.#doc.send(
        new ScanCommand({
          TableName: this.#table,
          FilterExpression: 'sk = :lock',
          ExpressionAttributeValues: { ':lock': LOCK_SK },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        found.push({ servedModel: String(item.servedModel), rolloutId: String(item.rolloutId) });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return found;
  }

  async recordBreach(
    servedModel: string,
    rolloutId: string,
    alarmName: string,
  ): Promise<'recorded' | 'exists' | 'closed'> {
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: rolloutPk(servedModel), sk: rolloutSk(rolloutId) },
          UpdateExpression: 'SET breaches = list_append(breaches, :alarm)',
          ConditionExpression: '#status = :canary AND NOT contains(breaches, :name)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':alarm': [alarmName], ':name': alarmName, ':canary': 'canary' },
        }),
      );
      return 'recorded';
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const record = await this.get(servedModel, rolloutId);
    if (record?.status === 'canary' && record.breaches.includes(alarmName)) return 'exists';
    return 'closed';
  }

  async recordCheck(servedModel: string, rolloutId: string, check: RolloutCheckRecord): Promise<void> {
    await this.#update(
      servedModel,
      rolloutId,
      'SET #check = :check',
      { '#check': 'check' },
      { ':check': check },
    );
  }

  async recordOutcome(
    servedModel: string,
    rolloutId: string,
    outcome: 'promoted' | 'rolled_back',
    reason: string,
    at: string,
  ): Promise<RolloutRecord> {
    try {
      const { Attributes: item } = await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: rolloutPk(servedModel), sk: rolloutSk(rolloutId) },
          UpdateExpression: 'SET #status = :outcome, reason = :reason, decidedAt = :at',
          ConditionExpression: 'attribute_exists(pk) AND #status = :canary',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':outcome': outcome,
            ':reason': reason,
            ':at': at,
            ':canary': 'canary',
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return withoutStorageAttributes<RolloutRecord>(item ?? {});
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const record = await this.get(servedModel, rolloutId);
    if (record?.status === outcome) return record;
    throw new ConflictError(
      record === undefined
        ? `rollout ${rolloutId} of ${servedModel} does not exist`
        : `rollout ${rolloutId} of ${servedModel} is already ${record.status}, cannot be ${outcome}`,
    );
  }

  async recordVerification(
    servedModel: string,
    rolloutId: string,
    verified: RolloutVerification,
  ): Promise<void> {
    await this.#update(servedModel, rolloutId, 'SET verified = :verified', undefined, {
      ':verified': defined(verified),
    });
  }

  async finish(servedModel: string, rolloutId: string, at: string): Promise<RolloutRecord> {
    const { Attributes: item } = await this.#doc
      .send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: rolloutPk(servedModel), sk: rolloutSk(rolloutId) },
          UpdateExpression: 'SET finishedAt = if_not_exists(finishedAt, :at)',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':at': at },
          ReturnValues: 'ALL_NEW',
        }),
      )
      .catch((error: unknown) => {
        if (isConditionFailure(error)) {
          throw new ConflictError(`rollout ${rolloutId} of ${servedModel} does not exist`, { cause: error });
        }
        throw error;
      });
    return withoutStorageAttributes<RolloutRecord>(item ?? {});
  }

  async getCurrent(servedModel: string): Promise<CurrentServing | undefined> {
    const { Item: item } = await this.#doc.send(
      new GetCommand({
        TableName: this.#table,
        Key: { pk: rolloutPk(servedModel), sk: CURRENT_SK },
        ConsistentRead: true,
      }),
    );
    return item === undefined ? undefined : withoutStorageAttributes<CurrentServing>(item);
  }

  async setCurrent(servedModel: string, current: CurrentServing): Promise<void> {
    await this.#doc.send(
      new PutCommand({
        TableName: this.#table,
        Item: defined({ ...current, type: 'RolloutCurrent', pk: rolloutPk(servedModel), sk: CURRENT_SK }),
      }),
    );
  }

  /** An update of an existing rollout item. @throws ConflictError when it does not exist. */
  async #update(
    servedModel: string,
    rolloutId: string,
    expression: string,
    names: Record<string, string> | undefined,
    values: Record<string, unknown>,
  ): Promise<void> {
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: rolloutPk(servedModel), sk: rolloutSk(rolloutId) },
          UpdateExpression: expression,
          ConditionExpression: 'attribute_exists(pk)',
          ...(names ? { ExpressionAttributeNames: names } : {}),
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new ConflictError(`rollout ${rolloutId} of ${servedModel} does not exist`, { cause: error });
      }
      throw error;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The catalog's side of a rollout

/** A catalog item that breaks the catalog schema: the rollout cannot reason about it. */
export class InvalidCatalogEntryError extends LlmOpsError {}

/** Who the catalog's `updatedBy` names for the rollout's writes. */
export const ROLLOUT_AUTHOR = 'rollout';

/** Bookkeeping attributes of a catalog item (not model fields). */
const BOOKKEEPING = new Set(['pk', 'source', 'seedHash', 'updatedAt', 'updatedBy']);

export type PromoteResult = 'promoted' | 'already';

export interface RolloutCatalog {
  get(id: string): Promise<CatalogModel | undefined>;
  /** A first rollout: the served entry as a copy of the candidate's, with no canary. `exists` if there is one. */
  createServed(servedModel: string, candidate: CatalogModel, at: string): Promise<'created' | 'exists'>;
  /**
   * Sets the served entry's canary, unless another rollout's is there.
   * @returns `started` (or already this rollout's), `absent` (no served entry), or the other rollout's id.
   */
  startCanary(
    servedModel: string,
    canary: CatalogCanary,
    at: string,
  ): Promise<{ readonly started: true } | { readonly started: false; readonly holder: string | null }>;
  /**
   * Points the served entry at the candidate's component and lineage and removes the canary, in one write
   * conditioned on the canary being this rollout's (or, for a retry or a first rollout, on the entry
   * already serving the component with no canary).
   * @throws ConflictError otherwise.
   */
  promote(
    servedModel: string,
    rolloutId: string,
    candidate: { inferenceComponent: string; lineage?: CatalogLineage | undefined },
    at: string,
  ): Promise<PromoteResult>;
  /** Removes this rollout's canary; `false` when it was not there (already cleared). */
  clearCanary(servedModel: string, rolloutId: string, at: string): Promise<boolean>;
  /** Removes the served entry a first rollout created (only while it still serves that component). */
  removeServed(servedModel: string, inferenceComponent: string): Promise<boolean>;
  /** Marks a model deprecated; `false` when it is not in the catalog. */
  deprecate(id: string, at: string): Promise<boolean>;
}

export class DynamoRolloutCatalog implements RolloutCatalog {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(documents: DynamoDBDocumentClient, tableName: string) {
    this.#doc = documents;
    this.#table = tableName;
  }

  async get(id: string): Promise<CatalogModel | undefined> {
    const { Item: item } = await this.#doc.send(
      new GetCommand({ TableName: this.#table, Key: { pk: id }, ConsistentRead: true }),
    );
    if (item === undefined) return undefined;
    const fields = Object.fromEntries(Object.entries(item).filter(([name]) => !BOOKKEEPING.has(name)));
    const parsed = z.safeParse(catalogModel, fields);
    if (!parsed.success) {
      throw new InvalidCatalogEntryError(`Catalog entry ${id} is invalid: ${describeIssues(parsed.error)}`);
    }
    return parsed.data;
  }

  async createServed(
    servedModel: string,
    candidate: CatalogModel,
    at: string,
  ): Promise<'created' | 'exists'> {
    const { evaluations: _evaluations, evaluationScore: _score, canary: _canary, ...fields } = candidate;
    const item = defined({
      ...fields,
      id: servedModel,
      status: 'active',
      pk: servedModel,
      source: 'api',
      updatedAt: at,
      updatedBy: ROLLOUT_AUTHOR,
    });
    return putIfAbsent(this.#doc, this.#table, item);
  }

  async startCanary(
    servedModel: string,
    canary: CatalogCanary,
    at: string,
  ): Promise<{ readonly started: true } | { readonly started: false; readonly holder: string | null }> {
    // What the gateway routes by must be a canary the catalog accepts (a share in (0, 1], ...).
    const checked = catalogCanary.safeParse(canary);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      const path = issue?.path.map(String).join('.');
      throw new ValidationError(
        `canary${path ? `.${path}` : ''}`,
        issue ? describeRule(issue) : 'is invalid',
      );
    }
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: servedModel },
          UpdateExpression: 'SET #canary = :canary, updatedAt = :at, updatedBy = :by',
          ConditionExpression:
            'attribute_exists(pk) AND (attribute_not_exists(#canary) OR #canary.#rid = :rid)',
          ExpressionAttributeNames: { '#canary': 'canary', '#rid': 'rolloutId' },
          ExpressionAttributeValues: {
            ':canary': canary,
            ':rid': canary.rolloutId,
            ':at': at,
            ':by': ROLLOUT_AUTHOR,
          },
        }),
      );
      return { started: true };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const served = await this.get(servedModel);
    return { started: false, holder: served?.canary?.rolloutId ?? null };
  }

  async promote(
    servedModel: string,
    rolloutId: string,
    candidate: { inferenceComponent: string; lineage?: CatalogLineage | undefined },
    at: string,
  ): Promise<PromoteResult> {
    const lineage = candidate.lineage;
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: servedModel },
          UpdateExpression:
            `SET #ic = :ic, updatedAt = :at, updatedBy = :by${lineage ? ', #lineage = :lineage' : ''}` +
            ` REMOVE #canary${lineage ? '' : ', #lineage'}`,
          ConditionExpression: '#canary.#rid = :rid',
          ExpressionAttributeNames: {
            '#ic': 'inferenceComponent',
            '#canary': 'canary',
            '#rid': 'rolloutId',
            '#lineage': 'lineage',
          },
          ExpressionAttributeValues: {
            ':ic': candidate.inferenceComponent,
            ':rid': rolloutId,
            ':at': at,
            ':by': ROLLOUT_AUTHOR,
            ...(lineage ? { ':lineage': defined(lineage) } : {}),
          },
        }),
      );
      return 'promoted';
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    // A retried promotion, or a first rollout (whose served entry is the candidate's copy, no canary).
    const served = await this.get(servedModel);
    if (served?.canary === undefined && served?.inferenceComponent === candidate.inferenceComponent) {
      return 'already';
    }
    throw new ConflictError(
      served === undefined
        ? `${servedModel} is not in the catalog: rollout ${rolloutId} cannot be promoted`
        : `the canary of ${servedModel} is ${served.canary ? `rollout ${served.canary.rolloutId}'s` : 'gone'}: rollout ${rolloutId} cannot be promoted`,
    );
  }

  async clearCanary(servedModel: string, rolloutId: string, at: string): Promise<boolean> {
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: servedModel },
          UpdateExpression: 'SET updatedAt = :at, updatedBy = :by REMOVE #canary',
          ConditionExpression: '#canary.#rid = :rid',
          ExpressionAttributeNames: { '#canary': 'canary', '#rid': 'rolloutId' },
          ExpressionAttributeValues: { ':rid': rolloutId, ':at': at, ':by': ROLLOUT_AUTHOR },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async removeServed(servedModel: string, inferenceComponent: string): Promise<boolean> {
    try {
      await this.#doc.send(
        new DeleteCommand({
          TableName: this.#table,
          Key: { pk: servedModel },
          ConditionExpression: '#ic = :ic AND attribute_not_exists(#canary)',
          ExpressionAttributeNames: { '#ic': 'inferenceComponent', '#canary': 'canary' },
          ExpressionAttributeValues: { ':ic': inferenceComponent },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async deprecate(id: string, at: string): Promise<boolean> {
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: id },
          UpdateExpression: 'SET #status = :deprecated, updatedAt = :at, updatedBy = :by',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':deprecated': 'deprecated', ':at': at, ':by': ROLLOUT_AUTHOR },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }
}
