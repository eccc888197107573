/** OpenAI's embeddings dialect: pure shaping of what the embeddings gateway returns. */
import type { EmbeddingsResponseBody } from '#contracts/http/openai.ts';

/** A vector as OpenAI's `base64` encoding writes it: little-endian float32, base64. */
export function base64Floats(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((value, i) => {
    bytes.writeFloatLE(value, i * 4);
  });
  return bytes.toString('base64');
}

/** What one embeddings call produced, as the embeddings gateway reports it. */
export interface EmbeddingsOutcome {
  readonly interactionId: string;
  /** The catalog id of the model. */
  readonly model: string;
  readonly vectors: readonly (readonly number[])[];
  readonly dimensions: number;
  readonly usage: { readonly inputTokens: number; readonly costUsd: number };
}

/** The `list` of embeddings OpenAI's clients read, in input order. */
export function toEmbeddingsResponse(
  outcome: EmbeddingsOutcome,
  encoding: 'float' | 'base64',
): EmbeddingsResponseBody {
  return {
    object: 'list',
    data: outcome.vectors.map((vector, index) => ({
      object: 'embedding',
      index,
      embedding: encoding === 'base64' ? base64Floats(vector) : [...vector],
    })),
    model: outcome.model,
    usage: { prompt_tokens: outcome.usage.inputTokens, total_tokens: outcome.usage.inputTokens },
    llmops: {
      interactionId: outcome.interactionId,
      costUsd: outcome.usage.costUsd,
      dimensions: outcome.dimensions,
    },
  };
}
