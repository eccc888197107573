import { ValidationError } from '../errors.ts';
import { createRng, type Rng } from '../eval/stats.ts';
import {
  DESCRIPTORS,
  type DescriptorKind,
  type DescriptorName,
  type Descriptors,
  describe,
  oovRate,
  vocabulary,
  words,
} from './descriptors.ts';
import {
  type CentroidResult,
  type ClassifierResult,
  centroidDistance,
  classifierTest,
  type MmdResult,
  minWindowSize,
  mmdTest,
} from './embedding.ts';
import {
  benjaminiHochberg,
  bhAdjusted,
  type ChiSquaredResult,
  chiSquaredTest,
  histogram,
  type KsResult,
  ksTwoSample,
  psi,
  wasserstein1,
} from './stats.ts';
import type { DriftSeed } from './types.ts';

/**
 * The drift check (no AWS imports): has a current window of requests moved away from a reference
 * window? It combines the engine's parts into one verdict:
 *
 * - **Embeddings**, when every record of both windows carries one: the centroid, MMD and
 *   domain-classifier tests (`embedding.ts`), each at alpha / 3 (Bonferroni across the three), so
 *   that running three tests does not triple the false alarms. The verdict names the test that fired
 *   with the smallest p-value (ties: MMD, then the classifier, then the centroid), or MMD when none
 *   fired.
 * - **Text descriptors**, on the records that have a text: every descriptor of {@link DESCRIPTORS}
 *   measured on both windows; a continuous one by the two-sample Kolmogorov–Smirnov test (with the
 *   1-Wasserstein distance as its effect size), a categorical one by the chi-squared test (with the
 *   PSI as its effect size). The p-values go through Benjamini–Hochberg at alpha: a descriptor drifts
 *   when BH rejects it, so that nine descriptors do not make nine chances of a false alarm.
 * - **Answers' embeddings**, when records carry one (`answerEmbedding`: live traffic's answers, embedded
 *   with the questions' model): the same three tests on the records of each window that have one, a
 *   second family with its own verdict. A reference without any is "no baseline" for it (a baseline of
 *   questions only, or one that predates the answers' embeddings), never drift.
 * - **Insufficient data**: a window (or a descriptor's sample) smaller than the minimum per-window size
 *   at which a test detects a standardized shift of `effect` with probability `power` at `alpha`
 *   ({@link minWindowSize}; 50 by default) is reported as `insufficient`, with no p-value, never as
 *   "no drift". It takes no part in the corrections.
 *
 * Every random choice (permutations, folds, subsamples, the projection) derives from `seed`: the same
 * windows, options and seed give the same result, bit for bit.
 */

/** One record of a window: a text, an embedding, or both. */
export interface DriftRecord {
  readonly text?: string;
  readonly embedding?: readonly number[];
  /** The answer the request got (live traffic): its refusal, length and "not found" descriptors. */
  readonly answer?: string;
  /** The request's best retrieval similarity (requests that used retrieval). */
  readonly retrievalTopScore?: number;
  /** The answer's embedding, by the same model as `embedding`: the answers' embedding family. */
  readonly answerEmbedding?: readonly number[];
}

export interface DriftCheckOptions {
  /** Seed of every random choice. @default 'llmops-drift' */
  readonly seed?: DriftSeed;
  /** Significance level: of the embedding verdict (alpha / 3 per test) and of BH across descriptors. @default 0.05 */
  readonly alpha?: number;
  /** The standardized shift the windows must be large enough to detect. @default 0.5 */
  readonly effect?: number;
  /** The probability of detecting `effect` the windows must give. @default 0.8 */
  readonly power?: number;
  /** Smallest sufficient window, overriding `effect` and `power`. @default minWindowSize({ effect, alpha, power }) */
  readonly minWindow?: number;
  /** Label permutations of the centroid and MMD tests. @default 200 */
  readonly permutations?: number;
  /** Cap on the pooled size of the MMD and classifier tests (larger windows are subsampled). @default 2000 */
  readonly maxPooled?: number;
  /** Most points of the embedding projection (both windows together). @default 1000 */
  readonly projectionPoints?: number;
  /** The gateway's no-context answer: with it, the share of answers that are it is a descriptor. */
  readonly notFoundAnswer?: string;
}

