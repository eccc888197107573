import { MAX_PAGE_TOKEN_LENGTH, PAGE_TOKEN } from '#contracts/http/schemas.ts';
import { ValidationError } from './errors.ts';

/**
 * Pagination cursors (`nextToken`): opaque to callers, checked in full before they reach DynamoDB.
 *
 * A cursor is the base64url of `{"v":1,"l":<listing>,"q":<query>,"k":<key>}`: the DynamoDB key the page
 * ended at (`LastEvaluatedKey`), the listing it came from (`rag-documents`, `prompt-versions`) and the
 * query that listing answered (collection and status filter, prompt name). A token is accepted only for
 * the same listing and the same query, and only when its key has exactly the shape of the table's (or
 * index's) key schema, within the partition being listed: a forged, truncated or replayed token is a 400
 * naming the parameter, never an `ExclusiveStartKey` that DynamoDB refuses with a 5xx.
 *
 * Should DynamoDB still refuse a start key that passed these checks, {@link withCursor} turns its
 * `ValidationException` into the same 400.
 */

/** DynamoDB's limits on key attribute values, in UTF-8 bytes. */
export const PARTITION_KEY_MAX_BYTES = 2048;
export const SORT_KEY_MAX_BYTES = 1024;

const FORMAT = 1;

/** A start key: key attribute name → string value (every key attribute of the project's tables is a string). */
export type CursorKey = Readonly<Record<string, string>>;

export interface CursorSpec {
  /** Which listing issued the token. */
  readonly listing: string;
  /** The query the listing answers; a token is only valid for the same values (undefined: not given). */
  readonly query: Readonly<Record<string, string | undefined>>;
  /** The request parameter the token travels in, named by the 400. */
  readonly field: string;
  /** The key's exact shape: the key when it is one this listing can have ended at, else undefined. */
  readonly key: (key: Readonly<Record<string, unknown>>) => CursorKey | undefined;
}

/** One key attribute's rule: its size limit, and optionally its exact value, prefix or pattern. */
export interface KeyAttributeRule {
  readonly maxBytes: number;
  readonly equals?: string;
  readonly prefix?: string;
  readonly pattern?: RegExp;
}

/**
 * The key when it has exactly these attributes, each a non-empty string within its rule; else undefined.
 */
export function exactKey(
  key: Readonly<Record<string, unknown>>,
  rules: Readonly<Record<string, KeyAttributeRule>>,
): CursorKey | undefined {
  const names = Object.keys(rules);
  if (Object.keys(key).length !== names.length) return undefined;
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = Object.hasOwn(key, name) ? key[name] : undefined;
    const rule = rules[name] as KeyAttributeRule;
    if (typeof value !== 'string' || value === '') return undefined;
    if (Buffer.byteLength(value, 'utf8') > rule.maxBytes) return undefined;
    if (rule.equals !== undefined && value !== rule.equals) return undefined;
    if (rule.prefix !== undefined && (!value.startsWith(rule.prefix) || value === rule.prefix))
      return undefined;
    if (rule.pattern !== undefined && !rule.pattern.test(value)) return undefined;
    out[name] = value;
  }
  return out;
}

/** The query as one canonical string: defined entries, sorted by name. */
function canonicalQuery(query: Readonly<Record<string, string | undefined>>): string {
  return JSON.stringify(
    Object.entries(query)
      .filter(([, value]) => value !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

/** The token that resumes `spec`'s listing after `key` (a page's `LastEvaluatedKey`). */
export function encodeCursor(
  spec: Pick<CursorSpec, 'listing' | 'query'>,
  key: Readonly<Record<string, unknown>>,
): string {
  const envelope = { v: FORMAT, l: spec.listing, q: canonicalQuery(spec.query), k: key };
  return Buffer.from(JSON.stringify(envelope), 'utf8').toString('base64url');
}

/**
 * The start key of a token `spec`'s listing issued for the same query.
 * @throws ValidationError naming `spec.field` for anything else.
 */
export function decodeCursor(spec: CursorSpec, token: string): CursorKey {
  const refuse = () =>
    new ValidationError(
      spec.field,
      'is not a token this listing returned for this query; list again without it',
    );
  if (token.length === 0 || token.length > MAX_PAGE_TOKEN_LENGTH || !PAGE_TOKEN.test(token)) throw refuse();
  let envelope: unknown;
  try {
    envelope = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw refuse();
  }
  if (!isRecord(envelope) || Object.keys(envelope).length !== 4) throw refuse();
  const { v, l, q, k } = envelope;
  if (v !== FORMAT || l !== spec.listing || q !== canonicalQuery(spec.query) || !isRecord(k)) throw refuse();
  const key = spec.key(k);
  if (key === undefined) throw refuse();
  return key;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether an error is DynamoDB refusing a request's parameters (a 400 from the service). */
export function isValidationException(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'ValidationException';
}

/**
 * Runs a read that starts at a caller's token: DynamoDB refusing it (`ValidationException`) is the
 * caller's 400 on `field`, not a 5xx. Without a token, errors pass through unchanged.
 */
export async function withCursor<T>(
  field: string,
  token: string | undefined,
  read: () => Promise<T>,
): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (token !== undefined && isValidationException(error)) {
      throw new ValidationError(
        field,
        'is not a token this listing returned for this query; list again without it',
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}
