/**
 * A typed deep merge: a profile is another profile plus the settings it changes. Objects merge key by
 * key; arrays and every other value replace what they override (a list of apps or of PII entities is
 * one setting, not a set to add to); `undefined` leaves the base value.
 */

/** What may override a `T`: any subset of its keys, recursively; arrays and scalars whole. */
export type Overrides<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { readonly [K in keyof T]?: Overrides<T[K]> }
    : T;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function mergeValue(base: unknown, override: unknown): unknown {
  if (override === undefined) return base;
  if (!isPlainObject(base) || !isPlainObject(override)) return override;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) out[key] = mergeValue(base[key], value);
  return out;
}

/** `base` with each of `overrides` applied in turn (later ones win). `base` is not modified. */
export function withOverrides<T extends object>(base: T, ...overrides: readonly NoInfer<Overrides<T>>[]): T {
  return overrides.reduce<T>((acc, override) => mergeValue(acc, override) as T, base);
}
