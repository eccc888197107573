/**
 * Amazon Bedrock behind the `ModelProvider` interface: chat through the Converse API (one request shape
 * for every model), streaming through ConverseStream, embeddings through InvokeModel with Titan Text
 * Embeddings v2. Guardrails apply to input (every turn and the system prompt, see `converseInput`) and
 * output, with the retrieved passages as grounding sources for the contextual grounding check.
 * Structured output (`responseFormat`) is a forced tool call whose input is the answer. Every call goes
 * through `withRetry`.
 */
import {
  type BedrockRuntimeClient,
  type ContentBlock,
  ConverseCommand,
  type ConverseCommandInput,
  ConverseStreamCommand,
  type ConverseStreamOutput,
  type GuardrailAssessment,
  type GuardrailTraceAssessment,
  InvokeModelCommand,
  type Message,
  type SystemContentBlock,
  type ToolConfiguration,
} from '@aws-sdk/client-bedrock-runtime';
import type { DocumentType } from '@smithy/types';
import { estimateChatTokens, estimateTokens } from '#core/models/estimate.ts';
import type {
  ChatRequest,
  ChatResult,
  ChatStreamEvent,
  EmbedRequest,
  EmbedResult,
  GuardrailOutcome,
  ModelProvider,
  StopReason,
  TokenUsage,
} from '#core/models/types.ts';
import { ModelProviderError, ValidationError } from '../errors.ts';
import { passagesBlock } from '../rag/retriever.ts';
import { type RetryOptions, withRetry, withRetryUntilOutput } from './retry.ts';

/** Titan Text Embeddings v2, the default embedding model. */
export const DEFAULT_EMBEDDING_MODEL_ID = 'amazon.titan-embed-text-v2:0';
const DEFAULT_EMBEDDING_DIMENSIONS = 1024;
const DEFAULT_EMBEDDING_CONCURRENCY = 8;
const LABEL = 'Bedrock';
/** Converse tool names: 1 to 64 letters, digits, `_` or `-`. */
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

export interface BedrockProviderOptions {
  readonly client: BedrockRuntimeClient;
  /** Backoff, attempts and attempt timeout; the caller's signal comes from each request. */
  readonly retry?: Omit<RetryOptions, 'signal' | 'label'>;
  /** Embedding calls in flight at once (one call per text). @default 8 */
  readonly embeddingConcurrency?: number;
}

const STOP_REASONS: Readonly<Record<string, StopReason>> = {
  end_turn: 'end_turn',
  max_tokens: 'max_tokens',
  stop_sequence: 'stop_sequence',
  guardrail_intervened: 'guardrail_intervened',
  content_filtered: 'content_filtered',
};

/** Maps a Converse stop reason to the contract's. */
export function mapStopReason(reason: string | undefined): StopReason {
  return (reason !== undefined && STOP_REASONS[reason]) || 'other';
}

/** The passages as the grounding source the contextual grounding check scores the answer against. */
function groundingSource(context: readonly string[]): string {
  return context.map((passage, i) => `[${i + 1}] ${passage}`).join('\n\n');
}

/**
 * Structured output as Converse tool use: one tool whose input schema is the requested JSON Schema, and
 * a `toolChoice` that forces the model to call it, so its answer is the tool's input.
 */
function structuredOutputTool(format: NonNullable<ChatRequest['responseFormat']>): ToolConfiguration {
  if (!TOOL_NAME.test(format.name)) {
    throw new ValidationError('responseFormat.name', 'must be 1 to 64 letters, digits, _ or -');
  }
  if (format.schema.type !== 'object') {
    throw new ValidationError('responseFormat.schema', 'must be a JSON Schema with type "object"');
  }
  return {
    tools: [
      {
        toolSpec: {
          name: format.name,
          ...(format.description === '' ? {} : { description: format.description }),
          inputSchema: { json: format.schema as DocumentType },
        },
      },
    ],
    toolChoice: { tool: { name: format.name } },
  };
}

