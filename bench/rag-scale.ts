import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { EmbeddedVectorStore } from '#aws/rag/embedded-store.ts';
import { mapRunManifest } from '#contracts/pipelines/map-run.ts';
import { ragLayout } from '#contracts/pipelines/rag-ingest.ts';
import { OfflineProvider } from '#core/models/offline.ts';
import { parseDocument } from '#core/rag/parse.ts';
import { datasetReadyEvent } from '#events/dataset-ready.ts';
import { rawSample } from '#events/samples.ts';
import { DOCUMENT_BATCH_SIZE } from '#infra/constructs/rag-ingest.ts';
import type { EventEnvelope } from '#infra/local/local-eventbridge.ts';
import { LocalRunner } from '#infra/local/runner.ts';
import { WORDS as GENERATE_WORDS, rng } from './generate.ts';
import { announceSmoke, childEnv, formatRatio, options, outDir, sized } from './options.ts';
import { ingestDirect } from './rag-direct.ts';

/**
 * `npx tsx bench/rag-scale.ts`: ONE RagIngest run of `BENCH_RAG_SCALE_DOCS` documents (100,000 by
 * default), far past what the inline Map allowed (500 batches of results in the 256 KiB execution state:
 * beyond 12,500 documents its batches grew instead), through the local pipeline as deployed: a curated
 * `rag` dataset (JSONL, one Markdown document per record, deterministic, a few hundred bytes to a few KB
 * each) announced by `llmops.DatasetReady` on the project bus; Plan claims every document and stages the
 * batches and the Distributed Map's items in the S3 emulator; each batch of 25 is a child execution
 * (Chunk → Embed → Index, statuses in the DynamoDB emulator, the offline embedder, the embedded store);
 * the Map Run writes its results to S3, where Finish reads them. It prints the wall time, documents/s,
 * chunks, child executions, result files, failures (must be 0) and the peak RSS (sampled every 100 ms),
 * beside a baseline: the same documents (the first `BENCH_RAG_SCALE_BASELINE_DOCS`, 10,000 by default:
 * what one loop holds comfortably) parsed, chunked, embedded and stored in one in-process loop, as
 * bench/rag-ingest.ts does. Each side runs in a process of its own, so each peak RSS is its own.
 * `--smoke`: 300 documents in batches of 5 (60 children).
 */
const DOCS = sized('BENCH_RAG_SCALE_DOCS', 100_000, 300);
const BASELINE_DOCS = Math.min(DOCS, sized('BENCH_RAG_SCALE_BASELINE_DOCS', 10_000, 300));
const BATCH_SIZE = options.smoke ? 5 : DOCUMENT_BATCH_SIZE;
const DATASET = 'scale-bench';
const MB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------------
// The documents: deterministic Markdown, lengths spread log-uniformly from about 300 bytes to 4 KB.

const WORDS = [
  ...GENERATE_WORDS,
  ...'partition shard stream consumer producer batch window checkpoint snapshot restore replica failover'.split(
    ' ',
  ),
];

/** The `i`-th document as a curated rag record (`{id, title, text, metadata}`). */
function documentRecord(i: number, random: () => number): string {
  const pick = () => WORDS[Math.floor(random() * WORDS.length)] ?? 'token';
  const words = (n: number) => Array.from({ length: n }, pick).join(' ');
  const sentence = () => {
    const s = words(6 + Math.floor(random() * 14));
    return `${s.charAt(0).toUpperCase()}${s.slice(1)}.`;
  };
  const target = Math.round(300 * (4000 / 300) ** random());
  const title = `${words(3)} ${i}`;
  const parts = [`# ${title.charAt(0).toUpperCase()}${title.slice(1)}`, ''];
  let size = parts[0]?.length ?? 0;
  while (size < target) {
    const roll = random();
    let block: string;
    if (roll < 0.15) block = `## ${words(2 + Math.floor(random() * 3))}`;
    else if (roll < 0.3)
      block = Array.from(
        { length: 2 + Math.floor(random() * 4) },
        () => `- ${words(3 + Math.floor(random() * 8))}`,
      ).join('\n');
    else if (roll < 0.36) block = `\`\`\`\n${pick()}(${pick()}, ${Math.floor(random() * 1000)})\n\`\`\``;
    else block = Array.from({ length: 2 + Math.floor(random() * 4) }, sentence).join(' ');
    parts.push(block, '');
    size += block.length + 2;
  }
  return JSON.stringify({
    id: `doc-${String(i).padStart(6, '0')}`,
    title,
    text: parts.join('\n').trimEnd(),
    metadata: { team: WORDS[i % 7] ?? 'ops', shard: i % 16 },
  });
}