export const DEFAULT_DRIFT_SEED = 'llmops-drift';
export const DEFAULT_DRIFT_ALPHA = 0.05;
export const DEFAULT_EFFECT = 0.5;
export const DEFAULT_POWER = 0.8;
export const DEFAULT_PROJECTION_POINTS = 1000;
/** The longest example text kept in the result (code points). */
const EXAMPLE_CHARS = 500;
/** How many of the current window's least familiar texts are kept as examples. */
const EXAMPLES = 5;
/** About how many bins the shared histogram of a continuous descriptor has. */
const HISTOGRAM_BINS = 12;

/** The embedding tests, in tie-breaking order of the verdict. */
export const EMBEDDING_METHODS = ['mmd', 'classifier', 'centroid'] as const;
export type EmbeddingMethod = (typeof EMBEDDING_METHODS)[number];

/** The embedding verdict, as the CLI's `--json` line reports it. */
export interface EmbeddingVerdict {
  /** The test that fired with the smallest p-value; `mmd` when none fired. */
  readonly method: EmbeddingMethod;
  readonly statistic: number;
  /** `null` when the windows are insufficient. */
  readonly pValue: number | null;
  /** alpha / 3: the Bonferroni level of each of the three tests. */
  readonly threshold: number;
  readonly drift: boolean;
  /** No test fired and at least one lacked data: this is not "no drift". */
  readonly insufficient: boolean;
}

/** A descriptor's verdict, as the CLI's `--json` line reports it. */
export interface DescriptorVerdict {
  readonly test: 'ks' | 'chi2';
  /** D for KS, χ² for chi-squared; `NaN` when a window has no value of it. */
  readonly statistic: number;
  /** The test's own p-value (before BH); `null` when insufficient. */
  readonly pValue: number | null;
  /** Rejected by Benjamini–Hochberg across the descriptors. */
  readonly drift: boolean;
  readonly insufficient: boolean;
}

/** Shares and counts of a categorical descriptor in one window. */
export interface CategoricalSummary {
  readonly n: number;
  readonly counts: Readonly<Record<string, number>>;
}

/** Order statistics of a continuous descriptor in one window (`NaN` when it has no value). */
export interface ContinuousSummary {
  readonly n: number;
  readonly mean: number;
  readonly min: number;
  readonly median: number;
  readonly p90: number;
  readonly max: number;
}

/** Both windows' counts over the same bins: bin i is [edges[i], edges[i + 1]). */
export interface SharedHistogram {
  readonly edges: readonly number[];
  readonly reference: readonly number[];
  readonly current: readonly number[];
}

/** The effect size beside a descriptor's test. */
export type DescriptorEffect =
  | {
      readonly measure: 'wasserstein';
      /** W1 in the descriptor's units. */
      readonly value: number;
      /** W1 over the reference's standard deviation; `null` when the reference has no spread. */
      readonly normalized: number | null;
    }
  | { readonly measure: 'psi'; readonly value: number; readonly band: 'stable' | 'moderate' | 'significant' };

/** Everything about one descriptor, for the report. */
export interface DescriptorDetail extends DescriptorVerdict {
  readonly kind: DescriptorKind;
  /** Benjamini–Hochberg adjusted p-value; drift when it is at most `threshold`. */
  readonly adjustedPValue: number | null;
  /** alpha, the level of BH. */
  readonly threshold: number;
  readonly n: { readonly reference: number; readonly current: number };
  /** The test's full result; `null` when a window has no value of the descriptor. */
  readonly result: KsResult | ChiSquaredResult | null;
  readonly effect: DescriptorEffect | null;
  readonly reference: ContinuousSummary | CategoricalSummary;
  readonly current: ContinuousSummary | CategoricalSummary;
  /** Continuous descriptors: both windows over shared equal-width bins. */
  readonly histogram?: SharedHistogram;
}

/** The embedding tests in full. */
export interface EmbeddingDetail {
  readonly dimension: number;
  readonly threshold: number;
  readonly tests: {
    readonly centroid: CentroidResult;
    readonly mmd: MmdResult;
    readonly classifier: ClassifierResult;
  };
  /** Which tests fired at the Bonferroni level. */
  readonly fired: Readonly<Record<EmbeddingMethod, boolean>>;
}

/**
 * The answers' embedding family: `tested` (the three tests ran; the verdict may still be insufficient),
 * `insufficient` (a window has fewer than two answer embeddings: nothing to run), or `no-baseline` (the
 * reference has none while the current window has some: nothing to compare with, which is not drift).
 */
export type AnswerEmbeddingStatus = 'tested' | 'insufficient' | 'no-baseline';

