// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/dataprep.ts';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidEventError } from '#aws/errors.ts';
import { makeHandler } from '#functions/dataprep/release-claim.ts';

describe('release-claim handler', () => {
  const releaseClaim = vi.fn();
  const handler = makeHandler({ registry: { releaseClaim } });
  const state = {
    status: 'NEW',
    runId: 'exec-7',
    source: { bucket: 'raw', key: 'raw/golden/qa.jsonl', etag: 'e1', size: 10 },
    failure: { Error: 'NoValidRecordsError', Cause: '{"errorMessage":"no valid record"}' },
  };
  beforeEach(() => releaseClaim.mockReset());

  it('releases the run claim and passes its input through unchanged for the Fail state', async () => {
    releaseClaim.mockResolvedValue(true);
    await expect(handler(state)).resolves.toBe(state);
    expect(releaseClaim).toHaveBeenCalledWith(
      state.source,
      'exec-7',
      'NoValidRecordsError: {"errorMessage":"no valid record"}',
    );
  });

  it('does not fail when the claim is no longer held by this run', async () => {
    releaseClaim.mockResolvedValue(false);
    await expect(handler(state)).resolves.toBe(state);
  });

  it('names what is missing from a malformed input', async () => {
    await expect(handler({ ...state, runId: undefined })).rejects.toBeInstanceOf(InvalidEventError);
    await expect(handler({ ...state, runId: undefined })).rejects.toThrow(/runId/);
  });
});
