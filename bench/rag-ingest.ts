import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { EmbeddedVectorStore } from '#aws/rag/embedded-store.ts';
import { countTokens } from '#core/dataprep/tokens.ts';
import { OfflineProvider } from '#core/models/offline.ts';
import { parseDocument } from '#core/rag/parse.ts';
import { LocalRunner } from '#infra/local/runner.ts';
import { describeCorpus, lambdaGuideCorpus } from './corpus.ts';
import { announceSmoke, childEnv, formatRatio, options } from './options.ts';
import { ingestDirect } from './rag-direct.ts';

/**
 * `npm run bench:rag`: end-to-end local ingestion of the whole AWS Lambda Developer Guide (../shared/corpus,
 * 377 Markdown files; the bundled excerpt in corpus/lambda-guide when ../shared is absent) through the
 * real pipeline: uploads to the S3 emulator, S3 events, the trigger queue and the pipe that starts one
 * synthesized RagIngest execution per batch of events (Plan, Chunk, Embed, Index, Finish per batch,
 * document statuses in the DynamoDB emulator, staging in S3), the offline embedder and the embedded store.
 * The baseline is the same work in one loop with no pipeline around it (parse, chunk, embed, write to the
 * store), so the ratio is what the pipeline's durability costs locally: events, queueing, state
 * transitions, staging and status writes. The files are uploaded 10 at a time, as `aws s3 sync` does.
 *
 * The pipeline runs twice, each in a process of its own (handler modules keep the emulator endpoints of the
 * first run they serve): as synthesized (batches of up to BatchSize events per execution, the batching
 * window at the local runner's default scale, `pipeWindowScale`), and with the pipe's BatchSize set to 1
 * (one execution per upload, as before batching), so the batching gain is measured side by side.
 * `--smoke`: 3 files.
 */
const corpus = lambdaGuideCorpus(options.smoke ? { limit: 3 } : {});
const files = corpus.files.map((file) => ({ name: basename(file), bytes: readFileSync(file) }));
const totalBytes = files.reduce((n, f) => n + f.bytes.length, 0);
const MB = 1024 * 1024;

async function direct(): Promise<{ ms: number; chunks: number }> {
  const store = new EmbeddedVectorStore({ dimensions: 1024 });
  const provider = new OfflineProvider();
  const t0 = performance.now();
  let chunks = 0;
  for (const file of files) {
    for (const doc of await parseDocument({ key: file.name, bytes: file.bytes })) {
      const base = {
        docId: doc.id,
        collection: 'upload',
        format: doc.format,
        text: doc.text,
        metadata: {},
        ...(doc.title !== undefined ? { title: doc.title } : {}),
        source: file.name,
      };
      chunks += await ingestDirect(base, { store, provider });
    }
  }
  return { ms: performance.now() - t0, chunks };
}

/** Uploads in flight at once, as `aws s3 sync` and `aws s3 cp --recursive` send them by default. */
const UPLOAD_CONCURRENCY = 10;

/** The template as it was before batching: each pipe starts one execution per event, at once. */
function oneEventPerExecution(template: Record<string, unknown>): Record<string, unknown> {
  const resources = template.Resources as Record<
    string,
    { Type: string; Properties: Record<string, unknown> }
  >;
  for (const resource of Object.values(resources)) {
    if (resource.Type !== 'AWS::Pipes::Pipe') continue;
    resource.Properties.SourceParameters = {
      SqsQueueParameters: { BatchSize: 1, MaximumBatchingWindowInSeconds: 0 },
    };
  }
  return template;
}

interface PipelineRun {
  readonly ms: number;
  readonly chunks: number;
  readonly indexed: number;
  readonly failed: number;
  readonly executions: number;
  readonly batchSize: number;
  readonly windowSeconds: number;
}

