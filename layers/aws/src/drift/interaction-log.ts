/**
 * Reads the interaction log for a time window: the JSON lines (GZIP) that Firehose delivers to
 * `interactions/dt=YYYY-MM-DD/` in the artifacts bucket, one `llmops.InteractionRecorded` detail per
 * line.
 *
 * Firehose partitions by the time a record reached it, not by when the call happened, and buffers for
 * up to `lateMinutes`: a window's calls are in the partitions of the days from the window's start to its
 * end plus that delay, in objects written no earlier than the window's start. Lines that are not JSON
 * objects are counted, never fatal (the log is written by the stack, but an operator may drop a file
 * there); the caller validates each record's shape.
 */
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { INTERACTIONS_PREFIX } from '#contracts/storage-layout.ts';
import type { TimeWindow } from '#core/drift/window.ts';

export interface ReadInteractionsOptions {
  /** Minutes a record may reach S3 after its call (the delivery stream's buffering interval, and some). @default 20 */
  readonly lateMinutes?: number;
  /** @default INTERACTIONS_PREFIX */
  readonly prefix?: string;
}

export interface InteractionLines {
  /** Every JSON object read, in object then line order. */
  readonly records: unknown[];
  /** Objects read. */
  readonly objects: number;
  /** Lines that were not JSON objects. */
  readonly unparsable: number;
}

const DAY_MS = 86_400_000;

/** The `dt=` partitions that may hold calls of the window. */
export function partitionsOf(window: TimeWindow, lateMinutes: number): string[] {
  const first = Math.floor(window.start.getTime() / DAY_MS);
  const last = Math.floor((window.end.getTime() + lateMinutes * 60_000) / DAY_MS);
  const days: string[] = [];
  for (let day = first; day <= last; day++) days.push(new Date(day * DAY_MS).toISOString().slice(0, 10));
  return days;
}

function isGzip(body: Uint8Array): boolean {
  return body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b;
}

/** Reads every record delivered for the window (see the module's documentation). */
export async function readInteractions(
  s3: S3Client,
  bucket: string,
  window: TimeWindow,
  options: ReadInteractionsOptions = {},
): Promise<InteractionLines> {
  const prefix = options.prefix ?? INTERACTIONS_PREFIX;
  const records: unknown[] = [];
  let objects = 0;
  let unparsable = 0;
  for (const day of partitionsOf(window, options.lateMinutes ?? 20)) {
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}dt=${day}/`, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        // An object finished before the window began holds none of its calls.
        if (object.LastModified !== undefined && object.LastModified.getTime() < window.start.getTime())
          continue;
        const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }));
        const bytes = (await response.Body?.transformToByteArray()) ?? new Uint8Array();
        const text = Buffer.from(isGzip(bytes) ? gunzipSync(bytes) : bytes).toString('utf8');
        objects++;
        for (const line of text.split('\n')) {
          if (line.trim() === '') continue;
          try {
            const value: unknown = JSON.parse(line);
            if (value !== null && typeof value === 'object' && !Array.isArray(value)) records.push(value);
            else unparsable++;
          } catch {
            unparsable++;
          }
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }
  return { records, objects, unparsable };
}
