/**
 * Runs a synthesized Step Functions definition locally with aws-local-stepfunctions, with EVERY Task
 * state overridden by a local function, so the library never calls a real AWS service:
 * - `arn:aws:states:::lambda:invoke` (CDK LambdaInvoke): the library applies InputPath and Parameters
 *   before calling the override, so the override receives `{ FunctionName, Payload }`; it invokes the
 *   function in-process and answers like the Lambda integration, `{ ExecutedVersion, Payload, StatusCode }`;
 * - a Lambda function ARN as Resource: invoked with the (Parameters-applied) state input, result returned;
 * - any other resource: `stateOverrides[stateName]`, or an {@link UnsupportedTaskError} before the run.
 * Handler errors reach Step Functions as Lambda reports them: Error = the error's `name`, Cause = JSON
 * `{ errorType, errorMessage, trace }`, so Retry/Catch on error names behave as on AWS.
 * Distributed Map states, which the library refuses, run as map runs of `./distributed-map.ts`: each is
 * replaced by a Task state whose local handler reads the items, runs the children as executions of their
 * own (with these same dependencies) and writes the results.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  ExecutionError,
  ExecutionTimeoutError,
  type RunOptions,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import {
  type DistributedMapSite,
  distributedMapProblems,
  extractDistributedMaps,
  type MapRunEnvironment,
  mapRunHandler,
} from './distributed-map.ts';
import type { LambdaInvoker } from './lambda-registry.ts';

/** The definition is not valid Amazon States Language (asl-validator's findings are listed). */
export class InvalidDefinitionError extends Error {
  readonly problems: readonly string[];
  constructor(stateMachine: string, problems: readonly string[]) {
    super(`State machine ${stateMachine} has an invalid definition:\n  - ${problems.join('\n  - ')}`);
    this.name = 'InvalidDefinitionError';
    this.problems = problems;
  }
}

/** The definition uses a feature aws-local-stepfunctions cannot run faithfully (JSONata, Distributed Map, ...). */
export class UnsupportedDefinitionError extends Error {
  readonly problems: readonly string[];
  constructor(stateMachine: string, problems: readonly string[]) {
    super(`State machine ${stateMachine} cannot run locally:\n  - ${problems.join('\n  - ')}`);
    this.name = 'UnsupportedDefinitionError';
    this.problems = problems;
  }
}

/** A Task state whose resource has no local implementation and no entry in `stateOverrides`. */
export class UnsupportedTaskError extends Error {
  readonly stateName: string;
  readonly resource: string;
  constructor(stateName: string, resource: string, detail?: string) {
    super(
      `Task state '${stateName}' uses resource '${resource}', which has no local implementation` +
        `${detail ? ` (${detail})` : ''}; provide stateOverrides['${stateName}'] to run it locally`,
    );
    this.name = 'UnsupportedTaskError';
    this.stateName = stateName;
    this.resource = resource;
  }
}

/**
 * A handler error as Step Functions receives it from the Lambda integration: `name` is the Lambda
 * `errorType` and `message` is the JSON Cause.
 */
export class LambdaTaskError extends Error {
  readonly errorType: string;
  readonly errorMessage: string;
  constructor(errorType: string, errorMessage: string, trace: readonly string[]) {
    super(JSON.stringify({ errorType, errorMessage, trace }));
    this.name = errorType;
    this.errorType = errorType;
    this.errorMessage = errorMessage;
  }
}

/** A state machine to run: its resolved definition and ARN. */
export interface RunnableStateMachine {
  readonly definition: unknown;
  readonly arn: string;
}

/** One entry of the execution's event log, as passed to `onTransition`. */
export interface TransitionInfo {
  readonly executionArn: string;
  /**
   * aws-local-stepfunctions event type: StateEntered, StateExited, StateFailed, StateRetried, ...; a
   * distributed Map also reports MapRunStarted, MapRunSucceeded and MapRunFailed.
   */
  readonly type: string;
  readonly timestamp: number;
  readonly stateName?: string;
  readonly stateType?: string;
  /**
   * Map iteration index, for events inside a Map; for the events of a distributed Map's child execution
   * (whose `executionArn` is the child's), the child's position in the map run.
   */
  readonly index?: number;
  /** The map run, for a distributed Map's MapRun* events and the events of its child executions. */
  readonly mapRunArn?: string;
  readonly input?: unknown;
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: unknown;
}

