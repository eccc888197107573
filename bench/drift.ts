import { availableParallelism } from 'node:os';
import {
  centroidDistance,
  classifierTest,
  DEFAULT_EMBEDDING_PERMUTATIONS,
  DEFAULT_MAX_POOLED,
  MEDIAN_PAIRS,
  mmdTest,
  normalQuantile,
} from '#core/drift/embedding.ts';
import { DEFAULT_ALPHA, ksTwoSample } from '#core/drift/stats.ts';
import type { TwoSampleResult } from '#core/drift/types.ts';
import { createRng, type Rng } from '#core/eval/stats.ts';
import { announceSmoke, formatRatio, options, sizedList } from './options.ts';

/**
 * `npm run bench:drift`: how often the drift engine's two-sample tests raise a false alarm, and how
 * often they catch a real shift, measured over many seeded windows, side by side with a baseline.
 *
 * Data: 32-dimensional Gaussian "embeddings" x = μ₀ + z, z ~ N(0, I), around a common mean μ₀ (entries
 * N(0, 0.5²), fixed for the run; ‖μ₀‖² ≈ 6.2, so two random records have a cosine of about 0.16: real
 * embeddings share a common direction too, and the centroid test follows it), and one continuous
 * descriptor per record, a response length exp(5 + 0.5·w), w ~ N(0, 1), for the KS test. Windows:
 * - null: reference and current both drawn from that distribution (the false-alarm rate);
 * - mean +δ sd: the current window moved by δ standard deviations in every dimension (δ 0.05, 0.1,
 *   0.25), and its lengths' log by δ standard deviations;
 * - topic p: a share p (10%, 25%) of the current window replaced by records of a second cluster,
 *   μ₀ + 3u + z (u a fixed random unit vector: a topic 3 standard deviations away), 1 standard
 *   deviation longer on the log scale.
 * Within one seed the windows share their draws (common random numbers): the current window of every
 * shift is the null current window moved, so the differences between rows are not noise of the draws.
 * Everything comes from `createRng` seeded with the size, seed and role: every run is the same.
 *
 * Methods, each at the engine's defaults (alpha 0.05): `centroidDistance`, `mmdTest` (200 label
 * permutations each), `classifierTest` (5-fold logistic regression, normal p-value corrected for the
 * cross-validation), all on the embeddings; `ksTwoSample` on the lengths. MMD and the classifier cap
 * n + m at DEFAULT_MAX_POOLED (2000) by seeded subsampling: at n = 10,000 they test 1,000 + 1,000, and
 * the output says so. Baseline, in this file: the same MMD² (unbiased, RBF kernel, median heuristic on
 * the pooled sample, same cap) with a "reference-only bootstrap" null: the threshold comes from MMD²
 * between the reference window and bootstrap resamples of itself, the approach reported to "detect
 * drift all the time"; its false-alarm rate is printed next to the permutation test's, with the ratio.
 *
 * Each row gives a rate, its count, a 95% Wilson interval, and (false alarms) a verdict against alpha:
 * `ok` at or under alpha, `ok (noise)` above alpha but with alpha inside the interval, `OVER` when the
 * whole interval lies above alpha. ms/test: the mean time of one test call, over all its windows.
 * BENCH_DRIFT_SIZES (default 100,1000,10000) and BENCH_DRIFT_SEEDS (seeds per size, default
 * 1000,40,30: about 6½ minutes on one thread of the 2-core development machine, MMD taking most of
 * it). `--smoke`: n 50, 10 seeds, one shift (mean +0.25 sd), the same code path, in under a second.
 */
const SIZES = sizedList('BENCH_DRIFT_SIZES', [100, 1000, 10_000], [50]);
const SEEDS = sizedList('BENCH_DRIFT_SEEDS', [1000, 40, 30], [10]);
if (SEEDS.length !== SIZES.length || [...SIZES, ...SEEDS].some((v) => !(Number.isInteger(v) && v > 0))) {
  throw new Error(
    `BENCH_DRIFT_SEEDS must give one positive integer per size of BENCH_DRIFT_SIZES (sizes ${SIZES}, seeds ${SEEDS})`,
  );
}
const DIMS = 32;
const ALPHA = DEFAULT_ALPHA;
const PERMUTATIONS = DEFAULT_EMBEDDING_PERMUTATIONS;
const CAP = DEFAULT_MAX_POOLED;
const MEAN_SCALE = 0.5;
const TOPIC_DISTANCE = 3;
const LOG_LENGTH = { mean: 5, sd: 0.5, topicShift: 1 };
const Z95 = normalQuantile(0.975);

