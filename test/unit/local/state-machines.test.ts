import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchesPattern } from '#infra/local/event-pattern.ts';
import { type LambdaInvoker, LocalLambdas } from '#infra/local/lambda-registry.ts';
import {
  executionStatusChangeEvent,
  InvalidDefinitionError,
  runStateMachine,
  type TransitionInfo,
  UnsupportedDefinitionError,
  UnsupportedTaskError,
} from '#infra/local/state-machines.ts';
import { LocalTemplate } from '#infra/local/template.ts';
import { fnArn, invokeTask } from '../../support/asl.ts';
import { sampleTemplate } from './fixtures.ts';

const SM_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:DataPrep';

/** Task → Choice → Map(Task) → Task, with Retry on an error name and a Catch. */
function definition(): Record<string, unknown> {
  return {
    StartAt: 'Plan',
    States: {
      Plan: invokeTask('Plan', {
        Next: 'HasParts',
        Catch: [{ ErrorEquals: ['ValidationError'], ResultPath: '$.error', Next: 'Quarantine' }],
      }),
      HasParts: {
        Type: 'Choice',
        Choices: [{ Variable: '$.parts[0]', IsPresent: true, Next: 'Parts' }],
        Default: 'Nothing',
      },
      Parts: {
        Type: 'Map',
        ItemsPath: '$.parts',
        ItemSelector: { 'part.$': '$$.Map.Item.Value', 'dataset.$': '$.dataset' },
        ResultPath: '$.results',
        ItemProcessor: {
          ProcessorConfig: { Mode: 'INLINE' },
          StartAt: 'ProcessPart',
          States: {
            ProcessPart: invokeTask('ProcessPart', {
              End: true,
              Retry: [
                { ErrorEquals: ['TransientError'], IntervalSeconds: 5, MaxAttempts: 2, BackoffRate: 2 },
              ],
            }),
          },
        },
        Next: 'Finalize',
      },
      Finalize: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        // Not the whole input: proves Parameters are applied before the local override is called.
        Parameters: {
          FunctionName: fnArn('Finalize'),
          Payload: { 'results.$': '$.results', 'dataset.$': '$.dataset', 'execution.$': '$$.Execution.Id' },
        },
        ResultSelector: { 'summary.$': '$.Payload', 'status.$': '$.StatusCode' },
        End: true,
      },
      Quarantine: { Type: 'Pass', End: true },
      Nothing: { Type: 'Succeed' },
    },
  };
}

class ValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationError';
  }
}
class TransientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransientError';
  }
}
class FatalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FatalError';
  }
}

interface Call {
  readonly fn: string;
  readonly payload: unknown;
}

/** A fake invoker: handlers by function name, every call recorded. */
function fakeLambdas(
  handlers: Record<string, (payload: never) => unknown>,
): LambdaInvoker & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    async invoke(functionRef, payload) {
      const name = functionRef.slice(functionRef.lastIndexOf(':') + 1);
      calls.push({ fn: name, payload });
      const handler = handlers[name];
      if (!handler) throw new Error(`no fake for ${name}`);
      return handler(payload as never);
    },
  };
}

