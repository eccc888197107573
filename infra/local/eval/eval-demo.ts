/**
 * The promotion gate, over HTTP, on the local stack: the golden suite is uploaded through DataPrep (and
 * registered as a suite by its `llmops.DatasetReady`), then a worse and a better version of the grounded
 * prompt each try to take the `production` label. The first move of each starts an evaluation against
 * production (409 `evaluation_required`); the Evaluate state machine answers the suite through the
 * gateway, scores, judges (offline) and reports; the second move reads the verdict: the worse version is
 * refused with the failing metrics (409 `evaluation_failed`), the better one takes the label (200).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EvaluationRun, GateMetric } from '#contracts/evaluation/run.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';
import type { LocalApiClient } from '../api-client.ts';
import { uploadDatasets } from '../cli/datasets.ts';
import { RAG_PROMPT } from '../rag-demo.ts';
import type { LocalRunner } from '../runner.ts';

/** The bundled golden set: uploaded as `raw/golden/golden.jsonl`, it becomes the suite `golden`. */
export const GOLDEN_SUITE = join(REPO_ROOT, 'corpus/eval/golden.jsonl');

/** Output tokens the worse version allows: too few for the facts the references hold. */
export const TERSE_MAX_TOKENS = 3;

/** What one promotion attempt came to. */
export interface PromotionAttempt {
  /** `name:version`. */
  readonly candidate: string;
  /** The first move: 409 with the evaluation it started. */
  readonly started: { readonly status: number; readonly code: string; readonly runId: string };
  /** The run, once the state machine ended. */
  readonly run: EvaluationRun;
  /** The second move: 409 `evaluation_failed` with the failing metrics, or 200. */
  readonly decided: {
    readonly status: number;
    readonly code?: string;
    readonly failing?: readonly GateMetric[];
  };
}

export interface GateDemoResult {
  readonly baseline: string;
  readonly worse: PromotionAttempt;
  readonly better: PromotionAttempt;
}

interface GateRefusal {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly evaluation?: { readonly runId: string; readonly failing?: readonly GateMetric[] };
  };
}

/**
 * Registers the golden suite (the gate of prompt promotions and fine-tuned candidates) unless the stack
 * has one already.
 */
export async function ensureGoldenSuite(
  stack: LocalRunner,
  onStep: (line: string) => void = () => undefined,
): Promise<void> {
  if (stack.details<{ name: string }>('llmops.DatasetReady').some((d) => d.name === 'golden')) return;
  onStep('registering the gate suite golden (corpus/eval/golden.jsonl)');
  await registerGoldenSuite(stack);
}

/** Uploads the golden suite through DataPrep and waits until it is registered. */
export async function registerGoldenSuite(stack: LocalRunner): Promise<void> {
  await uploadDatasets(stack, [{ path: GOLDEN_SUITE, purpose: 'golden' }], [readFileSync(GOLDEN_SUITE)]);
  await stack.idle();
}

/** Tries to move `production` to a new version twice: once to start its evaluation, once to read it. */
async function promote(
  stack: LocalRunner,
  client: LocalApiClient,
  version: number,
  onStep: (line: string) => void,
): Promise<PromotionAttempt> {
  const { name } = RAG_PROMPT;
  const path = `/v1/prompts/${name}/labels/production`;
  const candidate = `${name}:${version}`;
  const first = await client.call<GateRefusal>(`PUT ${path} (${candidate})`, 'PUT', path, { version }, 409);
  const runId = first.error.evaluation?.runId;
  if (first.error.code !== 'evaluation_required' || runId === undefined) {
    throw new Error(`PUT ${path} for ${candidate} did not start an evaluation: ${first.error.message}`);
  }
  onStep(`${candidate}: 409 ${first.error.code}, evaluation ${runId.slice(0, 8)} started`);
  // The Evaluate state machine runs on the local bus's events; wait for it to end.
  await stack.idle();
  const run = await client.call<EvaluationRun>(
    `GET /v1/evaluations/${runId}`,
    'GET',
    `/v1/evaluations/${runId}`,
  );
  onStep(`${candidate}: evaluation ${runId.slice(0, 8)} ${run.status}`);
  const { response } = await client.send('PUT', path, { version });
  const body = (await response.json()) as GateRefusal;
  return {
    candidate,
    started: { status: 409, code: first.error.code, runId },
    run,
    decided:
      response.status === 200
        ? { status: 200 }
        : {
            status: response.status,
            code: body.error.code,
            ...(body.error.evaluation?.failing ? { failing: body.error.evaluation.failing } : {}),
          },
  };
}

/**
 * Creates a worse version (answers capped at a few tokens) and a better one (production's template, its
 * answers at least as good), and tries to promote each.
 */
export async function runGateDemo(
  stack: LocalRunner,
  client: LocalApiClient,
  production: number,
  onStep: (line: string) => void,
): Promise<GateDemoResult> {
  const { name, draft } = RAG_PROMPT;
  const create = async (body: Record<string, unknown>) =>
    (
      await client.call<{ version: number }>(
        `POST /v1/prompts/${name}/versions`,
        'POST',
        `/v1/prompts/${name}/versions`,
        body,
        201,
      )
    ).version;
  const worse = await create({
    ...draft,
    model: { maxTokens: TERSE_MAX_TOKENS },
    commitMessage: 'Terse answers (the gate must refuse this)',
  });
  const better = await create({
    ...draft,
    commitMessage: 'Production’s grounded answer, re-released (the gate lets it through)',
  });
  return {
    baseline: `${name}:${production}`,
    worse: await promote(stack, client, worse, onStep),
    better: await promote(stack, client, better, onStep),
  };
}

/** Lines for the demo's text output. */
export function describeGateDemo(result: GateDemoResult): string[] {
  const lines: string[] = [];
  for (const attempt of [result.worse, result.better]) {
    const metrics = attempt.run.metrics ?? {};
    const f1 = metrics.f1;
    lines.push(
      `  ${attempt.candidate} vs ${result.baseline}: evaluation ${attempt.run.runId.slice(0, 8)} ${attempt.run.status}` +
        (f1 && f1.value !== null
          ? `, f1 ${f1.value.toFixed(3)} [${f1.ci[0]?.toFixed(3)}, ${f1.ci[1]?.toFixed(3)}] (n=${f1.n})`
          : '') +
        `, judge ${attempt.run.judge ?? 'n/a'}`,
    );
    if (attempt.decided.status === 200) {
      lines.push(`    PUT production → 200: ${attempt.candidate} promoted (gate passed)`);
    } else {
      const reasons = (attempt.decided.failing ?? []).map((m) => m.reason).join('; ');
      lines.push(`    PUT production → ${attempt.decided.status} ${attempt.decided.code}: ${reasons}`);
    }
  }
  return lines;
}