/** The answers' embedding family in full. */
export interface AnswerEmbeddingDetail {
  readonly status: AnswerEmbeddingStatus;
  /** The records of each window that carry an answer embedding (the family's sample). */
  readonly n: { readonly reference: number; readonly current: number };
  /** The three tests, when they ran. */
  readonly embedding: EmbeddingDetail | null;
  /** The answers projected on their two principal components, when the tests ran. */
  readonly projection: Projection | null;
}

/** A 2-D principal-component projection of (a subsample of) both windows' embeddings. */
export interface Projection {
  readonly reference: readonly (readonly [number, number])[];
  readonly current: readonly (readonly [number, number])[];
  /** The share of the pooled sample's variance along each component. */
  readonly explained: readonly [number, number];
  /** How many vectors each window had (the points are a seeded subsample when more). */
  readonly given: { readonly reference: number; readonly current: number };
}

export interface DriftDetails {
  readonly seed: DriftSeed;
  readonly alpha: number;
  readonly effect: number;
  readonly power: number;
  readonly minWindow: number;
  readonly embedding: EmbeddingDetail | null;
  /** The answers' embedding family; `null` when no record of either window carries an answer embedding. */
  readonly answerEmbedding: AnswerEmbeddingDetail | null;
  readonly descriptors: Readonly<Record<string, DescriptorDetail>>;
  /** Descriptors no record of either window measures, and why. */
  readonly skipped: readonly { readonly name: string; readonly reason: string }[];
  /** What was not run and why, in a sentence each. */
  readonly notes: readonly string[];
  readonly projection: Projection | null;
  /** The current window's least familiar texts (highest OOV rate), clipped: what the new traffic looks like. */
  readonly examples: readonly { readonly text: string; readonly oovRate: number }[];
}

/** The check's result: the CLI contract's fields, and the details behind them. */
export interface DriftCheckResult {
  /** Anything drifted (either embedding verdict or any descriptor). */
  readonly drift: boolean;
  /** Some part could not be tested for lack of data: with `drift` false, "cannot tell", not "no drift". */
  readonly insufficient: boolean;
  readonly embedding: EmbeddingVerdict | null;
  /**
   * The answers' embedding verdict (the same three tests on the answers); `null` when the family was not
   * tested (no answer embedding in either window, or none in the reference: `details.answerEmbedding`).
   */
  readonly answerEmbedding: EmbeddingVerdict | null;
  readonly descriptors: Readonly<Record<string, DescriptorVerdict>>;
  readonly n: { readonly reference: number; readonly current: number };
  readonly details: DriftDetails;
}

// ---------------------------------------------------------------------------------------------------
// Validation

/** An embedding field: a non-empty array of finite numbers of `dim` dimensions when `dim` is known. */
function checkVector(value: unknown, at: string, dim: number | undefined, first: string): number {
  if (!Array.isArray(value) || value.length === 0) {
    throw new ValidationError(at, 'must be a non-empty array of numbers');
  }
  if (dim !== undefined && value.length !== dim) {
    throw new ValidationError(
      at,
      `must have ${dim} dimensions like the first ${first} (has ${value.length})`,
    );
  }
  value.forEach((x, j) => {
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new ValidationError(`${at}.${j}`, 'must be a finite number');
    }
  });
  return value.length;
}

/**
 * Checks both windows; returns the embedding dimension (`undefined` when no record has one), and the
 * answers' (each family has its own: every answer embedding has the dimension of the first).
 */
function checkRecords(
  reference: readonly DriftRecord[],
  current: readonly DriftRecord[],
): number | undefined {
  let dim: number | undefined;
  let answerDim: number | undefined;
  for (const [field, records] of [
    ['reference', reference],
    ['current', current],
  ] as const) {
    if (!Array.isArray(records) || records.length === 0) {
      throw new ValidationError(field, 'must hold at least one record');
    }
    records.forEach((record, i) => {
      const at = `${field}.${i}`;
      if (record === null || typeof record !== 'object' || Array.isArray(record)) {
        throw new ValidationError(at, 'must be an object with a text or an embedding');
      }
      const { text, embedding } = record;
      if (text === undefined && embedding === undefined) {
        throw new ValidationError(at, 'must have a text or an embedding');
      }
      if (text !== undefined && typeof text !== 'string') {
        throw new ValidationError(`${at}.text`, 'must be a string');
      }
      if (embedding !== undefined) dim = checkVector(embedding, `${at}.embedding`, dim, 'embedding');
      if (record.answerEmbedding !== undefined) {
        answerDim = checkVector(
          record.answerEmbedding,
          `${at}.answerEmbedding`,
          answerDim,
          'answer embedding',
        );
      }
    });
  }
  return dim;
}

