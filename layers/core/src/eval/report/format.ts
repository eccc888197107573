/**
 * Number formatting shared by the reports: scores with 3 decimals, rates as percentages, intervals as
 * `[low, high]`, and `—` for anything missing or not a number.
 */

export const MISSING = '—';

export function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** A score: `0.873`; `—` when missing. */
export function formatScore(value: number | null | undefined, digits = 3): string {
  return isNumber(value) ? value.toFixed(digits) : MISSING;
}

/** A difference, always signed: `+0.012`, `-0.034`. */
export function formatSigned(value: number | null | undefined, digits = 3): string {
  if (!isNumber(value)) return MISSING;
  const text = Math.abs(value).toFixed(digits);
  if (Number(text) === 0) return `±${text}`;
  return `${value < 0 ? '-' : '+'}${text}`;
}

/** A 95% confidence interval: `[0.812, 0.901]`; `—` when either end is missing. */
export function formatCi(
  ci: readonly [number | null, number | null] | undefined,
  digits = 3,
  signed = false,
): string {
  if (!ci || !isNumber(ci[0]) || !isNumber(ci[1])) return MISSING;
  const f = signed ? formatSigned : formatScore;
  return `[${f(ci[0], digits)}, ${f(ci[1], digits)}]`;
}

/** A ratio as a percentage: `0.125` → `12.5%`. */
export function formatPercent(ratio: number | null | undefined, digits = 1): string {
  return isNumber(ratio) ? `${(ratio * 100).toFixed(digits)}%` : MISSING;
}

/** `part` of `whole` as a percentage; `—` when `whole` is 0. */
export function formatShare(part: number, whole: number): string {
  return whole > 0 ? formatPercent(part / whole) : MISSING;
}

/** A count with thousands separators: `12,345`. */
export function formatCount(value: number | null | undefined): string {
  return isNumber(value) ? Math.round(value).toLocaleString('en-US') : MISSING;
}

/** A mean that need not be whole (tokens per item): `412`, `12.5`. */
export function formatAmount(value: number | null | undefined): string {
  if (!isNumber(value)) return MISSING;
  return Math.abs(value) >= 100 ? formatCount(value) : String(Number(value.toFixed(1)));
}

/** A duration: `850 ms`, `1.24 s`, `2 min 5 s`. */
export function formatMs(ms: number | null | undefined): string {
  if (!isNumber(ms)) return MISSING;
  if (Math.abs(ms) < 1000) return `${Math.round(ms)} ms`;
  if (Math.abs(ms) < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/** US dollars: cents for amounts of a dollar or more, 3 significant digits below. */
export function formatUsd(value: number | null | undefined): string {
  if (!isNumber(value)) return MISSING;
  if (value === 0) return '$0';
  const sign = value < 0 ? '-' : '';
  const abs = Math.abs(value);
  if (abs < 1e-6) return `${sign}<$0.000001`;
  return abs >= 1
    ? `${sign}$${abs.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`
    : `${sign}$${Number(abs.toPrecision(3))}`;
}

/** A number fit for JSON: finite, or `null`. */
export function jsonNumber(value: number | null | undefined): number | null {
  return isNumber(value) ? value : null;
}
