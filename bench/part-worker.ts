import { parentPort, workerData } from 'node:worker_threads';
import type { ByteRange } from '#core/dataprep/lines.ts';
import { processFileParts } from './file-parts.ts';

/** A worker thread standing in for ProcessPart Lambdas: processes the byte ranges it is given, in order. */
const job = workerData as { file: string; outDir: string; parts: ByteRange[] };
parentPort?.postMessage(await processFileParts(job.file, job.outDir, job.parts));
