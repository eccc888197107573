/**
 * The one Metrics Insights form the local run evaluates, the one this project's alarms use to watch a
 * metric across all its dimension values: `SELECT SUM(Metric) FROM "Namespace"`, with `MAX`, `MIN`, `AVG`
 * or `COUNT` instead of `SUM`, optionally `WHERE Dim = 'value' [AND Dim2 = 'value2' ...]`. Keywords are
 * case-insensitive; names may be bare or double-quoted. Anything else (`SCHEMA(...)`, `GROUP BY`,
 * `ORDER BY`, other operators) is reported, and such an alarm is left to AWS.
 */
import type { StandardStatistic } from './statistics.ts';
import { ExpressionError, type Token, tokenize } from './tokens.ts';

/** A parsed query: one aggregate of one metric over every series of the namespace that matches `where`. */
export interface InsightsQuery {
  readonly statistic: StandardStatistic;
  readonly metricName: string;
  readonly namespace: string;
  readonly where: Readonly<Record<string, string>>;
}

const AGGREGATES: Readonly<Record<string, StandardStatistic>> = {
  SUM: 'Sum',
  MAX: 'Maximum',
  MIN: 'Minimum',
  AVG: 'Average',
  COUNT: 'SampleCount',
};

const FORM = `only SELECT ${Object.keys(AGGREGATES).join('|')}(metric) FROM "namespace" [WHERE dimension = 'value' [AND ...]] is evaluated locally`;

/** Whether `expression` is a Metrics Insights query (rather than metric math). */
export function isInsightsQuery(expression: string): boolean {
  return expression.trimStart().slice(0, 7).toUpperCase() === 'SELECT ';
}

/** Parses a query of the supported form. @throws ExpressionError for anything else. */
export function parseInsightsQuery(query: string): InsightsQuery {
  const tokens = tokenize(query);
  let next = 0;
  const fail = (message: string): never => {
    throw new ExpressionError(`${message} (${FORM})`, query, tokens[next]?.at ?? query.length);
  };
  const keyword = (word: string) => {
    const token = tokens[next];
    if (token?.kind !== 'word' || token.text.toUpperCase() !== word) fail(`Expected ${word}`);
    next++;
  };
  const punct = (text: '(' | ')' | '=') => {
    const token = tokens[next];
    if (token?.kind !== 'punct' || token.text !== text) fail(`Expected '${text}'`);
    next++;
  };
  const name = (what: string): string => {
    const token: Token | undefined = tokens[next];
    const ok = token?.kind === 'word' || (token?.kind === 'string' && token.quote === '"');
    if (!ok || token === undefined || token.text === '') return fail(`Expected ${what}`);
    next++;
    return token.text;
  };

  keyword('SELECT');
  const aggregate = tokens[next];
  const statistic = aggregate?.kind === 'word' ? AGGREGATES[aggregate.text.toUpperCase()] : undefined;
  if (statistic === undefined) return fail('Expected an aggregate function');
  next++;
  punct('(');
  const metricName = name('a metric name');
  punct(')');
  keyword('FROM');
  if (tokens[next + 1]?.kind === 'punct' && tokens[next + 1]?.text === '(') fail('SCHEMA() is not supported');
  const namespace = name('a namespace');
  const where: Record<string, string> = {};
  if (next < tokens.length) {
    keyword('WHERE');
    for (;;) {
      const dimension = name('a dimension name');
      punct('=');
      const value = tokens[next];
      if (value?.kind !== 'string' || value.quote !== "'") return fail("Expected a 'quoted' dimension value");
      next++;
      where[dimension] = value.text;
      if (next === tokens.length) break;
      keyword('AND');
    }
  }
  return { statistic, metricName, namespace, where };
}