async function pipeline(batched: boolean): Promise<PipelineRun> {
  const stack = await LocalRunner.start(batched ? {} : { editTemplate: oneEventPerExecution });
  try {
    const raw = stack.output('RawBucketName');
    const pipe = stack.pipes.pipes.find((p) => p.targetLogicalId.startsWith('RagIngest'));
    if (!pipe) throw new Error('The template has no pipe that starts RagIngest');
    const queue = [...files];
    // As the baseline's warm-up run does: the tokenizer's tables load once per process (per container on
    // AWS), not per document.
    countTokens('warm');
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: UPLOAD_CONCURRENCY }, async () => {
        for (let file = queue.shift(); file; file = queue.shift()) {
          await stack.s3.send(
            new PutObjectCommand({ Bucket: raw, Key: `raw/rag/${file.name}`, Body: file.bytes }),
          );
        }
      }),
    );
    await stack.idle();
    const ms = performance.now() - t0;
    const details = stack.events
      .filter((e) => e.event['detail-type'] === 'llmops.DocumentIndexed')
      .map((e) => e.event.detail as { status: string; chunks: number });
    const indexed = details.filter((d) => d.status === 'indexed');
    return {
      ms,
      chunks: indexed.reduce((n, d) => n + d.chunks, 0),
      indexed: indexed.length,
      failed: details.filter((d) => d.status === 'failed').length,
      executions: stack.deliveries.filter((d) => d.rule === pipe.logicalId && d.execution).length,
      batchSize: pipe.batchSize,
      windowSeconds: pipe.windowSeconds,
    };
  } finally {
    await stack.stop();
  }
}

const WORKER = '--pipeline-worker';
const RESULT = 'PIPELINE_RESULT ';

/** Runs one pipeline in a fresh process of this script and reads back its result. */
function pipelineInChild(batched: boolean): PipelineRun {
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), WORKER, batched ? 'batched' : 'single'],
    { env: childEnv(), encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 },
  );
  const line = (child.stdout ?? '').split('\n').find((l) => l.startsWith(RESULT));
  if (child.status !== 0 || line === undefined) {
    throw new Error(`The pipeline run failed (exit ${child.status}):\n${(child.stderr ?? '').slice(-4000)}`);
  }
  return JSON.parse(line.slice(RESULT.length)) as PipelineRun;
}

if (process.argv.includes(WORKER)) {
  const result = await pipeline(process.argv[process.argv.indexOf(WORKER) + 1] === 'batched');
  console.log(`${RESULT}${JSON.stringify(result)}`);
  process.exit(0);
}

announceSmoke();
await direct(); // warm-up: module loading, tokenizer tables, usearch
const base = await direct();
const single = pipelineInChild(false);
const run = pipelineInChild(true);
const docsPerSecond = (ms: number) => (files.length / ms) * 1000;
const row = (name: string, ms: number, chunks: number) =>
  `  ${name.padEnd(50)} ${(totalBytes / MB / (ms / 1000)).toFixed(2).padStart(6)} MB/s  ${docsPerSecond(ms)
    .toFixed(1)
    .padStart(6)} docs/s  ${chunks} chunks  ${(ms / 1000).toFixed(1)} s`;
const perExecution = (r: PipelineRun) => (files.length / Math.max(r.executions, 1)).toFixed(1);
console.log(
  `RAG ingestion, ${files.length} files, ${(totalBytes / MB).toFixed(2)} MB (offline embedder, embedded store), ` +
    `uploaded ${UPLOAD_CONCURRENCY} at a time`,
);
console.log(`  corpus: ${describeCorpus(corpus)}`);
console.log(row('baseline: parse → chunk → embed → store, one loop', base.ms, base.chunks));
console.log(row('pipeline: one execution per upload (BatchSize 1)', single.ms, single.chunks));
console.log(
  row(`pipeline: batched (BatchSize ${run.batchSize}, window ${run.windowSeconds} s)`, run.ms, run.chunks),
);
console.log(
  `  pipeline / baseline time: ${formatRatio(run.ms / base.ms)}  (${run.indexed} indexed, ${run.failed} failed)`,
);
console.log(
  `  one per upload / baseline time: ${formatRatio(single.ms / base.ms)}  (${single.indexed} indexed, ${single.failed} failed)`,
);
console.log(
  `  executions: batched ${run.executions} (${perExecution(run)} docs each), one per upload ${single.executions} ` +
    `(${perExecution(single)} docs each); batched / one per upload docs/s: ${formatRatio(single.ms / run.ms)}`,
);
const complete = (r: PipelineRun) => r.failed === 0 && r.indexed === files.length;
if (!complete(run) || !complete(single)) process.exitCode = 1;
