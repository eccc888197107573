import { createHash, createHmac } from 'node:crypto';
import { fromEnv } from '@aws-sdk/credential-provider-env';
import { SignatureV4 } from '@smithy/signature-v4';
import type {
  AwsCredentialIdentity,
  AwsCredentialIdentityProvider,
  Checksum,
  SourceData,
} from '@smithy/types';

/**
 * Presigned S3 GET URLs without the S3 client: the SDK's own SigV4 signer over a request built here.
 *
 * The API functions that link to reports sign a URL and never call S3. The S3 client and its presigner
 * bring about 120 KiB of bundle (the client, its checksum and S3-specific middleware) that those
 * functions would compile at every cold start for that one computation; the signer alone is 10 KiB and
 * is already in every bundle. The URL is the one `@aws-sdk/s3-request-presigner` makes for the same
 * request and time (a test compares them): virtual-hosted style on AWS, path style against a configured
 * endpoint (`AWS_ENDPOINT_URL_S3`, as the S3 client reads it) when `LLMOPS_S3_FORCE_PATH_STYLE` is
 * `true`, `UNSIGNED-PAYLOAD`, host the only signed header.
 */
export interface S3PresignerOptions {
  readonly region: string;
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** A custom endpoint (local emulator), e.g. `http://127.0.0.1:4569`. Default: the region's S3 endpoint. */
  readonly endpoint?: string;
  /** Path-style addressing (`endpoint/bucket/key`), as local emulators need. Default: virtual-hosted. */
  readonly forcePathStyle?: boolean;
}

export interface GetUrlOptions {
  /** Seconds the URL stays valid (SigV4 allows at most 7 days). */
  readonly expiresIn: number;
  /** The signing time; default now. */
  readonly signingDate?: Date;
}

export interface S3Presigner {
  presignGet(bucket: string, key: string, options: GetUrlOptions): Promise<string>;
}

/** SHA-256 and HMAC-SHA-256 for the signer, from node:crypto. */
class Sha256 implements Checksum {
  private readonly hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    throw new Error('Sha256 is single-use');
  }
}

function bytes(data: SourceData): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/** RFC 3986 escaping of one path segment, as S3 canonicalizes it (`!'()*` too). */
const escapeSegment = (segment: string) =>
  encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Bucket names that can be a DNS label of the virtual-hosted endpoint (no dots: TLS wildcard certificates). */
const VIRTUAL_HOSTABLE = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

export function createS3Presigner(options: S3PresignerOptions): S3Presigner {
  const signer = new SignatureV4({
    service: 's3',
    region: options.region,
    credentials: options.credentials,
    sha256: Sha256,
    // S3 signs the path as sent: segments are escaped once, here, not again by the signer.
    uriEscapePath: false,
    applyChecksum: false,
  });
  const endpoint = options.endpoint === undefined ? undefined : new URL(options.endpoint);

  return {
    async presignGet(bucket, key, { expiresIn, signingDate }) {
      const escapedKey = key.split('/').map(escapeSegment).join('/');
      const pathStyle = options.forcePathStyle === true || !VIRTUAL_HOSTABLE.test(bucket);
      const base = endpoint ?? new URL(`https://s3.${options.region}.amazonaws.com`);
      const hostname = pathStyle ? base.hostname : `${bucket}.${base.hostname}`;
      const basePath = base.pathname.replace(/\/+$/, '');
      const path = pathStyle
        ? `${basePath}/${escapeSegment(bucket)}/${escapedKey}`
        : `${basePath}/${escapedKey}`;
      const port = base.port === '' ? undefined : Number(base.port);
      const signed = await signer.presign(
        {
          method: 'GET',
          protocol: base.protocol,
          hostname,
          ...(port === undefined ? {} : { port }),
          path,
          query: { 'x-id': 'GetObject' },
          headers: {
            host: port === undefined ? hostname : `${hostname}:${port}`,
            'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD',
          },
        },
        { expiresIn, ...(signingDate === undefined ? {} : { signingDate }) },
      );
      const origin = new URL(`${base.protocol}//${signed.headers.host}`).origin;
      const query = Object.entries(signed.query ?? {})
        .flatMap(([name, value]) => (Array.isArray(value) ? value.map((v) => [name, v]) : [[name, value]]))
        .map(([name, value]) => `${escapeSegment(String(name))}=${escapeSegment(String(value ?? ''))}`)
        .join('&');
      return `${origin}${signed.path}?${query}`;
    },
  };
}

/** The function's own presigner: its region, its role's credentials, and the S3 endpoint it is configured with. */
export function createDefaultS3Presigner(env: NodeJS.ProcessEnv = process.env): S3Presigner {
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) throw new Error('AWS_REGION is not set: a presigned URL names the region it is signed for');
  return createS3Presigner({
    region,
    credentials: fromEnv(),
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: env.LLMOPS_S3_FORCE_PATH_STYLE === 'true',
  });
}
