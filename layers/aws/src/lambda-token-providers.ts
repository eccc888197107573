/**
 * The token providers bundled into every function in place of `@aws-sdk/token-providers` (aliased by the
 * house function construct, like the credential chain in `lambda-credentials.ts`).
 *
 * The Bedrock Runtime client can sign with a bearer token (a Bedrock API key) instead of SigV4: it looks
 * for one in the environment (`AWS_BEARER_TOKEN_BEDROCK`), then in an SSO session. Functions sign with
 * their role's credentials and Lambda has no SSO session, so the SSO-OIDC client that the second lookup
 * carries (about 20 KiB minified) stays out of the bundles. The environment lookup is kept as the SDK
 * defines it, so a key set on a function still works.
 */

/** What the SDK's provider chain expects from a provider that has nothing: try the next one. */
class TokenProviderError extends Error {
  override readonly name = 'TokenProviderError';
  readonly tryNextLink = true;
}

interface TokenIdentity {
  readonly token: string;
}

/** The bearer token of service `signingName` from `AWS_BEARER_TOKEN_<SIGNING_NAME>`, as the SDK reads it. */
export const fromEnvSigningName =
  ({ signingName }: { signingName?: string } = {}) =>
  async (): Promise<TokenIdentity> => {
    if (!signingName)
      throw new TokenProviderError("Please pass 'signingName' to compute environment variable key");
    const key = `AWS_BEARER_TOKEN_${signingName.replace(/[\s-]/g, '_').toUpperCase()}`;
    const token = process.env[key];
    if (token === undefined)
      throw new TokenProviderError(`Token not present in '${key}' environment variable`);
    return { token };
  };

/** The SDK's SSO token chain: never anything in Lambda. */
export const nodeProvider =
  (_init: unknown = {}) =>
  async (_props?: unknown): Promise<TokenIdentity> => {
    throw new TokenProviderError(
      'Could not load token from any providers (functions sign with their role credentials)',
    );
  };
