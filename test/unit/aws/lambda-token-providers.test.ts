import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromEnvSigningName, nodeProvider } from '#aws/lambda-token-providers.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';

/**
 * The token providers that functions bundle in place of `@aws-sdk/token-providers`: the environment's
 * bearer token as the SDK reads it, no SSO; and a Bedrock Runtime client bundled with them (as the
 * house function construct bundles it) still signs with the role's SigV4 credentials, or with a Bedrock
 * API key when one is set.
 */
describe('fromEnvSigningName and nodeProvider', () => {
  it('reads the bearer token of the signing name from the environment', async () => {
    process.env.AWS_BEARER_TOKEN_BEDROCK = 'key-1';
    try {
      await expect(fromEnvSigningName({ signingName: 'bedrock' })()).resolves.toEqual({ token: 'key-1' });
    } finally {
      delete process.env.AWS_BEARER_TOKEN_BEDROCK;
    }
  });

  it('tells the provider chain to try the next link when there is no token', async () => {
    await expect(fromEnvSigningName({ signingName: 'bedrock' })()).rejects.toMatchObject({
      name: 'TokenProviderError',
      tryNextLink: true,
      message: expect.stringContaining('AWS_BEARER_TOKEN_BEDROCK'),
    });
    await expect(nodeProvider()()).rejects.toMatchObject({ name: 'TokenProviderError' });
  });
});

describe('a Bedrock Runtime client bundled with them', () => {
  let dir: string;
  let authorizationOfOneCall: (env: Record<string, string>) => Promise<string>;
  let bundledInputs: string[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'token-providers-'));
    // One Converse call whose HTTP request is captured instead of sent: its Authorization header says
    // how the client signed.
    const entry = join(dir, 'entry.ts');
    writeFileSync(
      entry,
      `import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
export async function authorizationOfOneCall(env) {
  Object.assign(process.env, env);
  let seen = '';
  const client = new BedrockRuntimeClient({
    region: 'us-east-1',
    maxAttempts: 1,
    requestHandler: {
      handle: async (request) => {
        seen = request.headers.authorization ?? request.headers.Authorization ?? '';
        throw new Error('captured');
      },
    },
  });
  await client.send(new ConverseCommand({ modelId: 'm', messages: [] })).catch(() => undefined);
  return seen;
}`,
    );
    const result = await build({
      entryPoints: [entry],
      outfile: join(dir, 'bundle.mjs'),
      bundle: true,
      format: 'esm',
      platform: 'node',
      mainFields: ['module', 'main'],
      nodePaths: [join(REPO_ROOT, 'node_modules')],
      banner: {
        js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
      alias: {
        '@aws-sdk/credential-provider-node': join(REPO_ROOT, 'layers/aws/src/lambda-credentials.ts'),
        '@aws-sdk/token-providers': join(REPO_ROOT, 'layers/aws/src/lambda-token-providers.ts'),
      },
      metafile: true,
      logLevel: 'silent',
    });
    bundledInputs = Object.keys(result.metafile.inputs);
    ({ authorizationOfOneCall } = await import(pathToFileURL(join(dir, 'bundle.mjs')).href));
  }, 60_000);

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    delete process.env.AWS_BEARER_TOKEN_BEDROCK;
  });

  it('carries neither the SDK token providers nor the SSO-OIDC client they load', () => {
    expect(bundledInputs.some((p) => p.includes('client-bedrock-runtime'))).toBe(true);
    expect(
      bundledInputs.filter((p) => p.includes('sso-oidc') || p.includes('@aws-sdk/token-providers')),
    ).toEqual([]);
  });

  it('signs with SigV4 from the environment credentials', async () => {
    const authorization = await authorizationOfOneCall({
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
    });
    expect(authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\//);
  });

  it('sends a Bedrock API key from the environment as a bearer token', async () => {
    const authorization = await authorizationOfOneCall({ AWS_BEARER_TOKEN_BEDROCK: 'api-key-1' });
    expect(authorization).toBe('Bearer api-key-1');
  });
});