/**
 * The Converse request for a chat request.
 *
 * What the guardrail (when set) evaluates, since Converse evaluates only `guardContent` blocks in the
 * messages as soon as one message has any, and the system prompt only as `guardContent`:
 * - the system prompt, as one `guardContent` block (it is rendered from caller variables, and holds
 *   the retrieved passages when the template puts them there), so the input filters see it;
 * - every turn: as plain text when nothing is grounded (Converse then evaluates every message); with
 *   context, every earlier turn (user or assistant, both caller-supplied) as a `guardContent` block and
 *   the last user turn as two blocks, the passages (`grounding_source`, scored by the contextual
 *   grounding check, never by the input filters) and the question (`query`; Bedrock checks queries of
 *   up to 1,000 characters and grounding sources of up to 100,000);
 * - the answer, through the output filters and the grounding check.
 * Without a guardrail, the passages go into the system prompt, delimited as data.
 * With `responseFormat`, one forced tool carries the schema (see `structuredOutputTool`).
 */
export function converseInput(request: ChatRequest): ConverseCommandInput {
  const context = request.context !== undefined && request.context.length > 0 ? request.context : undefined;
  const guarded = request.guardrail !== undefined;
  const grounded = context !== undefined && guarded;
  let lastUser = -1;
  request.messages.forEach((m, i) => {
    if (m.role === 'user') lastUser = i;
  });
  const messages: Message[] = request.messages.map((m, i): Message => {
    let content: ContentBlock[];
    if (!grounded) content = [{ text: m.content }];
    else if (i === lastUser) {
      content = [
        { guardContent: { text: { text: groundingSource(context), qualifiers: ['grounding_source'] } } },
        { guardContent: { text: { text: m.content, qualifiers: ['query'] } } },
      ];
    } else content = [{ guardContent: { text: { text: m.content } } }];
    return { role: m.role, content };
  });
  const systemText = [
    ...(request.system === undefined || request.system === '' ? [] : [request.system]),
    ...(context !== undefined && !grounded
      ? [
          `Answer from these passages; say so if they do not contain the answer.\n\n${passagesBlock(
            context.map((text) => ({ text })),
          )}`,
        ]
      : []),
  ].join('\n\n');
  const system: SystemContentBlock[] | undefined =
    systemText === ''
      ? undefined
      : [guarded ? { guardContent: { text: { text: systemText } } } : { text: systemText }];
  const inferenceConfig = {
    ...(request.maxTokens === undefined ? {} : { maxTokens: request.maxTokens }),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(request.topP === undefined ? {} : { topP: request.topP }),
    ...(request.stopSequences === undefined ? {} : { stopSequences: [...request.stopSequences] }),
  };
  return {
    modelId: request.modelId,
    messages,
    ...(system === undefined ? {} : { system }),
    ...(Object.keys(inferenceConfig).length === 0 ? {} : { inferenceConfig }),
    ...(request.responseFormat === undefined
      ? {}
      : { toolConfig: structuredOutputTool(request.responseFormat) }),
    ...(request.guardrail === undefined
      ? {}
      : {
          guardrailConfig: {
            guardrailIdentifier: request.guardrail.id,
            guardrailVersion: request.guardrail.version,
            trace: 'enabled' as const,
          },
        }),
  };
}

const INTERVENING = new Set(['BLOCKED', 'ANONYMIZED']);

/** A policy of an assessment that blocked or masked content. */
interface Intervention {
  /** `policy:detail`, e.g. `contentPolicy:PROMPT_ATTACK`. */
  readonly name: string;
  /** Blocked (the content may not be used), not only masked. */
  readonly blocked: boolean;
}

/** The policies of one assessment that blocked or masked content. */
function interventions(assessment: GuardrailAssessment): Intervention[] {
  const out: Intervention[] = [];
  const check = (action: string | undefined, name: string): void => {
    if (action !== undefined && INTERVENING.has(action)) out.push({ name, blocked: action === 'BLOCKED' });
  };
  for (const t of assessment.topicPolicy?.topics ?? []) check(t.action, `topicPolicy:${t.name}`);
  for (const f of assessment.contentPolicy?.filters ?? []) check(f.action, `contentPolicy:${f.type}`);
  for (const w of assessment.wordPolicy?.customWords ?? []) check(w.action, `wordPolicy:${w.match}`);
  for (const w of assessment.wordPolicy?.managedWordLists ?? []) check(w.action, `wordPolicy:${w.type}`);
  const sensitive = assessment.sensitiveInformationPolicy;
  for (const e of sensitive?.piiEntities ?? []) check(e.action, `sensitiveInformationPolicy:${e.type}`);
  for (const r of sensitive?.regexes ?? [])
    check(r.action, `sensitiveInformationPolicy:${r.name ?? 'REGEX'}`);
  for (const f of assessment.contextualGroundingPolicy?.filters ?? []) {
    check(f.action, `contextualGroundingPolicy:${f.type}`);
  }
  return out;
}

