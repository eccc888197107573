/**
 * The fine-tuning chain on the local stack, end to end, from one upload:
 *
 *   upload → DataPrep → llmops.DatasetReady → FineTune (the training stand-in records the exact
 *   CreateTrainingJob request and writes a labelled placeholder adapter) → model package +
 *   llmops.ModelRegistered → candidate evaluation (Evaluate, offline judge) → gate → approval →
 *   Rollout (canary, bake, promote or roll back, verify) → llmops.ModelDeployed → a call to the
 *   served model through the OpenAI-compatible route, answered by the offline provider (labelled).
 *
 * What it reads back is what happened on the local buses and in the SageMaker stand-in: nothing is
 * assumed. A step that did not happen is reported as missing, with the job's own record.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { EvaluationCompletedDetail } from '#events/evaluation-completed.ts';
import type { ModelDeployedDetail } from '#events/model-deployed.ts';
import type { ModelRegisteredDetail } from '#events/model-registered.ts';
import type { LocalApiClient } from './api-client.ts';
import { type DatasetSummary, summarize, uploadDatasets } from './cli/datasets.ts';
import { ensureGoldenSuite } from './eval/eval-demo.ts';
import type { LocalRunner } from './runner.ts';

/** What one run of the chain did. */
export interface FineTuneChainResult {
  readonly dataset: DatasetSummary;
  /** The CreateTrainingJob request as the Train state rendered it (what SageMaker would receive). */
  readonly trainingRequest: Record<string, unknown> | null;
  readonly registered: ModelRegisteredDetail | null;
  /** The model package as the registry holds it after the gate (approval status, lineage). */
  readonly modelPackage: Record<string, unknown> | null;
  readonly evaluation: {
    readonly runId: string;
    readonly pass: boolean | null;
    readonly metrics: EvaluationCompletedDetail['metrics'];
    readonly report: string;
  } | null;
  readonly rollout: ModelDeployedDetail | null;
  /** The job record (`GET /v1/finetune-jobs/{id}` shape), read from the API. */
  readonly job: Record<string, unknown> | null;
  /** A call to the served model after the rollout, or why there was none. */
  readonly chat: { readonly model: string; readonly status: number; readonly body: unknown } | null;
}

/** The question asked of the served model after a rollout. */
export const SERVED_MODEL_QUESTION = 'In one sentence: what does a Lambda cold start cost a caller?';

/**
 * Uploads `file` as a `purpose` dataset and follows the chain until everything it started has ended.
 * The gate's suite (`golden`) is registered first when the stack has none.
 */
export async function runFineTuneChain(
  stack: LocalRunner,
  client: LocalApiClient,
  upload: { readonly file: string; readonly purpose: 'finetune' | 'preference' },
  onStep: (line: string) => void = () => undefined,
): Promise<FineTuneChainResult> {
  await ensureGoldenSuite(stack, onStep);
  const trainingBefore = stack.sagemaker.recordedTrainingRequests().length;
  const [key = ''] = await uploadDatasets(
    stack,
    [{ path: upload.file, purpose: upload.purpose }],
    [readFileSync(upload.file)],
  );
  await stack.idle();
  const dataset = await summarize(stack, key, stack.output('RawBucketName'));
  const trained = stack.sagemaker.recordedTrainingRequests().slice(trainingBefore).at(-1);
  if (trained) onStep(`training job ${String(trained.TrainingJobName)} recorded (stand-in: nothing trained)`);
  return fineTuneOutcome(stack, client, dataset);
}

/**
 * What the fine-tuning chain did with a curated dataset version, read from the local buses, the SageMaker
 * stand-in and the API (the job record); a served model that was rolled out is called once.
 */
