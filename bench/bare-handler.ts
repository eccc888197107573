import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';

/** The cold-start baseline: a bare handler that imports one SDK client and nothing else. */
const s3 = new S3Client({});

export const handler = async (event: { bucket: string; key: string }) =>
  s3.send(new HeadObjectCommand({ Bucket: event.bucket, Key: event.key }));
