/**
 * Human feedback into training, on the local stack, end to end:
 *
 *   feedback lines → the interactions they rate (a line that names a prompt instead of an interaction
 *   id is answered first, through `POST /v1/chat`) → `POST /v1/feedback` → the export's schedule fires
 *   → held-out prompts (`raw/golden/<dataset>-holdout/<export>.jsonl`) → DataPrep → suite
 *   `<dataset>-holdout`, and preference pairs (`raw/preference/<dataset>/<export>.jsonl`) → DataPrep →
 *   llmops.DatasetReady {purpose: preference} → FineTune (the DPO recipe; the training stand-in records
 *   the request) → the candidate's evaluation → gate → rollout, and its win rate on the held-out
 *   prompts (run `candidate-<jobId>-holdout`, which informs and never gates).
 *
 * What it reports is read back from the API's answers, the local buses, S3 and the SageMaker stand-in:
 * nothing is assumed. A line the API refused is reported with the API's own error.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { holdoutRunId } from '#contracts/pipelines/finetune.ts';
import type { EvaluationCompletedDetail } from '#events/evaluation-completed.ts';
import { FEEDBACK_EXPORT_REQUESTED } from '#events/feedback-export-requested.ts';
import type { FeedbackThresholdReachedDetail } from '#events/feedback-threshold-reached.ts';
import type { LocalApiClient } from './api-client.ts';
import { DEMO_PROMPT } from './api-demo.ts';
import { type DatasetSummary, summarize } from './cli/datasets.ts';
import { ensureGoldenSuite } from './eval/eval-demo.ts';
import type { FeedbackLine } from './feedback-lines.ts';
import { type FineTuneChainResult, fineTuneOutcome } from './finetune-demo.ts';
import type { LocalRunner } from './runner.ts';
import { firedEvent, localSchedules } from './scheduler.ts';

/** What one line became. */
export interface SentFeedback {
  readonly line: number;
  readonly interactionId: string | null;
  /** The HTTP status of `POST /v1/feedback` (or of the chat that should have made the interaction). */
  readonly status: number;
  readonly body: unknown;
}

/** What one run of the chain did. */
export interface FeedbackChainResult {
  /** Interactions created for lines that named a prompt. */
  readonly interactionsCreated: number;
  readonly sent: readonly SentFeedback[];
  /** The export's announcement, when the pairs reached the threshold; null otherwise. */
  readonly exported: FeedbackThresholdReachedDetail | null;
  /** The first pair of the export, as DataPrep received it. */
  readonly firstPair: Record<string, unknown> | null;
  /** What DataPrep made of the export (null without one). */
  readonly dataset: DatasetSummary | null;
  /** The state machine executions the export started, in order (DataPrep, FineTune, Evaluate, Rollout). */
  readonly pipelines: readonly { readonly pipeline: string; readonly status: string }[];
  /** The fine-tuning chain of the exported dataset (null without one). */
  readonly fineTune: FineTuneChainResult | null;
  /**
   * The candidate's run on the held-out feedback prompts (`candidate-<jobId>-holdout`: its win rate
   * against production, `win_rate` and `win_rate_lc` among the metrics), null without one (no candidate,
   * or no held-out prompt registered by the time it was evaluated).
   */
  readonly holdout: {
    readonly runId: string;
    readonly suite: EvaluationCompletedDetail['suite'];
    readonly metrics: EvaluationCompletedDetail['metrics'];
    readonly report: string;
  } | null;
}

/**
 * Sends the lines' feedback through the local API (answering a line's prompt first when it names one:
 * lines with the same prompt, variables and model rate the same interaction), then fires the export's
 * schedule and follows everything it started until the stack is idle.
 */
