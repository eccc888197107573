import { NotFoundError } from '#aws/errors.ts';
import type { CurrentServing, LockResult, RolloutRecord, RolloutStore } from '#aws/finetune/rollout-store.ts';
import type {
  ClaimResult,
  DecisionRecord,
  DriftEvidence,
  LoopStore,
  RollbackRecord,
} from '#aws/loop/loop-store.ts';
import type { LabelHistoryEntry, LabelMove, PromptRegistry } from '#aws/prompt-registry.ts';
import type { PromptRef, PromptVersion } from '#contracts/prompts/types.ts';
import type { LedgerPass } from '#core/loop/decide.ts';
import { MemoryRolloutCatalog } from '../finetune/fakes.ts';

/**
 * Fakes of the closed loop's ports: the loop store in memory with the Dynamo store's rules (first
 * evidence kept, one pass per target and run, a decision claimed once and finished once, a rollback
 * recorded once under its time and id), and the prompt registry's labels.
 */
export class FakeLoopStore implements LoopStore {
  readonly evidence = new Map<string, DriftEvidence>();
  readonly ledger = new Map<string, LedgerPass>();
  readonly decisions = new Map<string, DecisionRecord>();
  readonly audit = new Map<string, RollbackRecord>();

  async putDriftEvidence(runId: string, evidence: DriftEvidence): Promise<'created' | 'exists'> {
    if (this.evidence.has(runId)) return 'exists';
    this.evidence.set(runId, structuredClone(evidence));
    return 'created';
  }

  async getDriftEvidence(runId: string): Promise<DriftEvidence | undefined> {
    return structuredClone(this.evidence.get(runId));
  }

  async recordPass(pass: LedgerPass): Promise<'created' | 'exists'> {
    const key = `${pass.target}#${pass.runId}`;
    if (this.ledger.has(key)) return 'exists';
    this.ledger.set(key, structuredClone(pass));
    return 'created';
  }

  async passes(target: string): Promise<LedgerPass[]> {
    return [...this.ledger.values()]
      .filter((p) => p.target === target)
      .sort((a, b) => Date.parse(b.at) - Date.parse(a.at))
      .map((p) => structuredClone(p));
  }

  async getDecision(runId: string): Promise<DecisionRecord | undefined> {
    return structuredClone(this.decisions.get(runId));
  }

  async claimDecision(record: DecisionRecord): Promise<ClaimResult> {
    const held = this.decisions.get(record.runId);
    if (held !== undefined) return { claimed: false, record: structuredClone(held) };
    this.decisions.set(record.runId, structuredClone(record));
    return { claimed: true, record };
  }

  async finishDecision(
    runId: string,
    done: { outcome: DecisionRecord['outcome']; reason: string; finishedAt: string },
  ): Promise<void> {
    const held = this.decisions.get(runId);
    if (held?.status !== 'decided') return;
    this.decisions.set(runId, { ...held, ...done, status: 'done' });
  }

  async recordRollback(record: RollbackRecord): Promise<RollbackRecord> {
    const key = `${record.targetKey}#${record.at}#${record.rollbackId}`;
    const held = this.audit.get(key);
    if (held !== undefined) return structuredClone(held);
    this.audit.set(key, structuredClone(record));
    return record;
  }

  async rollbacks(target: string): Promise<RollbackRecord[]> {
    return [...this.audit.values()]
      .filter((r) => r.targetKey === target)
      .sort((a, b) => Date.parse(b.at) - Date.parse(a.at))
      .map((r) => structuredClone(r));
  }
}

/** A prompt registry's labels: `get` by label answers where the label points now; moves are recorded. */
export class FakePrompts implements Pick<PromptRegistry, 'get' | 'moveLabel' | 'labelHistory'> {
  readonly labels = new Map<string, number>();
  readonly moves: { name: string; label: string; version: number; author: string; reason?: string }[] = [];
  /** Called before each `get` (a test moves a label behind the loop's back with it). */
  beforeGet: () => void = () => {};

