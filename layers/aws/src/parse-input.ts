import type { z } from 'zod';
import { describeIssues } from './config.ts';
import { InvalidEventError } from './errors.ts';

/** Parses a task's input, turning a schema failure into an error that names the field and the rule. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new InvalidEventError(`Invalid ${what}: ${describeIssues(result.error)}`);
  return result.data;
}
