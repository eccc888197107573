import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { feedbackThresholdReachedDetail } from '#events/feedback-threshold-reached.ts';
import { LocalApi } from '#infra/local/api/server.ts';
import { LocalApiClient } from '#infra/local/api-client.ts';
import { DEMO_PROMPT } from '#infra/local/api-demo.ts';
import { apiClient } from '#infra/local/cli/local-runner.ts';
import { runFeedbackChain } from '#infra/local/feedback-demo.ts';
import { FEEDBACK_SAMPLE, readFeedbackFile } from '#infra/local/feedback-lines.ts';
import { LocalRunner } from '#infra/local/runner.ts';

/**
 * Human feedback over HTTP on the local stack, from the synthesized template: `POST /v1/feedback` as an
 * app calls it (idempotent per interaction and user, linked to the interaction it rates, refused on
 * another app's interaction, PII-redacted, every SDK call of its function judged by the local IAM
 * evaluator), and the whole way into training: the export's schedule fires, the pairs go where an upload
 * goes, DataPrep curates them, and FineTune trains on them with the DPO recipe (the training stand-in
 * records the request), evaluates the candidate with its win rate and rolls it out.
 */
const APPS = [
  {
    name: 'default',
    rateLimit: 10,
    burstLimit: 20,
    quotaPerDay: 100_000,
    access: { prompts: ['*'], models: ['*'], collections: ['*'], rawChat: true, tokensPerDay: null },
  },
  {
    name: 'mobile',
    rateLimit: 10,
    burstLimit: 20,
    quotaPerDay: 100_000,
    access: { prompts: ['*'], models: ['*'], collections: ['*'], rawChat: true, tokensPerDay: null },
  },
];

let stack: LocalRunner;
let client: LocalApiClient;
let mobileApi: LocalApi;
let mobile: LocalApiClient;

beforeAll(async () => {
  stack = await LocalRunner.start({ api: {}, context: { apiApps: JSON.stringify(APPS) } });
  client = apiClient(stack, false);
  // A second app's key, served by a second local API over the same template and functions.
  mobileApi = await LocalApi.start({
    template: stack.template,
    lambdas: stack.lambdas,
    port: 0,
    appName: 'mobile',
    accessLog: () => undefined,
  });
  mobile = new LocalApiClient({ url: mobileApi.url, apiKey: mobileApi.apiKey });
}, 120_000);
afterAll(async () => {
  await mobileApi?.stop();
  await stack?.stop();
});

/** The feedback table's item of one verdict (what the export reads). */
async function storedVerdict(
  interactionId: string,
  user: string,
): Promise<Record<string, unknown> | undefined> {
  const table = stack.output('FeedbackTableName');
  const { Item } = await stack.dynamo.send(
    new GetItemCommand({
      TableName: table,
      Key: { pk: { S: `FEEDBACK#${interactionId}` }, sk: { S: `USER#${user}` } },
      ConsistentRead: true,
    }),
  );
  return Item === undefined ? undefined : unmarshall(Item);
}

