import { ValidationError } from '../errors.ts';
import type { ChatMessage } from './types.ts';

/**
 * A raw chat (a conversation with no versioned prompt, as OpenAI's clients send it): its system turns
 * become the system instructions, the other turns the conversation, in order.
 */
export interface ConversationTurn {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

export interface SplitConversation {
  /** The system turns, joined by a blank line; absent when there is none. */
  readonly system?: string;
  readonly messages: ChatMessage[];
}

/** How the passages of a raw chat with retrieval are introduced (a prompt places them itself, in `{{context}}`). */
export const RAW_CONTEXT_INSTRUCTIONS =
  'Answer using only the numbered passages below, and cite the passages you use as [n]. ' +
  'If the passages do not contain the answer, say that you do not know.';

/**
 * Splits turns into system instructions and conversation. With a prompt, which supplies the system
 * instructions, a system turn is refused.
 * @throws ValidationError (`messages.<i>.role`) for a system turn alongside a prompt.
 */
export function splitConversation(
  turns: readonly ConversationTurn[],
  options: { readonly withPrompt: boolean },
): SplitConversation {
  const system: string[] = [];
  const messages: ChatMessage[] = [];
  turns.forEach((turn, i) => {
    if (turn.role !== 'system') {
      messages.push({ role: turn.role, content: turn.content });
      return;
    }
    if (options.withPrompt) {
      throw new ValidationError(
        `messages.${i}.role`,
        'system messages cannot be combined with a prompt, which supplies the system instructions',
      );
    }
    system.push(turn.content);
  });
  return system.length > 0 ? { system: system.join('\n\n'), messages } : { messages };
}

/** The system instructions of a raw chat with retrieved passages: the caller's, then the passages. */
export function withContext(system: string | undefined, context: string): string {
  const passages = `${RAW_CONTEXT_INSTRUCTIONS}\n\n${context}`;
  return system === undefined ? passages : `${system}\n\n${passages}`;
}
