import { ConflictError, NotFoundError } from '#aws/errors.ts';
import type { FinetuneJobPatch, FinetuneJobStore, Page } from '#aws/finetune/job-store.ts';
import { FinetuneJobStatusError } from '#aws/finetune/job-store.ts';
import type { PromoteResult, RolloutCatalog } from '#aws/finetune/rollout-store.ts';
import type { FinetuneJob, FinetuneJobStatus } from '#contracts/finetune/job.ts';
import type { CatalogCanary, CatalogLineage, CatalogModel } from '#contracts/models/catalog.ts';

/** An in-memory job store with the Dynamo store's semantics (conditional claim and status moves). */
export class FakeJobStore implements FinetuneJobStore {
  readonly jobs = new Map<string, FinetuneJob>();
  readonly updates: { jobId: string; patch: FinetuneJobPatch }[] = [];

  async claim(job: FinetuneJob): Promise<'created' | 'exists'> {
    if (this.jobs.has(job.jobId)) return 'exists';
    this.jobs.set(job.jobId, structuredClone(job));
    return 'created';
  }

  async get(jobId: string): Promise<FinetuneJob | undefined> {
    const job = this.jobs.get(jobId);
    return job === undefined ? undefined : structuredClone(job);
  }

  async update(
    jobId: string,
    patch: FinetuneJobPatch,
    options: { expectStatus?: FinetuneJobStatus | readonly FinetuneJobStatus[] } = {},
  ): Promise<FinetuneJob> {
    const job = this.jobs.get(jobId);
    if (job === undefined) throw new NotFoundError(`No fine-tuning job ${jobId}`);
    const expected =
      options.expectStatus === undefined
        ? undefined
        : typeof options.expectStatus === 'string'
          ? [options.expectStatus]
          : [...options.expectStatus];
    if (expected !== undefined && !expected.includes(job.status)) {
      throw new FinetuneJobStatusError(jobId, job.status, expected);
    }
    const updated = {
      ...job,
      ...structuredClone(patch),
      updatedAt: '2026-12-01T10:00:00.000Z',
    } as FinetuneJob;
    this.jobs.set(jobId, updated);
    this.updates.push({ jobId, patch });
    return structuredClone(updated);
  }

  async list(): Promise<Page<FinetuneJob>> {
    return { items: [...this.jobs.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1)) };
  }

  async findByRunId(runId: string): Promise<FinetuneJob | undefined> {
    const match = /^candidate-(ft-[0-9a-f]{16})$/.exec(runId);
    return match === null ? undefined : this.get(match[1] as string);
  }
}

/** The catalog writes of the pipeline, in memory. */
export class FakeCandidateCatalog {
  readonly models = new Map<string, CatalogModel>();
  readonly deleted: string[] = [];

  async ensure(model: CatalogModel): Promise<'created' | 'exists'> {
    if (this.models.has(model.id)) return 'exists';
    this.models.set(model.id, model);
    return 'created';
  }

  async putCandidate(model: CatalogModel): Promise<void> {
    this.models.set(model.id, model);
  }

  async has(id: string): Promise<boolean> {
    return this.models.has(id);
  }

  async deleteCandidate(id: string, jobId: string): Promise<'deleted' | 'absent'> {
    const model = this.models.get(id);
    if (model?.lineage?.jobId !== jobId) return 'absent';
    this.models.delete(id);
    this.deleted.push(id);
    return 'deleted';
  }
}

export const JOB_ID = 'ft-3f9c2a7be1d04c58';
export const PACKAGE_ARN =
  'arn:aws:sagemaker:us-east-1:123456789012:model-package/LlmOps-dev-support-assistant/4';

/** A job in the given status, as the pipeline would have stored it. */
export function storedJob(status: FinetuneJobStatus, overrides: Partial<FinetuneJob> = {}): FinetuneJob {
  return {
    jobId: JOB_ID,
    status,
    trigger: 'dataset',
    requestedBy: 'dataset:support-chats:v3',
    dataset: {
      name: 'support-chats',
      version: 3,
      purpose: 'finetune',
      contentHash: `sha256:${'a'.repeat(64)}`,
    },
    baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
    recipe: 'sft-lora',
    hyperparameters: { epochs: 3 },
    trainingJob: { name: `llmops-dev-${JOB_ID}`, spot: true },
    ...(status === 'training'
      ? {}
      : { modelPackageArn: PACKAGE_ARN, candidateModel: 'support-assistant-v4' }),
    createdAt: '2026-11-22T09:12:04.000Z',
    updatedAt: '2026-11-22T09:12:04.000Z',
    ...overrides,
  };
}

/** The served catalog of a rollout in memory, with the Dynamo catalog's conditions on canary and promotion. */
export class MemoryRolloutCatalog implements RolloutCatalog {
  models = new Map<string, CatalogModel>();
  async get(id: string) {
    const found = this.models.get(id);
    return found === undefined ? undefined : structuredClone(found);
  }
  async createServed(served: string, candidate: CatalogModel) {
    if (this.models.has(served)) return 'exists' as const;
    const { evaluations: _e, evaluationScore: _s, canary: _c, ...fields } = candidate;
    this.models.set(served, { ...fields, id: served, status: 'active' });
    return 'created' as const;
  }
  async startCanary(served: string, canary: CatalogCanary) {
    const model = this.models.get(served);
    if (model === undefined) return { started: false as const, holder: null };
    if (model.canary !== undefined && model.canary.rolloutId !== canary.rolloutId) {
      return { started: false as const, holder: model.canary.rolloutId };
    }
    model.canary = { ...canary };
    return { started: true as const };
  }
  async promote(
    served: string,
    rolloutId: string,
    candidate: { inferenceComponent: string; lineage?: CatalogLineage | undefined },
  ): Promise<PromoteResult> {
    const model = this.models.get(served);
    if (model?.canary?.rolloutId === rolloutId) {
      const { canary: _canary, lineage: _lineage, ...rest } = model;
      this.models.set(served, {
        ...rest,
        inferenceComponent: candidate.inferenceComponent,
        ...(candidate.lineage ? { lineage: candidate.lineage } : {}),
      });
      return 'promoted';
    }
    if (model?.canary === undefined && model?.inferenceComponent === candidate.inferenceComponent)
      return 'already';
    throw new ConflictError(`cannot promote ${rolloutId}`);
  }
  async clearCanary(served: string, rolloutId: string) {
    const model = this.models.get(served);
    if (model?.canary?.rolloutId !== rolloutId) return false;
    delete model.canary;
    return true;
  }
  async removeServed(served: string, component: string) {
    const model = this.models.get(served);
    if (model?.inferenceComponent !== component || model.canary !== undefined) return false;
    this.models.delete(served);
    return true;
  }
  async deprecate(id: string) {
    const model = this.models.get(id);
    if (model === undefined) return false;
    model.status = 'deprecated';
    return true;
  }
}
