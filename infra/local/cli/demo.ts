/**
 * The lifecycle demo, what `npm start` runs without a command: the bundled sample datasets (one per
 * purpose) through DataPrep, a replayed upload event that must change nothing, the API demo (a prompt
 * version, its production label, the catalog, a chat as JSON and streamed) and the RAG demo (the bundled
 * corpus through RagIngest, a re-upload that embeds nothing, cited answers) and the evaluation demo (a
 * worse prompt version evaluated against production on the golden set, and refused by the gate) and the
 * drift demo (replayed traffic that shifts topic, the DriftCheck state machine, the synthesized drift
 * alarms evaluated on the scores it emitted, the page, llmops.DriftDetected and the evaluation it
 * starts) with the closed loop (a release forced past its gate is rolled back after that evaluation,
 * and the rollback pages), and the feedback demo (feedback lines → preference pairs → DataPrep → the
 * DPO recipe's training request → the candidate's evaluation), all over the local stack.
 */

import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { REPO_ROOT } from '#infra/repo-root.ts';
import { type ApiDemoResult, describeApiDemo, runApiDemo } from '../api-demo.ts';
import { type DriftDemoResult, describeDriftDemo, runDriftDemo } from '../drift-demo.ts';
import {
  describeGateDemo,
  type GateDemoResult,
  registerGoldenSuite,
  runGateDemo,
} from '../eval/eval-demo.ts';
import { describeFeedback, type FeedbackChainResult, runFeedbackChain } from '../feedback-demo.ts';
import { FEEDBACK_SAMPLE, readFeedbackFile } from '../feedback-lines.ts';
import { describeFineTune, type FineTuneChainResult, fineTuneOutcome } from '../finetune-demo.ts';
import {
  describeLoop,
  type ForcedRelease,
  forceProduction,
  type LoopOutcome,
  loopOutcome,
} from '../loop-demo.ts';
import {
  askRag,
  BUNDLED_CORPUS,
  createRagPrompt,
  describeAnswer,
  describeIngest,
  type IngestSummary,
  ingestFolder,
  RAG_PROMPT,
  type RagAnswer,
} from '../rag-demo.ts';
import type { LocalRunner } from '../runner.ts';
import {
  addStackOptions,
  type LocalCommand,
  parseStackOptions,
  type ServeMode,
  type StackOptions,
} from './command.ts';
import {
  type DatasetSummary,
  printSummary,
  readUploads,
  summarize,
  uploadDatasets,
  writeOut,
} from './datasets.ts';
import { apiClient, progress, withLocalRunner } from './local-runner.ts';

/** The bundled samples, one per purpose (with bad lines, duplicates and PII). */
const SAMPLES: ReadonlyArray<{ file: string; purpose: string }> = [
  { file: 'support-chats.jsonl', purpose: 'finetune' },
  { file: 'helpfulness.jsonl', purpose: 'preference' },
  { file: 'lambda-docs.jsonl', purpose: 'rag' },
  { file: 'lambda-qa.jsonl', purpose: 'golden' },
];

/** Questions the RAG demo asks; the last one is about nothing in the corpus. */
const DEMO_QUESTIONS = [
  'How do I keep functions initialized so that they respond without cold starts?',
  'What happens to an asynchronous invocation that keeps failing?',
  'How can a function read configuration without changing its code?',
  'What is the recipe for a good sourdough bread?',
];

/** What the demo (and `serve`) runs. */
export interface DemoRequest {
  /** Folder to write each sample dataset's curated files to, one subfolder per dataset. */
  readonly out: string | undefined;
  readonly json: boolean;
  readonly stack: StackOptions;
}

/** Declares the demo's own options (shared with `serve`, which runs the demo first). */
export function addDemoOptions(command: Command): void {
  command
    .option('--out <dir>', "write each sample dataset's manifest, splits and quarantine to DIR/<dataset>")
    .option('--json', 'print one JSON object with every result on the last line of stdout');
}

