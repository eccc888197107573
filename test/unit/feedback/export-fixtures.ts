import {
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import type {
  ExportedFeedback,
  FeedbackPage,
  FeedbackStore,
  InteractionStore,
} from '#aws/feedback/stores.ts';
import type { CalibrationLabel } from '#contracts/evaluation/review.ts';
import {
  type FeedbackRating,
  ratingScore,
  type StoredFeedback,
  type StoredInteraction,
} from '#contracts/feedback/feedback.ts';
import { isHeldOut } from '#core/feedback/holdout.ts';

/** Verdicts, interactions and stores of the feedback export, in memory. */

export const T0 = Date.parse('2026-12-05T06:00:00.000Z');
export const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();

/** An answered call: one user turn to prompt `promptHash`, unless told otherwise. */
export function interaction(
  id: string,
  answer: string,
  overrides: Partial<StoredInteraction> = {},
): StoredInteraction {
  return {
    interactionId: id,
    app: 'web',
    tenant: null,
    occurredAt: at(0),
    expiresAt: T0 / 1000 + 7 * 86_400,
    route: 'chat',
    prompt: { name: 'support', version: 3, ref: 'support@production' },
    model: { id: 'claude-haiku-4-5', provider: 'bedrock', modelId: 'anthropic.claude-haiku-4-5' },
    retrieval: [],
    system: null,
    messages: [{ role: 'user', content: 'How do I reset my password?' }],
    answer,
    promptHash: 'sha256:reset-password',
    truncated: false,
    ...overrides,
  };
}

/** One user's verdict on an interaction (its prompt hash copied from it). */
export function verdict(
  of: StoredInteraction,
  user: string,
  rating: FeedbackRating,
  overrides: Partial<StoredFeedback> = {},
): StoredFeedback {
  return {
    interactionId: of.interactionId,
    user,
    app: of.app,
    rating,
    score: ratingScore(rating),
    categories: [],
    promptHash: of.promptHash,
    prompt: of.prompt,
    model: of.model,
    createdAt: at(10),
    updatedAt: at(10),
    ...overrides,
  };
}

/** The feedback store port in memory: pending = not marked at its current version, oldest change first. */
export class MemoryFeedbackStore implements FeedbackStore {
  readonly verdicts = new Map<string, StoredFeedback>();
  /** Verdict key → the `updatedAt` an export used. */
  readonly used = new Map<string, string>();
  /** Record id → export id. */
  readonly exported = new Map<string, string>();
  readonly calls: string[] = [];
  /** Makes the next `markExported` fail (a run that stops after writing its files). */
  failNextMark = false;

  constructor(verdicts: readonly StoredFeedback[] = []) {
    for (const v of verdicts) this.verdicts.set(key(v), v);
  }

  add(...verdicts: StoredFeedback[]): void {
    for (const v of verdicts) this.verdicts.set(key(v), v);
  }

  async upsert(feedback: StoredFeedback) {
    const previous = this.verdicts.get(key(feedback));
    this.verdicts.set(key(feedback), feedback);
    return previous === undefined ? { created: true } : { created: false, previous };
  }

  async get(interactionId: string, user: string) {
    return this.verdicts.get(`${interactionId}#${user}`);
  }

  pendingNow(): StoredFeedback[] {
    return [...this.verdicts.values()]
      .filter((v) => this.used.get(key(v)) !== v.updatedAt)
      .sort((a, b) => compare(`${a.updatedAt}#${key(a)}`, `${b.updatedAt}#${key(b)}`));
  }

  async pending(options: { limit: number; nextToken?: string }): Promise<FeedbackPage> {
    this.calls.push('pending');
    const all = this.pendingNow();
    const from = options.nextToken === undefined ? 0 : Number(options.nextToken);
    const items = all.slice(from, from + options.limit);
    const next = from + options.limit;
    return next < all.length ? { items, nextToken: String(next) } : { items };
  }

  async byPromptHash(promptHash: string): Promise<StoredFeedback[]> {
    this.calls.push('byPromptHash');
    return [...this.verdicts.values()].filter((v) => v.promptHash === promptHash);
  }

  async exportedIds(recordIds: readonly string[]): Promise<Set<string>> {
    this.calls.push('exportedIds');
    return new Set(recordIds.filter((id) => this.exported.has(id)));
  }

  async markExported(exportId: string, recordIds: readonly string[], used: readonly ExportedFeedback[]) {
    this.calls.push('markExported');
    if (this.failNextMark) {
      this.failNextMark = false;
      throw new Error('the table went away');
    }
    for (const id of recordIds) if (!this.exported.has(id)) this.exported.set(id, exportId);
    for (const v of used) {
      const k = `${v.interactionId}#${v.user}`;
      if (this.verdicts.get(k)?.updatedAt === v.updatedAt) this.used.set(k, v.updatedAt);
    }
  }
}

const key = (v: Pick<StoredFeedback, 'interactionId' | 'user'>) => `${v.interactionId}#${v.user}`;
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The interaction store port in memory (an absent id is a missing or expired interaction). */
export class MemoryInteractionStore implements InteractionStore {
  readonly records = new Map<string, StoredInteraction>();
  constructor(records: readonly StoredInteraction[] = []) {
    for (const r of records) this.records.set(r.interactionId, r);
  }
  async put(record: StoredInteraction) {
    this.records.set(record.interactionId, record);
  }
  async get(id: string) {
    return this.records.get(id);
  }
  async getMany(ids: readonly string[]) {
    const found = new Map<string, StoredInteraction>();
    for (const id of ids) {
      const record = this.records.get(id);
      if (record !== undefined) found.set(id, record);
    }
    return found;
  }
}

/** Calibration pairs by rubric. */
export class MemoryCalibration {
  readonly labels = new Map<string, CalibrationLabel[]>();
  readonly asked: string[] = [];
  /** `agreed` of `reviewed` labels on the rubric agree. */
  set(rubric: string, reviewed: number, agreed: number): void {
    this.labels.set(
      rubric,
      Array.from({ length: reviewed }, (_, i) => ({
        rubric,
        judgeVerdict: false,
        humanVerdict: i >= agreed,
      })),
    );
  }
  async calibrationLabels(rubric: string): Promise<CalibrationLabel[]> {
    this.asked.push(rubric);
    return this.labels.get(rubric) ?? [];
  }
}

/**
 * S3 in memory behind `aws-sdk-client-mock`, with conditional puts: `IfNoneMatch: '*'` on a key that
 * exists fails with 412 PreconditionFailed, as S3 does. `failPutOnce` makes the next put of a key fail
 * (a run that stops there).
 */
export function memoryS3() {
  const mock = mockClient(S3Client);
  const objects = new Map<string, string>();
  const failing = new Set<string>();
  let puts = 0;
  const where = (bucket?: string, key?: string) => `${bucket}/${key}`;
  const install = () => {
    mock.reset();
    objects.clear();
    failing.clear();
    puts = 0;
    mock.on(PutObjectCommand).callsFake((input) => {
      const at = where(input.Bucket, input.Key);
      if (failing.delete(at)) throw new Error('the connection was reset');
      if (input.IfNoneMatch === '*' && objects.has(at)) {
        throw Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {
          name: 'PreconditionFailed',
          $metadata: { httpStatusCode: 412 },
        });
      }
      objects.set(at, String(input.Body));
      puts++;
      return { ETag: '"etag"' };
    });
    mock.on(GetObjectCommand).callsFake((input) => {
      const body = objects.get(where(input.Bucket, input.Key));
      if (body === undefined)
        throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
      return { Body: { transformToString: async () => body } };
    });
    mock.on(HeadObjectCommand).callsFake((input) => {
      const body = objects.get(where(input.Bucket, input.Key));
      if (body === undefined)
        throw new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } });
      return { ContentLength: body.length, ETag: '"etag"' };
    });
  };
  install();
  return {
    mock,
    objects,
    install,
    client: new S3Client({ region: 'us-east-1' }),
    put: (bucket: string, key: string, body: string) => objects.set(where(bucket, key), body),
    failPutOnce: (bucket: string, key: string) => failing.add(where(bucket, key)),
    get: (bucket: string, key: string) => objects.get(where(bucket, key)),
    lines: (bucket: string, key: string): unknown[] =>
      (objects.get(where(bucket, key)) ?? '')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as unknown),
    /** Puts that wrote an object (conditional puts refused are not counted). */
    puts: () => puts,
  };
}

/** A prompt hash that the share holds out (or, with `held: false`, keeps for training). */
export function promptHashWhere(held: boolean, share: number, from = 0): string {
  for (let i = from; ; i++) {
    const hash = `sha256:prompt-${i}`;
    if (isHeldOut(hash, share) === held) return hash;
  }
}
