import { TEST_EMBEDDING_MODEL } from './embedding-model.ts';

/**
 * The drift functions' environment (Collect, Check, OnAlarm, StartEvaluation), for tests that import
 * their handler modules (which read it at import, as at a cold start). The policy has the dev profile's
 * shape (2 of 2 windows of 6 hours, 200 permutations) at alpha 0.05, so that the tests' small windows
 * decide (the dev profile itself runs at 0.02); the offline provider embeds. Import this
 * module before any handler module; a test may set a variable itself first.
 */
Object.assign(process.env, {
  ARTIFACTS_BUCKET: process.env.ARTIFACTS_BUCKET ?? 'artifacts-test',
  DRIFT_TABLE: process.env.DRIFT_TABLE ?? 'drift-test',
  DRIFT_POLICY:
    process.env.DRIFT_POLICY ??
    JSON.stringify({
      alpha: 0.05,
      datapointsToAlarm: 2,
      evaluationPeriods: 2,
      cadenceMinutes: 360,
      effect: 0.5,
      power: 0.8,
      permutations: 200,
      maxWindowRecords: 500,
    }),
  DRIFT_CHECKS:
    process.env.DRIFT_CHECKS ?? JSON.stringify([{ name: 'support', app: 'web', prompt: 'support' }]),
  EVALUATIONS_TABLE: process.env.EVALUATIONS_TABLE ?? 'evaluations-test',
  EVENT_BUS_NAME: process.env.EVENT_BUS_NAME ?? 'bus-test',
  DRIFT_EVALUATION:
    process.env.DRIFT_EVALUATION ??
    JSON.stringify({ suite: 'support-golden', prompt: 'support@production', maxItems: 50, k: 1 }),
  EMBEDDING_MODEL: process.env.EMBEDDING_MODEL ?? JSON.stringify(TEST_EMBEDDING_MODEL),
  MODEL_PROVIDER: process.env.MODEL_PROVIDER ?? 'offline',
});
