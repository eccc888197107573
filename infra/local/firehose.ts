/**
 * Kinesis Data Firehose delivery streams with an S3 destination, locally: records put on a stream (by an
 * EventBridge rule target) are written to the destination bucket in the S3 emulator, under the stream's
 * evaluated Prefix and with Firehose's object naming
 * (`<prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><extension>`), after the enabled processors
 * (`AppendDelimiterToRecord`) and the configured compression (GZIP).
 *
 * Buffering is NOT emulated: Firehose collects records for up to BufferingHints (size or interval) and
 * writes them as one object, while locally each record is written at once as an object of its own, so a
 * run shows its records in S3 immediately. Readers that list the prefix and read every object (as they must
 * on AWS too) see the same records either way.
 *
 * Anything the runner cannot reproduce faithfully fails loudly instead of writing something different:
 * prefix namespaces other than `timestamp`, timestamp patterns beyond yyyy/MM/dd/HH, a time zone other
 * than UTC, dynamic partitioning, record format conversion, processors other than AppendDelimiterToRecord
 * and compression formats other than GZIP/UNCOMPRESSED.
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { LocalDeliveryStream, LocalFirehoseS3Destination } from './template.ts';

/** A delivery stream configuration, or a prefix in it, that the local runner cannot reproduce. */
export class UnsupportedFirehoseFeatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedFirehoseFeatureError';
  }
}

/** No delivery stream of the template has this ARN, name or logical id. */
export class UnknownDeliveryStreamError extends Error {
  constructor(ref: string, known: readonly string[]) {
    super(`No local delivery stream '${ref}' (known: ${known.join(', ') || 'none'})`);
    this.name = 'UnknownDeliveryStreamError';
  }
}

/** One record written by {@link LocalFirehose}. */
export interface FirehoseDelivery {
  readonly stream: string;
  readonly bucket: string;
  readonly key: string;
  /** Bytes of the record before processing and compression. */
  readonly recordBytes: number;
  readonly at: Date;
}

/** Options of {@link LocalFirehose}. */
export interface LocalFirehoseOptions {
  /** The approximate arrival time of a record. @default () => new Date() */
  readonly now?: () => Date;
}

/** The default prefix Firehose uses when the destination sets none. */
export const DEFAULT_PREFIX = '!{timestamp:yyyy/MM/dd/HH/}';

const EXPRESSION = /!\{([^}:]*):([^}]*)\}/g;

/** Formats a UTC time with a Java DateTimeFormatter pattern made of yyyy, MM, dd, HH and literals. */
export function formatTimestamp(pattern: string, at: Date): string {
  const fields: Record<string, string> = {
    yyyy: String(at.getUTCFullYear()).padStart(4, '0'),
    MM: pad(at.getUTCMonth() + 1),
    dd: pad(at.getUTCDate()),
    HH: pad(at.getUTCHours()),
  };
  let out = '';
  let i = 0;
  while (i < pattern.length) {
    const char = pattern[i] ?? '';
    if (char === "'") {
      // Quoted literal text; '' is a single quote.
      const end = pattern.indexOf("'", i + 1);
      if (end < 0)
        throw new UnsupportedFirehoseFeatureError(`Unterminated quote in timestamp pattern '${pattern}'`);
      out += end === i + 1 ? "'" : pattern.slice(i + 1, end);
      i = end + 1;
      continue;
    }
    if (/[A-Za-z]/.test(char)) {
      let j = i;
      while (pattern[j] === char) j++;
      const letters = pattern.slice(i, j);
      const value = fields[letters];
      if (value === undefined) {
        throw new UnsupportedFirehoseFeatureError(
          `Timestamp pattern '${letters}' in '${pattern}' is not supported locally (supported: yyyy, MM, dd, HH)`,
        );
      }
      out += value;
      i = j;
      continue;
    }
    out += char;
    i++;
  }
  return out;
}

/**
 * Evaluates a Firehose S3 prefix at a record's arrival time (UTC). An empty prefix is Firehose's default,
 * `yyyy/MM/dd/HH/`.
 * @throws UnsupportedFirehoseFeatureError for namespaces other than `timestamp` or unsupported patterns.
 */
export function evaluatePrefix(prefix: string, at: Date): string {
  const source = prefix === '' ? DEFAULT_PREFIX : prefix;
  const evaluated = source.replace(EXPRESSION, (_whole, namespace: string, value: string) => {
    if (namespace !== 'timestamp') {
      throw new UnsupportedFirehoseFeatureError(
        `Prefix expression !{${namespace}:${value}} in '${prefix}' is not supported locally (only !{timestamp:...})`,
      );
    }
    return formatTimestamp(value, at);
  });
  if (evaluated.includes('!{')) {
    throw new UnsupportedFirehoseFeatureError(
      `Prefix '${prefix}' has a malformed !{namespace:value} expression`,
    );
  }
  return evaluated;
}

/** The object key Firehose gives a delivery: `<prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><extension>`. */
export function objectKey(
  streamName: string,
  destination: Pick<LocalFirehoseS3Destination, 'prefix' | 'compressionFormat' | 'fileExtension'>,
  at: Date,
  uuid: string = randomUUID(),
): string {
  const time = [
    at.getUTCFullYear(),
    pad(at.getUTCMonth() + 1),
    pad(at.getUTCDate()),
    pad(at.getUTCHours()),
    pad(at.getUTCMinutes()),
    pad(at.getUTCSeconds()),
  ].join('-');
  const extension = destination.fileExtension ?? (destination.compressionFormat === 'GZIP' ? '.gz' : '');
  return `${evaluatePrefix(destination.prefix, at)}${streamName}-1-${time}-${uuid}${extension}`;
}

