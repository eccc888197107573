/**
 * EventBridge event pattern matching, for routing events locally by the synthesized rules' patterns.
 *
 * Semantics follow the Amazon EventBridge user guide ("Event patterns", "Arrays in event patterns",
 * "Matching null values and empty strings", "Content filtering" / "Comparison operators") and the
 * behaviour of aws/event-ruler, the engine behind EventBridge:
 * - every field named in a pattern must match (AND); the values in a leaf array are alternatives (OR);
 * - fields of the event that the pattern does not name are ignored;
 * - a leaf matches when ANY of its alternatives matches; when the event's value is an array, the leaf
 *   matches if any element matches (non-empty intersection); an object pattern applied to an array of
 *   objects matches if one element matches the whole sub-pattern;
 * - values are typed: the string `"5"` never matches the number `5`, `null` never matches `""`;
 * - an absent field fails every matcher except `{ "exists": false }`; `exists` only looks at leaves, so a
 *   field whose value is an object counts as absent.
 *
 * Operators: exact values, `prefix`, `suffix` (both also with `{ "equals-ignore-case": ... }`),
 * `equals-ignore-case`, `wildcard`, `anything-but` (value, list, `prefix`, `suffix`,
 * `equals-ignore-case`, `wildcard`), `exists`, `numeric`, `cidr` (IPv4 and IPv6) and `$or`. Anything
 * else throws {@link UnsupportedPatternError}: a pattern is never silently treated as "no match".
 *
 * Known difference: EventBridge compares numbers for exact matching by their JSON text (300 and 300.0
 * differ); once parsed into JavaScript numbers they cannot be told apart, so here they are equal.
 */
import { BlockList, isIP } from 'node:net';

/** A pattern that is not well formed (a leaf that is not an array, a bad operand, an empty object, ...). */
export class InvalidPatternError extends Error {
  /** Dotted path of the offending part of the pattern (empty for the root). */
  readonly path: string;
  constructor(message: string, path: string, options?: ErrorOptions) {
    super(
      path ? `Invalid event pattern at '${path}': ${message}` : `Invalid event pattern: ${message}`,
      options,
    );
    this.name = 'InvalidPatternError';
    this.path = path;
  }
}

/** A pattern that uses an operator this matcher does not implement (or that does not exist). */
export class UnsupportedPatternError extends Error {
  /** The operator's name, as written in the pattern. */
  readonly operator: string;
  /** Dotted path of the field whose leaf uses it. */
  readonly path: string;
  constructor(operator: string, path: string) {
    super(
      `Unsupported event pattern operator '${operator}' at '${path || '(root)'}': the local matcher supports ` +
        `exact values, prefix, suffix, equals-ignore-case, wildcard, anything-but, exists, numeric, cidr and $or`,
    );
    this.name = 'UnsupportedPatternError';
    this.operator = operator;
    this.path = path;
  }
}

type Scalar = string | number | boolean | null;
type ValueTest = (value: Scalar) => boolean;

interface LeafMatcher {
  readonly kind: 'leaf';
  /** Alternatives that test one scalar value. */
  readonly tests: readonly ValueTest[];
  /** Alternatives `{ exists: true }` / `{ exists: false }` present in the leaf. */
  readonly existsTrue: boolean;
  readonly existsFalse: boolean;
}

interface ObjectMatcher {
  readonly kind: 'object';
  readonly fields: ReadonlyArray<readonly [string, FieldMatcher]>;
  /** Each entry is one `$or`: the object matches only if one alternative of every `$or` matches. */
  readonly ors: ReadonlyArray<readonly ObjectMatcher[]>;
}

type FieldMatcher = LeafMatcher | ObjectMatcher;

/** A pattern validated and compiled once, reusable for many events. */
export interface CompiledPattern {
  /** True when the event matches the pattern. */
  matches(event: unknown): boolean;
}

const cache = new WeakMap<object, CompiledPattern>();

/**
 * Checks a pattern's structure and operators.
 * @throws InvalidPatternError for malformed patterns; UnsupportedPatternError for unknown operators.
 */
export function validatePattern(pattern: unknown): void {
  compilePattern(pattern);
}

/**
 * Compiles a pattern (validating it) into a reusable matcher. Object patterns are cached by identity.
 * @throws InvalidPatternError | UnsupportedPatternError
 */
