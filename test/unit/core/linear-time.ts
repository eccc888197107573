/**
 * Timing checks for code that runs regexes over caller-supplied text: an adversarial input is built at
 * each size, and the time must stay under a budget and grow about linearly with the size.
 *
 * Times are CPU time of the test's process, so that a busy machine does not fail a linear run.
 *
 * Budget: 1 MB in under 1.5 s. The linear code takes well under 100 ms per 1 MB pattern here (at least
 * 15x below the budget, leaving room for a loaded 2-core CI machine); the quadratic code it replaces
 * took 5-16 s at 100 KB, and would take minutes at 1 MB. Ratio: 10x the input in under 30x the time
 * (linear: about 10x; quadratic: about 100x), the smaller time counted as at least 5 ms so that timer
 * noise on fast runs cannot fail the check. Sizes are checked in increasing order and the check stops
 * at the first one over budget, so that slow code fails in seconds, not minutes.
 *
 * `REDOS_REPORT=1` prints the timings.
 */
import { expect } from 'vitest';
import { cpuMs } from '../../support/cpu-time.ts';

export const SIZES = [10_000, 100_000, 1_000_000] as const;
export const BUDGET_MS = 1500;
export const MAX_RATIO = 30;
export const FLOOR_MS = 5;

/** `unit` repeated to exactly `n` UTF-16 units, between `head` and `tail`. */
export function repeatTo(n: number, unit: string, head = '', tail = ''): string {
  const body = Math.max(0, n - head.length - tail.length);
  return head + unit.repeat(Math.ceil(body / unit.length)).slice(0, body) + tail;
}

/** The best of `runs` CPU timings of `f(input)`, in ms (CPU, not wall clock: see test/support/cpu-time.ts). */
export function bestTime(f: (input: string) => unknown, input: string, runs = 2): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++)
    best = Math.min(
      best,
      cpuMs(() => f(input)),
    );
  return best;
}

/** Times `f` on `make(n)` for each of {@link SIZES} and asserts the budget and the growth ratio. */
export function expectLinear(name: string, make: (n: number) => string, f: (input: string) => unknown): void {
  const times: number[] = [];
  let previous: number | undefined;
  for (const n of SIZES) {
    const input = make(n);
    const ms = bestTime(f, input);
    times.push(ms);
    if (process.env.REDOS_REPORT === '1') console.log(`${name}\t${n}\t${ms.toFixed(1)} ms`);
    expect(ms, `${name}: ${n} chars took ${ms.toFixed(0)} ms (budget ${BUDGET_MS} ms)`).toBeLessThan(
      BUDGET_MS,
    );
    if (previous !== undefined) {
      const ratio = ms / Math.max(previous, FLOOR_MS);
      expect(
        ratio,
        `${name}: 10x the input took ${ratio.toFixed(1)}x the time (${times.join(', ')} ms)`,
      ).toBeLessThan(MAX_RATIO);
    }
    previous = ms;
  }
}
