/**
 * What the closed loop keeps, as one port, and its DynamoDB implementation, on one table (string `pk`
 * and `sk`, TTL attribute `expiresAt` in epoch seconds):
 *
 * | item | pk | sk | attributes |
 * |---|---|---|---|
 * | drift evidence (expires after 30 days) | `RUN#<runId>` | `DRIFT` | the {@link DriftEvidence}, `expiresAt` |
 * | decision on a drift run | `RUN#<runId>` | `DECISION` | the {@link DecisionRecord} |
 * | pass (the ledger) | `TARGET#<target>` | `PASS#<runId>` | the {@link LedgerPass} |
 * | rollback decision (the audit) | `TARGET#<target>` | `ROLLBACK#<at>#<rollbackId>` | the {@link RollbackRecord} |
 *
 * `<target>` is the ledger key: a prompt's name, or `model:<id>`. Every write is a conditional put or a
 * conditional update (no transactions), so that at-least-once delivery changes nothing twice: the first
 * DriftDetected of a run keeps its evidence (the other signals of the same window name the same run), a
 * run is in the ledger once however often its EvaluationCompleted comes, a drift run is decided once
 * (the claim; a redelivery finds the decision and carries out what is left of it, never deciding
 * again), and a rollback decision is recorded once under a key made of the decision's own time and id.
 * Throttling and other service errors pass through unchanged, for the handler's error mapping.
 *
 * Passes and rollbacks are read whole (a target gains a few a day) and returned newest first. DynamoDB
 * deletes expired items up to days late, so expired evidence is never returned.
 */
