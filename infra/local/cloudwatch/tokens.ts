/**
 * One linear lexer for the two small alarm languages read locally, composite alarm rules
 * (`ALARM("name") AND NOT OK(other)`) and simple Metrics Insights queries
 * (`SELECT SUM(Metric) FROM "Namespace" WHERE Dim = 'v'`): words, quoted strings (double or single quotes,
 * no escapes) and the punctuation `(`, `)`, `,` and `=`, each with its position for error messages.
 */

/** A token and the position (0-based) where it starts. */
export type Token =
  | { readonly kind: 'word'; readonly text: string; readonly at: number }
  | { readonly kind: 'string'; readonly text: string; readonly quote: '"' | "'"; readonly at: number }
  | { readonly kind: 'punct'; readonly text: '(' | ')' | ',' | '='; readonly at: number };

/** A rule or query that cannot be read; the message names the position. */
export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly expression: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position} of ${JSON.stringify(expression)}`);
    this.name = 'ExpressionError';
  }
}

const PUNCTUATION = new Set(['(', ')', ',', '=']);
const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r';

/** Splits `text` into tokens (one pass). @throws ExpressionError on an unterminated string. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (isSpace(c)) {
      i++;
    } else if (PUNCTUATION.has(c)) {
      tokens.push({ kind: 'punct', text: c as '(' | ')' | ',' | '=', at: i });
      i++;
    } else if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0)
        throw new ExpressionError(`Unterminated ${c === '"' ? 'double' : 'single'}-quoted string`, text, i);
      tokens.push({ kind: 'string', text: text.slice(i + 1, end), quote: c, at: i });
      i = end + 1;
    } else {
      const start = i;
      while (i < text.length) {
        const d = text[i] as string;
        if (isSpace(d) || PUNCTUATION.has(d) || d === '"' || d === "'") break;
        i++;
      }
      tokens.push({ kind: 'word', text: text.slice(start, i), at: start });
    }
  }
  return tokens;
}
