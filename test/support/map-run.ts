/**
 * A Distributed Map run's result files as Step Functions writes them (ResultWriter without WriterConfig:
 * transformation NONE, JSON arrays, each child's input and output as JSON text), for tests of the steps
 * that read them. `put` stores an object wherever the test keeps S3.
 */
import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import type { MapRunOutput } from '#contracts/pipelines/map-run.ts';

export interface ChildResult {
  readonly input: unknown;
  /** A succeeded child's output. */
  readonly output?: unknown;
  /** A failed child's error and cause. */
  readonly error?: string;
  readonly cause?: string;
}

export function writeMapRunResults(
  put: (bucket: string, key: string, body: string) => void,
  options: {
    readonly bucket: string;
    readonly prefix: string;
    readonly children: readonly ChildResult[];
    /** Entries per result file (Step Functions splits large results into several). */
    readonly perFile?: number;
    readonly mapRunId?: string;
  },
): MapRunOutput {
  const mapRunId = options.mapRunId ?? '6dbfba93-bcff-410b-9b5c-abf41ae9eddb';
  const mapRunArn = `arn:aws:states:us-east-1:000000000000:mapRun:LlmOps-dev-Pipeline/Map:${mapRunId}`;
  const base = `${options.prefix}/${mapRunId}`;
  const perFile = options.perFile ?? 1000;
  const files: Record<'SUCCEEDED' | 'FAILED' | 'PENDING', { Key: string; Size: number }[]> = {
    SUCCEEDED: [],
    FAILED: [],
    PENDING: [],
  };
  for (const status of ['SUCCEEDED', 'FAILED'] as const) {
    const entries = options.children
      .map((child, i) => ({ child, i }))
      .filter(({ child }) => (status === 'FAILED') === (child.error !== undefined))
      .map(({ child, i }) => ({
        ExecutionArn: `arn:aws:states:us-east-1:000000000000:execution:LlmOps-dev-Pipeline/Map:${i}`,
        Input: JSON.stringify(child.input),
        InputDetails: { Included: true },
        Name: String(i),
        ...(status === 'SUCCEEDED'
          ? { Output: JSON.stringify(child.output), OutputDetails: { Included: true } }
          : { Error: child.error, ...(child.cause !== undefined ? { Cause: child.cause } : {}) }),
        RedriveCount: 0,
        RedriveStatus: 'NOT_REDRIVABLE',
        StartDate: '2026-12-01T10:00:00.000Z',
        StateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:LlmOps-dev-Pipeline/Map',
        Status: status,
        StopDate: '2026-12-01T10:00:01.000Z',
      }));
    for (let start = 0; start < entries.length; start += perFile) {
      const key = `${base}/${status}_${files[status].length}.json`;
      const body = JSON.stringify(entries.slice(start, start + perFile));
      put(options.bucket, key, body);
      files[status].push({ Key: key, Size: body.length });
    }
  }
  const manifestKey = `${base}/manifest.json`;
  put(
    options.bucket,
    manifestKey,
    JSON.stringify({ DestinationBucket: options.bucket, MapRunArn: mapRunArn, ResultFiles: files }),
  );
  return { MapRunArn: mapRunArn, ResultWriterDetails: { Bucket: options.bucket, Key: manifestKey } };
}

/**
 * Sets environment variables of the function bundled from `entry` in a synthesized template (for a local
 * run with settings the profiles do not offer, such as tiny parts or batches).
 */
export function withFunctionVariables(
  template: Record<string, unknown>,
  entry: string,
  variables: Record<string, string>,
): Record<string, unknown> {
  interface FunctionResource {
    Type: string;
    Metadata?: Record<string, unknown>;
    Properties: { Environment: { Variables: Record<string, unknown> } };
  }
  const fn = Object.values(template.Resources as Record<string, FunctionResource>).find(
    (r) => r.Type === 'AWS::Lambda::Function' && r.Metadata?.['llmops:entry'] === entry,
  );
  if (!fn) throw new Error(`no function bundled from ${entry}`);
  Object.assign(fn.Properties.Environment.Variables, variables);
  return template;
}

/**
 * S3 in memory for unit tests of the readers (aws-sdk-client-mock): `put` stores an object, GetObject on
 * any client answers it (NoSuchKey otherwise); `reset` empties the store, to call before each test.
 */
export function memoryS3(): {
  readonly s3: S3Client;
  readonly objects: Map<string, string>;
  readonly put: (bucket: string, key: string, body: string) => void;
  reset(): void;
} {
  const s3Mock = mockClient(S3Client);
  const objects = new Map<string, string>();
  return {
    s3: new S3Client({ region: 'us-east-1' }),
    objects,
    put: (bucket, key, body) => objects.set(`${bucket}/${key}`, body),
    reset() {
      objects.clear();
      s3Mock.reset();
      s3Mock.on(GetObjectCommand).callsFake((input) => {
        const body = objects.get(`${input.Bucket}/${input.Key}`);
        if (body === undefined)
          throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
        return { Body: { transformToString: async () => body } };
      });
    },
  };
}
