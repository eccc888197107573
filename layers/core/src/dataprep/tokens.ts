/**
 * Token counting with the o200k_base encoding. Statistics live in `token-stats.ts`.
 */
import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';

export { HISTOGRAM_GAMMA, TOKENIZER, TokenStats, type TokenStatsJSON } from './token-stats.ts';

// Special-token text such as `<|endoftext|>` is counted as ordinary text instead of throwing.
const AS_TEXT = { disallowedSpecial: new Set<string>() };

/** Number of o200k_base tokens in `text` (special-token strings count as plain text). */
export function countTokens(text: string): number {
  return countO200k(text, AS_TEXT);
}
