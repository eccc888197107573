import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsCommandInput,
} from '@aws-sdk/client-eventbridge';
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

/** Entries of one PutEvents request, as EventBridge allows at most. */
export const PUT_EVENTS_MAX_ENTRIES = 10;
/** Bytes of one PutEvents request's entries, as EventBridge counts them, at most. */
const PUT_EVENTS_MAX_BYTES = 256 * 1024;
/** PutEvents requests for the entries that failed, before the failure is thrown. */
const FAILED_ENTRY_ATTEMPTS = 3;

type Entry = NonNullable<PutEventsCommandInput['Entries']>[number];

/** An entry's size as EventBridge counts it against the request limit. */
function entrySize(entry: Entry): number {
  const bytes = (s: string | undefined) => (s === undefined ? 0 : Buffer.byteLength(s, 'utf8'));
  return (
    14 + // the Time field
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail) +
    (entry.Resources ?? []).reduce((n, r) => n + bytes(r), 0)
  );
}

/** Cuts entries into requests of at most 10 entries and 256 KiB, in order. */
function requestsOf(entries: readonly Entry[]): Entry[][] {
  const requests: Entry[][] = [];
  let current: Entry[] = [];
  let size = 0;
  for (const entry of entries) {
    const bytes = entrySize(entry);
    if (
      current.length === PUT_EVENTS_MAX_ENTRIES ||
      (current.length > 0 && size + bytes > PUT_EVENTS_MAX_BYTES)
    ) {
      requests.push(current);
      current = [];
      size = 0;
    }
    current.push(entry);
    size += bytes;
  }
  if (current.length > 0) requests.push(current);
  return requests;
}

/**
 * Publishes `llmops.*` events of one detail type on the project's bus, each detail validated against its
 * schema first (nothing is sent when one is invalid), in PutEvents requests of up to 10 entries. Entries
 * that EventBridge fails (`FailedEntryCount`) are sent again, up to 3 requests in all; what still fails is a
 * `TransientError` naming the failed entries, so that the caller's retry sends them again.
 * @returns the event ids, in the order of `details`
 */
export async function publishEvents<S extends $ZodType>(
  client: EventBridgeClient,
  options: {
    busName: string;
    source: string;
    detailType: string;
    schema: S;
    details: readonly input<S>[];
  },
): Promise<string[]> {
  const entries: Entry[] = options.details.map((detail) => ({
    EventBusName: options.busName,
    Source: options.source,
    DetailType: options.detailType,
    Detail: JSON.stringify(parse(options.schema, detail)),
  }));
  const ids: string[] = new Array(entries.length);
  let pending = entries.map((entry, index) => ({ entry, index }));
  let failures: string[] = [];
  for (let attempt = 1; attempt <= FAILED_ENTRY_ATTEMPTS && pending.length > 0; attempt += 1) {
    const failed: typeof pending = [];
    failures = [];
    let offset = 0;
    for (const request of requestsOf(pending.map((p) => p.entry))) {
      const sent = pending.slice(offset, offset + request.length);
      offset += request.length;
      const result = await client.send(new PutEventsCommand({ Entries: request }));
      sent.forEach((item, i) => {
        const outcome = result.Entries?.[i];
        if (outcome?.EventId && !outcome.ErrorCode) {
          ids[item.index] = outcome.EventId;
        } else {
          failed.push(item);
          failures.push(`${outcome?.ErrorCode ?? 'unknown'} ${outcome?.ErrorMessage ?? ''}`.trim());
        }
      });
    }
    pending = failed;
  }
  if (pending.length > 0) {
    throw new TransientError(
      `PutEvents rejected ${pending.length} of ${entries.length} ${options.detailType} event(s): ${[...new Set(failures)].join('; ')}`,
    );
  }
  return ids;
}
