import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLED_CORPUS } from '../../bench/corpus.ts';
import { expectSuccess, positiveNumbers, runSmoke } from './support.ts';

/**
 * Every benchmark runs in smoke mode (tiny sizes, the same code path, baseline and ratio included): a
 * benchmark that no longer runs, or stops reporting, fails here. Speed is not asserted: that is what the
 * full runs measure.
 */
const NUMBER = String.raw`(\d+(?:\.\d+)?)`;

// Concurrent: each benchmark is its own process with its own scratch folder, and the synth of cold-start
// alone takes most of the project's time.
describe.concurrent('benchmark smoke runs', () => {
  it('bench/run.ts: data preparation against a plain read-parse-write pass', async () => {
    const out = expectSuccess(await runSmoke('run.ts'));
    const rows = positiveNumbers(
      out,
      new RegExp(
        String.raw`^\s+(?:pipeline|parallel)\s+${NUMBER} MB/s\s+${NUMBER} rec/s\s+peak\s+${NUMBER} MB\s+ratio ${NUMBER}x`,
      ),
    );
    expect(rows).toHaveLength(2);
    positiveNumbers(out, new RegExp(String.raw`^\s+plain\s+${NUMBER} MB/s\s+${NUMBER} rec/s`));
  });

  it('bench/api-overhead.ts: the chat handler against a bare handler', async () => {
    const out = expectSuccess(await runSmoke('api-overhead.ts'));
    positiveNumbers(out, new RegExp(String.raw`bare handler .* p50 ${NUMBER} ms\s+p99 ${NUMBER} ms`));
    positiveNumbers(out, new RegExp(String.raw`chat handler\s+p50 ${NUMBER} ms\s+p99 ${NUMBER} ms`));
    positiveNumbers(out, new RegExp(String.raw`^\s+overhead .* ratio p50 ${NUMBER}x`));
  });

  it('bench/cold-start.ts: every synthesized bundle against a bare handler', async () => {
    const out = expectSuccess(await runSmoke('cold-start.ts'));
    const rows = positiveNumbers(
      out,
      new RegExp(
        String.raw`^functions/\S+\s+${NUMBER} KiB\s+${NUMBER} ms\s+${NUMBER}x\s+(?:s3|bedrock|dynamodb|none)`,
      ),
    );
    const summary = /^ratio = cold start .*; (\d+) functions, (\d+) over/m.exec(out);
    expect(summary?.[1]).toBe(String(rows.length));
    expect(out).toMatch(/^functions\/api\/chat\.ts .* bedrock \(\+ first invoke\)/m);
  });

  it('bench/chunking.ts: chunkDocument against LangChain', async () => {
    const out = expectSuccess(await runSmoke('chunking.ts'));
    expect(out).toMatch(/^\s+corpus: /m);
    const rows = positiveNumbers(
      out,
      new RegExp(
        String.raw`^\s+(?:chunkDocument|LangChain) .*\s${NUMBER} MB/s\s+${NUMBER} chunks\s+tokens/chunk mean\s+${NUMBER} max\s+${NUMBER}`,
      ),
    );
    expect(rows).toHaveLength(3);
    positiveNumbers(out, new RegExp(`^ratio chunkDocument / LangChain .*: ${NUMBER}x`));
  });

  it('bench/rag-ingest.ts: the RagIngest pipeline against one plain loop (bundled corpus, as in CI)', async () => {
    // Without ../shared, as in a clean clone: the bundled excerpt must ingest without a failure.
    const out = expectSuccess(
      await runSmoke('rag-ingest.ts', {
        BENCH_SHARED_DIR: join(tmpdir(), `llmops-no-shared-${process.pid}`),
      }),
    );
    expect(out).toContain(`corpus: bundled excerpt (no shared corpus) at ${BUNDLED_CORPUS}`);
    positiveNumbers(
      out,
      new RegExp(String.raw`^\s+baseline: .*\s${NUMBER} MB/s\s+${NUMBER} docs/s\s+${NUMBER} chunks`),
    );
    positiveNumbers(
      out,
      new RegExp(String.raw`^\s+pipeline: .*\s${NUMBER} MB/s\s+${NUMBER} docs/s\s+${NUMBER} chunks`),
    );
    positiveNumbers(out, new RegExp(String.raw`pipeline / baseline time: ${NUMBER}x\s+\(${NUMBER} indexed`));
    expect(out).toMatch(/\(3 indexed, 0 failed\)/);
  });

  it('bench/vector-store.ts: the embedded store against an exact scan', async () => {
    const out = expectSuccess(await runSmoke('vector-store.ts'));
    positiveNumbers(out, new RegExp(String.raw`^\s+insert\s+${NUMBER} chunks in .* = ${NUMBER} chunks/s`));
    const rows = positiveNumbers(
      out,
      new RegExp(
        String.raw`^\s+(?:kNN|hybrid|filter \d+%)\s+${NUMBER}\s+${NUMBER}\s+${NUMBER}\s+${NUMBER}\s+${NUMBER}x\s+${NUMBER}x\s`,
      ),
    );
    expect(rows).toHaveLength(4);
    expect(out).toMatch(/^ratio = exact scan \/ embedded store/m);
  });

  it('bench/drift.ts: false alarms and detection of the drift tests against a reference-only bootstrap', async () => {
    const out = expectSuccess(await runSmoke('drift.ts'));
    const METHOD = '(centroid|mmd|classifier|ks:length|mmd-ref-bootstrap)';
    const SHARE = String.raw`(\d\.\d{3})`;
    const CELL = String.raw`${SHARE} \[${SHARE}, ${SHARE}\]`;
    const lines = (pattern: RegExp) =>
      out.split('\n').flatMap((line) => {
        const match = pattern.exec(line);
        return match === null ? [] : [match];
      });
    /** A rate with its 95% interval: shares, the interval around the rate, never empty. */
    const expectInterval = (rate: string, lo: string, hi: string) => {
      expect(Number(lo)).toBeLessThanOrEqual(Number(rate));
      expect(Number(rate)).toBeLessThanOrEqual(Number(hi));
      expect(Number(hi)).toBeGreaterThan(0);
      expect(Number(hi)).toBeLessThanOrEqual(1);
    };
    expect(out).toMatch(/^n 50: 10 seeds × 2 window pairs, .* MMD and classifier test 50 \+ 50 /m);

    // False alarms: one row per method, count out of 10 windows, interval, verdict, time per test.
    const VERDICT = String.raw`(?:ok|ok \(noise\)|OVER)`;
    const alarms = lines(
      new RegExp(
        String.raw`^\s+${METHOD}\s+${SHARE}\s+(\d+)/(\d+)\s+\[${SHARE}, ${SHARE}\]\s+${VERDICT}\s+${NUMBER}(?:\s+\(\d+ insufficient\))?$`,
      ),
    );
    expect(alarms.map((m) => m[1])).toEqual([
      'centroid',
      'mmd',
      'classifier',
      'ks:length',
      'mmd-ref-bootstrap',
    ]);
    for (const [, , rate = '', hits, total, lo = '', hi = ''] of alarms) {
      expect(Number(total)).toBe(10);
      expect(Number(rate)).toBeCloseTo(Number(hits) / Number(total), 3);
      expectInterval(rate, lo, hi);
    }
    const times = positiveNumbers(
      out,
      new RegExp(String.raw`^\s+\S+\s+\d\.\d{3}\s+\d+/\d+\s+\[[^\]]+\]\s+${VERDICT}\s+${NUMBER}`),
    );
    expect(times).toHaveLength(5);

    // Detection: one row per method, one rate with its interval per shift (one shift in smoke mode).
    const detections = lines(new RegExp(String.raw`^\s+${METHOD}\s+${CELL}$`));
    expect(detections).toHaveLength(5);
    for (const [, , rate = '', lo = '', hi = ''] of detections) expectInterval(rate, lo, hi);

    // The baseline's false alarms against the permutation test's, and the times, as ratios.
    positiveNumbers(
      out,
      new RegExp(
        String.raw`^\s+baseline: false alarms mmd-ref-bootstrap ${NUMBER} vs mmd permutation \d\.\d{3}: ratio >?${NUMBER}x; ms/test ${NUMBER} vs ${NUMBER}: ratio ${NUMBER}x$`,
      ),
    );
  });
});