export async function runFeedbackChain(
  stack: LocalRunner,
  client: LocalApiClient,
  lines: readonly FeedbackLine[],
  onStep: (line: string) => void = () => undefined,
): Promise<FeedbackChainResult> {
  // The suite that gates the candidate the feedback trains (as the fine-tuning chain registers it).
  await ensureGoldenSuite(stack, onStep);
  if (lines.some((l) => l.prompt?.split(/[@:]/)[0] === DEMO_PROMPT.name)) {
    await ensureDemoPrompt(client, onStep);
  }
  const created = new Map<string, string>();
  const sent: SentFeedback[] = [];
  for (const line of lines) {
    let interactionId = line.interactionId ?? null;
    if (line.prompt !== undefined) {
      const key = JSON.stringify([line.prompt, line.variables ?? {}, line.model ?? null]);
      interactionId = created.get(key) ?? null;
      if (interactionId === null) {
        const { response } = await client.send('POST', '/v1/chat', {
          prompt: line.prompt,
          ...(line.variables ? { variables: line.variables } : {}),
          ...(line.model ? { model: line.model } : {}),
        });
        const body = (await response.json()) as { interactionId?: string };
        if (response.status !== 200 || typeof body.interactionId !== 'string') {
          sent.push({ line: line.line, interactionId: null, status: response.status, body });
          continue;
        }
        interactionId = body.interactionId;
        created.set(key, interactionId);
      }
    }
    const { response } = await client.send('POST', '/v1/feedback', { interactionId, ...line.feedback });
    sent.push({ line: line.line, interactionId, status: response.status, body: await response.json() });
  }
  onStep(`${sent.filter((s) => s.status === 200).length} of ${lines.length} feedback line(s) accepted`);
  await stack.idle();

  const schedule = localSchedules(stack.template).find((s) => s.detailType === FEEDBACK_EXPORT_REQUESTED);
  if (schedule === undefined) throw new Error('The template has no feedback export schedule');
  const fromEvent = stack.events.length;
  const fromDelivery = stack.deliveries.length;
  onStep(`the ${schedule.name} schedule fires: the export looks for new preference pairs`);
  const fired = firedEvent(schedule, new Date(), {
    account: stack.template.account,
    region: stack.template.region,
  });
  stack.publish(fired.bus, fired.event);
  await stack.idle();

  const exported = stack
    .details<FeedbackThresholdReachedDetail>('llmops.FeedbackThresholdReached', fromEvent)
    .at(-1);
  const machines = new Map(
    stack.template.stateMachines().map((m) => [m.logicalId, m.pipeline ?? m.logicalId]),
  );
  const pipelines = stack.deliveries
    .slice(fromDelivery)
    .filter((d) => d.execution !== undefined)
    .map((d) => ({ pipeline: machines.get(d.target) ?? d.target, status: String(d.execution?.status) }));
  if (exported === undefined) {
    return {
      interactionsCreated: created.size,
      sent,
      exported: null,
      firstPair: null,
      dataset: null,
      pipelines,
      fineTune: null,
      holdout: null,
    };
  }
  onStep(`${exported.pairs} pair(s) exported to ${exported.location.key}`);
  const object = await stack.s3.send(
    new GetObjectCommand({ Bucket: exported.location.bucket, Key: exported.location.key }),
  );
  const text = (await object.Body?.transformToString()) ?? '';
  const first = text.split('\n').find((l) => l.trim() !== '');
  const dataset = await summarize(stack, exported.location.key, exported.location.bucket);
  const fineTune = dataset.dataset ? await fineTuneOutcome(stack, client, dataset) : null;
  const jobId = fineTune?.registered?.jobId;
  const holdout =
    jobId === undefined
      ? undefined
      : stack
          .details<EvaluationCompletedDetail>('llmops.EvaluationCompleted', fromEvent)
          .find((e) => e.runId === holdoutRunId(jobId));
  return {
    interactionsCreated: created.size,
    sent,
    exported,
    firstPair: first === undefined ? null : (JSON.parse(first) as Record<string, unknown>),
    dataset,
    pipelines,
    fineTune,
    holdout: holdout
      ? { runId: holdout.runId, suite: holdout.suite, metrics: holdout.metrics, report: holdout.report.html }
      : null,
  };
}

/**
 * The bundled sample rates the API demo's prompt: on a stack that has none (the `feedback` command's
 * own), it is created and labelled `production` as the API demo does.
 */
async function ensureDemoPrompt(client: LocalApiClient, onStep: (line: string) => void): Promise<void> {
  const name = DEMO_PROMPT.name;
  const { response } = await client.send('GET', `/v1/prompts/${name}`);
  await response.body?.cancel();
  if (response.status !== 404) return;
  const created = await client.call<{ version: number }>(
    `POST /v1/prompts/${name}/versions`,
    'POST',
    `/v1/prompts/${name}/versions`,
    DEMO_PROMPT.draft,
    201,
  );
  await client.call(
    `PUT /v1/prompts/${name}/labels/production`,
    'PUT',
    `/v1/prompts/${name}/labels/production`,
    { version: created.version },
  );
  onStep(`created prompt ${name} v${created.version} (production): the sample's lines rate its answers`);
}

