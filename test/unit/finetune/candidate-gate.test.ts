// The functions' environment, set before their handler modules are imported (they read it at import).
import '../../support/env/finetune.ts';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DeleteInferenceComponentCommand,
  DescribeInferenceComponentCommand,
  SageMakerClient,
  UpdateInferenceComponentRuntimeConfigCommand,
  UpdateModelPackageCommand,
} from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '#aws/errors.ts';
import type { SuiteVersion } from '#aws/eval/evaluation-store.ts';
import { candidateCatalogEntry } from '#aws/finetune/candidates.ts';
import { ModelRegistry } from '#aws/finetune/model-registry.ts';
import { evaluationRequestedDetail } from '#events/evaluation-requested.ts';
import { rawSample } from '#events/samples.ts';
import { TEST_FINETUNE_SETTINGS } from '../../support/env/finetune.ts';
import { FakeCandidateCatalog, FakeJobStore, JOB_ID, PACKAGE_ARN, storedJob } from './fakes.ts';

const candidate = await import('#functions/finetune/candidate.ts');
const gate = await import('#functions/finetune/gate.ts');

const sagemaker = mockClient(SageMakerClient);
const events = mockClient(EventBridgeClient);
afterAll(() => {
  sagemaker.restore();
  events.restore();
});

const COMPONENT = `llmops-dev-${JOB_ID}`;
const registered = {
  jobId: JOB_ID,
  modelPackageArn: PACKAGE_ARN,
  modelPackageVersion: 4,
  candidateModel: 'support-assistant-v4',
  inferenceComponent: COMPONENT,
  baselineModel: 'llama-3-1-8b-instruct',
  artifact: { bucket: 'artifacts-test', key: 'finetune/output/t/output/model.tar.gz' },
  placeholder: false,
};

let store: FakeJobStore;
let catalog: FakeCandidateCatalog;

beforeEach(() => {
  sagemaker.reset();
  events.reset();
  events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
  sagemaker.on(UpdateModelPackageCommand).resolves({ ModelPackageArn: PACKAGE_ARN });
  sagemaker.on(DeleteInferenceComponentCommand).resolves({});
  store = new FakeJobStore();
  catalog = new FakeCandidateCatalog();
  void catalog.putCandidate(
    candidateCatalogEntry({
      id: 'support-assistant-v4',
      settings: TEST_FINETUNE_SETTINGS,
      endpointName: 'ep',
      inferenceComponent: COMPONENT,
      region: 'us-east-1',
      lineage: {
        jobId: JOB_ID,
        modelPackageArn: PACKAGE_ARN,
        baseModel: 'b',
        recipe: 'sft-lora',
        dataset: { name: 'support-chats', version: '3' },
        placeholder: false,
      },
    }),
  );
});

/** The evaluation store's suite registry, with the versions given. */
function suiteRegistry(...versions: number[]) {
  const asked: string[] = [];
  return {
    asked,
    getSuite: async (name: string): Promise<SuiteVersion | undefined> => {
      asked.push(name);
      const version = versions.at(-1);
      return version === undefined
        ? undefined
        : {
            name,
            version,
            items: 3,
            tags: ['feedback'],
            location: { bucket: 'curated-test', key: `datasets/golden/${name}/v${version}/data.jsonl` },
            contentHash: `sha256:${'c'.repeat(64)}`,
            registeredAt: '2026-12-05T06:01:00.000Z',
          };
    },
  };
}

/** A job trained with DPO on the feedback export's dataset (`feedback`). */
const feedbackJob = () =>
  storedJob('registered', {
    recipe: 'dpo-lora',
    dataset: { name: 'feedback', version: 1, purpose: 'preference', contentHash: `sha256:${'d'.repeat(64)}` },
  });

/** The EvaluationRequested details put, in order. */
const requested = () =>
  events
    .commandCalls(PutEventsCommand)
    .map((call) =>
      evaluationRequestedDetail.parse(JSON.parse(call.args[0].input.Entries?.[0]?.Detail ?? '{}')),
    );

