import { availableParallelism } from 'node:os';
import { DRIFT_SIGNALS, type DriftSignal } from '#contracts/drift/baseline.ts';
import {
  type DriftAlarmPolicy,
  driftAlarmPolicy,
  falseRunProbability,
  SHARED_BASELINE_FACTOR,
} from '#core/drift/alarm-policy.ts';
import {
  centroidDistance,
  classifierTest,
  DEFAULT_EMBEDDING_PERMUTATIONS,
  DEFAULT_MAX_POOLED,
  MEDIAN_PAIRS,
  minWindowSize,
  mmdTest,
  normalQuantile,
} from '#core/drift/embedding.ts';
import { compareOutcomes, type OutcomeCounts } from '#core/drift/outcomes.ts';
import { bhAdjusted, chiSquaredTest, DEFAULT_ALPHA, ksTwoSample } from '#core/drift/stats.ts';
import type { TwoSampleResult } from '#core/drift/types.ts';
import { createRng, type Rng } from '#core/eval/stats.ts';
import { PROFILE_CONFIGS, PROFILES, type Profile } from '#infra/config/index.ts';
import { announceSmoke, formatRatio, options, sizedList } from './options.ts';

/**
 * `npm run bench:drift`: how often the drift engine's two-sample tests raise a false alarm, and how
 * often they catch a real shift, measured over many seeded windows, side by side with a baseline; then
 * the same for the signals that page, at each profile's alpha, and how often the alarms' M of N pages
 * falsely over sequences of windows compared with one fixed baseline.
 *
 * Data: 32-dimensional Gaussian "embeddings" x = μ₀ + z, z ~ N(0, I), around a common mean μ₀ (entries
 * N(0, 0.5²), fixed for the run; ‖μ₀‖² ≈ 6.2, so two random records have a cosine of about 0.16: real
 * embeddings share a common direction too, and the centroid test follows it), and one continuous
 * descriptor per record, a response length exp(5 + 0.5·w), w ~ N(0, 1), for the KS test. Each record
 * also has five text descriptors, each a function of its own standard normal (drawn from a separate
 * stream, so the embeddings and lengths are the same as without them), shaped like the check's
 * (`descriptors.ts`): `tokens` round(e^(3 + 0.6·u)) (integers: ties), `nonLetterShare` 1 / (1 + e^(2 − 0.5·u)),
 * `language` five scripts with shares 60/15/10/10/5% (u cut at the normal quantiles), `oovRate`
 * max(0, 0.08·(u − 0.25)) (60% zeros), `piiRate` u above the 97th percentile (3% true). Windows:
 * - null: reference and current both drawn from that distribution (the false-alarm rate);
 * - mean +δ sd: the current window moved by δ standard deviations in every dimension (δ 0.05, 0.1,
 *   0.25), and its lengths' log and every descriptor's u by δ standard deviations;
 * - topic p: a share p (10%, 25%) of the current window replaced by records of a second cluster,
 *   μ₀ + 3u + z (u a fixed random unit vector: a topic 3 standard deviations away), 1 standard
 *   deviation longer on the log scale, each descriptor's u 1 standard deviation higher.
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
 * At each profile's alpha (infra/config: the alpha `driftAlarmPolicy` sets for dev and prod), three more
 * rows: `chi2:language`, the chi-squared test of homogeneity (`chiSquaredTest`) on the categorical
 * descriptor; `signal:embedding`, the embedding signal as the check decides it (the smallest p-value of
 * the centroid, MMD and classifier tests, against alpha / 3, the centroid and MMD tests run with the
 * profile's permutations, `drift.permutations`: dev 200, the tests above; prod 1,000, run again);
 * `signal:descriptors`, the descriptors signal (the five descriptors by KS or chi-squared, as
 * `checkDrift` tests them, the smallest Benjamini–Hochberg adjusted p-value against alpha). A window
 * below the profile's minimum (`minWindowSize` at its alpha, effect and power: 68 in dev at 0.02, 81 in
 * prod at 0.01) is insufficient, as in the check. These rows are computed at the sizes of
 * BENCH_DRIFT_SIGNAL_SIZES (default 100, where the 1,000 seeds make them informative: prod's 1,000
 * permutations cost about 1.5 s an MMD test at the cap, which would add some 14 minutes at 1,000 and
 * 10,000).
 *
 * Each row gives a rate, its count, a 95% Wilson interval, and (false alarms) a verdict against alpha:
 * `ok` at or under alpha, `ok (noise)` above alpha but with alpha inside the interval (within noise),
 * `OVER` when the whole interval lies above alpha. ms/test: the mean time of one test call, over all
 * its windows. BENCH_DRIFT_SIZES (default 100,1000,10000), BENCH_DRIFT_SEEDS (seeds per size with
 * every window pair, default 1000,20,12) and BENCH_DRIFT_NULL_SEEDS (more seeds per size with the null
 * pair only, for the false alarms: the baseline, whose rate is near 1, is left out of them; default
 * 0,200,120).
 *
 * M of N false pages: the alarms page when M windows in a row breach (`driftAlarmPolicy`: 2 of 2 in both
 * profiles). Every window of a check is compared with the SAME baseline (the check pins its first
 * sufficient window), so its windows are correlated: a baseline that happens to sit off the traffic's
 * centre makes every window look shifted, and runs are likelier than alpha^M. The policy bounds a run by
 * F^(M − 1) · alpha^M (F = SHARED_BASELINE_FACTOR, the worst ratio this section measured, rounded up) and
 * the false pages a month by W times that per signal; this section measures both. Here, per baseline,
 * BENCH_DRIFT_SEQUENCE_WINDOWS null windows (default 10) each compared with it, for
 * BENCH_DRIFT_SEQUENCE_BASELINES baselines (default 1,000), at window sizes BENCH_DRIFT_SEQUENCE_SIZES
 * (default 100: at least both profiles' minimum) with baselines of BENCH_DRIFT_SEQUENCE_RATIOS windows
 * (default 1, what a check pins; "4" gives "n 100 × 4", a baseline of 400 records for windows of 100):
 * each signal of the check (embedding, with the profile's permutations, and descriptors as above; quality:
 * `compareOutcomes` on each window's error, throttle and guardrail counts, 2%, 1% and 5% of the calls)
 * fires or not at each profile's alpha. Given its baseline the windows are independent, so every ordered
 * tuple of them estimates the chance of a run (see `alarmRates`). Printed per profile and signal: the
 * share of windows that fire; the chance that M windows in a row fire (independent windows: alpha^M),
 * its ratio to alpha^M, the policy's factor F^(M − 1) and the model's (`falseRunProbability`, which takes
 * each signal to fire in alpha of the windows); the false pages a month (windows a month × the chance
 * that a window starts an ALARM episode), for the composite too; each with a 95% interval over the
 * baselines, against the policy's bound (`held` when the estimate is at or under it) and the target
 * (`drift.falsePagesPerMonth`): `met` at or under it, `exceeded (within noise)` above it with the target
 * inside the interval, `EXCEEDED` when the whole interval lies above it.
 *
 * BENCH_DRIFT_SECTIONS (`pairs`, `sequence`, comma-separated; default both) runs one section alone:
 * `BENCH_DRIFT_SECTIONS=sequence npx tsx bench/drift.ts` is the M of N section. The default run takes
 * about 15 minutes on one thread of the 2-core development machine (MMD taking most of it: the pairs
 * about 7, the sequence about 5 to 9 by the machine's load). `--smoke`: n 50, 10 seeds, one shift (mean
 * +0.25 sd), 3 baselines of 3 windows of 100, the same code path, in a few seconds.
 */
