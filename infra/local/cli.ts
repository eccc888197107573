/**
 * `npm start`: the lifecycle on this machine, offline, with no AWS account. The verbs live in `cli/`
 * (`npm start -- --help`); this entry runs the program and exits with its code.
 *
 * The functions share one Powertools logger, which reads POWERTOOLS_LOG_LEVEL when its module is first
 * imported (and returns to that level at every invocation): the level is set before anything imports
 * it, quiet unless `--verbose`.
 */
process.env.POWERTOOLS_LOG_LEVEL ??= process.argv.includes('--verbose') ? 'INFO' : 'SILENT';
const { runCli } = await import('./cli/program.ts');

process.exit(await runCli(process.argv.slice(2)));
