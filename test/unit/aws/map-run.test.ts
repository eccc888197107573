import { beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidEventError } from '#aws/errors.ts';
import { PENDING_CHILD_ERROR, readMapRunResults } from '#aws/map-run.ts';
import { memoryS3, writeMapRunResults } from '../../support/map-run.ts';

const { s3, objects, put, reset } = memoryS3();

const output = z.object({ index: z.number().int(), n: z.number() });

beforeEach(reset);

describe('readMapRunResults', () => {
  it('reads every result file the manifest lists: outputs of succeeded children, error and cause of failed ones', async () => {
    const run = writeMapRunResults(put, {
      bucket: 'artifacts',
      prefix: 'staging/x/map-runs',
      perFile: 2,
      children: [
        { input: { index: 0 }, output: { index: 0, n: 5 } },
        { input: { index: 1 }, error: 'TransientError', cause: '{"errorMessage":"busy"}' },
        { input: { index: 2 }, output: { index: 2, n: 7 } },
        { input: { index: 3 }, output: { index: 3, n: 1 } },
        { input: { index: 4 }, error: 'States.Timeout' },
      ],
    });
    const results = await readMapRunResults(s3, run, output);
    expect(results.mapRunArn).toBe(run.MapRunArn);
    expect(results.succeeded).toEqual([
      { input: { index: 0 }, output: { index: 0, n: 5 } },
      { input: { index: 2 }, output: { index: 2, n: 7 } },
      { input: { index: 3 }, output: { index: 3, n: 1 } },
    ]);
    expect(results.failed).toEqual([
      { input: { index: 1 }, error: 'TransientError', cause: '{"errorMessage":"busy"}' },
      { input: { index: 4 }, error: 'States.Timeout' },
    ]);
    // Two SUCCEEDED files (2 + 1 entries), one FAILED file.
    const manifest = JSON.parse(objects.get(`artifacts/${run.ResultWriterDetails.Key}`) ?? '{}');
    expect(manifest.ResultFiles.SUCCEEDED).toHaveLength(2);
  });

  it('reads JSON Lines result files and outputs that are values rather than JSON text', async () => {
    put(
      'b',
      'p/run/manifest.json',
      JSON.stringify({
        DestinationBucket: 'b',
        MapRunArn: 'arn:aws:states:us-east-1:0:mapRun:sm/Map:run',
        ResultFiles: {
          SUCCEEDED: [{ Key: 'p/run/SUCCEEDED_0.json', Size: 1 }],
          PENDING: [{ Key: 'p/run/PENDING_0.json' }],
        },
      }),
    );
    put(
      'b',
      'p/run/SUCCEEDED_0.json',
      `${JSON.stringify({ Input: { i: 1 }, Output: { index: 1, n: 2 } })}\n`,
    );
    put('b', 'p/run/PENDING_0.json', JSON.stringify([{ Input: '{"i":2}' }]));
    const results = await readMapRunResults(
      s3,
      { MapRunArn: 'arn', ResultWriterDetails: { Bucket: 'b', Key: 'p/run/manifest.json' } },
      output,
    );
    expect(results.succeeded).toEqual([{ input: { i: 1 }, output: { index: 1, n: 2 } }]);
    // A child still pending when the run ended never reported: it counts as failed.
    expect(results.failed).toEqual([
      { input: { i: 2 }, error: PENDING_CHILD_ERROR, cause: expect.stringMatching(/had not ended/) },
    ]);
  });

  it('reads a run without children (an empty manifest)', async () => {
    const run = writeMapRunResults(put, { bucket: 'b', prefix: 'p', children: [] });
    expect(await readMapRunResults(s3, run, output)).toMatchObject({ succeeded: [], failed: [] });
  });

  it('names the file, the entry and the field of an output that does not match its schema', async () => {
    const run = writeMapRunResults(put, {
      bucket: 'b',
      prefix: 'p',
      children: [{ input: {}, output: { index: 'zero', n: 1 } }],
    });
    const error = await readMapRunResults(s3, run, output).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidEventError);
    expect(String(error)).toMatch(/SUCCEEDED_0\.json entry 0.*index/);
  });

  it('refuses a manifest without ResultFiles', async () => {
    put('b', 'm.json', JSON.stringify({ DestinationBucket: 'b', MapRunArn: 'arn' }));
    await expect(
      readMapRunResults(
        s3,
        { MapRunArn: 'arn', ResultWriterDetails: { Bucket: 'b', Key: 'm.json' } },
        output,
      ),
    ).rejects.toThrow(/manifest s3:\/\/b\/m\.json.*ResultFiles/);
  });
});
