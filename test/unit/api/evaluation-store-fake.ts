import { ConflictError, NotFoundError, ValidationError } from '#aws/errors.ts';
import type {
  EvaluationStore,
  Page,
  RunOutcome,
  StoredReviewTask,
  SuiteVersion,
} from '#aws/eval/evaluation-store.ts';
import type { ReviewLabel } from '#contracts/evaluation/review.ts';
import type { EvaluationRun, PromotionGate } from '#contracts/evaluation/run.ts';

/**
 * The evaluation store port in memory, for handler tests: suites, runs, gate records and the review
 * queue, with the store's refusals (a run id that exists, an unknown or labelled task, a forged page
 * token) raised as the same named errors. Not for the store's own behaviour: its DynamoDB implementation
 * has its own tests.
 */
export class FakeEvaluationStore
  implements
    Pick<
      EvaluationStore,
      | 'getSuite'
      | 'createRun'
      | 'getRun'
      | 'finishRun'
      | 'getGate'
      | 'putGate'
      | 'listReviewTasks'
      | 'labelReviewTask'
    >
{
  readonly suites: SuiteVersion[] = [];
  readonly runs = new Map<string, EvaluationRun>();
  readonly gates = new Map<string, PromotionGate>();
  readonly tasks: StoredReviewTask[] = [];

  static gateKey(prompt: string, candidate: number, baseline: number, suite: string): string {
    return `${prompt}#${candidate}#${baseline}#${suite}`;
  }

  async getSuite(name: string, version?: number): Promise<SuiteVersion | undefined> {
    const versions = this.suites
      .filter((s) => s.name === name && (version === undefined || s.version === version))
      .sort((a, b) => b.version - a.version);
    return versions[0];
  }

  async createRun(run: EvaluationRun): Promise<void> {
    if (this.runs.has(run.runId)) throw new ConflictError(`Run ${run.runId} exists`);
    this.runs.set(run.runId, run);
  }

  async getRun(runId: string): Promise<EvaluationRun | undefined> {
    return this.runs.get(runId);
  }

  async finishRun(runId: string, outcome: RunOutcome): Promise<EvaluationRun> {
    const run = this.runs.get(runId);
    if (run === undefined) throw new NotFoundError(`No run ${runId}`);
    if (run.status !== 'queued' && run.status !== 'running') return run;
    const finished = { ...run, ...outcome, updatedAt: run.updatedAt };
    this.runs.set(runId, finished);
    return finished;
  }

  async getGate(
    prompt: string,
    candidateVersion: number,
    baselineVersion: number,
    suite: string,
  ): Promise<PromotionGate | undefined> {
    return this.gates.get(FakeEvaluationStore.gateKey(prompt, candidateVersion, baselineVersion, suite));
  }

  async putGate(gate: PromotionGate): Promise<void> {
    this.gates.set(
      FakeEvaluationStore.gateKey(gate.prompt, gate.candidateVersion, gate.baselineVersion, gate.suite),
      gate,
    );
  }

  /** Pages by position; a token is `p<index>` base64url-encoded, anything else is refused. */
  async listReviewTasks(options: {
    readonly status: 'open' | 'labelled';
    readonly limit?: number;
    readonly nextToken?: string;
  }): Promise<Page<StoredReviewTask>> {
    const limit = options.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      throw new ValidationError('limit', 'must be a whole number from 1 to 100');
    }
    let start = 0;
    if (options.nextToken !== undefined) {
      const decoded = /^p(\d+)$/.exec(Buffer.from(options.nextToken, 'base64url').toString('utf8'));
      if (decoded === null) {
        throw new ValidationError(
          'nextToken',
          'is not a token this listing returned for this query; list again without it',
        );
      }
      start = Number(decoded[1]);
    }
    const matching = this.tasks.filter((task) => task.status === options.status);
    const items = matching.slice(start, start + limit);
    const end = start + items.length;
    return end < matching.length
      ? { items, nextToken: Buffer.from(`p${end}`).toString('base64url') }
      : { items };
  }

  async labelReviewTask(label: ReviewLabel): Promise<StoredReviewTask> {
    const index = this.tasks.findIndex((task) => task.taskId === label.taskId);
    const task = this.tasks[index];
    if (task === undefined) throw new NotFoundError(`No review task ${label.taskId}`);
    if (task.status === 'labelled')
      throw new ConflictError(`Review task ${label.taskId} is already labelled`);
    const labelled: StoredReviewTask = { ...task, status: 'labelled', label };
    this.tasks[index] = labelled;
    return labelled;
  }
}