/** Reads the demo's options. */
export function parseDemoOptions(options: Readonly<Record<string, unknown>>, serve: ServeMode): DemoRequest {
  return {
    out: options.out as string | undefined,
    json: options.json === true,
    stack: parseStackOptions(options, serve),
  };
}

/** `demo`: the lifecycle demo, run when no command is given. */
export const demoCommand: LocalCommand<DemoRequest> = {
  name: 'demo',
  configure(command) {
    command
      .summary('run the whole lifecycle demo (the default)')
      .description(
        'Runs the lifecycle offline: the bundled sample datasets through DataPrep, a replayed upload ' +
          'event that changes nothing, the API demo (prompt version, label, catalog, chat, streamed chat) ' +
          'and the RAG demo (the bundled corpus through RagIngest, cited answers). Exits 0 when every ' +
          'step succeeded.',
      );
    addDemoOptions(command);
    addStackOptions(command, 'none').addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  npm start',
        '  npm start -- demo --out ./prepared --json | tail -n 1 | jq .datasets',
      ].join('\n'),
    );
  },
  parse(_args, options) {
    return parseDemoOptions(options, 'none');
  },
  run: runDemo,
};

interface RagDemoResult {
  ingest: IngestSummary;
  reingest: IngestSummary;
  answers: RagAnswer[];
  /** The version of the grounded prompt that `production` points at. */
  promptVersion: number;
}

