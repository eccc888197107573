import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { CalibrationLabel, ReviewLabel, ReviewTask } from '#contracts/evaluation/review.ts';
import type { EvaluationRun, PromotionGate } from '#contracts/evaluation/run.ts';
import { humanVerdict } from '#core/eval/review.ts';
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
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type {
  EvaluationStore,
  Page,
  RunOutcome,
  RunStart,
  StoredReviewTask,
  SuiteVersion,
} from './evaluation-store.ts';

/**
 * The evaluation store on DynamoDB: the house project table (string `pk`/`sk`) and its index
 * {@link EVALUATIONS_INDEX} (`gsi1pk`/`gsi1sk`, all attributes projected).
 *
 * | item | pk | sk | gsi1pk / gsi1sk | attributes |
 * |---|---|---|---|---|
 * | suite version (immutable) | `SUITE#<name>` | `V#<version, 10 digits>` | | the {@link SuiteVersion} |
 * | run | `RUN#<runId>` | `RUN` | once succeeded: `RUNS#<suite>#<target key>` / `<finishedAt ISO>#<runId>` | the {@link EvaluationRun} |
 * | gate | `GATE#<prompt>` | `<suite>#<candidate, 10 digits>#<baseline, 10 digits>` | | the {@link PromotionGate} |
 * | review task | `REVIEW#<taskId>` | `TASK` | `REVIEWS#<open or labelled>` / `<createdAt ISO>#<taskId>` | the task, status, createdAt, label? |
 * | calibration pair | `CALIBRATION#<rubric>` | `<taskId>` | | rubric, taskId, judgeVerdict, humanVerdict |
 *
 * Every item also carries `type` (its kind); `pk`, `sk`, `gsi1pk`, `gsi1sk` and `type` never leave the
 * store. Versions are zero-padded so that the latest sorts last (`getSuite` without a version reads one
 * item, newest first). The target key of a run is `p=<prompt>|m=<model>` of the run's requested target
 * (each part URI-encoded, empty when absent): a `name@label` stays a label, so the runs of one schedule
 * share a key whatever version the label pointed at.
 *
 * Writes are conditional puts and conditional updates only (no transactions), so the store behaves the
 * same on DynamoDB and on dynalite:
 * - a suite version, a run and a review task are put with `attribute_not_exists(pk)`;
 * - a claim is one update on `attribute_not_exists(pk) OR status = queued`, an end one update on
 *   `status IN (queued, running)`; a label one update on `status = open` that also moves the task to the
 *   `REVIEWS#labelled` partition of the index, followed by an idempotent put of its calibration pair (a
 *   retried label that finds the task labelled writes the pair again, so a crash between the two writes
 *   heals on the retry);
 * - a gate is replaced by a plain put.
 *
 * Reads of single items are strongly consistent; the index (previous runs, review queues) is eventually
 * consistent, as DynamoDB's GSIs are. Throttling and other service errors pass through unchanged (after
 * the SDK's own retries): the handlers' error mapping turns them into `TransientError` in one place. A
 * throttled write is never mistaken for a failed condition.
 */

/** The table's index on `gsi1pk`/`gsi1sk`: runs by suite and target, review tasks by status. */
export const EVALUATIONS_INDEX = 'gsi1';

/** Review tasks listed per page by default, and at most. */
export const DEFAULT_REVIEW_PAGE = 50;
export const MAX_REVIEW_PAGE = 100;

export interface DynamoEvaluationStoreOptions {
  /** Clock for `updatedAt`, `createdAt` and a run's end. @default () => new Date() */
  readonly now?: () => Date;
}

type Item = Record<string, unknown>;

const VERSION_DIGITS = 10;
const MAX_VERSION = 10 ** VERSION_DIGITS - 1;
const pad = (version: number) => String(version).padStart(VERSION_DIGITS, '0');

const suitePk = (name: string) => `SUITE#${name}`;
const suiteSk = (version: number) => `V#${pad(version)}`;
const runKey = (runId: string) => ({ pk: `RUN#${runId}`, sk: 'RUN' });
const gateKey = (prompt: string, candidate: number, baseline: number, suite: string) => ({
  pk: `GATE#${prompt}`,
  sk: `${suite}#${pad(candidate)}#${pad(baseline)}`,
});
const REVIEW_PK_PREFIX = 'REVIEW#';
const reviewKey = (taskId: string) => ({ pk: `${REVIEW_PK_PREFIX}${taskId}`, sk: 'TASK' });
const reviewsPk = (status: StoredReviewTask['status']) => `REVIEWS#${status}`;
const calibrationPk = (rubric: string) => `CALIBRATION#${rubric}`;

