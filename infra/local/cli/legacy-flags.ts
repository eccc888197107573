/**
 * The flags `npm start` took before it had verbs, kept because scripts pass them. They are hidden
 * options of the default command (`demo`); a command line that uses them is rewritten into the verbs it
 * stands for and parsed again, so both forms run the same code:
 *
 *   --upload FILE --purpose P [--out DIR]         prepare FILE --purpose P [--out DIR]
 *   --ingest DIR --ask QUESTION                   ask --ingest DIR QUESTION
 *   --ingest DIR --questions FILE                 ask --ingest DIR --questions FILE
 *   --serve [--out DIR]                           serve [--out DIR]
 *   (none of them) [--out DIR]                    demo [--out DIR]
 *
 * `--json`, `--verbose`, `--port` and `--api-key` carry over as they are; `--serve` with `--upload`
 * becomes prepare's `--serve`. Combinations the old flags refused are refused with the same messages.
 */
import { type Command, Option } from 'commander';
import { SERVE_PORT, UsageError } from './command.ts';

/** What commander parsed for the default command, old flags included. */
export interface LegacyFlags {
  readonly upload?: string;
  readonly purpose?: string;
  readonly out?: string;
  readonly ingest?: string;
  readonly ask?: string;
  readonly questions?: string;
  readonly serve?: boolean;
  readonly json?: boolean;
  readonly verbose?: boolean;
  readonly port?: string;
  readonly apiKey?: string;
}

/** Declares the old-only flags on `command`, hidden from its help. */
export function addLegacyOptions(command: Command): void {
  command
    .addOption(new Option('--upload <file>', 'old form of: prepare FILE').hideHelp())
    .addOption(new Option('--purpose <purpose>', 'old form of: prepare --purpose').hideHelp())
    .addOption(new Option('--ingest <dir>', 'old form of: ask --ingest DIR').hideHelp())
    .addOption(new Option('--ask <question>', 'old form of: ask QUESTION').hideHelp())
    .addOption(new Option('--questions <file>', 'old form of: ask --questions FILE').hideHelp())
    .addOption(new Option('--serve', 'old form of: serve').hideHelp());
}

/**
 * The command line of verbs that old flags stand for; `undefined` when none of the old-only flags is
 * present (the plain demo). Throws {@link UsageError} for the combinations the old flags refused.
 */
export function legacyCommandLine(flags: LegacyFlags): string[] | undefined {
  const { upload, purpose, out, ingest, ask, questions, serve } = flags;
  if ([upload, purpose, ingest, ask, questions].every((v) => v === undefined) && serve !== true) {
    return undefined;
  }
  if ((upload === undefined) !== (purpose === undefined)) {
    throw new UsageError('--upload and --purpose go together.');
  }
  if (ingest !== undefined && upload !== undefined) {
    throw new UsageError('--ingest and --upload are separate runs.');
  }
  if ((ask !== undefined || questions !== undefined) && ingest === undefined) {
    throw new UsageError('--ask and --questions need --ingest DIR (the documents to answer from).');
  }
  if (ingest !== undefined && (ask === undefined) === (questions === undefined)) {
    throw new UsageError('--ingest takes exactly one of --ask QUESTION or --questions FILE.');
  }
  const common = [
    ...(flags.json ? ['--json'] : []),
    ...(flags.verbose ? ['--verbose'] : []),
    ...(flags.port !== undefined ? ['--port', flags.port] : []),
    ...(flags.apiKey !== undefined ? ['--api-key', flags.apiKey] : []),
  ];
  if (ingest !== undefined) {
    // The old flags ignored --serve and --out with --ingest (the run ended after the answers), but
    // --serve still moved the API to its port.
    const port = serve && flags.port === undefined ? ['--port', String(SERVE_PORT)] : [];
    return [
      'ask',
      '--ingest',
      ingest,
      ...(questions !== undefined ? ['--questions', questions] : []),
      ...common,
      ...port,
      ...(ask !== undefined ? ['--', ask] : []),
    ];
  }
  const outFlag = out !== undefined ? ['--out', out] : [];
  if (upload !== undefined && purpose !== undefined) {
    return [
      'prepare',
      '--purpose',
      purpose,
      ...outFlag,
      ...common,
      ...(serve ? ['--serve'] : []),
      '--',
      upload,
    ];
  }
  return ['serve', ...outFlag, ...common];
}
