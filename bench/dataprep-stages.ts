/** The stages of data preparation that `bench/dataprep-profile.ts` times, in the order they run. */
export const STAGES = [
  'read + split lines',
  'decode + JSON.parse',
  'validate',
  'normalize',
  'redact (PII)',
  'exact hash (SHA-256)',
  'MinHash',
  'token count (o200k)',
  'serialize staging',
  'write staging',
  'quarantine',
  'read staging',
  'parse staging',
  'dedupe index',
  'split + token stats',
  'write curated',
] as const;