const deps = (approval: 'auto' | 'manual' = 'auto') => ({
  events: new EventBridgeClient({}),
  busName: 'bus-test',
  store,
  registry: new ModelRegistry(new SageMakerClient({})),
  catalog,
  settings: { ...TEST_FINETUNE_SETTINGS, gate: { ...TEST_FINETUNE_SETTINGS.gate, approval } },
  stackName: 'LlmOps-dev',
  modelPackageGroup: 'LlmOps-dev-support-assistant',
  baseComponent: 'llmops-dev-base',
});

describe('CandidateReady', () => {
  it('is ready once the component is InService and counts the checks', async () => {
    sagemaker
      .on(DescribeInferenceComponentCommand)
      .resolves({ InferenceComponentStatus: 'InService' } as never);
    const out = await candidate.makeHandler(deps())({
      step: 'ready',
      registered,
      ready: { status: 'pending', inferenceComponentStatus: 'Creating', attempts: 2 },
    });
    expect(out).toEqual({ status: 'ready', inferenceComponentStatus: 'InService', attempts: 3 });
  });

  it('warms a scaled-to-zero base model up (one copy) and waits for it before the evaluation', async () => {
    sagemaker
      .on(DescribeInferenceComponentCommand, { InferenceComponentName: registered.inferenceComponent })
      .resolves({ InferenceComponentStatus: 'InService' } as never)
      .on(DescribeInferenceComponentCommand, { InferenceComponentName: 'llmops-dev-base' })
      .resolvesOnce({
        InferenceComponentStatus: 'InService',
        RuntimeConfig: { DesiredCopyCount: 0, CurrentCopyCount: 0 },
      } as never)
      .resolvesOnce({
        InferenceComponentStatus: 'InService',
        RuntimeConfig: { DesiredCopyCount: 1, CurrentCopyCount: 0 },
      } as never)
      .resolves({
        InferenceComponentStatus: 'InService',
        RuntimeConfig: { DesiredCopyCount: 1, CurrentCopyCount: 1 },
      } as never);
    sagemaker.on(UpdateInferenceComponentRuntimeConfigCommand).resolves({} as never);
    const handler = candidate.makeHandler(deps());
    const first = await handler({ step: 'ready', registered });
    expect(first).toMatchObject({ status: 'pending', reason: expect.stringContaining('no copy') });
    const second = await handler({ step: 'ready', registered, ready: first });
    expect(second).toMatchObject({ status: 'pending', attempts: 2 });
    expect(await handler({ step: 'ready', registered, ready: second })).toMatchObject({ status: 'ready' });
    // One copy asked for, once: the second check saw it on its way.
    expect(
      sagemaker.commandCalls(UpdateInferenceComponentRuntimeConfigCommand).map((c) => c.args[0].input),
    ).toEqual([{ InferenceComponentName: 'llmops-dev-base', DesiredRuntimeConfig: { CopyCount: 1 } }]);
  });

  it('is pending while the component is Creating, and failed with the reason SageMaker gives', async () => {
    sagemaker
      .on(DescribeInferenceComponentCommand)
      .resolvesOnce({ InferenceComponentStatus: 'Creating' } as never)
      .resolves({ InferenceComponentStatus: 'Failed', FailureReason: 'adapter does not load' } as never);
    const handler = candidate.makeHandler(deps());
    expect(await handler({ step: 'ready', registered })).toMatchObject({ status: 'pending', attempts: 1 });
    expect(await handler({ step: 'ready', registered })).toMatchObject({
      status: 'failed',
      reason: 'adapter does not load',
    });
  });
});

