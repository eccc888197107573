/**
 * `drift --reference REF.jsonl --current CUR.jsonl`: has the current window of traffic drifted from
 * the reference window? Runs the drift check (`layers/core/src/drift/check.ts`: embedding tests with
 * Bonferroni, text descriptors with Benjamini–Hochberg, insufficient data reported as such) on two
 * JSONL files, prints the verdict, and with `--out DIR` writes `summary.json` and `report.html`. Needs
 * no local stack: nothing is synthesized or started.
 *
 * Exit codes: 0 when the check ran, whether it found drift or not (the verdict is in the output, for
 * a script to read from the `--json` line); 2 for bad arguments or input (a missing file, a line that
 * is not `{text}` or `{embedding}`, embeddings of different dimensions), the message naming the file
 * and line; 1 for anything else that failed (writing `--out`, say).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { DriftCheckResult, DriftRecord } from '#core/drift/check.ts';
import { ValidationError } from '#core/errors.ts';
import { type LocalCommand, UsageError } from './command.ts';
import { progress } from './local-runner.ts';

/** What `drift` runs. */
export interface DriftRequest {
  /** Absolute path of the reference window. */
  readonly reference: string;
  /** Absolute path of the current window. */
  readonly current: string;
  /** Folder for summary.json and report.html. */
  readonly out: string | undefined;
  readonly json: boolean;
  /** Seed of the check's permutations and subsamples. */
  readonly seed: string | undefined;
}

/** The report module, loaded when the check runs (so that `--help` loads none of the drift engine). */
type DriftReportModule = typeof import('#core/drift/report.ts');

/** The exit code of bad input, as for bad arguments. */
const BAD_INPUT = 2;

/** A line of an input file that is not a drift record, or a file that cannot be read. */
export class DriftInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DriftInputError';
  }
}

export const driftCommand: LocalCommand<DriftRequest> = {
  name: 'drift',
  configure(command) {
    command
      .summary('check whether a current window of traffic drifted from a reference window')
      .description(
        'Compares two JSONL windows, each line {text} or {embedding: [numbers]} (or both). With embeddings ' +
          'on every line: centroid, MMD and domain-classifier tests (Bonferroni across the three). With ' +
          'texts: every text descriptor (tokens, non-letter share, script, out-of-vocabulary rate, PII), ' +
          'KS or chi-squared, Benjamini-Hochberg across them. A window too small to detect a half-sd ' +
          'shift with power 0.8 is reported as insufficient data, never as no drift. Needs no local ' +
          'stack. Exits 0 when the check ran (drift or not), 2 on bad arguments or input.',
      )
      .requiredOption('--reference <file>', 'the reference window, JSONL')
      .requiredOption('--current <file>', 'the current window, JSONL')
      .option('--out <dir>', 'write summary.json and report.html to DIR')
      .option('--json', 'print the verdict as one JSON object, as the last line of stdout')
      .option('--seed <seed>', 'seed of the permutations and subsamples (default: llmops-drift)')
      .addHelpText(
        'after',
        [
          '',
          'Examples:',
          '  npm start -- drift --reference corpus/drift/reference.jsonl --current corpus/drift/shifted.jsonl',
          '  npm start -- drift --reference last-week.jsonl --current today.jsonl --out ./drift --json',
        ].join('\n'),
      );
  },
  parse(_args, options) {
    const seed = options.seed as string | undefined;
    if (seed !== undefined && seed.trim() === '') throw new UsageError('--seed must not be empty.');
    return {
      reference: resolve(String(options.reference)),
      current: resolve(String(options.current)),
      out: options.out === undefined ? undefined : resolve(String(options.out)),
      json: options.json === true,
      seed,
    };
  },
  run: runDrift,
};

/** One window read from its file: the records and the line each came from. */
export interface DriftWindow {
  readonly file: string;
  readonly records: DriftRecord[];
  /** `lines[i]`: the 1-based line of `records[i]`. */
  readonly lines: number[];
}

/** `what` of line `line` of `file`, as a message. */
function at(file: string, line: number, what: string): DriftInputError {
  return new DriftInputError(`${file} line ${line}: ${what}`);
}

/**
 * Reads a window: one JSON object per line, `{text}` or `{embedding}` or both (other fields are
 * ignored; blank lines skipped). Throws a {@link DriftInputError} naming the file and line of the first
 * line that is not one, or the file when it cannot be read or holds no record.
 */
export function readDriftWindow(file: string): DriftWindow {
  let body: string;
  try {
    body = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DriftInputError(
      `${file}: cannot read it (${code === 'ENOENT' ? 'no such file' : (code ?? (error as Error).message)})`,
    );
  }
  const records: DriftRecord[] = [];
  const lines: number[] = [];
  body.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw at(file, line, 'is not valid JSON');
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw at(file, line, 'must be a JSON object {text} or {embedding: [numbers]}');
    }
    const { text, embedding } = value as { text?: unknown; embedding?: unknown };
    if (text === undefined && embedding === undefined) {
      throw at(file, line, 'has neither "text" nor "embedding"');
    }
    if (text !== undefined && typeof text !== 'string') throw at(file, line, '"text" must be a string');
    if (embedding !== undefined) {
      if (!Array.isArray(embedding) || embedding.length === 0) {
        throw at(file, line, '"embedding" must be a non-empty array of numbers');
      }
      const bad = embedding.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x));
      if (bad >= 0) throw at(file, line, `"embedding"[${bad}] must be a finite number`);
    }
    records.push({
      ...(text !== undefined ? { text: text as string } : {}),
      ...(embedding !== undefined ? { embedding: embedding as number[] } : {}),
    });
    lines.push(line);
  });
  if (records.length === 0) throw new DriftInputError(`${file}: holds no record (one JSON object per line)`);
  return { file, records, lines };
}

