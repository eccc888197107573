/**
 * Local emulators for the stack's data stores, started in-process on 127.0.0.1 (random ports):
 * dynalite for DynamoDB and s3rver for S3. Also: SDK client factories configured for them, provisioning
 * of the tables and buckets the template declares, and the environment that points the real handler
 * modules' SDK clients at them.
 */
import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { LocalTemplate } from './template.ts';

/** An emulator failed to start or stop. */
export class EmulatorError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EmulatorError';
  }
}

/** Static credentials accepted by both emulators (s3rver checks signatures against these). */
export const EMULATOR_CREDENTIALS: { readonly accessKeyId: string; readonly secretAccessKey: string } = {
  accessKeyId: 'S3RVER',
  secretAccessKey: 'S3RVER',
};

/** A fresh copy per client: the SDK annotates the credentials object it is given. */
function credentials(): { accessKeyId: string; secretAccessKey: string } {
  return { ...EMULATOR_CREDENTIALS };
}

/** Region the emulators' clients are configured for. */
export const EMULATOR_REGION = 'us-east-1';

/** Running emulators. */
export interface Emulators {
  /** `http://127.0.0.1:<port>` of dynalite. */
  readonly dynamoEndpoint: string;
  /** `http://127.0.0.1:<port>` of s3rver. */
  readonly s3Endpoint: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /**
   * Subscribes to s3rver's object notifications (S3 event notification records, e.g. `ObjectCreated:Put`).
   * @returns a function that unsubscribes.
   */
  onS3Event(listener: (event: unknown) => void): () => void;
  /** Stops both servers, closing every connection, and removes the temporary S3 directory if one was made. */
  stop(): Promise<void>;
}

/** Options of {@link startEmulators}. */
export interface StartEmulatorsOptions {
  /**
   * Directory for persistent data (`<dataDir>/dynamodb`, `<dataDir>/s3`). Without it DynamoDB is in memory
   * and S3 uses a temporary directory removed by `stop()`, on the machine's memory file system
   * (`/dev/shm`) when it has one, as throwaway data needs no disk.
   */
  readonly dataDir?: string;
}

interface DynaliteOptions {
  readonly path?: string;
  readonly createTableMs?: number;
  readonly deleteTableMs?: number;
  readonly updateTableMs?: number;
}
type DynaliteFactory = (options: DynaliteOptions) => Server;

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  on(event: 'event', listener: (event: unknown) => void): unknown;
  off(event: 'event', listener: (event: unknown) => void): unknown;
  readonly httpServer?: Server;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

const require = createRequire(import.meta.url);

function loadDynalite(): DynaliteFactory {
  const mod: unknown = require('dynalite');
  if (typeof mod !== 'function') throw new EmulatorError('dynalite did not export a factory function');
  return mod as DynaliteFactory;
}

function loadS3rver(): S3rverConstructor {
  const mod: unknown = require('s3rver');
  if (typeof mod !== 'function') throw new EmulatorError('s3rver did not export a class');
  return mod as S3rverConstructor;
}

const MEMORY_FS = '/dev/shm';

/** Where throwaway S3 data goes: the memory file system when the machine has a writable one. */
function scratchRoot(): string {
  try {
    accessSync(MEMORY_FS, constants.W_OK);
    return MEMORY_FS;
  } catch {
    return tmpdir();
  }
}

/** Starts dynalite and s3rver on 127.0.0.1 with ports chosen by the OS. */
export async function startEmulators(options: StartEmulatorsOptions = {}): Promise<Emulators> {
  const dynaliteDir = options.dataDir ? join(options.dataDir, 'dynamodb') : undefined;
  const s3Dir = options.dataDir
    ? join(options.dataDir, 's3')
    : await mkdtemp(join(scratchRoot(), 'llmops-s3-'));
  const ownsS3Dir = options.dataDir === undefined;
  if (dynaliteDir) await mkdir(dynaliteDir, { recursive: true });
  await mkdir(s3Dir, { recursive: true });

  const dynamo = loadDynalite()({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(dynaliteDir ? { path: dynaliteDir } : {}),
  });
  let s3: S3rverInstance | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      dynamo.once('error', reject);
      dynamo.listen(0, '127.0.0.1', () => {
        dynamo.off('error', reject);
        resolve();
      });
    });
    const S3rver = loadS3rver();
    s3 = new S3rver({ address: '127.0.0.1', port: 0, directory: s3Dir, silent: true, configureBuckets: [] });
    const s3Address = await s3.run();
    const dynamoAddress = dynamo.address();
    if (dynamoAddress === null || typeof dynamoAddress === 'string') {
      throw new EmulatorError('dynalite is not listening on a TCP port');
    }
    const started = s3;
    let stopped = false;
    return {
      dynamoEndpoint: `http://127.0.0.1:${dynamoAddress.port}`,
      s3Endpoint: `http://127.0.0.1:${s3Address.port}`,
      credentials: credentials(),
      onS3Event(listener) {
        started.on('event', listener);
        return () => {
          started.off('event', listener);
        };
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await Promise.all([closeServer(dynamo), closeS3rver(started)]);
        if (ownsS3Dir) await rm(s3Dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.allSettled([closeServer(dynamo), s3 ? closeS3rver(s3) : Promise.resolve()]);
    if (ownsS3Dir) await rm(s3Dir, { recursive: true, force: true });
    throw new EmulatorError('Could not start the local emulators', { cause: error });
  }
}

async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  await new Promise<void>((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    // Keep-alive sockets of SDK clients would otherwise hold close() open.
    server.closeAllConnections();
  });
}

