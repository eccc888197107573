import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  EnvConflictError,
  HandlerNotFoundError,
  LocalLambdas,
  UnknownFunctionError,
} from '#infra/local/lambda-registry.ts';
import type { LocalLambdaFunction } from '#infra/local/template.ts';

const ARN = (name: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}`;

function fn(logicalId: string, entry: string, extra: Partial<LocalLambdaFunction> = {}): LocalLambdaFunction {
  return {
    logicalId,
    arn: ARN(logicalId),
    name: logicalId,
    entry,
    handler: 'handler',
    environment: {},
    timeoutSeconds: 3,
    memoryMb: 256,
    ...extra,
  };
}

describe('LocalLambdas', () => {
  let root: string;
  const envBefore = { ...process.env };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'llmops-lambdas-'));
    await mkdir(join(root, 'functions'), { recursive: true });
    // Reads its configuration at import time, like the project's handlers.
    await writeFile(
      join(root, 'functions/config-at-import.ts'),
      `const table: string = process.env.LR_TABLE_NAME ?? 'unset';
const region: string = process.env.AWS_REGION ?? 'unset';
export const handler = async (event: { n: number }, context: { functionName: string; invokedFunctionArn: string; awsRequestId: string; memoryLimitInMB: string; getRemainingTimeInMillis(): number }) => ({
  table, region, doubled: event.n * 2, functionName: context.functionName, arn: context.invokedFunctionArn,
  requestId: context.awsRequestId, memory: context.memoryLimitInMB, remaining: context.getRemainingTimeInMillis(),
  at: new Date(0),
});
`,
    );
    await writeFile(
      join(root, 'functions/fails.ts'),
      `export class DatasetNotFoundError extends Error {
  constructor(message: string) { super(message); this.name = 'DatasetNotFoundError'; }
}
export const handler = async () => { throw new DatasetNotFoundError('no dataset docs@3'); };
export const slow = () => new Promise((resolve) => setTimeout(() => resolve('late'), 300));
export const mutates = async (event: { list: number[] }) => { event.list.push(4); return undefined; };
`,
    );
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  afterEach(() => {
    for (const key of Object.keys(process.env)) if (!(key in envBefore)) delete process.env[key];
    Object.assign(process.env, envBefore);
  });

  it('applies the function environment and baseEnv before the first import, and passes a Lambda context', async () => {
    const lambdas = new LocalLambdas(
      [
        fn('Config', 'functions/config-at-import.ts', {
          environment: { LR_TABLE_NAME: 'datasets' },
          timeoutSeconds: 30,
        }),
      ],
      { repoRoot: root, baseEnv: { AWS_REGION: 'us-east-1' } },
    );
    const result = (await lambdas.invoke(ARN('Config'), { n: 21 }, { awsRequestId: 'req-1' })) as Record<
      string,
      unknown
    >;
    expect(result).toMatchObject({
      table: 'datasets',
      region: 'us-east-1',
      doubled: 42,
      functionName: 'Config',
      arn: ARN('Config'),
      requestId: 'req-1',
      memory: '256',
      at: '1970-01-01T00:00:00.000Z', // results pass through JSON, as on Lambda
    });
    expect(result.remaining).toBeGreaterThan(29_000);
    expect(result.remaining).toBeLessThanOrEqual(30_000);
    // By name, by logical id, by qualified ARN.
    await expect(lambdas.invoke('Config', { n: 1 })).resolves.toMatchObject({ doubled: 2 });
    await expect(lambdas.invoke(`${ARN('Config')}:$LATEST`, { n: 2 })).resolves.toMatchObject({ doubled: 4 });
  });

  it('refuses two functions that need different values for one variable, naming both', () => {
    const functions = [
      fn('A', 'functions/config-at-import.ts', { environment: { LR_MODE: 'x', SHARED: 'same' } }),
      fn('B', 'functions/fails.ts', { environment: { LR_MODE: 'y', SHARED: 'same' } }),
    ];
    let error: unknown;
    try {
      new LocalLambdas(functions, { repoRoot: root });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(EnvConflictError);
    expect((error as EnvConflictError).message).toMatch(/LR_MODE.*A.*B/);
    expect((error as EnvConflictError).functions).toEqual(['A', 'B']);
    expect(
      () => new LocalLambdas(functions, { repoRoot: root, allowConflictingEnv: ['LR_MODE'] }),
    ).not.toThrow();
    expect(
      () => new LocalLambdas(functions, { repoRoot: root, baseEnv: { LR_MODE: 'local' } }),
    ).not.toThrow();
  });

  it('propagates handler errors unchanged and records every invocation', async () => {
    const lambdas = new LocalLambdas(
      [fn('Ok', 'functions/config-at-import.ts'), fn('Fails', 'functions/fails.ts')],
      { repoRoot: root },
    );
    await lambdas.invoke('Ok', { n: 1 });
    const error = await lambdas.invoke('Fails', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('DatasetNotFoundError');
    expect((error as Error).message).toBe('no dataset docs@3');
    const records = lambdas.invocations();
    expect(records.map((r) => [r.logicalId, r.ok, r.errorName])).toEqual([
      ['Ok', true, undefined],
      ['Fails', false, 'DatasetNotFoundError'],
    ]);
    expect(records[0]?.durationMs).toBeGreaterThanOrEqual(0);
    lambdas.clearInvocations();
    expect(lambdas.invocations()).toEqual([]);
  });

  it('fails an invocation that outlives the timeout with Sandbox.Timedout', async () => {
    const lambdas = new LocalLambdas(
      [fn('Slow', 'functions/fails.ts', { handler: 'slow', timeoutSeconds: 0.05 })],
      {
        repoRoot: root,
      },
    );
    await expect(lambdas.invoke('Slow', {})).rejects.toMatchObject({
      name: 'Sandbox.Timedout',
      message: 'Task timed out after 0.05 seconds',
    });
    const patient = new LocalLambdas(
      [fn('Slow', 'functions/fails.ts', { handler: 'slow', timeoutSeconds: 0.05 })],
      { repoRoot: root, enforceTimeout: false },
    );
    await expect(patient.invoke('Slow', {})).resolves.toBe('late');
  });

  it('gives the handler a copy of the payload and turns undefined into null', async () => {
    const lambdas = new LocalLambdas([fn('Mutates', 'functions/fails.ts', { handler: 'mutates' })], {
      repoRoot: root,
    });
    const payload = { list: [1, 2, 3] };
    await expect(lambdas.invoke('Mutates', payload)).resolves.toBeNull();
    expect(payload.list).toEqual([1, 2, 3]);
  });

  it('reports unknown functions and missing handler exports clearly', async () => {
    const lambdas = new LocalLambdas([fn('NoExport', 'functions/fails.ts', { handler: 'nope' })], {
      repoRoot: root,
    });
    await expect(lambdas.invoke('Other', {})).rejects.toThrow(UnknownFunctionError);
    await expect(lambdas.invoke('NoExport', {})).rejects.toThrow(HandlerNotFoundError);
    expect(() => new LocalLambdas([], { repoRoot: 'relative' })).toThrow(/absolute/);
  });

  it('runs each invocation as its own function for the authorizer, also when invocations overlap', async () => {
    const caller = new URL('../../../infra/local/iam/caller.ts', import.meta.url).href;
    await writeFile(
      join(root, 'functions/who.ts'),
      `import { currentCaller } from '${caller}';
export const handler = async (event: { delayMs: number }) => {
  await new Promise((resolve) => setTimeout(resolve, event.delayMs));
  return currentCaller() ?? null;
};
`,
    );
    const functions = [fn('Reader', 'functions/who.ts'), fn('Writer', 'functions/who.ts')];
    const authorizer = { authorize: async () => undefined };
    const judged = new LocalLambdas(functions, { repoRoot: root, authorizer });
    const [reader, writer] = await Promise.all([
      judged.invoke('Reader', { delayMs: 30 }),
      judged.invoke('Writer', { delayMs: 0 }),
    ]);
    expect(reader).toEqual({ logicalId: 'Reader', functionName: 'Reader' });
    expect(writer).toEqual({ logicalId: 'Writer', functionName: 'Writer' });
    const unjudged = new LocalLambdas(functions, { repoRoot: root });
    expect(await unjudged.invoke('Reader', { delayMs: 0 })).toBeNull();
  });
});
