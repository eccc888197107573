import { describe, expect, it } from 'vitest';
import { RUN_ID } from '#contracts/evaluation/run.ts';
import { driftRunId } from '#core/drift/run-id.ts';

describe('driftRunId', () => {
  it('is made of the check and the window end, and is a valid run id', () => {
    const id = driftRunId('support', '2026-12-01T12:00:00.000Z');
    expect(id).toBe('drift-support-20261201120000');
    expect(id).toMatch(RUN_ID);
    expect(driftRunId('support', '2026-12-01T18:00:00.000Z')).not.toBe(id);
    expect(driftRunId('billing', '2026-12-01T12:00:00.000Z')).not.toBe(id);
  });

  it('stays a valid run id for the longest check name', () => {
    const id = driftRunId(`a${'b'.repeat(31)}`, '2026-12-01T12:00:00.000Z');
    expect(id).toMatch(RUN_ID);
    expect(id.length).toBeLessThanOrEqual(80);
  });

  it('names the same run for every signal of a window, whatever the precision of its end', () => {
    expect(driftRunId('all-traffic', '2026-12-05T00:00:00Z')).toBe(
      driftRunId('all-traffic', '2026-12-05T00:00:00.000Z'),
    );
  });
});
