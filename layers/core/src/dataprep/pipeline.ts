import { Deduper } from './dedupe.ts';
import { type OversizeLine, ownedLines, type RawLine } from './lines.ts';
import { emptyRedactionCounts, processLine } from './process.ts';
import type { Purpose } from './records.ts';
import { assignSplit } from './split.ts';
import { TokenStats } from './tokens.ts';

/**
 * The data-preparation pipeline without I/O: byte chunks and text lines in, lines out through sinks.
 * The Lambda handlers wire these to S3; the benchmark wires them to local files. Both run this code.
 */
export interface LineSink {
  writeLine(line: string): Promise<void> | void;
}

/** A good record in staging form: `<exactHash>\t<minhash base64>\t<tokens>\t<record JSON>`. */
export function stagingLine(
  exactHash: string,
  signature: Uint8Array,
  tokens: number,
  record: unknown,
): string {
  const sig = Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString('base64');
  return `${exactHash}\t${sig}\t${tokens}\t${JSON.stringify(record)}`;
}

/** A quarantined line: its number, the rule it broke, and the original bytes (never modified). */
export function quarantineLine(line: RawLine | OversizeLine, code: string, reason: string): string {
  if ('oversize' in line) {
    return JSON.stringify({ line: line.lineNo, code, reason, byteOffset: line.byteOffset, size: line.size });
  }
  const text = line.bytes.toString('utf8');
  const lossless = Buffer.from(text, 'utf8').equals(line.bytes);
  return JSON.stringify({
    line: line.lineNo,
    code,
    reason,
    byteOffset: line.byteOffset,
    ...(lossless ? { raw: text } : { rawBase64: line.bytes.toString('base64') }),
  });
}

export interface PartStats {
  /** Lines the part owns (blank and oversize included). */
  lines: number;
  blank: number;
  good: number;
  quarantined: number;
  quarantineCodes: Record<string, number>;
  redactions: Record<string, number>;
  bytes: number;
}

export interface ProcessPartOptions {
  readonly purpose: Purpose;
  readonly maxRecordBytes: number;
  readonly start: number;
  readonly end: number;
  /** Optional asynchronous pass over each good record before it is staged (e.g. Comprehend PII). */
  readonly enrich?: (record: Record<string, unknown>, redactions: Record<string, number>) => Promise<void>;
}

/**
 * Processes the lines a byte range owns. `chunks` must start at `max(0, start - 1)` (see `ownedLines`).
 * Good records go to `staging`, bad lines to the quarantine sink (created on first use).
 */
export async function processPart(
  chunks: AsyncIterable<Uint8Array>,
  options: ProcessPartOptions,
  sinks: { staging: LineSink; quarantine: () => LineSink },
): Promise<PartStats> {
  const redactions = emptyRedactionCounts();
  const stats: PartStats = {
    lines: 0,
    blank: 0,
    good: 0,
    quarantined: 0,
    quarantineCodes: {},
    redactions: {},
    bytes: 0,
  };
  let quarantine: LineSink | undefined;
  const lineOptions = { purpose: options.purpose, maxRecordBytes: options.maxRecordBytes };
  const lines = ownedLines(chunks, {
    start: options.start,
    end: options.end,
    maxLineBytes: options.maxRecordBytes,
    stripBom: options.start === 0,
  });
  let next = await lines.next();
  while (!next.done) {
    const line = next.value;
    stats.bytes += 'oversize' in line ? line.size : line.bytes.length + 1;
    const outcome = processLine(line, lineOptions, redactions);
    if (outcome.kind === 'blank') {
      stats.blank++;
    } else if (outcome.kind === 'bad') {
      stats.quarantined++;
      stats.quarantineCodes[outcome.code] = (stats.quarantineCodes[outcome.code] ?? 0) + 1;
      quarantine ??= sinks.quarantine();
      await quarantine.writeLine(quarantineLine(line, outcome.code, outcome.reason));
    } else {
      stats.good++;
      if (options.enrich) await options.enrich(outcome.record, redactions);
      await sinks.staging.writeLine(
        stagingLine(outcome.exactHash, outcome.signature, outcome.tokens, outcome.record),
      );
    }
    next = await lines.next();
  }
  stats.lines = next.value.lines;
  stats.redactions = Object.fromEntries(Object.entries(redactions).filter(([, n]) => n > 0));
  return stats;
}

export interface MergeInput {
  readonly staging: () => AsyncIterable<string>;
  readonly quarantine?: (() => AsyncIterable<string>) | undefined;
  /** Lines the part owns, to turn its relative line numbers into absolute ones. */
  readonly lines: number;
}

export interface MergeStats {
  kept: number;
  quarantined: number;
  duplicates: { exact: number; near: number };
  splits: Record<string, number>;
  tokens: TokenStats;
  dedupeIndexBytes: number;
}

/** Names of the curated files a purpose produces. */
export const outputNames = (purpose: Purpose): string[] =>
  purpose === 'finetune' || purpose === 'preference' ? ['train', 'validation'] : ['data'];

/**
 * Merges staged parts in order: drops exact and near duplicates across the whole upload (first
 * occurrence wins), assigns train/validation deterministically for finetune and preference data, and
 * renumbers quarantined lines to absolute line numbers (written to the `quarantine` sink).
 */
export async function mergeParts(
  parts: readonly MergeInput[],
  options: { purpose: Purpose; validationRatio: number; nearDuplicateThreshold: number },
  sinkFor: (name: string) => LineSink,
): Promise<MergeStats> {
  const split = options.purpose === 'finetune' || options.purpose === 'preference';
  const deduper = new Deduper({ threshold: options.nearDuplicateThreshold });
  const tokens = new TokenStats();
  const duplicates = { exact: 0, near: 0 };
  const splits: Record<string, number> = Object.fromEntries(outputNames(options.purpose).map((n) => [n, 0]));
  const sinks = new Map<string, LineSink>();
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
      const t1 = line.indexOf('\t');
      const t2 = line.indexOf('\t', t1 + 1);
      const t3 = line.indexOf('\t', t2 + 1);
      const exactHash = line.slice(0, t1);
      const signature = new Uint8Array(Buffer.from(line.slice(t1 + 1, t2), 'base64'));
      const verdict = deduper.check(exactHash, signature);
      if (verdict !== 'unique') {
        duplicates[verdict]++;
        continue;
      }
      kept++;
      tokens.add(Number(line.slice(t2 + 1, t3)));
      const target = split ? assignSplit(exactHash, options.validationRatio) : 'data';
      splits[target] = (splits[target] ?? 0) + 1;
      await sink(target).writeLine(line.slice(t3 + 1));
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
