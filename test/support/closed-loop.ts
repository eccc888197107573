import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { expect } from 'vitest';
import { LLMOPS_SOURCE } from '#events/envelope.ts';
import { type RolledBackDetail, rolledBackDetail } from '#events/rolled-back.ts';
import { rawSample } from '#events/samples.ts';
import type { LocalApiClient } from '#infra/local/api-client.ts';
import { apiClient } from '#infra/local/cli/local-runner.ts';
import { type GateDemoResult, registerGoldenSuite, runGateDemo } from '#infra/local/eval/eval-demo.ts';
import { BUNDLED_CORPUS, createRagPrompt, ingestFolder, RAG_PROMPT } from '#infra/local/rag-demo.ts';
import { LocalRunner } from '#infra/local/runner.ts';

/**
 * The closed loop's e2e setup, shared by its test files (one local stack per file: the handler modules'
 * clients are made once per process): the golden suite, the bundled corpus, the grounded prompt, a
 * version that failed its promotion gate and one that passed it.
 */
/** The grounded prompt the loop watches (`drift.onDrift` evaluates `rag-answer@production`). */
export const PROMPT = RAG_PROMPT.name;

export interface Setup {
  readonly stack: LocalRunner;
  readonly client: LocalApiClient;
  readonly gate: GateDemoResult;
  /** The version that passed its gate (production before the forced release). */
  readonly passed: number;
  /** The version that failed it. */
  readonly failed: number;
}

/** Golden suite, corpus, the grounded prompt, a failed and a passed promotion. */
export async function setUp(context: Record<string, unknown> = {}): Promise<Setup> {
  const stack = await LocalRunner.start({ api: {}, context });
  const client = apiClient(stack, false);
  await registerGoldenSuite(stack);
  await ingestFolder(stack, BUNDLED_CORPUS.dir, BUNDLED_CORPUS.exclude);
  const production = await createRagPrompt(client);
  const gate = await runGateDemo(stack, client, production, () => undefined);
  expect(gate.worse.decided.code).toBe('evaluation_failed');
  expect(gate.better.decided.status).toBe(200);
  const version = (candidate: string) => Number(candidate.split(':')[1]);
  return {
    stack,
    client,
    gate,
    passed: version(gate.better.candidate),
    failed: version(gate.worse.candidate),
  };
}

/** `llmops.DriftDetected` for a window of the `all-traffic` check, as the alarm handler puts it. */
export function driftDetected(stack: LocalRunner, windowEnd: string): void {
  const sample = rawSample('drift-detected') as { detail: Record<string, unknown> };
  stack.publish(stack.output('EventBusName'), {
    version: '0',
    id: `drift-${windowEnd}`,
    'detail-type': 'llmops.DriftDetected',
    source: LLMOPS_SOURCE,
    account: stack.template.account,
    time: new Date().toISOString(),
    region: stack.template.region,
    resources: [],
    detail: {
      ...sample.detail,
      check: 'all-traffic',
      metric: { namespace: 'LLMOps', name: 'DriftScore', signal: 'quality' },
      window: { end: windowEnd, periodSeconds: 21_600, evaluationPeriods: 2, datapointsToAlarm: 2 },
      value: 4.52,
      method: 'errorRate',
    },
  });
}

export function decisions(stack: LocalRunner, from = 0): RolledBackDetail[] {
  return stack.details('llmops.RolledBack', from).map((detail) => rolledBackDetail.parse(detail));
}

export async function production(client: LocalApiClient): Promise<number> {
  const { response } = await client.send('GET', `/v1/prompts/${PROMPT}?label=production`);
  return ((await response.json()) as { version: number }).version;
}

/**
 * What the loop did, for an assertion's message: its table's decisions (outcome and reason per run) and
 * every delivery to its function that failed.
 */
export async function loopDiagnostics(stack: LocalRunner): Promise<string> {
  const [table] = stack.template
    .resourcesOfType('AWS::DynamoDB::Table')
    .filter(({ logicalId }) => logicalId.startsWith('ClosedLoopLoopTable'))
    .map(({ logicalId }) => stack.template.ref(logicalId));
  const { Items = [] } = await stack.dynamo.send(new ScanCommand({ TableName: table }));
  const decisions = Items.map((item) => unmarshall(item)).filter((item) => item.sk === 'DECISION');
  const failed = stack.deliveries.filter((d) => d.target.startsWith('ClosedLoopLoopFunction') && !d.ok);
  const completed = stack.details<{ runId: string }>('llmops.EvaluationCompleted').map((d) => d.runId);
  const driftRuns = stack.deliveries
    .filter((d) => d.execution !== undefined && JSON.stringify(d.execution.input ?? {}).includes('"drift-'))
    .map((d) => ({
      status: d.execution?.status,
      output: d.execution?.output,
      error: d.execution?.error,
      cause: d.execution?.cause,
    }));
  return JSON.stringify({ decisions, failedDeliveries: failed, completed, driftRuns }, null, 2);
}