/** Runs the demo (then serves with `stack.serve`); 0 when every step succeeded. */
export async function runDemo(request: DemoRequest): Promise<number> {
  const uploads = SAMPLES.map((s) => ({
    path: join(REPO_ROOT, 'infra/local/samples', s.file),
    purpose: s.purpose,
  }));
  const bodies = readUploads(uploads);
  return withLocalRunner(request.stack, async (stack) => {
    // The suite that gates fine-tuned candidates (and prompt promotions), before the fine-tuning samples.
    progress('Registering the golden suite (corpus/eval/golden.jsonl) through DataPrep');
    await registerGoldenSuite(stack);
    const keys = await uploadDatasets(stack, uploads, bodies);
    // At-least-once delivery: replay the first upload's event; it must change nothing.
    const first = stack.events.find((e) => e.event['detail-type'] === 'Object Created');
    if (first) {
      progress('Replaying the first upload event (duplicate delivery)');
      stack.publish(first.bus, { ...first.event, id: `${first.event.id}-replay` });
      await stack.idle();
    }
    const raw = stack.output('RawBucketName');
    const summaries: DatasetSummary[] = [];
    for (const key of keys) {
      const summary = await summarize(stack, key, raw);
      if (request.out)
        await writeOut(stack, summary, join(request.out, summary.dataset?.name ?? basename(key)));
      summaries.push(summary);
    }
    const replays = stack.deliveries.filter(
      (d) => d.execution?.output && (d.execution.output as { status?: string }).status === 'DUPLICATE',
    );
    if (!request.json) {
      for (const summary of summaries) printSummary(summary);
      console.log(
        `\n● replayed event: ${replays.length} execution(s) ended AlreadyProcessed; no new dataset version`,
      );
      const ready = summaries.filter((s) => s.status === 'READY').length;
      console.log(
        `\nLifecycle ran: ${ready}/${summaries.length} datasets ready, ${stack.events.length} events routed.`,
      );
    }
    const fineTuning = await fineTuneDemo(stack, request, summaries);
    let api: ApiDemoResult | undefined;
    let apiFailure: string | undefined;
    let rag: RagDemoResult | undefined;
    let ragFailure: string | undefined;
    let evaluation: GateDemoResult | undefined;
    let evalFailure: string | undefined;
    let drift: DriftDemoResult | undefined;
    let driftFailure: string | undefined;
    let forced: ForcedRelease | undefined;
    let loop: LoopOutcome | undefined;
    let loopFailure: string | undefined;
    let feedback: FeedbackChainResult | undefined;
    let feedbackFailure: string | undefined;
    if (stack.api) {
      try {
        api = await apiDemo(stack, request);
      } catch (error) {
        apiFailure = (error as Error).message;
        console.error(`API demo failed: ${apiFailure}`);
      }
      try {
        rag = await ragDemo(stack, request);
      } catch (error) {
        ragFailure = (error as Error).message;
        console.error(`RAG demo failed: ${ragFailure}`);
      }
      if (rag !== undefined) {
        try {
          evaluation = await evalDemo(stack, request, rag.promptVersion);
        } catch (error) {
          evalFailure = (error as Error).message;
          console.error(`Evaluation demo failed: ${evalFailure}`);
        }
      }
      // The closed loop's setup: the worse version forced into production past its failed gate.
      if (evaluation !== undefined) {
        try {
          forced = await forceProduction(
            apiClient(stack, request.stack.verbose),
            RAG_PROMPT.name,
            Number(evaluation.worse.candidate.split(':')[1]),
            'hotfix: shorter answers requested by support (local demo)',
          );
        } catch (error) {
          loopFailure = (error as Error).message;
          console.error(`Closed loop demo failed: ${loopFailure}`);
        }
      }
      const before = { events: stack.events.length, pages: stack.pages.length };
      try {
        drift = await driftDemo(stack, request);
      } catch (error) {
        driftFailure = (error as Error).message;
        console.error(`Drift demo failed: ${driftFailure}`);
      }
      if (forced !== undefined) {
        try {
          loop = await loopOutcome(stack, apiClient(stack, request.stack.verbose), RAG_PROMPT.name, before);
          if (!request.json) {
            console.log('\n● Closed loop: drift alarm → evaluation of production → rollback');
            for (const line of describeLoop(forced, loop)) console.log(line);
          }
        } catch (error) {
          loopFailure = (error as Error).message;
          console.error(`Closed loop demo failed: ${loopFailure}`);
        }
      }
      try {
        feedback = await feedbackDemo(stack, request);
      } catch (error) {
        feedbackFailure = (error as Error).message;
        console.error(`Feedback demo failed: ${feedbackFailure}`);
      }
    } else if (!request.json) {
      console.log('\n● API: the template declares no REST API; nothing to serve');
    }
    if (request.json) {
      console.log(
        JSON.stringify({
          datasets: summaries,
          replayedDuplicates: replays.length,
          fineTuning: fineTuning.map(
            ({ dataset, trainingRequest, modelPackage, evaluation, rollout, job, chat }) => ({
              dataset: dataset.dataset ?? null,
              trainingJob: trainingRequest?.TrainingJobName ?? null,
              modelPackage: modelPackage?.ModelPackageArn ?? null,
              approval: modelPackage?.ModelApprovalStatus ?? null,
              evaluation: evaluation ? { runId: evaluation.runId, pass: evaluation.pass } : null,
              rollout: rollout
                ? { outcome: rollout.outcome, reason: rollout.reason, model: rollout.model }
                : null,
              job: job?.status ?? null,
              answered: chat?.status ?? null,
            }),
          ),
          ...(api ? { api } : {}),
          ...(apiFailure ? { apiFailure } : {}),
          ...(rag ? { rag } : {}),
          ...(ragFailure ? { ragFailure } : {}),
          ...(evaluation ? { evaluation } : {}),
          ...(evalFailure ? { evalFailure } : {}),
          ...(drift ? { drift } : {}),
          ...(driftFailure ? { driftFailure } : {}),
          ...(loop && forced ? { loop: { forced, ...loop } } : {}),
          ...(loopFailure ? { loopFailure } : {}),
          ...(feedback
            ? {
                feedback: {
                  accepted: feedback.sent.filter((f) => f.status === 200).length,
                  lines: feedback.sent.length,
                  exported: feedback.exported,
                  pipelines: feedback.pipelines,
                  fineTune: feedback.fineTune
                    ? {
                        evaluation: feedback.fineTune.evaluation,
                        rollout: feedback.fineTune.rollout?.outcome ?? null,
                      }
                    : null,
                  holdout: feedback.holdout,
                },
              }
            : {}),
          ...(feedbackFailure ? { feedbackFailure } : {}),
        }),
      );
    }
    return summaries.every((s) => s.status === 'READY') &&
      replays.length > 0 &&
      // Both fine-tuning samples trained (stand-in), passed their gate, rolled out and answered.
      fineTuning.length === 2 &&
      fineTuning.every((f) => f.rollout?.outcome === 'promoted' && f.chat?.status === 200) &&
      apiFailure === undefined &&
      ragFailure === undefined &&
      evalFailure === undefined &&
      // The gate must refuse the worse prompt version and let the better one through.
      evaluation?.worse.decided.code === 'evaluation_failed' &&
      evaluation.better.decided.status === 200 &&
      // The shifted traffic must page, become DriftDetected and start an evaluation that runs.
      driftFailure === undefined &&
      drift !== undefined &&
      drift.pages.length > 0 &&
      drift.driftDetected !== null &&
      drift.evaluation?.status === 'SUCCEEDED' &&
      // The loop must roll the forced release back to the version that passed, and page.
      loopRolledBack(loopFailure, forced, loop) &&
      // Every feedback line accepted, the pairs exported, and the DPO candidate evaluated.
      feedbackFailure === undefined &&
      feedback?.sent.every((f) => f.status === 200) === true &&
      feedback.exported !== null &&
      (feedback.fineTune?.evaluation ?? null) !== null &&
      rag !== undefined &&
      rag.ingest.failed.length === 0
      ? 0
      : 1;
  });
}

