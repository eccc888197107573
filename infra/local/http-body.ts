import type { IncomingMessage } from 'node:http';

/**
 * Reads a request body up to `maxBytes`; `undefined` when it is larger. The body is read to its end even
 * then, so that the connection can still carry the error response.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size <= maxBytes) chunks.push(buffer);
  }
  return size > maxBytes ? undefined : Buffer.concat(chunks);
}
