import { describe, expect, it } from 'vitest';
import { type AppLimits, classifyOutcome } from '../../bench/load-config.ts';
import { streamCompleted } from '../../bench/load-generator.ts';
import { expectSuccess, positiveNumbers, runSmoke } from './support.ts';

/**
 * bench/load.ts in smoke mode (3 s at 10 req/s against the local stack, then the bare baseline): it
 * starts the stack, holds the load, stops by itself and prints every line of its report. Speed is not
 * asserted, nor memory growth: those are what the full run measures.
 */
const NUMBER = String.raw`(\d+(?:\.\d+)?)`;
const SIGNED = String.raw`[+-]\d+(?:\.\d+)?`;

describe('benchmark smoke runs', () => {
  it('bench/load.ts: an open-loop load on the local API against a bare node:http server', async () => {
    const out = expectSuccess(await runSmoke('load.ts'));

    // The limits the app runs under, read from the template, and the check that the load fits them.
    expect(out).toMatch(
      /^\s+limits of the app .*: POST \/v1\/chat \d+\/s burst \d+, POST \/v1\/chat\/completions \d+\/s burst \d+;/m,
    );
    expect(out).toMatch(/^\s+headroom: .*within every limit, no 429 expected$/m);

    // Latency of both routes, each mode and together, for the API and the baseline.
    const rows = positiveNumbers(
      out,
      new RegExp(
        String.raw`^\s+(?:api|bare)\s+POST /v1/chat(?:/completions)? \((?:json|stream|all)\)\s+${NUMBER}\s+${NUMBER}\s+${NUMBER}\s+${NUMBER}\s+${NUMBER}$`,
      ),
    );
    expect(rows).toHaveLength(12);
    for (const [, p50 = 0, p90 = 0, p99 = 0, max = 0] of rows) {
      expect(p50).toBeLessThanOrEqual(p90);
      expect(p90).toBeLessThanOrEqual(p99);
      expect(p99).toBeLessThanOrEqual(max);
    }

    // Every request answered 2xx: no 429 and no failure, in both runs.
    const throughput = positiveNumbers(
      out,
      new RegExp(
        String.raw`^\s+(?:api|bare)\s+throughput: offered ${NUMBER} req/s, achieved ${NUMBER} req/s \(${NUMBER} 2xx of ${NUMBER} sent`,
      ),
    );
    expect(throughput).toHaveLength(2);
    for (const [, , answered, sent] of throughput) expect(answered).toBe(sent);
    const statuses = out.match(/^\s+(?:api|bare)\s+statuses .*; 429 of configured limits 0; failures 0$/gm);
    expect(statuses).toHaveLength(2);

    // Memory of each server process, and its CPU time per request.
    const memory = positiveNumbers(
      out,
      new RegExp(
        String.raw`^\s+(?:api|bare)\s+memory (?:rss|heap used|array buffers): start ${NUMBER} MB / peak ${NUMBER} MB / end ${NUMBER} MB; slope over the second half ${SIGNED} MB/min \(${SIGNED} KB/request`,
      ),
    );
    expect(memory).toHaveLength(6);
    expect(out.match(/^\s+(?:api|bare)\s+memory heap after full GC: \d+ collections/gm)).toHaveLength(2);
    expect(
      positiveNumbers(out, new RegExp(String.raw`^\s+(?:api|bare)\s+cpu: ${NUMBER} ms per request`)),
    ).toHaveLength(2);

    // The ratios against the baseline.
    const ratios = positiveNumbers(
      out,
      new RegExp(
        String.raw`^\s+ratio POST /v1/chat(?:/completions)?\s+p50 ${NUMBER} vs ${NUMBER} ms: ${NUMBER}x; p99 ${NUMBER} vs ${NUMBER} ms: ${NUMBER}x$`,
      ),
    );
    expect(ratios).toHaveLength(2);
    positiveNumbers(
      out,
      new RegExp(String.raw`^\s+ratio server cpu per request\s+${NUMBER} vs ${NUMBER} ms: ${NUMBER}x$`),
    );
  });
});

describe('bench/load.ts: what counts as an answer, a limit or a failure', () => {
  const limits: AppLimits = {
    routes: {
      'POST /v1/chat': { rateLimit: 20, burstLimit: 50 },
      'POST /v1/chat/completions': { rateLimit: 20, burstLimit: 50 },
    },
    key: { rateLimit: 200, burstLimit: 400 },
    quota: { limit: 1000, period: 'DAY' },
    tokensPerDay: 5000,
  };
  const outcome = (status: number, errorCode?: string, errorMessage?: string) => ({
    label: 'POST /v1/chat (json)',
    status,
    errorCode,
    errorMessage,
  });

  it("names the app's limit behind each 429 of the usage plan or the token budget", () => {
    expect(
      classifyOutcome(
        outcome(429, 'throttled', 'Too many requests for this API key: retry with exponential backoff'),
        limits,
      ),
    ).toEqual({ kind: 'limit', what: '429 throttled: usage plan throttle of POST /v1/chat (20/s burst 50)' });
    expect(classifyOutcome(outcome(429, 'quota_exceeded'), limits)).toEqual({
      kind: 'limit',
      what: '429 quota_exceeded: usage plan quota (1000/DAY)',
    });
    expect(classifyOutcome(outcome(429, 'token_budget_exceeded'), limits).kind).toBe('limit');
  });

  it('fails a 429 that no limit of the app produced (a throttled model), any other non-2xx, a cut stream and no answer', () => {
    expect(
      classifyOutcome(outcome(429, 'throttled', 'The model is throttled; retry after 2 s'), limits).kind,
    ).toBe('failure');
    expect(
      classifyOutcome(outcome(429, 'token_budget_exceeded'), { ...limits, tokensPerDay: null }).kind,
    ).toBe('failure');
    expect(classifyOutcome(outcome(502, undefined, 'Internal server error'), limits)).toEqual({
      kind: 'failure',
      what: '502',
    });
    expect(classifyOutcome(outcome(200, 'stream_incomplete'), limits).kind).toBe('failure');
    expect(classifyOutcome(outcome(0, 'ECONNRESET'), limits)).toEqual({
      kind: 'failure',
      what: 'no answer ECONNRESET',
    });
    expect(classifyOutcome(outcome(200), limits)).toEqual({ kind: 'ok', what: '200' });
  });

  it('accepts a stream only when it ends with its closing event and carries no error', () => {
    expect(streamCompleted('event: delta\ndata: {"text":"a"}\n\nevent: done\ndata: {}\n\n')).toBe(true);
    expect(streamCompleted('event: delta\ndata: {"text":"a"}\n\nevent: error\ndata: {}\n\n')).toBe(false);
    expect(streamCompleted('event: delta\ndata: {"text":"a"}\n\n')).toBe(false);
    expect(streamCompleted('data: {"choices":[]}\n\ndata: [DONE]\n\n')).toBe(true);
    expect(streamCompleted('data: {"choices":[]}\n\ndata: {"error":{"code":"x"}}\n\n')).toBe(false);
    expect(streamCompleted('data: {"choices":[]}\n\n')).toBe(false);
  });
});
