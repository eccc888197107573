import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import * as z from 'zod/mini';
import { createDocumentClient, createEventBridgeClient } from '#aws/clients.ts';
import { parseJsonVariable, readConfig } from '#aws/config.ts';
import { type DriftStore, DynamoDriftStore } from '#aws/drift/drift-store.ts';
import { ConfigError, NotFoundError, ValidationError } from '#aws/errors.ts';
import { publishEvent } from '#aws/events-publisher.ts';
import { apiHandler, json, parseAppKeys, parseWith } from '#aws/http.ts';
import { logger, metrics } from '#aws/logging.ts';
import type { S3Presigner } from '#aws/s3-presign.ts';
import {
  type BaselineSource,
  createBaselineRequest,
  type DriftCheckConfig,
  type DriftWindowResult,
  driftCheckConfig,
  MAX_BASELINE_WINDOW_DAYS,
} from '#contracts/drift/baseline.ts';
import { envVar } from '#contracts/env.ts';
import { parseAppAccess } from '#contracts/http/access.ts';
import {
  DRIFT_REPORT_FILES,
  DRIFT_STATUS_WINDOWS,
  type DriftBaselineAccepted,
  type DriftCheckStatus,
  type DriftPolicySummary,
  type DriftReportLinks,
  driftCheckQuery,
  driftPolicySummary,
} from '#contracts/http/drift-schemas.ts';
import { REPORT_LINK_TTL_SECONDS } from '#contracts/http/evaluation-schemas.ts';
import { DRIFT_REPORTS_PREFIX } from '#contracts/storage-layout.ts';
import { DRIFT_CHECK_REQUESTED, driftCheckRequestedDetail } from '#events/drift-check-requested.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import { dispatcher } from './dispatch.ts';
import { presignGet } from './report-signer.ts';

/**
 * The drift routes (admin): build a new baseline version of a check (202: the DriftCheck state machine
 * builds it on `llmops.DriftCheckRequested`), and read each configured check with its active baseline,
 * the policy it pages with, its latest windows and links to the latest window's report.
 */
export interface DriftDeps {
  readonly store: Pick<DriftStore, 'getBaseline' | 'recentWindows'>;
  readonly events: EventBridgeClient;
  readonly busName: string;
  /** The configured checks (`DRIFT_CHECKS`). */
  readonly checks: readonly DriftCheckConfig[];
  /** The policy every check runs and pages with (`DRIFT_POLICY`). */
  readonly policy: DriftPolicySummary;
  /**
   * Links to a window's report files (presigned GET URLs valid `REPORT_LINK_TTL_SECONDS`), or undefined for
   * a report this function may not link to.
   */
  readonly reportLinks: (
    check: string,
    report: NonNullable<DriftWindowResult['report']>,
  ) => Promise<DriftReportLinks | undefined>;
  /** Clock in epoch milliseconds. @default Date.now */
  readonly now?: () => number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Where a check's status is read (the `location` of a baseline request). */
export const driftStatusPath = (check: string) => `/v1/drift/status?check=${encodeURIComponent(check)}`;

/** The configured check of that name. @throws NotFoundError naming the configured checks */
function checkNamed(checks: readonly DriftCheckConfig[], name: string): DriftCheckConfig {
  const found = checks.find((check) => check.name === name);
  if (found === undefined) {
    const known = checks.map((check) => check.name).join(', ');
    throw new NotFoundError(
      `No drift check ${name}: the configured checks are ${known === '' ? 'none' : known} (drift.checks of the profile)`,
    );
  }
  return found;
}

/** An ISO instant of the body as epoch milliseconds; a date that is not on the calendar is refused. */
function instantOf(value: string, field: string): number {
  const ms = Date.parse(value);
  // `2026-02-30T…` parses (as March 2): the calendar date must survive the round trip.
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value.slice(0, 10)) {
    throw new ValidationError(field, 'must be a valid UTC date-time');
  }
  return ms;
}

/** A pinned window must be in the past, non-empty and at most `MAX_BASELINE_WINDOW_DAYS` long. */
function checkWindow(source: BaselineSource, now: number): void {
  if (source.kind !== 'window') return;
  const from = instantOf(source.from, 'source.from');
  const to = instantOf(source.to, 'source.to');
  if (!(from < to)) throw new ValidationError('source.to', 'must be after source.from');
  if (to > now) {
    throw new ValidationError(
      'source.to',
      `must not be in the future (now is ${new Date(now).toISOString()})`,
    );
  }
  if (to - from > MAX_BASELINE_WINDOW_DAYS * DAY_MS) {
    throw new ValidationError(
      'source.from',
      `must be at most ${MAX_BASELINE_WINDOW_DAYS} days before source.to`,
    );
  }
}

