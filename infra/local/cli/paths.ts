/** Checks of the paths a command line names, made before anything starts. */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from './command.ts';

/** The absolute path of `path` when it names a folder; a {@link UsageError} naming `what` otherwise. */
export function checkFolder(path: string, what: string): string {
  const absolute = resolve(path);
  if (!statSync(absolute, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`${what} must name a folder (got "${path}").`);
  }
  return absolute;
}
