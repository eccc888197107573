/**
 * The CloudWatch embedded metric format (EMF), read as CloudWatch Logs reads a Lambda function's log lines:
 * a line that is a JSON object with an `_aws` metadata object is an EMF document; its metric directives
 * (`_aws.CloudWatchMetrics[]`: a namespace, dimension sets naming root members, metric definitions naming
 * root members whose value is a number or an array of numbers) become one datapoint per value and
 * dimension set, at `_aws.Timestamp`. A document that breaks the specification yields no datapoint and
 * the problems found, as CloudWatch Logs extracts nothing from it.
 */
import { isRecord } from '../template/cfn.ts';

/** One value of one metric (namespace, name and dimensions) at one time. */
export interface MetricDatapoint {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly timestamp: Date;
  readonly value: number;
  /** A CloudWatch unit (`Count`, `Milliseconds`, ...); `None` when the definition names none. */
  readonly unit: string;
}

/** The datapoints of one EMF document, or the problems that made CloudWatch reject it. */
export interface EmfDocument {
  readonly datapoints: readonly MetricDatapoint[];
  readonly problems: readonly string[];
}

/** The specification's limits. */
const MAX_DIMENSIONS_PER_SET = 30;
const MAX_METRICS_PER_DIRECTIVE = 100;
const MAX_VALUES_PER_METRIC = 100;

/**
 * Parses one log line. Undefined when the line is not an EMF document at all (not a JSON object with an
 * `_aws` object); otherwise its datapoints, or none and the problems when the document is invalid.
 */
export function parseEmf(line: string): EmfDocument | undefined {
  const text = line.trim();
  if (!text.startsWith('{') || !text.includes('"_aws"')) return undefined;
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(root) || !isRecord(root._aws)) return undefined;
  const problems: string[] = [];
  const datapoints = readDocument(root, root._aws, problems);
  return problems.length > 0 ? { datapoints: [], problems } : { datapoints, problems };
}

function readDocument(
  root: Record<string, unknown>,
  meta: Record<string, unknown>,
  problems: string[],
): MetricDatapoint[] {
  const timestamp = meta.Timestamp;
  if (typeof timestamp !== 'number' || !Number.isInteger(timestamp) || timestamp < 0) {
    problems.push('_aws.Timestamp must be a number of milliseconds since the epoch');
  }
  const directives = meta.CloudWatchMetrics;
  if (!Array.isArray(directives)) {
    problems.push('_aws.CloudWatchMetrics must be an array of metric directives');
    return [];
  }
  const at = new Date(typeof timestamp === 'number' ? timestamp : 0);
  return directives.flatMap((directive, i) =>
    readDirective(root, directive, `_aws.CloudWatchMetrics[${i}]`, at, problems),
  );
}

function readDirective(
  root: Record<string, unknown>,
  directive: unknown,
  where: string,
  timestamp: Date,
  problems: string[],
): MetricDatapoint[] {
  if (!isRecord(directive)) {
    problems.push(`${where} must be an object`);
    return [];
  }
  const { Namespace: namespace, Dimensions: sets, Metrics: definitions } = directive;
  if (typeof namespace !== 'string' || namespace.length === 0 || namespace.length > 255) {
    problems.push(`${where}.Namespace must be a string of 1 to 255 characters`);
  }
  const dimensionSets = readDimensionSets(root, sets, `${where}.Dimensions`, problems);
  if (!Array.isArray(definitions) || definitions.length > MAX_METRICS_PER_DIRECTIVE) {
    problems.push(`${where}.Metrics must be an array of at most ${MAX_METRICS_PER_DIRECTIVE} definitions`);
    return [];
  }
  const out: MetricDatapoint[] = [];
  definitions.forEach((definition, i) => {
    const metric = readDefinition(root, definition, `${where}.Metrics[${i}]`, problems);
    if (metric === undefined || typeof namespace !== 'string') return;
    for (const dimensions of dimensionSets) {
      for (const value of metric.values) {
        out.push({ namespace, metricName: metric.name, dimensions, timestamp, value, unit: metric.unit });
      }
    }
  });
  return out;
}

function readDimensionSets(
  root: Record<string, unknown>,
  sets: unknown,
  where: string,
  problems: string[],
): Record<string, string>[] {
  if (!Array.isArray(sets) || sets.length === 0) {
    problems.push(`${where} must be a non-empty array of dimension sets`);
    return [];
  }
  const out: Record<string, string>[] = [];
  sets.forEach((set, i) => {
    if (!Array.isArray(set) || set.length > MAX_DIMENSIONS_PER_SET) {
      problems.push(`${where}[${i}] must be an array of at most ${MAX_DIMENSIONS_PER_SET} dimension keys`);
      return;
    }
    const dimensions: Record<string, string> = {};
    for (const key of set) {
      const value = typeof key === 'string' ? root[key] : undefined;
      if (typeof key !== 'string' || typeof value !== 'string' || value.length === 0) {
        problems.push(`${where}[${i}]: dimension ${JSON.stringify(key)} has no string value on the root`);
        return;
      }
      dimensions[key] = value;
    }
    out.push(dimensions);
  });
  return out;
}

function readDefinition(
  root: Record<string, unknown>,
  definition: unknown,
  where: string,
  problems: string[],
): { readonly name: string; readonly unit: string; readonly values: readonly number[] } | undefined {
  if (!isRecord(definition) || typeof definition.Name !== 'string' || definition.Name.length === 0) {
    problems.push(`${where} must be an object with a Name`);
    return undefined;
  }
  const { Name: name, Unit: unit } = definition;
  if (unit !== undefined && typeof unit !== 'string') {
    problems.push(`${where}.Unit must be a string`);
    return undefined;
  }
  const raw = root[name];
  const values = typeof raw === 'number' ? [raw] : raw;
  if (
    !Array.isArray(values) ||
    values.length > MAX_VALUES_PER_METRIC ||
    !values.every((v) => typeof v === 'number' && Number.isFinite(v))
  ) {
    problems.push(
      `${where}: metric ${name} must have a number or an array of at most ${MAX_VALUES_PER_METRIC} numbers on the root`,
    );
    return undefined;
  }
  return { name, unit: unit ?? 'None', values: values as number[] };
}
