import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { z } from 'zod';
import { describeIssues } from '../config.ts';
import { InvalidEventError, TransientError } from '../errors.ts';

/**
 * Staged JSONL in the artifacts bucket: how RagIngest's steps hand documents, chunks and vectors to one
 * another, and how the pipelines' Plan steps hand their Distributed Maps the items to iterate over (the
 * state carries only their locations, never the payloads).
 */

/** Reads a staged JSONL file and parses every line with `schema`. */
export async function readStaged<S extends z.ZodType>(
  s3: S3Client,
  location: { bucket: string; key: string },
  schema: S,
): Promise<z.infer<S>[]> {
  const response = await s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
  const text = (await response.Body?.transformToString('utf-8')) ?? '';
  const out: z.infer<S>[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const parsed = schema.safeParse(JSON.parse(line));
    if (!parsed.success) {
      throw new InvalidEventError(
        `s3://${location.bucket}/${location.key} line ${i + 1}: ${describeIssues(parsed.error)}`,
      );
    }
    out.push(parsed.data);
  });
  return out;
}

/** Writes values as a staged JSONL file. */
export async function writeStaged(
  s3: S3Client,
  location: { bucket: string; key: string },
  values: readonly unknown[],
): Promise<void> {
  const body = values.map((value) => JSON.stringify(value)).join('\n');
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: location.bucket,
        Key: location.key,
        Body: body.length > 0 ? `${body}\n` : '',
        ContentType: 'application/x-ndjson',
      }),
    );
  } catch (error) {
    throw new TransientError(`Could not stage s3://${location.bucket}/${location.key}`, { cause: error });
  }
}
