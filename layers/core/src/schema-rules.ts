import type * as z from 'zod/mini';

/**
 * The rule a zod issue broke, worded for a person ("must be number", "must have at least 1 items",
 * "unknown field colour"), without the path: callers name the field themselves. Works without a zod
 * locale, so `zod/mini` bundles stay small.
 */
export function describeRule(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `must be ${issue.expected}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
    case 'too_small':
      return issue.origin === 'array'
        ? `must have at least ${issue.minimum} items`
        : issue.origin === 'string'
          ? `must have at least ${issue.minimum} characters`
          : `must be at least ${issue.minimum}`;
    case 'too_big':
      return issue.origin === 'array'
        ? `must have at most ${issue.maximum} items`
        : issue.origin === 'string'
          ? `must have at most ${issue.maximum} characters`
          : `must be at most ${issue.maximum}`;
    default:
      return issue.message;
  }
}