/** Dependencies and options of {@link runStateMachine}. */
export interface RunStateMachineDeps {
  readonly lambdas: LambdaInvoker & { find?(functionRef: string): unknown };
  /** Called for every event of the execution log (errors it throws are reported and ignored). */
  readonly onTransition?: (info: TransitionInfo) => void;
  /** Local implementations of Task states by state name; they take precedence over Lambda invocation. */
  readonly stateOverrides?: Readonly<Record<string, (input: unknown) => Promise<unknown>>>;
  /**
   * Local implementations of Task states by their Resource (an optimized service integration such as
   * `arn:aws:states:::sagemaker:createTrainingJob.sync`), whatever the state is named.
   */
  readonly resourceOverrides?: Readonly<Record<string, (input: unknown) => Promise<unknown>>>;
  /** Execution name. @default a random UUID */
  readonly executionName?: string;
  /** When set, every Retry waits this many milliseconds instead of IntervalSeconds/BackoffRate. */
  readonly retryDelayMs?: number;
  /** Wait state durations in milliseconds, by state name. */
  readonly waitTimeOverrides?: Readonly<Record<string, number>>;
  /**
   * The S3 client distributed Maps read their ItemReader objects and write their ResultWriter files with.
   * A definition that needs it fails with {@link UnsupportedDefinitionError} before the run without it.
   */
  readonly s3?: S3Client;
}

/** Execution statuses the local runner produces. */
export type ExecutionStatus = 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT';

/** `detail` of the AWS "Step Functions Execution Status Change" event. */
export interface ExecutionStatusChangeDetail {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly status: ExecutionStatus;
  /** Epoch milliseconds. */
  readonly startDate: number;
  readonly stopDate: number;
  /** Execution input as JSON text. */
  readonly input: string;
  readonly inputDetails: { readonly included: boolean };
  /** Execution output as JSON text, or null unless SUCCEEDED. */
  readonly output: string | null;
  readonly outputDetails: { readonly included: boolean } | null;
  readonly error?: string | null;
  readonly cause?: string | null;
}

/** The outcome of one execution. Failures are reported here, never thrown. */
export interface ExecutionResult {
  readonly status: ExecutionStatus;
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: unknown;
  readonly startedAt: Date;
  readonly stoppedAt: Date;
  readonly statusChangeDetail: ExecutionStatusChangeDetail;
}

type TaskHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;
type TaskHandler = TaskHandlers[string];
type TaskResult = Awaited<ReturnType<TaskHandler>>;
type JsonInput = Parameters<StateMachine['run']>[0];
type AslValidator = (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };

/** setTimeout's largest delay (2^31-1 ms), in whole seconds. */
const MAX_TIMER_SECONDS = Math.floor(2_147_483_647 / 1000);
const LAMBDA_INVOKE = /^arn:[^:]+:states:::lambda:invoke$/;
const LAMBDA_FUNCTION_ARN = /^arn:[^:]+:lambda:[^:]+:[^:]+:function:[^:]+(:[^:]+)?$/;

const require = createRequire(import.meta.url);
let aslValidator: AslValidator | undefined;
const validated = new Set<string>();

function loadValidator(): AslValidator {
  if (aslValidator) return aslValidator;
  const mod: unknown = require('asl-validator');
  if (typeof mod !== 'function') throw new Error('asl-validator did not export a function');
  aslValidator = mod as AslValidator;
  return aslValidator;
}

/**
 * Validates a resolved definition with asl-validator (ARNs and paths checked) and rejects features that
 * would not run faithfully locally.
 * @throws InvalidDefinitionError | UnsupportedDefinitionError
 */
