/**
 * `serve`: the lifecycle demo (so that the sample datasets, the demo prompts and the bundled corpus
 * exist), then the stack and its API kept up on 127.0.0.1 until Ctrl+C, with curl commands to try.
 */
import { addStackOptions, type LocalCommand, SERVE_PORT } from './command.ts';
import { addDemoOptions, type DemoRequest, parseDemoOptions, runDemo } from './demo.ts';

/** `serve [--port N] [--api-key K]`: `demo`, then serving until Ctrl+C. */
export const serveCommand: LocalCommand<DemoRequest> = {
  name: 'serve',
  configure(command) {
    command
      .summary(`run the demo, then keep the API up (port ${SERVE_PORT}) until Ctrl+C`)
      .description(
        'Runs the lifecycle demo, then keeps the local stack and its REST API up until Ctrl+C and prints ' +
          'curl commands to try it. Locally the API key also stands in for IAM on admin routes. The exit ' +
          "code is the demo's.",
      );
    addDemoOptions(command);
    addStackOptions(command, 'always').addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  npm start -- serve',
        '  npm start -- serve --port 3001 --api-key my-local-key-of-20-chars',
      ].join('\n'),
    );
  },
  parse(_args, options) {
    return parseDemoOptions(options, 'always');
  },
  run: runDemo,
};