export function compilePattern(pattern: unknown): CompiledPattern {
  if (isPlainObject(pattern)) {
    const cached = cache.get(pattern);
    if (cached) return cached;
  }
  if (!isPlainObject(pattern)) {
    throw new InvalidPatternError('the pattern must be a JSON object', '');
  }
  const root = compileObject(pattern, '');
  const compiled: CompiledPattern = {
    matches: (event: unknown) => isPlainObject(event) && matchObject(root, event),
  };
  cache.set(pattern, compiled);
  return compiled;
}

/**
 * Whether `event` (an EventBridge event as rules see it: `source`, `detail-type`, `detail`, ...) matches
 * `pattern`. Patterns are validated first.
 * @throws InvalidPatternError | UnsupportedPatternError when the pattern is malformed or unsupported.
 */
export function matchesPattern(pattern: unknown, event: unknown): boolean {
  return compilePattern(pattern).matches(event);
}

// ---------------------------------------------------------------------------------------------
// Compilation

function compileObject(pattern: Record<string, unknown>, path: string): ObjectMatcher {
  const keys = Object.keys(pattern);
  if (keys.length === 0) throw new InvalidPatternError('empty objects are not allowed', path);
  const fields: Array<readonly [string, FieldMatcher]> = [];
  const ors: ObjectMatcher[][] = [];
  for (const key of keys) {
    const value = pattern[key];
    const childPath = path ? `${path}.${key}` : key;
    if (key === '$or' && Array.isArray(value) && value.every(isPlainObject)) {
      if (value.length < 2) {
        throw new InvalidPatternError('"$or" needs an array of at least two objects', childPath);
      }
      ors.push(value.map((alternative, i) => compileObject(alternative, `${childPath}[${i}]`)));
      continue;
    }
    if (Array.isArray(value)) {
      fields.push([key, compileLeaf(value, childPath)]);
    } else if (isPlainObject(value)) {
      fields.push([key, compileObject(value, childPath)]);
    } else {
      throw new InvalidPatternError(
        `"${key}" must be an object or an array of values (got ${describe(value)})`,
        childPath,
      );
    }
  }
  return { kind: 'object', fields, ors };
}

function compileLeaf(values: readonly unknown[], path: string): LeafMatcher {
  if (values.length === 0) throw new InvalidPatternError('empty arrays are not allowed', path);
  const tests: ValueTest[] = [];
  let existsTrue = false;
  let existsFalse = false;
  for (const value of values) {
    if (value === null || typeof value === 'string' || typeof value === 'boolean') {
      tests.push((v) => v === value);
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new InvalidPatternError('numbers must be finite', path);
      tests.push((v) => typeof v === 'number' && v === value);
    } else if (isPlainObject(value)) {
      const keys = Object.keys(value);
      const operator = keys[0];
      if (operator === undefined) throw new InvalidPatternError('empty objects are not allowed', path);
      if (keys.length > 1) {
        throw new InvalidPatternError(
          `a matcher object must have exactly one operator (got ${keys.map((k) => `"${k}"`).join(', ')})`,
          path,
        );
      }
      const operand = value[operator];
      if (operator === 'exists') {
        if (typeof operand !== 'boolean') {
          throw new InvalidPatternError('"exists" takes true or false', path);
        }
        if (operand) existsTrue = true;
        else existsFalse = true;
        continue;
      }
      tests.push(compileOperator(operator, operand, path));
    } else {
      throw new InvalidPatternError(`unsupported value ${describe(value)} in a match array`, path);
    }
  }
  return { kind: 'leaf', tests, existsTrue, existsFalse };
}

function compileOperator(operator: string, operand: unknown, path: string): ValueTest {
  switch (operator) {
    case 'prefix':
      return stringAffixTest('prefix', operand, path, (v, s) => v.startsWith(s));
    case 'suffix':
      return stringAffixTest('suffix', operand, path, (v, s) => v.endsWith(s));
    case 'equals-ignore-case': {
      const expected = requireString(operand, 'equals-ignore-case', path);
      const folded = fold(expected);
      return (v) => typeof v === 'string' && fold(v) === folded;
    }
    case 'wildcard': {
      const regex = wildcardRegex(requireString(operand, 'wildcard', path), path);
      return (v) => typeof v === 'string' && regex.test(v);
    }
    case 'numeric':
      return numericTest(operand, path);
    case 'cidr':
      return cidrTest(operand, path);
    case 'anything-but':
      return anythingButTest(operand, path);
    default:
      throw new UnsupportedPatternError(operator, path);
  }
}

