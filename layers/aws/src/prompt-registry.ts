import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  LABEL_NAME,
  PROMPT_NAME,
  type PromptDraft,
  type PromptRef,
  type PromptVersion,
} from '#contracts/prompts/types.ts';
import { contentHash } from '#core/prompts/hash.ts';
import { validateDraft } from '#core/prompts/template.ts';
import { type Backoff, makeBackoff } from './backoff.ts';
import {
  type CursorSpec,
  decodeCursor,
  encodeCursor,
  exactKey,
  PARTITION_KEY_MAX_BYTES,
  SORT_KEY_MAX_BYTES,
  withCursor,
} from './cursor.ts';
import { defined, isConditionFailure } from './dynamo-items.ts';
import { ConflictError, NotFoundError, ValidationError } from './errors.ts';

/**
 * The prompt registry: immutable, numbered versions of each prompt, and movable labels pointing at
 * them. One DynamoDB table with keys `pk`/`sk` (strings), nothing else:
 *
 * | item | pk | sk | attributes |
 * |---|---|---|---|
 * | version (immutable) | `PROMPT#<name>` | `V#<version, 10 digits>` | name, version, messages, variables, model?, commitMessage, author, createdAt, contentHash |
 * | label | `PROMPT#<name>` | `LABEL#<label>` | label, version, updatedAt, updatedBy |
 * | label move (history) | `PROMPT#<name>` | `LABELLOG#<ISO time>#<label>#<version>` | label, version, previousVersion, updatedAt, updatedBy, reason? |
 *
 * Version numbers are dense (1, 2, 3, ...): a writer puts `latest + 1` with `attribute_not_exists(pk)`
 * and, when a concurrent writer took that number, reads again and retries. The `latest` label follows
 * with a conditional update that only ever moves it forward. Other labels move only by hand. Writes
 * are conditional puts and updates (no transactions), so the registry behaves the same on DynamoDB and
 * on local emulators.
 *
 * Reads are cached in the process: versions indefinitely (they never change), a prompt's labels for
 * `cacheTtlMs`. Label moves made by this instance take effect at once for it; other instances see them
 * within `cacheTtlMs`.
 */
export interface PromptRegistryOptions {
  /** How long a prompt's labels are cached. @default 10_000 */
  readonly cacheTtlMs?: number;
  /** Clock in epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** Tries to allocate a version number under contention before giving up. @default 30 */
  readonly maxAttempts?: number;
  /** Waits `ms` before the next try for a version number. @default a timer (tests inject their own) */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A version as listed: everything but its content. */
export interface PromptVersionSummary {
  readonly version: number;
  readonly commitMessage: string;
  readonly author: string;
  readonly createdAt: string;
  readonly contentHash: string;
  readonly labels: string[];
}

export interface PromptVersionPage {
  readonly name: string;
  /** Newest first. */
  readonly versions: PromptVersionSummary[];
  /** Every label of the prompt and the version it points at. */
  readonly labels: Record<string, number>;
  /** Present when more versions follow: pass it back to get the next page. */
  readonly nextToken?: string;
}

export interface LabelMove {
  readonly name: string;
  readonly label: string;
  readonly version: number;
  /** Where the label pointed before, or null when it is new. */
  readonly previousVersion: number | null;
}

export interface LabelHistoryEntry {
  readonly label: string;
  readonly version: number;
  readonly previousVersion: number | null;
  readonly updatedAt: string;
  readonly updatedBy: string;
  /** Why the label was moved, when the mover said (a forced promotion must). */
  readonly reason?: string;
}

/** What {@link PromptRegistry.seed} wrote. */
export interface PromptSeedResult {
  /** Version 1 was written by this call. */
  readonly created: boolean;
  /** The label was created on version 1 by this call. */
  readonly labelled: boolean;
}

/** The label the registry maintains itself: always the highest version. */
export const LATEST_LABEL = 'latest';

/** A stored version (labels are added when it is read). */
type StoredVersion = Omit<PromptVersion, 'labels'>;

/** DynamoDB's item limit is 400 KB; keep a margin for attribute names and the key. */
const MAX_ITEM_BYTES = 390_000;
const MAX_CACHED_VERSIONS = 500;
const MAX_CACHED_PROMPTS = 500;

const pk = (name: string) => `PROMPT#${name}`;
const versionSk = (version: number) => `V#${String(version).padStart(10, '0')}`;
const labelSk = (label: string) => `LABEL#${label}`;
const VERSION_SK = /^V#\d{10}$/;

/** Sets a key in a Map used as an LRU: re-inserted entries move to the end; the oldest is evicted. */
function remember<K, V>(cache: Map<K, V>, key: K, value: V, max: number): void {
  cache.delete(key);
  cache.set(key, value);
  if (cache.size > max) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const field of Object.values(value)) deepFreeze(field);
    Object.freeze(value);
  }
  return value;
}