/** A check's validation error (`current.17.embedding: ...`) as the file and line it came from. */
function inputError(error: ValidationError, windows: { reference: DriftWindow; current: DriftWindow }) {
  const match = /^(reference|current)\.(\d+)(?:\.(.*))?$/.exec(error.field);
  if (!match) return new DriftInputError(error.message);
  const window = windows[match[1] as 'reference' | 'current'];
  const line = window.lines[Number(match[2])] ?? Number(match[2]) + 1;
  const field = match[3] === undefined ? '' : `"${match[3].split('.')[0]}" `;
  return at(window.file, line, `${field}${error.rule}`);
}

/** The verdict in a few lines, for a person. */
function textSummary(
  result: DriftCheckResult,
  report: string | undefined,
  { formatPValue, formatStatistic }: Pick<DriftReportModule, 'formatPValue' | 'formatStatistic'>,
): string[] {
  const verdict = result.drift ? 'DRIFT' : result.insufficient ? 'INSUFFICIENT DATA' : 'NO DRIFT';
  const out = [
    `Drift check: ${verdict} (reference ${result.n.reference} records, current ${result.n.current} records)`,
  ];
  const e = result.embedding;
  if (e) {
    const state = e.drift ? 'drift' : e.insufficient ? 'insufficient data' : 'no drift';
    out.push(
      `  embeddings: ${state} (${e.method}: statistic ${formatStatistic(e.statistic)}, p ${formatPValue(e.pValue)}, ` +
        `threshold ${formatPValue(e.threshold)})`,
    );
  } else {
    out.push('  embeddings: not tested (not every line has one)');
  }
  const names = Object.keys(result.descriptors);
  if (names.length > 0) {
    out.push(`  descriptors (Benjamini-Hochberg at ${formatPValue(result.details.alpha)}):`);
    const width = Math.max(...names.map((n) => n.length));
    for (const [name, d] of Object.entries(result.descriptors)) {
      const state = d.drift ? 'drift' : d.insufficient ? 'insufficient data' : 'no drift';
      out.push(
        `    ${name.padEnd(width)}  ${d.test.padEnd(4)} ${formatStatistic(d.statistic).padStart(8)}  ` +
          `p ${formatPValue(d.pValue).padStart(8)}  ${state}`,
      );
    }
  } else {
    out.push('  descriptors: not tested (no line has a text)');
  }
  for (const note of result.details.notes) out.push(`  note: ${note}`);
  if (report !== undefined) out.push(`  report: ${report}`);
  return out;
}

/** Checks the windows; 0 when the check ran, 2 on bad input. */
export async function runDrift(request: DriftRequest): Promise<number> {
  let windows: { reference: DriftWindow; current: DriftWindow };
  try {
    windows = { reference: readDriftWindow(request.reference), current: readDriftWindow(request.current) };
  } catch (error) {
    if (!(error instanceof DriftInputError)) throw error;
    process.stderr.write(`error: ${error.message}\n`);
    return BAD_INPUT;
  }
  const { checkDrift } = await import('#core/drift/check.ts');
  const reports: DriftReportModule = await import('#core/drift/report.ts');
  const { driftSummaryJson, renderDriftHtml } = reports;
  progress(
    `Checking ${windows.current.records.length} current records (${request.current}) against ` +
      `${windows.reference.records.length} reference records (${request.reference})`,
  );
  let result: DriftCheckResult;
  try {
    result = checkDrift(windows.reference.records, windows.current.records, {
      ...(request.seed !== undefined ? { seed: request.seed } : {}),
    });
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    process.stderr.write(`error: ${inputError(error, windows).message}\n`);
    return BAD_INPUT;
  }
  const report = request.out === undefined ? undefined : join(request.out, 'report.html');
  if (request.out !== undefined && report !== undefined) {
    mkdirSync(request.out, { recursive: true });
    writeFileSync(
      join(request.out, 'summary.json'),
      `${JSON.stringify(driftSummaryJson(result, { report }), null, 2)}\n`,
    );
    writeFileSync(
      report,
      renderDriftHtml(result, {
        labels: { reference: basename(request.reference), current: basename(request.current) },
      }),
    );
    progress(`Wrote summary.json and report.html to ${request.out}`);
  }
  if (request.json) {
    console.log(JSON.stringify(driftSummaryJson(result, { report: report ?? null, details: false })));
  } else {
    for (const line of textSummary(result, report, reports)) console.log(line);
  }
  return 0;
}
