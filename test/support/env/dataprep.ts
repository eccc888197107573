/**
 * The DataPrep functions' environment, for tests that import their handler modules (which read it at
 * import, as at a cold start). Import this module before any handler module.
 */
Object.assign(process.env, {
  DATASETS_TABLE: process.env.DATASETS_TABLE ?? 'datasets-test',
  ARTIFACTS_BUCKET: process.env.ARTIFACTS_BUCKET ?? 'artifacts-test',
  CURATED_BUCKET: process.env.CURATED_BUCKET ?? 'curated-test',
  QUARANTINE_BUCKET: process.env.QUARANTINE_BUCKET ?? 'artifacts-test',
  QUARANTINE_EXPIRATION_DAYS: '7',
  EVENT_BUS_NAME: process.env.EVENT_BUS_NAME ?? 'bus-test',
  PART_SIZE_BYTES: String(64 * 1024 * 1024),
  MAX_PARTS: '10000',
  MAX_RECORD_BYTES: String(1024 * 1024),
  VALIDATION_RATIO: '0.1',
  NEAR_DUP_THRESHOLD: '0.8',
});