const SIZES = sizedList('BENCH_DRIFT_SIZES', [100, 1000, 10_000], [50]);
const SEEDS = sizedList('BENCH_DRIFT_SEEDS', [1000, 20, 12], [10]);
const NULL_SEEDS = sizedList('BENCH_DRIFT_NULL_SEEDS', [0, 200, 120], [0]);
const SIGNAL_SIZES = sizedList('BENCH_DRIFT_SIGNAL_SIZES', [100], [50]);
const SEQUENCE_SIZES = sizedList('BENCH_DRIFT_SEQUENCE_SIZES', [100], [100]);
const SEQUENCE_RATIOS = sizedList('BENCH_DRIFT_SEQUENCE_RATIOS', [1], [1]);
const [SEQUENCE_BASELINES = 0] = sizedList('BENCH_DRIFT_SEQUENCE_BASELINES', [1000], [3]);
const [SEQUENCE_WINDOWS = 0] = sizedList('BENCH_DRIFT_SEQUENCE_WINDOWS', [10], [3]);
/** The sections to run (BENCH_DRIFT_SECTIONS, comma-separated: `pairs`, `sequence`; both by default and in smoke mode). */
const SECTIONS = new Set(
  options.smoke || (process.env.BENCH_DRIFT_SECTIONS ?? '') === ''
    ? ['pairs', 'sequence']
    : (process.env.BENCH_DRIFT_SECTIONS as string).split(',').map((s) => s.trim()),
);
if ([...SECTIONS].some((s) => s !== 'pairs' && s !== 'sequence') || SECTIONS.size === 0) {
  throw new Error(
    `BENCH_DRIFT_SECTIONS must list pairs and/or sequence, got ${process.env.BENCH_DRIFT_SECTIONS}`,
  );
}
const positiveIntegers = (values: readonly number[]) => values.every((v) => Number.isInteger(v) && v > 0);
if (
  SEEDS.length !== SIZES.length ||
  NULL_SEEDS.length !== SIZES.length ||
  !positiveIntegers([...SIZES, ...SEEDS]) ||
  !NULL_SEEDS.every((v) => Number.isInteger(v) && v >= 0)
) {
  throw new Error(
    `BENCH_DRIFT_SEEDS and BENCH_DRIFT_NULL_SEEDS must give one integer per size of BENCH_DRIFT_SIZES, positive and at least 0 (sizes ${SIZES}, seeds ${SEEDS}, null seeds ${NULL_SEEDS})`,
  );
}
if (
  !positiveIntegers([...SEQUENCE_SIZES, ...SEQUENCE_RATIOS, SEQUENCE_BASELINES]) ||
  !(Number.isInteger(SEQUENCE_WINDOWS) && SEQUENCE_WINDOWS >= 2)
) {
  throw new Error(
    'BENCH_DRIFT_SEQUENCE_SIZES, _RATIOS and _BASELINES must be positive integers, BENCH_DRIFT_SEQUENCE_WINDOWS at least 2',
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
// The profiles: each one's alpha, alarm and false-page budget, as the stack synthesizes them.

interface ProfileLevel {
  readonly name: Profile;
  readonly policy: DriftAlarmPolicy;
  /** The check's minimum window at the profile's alpha, effect and power. */
  readonly minWindow: number;
  /** The false-page target of one check (all its signals), a month. */
  readonly target: number;
  /** Label permutations of the profile's centroid and MMD tests (`drift.permutations`). */
  readonly permutations: number;
  /** The profile's checks (the policy's bound covers all of them; the target and bound here are one check's). */
  readonly checks: number;
}

const LEVELS: ProfileLevel[] = PROFILES.map((name) => {
  const drift = PROFILE_CONFIGS[name].drift;
  const policy = driftAlarmPolicy({
    cadenceMinutes: drift.cadenceMinutes,
    falsePagesPerMonth: drift.falsePagesPerMonth,
    signals: Math.max(1, drift.checks.length * DRIFT_SIGNALS.length),
    permutations: drift.permutations,
  });
  return {
    name,
    policy,
    minWindow: minWindowSize({ effect: drift.effect, alpha: policy.alpha, power: drift.power }),
    target: drift.falsePagesPerMonth / Math.max(1, drift.checks.length),
    permutations: drift.permutations,
    checks: Math.max(1, drift.checks.length),
  };
});
/** The profiles' permutation counts, each once: the embedding signal is tested with each. */
const LEVEL_PERMUTATIONS = [...new Set(LEVELS.map((l) => l.permutations))];

// ---------------------------------------------------------------------------------------------------
// Data.

interface Sample {
  readonly vectors: number[][];
  readonly lengths: number[];
  /** Per record, the standard normal behind each text descriptor (DESCRIPTOR_NAMES order). */
  readonly latents: number[][];
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

/** The check's text descriptors, as drawn here. */
const DESCRIPTOR_NAMES = ['tokens', 'nonLetterShare', 'language', 'oovRate', 'piiRate'] as const;
const LANGUAGE_SHARES = [0.6, 0.15, 0.1, 0.1, 0.05];
const LANGUAGES = ['latin', 'cyrillic', 'han', 'arabic', 'devanagari'];
/** Upper cut points of the language bins on the normal scale (the last bin is unbounded). */
const LANGUAGE_CUTS = LANGUAGE_SHARES.slice(0, -1).map((_, i) =>
  normalQuantile(LANGUAGE_SHARES.slice(0, i + 1).reduce((s, v) => s + v, 0)),
);
const PII_CUT = normalQuantile(0.97);

/**
 * `count` records around `center` (log-lengths and descriptor normals moved by `shift` standard
 * deviations). The descriptor normals come from their own stream: the embeddings and lengths of a
 * seed are those of a run without them.
 */
function draw(seed: string, count: number, center: readonly number[], shift: number): Sample {
  const gauss = normals(createRng(seed));
  const vectors = Array.from({ length: count }, () => center.map((mu) => mu + gauss()));
  const lengths = Array.from({ length: count }, () =>
    Math.exp(LOG_LENGTH.mean + LOG_LENGTH.sd * (gauss() + shift)),
  );
  const other = normals(createRng(`${seed}/descriptors`));
  const latents = Array.from({ length: count }, () => DESCRIPTOR_NAMES.map(() => other() + shift));
  return { vectors, lengths, latents };
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
    latents: base.latents.map((u) => u.map((x) => x + delta)),
  }),
});
const topicShare = (share: number): Scenario => ({
  name: `topic ${share * 100}%`,
  current: (base, topic) => {
    const k = Math.round(share * base.vectors.length);
    return {
      vectors: [...topic.vectors.slice(0, k), ...base.vectors.slice(k)],
      lengths: [...topic.lengths.slice(0, k), ...base.lengths.slice(k)],
      latents: [...topic.latents.slice(0, k), ...base.latents.slice(k)],
    };
  },
});
const NULL: Scenario = { name: 'null', current: (base) => base };
const SHIFTS: Scenario[] = options.smoke
  ? [meanShift(0.25)]
  : [meanShift(0.05), meanShift(0.1), meanShift(0.25), topicShare(0.1), topicShare(0.25)];