// ---------------------------------------------------------------------------------------------------
// Data.

interface Sample {
  readonly vectors: number[][];
  readonly lengths: number[];
}

/** Standard normals from `rng` (Box–Muller, both values of each pair used). */
function normals(rng: Rng): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const z = spare;
      spare = undefined;
      return z;
    }
    const r = Math.sqrt(-2 * Math.log(1 - rng.next()));
    const theta = 2 * Math.PI * rng.next();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}

const world = normals(createRng('drift-bench/world'));
const MU0 = Array.from({ length: DIMS }, () => MEAN_SCALE * world());
const TOPIC = (() => {
  const u = Array.from({ length: DIMS }, world);
  const norm = Math.hypot(...u);
  return u.map((v, j) => (MU0[j] as number) + (TOPIC_DISTANCE * v) / norm);
})();

/** `count` records around `center` (log-lengths moved by `lengthShift` standard deviations). */
function draw(seed: string, count: number, center: readonly number[], lengthShift: number): Sample {
  const gauss = normals(createRng(seed));
  const vectors = Array.from({ length: count }, () => center.map((mu) => mu + gauss()));
  const lengths = Array.from({ length: count }, () =>
    Math.exp(LOG_LENGTH.mean + LOG_LENGTH.sd * (gauss() + lengthShift)),
  );
  return { vectors, lengths };
}

interface Scenario {
  readonly name: string;
  /** The current window of this scenario, from the null current window and records of the second topic. */
  readonly current: (base: Sample, topic: Sample) => Sample;
}

const meanShift = (delta: number): Scenario => ({
  name: `mean +${delta} sd`,
  current: (base) => ({
    vectors: base.vectors.map((v) => v.map((x) => x + delta)),
    lengths: base.lengths.map((l) => l * Math.exp(LOG_LENGTH.sd * delta)),
  }),
});
const topicShare = (share: number): Scenario => ({
  name: `topic ${share * 100}%`,
  current: (base, topic) => {
    const k = Math.round(share * base.vectors.length);
    return {
      vectors: [...topic.vectors.slice(0, k), ...base.vectors.slice(k)],
      lengths: [...topic.lengths.slice(0, k), ...base.lengths.slice(k)],
    };
  },
});
const NULL: Scenario = { name: 'null', current: (base) => base };
const SHIFTS: Scenario[] = options.smoke
  ? [meanShift(0.25)]
  : [meanShift(0.05), meanShift(0.1), meanShift(0.25), topicShare(0.1), topicShare(0.25)];
const MAX_TOPIC_SHARE = 0.25;

// ---------------------------------------------------------------------------------------------------
// The baseline: MMD² with a reference-only bootstrap null.

/** `keep` distinct indices of 0..count−1, drawn with `rng` (all of them when keep ≥ count). */
function subsample(count: number, keep: number, rng: Rng): number[] {
  const all = Array.from({ length: count }, (_, i) => i);
  if (keep >= count) return all;
  for (let i = 0; i < keep; i++) {
    const j = i + Math.floor(rng.next() * (count - i));
    [all[i], all[j]] = [all[j] as number, all[i] as number];
  }
  return all.slice(0, keep);
}

interface BaselineResult extends TwoSampleResult {
  readonly bandwidth: number;
}

/** The RBF kernel matrix of a pooled sample (reference rows first) and the sums the baseline needs. */
interface PooledKernel {
  /** k(xᵢ, xⱼ) for every i, j of the pooled sample, row-major (size × size, 1 on the diagonal). */
  readonly k: Float64Array;
  readonly bandwidth: number;
  /** Σ over unordered pairs within the reference, within the current window, and across them. */
  readonly refPairs: number;
  readonly curPairs: number;
  readonly mixed: number;
  /** Σᵢ k(xᵢ, x_a) over the reference rows i (diagonal included), for each reference row a. */
  readonly refColumn: Float64Array;
}

/**
 * The kernel matrix of the `size` rows of `x` (the first `n` from the reference), σ by the median
 * heuristic: the median distance over MEDIAN_PAIRS pairs of the pooled sample, drawn with `rng`.
 */
