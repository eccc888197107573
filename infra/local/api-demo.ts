/**
 * The API part of `npm start`: a short session against the local REST API over real HTTP, as an app and
 * an admin would use it (contract: `functions/api/routes.ts` and `functions/api/schemas.ts`). It creates a
 * version of a prompt (admin), points the `production` label at it (admin), lists the model catalog,
 * chats through the prompt (one JSON answer) and chats again as server-sent events, handing each piece
 * of text to the caller as it arrives.
 */
import { ApiCallError, type LocalApiClient } from './api-client.ts';

/** The demo prompt: a system message carrying the context, the user message the question. */
export const DEMO_PROMPT = {
  name: 'support-answer',
  draft: {
    messages: [
      {
        role: 'system',
        content: 'You are a concise support assistant. Answer only from this context:\n{{context}}',
      },
      { role: 'user', content: '{{question}}' },
    ],
    variables: {
      question: { type: 'string', description: 'What the customer asks' },
      context: { type: 'string', description: 'Passages the answer may use' },
    },
    commitMessage: 'Support answer grounded in the given context (local demo)',
  },
  variables: {
    question: 'How long can a Lambda function run?',
    context:
      'AWS Lambda runs code without provisioning or managing servers. A Lambda function can run for up to ' +
      '15 minutes per invocation. You pay only for the compute time that you consume.',
  },
} as const;

/** What a chat answer reports (the `chatResponse` schema). */
export interface DemoChatAnswer {
  readonly interactionId: string;
  readonly answer: string;
  readonly model: { readonly id: string; readonly provider: string; readonly modelId: string };
  readonly prompt: { readonly name: string; readonly version: number };
  readonly usage: { readonly inputTokens: number; readonly outputTokens: number; readonly costUsd: number };
  /** Latency the API measured. */
  readonly latencyMs: number;
  readonly stopReason: string;
}

/** The demo's results (also what `npm start -- --json` reports under `api`). */
export interface ApiDemoResult {
  readonly url: string;
  readonly prompt: {
    readonly name: string;
    readonly version: number;
    readonly label: string;
    readonly previousVersion: number | null;
  };
  readonly models: { readonly count: number; readonly ids: readonly string[] };
  readonly chat: DemoChatAnswer & { readonly roundTripMs: number };
  readonly stream: {
    readonly contentType: string;
    /** Server-sent events received, by event name. */
    readonly events: Readonly<Record<string, number>>;
    readonly text: string;
    /** Milliseconds from the request to the first event, and to the last. */
    readonly firstEventMs: number;
    readonly totalMs: number;
    /** The `done` event's body: the same JSON as a non-streamed answer. */
    readonly done: DemoChatAnswer | undefined;
  };
}

/** Options of {@link runApiDemo}. */
export interface ApiDemoOptions {
  /** The client for the API (its base URL and key). */
  readonly client: LocalApiClient;
  /** Receives each piece of streamed text as it arrives. */
  readonly onText?: (text: string) => void;
  /** Receives one line per finished step. */
  readonly onStep?: (line: string) => void;
}

/** One server-sent event. */
export interface ServerSentEvent {
  readonly event: string;
  readonly data: string;
}

/** Splits a server-sent event stream into events as its bytes arrive. */
export async function* readServerSentEvents(
  body: AsyncIterable<Uint8Array>,
): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  const parse = (block: string): ServerSentEvent | undefined => {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':') || line === '') continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    return data.length > 0 ? { event, data: data.join('\n') } : undefined;
  };
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const parsed = parse(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (parsed) yield parsed;
      end = buffer.indexOf('\n\n');
    }
  }
  const rest = parse(buffer + decoder.decode());
  if (rest) yield rest;
}

