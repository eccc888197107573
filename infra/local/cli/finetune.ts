/**
 * `finetune FILE --purpose finetune|preference`: one dataset through the whole fine-tuning chain on the
 * local stack (DataPrep, FineTune with the training stand-in, the model registry, the candidate's
 * evaluation and gate, the rollout, a call to the served model), reported as text or, with `--json`,
 * as one JSON object on the last line: the recorded training request, the model package, the
 * evaluation verdict, the rollout outcome, the job and the answer.
 *
 * Exit codes: 0 when the candidate was rolled out and answered; 1 when it was not (no valid line, a
 * failed job, a failed evaluation or a rollback: the output says which); 2 for bad arguments.
 */
import { resolve } from 'node:path';
import {
  addStackOptions,
  type LocalCommand,
  parseStackOptions,
  type StackOptions,
  UsageError,
} from './command.ts';
import { readUploads } from './datasets.ts';
import { apiClient, progress, withLocalRunner } from './local-runner.ts';

const PURPOSES = ['finetune', 'preference'] as const;

/** What `finetune` runs. */
export interface FineTuneRequest {
  /** Absolute path of the JSONL file. */
  readonly file: string;
  readonly purpose: (typeof PURPOSES)[number];
  readonly json: boolean;
  readonly stack: StackOptions;
}

export const finetuneCommand: LocalCommand<FineTuneRequest> = {
  name: 'finetune',
  configure(command) {
    command
      .summary('fine-tune on a dataset: train (stand-in), register, evaluate, gate, roll out, call it')
      .description(
        'Uploads FILE through DataPrep; its llmops.DatasetReady starts the synthesized FineTune state ' +
          'machine, whose training job goes to a local stand-in that records and validates the exact ' +
          'CreateTrainingJob request and writes a labelled placeholder adapter (nothing trains locally). ' +
          'The candidate is registered as a model package, evaluated against the served model on the ' +
          "gate's suite, approved (dev) and rolled out by canary by the Rollout state machine; then the " +
          'served model answers through /v1/chat/completions (the offline provider, labelled). Exits 0 ' +
          'when the candidate serves, 1 when it does not (the output says why).',
      )
      .argument('<file>', 'the JSONL dataset: chat or prompt/completion records, or preference pairs')
      .requiredOption('--purpose <purpose>', `what the dataset is: ${PURPOSES.join(', ')}`)
      .option('--json', 'print the result as one JSON object on the last line of stdout');
    addStackOptions(command, 'option').addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  npm start -- finetune infra/local/samples/support-chats.jsonl --purpose finetune',
        '  npm start -- finetune infra/local/samples/helpfulness.jsonl --purpose preference --json | tail -n 1 | jq .rollout',
      ].join('\n'),
    );
  },
  parse([file], options) {
    const purpose = String(options.purpose);
    if (!(PURPOSES as readonly string[]).includes(purpose)) {
      throw new UsageError(`--purpose must be one of ${PURPOSES.join(', ')} (got "${purpose}").`);
    }
    return {
      file: resolve(String(file)),
      purpose: purpose as FineTuneRequest['purpose'],
      json: options.json === true,
      stack: parseStackOptions(options),
    };
  },
  run: runFineTune,
};

/** Runs the chain; 0 when the candidate serves. */
export async function runFineTune(request: FineTuneRequest): Promise<number> {
  readUploads([{ path: request.file, purpose: request.purpose }]);
  return withLocalRunner(request.stack, async (stack) => {
    const { describeFineTune, runFineTuneChain } = await import('../finetune-demo.ts');
    const client = apiClient(stack, request.stack.verbose);
    const result = await runFineTuneChain(
      stack,
      client,
      { file: request.file, purpose: request.purpose },
      (line) => progress(`  … ${line}`),
    );
    if (request.json) {
      console.log(
        JSON.stringify({
          dataset: result.dataset.dataset ?? null,
          trainingRequest: result.trainingRequest,
          modelPackage: result.modelPackage,
          evaluation: result.evaluation,
          rollout: result.rollout,
          job: result.job,
          chat: result.chat,
        }),
      );
    } else {
      for (const line of describeFineTune(result, request.file)) console.log(line);
    }
    return result.rollout?.outcome === 'promoted' && result.chat?.status === 200 ? 0 : 1;
  });
}