/** The stable key of a target: `p=<prompt>|m=<model>`, each part URI-encoded, empty when absent. */
export function targetKey(target: { readonly prompt?: string; readonly model?: string }): string {
  return `p=${encodeURIComponent(target.prompt ?? '')}|m=${encodeURIComponent(target.model ?? '')}`;
}
const runsPk = (suite: string, target: { readonly prompt?: string; readonly model?: string }) =>
  `RUNS#${suite}#${targetKey(target)}`;

function assertVersion(field: string, version: number): void {
  if (!Number.isInteger(version) || version < 1 || version > MAX_VERSION) {
    throw new ValidationError(field, `must be a whole number from 1 to ${MAX_VERSION}`);
  }
}

/** `SET #a0 = :a0, ...` for each defined field, with its names and values. */
function setExpression(
  fields: Readonly<Record<string, unknown>>,
  prefix: string,
  wrap: (name: string, value: string) => string = (_name, value) => value,
) {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const actions: string[] = [];
  for (const [i, [name, value]] of Object.entries(fields).entries()) {
    if (value === undefined) continue;
    names[`#${prefix}${i}`] = name;
    values[`:${prefix}${i}`] = value;
    actions.push(`#${prefix}${i} = ${wrap(`#${prefix}${i}`, `:${prefix}${i}`)}`);
  }
  return { names, values, actions };
}

/** Writes this many items at a time. */
const WRITE_CONCURRENCY = 10;

const REVIEW_STATUSES: readonly StoredReviewTask['status'][] = ['open', 'labelled'];
const OUTCOME_STATUSES: readonly RunOutcome['status'][] = ['succeeded', 'failed', 'skipped'];
/** The fields a run's start sets (never taken from `init` by a claim). */
const START_FIELDS = new Set(['resolved', 'suite', 'estimatedCostUsd', 'claimedBy']);

export class DynamoEvaluationStore implements EvaluationStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #now: () => Date;

  constructor(
    documents: DynamoDBDocumentClient,
    tableName: string,
    options: DynamoEvaluationStoreOptions = {},
  ) {
    this.#doc = documents;
    this.#table = tableName;
    this.#now = options.now ?? (() => new Date());
  }

  async registerSuite(suite: SuiteVersion): Promise<'created' | 'exists'> {
    assertVersion('version', suite.version);
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#table,
          Item: defined({
            ...suite,
            type: 'SuiteVersion',
            pk: suitePk(suite.name),
            sk: suiteSk(suite.version),
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

  async getSuite(name: string, version?: number): Promise<SuiteVersion | undefined> {
    if (version !== undefined) {
      assertVersion('version', version);
      const { Item: item } = await this.#doc.send(
        new GetCommand({
          TableName: this.#table,
          Key: { pk: suitePk(name), sk: suiteSk(version) },
          ConsistentRead: true,
        }),
      );
      return item === undefined ? undefined : withoutStorageAttributes<SuiteVersion>(item);
    }
    const { Items: items } = await this.#doc.send(
      new QueryCommand({
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :v)',
        ExpressionAttributeValues: { ':pk': suitePk(name), ':v': 'V#' },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const latest = items?.[0];
    return latest === undefined ? undefined : withoutStorageAttributes<SuiteVersion>(latest);
  }

  async createRun(run: EvaluationRun): Promise<void> {
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#table,
          Item: defined({ ...run, type: 'EvaluationRun', ...runKey(run.runId) }),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new ConflictError(
          `Evaluation run ${run.runId} already exists; start a new run with another id`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  async getRun(runId: string): Promise<EvaluationRun | undefined> {
    const item = await this.#runItem(runId);
    return item === undefined ? undefined : withoutStorageAttributes<EvaluationRun>(item);
  }

  async claimRun(init: EvaluationRun, start: RunStart): Promise<boolean> {
    const updatedAt = this.#now().toISOString();
    // The start's fields and the new status are set; every other field of `init` only where it is absent
    // (a queued run keeps what it was created with).
    const plain = defined(init) as Item;
    const initFields = Object.fromEntries(
      Object.entries(plain).filter(
        ([name]) => !START_FIELDS.has(name) && name !== 'status' && name !== 'updatedAt',
      ),
    );
    const keep = setExpression(
      { ...initFields, type: 'EvaluationRun' },
      'i',
      (name, value) => `if_not_exists(${name}, ${value})`,
    );
    const set = setExpression(defined({ ...start, updatedAt }), 's');
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: runKey(init.runId),
          UpdateExpression: `SET #status = :running, ${[...set.actions, ...keep.actions].join(', ')}`,
          // A retried Plan of the execution that holds the claim takes it again; no one else does.
          ConditionExpression:
            start.claimedBy === undefined
              ? 'attribute_not_exists(pk) OR #status = :queued'
              : 'attribute_not_exists(pk) OR #status = :queued OR (#status = :running AND #claimedBy = :owner)',
          ExpressionAttributeNames: {
            '#status': 'status',
            ...(start.claimedBy === undefined ? {} : { '#claimedBy': 'claimedBy' }),
            ...set.names,
            ...keep.names,
          },
          ExpressionAttributeValues: {
            ':running': 'running',
            ':queued': 'queued',
            ...(start.claimedBy === undefined ? {} : { ':owner': start.claimedBy }),
            ...set.values,
            ...keep.values,
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async finishRun(runId: string, outcome: RunOutcome): Promise<EvaluationRun> {
    if (!OUTCOME_STATUSES.includes(outcome.status)) {
      throw new ValidationError('status', `must be one of ${OUTCOME_STATUSES.join(', ')}`);
    }
    // The index key is made of the run's suite and target, which only the stored run knows: read it,
    // then update on the condition that it has not ended meanwhile (the suite and target never change).
    const stored = await this.#runItem(runId);
    if (stored === undefined) throw this.#noSuchRun(runId);
    if (stored.status !== 'queued' && stored.status !== 'running')
      return withoutStorageAttributes<EvaluationRun>(stored);
    const finishedAt = this.#now().toISOString();
    const run = withoutStorageAttributes<EvaluationRun>(stored);
    const index =
      outcome.status === 'succeeded'
        ? {
            gsi1pk: runsPk(run.request.suite, run.request.target),
            gsi1sk: `${finishedAt}#${runId}`,
          }
        : {};
    const set = setExpression(defined({ ...outcome, updatedAt: finishedAt, ...index }), 'o');
    try {
      const { Attributes: attributes } = await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: runKey(runId),
          UpdateExpression: `SET ${set.actions.join(', ')}`,
          ConditionExpression: '#status IN (:queued, :running)',
          ExpressionAttributeNames: { '#status': 'status', ...set.names },
          ExpressionAttributeValues: { ':queued': 'queued', ':running': 'running', ...set.values },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return withoutStorageAttributes<EvaluationRun>(attributes ?? {});
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // Another execution ended it first: what it recorded stands.
      const ended = await this.#runItem(runId);
      if (ended === undefined) throw this.#noSuchRun(runId);
      return withoutStorageAttributes<EvaluationRun>(ended);
    }
  }

  async previousRun(
    suite: string,
    target: { readonly prompt?: string; readonly model?: string },
    exceptRunId: string,
  ): Promise<EvaluationRun | undefined> {
    let start: Item | undefined;
    do {
      const page = await this.#doc.send(
        new QueryCommand({
          TableName: this.#table,
          IndexName: EVALUATIONS_INDEX,
          KeyConditionExpression: 'gsi1pk = :pk',
          ExpressionAttributeValues: { ':pk': runsPk(suite, target) },
          ScanIndexForward: false,
          // Two a page: the newest and, when that is the excepted run, the one before it.
          Limit: 2,
          ExclusiveStartKey: start,
        }),
      );
      const found = (page.Items ?? []).find(
        (item) => item.runId !== exceptRunId && item.status === 'succeeded',
      );
      if (found !== undefined) return withoutStorageAttributes<EvaluationRun>(found);
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return undefined;
  }

  async getGate(
    prompt: string,
    candidateVersion: number,
    baselineVersion: number,
    suite: string,
  ): Promise<PromotionGate | undefined> {
    assertVersion('candidateVersion', candidateVersion);
    assertVersion('baselineVersion', baselineVersion);
    const { Item: item } = await this.#doc.send(
      new GetCommand({
        TableName: this.#table,
        Key: gateKey(prompt, candidateVersion, baselineVersion, suite),
        ConsistentRead: true,
      }),
    );
    return item === undefined ? undefined : withoutStorageAttributes<PromotionGate>(item);
  }

  async putGate(gate: PromotionGate): Promise<void> {
    assertVersion('candidateVersion', gate.candidateVersion);
    assertVersion('baselineVersion', gate.baselineVersion);
    await this.#doc.send(
      new PutCommand({
        TableName: this.#table,
        Item: defined({
          ...gate,
          type: 'PromotionGate',
          ...gateKey(gate.prompt, gate.candidateVersion, gate.baselineVersion, gate.suite),
        }),
      }),
    );
  }

  async addReviewTasks(tasks: readonly ReviewTask[]): Promise<number> {
    const createdAt = this.#now().toISOString();
    let added = 0;
    for (let i = 0; i < tasks.length; i += WRITE_CONCURRENCY) {
      const settled = await Promise.allSettled(
        tasks.slice(i, i + WRITE_CONCURRENCY).map((task) => this.#addReviewTask(task, createdAt)),
      );
      for (const result of settled) {
        if (result.status === 'rejected') throw result.reason;
        if (result.value) added++;
      }
    }
    return added;
  }

  async #addReviewTask(task: ReviewTask, createdAt: string): Promise<boolean> {
    const stored: StoredReviewTask = { ...task, status: 'open', createdAt };
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#table,
          Item: defined({
            ...stored,
            type: 'ReviewTask',
            ...reviewKey(task.taskId),
            gsi1pk: reviewsPk('open'),
            gsi1sk: `${createdAt}#${task.taskId}`,
          }),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async listReviewTasks(options: {
    readonly status: 'open' | 'labelled';
    readonly limit?: number;
    readonly nextToken?: string;
  }): Promise<Page<StoredReviewTask>> {
    const { status, nextToken } = options;
    if (!REVIEW_STATUSES.includes(status)) {
      throw new ValidationError('status', `must be one of ${REVIEW_STATUSES.join(', ')}`);
    }
    const limit = options.limit ?? DEFAULT_REVIEW_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_REVIEW_PAGE) {
      throw new ValidationError('limit', `must be a whole number from 1 to ${MAX_REVIEW_PAGE}`);
    }
    const spec = reviewsCursor(status);
    const startKey = nextToken === undefined ? undefined : decodeCursor(spec, nextToken);
    const page = await withCursor(spec.field, nextToken, () =>
      this.#doc.send(
        new QueryCommand({
          TableName: this.#table,
          IndexName: EVALUATIONS_INDEX,
          KeyConditionExpression: 'gsi1pk = :pk',
          ExpressionAttributeValues: { ':pk': reviewsPk(status) },
          ScanIndexForward: true,
          // One more than asked, so that the last page does not end with a token to an empty page.
          Limit: limit + 1,
          ExclusiveStartKey: startKey,
        }),
      ),
    );
    const items = page.Items ?? [];
    const shown = items.slice(0, limit);
    let lastKey: Item | undefined;
    if (items.length > limit) {
      const last = shown[shown.length - 1] as Item;
      lastKey = { pk: last.pk, sk: last.sk, gsi1pk: last.gsi1pk, gsi1sk: last.gsi1sk };
    } else {
      lastKey = page.LastEvaluatedKey;
    }
    const tasks = shown.map((item) => withoutStorageAttributes<StoredReviewTask>(item));
    return lastKey === undefined
      ? { items: tasks }
      : { items: tasks, nextToken: encodeCursor(spec, lastKey) };
  }

  async getReviewTask(taskId: string): Promise<StoredReviewTask | undefined> {
    const item = await this.#reviewItem(taskId);
    return item === undefined ? undefined : withoutStorageAttributes<StoredReviewTask>(item);
  }

  async labelReviewTask(label: ReviewLabel): Promise<StoredReviewTask> {
    const given = defined(label);
    let labelled: StoredReviewTask;
    try {
      const { Attributes: attributes } = await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: reviewKey(label.taskId),
          UpdateExpression: 'SET #status = :labelled, #label = :label, gsi1pk = :queue',
          ConditionExpression: '#status = :open',
          ExpressionAttributeNames: { '#status': 'status', '#label': 'label' },
          ExpressionAttributeValues: {
            ':open': 'open',
            ':labelled': 'labelled',
            ':label': given,
            ':queue': reviewsPk('labelled'),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      labelled = withoutStorageAttributes<StoredReviewTask>(attributes ?? {});
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const item = await this.#reviewItem(label.taskId);
      if (item === undefined) {
        throw new NotFoundError(
          `Review task ${label.taskId} does not exist; list the open tasks to find one to label`,
          { cause: error },
        );
      }
      const stored = withoutStorageAttributes<StoredReviewTask>(item);
      if (stored.status === 'labelled' && stored.label !== undefined) {
        // The first label's calibration pair may not have been written (a crash after the update).
        await this.#putCalibration(stored, stored.label);
        // The same label sent again (a retried request) is the label already given.
        if (JSON.stringify(stored.label) === JSON.stringify(given)) return stored;
      }
      const by = stored.label === undefined ? '' : ` by ${stored.label.reviewer} at ${stored.label.at}`;
      throw new ConflictError(
        `Review task ${label.taskId} is already labelled${by}; a task takes one label: list the open tasks to label another`,
        { cause: error },
      );
    }
    await this.#putCalibration(labelled, given);
    return labelled;
  }

  async calibrationLabels(rubric: string): Promise<CalibrationLabel[]> {
    const labels: CalibrationLabel[] = [];
    let start: Item | undefined;
    do {
      const page = await this.#doc.send(
        new QueryCommand({
          TableName: this.#table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': calibrationPk(rubric) },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        labels.push({
          rubric: String(item.rubric),
          judgeVerdict: item.judgeVerdict === true,
          humanVerdict: item.humanVerdict === true,
        });
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return labels;
  }

  /** The calibration pair of a labelled task: written once, a second write leaves it as it is. */
  async #putCalibration(task: ReviewTask, label: ReviewLabel): Promise<void> {
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#table,
          Item: {
            pk: calibrationPk(task.rubric),
            sk: task.taskId,
            type: 'CalibrationLabel',
            rubric: task.rubric,
            taskId: task.taskId,
            judgeVerdict: task.judgeVerdict === 'pass',
            humanVerdict: humanVerdict(label),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async #runItem(runId: string): Promise<Item | undefined> {
    const { Item: item } = await this.#doc.send(
      new GetCommand({ TableName: this.#table, Key: runKey(runId), ConsistentRead: true }),
    );
    return item;
  }

  async #reviewItem(taskId: string): Promise<Item | undefined> {
    const { Item: item } = await this.#doc.send(
      new GetCommand({ TableName: this.#table, Key: reviewKey(taskId), ConsistentRead: true }),
    );
    return item;
  }

  #noSuchRun(runId: string): NotFoundError {
    return new NotFoundError(`Evaluation run ${runId} does not exist; start one with POST /v1/evaluations`);
  }
}

/**
 * A listing of review tasks by status ends at a task of that status in the index: the table key
 * (`REVIEW#<taskId>`, `TASK`) and the index key (`REVIEWS#<status>`, `<createdAt ISO>#<taskId>`) of one
 * and the same task.
 */
function reviewsCursor(status: StoredReviewTask['status']): CursorSpec {
  return {
    listing: 'review-tasks',
    query: { status },
    field: 'nextToken',
    key: (key): CursorKey | undefined => {
      const exact = exactKey(key, {
        pk: { maxBytes: PARTITION_KEY_MAX_BYTES, prefix: REVIEW_PK_PREFIX },
        sk: { maxBytes: SORT_KEY_MAX_BYTES, equals: 'TASK' },
        gsi1pk: { maxBytes: PARTITION_KEY_MAX_BYTES, equals: reviewsPk(status) },
        gsi1sk: { maxBytes: SORT_KEY_MAX_BYTES },
      });
      if (exact === undefined) return undefined;
      const taskId = (exact.pk as string).slice(REVIEW_PK_PREFIX.length);
      const sortKey = exact.gsi1sk as string;
      const suffix = `#${taskId}`;
      if (!sortKey.endsWith(suffix)) return undefined;
      const createdAt = sortKey.slice(0, -suffix.length);
      return Number.isNaN(Date.parse(createdAt)) ? undefined : exact;
    },
  };
}