function checkOptions(options: DriftCheckOptions) {
  const alpha = options.alpha ?? DEFAULT_DRIFT_ALPHA;
  const effect = options.effect ?? DEFAULT_EFFECT;
  const power = options.power ?? DEFAULT_POWER;
  // Validates alpha, effect and power.
  const computed = minWindowSize({ effect, alpha, power });
  const minWindow = options.minWindow ?? computed;
  if (!Number.isInteger(minWindow) || minWindow < 2) {
    throw new ValidationError('minWindow', 'must be an integer of at least 2');
  }
  const projectionPoints = options.projectionPoints ?? DEFAULT_PROJECTION_POINTS;
  if (!Number.isInteger(projectionPoints) || projectionPoints < 2) {
    throw new ValidationError('projectionPoints', 'must be an integer of at least 2');
  }
  return {
    seed: options.seed ?? DEFAULT_DRIFT_SEED,
    alpha,
    effect,
    power,
    minWindow,
    // Left to the tests' own defaults when absent (200 permutations, 2,000 pooled vectors).
    permutations: options.permutations === undefined ? {} : { permutations: options.permutations },
    maxPooled: options.maxPooled === undefined ? {} : { maxPooled: options.maxPooled },
    projectionPoints,
    notFoundAnswer: options.notFoundAnswer,
  };
}

type Settings = ReturnType<typeof checkOptions>;

// ---------------------------------------------------------------------------------------------------
// Embeddings

function checkEmbeddings(
  reference: readonly (readonly number[])[],
  current: readonly (readonly number[])[],
  s: Settings,
): { verdict: EmbeddingVerdict; detail: EmbeddingDetail } {
  const common = { seed: s.seed, alpha: s.alpha, minWindow: s.minWindow };
  const tests = {
    centroid: centroidDistance(reference, current, { ...common, ...s.permutations }),
    mmd: mmdTest(reference, current, { ...common, ...s.permutations, ...s.maxPooled }),
    classifier: classifierTest(reference, current, { ...common, ...s.maxPooled }),
  };
  const threshold = s.alpha / 3;
  const fired = {} as Record<EmbeddingMethod, boolean>;
  let method: EmbeddingMethod | undefined;
  for (const name of EMBEDDING_METHODS) {
    const p = tests[name].pValue;
    fired[name] = p !== null && p <= threshold;
    const best = method === undefined ? null : tests[method].pValue;
    if (fired[name] && (best === null || (p as number) < best)) method = name;
  }
  const chosen = tests[method ?? 'mmd'];
  const drift = method !== undefined;
  const insufficient = !drift && EMBEDDING_METHODS.some((name) => tests[name].insufficient === true);
  return {
    verdict: {
      method: method ?? 'mmd',
      statistic: chosen.statistic,
      pValue: chosen.pValue,
      threshold,
      drift,
      insufficient,
    },
    detail: { dimension: reference[0]?.length ?? 0, threshold, tests, fired },
  };
}

/**
 * The answers' embedding family: the three tests on the records of each window that carry an answer
 * embedding (the answers of live traffic; a suite's questions have none), seeded apart from the
 * questions' tests. `null` when no record of either window has one.
 */
