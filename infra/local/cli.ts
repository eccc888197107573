import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { isPurpose, PURPOSES } from '#core/dataprep/records.ts';
import { type ApiDemoResult, curlCommands, describeApiDemo, runApiDemo } from './api-demo.ts';
import {
  askRag,
  citedFiles,
  createRagPrompt,
  describeAnswer,
  type IngestSummary,
  ingestFolder,
  type QuestionLine,
  type RagAnswer,
  readQuestions,
} from './rag-demo.ts';
import { LocalRunner, REPO_ROOT } from './runner.ts';

/**
 * `npm start`: the lifecycle on this machine, offline, with no AWS account.
 *
 *   npm start                                   upload the bundled samples (one per purpose) and report
 *   npm start -- --upload FILE --purpose P      prepare your own file
 *                [--out DIR]                    write the curated files, quarantine and manifest to DIR
 *                [--json]                       last line of stdout: the summary as one JSON object
 *                [--verbose]                    show the handlers' logs and the API's access log
 *   npm start -- --ingest DIR --ask "question"  RAG over your own folder (txt, md, html, pdf): ingest it
 *                [--questions FILE]                through the RagIngest pipeline, then answer one question,
 *                [--json]                          or each line {"id","question"} of a JSONL file, with
 *                                                  citations (file names); --json: one JSON object per answer
 *   npm start -- --serve [--port N] [--api-key K]  after the demo, keep the API (and everything else) up
 *                                                  until Ctrl+C; --port defaults to 3000 with --serve
 *                                                  (a free port otherwise), --api-key to a random key
 *
 * Without --upload or --ingest, the run ends with the API demo (a prompt version, its production label,
 * the model catalog and a chat, JSON and streamed) and the RAG demo (the bundled corpus ingested through
 * the RagIngest state machine, then questions answered through /v1/chat with citations), over HTTP against
 * the local API (models: offline provider). Progress goes to stderr; summaries to stdout.
 */
const USAGE =
  `Usage: npm start [-- [--upload FILE --purpose ${PURPOSES.join('|')} [--out DIR]]` +
  ' [--ingest DIR (--ask QUESTION | --questions FILE)] [--json] [--verbose] [--serve] [--port N] [--api-key KEY]]';

/** The bundled RAG corpus (see its SOURCE.md for the attribution and license). */
const CORPUS_DIR = join(REPO_ROOT, 'corpus/lambda-guide');
/** Files of the corpus folder that are about the corpus, not part of it. */
const CORPUS_NOTES = ['SOURCE.md'];
/** Questions the RAG demo asks; the last one is about nothing in the corpus. */
const DEMO_QUESTIONS = [
  'How do I keep functions initialized so that they respond without cold starts?',
  'What happens to an asynchronous invocation that keeps failing?',
  'How can a function read configuration without changing its code?',
  'What is the recipe for a good sourdough bread?',
];

const SAMPLES: ReadonlyArray<{ file: string; purpose: string }> = [
  { file: 'support-chats.jsonl', purpose: 'finetune' },
  { file: 'helpfulness.jsonl', purpose: 'preference' },
  { file: 'lambda-docs.jsonl', purpose: 'rag' },
  { file: 'lambda-qa.jsonl', purpose: 'golden' },
];

interface QuarantinedLine {
  line: number;
  code: string;
  reason: string;
}

/** The summary of one upload, as printed (and as `--json` emits it). */
export interface DatasetSummary {
  status: 'READY' | 'FAILED' | 'DUPLICATE' | 'NOT_STARTED';
  source: { bucket: string; key: string };
  dataset?: { name: string; purpose: string; version: number };
  records?: number;
  blank?: number;
  kept?: number;
  quarantined?: number;
  duplicates?: { exact: number; near: number };
  splits?: Record<string, number>;
  redactions?: Record<string, number>;
  tokens?: Record<string, unknown>;
  quarantineReasons?: QuarantinedLine[];
  manifest?: string;
  event?: unknown;
  failure?: unknown;
  out?: string;
}

async function readObject(stack: LocalRunner, bucket: string, key: string): Promise<string | undefined> {
  try {
    const response = await stack.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await response.Body?.transformToString('utf8');
  } catch {
    return undefined;
  }
}

