import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { ByteRange } from '#core/dataprep/lines.ts';
import { type LineSink, type PartStats, processPart } from '#core/dataprep/part.ts';

/** A buffered line sink over a local file (what S3LineWriter is to S3, for the benchmark). */
export class FileSink implements LineSink {
  readonly #out: WriteStream;
  #buffer: string[] = [];
  #size = 0;
  constructor(path: string) {
    this.#out = createWriteStream(path);
  }
  async writeLine(line: string): Promise<void> {
    this.#buffer.push(line, '\n');
    this.#size += line.length + 1;
    if (this.#size >= 256 * 1024) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.#buffer.length === 0) return;
    const ok = this.#out.write(this.#buffer.join(''));
    this.#buffer = [];
    this.#size = 0;
    if (!ok) await once(this.#out, 'drain');
  }
  async close(): Promise<void> {
    await this.flush();
    this.#out.end();
    await once(this.#out, 'finish');
  }
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
