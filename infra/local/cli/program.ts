/**
 * The `npm start` program: its verbs, their help, and one mapping of every outcome to an exit code
 * (0 ok, 1 the work failed, 2 bad arguments, commander's usage errors included). Without a verb it runs
 * the lifecycle demo, which also accepts the flags of earlier versions (`legacy-flags.ts`).
 */
import { Command, CommanderError } from 'commander';
import { askCommand } from './ask.ts';
import { type LocalCommand, UsageError } from './command.ts';
import { demoCommand } from './demo.ts';
import { driftCommand } from './drift.ts';
import { evaluateCommand } from './evaluate.ts';
import { feedbackCommand } from './feedback.ts';
import { finetuneCommand } from './finetune.ts';
import { ingestCommand } from './ingest.ts';
import { addLegacyOptions, type LegacyFlags, legacyCommandLine } from './legacy-flags.ts';
import { prepareCommand } from './prepare.ts';
import { serveCommand } from './serve.ts';

/** The verbs, in the order `--help` lists them; the first one runs when none is given. */
export const COMMANDS: readonly LocalCommand<unknown>[] = [
  demoCommand,
  prepareCommand,
  ingestCommand,
  askCommand,
  evaluateCommand,
  driftCommand,
  finetuneCommand,
  feedbackCommand,
  serveCommand,
];

/** The exit code for arguments the program refuses. */
export const USAGE_EXIT_CODE = 2;

/** Where the program writes (help to `out`, errors to `err`). */
export interface CliOutput {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/** Options of {@link runCli}. */
export interface CliOptions {
  /** Runs a parsed request. @default the command's own `run` */
  readonly execute?: (command: LocalCommand<unknown>, request: unknown) => Promise<number>;
  /** @default process.stdout and process.stderr */
  readonly output?: CliOutput;
}

const EXAMPLES = `
Examples:
  npm start                                                    the lifecycle demo
  npm start -- prepare my-chats.jsonl --purpose finetune --out ./prepared
  npm start -- ingest ./my-docs
  npm start -- ask "How do I avoid cold starts?"               over the bundled corpus
  npm start -- ask --ingest ./my-docs --questions q.jsonl --json
  npm start -- evaluate corpus/eval/golden.jsonl --prompt rag-answer --rag bundled --out ./eval
  npm start -- finetune infra/local/samples/support-chats.jsonl --purpose finetune --json
  npm start -- serve --port 3000                               the demo, then the API until Ctrl+C

Progress goes to stderr, results to stdout. Exit codes: 0 ok, 1 the work failed (e.g. no valid line
in a dataset), 2 bad arguments.
The flags of earlier versions still work: --upload FILE --purpose P [--out DIR],
--ingest DIR (--ask QUESTION | --questions FILE), --serve, with --json, --verbose, --port, --api-key.`;

/** Parses `argv` (the arguments after `npm start --`), runs the command, and resolves to the exit code. */
export async function runCli(argv: readonly string[], options: CliOptions = {}): Promise<number> {
  const output: CliOutput = options.output ?? {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  };
  const execute = options.execute ?? ((command, request) => command.run(request));
  const [first] = argv;
  if (
    first !== undefined &&
    !first.startsWith('-') &&
    first !== 'help' &&
    !COMMANDS.some((c) => c.name === first)
  ) {
    output.err(
      `error: unknown command '${first}' (commands: ${COMMANDS.map((c) => c.name).join(', ')})\n` +
        '(add --help for usage)\n',
    );
    return USAGE_EXIT_CODE;
  }
  let exitCode = 0;
  const program = new Command('npm start --')
    .description(
      'The LLMOps stack on this machine, offline, with no AWS account: the synthesized template (tables, ' +
        'buckets, rules, state machines, REST API) in front of the real handler code.',
    )
    .exitOverride()
    .configureOutput({ writeOut: output.out, writeErr: output.err })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXAMPLES);
  for (const spec of COMMANDS) {
    const command = program.command(spec.name, { isDefault: spec === COMMANDS[0] });
    spec.configure(command);
    if (spec === demoCommand) addLegacyOptions(command);
    command.action(async () => {
      const parsed = command.opts();
      let request: unknown;
      try {
        const rewritten = spec === demoCommand ? legacyCommandLine(parsed as LegacyFlags) : undefined;
        if (rewritten) {
          exitCode = await runCli(rewritten, options);
          return;
        }
        request = spec.parse(command.processedArgs, parsed);
      } catch (error) {
        if (error instanceof UsageError) {
          command.error(`error: ${error.message}`, { exitCode: USAGE_EXIT_CODE, code: 'llmops.usage' });
        }
        throw error;
      }
      exitCode = await execute(spec, request);
    });
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : USAGE_EXIT_CODE;
    output.err(`Error: ${(error as Error).message}\n`);
    return 1;
  }
}
