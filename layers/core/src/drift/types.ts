/**
 * The drift engine's shared shapes (no AWS imports): what a two-sample test says about a reference
 * window and a current window. Statistics (`stats.ts`), embedding tests (`embedding.ts`), text
 * descriptors (`descriptors.ts`) and the check that combines them (`check.ts`) all speak these.
 */

/** The outcome of one two-sample test of a current window against its reference. */
export interface TwoSampleResult {
  /** The test, e.g. `ks`, `wasserstein`, `chi2`, `psi`, `mmd`, `centroid`, `classifier`. */
  readonly test: string;
  /** The test's statistic (D for KS, the distance for Wasserstein, MMD², AUC...). */
  readonly statistic: number;
  /** The p-value (from the test's distribution or a permutation test); `null` when the test has none. */
  readonly pValue: number | null;
  /** What the statistic is compared with when there is no p-value (PSI, Wasserstein): drift above it. */
  readonly threshold?: number;
  /** Whether the test found drift at its alpha (or above its threshold). */
  readonly drift: boolean;
  readonly n: { readonly reference: number; readonly current: number };
  /**
   * The windows are too small for the test to detect the configured effect with the configured power:
   * reported as insufficient data, never as "no drift" (then `drift` is false and says nothing).
   */
  readonly insufficient?: boolean;
}

/** A seed for the permutation tests: the same seed and samples give the same p-value. */
export type DriftSeed = string | number;