function checkAnswerEmbeddings(
  reference: readonly DriftRecord[],
  current: readonly DriftRecord[],
  s: Settings,
): { verdict: EmbeddingVerdict | null; detail: AnswerEmbeddingDetail; note?: string } | null {
  const vectors = (records: readonly DriftRecord[]) =>
    records.flatMap((r) => (r.answerEmbedding === undefined ? [] : [r.answerEmbedding]));
  const ref = vectors(reference);
  const cur = vectors(current);
  const n = { reference: ref.length, current: cur.length };
  if (n.reference === 0 && n.current === 0) return null;
  if (n.reference === 0) {
    return {
      verdict: null,
      detail: { status: 'no-baseline', n, embedding: null, projection: null },
      note:
        `Answers' embeddings not tested: the reference has none (a baseline of questions only, or one that ` +
        `predates them) and the current window has ${n.current}: no baseline, not "no drift".`,
    };
  }
  const threshold = s.alpha / 3;
  if (Math.min(n.reference, n.current) < 2) {
    return {
      verdict: {
        method: 'mmd',
        statistic: Number.NaN,
        pValue: null,
        threshold,
        drift: false,
        insufficient: true,
      },
      detail: { status: 'insufficient', n, embedding: null, projection: null },
      note:
        `Answers' embeddings: ${n.reference} in the reference and ${n.current} in the current window, ` +
        `below the ${s.minWindow} needed: insufficient data, not "no drift".`,
    };
  }
  const seeded = { ...s, seed: `${s.seed}\u0000answers` };
  const { verdict, detail } = checkEmbeddings(ref, cur, seeded);
  const projection = projectEmbeddings(ref, cur, { seed: seeded.seed, maxPoints: s.projectionPoints });
  return {
    verdict,
    detail: { status: verdict.insufficient ? 'insufficient' : 'tested', n, embedding: detail, projection },
    ...(verdict.insufficient
      ? {
          note:
            `Answers' embeddings: a window is below the ${s.minWindow} answers needed to detect a shift of ` +
            `${s.effect} standard deviations with power ${s.power}: insufficient data, not "no drift".`,
        }
      : {}),
  };
}

/** `keep` of 0..count−1, uniformly without replacement, in increasing order. */
function sampleIndices(count: number, keep: number, rng: Rng): number[] {
  const all = Array.from({ length: count }, (_, i) => i);
  if (keep >= count) return all;
  for (let i = 0; i < keep; i++) {
    const j = i + Math.floor(rng.next() * (count - i));
    [all[i], all[j]] = [all[j] as number, all[i] as number];
  }
  return all.slice(0, keep).sort((a, b) => a - b);
}

/**
 * The top principal component of the centered rows `x` (N × d), orthogonal to `against` when given,
 * by power iteration on C = XᵀX / N (never formed: each step is Xᵀ(Xv) / N). Returns the unit vector
 * and its eigenvalue; the sign makes the largest coordinate positive, so that the same data give the
 * same picture whatever the start.
 */
function principal(
  x: readonly Float64Array[],
  d: number,
  rng: Rng,
  against?: Float64Array,
): { vector: Float64Array; value: number } {
  const n = x.length;
  const orthogonalize = (v: Float64Array) => {
    if (!against) return;
    let dot = 0;
    for (let j = 0; j < d; j++) dot += (v[j] as number) * (against[j] as number);
    for (let j = 0; j < d; j++) v[j] = (v[j] as number) - dot * (against[j] as number);
  };
  const normalize = (v: Float64Array): number => {
    let norm = 0;
    for (let j = 0; j < d; j++) norm += (v[j] as number) ** 2;
    norm = Math.sqrt(norm);
    if (norm > 0) for (let j = 0; j < d; j++) v[j] = (v[j] as number) / norm;
    return norm;
  };
  let v = new Float64Array(d);
  for (let j = 0; j < d; j++) v[j] = rng.next() - 0.5;
  orthogonalize(v);
  if (normalize(v) === 0) return { vector: v, value: 0 };
  let value = 0;
  for (let it = 0; it < 300; it++) {
    const next = new Float64Array(d);
    for (const row of x) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (row[j] as number) * (v[j] as number);
      s /= n;
      for (let j = 0; j < d; j++) next[j] = (next[j] as number) + s * (row[j] as number);
    }
    orthogonalize(next);
    const norm = normalize(next);
    let change = 0;
    for (let j = 0; j < d; j++) change += Math.abs((next[j] as number) - (v[j] as number));
    v = next;
    value = norm;
    if (norm === 0 || change < 1e-10) break;
  }
  let largest = 0;
  for (let j = 0; j < d; j++) if (Math.abs(v[j] as number) > Math.abs(v[largest] as number)) largest = j;
  if ((v[largest] as number) < 0) for (let j = 0; j < d; j++) v[j] = -(v[j] as number);
  return { vector: v, value };
}

/**
 * A 2-D PCA projection of both windows' embeddings, for the report: at most `maxPoints` vectors (a
 * seeded subsample; the smaller window keeps up to half), pooled and centered, projected on the two
 * leading principal components of the pooled sample (power iteration with deflation).
 */
