/**
 * Offline ingestion of a folder of documents into a vector store, the way the RagIngest state machine
 * does it (Plan → Chunk → Embed → Index), without S3, DynamoDB or a model endpoint: each file is parsed
 * with `parseDocument` (its name as the key), staged with the same metadata cleaning and content-hash
 * version as Plan, chunked as Chunk does, embedded through `embedMany` with the offline provider and
 * written with `replaceDocument`. Also loads a corpus's question set.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { embedMany } from '#aws/rag/embedder.ts';
import { documentVersion, type StagedDocument } from '#contracts/pipelines/rag-ingest.ts';
import { OFFLINE_DIMENSIONS, OfflineProvider } from '#core/models/offline.ts';
import type { ModelProvider } from '#core/models/types.ts';
import type { ParsedDocument } from '#core/rag/parse/document.ts';
import { parseDocument } from '#core/rag/parse.ts';
import type { IndexedChunk, VectorStore } from '#core/rag/store.ts';
import { chunkStaged } from '#functions/rag/chunking.ts';

/** Files of a corpus folder that are not documents: attribution, licences and the question set. */
const NOT_DOCUMENTS = /^(?:SOURCE\.md|LICENSE.*|questions\.jsonl)$/;

/** The document files of a corpus folder (not SOURCE.md, LICENSE* or questions.jsonl), sorted by name. */
export function corpusDocuments(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && !NOT_DOCUMENTS.test(entry.name))
    .map((entry) => entry.name)
    .sort();
}

export interface IngestOptions {
  /** @default 512 (the stack's CHUNK_MAX_TOKENS) */
  readonly maxTokens?: number;
  /** @default 64 (the stack's CHUNK_OVERLAP_TOKENS) */
  readonly overlapTokens?: number;
  /** @default 1024 (OFFLINE_DIMENSIONS, as Titan Text Embeddings v2) */
  readonly dimensions?: number;
  /** @default a new OfflineProvider */
  readonly provider?: ModelProvider;
  /** Embedding model id sent to the provider (and hashed into each version). @default 'offline-embedding' */
  readonly modelId?: string;
}

export interface IngestSummary {
  /** Documents indexed (a JSONL file may hold several). */
  readonly documents: number;
  readonly chunks: number;
  /** Chunks per document id. */
  readonly chunksByDocument: ReadonlyMap<string, number>;
}

function cleanMetadata(metadata: ParsedDocument['metadata']): StagedDocument['metadata'] {
  const out: StagedDocument['metadata'] = {};
  for (const [key, value] of Object.entries(metadata)) if (value !== null) out[key] = value;
  return out;
}

/**
 * Parses, chunks, embeds and indexes every document file of `dir` (see {@link corpusDocuments}) into
 * `store`, one `replaceDocument` per document, in file-name order.
 *
 * @throws whatever the parser, chunker, provider or store throws: a corpus that does not ingest cleanly
 *   fails the test
 */
export async function ingestFolder(
  dir: string,
  store: VectorStore,
  options: IngestOptions = {},
): Promise<IngestSummary> {
  const maxTokens = options.maxTokens ?? 512;
  const overlapTokens = options.overlapTokens ?? 64;
  const dimensions = options.dimensions ?? OFFLINE_DIMENSIONS;
  const provider = options.provider ?? new OfflineProvider();
  const modelId = options.modelId ?? 'offline-embedding';
  const settings = {
    chunkMaxTokens: maxTokens,
    chunkOverlapTokens: overlapTokens,
    embeddingModelId: modelId,
  };
  const chunksByDocument = new Map<string, number>();
  for (const file of corpusDocuments(dir)) {
    const bytes = new Uint8Array(await readFile(join(dir, file)));
    for (const doc of await parseDocument({ key: file, bytes })) {
      const base = {
        docId: doc.id,
        collection: 'uploads',
        format: doc.format,
        text: doc.text,
        metadata: cleanMetadata(doc.metadata),
        ...(doc.title !== undefined ? { title: doc.title } : {}),
        ...(doc.source !== undefined ? { source: doc.source } : {}),
        ...(doc.pages !== undefined ? { pages: doc.pages } : {}),
      };
      const staged: StagedDocument = { ...base, version: documentVersion(base, settings) };
      const chunked = chunkStaged(staged, { maxTokens, overlapTokens });
      const { vectors } = await embedMany(
        chunked.chunks.map((chunk) => chunk.text),
        { provider, model: { modelId, dimensions }, batchSize: 64, concurrency: 1 },
      );
      const indexed: IndexedChunk[] = chunked.chunks.map((chunk, i) => ({
        chunkId: chunk.chunkId,
        docId: chunked.docId,
        docVersion: chunked.version,
        index: chunk.index,
        text: chunk.text,
        headings: chunk.headings,
        metadata: chunk.metadata,
        vector: vectors[i] ?? [],
        ...(chunked.title !== undefined ? { title: chunked.title } : {}),
        ...(chunked.source !== undefined ? { source: chunked.source } : {}),
      }));
      await store.replaceDocument(chunked.docId, chunked.version, indexed);
      chunksByDocument.set(chunked.docId, indexed.length);
    }
  }
  const chunks = [...chunksByDocument.values()].reduce((sum, n) => sum + n, 0);
  return { documents: chunksByDocument.size, chunks, chunksByDocument };
}

/** One line of a corpus's `questions.jsonl`. */
export const corpusQuestion = z.object({
  id: z.string().min(1),
  question: z.string().min(1),
  /** File names (as in the corpus folder) of the documents that answer the question. */
  relevant: z.array(z.string().min(1)).min(1),
});
export type CorpusQuestion = z.infer<typeof corpusQuestion>;

/** The questions of a JSONL file, each line checked against {@link corpusQuestion}. */
export function loadQuestions(file: string): CorpusQuestion[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      const parsed = corpusQuestion.safeParse(JSON.parse(line));
      if (!parsed.success) throw new Error(`${file} line ${i + 1}: ${parsed.error.message}`);
      return parsed.data;
    });
}