  point(name: string, label: string, version: number): this {
    this.labels.set(`${name}@${label}`, version);
    return this;
  }

  async get(ref: PromptRef): Promise<PromptVersion> {
    this.beforeGet();
    const version = 'version' in ref ? ref.version : this.labels.get(`${ref.name}@${ref.label}`);
    if (version === undefined) throw new NotFoundError(`Prompt ${ref.name} has no label`);
    return {
      name: ref.name,
      version,
      messages: [{ role: 'user', content: '{{question}}' }],
      variables: { question: { type: 'string' } },
      commitMessage: 'test',
      author: 'test',
      createdAt: '2026-11-01T00:00:00.000Z',
      contentHash: 'sha256:test',
      labels: [],
    };
  }

  /** The label moves of a prompt, newest first, as the registry keeps them (`point` records none). */
  async labelHistory(name: string, limit = 50): Promise<LabelHistoryEntry[]> {
    return this.history
      .filter((h) => h.name === name)
      .reverse()
      .slice(0, limit)
      .map(({ name: _name, ...entry }) => entry);
  }

  readonly history: (LabelHistoryEntry & { name: string })[] = [];

  /** Records a move made before the loop ran (a release, a forced one), as the label history holds it. */
  moved(name: string, label: string, version: number, previousVersion: number | null): this {
    this.labels.set(`${name}@${label}`, version);
    this.history.push({
      name,
      label,
      version,
      previousVersion,
      updatedAt: new Date(Date.UTC(2026, 10, 1) + this.history.length * 1000).toISOString(),
      updatedBy: 'test',
    });
    return this;
  }

  async moveLabel(
    name: string,
    label: string,
    version: number,
    author: string,
    reason?: string,
  ): Promise<LabelMove> {
    const previousVersion = this.labels.get(`${name}@${label}`) ?? null;
    this.labels.set(`${name}@${label}`, version);
    this.history.push({
      name,
      label,
      version,
      previousVersion,
      updatedAt: new Date().toISOString(),
      updatedBy: author,
      ...(reason !== undefined ? { reason } : {}),
    });
    this.moves.push({ name, label, version, author, ...(reason !== undefined ? { reason } : {}) });
    return { name, label, version, previousVersion };
  }
}

/**
 * The served lines' side of the loop (`LoopRouting`): the catalog's canary and promotion with the
 * Dynamo catalog's conditions, the rollout table's records, lock and `current`. SageMaker is the real
 * `SageMakerServing` on a mocked client.
 */
export class FakeLineCatalog extends MemoryRolloutCatalog {}

export class FakeLineRollouts
  implements Pick<RolloutStore, 'get' | 'getCurrent' | 'setCurrent' | 'acquireLock' | 'releaseLock'>
{
  readonly records = new Map<string, RolloutRecord>();
  readonly current = new Map<string, CurrentServing>();
  readonly locks = new Map<string, string>();
  /** Every lock taken, in order (a released lock is not forgotten here). */
  readonly taken: string[] = [];

  async get(served: string, rolloutId: string): Promise<RolloutRecord | undefined> {
    return structuredClone(this.records.get(`${served}/${rolloutId}`));
  }

  async getCurrent(served: string): Promise<CurrentServing | undefined> {
    return structuredClone(this.current.get(served));
  }

  async setCurrent(served: string, current: CurrentServing): Promise<void> {
    this.current.set(served, structuredClone(current));
  }

  async acquireLock(served: string, rolloutId: string): Promise<LockResult> {
    const holder = this.locks.get(served);
    if (holder !== undefined && holder !== rolloutId) return { acquired: false, holder };
    this.locks.set(served, rolloutId);
    this.taken.push(rolloutId);
    return { acquired: true };
  }

  async releaseLock(served: string, rolloutId: string): Promise<boolean> {
    if (this.locks.get(served) !== rolloutId) return false;
    this.locks.delete(served);
    return true;
  }
}
