import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluationCompletedDetail } from '#events/evaluation-completed.ts';
import { promptGateOverriddenDetail } from '#events/prompt-gate-overridden.ts';
import { LocalRunner } from '#infra/local/runner.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';

/**
 * Evaluation on the local stack, over HTTP, as a team uses it on AWS: a golden dataset uploaded to
 * `raw/golden/` becomes a suite (DataPrep, then llmops.DatasetReady), `POST /v1/evaluations` starts the
 * Evaluate state machine (every SDK call of its functions judged by the local IAM evaluator), the run's
 * record and presigned report links come back from `GET /v1/evaluations/{id}`, a model's score reaches
 * the catalog and ranks model selection, and a forced promotion past a failed gate is audited.
 */
const SUITE = 'e2e-golden';
const PROMPT = 'e2e-gate';
const DRAFT = {
  messages: [
    { role: 'system', content: 'Answer only from this context:\n{{context}}' },
    { role: 'user', content: '{{question}}' },
  ],
  variables: { question: { type: 'string' }, context: { type: 'string' } },
  commitMessage: 'e2e: grounded answer',
};

let stack: LocalRunner;
let url: string;
let key: string;

/** A JSON body of one of many routes, read by the assertions. */
// biome-ignore lint/suspicious/noExplicitAny: response bodies of many routes, checked by the assertions
type Json = any;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