describe('runStateMachine', () => {
  it('runs Task → Choice → Map(Task) → Task with Parameters applied before the local overrides', async () => {
    const attempts = new Map<number, number>();
    const lambdas = fakeLambdas({
      Plan: (input: { dataset: string }) => ({ dataset: input.dataset, parts: [1, 2, 3] }),
      ProcessPart: (input: { part: number }) => {
        const n = (attempts.get(input.part) ?? 0) + 1;
        attempts.set(input.part, n);
        if (input.part === 2 && n === 1) throw new TransientError('throttled');
        return { part: input.part, records: input.part * 10 };
      },
      Finalize: (input: { results: Array<{ records: number }> }) => ({
        total: input.results.reduce((sum, r) => sum + r.records, 0),
      }),
    });
    const transitions: TransitionInfo[] = [];
    const result = await runStateMachine(
      { definition: definition(), arn: SM_ARN },
      { dataset: 'docs@3' },
      { lambdas, executionName: 'exec-1', retryDelayMs: 0, onTransition: (t) => transitions.push(t) },
    );

    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toEqual({ summary: { total: 60 }, status: 200 });
    expect(result.executionArn).toBe('arn:aws:states:us-east-1:000000000000:execution:DataPrep:exec-1');

    // The override receives the Parameters-applied input: { FunctionName, Payload } → the handler gets Payload.
    expect(lambdas.calls[0]).toEqual({ fn: 'Plan', payload: { dataset: 'docs@3' } });
    const processCalls = lambdas.calls.filter((c) => c.fn === 'ProcessPart').map((c) => c.payload);
    expect(processCalls).toHaveLength(4); // three parts, one retried
    expect(processCalls).toContainEqual({ part: 2, dataset: 'docs@3' });
    expect(lambdas.calls.at(-1)).toEqual({
      fn: 'Finalize',
      payload: {
        results: [
          { part: 1, records: 10 },
          { part: 2, records: 20 },
          { part: 3, records: 30 },
        ],
        dataset: 'docs@3',
        execution: result.executionArn,
      },
    });

    const retried = transitions.filter((t) => t.type === 'StateRetried');
    expect(retried.map((t) => t.stateName)).toEqual(['ProcessPart']);
    expect(transitions.filter((t) => t.type === 'StateEntered').map((t) => t.stateName)).toEqual(
      expect.arrayContaining(['Plan', 'HasParts', 'Parts', 'ProcessPart', 'Finalize']),
    );
    expect(transitions.find((t) => t.type === 'StateFailed')?.error).toBe('TransientError');
  });

  it('routes a handler error to Catch by its name, with a Lambda-shaped Cause', async () => {
    const lambdas = fakeLambdas({
      Plan: () => {
        throw new ValidationError('row 3: missing text');
      },
    });
    const result = await runStateMachine(
      { definition: definition(), arn: SM_ARN },
      { dataset: 'bad' },
      { lambdas },
    );
    expect(result.status).toBe('SUCCEEDED');
    const output = result.output as { dataset: string; error: { Error: string; Cause: string } };
    expect(output.dataset).toBe('bad');
    expect(output.error.Error).toBe('ValidationError');
    expect(JSON.parse(output.error.Cause)).toMatchObject({
      errorType: 'ValidationError',
      errorMessage: 'row 3: missing text',
    });
  });

  it('exhausts retries, then fails the execution with the error name; never throws', async () => {
    const lambdas = fakeLambdas({
      Plan: () => ({ dataset: 'd', parts: [1] }),
      ProcessPart: () => {
        throw new TransientError('still throttled');
      },
    });
    const result = await runStateMachine(
      { definition: definition(), arn: SM_ARN },
      { dataset: 'd' },
      {
        lambdas,
        retryDelayMs: 0,
      },
    );
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('TransientError');
    expect(JSON.parse(result.cause ?? '{}')).toMatchObject({
      errorType: 'TransientError',
      errorMessage: 'still throttled',
    });
    expect(lambdas.calls.filter((c) => c.fn === 'ProcessPart')).toHaveLength(3); // 1 + MaxAttempts 2
  });

  it('produces the Step Functions Execution Status Change event for a failed execution', async () => {
    const lambdas = fakeLambdas({
      Plan: () => ({ dataset: 'd', parts: [1] }),
      ProcessPart: () => ({ records: 1 }),
      Finalize: () => {
        throw new FatalError('manifest write failed');
      },
    });
    const result = await runStateMachine(
      { definition: definition(), arn: SM_ARN },
      { dataset: 'd' },
      {
        lambdas,
        executionName: 'exec-failed',
      },
    );
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('FatalError');
    expect(result.statusChangeDetail).toMatchObject({
      executionArn: 'arn:aws:states:us-east-1:000000000000:execution:DataPrep:exec-failed',
      stateMachineArn: SM_ARN,
      name: 'exec-failed',
      status: 'FAILED',
      input: '{"dataset":"d"}',
      output: null,
      error: 'FatalError',
    });
    expect(result.statusChangeDetail.stopDate).toBeGreaterThanOrEqual(result.statusChangeDetail.startDate);
    const event = executionStatusChangeEvent(result, { account: '000000000000', region: 'us-east-1' });
    const failedRule = {
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [SM_ARN] },
    };
    expect(matchesPattern(failedRule, event)).toBe(true);
    expect(event.resources).toEqual([result.executionArn]);
  });

  it('reports TIMED_OUT when the state machine TimeoutSeconds elapses', async () => {
    const lambdas = fakeLambdas({
      Slow: () => new Promise((resolve) => setTimeout(() => resolve({}), 1500)),
    });
    const result = await runStateMachine(
      {
        definition: { TimeoutSeconds: 1, StartAt: 'S', States: { S: invokeTask('Slow', { End: true }) } },
        arn: SM_ARN,
      },
      {},
      { lambdas },
    );
    expect(result.status).toBe('TIMED_OUT');
    expect(result.error).toBe('States.Timeout');
    expect(result.statusChangeDetail.status).toBe('TIMED_OUT');
  });

  it('invokes Tasks whose Resource is a Lambda ARN directly, inside Parallel branches too', async () => {
    const lambdas = fakeLambdas({
      Echo: (input: unknown) => ({ echoed: input }),
      Twice: (n: number) => n * 2,
    });
    const result = await runStateMachine(
      {
        definition: {
          StartAt: 'Both',
          States: {
            Both: {
              Type: 'Parallel',
              End: true,
              Branches: [
                { StartAt: 'E', States: { E: { Type: 'Task', Resource: fnArn('Echo'), End: true } } },
                {
                  StartAt: 'T',
                  States: { T: { Type: 'Task', Resource: fnArn('Twice'), InputPath: '$.n', End: true } },
                },
              ],
            },
          },
        },
        arn: SM_ARN,
      },
      { n: 21 },
      { lambdas },
    );
    expect(result).toMatchObject({ status: 'SUCCEEDED', output: [{ echoed: { n: 21 } }, 42] });
  });

  it('refuses Task resources with no local implementation unless overridden', async () => {
    const training = {
      StartAt: 'Train',
      States: {
        Train: {
          Type: 'Task',
          Resource: 'arn:aws:states:::sagemaker:createTrainingJob.sync',
          Parameters: { TrainingJobName: 'x' },
          End: true,
        },
      },
    };
    const lambdas = fakeLambdas({});
    await expect(runStateMachine({ definition: training, arn: SM_ARN }, {}, { lambdas })).rejects.toThrow(
      UnsupportedTaskError,
    );
    await expect(runStateMachine({ definition: training, arn: SM_ARN }, {}, { lambdas })).rejects.toThrow(
      /stateOverrides\['Train'\]/,
    );
    const seen: unknown[] = [];
    const result = await runStateMachine(
      { definition: training, arn: SM_ARN },
      {},
      {
        lambdas,
        stateOverrides: {
          Train: async (input) => {
            seen.push(input);
            return { TrainingJobStatus: 'Completed' };
          },
        },
      },
    );
    expect(result).toMatchObject({ status: 'SUCCEEDED', output: { TrainingJobStatus: 'Completed' } });
    expect(seen).toEqual([{ TrainingJobName: 'x' }]);
  });

  it('rejects same-named states across Map/Parallel scopes (overrides are keyed by state name)', async () => {
    const def = {
      StartAt: 'Work',
      States: {
        Work: { Type: 'Task', Resource: fnArn('A'), Next: 'Loop' },
        Loop: {
          Type: 'Map',
          End: true,
          Iterator: { StartAt: 'Work', States: { Work: { Type: 'Task', Resource: fnArn('B'), End: true } } },
        },
      },
    };
    await expect(
      runStateMachine({ definition: def, arn: SM_ARN }, [], { lambdas: fakeLambdas({}) }),
    ).rejects.toThrow(/DUPLICATE_STATE_NAMES/);
  });

  it('validates with asl-validator and rejects features that would not run faithfully', async () => {
    const lambdas = fakeLambdas({});
    const invalid = { StartAt: 'Missing', States: { A: { Type: 'Pass', Next: 'Nowhere' } } };
    const error = await runStateMachine({ definition: invalid, arn: SM_ARN }, {}, { lambdas }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidDefinitionError);
    expect((error as InvalidDefinitionError).problems.length).toBeGreaterThan(0);
    const jsonata = {
      QueryLanguage: 'JSONata',
      StartAt: 'A',
      States: { A: { Type: 'Pass', Output: '{% $states.input %}', End: true } },
    };
    await expect(runStateMachine({ definition: jsonata, arn: SM_ARN }, {}, { lambdas })).rejects.toThrow(
      UnsupportedDefinitionError,
    );
    const distributed = {
      StartAt: 'M',
      States: {
        M: {
          Type: 'Map',
          End: true,
          ItemReader: { Resource: 'arn:aws:states:::s3:getObject', Parameters: { Bucket: 'b', Key: 'k' } },
          ItemProcessor: {
            ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
            StartAt: 'P',
            States: { P: { Type: 'Pass', End: true } },
          },
        },
      },
    };
    await expect(runStateMachine({ definition: distributed, arn: SM_ARN }, {}, { lambdas })).rejects.toThrow(
      /Distributed Map/,
    );
  });
});

