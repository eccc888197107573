import { describe, expect, it } from 'vitest';
import type { RunReport } from '#core/eval/report/types.ts';
import type { MetricSummary } from '#core/eval/types.ts';
import { cliSummary } from '#infra/local/eval/cli-summary.ts';

/**
 * The `--json` line of `npm start -- evaluate`: the fields of `summary.json` a script reads, each judge
 * metric with its stability (the unstable items and the repeats) exactly as `summary.json` has them.
 */

const estimate = (value: number, n: number, ci: [number, number]) => ({ value, n, ci });

const f1: MetricSummary = { name: 'f1', ...estimate(0.7, 20, [0.6, 0.8]), failed: 0, byTag: {} };
const faithfulness: MetricSummary = {
  name: 'faithfulness',
  ...estimate(0.8, 14, [0.7, 0.9]),
  failed: 1,
  byTag: { billing: estimate(0.75, 7, [0.6, 0.9]) },
  judge: { model: 'judge-1', rubric: 'judge-faithfulness:2', calibrated: false },
  unstable: 5,
  repeats: { k: 3, judged: 19, unstableShare: 5 / 19, passHatK: 0.55, passHatKItems: 18 },
};
/** A judge metric no item could be judged on: its shares are NaN, written as null. */
const toxicity: MetricSummary = {
  name: 'toxicity',
  value: Number.NaN,
  n: 0,
  ci: [Number.NaN, Number.NaN],
  failed: 20,
  byTag: {},
  judge: { model: 'judge-1', rubric: 'judge-toxicity:1', calibrated: false },
  unstable: 0,
  repeats: { k: 3, judged: 0, unstableShare: Number.NaN, passHatK: Number.NaN, passHatKItems: 0 },
};

const report = (metrics: readonly MetricSummary[]): RunReport => ({
  runId: 'run-1',
  suite: { name: 'golden', version: 'sha256-0123456789abcdef', items: 20 },
  target: { prompt: 'rag-answer' },
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:01:00.000Z',
  judge: { model: 'judge-1', offline: false },
  metrics,
  items: [],
  operational: { latencyP50: 1, latencyP95: 2, tokensPerItem: 3, costPerItem: 0, costTotal: 0 },
  failed: 0,
});

describe('the evaluate CLI’s --json line', () => {
  it('gives each judge metric its unstable items and repeats as summary.json does', () => {
    const line = cliSummary(report([f1, faithfulness, toxicity]), '/tmp/eval/report.html');
    expect(line.metrics).toEqual({
      f1: { value: 0.7, n: 20, ci: [0.6, 0.8], failed: 0 },
      faithfulness: {
        value: 0.8,
        n: 14,
        ci: [0.7, 0.9],
        failed: 1,
        unstable: 5,
        repeats: { k: 3, judged: 19, unstableShare: 5 / 19, passHatK: 0.55, passHatKItems: 18 },
      },
      toxicity: {
        value: null,
        n: 0,
        ci: [null, null],
        failed: 20,
        unstable: 0,
        repeats: { k: 3, judged: 0, unstableShare: null, passHatK: null, passHatKItems: 0 },
      },
    });
    // What the line prints survives JSON unchanged.
    expect(JSON.parse(JSON.stringify(line))).toEqual(line);
  });

  it('keeps the rest of the line as it was', () => {
    expect(cliSummary(report([f1]), undefined)).toEqual({
      runId: 'run-1',
      suite: { name: 'golden', version: 'sha256-0123456789abcdef', items: 20 },
      target: { prompt: 'rag-answer' },
      items: 0,
      failed: 0,
      judge: 'judge-1',
      metrics: { f1: { value: 0.7, n: 20, ci: [0.6, 0.8], failed: 0 } },
      pass: null,
      report: null,
    });
  });
});
