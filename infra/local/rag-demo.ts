/**
 * The RAG part of `npm start`: documents go through the real pipeline (uploads under `raw/rag/` → S3
 * events → the synthesized RagIngest state machine → the embedded vector store), then questions go
 * through `POST /v1/chat` with `rag` over HTTP, and the answers come back with their citations.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SUPPORTED_EXTENSIONS } from '#core/rag/parse/document.ts';
import type { LocalApiClient } from './api-client.ts';
import type { LocalRunner } from './runner.ts';

/** The prompt RAG answers are rendered with: the passages in the system message, the question as the user turn. */
export const RAG_PROMPT = {
  name: 'rag-answer',
  draft: {
    messages: [
      {
        role: 'system',
        content:
          'Answer the question using only the numbered passages below, and cite the passages you use as [n]. ' +
          'If the passages do not contain the answer, say that you do not know.\n\n{{context}}',
      },
      { role: 'user', content: '{{question}}' },
    ],
    variables: {
      question: { type: 'string', description: 'What the user asks' },
      context: { type: 'string', description: 'Retrieved passages, numbered [1]..[k] (filled by rag)' },
    },
    commitMessage: 'Grounded answers with numbered citations',
  },
} as const;

/**
 * The bundled RAG corpus (see its SOURCE.md for the attribution and license), and the files of its folder
 * that are about the corpus, not part of it.
 */
export const BUNDLED_CORPUS = {
  dir: fileURLToPath(new URL('../../corpus/lambda-guide', import.meta.url)),
  exclude: ['SOURCE.md'],
} as const;

/**
 * Least similarity a chunk needs to be used locally. With the offline embedder (hashed words), text that
 * shares no key word with the question scores 0.50–0.56 (a common word such as "good" is enough for the
 * upper end) and the passages that answer the bundled corpus's questions 0.57 and more.
 */
export const LOCAL_MIN_SCORE = 0.57;

/**
 * Files of a folder that RagIngest parses (by extension), relative paths with forward slashes, less the
 * `exclude`d ones (JSONL goes through DataPrep, as a dataset: it is not picked up here).
 */
export function documentFiles(dir: string, exclude: readonly string[] = []): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at).sort()) {
      const path = join(at, entry);
      if (statSync(path).isDirectory()) walk(path);
      else {
        const ext = entry.toLowerCase().split('.').pop() ?? '';
        const file = relative(dir, path).split(sep).join('/');
        if (
          (SUPPORTED_EXTENSIONS as readonly string[]).includes(ext) &&
          ext !== 'jsonl' &&
          !exclude.includes(file)
        ) {
          out.push(file);
        }
      }
    }
  };
  walk(dir);
  return out;
}

/** What one ingestion of a folder did, from the `llmops.DocumentIndexed` events and the runs' outputs. */
export interface IngestSummary {
  readonly files: number;
  readonly indexed: number;
  readonly unchanged: number;
  readonly failed: readonly { readonly docId: string; readonly reason: string }[];
  readonly chunks: number;
}

interface DocumentIndexedDetail {
  docId: string;
  status: 'indexed' | 'failed' | 'deleted';
  chunks: number;
  reason: string | null;
}

/**
 * Uploads the documents of `dir` under `raw/rag/` (each one starts RagIngest), waits for every pipeline to
 * finish and reports what the `llmops.DocumentIndexed` events say.
 */
export async function ingestFolder(
  stack: LocalRunner,
  dir: string,
  exclude: readonly string[] = [],
): Promise<IngestSummary> {
  const raw = stack.output('RawBucketName');
  const files = documentFiles(dir, exclude);
  if (files.length === 0) throw new Error(`${dir} holds no ${SUPPORTED_EXTENSIONS.join(', ')} files`);
  const seenEvents = stack.events.length;
  const seenDeliveries = stack.deliveries.length;
  for (const file of files) {
    await stack.s3.send(
      new PutObjectCommand({ Bucket: raw, Key: `raw/rag/${file}`, Body: readFileSync(join(dir, file)) }),
    );
  }
  await stack.idle();
  const details = stack.events
    .slice(seenEvents)
    .filter((e) => e.event['detail-type'] === 'llmops.DocumentIndexed')
    .map((e) => e.event.detail as unknown as DocumentIndexedDetail);
  const indexed = details.filter((d) => d.status === 'indexed');
  // Finish reports what each run skipped because its content was already indexed.
  const unchanged = stack.deliveries
    .slice(seenDeliveries)
    .map((d) => (d.execution?.output as { unchanged?: unknown } | undefined)?.unchanged)
    .reduce<number>((n, u) => n + (typeof u === 'number' ? u : 0), 0);
  return {
    files: files.length,
    indexed: indexed.length,
    unchanged,
    failed: details
      .filter((d) => d.status === 'failed')
      .map((d) => ({ docId: d.docId, reason: d.reason ?? 'unknown' })),
    chunks: indexed.reduce((n, d) => n + d.chunks, 0),
  };
}

