import * as z from 'zod';
import { eventBridgeEvent } from './envelope.ts';

/** Step Functions "Execution Status Change", as EventBridge delivers it on the default bus. */
export const sfnExecutionStatusChangeDetail = z.looseObject({
  executionArn: z.string(),
  stateMachineArn: z.string(),
  name: z.string(),
  status: z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE']),
  startDate: z.number().nullable().optional(),
  stopDate: z.number().nullable().optional(),
  input: z.string().nullable().optional(),
  output: z.string().nullable().optional(),
  error: z.string().nullable().optional(),
  cause: z.string().nullable().optional(),
});

export const sfnExecutionStatusChangeEvent = eventBridgeEvent(
  'Step Functions Execution Status Change',
  sfnExecutionStatusChangeDetail,
);
export type SfnExecutionStatusChangeEvent = z.infer<typeof sfnExecutionStatusChangeEvent>;
