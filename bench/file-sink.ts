import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import type { LineSink } from '../layers/core/src/dataprep/part.ts';

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