const MAX_TOPIC_SHARE = 0.25;

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
/** The embedding tests of the check's embedding signal, by their names above. */
const EMBEDDING_TESTS = ['centroid', 'mmd', 'classifier'] as const;

/**
 * The embedding signal's p-values (EMBEDDING_TESTS order) with each of `counts` label permutations, as
 * a profile's check runs its tests (`drift.permutations`). `known` holds p-values already computed with
 * the benchmark's own PERMUTATIONS under the same seed (the same results): they are reused, as is the
 * classifier's, which has no permutations.
 */
function embeddingPValues(
  reference: Sample,
  current: Sample,
  seed: string,
  counts: readonly number[],
  known: ReadonlyMap<string, number | null> = new Map(),
): Map<number, number[]> {
  const value = (r: TwoSampleResult) => r.pValue ?? Number.NaN;
  const classifier = known.has('classifier')
    ? (known.get('classifier') ?? Number.NaN)
    : value(classifierTest(reference.vectors, current.vectors, { seed, alpha: ALPHA }));
  return new Map(
    counts.map((permutations) => {
      if (permutations === PERMUTATIONS && known.has('centroid') && known.has('mmd')) {
        return [permutations, EMBEDDING_TESTS.map((name) => known.get(name) ?? Number.NaN)];
      }
      const opts = { seed, alpha: ALPHA, permutations };
      return [
        permutations,
        [
          value(centroidDistance(reference.vectors, current.vectors, opts)),
          value(mmdTest(reference.vectors, current.vectors, opts)),
          classifier,
        ],
      ];
    }),
  );
}