function labelsOf(labels: Readonly<Record<string, number>>, version: number): string[] {
  return Object.keys(labels)
    .filter((label) => labels[label] === version)
    .sort();
}

/**
 * A draft as a stored version (without its number): validated, its content normalized and hashed.
 * @throws ValidationError when the draft is invalid or the version would not fit in one item.
 */
function newVersion(
  name: string,
  draft: PromptDraft,
  author: string,
  createdAt: string,
): Omit<StoredVersion, 'version'> {
  assertName(name);
  validateDraft(draft);
  const content = defined({
    messages: draft.messages.map(({ role, content }) => ({ role, content })),
    variables: Object.fromEntries(
      Object.entries(draft.variables).map(([key, spec]) => [
        key,
        { type: spec.type, required: spec.required, description: spec.description },
      ]),
    ),
    model: draft.model && {
      id: draft.model.id,
      temperature: draft.model.temperature,
      maxTokens: draft.model.maxTokens,
    },
  });
  const base = {
    name,
    ...content,
    commitMessage: draft.commitMessage,
    author,
    createdAt,
    contentHash: contentHash(content),
  };
  const bytes = Buffer.byteLength(JSON.stringify(base), 'utf8');
  if (bytes > MAX_ITEM_BYTES) {
    throw new ValidationError(
      'messages',
      `the stored version would be ${bytes} bytes; a version holds at most ${MAX_ITEM_BYTES} bytes`,
    );
  }
  return base;
}

function assertName(name: string): void {
  if (!PROMPT_NAME.test(name)) throw new ValidationError('name', 'must match ^[a-z0-9][a-z0-9_-]{0,63}$');
}

interface LabelCacheEntry {
  readonly expiresAt: number;
  readonly labels: Promise<Record<string, number>>;
}

export class PromptRegistry {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** Waits between tries for a version number that a concurrent writer took: short, jittered. */
  readonly #numberBackoff: Backoff;
  readonly #versions = new Map<string, StoredVersion>();
  readonly #labels = new Map<string, LabelCacheEntry>();

