import type { MiddlewareStack } from '@smithy/types';

/**
 * A host's view of every AWS SDK call the project's clients make, before anything is sent: the local
 * runner evaluates IAM through it. Kept apart from the client factories so that a function which creates
 * one kind of client bundles no other.
 */

/** One AWS SDK call as a host hook sees it, before anything is sent. */
export interface SdkCall {
  /** The SDK client class, e.g. `S3Client`, `DynamoDBClient` (document clients report `DynamoDBClient`). */
  readonly clientName: string;
  /** The low-level command, e.g. `GetObjectCommand`, `UpdateItemCommand`. */
  readonly commandName: string;
  /** The command's input (for document-client commands, before or after marshalling: key names are equal). */
  readonly input: Readonly<Record<string, unknown>>;
}

/** Runs before every call of a client created here; a hook that throws fails the call with its error. */
export type SdkCallHook = (call: SdkCall) => void | Promise<void>;

const hooks = new Set<SdkCallHook>();

/**
 * Registers a hook that runs before every call of every client these factories create, including clients
 * created before the hook was added (hooks are looked up at call time). Nothing is registered by default,
 * so on AWS this costs one middleware that loops over an empty set. Returns a function that removes it.
 */
export function addSdkCallHook(hook: SdkCallHook): () => void {
  hooks.add(hook);
  return () => {
    hooks.delete(hook);
  };
}

/** Adds the step that runs the registered {@link SdkCallHook}s to a client; factories apply it to every client. */
export function withSdkCallHooks<
  I extends object,
  O extends object,
  C extends { middlewareStack: MiddlewareStack<I, O> },
>(client: C & { middlewareStack: MiddlewareStack<I, O> }): C {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (hooks.size > 0) {
        const call: SdkCall = {
          clientName: String(context.clientName ?? ''),
          commandName: String(context.commandName ?? ''),
          input: (args.input ?? {}) as Record<string, unknown>,
        };
        for (const hook of [...hooks]) await hook(call);
      }
      return next(args);
    },
    { step: 'initialize', name: 'sdkCallHooks', override: true },
  );
  return client;
}
