import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import {
  type CatalogEvaluation,
  type CatalogModel,
  catalogEvaluation,
  catalogModel,
  catalogSuiteName,
} from '#contracts/models/catalog.ts';
import { canonicalJson } from '#core/prompts/hash.ts';
import { describeRule } from '#core/schema-rules.ts';
import { ConfigError, NotFoundError, ValidationError } from './errors.ts';
import { logger, metrics } from './logging.ts';

/**
 * The model catalog: one DynamoDB table keyed by `pk` (the model id), one item per model holding the
 * {@link CatalogModel} fields and some bookkeeping:
 *
 * | attribute | meaning |
 * |---|---|
 * | `pk` | the model id |
 * | `source` | `config` (written by {@link ModelCatalog.seed}) or `api` (edited by an admin) |
 * | `seedHash` | `config` entries only: SHA-256 of the canonical JSON of the seed entry |
 * | `updatedAt`, `updatedBy` | last write |
 *
 * The profile's configuration seeds the table at cold start of the functions that read it: each seed
 * entry is written only when it is new, or when it changed and the stored entry still comes from the
 * configuration. An entry edited through the API is never overwritten by a seed. A seed in `insert` mode
 * (the chat function's, whose role may only put items) writes new entries only, each with a conditional
 * put (`attribute_not_exists(pk)`): it never overwrites, updates or deletes an entry, and leaves changed
 * configuration entries to the next `upsert` seed (the models function's).
 *
 * `evaluationScore` and `evaluations` belong to the evaluation pipeline ({@link ModelCatalog.recordEvaluation}):
 * a seed or an admin edit that leaves them out keeps the stored score and evaluations (one that sets
 * them replaces them, as it replaces any other field).
 *
 * `canary` belongs to the rollout pipeline ({@link ModelCatalog.startCanary}, {@link ModelCatalog.clearCanary})
 * and its counters to the gateway ({@link ModelCatalog.countCanaryCall}): a seed or an admin edit may not
 * set it (refused, naming the field) and keeps the stored one.
 */
export interface ModelCatalogOptions {
  /** How long the list of models is cached. @default 30_000 */
  readonly cacheTtlMs?: number;
  /** Clock in epoch milliseconds. @default Date.now */
  readonly now?: () => number;
}

export interface SeedResult {
  /** Ids written by this seed (new, or changed in the configuration). */
  readonly written: string[];
  /** Ids left as they were: already current, or edited through the API. */
  readonly unchanged: string[];
}

export type ModelSource = 'config' | 'api';

/**
 * How a seed writes: `upsert` adds new entries and rewrites configuration entries whose seed changed;
 * `insert` only adds entries the table lacks, with conditional puts (for a role without update rights).
 */
export type SeedMode = 'upsert' | 'insert';

export interface SeedOptions {
  /** @default 'upsert' */
  readonly mode?: SeedMode;
}

/** Who writes seed entries. */
export const SEED_AUTHOR = 'config-seed';

/**
 * Optional fields removed from the item when a write leaves them out. The pipelines' fields
 * (`evaluationScore`, `evaluations`, `canary`, and a fine-tuned model's `lineage`) are not among them:
 * a seed or an edit without them keeps them.
 */
const OPTIONAL_FIELDS = ['inferenceComponent', 'dimensions', 'description', 'fallback'] as const;

/** SHA-256 (hex) of the canonical JSON of a seed entry: a stored entry with the same hash is current. */
export function seedHash(model: CatalogModel): string {
  return createHash('sha256').update(canonicalJson(model)).digest('hex');
}

const strictCatalogModel = z.strictObject(catalogModel.shape);

/** Fields that only a pipeline writes: a seed or an admin edit that sets one is refused. */
const PIPELINE_ONLY_FIELDS = {
  canary: 'is written by the rollout pipeline, not by the configuration or an admin',
};

/** The first pipeline-only field `model` sets, as `[field, rule]`. */
function pipelineOnlyField(model: object): [string, string] | undefined {
  for (const [field, rule] of Object.entries(PIPELINE_ONLY_FIELDS)) {
    if ((model as Record<string, unknown>)[field] !== undefined) return [field, rule];
  }
  return undefined;
}

/**
 * Parses a catalog seed: a JSON array of models (unknown keys are refused, so that a misspelt field is
 * not silently dropped; ids must be unique).
 * @throws ConfigError naming the index, id and field at fault.
 */