  constructor(doc: DynamoDBDocumentClient, tableName: string, options: PromptRegistryOptions = {}) {
    this.#doc = doc;
    this.#table = tableName;
    this.#ttlMs = options.cacheTtlMs ?? 10_000;
    this.#now = options.now ?? Date.now;
    // Up to 2, 4, 8, ... ms, at most 50: a conflict means another writer is mid-write, not a loaded table.
    this.#numberBackoff = makeBackoff({
      maxAttempts: options.maxAttempts ?? 30,
      baseDelayMs: 2,
      maxDelayMs: 50,
      sleep: options.sleep,
    });
  }

  /**
   * Stores a draft as the next version of a prompt (version 1 creates the prompt) and moves `latest`
   * to it. No other label moves: `production` and the rest are moved by hand with {@link moveLabel}.
   * @throws ValidationError when the draft is invalid (undeclared placeholder, misplaced system message).
   * @throws ConflictError when concurrent writers kept taking the next number for every attempt.
   */
  async createVersion(name: string, draft: PromptDraft, author: string): Promise<PromptVersion> {
    const base = newVersion(name, draft, author, new Date(this.#now()).toISOString());
    const { createdAt } = base;

    let version = (await this.#latestVersion(name)) + 1;
    let stored: StoredVersion | undefined;
    for (let attempt = 1; stored === undefined; attempt++) {
      const candidate: StoredVersion = { ...base, version };
      try {
        await this.#doc.send(
          new PutCommand({
            TableName: this.#table,
            Item: { pk: pk(name), sk: versionSk(version), type: 'PromptVersion', ...candidate },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
        stored = candidate;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        if (attempt >= this.#numberBackoff.maxAttempts) {
          throw new ConflictError(
            `Could not create a version of prompt ${name}: ${attempt} concurrent writers took the next number first; try again`,
            { cause: error },
          );
        }
        // Another writer took this number: jump past it and past whatever is now the latest.
        await this.#numberBackoff.sleep(attempt);
        version = Math.max(version + 1, (await this.#latestVersion(name)) + 1);
      }
    }

    const movedLatest = await this.#advanceLatest(name, stored.version, author, createdAt);
    remember(this.#versions, `${name}#${stored.version}`, deepFreeze(stored), MAX_CACHED_VERSIONS);
    this.#labels.delete(name);
    return { ...stored, labels: movedLatest ? [LATEST_LABEL] : [] };
  }

  /**
   * Seeds a prompt from code, with conditional writes only, so that cold starts seeding at once agree and
   * nothing an administrator did is undone. When the prompt has `label`, nothing is written (where the
   * label points is an administrator's decision). Otherwise the draft becomes version 1 unless version 1
   * exists (`attribute_not_exists`), and `label` is created on version 1 (`attribute_not_exists`) when
   * version 1 holds the draft's content; a version 1 with other content (the prompt was created by
   * hand first) gets no label from the seed.
   * @throws ValidationError when the draft is invalid, or for `latest` or a malformed label.
   */
  async seed(name: string, draft: PromptDraft, author: string, label: string): Promise<PromptSeedResult> {
    assertName(name);
    if (label === LATEST_LABEL || !LABEL_NAME.test(label)) {
      throw new ValidationError('label', 'must match ^[a-z][a-z0-9_-]{0,31}$ and not be "latest"');
    }
    const first: StoredVersion = {
      ...newVersion(name, draft, author, new Date(this.#now()).toISOString()),
      version: 1,
    };
    if ((await this.#refreshLabels(name))[label] !== undefined) return { created: false, labelled: false };
    let created = false;
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#table,
          Item: { pk: pk(name), sk: versionSk(1), type: 'PromptVersion', ...first },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      created = true;
      await this.#advanceLatest(name, 1, author, first.createdAt);
    } catch (error) {
      // Version 1 exists: seeded by a concurrent cold start or an earlier one, or created by hand.
      if (!isConditionFailure(error)) throw error;
    }
    this.#labels.delete(name);
    const stored = created ? first : await this.#version(name, 1);
    if (stored?.contentHash !== first.contentHash) return { created, labelled: false };
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.#table,
          Item: {
            pk: pk(name),
            sk: labelSk(label),
            label,
            version: 1,
            updatedAt: first.createdAt,
            updatedBy: author,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      // The label was created meanwhile (a concurrent seed, or an administrator): it stays where it is.
      if (!isConditionFailure(error)) throw error;
      return { created, labelled: false };
    }
    await this.#doc.send(
      new PutCommand({
        TableName: this.#table,
        Item: {
          pk: pk(name),
          sk: `LABELLOG#${first.createdAt}#${label}#1`,
          type: 'LabelMove',
          label,
          version: 1,
          previousVersion: null,
          updatedAt: first.createdAt,
          updatedBy: author,
          reason: 'seeded',
        },
      }),
    );
    this.#labels.delete(name);
    return { created, labelled: true };
  }

  /**
   * Reads a version by number or by label, with the labels that point at it.
   * @throws NotFoundError for an unknown prompt, label or version, saying how to get one.
   */
  async get(ref: PromptRef): Promise<PromptVersion> {
    assertName(ref.name);
    const labels = await this.#labelsOf(ref.name);
    let version: number;
    if ('version' in ref) {
      version = ref.version;
    } else {
      const target = labels[ref.label];
      if (target === undefined) throw await this.#unknownLabel(ref.name, ref.label);
      version = target;
    }
    const stored = await this.#version(ref.name, version);
    if (stored === undefined) throw await this.#unknownVersion(ref.name, version);
    return { ...stored, labels: labelsOf(labels, version) };
  }

  /**
   * Lists a prompt's versions, newest first, without their content, with every label of the prompt.
   * @throws ValidationError for a limit outside 1..100 or a token that is not from this listing.
   * @throws NotFoundError when the prompt has no version.
   */
  async listVersions(
    name: string,
    options: { readonly limit?: number; readonly nextToken?: string } = {},
  ): Promise<PromptVersionPage> {
    assertName(name);
    const limit = options.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      throw new ValidationError('limit', 'must be a whole number from 1 to 100');
    }
    const cursor = versionsCursor(name);
    const startKey = options.nextToken === undefined ? undefined : decodeCursor(cursor, options.nextToken);
    const [page, labels] = await Promise.all([
      withCursor(cursor.field, options.nextToken, () =>
        this.#doc.send(
          new QueryCommand({
            TableName: this.#table,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :v)',
            ExpressionAttributeValues: { ':pk': pk(name), ':v': 'V#' },
            ExpressionAttributeNames: { '#v': 'version' },
            ProjectionExpression: 'pk, sk, #v, commitMessage, author, createdAt, contentHash',
            ScanIndexForward: false,
            // One more than asked, so the last page does not end with a token to an empty page.
            Limit: limit + 1,
            ExclusiveStartKey: startKey,
            ConsistentRead: true,
          }),
        ),
      ),
      this.#refreshLabels(name),
    ]);
    const items = page.Items ?? [];
    if (items.length === 0 && startKey === undefined && Object.keys(labels).length === 0) {
      throw this.#noSuchPrompt(name);
    }
    const shown = items.slice(0, limit);
    let lastKey: Record<string, unknown> | undefined;
    if (items.length > limit) {
      const last = shown[shown.length - 1];
      lastKey = last && { pk: last.pk, sk: last.sk };
    } else {
      lastKey = page.LastEvaluatedKey;
    }
    const versions = shown.map((item) => ({
      version: Number(item.version),
      commitMessage: String(item.commitMessage),
      author: String(item.author),
      createdAt: String(item.createdAt),
      contentHash: String(item.contentHash),
      labels: labelsOf(labels, Number(item.version)),
    }));
    return lastKey === undefined
      ? { name, versions, labels: { ...labels } }
      : { name, versions, labels: { ...labels }, nextToken: encodeCursor(cursor, lastKey) };
  }

  /**
   * Points a label at an existing version (a release, or a rollback to an older one). The move is
   * recorded in the label history, with `reason` when one is given (the audit of a forced promotion).
   * @throws ValidationError for `latest` (the registry moves it) or a malformed label.
   * @throws NotFoundError when the version does not exist.
   */
  async moveLabel(
    name: string,
    label: string,
    version: number,
    author: string,
    reason?: string,
  ): Promise<LabelMove> {
    assertName(name);
    if (label === LATEST_LABEL) {
      throw new ValidationError(
        'label',
        '"latest" always points at the newest version and cannot be moved by hand',
      );
    }
    if (!LABEL_NAME.test(label)) throw new ValidationError('label', 'must match ^[a-z][a-z0-9_-]{0,31}$');
    if (!Number.isInteger(version) || version < 1) {
      throw new ValidationError('version', 'must be a positive whole number');
    }
    // Versions are immutable and never deleted, so a version read now still exists when the label moves.
    if ((await this.#version(name, version)) === undefined) throw await this.#unknownVersion(name, version);
    const updatedAt = new Date(this.#now()).toISOString();
    const result = await this.#doc.send(
      new UpdateCommand({
        TableName: this.#table,
        Key: { pk: pk(name), sk: labelSk(label) },
        UpdateExpression: 'SET #v = :v, #label = :label, updatedAt = :at, updatedBy = :by',
        ExpressionAttributeNames: { '#v': 'version', '#label': 'label' },
        ExpressionAttributeValues: { ':v': version, ':label': label, ':at': updatedAt, ':by': author },
        ReturnValues: 'ALL_OLD',
      }),
    );
    this.#labels.delete(name);
    const old = result.Attributes?.version;
    const previousVersion = old === undefined ? null : Number(old);
    await this.#doc.send(
      new PutCommand({
        TableName: this.#table,
        Item: {
          pk: pk(name),
          sk: `LABELLOG#${updatedAt}#${label}#${version}`,
          type: 'LabelMove',
          label,
          version,
          previousVersion,
          updatedAt,
          updatedBy: author,
          ...(reason !== undefined ? { reason } : {}),
        },
      }),
    );
    return { name, label, version, previousVersion };
  }

  /** The label moves of a prompt, newest first (`latest` is not recorded: it follows every version). */
  async labelHistory(name: string, limit = 50): Promise<LabelHistoryEntry[]> {
    assertName(name);
    const result = await this.#doc.send(
      new QueryCommand({
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :log)',
        ExpressionAttributeValues: { ':pk': pk(name), ':log': 'LABELLOG#' },
        ScanIndexForward: false,
        Limit: Math.min(Math.max(1, Math.floor(limit)), 1000),
      }),
    );
    return (result.Items ?? []).map((item) => ({
      label: String(item.label),
      version: Number(item.version),
      previousVersion: item.previousVersion === null ? null : Number(item.previousVersion),
      updatedAt: String(item.updatedAt),
      updatedBy: String(item.updatedBy),
      ...(typeof item.reason === 'string' ? { reason: item.reason } : {}),
    }));
  }

  /** The highest stored version number, 0 when the prompt has none. */
  async #latestVersion(name: string): Promise<number> {
    const result = await this.#doc.send(
      new QueryCommand({
        TableName: this.#table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :v)',
        ExpressionAttributeValues: { ':pk': pk(name), ':v': 'V#' },
        ExpressionAttributeNames: { '#v': 'version' },
        ProjectionExpression: '#v',
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const item = result.Items?.[0];
    return item === undefined ? 0 : Number(item.version);
  }

  /** Moves `latest` to a version unless it already points at a newer one. */
  async #advanceLatest(name: string, version: number, author: string, at: string): Promise<boolean> {
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: pk(name), sk: labelSk(LATEST_LABEL) },
          UpdateExpression: 'SET #v = :v, #label = :label, updatedAt = :at, updatedBy = :by',
          ConditionExpression: 'attribute_not_exists(#v) OR #v < :v',
          ExpressionAttributeNames: { '#v': 'version', '#label': 'label' },
          ExpressionAttributeValues: { ':v': version, ':label': LATEST_LABEL, ':at': at, ':by': author },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async #version(name: string, version: number): Promise<StoredVersion | undefined> {
    const key = `${name}#${version}`;
    const cached = this.#versions.get(key);
    if (cached !== undefined) {
      remember(this.#versions, key, cached, MAX_CACHED_VERSIONS);
      return cached;
    }
    const { Item: item } = await this.#doc.send(
      new GetCommand({
        TableName: this.#table,
        Key: { pk: pk(name), sk: versionSk(version) },
        // A version created a moment ago must be found: it is read once, then cached for good.
        ConsistentRead: true,
      }),
    );
    if (item === undefined) return undefined;
    const stored: StoredVersion = deepFreeze({
      name: String(item.name),
      version: Number(item.version),
      messages: item.messages,
      variables: item.variables,
      ...(item.model === undefined ? {} : { model: item.model }),
      commitMessage: String(item.commitMessage),
      author: String(item.author),
      createdAt: String(item.createdAt),
      contentHash: String(item.contentHash),
    });
    remember(this.#versions, key, stored, MAX_CACHED_VERSIONS);
    return stored;
  }

  /** A prompt's labels, from the cache while it is fresh. */
  #labelsOf(name: string): Promise<Record<string, number>> {
    const cached = this.#labels.get(name);
    if (cached !== undefined && cached.expiresAt > this.#now()) return cached.labels;
    return this.#refreshLabels(name);
  }

  /** Reads a prompt's labels and caches them (concurrent readers share one read). */
  #refreshLabels(name: string): Promise<Record<string, number>> {
    const labels = this.#readLabels(name);
    const entry: LabelCacheEntry = { expiresAt: this.#now() + this.#ttlMs, labels };
    remember(this.#labels, name, entry, MAX_CACHED_PROMPTS);
    labels.catch(() => {
      if (this.#labels.get(name) === entry) this.#labels.delete(name);
    });
    return labels;
  }

  async #readLabels(name: string): Promise<Record<string, number>> {
    const labels: Record<string, number> = {};
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.#doc.send(
        new QueryCommand({
          TableName: this.#table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :label)',
          ExpressionAttributeValues: { ':pk': pk(name), ':label': 'LABEL#' },
          ExpressionAttributeNames: { '#v': 'version', '#label': 'label' },
          ProjectionExpression: '#label, #v',
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) labels[String(item.label)] = Number(item.version);
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return labels;
  }

  #noSuchPrompt(name: string): NotFoundError {
    return new NotFoundError(
      `Prompt ${name} does not exist; create it with POST /v1/prompts/${name}/versions`,
    );
  }

  async #unknownLabel(name: string, label: string): Promise<NotFoundError> {
    const latest = await this.#latestVersion(name);
    if (latest === 0) return this.#noSuchPrompt(name);
    return new NotFoundError(
      `Prompt ${name} has no label "${label}"; move a label with PUT /v1/prompts/${name}/labels/${label} ` +
        `or ask for ${name}@${LATEST_LABEL}`,
    );
  }

  async #unknownVersion(name: string, version: number): Promise<NotFoundError> {
    const latest = await this.#latestVersion(name);
    if (latest === 0) return this.#noSuchPrompt(name);
    return new NotFoundError(`Prompt ${name} has no version ${version}; its latest version is ${latest}`);
  }
}

/** A listing of a prompt's versions ends at a version item of that prompt: `pk`, `sk` = `V#<10 digits>`. */
function versionsCursor(name: string): CursorSpec {
  return {
    listing: 'prompt-versions',
    query: { name },
    field: 'nextToken',
    key: (key) =>
      exactKey(key, {
        pk: { maxBytes: PARTITION_KEY_MAX_BYTES, equals: pk(name) },
        sk: { maxBytes: SORT_KEY_MAX_BYTES, pattern: VERSION_SK },
      }),
  };
}
