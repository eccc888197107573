/**
 * The EMF metrics of a rollout's canary, emitted by the model gateway for every call to a model with
 * an active canary, in the functions' namespace with the dimensions `{service, Variant}`: the stack's
 * canary alarms read them (the Average of a 0/1 metric is a rate). No AWS SDK code: the infra imports
 * these names.
 */

/** Milliseconds from the call's start to its answer (or failure). */
export const ROLLOUT_LATENCY_METRIC = 'RolloutLatency';
/** Count, 1 when the model call failed, else 0: its Average is the variant's error rate. */
export const ROLLOUT_ERROR_METRIC = 'RolloutError';
/** Count, 1 when the guardrail (or the content policy) intervened on the answer, else 0. */
export const ROLLOUT_GUARDRAIL_METRIC = 'RolloutGuardrail';

/** The dimension that says which variant answered. */
export const ROLLOUT_VARIANT_DIMENSION = 'Variant';

/** Values of {@link ROLLOUT_VARIANT_DIMENSION}. */
export const ROLLOUT_VARIANTS = ['production', 'candidate'] as const;
export type RolloutVariant = (typeof ROLLOUT_VARIANTS)[number];