/** Runs the demo. Rejects with {@link ApiCallError} naming the first step that failed. */
export async function runApiDemo(options: ApiDemoOptions): Promise<ApiDemoResult> {
  const { client } = options;
  const url = client.url;
  const step = options.onStep ?? (() => undefined);
  const name = DEMO_PROMPT.name;
  const call = <T>(label: string, method: string, path: string, body?: unknown, expected = 200) =>
    client.call<T>(label, method, path, body, expected);

  const created = await call<{ version: number }>(
    `POST /v1/prompts/${name}/versions`,
    'POST',
    `/v1/prompts/${name}/versions`,
    DEMO_PROMPT.draft,
    201,
  );
  step(`created prompt ${name} v${created.version}`);
  const label = await call<{ version: number; previousVersion: number | null }>(
    `PUT /v1/prompts/${name}/labels/production`,
    'PUT',
    `/v1/prompts/${name}/labels/production`,
    { version: created.version },
  );
  step(`label production → v${label.version}`);
  const models = await call<{ data: Array<{ id: string }> }>('GET /v1/models', 'GET', '/v1/models');
  step(`catalog: ${models.data.length} model(s)`);

  const chatBody = { prompt: name, variables: DEMO_PROMPT.variables };
  const started = performance.now();
  const chat = await call<DemoChatAnswer>('POST /v1/chat', 'POST', '/v1/chat', chatBody);
  const roundTripMs = Math.round(performance.now() - started);
  step(`chat answered by ${chat.model.id} (${chat.model.provider})`);

  const streamStarted = performance.now();
  const { response, attempts } = await client.send(
    'POST',
    '/v1/chat',
    { ...chatBody, stream: true },
    { accept: 'text/event-stream' },
  );
  const contentType = response.headers.get('content-type') ?? '';
  if (response.status !== 200 || !contentType.startsWith('text/event-stream') || !response.body) {
    throw new ApiCallError('POST /v1/chat (stream)', response.status, await response.text(), attempts);
  }
  const events: Record<string, number> = {};
  let text = '';
  let firstEventMs: number | undefined;
  let done: DemoChatAnswer | undefined;
  for await (const sse of readServerSentEvents(response.body)) {
    firstEventMs ??= Math.round(performance.now() - streamStarted);
    events[sse.event] = (events[sse.event] ?? 0) + 1;
    const data = JSON.parse(sse.data) as { text?: string };
    if (sse.event === 'delta' && typeof data.text === 'string') {
      text += data.text;
      options.onText?.(data.text);
    } else if (sse.event === 'done') {
      done = data as DemoChatAnswer;
    } else if (sse.event === 'error') {
      throw new ApiCallError('POST /v1/chat (stream)', 200, sse.data);
    }
  }
  const totalMs = Math.round(performance.now() - streamStarted);
  step(
    `stream: ${Object.entries(events)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')}`,
  );

  return {
    url,
    prompt: { name, version: created.version, label: 'production', previousVersion: label.previousVersion },
    models: { count: models.data.length, ids: models.data.map((m) => m.id) },
    chat: { ...chat, roundTripMs },
    stream: { contentType, events, text, firstEventMs: firstEventMs ?? totalMs, totalMs, done },
  };
}

/** Human-readable lines of a demo result (after the `● API at <url>` heading). */
export function describeApiDemo(result: ApiDemoResult): string[] {
  const { chat, stream } = result;
  const usage = (u: DemoChatAnswer['usage']) =>
    `${u.inputTokens} in / ${u.outputTokens} out tokens, $${u.costUsd.toFixed(8)}`;
  const lines = [
    `  prompt ${result.prompt.name} v${result.prompt.version} created; label ${result.prompt.label} → v${result.prompt.version}`,
    `  models: ${result.models.count} in the catalog (${result.models.ids.join(', ')})`,
    `  chat: "${chat.answer}"`,
    `    model ${chat.model.id} (provider: ${chat.model.provider}, ${chat.model.modelId}), ${usage(chat.usage)}, ` +
      `latency ${chat.latencyMs} ms (round trip ${chat.roundTripMs} ms)`,
    `  stream: ${Object.entries(stream.events)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')} event(s), first after ${stream.firstEventMs} ms, done after ${stream.totalMs} ms` +
      (stream.done ? `; ${usage(stream.done.usage)}` : ''),
  ];
  return lines;
}

/** Ready-to-paste curl commands for the API at `url` with `apiKey`. */
export function curlCommands(url: string, apiKey: string): string[] {
  const key = `-H 'x-api-key: ${apiKey}'`;
  const json = "-H 'content-type: application/json'";
  const chat = JSON.stringify({ prompt: DEMO_PROMPT.name, variables: DEMO_PROMPT.variables });
  const stream = JSON.stringify({ prompt: DEMO_PROMPT.name, variables: DEMO_PROMPT.variables, stream: true });
  const draft = JSON.stringify({ ...DEMO_PROMPT.draft, commitMessage: 'Second version from curl' });
  return [
    `curl -s ${url}/v1/models ${key}`,
    `curl -s ${url}/v1/prompts/${DEMO_PROMPT.name} ${key}`,
    `curl -s -X POST ${url}/v1/chat ${key} ${json} -d '${chat}'`,
    `curl -N -X POST ${url}/v1/chat ${key} ${json} -d '${stream}'`,
    `curl -s -X POST ${url}/v1/prompts/${DEMO_PROMPT.name}/versions ${key} ${json} -d '${draft}'`,
    `curl -s -X PUT ${url}/v1/prompts/${DEMO_PROMPT.name}/labels/production ${key} ${json} -d '{"version":2}'`,
    `curl -s ${url}/v1/openapi.json ${key}`,
  ];
}
