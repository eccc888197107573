import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { processPart } from '../layers/core/src/dataprep/part.ts';
import { FileSink } from './file-sink.ts';

/** A worker thread standing in for one ProcessPart Lambda: processes the parts it is given, in order. */
interface Job {
  file: string;
  outDir: string;
  parts: { index: number; start: number; end: number }[];
}

const job = workerData as Job;
const results = [];
for (const part of job.parts) {
  const staging = new FileSink(join(job.outDir, `part-${part.index}.tsv`));
  let quarantine: FileSink | undefined;
  const stats = await processPart(
    createReadStream(job.file, { start: Math.max(0, part.start - 1), highWaterMark: 1024 * 1024 }),
    { purpose: 'finetune', maxRecordBytes: 1024 * 1024, start: part.start, end: part.end },
    {
      staging,
      quarantine: () => {
        quarantine = new FileSink(join(job.outDir, `part-${part.index}.quarantine.jsonl`));
        return quarantine;
      },
    },
  );
  await staging.close();
  await quarantine?.close();
  results.push({ part, stats, hasQuarantine: quarantine !== undefined });
}
parentPort?.postMessage(results);
