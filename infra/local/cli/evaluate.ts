/**
 * `evaluate GOLDEN.jsonl`: runs an evaluation suite locally against a prompt version and/or a model
 * through the local API (or scores provided predictions without generating anything), and writes
 * `summary.json`, `items.jsonl`, `report.html` and `summary.md`. With `--baseline REF`, the same items
 * are answered by the baseline prompt version too and the non-inferiority gate decides; `--pairwise`
 * also compares each item's two answers side by side and reports the win rate against the baseline,
 * raw and length-controlled (informs, never gates). Locally the judge is the offline judge, labelled
 * `judge: offline` everywhere; its scores never gate.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { RunReport } from '#core/eval/report/types.ts';
import { type ApiTarget, apiAnswers, predictedAnswers } from '../eval/answers.ts';
import { cliSummary } from '../eval/cli-summary.ts';
import { evaluationMetrics, loadSuite } from '../eval/suite-file.ts';
import { BUNDLED_CORPUS, createRagPrompt, describeIngest, ingestFolder, RAG_PROMPT } from '../rag-demo.ts';
import {
  addStackOptions,
  type LocalCommand,
  parseStackOptions,
  type StackOptions,
  UsageError,
} from './command.ts';
import { apiClient, progress, withLocalRunner } from './local-runner.ts';
import { checkFolder } from './paths.ts';

/** What `evaluate` runs. */
export interface EvaluateRequest {
  readonly suite: string;
  readonly prompt: string | undefined;
  readonly baseline: string | undefined;
  /** Compare candidate and baseline answers pairwise and report the win rates (needs `baseline`). */
  readonly pairwise: boolean;
  readonly model: string | undefined;
  readonly predictions: string | undefined;
  /** Folder to ingest and retrieve from (`--rag DIR`); `bundled` for the bundled corpus. */
  readonly rag: string | undefined;
  readonly k: number;
  readonly out: string | undefined;
  readonly json: boolean;
  readonly stack: StackOptions;
}

export const evaluateCommand: LocalCommand<EvaluateRequest> = {
  name: 'evaluate',
  configure(command) {
    command
      .summary('evaluate a prompt version or model on a golden set, with a gate against a baseline')
      .description(
        'Answers every item of GOLDEN (JSONL: {id?, input | messages, reference | references, contexts?, ' +
          'reference_context_ids?, tags?} or OpenAI Evals samples {input, ideal}) through the local API, or ' +
          'takes the answers from --predictions, then scores them: exact_match, f1, rouge_l, RAG context ' +
          'precision and recall, abstention on unanswerable items, toxicity, and the offline judge ' +
          '(faithfulness, answer relevance), each with a 95% bootstrap interval overall and per tag. With ' +
          '--baseline, the same items are answered by the baseline too and a paired non-inferiority gate ' +
          'decides; with --pairwise, the judge also compares the two answers to each item and the win rate ' +
          'against the baseline is reported, raw and length-controlled (it informs, it never gates). ' +
          'Exits 0 when the run completed (and the gate, if any, passed), 1 otherwise.',
      )
      .argument('<golden>', 'the evaluation suite, a JSONL file')
      .option('--prompt <ref>', `a prompt reference (name@label or name:version), e.g. ${RAG_PROMPT.name}`)
      .option('--baseline <ref>', 'a prompt reference to compare with, on the same items (gate)')
      .option('--pairwise', 'with --baseline: judge the two answers side by side and report the win rate')
      .option('--model <id>', "a catalog model id (with --prompt: overrides the prompt's model)")
      .option('--predictions <file>', 'JSONL {id, prediction, contexts?}: score these, generate nothing')
      .option('--rag <dir>', 'ingest DIR and answer with retrieval ("bundled": the bundled corpus)')
      .option('--k <n>', 'passages retrieved per question with --rag (default: 5)')
      .option('--out <dir>', 'write summary.json, items.jsonl, report.html and summary.md to DIR')
      .option('--json', 'print the summary as one JSON object, as the last line of stdout');
    addStackOptions(command, 'option').addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  npm start -- evaluate corpus/eval/golden.jsonl --prompt rag-answer --rag bundled --out ./eval',
        '  npm start -- evaluate golden.jsonl --model nova-micro --json',
        '  npm start -- evaluate golden.jsonl --predictions answers.jsonl --out ./eval',
        `  npm start -- evaluate golden.jsonl --prompt ${RAG_PROMPT.name}:2 --baseline ${RAG_PROMPT.name}:1 --pairwise`,
      ].join('\n'),
    );
  },
  parse([golden], options) {
    const predictions = options.predictions as string | undefined;
    const prompt = options.prompt as string | undefined;
    const baseline = options.baseline as string | undefined;
    if (predictions !== undefined && (prompt !== undefined || baseline !== undefined)) {
      throw new UsageError('--predictions scores given answers: it takes no --prompt or --baseline.');
    }
    if (baseline !== undefined && prompt === undefined) {
      throw new UsageError('--baseline compares with --prompt: give both.');
    }
    const pairwise = options.pairwise === true;
    if (pairwise && baseline === undefined) {
      throw new UsageError('--pairwise compares --prompt with --baseline: give --baseline too.');
    }
    const rawK = options.k as string | undefined;
    const k = rawK === undefined ? 5 : Number(rawK);
    if (!Number.isInteger(k) || k < 1 || k > 50) throw new UsageError(`--k must be 1 to 50 (got "${rawK}").`);
    const rag = options.rag as string | undefined;
    return {
      suite: resolve(String(golden)),
      prompt,
      baseline,
      pairwise,
      model: options.model as string | undefined,
      predictions: predictions === undefined ? undefined : resolve(predictions),
      rag: rag === undefined || rag === 'bundled' ? rag : checkFolder(rag, '--rag'),
      k,
      out: options.out === undefined ? undefined : resolve(String(options.out)),
      json: options.json === true,
      stack: parseStackOptions(options),
    };
  },
  run: runEvaluate,
};

