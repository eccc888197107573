import { once } from 'node:events';
import { createReadStream, createWriteStream, statSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { textLines } from '#aws/s3-io.ts';
import { type ByteRange, planRanges } from '#core/dataprep/lines.ts';
import { type LineSink, type PartStats, processPart } from '#core/dataprep/part.ts';
import { countTokens } from '#core/dataprep/tokens.ts';

const CHUNK_BYTES = 1024 * 1024;

/**
 * A buffered line sink over a local file (what S3LineWriter is to S3, for the benchmark): lines are
 * encoded straight into 1 MiB buffers (no string is held between lines), and a full buffer is handed to
 * the file stream, which may queue a few before `writeLine` waits. `writeLine` returns a promise only
 * when it has to wait.
 */
export class FileSink implements LineSink {
  readonly #out: WriteStream;
  #buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  #used = 0;
  constructor(path: string) {
    this.#out = createWriteStream(path, { highWaterMark: 4 * CHUNK_BYTES });
  }
  writeLine(line: string): Promise<void> | undefined {
    // A UTF-16 unit takes at most 3 bytes in UTF-8 (a surrogate pair, 4 for 2 units).
    if (this.#used + 3 * line.length + 1 > CHUNK_BYTES) return this.#writeAfterFlush(line);
    this.#used += this.#buffer.write(line, this.#used);
    this.#buffer[this.#used++] = 0x0a;
    return undefined;
  }
  async #writeAfterFlush(line: string): Promise<void> {
    await this.flush();
    if (3 * line.length + 1 > CHUNK_BYTES) {
      await this.#send(Buffer.from(`${line}\n`));
      return;
    }
    this.#used = this.#buffer.write(line, 0);
    this.#buffer[this.#used++] = 0x0a;
  }
  async flush(): Promise<void> {
    if (this.#used === 0) return;
    const full = this.#buffer.subarray(0, this.#used);
    this.#buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    this.#used = 0;
    await this.#send(full);
  }
  async #send(bytes: Buffer): Promise<void> {
    if (!this.#out.write(bytes)) await once(this.#out, 'drain');
  }
  async close(): Promise<void> {
    await this.flush();
    this.#out.end();
    await once(this.#out, 'finish');
  }
}

/** The part size of the benchmark (the ProcessPart default). */
export const PART_SIZE = 32 * 1024 * 1024;

/** The byte ranges of `file`, as the Plan step cuts an upload. */
export const planParts = (file: string): ByteRange[] =>
  planRanges(statSync(file).size, { partSize: PART_SIZE, maxParts: 256 });

/**
 * The lines of a local file written by the pipeline (staging, quarantine), as text: the same splitting
 * as `textLines` (#aws/s3-io.ts), which the Finalize handler reads staging with, over chunks of the
 * stream's default size (64 KiB; as an S3 body's, they keep the decoded text small).
 */
export function fileLines(path: string): AsyncGenerator<string> {
  return textLines(createReadStream(path));
}

/** Loads what a warm ProcessPart function has loaded already: the tokenizer's tables (its first count). */
export function warmUp(): void {
  countTokens('warm up');
}

/** One processed byte range: its stats, and whether it wrote a quarantine file. */
export interface PartOutcome {
  part: ByteRange;
  stats: PartStats;
  hasQuarantine: boolean;
}

export const stagingFile = (outDir: string, index: number) => join(outDir, `part-${index}.tsv`);
export const quarantineFile = (outDir: string, index: number) =>
  join(outDir, `part-${index}.quarantine.jsonl`);

/**
 * Runs ProcessPart's core over byte ranges of a local file, one after another, writing each part's
 * staging and quarantine files to `outDir` (what the ProcessPart Lambda does against S3).
 */
export async function processFileParts(
  file: string,
  outDir: string,
  parts: readonly ByteRange[],
): Promise<PartOutcome[]> {
  const outcomes: PartOutcome[] = [];
  for (const part of parts) {
    const staging = new FileSink(stagingFile(outDir, part.index));
    let quarantine: FileSink | undefined;
    const stats = await processPart(
      createReadStream(file, { start: Math.max(0, part.start - 1), highWaterMark: 1024 * 1024 }),
      { purpose: 'finetune', maxRecordBytes: 1024 * 1024, start: part.start, end: part.end },
      {
        staging,
        quarantine: () => {
          quarantine = new FileSink(quarantineFile(outDir, part.index));
          return quarantine;
        },
      },
    );
    await staging.close();
    await quarantine?.close();
    outcomes.push({ part, stats, hasQuarantine: quarantine !== undefined });
  }
  return outcomes;
}
