/**
 * `prepare FILE --purpose P`: one of your files through DataPrep (validation, redaction, deduplication,
 * splits, token statistics), reported as text or JSON, the curated files optionally written to a folder.
 */
import { resolve } from 'node:path';
import { isPurpose, PURPOSES } from '#core/dataprep/records.ts';
import {
  addStackOptions,
  type LocalCommand,
  parseStackOptions,
  type StackOptions,
  UsageError,
} from './command.ts';
import { printSummary, readUploads, summarize, uploadDatasets, writeOut } from './datasets.ts';
import { withLocalRunner } from './local-runner.ts';

/** What `prepare` runs. */
export interface PrepareRequest {
  /** Absolute path of the JSONL file. */
  readonly file: string;
  readonly purpose: string;
  /** Folder for the manifest, the curated splits and the quarantine. */
  readonly out: string | undefined;
  readonly json: boolean;
  readonly stack: StackOptions;
}

/** `prepare FILE --purpose P [--out DIR]`. */
export const prepareCommand: LocalCommand<PrepareRequest> = {
  name: 'prepare',
  configure(command) {
    command
      .summary('prepare a JSONL dataset through DataPrep')
      .description(
        'Uploads FILE to the local raw bucket, which starts the synthesized DataPrep pipeline (validation, ' +
          'PII redaction, deduplication, train/validation splits, token statistics), and reports what it ' +
          'kept and quarantined, and why. Exits 0 when the dataset is ready, 1 when no line was valid.',
      )
      .argument('<file>', 'the JSONL file to prepare')
      .requiredOption('--purpose <purpose>', `what the dataset is for: ${PURPOSES.join(', ')}`)
      .option('--out <dir>', 'write the manifest, the curated splits and the quarantine file to DIR')
      .option('--json', 'print the summary as one JSON object on the last line of stdout');
    addStackOptions(command, 'option').addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  npm start -- prepare my-chats.jsonl --purpose finetune --out ./prepared',
        '  npm start -- prepare docs.jsonl --purpose rag --json | tail -n 1 | jq .',
      ].join('\n'),
    );
  },
  parse([file], options) {
    const purpose = String(options.purpose);
    if (!isPurpose(purpose)) {
      throw new UsageError(`--purpose must be one of ${PURPOSES.join(', ')} (got "${purpose}").`);
    }
    return {
      file: resolve(String(file)),
      purpose,
      out: options.out as string | undefined,
      json: options.json === true,
      stack: parseStackOptions(options),
    };
  },
  run: runPrepare,
};

/** Prepares one file; 0 when its dataset is ready, 1 otherwise. */
export async function runPrepare(request: PrepareRequest): Promise<number> {
  const uploads = [{ path: request.file, purpose: request.purpose }];
  const bodies = readUploads(uploads);
  return withLocalRunner(request.stack, async (stack) => {
    const [key = ''] = await uploadDatasets(stack, uploads, bodies);
    const summary = await summarize(stack, key, stack.output('RawBucketName'));
    if (request.out) await writeOut(stack, summary, request.out);
    if (request.json) console.log(JSON.stringify(summary));
    else printSummary(summary);
    return summary.status === 'READY' ? 0 : 1;
  });
}
