/**
 * The feedback export function's environment, for tests that import its handler module (which reads it at
 * import, as at a cold start). The settings are the dev profile's. Import this module before the handler
 * module; a test may set a variable itself first.
 */
Object.assign(process.env, {
  FEEDBACK_TABLE: process.env.FEEDBACK_TABLE ?? 'feedback-test',
  FEEDBACK_INDEX: process.env.FEEDBACK_INDEX ?? 'gsi1',
  INTERACTIONS_TABLE: process.env.INTERACTIONS_TABLE ?? 'interactions-test',
  EVALUATIONS_TABLE: process.env.EVALUATIONS_TABLE ?? 'evaluations-test',
  RAW_BUCKET: process.env.RAW_BUCKET ?? 'raw-test',
  ARTIFACTS_BUCKET: process.env.ARTIFACTS_BUCKET ?? 'artifacts-test',
  EVENT_BUS_NAME: process.env.EVENT_BUS_NAME ?? 'bus-test',
  FEEDBACK_EXPORT:
    process.env.FEEDBACK_EXPORT ??
    JSON.stringify({
      pairThreshold: 8,
      datasetName: 'feedback',
      holdOutShare: 0.1,
      annotatorAgreement: { minAgreement: 0.6, minReviewed: 5 },
    }),
});
