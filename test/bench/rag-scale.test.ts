import { describe, expect, it } from 'vitest';
import { expectSuccess, positiveNumbers, runSmoke } from './support.ts';

/**
 * bench/rag-scale.ts in smoke mode: one RagIngest run of a few hundred documents in small batches, so the
 * Distributed Map runs many children and Finish reads the Map Run's result files, beside the one-loop
 * baseline. Speed is not asserted: that is what the full run measures.
 */
const NUMBER = String.raw`(\d+(?:\.\d+)?)`;

describe('benchmark smoke run', () => {
  it('bench/rag-scale.ts: one RagIngest run past the inline Map limit against one plain loop', async () => {
    const out = expectSuccess(await runSmoke('rag-scale.ts'));
    const [baseline] = positiveNumbers(
      out,
      new RegExp(
        String.raw`^\s+baseline: .*\s${NUMBER} docs\s+${NUMBER} s\s+${NUMBER} docs/s\s+${NUMBER} chunks\s+peak ${NUMBER} MB`,
      ),
    );
    const [pipeline] = positiveNumbers(
      out,
      new RegExp(
        String.raw`^\s+pipeline: .*\s${NUMBER} docs\s+${NUMBER} s\s+${NUMBER} docs/s\s+${NUMBER} chunks\s+peak ${NUMBER} MB`,
      ),
    );
    // The same documents, cut into the same chunks, on both sides.
    expect(pipeline?.[0]).toBe(baseline?.[0]);
    expect(pipeline?.[3]).toBe(baseline?.[3]);
    positiveNumbers(out, new RegExp(`pipeline / baseline time per document: ${NUMBER}x`));
    expect(out).toMatch(/\(300 indexed, 0 failed\)/);
    const [map] = positiveNumbers(
      out,
      new RegExp(
        String.raw`distributed map: ${NUMBER} execution \(SUCCEEDED\), ${NUMBER} child executions of ${NUMBER} documents, ${NUMBER} result files`,
      ),
    );
    // One execution, many children (300 documents in batches of 5), and its manifest beside the results.
    expect(map?.[0]).toBe(1);
    expect(map?.[1]).toBe(60);
    expect(map?.[3]).toBeGreaterThan(1);
  }, 300_000);
});