// ---------------------------------------------------------------------------------------------------
// Descriptors and the signals that page, as the check decides them.

type Descriptor = (typeof DESCRIPTOR_NAMES)[number];
type DescriptorValues = Record<Descriptor, (number | string)[]>;

function descriptorValues(sample: Sample): DescriptorValues {
  const column = (d: number) => sample.latents.map((u) => u[d] as number);
  return {
    tokens: column(0).map((u) => Math.max(1, Math.round(Math.exp(3 + 0.6 * u)))),
    nonLetterShare: column(1).map((u) => 1 / (1 + Math.exp(2 - 0.5 * u))),
    language: column(2).map((u) => {
      const bin = LANGUAGE_CUTS.findIndex((cut) => u <= cut);
      return LANGUAGES[bin === -1 ? LANGUAGES.length - 1 : bin] as string;
    }),
    oovRate: column(3).map((u) => Math.max(0, 0.08 * (u - 0.25))),
    piiRate: column(4).map((u) => String(u > PII_CUT)),
  };
}

function counts(values: readonly (number | string)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[String(v)] = (out[String(v)] ?? 0) + 1;
  return out;
}

/** Each descriptor's p-value as `checkDrift` tests it: KS when continuous, chi-squared when categorical. */
function descriptorPValues(reference: DescriptorValues, current: DescriptorValues): number[] {
  return DESCRIPTOR_NAMES.map((name) => {
    const r = reference[name];
    const c = current[name];
    const result =
      typeof r[0] === 'string'
        ? chiSquaredTest(counts(r), counts(c))
        : ksTwoSample(r as number[], c as number[]);
    return result.pValue ?? Number.NaN;
  });
}

/** The p-values a window's signals are decided on (each against its threshold). */
interface WindowPValues {
  /** Smallest of the three embedding tests' p-values (against alpha / 3). */
  readonly embedding: number;
  /** Smallest Benjamini–Hochberg adjusted p-value of the descriptors (against alpha). */
  readonly descriptors: number;
  /** The chi-squared test of the language descriptor alone (against alpha). */
  readonly language: number;
}

function windowPValues(embedding: readonly number[], descriptors: readonly number[]): WindowPValues {
  const adjusted = bhAdjusted(descriptors) as number[];
  return {
    embedding: Math.min(...embedding),
    descriptors: Math.min(...adjusted),
    language: descriptors[DESCRIPTOR_NAMES.indexOf('language')] as number,
  };
}

/** A row of the per-profile table: its name, and whether a window fires at the profile's alpha. */
interface SignalRow {
  readonly name: string;
  readonly fires: (p: WindowPValues, alpha: number) => boolean;
}
const SIGNAL_ROWS: SignalRow[] = [
  // A method's row: drift when p < alpha, as the tests decide.
  { name: 'chi2:language', fires: (p, alpha) => p.language < alpha },
  // The check: a test fired when p ≤ alpha / 3; BH rejects when the adjusted p ≤ alpha.
  { name: 'signal:embedding', fires: (p, alpha) => p.embedding <= alpha / 3 },
  { name: 'signal:descriptors', fires: (p, alpha) => p.descriptors <= alpha },
];

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

const emptyTallies = () => new Map(SCENARIOS.map((s) => [s.name, { hits: 0, total: 0, insufficient: 0 }]));