export function makeHandler(deps: DriftDeps) {
  const now = deps.now ?? Date.now;

  const statusOf = async (check: DriftCheckConfig): Promise<DriftCheckStatus> => {
    const [baseline, windows] = await Promise.all([
      deps.store.getBaseline(check.name),
      deps.store.recentWindows(check.name, DRIFT_STATUS_WINDOWS),
    ]);
    const report = windows[0]?.report;
    const links = report === undefined ? undefined : await deps.reportLinks(check.name, report);
    return {
      check: check.name,
      filter: {
        ...(check.app !== undefined ? { app: check.app } : {}),
        ...(check.prompt !== undefined ? { prompt: check.prompt } : {}),
      },
      baseline: baseline ?? null,
      policy: deps.policy,
      windows,
      ...(links !== undefined ? { links } : {}),
    };
  };

  return dispatcher('drift', {
    createDriftBaseline: async (request) => {
      const body = parseWith(createBaselineRequest, request.body, '');
      const check = checkNamed(deps.checks, body.check);
      const at = now();
      checkWindow(body.source, at);
      // The dispatcher has checked that a principal signed the call.
      const requestedBy = request.caller.principal ?? request.caller.author;
      await publishEvent(deps.events, {
        busName: deps.busName,
        source: LLMOPS_SOURCE,
        detailType: DRIFT_CHECK_REQUESTED,
        schema: driftCheckRequestedDetail,
        detail: {
          schemaVersion: SCHEMA_VERSION,
          check: check.name,
          requestedBy,
          baseline: { source: body.source, ...(body.note !== undefined ? { note: body.note } : {}) },
        },
      });
      metrics.addMetric('DriftBaselinesRequested', 'Count', 1);
      const accepted: DriftBaselineAccepted = {
        check: check.name,
        status: 'building',
        requestedAt: new Date(at).toISOString(),
        source: body.source,
      };
      return json(202, accepted, { location: driftStatusPath(check.name) });
    },
    getDriftStatus: async (request) => {
      const asked =
        request.query.check === undefined
          ? undefined
          : parseWith(driftCheckQuery, request.query.check, 'query.check');
      const checks = asked === undefined ? deps.checks : [checkNamed(deps.checks, asked)];
      return json(200, { checks: await Promise.all(checks.map(statusOf)) });
    },
  });
}

/**
 * Report links: presigned GET URLs valid {@link REPORT_LINK_TTL_SECONDS}, signed with this function's own
 * read access, for reports under `drift/reports/<check>/` of the artifacts bucket only (a window record
 * naming any other location gets no links).
 */
export function reportLinker(artifactsBucket: string, presigner?: S3Presigner) {
  return async (
    check: string,
    report: NonNullable<DriftWindowResult['report']>,
  ): Promise<DriftReportLinks | undefined> => {
    const { bucket, prefix } = report;
    if (
      bucket !== artifactsBucket ||
      !prefix.startsWith(`${DRIFT_REPORTS_PREFIX}${check}/`) ||
      !prefix.endsWith('/') ||
      prefix.split('/').includes('..')
    ) {
      logger.warn('Drift report outside the artifacts bucket drift reports prefix: no links', {
        check,
        report,
      });
      return undefined;
    }
    const link = (file: string) => presignGet(presigner, bucket, `${prefix}${file}`, REPORT_LINK_TTL_SECONDS);
    const [summary, html] = await Promise.all([
      link(DRIFT_REPORT_FILES.summary),
      link(DRIFT_REPORT_FILES.html),
    ]);
    return { summary, html };
  };
}

/** Parses `DRIFT_CHECKS`: a JSON array of checks, each name once. @throws ConfigError */
export function parseDriftChecks(raw: string): DriftCheckConfig[] {
  const checks = parseJsonVariable('DRIFT_CHECKS', z.array(driftCheckConfig), raw);
  const names = checks.map((check) => check.name);
  const repeated = names.filter((name, i) => names.indexOf(name) !== i);
  if (repeated.length > 0) {
    throw new ConfigError(
      `Invalid function configuration: DRIFT_CHECKS names ${repeated.join(', ')} more than once`,
    );
  }
  return checks;
}

/**
 * Parses `DRIFT_POLICY`: the policy the checks run with (its other fields, which the DriftCheck steps
 * read, are dropped). @throws ConfigError
 */
export function parseDriftPolicy(raw: string): DriftPolicySummary {
  return parseJsonVariable('DRIFT_POLICY', driftPolicySummary, raw);
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  /** Baselines and checked windows (read only). */
  DRIFT_TABLE: envVar.string(),
  /** Where `llmops.DriftCheckRequested` is put. */
  EVENT_BUS_NAME: envVar.string(),
  /** Where window reports are written (`drift/reports/<check>/<window end>/`), read for the report links. */
  ARTIFACTS_BUCKET: envVar.string(),
  /** JSON array of the configured checks (`driftCheckConfig`). */
  DRIFT_CHECKS: envVar.string(),
  /** JSON `{alpha, datapointsToAlarm, evaluationPeriods, cadenceMinutes, ...}`: the policy of every check. */
  DRIFT_POLICY: envVar.string(),
  /** Bound by the API construct on every route function. */
  APP_KEYS: envVar.optionalString(),
  APP_ACCESS: envVar.optionalString(),
  MAX_REQUEST_BYTES: envVar.int(1),
};

const config = readConfig(environment);

export const handler = apiHandler(
  makeHandler({
    store: new DynamoDriftStore(createDocumentClient(), config.DRIFT_TABLE),
    events: createEventBridgeClient(),
    busName: config.EVENT_BUS_NAME,
    checks: parseDriftChecks(config.DRIFT_CHECKS),
    policy: parseDriftPolicy(config.DRIFT_POLICY),
    reportLinks: reportLinker(config.ARTIFACTS_BUCKET),
  }),
  {
    appKeys: parseAppKeys(config.APP_KEYS),
    appAccess: parseAppAccess(config.APP_ACCESS),
    maxRequestBytes: config.MAX_REQUEST_BYTES,
  },
);
