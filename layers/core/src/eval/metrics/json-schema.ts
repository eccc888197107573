/**
 * JSON Schema validation for the `json_schema` metric (no AWS imports), with ajv.
 *
 * - Dialect: the schema's `$schema` picks it (draft 2019-09 and 2020-12 by their URIs); without one, or
 *   with draft-07's, draft-07 (ajv's default). Any other `$schema` is an invalid schema.
 * - Each distinct schema is compiled once: compiled validators (and compile errors) are cached by the
 *   schema's canonical JSON, so items that carry equal schemas share one.
 * - Keywords ajv does not know are ignored (`strict: false`: suites carry schemas written for other
 *   tools); `format` is an annotation, not checked (the 2019-09 and 2020-12 default).
 * - `pattern` and `patternProperties` run on the answer: they are compiled by the linear-time engine of
 *   `safe-regex.ts`, so a schema cannot make validation backtrack; a pattern outside its subset makes the
 *   schema invalid.
 * - ajv stops at the first error (`allErrors: false`), which bounds the work on large answers.
 */
import { Ajv, type AnySchema, type Options, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { canonicalJson } from '../../prompts/hash.ts';
import { compileSafeRegex, type SafeRegex } from './safe-regex.ts';

/** Longest `pattern` accepted in a schema (schemas carry longer patterns than one-off checks). */
const MAX_SCHEMA_PATTERN = 1000;
/** Distinct schemas kept compiled; the oldest is dropped past this. */
const MAX_CACHED = 256;

const safeRegExp = Object.assign(
  (pattern: string): SafeRegex => compileSafeRegex(pattern, '', { maxLength: MAX_SCHEMA_PATTERN }),
  { code: 'compileSafeRegex' },
);

const OPTIONS: Options = {
  strict: false,
  allErrors: false,
  validateFormats: false,
  addUsedSchema: false,
  logger: false,
  code: { regExp: safeRegExp },
};

type Dialect = 'draft-07' | '2019-09' | '2020-12';
const instances = new Map<Dialect, Ajv>();

function ajvFor(dialect: Dialect): Ajv {
  let ajv = instances.get(dialect);
  if (ajv === undefined) {
    ajv =
      dialect === '2020-12'
        ? new Ajv2020(OPTIONS)
        : dialect === '2019-09'
          ? new Ajv2019(OPTIONS)
          : new Ajv(OPTIONS);
    instances.set(dialect, ajv);
  }
  return ajv;
}

function dialectOf(schema: AnySchema): Dialect | { error: string } {
  if (typeof schema === 'boolean') return 'draft-07';
  const declared = schema.$schema;
  if (declared === undefined) return 'draft-07';
  if (typeof declared !== 'string') return { error: '$schema must be a string' };
  const uri = declared.replace(/#$/, '').replace(/^http:/, 'https:');
  if (uri === 'https://json-schema.org/draft/2020-12/schema') return '2020-12';
  if (uri === 'https://json-schema.org/draft/2019-09/schema') return '2019-09';
  if (uri === 'https://json-schema.org/draft-07/schema') return 'draft-07';
  return { error: `unsupported $schema ${declared} (supported: draft-07, 2019-09, 2020-12)` };
}

/** A compiled schema, or why the schema is invalid. */
export type CompiledSchema = { readonly validate: ValidateFunction } | { readonly error: string };

const cache = new Map<string, CompiledSchema>();

/** Compiles `schema` once (cached by content); an invalid schema comes back as `{error}`, never thrown. */
export function compileSchema(schema: unknown): CompiledSchema {
  if (
    typeof schema !== 'boolean' &&
    (schema === null || typeof schema !== 'object' || Array.isArray(schema))
  ) {
    return { error: 'must be a JSON Schema (an object or a boolean)' };
  }
  const key = canonicalJson(schema);
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const compiled = compileUncached(schema as AnySchema);
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
  cache.set(key, compiled);
  return compiled;
}

function compileUncached(schema: AnySchema): CompiledSchema {
  const dialect = dialectOf(schema);
  if (typeof dialect !== 'string') return dialect;
  try {
    return { validate: ajvFor(dialect).compile(schema) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** The first validation error of the last `validate` call, as `path: message`. */
export function firstSchemaError(validate: ValidateFunction): string {
  const error = validate.errors?.[0];
  if (error === undefined) return 'does not match the schema';
  return `${error.instancePath === '' ? '(root)' : error.instancePath}: ${error.message ?? error.keyword}`;
}