/** Human-readable lines of an ingestion summary, `label` naming the run (`ingest`, `re-ingest`). */
export function describeIngest(label: string, summary: IngestSummary): string[] {
  return [
    `  ${label}: ${summary.files} file(s) → ${summary.indexed} indexed (${summary.chunks} chunks), ` +
      `${summary.unchanged} unchanged, ${summary.failed.length} failed`,
    ...summary.failed.map((f) => `    failed ${f.docId}: ${f.reason}`),
  ];
}

/** One question of a `--questions` file. */
export interface QuestionLine {
  id: string;
  question: string;
}

/** Reads `--questions`: JSONL, one `{"id", "question"}` per line; names the first bad line. */
export function readQuestions(path: string): QuestionLine[] {
  const out: QuestionLine[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new Error(`${path} line ${i + 1}: not valid JSON`);
      }
      const { id, question } = (value ?? {}) as { id?: unknown; question?: unknown };
      if (
        (typeof id !== 'string' && typeof id !== 'number') ||
        typeof question !== 'string' ||
        question.trim() === ''
      ) {
        throw new Error(`${path} line ${i + 1}: expected {"id": string, "question": non-empty string}`);
      }
      out.push({ id: String(id), question });
    });
  if (out.length === 0) throw new Error(`${path} holds no questions`);
  return out;
}

/** One passage an answer cites. */
export interface Citation {
  readonly n: number;
  readonly docId: string;
  readonly chunkId: string;
  readonly title: string | null;
  readonly source: string | null;
  readonly score: number;
  readonly similarity: number;
  readonly headings: readonly string[];
  readonly page?: number;
}

/** One answer of `POST /v1/chat` with `rag`. */
export interface RagAnswer {
  readonly id?: string;
  readonly question: string;
  readonly answer: string;
  readonly stopReason: string;
  readonly citations: readonly Citation[];
}

/** Creates the RAG prompt's first version and points `production` at it (admin routes). */
export async function createRagPrompt(client: LocalApiClient): Promise<number> {
  const { name, draft } = RAG_PROMPT;
  const created = await client.call<{ version: number }>(
    `POST /v1/prompts/${name}/versions`,
    'POST',
    `/v1/prompts/${name}/versions`,
    draft,
    201,
  );
  await client.call(
    `PUT /v1/prompts/${name}/labels/production`,
    'PUT',
    `/v1/prompts/${name}/labels/production`,
    { version: created.version },
    200,
  );
  return created.version;
}

/** The `rag` options of a local answer: `k` passages, the offline embedder's similarity floor, hybrid. */
export function localRagOptions(options: { k?: number; minScore?: number; hybrid?: boolean } = {}): {
  k: number;
  minScore: number;
  hybrid: boolean;
} {
  return { k: options.k ?? 5, minScore: options.minScore ?? LOCAL_MIN_SCORE, hybrid: options.hybrid ?? true };
}

/** Asks one question through `POST /v1/chat` with `rag`. */
export async function askRag(
  client: LocalApiClient,
  question: string,
  options: { k?: number; minScore?: number; hybrid?: boolean } = {},
): Promise<RagAnswer> {
  const body = {
    prompt: RAG_PROMPT.name,
    variables: { question },
    rag: localRagOptions(options),
  };
  const answer = await client.call<{ answer: string; stopReason: string; citations?: Citation[] }>(
    'POST /v1/chat (rag)',
    'POST',
    '/v1/chat',
    body,
    200,
  );
  return {
    question,
    answer: answer.answer,
    stopReason: answer.stopReason,
    citations: answer.citations ?? [],
  };
}

/** The cited files of an answer, in citation order, each once. */
export function citedFiles(answer: RagAnswer): string[] {
  return [...new Set(answer.citations.map((c) => c.docId))];
}

/** Human-readable lines of one answer. */
export function describeAnswer(answer: RagAnswer): string[] {
  const lines = [`  Q: ${answer.question}`, `  A: ${answer.answer.replace(/\s+/g, ' ').trim()}`];
  for (const c of answer.citations) {
    const where = [c.title, ...c.headings.slice(1)].filter(Boolean).join(' › ');
    lines.push(
      `     [${c.n}] ${c.docId}${c.page !== undefined ? ` p.${c.page}` : ''}${where === '' ? '' : ` — ${where}`} (similarity ${c.similarity.toFixed(3)})`,
    );
  }
  if (answer.citations.length === 0) lines.push('     (no passage was relevant enough: nothing cited)');
  return lines;
}
