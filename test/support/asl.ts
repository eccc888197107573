/** Pieces of state machine definitions as CDK synthesizes them, for tests of the local runner. */

/** The ARN the runner resolves a function's `Ref`/`Arn` to. */
export const fnArn = (name: string): string => `arn:aws:lambda:us-east-1:000000000000:function:${name}`;

/** A LambdaInvoke task as CDK synthesizes it. */
export function invokeTask(fn: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Type: 'Task',
    Resource: 'arn:aws:states:::lambda:invoke',
    Parameters: { FunctionName: fnArn(fn), 'Payload.$': '$' },
    OutputPath: '$.Payload',
    ...extra,
  };
}
