/**
 * The closed loop function's environment, for tests that import its handler module (which reads it at
 * import, as at a cold start). The settings are the dev profile's (`act`, a cool-down of 6 hours).
 * Import this module before the handler module; a test may set a variable itself first.
 */
Object.assign(process.env, {
  LOOP_TABLE: process.env.LOOP_TABLE ?? 'loop-test',
  PROMPTS_TABLE: process.env.PROMPTS_TABLE ?? 'prompts-test',
  ARTIFACTS_BUCKET: process.env.ARTIFACTS_BUCKET ?? 'artifacts-test',
  EVENT_BUS_NAME: process.env.EVENT_BUS_NAME ?? 'bus-test',
  CLOSED_LOOP: process.env.CLOSED_LOOP ?? JSON.stringify({ mode: 'act', coolDownHours: 6 }),
});