/** Writes the dataset once per size (it is deterministic) and returns its path. */
async function datasetFile(docs: number): Promise<string> {
  const dir = outDir('rag-scale');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `docs-${docs}.jsonl`);
  if (existsSync(path) && statSync(path).size > 0) return path;
  const random = rng(7);
  const out = createWriteStream(`${path}.tmp`);
  for (let i = 0; i < docs; i += 1) {
    if (!out.write(`${documentRecord(i, random)}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
  const { renameSync } = await import('node:fs');
  renameSync(`${path}.tmp`, path);
  return path;
}

// ---------------------------------------------------------------------------------------------------
// Each side, in a process of its own.

interface SideResult {
  readonly docs: number;
  readonly ms: number;
  readonly chunks: number;
  readonly peakRssMb: number;
  readonly indexed?: number;
  readonly failed?: number;
  readonly executions?: number;
  readonly children?: number;
  readonly resultFiles?: number;
  readonly status?: string;
  /** How long Plan and Finish ran (what one Lambda invocation each must fit in on AWS). */
  readonly planMs?: number;
  readonly finishMs?: number;
}

/** Samples the resident set size every 100 ms; `stop()` returns the peak, in MB. */
function sampleRss(): { stop(): number } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage.rss()) / MB;
    },
  };
}

/** The baseline: parse → chunk → embed → store in one loop over the first `docs` records. */
async function baseline(file: string, docs: number): Promise<SideResult> {
  const lines = readFileSync(file, 'utf8').split('\n').slice(0, docs).join('\n');
  const bytes = new TextEncoder().encode(lines);
  const rss = sampleRss();
  const store = new EmbeddedVectorStore({ dimensions: 1024 });
  const provider = new OfflineProvider();
  const t0 = performance.now();
  let chunks = 0;
  for (const doc of await parseDocument({ key: DATASET, bytes, contentType: 'application/jsonl' })) {
    const base = {
      docId: doc.id,
      collection: `dataset:${DATASET}`,
      format: doc.format,
      text: doc.text,
      metadata: Object.fromEntries(
        Object.entries(doc.metadata).filter(
          (entry): entry is [string, string | number | boolean] => entry[1] !== null,
        ),
      ),
      ...(doc.title !== undefined ? { title: doc.title } : {}),
      ...(doc.source !== undefined ? { source: doc.source } : {}),
    };
    chunks += await ingestDirect(base, { store, provider });
  }
  const ms = performance.now() - t0;
  return { docs, ms, chunks, peakRssMb: rss.stop() };
}

/** Sets `name` in the environment of the function bundled from `entry`, in the synthesized template. */
function withFunctionVariable(
  template: Record<string, unknown>,
  entry: string,
  name: string,
  value: string,
): Record<string, unknown> {
  interface FunctionResource {
    Type: string;
    Metadata?: Record<string, unknown>;
    Properties: { Environment: { Variables: Record<string, unknown> } };
  }
  const resources = Object.values(template.Resources as Record<string, FunctionResource>);
  const fn = resources.find(
    (r) => r.Type === 'AWS::Lambda::Function' && r.Metadata?.['llmops:entry'] === entry,
  );
  if (!fn) throw new Error(`no function bundled from ${entry}`);
  fn.Properties.Environment.Variables[name] = value;
  return template;
}

/** The pipeline: one DatasetReady for the whole file, through the local RagIngest state machine. */
async function pipeline(file: string, docs: number): Promise<SideResult> {
  const rss = sampleRss();
  const stack = await LocalRunner.start({
    editTemplate: (template) =>
      withFunctionVariable(template, 'functions/rag/plan.ts', 'DOCUMENT_BATCH_SIZE', String(BATCH_SIZE)),
  });
  try {
    const curated = stack.output('CuratedBucketName');
    const artifacts = stack.template.buckets().find((b) => b.logicalId.startsWith('StorageArtifacts'))?.name;
    if (!artifacts) throw new Error('The template has no artifacts bucket');
    const prefix = `datasets/rag/${DATASET}/v000001/`;
    await stack.s3.send(
      new PutObjectCommand({ Bucket: curated, Key: `${prefix}data.jsonl`, Body: readFileSync(file) }),
    );
    const sample = rawSample('dataset-ready') as EventEnvelope;
    const event = datasetReadyEvent.parse({
      ...sample,
      id: 'b6f1a0c2-2a57-4c1e-9d0e-3f5e1d2c7a90',
      time: new Date().toISOString(),
      detail: {
        ...sample.detail,
        name: DATASET,
        version: 1,
        purpose: 'rag',
        manifest: { bucket: curated, key: `${prefix}manifest.json` },
        files: { data: { bucket: curated, key: `${prefix}data.jsonl` } },
        counts: {
          records: docs,
          blank: 0,
          kept: docs,
          quarantined: 0,
          duplicates: { exact: 0, near: 0 },
          splits: {},
        },
        source: { bucket: stack.output('RawBucketName'), key: `raw/rag/${DATASET}.jsonl`, etag: 'bench' },
      },
    }) as unknown as EventEnvelope;
    const t0 = performance.now();
    stack.publish(stack.output('EventBusName'), event);
    await stack.idle();
    const ms = performance.now() - t0;

    const details = stack
      .details<{ status: string; chunks: number }>('llmops.DocumentIndexed')
      .filter((d) => d.status === 'indexed' || d.status === 'failed');
    const indexed = details.filter((d) => d.status === 'indexed');
    const runs = stack.deliveries.filter((d) => d.execution?.stateMachineArn.includes('RagIngest'));
    const output = (runs.at(-1)?.execution?.output ?? {}) as { failed?: number; indexed?: number };
    // The Map Run as Step Functions records it: its manifest and the result files it lists.
    const listed = await stack.s3.send(
      new ListObjectsV2Command({ Bucket: artifacts, Prefix: `${ragLayout.mapRunsPrefix}/` }),
    );
    const manifests = (listed.Contents ?? []).filter((o) => o.Key?.endsWith('/manifest.json'));
    let children = 0;
    let resultFiles = 0;
    for (const { Key } of manifests) {
      const text = await (
        await stack.s3.send(new GetObjectCommand({ Bucket: artifacts, Key }))
      ).Body?.transformToString();
      const manifest = mapRunManifest.parse(JSON.parse(text ?? '{}'));
      for (const files of Object.values(manifest.ResultFiles)) {
        for (const file of files) {
          const body = await stack.s3.send(new GetObjectCommand({ Bucket: artifacts, Key: file.Key }));
          children += (JSON.parse((await body.Body?.transformToString()) ?? '[]') as unknown[]).length;
          resultFiles += 1;
        }
      }
    }
    const durationOf = (prefix: string) =>
      stack.lambdas
        .invocations()
        .filter((i) => i.logicalId.startsWith(prefix))
        .reduce((n, i) => n + i.durationMs, 0);
    return {
      docs,
      ms,
      planMs: durationOf('RagIngestPlanFunction'),
      finishMs: durationOf('RagIngestFinishFunction'),
      chunks: indexed.reduce((n, d) => n + d.chunks, 0),
      peakRssMb: rss.stop(),
      indexed: indexed.length,
      failed: details.length - indexed.length + (output.failed ?? 0),
      executions: runs.length,
      children,
      resultFiles: resultFiles + manifests.length,
      status: runs.map((r) => r.execution?.status).join(','),
    };
  } finally {
    await stack.stop();
  }
}

/** Runs one side in a fresh process and returns what it reports. */
function runSide(side: 'baseline' | 'pipeline', file: string, docs: number): Promise<SideResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', import.meta.filename, `--side=${side}`, `--file=${file}`, `--docs=${docs}`],
      { env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (data: string) => {
      stdout += data;
    });
    child.once('error', reject);
    child.once('close', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
      if (code !== 0 || !line) reject(new Error(`${side} exited with ${code}:\n${stdout}`));
      else resolve(JSON.parse(line.slice('RESULT '.length)) as SideResult);
    });
  });
}

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const side = arg('side');

if (side === 'baseline' || side === 'pipeline') {
  const file = arg('file') ?? '';
  const docs = Number(arg('docs'));
  const result = side === 'baseline' ? await baseline(file, docs) : await pipeline(file, docs);
  console.log(`RESULT ${JSON.stringify(result)}`);
} else {
  announceSmoke();
  const file = await datasetFile(DOCS);
  const base = await runSide('baseline', file, BASELINE_DOCS);
  const run = await runSide('pipeline', file, DOCS);
  const perSecond = (r: SideResult) => (r.docs / r.ms) * 1000;
  const row = (name: string, r: SideResult) =>
    `  ${name.padEnd(46)} ${String(r.docs).padStart(7)} docs  ${(r.ms / 1000).toFixed(1).padStart(7)} s  ${perSecond(
      r,
    )
      .toFixed(1)
      .padStart(7)} docs/s  ${r.chunks} chunks  peak ${r.peakRssMb.toFixed(0)} MB`;
  console.log(
    `RAG ingestion at scale: ${DOCS} documents, ${(statSync(file).size / MB).toFixed(1)} MB of Markdown in one dataset (offline embedder, embedded store)`,
  );
  console.log(row('baseline: parse → chunk → embed → store, one loop', base));
  console.log(row('pipeline: DatasetReady → RagIngest, one run', run));
  console.log(
    `  pipeline / baseline time per document: ${formatRatio(perSecond(base) / perSecond(run))}  (${run.indexed} indexed, ${run.failed} failed)`,
  );
  console.log(
    `  distributed map: ${run.executions} execution (${run.status}), ${run.children} child executions of ${BATCH_SIZE} documents, ${run.resultFiles} result files (manifest included); the inline Map stopped at 500 batches`,
  );
  console.log(
    `  plan ${((run.planMs ?? 0) / 1000).toFixed(1)} s (claims, ${run.children} batches and the items staged), finish ${((run.finishMs ?? 0) / 1000).toFixed(1)} s (the Map Run's result files read)`,
  );
  if (run.failed !== 0 || run.indexed !== DOCS || run.executions !== 1 || run.status !== 'SUCCEEDED') {
    process.exitCode = 1;
  }
}
