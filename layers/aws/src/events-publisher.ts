import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { type $ZodType, type input, parse } from 'zod/v4/core';
import { TransientError } from './errors.ts';

/** Publishes one `llmops.*` event on the project's bus after validating its detail against its schema. */
export async function publishEvent<S extends $ZodType>(
  client: EventBridgeClient,
  options: {
    busName: string;
    source: string;
    detailType: string;
    schema: S;
    detail: input<S>;
    resources?: string[];
  },
): Promise<string> {
  const detail = parse(options.schema, options.detail);
  const result = await client.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: options.busName,
          Source: options.source,
          DetailType: options.detailType,
          Detail: JSON.stringify(detail),
          Resources: options.resources,
        },
      ],
    }),
  );
  const entry = result.Entries?.[0];
  if ((result.FailedEntryCount ?? 0) > 0 || !entry?.EventId) {
    throw new TransientError(
      `PutEvents rejected ${options.detailType}: ${entry?.ErrorCode ?? 'unknown'} ${entry?.ErrorMessage ?? ''}`.trim(),
    );
  }
  return entry.EventId;
}