export async function fineTuneOutcome(
  stack: LocalRunner,
  client: LocalApiClient,
  dataset: DatasetSummary,
): Promise<FineTuneChainResult> {
  const registered = stack
    .details<ModelRegisteredDetail>('llmops.ModelRegistered')
    .find((r) => r.dataset.name === dataset.dataset?.name && r.dataset.version === dataset.dataset?.version);
  const jobId = registered?.jobId;
  const trainingRequest =
    registered === undefined
      ? null
      : (stack.sagemaker
          .recordedTrainingRequests()
          .find((r) => r.TrainingJobName === registered.trainingJob.name) ?? null);
  const completed = stack
    .details<EvaluationCompletedDetail>('llmops.EvaluationCompleted')
    .find((e) => jobId !== undefined && e.runId === `candidate-${jobId}`);
  const deployed = stack
    .details<ModelDeployedDetail>('llmops.ModelDeployed')
    .find((d) => registered !== undefined && d.candidate.modelPackageArn === registered.modelPackageArn);
  const modelPackage = registered
    ? stripMetadata(
        (await stack.sagemaker.DescribeModelPackage({
          ModelPackageName: registered.modelPackageArn,
        })) as unknown as Record<string, unknown>,
      )
    : null;
  const job =
    jobId === undefined
      ? null
      : ((await (await client.send('GET', `/v1/finetune-jobs/${jobId}`)).response.json()) as Record<
          string,
          unknown
        >);
  let chat: FineTuneChainResult['chat'] = null;
  if (deployed?.outcome === 'promoted') {
    const { response } = await client.send('POST', '/v1/chat/completions', {
      model: deployed.model,
      messages: [{ role: 'user', content: SERVED_MODEL_QUESTION }],
    });
    chat = { model: deployed.model, status: response.status, body: await response.json() };
  }
  return {
    dataset,
    trainingRequest: trainingRequest as Record<string, unknown> | null,
    registered: registered ?? null,
    modelPackage,
    evaluation: completed
      ? {
          runId: completed.runId,
          pass: completed.pass,
          metrics: completed.metrics,
          report: completed.report.html,
        }
      : null,
    rollout: deployed ?? null,
    job,
    chat,
  };
}

function stripMetadata(value: Record<string, unknown>): Record<string, unknown> {
  const { $metadata: _ignored, ...rest } = value;
  return rest;
}

/** Human-readable lines of a chain's result. */
export function describeFineTune(result: FineTuneChainResult, file: string): string[] {
  const lines = [`● Fine-tuning ${basename(file)} (${result.dataset.dataset?.purpose ?? '?'})`];
  const t = result.trainingRequest;
  if (t) {
    const stopping = t.StoppingCondition as Record<string, number> | undefined;
    const resources = t.ResourceConfig as Record<string, unknown> | undefined;
    lines.push(
      `  training request: ${String(t.TrainingJobName)} on ${String(resources?.InstanceType)}, spot ${String(t.EnableManagedSpotTraining)}, ` +
        `MaxRuntime ${stopping?.MaxRuntimeInSeconds}s, MaxWait ${stopping?.MaxWaitTimeInSeconds}s, checkpoints ${String((t.CheckpointConfig as Record<string, unknown> | undefined)?.S3Uri)}`,
    );
    lines.push(
      '  (local stand-in: the request is recorded and validated; a placeholder adapter, nothing trained)',
    );
  } else {
    lines.push('  no training request was made (see the job record)');
  }
  if (result.registered) {
    lines.push(
      `  model package ${result.registered.modelPackageArn} (${String(result.modelPackage?.ModelApprovalStatus ?? '?')}), candidate ${result.registered.candidateModel}`,
    );
  }
  if (result.evaluation) {
    lines.push(
      `  evaluation ${result.evaluation.runId}: ${result.evaluation.pass === true ? 'PASS' : result.evaluation.pass === false ? 'FAIL' : 'no verdict'}`,
    );
  }
  if (result.rollout) {
    lines.push(
      `  rollout ${result.rollout.rolloutId}: ${result.rollout.outcome} (${result.rollout.reason}); serving ${result.rollout.verified.inferenceComponent}, verified ${result.rollout.verified.matches}`,
    );
  } else {
    lines.push(`  not rolled out: job status ${String(result.job?.status ?? 'unknown')}`);
  }
  if (result.chat) {
    const body = result.chat.body as { choices?: { message?: { content?: string } }[]; served?: unknown };
    lines.push(
      `  ${result.chat.model} answered (${result.chat.status}): ${(body.choices?.[0]?.message?.content ?? JSON.stringify(body)).slice(0, 160)}`,
    );
  }
  return lines;
}
