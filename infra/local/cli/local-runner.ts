/**
 * The local runner as the commands use it: started with their stack options (progress on stderr, the
 * handlers' logs and the access log with `--verbose`), a client for its API, kept up after the work with
 * `--serve` until SIGINT or SIGTERM, and always stopped.
 */
import { LocalApiClient } from '../api-client.ts';
import { curlCommands } from '../api-demo.ts';
import type { LocalRunner } from '../runner.ts';
import type { StackOptions } from './command.ts';

/** Writes one progress line to stderr. */
export function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Starts the local runner, runs `work` on it, serves with `--serve`, and stops it; resolves to `work`'s code. */
export async function withLocalRunner(
  options: StackOptions,
  work: (stack: LocalRunner) => Promise<number>,
): Promise<number> {
  progress('Synthesizing the stack and starting local DynamoDB, S3, EventBridge and the API on 127.0.0.1');
  // Loaded here, not at the top: `--help` and argument errors answer without loading the CDK app.
  const { LocalRunner } = await import('../runner.ts');
  const stack = await LocalRunner.start({
    onProgress: (message) => progress(`  … ${message}`),
    handlerLogLevel: options.verbose ? 'INFO' : 'SILENT',
    api: {
      port: options.port,
      ...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}),
      ...(options.verbose || options.serve ? { accessLog: (line: string) => progress(line) } : {}),
    },
  });
  if (stack.api) {
    progress(
      `API on ${stack.api.url} (stage ${stack.api.stage}); x-api-key: ${stack.api.apiKey}` +
        `${options.apiKey === undefined ? ' (generated for this run)' : ''}`,
    );
  }
  try {
    const code = await work(stack);
    if (options.serve) await serveUntilSignal(stack);
    return code;
  } finally {
    await stack.stop();
  }
}

/**
 * A client for the stack's API that retries throttled calls; with `verbose`, each retry is reported.
 * Throws when the template declares no REST API.
 */
export function apiClient(stack: LocalRunner, verbose: boolean): LocalApiClient {
  const api = stack.api;
  if (!api) throw new Error('The local API is not running');
  return new LocalApiClient({
    url: api.url,
    apiKey: api.apiKey,
    ...(verbose
      ? {
          onRetry: (n) =>
            progress(
              `  … API: ${n.method} ${n.path} answered ${n.status}; attempt ${n.attempt + 1} of ${n.maxAttempts} in ${n.waitMs} ms`,
            ),
        }
      : {}),
  });
}

/** Keeps everything up until SIGINT or SIGTERM, with curl commands to try the API. */
async function serveUntilSignal(stack: LocalRunner): Promise<void> {
  if (stack.api) {
    progress(`\nServing the API at ${stack.api.url} (x-api-key: ${stack.api.apiKey}). Try:`);
    for (const command of curlCommands(stack.api.url, stack.api.apiKey)) progress(`  ${command}`);
  } else {
    progress('\nThe template declares no REST API; the emulators and EventBridge stay up.');
  }
  progress('Press Ctrl+C to stop.');
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  progress(`\n${signal}: stopping`);
}