describe('RequestEvaluation', () => {
  it('puts EvaluationRequested for run candidate-<jobId> against the baseline and moves the job to evaluating', async () => {
    store.jobs.set(JOB_ID, storedJob('registered'));
    const out = await candidate.makeHandler(deps())({ step: 'evaluate', registered });
    expect(out).toEqual({ runId: `candidate-${JOB_ID}`, jobId: JOB_ID, status: 'requested' });
    const entry = events.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    const detail = evaluationRequestedDetail.parse(JSON.parse(entry?.Detail ?? '{}'));
    expect(detail).toMatchObject({
      runId: `candidate-${JOB_ID}`,
      trigger: 'model',
      requestedBy: 'finetune',
      request: {
        suite: 'support-golden',
        maxItems: 200,
        k: 3,
        target: { model: 'support-assistant-v4' },
        baseline: { model: 'llama-3-1-8b-instruct' },
      },
    });
    expect(store.jobs.get(JOB_ID)).toMatchObject({
      status: 'evaluating',
      evaluation: { runId: `candidate-${JOB_ID}` },
    });
    // Trained with SFT: no pairwise comparison asked for.
    expect(detail.request).not.toHaveProperty('pairwise');
  });

  it('asks for the pairwise win rate against the production model for a candidate trained with DPO', async () => {
    store.jobs.set(
      JOB_ID,
      storedJob('registered', {
        recipe: 'dpo-lora',
        dataset: {
          name: 'helpfulness',
          version: 2,
          purpose: 'preference',
          contentHash: `sha256:${'b'.repeat(64)}`,
        },
      }),
    );
    await candidate.makeHandler(deps())({ step: 'evaluate', registered });
    const entry = events.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    const detail = evaluationRequestedDetail.parse(JSON.parse(entry?.Detail ?? '{}'));
    expect(detail.request).toMatchObject({
      target: { model: 'support-assistant-v4' },
      baseline: { model: 'llama-3-1-8b-instruct' },
      pairwise: true,
    });
    expect(candidate.trainsOnPreferences('dpo-lora')).toBe(true);
    expect(candidate.trainsOnPreferences('sft-qlora')).toBe(false);
  });

  it('also judges a candidate trained on feedback on the latest held-out feedback suite: pairwise, k 1, the gate’s baseline and maxItems', async () => {
    store.jobs.set(JOB_ID, feedbackJob());
    const suites = suiteRegistry(1, 2);
    const out = await candidate.makeHandler({
      ...deps(),
      feedbackHoldout: { suite: 'feedback-holdout', suites },
    })({ step: 'evaluate', registered });
    expect(out).toEqual({
      runId: `candidate-${JOB_ID}`,
      jobId: JOB_ID,
      status: 'requested',
      winRateRunId: `candidate-${JOB_ID}-holdout`,
    });
    expect(suites.asked).toEqual(['feedback-holdout']);
    const [gateRun, holdoutRun] = requested();
    expect(gateRun).toMatchObject({
      runId: `candidate-${JOB_ID}`,
      request: { suite: 'support-golden', pairwise: true },
    });
    expect(holdoutRun).toEqual({
      schemaVersion: '1.0',
      runId: `candidate-${JOB_ID}-holdout`,
      trigger: gateRun?.trigger,
      requestedBy: gateRun?.requestedBy,
      request: {
        suite: 'feedback-holdout',
        suiteVersion: 2,
        maxItems: 200,
        k: 1,
        target: { model: 'support-assistant-v4' },
        baseline: gateRun?.request.baseline,
        pairwise: true,
      },
    });
    expect(store.jobs.get(JOB_ID)).toMatchObject({
      status: 'evaluating',
      evaluation: { runId: `candidate-${JOB_ID}`, winRateRunId: `candidate-${JOB_ID}-holdout` },
    });
  });

  it('asks for the gate’s run only while no version of the held-out feedback suite is registered', async () => {
    store.jobs.set(JOB_ID, feedbackJob());
    const suites = suiteRegistry();
    const out = await candidate.makeHandler({
      ...deps(),
      feedbackHoldout: { suite: 'feedback-holdout', suites },
    })({ step: 'evaluate', registered });
    expect(out).toEqual({ runId: `candidate-${JOB_ID}`, jobId: JOB_ID, status: 'requested' });
    expect(suites.asked).toEqual(['feedback-holdout']);
    expect(requested().map((d) => d.runId)).toEqual([`candidate-${JOB_ID}`]);
    expect(store.jobs.get(JOB_ID)?.evaluation).toEqual({ runId: `candidate-${JOB_ID}` });
  });

  it('judges a candidate trained on another dataset on the gate suite only, without looking for the held-out suite', async () => {
    for (const job of [
      storedJob('registered'),
      storedJob('registered', {
        recipe: 'dpo-lora',
        dataset: {
          name: 'helpfulness',
          version: 2,
          purpose: 'preference',
          contentHash: `sha256:${'b'.repeat(64)}`,
        },
      }),
    ]) {
      events.resetHistory();
      store.jobs.set(JOB_ID, job);
      const suites = suiteRegistry(1);
      await candidate.makeHandler({ ...deps(), feedbackHoldout: { suite: 'feedback-holdout', suites } })({
        step: 'evaluate',
        registered,
      });
      expect(suites.asked).toEqual([]);
      expect(requested().map((d) => d.runId)).toEqual([`candidate-${JOB_ID}`]);
      expect(store.jobs.get(JOB_ID)?.evaluation).toEqual({ runId: `candidate-${JOB_ID}` });
    }
    // Without FEEDBACK_HOLDOUT_SUITE, a feedback dataset is judged on the gate suite only too.
    events.resetHistory();
    store.jobs.set(JOB_ID, feedbackJob());
    await candidate.makeHandler(deps())({ step: 'evaluate', registered });
    expect(requested().map((d) => d.runId)).toEqual([`candidate-${JOB_ID}`]);
  });

  it('reads the held-out suite from FEEDBACK_HOLDOUT_SUITE, and refuses it without EVALUATIONS_TABLE', () => {
    const tables: string[] = [];
    const registry = (table: string) => {
      tables.push(table);
      return suiteRegistry();
    };
    expect(candidate.feedbackHoldoutOf({}, registry)).toBeUndefined();
    expect(candidate.feedbackHoldoutOf({ EVALUATIONS_TABLE: 'evaluations' }, registry)).toBeUndefined();
    expect(
      candidate.feedbackHoldoutOf(
        { FEEDBACK_HOLDOUT_SUITE: 'feedback-holdout', EVALUATIONS_TABLE: 'evaluations' },
        registry,
      ),
    ).toMatchObject({ suite: 'feedback-holdout' });
    expect(tables).toEqual(['evaluations']);
    expect(() =>
      candidate.feedbackHoldoutOf({ FEEDBACK_HOLDOUT_SUITE: 'feedback-holdout' }, registry),
    ).toThrow(ConfigError);
    expect(Object.keys(candidate.environment)).toEqual(
      expect.arrayContaining(['FEEDBACK_HOLDOUT_SUITE', 'EVALUATIONS_TABLE']),
    );
  });
});