/** Finds the manifest a run wrote for a source key (also for rejected uploads, which register nothing). */
async function findManifest(
  stack: LocalRunner,
  curated: string,
  purpose: string,
  sourceKey: string,
): Promise<{ key: string; manifest: Record<string, unknown> } | undefined> {
  const listed = await stack.s3.send(
    new ListObjectsV2Command({ Bucket: curated, Prefix: `datasets/${purpose}/` }),
  );
  const keys = (listed.Contents ?? [])
    .map((o) => o.Key ?? '')
    .filter((k) => k.endsWith('/manifest.json'))
    .sort()
    .reverse();
  for (const key of keys) {
    const text = await readObject(stack, curated, key);
    const manifest = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    if ((manifest?.source as { key?: string } | undefined)?.key === sourceKey)
      return { key, manifest: manifest ?? {} };
  }
  return undefined;
}

async function summarize(stack: LocalRunner, sourceKey: string, rawBucket: string): Promise<DatasetSummary> {
  const source = { bucket: rawBucket, key: sourceKey };
  const ready = stack.events.find(
    (e) =>
      e.event['detail-type'] === 'llmops.DatasetReady' &&
      (e.event.detail as { source?: { key?: string } }).source?.key === sourceKey,
  );
  const failed = stack.events.find(
    (e) =>
      e.event['detail-type'] === 'llmops.PipelineFailed' &&
      (e.event.detail as { inputReference?: { key?: string } | null }).inputReference?.key === sourceKey,
  );
  const execution = stack.deliveries.find(
    (d) =>
      (d.execution?.input as { detail?: { object?: { key?: string } } } | undefined)?.detail?.object?.key ===
      sourceKey,
  )?.execution;
  const curated = stack.output('CuratedBucketName');
  const purpose = sourceKey.split('/')[1] ?? '';
  const found = await findManifest(stack, curated, purpose, sourceKey);
  const summary: DatasetSummary = {
    status: ready ? 'READY' : failed ? 'FAILED' : execution ? 'DUPLICATE' : 'NOT_STARTED',
    source,
  };
  if (found) {
    const m = found.manifest as {
      dataset: { name: string; purpose: string; version: number };
      counts: {
        records: number;
        blank: number;
        kept: number;
        quarantined: number;
        duplicates: { exact: number; near: number };
        splits: Record<string, number>;
      };
      redactions: Record<string, number>;
      tokens: Record<string, unknown>;
      files: Record<string, { bucket: string; key: string }>;
    };
    Object.assign(summary, {
      dataset: m.dataset,
      ...m.counts,
      redactions: Object.fromEntries(Object.entries(m.redactions).filter(([, n]) => n > 0)),
      tokens: m.tokens,
      manifest: `s3://${curated}/${found.key}`,
    });
    const quarantine = m.files.quarantine;
    if (quarantine) {
      const text = (await readObject(stack, quarantine.bucket, quarantine.key)) ?? '';
      summary.quarantineReasons = text
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const entry = JSON.parse(line) as QuarantinedLine;
          return { line: entry.line, code: entry.code, reason: entry.reason };
        });
    }
  }
  if (ready) summary.event = ready.event;
  if (failed) summary.failure = failed.event.detail;
  return summary;
}

async function writeOut(stack: LocalRunner, summary: DatasetSummary, dir: string): Promise<void> {
  if (!summary.manifest) return;
  mkdirSync(dir, { recursive: true });
  const [, , bucket = '', ...rest] = summary.manifest.split('/');
  const manifestText = (await readObject(stack, bucket, rest.join('/'))) ?? '{}';
  writeFileSync(join(dir, 'manifest.json'), manifestText);
  const files =
    (JSON.parse(manifestText) as { files?: Record<string, { bucket: string; key: string }> }).files ?? {};
  for (const [name, location] of Object.entries(files)) {
    writeFileSync(join(dir, `${name}.jsonl`), (await readObject(stack, location.bucket, location.key)) ?? '');
  }
  summary.out = resolve(dir);
}