export function parseSeed(json: string, source = 'model catalog seed'): CatalogModel[] {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new ConfigError(`${source} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (!Array.isArray(raw)) throw new ConfigError(`${source} must be a JSON array of catalog models`);
  const models: CatalogModel[] = [];
  const seen = new Map<string, number>();
  raw.forEach((entry: unknown, i) => {
    const id = (entry as { id?: unknown } | null)?.id;
    const at = typeof id === 'string' ? `[${i}] (${id})` : `[${i}]`;
    const result = strictCatalogModel.safeParse(entry);
    if (!result.success) {
      const issue = result.error.issues[0];
      const path = issue ? issue.path.map(String).join('.') : '';
      throw new ConfigError(
        `${source}: ${at}${path ? `.${path}` : ''}: ${issue ? describeRule(issue) : 'is invalid'}`,
      );
    }
    const owned = pipelineOnlyField(result.data);
    if (owned !== undefined) throw new ConfigError(`${source}: ${at}.${owned[0]}: ${owned[1]}`);
    const first = seen.get(result.data.id);
    if (first !== undefined) throw new ConfigError(`${source}: ${at}.id: duplicates the id of [${first}]`);
    seen.set(result.data.id, i);
    models.push(result.data);
  });
  return models;
}

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as { name?: string } | null)?.name === 'ConditionalCheckFailedException'
  );
}

/** DynamoDB refusing a nested `SET` because a map on its path does not exist. */
function isMissingMapError(error: unknown): boolean {
  const { name, message } = (error ?? {}) as { name?: unknown; message?: unknown };
  return (
    name === 'ValidationException' &&
    typeof message === 'string' &&
    /document path provided in the update expression is invalid/i.test(message)
  );
}

/** What {@link ModelCatalog.recordEvaluation} did. */
export interface RecordedEvaluation {
  /** False when the stored evaluation on the suite is as recent or more recent: nothing was written. */
  readonly recorded: boolean;
  /** The entry as stored after the call. */
  readonly model: CatalogModel;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const field of Object.values(value)) deepFreeze(field);
    Object.freeze(value);
  }
  return value;
}

/** The catalog fields of a stored item (the bookkeeping attributes stripped). */
function toModel(item: Record<string, unknown>): CatalogModel {
  const result = catalogModel.safeParse(item);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(
      `Catalog entry ${String(item.pk)} is invalid: ${issue?.path.join('.') ?? ''}: ${issue ? describeRule(issue) : ''}`,
    );
  }
  return deepFreeze(result.data);
}

interface ListCache {
  readonly expiresAt: number;
  readonly models: Promise<readonly CatalogModel[]>;
}

export class ModelCatalog {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #cache: ListCache | undefined;

  constructor(doc: DynamoDBDocumentClient, tableName: string, options: ModelCatalogOptions = {}) {
    this.#doc = doc;
    this.#table = tableName;
    this.#ttlMs = options.cacheTtlMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  /** {@link parseSeed}, for callers that hold the class. */
  static parseSeed(json: string, source?: string): CatalogModel[] {
    return parseSeed(json, source);
  }

  /**
   * Writes the configuration's models: idempotent, and safe when many cold starts seed at once. One
   * scan finds what is already current (and fills the list cache); only new or changed entries are
   * written, each with a condition (`attribute_not_exists(pk) OR (source = config AND seedHash <> hash)`)
   * so that a concurrent seed or an admin edit is never overwritten. Entries no longer in the
   * configuration are left alone. In `insert` mode, only entries the scan did not find are written, with
   * `PutItem` and `attribute_not_exists(pk)`: an existing entry is never touched.
   */
  async seed(models: readonly CatalogModel[], options: SeedOptions = {}): Promise<SeedResult> {
    const insertOnly = options.mode === 'insert';
    const stored = await this.#scanItems();
    this.#cache = {
      expiresAt: this.#now() + this.#ttlMs,
      models: Promise.resolve(stored.map(toModel).sort(byId)),
    };
    const current = new Map(stored.map((item) => [String(item.pk), item]));
    const written: string[] = [];
    const unchanged: string[] = [];
    const updatedAt = new Date(this.#now()).toISOString();
    await Promise.all(
      models.map(async (model) => {
        const hash = seedHash(model);
        const existing = current.get(model.id);
        if (
          existing !== undefined &&
          (insertOnly || existing.source !== 'config' || existing.seedHash === hash)
        ) {
          unchanged.push(model.id);
          return;
        }
        if (insertOnly) {
          try {
            await this.#doc.send(
              new PutCommand({
                TableName: this.#table,
                Item: seedItem(model, hash, updatedAt),
                ConditionExpression: 'attribute_not_exists(pk)',
              }),
            );
            written.push(model.id);
          } catch (error) {
            // A concurrent seed or an admin edit created it meanwhile.
            if (!isConditionFailure(error)) throw error;
            unchanged.push(model.id);
          }
          return;
        }
        const input = writeInput(
          this.#table,
          model,
          { source: 'config', seedHash: hash },
          updatedAt,
          SEED_AUTHOR,
        );
        try {
          await this.#doc.send(
            new UpdateCommand({
              ...input,
              ConditionExpression: 'attribute_not_exists(pk) OR (#source = :config AND #seedHash <> :hash)',
              ExpressionAttributeValues: {
                ...input.ExpressionAttributeValues,
                ':config': 'config',
                ':hash': hash,
              },
            }),
          );
          written.push(model.id);
        } catch (error) {
          // Already current (a concurrent seed wrote it) or edited by an admin meanwhile.
          if (!isConditionFailure(error)) throw error;
          unchanged.push(model.id);
        }
      }),
    );
    if (written.length > 0) this.#cache = undefined;
    return { written: written.sort(), unchanged: unchanged.sort() };
  }

  /** The catalog's models sorted by id, optionally of one kind and status (cached for `cacheTtlMs`). */
  async list(
    filter: { kind?: CatalogModel['kind']; status?: CatalogModel['status'] } = {},
  ): Promise<CatalogModel[]> {
    const models = await this.#all();
    return models.filter(
      (m) =>
        (filter.kind === undefined || m.kind === filter.kind) &&
        (filter.status === undefined || m.status === filter.status),
    );
  }

  /**
   * One model, from the cached list when it is fresh (a miss is confirmed with a read).
   * @throws NotFoundError when the id is not in the catalog.
   */
  async get(id: string): Promise<CatalogModel> {
    const cache = this.#cache;
    if (cache !== undefined && cache.expiresAt > this.#now()) {
      const found = (await cache.models).find((m) => m.id === id);
      if (found !== undefined) return found;
    }
    const { Item: item } = await this.#doc.send(
      new GetCommand({ TableName: this.#table, Key: { pk: id }, ConsistentRead: true }),
    );
    if (item === undefined) {
      throw new NotFoundError(`Model ${id} is not in the catalog; GET /v1/models lists them`);
    }
    return toModel(item);
  }

  /**
   * Creates or replaces an entry as an admin edit (`source: api`): later seeds leave it alone. A stored
   * evaluation score, evaluations and canary are kept (an edit may not set `canary`).
   * @throws ValidationError naming the field that breaks the catalog schema, or `canary`.
   */
  async put(model: CatalogModel, author: string): Promise<CatalogModel> {
    const result = catalogModel.safeParse(model);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new ValidationError(
        issue?.path.map(String).join('.') || 'body',
        issue ? describeRule(issue) : 'is invalid',
      );
    }
    const owned = pipelineOnlyField(result.data);
    if (owned !== undefined) throw new ValidationError(owned[0], owned[1]);
    const input = writeInput(
      this.#table,
      result.data,
      { source: 'api' },
      new Date(this.#now()).toISOString(),
      author,
      ['seedHash'],
    );
    const written = await this.#doc.send(new UpdateCommand({ ...input, ReturnValues: 'ALL_NEW' }));
    this.#cache = undefined;
    return toModel(written.Attributes ?? {});
  }

  /**
   * Records a model's latest evaluation score in [0, 1] without saying on which suite or metric (kept for
   * existing callers; the evaluation pipeline uses {@link ModelCatalog.recordEvaluation}, which sets the
   * score as well).
   * @throws NotFoundError when the id is not in the catalog.
   */
  async setEvaluationScore(id: string, score: number, author: string): Promise<CatalogModel> {
    if (!(score >= 0 && score <= 1)) throw new ValidationError('evaluationScore', 'must be between 0 and 1');
    try {
      const written = await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: id },
          UpdateExpression: 'SET evaluationScore = :score, updatedAt = :at, updatedBy = :by',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: {
            ':score': score,
            ':at': new Date(this.#now()).toISOString(),
            ':by': author,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      this.#cache = undefined;
      return toModel(written.Attributes ?? {});
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new NotFoundError(`Model ${id} is not in the catalog; GET /v1/models lists them`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  /**
   * Records the latest evaluation of a model on a suite (the evaluation pipeline's write): one
   * `UpdateItem` sets `evaluations.<suite>` and `evaluationScore` (the most recently recorded value,
   * whatever its suite), with `updatedAt`/`updatedBy`. An evaluation no more recent (`at`) than the
   * stored one for the suite changes nothing, so a redelivered or late event is harmless: the result
   * says `recorded: false`.
   *
   * DynamoDB cannot set a key of a map that does not exist, nor create the map and set a key in it in
   * one expression; so the first evaluation of a model (no `evaluations` map yet, a `ValidationException`)
   * writes the whole map instead, conditioned on it still being absent. A concurrent writer that created
   * the map meanwhile makes that write fail its condition, and the nested write is tried once more.
   * @throws ValidationError when the suite name or the evaluation breaks the catalog schema.
   * @throws NotFoundError when the id is not in the catalog.
   */
  async recordEvaluation(
    id: string,
    suite: string,
    evaluation: CatalogEvaluation,
    author: string,
  ): Promise<RecordedEvaluation> {
    const name = catalogSuiteName.safeParse(suite);
    if (!name.success) {
      const issue = name.error.issues[0];
      throw new ValidationError('suite', issue ? describeRule(issue) : 'is invalid');
    }
    const parsed = catalogEvaluation.safeParse(evaluation);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const path = issue?.path.map(String).join('.');
      throw new ValidationError(
        `evaluations.${suite}${path ? `.${path}` : ''}`,
        issue ? describeRule(issue) : 'is invalid',
      );
    }
    // One format (milliseconds, Z) so that `at` compares as a string in the condition.
    const score = { ...parsed.data, at: new Date(parsed.data.at).toISOString() };
    const bookkeeping = {
      set: 'evaluationScore = :value, updatedAt = :now, updatedBy = :by',
      values: { ':value': score.value, ':now': new Date(this.#now()).toISOString(), ':by': author },
    };
    const nested = new UpdateCommand({
      TableName: this.#table,
      Key: { pk: id },
      UpdateExpression: `SET #evaluations.#suite = :score, ${bookkeeping.set}`,
      ConditionExpression:
        'attribute_exists(pk) AND (attribute_not_exists(#evaluations.#suite) OR #evaluations.#suite.#at < :at)',
      ExpressionAttributeNames: { '#evaluations': 'evaluations', '#suite': suite, '#at': 'at' },
      ExpressionAttributeValues: { ':score': score, ':at': score.at, ...bookkeeping.values },
      ReturnValues: 'ALL_NEW',
    });
    const whole = new UpdateCommand({
      TableName: this.#table,
      Key: { pk: id },
      UpdateExpression: `SET #evaluations = :evaluations, ${bookkeeping.set}`,
      ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#evaluations)',
      ExpressionAttributeNames: { '#evaluations': 'evaluations' },
      ExpressionAttributeValues: { ':evaluations': { [suite]: score }, ...bookkeeping.values },
      ReturnValues: 'ALL_NEW',
    });
    const recorded = (attributes: Record<string, unknown> | undefined): RecordedEvaluation => {
      this.#cache = undefined;
      return { recorded: true, model: toModel(attributes ?? {}) };
    };
    try {
      return recorded((await this.#doc.send(nested)).Attributes);
    } catch (error) {
      if (isConditionFailure(error)) return this.#notRecorded(id, error);
      if (!isMissingMapError(error)) throw error;
    }
    try {
      return recorded((await this.#doc.send(whole)).Attributes);
    } catch (error) {
      // The model is gone, or a concurrent evaluation created the map since: the nested write decides.
      if (!isConditionFailure(error)) throw error;
    }
    try {
      return recorded((await this.#doc.send(nested)).Attributes);
    } catch (error) {
      if (isConditionFailure(error)) return this.#notRecorded(id, error);
      throw error;
    }
  }

  /**
   * Counts a call the canary's candidate answered (the gateway's write, one `UpdateItem`):
   * `ADD canary.calls 1` (and `canary.errors 1` when it failed), on condition that the stored canary
   * is still rollout `rolloutId`'s. The list cache is left as it is (counters change nothing the
   * gateway routes by).
   * @returns false when the rollout has ended (the condition failed): nothing was counted.
   * @throws the DynamoDB error of any other failure.
   */
  async countCanaryCall(id: string, rolloutId: string, failed: boolean): Promise<boolean> {
    try {
      await this.#doc.send(new UpdateCommand(canaryCountInput(this.#table, id, rolloutId, failed)));
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** A conditional evaluation write was refused: the model is unknown, or its evaluation is newer. */
  async #notRecorded(id: string, cause: unknown): Promise<RecordedEvaluation> {
    const { Item: item } = await this.#doc.send(
      new GetCommand({ TableName: this.#table, Key: { pk: id }, ConsistentRead: true }),
    );
    if (item === undefined) {
      throw new NotFoundError(`Model ${id} is not in the catalog; GET /v1/models lists them`, { cause });
    }
    return { recorded: false, model: toModel(item) };
  }

  /** Every model, sorted by id; one scan per `cacheTtlMs`, shared by concurrent callers. */
  #all(): Promise<readonly CatalogModel[]> {
    const cache = this.#cache;
    if (cache !== undefined && cache.expiresAt > this.#now()) return cache.models;
    const models = this.#scanItems().then((items) => items.map(toModel).sort(byId));
    const entry: ListCache = { expiresAt: this.#now() + this.#ttlMs, models };
    this.#cache = entry;
    models.catch(() => {
      if (this.#cache === entry) this.#cache = undefined;
    });
    return models;
  }

  async #scanItems(): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.#doc.send(
        new ScanCommand({ TableName: this.#table, ConsistentRead: true, ExclusiveStartKey: startKey }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return items;
  }
}

/** The `UpdateItem` input of {@link ModelCatalog.countCanaryCall}. */
export function canaryCountInput(
  table: string,
  id: string,
  rolloutId: string,
  failed: boolean,
): UpdateCommandInput {
  return {
    TableName: table,
    Key: { pk: id },
    UpdateExpression: failed ? 'ADD #canary.#calls :one, #canary.#errors :one' : 'ADD #canary.#calls :one',
    ConditionExpression: '#canary.#rolloutId = :rid',
    ExpressionAttributeNames: {
      '#canary': 'canary',
      '#calls': 'calls',
      '#rolloutId': 'rolloutId',
      ...(failed ? { '#errors': 'errors' } : {}),
    },
    ExpressionAttributeValues: { ':one': 1, ':rid': rolloutId },
  };
}

function byId(a: CatalogModel, b: CatalogModel): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * An update that makes the item hold exactly the model's fields (optional fields it leaves out are
 * removed, except the evaluation pipeline's `evaluationScore` and `evaluations`) plus the bookkeeping
 * attributes.
 */
function writeInput(
  table: string,
  model: CatalogModel,
  bookkeeping: { source: ModelSource; seedHash?: string },
  updatedAt: string,
  updatedBy: string,
  remove: readonly string[] = [],
): UpdateCommandInput & { ExpressionAttributeValues: Record<string, unknown> } {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const set: string[] = [];
  const fields: Record<string, unknown> = { ...model, ...bookkeeping, updatedAt, updatedBy };
  for (const [field, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    names[`#${field}`] = field;
    values[`:${field}`] = value;
    set.push(`#${field} = :${field}`);
  }
  const removed = [...OPTIONAL_FIELDS.filter((field) => model[field] === undefined), ...remove];
  for (const field of removed) names[`#${field}`] = field;
  // Condition expressions refer to these even when the update does not set them.
  names['#source'] = 'source';
  names['#seedHash'] = 'seedHash';
  return {
    TableName: table,
    Key: { pk: model.id },
    UpdateExpression:
      `SET ${set.join(', ')}` +
      (removed.length > 0 ? ` REMOVE ${removed.map((f) => `#${f}`).join(', ')}` : ''),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/** A new catalog item for a seed entry: the model's fields (none undefined) and the bookkeeping. */
function seedItem(model: CatalogModel, hash: string, updatedAt: string): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    ...model,
    pk: model.id,
    source: 'config' satisfies ModelSource,
    seedHash: hash,
    updatedAt,
    updatedBy: SEED_AUTHOR,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

/**
 * Seeds once per process (in `options.mode`); a failure is logged and retried on the next request, never
 * fatal.
 */
export function seedOnce(
  catalog: Pick<ModelCatalog, 'seed'>,
  seed: readonly CatalogModel[],
  options: SeedOptions = {},
): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    const pending =
      done ??
      catalog
        .seed([...seed], options)
        .then(() => undefined)
        .catch((error: unknown) => {
          done = undefined;
          logger.warn('Catalog seeding failed; serving what the table holds', { error });
          metrics.addMetric('CatalogSeedFailures', 'Count', 1);
        });
    done = pending;
    return pending;
  };
}