/** Applies the destination's processors to one record's bytes. */
export function processRecord(destination: LocalFirehoseS3Destination, record: Buffer): Buffer {
  let data = record;
  for (const processor of destination.processors) {
    if (processor.type !== 'AppendDelimiterToRecord') {
      throw new UnsupportedFirehoseFeatureError(
        `Firehose processor ${processor.type} is not supported locally (only AppendDelimiterToRecord)`,
      );
    }
    const delimiter = processor.parameters.Delimiter ?? '\\n';
    data = Buffer.concat([data, Buffer.from(unescapeDelimiter(delimiter), 'utf8')]);
  }
  return data;
}

/** Checks that a stream's S3 destination can be reproduced locally. */
export function assertSupported(stream: LocalDeliveryStream): LocalFirehoseS3Destination {
  const destination = stream.s3;
  if (!destination) {
    throw new UnsupportedFirehoseFeatureError(
      `Delivery stream ${stream.logicalId} has no S3 destination; only S3 destinations are delivered locally`,
    );
  }
  if (destination.dynamicPartitioning) {
    throw new UnsupportedFirehoseFeatureError(
      `Delivery stream ${stream.logicalId} uses dynamic partitioning, which is not supported locally`,
    );
  }
  if (destination.dataFormatConversion) {
    throw new UnsupportedFirehoseFeatureError(
      `Delivery stream ${stream.logicalId} converts the record format, which is not supported locally`,
    );
  }
  if (destination.compressionFormat !== 'GZIP' && destination.compressionFormat !== 'UNCOMPRESSED') {
    throw new UnsupportedFirehoseFeatureError(
      `Delivery stream ${stream.logicalId} compresses with ${destination.compressionFormat}; locally only GZIP and UNCOMPRESSED`,
    );
  }
  if (destination.customTimeZone !== undefined && destination.customTimeZone !== 'UTC') {
    throw new UnsupportedFirehoseFeatureError(
      `Delivery stream ${stream.logicalId} uses time zone ${destination.customTimeZone}; locally only UTC`,
    );
  }
  return destination;
}

/** The template's delivery streams, writing to the S3 emulator. */
export class LocalFirehose {
  readonly #streams: readonly LocalDeliveryStream[];
  readonly #s3: S3Client;
  readonly #now: () => Date;
  readonly #deliveries: FirehoseDelivery[] = [];

  constructor(streams: readonly LocalDeliveryStream[], s3: S3Client, options: LocalFirehoseOptions = {}) {
    this.#streams = streams;
    this.#s3 = s3;
    this.#now = options.now ?? (() => new Date());
  }

  /** The stream with this ARN, name or logical id. */
  find(ref: string): LocalDeliveryStream {
    const stream = this.#streams.find((s) => s.arn === ref || s.name === ref || s.logicalId === ref);
    if (!stream) {
      throw new UnknownDeliveryStreamError(
        ref,
        this.#streams.map((s) => s.logicalId),
      );
    }
    return stream;
  }

  /**
   * Delivers one record (Firehose PutRecord): processed, compressed and written as its own object.
   * @returns where it was written.
   */
  async putRecord(streamRef: string, data: Buffer | string): Promise<FirehoseDelivery> {
    return this.putRecordBatch(streamRef, [data]);
  }

  /**
   * Delivers a buffer of records as Firehose does when its buffering interval or size is reached: each
   * record processed, all of them compressed into one object, keyed (and partitioned) by `at`, the time
   * the buffer was delivered. A replay of recorded traffic passes the time it was delivered then.
   * @returns where it was written.
   */
  async putRecordBatch(
    streamRef: string,
    records: readonly (Buffer | string)[],
    at: Date = this.#now(),
  ): Promise<FirehoseDelivery> {
    const stream = this.find(streamRef);
    const destination = assertSupported(stream);
    const raw = records.map((r) => (typeof r === 'string' ? Buffer.from(r, 'utf8') : r));
    const processed = Buffer.concat(raw.map((record) => processRecord(destination, record)));
    const body = destination.compressionFormat === 'GZIP' ? gzipSync(processed) : processed;
    const key = objectKey(stream.name, destination, at);
    await this.#s3.send(
      new PutObjectCommand({
        Bucket: destination.bucketName,
        Key: key,
        Body: body,
        ContentLength: body.length,
      }),
    );
    const delivery: FirehoseDelivery = {
      stream: stream.logicalId,
      bucket: destination.bucketName,
      key,
      recordBytes: raw.reduce((sum, r) => sum + r.length, 0),
      at,
    };
    this.#deliveries.push(delivery);
    return delivery;
  }

  /** Records written so far, oldest first. */
  deliveries(): readonly FirehoseDelivery[] {
    return [...this.#deliveries];
  }
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Firehose takes the delimiter with backslash escapes (`\n`, `\t`, `\r`, `\\`). */
function unescapeDelimiter(text: string): string {
  return text.replace(/\\([ntr\\])/g, (_whole, c: string) =>
    c === 'n' ? '\n' : c === 't' ? '\t' : c === 'r' ? '\r' : '\\',
  );
}
