/** A golden suite read from a JSONL file, named after the file, with the metrics a local run computes. */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { DEFAULT_METRICS } from '#core/eval/metrics/index.ts';
import { parseSuite, type QuarantinedLine } from '#core/eval/suite.ts';
import type { EvalItem } from '#core/eval/types.ts';

export interface SuiteFile {
  readonly name: string;
  readonly version: string;
  readonly items: readonly EvalItem[];
  readonly quarantined: readonly QuarantinedLine[];
}

/** The metrics a local evaluation computes without a judge. */
export const evaluationMetrics = DEFAULT_METRICS;

/** A suite name from a file name: `Lambda QA.jsonl` → `lambda-qa`. */
export function suiteNameOf(path: string): string {
  const stem = basename(path, extname(path))
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[-_]+/, '')
    .slice(0, 64);
  return stem === '' ? 'suite' : stem;
}

/**
 * Reads and parses a suite file; bad lines are quarantined with their reasons (returned, not thrown).
 * @throws Error when the file cannot be read or holds no valid item.
 */
export function loadSuite(path: string): SuiteFile {
  const parsed = parseSuite(readFileSync(path, 'utf8'), { name: suiteNameOf(path) });
  if (parsed.items.length === 0) {
    const reasons = parsed.quarantined.slice(0, 3).map((q) => `line ${q.line}: ${q.reason}`);
    throw new Error(`${path} holds no valid item${reasons.length > 0 ? ` (${reasons.join('; ')})` : ''}`);
  }
  return {
    name: parsed.summary.name,
    version: parsed.summary.version,
    items: parsed.items,
    quarantined: parsed.quarantined,
  };
}
