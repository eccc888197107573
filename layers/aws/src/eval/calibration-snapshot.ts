/**
 * Whether each judge rubric version may gate, as the human labels in the evaluation store say when a run
 * starts: the core's `calibration` (Cohen's kappa of the judge against people) over every labelled task
 * of the rubric version (the registry prompt's `name:version` the run resolved, so a new version starts
 * uncalibrated), calibrated at kappa ≥ 0.6 on at least 50 labels. A run keeps this snapshot for
 * its whole life, so that its steps agree on which judge metrics gate.
 */

import { calibration } from '#core/eval/review.ts';
import type { EvaluationStore } from './evaluation-store.ts';

/** Each rubric version's calibration to gate, read once per version. */
export async function calibrationSnapshot(
  store: Pick<EvaluationStore, 'calibrationLabels'>,
  rubricVersions: readonly string[],
): Promise<Record<string, boolean>> {
  const out: Record<string, boolean> = {};
  for (const rubric of [...new Set(rubricVersions)].sort()) {
    const labels = await store.calibrationLabels(rubric);
    out[rubric] = calibration(labels).find((c) => c.rubric === rubric)?.calibrated ?? false;
  }
  return out;
}