/** The 95% Wilson score interval of `hits` out of `total`. */
function wilson(hits: number, total: number): [number, number] {
  const p = hits / total;
  const z2 = Z95 * Z95;
  const denominator = 1 + z2 / total;
  const center = (p + z2 / (2 * total)) / denominator;
  const half = (Z95 / denominator) * Math.sqrt((p * (1 - p)) / total + z2 / (4 * total * total));
  return [Math.max(0, center - half), Math.min(1, center + half)];
}

/** Windows that were tested (an insufficient one has no verdict). */
const tested = (t: Tally) => t.total - t.insufficient;
const rate = (t: Tally) => t.hits / tested(t);
const interval = (t: Tally) => {
  const [lo, hi] = wilson(t.hits, tested(t));
  return `[${lo.toFixed(3)}, ${hi.toFixed(3)}]`;
};
/** A time in ms: three decimals below 1 ms (KS on a small window takes microseconds), two above. */
const milliseconds = (ms: number) => ms.toFixed(ms < 1 ? 3 : 2);
function verdict(t: Tally, alpha = ALPHA): string {
  if (rate(t) <= alpha) return 'ok';
  return wilson(t.hits, tested(t))[0] <= alpha ? 'ok (noise)' : 'OVER';
}
/** A cell of a rate with its interval; `insufficient` when no window of it was tested. */
const cell = (t: Tally) => (tested(t) === 0 ? 'insufficient' : `${rate(t).toFixed(3)} ${interval(t)}`);

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
console.log(
  `  profiles (infra/config, driftAlarmPolicy): ${LEVELS.map((l) => `${l.name} alpha ${l.policy.alpha}, ${l.policy.datapointsToAlarm} of ${l.policy.evaluationPeriods} windows, ${l.policy.windowsPerMonth} windows a month, minimum window ${l.minWindow}`).join('; ')}`,
);
console.log(
  '  vs alpha: ok = at or under alpha; ok (noise) = above alpha, within noise (alpha inside the 95% CI); OVER = the whole CI above alpha',
);

