import { describe, expect, it } from 'vitest';
import { expectSuccess, positiveNumbers, runSmoke } from './support.ts';

/**
 * The hostile-input benchmark runs in smoke mode and prints, for each adversarial input and size, the
 * time of the current code and of the regex it replaced with their ratio, then one hostile record
 * through the per-line pipeline. Speed is not asserted.
 */
const MS = String.raw`(\d+(?:\.\d+)?) (?:ms|s)`;

describe('benchmark smoke runs', () => {
  it('bench/hostile-input.ts: the linear code beside the regexes it replaced', async () => {
    const out = expectSuccess(await runSmoke('hostile-input.ts'));
    const rows = positiveNumbers(
      out,
      new RegExp(String.raw`n=\s*(\d+)\s+now\s+${MS}\s+replaced\s+${MS}\s+ratio (\d+(?:\.\d+)?)x$`),
    );
    // Three inputs at the two smoke sizes.
    expect(rows).toHaveLength(6);
    positiveNumbers(out, new RegExp(`every PII detector ${MS}, the whole per-line pipeline ${MS}$`));
  });
});
