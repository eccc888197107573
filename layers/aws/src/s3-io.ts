import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, NoSuchKey, NotFound, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { SourceChangedError } from './errors.ts';

/** An exact S3 object version: what a pipeline run reads, and its lineage. */
export interface ObjectRef {
  readonly bucket: string;
  readonly key: string;
  readonly versionId?: string | undefined;
  /**
   * The ETag as S3 reports it, without quotes (multipart ETags `<md5>-<parts>` are fine). Omitted for
   * objects the project wrote itself, which need no overwrite guard.
   */
  readonly etag?: string | undefined;
}

export const stripQuotes = (etag: string): string => etag.replace(/^"+|"+$/g, '');

/** Whether an S3 call failed because the object (or version) does not exist. */
export function isNotFound(error: unknown): boolean {
  return (
    error instanceof NoSuchKey ||
    error instanceof NotFound ||
    (error as { name?: string }).name === 'NotFound' ||
    (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
  );
}

/** HEADs an object version; undefined when it does not exist. */
export async function headObject(
  s3: S3Client,
  ref: { bucket: string; key: string; versionId?: string | undefined },
): Promise<{ size: number; etag: string; versionId?: string | undefined } | undefined> {
  try {
    const head = await s3.send(
      new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key, VersionId: ref.versionId }),
    );
    return {
      size: head.ContentLength ?? 0,
      etag: stripQuotes(head.ETag ?? ''),
      versionId: head.VersionId ?? ref.versionId,
    };
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * Streams an object version from byte `start` to its end. The caller stops early by breaking out of the
 * iteration; the HTTP body is then destroyed. `If-Match` guards against an object overwritten mid-run
 * when the bucket has no version id to pin.
 */
export async function* readFrom(s3: S3Client, ref: ObjectRef, start: number): AsyncGenerator<Uint8Array> {
  let body: Readable;
  try {
    const response = await s3.send(
      new GetObjectCommand({
        Bucket: ref.bucket,
        Key: ref.key,
        VersionId: ref.versionId,
        IfMatch: ref.versionId || !ref.etag ? undefined : `"${ref.etag}"`,
        Range: start > 0 ? `bytes=${start}-` : undefined,
      }),
    );
    body = response.Body as Readable;
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 412 || isNotFound(error)) {
      throw new SourceChangedError(
        `s3://${ref.bucket}/${ref.key} changed or disappeared while it was being processed`,
        { cause: error },
      );
    }
    throw error;
  }
  try {
    for await (const chunk of body) yield chunk as Uint8Array;
  } finally {
    body.destroy();
  }
}

/** Reads a whole (small) object as UTF-8 text. */
export async function readText(s3: S3Client, bucket: string, key: string): Promise<string> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await response.Body?.transformToString('utf8')) ?? '';
}

/** What a finished writer produced. */
export interface WrittenObject {
  readonly bucket: string;
  readonly key: string;
  readonly bytes: number;
  readonly lines: number;
  /** Hex SHA-256 of the bytes written. */
  readonly sha256: string;
}

const FLUSH_BYTES = 256 * 1024;

/**
 * Streams lines into an S3 object with a multipart upload, in bounded memory: lines are coalesced into
 * 256 KiB writes and `write` waits when the upload falls behind. Hashes what it writes.
 */
export class S3LineWriter {
  readonly #stream = new PassThrough({ highWaterMark: 4 * FLUSH_BYTES });
  readonly #upload: Upload;
  readonly #hash = createHash('sha256');
  readonly #done: Promise<unknown>;
  #pending: string[] = [];
  #pendingBytes = 0;
  #bytes = 0;
  #lines = 0;

  constructor(
    s3: S3Client,
    readonly bucket: string,
    readonly key: string,
    contentType = 'application/x-ndjson',
  ) {
    this.#upload = new Upload({
      client: s3,
      params: { Bucket: bucket, Key: key, Body: this.#stream, ContentType: contentType },
      queueSize: 2,
      partSize: 8 * 1024 * 1024,
      leavePartsOnError: false,
    });
    this.#done = this.#upload.done();
    // Surface upload errors at close() (or on the next write), never as an unhandled rejection.
    this.#done.catch(() => undefined);
  }

  get lines(): number {
    return this.#lines;
  }

  /** Appends one line (a newline is added). */
  async writeLine(line: string): Promise<void> {
    this.#pending.push(line, '\n');
    this.#pendingBytes += line.length + 1;
    this.#lines++;
    if (this.#pendingBytes >= FLUSH_BYTES) await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const buffer = Buffer.from(this.#pending.join(''), 'utf8');
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#hash.update(buffer);
    this.#bytes += buffer.length;
    if (!this.#stream.write(buffer)) {
      await Promise.race([
        new Promise<void>((resolve) => this.#stream.once('drain', resolve)),
        this.#done.then(() => undefined),
      ]);
    }
  }

  /** Flushes, completes the upload and reports what was written. */
  async close(): Promise<WrittenObject> {
    await this.#flush();
    this.#stream.end();
    await this.#done;
    return {
      bucket: this.bucket,
      key: this.key,
      bytes: this.#bytes,
      lines: this.#lines,
      sha256: this.#hash.digest('hex'),
    };
  }

  /** Abandons the upload (parts already sent are removed by the multipart abort). */
  async abort(): Promise<void> {
    await this.#upload.abort().catch(() => undefined);
    this.#stream.destroy();
  }
}

/** Splits an async stream of byte chunks into lines of text (for trusted, project-written files). */
export async function* textLines(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  let rest = '';
  for await (const chunk of chunks) {
    rest += decoder.decode(chunk, { stream: true });
    let newline = rest.indexOf('\n');
    let from = 0;
    while (newline !== -1) {
      yield rest.slice(from, newline);
      from = newline + 1;
      newline = rest.indexOf('\n', from);
    }
    rest = rest.slice(from);
  }
  rest += decoder.decode();
  if (rest.length > 0) yield rest;
}
