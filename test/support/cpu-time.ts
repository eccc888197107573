/**
 * CPU time for the tests that hold code to a time budget (hostile input must be linear). Each test file
 * runs in its own worker process (vitest's default `forks` pool), so the process's user + system time
 * while `f` runs is `f`'s own work: other processes on a busy machine (CI shares two cores) do not
 * inflate it, as they inflate wall-clock time. Quadratic code still shows: its CPU time grows with it.
 */
export function cpuMs(f: () => unknown): number {
  const start = process.cpuUsage();
  f();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}