function pooledKernel(x: Float64Array, size: number, n: number, rng: Rng): PooledKernel {
  const k = new Float64Array(size * size);
  for (let i = 0; i < size; i++) {
    for (let j = i + 1; j < size; j++) {
      let s = 0;
      for (let d = 0; d < DIMS; d++) {
        const diff = (x[i * DIMS + d] as number) - (x[j * DIMS + d] as number);
        s += diff * diff;
      }
      k[i * size + j] = s;
    }
  }
  const distances = new Float64Array(MEDIAN_PAIRS);
  for (let p = 0; p < MEDIAN_PAIRS; p++) {
    const i = Math.floor(rng.next() * size);
    let j = Math.floor(rng.next() * (size - 1));
    if (j >= i) j++;
    distances[p] = Math.sqrt(k[Math.min(i, j) * size + Math.max(i, j)] as number);
  }
  distances.sort();
  const bandwidth = (distances[MEDIAN_PAIRS >> 1] as number) || 1;
  const scale = -1 / (2 * bandwidth * bandwidth);
  let refPairs = 0;
  let curPairs = 0;
  let mixed = 0;
  const refColumn = new Float64Array(n).fill(1);
  for (let i = 0; i < size; i++) {
    k[i * size + i] = 1;
    for (let j = i + 1; j < size; j++) {
      const v = Math.exp((k[i * size + j] as number) * scale);
      k[i * size + j] = v;
      k[j * size + i] = v;
      if (j < n) {
        refPairs += v;
        refColumn[i] = (refColumn[i] as number) + v;
        refColumn[j] = (refColumn[j] as number) + v;
      } else if (i >= n) {
        curPairs += v;
      } else {
        mixed += v;
      }
    }
  }
  return { k, bandwidth, refPairs, curPairs, mixed, refColumn };
}

/**
 * MMD² between the reference (the first `n` rows of the kernel) and one bootstrap resample of it,
 * `m` draws with replacement, `counts[a]` the times row a was drawn, `drawn` the rows drawn at least
 * once (`distinct` of them). The resample's pairs of distinct draws sum to cᵀKc − m (a draw paired
 * with itself has k = 1); its mixed term is Σ_a c_a · refColumn[a].
 */
function resampleMmd(
  kernel: PooledKernel,
  size: number,
  n: number,
  m: number,
  counts: Float64Array,
  drawn: Int32Array,
  distinct: number,
): number {
  const { k, refColumn } = kernel;
  let quadratic = 0;
  let cross = 0;
  for (let p = 0; p < distinct; p++) {
    const a = drawn[p] as number;
    const base = a * size;
    let row = 0;
    for (let q = 0; q < distinct; q++) {
      const c = drawn[q] as number;
      row += (k[base + c] as number) * (counts[c] as number);
    }
    const ca = counts[a] as number;
    quadratic += ca * row;
    cross += ca * (refColumn[a] as number);
  }
  return (2 * kernel.refPairs) / (n * (n - 1)) + (quadratic - m) / (m * (m - 1)) - (2 * cross) / (n * m);
}

/**
 * The "reference-only bootstrap" drift test: the unbiased MMD² of `mmdTest` (RBF kernel, σ by the
 * median heuristic on the pooled sample, n + m capped as there), but its null distribution is built
 * from the reference window alone: MMD² between the reference and `resamples` bootstrap resamples of
 * itself (m draws with replacement), p = (1 + #{null ≥ observed}) / (1 + resamples). A resample shares
 * most of its vectors with the reference and has none of a second window's sampling noise, so the null
 * sits below the real one: the test fires on windows from the same distribution.
 */
function referenceBootstrapMmd(
  reference: readonly (readonly number[])[],
  current: readonly (readonly number[])[],
  seed: string,
  resamples = PERMUTATIONS,
): BaselineResult {
  const rng = createRng(`${seed}/reference-bootstrap`);
  const half = Math.floor(CAP / 2);
  let n = reference.length;
  let m = current.length;
  if (n + m > CAP) {
    if (n <= m) {
      n = Math.min(n, half);
      m = CAP - n;
    } else {
      m = Math.min(m, half);
      n = CAP - m;
    }
  }
  const rows = [
    ...subsample(reference.length, n, rng).map((i) => reference[i] as readonly number[]),
    ...subsample(current.length, m, rng).map((i) => current[i] as readonly number[]),
  ];
  const size = n + m;
  const x = new Float64Array(size * DIMS);
  rows.forEach((v, i) => {
    x.set(v, i * DIMS);
  });
  const kernel = pooledKernel(x, size, n, rng);
  const observed =
    (2 * kernel.refPairs) / (n * (n - 1)) +
    (2 * kernel.curPairs) / (m * (m - 1)) -
    (2 * kernel.mixed) / (n * m);

  const counts = new Float64Array(n);
  const drawn = new Int32Array(n);
  let exceed = 0;
  for (let b = 0; b < resamples; b++) {
    counts.fill(0);
    for (let r = 0; r < m; r++) {
      const a = Math.floor(rng.next() * n);
      counts[a] = (counts[a] as number) + 1;
    }
    let distinct = 0;
    for (let a = 0; a < n; a++) if ((counts[a] as number) > 0) drawn[distinct++] = a;
    if (resampleMmd(kernel, size, n, m, counts, drawn, distinct) >= observed) exceed++;
  }
  const pValue = (1 + exceed) / (1 + resamples);
  return {
    test: 'mmd-reference-bootstrap',
    statistic: observed,
    pValue,
    drift: pValue < ALPHA,
    n: { reference: n, current: m },
    bandwidth: kernel.bandwidth,
  };
}

