import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, type Emulators, startEmulators } from '#infra/local/emulators.ts';
import type { LambdaInvoker } from '#infra/local/lambda-registry.ts';
import {
  type RunStateMachineDeps,
  runStateMachine,
  type TransitionInfo,
  UnsupportedDefinitionError,
} from '#infra/local/state-machines.ts';
import { invokeTask } from '../../support/asl.ts';

const SM_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:Ingest';
const BUCKET = 'dmap-items';
const EXCEEDED = 'States.ExceedToleratedFailureThreshold';

/** A one-state machine whose state is a distributed Map whose children run the Work function. */
function machine(map: Record<string, unknown>, executionType = 'STANDARD'): Record<string, unknown> {
  return {
    StartAt: 'Batches',
    States: {
      Batches: {
        Type: 'Map',
        ItemProcessor: {
          ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: executionType },
          StartAt: 'Work',
          States: { Work: invokeTask('Work', { End: true }) },
        },
        End: true,
        ...map,
      },
    },
  };
}

function jsonlReader(key: string, config: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Resource: 'arn:aws:states:::s3:getObject',
    ReaderConfig: { InputType: 'JSONL', ...config },
    Parameters: { Bucket: BUCKET, Key: key },
  };
}

class WorkFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkFailedError';
  }
}

interface Work {
  readonly n?: number;
  readonly fail?: boolean;
  readonly delayMs?: number;
  readonly Items?: Work[];
}

/** The Work function: doubles `n` (after `delayMs`), fails items with `fail`; counts how many run at once. */
function workLambdas(): LambdaInvoker & { readonly inputs: unknown[]; readonly peak: () => number } {
  const inputs: unknown[] = [];
  let running = 0;
  let peak = 0;
  return {
    inputs,
    peak: () => peak,
    async invoke(functionRef, payload) {
      const name = functionRef.slice(functionRef.lastIndexOf(':') + 1);
      if (name !== 'Work') throw new Error(`no fake for ${name}`);
      inputs.push(payload);
      running++;
      peak = Math.max(peak, running);
      try {
        const work = payload as Work;
        await new Promise((resolve) => setTimeout(resolve, work.delayMs ?? 1));
        const items = work.Items ?? [work];
        if (items.some((item) => item.fail)) throw new WorkFailedError(`cannot do ${JSON.stringify(work)}`);
        return work.Items ? items.map((item) => (item.n ?? 0) * 2) : { doubled: (work.n ?? 0) * 2 };
      } finally {
        running--;
      }
    },
  };
}

