import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createS3Client } from '#aws/clients.ts';

/**
 * Presigned GET URLs for report links. The default S3 client is created on the first link, not at cold
 * start: most requests of the functions that link to reports never sign one. (The module is imported
 * statically: a dynamic `import()` of it would still be bundled in the same file, and wrapped modules
 * lose esbuild's tree shaking, which made the bundles larger.)
 */
let defaultClient: S3Client | undefined;

/** A presigned GET URL of `bucket`/`key`, valid `expiresIn` seconds, signed by `s3` (default: one client made on first use). */
export function presignGet(
  s3: S3Client | undefined,
  bucket: string,
  key: string,
  expiresIn: number,
): Promise<string> {
  if (s3 === undefined) defaultClient ??= createS3Client();
  const client = s3 ?? (defaultClient as S3Client);
  return getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn });
}
