/**
 * A tiny local EventBridge endpoint on 127.0.0.1 that speaks the PutEvents wire protocol of the AWS SDK
 * (`POST /`, `X-Amz-Target: AWSEvents.PutEvents`, `application/x-amz-json-1.1`). Handler modules publish
 * with their ordinary EventBridge client pointed here (AWS_ENDPOINT_URL_EVENTBRIDGE); accepted entries are
 * handed to the runner, which routes them by the template's rules.
 */

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readBody } from './http-body.ts';
import type { LocalRuleTarget } from './template.ts';

/** A PutEvents entry accepted by the local endpoint, with the EventId it was given. */
export interface PutEventsEntry {
  readonly EventId: string;
  readonly Source: string;
  readonly DetailType: string;
  /** The Detail JSON text, as sent. */
  readonly Detail: string;
  /** `'default'` or the bus name (an ARN sent by the caller is reduced to its name). */
  readonly EventBusName: string;
  readonly Resources: readonly string[];
  /** The entry's Time, when the caller set one. */
  readonly Time?: Date;
  readonly TraceHeader?: string;
}

/** The local endpoint. */
export interface LocalEventBridge {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** Stops the server, closing open connections. */
  stop(): Promise<void>;
}

/** The local EventBridge endpoint could not start. */
export class LocalEventBridgeError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LocalEventBridgeError';
  }
}

/** EventBridge's limit on the total size of a PutEvents request's entries. */
export const MAX_ENTRIES_BYTES = 256 * 1024;
/** EventBridge's limit on the number of entries of one PutEvents request. */
export const MAX_ENTRIES = 10;
const MAX_BODY_BYTES = 4 * 1024 * 1024;

interface EntryResult {
  EventId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}

/**
 * Starts the endpoint. `onEvents` receives the accepted entries of each PutEvents call, in order, and is
 * awaited before the caller gets its answer: keep it fast (enqueue, don't run pipelines inline). If it
 * throws, those entries are reported as failed with `InternalFailure` (EventBridge's retryable code).
 */
