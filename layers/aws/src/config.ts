import { z } from 'zod';
import { ConfigError } from './errors.ts';

/**
 * Reads and validates environment variables once (call at module scope, i.e. at cold start).
 * Fails fast with an error naming every missing or malformed variable.
 */
export function readConfig<S extends z.ZodRawShape>(
  shape: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<z.ZodObject<S>> {
  const result = z.object(shape).safeParse(env);
  if (!result.success) {
    throw new ConfigError(`Invalid function configuration: ${describeIssues(result.error, '(env)')}`);
  }
  return result.data;
}

/** One line naming each failing field path and its rule: `source.etag: is required; parts: ...`. */
export function describeIssues(error: z.ZodError, root = '(root)'): string {
  return error.issues.map((issue) => `${issue.path.join('.') || root}: ${issue.message}`).join('; ');
}

/** Schema helpers for environment variables, which are always strings. */
export const envVar = {
  string: () => z.string({ error: 'is required' }).min(1, { error: 'must not be empty' }),
  int: (min = 0) =>
    z
      .string({ error: 'is required' })
      .regex(/^\d+$/, { error: 'must be a whole number' })
      .transform(Number)
      .pipe(z.number().int().min(min)),
  ratio: () =>
    z
      .string({ error: 'is required' })
      .transform(Number)
      .pipe(
        z
          .number({ error: 'must be a number' })
          .min(0, { error: 'must be between 0 and 1' })
          .max(1, { error: 'must be between 0 and 1' }),
      ),
  bool: (defaultValue: boolean) =>
    z
      .enum(['true', 'false'], { error: "must be 'true' or 'false'" })
      .optional()
      .transform((v) => (v === undefined ? defaultValue : v === 'true')),
};