const clip = (text: unknown, n = 90): string => {
  const s = typeof text === 'string' ? text : JSON.stringify(text);
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
};

/** Human-readable lines of a chain's result. */
export function describeFeedback(result: FeedbackChainResult): string[] {
  const accepted = result.sent.filter((s) => s.status === 200);
  const replaced = accepted.filter((s) => (s.body as { created?: boolean }).created === false).length;
  const reviews = accepted.filter((s) => (s.body as { reviewTaskId?: string }).reviewTaskId).length;
  const lines = [
    `  feedback: ${accepted.length}/${result.sent.length} accepted on ${new Set(accepted.map((s) => s.interactionId)).size} interaction(s) (${result.interactionsCreated} answered for this), ${replaced} replaced an earlier verdict, ${reviews} opened a review task`,
  ];
  for (const refused of result.sent.filter((s) => s.status !== 200)) {
    const error = (refused.body as { error?: { message?: string } }).error?.message;
    lines.push(`  line ${refused.line} refused (${refused.status}): ${clip(error ?? refused.body, 140)}`);
  }
  const e = result.exported;
  if (e === null) {
    lines.push('  export: not enough new pairs yet (the verdicts stay pending for the next export)');
    return lines;
  }
  lines.push(
    `  export ${e.exportId}: ${e.pairs} pair(s) (threshold ${e.threshold}) → s3://${e.location.bucket}/${e.location.key}`,
    `    ${e.unpaired.records} unpaired (KTO) record(s)${e.unpaired.location ? ` → ${e.unpaired.location.key}` : ''}; ${e.heldOut.prompts} held-out prompt(s)${e.heldOut.location ? ` → ${e.heldOut.location.key}` : ''}; annotators ${e.annotators.included} in, ${e.annotators.excluded.length} left out`,
  );
  if (result.firstPair) {
    lines.push(
      `    first pair: chosen ${clip(result.firstPair.chosen, 60)} · rejected ${clip(result.firstPair.rejected, 60)}`,
    );
  }
  if (result.dataset?.dataset) {
    const d = result.dataset.dataset;
    lines.push(
      `  DataPrep: ${result.dataset.status} ${d.name} v${d.version} (${d.purpose}), ${result.dataset.kept ?? '?'} kept`,
    );
  }
  lines.push(
    `  pipelines started: ${result.pipelines.map((p) => `${p.pipeline} ${p.status}`).join(', ') || 'none'}`,
  );
  const f = result.fineTune;
  if (f) {
    const recipe = (f.job as { recipe?: string } | null)?.recipe ?? '?';
    lines.push(
      `  fine-tuning (${recipe}): training ${String(f.trainingRequest?.TrainingJobName ?? 'not requested')}; evaluation ${f.evaluation ? `${f.evaluation.runId} ${f.evaluation.pass === true ? 'PASS' : f.evaluation.pass === false ? 'FAIL' : 'no verdict'}` : 'none'}; rollout ${f.rollout ? `${f.rollout.outcome}` : 'none'}`,
    );
    const winRate = f.evaluation?.metrics.win_rate;
    const lc = f.evaluation?.metrics.win_rate_lc;
    if (winRate && lc) {
      lines.push(`    win rate against production: ${winRates(winRate, lc)} (n ${winRate.n}, offline judge)`);
    }
  }
  const h = result.holdout;
  const heldOutWin = h?.metrics.win_rate;
  const heldOutLc = h?.metrics.win_rate_lc;
  if (h && heldOutWin && heldOutLc) {
    lines.push(
      `    win rate on ${h.suite.items} held-out feedback prompt(s): ${winRates(heldOutWin, heldOutLc)} (n ${heldOutWin.n}, ${h.suite.name} v${h.suite.version}, run ${h.runId}, offline judge)`,
    );
  }
  return lines;
}

type Metric = EvaluationCompletedDetail['metrics'][string];

/** A raw and a length-controlled win rate with their intervals. */
const winRates = (raw: Metric, lc: Metric): string =>
  `${fmt(raw.value)} [${fmt(raw.ci[0])}, ${fmt(raw.ci[1])}], length-controlled ${fmt(lc.value)} [${fmt(lc.ci[0])}, ${fmt(lc.ci[1])}]`;

const fmt = (v: number | null): string => (v === null ? 'n/a' : v.toFixed(3));
