import { randomUUID } from 'node:crypto';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import * as z from 'zod/mini';
import { createDocumentClient, createEventBridgeClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { ConfigError, GateRefusedError, NotFoundError, ValidationError } from '#aws/errors.ts';
import { DynamoEvaluationStore } from '#aws/eval/dynamo-evaluation-store.ts';
import { requestEvaluation } from '#aws/eval/evaluation-requests.ts';
import type { EvaluationStore } from '#aws/eval/evaluation-store.ts';
import { publishEvent } from '#aws/events-publisher.ts';
import { type ApiRequest, apiHandler, json, parseAppKeys, parseWith } from '#aws/http.ts';
import { logger, metrics } from '#aws/logging.ts';
import { type LabelMove, PromptRegistry } from '#aws/prompt-registry.ts';
import { envVar } from '#contracts/env.ts';
import type { EvaluationRun, PromotionGate } from '#contracts/evaluation/run.ts';
import { evaluationRag } from '#contracts/evaluation/run.ts';
import { SUITE_NAME } from '#contracts/evaluation/suite.ts';
import { parseAppAccess } from '#contracts/http/access.ts';
import type { ApiCaller } from '#contracts/http/caller.ts';
import {
  createPromptVersionRequest,
  moveLabelRequest,
  pageToken,
  pathParams,
} from '#contracts/http/schemas.ts';
import { PROMPT_NAME } from '#contracts/prompts/types.ts';
import { AccessPolicy } from '#core/access/policy.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import { PROMPT_GATE_OVERRIDDEN, promptGateOverriddenDetail } from '#events/prompt-gate-overridden.ts';
import { dispatcher } from './dispatch.ts';

/**
 * The prompt registry routes: create a version (admin), read by label or number, list versions, move a
 * label (admin: promotion and rollback). An app reads only the prompts its access names (403 otherwise),
 * and never sees who wrote a version: authors are IAM principal ARNs, shown to administrators only.
 *
 * The promotion gate: moving `production` of a prompt that has a promotion suite to another version
 * needs an evaluation of that version against the one production points at, on that suite, that passed.
 * Without one the move is refused with 409 and the evaluation it needs is started (or named, when it is
 * still going, or failed); `force` with a `reason` moves past it, kept in the label history and announced
 * as `llmops.PromptGateOverridden`.
 */
export interface PromptsDeps {
  readonly registry: Pick<PromptRegistry, 'createVersion' | 'get' | 'listVersions' | 'moveLabel'>;
  /** The promotion gate; absent: no label move is gated. */
  readonly gate?: PromotionGateDeps;
}

export interface PromotionGateDeps {
  readonly store: Pick<EvaluationStore, 'getGate' | 'putGate' | 'createRun' | 'finishRun'>;
  readonly events: EventBridgeClient;
  readonly busName: string;
  /**
   * Prompt name → the suite that gates its `production` label (`PROMOTION_SUITES`): the suite's name, or
   * the suite and the retrieval options its answers need (a RAG prompt is answered with passages).
   */
  readonly suites: Readonly<Record<string, string | PromotionSuite>>;
  /** Clock in epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** New run ids. @default randomUUID */
  readonly newRunId?: () => string;
}

/** The label the promotion gate guards. */
export const GATED_LABEL = 'production';

const suiteName = z.string().check(z.regex(SUITE_NAME, 'must be a suite name'));
const promotionSuite = z.strictObject({ suite: suiteName, rag: z.optional(evaluationRag) });
/** The suite that gates a prompt's production label, and the retrieval options its answers need. */
export type PromotionSuite = z.infer<typeof promotionSuite>;
const promotionSuites = z.record(
  z.string().check(z.regex(PROMPT_NAME, 'must be a prompt name')),
  z.union([suiteName, promotionSuite]),
);

/** A promotion suite as `{suite, rag?}`, however it was given. */
const promotionOf = (value: string | PromotionSuite): PromotionSuite =>
  typeof value === 'string' ? { suite: value } : value;

/**
 * Parses `PROMOTION_SUITES`: a JSON object of prompt name → suite name (absent or empty: none).
 * @throws ConfigError naming the variable and what is wrong with it
 */
export function parsePromotionSuites(value: string | undefined): Record<string, string | PromotionSuite> {
  if (value === undefined || value === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new ConfigError('PROMOTION_SUITES must be valid JSON: an object of prompt name to suite name', {
      cause: error,
    });
  }
  const result = promotionSuites.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = (issue?.path ?? []).map(String).join('.');
    throw new ConfigError(
      `PROMOTION_SUITES must be a JSON object of prompt name to suite name${where ? ` (at ${where})` : ''}: ${issue?.message ?? 'is invalid'}`,
    );
  }
  return result.data;
}

