/**
 * What the evaluation capability keeps, as one port: registered suites, runs, the gate records that a
 * prompt's `production` label move reads, and the human review queue with the labels that calibrate the
 * judges. `DynamoEvaluationStore` (`./dynamo-evaluation-store.ts`) keeps them in one DynamoDB table; the
 * handlers depend on this interface only.
 */
import type { CalibrationLabel, ReviewLabel, ReviewTask } from '#contracts/evaluation/review.ts';
import type { EvaluationRun, PromotionGate, RunStatus } from '#contracts/evaluation/run.ts';

/** A registered suite version: a golden dataset version that DataPrep curated. */
export interface SuiteVersion {
  readonly name: string;
  readonly version: number;
  /** Items (curated records) in the version. */
  readonly items: number;
  /** Distinct item tags, sorted. */
  readonly tags: readonly string[];
  /** The curated data file the items are read from. */
  readonly location: { readonly bucket: string; readonly key: string };
  /** The dataset version's content hash (`sha256:…`). */
  readonly contentHash: string;
  readonly registeredAt: string;
}

/** What a run's end records. */
export type RunOutcome = Pick<
  EvaluationRun,
  'failed' | 'metrics' | 'gate' | 'regression' | 'report' | 'error' | 'judge'
> & { readonly status: Extract<RunStatus, 'succeeded' | 'failed' | 'skipped'> };

/** What a run's start records (the plan's resolution of the request). */
export type RunStart = Pick<EvaluationRun, 'resolved' | 'suite' | 'estimatedCostUsd' | 'claimedBy'>;

/** A review task in the queue: the task, and the person's label once given. */
export interface StoredReviewTask extends ReviewTask {
  readonly status: 'open' | 'labelled';
  readonly createdAt: string;
  readonly label?: ReviewLabel;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Opaque cursor of the next page (validated when it comes back), absent on the last page. */
  readonly nextToken?: string;
}

export interface EvaluationStore {
  /** Registers a suite version once: a second registration of the same name and version is `exists`. */
  registerSuite(suite: SuiteVersion): Promise<'created' | 'exists'>;
  /** A suite version, or the latest registered one without `version`; undefined when none is registered. */
  getSuite(name: string, version?: number): Promise<SuiteVersion | undefined>;

  /** Creates a `queued` run (API, promotion). @throws ConflictError when the run id exists. */
  createRun(run: EvaluationRun): Promise<void>;
  getRun(runId: string): Promise<EvaluationRun | undefined>;
  /**
   * Claims a run for an execution: a `queued` run becomes `running` with `start`; an absent one (a
   * scheduled run) is created `running` from `init`; a `running` one claimed by the same execution
   * (`start.claimedBy`: a retried Plan) is claimed again. `false` when another execution claimed it or it
   * has ended (a redelivered event: nothing changes).
   */
  claimRun(init: EvaluationRun, start: RunStart): Promise<boolean>;
  /**
   * Records a run's end once (a run that already ended is left as it is and returned unchanged). Runs
   * that succeed are indexed by suite and target for {@link previousRun}.
   */
  finishRun(runId: string, outcome: RunOutcome): Promise<EvaluationRun>;
  /** The latest succeeded run of a suite (name) and target before `before` (a run id excluded). */
  previousRun(
    suite: string,
    target: { readonly prompt?: string; readonly model?: string },
    exceptRunId: string,
  ): Promise<EvaluationRun | undefined>;

  /** The gate record of a candidate prompt version against a baseline version on a suite. */
  getGate(
    prompt: string,
    candidateVersion: number,
    baselineVersion: number,
    suite: string,
  ): Promise<PromotionGate | undefined>;
  /** Writes (replaces) a gate record. */
  putGate(gate: PromotionGate): Promise<void>;

  /** Adds review tasks; a task id already queued is left as it is. Returns how many were added. */
  addReviewTasks(tasks: readonly ReviewTask[]): Promise<number>;
  /** Review tasks by status, oldest first. */
  listReviewTasks(options: {
    readonly status: 'open' | 'labelled';
    readonly limit?: number;
    readonly nextToken?: string;
  }): Promise<Page<StoredReviewTask>>;
  getReviewTask(taskId: string): Promise<StoredReviewTask | undefined>;
  /**
   * Labels an open task once. @throws NotFoundError for an unknown task, ConflictError when it is already
   * labelled.
   */
  labelReviewTask(label: ReviewLabel): Promise<StoredReviewTask>;
  /** Every labelled task of a rubric version, as calibration pairs (the judge's and the person's verdict). */
  calibrationLabels(rubric: string): Promise<CalibrationLabel[]>;
}