/** What a set of guardrail assessments did: the policies that intervened, sorted, and whether any blocked. */
export interface AssessedPolicies {
  readonly policies: string[];
  /** A policy blocked content (rather than only masking it). */
  readonly blocked: boolean;
}

/**
 * The policies that blocked or masked content in guardrail assessments (of Converse traces or of
 * ApplyGuardrail), as `policy:detail` names: `topicPolicy:<name>`, `contentPolicy:<type>`,
 * `wordPolicy:<match or list>`, `sensitiveInformationPolicy:<type or regex>`,
 * `contextualGroundingPolicy:<type>`.
 */
export function assessedPolicies(assessments: Iterable<GuardrailAssessment>): AssessedPolicies {
  const policies = new Set<string>();
  let blocked = false;
  for (const assessment of assessments) {
    for (const intervention of interventions(assessment)) {
      policies.add(intervention.name);
      blocked ||= intervention.blocked;
    }
  }
  return { policies: [...policies].sort(), blocked };
}

/** What the guardrail did, from the stop reason and the guardrail trace (input and output assessments). */
export function guardrailOutcome(
  stopReason: StopReason,
  trace: GuardrailTraceAssessment | undefined,
): GuardrailOutcome {
  const { policies } = assessedPolicies([
    ...Object.values(trace?.inputAssessment ?? {}),
    ...Object.values(trace?.outputAssessments ?? {}).flat(),
  ]);
  const intervened = stopReason === 'guardrail_intervened' || policies.length > 0;
  return { action: intervened ? 'INTERVENED' : 'NONE', policies };
}

function usageOf(
  request: ChatRequest,
  text: string,
  usage: { inputTokens?: number | undefined; outputTokens?: number | undefined } | undefined,
): TokenUsage {
  return {
    inputTokens: usage?.inputTokens ?? estimateChatTokens(request.system, request.messages),
    outputTokens: usage?.outputTokens ?? estimateTokens(text),
  };
}

/** Throws the error an event stream carries in-band (the SDK usually throws these itself). */
function throwIfError(event: ConverseStreamOutput): void {
  for (const [key, value] of Object.entries(event)) {
    if (key.endsWith('Exception') && value !== undefined) {
      if (value instanceof Error) throw value;
      const message: unknown = (value as { message?: unknown } | null)?.message;
      const error = new Error(typeof message === 'string' ? message : key);
      error.name = key.charAt(0).toUpperCase() + key.slice(1);
      throw error;
    }
  }
}

function parseEmbedding(body: Uint8Array): { embedding: number[]; tokens: number } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(body));
  } catch (error) {
    throw new ModelProviderError(`${LABEL} returned an unreadable embedding`, { cause: error });
  }
  const embedding = (parsed as { embedding?: unknown } | null)?.embedding;
  const tokens = (parsed as { inputTextTokenCount?: unknown } | null)?.inputTextTokenCount;
  if (!Array.isArray(embedding) || !embedding.every((x) => typeof x === 'number')) {
    throw new ModelProviderError(`${LABEL} returned an embedding in an unexpected shape`);
  }
  return { embedding, tokens: typeof tokens === 'number' ? tokens : 0 };
}

/** Bedrock as a `ModelProvider`: Converse, ConverseStream and Titan Text Embeddings v2. */
export class BedrockProvider implements ModelProvider {
  readonly name = 'bedrock' as const;
  readonly #client: BedrockRuntimeClient;
  readonly #retry: Omit<RetryOptions, 'signal' | 'label'>;
  readonly #concurrency: number;