beforeAll(async () => {
  stack = await LocalRunner.start({ api: { port: 0 } });
  if (!stack.api) throw new Error('The synthesized template declares no REST API');
  url = stack.api.url;
  key = stack.api.apiKey;
  await stack.s3.send(
    new PutObjectCommand({
      Bucket: stack.output('RawBucketName'),
      Key: `raw/golden/${SUITE}.jsonl`,
      Body: readFileSync(join(REPO_ROOT, 'corpus/eval/golden.jsonl')),
    }),
  );
  await stack.idle();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

describe('evaluation over HTTP', () => {
  it('refuses a run on a suite that is not registered (404 naming it) and a malformed request (400 naming the field)', async () => {
    const unknown = await call('POST', '/v1/evaluations', { suite: 'nope', target: { model: 'nova-micro' } });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toContain('nope');
    const bad = await call('POST', '/v1/evaluations', { suite: SUITE, target: {} });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/target/);
  });

  it('runs a model on the registered suite: record, metrics with intervals, report links, catalog score, ranked selection', async () => {
    const started = await call('POST', '/v1/evaluations', {
      suite: SUITE,
      target: { model: 'nova-micro' },
      k: 1,
    });
    expect(started.status).toBe(202);
    const runId = started.body.runId as string;
    expect(started.body).toMatchObject({ status: 'queued', trigger: 'api', request: { suite: SUITE } });
    await stack.idle();

    const run = await call('GET', `/v1/evaluations/${runId}`);
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({
      runId,
      status: 'succeeded',
      suite: { name: SUITE, version: 1, items: 13 },
      judge: 'offline',
    });
    // Only a scheduled run is compared with the run before it.
    expect(run.body.regression).toBeUndefined();
    for (const name of ['exact_match', 'f1', 'rouge_l']) {
      const metric = run.body.metrics[name];
      expect(metric.n, name).toBeGreaterThan(0);
      expect(metric.ci[0], name).toBeLessThanOrEqual(metric.value);
      expect(metric.ci[1], name).toBeGreaterThanOrEqual(metric.value);
    }
    // The presigned link is a real GET of the report from the (local) bucket.
    const html = await fetch(run.body.links.html);
    expect(html.status).toBe(200);
    expect(await html.text()).toContain('<svg');

    const completed = stack.events
      .map((e) => e.event)
      .filter((e) => e['detail-type'] === 'llmops.EvaluationCompleted')
      .map((e) => evaluationCompletedDetail.parse(e.detail));
    expect(completed.find((d) => d.runId === runId)).toMatchObject({ target: { model: 'nova-micro' } });

    // The score reached the catalog, and ranks selection on the suite.
    const models = await call('GET', '/v1/models');
    const micro = (models.body.data as { id: string; evaluations?: Record<string, unknown> }[]).find(
      (m) => m.id === 'nova-micro',
    );
    expect(micro?.evaluations?.[SUITE]).toMatchObject({ metric: 'f1', runId });
    const selected = await call('POST', '/v1/models/select', { rankBy: { suite: SUITE } });
    expect(selected.status).toBe(200);
    expect(selected.body.model.id).toBe('nova-micro');
    expect(selected.body.rankedBy).toMatchObject({ suite: SUITE, metric: 'f1' });
  });

  it('scores bring-your-own predictions uploaded under predictions/: a missing one fails its item by name', async () => {
    const key = 'predictions/e2e-vendor.jsonl';
    await stack.s3.send(
      new PutObjectCommand({
        Bucket: stack.output('ArtifactsBucketName'),
        Key: key,
        Body: [
          JSON.stringify({ id: 'g01', prediction: '4 KB' }),
          JSON.stringify({ id: 'g02', prediction: '128 MB to 10,240 MB' }),
        ].join('\n'),
      }),
    );
    const started = await call('POST', '/v1/evaluations', {
      suite: SUITE,
      target: { model: 'vendor-x' },
      predictions: key,
      k: 1,
    });
    expect(started.status).toBe(202);
    await stack.idle();
    const run = await call('GET', `/v1/evaluations/${started.body.runId}`);
    expect(run.body).toMatchObject({ status: 'succeeded', failed: 11, suite: { items: 13 } });
    // The two given answers match their references exactly: exact match 1 on both, over 2 scored items.
    expect(run.body.metrics.exact_match).toMatchObject({ value: 1, n: 2 });
  });

  it('a scheduled run is compared with the previous run of its target: a worse production regresses', async () => {
    const name = 'e2e-scheduled';
    // No retrieval here (no corpus is ingested): the question alone.
    const plain = {
      messages: [{ role: 'user', content: '{{question}}' }],
      variables: { question: { type: 'string' } },
      commitMessage: 'e2e: the question alone',
    };
    expect((await call('POST', `/v1/prompts/${name}/versions`, plain)).status).toBe(201);
    expect(
      (await call('POST', `/v1/prompts/${name}/versions`, { ...plain, model: { maxTokens: 1 } })).status,
    ).toBe(201);
    const bus = stack.output('EventBusName');
    const schedule = async (execution: string) => {
      // What the EventBridge Scheduler schedule puts on the bus (its Input is this detail).
      stack.publish(bus, {
        version: '0',
        id: `schedule-${execution}`,
        'detail-type': 'llmops.EvaluationRequested',
        source: 'llmops',
        account: '000000000000',
        time: new Date().toISOString(),
        region: 'us-east-1',
        resources: [],
        detail: {
          schemaVersion: '1.0',
          trigger: 'schedule',
          requestedBy: 'schedule:e2e-daily',
          request: { suite: SUITE, target: { prompt: `${name}@production` }, k: 1 },
        },
      });
      await stack.idle();
      const runs = stack.events
        .map((e) => e.event)
        .filter((e) => e['detail-type'] === 'llmops.EvaluationCompleted')
        .map((e) => evaluationCompletedDetail.parse(e.detail))
        .filter((d) => d.trigger === 'schedule' && d.target.prompt?.startsWith(name));
      return runs[runs.length - 1];
    };
    expect((await call('PUT', `/v1/prompts/${name}/labels/production`, { version: 1 })).status).toBe(200);
    const first = await schedule('1');
    expect(first).toMatchObject({ regression: false, pass: null });
    const again = await schedule('2');
    expect(again?.runId).not.toBe(first?.runId);
    expect(again).toMatchObject({ regression: false });
    // Production moves to the terse version (not gated: no promotion suite); the next run regresses.
    expect((await call('PUT', `/v1/prompts/${name}/labels/production`, { version: 2 })).status).toBe(200);
    const worse = await schedule('3');
    expect(worse).toMatchObject({ regression: true });
    const record = await call('GET', `/v1/evaluations/${worse?.runId}`);
    expect(record.body.regression).toBe(true);
  });

  it('lists the review queue (empty: the offline judge needs no calibration) and refuses a forged cursor', async () => {
    const open = await call('GET', '/v1/reviews');
    expect(open.status).toBe(200);
    expect(open.body.tasks).toEqual([]);
    const forged = await call('GET', '/v1/reviews?nextToken=eyJ2IjoxfQ');
    expect(forged.status).toBe(400);
  });

  it('without a promotion suite, a production move is not gated; a run of an unknown id is 404', async () => {
    const created = await call('POST', `/v1/prompts/${PROMPT}/versions`, DRAFT);
    expect(created.status).toBe(201);
    const moved = await call('PUT', `/v1/prompts/${PROMPT}/labels/production`, { version: 1 });
    expect(moved.status).toBe(200);
    const missing = await call('GET', '/v1/evaluations/0b1d3c4e-0000-4000-8000-000000000000');
    expect(missing.status).toBe(404);
  });

  it('a forced promotion past a failed gate needs a reason, moves the label, and emits PromptGateOverridden', async () => {
    const name = 'rag-answer';
    expect((await call('POST', `/v1/prompts/${name}/versions`, DRAFT)).status).toBe(201);
    expect((await call('PUT', `/v1/prompts/${name}/labels/production`, { version: 1 })).status).toBe(200);
    const terse = await call('POST', `/v1/prompts/${name}/versions`, {
      ...DRAFT,
      model: { maxTokens: 3 },
      commitMessage: 'e2e: terse',
    });
    const version = terse.body.version as number;
    // rag-answer is gated on the suite `golden` (evaluation.promotionSuites), not registered here: the
    // evaluation it starts is skipped, and the next move starts another.
    const first = await call('PUT', `/v1/prompts/${name}/labels/production`, { version });
    expect(first.status).toBe(409);
    expect(first.body.error.code).toBe('evaluation_required');
    await stack.idle();
    const skipped = await call('GET', `/v1/evaluations/${first.body.error.evaluation.runId}`);
    expect(skipped.body).toMatchObject({ status: 'skipped', error: expect.stringContaining('golden') });

    const noReason = await call('PUT', `/v1/prompts/${name}/labels/production`, { version, force: true });
    expect(noReason.status).toBe(400);
    expect(noReason.body.error.message).toContain('reason');
    const forced = await call('PUT', `/v1/prompts/${name}/labels/production`, {
      version,
      force: true,
      reason: 'e2e: hotfix approved by the on-call lead',
    });
    expect(forced.status).toBe(200);
    expect(forced.body).toMatchObject({ label: 'production', version, previousVersion: 1, forced: true });
    await stack.idle();
    const overridden = stack.events
      .map((e) => e.event)
      .filter((e) => e['detail-type'] === 'llmops.PromptGateOverridden')
      .map((e) => promptGateOverriddenDetail.parse(e.detail));
    expect(overridden).toEqual([
      expect.objectContaining({
        prompt: name,
        version,
        previousVersion: 1,
        reason: 'e2e: hotfix approved by the on-call lead',
      }),
    ]);
  });
});
