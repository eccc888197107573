/**
 * Reads the interaction log for a time window: the JSON lines (GZIP) that Firehose delivers to
 * `interactions/dt=YYYY-MM-DD/` in the artifacts bucket, one `llmops.InteractionRecorded` detail per
 * line.
 *
 * Firehose partitions by the time a record reached it, not by when the call happened, and buffers for
 * up to `lateMinutes`: a window's calls are in the partitions of the days from the window's start to its
 * end plus that delay, in objects delivered between the window's start and its end plus that delay (the
 * delivery time is in each object's key); a late check of an old window does not read the day's later
 * objects. Lines that are not JSON
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

/**
 * Firehose names each object after its delivery: `<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>[.gz]`.
 * One regex, anchored at the end, every part fixed-width or a single class: linear in the key.
 */
const DELIVERY_TIME =
  /-(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?:\.[a-z]+)?$/;

/**
 * When an object was delivered, in epoch milliseconds: the time in its Firehose key, else its
 * LastModified (a file someone else put there), else unknown.
 */
export function deliveredAt(key: string, lastModified: Date | undefined): number | undefined {
  const m = DELIVERY_TIME.exec(key);
  if (m !== null) {
    const [, y, mo, d, h, mi, se] = m;
    const at = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(se));
    if (!Number.isNaN(at)) return at;
  }
  return lastModified?.getTime();
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
  const lateMinutes = options.lateMinutes ?? 20;
  const latest = window.end.getTime() + lateMinutes * 60_000;
  for (const day of partitionsOf(window, lateMinutes)) {
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}dt=${day}/`, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        // An object delivered before the window began, or after its calls could still arrive, holds none
        // of its calls.
        const delivered = deliveredAt(object.Key, object.LastModified);
        if (delivered !== undefined && (delivered < window.start.getTime() || delivered > latest)) continue;
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
