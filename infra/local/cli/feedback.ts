/**
 * `feedback FILE.jsonl`: human feedback through the local API and into training. Each line rates an
 * interaction, named by `interactionId` or made first from `prompt` (+ `variables`, `model`) through
 * `POST /v1/chat`; the rest of the line is what `POST /v1/feedback` receives (`rating`, `correction`,
 * `preferredAnswer`, `categories`, `comment`, `user`). Then the export's schedule fires: the pairs it
 * built, the files it wrote and the pipeline runs it started (DataPrep, FineTune with the DPO recipe, the
 * candidate's evaluation, the rollout, and the candidate's win rate on the held-out feedback prompts) are
 * printed, or, with `--json`, one JSON object on the last line.
 *
 * Exit codes: 0 when every line was accepted (an export below the threshold is not a failure: the
 * verdicts wait for the next one); 1 when the API refused a line (the output names the line and the
 * reason) or a pipeline the export started failed; 2 for bad arguments or a line that is not feedback.
 */
import { resolve } from 'node:path';
import { FeedbackFileError, type FeedbackLine, readFeedbackFile } from '../feedback-lines.ts';
import {
  addStackOptions,
  type LocalCommand,
  parseStackOptions,
  type StackOptions,
  UsageError,
} from './command.ts';
import { apiClient, progress, withLocalRunner } from './local-runner.ts';

export interface FeedbackRequest {
  /** Absolute path of the JSONL file. */
  readonly file: string;
  /** Its lines, read and checked before the stack starts. */
  readonly lines: readonly FeedbackLine[];
  readonly json: boolean;
  readonly stack: StackOptions;
}

export const feedbackCommand: LocalCommand<FeedbackRequest> = {
  name: 'feedback',
  configure(command) {
    command
      .summary('send feedback lines through the local API, export preference pairs, fine-tune on them')
      .description(
        'Sends each line of FILE to POST /v1/feedback (a line with "prompt" instead of "interactionId" ' +
          'is answered first through POST /v1/chat; lines with the same prompt, variables and model rate ' +
          'the same answer), then fires the feedback export schedule: at the profile threshold the ' +
          'preference pairs go to raw/preference/ like any upload, DataPrep curates them and the ' +
          'FineTune state machine trains on them with the DPO recipe (a local stand-in records the ' +
          'training request), evaluates the candidate against production (with its win rate) and rolls ' +
          'it out. Exits 0 when every line was accepted.',
      )
      .argument('<file>', 'JSONL: {interactionId | prompt, variables?, model?, rating, correction?, ...}')
      .option('--json', 'print the result as one JSON object on the last line of stdout');
    addStackOptions(command, 'option').addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  npm start -- feedback infra/local/samples/feedback.jsonl',
        '  npm start -- feedback my-feedback.jsonl --json | tail -n 1 | jq .exported',
      ].join('\n'),
    );
  },
  parse([file], options) {
    const path = resolve(String(file));
    let lines: FeedbackLine[];
    try {
      lines = readFeedbackFile(path);
    } catch (error) {
      if (error instanceof FeedbackFileError) throw new UsageError(error.message);
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`${path}: no such file`);
      throw error;
    }
    return { file: path, lines, json: options.json === true, stack: parseStackOptions(options) };
  },
  run: runFeedback,
};

/** Runs the chain; 0 when every line was accepted and nothing the export started failed. */
export async function runFeedback(request: FeedbackRequest): Promise<number> {
  return withLocalRunner(request.stack, async (stack) => {
    const { describeFeedback, runFeedbackChain } = await import('../feedback-demo.ts');
    const client = apiClient(stack, request.stack.verbose);
    const result = await runFeedbackChain(stack, client, request.lines, (line) => progress(`  … ${line}`));
    if (request.json) {
      console.log(
        JSON.stringify({
          sent: result.sent,
          exported: result.exported,
          firstPair: result.firstPair,
          dataset: result.dataset?.dataset ?? null,
          pipelines: result.pipelines,
          fineTune: result.fineTune
            ? {
                trainingJob: result.fineTune.trainingRequest?.TrainingJobName ?? null,
                evaluation: result.fineTune.evaluation,
                rollout: result.fineTune.rollout
                  ? { outcome: result.fineTune.rollout.outcome, model: result.fineTune.rollout.model }
                  : null,
                job: result.fineTune.job,
              }
            : null,
          holdout: result.holdout,
        }),
      );
    } else {
      console.log(`● Feedback from ${request.file}`);
      for (const line of describeFeedback(result)) console.log(line);
    }
    const refused = result.sent.some((s) => s.status !== 200);
    const failed = result.pipelines.some((p) => p.status !== 'SUCCEEDED');
    return refused || failed ? 1 : 0;
  });
}
