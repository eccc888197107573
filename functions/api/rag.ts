import * as z from 'zod/mini';
import { createDocumentClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { ContentBlockedError, NotFoundError, ValidationError } from '#aws/errors.ts';
import { type ApiRequest, apiHandler, json, parseAppKeys, parseWith } from '#aws/http.ts';
import { metrics } from '#aws/logging.ts';
import { createContentGuard } from '#aws/models/guardrail.ts';
import { createProviderRouter } from '#aws/models/router.ts';
import { DOCUMENT_STATUSES, type DocumentItem, DocumentTable } from '#aws/rag/documents.ts';
import { citationsOf, Retriever } from '#aws/rag/retriever.ts';
import {
  embeddingModelEnvironment,
  embeddingModelFromEnv,
  vectorStoreEnvironment,
  vectorStoreFromEnv,
} from '#aws/rag/vector-store.ts';
import { envVar } from '#contracts/env.ts';
import { parseAppAccess } from '#contracts/http/access.ts';
import { pageToken, pathParams, ragSearchRequest } from '#contracts/http/schemas.ts';
import { isLiteral } from '#core/access/glob.ts';
import { AccessPolicy } from '#core/access/policy.ts';
import type { ContentGuard } from '#core/models/types.ts';
import { dispatcher } from './dispatch.ts';

/**
 * The RAG routes: retrieval alone (`POST /v1/rag/search`, the chunks `/v1/chat` with `rag` would see), and
 * the ingestion status of documents (`GET /v1/rag/documents`, `GET /v1/rag/documents/{id}`).
 *
 * An app searches and lists only the collections its access names: a search is always kept within
 * them (a `collection` filter of its own is intersected with them), and naming another collection is a
 * 403. A document of another collection is a 404, exactly as a document that does not exist, so that an
 * app cannot learn which documents other collections hold.
 *
 * A search's query is caller text on its way to the embedding model: it passes the content guard's input
 * policy first, as every caller text of `/v1/chat` and `/v1/embeddings` does. A refused query is a 400
 * `content_blocked` naming `query` (as `/v1/embeddings` refuses an input: there is no answer to put the
 * policy's message in), and nothing is embedded or searched.
 */
export interface RagDeps {
  readonly retriever: Pick<Retriever, 'retrieve'>;
  readonly documents: Pick<DocumentTable, 'get' | 'list'>;
  /** The input policy over a search's query. @default none: the deployment has no guardrail */
  readonly guard?: Pick<ContentGuard, 'checkInput'>;
}

/**
 * Refuses a query the input policy blocks (`ContentBlockedError`, 400 `content_blocked`). A guard that
 * fails fails the request: no query reaches the embedding model unchecked.
 */
async function assertQueryAllowed(guard: RagDeps['guard'], query: string): Promise<void> {
  if (guard === undefined) return;
  const verdict = await guard.checkInput([query]);
  if (verdict.action !== 'INTERVENED') return;
  metrics.addMetric('RagSearchesBlocked', 'Count', 1);
  const policies = verdict.policies.length > 0 ? ` (${verdict.policies.join(', ')})` : '';
  throw new ContentBlockedError('query', `was blocked by the content policy${policies}`);
}

const listQuery = z.object({
  collection: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
  status: z.optional(z.enum(DOCUMENT_STATUSES)),
  limit: z.optional(
    z.pipe(
      z.string().check(z.regex(/^[1-9][0-9]{0,2}$/, 'must be a whole number from 1 to 100')),
      z.pipe(z.transform(Number), z.number().check(z.lte(100, 'must be a whole number from 1 to 100'))),
    ),
  ),
  nextToken: z.optional(pageToken),
});

/** A document's status as the API shows it. */
export function documentView(doc: DocumentItem) {
  return {
    docId: doc.docId,
    collection: doc.collection,
    status: doc.status,
    version: doc.version,
    indexedVersion: doc.indexedVersion ?? null,
    chunkCount: doc.chunkCount,
    title: doc.title ?? null,
    source: doc.source ?? null,
    reason: doc.reason ?? null,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}

const MAX_DOC_ID_BYTES = 1024;

/** Document ids are file paths (`guides/intro.md`): callers URL-encode them into the path. */
function docIdOf(request: ApiRequest): string {
  const raw = parseWith(pathParams.docId, request.path.id, 'path.id');
  let docId = raw;
  try {
    docId = raw.includes('%') ? decodeURIComponent(raw) : raw;
  } catch {
    // Not percent-encoding after all: the id as given.
  }
  // Ids are S3 keys (at most 1024 bytes), and DynamoDB refuses a longer key.
  if (Buffer.byteLength(docId, 'utf8') > MAX_DOC_ID_BYTES) {
    throw new ValidationError('path.id', `must be at most ${MAX_DOC_ID_BYTES} bytes (UTF-8) once decoded`);
  }
  return docId;
}

export function makeHandler(deps: RagDeps) {
  return dispatcher('rag', {
    searchRag: async (request) => {
      const body = parseWith(ragSearchRequest, request.body, '');
      const policy = AccessPolicy.forCaller(request.caller);
      const collections = policy.retrievalCollections(body.filters);
      await assertQueryAllowed(deps.guard, body.query);
      const retrieval = await deps.retriever.retrieve(
        collections === undefined ? body : { ...body, collections },
      );
      metrics.addMetric('RagSearches', 'Count', 1);
      if (retrieval.chunks.length === 0) metrics.addMetric('RagSearchesEmpty', 'Count', 1);
      const citations = citationsOf(retrieval.chunks);
      return json(200, {
        query: retrieval.query,
        results: retrieval.chunks.map((chunk, i) => ({
          ...citations[i],
          text: chunk.text,
          metadata: { ...chunk.metadata },
        })),
        vectorStore: retrieval.vectorStore,
        embedding: retrieval.embedding,
      });
    },
    listRagDocuments: async (request) => {
      const query = parseWith(listQuery, request.query, 'query');
      const policy = AccessPolicy.forCaller(request.caller);
      policy.assertAnyCollection();
      if (query.collection !== undefined) policy.assertCollection(query.collection);
      // An app allowed exactly one collection lists it through the collection index, not a scan.
      const allowed = policy.collectionsFilter();
      const only = allowed?.length === 1 && isLiteral(allowed[0] as string) ? allowed[0] : undefined;
      const collection = query.collection ?? only;
      const page = await deps.documents.list({
        limit: query.limit ?? 50,
        ...(collection !== undefined ? { collection } : {}),
        ...(query.status !== undefined ? { status: query.status } : {}),
        ...(query.nextToken !== undefined ? { cursor: query.nextToken } : {}),
      });
      return json(200, {
        // A scan returns every collection's documents: those the app may not see are left out.
        documents: page.documents.filter((doc) => policy.allowsCollection(doc.collection)).map(documentView),
        ...(page.nextCursor !== undefined ? { nextToken: page.nextCursor } : {}),
      });
    },
    getRagDocument: async (request) => {
      const docId = docIdOf(request);
      const doc = await deps.documents.get(docId);
      // Another collection's document is "not found", as a missing one: its existence does not leak.
      if (doc === undefined || !AccessPolicy.forCaller(request.caller).allowsCollection(doc.collection)) {
        throw new NotFoundError(`No RAG document ${docId}`);
      }
      return json(200, documentView(doc));
    },
  });
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  DOCUMENTS_TABLE: envVar.string(),
  APP_KEYS: envVar.optionalString(),
  APP_ACCESS: envVar.optionalString(),
  MAX_REQUEST_BYTES: envVar.int(1),
  MODEL_PROVIDER: envVar.optionalString(),
  GUARDRAIL_ID: envVar.optionalString(),
  GUARDRAIL_VERSION: envVar.optionalString(),
  ...embeddingModelEnvironment,
  ...vectorStoreEnvironment,
};

const config = readConfig(environment);

const model = embeddingModelFromEnv();
const offline = config.MODEL_PROVIDER === 'offline';
// The query through the same input policy as the chat function's caller texts.
const guard = createContentGuard({
  offline,
  guardrail:
    config.GUARDRAIL_ID !== undefined && config.GUARDRAIL_VERSION !== undefined
      ? { id: config.GUARDRAIL_ID, version: config.GUARDRAIL_VERSION }
      : undefined,
});

export const handler = apiHandler(
  makeHandler({
    retriever: new Retriever({
      store: vectorStoreFromEnv,
      model,
      provider: createProviderRouter({ mode: offline ? 'offline' : 'catalog' })(model),
    }),
    documents: new DocumentTable(createDocumentClient(), config.DOCUMENTS_TABLE),
    ...(guard !== undefined ? { guard } : {}),
  }),
  {
    appKeys: parseAppKeys(config.APP_KEYS),
    appAccess: parseAppAccess(config.APP_ACCESS),
    maxRequestBytes: config.MAX_REQUEST_BYTES,
  },
);