const name = (request: ApiRequest) => parseWith(pathParams.name, request.path.name, 'path.name');

/** The prompt name of the path, once the caller's access allows it (403 naming the app and the rule). */
function readableName(request: ApiRequest): string {
  const promptName = name(request);
  AccessPolicy.forCaller(request.caller).assertPrompt(promptName);
  return promptName;
}

/** A version or summary as the caller may see it: without its author unless the caller is an administrator. */
function forCaller<T extends { readonly author: string }>(
  caller: ApiCaller,
  value: T,
): T | Omit<T, 'author'> {
  if (caller.access === null) return value;
  const { author: _author, ...rest } = value;
  return rest;
}

/** The version `production` points at now; null when the prompt has no production version yet. */
async function productionVersion(registry: PromptsDeps['registry'], promptName: string) {
  try {
    return (await registry.get({ name: promptName, label: GATED_LABEL })).version;
  } catch (error) {
    if (error instanceof NotFoundError) return null;
    throw error;
  }
}

interface MoveRequest {
  readonly promptName: string;
  readonly label: string;
  readonly version: number;
  readonly force: boolean;
  readonly reason: string | undefined;
  readonly author: string;
}

function moveLabel(registry: PromptsDeps['registry'], move: MoveRequest): Promise<LabelMove> {
  const { promptName, label, version, author, reason } = move;
  return reason === undefined
    ? registry.moveLabel(promptName, label, version, author)
    : registry.moveLabel(promptName, label, version, author, reason);
}

/**
 * A `production` move of a gated prompt: allowed by a passing evaluation of the version against the one
 * production points at (or when there is nothing to compare with), forced past the gate with a reason,
 * or refused with the evaluation it needs (409).
 */