describe('RecordFailure', () => {
  it('records the job failed with the error message and takes the candidate off the endpoint and catalog', async () => {
    store.jobs.set(JOB_ID, storedJob('registered'));
    const out = await candidate.makeHandler(deps())({
      step: 'fail',
      plan: { status: 'planned', jobId: JOB_ID },
      registered,
      error: { Error: 'States.Timeout', Cause: JSON.stringify({ errorMessage: 'component never came up' }) },
    });
    expect(out).toMatchObject({ jobId: JOB_ID, status: 'failed' });
    expect(store.jobs.get(JOB_ID)).toMatchObject({
      status: 'failed',
      failure: { error: 'States.Timeout', cause: 'component never came up' },
    });
    expect(sagemaker.commandCalls(DeleteInferenceComponentCommand)[0]?.args[0].input).toEqual({
      InferenceComponentName: COMPONENT,
    });
    expect(catalog.deleted).toEqual(['support-assistant-v4']);
  });

  it('only logs a failure before any job id was known', async () => {
    const out = await candidate.makeHandler(deps())({
      step: 'fail',
      error: { Error: 'InvalidEventError', Cause: 'x' },
    });
    expect(out).toEqual({ jobId: null, status: 'failed', error: 'InvalidEventError: x' });
    expect(sagemaker.calls()).toHaveLength(0);
  });

  it('truncates a long cause', async () => {
    store.jobs.set(JOB_ID, storedJob('training'));
    sagemaker
      .on(DeleteInferenceComponentCommand)
      .rejects(
        Object.assign(new Error('Could not find inference component'), { name: 'ValidationException' }),
      );
    await candidate.makeHandler(deps())({
      step: 'fail',
      jobId: JOB_ID,
      error: { Error: 'E', Cause: 'x'.repeat(5000) },
    });
    expect(store.jobs.get(JOB_ID)?.failure?.cause.length).toBe(candidate.MAX_FAILURE_CHARS);
  });

  it('refuses an unknown step', async () => {
    await expect(candidate.makeHandler(deps())({ step: 'deploy' })).rejects.toThrow(/step/);
  });
});

