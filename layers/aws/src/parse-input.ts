import * as z from 'zod/mini';
import { describeIssues } from './config.ts';
import { InvalidEventError } from './errors.ts';

/**
 * Parses a task's input, turning a schema failure into an error that names the field and the rule.
 * Takes a `zod` or a `zod/mini` schema.
 */
export function parseInput<S extends z.core.$ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const result = z.safeParse(schema, input);
  if (!result.success) throw new InvalidEventError(`Invalid ${what}: ${describeIssues(result.error)}`);
  return result.data;
}
