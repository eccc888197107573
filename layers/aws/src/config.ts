import * as z from 'zod/mini';
import { ConfigError } from './errors.ts';

/**
 * Reads and validates environment variables once (call at module scope, i.e. at cold start).
 * Fails fast with an error naming every missing or malformed variable. Written with `zod/mini` so that
 * it costs API handlers a few KiB of bundle rather than the whole of zod.
 */
export function readConfig<S extends z.core.$ZodLooseShape>(
  shape: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<z.ZodMiniObject<S>> {
  const result = z.object(shape).safeParse(env);
  if (!result.success) {
    throw new ConfigError(`Invalid function configuration: ${describeIssues(result.error, '(env)')}`);
  }
  return result.data;
}

/** One line naming each failing field path and its rule: `source.etag: is required; parts: ...`. */
export function describeIssues(error: z.core.$ZodError, root = '(root)'): string {
  return error.issues.map((issue) => `${issue.path.join('.') || root}: ${issue.message}`).join('; ');
}

const required = { error: 'is required' };

/** Schema helpers for environment variables, which are always strings. */
export const envVar = {
  string: () => z.string(required).check(z.minLength(1, { error: 'must not be empty' })),
  int: (min = 0) =>
    z.pipe(
      z.string(required).check(z.regex(/^\d+$/, { error: 'must be a whole number' })),
      z.pipe(z.transform(Number), z.number().check(z.minimum(min, { error: `must be at least ${min}` }))),
    ),
  ratio: () =>
    z.pipe(
      z.string(required),
      z.pipe(
        z.transform(Number),
        z
          .number({ error: 'must be a number' })
          .check(
            z.minimum(0, { error: 'must be between 0 and 1' }),
            z.maximum(1, { error: 'must be between 0 and 1' }),
          ),
      ),
    ),
  bool: (defaultValue: boolean) =>
    z.pipe(
      z.optional(z.enum(['true', 'false'], { error: "must be 'true' or 'false'" })),
      z.transform((v: 'true' | 'false' | undefined) => (v === undefined ? defaultValue : v === 'true')),
    ),
  /** Optional string: absent or empty is `undefined`. */
  optionalString: () =>
    z.pipe(
      z.optional(z.string()),
      z.transform((v: string | undefined) => (v === undefined || v === '' ? undefined : v)),
    ),
};
