import * as z from 'zod/mini';
import {
  baselineSource,
  CHECK_NAME,
  driftBaseline,
  driftPolicy,
  driftWindowResult,
} from '../drift/baseline.ts';

/**
 * Response schemas of the drift routes (`/v1/drift/...`): the handler answers with them, and the OpenAPI
 * document is generated from them, as for the other routes (`./schemas.ts`). The request body of
 * `POST /v1/drift/baselines` is `createBaselineRequest` (`#contracts/drift/baseline.ts`), which the
 * DriftCheck state machine shares.
 */

/** How many of a check's latest windows `GET /v1/drift/status` returns, newest first. */
export const DRIFT_STATUS_WINDOWS = 10;

/** The `check` query parameter of `GET /v1/drift/status` (a check's name, as configuration spells it). */
export const driftCheckQuery = z
  .string()
  .check(
    z.regex(CHECK_NAME, 'must be a drift check name: a lowercase letter, then up to 31 of a-z, 0-9, "-"'),
  );

/**
 * The policy every check runs with (computed at synthesis, the alarms use the same): the per-window level
 * and the alarm's M of N windows, and the minutes between checks. `DRIFT_POLICY` holds it (with more
 * fields, which the API does not show).
 */
export const driftPolicySummary = z.pick(driftPolicy, {
  alpha: true,
  datapointsToAlarm: true,
  evaluationPeriods: true,
  cadenceMinutes: true,
});
export type DriftPolicySummary = z.infer<typeof driftPolicySummary>;

/** `POST /v1/drift/baselines` (202): the request was put on the bus; the DriftCheck state machine builds it. */
export const driftBaselineAccepted = z.object({
  check: z.string(),
  status: z.literal('building'),
  requestedAt: z.string(),
  source: baselineSource,
});
export type DriftBaselineAccepted = z.infer<typeof driftBaselineAccepted>;

/** The report files of a checked window, under its report prefix (`drift/reports/<check>/<window end>/`). */
export const DRIFT_REPORT_FILES = { summary: 'summary.json', html: 'report.html' } as const;

/** Links to a window's report files (S3 presigned GET URLs, valid `REPORT_LINK_TTL_SECONDS`). */
export const driftReportLinks = z.object({
  summary: z.string(),
  html: z.string(),
});
export type DriftReportLinks = z.infer<typeof driftReportLinks>;

/** One check as `GET /v1/drift/status` shows it. */
export const driftCheckStatus = z.object({
  check: z.string(),
  /** The slice of the traffic the check watches. */
  filter: z.object({ app: z.optional(z.string()), prompt: z.optional(z.string()) }),
  /** The active (latest) baseline version; `null` before the first. */
  baseline: z.nullable(driftBaseline),
  policy: driftPolicySummary,
  /** The latest checked windows, newest first (at most `DRIFT_STATUS_WINDOWS`). */
  windows: z.array(driftWindowResult),
  /** Links to the report of the latest window, when it has one. */
  links: z.optional(driftReportLinks),
});
export type DriftCheckStatus = z.infer<typeof driftCheckStatus>;

/** `GET /v1/drift/status`: every configured check, or the one asked for (`?check=`). */
export const driftStatusResponse = z.object({
  checks: z.array(driftCheckStatus),
});
export type DriftStatusResponse = z.infer<typeof driftStatusResponse>;
