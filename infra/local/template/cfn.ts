/** The raw shape of a synthesized CloudFormation template and small helpers to read its untyped values. */
import { TemplateError, UnresolvableIntrinsicError } from './errors.ts';

/** One resource as it appears in the template. */
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
  readonly Condition?: string;
}

/** The parts of a template the runner reads. */
export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
  readonly Outputs?: Record<string, { readonly Value: unknown; readonly Condition?: string }>;
  readonly Conditions?: Record<string, unknown>;
  readonly Parameters?: Record<string, { readonly Type?: string; readonly Default?: unknown }>;
  readonly Mappings?: Record<string, Record<string, Record<string, unknown>>>;
}

/** Checks the top-level shape of a template: a Resources object whose entries have a Type. */
export function parseTemplate(template: unknown): CfnTemplate {
  if (!isRecord(template) || !isRecord(template.Resources)) {
    throw new TemplateError('A template must be an object with a Resources object');
  }
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (!isRecord(resource) || typeof resource.Type !== 'string') {
      throw new TemplateError(`Resource '${logicalId}' has no Type`);
    }
  }
  for (const section of ['Outputs', 'Conditions', 'Parameters', 'Mappings'] as const) {
    if (template[section] !== undefined && !isRecord(template[section])) {
      throw new TemplateError(`Template section ${section} must be an object`);
    }
  }
  return template as unknown as CfnTemplate;
}

/** The string, number and boolean entries of a record, as strings. */
export function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(value)) return out;
  for (const [key, item] of Object.entries(value)) {
    if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean')
      out[key] = String(item);
  }
  return out;
}

/** A plain object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value at `keys` inside nested objects, or undefined. */
export function getPath(value: unknown, keys: readonly string[]): unknown {
  let current = value;
  for (const key of keys) {
    if (!isRecord(current)) return undefined;
    current = current[key];
  }
  return current;
}

/** A finite number (numeric strings are converted), else `fallback`. */
export function numberOr(value: unknown, fallback: number): number {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : fallback;
}

/** `value` as a list. @throws TemplateError naming `what` when it is not one. */
export function asArray<T>(value: unknown, what: string): T[] {
  if (!Array.isArray(value)) throw new TemplateError(`${what} must be a list`);
  return value as T[];
}

/** A scalar as text. @throws UnresolvableIntrinsicError naming `what` when it is not a scalar. */
export function scalarText(value: unknown, what: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new UnresolvableIntrinsicError(`${what} must resolve to a string (got ${describe(value)})`);
}

/** Applies `fn` to every string inside `value`. */
export function mapStrings(value: unknown, fn: (text: string) => string): unknown {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn));
  if (isRecord(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, fn)]));
  }
  return value;
}

/** A short JSON rendering of a value, for error messages. */
export function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
