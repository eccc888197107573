import * as z from 'zod';
import { eventBridgeEvent, SCHEMA_VERSION } from './envelope.ts';

export const PIPELINE_FAILED = 'llmops.PipelineFailed';

/** `llmops.PipelineFailed`: a state machine execution failed, timed out or was aborted. */
export const pipelineFailedDetail = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  pipeline: z.string().min(1),
  stateMachineArn: z.string().min(1),
  executionArn: z.string().min(1),
  status: z.enum(['FAILED', 'TIMED_OUT', 'ABORTED']),
  error: z.string().nullable(),
  cause: z.string().nullable(),
  /** What started the execution, so it can be found and replayed (e.g. the S3 object), when known. */
  inputReference: z.record(z.string(), z.string()).nullable(),
  startedAt: z.string().nullable(),
  stoppedAt: z.string().nullable(),
});
export type PipelineFailedDetail = z.infer<typeof pipelineFailedDetail>;

export const pipelineFailedEvent = eventBridgeEvent(PIPELINE_FAILED, pipelineFailedDetail);