function evaluationCompleted(pass: boolean | null, runId = `candidate-${JOB_ID}`) {
  const event = structuredClone(rawSample('evaluation-completed')) as { detail: Record<string, unknown> };
  event.detail.runId = runId;
  event.detail.pass = pass;
  event.detail.trigger = 'model';
  return event;
}

describe('Gate on EvaluationCompleted', () => {
  it('approves the package and the job on a pass when approval is auto', async () => {
    store.jobs.set(JOB_ID, storedJob('evaluating'));
    const out = await gate.makeHandler(deps('auto'))(evaluationCompleted(true));
    expect(out).toEqual({ outcome: 'moved', jobId: JOB_ID, status: 'approved' });
    const update = sagemaker.commandCalls(UpdateModelPackageCommand)[0]?.args[0].input;
    expect(update).toMatchObject({ ModelPackageArn: PACKAGE_ARN, ModelApprovalStatus: 'Approved' });
    expect(update?.ApprovalDescription).toContain(`candidate-${JOB_ID}`);
    expect(update?.ApprovalDescription).toContain(JOB_ID);
  });

  it('waits for an admin on a pass when approval is manual', async () => {
    store.jobs.set(JOB_ID, storedJob('evaluating'));
    const out = await gate.makeHandler(deps('manual'))(evaluationCompleted(true));
    expect(out).toMatchObject({ status: 'awaiting_approval' });
    expect(sagemaker.commandCalls(UpdateModelPackageCommand)).toHaveLength(0);
    expect(store.jobs.get(JOB_ID)?.evaluation).toMatchObject({ pass: true });
  });

  it('rejects the package, deletes the candidate component and catalog entry on a failed run', async () => {
    store.jobs.set(JOB_ID, storedJob('evaluating'));
    const out = await gate.makeHandler(deps())(evaluationCompleted(false));
    expect(out).toMatchObject({ status: 'rejected' });
    const update = sagemaker.commandCalls(UpdateModelPackageCommand)[0]?.args[0].input;
    expect(update?.ModelApprovalStatus).toBe('Rejected');
    expect(update?.ApprovalDescription).toMatch(/failed the .* gate/);
    expect(sagemaker.commandCalls(DeleteInferenceComponentCommand)).toHaveLength(1);
    expect(catalog.deleted).toEqual(['support-assistant-v4']);
  });

  it('keeps the verdict on the job when the package state change it causes is handled first', async () => {
    const evaluation = { runId: `candidate-${JOB_ID}`, winRateRunId: `candidate-${JOB_ID}-holdout` };
    store.jobs.set(JOB_ID, { ...storedJob('evaluating'), evaluation });
    // SageMaker's "Approved" state change reaches another invocation of the gate while this one is
    // still between the approval and its own move of the job.
    const approvals = new ModelRegistry(new SageMakerClient({}));
    const handler = gate.makeHandler({
      ...deps('auto'),
      registry: Object.assign(Object.create(approvals) as ModelRegistry, {
        setApproval: async (...args: Parameters<ModelRegistry['setApproval']>) => {
          await approvals.setApproval(...args);
          await gate.makeHandler(deps('auto'))(rawSample('sagemaker-model-package-approved'));
        },
      }),
    });
    expect(await handler(evaluationCompleted(true))).toMatchObject({
      outcome: 'duplicate',
      status: 'approved',
    });
    expect(store.jobs.get(JOB_ID)).toMatchObject({
      status: 'approved',
      evaluation: { runId: `candidate-${JOB_ID}`, pass: true, winRateRunId: `candidate-${JOB_ID}-holdout` },
    });
  });

  it('rejects a run without a verdict', async () => {
    store.jobs.set(JOB_ID, storedJob('evaluating'));
    expect(await gate.makeHandler(deps())(evaluationCompleted(null))).toMatchObject({ status: 'rejected' });
  });

  it('changes nothing for a duplicate event', async () => {
    store.jobs.set(JOB_ID, storedJob('evaluating'));
    const handler = gate.makeHandler(deps());
    await handler(evaluationCompleted(true));
    sagemaker.resetHistory();
    expect(await handler(evaluationCompleted(true))).toEqual({
      outcome: 'duplicate',
      jobId: JOB_ID,
      status: 'approved',
    });
    expect(sagemaker.calls()).toHaveLength(0);
  });

  it('ignores runs that are not candidate evaluations', async () => {
    expect(await gate.makeHandler(deps())(evaluationCompleted(false, 'nightly-1'))).toMatchObject({
      outcome: 'ignored',
    });
    expect(sagemaker.calls()).toHaveLength(0);
  });

  it('is not moved by the held-out win-rate run of a candidate trained on feedback, whatever its verdict', async () => {
    const evaluation = { runId: `candidate-${JOB_ID}`, winRateRunId: `candidate-${JOB_ID}-holdout` };
    store.jobs.set(JOB_ID, { ...feedbackJob(), status: 'evaluating', evaluation });
    const handler = gate.makeHandler(deps());
    for (const pass of [false, null, true]) {
      expect(await handler(evaluationCompleted(pass, `candidate-${JOB_ID}-holdout`))).toMatchObject({
        outcome: 'ignored',
      });
    }
    expect(sagemaker.calls()).toHaveLength(0);
    expect(catalog.deleted).toEqual([]);
    expect(store.updates).toEqual([]);
    expect(store.jobs.get(JOB_ID)).toMatchObject({ status: 'evaluating', evaluation });
    // The gate's own run decides, and the job still names the win-rate run.
    expect(await handler(evaluationCompleted(true))).toMatchObject({ status: 'approved' });
    expect(store.jobs.get(JOB_ID)?.evaluation).toMatchObject({
      runId: `candidate-${JOB_ID}`,
      pass: true,
      winRateRunId: `candidate-${JOB_ID}-holdout`,
    });
  });
});