function printSummary(summary: DatasetSummary): void {
  const name = summary.dataset
    ? `${summary.dataset.purpose}/${summary.dataset.name} v${summary.dataset.version}`
    : summary.source.key;
  console.log(`\n● ${name}  [${summary.status}]  from s3://${summary.source.bucket}/${summary.source.key}`);
  if (summary.records !== undefined) {
    const splits = Object.entries(summary.splits ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    console.log(
      `  records ${summary.records} (+${summary.blank} blank) → kept ${summary.kept} (${splits}), ` +
        `quarantined ${summary.quarantined}, duplicates ${summary.duplicates?.exact} exact + ${summary.duplicates?.near} near`,
    );
  }
  const redactions = Object.entries(summary.redactions ?? {});
  console.log(
    `  redactions: ${redactions.length ? redactions.map(([k, v]) => `${k} ${v}`).join(', ') : 'none'}`,
  );
  if (summary.tokens) {
    const t = summary.tokens as {
      tokenizer?: string;
      total?: number;
      mean?: number;
      p95?: number;
      max?: number;
    };
    console.log(
      `  tokens (${t.tokenizer}): total ${t.total}, mean ${t.mean?.toFixed(1)}, p95 ${t.p95}, max ${t.max}`,
    );
  }
  for (const q of summary.quarantineReasons ?? [])
    console.log(`  quarantined line ${q.line}: ${q.code} — ${q.reason}`);
  if (summary.manifest) console.log(`  manifest: ${summary.manifest}`);
  if (summary.event) {
    const e = summary.event as {
      'detail-type': string;
      detail: { name: string; version: number; contentHash: string };
    };
    console.log(
      `  event: ${e['detail-type']} ${e.detail.name} v${e.detail.version} ${e.detail.contentHash.slice(0, 23)}…`,
    );
  }
  if (summary.failure) {
    const f = summary.failure as { error?: string; cause?: string };
    console.log(`  event: llmops.PipelineFailed ${f.error}: ${f.cause}`);
  }
  if (summary.out) console.log(`  written to ${summary.out}`);
}

/** Runs the API demo against the local API; in text mode the streamed answer is printed as it arrives. */
async function apiDemo(stack: LocalRunner, json: boolean): Promise<ApiDemoResult> {
  const api = stack.api;
  if (!api) throw new Error('The local API is not running');
  process.stderr.write(`Calling the API at ${api.url}\n`);
  let streaming = false;
  const result = await runApiDemo({
    url: api.url,
    apiKey: api.apiKey,
    onStep: (line) => process.stderr.write(`${streaming ? '\n' : ''}  … API: ${line}\n`),
    onText: (text) => {
      if (!streaming && !json) process.stdout.write('  streamed answer: ');
      streaming = true;
      (json ? process.stderr : process.stdout).write(text);
    },
  });
  if (!json) {
    console.log(`\n● API at ${api.url}`);
    for (const line of describeApiDemo(result)) console.log(line);
  }
  await stack.idle();
  return result;
}

interface RagDemoResult {
  ingest: IngestSummary;
  reingest: IngestSummary;
  answers: RagAnswer[];
}

function printIngest(label: string, summary: IngestSummary): void {
  console.log(
    `  ${label}: ${summary.files} file(s) → ${summary.indexed} indexed (${summary.chunks} chunks), ` +
      `${summary.unchanged} unchanged, ${summary.failed.length} failed`,
  );
  for (const f of summary.failed) console.log(`    failed ${f.docId}: ${f.reason}`);
}

/** The RAG demo: the bundled corpus through RagIngest, a re-upload that changes nothing, cited answers. */
async function ragDemo(stack: LocalRunner, json: boolean): Promise<RagDemoResult> {
  const api = stack.api;
  if (!api) throw new Error('The local API is not running');
  process.stderr.write(`Ingesting the bundled corpus ${relativeToRepo(CORPUS_DIR)} through RagIngest\n`);
  const ingest = await ingestFolder(stack, CORPUS_DIR, CORPUS_NOTES);
  process.stderr.write('Uploading the corpus again (unchanged content: nothing is embedded again)\n');
  const reingest = await ingestFolder(stack, CORPUS_DIR, CORPUS_NOTES);
  await createRagPrompt(api.url, api.apiKey);
  const answers: RagAnswer[] = [];
  for (const question of DEMO_QUESTIONS) answers.push(await askRag(api.url, api.apiKey, question));
  if (!json) {
    console.log(`\n● RAG over ${relativeToRepo(CORPUS_DIR)} (embedded vector store, offline embedder)`);
    printIngest('ingest', ingest);
    printIngest('re-ingest', reingest);
    for (const answer of answers) for (const line of describeAnswer(answer)) console.log(line);
  }
  await stack.idle();
  return { ingest, reingest, answers };
}

/** `--ingest DIR` with `--ask` or `--questions`: answers from the user's own folder. */
async function ragRun(
  stack: LocalRunner,
  dir: string,
  questions: QuestionLine[],
  json: boolean,
): Promise<number> {
  const api = stack.api;
  if (!api) throw new Error('The local API is not running');
  process.stderr.write(`Ingesting ${dir} through RagIngest\n`);
  const ingest = await ingestFolder(stack, dir);
  if (!json) printIngest('ingest', ingest);
  else
    process.stderr.write(
      `  ingest: ${ingest.indexed}/${ingest.files} indexed, ${ingest.failed.length} failed\n`,
    );
  await createRagPrompt(api.url, api.apiKey);
  for (const { id, question } of questions) {
    const answer = await askRag(api.url, api.apiKey, question);
    if (json) {
      console.log(JSON.stringify({ id, answer: answer.answer, citations: citedFiles(answer) }));
    } else {
      for (const line of describeAnswer(answer)) console.log(line);
    }
  }
  return ingest.failed.length === 0 ? 0 : 1;
}

function relativeToRepo(path: string): string {
  return path.startsWith(REPO_ROOT) ? path.slice(REPO_ROOT.length).replace(/^\//, '') : path;
}

/** Keeps everything up until SIGINT or SIGTERM, with curl commands to try the API. */
async function serve(stack: LocalRunner): Promise<void> {
  if (stack.api) {
    process.stderr.write(`\nServing the API at ${stack.api.url} (x-api-key: ${stack.api.apiKey}). Try:\n`);
    for (const command of curlCommands(stack.api.url, stack.api.apiKey))
      process.stderr.write(`  ${command}\n`);
  } else {
    process.stderr.write('\nThe template declares no REST API; the emulators and EventBridge stay up.\n');
  }
  process.stderr.write('Press Ctrl+C to stop.\n');
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  process.stderr.write(`\n${signal}: stopping\n`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      upload: { type: 'string' },
      purpose: { type: 'string' },
      out: { type: 'string' },
      ingest: { type: 'string' },
      ask: { type: 'string' },
      questions: { type: 'string' },
      json: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      serve: { type: 'boolean', default: false },
      port: { type: 'string' },
      'api-key': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if ((values.upload === undefined) !== (values.purpose === undefined)) {
    console.error(`--upload and --purpose go together.\n${USAGE}`);
    return 2;
  }
  if (values.purpose !== undefined && !isPurpose(values.purpose)) {
    console.error(`--purpose must be one of ${PURPOSES.join(', ')} (got "${values.purpose}").\n${USAGE}`);
    return 2;
  }
  if (values.ingest !== undefined && values.upload !== undefined) {
    console.error(`--ingest and --upload are separate runs.\n${USAGE}`);
    return 2;
  }
  if ((values.ask !== undefined || values.questions !== undefined) && values.ingest === undefined) {
    console.error(`--ask and --questions need --ingest DIR (the documents to answer from).\n${USAGE}`);
    return 2;
  }
  if (values.ingest !== undefined && (values.ask === undefined) === (values.questions === undefined)) {
    console.error(`--ingest takes exactly one of --ask QUESTION or --questions FILE.\n${USAGE}`);
    return 2;
  }
  const questions: QuestionLine[] | undefined =
    values.questions !== undefined
      ? readQuestions(resolve(values.questions))
      : values.ask !== undefined
        ? [{ id: '1', question: values.ask }]
        : undefined;
  if (
    values.ingest !== undefined &&
    !statSync(resolve(values.ingest), { throwIfNoEntry: false })?.isDirectory()
  ) {
    console.error(`--ingest must name a folder (got "${values.ingest}").\n${USAGE}`);
    return 2;
  }
  const port = values.port === undefined ? (values.serve ? 3000 : 0) : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`--port must be a port number from 0 to 65535 (got "${values.port}").\n${USAGE}`);
    return 2;
  }
  const apiKey = values['api-key'];
  if (apiKey !== undefined && !/^[\x21-\x7e]{20,128}$/.test(apiKey)) {
    console.error(
      `--api-key must be 20 to 128 printable characters without spaces, as API Gateway keys are.\n${USAGE}`,
    );
    return 2;
  }
  const uploads = values.ingest
    ? []
    : values.upload
      ? [{ path: resolve(values.upload), purpose: values.purpose ?? '' }]
      : SAMPLES.map((s) => ({ path: join(REPO_ROOT, 'infra/local/samples', s.file), purpose: s.purpose }));
  const bodies = uploads.map((u) => {
    try {
      return readFileSync(u.path);
    } catch (error) {
      throw new Error(`Cannot read ${u.path}: ${(error as Error).message}`);
    }
  });

  const progress = (message: string) => process.stderr.write(`  … ${message}\n`);
  process.stderr.write(
    'Synthesizing the stack and starting local DynamoDB, S3, EventBridge and the API on 127.0.0.1\n',
  );
  const stack = await LocalRunner.start({
    onProgress: progress,
    handlerLogLevel: values.verbose ? 'INFO' : 'SILENT',
    api: {
      port,
      ...(apiKey !== undefined ? { apiKey } : {}),
      ...(values.verbose || values.serve
        ? { accessLog: (line: string) => process.stderr.write(`${line}\n`) }
        : {}),
    },
  });
  if (stack.api) {
    process.stderr.write(
      `API on ${stack.api.url} (stage ${stack.api.stage}); x-api-key: ${stack.api.apiKey}` +
        `${apiKey === undefined ? ' (generated for this run)' : ''}\n`,
    );
  }
  try {
    if (values.ingest !== undefined && questions !== undefined) {
      return await ragRun(stack, resolve(values.ingest), questions, values.json === true);
    }
    const raw = stack.output('RawBucketName');
    const keys: string[] = [];
    for (const [i, upload] of uploads.entries()) {
      const key = `raw/${upload.purpose}/${basename(upload.path)}`;
      keys.push(key);
      process.stderr.write(`Uploading ${basename(upload.path)} to s3://${raw}/${key}\n`);
      await stack.s3.send(new PutObjectCommand({ Bucket: raw, Key: key, Body: bodies[i] }));
      await stack.idle();
    }
    if (!values.upload) {
      // At-least-once delivery: replay the first upload's event; it must change nothing.
      const first = stack.events.find((e) => e.event['detail-type'] === 'Object Created');
      if (first) {
        process.stderr.write('Replaying the first upload event (duplicate delivery)\n');
        stack.publish(first.bus, { ...first.event, id: `${first.event.id}-replay` });
        await stack.idle();
      }
    }
    const summaries: DatasetSummary[] = [];
    for (const key of keys) {
      const summary = await summarize(stack, key, raw);
      if (values.out)
        await writeOut(
          stack,
          summary,
          keys.length > 1 ? join(values.out, summary.dataset?.name ?? basename(key)) : values.out,
        );
      summaries.push(summary);
    }
    const replays = stack.deliveries.filter(
      (d) => d.execution?.output && (d.execution.output as { status?: string }).status === 'DUPLICATE',
    );
    let api: ApiDemoResult | undefined;
    let apiFailure: string | undefined;
    if (!values.json) {
      for (const summary of summaries) printSummary(summary);
      if (!values.upload) {
        console.log(
          `\n● replayed event: ${replays.length} execution(s) ended AlreadyProcessed; no new dataset version`,
        );
        const ready = summaries.filter((s) => s.status === 'READY').length;
        console.log(
          `\nLifecycle ran: ${ready}/${summaries.length} datasets ready, ${stack.events.length} events routed.`,
        );
      }
    }
    let rag: RagDemoResult | undefined;
    let ragFailure: string | undefined;
    if (!values.upload && stack.api) {
      try {
        api = await apiDemo(stack, values.json === true);
      } catch (error) {
        apiFailure = (error as Error).message;
        console.error(`API demo failed: ${apiFailure}`);
      }
      try {
        rag = await ragDemo(stack, values.json === true);
      } catch (error) {
        ragFailure = (error as Error).message;
        console.error(`RAG demo failed: ${ragFailure}`);
      }
    } else if (!values.upload && !values.json) {
      console.log('\n● API: the template declares no REST API; nothing to serve');
    }
    if (values.json) {
      console.log(
        JSON.stringify(
          values.upload
            ? summaries[0]
            : {
                datasets: summaries,
                replayedDuplicates: replays.length,
                ...(api ? { api } : {}),
                ...(apiFailure ? { apiFailure } : {}),
                ...(rag ? { rag } : {}),
                ...(ragFailure ? { ragFailure } : {}),
              },
        ),
      );
    }
    const code = values.upload
      ? summaries[0]?.status === 'READY'
        ? 0
        : 1
      : summaries.every((s) => s.status === 'READY') &&
          replays.length > 0 &&
          apiFailure === undefined &&
          ragFailure === undefined &&
          rag !== undefined &&
          rag.ingest.failed.length === 0
        ? 0
        : 1;
    if (values.serve) await serve(stack);
    return code;
  } finally {
    await stack.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`Error: ${(error as Error).message}`);
    process.exit(1);
  },
);
