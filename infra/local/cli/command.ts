/**
 * What a verb of `npm start` is: a name, how it declares itself to commander (arguments, options, help),
 * how it turns what commander parsed into a typed request, and how it runs one. The options that start
 * the local stack (`--port`, `--api-key`, `--verbose`, `--serve`) are declared and checked here once.
 */
import type { Command } from 'commander';

/** A command line that asks for something impossible: exit code 2, the message, and where the help is. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One verb of `npm start`. Adding a verb is one file exporting one of these, listed in `program.ts`. */
export interface LocalCommand<R> {
  readonly name: string;
  /** Declares the description, arguments, options and help text on the commander command. */
  configure(command: Command): void;
  /**
   * Turns the parsed arguments (in declaration order) and options into the request `run` takes. Throws
   * {@link UsageError} for values it refuses; reads nothing and starts nothing.
   */
  parse(args: readonly unknown[], options: Readonly<Record<string, unknown>>): R;
  /** Runs a request; resolves to the exit code (0 ok, 1 the work failed). */
  run(request: R): Promise<number>;
}

/** How a command that starts the local stack starts it. */
export interface StackOptions {
  /** Port of the local API; 0 picks a free one. */
  readonly port: number;
  /** The `x-api-key` the local API accepts; a random one when absent. */
  readonly apiKey: string | undefined;
  /** Show the handlers' logs and the API's access log. */
  readonly verbose: boolean;
  /** After the command, keep the stack and the API up until Ctrl+C. */
  readonly serve: boolean;
}

/** The port `--serve` listens on without `--port`. */
export const SERVE_PORT = 3000;

/**
 * How a command relates to `--serve`: it takes the option, it always serves (`serve`), or it has no such
 * option (the demo, whose `serve` is its own command).
 */
export type ServeMode = 'option' | 'always' | 'none';

/** Declares the stack options on `command`: `--port`, `--api-key`, `--verbose` and, for `option`, `--serve`. */
export function addStackOptions(command: Command, serve: ServeMode): Command {
  const portDefault =
    serve === 'always'
      ? `${SERVE_PORT}`
      : serve === 'option'
        ? `a free one; ${SERVE_PORT} with --serve`
        : 'a free one';
  command
    .option('--port <n>', `port of the local API, 0 for a free one (default: ${portDefault})`)
    .option('--api-key <key>', 'the x-api-key the local API accepts (default: a random key, printed)')
    .option('--verbose', "show the handlers' logs, the API's access log and retried API calls");
  if (serve === 'option') {
    command.option('--serve', 'then keep the stack and the API up until Ctrl+C, with curl commands to try');
  }
  return command;
}

/** Reads and checks the stack options commander parsed; `always` for the command that always serves. */
export function parseStackOptions(
  options: Readonly<Record<string, unknown>>,
  serve: ServeMode = 'option',
): StackOptions {
  const serving = serve === 'always' || options.serve === true;
  const rawPort = options.port as string | undefined;
  const port = rawPort === undefined ? (serving ? SERVE_PORT : 0) : Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new UsageError(`--port must be a port number from 0 to 65535 (got "${rawPort}").`);
  }
  const apiKey = options.apiKey as string | undefined;
  if (apiKey !== undefined && !/^[\x21-\x7e]{20,128}$/.test(apiKey)) {
    throw new UsageError(
      '--api-key must be 20 to 128 printable characters without spaces, as API Gateway keys are.',
    );
  }
  return { port, apiKey, verbose: options.verbose === true, serve: serving };
}