describe('Gate on SageMaker Model Package State Change and ModelDeployed', () => {
  it('approves the job when its package is approved in the console', async () => {
    store.jobs.set(JOB_ID, storedJob('awaiting_approval'));
    const out = await gate.makeHandler(deps())(rawSample('sagemaker-model-package-approved'));
    expect(out).toEqual({ outcome: 'moved', jobId: JOB_ID, status: 'approved' });
  });

  it('ignores a package of another group', async () => {
    store.jobs.set(JOB_ID, storedJob('awaiting_approval'));
    const handler = gate.makeHandler({ ...deps(), modelPackageGroup: 'other' });
    expect(await handler(rawSample('sagemaker-model-package-approved'))).toMatchObject({
      outcome: 'ignored',
    });
  });

  it('rejects the job and retires the candidate when the package is rejected in the console', async () => {
    store.jobs.set(JOB_ID, storedJob('awaiting_approval'));
    const event = structuredClone(rawSample('sagemaker-model-package-approved')) as {
      detail: Record<string, unknown>;
    };
    event.detail.ModelApprovalStatus = 'Rejected';
    expect(await gate.makeHandler(deps())(event)).toMatchObject({ status: 'rejected' });
    expect(catalog.deleted).toEqual(['support-assistant-v4']);
  });

  it('takes a rollback’s rejection for a rollback, in either order with its ModelDeployed', async () => {
    const rejected = structuredClone(rawSample('sagemaker-model-package-approved')) as {
      detail: Record<string, unknown>;
    };
    rejected.detail.ModelApprovalStatus = 'Rejected';
    rejected.detail.ApprovalDescription = 'rolled back: canary alarm in ALARM: CanaryErrorRate';
    const rolledBack = structuredClone(rawSample('model-deployed-rolled-back')) as {
      detail: { candidate: { inferenceComponent: string }; rolloutId: string };
    };
    rolledBack.detail.candidate.inferenceComponent = COMPONENT;
    store.jobs.set(JOB_ID, storedJob('approved'));
    expect(await gate.makeHandler(deps())(rejected)).toMatchObject({ status: 'rolled_back' });
    // The rollout removed the component itself: the gate retires nothing.
    expect(catalog.deleted).toEqual([]);
    expect(await gate.makeHandler(deps())(rolledBack)).toMatchObject({ status: 'rolled_back' });
    expect(store.jobs.get(JOB_ID)).toMatchObject({
      status: 'rolled_back',
      rollout: { rolloutId: rolledBack.detail.rolloutId, outcome: 'rolled_back' },
    });
  });

  it('records a promoted rollout as deployed and a rolled back one as rolled_back', async () => {
    const promoted = structuredClone(rawSample('model-deployed-promoted')) as {
      detail: { candidate: { inferenceComponent: string }; rolloutId: string };
    };
    promoted.detail.candidate.inferenceComponent = COMPONENT;
    store.jobs.set(JOB_ID, storedJob('approved'));
    expect(await gate.makeHandler(deps())(promoted)).toMatchObject({ status: 'deployed' });
    expect(store.jobs.get(JOB_ID)?.rollout).toMatchObject({
      rolloutId: promoted.detail.rolloutId,
      outcome: 'promoted',
    });

    const rolledBack = structuredClone(rawSample('model-deployed-rolled-back')) as typeof promoted;
    rolledBack.detail.candidate.inferenceComponent = COMPONENT;
    store.jobs.set(JOB_ID, storedJob('approved'));
    expect(await gate.makeHandler(deps())(rolledBack)).toMatchObject({ status: 'rolled_back' });
  });

  it('records SageMaker’s progress of a training job on the job while it trains, and only then', async () => {
    const progress = structuredClone(rawSample('sagemaker-training-job-completed')) as {
      detail: Record<string, unknown>;
    };
    const trainingJob = storedJob('training').trainingJob.name;
    Object.assign(progress.detail, {
      TrainingJobName: trainingJob,
      TrainingJobStatus: 'InProgress',
      SecondaryStatus: 'Interrupted',
    });
    store.jobs.set(JOB_ID, storedJob('training'));
    expect(await gate.makeHandler(deps())(progress)).toMatchObject({ outcome: 'moved', status: 'training' });
    expect(store.jobs.get(JOB_ID)?.trainingJob).toMatchObject({
      name: trainingJob,
      state: 'InProgress',
      secondaryStatus: 'Interrupted',
    });
    // Once registered, the job's own record of the training stands.
    store.jobs.set(JOB_ID, storedJob('registered'));
    expect(await gate.makeHandler(deps())(progress)).toMatchObject({ outcome: 'duplicate' });
    // Another deployment's job (or none of ours) is not this gate's.
    progress.detail.TrainingJobName = 'some-other-job';
    expect(await gate.makeHandler(deps())(progress)).toMatchObject({ outcome: 'ignored' });
  });

  it('refuses an event of another detail-type', async () => {
    await expect(gate.makeHandler(deps())({ 'detail-type': 'Something' })).rejects.toThrow(/detail-type/);
  });
});
