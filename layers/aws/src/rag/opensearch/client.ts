import { EventEmitter } from 'node:events';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { Transport } from '@opensearch-project/opensearch';
import { AwsSigv4Signer } from '@opensearch-project/opensearch/aws-v3';
import { ConnectionPool } from '@opensearch-project/opensearch/lib/pool/index.js';
import Serializer from '@opensearch-project/opensearch/lib/Serializer.js';
import { ConfigError } from '../../errors.ts';

/** The OpenSearch transport client: SigV4-signed requests to a Serverless collection, one attempt each. */
export interface OpenSearchTransportClient {
  readonly transport: Pick<Transport, 'request'>;
}

/**
 * An OpenSearch client for a Serverless collection: requests signed with SigV4 for the `aoss` service,
 * credentials from the default chain (in Lambda bundles, the environment: see `lambda-credentials.ts`),
 * one attempt per request (the store owns retries).
 *
 * Only the transport is built, from the library's own modules, wired as `Client`'s constructor
 * (`lib/Client.js`, 3.9.0) wires it with the client's defaults: importing `Client` would bundle its
 * generated API surface (about 220 KiB minified) that the store never calls. Options the library reads
 * as "unset" when null, false or absent (ssl, agent, proxy, auth, compression, sniffInterval, nodeFilter,
 * generateRequestId, context) are left out, as its types require.
 */
export function createOpenSearchClient(options: {
  readonly endpoint: string;
  readonly region: string;
  readonly requestTimeoutMs?: number;
}): OpenSearchTransportClient {
  const signer = AwsSigv4Signer({
    region: options.region,
    service: 'aoss',
    getCredentials: defaultProvider(),
  });
  const events = new EventEmitter();
  const emit = events.emit.bind(events);
  const connectionPool = new ConnectionPool({
    Connection: signer.Connection,
    emit,
    pingTimeout: 3000,
    resurrectStrategy: 'ping',
    sniffEnabled: false,
  });
  connectionPool.addConnection(normalizeEndpoint(options.endpoint));
  const transport = new signer.Transport({
    emit,
    connectionPool,
    serializer: new Serializer({
      disablePrototypePoisoningProtection: false,
      enableLongNumeralSupport: false,
    }),
    maxRetries: 0,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    sniffOnStart: false,
    sniffOnConnectionFault: false,
    sniffEndpoint: '_nodes/_all/http',
    suggestCompression: false,
    // `Client` asks for the compatibility media type when this variable is set (the transport reads it too).
    headers:
      process.env.OPENSEARCH_CLIENT_APIVERSIONING === 'true'
        ? { accept: 'application/vnd.opensearch+json; compatible-with=7' }
        : {},
    nodeSelector: 'round-robin',
    name: 'opensearch-js',
    // `Client` passes null, which prefixes nothing; '' does the same where a request gives an `opaqueId`.
    opaqueIdPrefix: '',
  });
  return { transport };
}

/**
 * The OpenSearch Serverless store (`kind: 'opensearch'`, hybrid search supported).
 *
 * `replaceDocument` and `deleteDocument` ignore the caller's `KnownDocument`: chunk ids are assigned by the
 * service, so they are always looked up. Writes that still fail after retries throw
 * `VectorStoreWriteError` naming each chunk and OpenSearch's reason; when the new chunks cannot all be
 * written, the old ones are left in place.
 *
 * @throws ConfigError when an option is malformed
 */

/** `https://<host>[:port]` from a collection endpoint given with or without its scheme. */
export function normalizeEndpoint(endpoint: string): string {
  const trimmed = endpoint.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
  let url: URL | undefined;
  try {
    url = new URL(withScheme);
  } catch {
    url = undefined;
  }
  if (url === undefined || !['https:', 'http:'].includes(url.protocol) || url.hostname === '') {
    throw new ConfigError(
      `The OpenSearch endpoint ${JSON.stringify(endpoint)} is not a URL; give the collection endpoint, https://<id>.<region>.aoss.amazonaws.com`,
    );
  }
  return url.origin;
}

export function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(
      `The OpenSearch store option ${name} must be a whole number of at least 1, got ${value}`,
    );
  }
  return value;
}
