import { createReadStream, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Deduper, exactHash } from '#core/dataprep/dedupe.ts';
import { type OversizeLine, ownedLines, type RawLine } from '#core/dataprep/lines.ts';
import { parseStagingLine } from '#core/dataprep/merge.ts';
import { minhashSignature } from '#core/dataprep/minhash.ts';
import { quarantineLine, stagingLine } from '#core/dataprep/part.ts';
import type { PiiKind } from '#core/dataprep/pii.ts';
import {
  decodeLine,
  emptyRedactionCounts,
  isLineVerdict,
  type LineVerdict,
  normalizeFields,
  parseLine,
  recordTexts,
  redactFields,
  textFields,
  validateRecord,
} from '#core/dataprep/process.ts';
import { assignSplit } from '#core/dataprep/split.ts';
import { TokenStats } from '#core/dataprep/token-stats.ts';
import { countTokens } from '#core/dataprep/tokens.ts';
import { STAGES } from './dataprep-stages.ts';
import {
  FileSink,
  fileLines,
  PART_SIZE,
  planParts,
  quarantineFile,
  stagingFile,
  warmUp,
} from './file-parts.ts';
import { generateDataset } from './generate.ts';
import { announceSmoke, outDir as benchOutDir, sized } from './options.ts';

/**
 * Where the pipeline's time goes, stage by stage: `dataprep-profile.ts FILE OUTDIR` runs the same work
 * as `worker.ts pipeline` (ProcessPart over each 32 MiB part, then the merge) through the stages that
 * `processLine`, `processPart` and `mergeParts` are made of (exported by the core for this), in the same
 * order, with a clock read between stages (none is in the core itself). Prints one table: stage, ms,
 * share of the total, µs per line. `bench/run.ts` runs it in its own process after the timed runs; on its
 * own, without FILE, it generates a file of BENCH_PROFILE_MB (default 50; `--smoke`: 1). Each stage's
 * time includes one clock read (tens of ns) and whatever garbage collection falls in it.
 */
type Stage = (typeof STAGES)[number];

const spent = new Float64Array(STAGES.length);
const at = Object.fromEntries(STAGES.map((s, i) => [s, i])) as Record<Stage, number>;
let clock = 0;
/** Charges the time since the last mark to `stage`. */
function mark(stage: Stage): void {
  const now = performance.now();
  spent[at[stage]] = (spent[at[stage]] ?? 0) + now - clock;
  clock = now;
}

const OPTIONS = { purpose: 'finetune', maxRecordBytes: 1024 * 1024 } as const;

interface PartCounts {
  lines: number;
  good: number;
  quarantined: boolean;
}

async function processParts(file: string, outDir: string): Promise<PartCounts[]> {
  const results: PartCounts[] = [];
  for (const part of planParts(file)) {
    const staging = new FileSink(stagingFile(outDir, part.index));
    let quarantine: FileSink | undefined;
    const counts = emptyRedactionCounts();
    let good = 0;
    const lines = ownedLines(
      createReadStream(file, { start: Math.max(0, part.start - 1), highWaterMark: 1024 * 1024 }),
      { start: part.start, end: part.end, maxLineBytes: OPTIONS.maxRecordBytes, stripBom: part.start === 0 },
    );
    clock = performance.now();
    let next = await lines.next();
    mark('read + split lines');
    while (!next.done) {
      const line: RawLine | OversizeLine = next.value;
      const verdict = stageLine(line, counts);
      if (verdict === undefined) good++;
      else if (verdict.kind === 'bad') {
        quarantine ??= new FileSink(quarantineFile(outDir, part.index));
        const wait = quarantine.writeLine(quarantineLine(line, verdict.code, verdict.reason));
        if (wait) await wait;
        mark('quarantine');
      }
      if (verdict === undefined) {
        // As processPart: no await when the sink has room.
        const wait = staging.writeLine(pendingStaging);
        if (wait) await wait;
        mark('write staging');
      }
      next = await lines.next();
      mark('read + split lines');
    }
    await staging.close();
    mark('write staging');
    await quarantine?.close();
    mark('quarantine');
    results.push({ lines: next.value.lines, good, quarantined: quarantine !== undefined });
  }
  return results;
}

let pendingStaging = '';