describe('runStateMachine with the synthesized-style template and real handler modules', () => {
  let root: string;
  const envBefore = { ...process.env };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'llmops-sfn-'));
    await mkdir(join(root, 'functions/dataprep'), { recursive: true });
    await writeFile(
      join(root, 'functions/dataprep/plan.ts'),
      `const table = process.env.TABLE_NAME;
// Parts are numbered from 1: aws-local-stepfunctions cannot evaluate '$' on a falsy primitive input (0).
export const handler = async (event: { parts: number }) => ({ table, parts: Array.from({ length: event.parts }, (_, i) => i + 1) });
`,
    );
    await writeFile(
      join(root, 'functions/dataprep/process-part.ts'),
      `class PartTooLargeError extends Error {
  constructor(part: number) { super('part ' + part + ' is too large'); this.name = 'PartTooLargeError'; }
}
export const processPart = async (event: number) => {
  if (event === 3) throw new PartTooLargeError(event);
  return { done: event };
};
`,
    );
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    for (const key of Object.keys(process.env)) if (!(key in envBefore)) delete process.env[key];
    Object.assign(process.env, envBefore);
  });

  it('runs the template state machine against in-process handlers and fails with the handler error name', async () => {
    const template = new LocalTemplate(sampleTemplate(), { namePrefix: 'sfn' });
    const [sm] = template.stateMachines();
    if (!sm) throw new Error('no state machine');
    const lambdas = new LocalLambdas(template.lambdaFunctions(), { repoRoot: root });

    const ok = await runStateMachine(sm, { parts: 2 }, { lambdas });
    expect(ok).toMatchObject({ status: 'SUCCEEDED', output: [{ done: 1 }, { done: 2 }] });

    const failed = await runStateMachine(sm, { parts: 3 }, { lambdas });
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toBe('PartTooLargeError');
    expect(JSON.parse(failed.cause ?? '{}')).toMatchObject({
      errorType: 'PartTooLargeError',
      errorMessage: 'part 3 is too large',
    });
    expect(
      lambdas
        .invocations()
        .filter((r) => !r.ok)
        .map((r) => r.errorName),
    ).toEqual(['PartTooLargeError']);
  });
});