function stringAffixTest(
  operator: 'prefix' | 'suffix',
  operand: unknown,
  path: string,
  test: (value: string, affix: string) => boolean,
): ValueTest {
  if (typeof operand === 'string') {
    return (v) => typeof v === 'string' && test(v, operand);
  }
  if (isPlainObject(operand)) {
    const keys = Object.keys(operand);
    if (keys.length === 1 && keys[0] === 'equals-ignore-case') {
      const affix = fold(
        requireString(operand['equals-ignore-case'], `${operator}.equals-ignore-case`, path),
      );
      return (v) => typeof v === 'string' && test(fold(v), affix);
    }
    const nested = keys[0];
    if (keys.length === 1 && nested !== undefined)
      throw new UnsupportedPatternError(`${operator}.${nested}`, path);
  }
  throw new InvalidPatternError(
    `"${operator}" takes a string or { "equals-ignore-case": string } (got ${describe(operand)})`,
    path,
  );
}

function anythingButTest(operand: unknown, path: string): ValueTest {
  if (typeof operand === 'string' || typeof operand === 'number') {
    return (v) => v !== operand;
  }
  if (Array.isArray(operand)) {
    if (operand.length === 0) throw new InvalidPatternError('"anything-but" list must not be empty', path);
    const allStrings = operand.every((x) => typeof x === 'string');
    const allNumbers = operand.every((x) => typeof x === 'number');
    if (!allStrings && !allNumbers) {
      throw new InvalidPatternError('"anything-but" list must contain only strings or only numbers', path);
    }
    const excluded = new Set<unknown>(operand);
    return (v) => !excluded.has(v);
  }
  if (isPlainObject(operand)) {
    const keys = Object.keys(operand);
    const inner = keys[0];
    if (keys.length !== 1 || inner === undefined) {
      throw new InvalidPatternError('"anything-but" object must have exactly one operator', path);
    }
    const innerOperand = operand[inner];
    switch (inner) {
      case 'prefix': {
        const prefix = requireString(innerOperand, 'anything-but.prefix', path);
        return (v) => typeof v === 'string' && !v.startsWith(prefix);
      }
      case 'suffix': {
        const suffix = requireString(innerOperand, 'anything-but.suffix', path);
        return (v) => typeof v === 'string' && !v.endsWith(suffix);
      }
      case 'equals-ignore-case': {
        const list = stringOrStrings(innerOperand, 'anything-but.equals-ignore-case', path).map(fold);
        return (v) => typeof v === 'string' && !list.includes(fold(v));
      }
      case 'wildcard': {
        const regexes = stringOrStrings(innerOperand, 'anything-but.wildcard', path).map((w) =>
          wildcardRegex(w, path),
        );
        return (v) => typeof v === 'string' && !regexes.some((r) => r.test(v));
      }
      default:
        throw new UnsupportedPatternError(`anything-but.${inner}`, path);
    }
  }
  throw new InvalidPatternError(`"anything-but" does not accept ${describe(operand)}`, path);
}

const NUMERIC_OPERATORS = new Set(['<', '<=', '=', '>=', '>']);

function numericTest(operand: unknown, path: string): ValueTest {
  if (!Array.isArray(operand) || operand.length === 0 || operand.length % 2 !== 0 || operand.length > 4) {
    throw new InvalidPatternError(
      '"numeric" takes [op, number] or [lowerOp, number, upperOp, number], e.g. [">", 0, "<=", 5]',
      path,
    );
  }
  const conditions: Array<readonly [string, number]> = [];
  for (let i = 0; i < operand.length; i += 2) {
    const op = operand[i];
    const bound = operand[i + 1];
    if (typeof op !== 'string' || !NUMERIC_OPERATORS.has(op)) {
      throw new InvalidPatternError(
        `"numeric" operator must be one of < <= = >= > (got ${describe(op)})`,
        path,
      );
    }
    if (typeof bound !== 'number' || !Number.isFinite(bound)) {
      throw new InvalidPatternError(
        `"numeric" bound after "${op}" must be a number (got ${describe(bound)})`,
        path,
      );
    }
    conditions.push([op, bound]);
  }
  const ops = conditions.map(([op]) => op);
  const lowers = ops.filter((op) => op === '>' || op === '>=').length;
  const uppers = ops.filter((op) => op === '<' || op === '<=').length;
  if ((ops.includes('=') && ops.length > 1) || lowers > 1 || uppers > 1) {
    throw new InvalidPatternError(
      '"numeric" takes "=" alone, or at most one lower and one upper bound',
      path,
    );
  }
  return (v) => {
    if (typeof v !== 'number') return false;
    return conditions.every(([op, bound]) => {
      switch (op) {
        case '<':
          return v < bound;
        case '<=':
          return v <= bound;
        case '=':
          return v === bound;
        case '>=':
          return v >= bound;
        default:
          return v > bound;
      }
    });
  };
}