export function projectEmbeddings(
  reference: readonly (readonly number[])[],
  current: readonly (readonly number[])[],
  options: { readonly seed: DriftSeed; readonly maxPoints?: number },
): Projection {
  const maxPoints = options.maxPoints ?? DEFAULT_PROJECTION_POINTS;
  const rng = createRng(`${options.seed}\u0000projection`);
  const n = reference.length;
  const m = current.length;
  let keepN = n;
  let keepM = m;
  if (n + m > maxPoints) {
    const half = Math.floor(maxPoints / 2);
    if (n <= m) {
      keepN = Math.min(n, half);
      keepM = maxPoints - keepN;
    } else {
      keepM = Math.min(m, half);
      keepN = maxPoints - keepM;
    }
  }
  const rows = [
    ...sampleIndices(n, keepN, rng).map((i) => reference[i] as readonly number[]),
    ...sampleIndices(m, keepM, rng).map((i) => current[i] as readonly number[]),
  ];
  const d = rows[0]?.length ?? 0;
  const mean = new Float64Array(d);
  for (const row of rows) for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) + (row[j] as number);
  for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) / rows.length;
  const x = rows.map((row) => Float64Array.from(row, (v, j) => v - (mean[j] as number)));
  let total = 0;
  for (const row of x) for (const v of row) total += v * v;
  total /= x.length;
  const first = principal(x, d, rng);
  const second = principal(x, d, rng, first.vector);
  const project = (row: Float64Array): [number, number] => {
    let a = 0;
    let b = 0;
    for (let j = 0; j < d; j++) {
      a += (row[j] as number) * (first.vector[j] as number);
      b += (row[j] as number) * (second.vector[j] as number);
    }
    return [a, b];
  };
  const points = x.map(project);
  return {
    reference: points.slice(0, keepN),
    current: points.slice(keepN),
    explained: total > 0 ? [first.value / total, second.value / total] : [0, 0],
    given: { reference: n, current: m },
  };
}

// ---------------------------------------------------------------------------------------------------
// Descriptors

/**
 * The OOV rate of each reference text against the vocabulary of the OTHER reference texts (leave one
 * out). Measured against a vocabulary that includes the text itself, every reference text would score
 * 0 and any independent window would look novel; left out, a reference text is as new to the rest of
 * the reference as a current text is to all of it, which is what a two-sample test needs.
 */
function referenceOov(texts: readonly string[]): number[] {
  const occurrences = new Map<string, number>();
  const split = texts.map((text) => words(text));
  for (const ws of split) for (const w of ws) occurrences.set(w, (occurrences.get(w) ?? 0) + 1);
  const out: number[] = [];
  for (const ws of split) {
    if (ws.length === 0) continue;
    const own = new Map<string, number>();
    for (const w of ws) own.set(w, (own.get(w) ?? 0) + 1);
    let missing = 0;
    for (const w of ws) if ((occurrences.get(w) ?? 0) - (own.get(w) ?? 0) === 0) missing++;
    out.push(missing / ws.length);
  }
  return out;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const a = sorted[lo] as number;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] as number;
  return a + (h - lo) * (b - a);
}