// ---------------------------------------------------------------------------------------------------
// Methods.

interface Method {
  readonly name: string;
  readonly run: (reference: Sample, current: Sample, seed: string) => TwoSampleResult;
}

const PRODUCT: Method[] = [
  {
    name: 'centroid',
    run: (r, c, seed) =>
      centroidDistance(r.vectors, c.vectors, { seed, alpha: ALPHA, permutations: PERMUTATIONS }),
  },
  {
    name: 'mmd',
    run: (r, c, seed) => mmdTest(r.vectors, c.vectors, { seed, alpha: ALPHA, permutations: PERMUTATIONS }),
  },
  { name: 'classifier', run: (r, c, seed) => classifierTest(r.vectors, c.vectors, { seed, alpha: ALPHA }) },
  { name: 'ks:length', run: (r, c) => ksTwoSample(r.lengths, c.lengths, { alpha: ALPHA }) },
];
const BASELINE: Method = {
  name: 'mmd-ref-bootstrap',
  run: (r, c, seed) => referenceBootstrapMmd(r.vectors, c.vectors, seed),
};
const METHODS = [...PRODUCT, BASELINE];
const SCENARIOS = [NULL, ...SHIFTS];

// ---------------------------------------------------------------------------------------------------
// Counting and printing.

interface Tally {
  hits: number;
  total: number;
  insufficient: number;
}
interface MethodStats {
  readonly tallies: Map<string, Tally>;
  ms: number;
  calls: number;
  /** Window sizes actually tested (MMD and the classifier subsample above the cap). */
  tested: string;
}

/** The 95% Wilson score interval of `hits` out of `total`. */
function wilson(hits: number, total: number): [number, number] {
  const p = hits / total;
  const z2 = Z95 * Z95;
  const denominator = 1 + z2 / total;
  const center = (p + z2 / (2 * total)) / denominator;
  const half = (Z95 / denominator) * Math.sqrt((p * (1 - p)) / total + z2 / (4 * total * total));
  return [Math.max(0, center - half), Math.min(1, center + half)];
}

const rate = (t: Tally) => t.hits / t.total;
const interval = (t: Tally) => {
  const [lo, hi] = wilson(t.hits, t.total);
  return `[${lo.toFixed(3)}, ${hi.toFixed(3)}]`;
};
/** A time in ms: three decimals below 1 ms (KS on a small window takes microseconds), two above. */
const milliseconds = (ms: number) => ms.toFixed(ms < 1 ? 3 : 2);
function verdict(t: Tally): string {
  if (rate(t) <= ALPHA) return 'ok';
  return wilson(t.hits, t.total)[0] <= ALPHA ? 'ok (noise)' : 'OVER';
}

announceSmoke();
console.log(
  `Drift benchmark: ${DIMS}-dim Gaussian embeddings + one length descriptor, alpha ${ALPHA}, ${PERMUTATIONS} permutations / bootstrap resamples (node ${process.version}, ${availableParallelism()} cores)`,
);
console.log(
  `  windows: reference n, current n; shifts: ${SHIFTS.map((s) => s.name).join(', ')}; the same seeds give the same windows and results`,
);
console.log(
  `  MMD and classifier subsample n + m to the cap of ${CAP} (DEFAULT_MAX_POOLED): ${CAP / 2} + ${CAP / 2} when n + n is over it; the baseline caps the same way`,
);

