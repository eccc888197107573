/**
 * The evaluation step of the lifecycle demo: the bundled golden set (`corpus/eval/golden.jsonl`, over
 * the bundled corpus) answered by a new version of the grounded prompt and by its production version,
 * scored, and gated. The new version caps answers at a few tokens, so its answers lose the facts the
 * references hold: the paired gate refuses it, which is what the demo shows.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { formatCi, formatScore } from '#core/eval/report/format.ts';
import type { RunReport } from '#core/eval/report/types.ts';
import { DEFAULT_JUDGED, runEvaluation } from '#core/eval/run.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';
import type { LocalApiClient } from '../api-client.ts';
import { RAG_PROMPT } from '../rag-demo.ts';
import { apiAnswers } from './answers.ts';
import { evaluationMetrics, loadSuite } from './suite-file.ts';

/** The bundled golden set. */
export const GOLDEN_SUITE = join(REPO_ROOT, 'corpus/eval/golden.jsonl');

/** Output tokens the worse version allows: too few for the facts the references hold. */
export const TERSE_MAX_TOKENS = 3;

/** What the evaluation demo found. */
export interface EvalDemoResult {
  readonly candidate: string;
  readonly baseline: string;
  readonly report: RunReport;
}

/**
 * Creates the worse version of the grounded prompt (without moving its label), evaluates it against the
 * version `production` points at, on the golden set with retrieval, and returns the run.
 */
export async function runEvalDemo(
  client: LocalApiClient,
  production: number,
  onItem?: (done: number, total: number) => void,
): Promise<EvalDemoResult> {
  const { name, draft } = RAG_PROMPT;
  const created = await client.call<{ version: number }>(
    `POST /v1/prompts/${name}/versions`,
    'POST',
    `/v1/prompts/${name}/versions`,
    {
      ...draft,
      model: { maxTokens: TERSE_MAX_TOKENS },
      commitMessage: 'Terse answers (evaluation demo: the gate must refuse this)',
    },
    201,
  );
  const candidate = `${name}:${created.version}`;
  const baseline = `${name}:${production}`;
  const suite = loadSuite(GOLDEN_SUITE);
  const rag = { k: 5 };
  const report = await runEvaluation({
    runId: randomUUID(),
    suite: { name: suite.name, version: suite.version },
    items: suite.items,
    metrics: evaluationMetrics,
    judged: DEFAULT_JUDGED,
    judge: { kind: 'offline' },
    target: { prompt: candidate },
    answers: apiAnswers(client, { prompt: candidate, rag }),
    baseline: { target: { prompt: baseline }, answers: apiAnswers(client, { prompt: baseline, rag }) },
    ...(onItem ? { onItem } : {}),
  });
  return { candidate, baseline, report };
}

/** Lines for the demo's text output. */
export function describeEvalDemo(result: EvalDemoResult): string[] {
  const { report } = result;
  const metric = (name: string) => report.metrics.find((m) => m.name === name);
  const baseline = (name: string) => report.baselineMetrics?.find((m) => m.name === name);
  const lines = [
    `  suite ${report.suite.name} (version ${report.suite.version}): ${report.suite.items} items, ${report.failed} failed; judge: offline`,
  ];
  for (const name of ['exact_match', 'f1', 'rouge_l', 'context_recall', 'abstention', 'faithfulness']) {
    const m = metric(name);
    const b = baseline(name);
    if (!m) continue;
    lines.push(
      `  ${name.padEnd(15)} ${result.candidate} ${formatScore(m.value)} ${formatCi(m.ci)}` +
        (b ? `   ${result.baseline} ${formatScore(b.value)}` : ''),
    );
  }
  const failing = report.gate?.metrics.filter((m) => m.verdict === 'fail') ?? [];
  lines.push(
    report.gate?.pass === false
      ? `  gate: ${result.candidate} refused against ${result.baseline}: ${failing.map((m) => m.reason).join('; ')}`
      : `  gate: ${result.candidate} passed against ${result.baseline}`,
  );
  return lines;
}
