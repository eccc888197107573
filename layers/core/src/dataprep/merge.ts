import { Deduper } from './dedupe.ts';
import type { LineSink } from './part.ts';
import type { Purpose } from './records.ts';
import { assignSplit } from './split.ts';
import { TokenStats } from './token-stats.ts';

/**
 * The second half of the data-preparation pipeline without I/O: staged parts in, curated lines out.
 * The Finalize handler wires it to S3; the benchmark to local files. It imports no tokenizer, so the
 * Finalize bundle stays small.
 */
export interface MergeInput {
  readonly staging: () => AsyncIterable<string>;
  readonly quarantine?: (() => AsyncIterable<string>) | undefined;
  /** Lines the part owns, to turn its relative line numbers into absolute ones. */
  readonly lines: number;
  /** Good records the part staged: sizes the dedupe index up front (no rehashing as it grows). */
  readonly records?: number | undefined;
}

export interface MergeStats {
  kept: number;
  quarantined: number;
  duplicates: { exact: number; near: number };
  splits: Record<string, number>;
  tokens: TokenStats;
  dedupeIndexBytes: number;
}

/** A staged record, as {@link parseStagingLine} reads it back. */
export interface StagedRecord {
  exactHash: string;
  signature: Uint8Array;
  tokens: number;
  /** The record's JSON, as it goes to the curated file. */
  record: string;
}

/** Reads a line written by `stagingLine` (part.ts): `<exactHash>\t<minhash base64>\t<tokens>\t<record JSON>`. */
export function parseStagingLine(line: string): StagedRecord {
  const t1 = line.indexOf('\t');
  const t2 = line.indexOf('\t', t1 + 1);
  const t3 = line.indexOf('\t', t2 + 1);
  return {
    exactHash: line.slice(0, t1),
    // A view of the decoded bytes (from Buffer's pool): the deduplicator copies what it keeps.
    signature: Buffer.from(line.slice(t1 + 1, t2), 'base64'),
    tokens: Number(line.slice(t2 + 1, t3)),
    record: line.slice(t3 + 1),
  };
}

/** Names of the curated files a purpose produces. */
export const outputNames = (purpose: Purpose): string[] =>
  purpose === 'finetune' || purpose === 'preference' ? ['train', 'validation'] : ['data'];

/**
 * Merges staged parts in order: drops exact and near duplicates across the whole upload (first
 * occurrence wins), assigns train/validation deterministically for finetune and preference data, and
 * renumbers quarantined lines to absolute line numbers (written to the `quarantine` sink).
 * `sinkFor` is called once per output name: at the start for each of {@link outputNames} (so those
 * files exist even when empty), and on first use for `quarantine`. The caller owns and closes the sinks.
 */
export async function mergeParts(
  parts: readonly MergeInput[],
  options: { purpose: Purpose; validationRatio: number; nearDuplicateThreshold: number },
  sinkFor: (name: string) => LineSink,
): Promise<MergeStats> {
  const split = options.purpose === 'finetune' || options.purpose === 'preference';
  const expectedRecords = parts.reduce((n, p) => n + (p.records ?? 0), 0);
  const deduper = new Deduper({
    threshold: options.nearDuplicateThreshold,
    ...(expectedRecords > 0 ? { expectedRecords } : {}),
  });
  const tokens = new TokenStats();
  const duplicates = { exact: 0, near: 0 };
  const splits: Record<string, number> = Object.fromEntries(outputNames(options.purpose).map((n) => [n, 0]));
  const sinks = new Map<string, LineSink>(outputNames(options.purpose).map((name) => [name, sinkFor(name)]));
  const sink = (name: string) => {
    let s = sinks.get(name);
    if (!s) {
      s = sinkFor(name);
      sinks.set(name, s);
    }
    return s;
  };
  let kept = 0;
  for (const part of parts) {
    for await (const line of part.staging()) {
      if (line.length === 0) continue;
      const { exactHash, signature, tokens: count, record } = parseStagingLine(line);
      const verdict = deduper.check(exactHash, signature);
      if (verdict !== 'unique') {
        duplicates[verdict]++;
        continue;
      }
      kept++;
      tokens.add(count);
      const target = split ? assignSplit(exactHash, options.validationRatio) : 'data';
      splits[target] = (splits[target] ?? 0) + 1;
      // A sink that has room returns nothing: no await (and no microtask) per line then.
      const wait = sink(target).writeLine(record);
      if (wait) await wait;
    }
  }
  let offset = 0;
  let quarantined = 0;
  for (const part of parts) {
    if (part.quarantine) {
      for await (const line of part.quarantine()) {
        if (line.length === 0) continue;
        const entry = JSON.parse(line) as { line: number };
        entry.line += offset;
        quarantined++;
        await sink('quarantine').writeLine(JSON.stringify(entry));
      }
    }
    offset += part.lines;
  }
  return { kept, quarantined, duplicates, splits, tokens, dedupeIndexBytes: deduper.memoryBytes() };
}
