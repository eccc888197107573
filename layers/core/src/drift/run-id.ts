/**
 * The evaluation run a drift starts, named from the check and the window (letters, digits, `-`; at most
 * 80 characters): every signal of a check alarming on the same window names the same run, so that one
 * drift starts one evaluation. StartEvaluation names the run it requests with it, and the closed loop
 * keys the drift's evidence by it, so that the run's `llmops.EvaluationCompleted` finds the drift that
 * started it. Check names are 1-32 lowercase letters, digits and `-` (configuration refuses others).
 */
export function driftRunId(check: string, windowEnd: string): string {
  const stamp = windowEnd.replace(/[^0-9]/g, '').slice(0, 14);
  return `drift-${check.replace(/[^a-z0-9-]/g, '-').slice(0, 32)}-${stamp}`;
}