/** processLine's stages, in its order; leaves the staging line of a good record in `pendingStaging`. */
function stageLine(line: RawLine | OversizeLine, counts: Record<PiiKind, number>): LineVerdict | undefined {
  const text = decodeLine(line, OPTIONS.maxRecordBytes);
  if (typeof text !== 'string') return text;
  const parsed = parseLine(text);
  mark('decode + JSON.parse');
  if (isLineVerdict(parsed)) return parsed;
  const record = validateRecord(OPTIONS.purpose, parsed);
  mark('validate');
  if (isLineVerdict(record)) return record;
  const fields = textFields(OPTIONS.purpose, record);
  const notNormal = normalizeFields(fields);
  mark('normalize');
  if (notNormal !== undefined) return notNormal;
  const notRedacted = redactFields(OPTIONS.purpose, record, fields, undefined, counts);
  mark('redact (PII)');
  if (notRedacted !== undefined) return notRedacted;
  const { dedupeText, tokenText } = recordTexts(fields);
  const hash = exactHash(dedupeText);
  mark('exact hash (SHA-256)');
  const signature = minhashSignature(dedupeText);
  mark('MinHash');
  const tokens = countTokens(tokenText);
  mark('token count (o200k)');
  pendingStaging = stagingLine(hash, signature, tokens, record);
  mark('serialize staging');
  return undefined;
}

async function merge(outDir: string, parts: PartCounts[]): Promise<number> {
  const deduper = new Deduper({ threshold: 0.8, expectedRecords: parts.reduce((n, p) => n + p.good, 0) });
  const stats = new TokenStats();
  const sinks = {
    train: new FileSink(join(outDir, 'train.jsonl')),
    validation: new FileSink(join(outDir, 'validation.jsonl')),
  };
  let records = 0;
  for (const [index] of parts.entries()) {
    const lines = fileLines(stagingFile(outDir, index));
    clock = performance.now();
    let next = await lines.next();
    mark('read staging');
    while (!next.done) {
      const line = next.value;
      if (line.length > 0) {
        records++;
        const staged = parseStagingLine(line);
        mark('parse staging');
        const verdict = deduper.check(staged.exactHash, staged.signature);
        mark('dedupe index');
        if (verdict === 'unique') {
          stats.add(staged.tokens);
          const target = assignSplit(staged.exactHash, 0.1);
          mark('split + token stats');
          const wait = sinks[target].writeLine(staged.record);
          if (wait) await wait;
          mark('write curated');
        }
      }
      next = await lines.next();
      mark('read staging');
    }
  }
  await sinks.train.close();
  await sinks.validation.close();
  mark('write curated');
  // The quarantined lines, renumbered to absolute line numbers.
  const quarantine = new FileSink(join(outDir, 'quarantine.jsonl'));
  let offset = 0;
  for (const [index, part] of parts.entries()) {
    if (part.quarantined) {
      for await (const line of fileLines(quarantineFile(outDir, index))) {
        if (line.length === 0) continue;
        const entry = JSON.parse(line) as { line: number };
        entry.line += offset;
        await quarantine.writeLine(JSON.stringify(entry));
      }
    }
    offset += part.lines;
  }
  await quarantine.close();
  mark('quarantine');
  return records;
}

const args = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
let [file, outDir] = args;
if (file === undefined || outDir === undefined) {
  // On its own: a generated file of BENCH_PROFILE_MB (default 50; 1 in smoke mode).
  announceSmoke();
  const root = benchOutDir('dataprep-profile');
  mkdirSync(root, { recursive: true });
  const mb = sized('BENCH_PROFILE_MB', 50, 1);
  file = join(root, `finetune-${mb}mb.jsonl`);
  outDir = join(root, 'out');
  if (!existsSync(file) || Math.abs(statSync(file).size - mb * 1e6) > 2e6)
    await generateDataset(file, mb * 1e6);
}
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
// As in the timed run: the tokenizer's one-time load happens before the clock.
warmUp();
const started = performance.now();
const parts = await processParts(file, outDir);
const staged = await merge(outDir, parts);
const wall = performance.now() - started;
const lines = parts.reduce((n, p) => n + p.lines, 0);
const total = spent.reduce((a, b) => a + b, 0);
const row = (name: string, ms: number, share: string, extra = '') =>
  `  ${name.padEnd(22)} ${ms.toFixed(1).padStart(8)} ${share.padStart(6)} ${((1000 * ms) / lines).toFixed(2).padStart(7)}${extra}`;
console.log(
  `stage profile (${lines} lines, ${staged} staged records, ${PART_SIZE / 1024 / 1024} MiB parts; µs per line read)`,
);
console.log(`  ${'stage'.padEnd(22)} ${'ms'.padStart(8)} ${'share'.padStart(6)} ${'µs/rec'.padStart(7)}`);
for (const [i, stage] of STAGES.entries()) {
  const ms = spent[i] ?? 0;
  console.log(row(stage, ms, `${((100 * ms) / total).toFixed(1)}%`));
}
console.log(row('total', total, '100%', `  (wall ${wall.toFixed(0)} ms)`));
rmSync(outDir, { recursive: true, force: true });