async function gatedMove(
  registry: PromptsDeps['registry'],
  gate: PromotionGateDeps,
  promotion: PromotionSuite,
  move: MoveRequest,
): Promise<Record<string, unknown>> {
  const { suite } = promotion;
  const { promptName, version } = move;
  const current = await productionVersion(registry, promptName);
  // No production version yet, or already this one: nothing to compare with.
  if (current === null || current === version) return { ...(await moveLabel(registry, move)) };
  // The candidate must exist before any evaluation of it is started (404 otherwise).
  await registry.get({ name: promptName, version });

  const record = await gate.store.getGate(promptName, version, current, suite);
  if (record?.status === 'succeeded' && record.pass === true) {
    metrics.addMetric('PromotionsGatePassed', 'Count', 1);
    return { ...(await moveLabel(registry, move)), gate: { runId: record.runId, pass: true } };
  }
  const candidate = `${promptName}:${version}`;
  const baseline = `${promptName}:${current}`;
  if (move.force) {
    const moved = await moveLabel(registry, move);
    await publishEvent(gate.events, {
      busName: gate.busName,
      source: LLMOPS_SOURCE,
      detailType: PROMPT_GATE_OVERRIDDEN,
      schema: promptGateOverriddenDetail,
      detail: {
        schemaVersion: SCHEMA_VERSION,
        prompt: promptName,
        label: move.label,
        version,
        previousVersion: moved.previousVersion,
        reason: move.reason ?? '',
        author: move.author,
        gate: {
          status: record?.status ?? 'none',
          runId: record?.runId ?? null,
          pass: record?.pass ?? null,
        },
      },
    });
    metrics.addMetric('PromotionsForced', 'Count', 1);
    logger.warn('Promotion gate overridden', { prompt: promptName, version, gate: record ?? null });
    return { ...moved, forced: true };
  }
  const follow = (runId: string) => `retry when it completes (GET /v1/evaluations/${runId})`;
  if (record?.status === 'succeeded') {
    const failing = record.failing ?? [];
    const reasons =
      failing.length > 0
        ? failing.map((metric) => `${metric.name}: ${metric.reason}`).join('; ')
        : 'no metric verdict recorded';
    throw new GateRefusedError(
      'evaluation_failed',
      `Evaluation run ${record.runId} of ${candidate} against production ${baseline} on suite ${suite} failed the promotion gate: ${reasons}. Create a better version, or move with force and a reason`,
      { runId: record.runId, status: record.status, failing },
    );
  }
  if (record?.status === 'queued' || record?.status === 'running') {
    throw new GateRefusedError(
      'evaluation_pending',
      `Evaluation run ${record.runId} of ${candidate} against production ${baseline} on suite ${suite} is ${record.status}; ${follow(record.runId)}`,
      { runId: record.runId, status: record.status, failing: [] },
    );
  }

  // No evaluation yet, or the last one failed or was skipped: start one.
  const at = new Date((gate.now ?? Date.now)()).toISOString();
  const run: EvaluationRun = {
    runId: (gate.newRunId ?? randomUUID)(),
    status: 'queued',
    trigger: 'promotion',
    request: {
      suite,
      target: { prompt: candidate },
      baseline: { prompt: baseline },
      ...(promotion.rag ? { rag: promotion.rag } : {}),
    },
    requestedBy: `promotion:${move.author}`,
    createdAt: at,
    updatedAt: at,
  };
  const gateRecord: PromotionGate = {
    prompt: promptName,
    candidateVersion: version,
    baselineVersion: current,
    suite,
    runId: run.runId,
    status: 'queued',
    updatedAt: at,
  };
  await gate.store.createRun(run);
  await gate.store.putGate(gateRecord);
  try {
    await requestEvaluation(gate, run, {
      prompt: promptName,
      candidateVersion: version,
      baselineVersion: current,
    });
  } catch (error) {
    // A gate left `queued` would refuse every later move as pending: the next one starts a new run.
    await gate.store
      .putGate({ ...gateRecord, status: 'failed' })
      .catch((cause: unknown) => logger.error('Could not mark an unrequested gate run failed', { cause }));
    throw error;
  }
  metrics.addMetric('PromotionEvaluationsStarted', 'Count', 1);
  const previous =
    record === undefined
      ? ''
      : ` (the last run, ${record.runId}, ${record.status === 'failed' ? 'failed' : 'was skipped'})`;
  throw new GateRefusedError(
    'evaluation_required',
    `Promoting ${candidate} to production needs an evaluation against ${baseline} on suite ${suite}${previous}: started evaluation run ${run.runId}; ${follow(run.runId)}`,
    { runId: run.runId, status: 'queued', failing: [] },
  );
}

