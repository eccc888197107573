/**
 * The local SageMaker stand-in over HTTP, speaking the protocol the AWS SDK uses for SageMaker
 * (awsJson1_1): `POST /` with `X-Amz-Target: SageMaker.<Operation>` and a JSON body; JSON answers as
 * `application/x-amz-json-1.1` with timestamps as epoch seconds; errors as status 400 with
 * `{"__type": "<code>", "message": "..."}` (SageMaker answers ResourceNotFound with 400 too).
 * Listens on 127.0.0.1 only, on a port the OS picks. Signatures are not checked.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type LocalSageMaker, mapDates, SageMakerError } from './control-plane.ts';

/** A running local SageMaker endpoint. */
export interface LocalSageMakerServer {
  /** `http://127.0.0.1:<port>`: pass as the SageMakerClient's `endpoint`. */
  readonly endpoint: string;
  close(): Promise<void>;
}

const CONTENT_TYPE = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'SageMaker.';

/** Serves `plane` on 127.0.0.1 (random port). */
export async function startLocalSageMaker(plane: LocalSageMaker): Promise<LocalSageMakerServer> {
  const server = createServer((req, res) => {
    handle(plane, req, res).catch((error: unknown) => {
      send(res, 500, {
        __type: 'InternalFailure',
        message: error instanceof Error ? error.message : String(error),
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closed = false;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets of SDK clients would otherwise hold close() open.
        server.closeAllConnections();
      });
    },
  };
}

async function handle(plane: LocalSageMaker, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST') {
    send(res, 405, { __type: 'InvalidAction', message: `Only POST is accepted (got ${req.method})` });
    return;
  }
  const target = req.headers['x-amz-target'];
  if (typeof target !== 'string' || !target.startsWith(TARGET_PREFIX)) {
    send(res, 400, {
      __type: 'InvalidAction',
      message: `Missing or foreign X-Amz-Target header (expected ${TARGET_PREFIX}<Operation>, got ${String(target)})`,
    });
    return;
  }
  const operation = target.slice(TARGET_PREFIX.length);
  const raw = await readBody(req);
  let input: unknown = {};
  if (raw.length > 0) {
    try {
      input = JSON.parse(raw.toString('utf8'));
    } catch {
      send(res, 400, { __type: 'SerializationException', message: 'The request body is not valid JSON' });
      return;
    }
  }
  try {
    const output = await plane.call(operation, input);
    send(res, 200, toWireJson(output));
  } catch (error) {
    if (error instanceof SageMakerError) {
      send(res, 400, { __type: error.code, message: error.message });
      return;
    }
    throw error;
  }
}

/** An operation's output as awsJson carries it: no `$metadata`, Dates as epoch seconds. */
export function toWireJson(output: unknown): unknown {
  const json = mapDates(output, (date) => date.getTime() / 1000);
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
    const { $metadata: _metadata, ...rest } = json as Record<string, unknown>;
    return rest;
  }
  return json;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, {
    'Content-Type': CONTENT_TYPE,
    'Content-Length': payload.length,
    'x-amzn-RequestId': crypto.randomUUID(),
  });
  res.end(payload);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}
