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

/**
 * Parses an environment variable that holds JSON (settings the stack computes at synthesis) with a
 * schema. @throws ConfigError naming the variable: `NAME is not JSON`, or `NAME: field: rule; ...`
 */
export function parseJsonVariable<S extends z.core.$ZodType>(
  name: string,
  schema: S,
  raw: string,
): z.infer<S> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new ConfigError(`${name} is not JSON`);
  }
  const parsed = z.safeParse(schema, value);
  if (!parsed.success) throw new ConfigError(`${name}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
