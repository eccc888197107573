// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/dataprep.ts';
import { beforeEach, describe, expect, it } from 'vitest';
import { MapRunIncompleteError } from '#aws/map-run.ts';
import { type FinalizeInput, layout, type PartResult } from '#contracts/pipelines/dataprep.ts';
import { makeHandler } from '#functions/dataprep/finalize.ts';
import { type ChildResult, memoryS3, writeMapRunResults } from '../../support/map-run.ts';

/**
 * Finalize reads each part's result from the Map Run's result files, and builds nothing from a run that
 * does not account for every planned part (the merge itself is covered by the core tests and the
 * integration test on the emulators).
 */
const { s3, put, reset } = memoryS3();

beforeEach(reset);

const handler = makeHandler({
  s3,
  curatedBucket: 'curated',
  quarantineBucket: 'artifacts',
  quarantineExpirationDays: 7,
  validationRatio: 0.1,
  nearDuplicateThreshold: 0.8,
});

const dataset = { name: 'chats', purpose: 'finetune', version: 1 } as const;
const source = { bucket: 'raw', key: 'raw/finetune/chats.jsonl', etag: 'e', size: 300 };

const part = (index: number): PartResult => ({
  index,
  lines: 1,
  blank: 0,
  good: 1,
  quarantined: 0,
  quarantineCodes: {},
  redactions: {},
  bytes: 100,
  staging: { bucket: 'artifacts', key: layout.staging('run-1', index) },
  quarantine: null,
});

const child = (index: number): ChildResult => ({
  input: { part: { index, start: index * 100, end: index * 100 + 100 }, runId: 'run-1', source, dataset },
  output: part(index),
});

function input(children: readonly ChildResult[], partCount: number): FinalizeInput {
  return {
    status: 'NEW',
    runId: 'run-1',
    dataset,
    source,
    outputPrefix: layout.outputPrefix(dataset),
    items: { bucket: 'artifacts', key: layout.items('run-1') },
    partCount,
    mapRun: writeMapRunResults(put, { bucket: 'artifacts', prefix: layout.mapRunsPrefix, children }),
  };
}

describe('Finalize', () => {
  it('refuses a Map Run with a failed part, naming its error and cause', async () => {
    const error = await handler(
      input([child(0), { input: child(1).input, error: 'TransientError', cause: 'busy' }, child(2)], 3),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MapRunIncompleteError);
    expect((error as Error).name).toBe('MapRunIncompleteError');
    expect((error as Error).message).toMatch(
      /1 of 3 part\(s\) failed in arn:.*the first with TransientError: busy/,
    );
  });

  it('refuses results that lack a planned part, naming it', async () => {
    const error = await handler(input([child(0), child(2)], 3)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MapRunIncompleteError);
    expect((error as Error).message).toMatch(
      /2 part result\(s\) for 3 planned part\(s\); missing part\(s\) 1/,
    );
  });

  it('refuses results that hold a part twice', async () => {
    await expect(handler(input([child(0), child(0)], 2))).rejects.toThrow(
      /missing part\(s\) 1; part\(s\) 0 more than once/,
    );
  });

  it('names the missing field of an input without the Map Run', async () => {
    const { mapRun: _, ...withoutRun } = input([child(0)], 1);
    await expect(handler(withoutRun)).rejects.toThrow(/Invalid Finalize input: mapRun/);
  });
});