export function validateDefinition(definition: unknown, stateMachine = 'definition'): void {
  // asl-validator compiles its schemas on every call (~0.2 s): remember definitions already found valid.
  const key = JSON.stringify(definition);
  if (validated.has(key)) return;
  const { isValid, errorsText } = loadValidator()(structuredClone(definition), {
    checkArn: true,
    checkPaths: true,
  });
  if (!isValid) {
    throw new InvalidDefinitionError(
      stateMachine,
      errorsText('\n')
        .split('\n')
        .filter((line) => line.trim()),
    );
  }
  const problems: string[] = [];
  if (isRecord(definition) && definition.QueryLanguage === 'JSONata') {
    problems.push('QueryLanguage JSONata is not executed by aws-local-stepfunctions');
  }
  walkStates(definition, (name, state) => {
    if (state.QueryLanguage === 'JSONata') problems.push(`${name}: QueryLanguage JSONata is not supported`);
    if (state.Assign !== undefined) problems.push(`${name}: Assign (variables) is not supported`);
    problems.push(...distributedMapProblems(name, state));
  });
  if (problems.length > 0) throw new UnsupportedDefinitionError(stateMachine, problems);
  validated.add(key);
}

/**
 * Runs one execution of a state machine to its end. Never throws for an execution failure: the result
 * carries status FAILED/TIMED_OUT with error and cause. Throws before starting when the definition is
 * invalid or a Task state cannot be served locally.
 */
export async function runStateMachine(
  sm: RunnableStateMachine,
  input: unknown,
  deps: RunStateMachineDeps,
): Promise<ExecutionResult> {
  return runExecution(sm, input, deps, undefined);
}

/** A child execution of a distributed Map: its ARN, and where its events say it belongs. */
interface ChildOf {
  readonly executionArn: string;
  readonly index: number;
  readonly mapRunArn: string;
}

async function runExecution(
  sm: RunnableStateMachine,
  input: unknown,
  deps: RunStateMachineDeps,
  childOf: ChildOf | undefined,
): Promise<ExecutionResult> {
  const stateMachineName = sm.arn.slice(sm.arn.lastIndexOf(':') + 1);
  const compiled = compile(sm.definition, stateMachineName, deps);
  const { definition, handlers } = compiled;

  const name = deps.executionName ?? randomUUID();
  const executionArn = childOf?.executionArn ?? executionArnFor(sm.arn, name);
  const executionInput: unknown = JSON.parse(JSON.stringify(input === undefined ? {} : input));
  const retryIntervalOverrides: Record<string, number> = {};
  if (deps.retryDelayMs !== undefined) {
    walkStates(definition, (stateName, state) => {
      if (Array.isArray(state.Retry)) retryIntervalOverrides[stateName] = deps.retryDelayMs ?? 0;
    });
  }

  const startedAt = new Date();
  const onTransition = childOf
    ? childTransitions(deps.onTransition, executionArn, childOf)
    : deps.onTransition;
  const environment: MapRunEnvironment = {
    stateMachineArn: sm.arn,
    execution: { Id: executionArn, Name: name, StartTime: startedAt.toISOString(), Input: executionInput },
    s3: deps.s3,
    onTransition,
    runChild: (child) =>
      runExecution(
        { definition: child.definition, arn: child.stateMachineArn },
        child.input,
        { ...deps, executionName: child.name },
        { executionArn: child.executionArn, index: child.index, mapRunArn: child.mapRunArn },
      ),
  };
  for (const site of compiled.maps) {
    if (deps.stateOverrides?.[site.stateName]) continue;
    const run = mapRunHandler(site, environment);
    handlers[site.stateName] = async (stateInput) => toJson(await run(stateInput));
  }

  // Already validated above with the same validator and checks (ARNs, paths) the library would run.
  const machine = new StateMachine(definition, { validationOptions: { noValidate: true } });
  const execution = machine.run(executionInput as JsonInput, {
    overrides: {
      taskResourceLocalHandlers: handlers,
      retryIntervalOverrides,
      ...(deps.waitTimeOverrides ? { waitTimeOverrides: { ...deps.waitTimeOverrides } } : {}),
    },
    context: {
      Execution: { Id: executionArn, Name: name, StartTime: startedAt.toISOString() },
      StateMachine: { Id: sm.arn, Name: stateMachineName },
    },
  });
  const mapStates = new Set(compiled.maps.map((site) => site.stateName));
  const logsDone = onTransition
    ? forwardTransitions(execution.eventLogs, executionArn, mapStates, onTransition)
    : undefined;

  let status: ExecutionStatus;
  let output: unknown;
  let error: string | undefined;
  let cause: string | undefined;
  try {
    output = await execution.result;
    status = 'SUCCEEDED';
  } catch (thrown) {
    if (thrown instanceof ExecutionTimeoutError) {
      status = 'TIMED_OUT';
      error = 'States.Timeout';
      cause = 'The execution ran longer than the state machine TimeoutSeconds';
    } else {
      status = 'FAILED';
      const failure = thrown instanceof ExecutionError && thrown.cause !== undefined ? thrown.cause : thrown;
      error = failure instanceof Error ? failure.name : 'Error';
      cause = failure instanceof Error ? failure.message : String(failure);
    }
  }
  const stoppedAt = new Date();
  if (logsDone) await settleWithin(logsDone, 1000);

  const statusChangeDetail: ExecutionStatusChangeDetail = {
    executionArn,
    stateMachineArn: sm.arn,
    name,
    status,
    startDate: startedAt.getTime(),
    stopDate: stoppedAt.getTime(),
    input: JSON.stringify(executionInput),
    inputDetails: { included: true },
    output: status === 'SUCCEEDED' ? JSON.stringify(output ?? null) : null,
    outputDetails: status === 'SUCCEEDED' ? { included: true } : null,
    ...(status === 'SUCCEEDED' ? {} : { error: error ?? null, cause: cause ?? null }),
  };
  return {
    status,
    ...(status === 'SUCCEEDED' ? { output } : { error, cause }),
    executionArn,
    stateMachineArn: sm.arn,
    name,
    input: executionInput,
    startedAt,
    stoppedAt,
    statusChangeDetail,
  };
}

