import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { EmbeddedVectorStore } from '#aws/rag/embedded-store.ts';
import { embedMany } from '#aws/rag/embedder.ts';
import { documentVersion } from '#contracts/pipelines/rag-ingest.ts';
import { OfflineProvider } from '#core/models/offline.ts';
import { parseDocument } from '#core/rag/parse.ts';
import { chunkStaged } from '#functions/rag/chunking.ts';
import { LocalRunner } from '#infra/local/runner.ts';
import { describeCorpus, lambdaGuideCorpus } from './corpus.ts';
import { announceSmoke, formatRatio, options } from './options.ts';

/**
 * `npm run bench:rag`: end-to-end local ingestion of the whole AWS Lambda Developer Guide (../shared/corpus,
 * 377 Markdown files; the bundled excerpt in corpus/lambda-guide when ../shared is absent) through the
 * real pipeline: uploads to the S3 emulator, S3 events, the synthesized RagIngest state machine (Plan,
 * Chunk, Embed, Index, Finish per file, document statuses in the DynamoDB emulator, staging in S3), the
 * offline embedder and the embedded store. The baseline is the same work in one loop with no pipeline
 * around it (parse, chunk, embed, write to the store), so the ratio is what the pipeline's durability
 * costs locally: events, state transitions, staging and status writes. `--smoke`: 3 files.
 */
const corpus = lambdaGuideCorpus(options.smoke ? { limit: 3 } : {});
const files = corpus.files.map((file) => ({ name: basename(file), bytes: readFileSync(file) }));
const totalBytes = files.reduce((n, f) => n + f.bytes.length, 0);
const MB = 1024 * 1024;
const settings = { chunkMaxTokens: 512, chunkOverlapTokens: 64, embeddingModelId: 'titan-embed-text-v2' };
const model = { modelId: 'offline', dimensions: 1024 };

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
      const staged = chunkStaged(
        { ...base, version: documentVersion(base, settings) },
        { maxTokens: 512, overlapTokens: 64 },
      );
      const { vectors } = await embedMany(
        staged.chunks.map((c) => c.text),
        { provider, model, batchSize: 16, concurrency: 4 },
      );
      await store.replaceDocument(
        doc.id,
        staged.version,
        staged.chunks.map((c, i) => ({
          chunkId: c.chunkId,
          docId: doc.id,
          docVersion: staged.version,
          index: c.index,
          text: c.text,
          headings: c.headings,
          metadata: c.metadata,
          vector: vectors[i] ?? [],
        })),
      );
      chunks += staged.chunks.length;
    }
  }
  return { ms: performance.now() - t0, chunks };
}

async function pipeline(): Promise<{ ms: number; chunks: number; indexed: number; failed: number }> {
  const stack = await LocalRunner.start();
  try {
    const raw = stack.output('RawBucketName');
    const t0 = performance.now();
    for (const file of files) {
      await stack.s3.send(
        new PutObjectCommand({ Bucket: raw, Key: `raw/rag/${file.name}`, Body: file.bytes }),
      );
    }
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
    };
  } finally {
    await stack.stop();
  }
}

announceSmoke();
await direct(); // warm-up: module loading, tokenizer tables, usearch
const base = await direct();
const run = await pipeline();
const row = (name: string, ms: number, chunks: number) =>
  `  ${name.padEnd(44)} ${(totalBytes / MB / (ms / 1000)).toFixed(2).padStart(6)} MB/s  ${(
    (files.length / ms) *
    1000
  )
    .toFixed(1)
    .padStart(6)} docs/s  ${chunks} chunks  ${(ms / 1000).toFixed(1)} s`;
console.log(
  `RAG ingestion, ${files.length} files, ${(totalBytes / MB).toFixed(2)} MB (offline embedder, embedded store)`,
);
console.log(`  corpus: ${describeCorpus(corpus)}`);
console.log(row('baseline: parse → chunk → embed → store, one loop', base.ms, base.chunks));
console.log(row('pipeline: S3 → RagIngest state machine → store', run.ms, run.chunks));
console.log(
  `  pipeline / baseline time: ${formatRatio(run.ms / base.ms)}  (${run.indexed} indexed, ${run.failed} failed)`,
);
if (run.failed > 0 || run.indexed !== files.length) process.exitCode = 1;