async function closeS3rver(s3: S3rverInstance): Promise<void> {
  const server = s3.httpServer;
  if (!server?.listening) return;
  const closing = s3.close();
  server.closeAllConnections();
  await closing;
}

/** An S3 client for s3rver: path-style, static credentials, checksums only when required. */
export function createS3Client(endpoint: string): S3Client {
  assertLoopback(endpoint);
  return new S3Client({
    endpoint,
    region: EMULATOR_REGION,
    credentials: credentials(),
    forcePathStyle: true,
    // Without these the SDK streams bodies with aws-chunked framing, which s3rver stores verbatim.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** A DynamoDB client for dynalite. */
export function createDynamoClient(endpoint: string): DynamoDBClient {
  assertLoopback(endpoint);
  return new DynamoDBClient({ endpoint, region: EMULATOR_REGION, credentials: credentials() });
}

/** Clients used by {@link provision}. */
export interface ProvisionClients {
  readonly s3: S3Client;
  readonly dynamo: DynamoDBClient;
}

/** What {@link provision} created (or found already there). */
export interface ProvisionResult {
  readonly tables: readonly string[];
  readonly buckets: readonly string[];
}

/**
 * Creates every table and bucket the template declares. Idempotent: existing tables and buckets are
 * left as they are. Waits until each table is ACTIVE.
 */
export async function provision(
  template: LocalTemplate,
  clients: ProvisionClients,
): Promise<ProvisionResult> {
  const tables: string[] = [];
  for (const input of template.tables()) {
    const name = input.TableName ?? '';
    try {
      await clients.dynamo.send(new CreateTableCommand(input));
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) {
        throw new EmulatorError(`Could not create table ${name}`, { cause: error });
      }
    }
    await waitForTable(clients.dynamo, name);
    tables.push(name);
  }
  const buckets: string[] = [];
  for (const { name } of template.buckets()) {
    try {
      await clients.s3.send(new CreateBucketCommand({ Bucket: name }));
    } catch (error) {
      const code = error instanceof Error ? error.name : '';
      if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') {
        throw new EmulatorError(`Could not create bucket ${name}`, { cause: error });
      }
    }
    buckets.push(name);
  }
  return { tables, buckets };
}

/**
 * Waits until a table is ACTIVE. CreateTable answers while the table is still CREATING (on AWS as on
 * dynalite, even with `createTableMs: 0`), and until it is ACTIVE every data-plane call on it fails with
 * ResourceNotFoundException: create a table, then wait here, before using it.
 */
export async function waitForTable(dynamo: DynamoDBClient, name: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: name }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new EmulatorError(`Table ${name} did not become ACTIVE`);
}

/**
 * Environment variables that make the handler modules' SDK clients (created with no explicit endpoint)
 * talk to the emulators and to the local EventBridge endpoint.
 */
export function localAwsEnv(
  emulators: Pick<Emulators, 'dynamoEndpoint' | 's3Endpoint' | 'credentials'>,
  eventBridgeEndpoint: string,
  sageMakerEndpoint?: string,
): Record<string, string> {
  assertLoopback(emulators.dynamoEndpoint);
  assertLoopback(emulators.s3Endpoint);
  assertLoopback(eventBridgeEndpoint);
  if (sageMakerEndpoint !== undefined) assertLoopback(sageMakerEndpoint);
  return {
    AWS_ENDPOINT_URL_S3: emulators.s3Endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamoEndpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridgeEndpoint,
    // The SageMaker control plane (training jobs, model packages, inference components): the stand-in.
    ...(sageMakerEndpoint !== undefined ? { AWS_ENDPOINT_URL_SAGEMAKER: sageMakerEndpoint } : {}),
    AWS_REGION: EMULATOR_REGION,
    AWS_DEFAULT_REGION: EMULATOR_REGION,
    AWS_ACCESS_KEY_ID: emulators.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: emulators.credentials.secretAccessKey,
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    LLMOPS_S3_FORCE_PATH_STYLE: 'true',
  };
}

/** Refuses endpoints that are not on the loopback interface: the local runner never leaves the machine. */
export function assertLoopback(endpoint: string): void {
  let host: string;
  try {
    host = new URL(endpoint).hostname;
  } catch (error) {
    throw new EmulatorError(`Endpoint '${endpoint}' is not a URL`, { cause: error });
  }
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') {
    throw new EmulatorError(
      `Endpoint '${endpoint}' is not on 127.0.0.1: local clients never leave the machine`,
    );
  }
}