/** The closed loop did what the demo shows: the forced release rolled back to the one that passed, paged. */
function loopRolledBack(
  failure: string | undefined,
  forced: ForcedRelease | undefined,
  loop: LoopOutcome | undefined,
): boolean {
  if (failure !== undefined || forced === undefined || loop === undefined) return false;
  return (
    loop.decisions.some((d) => d.outcome === 'rolled_back') &&
    loop.production === forced.from &&
    loop.pages.length > 0
  );
}

/**
 * The fine-tuning demo: what the two fine-tuning samples became (each upload started FineTune: the
 * training stand-in, the model package, the candidate's evaluation and gate, the rollout), and a call
 * to the served model.
 */
async function fineTuneDemo(
  stack: LocalRunner,
  request: DemoRequest,
  summaries: readonly DatasetSummary[],
): Promise<FineTuneChainResult[]> {
  const client = apiClient(stack, request.stack.verbose);
  const results: FineTuneChainResult[] = [];
  for (const summary of summaries) {
    if (summary.dataset?.purpose !== 'finetune' && summary.dataset?.purpose !== 'preference') continue;
    const result = await fineTuneOutcome(stack, client, summary);
    results.push(result);
    if (!request.json) for (const line of describeFineTune(result, summary.source.key)) console.log(line);
  }
  return results;
}

/** Runs the API demo against the local API; in text mode the streamed answer is printed as it arrives. */
async function apiDemo(stack: LocalRunner, request: DemoRequest): Promise<ApiDemoResult> {
  const client = apiClient(stack, request.stack.verbose);
  progress(`Calling the API at ${client.url}`);
  let streaming = false;
  const result = await runApiDemo({
    client,
    onStep: (line) => progress(`${streaming ? '\n' : ''}  … API: ${line}`),
    onText: (text) => {
      if (!streaming && !request.json) process.stdout.write('  streamed answer: ');
      streaming = true;
      (request.json ? process.stderr : process.stdout).write(text);
    },
  });
  if (!request.json) {
    console.log(`\n● API at ${client.url}`);
    for (const line of describeApiDemo(result)) console.log(line);
  }
  await stack.idle();
  return result;
}

