import { parentPort } from 'node:worker_threads';
import type { ByteRange } from '#core/dataprep/lines.ts';
import { processFileParts, warmUp } from './file-parts.ts';

/**
 * A worker thread standing in for a warm ProcessPart Lambda: warms up, says so, then processes the byte
 * ranges of the one job it is sent, in order, and answers with their outcomes.
 */
warmUp();
parentPort?.once('message', async (job: { file: string; outDir: string; parts: ByteRange[] }) => {
  parentPort?.postMessage(await processFileParts(job.file, job.outDir, job.parts));
});
parentPort?.postMessage('ready');