/** Evaluates; 0 when the run completed and its gate (if any) passed. */
export async function runEvaluate(request: EvaluateRequest): Promise<number> {
  const suite = loadSuite(request.suite);
  for (const q of suite.quarantined) progress(`  quarantined line ${q.line}: ${q.reason}`);
  progress(`Suite ${suite.name}: ${suite.items.length} items (${suite.quarantined.length} quarantined)`);
  const { DEFAULT_JUDGED, runEvaluation } = await import('#core/eval/run.ts');
  const common = {
    runId: randomUUID(),
    suite: { name: suite.name, version: suite.version },
    items: suite.items,
    metrics: evaluationMetrics,
    judged: DEFAULT_JUDGED,
    judge: { kind: 'offline' } as const,
    onItem: (done: number, total: number) => {
      if (done % 10 === 0 || done === total) progress(`  … ${done}/${total} answers scored`);
    },
  };
  if (request.predictions !== undefined) {
    const report = await runEvaluation({
      ...common,
      target: { model: `predictions:${basename(request.predictions)}` },
      answers: predictedAnswers(request.predictions),
    });
    return finish(request, report);
  }
  return withLocalRunner(request.stack, async (stack) => {
    const client = apiClient(stack, request.stack.verbose);
    if (request.rag !== undefined) {
      const dir = request.rag === 'bundled' ? BUNDLED_CORPUS.dir : request.rag;
      const exclude = request.rag === 'bundled' ? BUNDLED_CORPUS.exclude : [];
      progress(`Ingesting ${dir} through RagIngest`);
      const ingest = await ingestFolder(stack, dir, exclude);
      for (const line of describeIngest('ingest', ingest)) progress(line);
    }
    // The bundled grounded prompt is there to evaluate; others must name prompts the registry holds.
    await createRagPrompt(client);
    const rag = request.rag === undefined ? undefined : { k: request.k };
    const target: ApiTarget = {
      ...(request.prompt !== undefined ? { prompt: request.prompt } : {}),
      ...(request.model !== undefined ? { model: request.model } : {}),
      ...(rag ? { rag } : {}),
    };
    const report = await runEvaluation({
      ...common,
      target: runTarget(target),
      answers: apiAnswers(client, target),
      ...(request.baseline !== undefined
        ? {
            baseline: {
              target: runTarget({ ...target, prompt: request.baseline }),
              answers: apiAnswers(client, { ...target, prompt: request.baseline }),
            },
            pairwise: request.pairwise,
          }
        : {}),
    });
    return finish(request, report);
  });
}

function runTarget(target: ApiTarget): RunReport['target'] {
  return {
    ...(target.prompt !== undefined ? { prompt: target.prompt } : {}),
    ...(target.model !== undefined ? { model: target.model } : {}),
  };
}

/** Writes the files, prints the summary; the exit code. */
async function finish(request: EvaluateRequest, report: RunReport): Promise<number> {
  const { itemsJsonl, renderHtml, renderMarkdown, summaryJson, summaryWinRate } = await import(
    '#core/eval/report/index.ts'
  );
  const reportPath = request.out === undefined ? undefined : join(request.out, 'report.html');
  if (request.out !== undefined) {
    mkdirSync(request.out, { recursive: true });
    writeFileSync(
      join(request.out, 'summary.json'),
      `${JSON.stringify(summaryJson(report, { reportPath }), null, 2)}\n`,
    );
    writeFileSync(join(request.out, 'items.jsonl'), itemsJsonl(report));
    writeFileSync(join(request.out, 'report.html'), renderHtml(report));
    writeFileSync(join(request.out, 'summary.md'), renderMarkdown(report));
    progress(`Wrote summary.json, items.jsonl, report.html and summary.md to ${request.out}`);
  }
  const pass = report.gate?.pass ?? null;
  const winRate = report.winRate === undefined ? undefined : summaryWinRate(report.winRate);
  if (winRate !== undefined) {
    const shown = (rate: { value: number | null; ci: readonly [number | null, number | null] }) =>
      `${rate.value?.toFixed(3) ?? '—'} [${rate.ci.map((v) => v?.toFixed(3) ?? '—').join(', ')}]`;
    progress(
      `Win rate against the baseline (informs, does not gate): raw ${shown(winRate.raw)}, length-controlled ${shown(winRate.lengthControlled)}; n ${winRate.n}: ${winRate.wins} wins, ${winRate.losses} losses, ${winRate.ties} ties, ${winRate.inconsistent} inconsistent, ${winRate.failed} failed (judge ${winRate.judge})`,
    );
  }
  if (request.json) {
    // `winRate` (summary.json's) only on a pairwise run: the line's other fields are as they were.
    console.log(JSON.stringify({ ...cliSummary(report, reportPath), ...(winRate ? { winRate } : {}) }));
  } else {
    console.log(renderMarkdown(report));
  }
  const everyItemFailed = report.failed === report.items.length;
  return pass === false || everyItemFailed ? 1 : 0;
}
