/**
 * The local run's CloudWatch metrics: every datapoint the functions emitted as EMF (or a test put), kept
 * in memory and queried the two ways alarms query CloudWatch: one metric, identified by its namespace,
 * name and exact set of dimensions (a metric alarm), or every metric of a name whose dimensions include
 * some values (a Metrics Insights `SELECT ... FROM "Namespace" WHERE Dim = 'v'`).
 */
import type { MetricDatapoint } from './emf.ts';

/** A datapoint to put; dimensions default to none, the time to now, the unit to `None`. */
export interface MetricDatapointInput {
  readonly namespace: string;
  readonly metricName: string;
  readonly value: number;
  readonly dimensions?: Readonly<Record<string, string>>;
  readonly timestamp?: Date;
  readonly unit?: string;
}

/** Which datapoints to read. */
export interface MetricQuery {
  /** Any namespace when left out. */
  readonly namespace?: string;
  readonly metricName: string;
  /** Datapoints of any dimensions when left out. */
  readonly dimensions?: Readonly<Record<string, string>>;
  /**
   * `exact` (the default): the metric with exactly these dimensions, as CloudWatch identifies a metric;
   * `include`: every metric whose dimensions include these (Metrics Insights `WHERE`).
   */
  readonly dimensionMatch?: 'exact' | 'include';
  /** Only datapoints of this unit. */
  readonly unit?: string;
}

/** In-memory CloudWatch metrics. */
export class LocalMetricStore {
  readonly #datapoints: MetricDatapoint[] = [];

  /** Records datapoints. */
  put(...datapoints: readonly MetricDatapointInput[]): void {
    for (const d of datapoints) {
      if (!Number.isFinite(d.value))
        throw new RangeError(`Metric ${d.metricName}: ${d.value} is not a number`);
      this.#datapoints.push({
        namespace: d.namespace,
        metricName: d.metricName,
        dimensions: { ...(d.dimensions ?? {}) },
        timestamp: d.timestamp ?? new Date(),
        value: d.value,
        unit: d.unit ?? 'None',
      });
    }
  }

  /** The datapoints that match, oldest first. */
  datapoints(query: MetricQuery): MetricDatapoint[] {
    return this.#datapoints
      .filter(
        (d) =>
          d.metricName === query.metricName &&
          (query.namespace === undefined || d.namespace === query.namespace) &&
          (query.unit === undefined || d.unit === query.unit) &&
          (query.dimensions === undefined ||
            dimensionsMatch(d.dimensions, query.dimensions, query.dimensionMatch ?? 'exact')),
      )
      .sort((a, b) => a.timestamp.getTime() - b.timestamp.getTime());
  }
}

function dimensionsMatch(
  actual: Readonly<Record<string, string>>,
  wanted: Readonly<Record<string, string>>,
  match: 'exact' | 'include',
): boolean {
  const wantedKeys = Object.keys(wanted);
  if (match === 'exact' && Object.keys(actual).length !== wantedKeys.length) return false;
  return wantedKeys.every((key) => actual[key] === wanted[key]);
}
