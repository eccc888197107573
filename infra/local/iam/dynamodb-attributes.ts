/**
 * The `dynamodb:Attributes` condition key of an item write, as the local IAM evaluation sets it: the
 * top-level attribute names the request names. For `PutItem`, the item's attributes; for `UpdateItem`,
 * the key's attributes and the first element of every document path in its update and condition
 * expressions (`#canary.#calls` names `canary`), aliases resolved through `ExpressionAttributeNames`.
 * Counting the condition's attributes too is the stricter reading: a policy that lists what a write
 * updates and what its condition reads admits it either way.
 */

/** Words of the expression grammar that are not attribute names (case-insensitive). */
const KEYWORDS = new Set(['set', 'remove', 'add', 'delete', 'and', 'or', 'not', 'between', 'in']);

/**
 * A path's first element: a name or `#alias` that does not follow `.`, `:`, `#`, `]` or a word
 * character (those are nested elements, values and the rest of a token).
 */
const PATH_START = /(?<![\w.:#\]])#?[A-Za-z_][\w]*/g;

/** Top-level attribute names of one expression (functions and keywords left out). */
export function expressionAttributes(
  expression: string,
  names: Readonly<Record<string, unknown>> = {},
): string[] {
  const out: string[] = [];
  for (const match of expression.matchAll(PATH_START)) {
    const token = match[0];
    const rest = expression.slice(match.index + token.length);
    if (/^\s*\(/.test(rest)) continue; // a function: attribute_exists(...), if_not_exists(...), size(...)
    if (!token.startsWith('#') && KEYWORDS.has(token.toLowerCase())) continue;
    const name = token.startsWith('#') ? names[token] : token;
    out.push(typeof name === 'string' ? name : token);
  }
  return out;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** `dynamodb:Attributes` of a `PutItem` input (sorted, unique). */
export function putItemAttributes(input: Readonly<Record<string, unknown>>): string[] {
  const names = record(input.ExpressionAttributeNames);
  const condition = typeof input.ConditionExpression === 'string' ? input.ConditionExpression : '';
  return unique([...Object.keys(record(input.Item)), ...expressionAttributes(condition, names)]);
}

/** `dynamodb:Attributes` of an `UpdateItem` input (sorted, unique). */
export function updateItemAttributes(input: Readonly<Record<string, unknown>>): string[] {
  const names = record(input.ExpressionAttributeNames);
  const expressions = [input.UpdateExpression, input.ConditionExpression].filter(
    (e): e is string => typeof e === 'string',
  );
  return unique([
    ...Object.keys(record(input.Key)),
    ...Object.keys(record(input.AttributeUpdates)),
    ...expressions.flatMap((e) => expressionAttributes(e, names)),
  ]);
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}
