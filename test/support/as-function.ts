/**
 * Handler code run as one function of the synthesized stack. The local runner evaluates every SDK call a
 * function makes against that function's role and the target's resource policy (`infra/local/iam`); a
 * test that builds a handler with `makeHandler(...)` and calls it directly gets the same evaluation by
 * calling it inside {@link StackFunction.run}, with clients from {@link evaluatedClients} and the tables,
 * buckets and bus the template declares (the function's `environment` names them). A grant a construct
 * lacks then fails the test with AccessDenied, as the call would fail on AWS.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import { withSdkCallHooks } from '#aws/sdk-call-hooks.ts';
import { createDynamoClient, createS3Client, type Emulators, provision } from '#infra/local/emulators.ts';
import { runAsCaller } from '#infra/local/iam/caller.ts';
import { LocalIam } from '#infra/local/iam/evaluator.ts';
import { synthesizeTemplate } from '#infra/local/runner.ts';
import { type LocalLambdaFunction, LocalTemplate } from '#infra/local/template.ts';

/** A function of the synthesized stack, as the local runner invokes it. */
export interface StackFunction extends LocalLambdaFunction {
  /**
   * Runs `fn`, and everything it starts, as this function: each SDK call of a client that carries the
   * SDK call hooks ({@link evaluatedClients}, the `#aws/clients.ts` factories) is evaluated against this
   * function's role first, and fails with the error AWS returns when the role may not make it.
   */
  run<T>(fn: () => T): T;
  /** `handler`, each call of it run as this function (see {@link run}). */
  wrap<A extends unknown[], R>(handler: (...args: A) => R): (...args: A) => R;
}

/** The dev profile's template as the local runner reads it, and its IAM. */
export interface SynthesizedStack {
  readonly template: LocalTemplate;
  /** Every decision made so far is in `iam.decisions()`. */
  readonly iam: LocalIam;
  /** The function bundled from `entry` (e.g. `functions/api/chat.ts`). @throws when the stack has none. */
  fn(entry: string): StackFunction;
  /** Creates every table and bucket the template declares on the emulators, as the runner does. */
  provision(emulators: Pick<Emulators, 'dynamoEndpoint' | 's3Endpoint'>): Promise<void>;
}

let synthesized: SynthesizedStack | undefined;

/** The dev stack, synthesized once per test file (about 3 s). */
export function synthesizedStack(): SynthesizedStack {
  synthesized ??= load();
  return synthesized;
}

function load(): SynthesizedStack {
  const { template: raw, stackName } = synthesizeTemplate('dev');
  const template = new LocalTemplate(raw, {
    namePrefix: 'llmops-local',
    stackName,
    // CDK's own custom-resource providers (auto-delete objects, ...) are not the project's functions.
    ignoreFunctions: (_id, resource) => resource.Metadata?.['llmops:entry'] === undefined,
  });
  const iam = new LocalIam(template);
  const functions = template.lambdaFunctions();
  return {
    template,
    iam,
    fn(entry) {
      const fn = functions.find((f) => f.entry === entry);
      if (!fn) {
        throw new Error(
          `The synthesized stack has no function bundled from ${entry} (entries: ${functions.map((f) => f.entry).join(', ')})`,
        );
      }
      const caller = { logicalId: fn.logicalId, functionName: fn.name };
      return {
        ...fn,
        run: (body) => runAsCaller(caller, iam, body),
        wrap:
          (handler) =>
          (...args) =>
            runAsCaller(caller, iam, () => handler(...args)),
      };
    },
    async provision(emulators) {
      const dynamo = createDynamoClient(emulators.dynamoEndpoint);
      const s3 = createS3Client(emulators.s3Endpoint);
      try {
        await provision(template, { dynamo, s3 });
      } finally {
        dynamo.destroy();
        s3.destroy();
      }
    },
  };
}

/**
 * Emulator clients whose calls are evaluated when made inside {@link StackFunction.run} (and pass
 * unevaluated outside it: a test seeding data or reading results back is no function).
 */
export function evaluatedClients(emulators: Pick<Emulators, 'dynamoEndpoint' | 's3Endpoint'>): {
  readonly dynamo: DynamoDBClient;
  readonly s3: S3Client;
} {
  return {
    dynamo: withSdkCallHooks(createDynamoClient(emulators.dynamoEndpoint)),
    s3: withSdkCallHooks(createS3Client(emulators.s3Endpoint)),
  };
}

/** An EventBridge client for the local endpoint (`startLocalEventBridge`), evaluated as above. */
export function evaluatedEventBridgeClient(endpoint: string): EventBridgeClient {
  return withSdkCallHooks(
    new EventBridgeClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    }),
  );
}
