import { type OversizeLine, ownedLines, type RawLine } from './lines.ts';
import { emptyRedactionCounts, processLine } from './process.ts';
import type { Purpose } from './records.ts';

/**
 * The first half of the data-preparation pipeline without I/O: the lines a byte range owns in, staged
 * records and quarantined lines out through sinks. The ProcessPart handler wires it to S3; the benchmark
 * to local files. The second half is `merge.ts`.
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
      const wait = quarantine.writeLine(quarantineLine(line, outcome.code, outcome.reason));
      if (wait) await wait;
    } else {
      stats.good++;
      if (options.enrich) await options.enrich(outcome.record, redactions);
      // A sink that has room returns nothing: no await (and no microtask) per line then.
      const wait = sinks.staging.writeLine(
        stagingLine(outcome.exactHash, outcome.signature, outcome.tokens, outcome.record),
      );
      if (wait) await wait;
    }
    next = await lines.next();
  }
  stats.lines = next.value.lines;
  stats.redactions = Object.fromEntries(Object.entries(redactions).filter(([, n]) => n > 0));
  return stats;
}
