/**
 * Where a local evaluation's answers come from: the local API (the gateway code path: `POST /v1/chat`
 * through a versioned prompt, or `POST /v1/chat/completions` with a model), or a file of predictions made
 * elsewhere (bring your own responses: nothing is generated).
 */
import { readFileSync } from 'node:fs';
import { parsePredictions, predictedAnswer } from '#core/eval/predictions.ts';
import { questionOf } from '#core/eval/run.ts';
import type { EvalAnswer, EvalItem } from '#core/eval/types.ts';
import type { LocalApiClient } from '../api-client.ts';
import { localRagOptions } from '../rag-demo.ts';

/** Retrieval options of an evaluated target (`--rag`). */
export interface EvalRag {
  readonly k: number;
}

/** What is evaluated: a prompt reference (through `/v1/chat`) or a catalog model (`/v1/chat/completions`). */
export interface ApiTarget {
  readonly prompt?: string;
  readonly model?: string;
  readonly rag?: EvalRag;
}

interface ChatAnswer {
  readonly answer: string;
  readonly usage: { readonly inputTokens: number; readonly outputTokens: number; readonly costUsd: number };
  readonly latencyMs: number;
  readonly citations?: readonly { readonly docId: string; readonly chunkId: string }[];
}

interface Completion {
  readonly choices: readonly { readonly message: { readonly content: string | null } }[];
  readonly usage: { readonly prompt_tokens: number; readonly completion_tokens: number };
  readonly llmops?: {
    readonly costUsd?: number;
    readonly citations?: readonly { readonly docId: string; readonly chunkId: string }[];
  };
}

interface SearchResult {
  readonly results: readonly { readonly docId: string; readonly chunkId: string; readonly text: string }[];
}

/**
 * Answers each item through the local API. With a prompt, the item's last user turn fills the prompt's
 * `question` variable; without one, the item's whole conversation goes to `/v1/chat/completions`. With
 * `rag`, the passages the answer was given are read back with `POST /v1/rag/search` (same query and
 * options, so the same passages), each with its document id for context precision and recall.
 */
export function apiAnswers(
  client: LocalApiClient,
  target: ApiTarget,
): (item: EvalItem) => Promise<EvalAnswer> {
  const rag = target.rag === undefined ? undefined : localRagOptions({ k: target.rag.k });
  return async (item) => {
    const started = performance.now();
    const question = questionOf(item);
    let answer: string;
    let usage: EvalAnswer['usage'];
    if (target.prompt !== undefined) {
      const reply = await client.call<ChatAnswer>(`chat ${item.id}`, 'POST', '/v1/chat', {
        prompt: target.prompt,
        variables: { question },
        ...(target.model !== undefined ? { model: target.model } : {}),
        ...(rag ? { rag } : {}),
      });
      answer = reply.answer;
      usage = reply.usage;
    } else {
      const reply = await client.call<Completion>(
        `chat completion ${item.id}`,
        'POST',
        '/v1/chat/completions',
        {
          ...(target.model !== undefined ? { model: target.model } : {}),
          messages: item.messages,
          ...(rag ? { llmops: { rag } } : {}),
        },
      );
      answer = reply.choices[0]?.message.content ?? '';
      usage = {
        inputTokens: reply.usage.prompt_tokens,
        outputTokens: reply.usage.completion_tokens,
        costUsd: reply.llmops?.costUsd ?? 0,
      };
    }
    const latencyMs = performance.now() - started;
    const contexts =
      rag === undefined
        ? undefined
        : (
            await client.call<SearchResult>(`search ${item.id}`, 'POST', '/v1/rag/search', {
              query: question,
              ...rag,
            })
          ).results.map((r) => ({ id: r.docId, text: r.text }));
    return {
      itemId: item.id,
      answer,
      latencyMs,
      ...(usage ? { usage } : {}),
      ...(contexts ? { contexts } : {}),
    };
  };
}

/**
 * Answers from a predictions file (`#core/eval/predictions.ts`). An item without a prediction fails
 * (named), never scores 0.
 * @throws ValidationError naming the line of a malformed prediction or a duplicate id.
 */
export function predictedAnswers(path: string): (item: EvalItem) => Promise<EvalAnswer> {
  const predictions = parsePredictions(readFileSync(path, 'utf8'), path);
  return async (item) => predictedAnswer(predictions, item);
}
