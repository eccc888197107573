import type { APIGatewayProxyEvent } from 'aws-lambda';
import { NotFoundError } from '#aws/errors.ts';
import type { GatewayDeps } from '#aws/gateway.ts';
import type { Retrieval, RetrievalRequest } from '#aws/rag/retriever.ts';
import type { ApiCaller } from '#contracts/http/caller.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import type { PromptDraft, PromptVersion } from '#contracts/prompts/types.ts';
import { OfflineProvider } from '#core/models/offline.ts';
import type { ChatRequest } from '#core/models/types.ts';
import { contentHash } from '#core/prompts/hash.ts';
import type { RetrievedChunk } from '#core/rag/store.ts';

/**
 * Fixtures of the API and gateway tests: callers, catalog models and a catalog of them, a provider that
 * keeps its chat requests, prompt versions, retrieved chunks and retrievals, and API Gateway proxy events.
 * Each takes the values a test is about as arguments or overrides.
 */

/**
 * The caller behind an app's API key. Unrestricted (`access: null`) unless `overrides` says otherwise:
 * most tests are not about per-app access.
 */
export function appCaller(app: string, overrides: Partial<ApiCaller> = {}): ApiCaller {
  return {
    app,
    tenant: null,
    apiKeyId: 'k',
    principal: null,
    author: `app:${app}`,
    access: null,
    ...overrides,
  };
}

/** An active Bedrock chat model `id` (model id `vendor.<id>`), streaming and with a system prompt. */
export function catalogModel(id: string, overrides: Partial<CatalogModel> = {}): CatalogModel {
  return {
    id,
    provider: 'bedrock',
    modelId: `vendor.${id}`,
    kind: 'chat',
    contextWindow: 128_000,
    maxOutputTokens: 4096,
    pricePer1kInputUsd: 0.001,
    pricePer1kOutputUsd: 0.004,
    features: ['streaming', 'systemPrompt'],
    regions: ['us-east-1'],
    status: 'active',
    ...overrides,
  };
}

/** A catalog of `models`: each by its id (a 404 for any other), and all of them, of one kind if asked. */
export function catalogOf(models: readonly CatalogModel[]): GatewayDeps['catalog'] {
  return {
    get: async (id) => {
      const found = models.find((m) => m.id === id);
      if (!found) throw new NotFoundError(`Model ${id} is not in the catalog; GET /v1/models lists them`);
      return found;
    },
    list: async (filter) => models.filter((m) => !filter?.kind || m.kind === filter.kind),
  };
}

/** The offline provider, keeping every chat request it is sent in `requests`. */
export function recordingProvider(): { provider: OfflineProvider; requests: ChatRequest[] } {
  const provider = new OfflineProvider();
  const requests: ChatRequest[] = [];
  const chat = provider.chat.bind(provider);
  provider.chat = async (request) => {
    requests.push(request);
    return chat(request);
  };
  return { provider, requests };
}

/** Version 1 of prompt `name` as the registry stores `draft` (its content hash included), labelled production. */
export function promptVersion(
  name: string,
  draft: PromptDraft,
  overrides: Partial<Omit<PromptVersion, keyof PromptDraft | 'name' | 'contentHash'>> = {},
): PromptVersion {
  return {
    ...draft,
    name,
    version: 1,
    author: 'arn:aws:iam::1:user/a',
    createdAt: '2026-11-26T00:00:00.000Z',
    contentHash: contentHash(draft),
    labels: ['production'],
    ...overrides,
  };
}

/**
 * Chunk `index` (0 unless given) of document `docId` as a retriever returns it, id `<docId>#<index>`;
 * a title or source only where given.
 */
export function retrievedChunk({
  docId,
  text,
  index = 0,
  ...overrides
}: Partial<RetrievedChunk> & Pick<RetrievedChunk, 'docId' | 'text'>): RetrievedChunk {
  return {
    chunkId: `${docId}#${index}`,
    docId,
    docVersion: 'v1',
    index,
    text,
    headings: [],
    metadata: {},
    score: 0.9,
    similarity: 0.9,
    ...overrides,
  };
}

/**
 * What a retriever answers `request` with: its query, k (5 unless asked), hybrid and minScore, no chunks and
 * an embedded store unless `overrides` says otherwise.
 */
export function retrievalFor(request: RetrievalRequest, overrides: Partial<Retrieval> = {}): Retrieval {
  return {
    query: request.query,
    chunks: [],
    vectorStore: 'embedded',
    embedding: { modelId: 'titan-embed-text-v2', inputTokens: 4 },
    k: request.k ?? 5,
    hybrid: request.hybrid ?? false,
    minScore: request.minScore ?? null,
    ...overrides,
  };
}

/** Who an API Gateway event says is calling: an API key (its id), an IAM principal (its ARN), or neither. */
export interface EventIdentity {
  readonly apiKeyId: string | null;
  readonly userArn: string | null;
}

/** What a request carries: path parameters, query string parameters, and a body (sent as JSON). */
export interface ApiEventOptions {
  readonly path?: Record<string, string>;
  readonly query?: Record<string, string>;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

/** An API Gateway proxy event for `httpMethod` on `resource` from `identity`, its body as JSON. */
export function apiEvent(
  httpMethod: string,
  resource: string,
  options: ApiEventOptions & { readonly identity: EventIdentity },
): APIGatewayProxyEvent {
  return {
    resource,
    path: resource,
    httpMethod,
    headers: options.headers ?? {},
    multiValueHeaders: {},
    queryStringParameters: options.query ?? null,
    multiValueQueryStringParameters: null,
    pathParameters: options.path ?? null,
    stageVariables: null,
    body: options.body === undefined ? null : JSON.stringify(options.body),
    isBase64Encoded: false,
    requestContext: {
      requestId: 'req',
      identity: options.identity,
    } as unknown as APIGatewayProxyEvent['requestContext'],
  } as APIGatewayProxyEvent;
}