/** The RAG demo: the bundled corpus through RagIngest, a re-upload that changes nothing, cited answers. */
async function ragDemo(stack: LocalRunner, request: DemoRequest): Promise<RagDemoResult> {
  const client = apiClient(stack, request.stack.verbose);
  const corpus = relativeToRepo(BUNDLED_CORPUS.dir);
  progress(`Ingesting the bundled corpus ${corpus} through RagIngest`);
  const ingest = await ingestFolder(stack, BUNDLED_CORPUS.dir, BUNDLED_CORPUS.exclude);
  progress('Uploading the corpus again (unchanged content: nothing is embedded again)');
  const reingest = await ingestFolder(stack, BUNDLED_CORPUS.dir, BUNDLED_CORPUS.exclude);
  const promptVersion = await createRagPrompt(client);
  const answers: RagAnswer[] = [];
  for (const question of DEMO_QUESTIONS) answers.push(await askRag(client, question));
  if (!request.json) {
    console.log(`\n● RAG over ${corpus} (embedded vector store, offline embedder)`);
    for (const line of describeIngest('ingest', ingest)) console.log(line);
    for (const line of describeIngest('re-ingest', reingest)) console.log(line);
    for (const answer of answers) for (const line of describeAnswer(answer)) console.log(line);
  }
  await stack.idle();
  return { ingest, reingest, answers, promptVersion };
}

/**
 * The evaluation demo: a worse and a better version of the grounded prompt each asking for the production
 * label, gated by the Evaluate state machine on the golden suite (registered at the start of the demo).
 */
async function evalDemo(
  stack: LocalRunner,
  request: DemoRequest,
  production: number,
): Promise<GateDemoResult> {
  const client = apiClient(stack, request.stack.verbose);
  progress('Promoting new versions of the grounded prompt: each must pass an evaluation against production');
  const result = await runGateDemo(stack, client, production, (line) => progress(`  … ${line}`));
  if (!request.json) {
    console.log(
      `\n● Evaluation gate on ${result.baseline.split(':')[0]}@production (Evaluate state machine, suite golden, judge offline)`,
    );
    for (const line of describeGateDemo(result)) console.log(line);
  }
  await stack.idle();
  return result;
}

/**
 * The drift demo: four windows of replayed traffic checked by the DriftCheck state machine, the last two
 * about another topic; the drift alarms evaluated, the page, DriftDetected and the evaluation it starts.
 */
async function driftDemo(stack: LocalRunner, request: DemoRequest): Promise<DriftDemoResult> {
  progress('Replaying four windows of traffic (the last two shift topic) and checking each for drift');
  const result = await runDriftDemo(stack, (line) => progress(`  … ${line}`));
  if (!request.json) {
    console.log(
      `\n● Drift check ${result.check} every ${result.cadenceMinutes} minutes (DriftCheck state machine, synthesized alarms evaluated locally)`,
    );
    for (const line of describeDriftDemo(result)) console.log(line);
  }
  await stack.idle();
  return result;
}

/**
 * The feedback demo: the bundled feedback lines rate the API demo prompt's answers; the export's schedule
 * fires, the pairs go through DataPrep, and FineTune trains on them with the DPO recipe (stand-in).
 */
async function feedbackDemo(stack: LocalRunner, request: DemoRequest): Promise<FeedbackChainResult> {
  const client = apiClient(stack, request.stack.verbose);
  progress(`Sending feedback (${relativeToRepo(FEEDBACK_SAMPLE)}), exporting preference pairs, fine-tuning`);
  const result = await runFeedbackChain(stack, client, readFeedbackFile(FEEDBACK_SAMPLE), (line) =>
    progress(`  … ${line}`),
  );
  if (!request.json) {
    console.log('\n● Feedback → preference pairs → DataPrep → DPO → candidate evaluation');
    for (const line of describeFeedback(result)) console.log(line);
  }
  await stack.idle();
  return result;
}

/** A path relative to the repository, for messages. */
function relativeToRepo(path: string): string {
  return path.startsWith(REPO_ROOT) ? path.slice(REPO_ROOT.length).replace(/^\//, '') : path;
}
