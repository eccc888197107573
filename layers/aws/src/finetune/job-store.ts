import { type DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { FINETUNE_JOB_ID, type FinetuneJob, type FinetuneJobStatus } from '#contracts/finetune/job.ts';
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
import { defined, isConditionFailure, putIfAbsent, withoutStorageAttributes } from '../dynamo-items.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';

/**
 * The fine-tuning jobs table (the house project table: string `pk`/`sk`, index {@link FINETUNE_JOBS_INDEX}
 * on `gsi1pk`/`gsi1sk`, all attributes projected):
 *
 * | item | pk | sk | gsi1pk / gsi1sk | attributes |
 * |---|---|---|---|---|
 * | job | `job#<jobId>` | `job` | `jobs` / `<createdAt ISO>#<jobId>` | the {@link FinetuneJob} |
 *
 * A job is created once (a conditional put: a redelivered event finds it and is a duplicate) and then
 * moved by conditional updates on its status, so that two deliveries of one event, or two admins, cannot
 * both move it. `pk`, `sk`, `gsi1pk`, `gsi1sk` and `type` never leave the store.
 */
export const FINETUNE_JOBS_INDEX = 'gsi1';

/** Jobs listed per page by default, and at most. */
export const DEFAULT_JOB_PAGE = 20;
export const MAX_JOB_PAGE = 100;

const JOB_PK_PREFIX = 'job#';
const JOB_SK = 'job';
const JOBS_PK = 'jobs';
const jobKey = (jobId: string) => ({ pk: `${JOB_PK_PREFIX}${jobId}`, sk: JOB_SK });

/** What an update may change: anything but the id and the creation time (`updatedAt` is the store's). */
export type FinetuneJobPatch = Partial<Omit<FinetuneJob, 'jobId' | 'createdAt' | 'updatedAt'>>;

export interface Page<T> {
  readonly items: T[];
  readonly nextToken?: string;
}

/** A job is not in the status a move expects (another delivery or another admin moved it first). */
export class FinetuneJobStatusError extends ConflictError {
  readonly jobId: string;
  readonly status: FinetuneJobStatus;
  readonly expected: readonly FinetuneJobStatus[];
  constructor(jobId: string, status: FinetuneJobStatus, expected: readonly FinetuneJobStatus[]) {
    super(
      `Fine-tuning job ${jobId} is ${status}, not ${expected.join(' or ')}: it has moved on, read it with GET /v1/finetune-jobs/${jobId}`,
    );
    this.jobId = jobId;
    this.status = status;
    this.expected = expected;
  }
}

export interface FinetuneJobStore {
  /** Creates a job once: `exists` when a job with its id is already stored (which is left as it is). */
  claim(job: FinetuneJob): Promise<'created' | 'exists'>;
  get(jobId: string): Promise<FinetuneJob | undefined>;
  /**
   * Sets the patch's fields and `updatedAt`, only while the job is in one of `expectStatus` when given.
   * @throws NotFoundError when there is no such job; FinetuneJobStatusError when it is in another status.
   */
  update(
    jobId: string,
    patch: FinetuneJobPatch,
    options?: { readonly expectStatus?: FinetuneJobStatus | readonly FinetuneJobStatus[] },
  ): Promise<FinetuneJob>;
  /** Jobs, newest first. @throws ValidationError naming `limit` or `nextToken`. */
  list(options?: { readonly limit?: number; readonly nextToken?: string }): Promise<Page<FinetuneJob>>;
  /** The job of a candidate evaluation run (`candidate-<jobId>`), or undefined. */
  findByRunId(runId: string): Promise<FinetuneJob | undefined>;
}

export interface DynamoFinetuneJobStoreOptions {
  /** Clock for `updatedAt`. @default () => new Date() */
  readonly now?: () => Date;
}

export class DynamoFinetuneJobStore implements FinetuneJobStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #now: () => Date;

  constructor(
    documents: DynamoDBDocumentClient,
    tableName: string,
    options: DynamoFinetuneJobStoreOptions = {},
  ) {
    this.#doc = documents;
    this.#table = tableName;
    this.#now = options.now ?? (() => new Date());
  }

  async claim(job: FinetuneJob): Promise<'created' | 'exists'> {
    assertJobId('jobId', job.jobId);
    return putIfAbsent(
      this.#doc,
      this.#table,
      defined({
        ...job,
        type: 'FinetuneJob',
        ...jobKey(job.jobId),
        gsi1pk: JOBS_PK,
        gsi1sk: `${job.createdAt}#${job.jobId}`,
      }),
    );
  }

  async get(jobId: string): Promise<FinetuneJob | undefined> {
    if (!FINETUNE_JOB_ID.test(jobId)) return undefined;
    const { Item: item } = await this.#doc.send(
      new GetCommand({ TableName: this.#table, Key: jobKey(jobId), ConsistentRead: true }),
    );
    return item === undefined ? undefined : withoutStorageAttributes<FinetuneJob>(item);
  }

  async update(
    jobId: string,
    patch: FinetuneJobPatch,
    options: { readonly expectStatus?: FinetuneJobStatus | readonly FinetuneJobStatus[] } = {},
  ): Promise<FinetuneJob> {
    assertJobId('jobId', jobId);
    const expected =
      options.expectStatus === undefined
        ? undefined
        : typeof options.expectStatus === 'string'
          ? [options.expectStatus]
          : [...options.expectStatus];
    const fields = defined({ ...patch, updatedAt: this.#now().toISOString() }) as Record<string, unknown>;
    const names: Record<string, string> = { '#status': 'status' };
    const values: Record<string, unknown> = {};
    const actions: string[] = [];
    for (const [i, [name, value]] of Object.entries(fields).entries()) {
      if (['jobId', 'createdAt', 'pk', 'sk', 'gsi1pk', 'gsi1sk', 'type'].includes(name)) continue;
      const ref = name === 'status' ? '#status' : `#f${i}`;
      names[ref] = name;
      values[`:f${i}`] = value;
      actions.push(`${ref} = :f${i}`);
    }
    const conditions = ['attribute_exists(pk)'];
    if (expected !== undefined) {
      conditions.push(`#status IN (${expected.map((_, i) => `:e${i}`).join(', ')})`);
      expected.forEach((status, i) => {
        values[`:e${i}`] = status;
      });
    }
    try {
      const { Attributes: attributes } = await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: jobKey(jobId),
          UpdateExpression: `SET ${actions.join(', ')}`,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return withoutStorageAttributes<FinetuneJob>(attributes ?? {});
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const stored = await this.get(jobId);
      if (stored === undefined) throw noSuchJob(jobId, error);
      throw new FinetuneJobStatusError(jobId, stored.status, expected ?? []);
    }
  }

  async list(
    options: { readonly limit?: number; readonly nextToken?: string } = {},
  ): Promise<Page<FinetuneJob>> {
    const limit = options.limit ?? DEFAULT_JOB_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_JOB_PAGE) {
      throw new ValidationError('limit', `must be a whole number from 1 to ${MAX_JOB_PAGE}`);
    }
    const { nextToken } = options;
    const startKey = nextToken === undefined ? undefined : decodeCursor(JOBS_CURSOR, nextToken);
    const page = await withCursor(JOBS_CURSOR.field, nextToken, () =>
      this.#doc.send(
        new QueryCommand({
          TableName: this.#table,
          IndexName: FINETUNE_JOBS_INDEX,
          KeyConditionExpression: 'gsi1pk = :pk',
          ExpressionAttributeValues: { ':pk': JOBS_PK },
          ScanIndexForward: false,
          // One more than asked, so that the last page does not end with a token to an empty page.
          Limit: limit + 1,
          ExclusiveStartKey: startKey,
        }),
      ),
    );
    const items = page.Items ?? [];
    const shown = items.slice(0, limit);
    let lastKey: Record<string, unknown> | undefined;
    if (items.length > limit) {
      const last = shown[shown.length - 1] as Record<string, unknown>;
      lastKey = { pk: last.pk, sk: last.sk, gsi1pk: last.gsi1pk, gsi1sk: last.gsi1sk };
    } else {
      lastKey = page.LastEvaluatedKey;
    }
    const jobs = shown.map((item) => withoutStorageAttributes<FinetuneJob>(item));
    return lastKey === undefined
      ? { items: jobs }
      : { items: jobs, nextToken: encodeCursor(JOBS_CURSOR, lastKey) };
  }

  async findByRunId(runId: string): Promise<FinetuneJob | undefined> {
    const match = /^candidate-(ft-[0-9a-f]{16})$/.exec(runId);
    return match === null ? undefined : this.get(match[1] as string);
  }
}

function assertJobId(field: string, jobId: string): void {
  if (!FINETUNE_JOB_ID.test(jobId)) {
    throw new ValidationError(
      field,
      `must be a fine-tuning job id (ft- and 16 hex digits), got ${JSON.stringify(jobId)}`,
    );
  }
}

function noSuchJob(jobId: string, cause?: unknown): NotFoundError {
  return new NotFoundError(`No fine-tuning job ${jobId}; GET /v1/finetune-jobs lists them`, { cause });
}

/**
 * A listing of jobs ends at a job in the index: its table key (`job#<jobId>`, `job`) and its index key
 * (`jobs`, `<createdAt ISO>#<jobId>`) of one and the same job.
 */
const JOBS_CURSOR: CursorSpec = {
  listing: 'finetune-jobs',
  query: {},
  field: 'nextToken',
  key: (key): CursorKey | undefined => {
    const exact = exactKey(key, {
      pk: { maxBytes: PARTITION_KEY_MAX_BYTES, prefix: JOB_PK_PREFIX },
      sk: { maxBytes: SORT_KEY_MAX_BYTES, equals: JOB_SK },
      gsi1pk: { maxBytes: PARTITION_KEY_MAX_BYTES, equals: JOBS_PK },
      gsi1sk: { maxBytes: SORT_KEY_MAX_BYTES },
    });
    if (exact === undefined) return undefined;
    const jobId = (exact.pk as string).slice(JOB_PK_PREFIX.length);
    if (!FINETUNE_JOB_ID.test(jobId)) return undefined;
    const sortKey = exact.gsi1sk as string;
    const suffix = `#${jobId}`;
    if (!sortKey.endsWith(suffix)) return undefined;
    return Number.isNaN(Date.parse(sortKey.slice(0, -suffix.length))) ? undefined : exact;
  },
};
