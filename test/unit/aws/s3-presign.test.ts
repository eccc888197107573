import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDefaultS3Presigner, createS3Presigner } from '#aws/s3-presign.ts';

/**
 * The presigner without the S3 client makes the URL that the SDK's S3 presigner makes for the same
 * object, time and credentials: on AWS (virtual-hosted) and against a local endpoint (path style),
 * for any key.
 */
const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret/key+1', sessionToken: 'token/=+' };
const signingDate = new Date('2026-12-05T10:11:12.000Z');

async function sdkUrl(
  config: { region: string; endpoint?: string; forcePathStyle?: boolean },
  bucket: string,
  key: string,
  expiresIn: number,
): Promise<string> {
  // Checksums only when required: with the defaults the SDK also signs an empty body's CRC32 and asks
  // S3 for response checksums, which a link opened in a browser has no use for.
  const client = new S3Client({
    ...config,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn, signingDate });
}

/** The URL with its query parameters sorted: the order carries no meaning. */
function normalized(url: string): string {
  const parsed = new URL(url);
  parsed.searchParams.sort();
  return parsed.toString();
}

describe('createS3Presigner', () => {
  it('signs a virtual-hosted URL on AWS exactly as the SDK does', async () => {
    const ours = await createS3Presigner({ region: 'eu-west-1', credentials }).presignGet(
      'llmops-artifacts-abc123',
      'evaluations/run-1/report.html',
      { expiresIn: 900, signingDate },
    );
    expect(ours).toMatch(
      /^https:\/\/llmops-artifacts-abc123\.s3\.eu-west-1\.amazonaws\.com\/evaluations\/run-1\/report\.html\?/,
    );
    expect(normalized(ours)).toBe(
      normalized(
        await sdkUrl(
          { region: 'eu-west-1' },
          'llmops-artifacts-abc123',
          'evaluations/run-1/report.html',
          900,
        ),
      ),
    );
  });

  it('signs a path-style URL against a local endpoint exactly as the SDK does', async () => {
    const config = { region: 'us-east-1', endpoint: 'http://127.0.0.1:4569', forcePathStyle: true };
    const ours = await createS3Presigner({ ...config, credentials }).presignGet(
      'artifacts',
      'drift/a b/summary.json',
      {
        expiresIn: 60,
        signingDate,
      },
    );
    expect(ours.startsWith('http://127.0.0.1:4569/artifacts/drift/a%20b/summary.json?')).toBe(true);
    expect(normalized(ours)).toBe(
      normalized(await sdkUrl(config, 'artifacts', 'drift/a b/summary.json', 60)),
    );
  });

  it('agrees with the SDK on any key', async () => {
    const key = fc
      .array(
        fc.oneof(
          fc.constantFrom('/', ' ', '+', '!', "'", '(', ')', '*', '%', '?', '#', '&', '=', '~', 'é', '😀'),
          fc.string({ minLength: 1, maxLength: 4 }),
        ),
        {
          minLength: 1,
          maxLength: 8,
        },
      )
      .map((parts) => parts.join(''))
      .filter((k) => !k.startsWith('/') && !k.includes('//') && !k.endsWith('/'));
    await fc.assert(
      fc.asyncProperty(key, fc.boolean(), async (k, local) => {
        const config = local
          ? { region: 'us-east-1', endpoint: 'http://127.0.0.1:4569', forcePathStyle: true }
          : { region: 'us-west-2' };
        const ours = await createS3Presigner({ ...config, credentials }).presignGet('bucket-1', k, {
          expiresIn: 300,
          signingDate,
        });
        expect(normalized(ours)).toBe(normalized(await sdkUrl(config, 'bucket-1', k, 300)));
      }),
      { numRuns: 60 },
    );
  });

  it('reads region, endpoint, addressing and credentials from the function environment', async () => {
    const presigner = createDefaultS3Presigner({
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569',
      LLMOPS_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: 'AKIDENV',
      AWS_SECRET_ACCESS_KEY: 'secret',
    });
    // fromEnv reads process.env when the provider is called.
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDENV', AWS_SECRET_ACCESS_KEY: 'secret' });
    const url = new URL(await presigner.presignGet('artifacts', 'k.json', { expiresIn: 60 }));
    expect(url.origin).toBe('http://127.0.0.1:4569');
    expect(url.pathname).toBe('/artifacts/k.json');
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^AKIDENV\/\d{8}\/us-east-1\/s3\/aws4_request$/);
    expect(() => createDefaultS3Presigner({})).toThrow(/AWS_REGION/);
  });
});