const started = performance.now();
SIZES.forEach((n, index) => {
  const seeds = SEEDS[index] as number;
  const t0 = performance.now();
  const stats = new Map<string, MethodStats>(
    METHODS.map((m) => [
      m.name,
      {
        tallies: new Map(SCENARIOS.map((s) => [s.name, { hits: 0, total: 0, insufficient: 0 }])),
        ms: 0,
        calls: 0,
        tested: '',
      },
    ]),
  );
  for (let seed = 0; seed < seeds; seed++) {
    const prefix = `drift-bench/${n}/${seed}`;
    const reference = draw(`${prefix}/reference`, n, MU0, 0);
    const base = draw(`${prefix}/current`, n, MU0, 0);
    const topic = draw(`${prefix}/topic`, Math.round(MAX_TOPIC_SHARE * n), TOPIC, LOG_LENGTH.topicShift);
    for (const scenario of SCENARIOS) {
      const current = scenario.current(base, topic);
      for (const method of METHODS) {
        const s = stats.get(method.name) as MethodStats;
        const tally = s.tallies.get(scenario.name) as Tally;
        const start = performance.now();
        const result = method.run(reference, current, `${prefix}/${scenario.name}`);
        s.ms += performance.now() - start;
        s.calls++;
        s.tested = `${result.n.reference} + ${result.n.current}`;
        tally.total++;
        if (result.insufficient) tally.insufficient++;
        else if (result.drift) tally.hits++;
      }
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const capped = 2 * n > CAP;
  console.log(
    `\nn ${n}: ${seeds} seeds × ${SCENARIOS.length} window pairs, ${seconds.toFixed(1)} s; MMD and classifier test ${(stats.get('mmd') as MethodStats).tested}${capped ? ` of ${n} + ${n} (subsampled to the cap of ${CAP})` : ' (whole windows, under the cap)'}`,
  );
  console.log(
    `  false alarms (reference vs reference)\n  ${'method'.padEnd(19)} ${'rate'.padStart(6)} ${'count'.padStart(8)}  ${'95% CI'.padEnd(15)}  ${'vs alpha'.padEnd(10)}  ${'ms/test'.padStart(9)}`,
  );
  for (const method of METHODS) {
    const s = stats.get(method.name) as MethodStats;
    const t = s.tallies.get(NULL.name) as Tally;
    console.log(
      `  ${method.name.padEnd(19)} ${rate(t).toFixed(3).padStart(6)} ${`${t.hits}/${t.total}`.padStart(8)}  ${interval(t)}  ${verdict(t).padEnd(10)}  ${milliseconds(s.ms / s.calls).padStart(9)}${t.insufficient > 0 ? `  (${t.insufficient} insufficient)` : ''}`,
    );
  }
  console.log(
    `  detection rate [95% CI] (${seeds} windows each)\n  ${'method'.padEnd(19)} ${SHIFTS.map((sh) => sh.name.padEnd(22)).join(' ')}`.trimEnd(),
  );
  for (const method of METHODS) {
    const s = stats.get(method.name) as MethodStats;
    const cells = SHIFTS.map((sh) => {
      const t = s.tallies.get(sh.name) as Tally;
      return `${rate(t).toFixed(3)} ${interval(t)}`.padEnd(22);
    });
    console.log(`  ${method.name.padEnd(19)} ${cells.join(' ')}`.trimEnd());
  }
  const mmd = stats.get('mmd') as MethodStats;
  const baseline = stats.get(BASELINE.name) as MethodStats;
  const product = mmd.tallies.get(NULL.name) as Tally;
  const bootstrap = baseline.tallies.get(NULL.name) as Tally;
  // No false alarm of the permutation test: the ratio against one, a lower bound.
  const ratio =
    product.hits === 0
      ? `>${formatRatio(rate(bootstrap) / (1 / product.total))}`
      : formatRatio(rate(bootstrap) / rate(product));
  console.log(
    `  baseline: false alarms mmd-ref-bootstrap ${rate(bootstrap).toFixed(3)} vs mmd permutation ${rate(product).toFixed(3)}: ratio ${ratio}; ms/test ${milliseconds(baseline.ms / baseline.calls)} vs ${milliseconds(mmd.ms / mmd.calls)}: ratio ${formatRatio(baseline.ms / baseline.calls / (mmd.ms / mmd.calls))}`,
  );
});

console.log(
  `\nratio = mmd-ref-bootstrap / mmd permutation (false alarms: lower is better for the permutation test; ">" when the permutation test had none, counted as one); total ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