interface Compiled {
  /** The definition to run: a validated clone with its distributed Maps replaced by stand-in Tasks. */
  readonly definition: StateMachineDefinition;
  readonly maps: readonly DistributedMapSite[];
  /** Task handlers by state name; the distributed Maps' ones are set once the execution is known. */
  readonly handlers: TaskHandlers;
}

/**
 * Validates a definition and prepares it for aws-local-stepfunctions. The child definitions of its
 * distributed Maps are prepared too (and dropped), so that a child which cannot run fails the run before
 * it starts rather than in the middle of a map run.
 * @throws InvalidDefinitionError | UnsupportedDefinitionError | UnsupportedTaskError
 */
function compile(source: unknown, stateMachineName: string, deps: RunStateMachineDeps): Compiled {
  validateDefinition(source, stateMachineName);
  const definition = structuredClone(source) as StateMachineDefinition;
  const maps = extractDistributedMaps(definition);
  const standIns: Record<string, (input: unknown) => Promise<unknown>> = {};
  for (const site of maps) {
    if (site.usesS3 && !deps.s3) {
      throw new UnsupportedDefinitionError(stateMachineName, [
        `${site.stateName}: a Distributed Map with an ItemReader or a ResultWriter Resource needs an S3 client (RunStateMachineDeps.s3)`,
      ]);
    }
    compile(site.processor, `${stateMachineName}/${site.label}`, deps);
    standIns[site.stateName] = () => Promise.reject(new Error(`${site.stateName}: map run not set up`));
  }
  const byResource: Record<string, (input: unknown) => Promise<unknown>> = {};
  walkStates(definition, (stateName, state) => {
    const override =
      typeof state.Resource === 'string' ? deps.resourceOverrides?.[state.Resource] : undefined;
    if (state.Type === 'Task' && override) byResource[stateName] = override;
  });
  const handlers = buildTaskHandlers(definition, {
    ...deps,
    stateOverrides: { ...byResource, ...standIns, ...deps.stateOverrides },
  });
  // aws-local-stepfunctions times a Task out after 60 s unless it sets TimeoutSeconds; Step Functions
  // has no such default (the Lambda's own timeout governs). Use the longest delay setTimeout accepts.
  walkStates(definition, (_name, state) => {
    if (
      state.Type === 'Task' &&
      state.TimeoutSeconds === undefined &&
      state.TimeoutSecondsPath === undefined
    ) {
      state.TimeoutSeconds = MAX_TIMER_SECONDS;
    }
  });
  return { definition, maps, handlers };
}

