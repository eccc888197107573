/**
 * OpenAI's chat completions dialect, translated to the model gateway's input and back: pure functions,
 * no I/O. `POST /v1/chat/completions` parses with `chatCompletionRequest`, translates with
 * {@link toGatewayChat}, and answers with {@link toChatCompletion} or, streamed, with the chunk builders.
 */
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessage,
  ChatCompletionRequest,
  FinishReason,
  LlmopsAnswer,
} from '#contracts/http/openai.ts';
import type { GatewayChatInput, GatewayChatResponse, GatewayChatTurn } from '#contracts/http/schemas.ts';
import { ValidationError } from '../errors.ts';

/** The `id` of a completion: OpenAI's prefix and the interaction id. */
export function completionId(interactionId: string): string {
  return `chatcmpl-${interactionId}`;
}

/** OpenAI's `finish_reason` of a gateway stop reason. */
export function finishReasonOf(stopReason: string): FinishReason {
  switch (stopReason) {
    case 'max_tokens':
      return 'length';
    case 'guardrail_intervened':
    case 'content_filtered':
      return 'content_filter';
    default:
      // end_turn, stop_sequence, and answers that ended on their own (other, no_relevant_context).
      return 'stop';
  }
}

const nonEmpty = (value: unknown): boolean =>
  value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0);

/**
 * Refuses what would change the answer's meaning and cannot be honoured, naming the field: tool and
 * function calling, several choices, log probabilities, structured output, audio, predicted outputs.
 * @throws ValidationError
 */
function refuseUnsupported(body: ChatCompletionRequest): void {
  const refuse = (field: string, rule: string): never => {
    throw new ValidationError(field, rule);
  };
  if (body.n != null && body.n !== 1) refuse('n', 'must be 1: one choice per request is served');
  if (body.logprobs === true) refuse('logprobs', 'log probabilities are not available');
  if (body.top_logprobs != null && body.top_logprobs > 0) {
    refuse('top_logprobs', 'log probabilities are not available');
  }
  if (body.response_format != null && body.response_format.type !== 'text') {
    refuse('response_format.type', `must be "text": structured output is not supported`);
  }
  if (nonEmpty(body.tools)) refuse('tools', 'tool calling is not supported');
  if (body.tool_choice != null && body.tool_choice !== 'none') {
    refuse('tool_choice', 'tool calling is not supported');
  }
  if (nonEmpty(body.functions)) refuse('functions', 'function calling is not supported');
  if (body.function_call != null && body.function_call !== 'none') {
    refuse('function_call', 'function calling is not supported');
  }
  if (body.modalities?.some((modality) => modality !== 'text')) {
    refuse('modalities', 'must be ["text"]: only text output is served');
  }
  if (body.audio != null) refuse('audio', 'audio output is not supported');
  if (body.prediction != null) refuse('prediction', 'predicted outputs are not supported');
}

/** A message's text: a string, or its text parts joined by new lines. */
function textOf(message: ChatCompletionMessage, i: number): string {
  const { content } = message;
  if (content === undefined || content === null) {
    throw new ValidationError(`messages.${i}.content`, 'is required (text, or an array of text parts)');
  }
  let text: string;
  if (typeof content === 'string') {
    text = content;
  } else {
    const parts = content.map((part, j) => {
      if (part.type !== 'text') {
        throw new ValidationError(
          `messages.${i}.content.${j}.type`,
          `must be "text": only text parts are served (got "${part.type.slice(0, 40)}")`,
        );
      }
      if (part.text === undefined)
        throw new ValidationError(`messages.${i}.content.${j}.text`, 'is required');
      return part.text;
    });
    text = parts.join('\n');
  }
  if (text.trim() === '')
    throw new ValidationError(`messages.${i}.content`, 'must contain non-whitespace text');
  return text;
}

function turnOf(message: ChatCompletionMessage, i: number): GatewayChatTurn {
  if (message.role === 'tool' || message.role === 'function') {
    throw new ValidationError(
      `messages.${i}.role`,
      `"${message.role}" messages are not supported: this API does no tool calling`,
    );
  }
  if (nonEmpty(message.tool_calls)) {
    throw new ValidationError(`messages.${i}.tool_calls`, 'tool calling is not supported');
  }
  if (message.function_call != null) {
    throw new ValidationError(`messages.${i}.function_call`, 'function calling is not supported');
  }
  const role = message.role === 'developer' ? 'system' : message.role;
  return { role, content: textOf(message, i) };
}

/**
 * The gateway's input for a chat completion request: `system` and `developer` messages become the
 * system instructions (or, with `llmops.prompt`, are refused: the prompt supplies them), the others the
 * conversation; `llmops` carries the prompt, its variables and retrieval.
 * @throws ValidationError naming the OpenAI field at fault.
 */
