import { describe, expect, it } from 'vitest';
import { STAGES } from '../../bench/dataprep-stages.ts';
import { expectSuccess, positiveNumbers, runSmoke } from './support.ts';

/**
 * The data-preparation stage profile runs in smoke mode and prints its table: every stage of the
 * pipeline once, with numbers that parse. Speed is not asserted.
 */
const NUMBER = String.raw`(\d+(?:\.\d+)?)`;

const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('benchmark smoke runs', () => {
  it('bench/dataprep-profile.ts: the time of each data-preparation stage', async () => {
    const out = expectSuccess(await runSmoke('dataprep-profile.ts'));
    const [header] = positiveNumbers(
      out,
      new RegExp(String.raw`^stage profile \(${NUMBER} lines, ${NUMBER} staged records`),
    );
    for (const stage of STAGES) {
      const row = new RegExp(
        String.raw`^\s+${literal(stage)}\s+${NUMBER}\s+${NUMBER}%\s+${NUMBER}$`,
        'm',
      ).exec(out);
      expect(row, `a row for ${stage}:\n${out}`).not.toBeNull();
      for (const value of row?.slice(1) ?? []) expect(Number(value)).toBeGreaterThanOrEqual(0);
    }
    const [total] = positiveNumbers(
      out,
      new RegExp(String.raw`^\s+total\s+${NUMBER}\s+100%\s+${NUMBER}\s+\(wall ${NUMBER} ms\)`),
    );
    expect(total).toHaveLength(3);
    expect(header?.[1]).toBeLessThanOrEqual(header?.[0] ?? 0);
  });
});