/** A child execution's events, marked with the map run they belong to and the child's position in it. */
function childTransitions(
  onTransition: ((info: TransitionInfo) => void) | undefined,
  executionArn: string,
  childOf: ChildOf,
): ((info: TransitionInfo) => void) | undefined {
  if (!onTransition) return undefined;
  return (info) =>
    onTransition(
      info.executionArn === executionArn && info.mapRunArn === undefined
        ? { ...info, index: childOf.index, mapRunArn: childOf.mapRunArn }
        : info,
    );
}

/** The "Step Functions Execution Status Change" event for a finished execution, as EventBridge delivers it. */
export function executionStatusChangeEvent(
  result: ExecutionResult,
  options: { readonly account: string; readonly region: string },
): {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': 'Step Functions Execution Status Change';
  readonly source: 'aws.states';
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: ExecutionStatusChangeDetail;
} {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: options.account,
    time: result.stoppedAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: options.region,
    resources: [result.executionArn],
    detail: result.statusChangeDetail,
  };
}

/** `arn:...:stateMachine:Name` → `arn:...:execution:Name:executionName`. */
export function executionArnFor(stateMachineArn: string, executionName: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}`;
}

interface TaskSite {
  readonly kind: 'lambda-invoke' | 'lambda-arn' | 'override';
  readonly resource: string;
}

function buildTaskHandlers(definition: unknown, deps: RunStateMachineDeps): TaskHandlers {
  const sites = new Map<string, TaskSite>();
  walkStates(definition, (stateName, state) => {
    if (state.Type !== 'Task') return;
    const resource = typeof state.Resource === 'string' ? state.Resource : '';
    let site: TaskSite;
    if (deps.stateOverrides?.[stateName]) {
      site = { kind: 'override', resource };
    } else if (LAMBDA_INVOKE.test(resource)) {
      const parameters = isRecord(state.Parameters) ? state.Parameters : undefined;
      if (
        !parameters ||
        (parameters.FunctionName === undefined && parameters['FunctionName.$'] === undefined)
      ) {
        throw new UnsupportedTaskError(stateName, resource, 'Parameters.FunctionName is missing');
      }
      if (parameters.InvocationType !== undefined && parameters.InvocationType !== 'RequestResponse') {
        throw new UnsupportedTaskError(
          stateName,
          resource,
          `InvocationType ${String(parameters.InvocationType)}`,
        );
      }
      if (typeof parameters.FunctionName === 'string') deps.lambdas.find?.(parameters.FunctionName);
      site = { kind: 'lambda-invoke', resource };
    } else if (LAMBDA_FUNCTION_ARN.test(resource)) {
      deps.lambdas.find?.(resource);
      site = { kind: 'lambda-arn', resource };
    } else {
      const detail = resource.endsWith('.waitForTaskToken')
        ? 'task tokens are not supported by aws-local-stepfunctions'
        : undefined;
      throw new UnsupportedTaskError(stateName, resource, detail);
    }
    const previous = sites.get(stateName);
    if (
      previous &&
      (previous.kind !== site.kind || (site.kind === 'lambda-arn' && previous.resource !== resource))
    ) {
      // aws-local-stepfunctions keys overrides by state name across nested Map/Parallel scopes.
      throw new UnsupportedTaskError(
        stateName,
        resource,
        `another Task state named '${stateName}' uses '${previous.resource}'; overrides are keyed by state name, so rename one`,
      );
    }
    sites.set(stateName, site);
  });

  const handlers: TaskHandlers = {};
  for (const [stateName, site] of sites) {
    handlers[stateName] = makeHandler(stateName, site, deps);
  }
  return handlers;
}

function makeHandler(stateName: string, site: TaskSite, deps: RunStateMachineDeps): TaskHandler {
  const override = deps.stateOverrides?.[stateName];
  if (site.kind === 'override' && override) {
    return async (input) => toJson(await override(input));
  }
  if (site.kind === 'lambda-invoke') {
    return async (input) => {
      if (!isRecord(input) || typeof input.FunctionName !== 'string') {
        throw new LambdaTaskError(
          'States.Runtime',
          `Task state '${stateName}': Parameters must produce a string FunctionName`,
          [],
        );
      }
      const payload = Object.hasOwn(input, 'Payload') ? input.Payload : {};
      const result = await invokeAsLambda(deps.lambdas, input.FunctionName, payload);
      return toJson({ ExecutedVersion: '$LATEST', Payload: result ?? null, StatusCode: 200 });
    };
  }
  return async (input) => toJson((await invokeAsLambda(deps.lambdas, site.resource, input)) ?? null);
}

async function invokeAsLambda(
  lambdas: LambdaInvoker,
  functionRef: string,
  payload: unknown,
): Promise<unknown> {
  try {
    return await lambdas.invoke(functionRef, payload);
  } catch (error) {
    if (error instanceof Error) {
      const trace = (error.stack ?? `${error.name}: ${error.message}`).split('\n');
      throw new LambdaTaskError(error.name || 'Error', error.message, trace);
    }
    throw new LambdaTaskError('Error', String(error), []);
  }
}

async function forwardTransitions(
  events: AsyncGenerator<unknown>,
  executionArn: string,
  mapStates: ReadonlySet<string>,
  onTransition: (info: TransitionInfo) => void,
): Promise<void> {
  for await (const event of events) {
    if (!isRecord(event)) continue;
    const state = isRecord(event.state)
      ? event.state
      : isRecord(event.parentState)
        ? event.parentState
        : undefined;
    const stateName = state && typeof state.name === 'string' ? state.name : undefined;
    // A distributed Map runs as a stand-in Task: its events say Map, as the definition does.
    const stateType =
      state && typeof state.type === 'string'
        ? state.type === 'Task' && stateName !== undefined && mapStates.has(stateName)
          ? 'Map'
          : state.type
        : undefined;
    const info: TransitionInfo = {
      executionArn,
      type: String(event.type),
      timestamp: typeof event.timestamp === 'number' ? event.timestamp : Date.now(),
      ...(stateName !== undefined ? { stateName } : {}),
      ...(stateType !== undefined ? { stateType } : {}),
      ...(typeof event.index === 'number' ? { index: event.index } : {}),
      ...(state && 'input' in state
        ? { input: state.input }
        : 'input' in event
          ? { input: event.input }
          : {}),
      ...(state && 'output' in state
        ? { output: state.output }
        : 'output' in event
          ? { output: event.output }
          : {}),
      ...(typeof event.Error === 'string' ? { error: event.Error } : {}),
      ...('Cause' in event ? { cause: event.Cause } : {}),
    };
    try {
      onTransition(info);
    } catch (error) {
      console.error(`onTransition failed for ${info.type} ${info.stateName ?? ''}:`, error);
    }
  }
}

async function settleWithin(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  if (timer) clearTimeout(timer);
}

/** Calls `visit` for every state, including those inside Map (ItemProcessor/Iterator) and Parallel branches. */
function walkStates(
  definition: unknown,
  visit: (name: string, state: Record<string, unknown>) => void,
): void {
  if (!isRecord(definition) || !isRecord(definition.States)) return;
  for (const [name, state] of Object.entries(definition.States)) {
    if (!isRecord(state)) continue;
    visit(name, state);
    if (state.Type === 'Map') walkStates(state.ItemProcessor ?? state.Iterator, visit);
    if (state.Type === 'Parallel' && Array.isArray(state.Branches)) {
      for (const branch of state.Branches) walkStates(branch, visit);
    }
  }
}

/** A task result as Lambda delivers it: passed through JSON (`undefined` becomes `null`). */
function toJson(value: unknown): TaskResult {
  return JSON.parse(JSON.stringify(value === undefined ? null : value));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