export function toGatewayChat(body: ChatCompletionRequest): GatewayChatInput {
  refuseUnsupported(body);
  const messages = body.messages.map(turnOf);
  const extension = body.llmops;
  if (messages.length === 0 && extension?.prompt === undefined) {
    throw new ValidationError(
      'messages',
      'must hold at least one message (or name a prompt in llmops.prompt)',
    );
  }
  if (extension?.variables !== undefined && extension.prompt === undefined) {
    throw new ValidationError('llmops.variables', 'fill the variables of a prompt: set llmops.prompt too');
  }
  const stop = body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  return {
    route: 'chat.completions',
    model: body.model,
    messages,
    ...(extension?.prompt !== undefined ? { prompt: extension.prompt } : {}),
    ...(extension?.variables !== undefined ? { variables: extension.variables } : {}),
    ...(extension?.rag !== undefined ? { rag: extension.rag } : {}),
    ...(body.stream === true ? { stream: true } : {}),
    ...(maxTokens != null ? { maxTokens } : {}),
    ...(body.temperature != null ? { temperature: body.temperature } : {}),
    ...(body.top_p != null ? { topP: body.top_p } : {}),
    ...(stop.length > 0 ? { stop } : {}),
  };
}

/** The OpenAI field of a gateway field: the project's features sit under `llmops`. */
export function openAiField(
  field: string,
  body: Pick<ChatCompletionRequest, 'max_completion_tokens'>,
): string {
  const [head] = field.split('.');
  if (head === 'prompt' || head === 'variables' || head === 'rag') return `llmops.${field}`;
  if (field === 'maxTokens')
    return body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  if (field === 'topP') return 'top_p';
  return field;
}

/**
 * A gateway `ValidationError` re-addressed to the OpenAI field (same class, same rule); anything else
 * as it is.
 */
export function inOpenAiTerms(
  error: unknown,
  body: Pick<ChatCompletionRequest, 'max_completion_tokens'>,
): unknown {
  if (!(error instanceof ValidationError)) return error;
  const field = openAiField(error.field, body);
  if (field === error.field) return error;
  const Class = error.constructor as new (
    field: string,
    rule: string,
    options?: { cause?: unknown },
  ) => Error;
  return new Class(field, error.rule, { cause: error });
}

/** OpenAI's usage object of a gateway answer. */
export function completionUsageOf(usage: GatewayChatResponse['usage']): ChatCompletion['usage'] {
  return {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
}

/** The `llmops` extension of an answer. */
export function llmopsAnswerOf(response: GatewayChatResponse): LlmopsAnswer {
  return {
    interactionId: response.interactionId,
    costUsd: response.usage.costUsd,
    stopReason: response.stopReason,
    prompt: response.prompt,
    ...(response.guardrail !== undefined ? { guardrail: response.guardrail } : {}),
    ...(response.citations !== undefined ? { citations: response.citations } : {}),
    ...(response.served !== undefined ? { served: response.served } : {}),
  };
}

/** A `chat.completion` of a gateway answer; `created` in epoch seconds. */
export function toChatCompletion(response: GatewayChatResponse, created: number): ChatCompletion {
  return {
    id: completionId(response.interactionId),
    object: 'chat.completion',
    created,
    model: response.model.id,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: response.answer, refusal: null },
        finish_reason: finishReasonOf(response.stopReason),
        logprobs: null,
      },
    ],
    usage: completionUsageOf(response.usage),
    llmops: llmopsAnswerOf(response),
  };
}

/** What every chunk of one streamed completion repeats. */
export interface ChunkHead {
  readonly id: string;
  /** Epoch seconds. */
  readonly created: number;
  readonly model: string;
}

function chunk(
  head: ChunkHead,
  choices: ChatCompletionChunk['choices'],
  extra: Pick<ChatCompletionChunk, 'usage' | 'llmops'> = {},
): ChatCompletionChunk {
  return {
    id: head.id,
    object: 'chat.completion.chunk',
    created: head.created,
    model: head.model,
    choices,
    ...extra,
  };
}

/** The first chunk: the assistant's role, no text yet. */
export function roleChunk(head: ChunkHead): ChatCompletionChunk {
  return chunk(head, [
    { index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null },
  ]);
}

/** A piece of the answer's text. */
export function contentChunk(head: ChunkHead, text: string): ChatCompletionChunk {
  return chunk(head, [{ index: 0, delta: { content: text }, finish_reason: null, logprobs: null }]);
}

/** The chunk that ends the choice: its `finish_reason`, and the `llmops` extension of the whole answer. */
export function finishChunk(head: ChunkHead, response: GatewayChatResponse): ChatCompletionChunk {
  return chunk(
    head,
    [{ index: 0, delta: {}, finish_reason: finishReasonOf(response.stopReason), logprobs: null }],
    { llmops: llmopsAnswerOf(response) },
  );
}

/** The last chunk with `stream_options.include_usage`: no choice, the usage of the whole answer. */
export function usageChunk(head: ChunkHead, response: GatewayChatResponse): ChatCompletionChunk {
  return chunk(head, [], { usage: completionUsageOf(response.usage) });
}
