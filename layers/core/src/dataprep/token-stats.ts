/**
 * A mergeable token-count accumulator (no tokenizer here, so code that only aggregates counts stays small).
 */
import * as z from 'zod';
import { InvalidArgumentError } from './errors.ts';

/** The tokenizer used for token statistics. */
export const TOKENIZER = 'o200k_base';

/** Growth factor between histogram buckets: representatives are within ±2% of any value in a bucket. */
export const HISTOGRAM_GAMMA = 1.04;
const LOG_GAMMA = Math.log(HISTOGRAM_GAMMA);
/** Values up to 2^40 have their own buckets; larger ones share the last. */
const MAX_BUCKET = 1 + Math.floor(Math.log(2 ** 40) / LOG_GAMMA);

function bucketOf(n: number): number {
  if (n < 1) return 0;
  return Math.min(MAX_BUCKET, 1 + Math.floor(Math.log(n) / LOG_GAMMA));
}

/** The representative value of a bucket: the geometric middle of its range. */
function bucketValue(bucket: number): number {
  if (bucket === 0) return 0;
  return HISTOGRAM_GAMMA ** (bucket - 0.5);
}

/** Serialized {@link TokenStats}: the summary plus the sparse histogram needed to merge it later. */
export interface TokenStatsJSON {
  records: number;
  total: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  /** Sparse log-scale histogram: `[bucket, count]` pairs, bucket ascending. */
  histogram: Array<[number, number]>;
}

const tokenStatsJsonSchema = z.object({
  records: z.number().int().nonnegative(),
  total: z.number().nonnegative(),
  min: z.number().nonnegative(),
  max: z.number().nonnegative(),
  histogram: z.array(z.tuple([z.number().int().min(0).max(MAX_BUCKET), z.number().int().positive()])),
});

/**
 * Mergeable accumulator of per-record token counts. Exact count, total, min, max and mean;
 * percentiles from a fixed log-scale histogram (bucket growth {@link HISTOGRAM_GAMMA} = 1.04), so a
 * reported percentile is within about ±2% of the true nearest-rank percentile (exact for values
 * below 25, where every bucket holds at most one integer), and clamped to [min, max]. Merging is exact:
 * merged stats equal those of one accumulator that saw all values.
 */
export class TokenStats {
  #records = 0;
  #total = 0;
  #min = Number.POSITIVE_INFINITY;
  #max = 0;
  readonly #counts = new Map<number, number>();

  /** Adds one record's token count (a non-negative integer). */
  add(n: number): void {
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError('n', 'must be a non-negative integer', n);
    this.#records++;
    this.#total += n;
    if (n < this.#min) this.#min = n;
    if (n > this.#max) this.#max = n;
    const b = bucketOf(n);
    this.#counts.set(b, (this.#counts.get(b) ?? 0) + 1);
  }

  /** Adds everything `other` has seen into this accumulator; returns `this`. */
  merge(other: TokenStats): this {
    if (other.#records === 0) return this;
    this.#records += other.#records;
    this.#total += other.#total;
    if (other.#min < this.#min) this.#min = other.#min;
    if (other.#max > this.#max) this.#max = other.#max;
    for (const [b, c] of other.#counts) this.#counts.set(b, (this.#counts.get(b) ?? 0) + c);
    return this;
  }

  /** Number of records added. */
  get records(): number {
    return this.#records;
  }

  /**
   * Approximate nearest-rank percentile `q` in [0, 1] (0 when empty), an integer within about ±2% of
   * the true value.
   */
  percentile(q: number): number {
    if (!(q >= 0 && q <= 1)) throw new InvalidArgumentError('q', 'must be in [0, 1]', q);
    if (this.#records === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#records));
    const buckets = [...this.#counts.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const b of buckets) {
      seen += this.#counts.get(b) ?? 0;
      if (seen >= rank) return Math.min(this.#max, Math.max(this.#min, Math.round(bucketValue(b))));
    }
    return this.#max;
  }

  /** The summary (min/max are 0 when no record was added), with the histogram for {@link TokenStats.fromJSON}. */
  toJSON(): TokenStatsJSON {
    const empty = this.#records === 0;
    return {
      records: this.#records,
      total: this.#total,
      min: empty ? 0 : this.#min,
      max: this.#max,
      mean: empty ? 0 : Math.round((this.#total / this.#records) * 100) / 100,
      p50: this.percentile(0.5),
      p95: this.percentile(0.95),
      p99: this.percentile(0.99),
      histogram: [...this.#counts.entries()].sort((a, b) => a[0] - b[0]),
    };
  }

  /** Rebuilds an accumulator from {@link TokenStats.toJSON} output (validated; throws on malformed input). */
  static fromJSON(json: unknown): TokenStats {
    const parsed = tokenStatsJsonSchema.safeParse(json);
    if (!parsed.success) {
      throw new InvalidArgumentError(
        'json',
        `must be TokenStats.toJSON() output: ${parsed.error.message}`,
        json,
        {
          cause: parsed.error,
        },
      );
    }
    const { records, total, min, max, histogram } = parsed.data;
    const sum = histogram.reduce((acc, [, c]) => acc + c, 0);
    if (sum !== records) {
      throw new InvalidArgumentError('json.histogram', `must hold ${records} records`, sum);
    }
    const stats = new TokenStats();
    stats.#records = records;
    stats.#total = total;
    stats.#min = records === 0 ? Number.POSITIVE_INFINITY : min;
    stats.#max = max;
    for (const [b, c] of histogram) stats.#counts.set(b, (stats.#counts.get(b) ?? 0) + c);
    return stats;
  }
}