export async function startLocalEventBridge(
  onEvents: (entries: PutEventsEntry[]) => Promise<void> | void,
): Promise<LocalEventBridge> {
  const server = createServer((req, res) => {
    handle(req, res, onEvents).catch((error: unknown) => {
      if (!res.headersSent) {
        sendError(res, 500, 'InternalFailure', error instanceof Error ? error.message : String(error));
      } else {
        res.destroy();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') {
    server.close();
    throw new LocalEventBridgeError('The local EventBridge endpoint is not listening on a TCP port');
  }
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) {
          resolve();
          return;
        }
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  onEvents: (entries: PutEventsEntry[]) => Promise<void> | void,
): Promise<void> {
  if (req.method !== 'POST') {
    sendError(res, 400, 'UnknownOperationException', `Method ${req.method ?? '?'} is not supported`);
    req.resume();
    return;
  }
  const target = req.headers['x-amz-target'];
  if (target !== 'AWSEvents.PutEvents') {
    sendError(
      res,
      400,
      'UnknownOperationException',
      `The local EventBridge endpoint only supports AWSEvents.PutEvents (got ${String(target ?? 'no X-Amz-Target')})`,
    );
    req.resume();
    return;
  }
  const body = await readBody(req, MAX_BODY_BYTES);
  if (body === undefined) {
    sendError(res, 413, 'ValidationException', `Request body exceeds ${MAX_BODY_BYTES} bytes`);
    return;
  }
  let request: unknown;
  try {
    request = JSON.parse(body.length > 0 ? body.toString('utf8') : '{}');
  } catch {
    sendError(res, 400, 'SerializationException', 'Request body is not valid JSON');
    return;
  }
  const entries = isRecord(request) ? request.Entries : undefined;
  if (!Array.isArray(entries) || entries.length === 0) {
    sendError(
      res,
      400,
      'ValidationException',
      "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    return;
  }
  if (entries.length > MAX_ENTRIES) {
    sendError(
      res,
      400,
      'ValidationException',
      `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to ${MAX_ENTRIES}`,
    );
    return;
  }
  const totalSize = entries.reduce<number>((sum, entry) => sum + entrySize(entry), 0);
  if (totalSize > MAX_ENTRIES_BYTES) {
    sendError(
      res,
      400,
      'ValidationException',
      `Total size of the entries in the request is over the limit (${totalSize} > ${MAX_ENTRIES_BYTES} bytes)`,
    );
    return;
  }

  const results: EntryResult[] = [];
  const accepted: Array<{ index: number; entry: PutEventsEntry }> = [];
  entries.forEach((raw, index) => {
    const checked = validateEntry(raw);
    if (checked.ok) {
      results[index] = { EventId: checked.entry.EventId };
      accepted.push({ index, entry: checked.entry });
    } else {
      results[index] = checked.failure;
    }
  });
  if (accepted.length > 0) {
    try {
      await onEvents(accepted.map(({ entry }) => entry));
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      for (const { index } of accepted) {
        results[index] = { ErrorCode: 'InternalFailure', ErrorMessage: `Local routing failed: ${message}` };
      }
    }
  }
  const failed = results.filter((r) => r.ErrorCode !== undefined).length;
  sendJson(res, 200, { FailedEntryCount: failed, Entries: results });
}

type Checked =
  | { readonly ok: true; readonly entry: PutEventsEntry }
  | { readonly ok: false; readonly failure: EntryResult };

function validateEntry(raw: unknown): Checked {
  if (!isRecord(raw)) return invalid('InvalidArgument', 'Entry must be an object.');
  const { Source, DetailType, Detail, EventBusName, Resources, Time, TraceHeader } = raw;
  for (const [name, value] of [
    ['Source', Source],
    ['DetailType', DetailType],
    ['Detail', Detail],
  ] as const) {
    if (value === undefined || value === null || value === '') {
      return invalid(
        'InvalidArgument',
        `Parameter ${name} is not valid. Reason: ${name} is a required argument.`,
      );
    }
    if (typeof value !== 'string') {
      return invalid('InvalidArgument', `Parameter ${name} is not valid. Reason: ${name} must be a string.`);
    }
  }
  const source = Source as string;
  const detailType = DetailType as string;
  const detail = Detail as string;
  let parsed: unknown;
  try {
    parsed = JSON.parse(detail);
  } catch {
    return invalid('MalformedDetail', 'Detail is malformed.');
  }
  if (!isRecord(parsed)) return invalid('MalformedDetail', 'Detail is malformed: it must be a JSON object.');
  if (
    Resources !== undefined &&
    (!Array.isArray(Resources) || !Resources.every((r) => typeof r === 'string'))
  ) {
    return invalid(
      'InvalidArgument',
      'Parameter Resources is not valid. Reason: Resources must be a list of strings.',
    );
  }
  let time: Date | undefined;
  if (Time !== undefined && Time !== null) {
    time =
      typeof Time === 'number'
        ? new Date(Time * 1000)
        : typeof Time === 'string'
          ? new Date(Time)
          : undefined;
    if (time === undefined || Number.isNaN(time.getTime())) {
      return invalid('InvalidArgument', 'Parameter Time is not valid. Reason: Time must be a timestamp.');
    }
  }
  let busName = 'default';
  if (EventBusName !== undefined && EventBusName !== null && EventBusName !== '') {
    if (typeof EventBusName !== 'string') {
      return invalid(
        'InvalidArgument',
        'Parameter EventBusName is not valid. Reason: EventBusName must be a string.',
      );
    }
    busName = /^arn:[^:]+:events:[^:]*:[^:]*:event-bus\/(.+)$/.exec(EventBusName)?.[1] ?? EventBusName;
  }
  const entry: PutEventsEntry = {
    EventId: randomUUID(),
    Source: source,
    DetailType: detailType,
    Detail: detail,
    EventBusName: busName,
    Resources: (Resources as string[] | undefined) ?? [],
    ...(time ? { Time: time } : {}),
    ...(typeof TraceHeader === 'string' ? { TraceHeader } : {}),
  };
  return { ok: true, entry };
}

function invalid(code: string, message: string): Checked {
  return { ok: false, failure: { ErrorCode: code, ErrorMessage: message } };
}

/** Entry size as EventBridge computes it ("Calculating PutEvents event entry size"). */
function entrySize(entry: unknown): number {
  if (!isRecord(entry)) return 0;
  let size = entry.Time !== undefined && entry.Time !== null ? 14 : 0;
  for (const key of ['Source', 'DetailType', 'Detail'] as const) {
    const value = entry[key];
    if (typeof value === 'string') size += Buffer.byteLength(value, 'utf8');
  }
  if (Array.isArray(entry.Resources)) {
    for (const resource of entry.Resources) {
      if (typeof resource === 'string') size += Buffer.byteLength(resource, 'utf8');
    }
  }
  return size;
}

/** Options of {@link toEventEnvelope}. */
export interface EnvelopeOptions {
  readonly account: string;
  readonly region: string;
  /** Event time when the entry has none. @default now */
  readonly time?: Date;
}

/** An event as EventBridge rules and targets see it. */
export interface EventEnvelope {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: Record<string, unknown>;
}

/** Builds the event that rules match and targets receive from an accepted PutEvents entry. */
export function toEventEnvelope(entry: PutEventsEntry, options: EnvelopeOptions): EventEnvelope {
  const detail: unknown = JSON.parse(entry.Detail);
  if (!isRecord(detail))
    throw new LocalEventBridgeError(`Detail of event ${entry.EventId} is not a JSON object`);
  const time = entry.Time ?? options.time ?? new Date();
  return {
    version: '0',
    id: entry.EventId,
    'detail-type': entry.DetailType,
    source: entry.Source,
    account: options.account,
    // EventBridge reports event times to the second.
    time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: options.region,
    resources: [...entry.Resources],
    detail,
  };
}

/** Reads a simple JSONPath (`$`, `$.a.b`) from an event. */
export function jsonPath(value: unknown, path: string): unknown {
  if (path === '$') return value;
  let current: unknown = value;
  for (const segment of path.replace(/^\$\.?/, '').split('.')) {
    if (segment === '') continue;
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/** What a rule target receives: the whole event, a constant `Input`, an `InputPath`, or a transformer. */
export function targetInput(target: LocalRuleTarget, event: EventEnvelope): unknown {
  if (target.Input !== undefined) return JSON.parse(target.Input);
  if (target.InputPath !== undefined) return jsonPath(event, target.InputPath);
  if (target.InputTransformer) {
    let text = target.InputTransformer.InputTemplate;
    for (const [name, path] of Object.entries(target.InputTransformer.InputPathsMap ?? {})) {
      const value = jsonPath(event, path);
      text = text.replaceAll(`<${name}>`, typeof value === 'string' ? value : JSON.stringify(value));
    }
    text = text.replaceAll('<aws.events.event>', JSON.stringify(event));
    return JSON.parse(text);
  }
  return event;
}

/** Something that takes Firehose records (LocalFirehose). */
export interface FirehoseRecordSink {
  putRecord(streamRef: string, data: Buffer | string): Promise<unknown>;
}

/**
 * Delivers an event to a rule target that is a Kinesis Data Firehose delivery stream, as EventBridge does:
 * the target's input (Input, InputPath or InputTransformer applied) becomes one record, as JSON text.
 */
export async function deliverToFirehose(
  sink: FirehoseRecordSink,
  target: LocalRuleTarget,
  event: EventEnvelope,
): Promise<unknown> {
  const input = targetInput(target, event);
  return sink.putRecord(target.Arn, JSON.stringify(input));
}

/** Something that takes SQS messages (the local queues of `pipes.ts`). */
export interface QueueMessageSink {
  /** Sends one message; answers its message id. */
  sendMessage(queueRef: string, body: string): string;
}

/**
 * Delivers an event to a rule target that is an SQS queue, as EventBridge does: the target's input
 * (Input, InputPath or InputTransformer applied) becomes one message, its body the input as JSON text (a
 * string input as it is).
 */
export function deliverToQueue(
  sink: QueueMessageSink,
  target: LocalRuleTarget,
  event: EventEnvelope,
): string {
  const input = targetInput(target, event);
  return sink.sendMessage(target.Arn, typeof input === 'string' ? input : JSON.stringify(input));
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  sendJson(res, status, { __type: type, message });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
