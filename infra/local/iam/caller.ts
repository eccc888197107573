/**
 * Which function is making an SDK call. Handler modules create their clients once, at module scope, and
 * several functions run at once in one process, so the caller cannot be a property of the client: the
 * Lambda registry runs each invocation inside an async context that names the function and the authorizer
 * that judges its calls, and one hook on the SDK clients reads it. Calls made outside any invocation (the
 * runner provisioning tables, tests seeding data) have no caller and are not evaluated.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { addSdkCallHook, type SdkCall } from '#aws/sdk-call-hooks.ts';

/** The function an invocation runs. */
export interface Caller {
  readonly logicalId: string;
  readonly functionName: string;
}

/** Decides whether a caller may make a call; rejects with the error AWS would return when it may not. */
export interface SdkCallAuthorizer {
  authorize(caller: Caller, call: SdkCall): Promise<void>;
}

interface Scope {
  readonly caller: Caller;
  readonly authorizer: SdkCallAuthorizer;
}

const scopes = new AsyncLocalStorage<Scope>();
let hookAdded = false;

/** Runs `fn` (and everything it starts) as `caller`: its SDK calls are authorized by `authorizer`. */
export function runAsCaller<T>(caller: Caller, authorizer: SdkCallAuthorizer, fn: () => T): T {
  if (!hookAdded) {
    addSdkCallHook(authorizeCurrentCaller);
    hookAdded = true;
  }
  return scopes.run({ caller, authorizer }, fn);
}

/** The caller of the code running now, if it runs inside an invocation. */
export function currentCaller(): Caller | undefined {
  return scopes.getStore()?.caller;
}

async function authorizeCurrentCaller(call: SdkCall): Promise<void> {
  const scope = scopes.getStore();
  if (scope) await scope.authorizer.authorize(scope.caller, call);
}
