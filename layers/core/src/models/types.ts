/**
 * The model-provider contract: one interface for chat, streaming chat and embeddings, whichever service
 * serves the model (Bedrock, a SageMaker endpoint, or the offline provider of the local run and tests).
 * No AWS imports here: adapters live in `layers/aws/src/models/`.
 */

/** Which service a catalog model is served by. */
export type ProviderName = 'bedrock' | 'sagemaker' | 'offline';

/** One turn of a conversation. System instructions travel separately, in `ChatRequest.system`. */
export interface ChatMessage {
  readonly role: 'user' | 'assistant';
  readonly content: string;
}

/** Where a Bedrock Guardrail is applied to a call. */
export interface GuardrailRef {
  readonly id: string;
  readonly version: string;
}

export interface ChatRequest {
  /** Bedrock model id or inference profile id/ARN; SageMaker endpoint name; the offline model's id. */
  readonly modelId: string;
  /** SageMaker only: the inference component that serves the model on a shared endpoint. */
  readonly inferenceComponent?: string;
  readonly system?: string;
  readonly messages: readonly ChatMessage[];
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly topP?: number;
  readonly stopSequences?: readonly string[];
  /** Bedrock only: the guardrail applied to input and output. */
  readonly guardrail?: GuardrailRef;
  /**
   * Retrieved passages the answer must be grounded in (RAG). Bedrock sends them as guardrail grounding
   * sources (contextual grounding check); the offline provider answers extractively from them.
   */
  readonly context?: readonly string[];
  /**
   * Structured output: the answer is one JSON object that matches `schema` (a JSON Schema object),
   * returned as JSON text in `ChatResult.text`. Bedrock forces a call of a tool named `name` whose
   * input schema is `schema` (Converse `toolChoice`: Anthropic Claude 3 and later, Amazon Nova), for
   * non-streamed calls only (streaming with it is a ValidationError). Providers without a way to force
   * the shape answer as usual, so callers still validate the text against their own schema.
   */
  readonly responseFormat?: {
    /** The tool's name (Bedrock: 1-64 letters, digits, `_` or `-`). */
    readonly name: string;
    /** What the object is, for the model. */
    readonly description: string;
    /** A JSON Schema object, `{ type: 'object', properties: ... }`. */
    readonly schema: Record<string, unknown>;
  };
  /** Aborts the call (the API's own timeout, a client that went away). */
  readonly signal?: AbortSignal;
}

export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

/** What a guardrail did to a call; `policies` names each policy that intervened (e.g. `contentPolicy:PROMPT_ATTACK`). */
export interface GuardrailOutcome {
  readonly action: 'NONE' | 'INTERVENED';
  readonly policies: readonly string[];
}

/**
 * The content policy applied by the gateway itself, whatever serves the model (Bedrock ApplyGuardrail
 * on AWS, a deterministic local policy offline): caller-supplied text through the input policy, and the
 * answers of providers that cannot attach the guardrail to the call through the output policy.
 */
export interface ContentGuard {
  /** Assesses texts as INPUT; `INTERVENED` means the request must not reach the model. */
  checkInput(texts: readonly string[], signal?: AbortSignal): Promise<GuardVerdict>;
  /** Assesses a model's answer (or a piece of it) as OUTPUT. */
  checkOutput(text: string, signal?: AbortSignal): Promise<GuardVerdict>;
}

/** What a content guard decided, and the text to show instead when it intervened. */
export interface GuardVerdict extends GuardrailOutcome {
  /** The guardrail's configured blocked message (INTERVENED only). */
  readonly replacement?: string;
}

export type StopReason =
  | 'end_turn'
  | 'max_tokens'
  | 'stop_sequence'
  | 'guardrail_intervened'
  | 'content_filtered'
  | 'other';

export interface ChatResult {
  readonly text: string;
  /** From the provider's usage fields (the offline provider counts its own, and says it is offline). */
  readonly usage: TokenUsage;
  readonly stopReason: StopReason;
  readonly provider: ProviderName;
  readonly modelId: string;
  readonly guardrail?: GuardrailOutcome;
}

/** A streamed answer: text deltas in order, then exactly one `done` carrying the whole result. */
export type ChatStreamEvent =
  | { readonly type: 'delta'; readonly text: string }
  | { readonly type: 'done'; readonly result: ChatResult };

export interface EmbedRequest {
  readonly modelId: string;
  readonly texts: readonly string[];
  /** Output dimension (Titan Text Embeddings v2: 256, 512 or 1024). */
  readonly dimensions?: number;
  /** L2-normalize the vectors. @default true */
  readonly normalize?: boolean;
  readonly signal?: AbortSignal;
}

export interface EmbedResult {
  /** One vector per input text, in input order. */
  readonly vectors: number[][];
  readonly dimensions: number;
  readonly usage: { readonly inputTokens: number };
  readonly provider: ProviderName;
  readonly modelId: string;
}

export interface ModelProvider {
  readonly name: ProviderName;
  chat(request: ChatRequest): Promise<ChatResult>;
  chatStream(request: ChatRequest): AsyncIterable<ChatStreamEvent>;
  embed(request: EmbedRequest): Promise<EmbedResult>;
}