const started = performance.now();
(SECTIONS.has('pairs') ? SIZES : []).forEach((n, index) => {
  const seeds = SEEDS[index] as number;
  const nullSeeds = NULL_SEEDS[index] as number;
  /** Whether the rows at each profile's alpha are computed at this size. */
  const signalSized = SIGNAL_SIZES.includes(n);
  const t0 = performance.now();
  const stats = new Map<string, MethodStats>(
    METHODS.map((m) => [m.name, { tallies: emptyTallies(), ms: 0, calls: 0, tested: '' }]),
  );
  const signalStats = new Map<string, Map<string, Tally>>(
    LEVELS.flatMap((level) => SIGNAL_ROWS.map((row) => [`${row.name}|${level.name}`, emptyTallies()])),
  );
  /** One seed: every window pair (`full`), or the null pair only, without the baseline. */
  const runSeed = (seed: number, full: boolean) => {
    const prefix = `drift-bench/${n}/${seed}`;
    const reference = draw(`${prefix}/reference`, n, MU0, 0);
    const base = draw(`${prefix}/current`, n, MU0, 0);
    const topic = draw(`${prefix}/topic`, Math.round(MAX_TOPIC_SHARE * n), TOPIC, LOG_LENGTH.topicShift);
    const referenceDescriptors = descriptorValues(reference);
    for (const scenario of full ? SCENARIOS : [NULL]) {
      const current = scenario.current(base, topic);
      const pValues = new Map<string, number | null>();
      for (const method of full ? METHODS : PRODUCT) {
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
        pValues.set(method.name, result.pValue);
      }
      // The signals at each profile's alpha, its embedding tests with its own permutations.
      if (!signalSized) continue;
      const sufficient = LEVELS.filter((level) => n >= level.minWindow);
      const embeddingByCount = embeddingPValues(
        reference,
        current,
        `${prefix}/${scenario.name}`,
        [...new Set(sufficient.map((level) => level.permutations))],
        pValues,
      );
      const descriptors = descriptorPValues(referenceDescriptors, descriptorValues(current));
      for (const level of LEVELS) {
        const embedding = embeddingByCount.get(level.permutations);
        for (const row of SIGNAL_ROWS) {
          const tally = signalStats.get(`${row.name}|${level.name}`)?.get(scenario.name) as Tally;
          tally.total++;
          if (n < level.minWindow || embedding === undefined || embedding.some(Number.isNaN)) {
            tally.insufficient++;
          } else if (row.fires(windowPValues(embedding, descriptors), level.policy.alpha)) tally.hits++;
        }
      }
    }
  };
  for (let seed = 0; seed < seeds; seed++) runSeed(seed, true);
  for (let seed = seeds; seed < seeds + nullSeeds; seed++) runSeed(seed, false);
  const seconds = (performance.now() - t0) / 1000;
  const capped = 2 * n > CAP;
  console.log(
    `\nn ${n}: ${seeds} seeds × ${SCENARIOS.length} window pairs${nullSeeds > 0 ? ` + ${nullSeeds} seeds × the null pair` : ''}, ${seconds.toFixed(1)} s; MMD and classifier test ${(stats.get('mmd') as MethodStats).tested}${capped ? ` of ${n} + ${n} (subsampled to the cap of ${CAP})` : ' (whole windows, under the cap)'}`,
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
    const cells = SHIFTS.map((sh) => cell(s.tallies.get(sh.name) as Tally).padEnd(22));
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

  if (!signalSized) {
    console.log(
      `  at each profile's alpha: not computed at n ${n} (BENCH_DRIFT_SIGNAL_SIZES: ${SIGNAL_SIZES.join(',')})`,
    );
    return;
  }
  console.log(
    `  at each profile's alpha: chi-squared on the language descriptor, and the signals that page (embedding: smallest p of the three tests vs alpha / 3, centroid and MMD with the profile's permutations, ${LEVELS.map((l) => `${l.name} ${l.permutations}`).join(', ')}; descriptors: smallest BH-adjusted p of ${DESCRIPTOR_NAMES.length} descriptors vs alpha)`,
  );
  console.log(
    `  false alarms\n  ${'signal'.padEnd(19)} ${'profile'.padEnd(7)} ${'alpha'.padStart(5)} ${'rate'.padStart(6)} ${'count'.padStart(8)}  ${'95% CI'.padEnd(15)}  vs alpha`,
  );
  for (const level of LEVELS) {
    for (const row of SIGNAL_ROWS) {
      const t = signalStats.get(`${row.name}|${level.name}`)?.get(NULL.name) as Tally;
      const alpha = level.policy.alpha;
      const head = `  ${row.name.padEnd(19)} ${level.name.padEnd(7)} ${String(alpha).padStart(5)}`;
      console.log(
        tested(t) === 0
          ? `${head}  insufficient (n ${n} is under the profile's minimum window, ${level.minWindow})`
          : `${head} ${rate(t).toFixed(3).padStart(6)} ${`${t.hits}/${tested(t)}`.padStart(8)}  ${interval(t)}  ${verdict(t, alpha)}`,
      );
    }
  }
  console.log(
    `  detection rate [95% CI] (${seeds} windows each)\n  ${'signal'.padEnd(19)} ${'profile'.padEnd(7)} ${SHIFTS.map((sh) => sh.name.padEnd(22)).join(' ')}`.trimEnd(),
  );
  for (const level of LEVELS) {
    for (const row of SIGNAL_ROWS) {
      const tallies = signalStats.get(`${row.name}|${level.name}`) as Map<string, Tally>;
      const cells = SHIFTS.map((sh) => cell(tallies.get(sh.name) as Tally).padEnd(22));
      console.log(`  ${row.name.padEnd(19)} ${level.name.padEnd(7)} ${cells.join(' ')}`.trimEnd());
    }
  }
});

if (SECTIONS.has('pairs')) {
  console.log(
    `\nratio = mmd-ref-bootstrap / mmd permutation (false alarms: lower is better for the permutation test; ">" when the permutation test had none, counted as one)`,
  );
}

// ---------------------------------------------------------------------------------------------------
// M of N over sequences of windows against one fixed baseline.

/** Outcome shares of the calls: errors and throttles are statuses of different calls; interventions any. */
const OUTCOME_SHARES = { errors: 0.02, throttles: 0.01, guardrailInterventions: 0.05 };

function drawOutcomes(seed: string, calls: number): OutcomeCounts {
  const rng = createRng(seed);
  let errors = 0;
  let throttles = 0;
  let guardrailInterventions = 0;
  for (let i = 0; i < calls; i++) {
    const status = rng.next();
    if (status < OUTCOME_SHARES.errors) errors++;
    else if (status < OUTCOME_SHARES.errors + OUTCOME_SHARES.throttles) throttles++;
    if (rng.next() < OUTCOME_SHARES.guardrailInterventions) guardrailInterventions++;
  }
  return { calls, errors, throttles, guardrailInterventions };
}

/** A signal's p-value in one window and the level it is held to. */
interface SequenceSignal {
  readonly p: (w: WindowPValues & { readonly quality: number | null }) => number | null;
  readonly threshold: (alpha: number) => number;
}
/** The paging signals simulated here (the users' feedback, within the quality signal's share, is not drawn). */
const SIMULATED = ['embedding', 'descriptors', 'quality'] as const satisfies readonly DriftSignal[];
type Simulated = (typeof SIMULATED)[number];
const SEQUENCE_SIGNALS: Record<Simulated, SequenceSignal> = {
  embedding: { p: (w) => w.embedding, threshold: (alpha) => alpha / 3 },
  descriptors: { p: (w) => w.descriptors, threshold: (alpha) => alpha },
  quality: { p: (w) => w.quality, threshold: (alpha) => alpha },
};

/** Per baseline, per window: whether each signal fired, at one profile's alpha. */
type Fired = Record<Simulated, boolean>[];

/** Every ordered tuple of `size` distinct indices of 0..count−1. */
function orderedTuples(count: number, size: number): number[][] {
  const out: number[][] = [];
  const walk = (prefix: number[]) => {
    if (prefix.length === size) {
      out.push(prefix);
      return;
    }
    for (let i = 0; i < count; i++) if (!prefix.includes(i)) walk([...prefix, i]);
  };
  walk([]);
  return out;
}

/**
 * What the alarms of one baseline's windows do, per window. The windows of one baseline are drawn
 * independently given it (exchangeable), so the chance that M windows in a row fire is the chance for
 * any M of them, and every ordered tuple of distinct windows estimates it: far more precision from the
 * same windows than their consecutive runs alone. With M of M breaching periods, a signal's alarm
 * enters ALARM at a window (a page) when it and the M − 1 before it fire and the one before those does
 * not (else the alarm was in ALARM already): an ordered (M + 1)-tuple. The composite pages when some
 * signal's alarm is in ALARM and none was a window before.
 */
function alarmRates(
  fired: Fired,
  m: number,
): {
  fire: Record<Simulated, number>;
  run: Record<Simulated, number>;
  page: Record<Simulated, number>;
  composite: number;
} {
  const runs = orderedTuples(fired.length, m);
  const pages = orderedTuples(fired.length, m + 1);
  const all = (tuple: readonly number[], signal: Simulated) =>
    tuple.every((t) => fired[t]?.[signal] === true);
  const mean = (tuples: readonly number[][], f: (t: readonly number[]) => boolean) =>
    tuples.length === 0 ? 0 : tuples.filter(f).length / tuples.length;
  const per = (f: (signal: Simulated) => number) =>
    Object.fromEntries(SIMULATED.map((signal) => [signal, f(signal)])) as Record<Simulated, number>;
  const alarmAt = (tuple: readonly number[]) => SIMULATED.some((signal) => all(tuple, signal));
  return {
    fire: per((signal) => fired.filter((f) => f[signal]).length / fired.length),
    run: per((signal) => mean(runs, (t) => all(t, signal))),
    page: per((signal) => mean(pages, (t) => all(t.slice(1), signal) && !all(t.slice(0, m), signal))),
    composite: mean(pages, (t) => alarmAt(t.slice(1)) && !alarmAt(t.slice(0, m))),
  };
}

/** Mean of per-baseline values with a 95% normal interval over the baselines (floored at 0). */
function clusterMean(values: readonly number[]): { mean: number; lo: number; hi: number } {
  const k = values.length;
  const mean = values.reduce((s, v) => s + v, 0) / k;
  const variance = k > 1 ? values.reduce((s, v) => s + (v - mean) ** 2, 0) / (k - 1) : 0;
  const half = Z95 * Math.sqrt(variance / k);
  return { mean, lo: Math.max(0, mean - half), hi: mean + half };
}

const fixed = (x: number, digits: number) => x.toFixed(digits);
const withInterval = (c: { mean: number; lo: number; hi: number }, digits: number) =>
  `${fixed(c.mean, digits)} [${fixed(c.lo, digits)}, ${fixed(c.hi, digits)}]`;

if (SECTIONS.has('sequence')) {
  console.log(
    `\nM of N false pages: ${SEQUENCE_BASELINES} baselines per row, each compared with ${SEQUENCE_WINDOWS} null windows (one fixed baseline per check, as the check pins it: its windows share it); quality: errors ${OUTCOME_SHARES.errors * 100}%, throttles ${OUTCOME_SHARES.throttles * 100}%, guardrail ${OUTCOME_SHARES.guardrailInterventions * 100}% of the calls`,
  );
  console.log(
    `  fire: share of windows whose signal fires; run: chance that M windows in a row fire [95% CI over baselines] (independent windows: alpha^M), and its ratio to alpha^M; factor: the policy's allowance for the shared baseline, SHARED_BASELINE_FACTOR^(M − 1) (${SHARED_BASELINE_FACTOR}^(M − 1)); model: falseRunProbability / alpha^M; pages a month: windows a month × the chance a window starts an ALARM episode; bound: the policy's W · factor · alpha^M (per signal; all signals for the page row), held when the estimate is at or under it`,
  );
}
for (const n of SECTIONS.has('sequence') ? SEQUENCE_SIZES : []) {
  for (const ratio of SEQUENCE_RATIOS) {
    const t0 = performance.now();
    const baselineN = n * ratio;
    const firedByLevel = new Map<Profile, Fired[]>(LEVELS.map((l) => [l.name, []]));
    for (let b = 0; b < SEQUENCE_BASELINES; b++) {
      const prefix = `drift-bench/sequence/${n}x${ratio}/${b}`;
      const reference = draw(`${prefix}/baseline`, baselineN, MU0, 0);
      const referenceDescriptors = descriptorValues(reference);
      const referenceOutcomes = drawOutcomes(`${prefix}/baseline-outcomes`, baselineN);
      const windows: {
        readonly p: Map<number, WindowPValues>;
        readonly quality: Record<Profile, number | null>;
      }[] = [];
      for (let t = 0; t < SEQUENCE_WINDOWS; t++) {
        const seed = `${prefix}/window/${t}`;
        const current = draw(seed, n, MU0, 0);
        const descriptors = descriptorPValues(referenceDescriptors, descriptorValues(current));
        const byCount = embeddingPValues(reference, current, seed, LEVEL_PERMUTATIONS);
        const p = new Map(
          [...byCount].map(([count, embedding]) => [count, windowPValues(embedding, descriptors)]),
        );
        const outcomes = drawOutcomes(`${seed}/outcomes`, n);
        const quality = Object.fromEntries(
          LEVELS.map((l) => [
            l.name,
            compareOutcomes(referenceOutcomes, outcomes, { alpha: l.policy.alpha, minWindow: l.minWindow })
              .pValue,
          ]),
        ) as Record<Profile, number | null>;
        windows.push({ p, quality });
      }
      for (const level of LEVELS) {
        const fired = windows.map(
          (w) =>
            Object.fromEntries(
              SIMULATED.map((signal) => {
                const spec = SEQUENCE_SIGNALS[signal];
                const p = spec.p({
                  ...(w.p.get(level.permutations) as WindowPValues),
                  quality: w.quality[level.name],
                });
                // A window under the minimum publishes no score: never breaching.
                const scored = n >= level.minWindow && p !== null && !Number.isNaN(p);
                return [signal, scored && (p as number) <= spec.threshold(level.policy.alpha)];
              }),
            ) as Record<Simulated, boolean>,
        );
        firedByLevel.get(level.name)?.push(fired);
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `\nsequence n ${n} × ${ratio}: windows of ${n}, a baseline of ${baselineN} (${ratio} window${ratio === 1 ? '' : 's'}), ${SEQUENCE_BASELINES} baselines × ${SEQUENCE_WINDOWS} windows, ${seconds.toFixed(1)} s`,
    );
    console.log(
      `  ${'profile'.padEnd(7)} ${'signal'.padEnd(11)} ${'alpha'.padStart(5)} ${'M of N'.padEnd(6)} ${'fire'.padStart(5)}  ${'run [95% CI]'.padEnd(25)} ${'/alpha^M'.padStart(8)} ${'factor'.padStart(6)} ${'model'.padStart(6)}  ${'pages a month [95% CI]'.padEnd(23)} ${'bound'.padStart(5)}  target`,
    );
    for (const level of LEVELS) {
      const { alpha, datapointsToAlarm: m, windowsPerMonth } = level.policy;
      if (n < level.minWindow) {
        console.log(
          `  ${level.name.padEnd(7)} insufficient (n ${n} is under the profile's minimum window, ${level.minWindow}): no score, no page`,
        );
        continue;
      }
      const rates = (firedByLevel.get(level.name) as Fired[]).map((fired) => alarmRates(fired, m));
      // Each signal fires in at most alpha of the windows (the embedding's three tests at alpha / 3 together).
      const power = alpha ** m;
      const factor = level.policy.falseRunBound / power;
      const model = falseRunProbability(alpha, m, ratio) / power;
      for (const signal of SIMULATED) {
        const fire = clusterMean(rates.map((r) => r.fire[signal]));
        const run = clusterMean(rates.map((r) => r.run[signal]));
        const pages = clusterMean(rates.map((r) => windowsPerMonth * r.page[signal]));
        console.log(
          `  ${level.name.padEnd(7)} ${signal.padEnd(11)} ${String(alpha).padStart(5)} ${`${m} of ${m}`.padEnd(6)} ${fixed(fire.mean, 3).padStart(5)}  ${withInterval(run, 5).padEnd(25)} ${`${fixed(run.mean / power, 2)}x`.padStart(8)} ${`${fixed(factor, 2)}x`.padStart(6)} ${`${fixed(model, 2)}x`.padStart(6)}  ${withInterval(pages, 2).padEnd(23)} ${fixed(windowsPerMonth * level.policy.falseRunBound, 2).padStart(5)}`,
        );
      }
      const composite = clusterMean(rates.map((r) => windowsPerMonth * r.composite));
      const bound = level.policy.falsePagesPerMonthBound / level.checks;
      /** At or under `limit`; above it within noise (the limit inside the interval); or the whole interval above. */
      const against = (limit: number, under: string, over: string) =>
        composite.mean <= limit
          ? under
          : composite.lo > limit
            ? over.toUpperCase()
            : `${over} (within noise)`;
      console.log(
        `  ${level.name.padEnd(7)} ${'any: page'.padEnd(11)} ${''.padStart(5)} ${''.padEnd(6)} ${''.padStart(5)}  ${''.padEnd(25)} ${''.padStart(8)} ${''.padStart(6)} ${''.padStart(6)}  ${withInterval(composite, 2).padEnd(23)} ${fixed(bound, 2).padStart(5)}  ${level.target}: ${against(level.target, 'met', 'exceeded')}; bound ${against(bound, 'held', 'exceeded')}`,
      );
    }
  }
}

console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s`);