  constructor(options: BedrockProviderOptions) {
    this.#client = options.client;
    this.#retry = options.retry ?? {};
    this.#concurrency = Math.max(
      1,
      Math.floor(options.embeddingConcurrency ?? DEFAULT_EMBEDDING_CONCURRENCY),
    );
  }

  #retryOptions(signal: AbortSignal | undefined): RetryOptions {
    return { ...this.#retry, signal, label: LABEL };
  }

  async chat(request: ChatRequest): Promise<ChatResult> {
    const input = converseInput(request);
    const response = await withRetry(
      (abortSignal) => this.#client.send(new ConverseCommand(input), { abortSignal }),
      this.#retryOptions(request.signal),
    );
    const content = response.output?.message?.content ?? [];
    let text = content.map((block) => block.text ?? '').join('');
    let stopReason = mapStopReason(response.stopReason);
    const format = request.responseFormat;
    if (format !== undefined) {
      const call = content.find((block) => block.toolUse?.name === format.name)?.toolUse;
      if (call !== undefined) {
        text = JSON.stringify(call.input ?? null);
        // The forced tool call is how a structured answer ends.
        if (response.stopReason === 'tool_use') stopReason = 'end_turn';
      } else if (stopReason !== 'guardrail_intervened' && stopReason !== 'content_filtered') {
        // A blocked answer keeps the text that replaces it; anything else without the object is a failure.
        throw new ModelProviderError(
          `${LABEL} returned no ${format.name} object (stop reason: ${response.stopReason ?? 'none'})`,
        );
      }
    }
    return {
      text,
      usage: usageOf(request, text, response.usage),
      stopReason,
      provider: 'bedrock',
      modelId: request.modelId,
      ...(request.guardrail === undefined
        ? {}
        : { guardrail: guardrailOutcome(stopReason, response.trace?.guardrail) }),
    };
  }

  async *chatStream(request: ChatRequest): AsyncGenerator<ChatStreamEvent> {
    if (request.responseFormat !== undefined) {
      throw new ValidationError('responseFormat', 'is supported by non-streamed chat only');
    }
    const input = converseInput(request);
    const events = await withRetryUntilOutput(
      async (abortSignal): Promise<AsyncIterable<ConverseStreamOutput>> => {
        const response = await this.#client.send(new ConverseStreamCommand(input), { abortSignal });
        if (response.stream === undefined) throw new ModelProviderError(`${LABEL} returned no stream`);
        return response.stream;
      },
      (event) => {
        throwIfError(event);
        return event.contentBlockDelta?.delta?.text ? 'output' : 'other';
      },
      this.#retryOptions(request.signal),
    );
    let text = '';
    let stopReason: StopReason = 'other';
    let usage: { inputTokens?: number | undefined; outputTokens?: number | undefined } | undefined;
    let trace: GuardrailTraceAssessment | undefined;
    for await (const event of events) {
      const delta = event.contentBlockDelta?.delta?.text;
      if (delta) {
        text += delta;
        yield { type: 'delta', text: delta };
      } else if (event.messageStop !== undefined) {
        stopReason = mapStopReason(event.messageStop.stopReason);
      } else if (event.metadata !== undefined) {
        usage = event.metadata.usage;
        trace = event.metadata.trace?.guardrail ?? trace;
      }
    }
    const result: ChatResult = {
      text,
      usage: usageOf(request, text, usage),
      stopReason,
      provider: 'bedrock',
      modelId: request.modelId,
      ...(request.guardrail === undefined ? {} : { guardrail: guardrailOutcome(stopReason, trace) }),
    };
    yield { type: 'done', result };
  }

  async embed(request: EmbedRequest): Promise<EmbedResult> {
    const modelId = request.modelId === '' ? DEFAULT_EMBEDDING_MODEL_ID : request.modelId;
    const dimensions = request.dimensions ?? DEFAULT_EMBEDDING_DIMENSIONS;
    const normalize = request.normalize ?? true;
    request.texts.forEach((text, i) => {
      if (text.trim() === '') throw new ValidationError(`texts.${i}`, 'must not be empty');
    });
    const vectors: number[][] = new Array(request.texts.length);
    let inputTokens = 0;
    // One failure stops the others: no new calls start, and calls in flight are aborted.
    const stop = new AbortController();
    const signal =
      request.signal === undefined ? stop.signal : AbortSignal.any([request.signal, stop.signal]);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < request.texts.length && !stop.signal.aborted) {
        const index = next++;
        const body = JSON.stringify({ inputText: request.texts[index], dimensions, normalize });
        const response = await withRetry(
          (abortSignal) =>
            this.#client.send(
              new InvokeModelCommand({
                modelId,
                contentType: 'application/json',
                accept: 'application/json',
                body,
              }),
              { abortSignal },
            ),
          this.#retryOptions(signal),
        );
        const { embedding, tokens } = parseEmbedding(response.body);
        vectors[index] = embedding;
        inputTokens += tokens;
      }
    };
    const workers = Math.min(this.#concurrency, request.texts.length);
    try {
      await Promise.all(Array.from({ length: workers }, worker));
    } catch (error) {
      stop.abort();
      throw error;
    }
    return {
      vectors,
      dimensions: vectors[0]?.length ?? dimensions,
      usage: { inputTokens },
      provider: 'bedrock',
      modelId,
    };
  }
}
