/**
 * `npm start`: the lifecycle on this machine, offline, with no AWS account. The verbs live in `cli/`
 * (`npm start -- --help`); this entry runs the program and exits with its code.
 */
import { runCli } from './cli/program.ts';

process.exit(await runCli(process.argv.slice(2)));
