/**
 * The drift API function's environment (`functions/api/drift.ts`), for tests that import its handler
 * module (which reads it at import, as at a cold start): two checks, and the policy as the stack binds it
 * (with the fields only the DriftCheck steps read). Import this module before the handler module; a test
 * may set a variable itself first. (The DriftCheck steps' environment is `./drift.ts`.)
 */

/** The checks of `DRIFT_CHECKS`. */
export const TEST_DRIFT_CHECKS = [
  { name: 'support', app: 'web', prompt: 'support-answer' },
  { name: 'all-traffic' },
] as const;

/** `DRIFT_POLICY` as the stack binds it. */
export const TEST_DRIFT_POLICY = {
  alpha: 0.01,
  datapointsToAlarm: 2,
  evaluationPeriods: 2,
  cadenceMinutes: 60,
  effect: 0.5,
  power: 0.8,
  permutations: 999,
  maxWindowRecords: 2000,
};

Object.assign(process.env, {
  DRIFT_TABLE: process.env.DRIFT_TABLE ?? 'drift-test',
  EVENT_BUS_NAME: process.env.EVENT_BUS_NAME ?? 'bus-test',
  ARTIFACTS_BUCKET: process.env.ARTIFACTS_BUCKET ?? 'artifacts-test',
  DRIFT_CHECKS: process.env.DRIFT_CHECKS ?? JSON.stringify(TEST_DRIFT_CHECKS),
  DRIFT_POLICY: process.env.DRIFT_POLICY ?? JSON.stringify(TEST_DRIFT_POLICY),
  MAX_REQUEST_BYTES: process.env.MAX_REQUEST_BYTES ?? '262144',
  // The API key `key-1` is app `web` (admin routes need IAM whatever the key).
  APP_KEYS: process.env.APP_KEYS ?? JSON.stringify({ 'key-1': 'web' }),
  APP_ACCESS: process.env.APP_ACCESS ?? '{}',
});
