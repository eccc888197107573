import * as z from 'zod/mini';

/**
 * A schema of the API as JSON Schema, without `$schema`: API Gateway request models use draft 4, the
 * OpenAPI document OpenAPI 3.0. Generated as input (`io: 'input'`), so it closes only the objects the
 * handlers close (`z.strictObject`): API Gateway, the document and the handlers accept the same bodies.
 */
export function jsonSchemaOf(
  schema: z.ZodMiniType,
  target: 'draft-4' | 'openapi-3.0',
): Record<string, unknown> {
  const { $schema: _version, ...rest } = z.toJSONSchema(schema, { target, io: 'input' }) as Record<
    string,
    unknown
  >;
  return rest;
}