import { type DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { LedgerPass, RollbackOutcome } from '#core/loop/decide.ts';
import type { RolledBackDetail } from '#events/rolled-back.ts';
import { defined, isConditionFailure, putIfAbsent, withoutStorageAttributes } from '../dynamo-items.ts';

/** The drift that started a run, as the `llmops.RolledBack` evidence carries it. */
export type DriftEvidence = NonNullable<RolledBackDetail['evidence']['drift']>;

/** A rollback decision on a target, as announced: the audit of the target. */
export type RollbackRecord = RolledBackDetail & {
  /** The ledger key of the target. */
  readonly targetKey: string;
};

/** The decision on a drift run: claimed once (`decided`), then carried out (`done`). */
export interface DecisionRecord {
  readonly runId: string;
  /** The ledger key of the target, when the run asked for one the loop can move. */
  readonly targetKey?: string;
  readonly status: 'decided' | 'done';
  /** The outcome as decided; once done, as carried out (a move found production moved is `held`). */
  readonly outcome: 'none' | RollbackOutcome;
  readonly reason: string;
  /** A rollback decision's regression, in one sentence (its reason begins with it). */
  readonly regression?: string;
  /** The drift run passed the loop's comparison: it goes into the ledger. */
  readonly passed: boolean;
  /** What to record and announce: every outcome but `none`. */
  readonly rolledBack?: RolledBackDetail;
  readonly decidedAt: string;
  readonly finishedAt?: string;
}

export type ClaimResult =
  | { readonly claimed: true; readonly record: DecisionRecord }
  | { readonly claimed: false; readonly record: DecisionRecord };

export interface LoopStore {
  /** Keeps a drift's evidence under its run id until `expiresAt`; the first one stays (`exists`). */
  putDriftEvidence(runId: string, evidence: DriftEvidence, expiresAt: Date): Promise<'created' | 'exists'>;
  /** The evidence of a run's drift; undefined when none was kept or it has expired. */
  getDriftEvidence(runId: string): Promise<DriftEvidence | undefined>;
  /** Records a pass once per target and run: a second record of the same run is `exists`. */
  recordPass(pass: LedgerPass): Promise<'created' | 'exists'>;
  /** The passes of a target, newest first. */
  passes(target: string): Promise<LedgerPass[]>;
  /** The decision on a run, when one was claimed. */
  getDecision(runId: string): Promise<DecisionRecord | undefined>;
  /** Claims the decision on a run: `claimed: false` with the decision made first when there is one. */
  claimDecision(record: DecisionRecord): Promise<ClaimResult>;
  /** Marks a claimed decision done with what was carried out (once: a done decision is left as it is). */
  finishDecision(
    runId: string,
    done: {
      readonly outcome: DecisionRecord['outcome'];
      readonly reason: string;
      readonly finishedAt: string;
    },
  ): Promise<void>;
  /** Records a rollback decision once; returns the record kept (the first, when it was there already). */
  recordRollback(record: RollbackRecord): Promise<RollbackRecord>;
  /** The rollback decisions of a target, newest first. */
  rollbacks(target: string): Promise<RollbackRecord[]>;
}

/** How long a drift's evidence is kept: its run reports within hours. */
export const DRIFT_EVIDENCE_DAYS = 30;
/** The table's TTL attribute (epoch seconds). */
export const LOOP_TTL_ATTRIBUTE = 'expiresAt';

const runPk = (runId: string) => `RUN#${runId}`;
const targetPk = (target: string) => `TARGET#${target}`;
const DRIFT_SK = 'DRIFT';
const DECISION_SK = 'DECISION';
const passSk = (runId: string) => `PASS#${runId}`;
const rollbackSk = (at: string, rollbackId: string) => `ROLLBACK#${at}#${rollbackId}`;

export interface DynamoLoopStoreOptions {
  /** Clock in epoch milliseconds (expired evidence is not returned). @default Date.now */
  readonly now?: () => number;
}

export class DynamoLoopStore implements LoopStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #now: () => number;

  constructor(documents: DynamoDBDocumentClient, tableName: string, options: DynamoLoopStoreOptions = {}) {
    this.#doc = documents;
    this.#table = tableName;
    this.#now = options.now ?? Date.now;
  }

  async putDriftEvidence(
    runId: string,
    evidence: DriftEvidence,
    expiresAt: Date,
  ): Promise<'created' | 'exists'> {
    return this.#putOnce({
      ...defined(evidence),
      runId,
      type: 'DriftEvidence',
      pk: runPk(runId),
      sk: DRIFT_SK,
      [LOOP_TTL_ATTRIBUTE]: Math.floor(expiresAt.getTime() / 1000),
    });
  }

  async getDriftEvidence(runId: string): Promise<DriftEvidence | undefined> {
    const { Item: item } = await this.#doc.send(
      new GetCommand({
        TableName: this.#table,
        Key: { pk: runPk(runId), sk: DRIFT_SK },
        ConsistentRead: true,
      }),
    );
    if (item === undefined) return undefined;
    const expiresAt = Number(item[LOOP_TTL_ATTRIBUTE]);
    if (Number.isFinite(expiresAt) && expiresAt * 1000 <= this.#now()) return undefined;
    return {
      alarmName: String(item.alarmName),
      check: String(item.check),
      signal: String(item.signal),
      value: typeof item.value === 'number' ? item.value : null,
      windowEnd: String(item.windowEnd),
      method: typeof item.method === 'string' ? item.method : null,
    };
  }

  async recordPass(pass: LedgerPass): Promise<'created' | 'exists'> {
    return this.#putOnce({
      ...defined(pass),
      type: 'LoopPass',
      pk: targetPk(pass.target),
      sk: passSk(pass.runId),
    });
  }

  async passes(target: string): Promise<LedgerPass[]> {
    const items = await this.#queryAll(targetPk(target), 'PASS#');
    return items
      .map((item) => withoutStorageAttributes<LedgerPass>(item))
      .sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  }

  async getDecision(runId: string): Promise<DecisionRecord | undefined> {
    const { Item: item } = await this.#doc.send(
      new GetCommand({
        TableName: this.#table,
        Key: { pk: runPk(runId), sk: DECISION_SK },
        ConsistentRead: true,
      }),
    );
    return item === undefined ? undefined : withoutStorageAttributes<DecisionRecord>(item);
  }

  async claimDecision(record: DecisionRecord): Promise<ClaimResult> {
    const created = await this.#putOnce({
      ...defined(record),
      type: 'LoopDecision',
      pk: runPk(record.runId),
      sk: DECISION_SK,
    });
    if (created === 'created') return { claimed: true, record };
    // The claim failed its condition, so the decision is there (decisions are never deleted).
    return { claimed: false, record: (await this.getDecision(record.runId)) ?? record };
  }

  async finishDecision(
    runId: string,
    done: {
      readonly outcome: DecisionRecord['outcome'];
      readonly reason: string;
      readonly finishedAt: string;
    },
  ): Promise<void> {
    try {
      await this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: runPk(runId), sk: DECISION_SK },
          UpdateExpression: 'SET #status = :done, outcome = :outcome, reason = :reason, finishedAt = :at',
          ConditionExpression: '#status = :decided',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':done': 'done',
            ':decided': 'decided',
            ':outcome': done.outcome,
            ':reason': done.reason,
            ':at': done.finishedAt,
          },
        }),
      );
    } catch (error) {
      // Done already (a concurrent delivery finished it first): what it recorded stands.
      if (!isConditionFailure(error)) throw error;
    }
  }

  async recordRollback(record: RollbackRecord): Promise<RollbackRecord> {
    const key = { pk: targetPk(record.targetKey), sk: rollbackSk(record.at, record.rollbackId) };
    const created = await this.#putOnce({ ...defined(record), type: 'LoopRollback', ...key });
    if (created === 'created') return record;
    const { Item: item } = await this.#doc.send(
      new GetCommand({ TableName: this.#table, Key: key, ConsistentRead: true }),
    );
    return item === undefined ? record : withoutStorageAttributes<RollbackRecord>(item);
  }

  async rollbacks(target: string): Promise<RollbackRecord[]> {
    const items = await this.#queryAll(targetPk(target), 'ROLLBACK#', false);
    return items.map((item) => withoutStorageAttributes<RollbackRecord>(item));
  }

  /** Puts an item unless its key is taken. */
  async #putOnce(item: Record<string, unknown>): Promise<'created' | 'exists'> {
    return putIfAbsent(this.#doc, this.#table, item);
  }

  /** Every item of a partition whose sort key begins with `prefix`, in key order (or reversed). */
  async #queryAll(pk: string, prefix: string, forward = true): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.#doc.send(
        new QueryCommand({
          TableName: this.#table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
          ScanIndexForward: forward,
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return items;
  }
}
