import * as z from 'zod/mini';
import { gateMetric, runStatus } from '../evaluation/run.ts';
import { catalogModel, catalogSuiteName, modelFeature } from '../models/catalog.ts';
import { labelName, promptDraft, promptMessage, variableSpec } from '../prompts/types.ts';

/**
 * The API's request and response schemas. The handlers parse with them, API Gateway validates request
 * bodies with models generated from them, and the OpenAPI document is generated from them: one
 * definition, three uses.
 */

/** `name`, `name@label` or `name:version`. */
export const PROMPT_REF = /^[a-z0-9][a-z0-9_-]{0,63}(@[a-z][a-z0-9_-]{0,31}|:[1-9][0-9]{0,8})?$/;

const chatTurn = z.strictObject({
  role: z.enum(['user', 'assistant']),
  content: z.string().check(z.minLength(1), z.maxLength(100_000)),
});

const metadataValue = z.union([z.string().check(z.maxLength(256)), z.number(), z.boolean()]);

/** Retrieval options, shared by `POST /v1/rag/search` and the `rag` field of `POST /v1/chat`. */
export const retrievalOptions = z.strictObject({
  /** Chunks to retrieve. */
  k: z.optional(z.int().check(z.positive(), z.lte(50))),
  /** Metadata filters: every key must match; an array matches any of its values. Keys: metadata fields, `docId`, `source`. */
  filters: z.optional(
    z.record(
      z
        .string()
        .check(z.regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 letters, digits, "_", ".", ":" or "-"')),
      z.union([metadataValue, z.array(metadataValue).check(z.minLength(1), z.maxLength(50))]),
    ),
  ),
  /** Combine kNN with keyword (BM25) relevance (OpenSearch and the local store). */
  hybrid: z.optional(z.boolean()),
  /** Drop chunks less similar to the question than this (similarity in [0, 1]; unrelated text is near 0.5). */
  minScore: z.optional(z.number().check(z.gte(0), z.lte(1))),
});
export type RetrievalOptions = z.infer<typeof retrievalOptions>;

/** The `rag` field of a chat request: retrieval options, and the query when it is not the last user turn. */
export const chatRagOptions = z.strictObject({
  ...retrievalOptions.shape,
  /** What to search for; default: the last user message, else the `question` variable. */
  query: z.optional(z.string().check(z.minLength(1), z.maxLength(8_000))),
});

export const ragSearchRequest = z.strictObject({
  query: z.string().check(z.minLength(1), z.maxLength(8_000)),
  ...retrievalOptions.shape,
});
export type RagSearchBody = z.infer<typeof ragSearchRequest>;

export const citation = z.object({
  /** `[n]` in the answer and in the prompt's context refers to the n-th citation (from 1). */
  n: z.int(),
  docId: z.string(),
  chunkId: z.string(),
  title: z.nullable(z.string()),
  source: z.nullable(z.string()),
  score: z.number(),
  similarity: z.number(),
  headings: z.array(z.string()),
  page: z.optional(z.int()),
});

export const retrievedChunk = z.object({
  ...citation.shape,
  text: z.string(),
  metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
});

export const ragSearchResponse = z.object({
  query: z.string(),
  results: z.array(retrievedChunk),
  vectorStore: z.enum(['opensearch', 's3vectors', 'embedded']),
  embedding: z.object({ modelId: z.string(), inputTokens: z.int() }),
});

export const documentStatus = z.object({
  docId: z.string(),
  collection: z.string(),
  status: z.enum(['queued', 'chunked', 'embedded', 'indexed', 'failed', 'deleted']),
  version: z.string(),
  indexedVersion: z.nullable(z.string()),
  chunkCount: z.int(),
  title: z.nullable(z.string()),
  source: z.nullable(z.string()),
  reason: z.nullable(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const documentList = z.object({
  documents: z.array(documentStatus),
  nextToken: z.optional(z.string()),
});

export const chatRequest = z.strictObject({
  /** Which prompt to render: `name` (its production label), `name@label` or `name:version`. */
  prompt: z.string().check(z.regex(PROMPT_REF, 'must be "name", "name@label" or "name:version"')),
  /** Values for the template's declared variables. */
  variables: z.optional(z.record(z.string(), z.unknown())),
  /** Conversation turns appended after the rendered template (multi-turn chat). */
  messages: z.optional(z.array(chatTurn).check(z.maxLength(100))),
  /** Catalog model id; default: the prompt's model, else the cheapest active model that fits. */
  model: z.optional(z.string().check(z.minLength(1), z.maxLength(100))),
  /** Answer as a stream of server-sent events instead of one JSON body. */
  stream: z.optional(z.boolean()),
  maxTokens: z.optional(z.int().check(z.positive(), z.lte(100_000))),
  temperature: z.optional(z.number().check(z.gte(0), z.lte(1))),
  /**
   * Retrieval-augmented generation: retrieve chunks for the question, pass them to the prompt's `context`
   * variable, and answer with `citations`.
   */
  rag: z.optional(chatRagOptions),
});
export type ChatRequestBody = z.infer<typeof chatRequest>;

export const usage = z.object({
  inputTokens: z.int(),
  outputTokens: z.int(),
  costUsd: z.number(),
});

export const guardrailOutcome = z.object({
  action: z.enum(['NONE', 'INTERVENED']),
  policies: z.array(z.string()),
});

/**
 * Who answered, when it is not simply the model asked for: present while the model has a rollout's canary
 * (either variant) and when a fallback answered. `model` is the catalog model that answered: the one
 * called, or with `fallbackFrom` the fallback that answered because that one (`fallbackFrom`) had no
 * capacity. `variant` is `candidate` when the rollout's candidate answered (its `inferenceComponent`
 * and `rolloutId` then say which), else `production`.
 */
export const servedBy = z.object({
  model: z.string(),
  variant: z.enum(['production', 'candidate']),
  inferenceComponent: z.optional(z.string()),
  rolloutId: z.optional(z.string()),
  fallbackFrom: z.optional(z.string()),
});
export type ServedBy = z.infer<typeof servedBy>;

export const chatResponse = z.object({
  interactionId: z.string(),
  answer: z.string(),
  model: z.object({
    id: z.string(),
    provider: z.enum(['bedrock', 'sagemaker', 'offline']),
    modelId: z.string(),
  }),
  prompt: z.object({ name: z.string(), version: z.int() }),
  usage,
  latencyMs: z.number(),
  stopReason: z.string(),
  guardrail: z.optional(guardrailOutcome),
  /** With `rag`: the retrieved chunks the answer may cite, best first (empty when none was relevant). */
  citations: z.optional(z.array(citation)),
  /** See {@link servedBy}: absent when the model asked for answered, with no rollout in progress. */
  served: z.optional(servedBy),
});
export type ChatResponseBody = z.infer<typeof chatResponse>;

/** A turn of the conversation the gateway takes; `system` turns come only with a raw chat (no prompt). */
export interface GatewayChatTurn {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/**
 * What the model gateway answers: a `POST /v1/chat` body, or a chat translated from OpenAI's dialect,
 * which may name no prompt (a raw chat: its system turns become the system instructions) and may add
 * `topP` and `stop` sequences. `route` is what the interaction record says the call came through.
 */
export type GatewayChatInput = Omit<ChatRequestBody, 'prompt' | 'messages'> & {
  readonly prompt?: string;
  readonly messages?: readonly GatewayChatTurn[];
  readonly topP?: number;
  readonly stop?: readonly string[];
  /** @default 'chat' */
  readonly route?: 'chat' | 'chat.completions';
};

/** The gateway's answer: a `POST /v1/chat` response whose `prompt` is null for a raw chat. */
export type GatewayChatResponse = Omit<ChatResponseBody, 'prompt'> & {
  prompt: ChatResponseBody['prompt'] | null;
};

export const createPromptVersionRequest = promptDraft;

export const promptVersionResponse = z.object({
  name: z.string(),
  version: z.int(),
  messages: z.array(promptMessage),
  variables: z.record(z.string(), variableSpec),
  model: z.optional(promptDraft.shape.model),
  commitMessage: z.string(),
  /** Who wrote the version (an IAM principal ARN): shown to administrators only. */
  author: z.optional(z.string()),
  createdAt: z.string(),
  contentHash: z.string(),
  labels: z.array(z.string()),
});

export const promptVersionList = z.object({
  name: z.string(),
  versions: z.array(
    z.object({
      version: z.int(),
      commitMessage: z.string(),
      /** Who wrote the version (an IAM principal ARN): shown to administrators only. */
      author: z.optional(z.string()),
      createdAt: z.string(),
      contentHash: z.string(),
      labels: z.array(z.string()),
    }),
  ),
  labels: z.record(z.string(), z.int()),
  nextToken: z.optional(z.string()),
});

/** Longest reason a label move may give (kept in the label history). */
export const MOVE_REASON_MAX_CHARS = 1000;

export const moveLabelRequest = z.strictObject({
  version: z.int().check(z.positive()),
  /**
   * Move `production` past its promotion gate (a missing, running or failed evaluation): needs `reason`,
   * and applies only to a gated production move (400 otherwise).
   */
  force: z.optional(z.boolean()),
  /** Why the label moves: kept in the label history; required with `force`. */
  reason: z.optional(z.string().check(z.minLength(1), z.maxLength(MOVE_REASON_MAX_CHARS))),
});

export const labelResponse = z.object({
  name: z.string(),
  label: z.string(),
  version: z.int(),
  previousVersion: z.nullable(z.int()),
  /** The evaluation that allowed a gated production move. */
  gate: z.optional(z.object({ runId: z.string(), pass: z.boolean() })),
  /** The move went past its promotion gate with `force` (and a reason, in the label history). */
  forced: z.optional(z.boolean()),
});

/** One entry of `GET /v1/models`: OpenAI's model object (`id`, `object`, `created`, `owned_by`) and every catalog field. */
export const modelEntry = z.object({
  ...catalogModel.shape,
  object: z.literal('model'),
  /** Epoch seconds of the entry's last change; 0 when the catalog does not say. */
  created: z.int(),
  /** The provider that serves the model. */
  owned_by: z.string(),
});
export type ModelEntry = z.infer<typeof modelEntry>;

/** `GET /v1/models`: the catalog as OpenAI's model list, which its clients and catalog users both read. */
export const modelList = z.object({ object: z.literal('list'), data: z.array(modelEntry) });

export const selectModelRequest = z.strictObject({
  kind: z.optional(z.enum(['chat', 'embedding'])),
  minContextTokens: z.optional(z.int().check(z.positive())),
  maxPricePer1kInputUsd: z.optional(z.number().check(z.nonnegative())),
  maxPricePer1kOutputUsd: z.optional(z.number().check(z.nonnegative())),
  features: z.optional(z.array(modelFeature)),
  minEvaluationScore: z.optional(z.number().check(z.gte(0), z.lte(1))),
  region: z.optional(z.string().check(z.minLength(1))),
  /**
   * Pick the best-scoring model on an evaluation suite rather than the cheapest: among the active models
   * that meet every other constraint (the price bounds included), the highest `evaluations[suite].value`
   * wins; ties go to the lower price, then the id. Models never evaluated on the suite are not candidates.
   */
  rankBy: z.optional(
    z.strictObject({
      suite: catalogSuiteName,
      /** The suite's score must be at least this. */
      minScore: z.optional(z.number().check(z.gte(0), z.lte(1))),
    }),
  ),
});
export type SelectModelBody = z.infer<typeof selectModelRequest>;

export const selectModelResponse = z.object({
  model: catalogModel,
  /** How many active models met every constraint. */
  candidates: z.int(),
  /** With `rankBy`: why this model won (its score on the suite, and the metric behind it). */
  rankedBy: z.optional(
    z.object({ suite: z.string(), metric: z.string(), value: z.number().check(z.gte(0), z.lte(1)) }),
  ),
});

/** Admin catalog edit: the whole entry but its id, which the path carries. */
export const putModelRequest = z.strictObject(z.omit(catalogModel, { id: true }).shape);

export const errorResponse = z.object({
  error: z.object({
    /** Stable machine-readable code, e.g. `validation_error`, `not_found`, `throttled`. */
    code: z.string(),
    message: z.string(),
    /**
     * OpenAI's error category, which its client libraries read: `invalid_request_error` (400, 413, 422),
     * `authentication_error` (401), `permission_error` (403), `not_found_error` (404), `conflict_error`
     * (409), `rate_limit_error` (429), `insufficient_quota` (a spent token budget), `api_error` (5xx).
     */
    type: z.string(),
    /** OpenAI's name for `field`: the request field that failed, else null. */
    param: z.nullable(z.string()),
    /** The request field that failed, as a dotted path. */
    field: z.optional(z.string()),
    /** The rule it broke. */
    rule: z.optional(z.string()),
    /**
     * A refused `production` move (409 `evaluation_failed`, `evaluation_pending`, `evaluation_required`):
     * the evaluation run that gates it (follow it with `GET /v1/evaluations/{id}`) and the failing metrics.
     */
    evaluation: z.optional(z.object({ runId: z.string(), status: runStatus, failing: z.array(gateMetric) })),
    /** A 503 `model_capacity_unavailable`: the catalog model that has no capacity (scaling out from zero). */
    model: z.optional(z.string()),
    requestId: z.optional(z.string()),
  }),
});
export type ErrorResponseBody = z.infer<typeof errorResponse>;

/** Longest pagination token (`nextToken`) the API accepts; the tokens it issues are shorter. */
export const MAX_PAGE_TOKEN_LENGTH = 8192;
/** A pagination token on the wire: base64url without padding. */
export const PAGE_TOKEN = /^[A-Za-z0-9_-]+$/;

/** The `nextToken` query parameter: an opaque token a previous page of the same listing returned. */
export const pageToken = z
  .string()
  .check(
    z.minLength(1, 'must be a nextToken a previous page of this listing returned'),
    z.maxLength(MAX_PAGE_TOKEN_LENGTH, 'must be a nextToken a previous page of this listing returned'),
    z.regex(PAGE_TOKEN, 'must be a nextToken a previous page of this listing returned'),
  );

export const pathParams = {
  name: z.string().check(z.regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must match ^[a-z0-9][a-z0-9_-]{0,63}$')),
  label: labelName,
  modelId: catalogModel.shape.id,
  version: z.string().check(z.regex(/^[1-9][0-9]{0,8}$/, 'must be a positive whole number')),
  docId: z.string().check(z.minLength(1), z.maxLength(1024)),
};
