import { createHash } from 'node:crypto';
import type { PromptDraft } from '#contracts/prompts/types.ts';

/**
 * JSON with object keys sorted at every level, so that two equal values always serialize to the same
 * text. `undefined` object fields are dropped (as `JSON.stringify` does); arrays keep their order.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const field = (value as Record<string, unknown>)[key];
    if (field !== undefined) sorted[key] = sortKeys(field);
  }
  return sorted;
}

/**
 * SHA-256 (hex) of what a prompt version renders and runs with: its messages, variables and model
 * parameters. The commit message is left out, so re-committing the same content gives the same hash.
 */
export function contentHash(draft: Pick<PromptDraft, 'messages' | 'variables' | 'model'>): string {
  const content = { messages: draft.messages, variables: draft.variables, model: draft.model };
  return createHash('sha256').update(canonicalJson(content)).digest('hex');
}
