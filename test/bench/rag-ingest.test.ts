import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectSuccess, positiveNumbers, runSmoke } from './support.ts';

/**
 * bench/rag-ingest.ts in smoke mode: besides the lines smoke.test.ts reads, the pipeline runs both ways
 * (batched as synthesized, and one execution per upload) and says how many executions each started.
 * Speed is not asserted.
 */
const NUMBER = String.raw`(\d+(?:\.\d+)?)`;

describe('bench/rag-ingest.ts', () => {
  it('reports the batched pipeline and one execution per upload side by side, with their executions', async () => {
    const out = expectSuccess(
      await runSmoke('rag-ingest.ts', {
        BENCH_SHARED_DIR: join(tmpdir(), `llmops-no-shared-${process.pid}`),
      }),
    );
    const rows = positiveNumbers(
      out,
      new RegExp(String.raw`^\s+pipeline: .*\s${NUMBER} MB/s\s+${NUMBER} docs/s\s+${NUMBER} chunks`),
    );
    expect(rows).toHaveLength(2);
    expect(out).toMatch(/^\s+pipeline: one execution per upload \(BatchSize 1\)/m);
    expect(out).toMatch(/^\s+pipeline: batched \(BatchSize 25, window 10 s\)/m);
    positiveNumbers(
      out,
      new RegExp(String.raw`one per upload / baseline time: ${NUMBER}x\s+\(3 indexed, 0 failed\)`),
    );
    const [executions] = positiveNumbers(
      out,
      new RegExp(
        String.raw`^\s+executions: batched ${NUMBER} \(${NUMBER} docs each\), one per upload ${NUMBER} \(${NUMBER} docs each\); batched / one per upload docs/s: ${NUMBER}x`,
      ),
    );
    // Three uploads: one batch when batched, three executions one by one.
    expect(executions?.slice(0, 4)).toEqual([1, 3, 3, 1]);
  });
});