async function answer(api: LocalApiClient, question: string): Promise<string> {
  const { response } = await api.send('POST', '/v1/chat', {
    prompt: `${DEMO_PROMPT.name}@production`,
    variables: { ...DEMO_PROMPT.variables, question },
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { interactionId: string }).interactionId;
}

describe('POST /v1/feedback over HTTP', () => {
  let interactionId: string;

  beforeAll(async () => {
    await client.call(
      'create prompt',
      'POST',
      `/v1/prompts/${DEMO_PROMPT.name}/versions`,
      DEMO_PROMPT.draft,
      201,
    );
    await client.call('label', 'PUT', `/v1/prompts/${DEMO_PROMPT.name}/labels/production`, { version: 1 });
    interactionId = await answer(client, 'How long can a Lambda function run?');
  });

  it('stores one verdict per interaction and user: a repeat replaces it, never duplicates', async () => {
    const first = await client.send('POST', '/v1/feedback', { interactionId, rating: 'up', user: 'alice' });
    expect(first.response.status).toBe(200);
    expect(await first.response.json()).toMatchObject({
      interactionId,
      user: 'alice',
      created: true,
      score: 1,
    });
    const again = await client.send('POST', '/v1/feedback', { interactionId, rating: 2, user: 'alice' });
    expect(again.response.status).toBe(200);
    expect(await again.response.json()).toMatchObject({ created: false, rating: 2, score: 0.25 });
    const stored = await storedVerdict(interactionId, 'alice');
    expect(stored).toMatchObject({ rating: 2, prompt: { name: DEMO_PROMPT.name, version: 1 } });
    // Linked to what it rates: the prompt version and the model come from the interaction record.
    expect(stored?.model).toMatchObject({ id: expect.any(String), provider: 'offline' });
  });

  it('accepts the OpenAI-compatible route’s completion id', async () => {
    const { response } = await client.send('POST', '/v1/chat/completions', {
      model: 'nova-micro',
      messages: [{ role: 'user', content: 'What is a cold start?' }],
    });
    const { id } = (await response.json()) as { id: string };
    expect(id).toMatch(/^chatcmpl-/);
    const feedback = await client.send('POST', '/v1/feedback', { interactionId: id, rating: 'down' });
    expect(feedback.response.status).toBe(200);
    expect(await feedback.response.json()).toMatchObject({
      interactionId: id.slice('chatcmpl-'.length),
      user: 'anonymous',
    });
  });

  it('redacts PII in the free text before it is stored, and queues negative feedback with a comment for review', async () => {
    const { response } = await client.send('POST', '/v1/feedback', {
      interactionId,
      rating: 'down',
      user: 'bob',
      comment: 'Wrong: mail me at bob@example.com or call +1 206 555 0142',
      correction: 'Up to 15 minutes. Questions: bob@example.com',
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { redactions: Record<string, number>; reviewTaskId?: string };
    expect(body.redactions.EMAIL).toBe(2);
    expect(body.reviewTaskId).toMatch(/^review-[0-9a-f]{16}$/);
    const stored = await storedVerdict(interactionId, 'bob');
    expect(JSON.stringify(stored)).not.toContain('bob@example.com');
    expect(JSON.stringify(stored)).not.toContain('555 0142');
    expect(stored?.comment).toContain('[EMAIL]');
  });

  it('answers 404 for an unknown interaction and 403 for another app’s, with a reason', async () => {
    const unknown = await client.send('POST', '/v1/feedback', {
      interactionId: '00000000-0000-4000-8000-000000000000',
      rating: 'up',
    });
    expect(unknown.response.status).toBe(404);
    const theirs = await answer(mobile, 'How much memory can a function have?');
    const forbidden = await client.send('POST', '/v1/feedback', { interactionId: theirs, rating: 'up' });
    expect(forbidden.response.status).toBe(403);
    expect(JSON.stringify(await forbidden.response.json())).toMatch(/another app/);
    // The owner may.
    const own = await mobile.send('POST', '/v1/feedback', { interactionId: theirs, rating: 'up' });
    expect(own.response.status).toBe(200);
  });

  it('names the field of a bad request (400), whatever the input', async () => {
    for (const body of [
      { interactionId, rating: 'meh' },
      { interactionId, rating: 6 },
      { interactionId: '../../etc', rating: 'up' },
      { interactionId, rating: 'up', user: 'not a user id' },
      { interactionId, rating: 'up', extra: true },
    ]) {
      const { response } = await client.send('POST', '/v1/feedback', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
    }
  });
});

describe('feedback → export → DataPrep → FineTune (DPO), from the synthesized template', () => {
  it('exports the pairs at the threshold, curates them, trains on them, evaluates the candidate with its win rate', async () => {
    const result = await runFeedbackChain(stack, client, readFeedbackFile(FEEDBACK_SAMPLE));
    expect(result.sent.every((s) => s.status === 200)).toBe(true);
    const exported = feedbackThresholdReachedDetail.parse(result.exported);
    expect(exported.pairs).toBeGreaterThanOrEqual(exported.threshold);
    expect(exported.location.key).toMatch(/^raw\/preference\/feedback\/feedback-\d{8}t\d{6}z\.jsonl$/);
    expect(result.firstPair).toMatchObject({
      prompt: expect.any(String),
      chosen: expect.any(String),
      rejected: expect.any(String),
      metadata: { source: 'feedback', annotators: expect.stringMatching(/^annotator-[0-9a-f]{12}/) },
    });
    expect(result.dataset).toMatchObject({
      status: 'READY',
      dataset: { name: 'feedback', purpose: 'preference' },
    });
    expect(result.pipelines.map((p) => p.pipeline)).toEqual(
      expect.arrayContaining(['DataPrep', 'FineTune', 'Evaluate', 'Rollout']),
    );
    expect(result.pipelines.every((p) => p.status === 'SUCCEEDED')).toBe(true);
    const trained = result.fineTune?.trainingRequest as { HyperParameters?: Record<string, string> } | null;
    expect(trained?.HyperParameters?.recipe).toBe('dpo-lora');
    expect(result.fineTune?.evaluation?.pass).toBe(true);
    expect(result.fineTune?.evaluation?.metrics.win_rate_lc?.n).toBeGreaterThan(0);
    // The held-out prompts became a suite, registered before the candidate was evaluated: the candidate
    // is judged on it too, pairwise against production, and the job names that run.
    expect(exported.heldOut.prompts).toBeGreaterThan(0);
    expect(exported.heldOut.location?.key).toMatch(/^raw\/golden\/feedback-holdout\//);
    const jobId = result.fineTune?.registered?.jobId;
    expect(result.holdout).toMatchObject({
      runId: `candidate-${jobId}-holdout`,
      suite: { name: 'feedback-holdout', version: 1, items: exported.heldOut.prompts },
    });
    expect(result.holdout?.metrics.win_rate?.n).toBe(exported.heldOut.prompts);
    expect(result.holdout?.metrics.win_rate_lc?.value).toEqual(expect.any(Number));
    expect(result.fineTune?.job).toMatchObject({
      status: 'deployed',
      evaluation: { runId: `candidate-${jobId}`, pass: true, winRateRunId: `candidate-${jobId}-holdout` },
    });

    // A second export with nothing new writes nothing and starts nothing.
    const again = await runFeedbackChain(stack, client, [
      { line: 1, interactionId: '00000000-0000-4000-8000-000000000001', feedback: { rating: 'up' } },
    ]);
    expect(again.sent[0]?.status).toBe(404);
    expect(again.exported).toBeNull();
    expect(again.pipelines).toEqual([]);
  });
});