function cidrTest(operand: unknown, path: string): ValueTest {
  const text = requireString(operand, 'cidr', path);
  const slash = text.lastIndexOf('/');
  const address = slash >= 0 ? text.slice(0, slash) : text;
  const family = isIP(address);
  const maxBits = family === 6 ? 128 : 32;
  const bits = slash >= 0 ? Number(text.slice(slash + 1)) : maxBits;
  if (family === 0 || !Number.isInteger(bits) || bits < 0 || bits > maxBits) {
    throw new InvalidPatternError(`"cidr" value '${text}' is not a valid IPv4 or IPv6 CIDR block`, path);
  }
  const type = family === 6 ? 'ipv6' : 'ipv4';
  const list = new BlockList();
  list.addSubnet(address, bits, type);
  return (v) => typeof v === 'string' && isIP(v) === family && list.check(v, type);
}

/**
 * Wildcard syntax (event-ruler): `*` matches zero or more characters; `\*` is a literal asterisk, `\\` a
 * literal backslash; consecutive `**` and any other backslash escape are invalid.
 */
function wildcardRegex(pattern: string, path: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern.charAt(i);
    if (ch === '\\') {
      const next = pattern.charAt(i + 1);
      if (next !== '*' && next !== '\\') {
        throw new InvalidPatternError(`"wildcard" '${pattern}' has an invalid escape at position ${i}`, path);
      }
      source += escapeRegex(next);
      i++;
    } else if (ch === '*') {
      if (pattern.charAt(i + 1) === '*') {
        throw new InvalidPatternError(`"wildcard" '${pattern}' has consecutive wildcard characters`, path);
      }
      source += '.*';
    } else {
      source += escapeRegex(ch);
    }
  }
  return new RegExp(`^${source}$`, 's');
}

// ---------------------------------------------------------------------------------------------
// Matching

function matchObject(matcher: ObjectMatcher, value: unknown): boolean {
  const obj = isPlainObject(value) ? value : undefined;
  for (const [key, field] of matcher.fields) {
    const child = obj !== undefined && Object.hasOwn(obj, key) ? obj[key] : undefined;
    if (!matchField(field, child)) return false;
  }
  for (const alternatives of matcher.ors) {
    if (!alternatives.some((alternative) => matchObject(alternative, obj))) return false;
  }
  return true;
}

function matchField(matcher: FieldMatcher, value: unknown): boolean {
  if (matcher.kind === 'object') {
    if (Array.isArray(value)) {
      const objects = flatten(value).filter(isPlainObject);
      if (objects.length > 0) return objects.some((element) => matchObject(matcher, element));
      return matchObject(matcher, undefined);
    }
    return matchObject(matcher, value);
  }
  const scalars = leafValues(value);
  if (matcher.existsTrue && scalars.length > 0) return true;
  if (matcher.existsFalse && scalars.length === 0) return true;
  return scalars.some((scalar) => matcher.tests.some((test) => test(scalar)));
}

function leafValues(value: unknown): Scalar[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return flatten(value).filter(isScalar);
  return isScalar(value) ? [value] : [];
}

function flatten(values: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const v of values) {
    if (Array.isArray(v)) out.push(...flatten(v));
    else out.push(v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Helpers

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isScalar(value: unknown): value is Scalar {
  return (
    value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
  );
}

function requireString(value: unknown, operator: string, path: string): string {
  if (typeof value !== 'string') {
    throw new InvalidPatternError(`"${operator}" takes a string (got ${describe(value)})`, path);
  }
  return value;
}

function stringOrStrings(value: unknown, operator: string, path: string): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.length > 0 && value.every((x) => typeof x === 'string')) return value;
  throw new InvalidPatternError(`"${operator}" takes a string or a non-empty list of strings`, path);
}

function fold(value: string): string {
  return value.toLowerCase();
}

function escapeRegex(ch: string): string {
  return ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
