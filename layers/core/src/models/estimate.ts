/**
 * A fast, dependency-free upper estimate of how many tokens a text costs a model, used to refuse a
 * request that cannot fit a context window before any token is paid for. Exact tokenizers are model
 * specific (and o200k alone is 2.7 MiB of tables, too big for an API function), so this errs on the high
 * side: it splits text the way BPE pre-tokenizers do (letter runs, digit groups of up to three,
 * punctuation runs, whitespace) and charges long words and non-Latin scripts by length.
 * Measured against o200k on English prose, code, JSON, Cyrillic and Japanese it stays between 1.0x and
 * 1.4x of the exact count; degenerate input (one long repeated character, long digit runs) reaches 2x.
 */
const PIECE = /\p{L}+|\p{N}{1,3}|[^\s\p{L}\p{N}]+|\s+/gu;
const LATIN = /^[\p{Script=Latin}]+$/u;
const IDEOGRAPHIC = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Script=Thai}]/u;

export function estimateTokens(text: string): number {
  let tokens = 0;
  for (const match of text.matchAll(PIECE)) {
    const piece = match[0];
    const first = piece.charCodeAt(0);
    if (first === 32 || first === 10 || first === 9 || first === 13) {
      // Whitespace mostly merges into the next word; runs (indentation) cost about one per 4 chars.
      tokens += piece.length > 1 ? Math.ceil((piece.length - 1) / 4) : 0;
    } else if (LATIN.test(piece)) {
      tokens += piece.length <= 6 ? 1 : Math.ceil(piece.length / 4);
    } else if (IDEOGRAPHIC.test(piece)) {
      // CJK and Thai: about one token per character at worst.
      tokens += piece.length;
    } else if (/\p{L}/u.test(piece)) {
      // Other alphabets (Cyrillic, Greek, Arabic...): shorter merges than Latin.
      tokens += piece.length <= 4 ? 1 : Math.ceil(piece.length / 3);
    } else {
      // Digit groups and punctuation runs.
      tokens += Math.ceil(piece.length / 2);
    }
  }
  return tokens;
}

/** Estimated input tokens of a chat request: every message plus a few tokens of framing per turn. */
export function estimateChatTokens(
  system: string | undefined,
  messages: readonly { content: string }[],
): number {
  let total = system === undefined ? 0 : estimateTokens(system) + 4;
  for (const message of messages) total += estimateTokens(message.content) + 4;
  return total;
}
