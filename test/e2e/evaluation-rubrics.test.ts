import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAITHFULNESS_RUBRIC } from '#core/eval/rubrics/index.ts';
import { LocalRunner } from '#infra/local/runner.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';

/**
 * Judge rubrics are prompts of the registry, on the local stack over HTTP: the first run seeds them
 * (the Plan function, every call judged by the local IAM evaluator) and records the version it judged
 * with; an administrator publishes a new version with the prompt API and moves `production`, and the
 * next run judges with it; a request can pin a version; a version that cannot be a rubric fails the run,
 * naming the metric.
 */
const SUITE = 'e2e-rubrics';

let stack: LocalRunner;
let url: string;
let key: string;

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

/** Runs the suite with nova-micro (k = 1) and returns the finished run record and its summary.json. */
async function evaluate(extra: Record<string, unknown> = {}): Promise<{ run: Json; summary: Json }> {
  const started = await call('POST', '/v1/evaluations', {
    suite: SUITE,
    target: { model: 'nova-micro' },
    k: 1,
    maxItems: 4,
    ...extra,
  });
  expect(started.status).toBe(202);
  await stack.idle();
  const run = await call('GET', `/v1/evaluations/${started.body.runId}`);
  expect(run.status).toBe(200);
  const summary = run.body.links ? await (await fetch(run.body.links.summary)).json() : undefined;
  return { run: run.body, summary };
}

const rubricOf = (summary: Json, metric: string) => summary.metrics[metric]?.judge?.rubric;

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

describe('judge rubrics in the prompt registry, over HTTP', () => {
  it('the first run seeds every rubric at version 1 (production) and records the versions it judged with', async () => {
    const { run, summary } = await evaluate();
    expect(run.status).toBe('succeeded');
    expect(run.resolved.rubrics).toEqual({
      faithfulness: 'judge-faithfulness:1',
      answer_relevance: 'judge-answer-relevance:1',
    });
    // The golden items carry no passages (and this run retrieves none): faithfulness does not apply.
    expect(rubricOf(summary, 'answer_relevance')).toBe('judge-answer-relevance:1');
    const versions = await call('GET', '/v1/prompts/judge-faithfulness/versions');
    expect(versions.status).toBe(200);
    expect(versions.body.labels).toEqual({ latest: 1, production: 1 });
    const seeded = await call('GET', '/v1/prompts/judge-faithfulness?label=production');
    expect(seeded.body.messages[0].content).toBe(FAITHFULNESS_RUBRIC.instructions);
    for (const name of ['judge-hallucination', 'judge-toxicity', 'judge-sentiment', 'judge-pairwise']) {
      expect((await call('GET', `/v1/prompts/${name}?label=production`)).status, name).toBe(200);
    }
  });

  it('an administrator publishes a new rubric version and moves production: the next run judges with it', async () => {
    const current = (await call('GET', '/v1/prompts/judge-answer-relevance?label=production')).body;
    const published = await call('POST', '/v1/prompts/judge-answer-relevance/versions', {
      messages: [
        { role: 'system', content: `${current.messages[0].content}\nWrite questions a customer would ask.` },
        current.messages[1],
      ],
      variables: current.variables,
      model: current.model,
      commitMessage: "e2e: questions in the customer's words",
    });
    expect(published.status).toBe(201);
    expect(published.body.version).toBe(2);
    const moved = await call('PUT', '/v1/prompts/judge-answer-relevance/labels/production', { version: 2 });
    expect(moved.status).toBe(200);

    const { run, summary } = await evaluate();
    expect(run.resolved.rubrics.answer_relevance).toBe('judge-answer-relevance:2');
    expect(rubricOf(summary, 'answer_relevance')).toBe('judge-answer-relevance:2');
    // Every item's judge score records it (the offline judge stands in for it locally).
    const items = (await (await fetch(run.links.items)).text()).trim().split('\n');
    expect(items).toHaveLength(4);
    for (const line of items) expect(line).toContain('judge-answer-relevance:2');

    // A request may pin a version (as a schedule may, per suite).
    const pinned = await evaluate({ rubrics: { answer_relevance: 'judge-answer-relevance:1' } });
    expect(pinned.run.resolved.rubrics.answer_relevance).toBe('judge-answer-relevance:1');
    expect(rubricOf(pinned.summary, 'answer_relevance')).toBe('judge-answer-relevance:1');
  });

  it('a version that cannot be a rubric fails the run, naming the metric; an unknown metric is a 400', async () => {
    const bad = await call('POST', '/v1/prompts/judge-answer-relevance/versions', {
      messages: [{ role: 'user', content: 'Rate {{ answer }}' }],
      variables: { answer: { type: 'string' } },
      commitMessage: 'e2e: not a rubric',
    });
    expect(bad.status).toBe(201);
    const { run } = await evaluate({
      rubrics: { answer_relevance: `judge-answer-relevance:${bad.body.version}` },
    });
    expect(run.status).toBe('failed');
    expect(run.error).toContain('request.rubrics.answer_relevance');
    expect(run.error).toContain('cannot be a judge rubric');
    const unknown = await call('POST', '/v1/evaluations', {
      suite: SUITE,
      target: { model: 'nova-micro' },
      rubrics: { coherence: 'judge-coherence@production' },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain('rubrics');
  });
});
