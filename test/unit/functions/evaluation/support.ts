import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { NotFoundError } from '#aws/errors.ts';
import type {
  EvaluationStore,
  RunOutcome,
  RunStart,
  StoredReviewTask,
  SuiteVersion,
} from '#aws/eval/evaluation-store.ts';
import type { CalibrationLabel, ReviewTask } from '#contracts/evaluation/review.ts';
import type { EvaluationRun, PromotionGate } from '#contracts/evaluation/run.ts';
import { evalStaging, type StagedPlan } from '#functions/evaluation/staging.ts';

/**
 * Fakes of the Evaluate step tests: the evaluation store port in memory (with the port's rules: a claim
 * on a queued or absent run only, an end recorded once, registration once), and S3 as a map of objects
 * behind `aws-sdk-client-mock`.
 */
export class FakeEvaluationStore implements EvaluationStore {
  readonly suites = new Map<string, SuiteVersion>();
  readonly runs = new Map<string, EvaluationRun>();
  readonly gates: PromotionGate[] = [];
  readonly tasks = new Map<string, StoredReviewTask>();
  readonly labels = new Map<string, CalibrationLabel[]>();
  /** Previous runs that `previousRun` answers with, by suite. */
  readonly previous = new Map<string, EvaluationRun>();
  readonly calls: string[] = [];

  constructor(private readonly at = '2026-12-01T10:00:00.000Z') {}

  async registerSuite(suite: SuiteVersion): Promise<'created' | 'exists'> {
    this.calls.push('registerSuite');
    const key = `${suite.name}#${suite.version}`;
    if (this.suites.has(key)) return 'exists';
    this.suites.set(key, suite);
    return 'created';
  }

  async getSuite(name: string, version?: number): Promise<SuiteVersion | undefined> {
    const versions = [...this.suites.values()]
      .filter((s) => s.name === name && (version === undefined || s.version === version))
      .sort((a, b) => b.version - a.version);
    return versions[0];
  }

  async createRun(run: EvaluationRun): Promise<void> {
    this.runs.set(run.runId, run);
  }

  async getRun(runId: string): Promise<EvaluationRun | undefined> {
    return this.runs.get(runId);
  }

  async claimRun(init: EvaluationRun, start: RunStart): Promise<boolean> {
    this.calls.push('claimRun');
    const held = this.runs.get(init.runId);
    const ownRetry =
      held?.status === 'running' && start.claimedBy !== undefined && held.claimedBy === start.claimedBy;
    if (held !== undefined && held.status !== 'queued' && !ownRetry) return false;
    this.runs.set(init.runId, { ...init, ...held, ...start, status: 'running', updatedAt: this.at });
    return true;
  }

  async finishRun(runId: string, outcome: RunOutcome): Promise<EvaluationRun> {
    this.calls.push(`finishRun:${outcome.status}`);
    const held = this.runs.get(runId);
    if (held === undefined) throw new NotFoundError(`No evaluation run ${runId}`);
    if (held.status !== 'queued' && held.status !== 'running') return held;
    const ended = { ...held, ...outcome, updatedAt: this.at };
    this.runs.set(runId, ended);
    return ended;
  }

  async previousRun(suite: string): Promise<EvaluationRun | undefined> {
    return this.previous.get(suite);
  }

  async getGate(
    prompt: string,
    candidateVersion: number,
    baselineVersion: number,
    suite: string,
  ): Promise<PromotionGate | undefined> {
    return this.gates
      .filter(
        (g) =>
          g.prompt === prompt &&
          g.candidateVersion === candidateVersion &&
          g.baselineVersion === baselineVersion &&
          g.suite === suite,
      )
      .at(-1);
  }

  async putGate(gate: PromotionGate): Promise<void> {
    this.gates.push(gate);
  }

  async addReviewTasks(tasks: readonly ReviewTask[]): Promise<number> {
    let added = 0;
    for (const task of tasks) {
      if (this.tasks.has(task.taskId)) continue;
      this.tasks.set(task.taskId, { ...task, status: 'open', createdAt: this.at });
      added++;
    }
    return added;
  }

  async listReviewTasks(): Promise<{ items: StoredReviewTask[] }> {
    return { items: [...this.tasks.values()] };
  }

  async getReviewTask(taskId: string): Promise<StoredReviewTask | undefined> {
    return this.tasks.get(taskId);
  }

  async labelReviewTask(): Promise<StoredReviewTask> {
    throw new Error('not used by the Evaluate steps');
  }

  async calibrationLabels(rubric: string): Promise<CalibrationLabel[]> {
    return this.labels.get(rubric) ?? [];
  }
}

/** S3 as a map of `bucket/key` to text, behind the mocked client. */
export function memoryS3() {
  const mock = mockClient(S3Client);
  const objects = new Map<string, { body: string; contentType?: string }>();
  const at = (bucket: string | undefined, key: string | undefined) => `${bucket}/${key}`;
  const install = () => {
    mock.reset();
    objects.clear();
    mock.on(PutObjectCommand).callsFake((input) => {
      objects.set(at(input.Bucket, input.Key), {
        body: String(input.Body),
        ...(input.ContentType ? { contentType: input.ContentType } : {}),
      });
      return {};
    });
    mock.on(GetObjectCommand).callsFake((input) => {
      const object = objects.get(at(input.Bucket, input.Key));
      if (!object) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
      return { Body: { transformToString: async () => object.body } };
    });
  };
  return {
    mock,
    objects,
    install,
    client: new S3Client({ region: 'us-east-1' }),
    put: (bucket: string, key: string, body: string) => objects.set(at(bucket, key), { body }),
    text: (bucket: string, key: string): string => {
      const object = objects.get(at(bucket, key));
      if (!object) throw new Error(`no object s3://${bucket}/${key}`);
      return object.body;
    },
    json: <T = unknown>(bucket: string, key: string): T => {
      const object = objects.get(at(bucket, key));
      if (!object) throw new Error(`no object s3://${bucket}/${key}`);
      return JSON.parse(object.body) as T;
    },
  };
}

/** The run id every Evaluate step test plans. */
export const TEST_RUN = 'run-1';

/**
 * A staged plan of {@link TEST_RUN}: a candidate prompt version against a baseline on suite `golden`,
 * the offline judge, one batch; each test overrides what it is about.
 */
export function testPlan(overrides: Partial<StagedPlan> = {}): StagedPlan {
  return {
    runId: TEST_RUN,
    executionName: 'exec-1',
    trigger: 'api',
    requestedBy: 'arn:aws:iam::1:user/a',
    request: { suite: 'golden', target: { prompt: 'support:2' }, baseline: { prompt: 'support@production' } },
    suite: { name: 'golden', version: 1, items: 2, location: { bucket: 'curated', key: 'data.jsonl' } },
    target: { prompt: 'support:2' },
    baseline: { prompt: 'support:1' },
    k: 1,
    judge: { offline: true },
    calibrated: {},
    seed: TEST_RUN,
    startedAt: '2026-12-01T10:00:00.000Z',
    items: 2,
    batches: [{ index: 0, key: evalStaging.batch(TEST_RUN, 0) }],
    estimatedCostUsd: 0.01,
    ...overrides,
  };
}

/** An `llmops.EvaluationRequested` event with this detail (schema version added). */
export function evaluationRequested(detail: Record<string, unknown>) {
  return {
    version: '0',
    id: 'event-1',
    'detail-type': 'llmops.EvaluationRequested',
    source: 'llmops',
    account: '111122223333',
    time: '2026-12-01T10:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: { schemaVersion: '1.0', ...detail },
  };
}
