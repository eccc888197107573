import * as z from 'zod/mini';

/**
 * Function environments are contracts: each handler exports the shape of the environment it reads
 * (`export const environment = { NAME: envVar.string(), … }`), the stack's bind helpers set those
 * variables, and an infrastructure test checks, for every function, that the synthesized
 * `Environment.Variables` provide exactly that shape. Written with `zod/mini`, so that it costs API
 * handlers a few KiB of bundle rather than the whole of zod.
 */
export type EnvironmentShape = z.core.$ZodLooseShape;

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

/** The variables of a shape, split into those a function needs and those it may do without. */
export function environmentVariables(shape: EnvironmentShape): { required: string[]; optional: string[] } {
  const required: string[] = [];
  const optional: string[] = [];
  for (const [name, schema] of Object.entries(shape)) {
    if (z.safeParse(schema, undefined).success) optional.push(name);
    else required.push(name);
  }
  return { required: required.sort(), optional: optional.sort() };
}