export function makeHandler(deps: PromptsDeps) {
  return dispatcher('prompts', {
    createPromptVersion: async (request) => {
      const draft = parseWith(createPromptVersionRequest, request.body, '');
      const version = await deps.registry.createVersion(name(request), draft, request.caller.author);
      metrics.addMetric('PromptVersionsCreated', 'Count', 1);
      return json(201, version, { location: `/v1/prompts/${version.name}?version=${version.version}` });
    },
    getPrompt: async (request) => {
      const { label, version } = request.query;
      if (label !== undefined && version !== undefined) {
        throw new ValidationError('query', 'give either label or version, not both');
      }
      const promptName = readableName(request);
      const ref =
        version !== undefined
          ? { name: promptName, version: Number(parseWith(pathParams.version, version, 'query.version')) }
          : { name: promptName, label: parseWith(pathParams.label, label ?? 'production', 'query.label') };
      metrics.addMetric('PromptReads', 'Count', 1);
      return json(200, forCaller(request.caller, await deps.registry.get(ref)));
    },
    listPromptVersions: async (request) => {
      const { limit } = request.query;
      const parsedLimit =
        limit === undefined ? undefined : Number(parseWith(pathParams.version, limit, 'query.limit'));
      if (parsedLimit !== undefined && parsedLimit > 100)
        throw new ValidationError('query.limit', 'must be at most 100');
      const nextToken =
        request.query.nextToken === undefined
          ? undefined
          : parseWith(pageToken, request.query.nextToken, 'query.nextToken');
      const promptName = readableName(request);
      metrics.addMetric('PromptReads', 'Count', 1);
      try {
        const page = await deps.registry.listVersions(promptName, {
          ...(parsedLimit !== undefined ? { limit: parsedLimit } : {}),
          ...(nextToken !== undefined ? { nextToken } : {}),
        });
        return json(200, {
          ...page,
          versions: page.versions.map((summary) => forCaller(request.caller, summary)),
        });
      } catch (error) {
        // The registry names its own parameters; the caller sent them as query parameters.
        if (error instanceof ValidationError && (error.field === 'nextToken' || error.field === 'limit')) {
          throw new ValidationError(`query.${error.field}`, error.rule, { cause: error });
        }
        throw error;
      }
    },
    movePromptLabel: async (request) => {
      const label = parseWith(pathParams.label, request.path.label, 'path.label');
      const body = parseWith(moveLabelRequest, request.body, '');
      const promptName = name(request);
      const suites = deps.gate?.suites ?? {};
      const configured =
        label === GATED_LABEL && Object.hasOwn(suites, promptName) ? suites[promptName] : undefined;
      const suite = configured === undefined ? undefined : promotionOf(configured);
      const force = body.force === true;
      if (force && (suite === undefined || deps.gate === undefined)) {
        throw new ValidationError('force', 'applies only to a gated production move', {
          message: `force applies only to a gated production move (the ${GATED_LABEL} label of a prompt with a promotion suite)`,
        });
      }
      if (force && body.reason === undefined) {
        throw new ValidationError('reason', 'is required with force: true (it is kept in the label history)');
      }
      const move: MoveRequest = {
        promptName,
        label,
        version: body.version,
        force,
        reason: body.reason,
        author: request.caller.author,
      };
      const moved =
        suite === undefined || deps.gate === undefined
          ? await moveLabel(deps.registry, move)
          : await gatedMove(deps.registry, deps.gate, suite, move);
      metrics.addMetric('PromptLabelMoves', 'Count', 1);
      return json(200, moved);
    },
  });
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  PROMPTS_TABLE: envVar.string(),
  PROMPT_CACHE_TTL_SECONDS: envVar.int(0),
  APP_KEYS: envVar.optionalString(),
  APP_ACCESS: envVar.optionalString(),
  MAX_REQUEST_BYTES: envVar.int(1),
  /** The evaluations table the promotion gate reads; absent: no label move is gated. */
  EVALUATIONS_TABLE: envVar.optionalString(),
  /** The bus a gated move puts `llmops.EvaluationRequested` and `llmops.PromptGateOverridden` on. */
  EVENT_BUS_NAME: envVar.optionalString(),
  /**
   * JSON object of prompt name → the suite that gates its production label (`"suite"`, or
   * `{"suite", "rag"?}` for a prompt answered with retrieval); absent: none.
   */
  PROMOTION_SUITES: envVar.optionalString(),
};

const config = readConfig(environment);

/**
 * The promotion gate of this deployment: none without an evaluations table. Gated prompts without the
 * table or the bus would go ungated in silence, so that fails at cold start instead.
 */
export function promotionGateOf(
  env: {
    readonly EVALUATIONS_TABLE?: string | undefined;
    readonly EVENT_BUS_NAME?: string | undefined;
    readonly PROMOTION_SUITES?: string | undefined;
  },
  create: (
    table: string,
    busName: string,
    suites: Record<string, string | PromotionSuite>,
  ) => PromotionGateDeps,
): PromotionGateDeps | undefined {
  const suites = parsePromotionSuites(env.PROMOTION_SUITES);
  const gated = Object.keys(suites).length > 0;
  if (env.EVALUATIONS_TABLE === undefined) {
    if (gated) throw new ConfigError('PROMOTION_SUITES names gated prompts but EVALUATIONS_TABLE is not set');
    return undefined;
  }
  if (!gated) return undefined;
  if (env.EVENT_BUS_NAME === undefined) {
    throw new ConfigError('PROMOTION_SUITES names gated prompts but EVENT_BUS_NAME is not set');
  }
  return create(env.EVALUATIONS_TABLE, env.EVENT_BUS_NAME, suites);
}

const documentClient = createDocumentClient();

export const handler = apiHandler(
  makeHandler({
    registry: new PromptRegistry(documentClient, config.PROMPTS_TABLE, {
      cacheTtlMs: config.PROMPT_CACHE_TTL_SECONDS * 1000,
    }),
    gate: promotionGateOf(config, (table, busName, suites) => ({
      store: new DynamoEvaluationStore(documentClient, table),
      events: createEventBridgeClient(),
      busName,
      suites,
    })),
  }),
  {
    appKeys: parseAppKeys(config.APP_KEYS),
    appAccess: parseAppAccess(config.APP_ACCESS),
    maxRequestBytes: config.MAX_REQUEST_BYTES,
  },
);
