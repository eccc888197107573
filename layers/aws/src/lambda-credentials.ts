/**
 * The credential provider bundled into every function in place of the SDK's default chain
 * (`@aws-sdk/credential-provider-node`, aliased here by the house function construct).
 *
 * Lambda always hands a function its role's credentials in the environment (`AWS_ACCESS_KEY_ID`,
 * `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), so the rest of the chain (shared config files, SSO, web
 * identity, container and instance metadata) is never reached; leaving it out takes the STS/SSO clients
 * it carries (about 80 KiB minified) out of every bundle and off every cold start. The local runner and
 * the tests also set credentials in the environment.
 */
export { fromEnv as defaultProvider } from '@aws-sdk/credential-provider-env';
