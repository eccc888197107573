/**
 * The statistics and comparisons of CloudWatch metric alarms: a period's datapoints reduced to one value
 * (`SampleCount`, `Average`, `Sum`, `Minimum`, `Maximum`, or a percentile `pNN`/`pNN.NN`, the nearest-rank
 * value), compared with the threshold by one of the four static-threshold operators, and the words alarm
 * reasons use for that comparison.
 */

/** The standard statistics (`Statistic`). */
const STANDARD_STATISTICS = ['SampleCount', 'Average', 'Sum', 'Minimum', 'Maximum'] as const;
export type StandardStatistic = (typeof STANDARD_STATISTICS)[number];

/** A statistic an alarm reduces each period with. */
export type Statistic =
  | { readonly kind: 'standard'; readonly name: StandardStatistic }
  | { readonly kind: 'percentile'; readonly name: string; readonly percentile: number };

/** The four static-threshold comparison operators. */
export const COMPARISON_OPERATORS = {
  GreaterThanOrEqualToThreshold: 'greater than or equal to',
  GreaterThanThreshold: 'greater than',
  LessThanThreshold: 'less than',
  LessThanOrEqualToThreshold: 'less than or equal to',
} as const;
export type ComparisonOperator = keyof typeof COMPARISON_OPERATORS;

/** Whether `operator` is one of the four static-threshold operators (not an anomaly-band one). */
export function isComparisonOperator(operator: string): operator is ComparisonOperator {
  return Object.hasOwn(COMPARISON_OPERATORS, operator);
}

/**
 * The statistic of `Statistic` or `ExtendedStatistic` (`p99`, `p99.9`). Returns a reason instead when it is
 * neither a standard statistic nor a plain percentile (trimmed means, ranks and the like are AWS-only).
 */
export function statisticOf(statistic: string | undefined, extended: string | undefined): Statistic | string {
  if (statistic !== undefined) {
    return (STANDARD_STATISTICS as readonly string[]).includes(statistic)
      ? { kind: 'standard', name: statistic as StandardStatistic }
      : `unknown statistic ${statistic}`;
  }
  if (extended === undefined) return 'neither Statistic nor ExtendedStatistic is set';
  const percentile = /^p(\d{1,2}(?:\.\d{1,10})?|100)$/.exec(extended)?.[1];
  if (percentile === undefined) return `extended statistic ${extended} is not evaluated locally (only pNN)`;
  return { kind: 'percentile', name: extended, percentile: Number(percentile) };
}

/** Reduces a period's values (at least one) with `statistic`. */
export function reduce(statistic: Statistic, values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('A statistic needs at least one value');
  if (statistic.kind === 'percentile') {
    const sorted = [...values].sort((a, b) => a - b);
    const rank = Math.max(1, Math.ceil((statistic.percentile / 100) * sorted.length));
    return sorted[rank - 1] as number;
  }
  switch (statistic.name) {
    case 'SampleCount':
      return values.length;
    case 'Sum':
      return sum(values);
    case 'Average':
      return sum(values) / values.length;
    case 'Minimum':
      return values.reduce((a, b) => Math.min(a, b));
    case 'Maximum':
      return values.reduce((a, b) => Math.max(a, b));
  }
}

/** Whether `value` breaches `threshold` under `operator`. */
export function breaches(operator: ComparisonOperator, value: number, threshold: number): boolean {
  switch (operator) {
    case 'GreaterThanOrEqualToThreshold':
      return value >= threshold;
    case 'GreaterThanThreshold':
      return value > threshold;
    case 'LessThanThreshold':
      return value < threshold;
    case 'LessThanOrEqualToThreshold':
      return value <= threshold;
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