function continuousSummary(values: readonly number[]): ContinuousSummary {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.length === 0 ? Number.NaN : values.reduce((s, v) => s + v, 0) / values.length;
  return {
    n: values.length,
    mean,
    min: sorted[0] ?? Number.NaN,
    median: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

function counts(values: readonly (string | boolean)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[String(v)] = (out[String(v)] ?? 0) + 1;
  return out;
}

/** A round bin width near `raw` (1, 2, 2.5 or 5 times a power of ten). */
function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const exp = 10 ** Math.floor(Math.log10(raw));
  const f = raw / exp;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * exp;
}

/** Both windows over the same equal-width bins with round edges, covering every value. */
function sharedHistogram(reference: readonly number[], current: readonly number[]): SharedHistogram {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of [...reference, ...current]) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (hi <= lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const step = niceStep((hi - lo) / HISTOGRAM_BINS);
  const clean = (x: number) => Number(x.toFixed(10));
  const edges = [clean(Math.floor(lo / step) * step)];
  while ((edges[edges.length - 1] as number) < hi || edges.length < 2) {
    edges.push(clean((edges[edges.length - 1] as number) + step));
  }
  return { edges, reference: histogram(reference, edges), current: histogram(current, edges) };
}

interface RawDescriptor {
  readonly name: DescriptorName;
  readonly kind: DescriptorKind;
  readonly reference: readonly (number | string | boolean)[];
  readonly current: readonly (number | string | boolean)[];
}

/** A descriptor's test and effect size, before the correction across descriptors. */
function testDescriptor(
  raw: RawDescriptor,
  minWindow: number,
): Omit<DescriptorDetail, 'drift' | 'adjustedPValue' | 'threshold'> {
  const n = { reference: raw.reference.length, current: raw.current.length };
  const insufficient = Math.min(n.reference, n.current) < minWindow;
  const both = n.reference > 0 && n.current > 0;
  if (raw.kind === 'continuous') {
    const ref = raw.reference as number[];
    const cur = raw.current as number[];
    const result = both ? ksTwoSample(ref, cur) : null;
    let effect: DescriptorEffect | null = null;
    if (both) {
      const value = wasserstein1(ref, cur);
      const mean = ref.reduce((s, v) => s + v, 0) / ref.length;
      const sd = Math.sqrt(ref.reduce((s, v) => s + (v - mean) ** 2, 0) / ref.length);
      effect = { measure: 'wasserstein', value, normalized: sd > 0 ? value / sd : null };
    }
    return {
      kind: raw.kind,
      test: 'ks',
      statistic: result?.statistic ?? Number.NaN,
      pValue: insufficient ? null : (result?.pValue ?? null),
      insufficient,
      n,
      result,
      effect,
      reference: continuousSummary(ref),
      current: continuousSummary(cur),
      histogram: sharedHistogram(ref, cur),
    };
  }
  const refCounts = counts(raw.reference as (string | boolean)[]);
  const curCounts = counts(raw.current as (string | boolean)[]);
  const result = both ? chiSquaredTest(refCounts, curCounts) : null;
  const index = both ? psi(refCounts, curCounts) : null;
  return {
    kind: raw.kind,
    test: 'chi2',
    statistic: result?.statistic ?? Number.NaN,
    pValue: insufficient ? null : (result?.pValue ?? null),
    insufficient,
    n,
    result,
    effect: index ? { measure: 'psi', value: index.statistic, band: index.band } : null,
    reference: { n: n.reference, counts: refCounts },
    current: { n: n.current, counts: curCounts },
  };
}

function clipText(text: string): string {
  const points = Array.from(text);
  return points.length <= EXAMPLE_CHARS ? text : `${points.slice(0, EXAMPLE_CHARS - 1).join('')}…`;
}

function checkDescriptors(
  reference: readonly DriftRecord[],
  current: readonly DriftRecord[],
  s: Settings,
): {
  details: Record<string, DescriptorDetail>;
  skipped: { name: string; reason: string }[];
  examples: { text: string; oovRate: number }[];
} {
  const refTexts = reference.flatMap((r) => (r.text === undefined ? [] : [r.text]));
  const curTexts = current.flatMap((r) => (r.text === undefined ? [] : [r.text]));
  const vocab = vocabulary(refTexts);
  // The descriptors read the text, the answer and the retrieval score (never the embedding).
  const described = (records: readonly DriftRecord[]) =>
    records.map(({ text, answer, retrievalTopScore }) => ({
      ...(text !== undefined ? { text } : {}),
      ...(answer !== undefined ? { answer } : {}),
      ...(retrievalTopScore !== undefined ? { retrievalTopScore } : {}),
    }));
  const describeOptions = s.notFoundAnswer !== undefined ? { notFoundAnswer: s.notFoundAnswer } : {};
  const ref = describe(described(reference), vocab, describeOptions);
  const cur = describe(described(current), vocab, describeOptions);
  const refValues: Descriptors = { ...ref, oovRate: referenceOov(refTexts) };

  const names = Object.keys(DESCRIPTORS) as DescriptorName[];
  const skipped: { name: string; reason: string }[] = [];
  const tested: { name: DescriptorName; detail: ReturnType<typeof testDescriptor> }[] = [];
  for (const name of names) {
    const spec = DESCRIPTORS[name];
    const raw = { name, kind: spec.kind, reference: refValues[name], current: cur[name] };
    if (raw.reference.length === 0 && raw.current.length === 0) {
      skipped.push({
        name,
        reason:
          spec.source === 'text'
            ? 'no record of either window has a text (with a word, for oovRate)'
            : name === 'notFound' && s.notFoundAnswer === undefined
              ? 'it needs the no-context answer (notFoundAnswer), which was not given'
              : `no record of either window has ${spec.source === 'answer' ? 'an answer' : 'a retrieval top score'}`,
      });
      continue;
    }
    tested.push({ name, detail: testDescriptor(raw, s.minWindow) });
  }
  const pValues = tested.map((t) => t.detail.pValue);
  const rejected = benjaminiHochberg(pValues, s.alpha);
  const adjusted = bhAdjusted(pValues);
  const details: Record<string, DescriptorDetail> = {};
  tested.forEach((t, i) => {
    details[t.name] = {
      ...t.detail,
      drift: rejected[i] === true,
      adjustedPValue: adjusted[i] ?? null,
      threshold: s.alpha,
    };
  });

  const examples = curTexts
    .map((text, order) => ({ text, order, oov: oovRate(text, vocab) }))
    .filter((e): e is { text: string; order: number; oov: number } => e.oov !== null && e.oov > 0)
    .sort((a, b) => b.oov - a.oov || a.order - b.order)
    .slice(0, EXAMPLES)
    .map((e) => ({ text: clipText(e.text), oovRate: e.oov }));
  return { details, skipped, examples };
}

// ---------------------------------------------------------------------------------------------------
// The check

/**
 * Checks a current window of records against a reference window (see the module's documentation).
 * Throws a `ValidationError` naming the record (`current.17`, `reference.3.embedding`) when a window is
 * empty, a record has neither a text nor an embedding, a text is not a string, or an embedding is not
 * an array of finite numbers of the same dimension as every other.
 */
export function checkDrift(
  reference: readonly DriftRecord[],
  current: readonly DriftRecord[],
  options: DriftCheckOptions = {},
): DriftCheckResult {
  const dim = checkRecords(reference, current);
  const s = checkOptions(options);
  const notes: string[] = [];

  let embedding: { verdict: EmbeddingVerdict; detail: EmbeddingDetail } | null = null;
  let projection: Projection | null = null;
  const withEmbedding = (records: readonly DriftRecord[]) =>
    records.filter((r) => r.embedding !== undefined).length;
  const embedded = { reference: withEmbedding(reference), current: withEmbedding(current) };
  if (dim !== undefined) {
    if (embedded.reference === reference.length && embedded.current === current.length) {
      const refVectors = reference.map((r) => r.embedding as readonly number[]);
      const curVectors = current.map((r) => r.embedding as readonly number[]);
      embedding = checkEmbeddings(refVectors, curVectors, s);
      projection = projectEmbeddings(refVectors, curVectors, { seed: s.seed, maxPoints: s.projectionPoints });
    } else {
      notes.push(
        `Embedding tests not run: they need an embedding on every record, and ${embedded.reference} of ` +
          `${reference.length} reference and ${embedded.current} of ${current.length} current records have one.`,
      );
    }
  }

  const answers = checkAnswerEmbeddings(reference, current, s);
  if (answers?.note !== undefined) notes.push(answers.note);

  const { details: descriptorDetails, skipped, examples } = checkDescriptors(reference, current, s);
  const descriptors: Record<string, DescriptorVerdict> = {};
  for (const [name, d] of Object.entries(descriptorDetails)) {
    descriptors[name] = {
      test: d.test,
      statistic: d.statistic,
      pValue: d.pValue,
      drift: d.drift,
      insufficient: d.insufficient,
    };
  }
  const verdicts = [
    ...(embedding ? [embedding.verdict] : []),
    ...(answers?.verdict ? [answers.verdict] : []),
    ...Object.values(descriptors),
  ];
  if (embedding?.verdict.insufficient) {
    notes.push(
      `Embedding tests: a window is below the ${s.minWindow} records needed to detect a shift of ` +
        `${s.effect} standard deviations with power ${s.power}: insufficient data, not "no drift".`,
    );
  }
  const short = Object.entries(descriptors).filter(([, d]) => d.insufficient);
  if (short.length > 0) {
    notes.push(
      `Descriptors with fewer than ${s.minWindow} values in a window (insufficient data, left out of ` +
        `Benjamini–Hochberg): ${short.map(([name]) => name).join(', ')}.`,
    );
  }
  return {
    drift: verdicts.some((v) => v.drift),
    insufficient: verdicts.some((v) => v.insufficient),
    embedding: embedding?.verdict ?? null,
    answerEmbedding: answers?.verdict ?? null,
    descriptors,
    n: { reference: reference.length, current: current.length },
    details: {
      seed: s.seed,
      alpha: s.alpha,
      effect: s.effect,
      power: s.power,
      minWindow: s.minWindow,
      embedding: embedding?.detail ?? null,
      answerEmbedding: answers?.detail ?? null,
      descriptors: descriptorDetails,
      skipped,
      notes,
      projection,
      examples,
    },
  };
}