describe('distributed Map states run locally', { timeout: 60_000 }, () => {
  let emulators: Emulators;
  let s3: S3Client;

  const put = (key: string, body: string) =>
    s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  const read = async (bucket: string, key: string) =>
    (await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString()) ??
    '';
  const jsonl = (items: readonly unknown[]) => items.map((item) => JSON.stringify(item)).join('\n');
  const run = (
    definition: Record<string, unknown>,
    input: unknown,
    lambdas: LambdaInvoker,
    extra: Partial<RunStateMachineDeps> = {},
  ) => runStateMachine({ definition, arn: SM_ARN }, input, { lambdas, s3, ...extra });

  beforeAll(async () => {
    emulators = await startEmulators();
    s3 = createS3Client(emulators.s3Endpoint);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  });
  afterAll(async () => {
    s3?.destroy();
    await emulators?.stop();
  });

  it('reads JSON Lines, selects each item with its context paths, and returns the outputs in item order', async () => {
    // Later items finish first: the output still follows the items.
    await put('order.jsonl', `${jsonl([1, 2, 3, 4, 5].map((n) => ({ n, delayMs: 30 - n * 5 })))}\n`);
    const lambdas = workLambdas();
    const transitions: TransitionInfo[] = [];
    const result = await run(
      machine({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'JSONL' },
          Parameters: { Bucket: BUCKET, 'Key.$': '$.key' },
        },
        ItemSelector: {
          'n.$': '$$.Map.Item.Value.n',
          'delayMs.$': '$$.Map.Item.Value.delayMs',
          'index.$': '$$.Map.Item.Index',
          'dataset.$': '$.dataset',
          'execution.$': '$$.Execution.Id',
          'started.$': '$$.Execution.Input.dataset',
          'label.$': "States.Format('{}#{}', $.dataset, $$.Map.Item.Index)",
        },
        ResultPath: '$.results',
      }),
      { key: 'order.jsonl', dataset: 'docs@1' },
      lambdas,
      { executionName: 'exec-order', onTransition: (t) => transitions.push(t) },
    );

    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toEqual({
      key: 'order.jsonl',
      dataset: 'docs@1',
      results: [2, 4, 6, 8, 10].map((doubled) => ({ doubled })),
    });
    expect(lambdas.inputs).toContainEqual({
      n: 3,
      delayMs: 15,
      index: 2,
      dataset: 'docs@1',
      execution: 'arn:aws:states:us-east-1:000000000000:execution:Ingest:exec-order',
      started: 'docs@1',
      label: 'docs@1#2',
    });

    // The map run and its children reach onTransition; the children's events carry their index.
    const mapRun = transitions.filter((t) => t.type.startsWith('MapRun'));
    expect(mapRun.map((t) => t.type)).toEqual(['MapRunStarted', 'MapRunSucceeded']);
    expect(mapRun[0]).toMatchObject({
      stateName: 'Batches',
      stateType: 'Map',
      executionArn: result.executionArn,
    });
    expect(mapRun[0]?.mapRunArn).toMatch(
      /^arn:aws:states:us-east-1:000000000000:mapRun:Ingest\/Batches:[0-9a-f-]{36}$/,
    );
    const childEntered = transitions.filter((t) => t.type === 'StateEntered' && t.stateName === 'Work');
    expect(childEntered.map((t) => t.index).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(childEntered.every((t) => t.mapRunArn === mapRun[0]?.mapRunArn)).toBe(true);
    expect(childEntered[0]?.executionArn).toMatch(
      /^arn:aws:states:us-east-1:000000000000:execution:Ingest\/Batches:[0-9a-f-]{36}$/,
    );
    expect(transitions.find((t) => t.type === 'StateEntered' && t.stateName === 'Batches')?.stateType).toBe(
      'Map',
    );
  });

  it('reads a JSON array and CSV rows, up to MaxItems', async () => {
    await put('items.json', JSON.stringify([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]));
    const json = await run(
      machine({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'JSON', MaxItems: 3 },
          Parameters: { Bucket: BUCKET, Key: 'items.json' },
        },
      }),
      {},
      workLambdas(),
    );
    expect(json.output).toEqual([{ doubled: 2 }, { doubled: 4 }, { doubled: 6 }]);

    await put('rows.csv', 'id,title\n1,"Hello, world"\n2,"say ""hi"""\n3,last\n');
    const lambdas = workLambdas();
    const csv = await run(
      machine({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'CSV', CSVHeaderLocation: 'FIRST_ROW', MaxItemsPath: '$.max' },
          Parameters: { Bucket: BUCKET, Key: 'rows.csv' },
        },
      }),
      { max: 2 },
      lambdas,
    );
    expect(csv.status).toBe('SUCCEEDED');
    // CSV fields are strings, keyed by the header row.
    expect(lambdas.inputs).toEqual([
      { id: '1', title: 'Hello, world' },
      { id: '2', title: 'say "hi"' },
    ]);
  });

  it('reads ItemsPath over the state input when there is no ItemReader', async () => {
    const result = await run(
      machine({ ItemsPath: '$.docs', InputPath: '$.body', OutputPath: '$[1]' }),
      { body: { docs: [{ n: 5 }, { n: 6 }] } },
      workLambdas(),
    );
    expect(result.output).toEqual({ doubled: 12 });
  });

  it('batches by count, passing BatchInput to each child as { Items, BatchInput }', async () => {
    await put('seven.jsonl', jsonl([1, 2, 3, 4, 5, 6, 7].map((n) => ({ n }))));
    const lambdas = workLambdas();
    const result = await run(
      machine({
        ItemReader: jsonlReader('seven.jsonl'),
        ItemBatcher: { MaxItemsPerBatchPath: '$.perBatch', BatchInput: { 'run.$': '$.run', fixed: 'x' } },
      }),
      { perBatch: 3, run: 'r1' },
      lambdas,
    );
    expect(result.output).toEqual([[2, 4, 6], [8, 10, 12], [14]]);
    expect(lambdas.inputs).toEqual(
      expect.arrayContaining([
        { Items: [{ n: 1 }, { n: 2 }, { n: 3 }], BatchInput: { run: 'r1', fixed: 'x' } },
        { Items: [{ n: 7 }], BatchInput: { run: 'r1', fixed: 'x' } },
      ]),
    );
  });

  it('batches by bytes: each child input stays within MaxInputBytesPerBatch', async () => {
    const items = [1, 2, 3, 4, 5].map((n) => ({ n, pad: 'x'.repeat(20) }));
    await put('bytes.jsonl', jsonl(items));
    const lambdas = workLambdas();
    const itemBytes = JSON.stringify(items[0]).length; // 30
    // {"Items":[a,b]} is 12 + 2 items + 1 comma bytes: two items fit, three do not.
    const limit = 12 + 3 * itemBytes;
    const result = await run(
      machine({ ItemReader: jsonlReader('bytes.jsonl'), ItemBatcher: { MaxInputBytesPerBatch: limit } }),
      {},
      lambdas,
    );
    expect(result.output).toEqual([[2, 4], [6, 8], [10]]);
    for (const input of lambdas.inputs) expect(JSON.stringify(input).length).toBeLessThanOrEqual(limit);

    const tooSmall = await run(
      machine({ ItemReader: jsonlReader('bytes.jsonl'), ItemBatcher: { MaxInputBytesPerBatch: 20 } }),
      {},
      workLambdas(),
    );
    expect(tooSmall).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(tooSmall.cause).toMatch(/item 0 alone makes a batch of \d+ bytes, over MaxInputBytesPerBatch 20/);
  });

  it('runs at most MaxConcurrency children at once', async () => {
    await put('eight.jsonl', jsonl([1, 2, 3, 4, 5, 6, 7, 8].map((n) => ({ n, delayMs: 15 }))));
    const lambdas = workLambdas();
    const result = await run(
      machine({ ItemReader: jsonlReader('eight.jsonl'), MaxConcurrency: 2 }),
      {},
      lambdas,
    );
    expect(result.status).toBe('SUCCEEDED');
    expect(lambdas.peak()).toBe(2);
  });

  describe('tolerated failures', () => {
    // 10 items, the ones at `failing` fail.
    const items = (failing: readonly number[]) =>
      jsonl(Array.from({ length: 10 }, (_, i) => ({ n: i, ...(failing.includes(i) ? { fail: true } : {}) })));

    it('fails on any failed child when no threshold is set', async () => {
      await put('one-bad.jsonl', items([4]));
      const result = await run(machine({ ItemReader: jsonlReader('one-bad.jsonl') }), {}, workLambdas());
      expect(result).toMatchObject({
        status: 'FAILED',
        error: EXCEEDED,
        cause: 'The specified tolerated failure threshold was exceeded',
      });
    });

    it.each([
      ['below', [1], 'SUCCEEDED'],
      ['at', [1, 2], 'SUCCEEDED'],
      ['above', [1, 2, 3], 'FAILED'],
    ] as const)('ToleratedFailureCount 2 with failures %s it', async (_, failing, status) => {
      await put('count.jsonl', items(failing));
      const result = await run(
        machine({ ItemReader: jsonlReader('count.jsonl'), ToleratedFailureCount: 2 }),
        {},
        workLambdas(),
      );
      expect(result.status).toBe(status);
      if (status === 'FAILED') expect(result.error).toBe(EXCEEDED);
    });

    it.each([
      ['below', [1], 'SUCCEEDED'],
      ['at', [1, 2, 3], 'SUCCEEDED'],
      ['above', [1, 2, 3, 4], 'FAILED'],
    ] as const)('ToleratedFailurePercentage 30 with failures %s it', async (_, failing, status) => {
      await put('percentage.jsonl', items(failing));
      const result = await run(
        machine({
          ItemReader: jsonlReader('percentage.jsonl'),
          ToleratedFailurePercentagePath: '$.tolerated',
        }),
        { tolerated: 30 },
        workLambdas(),
      );
      expect(result.status).toBe(status);
      if (status === 'FAILED') expect(result.error).toBe(EXCEEDED);
    });

    it('counts a failed batch by its items', async () => {
      await put('batch-bad.jsonl', items([0]));
      // One bad item fails its batch of 4: 4 of 10 items (40 %) failed.
      const at40 = await run(
        machine({
          ItemReader: jsonlReader('batch-bad.jsonl'),
          ItemBatcher: { MaxItemsPerBatch: 4 },
          ToleratedFailurePercentage: 40,
        }),
        {},
        workLambdas(),
      );
      expect(at40.status).toBe('SUCCEEDED');
      const at3 = await run(
        machine({
          ItemReader: jsonlReader('batch-bad.jsonl'),
          ItemBatcher: { MaxItemsPerBatch: 4 },
          ToleratedFailureCount: 3,
        }),
        {},
        workLambdas(),
      );
      expect(at3).toMatchObject({ status: 'FAILED', error: EXCEEDED });
    });

    it('lists a tolerated failed child in the output as its execution result', async () => {
      await put('tolerated.jsonl', items([1]).split('\n').slice(0, 3).join('\n'));
      const result = await run(
        machine({ ItemReader: jsonlReader('tolerated.jsonl'), ToleratedFailureCount: 1 }),
        {},
        workLambdas(),
      );
      expect(result.status).toBe('SUCCEEDED');
      const [first, failed, third] = result.output as Record<string, unknown>[];
      expect(first).toEqual({ doubled: 0 });
      expect(third).toEqual({ doubled: 4 });
      expect(failed).toMatchObject({
        Status: 'FAILED',
        Error: 'WorkFailedError',
        Input: JSON.stringify({ n: 1, fail: true }),
        RedriveStatus: 'REDRIVABLE',
      });
      expect(JSON.parse(String(failed?.Cause))).toMatchObject({ errorType: 'WorkFailedError' });
    });

    it('is caught by a Catch on States.ExceedToleratedFailureThreshold, not by States.TaskFailed', async () => {
      await put('caught.jsonl', items([2, 3]));
      const definition = (errors: string[]) => {
        const { End: _end, ...map } = (machine({}).States as Record<string, Record<string, unknown>>)
          .Batches as Record<string, unknown>;
        return {
          StartAt: 'Batches',
          States: {
            Batches: {
              ...map,
              ItemReader: jsonlReader('caught.jsonl'),
              ToleratedFailureCount: 1,
              Next: 'Done',
              Catch: [{ ErrorEquals: errors, ResultPath: '$.failure', Next: 'Recover' }],
            },
            Done: { Type: 'Succeed' },
            Recover: { Type: 'Pass', End: true },
          },
        };
      };
      const caught = await run(definition([EXCEEDED]), { run: 1 }, workLambdas());
      expect(caught).toMatchObject({
        status: 'SUCCEEDED',
        output: {
          run: 1,
          failure: { Error: EXCEEDED, Cause: 'The specified tolerated failure threshold was exceeded' },
        },
      });
      const notCaught = await run(definition(['States.TaskFailed']), { run: 1 }, workLambdas());
      expect(notCaught).toMatchObject({ status: 'FAILED', error: EXCEEDED });
    });
  });

  it('writes manifest.json and the result files of a ResultWriter and returns where they are', async () => {
    await put('write.jsonl', jsonl([{ n: 1 }, { n: 2, fail: true }, { n: 3 }]));
    const result = await run(
      machine(
        {
          ItemReader: jsonlReader('write.jsonl'),
          ToleratedFailurePercentage: 50,
          ResultWriter: {
            Resource: 'arn:aws:states:::s3:putObject',
            Parameters: { Bucket: BUCKET, 'Prefix.$': "States.Format('results/{}', $.run)" },
          },
          ResultPath: '$.mapRun',
        },
        'EXPRESS',
      ),
      { run: 'r7' },
      workLambdas(),
    );
    expect(result.status).toBe('SUCCEEDED');
    const { mapRun } = result.output as {
      mapRun: { MapRunArn: string; ResultWriterDetails: { Bucket: string; Key: string } };
    };
    const id = mapRun.MapRunArn.slice(mapRun.MapRunArn.lastIndexOf(':') + 1);
    expect(mapRun).toEqual({
      MapRunArn: `arn:aws:states:us-east-1:000000000000:mapRun:Ingest/Batches:${id}`,
      ResultWriterDetails: { Bucket: BUCKET, Key: `results/r7/${id}/manifest.json` },
    });

    const manifest = JSON.parse(await read(BUCKET, mapRun.ResultWriterDetails.Key));
    const succeededText = await read(BUCKET, `results/r7/${id}/SUCCEEDED_0.json`);
    const failedText = await read(BUCKET, `results/r7/${id}/FAILED_0.json`);
    expect(manifest).toEqual({
      DestinationBucket: BUCKET,
      MapRunArn: mapRun.MapRunArn,
      ResultFiles: {
        FAILED: [{ Key: `results/r7/${id}/FAILED_0.json`, Size: Buffer.byteLength(failedText) }],
        PENDING: [],
        SUCCEEDED: [{ Key: `results/r7/${id}/SUCCEEDED_0.json`, Size: Buffer.byteLength(succeededText) }],
      },
    });
    const succeeded = JSON.parse(succeededText) as Record<string, unknown>[];
    expect(succeeded.map((e) => JSON.parse(String(e.Input)))).toEqual([{ n: 1 }, { n: 3 }]);
    expect(succeeded.map((e) => JSON.parse(String(e.Output)))).toEqual([{ doubled: 2 }, { doubled: 6 }]);
    expect(succeeded[0]).toMatchObject({
      InputDetails: { Included: true },
      OutputDetails: { Included: true },
      RedriveCount: 0,
      RedriveStatus: 'NOT_REDRIVABLE',
      StateMachineArn: `${SM_ARN}/Batches`,
      Status: 'SUCCEEDED',
    });
    // EXPRESS children have express execution ARNs that name the map run.
    expect(succeeded[0]?.ExecutionArn).toMatch(
      new RegExp(`^arn:aws:states:us-east-1:000000000000:express:Ingest/Batches:${id}:[0-9a-f-]{36}$`),
    );
    expect(Date.parse(String(succeeded[0]?.StopDate))).toBeGreaterThanOrEqual(
      Date.parse(String(succeeded[0]?.StartDate)),
    );
    const failed = JSON.parse(failedText) as Record<string, unknown>[];
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      Status: 'FAILED',
      Error: 'WorkFailedError',
      RedriveStatus: 'REDRIVABLE_BY_MAP_RUN',
      Input: JSON.stringify({ n: 2, fail: true }),
    });
    expect(failed[0]).not.toHaveProperty('Output');
  });

  it('formats ResultWriter files with WriterConfig (COMPACT, FLATTEN, JSONL)', async () => {
    await put('compact.jsonl', jsonl([1, 2, 3, 4, 5].map((n) => ({ n }))));
    const writer = (config: Record<string, unknown>) =>
      machine({
        ItemReader: jsonlReader('compact.jsonl'),
        ItemBatcher: { MaxItemsPerBatch: 2 },
        ResultWriter: {
          Resource: 'arn:aws:states:::s3:putObject',
          Parameters: { Bucket: BUCKET, Prefix: 'formatted/' },
          WriterConfig: config,
        },
      });
    const files = async (config: Record<string, unknown>) => {
      const result = await run(writer(config), {}, workLambdas());
      const { ResultWriterDetails: where } = result.output as { ResultWriterDetails: { Key: string } };
      expect(where.Key).toMatch(/^formatted\/[0-9a-f-]{36}\/manifest\.json$/);
      return read(BUCKET, where.Key.replace('manifest.json', 'SUCCEEDED_0.json'));
    };
    expect(JSON.parse(await files({ OutputType: 'JSON', Transformation: 'COMPACT' }))).toEqual([
      [2, 4],
      [6, 8],
      [10],
    ]);
    expect(JSON.parse(await files({ OutputType: 'JSON', Transformation: 'FLATTEN' }))).toEqual([
      2, 4, 6, 8, 10,
    ]);
    expect(await files({ OutputType: 'JSONL', Transformation: 'FLATTEN' })).toBe('2\n4\n6\n8\n10\n');
  });

  it('runs a distributed Map nested in a Parallel branch, and one inside a child', async () => {
    const inner = {
      Type: 'Map',
      ItemsPath: '$.Items',
      ItemProcessor: {
        ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' },
        StartAt: 'Work',
        States: { Work: invokeTask('Work', { End: true }) },
      },
      End: true,
    };
    const definition = {
      StartAt: 'Both',
      States: {
        Both: {
          Type: 'Parallel',
          End: true,
          Branches: [
            {
              StartAt: 'Outer',
              States: {
                Outer: {
                  Type: 'Map',
                  ItemsPath: '$.groups',
                  ItemBatcher: { MaxItemsPerBatch: 2 },
                  ItemProcessor: {
                    ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
                    StartAt: 'Inner',
                    States: { Inner: inner },
                  },
                  End: true,
                },
              },
            },
            { StartAt: 'Echo', States: { Echo: { Type: 'Pass', End: true } } },
          ],
        },
      },
    };
    const result = await run(definition, { groups: [{ n: 1 }, { n: 2 }, { n: 3 }] }, workLambdas());
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toEqual([
      [[{ doubled: 2 }, { doubled: 4 }], [{ doubled: 6 }]],
      { groups: [{ n: 1 }, { n: 2 }, { n: 3 }] },
    ]);
  });

  it('fails loudly, before the run, on what it cannot run as AWS does', async () => {
    const refused = async (map: Record<string, unknown>, deps: Partial<RunStateMachineDeps> = {}) => {
      const lambdas = workLambdas();
      const error = await run(machine(map), {}, lambdas, deps).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnsupportedDefinitionError);
      expect(lambdas.inputs).toEqual([]);
      return (error as UnsupportedDefinitionError).problems.join('\n');
    };
    expect(await refused({ ItemReader: jsonlReader('x.jsonl', { InputType: 'MANIFEST' }) })).toMatch(
      /Batches: Distributed Map ItemReader\.ReaderConfig\.InputType MANIFEST is not supported locally/,
    );
    expect(
      await refused({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:listObjectsV2',
          Parameters: { Bucket: BUCKET, Prefix: 'docs/' },
        },
      }),
    ).toMatch(/ItemReader\.Resource arn:aws:states:::s3:listObjectsV2 is not supported locally/);
    expect(await refused({ ItemReader: jsonlReader('x.jsonl', { ItemsPointer: '/items' }) })).toMatch(
      /ItemReader\.ReaderConfig\.ItemsPointer is not supported locally/,
    );
    expect(
      await refused({ ItemReader: jsonlReader('x.csv', { InputType: 'CSV', CSVDelimiter: 'PIPE' }) }),
    ).toMatch(/ItemReader\.ReaderConfig\.CSVDelimiter is not supported locally/);
    expect(
      await refused({
        ResultWriter: { Resource: 'arn:aws:states:::s3:putObject', Parameters: { Bucket: BUCKET, Acl: 'x' } },
      }),
    ).toMatch(/ResultWriter\.Parameters\.Acl is not supported locally/);
    expect(await refused({ ItemReader: jsonlReader('x.jsonl') }, { s3: undefined })).toMatch(
      /needs an S3 client \(RunStateMachineDeps\.s3\)/,
    );

    const inline = {
      StartAt: 'M',
      States: {
        M: {
          Type: 'Map',
          ItemBatcher: { MaxItemsPerBatch: 2 },
          ItemProcessor: {
            ProcessorConfig: { Mode: 'INLINE' },
            StartAt: 'P',
            States: { P: { Type: 'Pass', End: true } },
          },
          End: true,
        },
      },
    };
    await expect(run(inline, [1, 2], workLambdas())).rejects.toThrow(
      /ItemBatcher is a Distributed Map field: it needs ItemProcessor\.ProcessorConfig\.Mode DISTRIBUTED/,
    );
  });

  it('fails a map run whose object cannot be read with States.ItemReaderFailed', async () => {
    const missing = await run(machine({ ItemReader: jsonlReader('missing.jsonl') }), {}, workLambdas());
    expect(missing).toMatchObject({ status: 'FAILED', error: 'States.ItemReaderFailed' });
    expect(missing.cause).toMatch(/s3:\/\/dmap-items\/missing\.jsonl/);

    await put('broken.jsonl', '{"n":1}\n{not json\n');
    const broken = await run(machine({ ItemReader: jsonlReader('broken.jsonl') }), {}, workLambdas());
    expect(broken).toMatchObject({ status: 'FAILED', error: 'States.ItemReaderFailed' });
    expect(broken.cause).toMatch(/line 2/);
  });
});
