import { createDefaultS3Presigner, type S3Presigner } from '#aws/s3-presign.ts';

/**
 * Presigned GET URLs for report links, signed without an S3 client (see layers/aws/src/s3-presign.ts):
 * these functions never call S3, and the client would cost their bundles about 120 KiB. The default
 * presigner is made on the first link, not at cold start: most requests never sign one.
 */
let defaultPresigner: S3Presigner | undefined;

/** A presigned GET URL of `bucket`/`key`, valid `expiresIn` seconds, signed by `presigner` (default: the function's own). */
export function presignGet(
  presigner: S3Presigner | undefined,
  bucket: string,
  key: string,
  expiresIn: number,
): Promise<string> {
  if (presigner !== undefined) return presigner.presignGet(bucket, key, { expiresIn });
  defaultPresigner ??= createDefaultS3Presigner();
  return defaultPresigner.presignGet(bucket, key, { expiresIn });
}
