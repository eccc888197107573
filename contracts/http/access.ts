import * as z from 'zod/mini';

/**
 * What one app (one API key) may use: which prompts, models and RAG collections, whether it may chat
 * without a prompt, and how many tokens a day. The stack passes every app's access to the API functions
 * as `APP_ACCESS` (a JSON object of app name → access); an app that is not in it may use nothing.
 *
 * Patterns are names in which `*` stands for any run of characters (none included) and every other
 * character stands for itself: `support-*`, `nova-*`, `dataset:faq-*`, or `*` for everything.
 */

/** 1-200 printable ASCII characters, no spaces; `*` is the only special character. */
export const ACCESS_PATTERN = /^[!-~]{1,200}$/;

const PATTERN_RULE = 'must be 1-200 printable characters without spaces ("*" matches any run of them)';

export const accessPattern = z.string().check(z.regex(ACCESS_PATTERN, PATTERN_RULE));

const patterns = z.array(accessPattern).check(z.maxLength(100, 'must list at most 100 patterns'));

export const appAccess = z.strictObject({
  /** Prompt name patterns (`support-*`): the prompts the app may read and chat through. */
  prompts: patterns,
  /** Catalog model id patterns (`nova-*`, `claude-haiku-4-5`): the models it may list, pick and call. */
  models: patterns,
  /** RAG collection patterns (`upload`, `dataset:*`, `dataset:faq`): what its searches may return. */
  collections: patterns,
  /** Whether it may call chat without a prompt reference, with its own system prompt and messages. */
  rawChat: z.boolean(),
  /**
   * Tenant id patterns the app may act for (`x-tenant-id`); absent: any tenant. A request naming another
   * tenant is refused (403) before anything is read.
   */
  tenants: z.optional(patterns),
  /** Tokens (input and output) per UTC day, over all its chat calls; `null`: no limit. */
  tokensPerDay: z.nullable(z.int().check(z.gte(0, 'must be a whole number, at least 0'))),
});
export type AppAccess = z.infer<typeof appAccess>;

/** The access of an app that is not configured: nothing at all. */
export const DENY_ALL: AppAccess = Object.freeze({
  prompts: [],
  models: [],
  collections: [],
  rawChat: false,
  tokensPerDay: 0,
}) as AppAccess;

/**
 * Parses `APP_ACCESS`: a JSON object of app name → {@link AppAccess}. Absent or empty: no app is
 * configured (every app may use nothing).
 * @throws Error naming the app and the field at fault (the function fails at cold start).
 */
export function parseAppAccess(value: string | undefined): Record<string, AppAccess> {
  if (value === undefined || value === '') return {};
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    throw new Error('APP_ACCESS must be a JSON object of app name to access');
  }
  const result = z.record(z.string(), appAccess).safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = (issue?.path ?? []).map(String).join('.');
    throw new Error(`APP_ACCESS${path ? `.${path}` : ''}: ${issue?.message ?? 'is invalid'}`);
  }
  return result.data;
}
