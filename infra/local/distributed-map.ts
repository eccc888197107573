/**
 * Distributed Map states, run locally with the semantics the Step Functions documentation gives them.
 * aws-local-stepfunctions refuses ItemReader, ItemBatcher and ResultWriter, so before a run every
 * distributed Map of a (cloned) definition is replaced by a Task state with a local-only Resource that
 * keeps the Map's InputPath, ResultSelector, ResultPath, OutputPath, Retry, Catch and Next/End; the
 * Task's local handler is the map run:
 * - items: `ItemReader` (`arn:aws:states:::s3:getObject`, ReaderConfig InputType JSON, JSONL or CSV,
 *   MaxItems(Path)) read from S3, or `ItemsPath` (default `$`) over the state input;
 * - `ItemSelector` (or the older `Parameters`) per item, with `$$.Map.Item.Index` / `$$.Map.Item.Value`;
 * - `ItemBatcher`: MaxItemsPerBatch(Path), MaxInputBytesPerBatch(Path), BatchInput; each child then
 *   receives `{ "Items": [...], "BatchInput": {...} }`;
 * - one child execution per item or batch (the ItemProcessor's StartAt/States, run as an execution of its
 *   own), at most MaxConcurrency(Path) at once and never more than {@link LOCAL_MAX_CONCURRENCY}: 0 (no
 *   limit on AWS, up to 10,000 children) runs 16 at a time locally;
 * - failed or timed-out children count, by their items, against ToleratedFailureCount(Path) and
 *   ToleratedFailurePercentage(Path); past either, the state fails with
 *   `States.ExceedToleratedFailureThreshold`. Every child runs to its end first (the documentation allows
 *   children to keep running after the threshold is exceeded), so PENDING is always empty;
 * - output: without ResultWriter, the array of child outputs in item order (a failed child's entry is its
 *   execution result, as Transformation NONE would give it); with a ResultWriter (`arn:aws:states:::s3:putObject`,
 *   Parameters Bucket/Prefix, WriterConfig OutputType/Transformation), `SUCCEEDED_0.json` / `FAILED_0.json`
 *   and `manifest.json` under `<Prefix>/<map run id>/` in S3, and the state's result is
 *   `{ MapRunArn, ResultWriterDetails: { Bucket, Key } }`.
 * Errors are the documented ones: States.ItemReaderFailed, States.ResultWriterFailed,
 * States.ExceedToleratedFailureThreshold, and States.Runtime (neither retried nor caught) for a path or a
 * value that does not fit. Anything else (JSONata, MANIFEST or listObjectsV2 readers, a ResultWriter with
 * a WriterConfig alone, unknown fields) is refused before the run with the field named.
 */
import { randomUUID } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ExecutionError, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { ExecutionResult, TransitionInfo } from './state-machines.ts';

/** The Resource of the Task state that stands in for a distributed Map: no AWS service has it. */
export const LOCAL_MAP_RUN_RESOURCE = 'arn:aws:states:::local:distributedMap';

/** Children of one map run running at once, at most (MaxConcurrency 0, unbounded on AWS, runs this many). */
export const LOCAL_MAX_CONCURRENCY = 16;

const S3_GET_OBJECT = /^arn:[^:]+:states:::s3:getObject$/;
const S3_PUT_OBJECT = /^arn:[^:]+:states:::s3:putObject$/;

/** The documented error a map run fails with: `name` is the Step Functions error name, `message` the Cause. */
export class MapRunError extends Error {
  constructor(errorName: string, cause: string) {
    super(cause);
    this.name = errorName;
  }

  /** States.Runtime is neither retried nor caught, even by States.ALL (aws-local-stepfunctions reads these). */
  get isRetryable(): boolean {
    return this.name !== 'States.Runtime';
  }

  get isCatchable(): boolean {
    return this.name !== 'States.Runtime';
  }
}

/** A distributed Map state taken out of a definition, with what its map run needs. */
export interface DistributedMapSite {
  readonly stateName: string;
  /** The Map state as the definition declared it. */
  readonly state: Readonly<Record<string, unknown>>;
  /** The child executions' definition: the ItemProcessor's StartAt/States (and Comment). */
  readonly processor: Record<string, unknown>;
  /** `STANDARD` or `EXPRESS`. */
  readonly executionType: string;
  /** The Map's Label, or its state name: the ARNs of the map run and its children carry it. */
  readonly label: string;
  /** Whether the map run reads or writes S3 (an ItemReader, or a ResultWriter with a Resource). */
  readonly usesS3: boolean;
}

/** What a map run needs from the execution that runs it. */
export interface MapRunEnvironment {
  readonly stateMachineArn: string;
  /** `$$.Execution` of the parent execution. */
  readonly execution: {
    readonly Id: string;
    readonly Name: string;
    readonly StartTime: string;
    readonly Input: unknown;
  };
  readonly s3: S3Client | undefined;
  /** Runs one child execution to its end (never throws for an execution failure). */
  readonly runChild: (child: ChildExecution) => Promise<ExecutionResult>;
  readonly onTransition: ((info: TransitionInfo) => void) | undefined;
}

/** One child execution of a map run. */
export interface ChildExecution {
  readonly definition: Record<string, unknown>;
  readonly stateMachineArn: string;
  readonly executionArn: string;
  readonly name: string;
  readonly input: unknown;
  /** Position of the child's item (or batch) in the map run. */
  readonly index: number;
  readonly mapRunArn: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const MAP_FIELDS = new Set([
  'Type',
  'Comment',
  'InputPath',
  'OutputPath',
  'ResultPath',
  'ResultSelector',
  'Parameters',
  'ItemSelector',
  'ItemsPath',
  'ItemReader',
  'ItemBatcher',
  'ItemProcessor',
  'ResultWriter',
  'MaxConcurrency',
  'MaxConcurrencyPath',
  'ToleratedFailurePercentage',
  'ToleratedFailurePercentagePath',
  'ToleratedFailureCount',
  'ToleratedFailureCountPath',
  'Label',
  'Retry',
  'Catch',
  'Next',
  'End',
]);
const DISTRIBUTED_ONLY = [
  'ItemReader',
  'ItemBatcher',
  'ResultWriter',
  'ToleratedFailurePercentage',
  'ToleratedFailurePercentagePath',
  'ToleratedFailureCount',
  'ToleratedFailureCountPath',
  'Label',
];

/** Whether a state is a Map whose ItemProcessor runs in DISTRIBUTED mode. */
export function isDistributedMap(state: Readonly<Record<string, unknown>>): boolean {
  if (state.Type !== 'Map') return false;
  const processor = isRecord(state.ItemProcessor) ? state.ItemProcessor : undefined;
  const config = processor && isRecord(processor.ProcessorConfig) ? processor.ProcessorConfig : undefined;
  return config?.Mode === 'DISTRIBUTED';
}

/**
 * What a Map state uses that the local map run cannot run as AWS does, each naming the field (empty when
 * everything is supported). Inline Maps are only checked for distributed-only fields.
 */
export function distributedMapProblems(name: string, state: Readonly<Record<string, unknown>>): string[] {
  if (state.Type !== 'Map') return [];
  const problems: string[] = [];
  if (!isDistributedMap(state)) {
    for (const field of DISTRIBUTED_ONLY) {
      if (state[field] !== undefined) {
        problems.push(
          `${name}: ${field} is a Distributed Map field: it needs ItemProcessor.ProcessorConfig.Mode DISTRIBUTED`,
        );
      }
    }
    return problems;
  }
  for (const field of Object.keys(state)) {
    if (!MAP_FIELDS.has(field))
      problems.push(`${name}: Distributed Map field ${field} is not supported locally`);
  }
  const processor = state.ItemProcessor as Record<string, unknown>;
  const config = processor.ProcessorConfig as Record<string, unknown>;
  for (const field of Object.keys(config)) {
    if (field !== 'Mode' && field !== 'ExecutionType') {
      problems.push(
        `${name}: Distributed Map ItemProcessor.ProcessorConfig.${field} is not supported locally`,
      );
    }
  }
  if (
    config.ExecutionType !== undefined &&
    config.ExecutionType !== 'STANDARD' &&
    config.ExecutionType !== 'EXPRESS'
  ) {
    problems.push(
      `${name}: Distributed Map ItemProcessor.ProcessorConfig.ExecutionType ${String(config.ExecutionType)} is unknown`,
    );
  }
  if (state.ItemReader !== undefined) problems.push(...readerProblems(name, state.ItemReader));
  if (state.ItemReader !== undefined && state.ItemsPath !== undefined) {
    problems.push(`${name}: Distributed Map ItemsPath cannot be used with an ItemReader`);
  }
  if (state.ItemBatcher !== undefined) problems.push(...batcherProblems(name, state.ItemBatcher));
  if (state.ResultWriter !== undefined) problems.push(...writerProblems(name, state.ResultWriter));
  if (state.ItemSelector !== undefined && state.Parameters !== undefined) {
    problems.push(`${name}: Distributed Map ItemSelector and Parameters cannot both be set`);
  }
  return problems;
}

function readerProblems(name: string, reader: unknown): string[] {
  if (!isRecord(reader)) return [`${name}: Distributed Map ItemReader must be an object`];
  const problems = unknownFields(name, 'ItemReader', reader, ['Resource', 'ReaderConfig', 'Parameters']);
  const resource = typeof reader.Resource === 'string' ? reader.Resource : '';
  if (!S3_GET_OBJECT.test(resource)) {
    problems.push(
      `${name}: Distributed Map ItemReader.Resource ${resource || '(none)'} is not supported locally (only arn:aws:states:::s3:getObject)`,
    );
  }
  const config = reader.ReaderConfig;
  if (!isRecord(config)) {
    problems.push(`${name}: Distributed Map ItemReader.ReaderConfig with an InputType is required`);
  } else {
    problems.push(
      ...unknownFields(name, 'ItemReader.ReaderConfig', config, [
        'InputType',
        'MaxItems',
        'MaxItemsPath',
        'CSVHeaderLocation',
        'CSVHeaders',
      ]),
    );
    if (config.InputType !== 'JSON' && config.InputType !== 'JSONL' && config.InputType !== 'CSV') {
      problems.push(
        `${name}: Distributed Map ItemReader.ReaderConfig.InputType ${String(config.InputType)} is not supported locally (JSON, JSONL, CSV)`,
      );
    }
    if (config.InputType === 'CSV') {
      const location = config.CSVHeaderLocation ?? 'FIRST_ROW';
      if (location !== 'FIRST_ROW' && location !== 'GIVEN') {
        problems.push(
          `${name}: Distributed Map ItemReader.ReaderConfig.CSVHeaderLocation ${String(location)} is unknown`,
        );
      }
      if (location === 'GIVEN' && !Array.isArray(config.CSVHeaders)) {
        problems.push(
          `${name}: Distributed Map ItemReader.ReaderConfig.CSVHeaders is required with CSVHeaderLocation GIVEN`,
        );
      }
    } else if (config.CSVHeaderLocation !== undefined || config.CSVHeaders !== undefined) {
      problems.push(`${name}: Distributed Map ItemReader.ReaderConfig CSV fields need InputType CSV`);
    }
  }
  if (!isRecord(reader.Parameters)) {
    problems.push(`${name}: Distributed Map ItemReader.Parameters with Bucket and Key is required`);
  } else {
    problems.push(
      ...templateFieldProblems(name, 'ItemReader.Parameters', reader.Parameters, ['Bucket', 'Key']),
    );
  }
  return problems;
}

function batcherProblems(name: string, batcher: unknown): string[] {
  if (!isRecord(batcher)) return [`${name}: Distributed Map ItemBatcher must be an object`];
  const problems = unknownFields(name, 'ItemBatcher', batcher, [
    'MaxItemsPerBatch',
    'MaxItemsPerBatchPath',
    'MaxInputBytesPerBatch',
    'MaxInputBytesPerBatchPath',
    'BatchInput',
  ]);
  if (
    batcher.MaxItemsPerBatch === undefined &&
    batcher.MaxItemsPerBatchPath === undefined &&
    batcher.MaxInputBytesPerBatch === undefined &&
    batcher.MaxInputBytesPerBatchPath === undefined
  ) {
    problems.push(
      `${name}: Distributed Map ItemBatcher needs MaxItemsPerBatch(Path) or MaxInputBytesPerBatch(Path)`,
    );
  }
  return problems;
}

function writerProblems(name: string, writer: unknown): string[] {
  if (!isRecord(writer)) return [`${name}: Distributed Map ResultWriter must be an object`];
  const problems = unknownFields(name, 'ResultWriter', writer, ['Resource', 'Parameters', 'WriterConfig']);
  if (writer.Resource !== undefined) {
    const resource = typeof writer.Resource === 'string' ? writer.Resource : '';
    if (!S3_PUT_OBJECT.test(resource)) {
      problems.push(
        `${name}: Distributed Map ResultWriter.Resource ${resource} is not supported (only arn:aws:states:::s3:putObject)`,
      );
    }
    if (!isRecord(writer.Parameters)) {
      problems.push(
        `${name}: Distributed Map ResultWriter.Parameters with Bucket (and Prefix) is required with a Resource`,
      );
    } else {
      problems.push(
        ...templateFieldProblems(name, 'ResultWriter.Parameters', writer.Parameters, ['Bucket', 'Prefix']),
      );
    }
  } else {
    // AWS previews a WriterConfig alone as the state's result; asl-validator 4 refuses it, and so does this.
    problems.push(`${name}: Distributed Map ResultWriter without a Resource is not supported locally`);
  }
  const config = writer.WriterConfig;
  if (config !== undefined) {
    if (!isRecord(config)) {
      problems.push(`${name}: Distributed Map ResultWriter.WriterConfig must be an object`);
    } else {
      problems.push(
        ...unknownFields(name, 'ResultWriter.WriterConfig', config, ['OutputType', 'Transformation']),
      );
      if (config.OutputType !== undefined && config.OutputType !== 'JSON' && config.OutputType !== 'JSONL') {
        problems.push(
          `${name}: Distributed Map ResultWriter.WriterConfig.OutputType ${String(config.OutputType)} is unknown`,
        );
      }
      if (
        config.Transformation !== undefined &&
        config.Transformation !== 'NONE' &&
        config.Transformation !== 'COMPACT' &&
        config.Transformation !== 'FLATTEN'
      ) {
        problems.push(
          `${name}: Distributed Map ResultWriter.WriterConfig.Transformation ${String(config.Transformation)} is unknown`,
        );
      }
    }
  }
  return problems;
}

function unknownFields(
  name: string,
  where: string,
  object: Readonly<Record<string, unknown>>,
  known: readonly string[],
): string[] {
  return Object.keys(object)
    .filter((field) => !known.includes(field))
    .map((field) => `${name}: Distributed Map ${where}.${field} is not supported locally`);
}

/** Fields of a Parameters payload template, each allowed as `X` or `X.$`. */
function templateFieldProblems(
  name: string,
  where: string,
  template: Readonly<Record<string, unknown>>,
  known: readonly string[],
): string[] {
  return Object.keys(template)
    .filter((field) => !known.includes(field.endsWith('.$') ? field.slice(0, -2) : field))
    .map((field) => `${name}: Distributed Map ${where}.${field} is not supported locally`);
}

/**
 * Replaces every distributed Map of `definition` (which it changes: pass a clone), in Parallel branches
 * and inline Maps too, by a Task state with {@link LOCAL_MAP_RUN_RESOURCE} that keeps the fields which
 * make the surrounding execution behave as on AWS. A distributed Map's own ItemProcessor is left as the
 * children's definition (its nested distributed Maps are replaced when a child runs).
 */
export function extractDistributedMaps(definition: unknown): DistributedMapSite[] {
  const sites: DistributedMapSite[] = [];
  const visit = (scope: unknown): void => {
    if (!isRecord(scope) || !isRecord(scope.States)) return;
    for (const [stateName, state] of Object.entries(scope.States)) {
      if (!isRecord(state)) continue;
      if (isDistributedMap(state)) {
        sites.push(siteOf(stateName, state));
        scope.States[stateName] = standInTask(state);
        continue;
      }
      if (state.Type === 'Map') visit(state.ItemProcessor ?? state.Iterator);
      if (state.Type === 'Parallel' && Array.isArray(state.Branches)) {
        for (const branch of state.Branches) visit(branch);
      }
    }
  };
  visit(definition);
  return sites;
}

function siteOf(stateName: string, state: Record<string, unknown>): DistributedMapSite {
  const itemProcessor = state.ItemProcessor as Record<string, unknown>;
  const { ProcessorConfig: config, ...processor } = itemProcessor;
  const executionType = isRecord(config) && config.ExecutionType === 'EXPRESS' ? 'EXPRESS' : 'STANDARD';
  const writer = isRecord(state.ResultWriter) ? state.ResultWriter : undefined;
  return {
    stateName,
    state: structuredClone(state),
    processor: structuredClone(processor),
    executionType,
    label: typeof state.Label === 'string' && state.Label !== '' ? state.Label : stateName,
    usesS3: state.ItemReader !== undefined || writer?.Resource !== undefined,
  };
}

/**
 * The Task that stands in for a distributed Map. `States.TaskFailed` is a wildcard for Task states only,
 * so in the Map's Retry/Catch it is renamed to a name no error has: it must not match what the map run
 * raises (aws-local-stepfunctions would match it on any error of a Task).
 */
function standInTask(state: Record<string, unknown>): Record<string, unknown> {
  const task: Record<string, unknown> = { Type: 'Task', Resource: LOCAL_MAP_RUN_RESOURCE };
  for (const field of ['Comment', 'InputPath', 'ResultSelector', 'ResultPath', 'OutputPath', 'Next', 'End']) {
    if (state[field] !== undefined) task[field] = structuredClone(state[field]);
  }
  for (const field of ['Retry', 'Catch'] as const) {
    const rules = state[field];
    if (!Array.isArray(rules)) continue;
    task[field] = rules.map((rule: unknown) =>
      isRecord(rule) && Array.isArray(rule.ErrorEquals)
        ? {
            ...rule,
            ErrorEquals: rule.ErrorEquals.map((e: unknown) =>
              e === 'States.TaskFailed' ? 'States.TaskFailed (raised by Task states only)' : e,
            ),
          }
        : rule,
    );
  }
  return task;
}

/** The local handler of a distributed Map's stand-in Task: runs one map run per call. */
export function mapRunHandler(
  site: DistributedMapSite,
  environment: MapRunEnvironment,
): (input: unknown) => Promise<unknown> {
  return (input) => new MapRun(site, environment, input).run();
}

interface ChildPlan {
  readonly input: unknown;
  /** How many items the child processes (1 without an ItemBatcher). */
  readonly items: number;
}

interface Tolerance {
  readonly count: number | undefined;
  readonly percentage: number | undefined;
}

class MapRun {
  readonly #site: DistributedMapSite;
  readonly #env: MapRunEnvironment;
  readonly #input: unknown;
  readonly #context: Record<string, unknown>;
  readonly #id = randomUUID();
  readonly #arn: string;
  readonly #childStateMachineArn: string;

  constructor(site: DistributedMapSite, env: MapRunEnvironment, input: unknown) {
    this.#site = site;
    this.#env = env;
    this.#input = input;
    this.#context = {
      LocalExecution: env.execution,
      StateMachine: {
        Id: env.stateMachineArn,
        Name: env.stateMachineArn.slice(env.stateMachineArn.lastIndexOf(':') + 1),
      },
      State: { Name: site.stateName, EnteredTime: new Date().toISOString() },
    };
    this.#arn = `${env.stateMachineArn.replace(':stateMachine:', ':mapRun:')}/${site.label}:${this.#id}`;
    this.#childStateMachineArn = `${env.stateMachineArn}/${site.label}`;
  }

  async run(): Promise<unknown> {
    const items = await this.#readItems();
    const plans = await this.#batch(await this.#select(items));
    const tolerance = await this.#tolerance();
    const concurrency = await this.#concurrency();

    this.#emit('MapRunStarted');
    const results = await this.#runChildren(plans, concurrency);
    const failedItems = results.reduce(
      (sum, result, i) => (result.status === 'SUCCEEDED' ? sum : sum + (plans[i]?.items ?? 0)),
      0,
    );
    const exceeded = exceedsTolerance(failedItems, items.length, tolerance);
    let output: unknown;
    try {
      // Results are written even when the map run fails, for whoever inspects it.
      output = await this.#output(results);
    } catch (error) {
      if (!exceeded) {
        this.#emit('MapRunFailed', error);
        throw error;
      }
    }
    if (exceeded) {
      const failure = new MapRunError(
        'States.ExceedToleratedFailureThreshold',
        'The specified tolerated failure threshold was exceeded',
      );
      this.#emit('MapRunFailed', failure);
      throw failure;
    }
    this.#emit('MapRunSucceeded');
    return output;
  }

  async #readItems(): Promise<unknown[]> {
    const reader = this.#site.state.ItemReader;
    if (!isRecord(reader)) {
      const path = typeof this.#site.state.ItemsPath === 'string' ? this.#site.state.ItemsPath : '$';
      const items = await this.#path(path, 'ItemsPath');
      if (!Array.isArray(items)) {
        throw new MapRunError(
          'States.Runtime',
          `${this.#site.stateName}: ItemsPath ${path} does not point to an array`,
        );
      }
      return items;
    }
    const config = reader.ReaderConfig as Record<string, unknown>;
    const parameters = (await this.#evaluate(reader.Parameters, 'ItemReader.Parameters')) as Record<
      string,
      unknown
    >;
    const bucket = parameters.Bucket;
    const key = parameters.Key;
    if (typeof bucket !== 'string' || typeof key !== 'string') {
      throw new MapRunError(
        'States.Runtime',
        `${this.#site.stateName}: ItemReader.Parameters must give a string Bucket and Key, got ${JSON.stringify(parameters)}`,
      );
    }
    const body = await this.#getObject(bucket, key);
    let items: unknown[];
    try {
      items = parseItems(body, config);
    } catch (error) {
      throw new MapRunError(
        'States.ItemReaderFailed',
        `${this.#site.stateName}: s3://${bucket}/${key} is not valid ${String(config.InputType)}: ${(error as Error).message}`,
      );
    }
    const maxItems = await this.#number(config.MaxItems, config.MaxItemsPath, 'ReaderConfig.MaxItems', {
      integer: true,
    });
    return maxItems !== undefined && maxItems > 0 ? items.slice(0, maxItems) : items;
  }

  async #getObject(bucket: string, key: string): Promise<string> {
    const s3 = this.#s3();
    try {
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return (await object.Body?.transformToString('utf8')) ?? '';
    } catch (error) {
      throw new MapRunError(
        'States.ItemReaderFailed',
        `${this.#site.stateName}: reading s3://${bucket}/${key} failed: ${(error as Error).name}: ${(error as Error).message}`,
      );
    }
  }

  #s3(): S3Client {
    if (!this.#env.s3) {
      throw new MapRunError('States.Runtime', `${this.#site.stateName}: the map run needs an S3 client`);
    }
    return this.#env.s3;
  }

  /**
   * ItemSelector (or the older Parameters) applied to every item, with `$$.Map.Item.Index`/`Value`: an
   * inline Map of aws-local-stepfunctions over the items does it in one run, reading the state input once.
   */
  async #select(items: readonly unknown[]): Promise<unknown[]> {
    const selector = this.#site.state.ItemSelector ?? this.#site.state.Parameters;
    if (selector === undefined) return [...items];
    const selected = await this.#run(
      {
        Type: 'Map',
        ItemsPath: '$$.LocalItems',
        ItemSelector: withExecutionPaths(selector),
        ItemProcessor: { StartAt: 'Keep', States: { Keep: { Type: 'Pass', End: true } } },
        End: true,
      },
      'ItemSelector',
      { LocalItems: items },
    );
    return selected as unknown[];
  }

  async #batch(selected: readonly unknown[]): Promise<ChildPlan[]> {
    const batcher = this.#site.state.ItemBatcher;
    if (!isRecord(batcher)) return selected.map((input) => ({ input, items: 1 }));
    const maxItems = await this.#number(
      batcher.MaxItemsPerBatch,
      batcher.MaxItemsPerBatchPath,
      'MaxItemsPerBatch',
      {
        integer: true,
        positive: true,
      },
    );
    const maxBytes = await this.#number(
      batcher.MaxInputBytesPerBatch,
      batcher.MaxInputBytesPerBatchPath,
      'MaxInputBytesPerBatch',
      { integer: true, positive: true },
    );
    const batchInput =
      batcher.BatchInput === undefined ? undefined : await this.#evaluate(batcher.BatchInput, 'BatchInput');
    const childInput = (items: readonly unknown[]) =>
      batchInput === undefined ? { Items: items } : { Items: items, BatchInput: batchInput };
    const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

    const plans: ChildPlan[] = [];
    let batch: unknown[] = [];
    for (const [index, item] of selected.entries()) {
      const full = maxItems !== undefined && batch.length >= maxItems;
      const tooBig =
        maxBytes !== undefined && batch.length > 0 && bytes(childInput([...batch, item])) > maxBytes;
      if (full || tooBig) {
        plans.push({ input: childInput(batch), items: batch.length });
        batch = [];
      }
      if (maxBytes !== undefined && batch.length === 0 && bytes(childInput([item])) > maxBytes) {
        throw new MapRunError(
          'States.Runtime',
          `${this.#site.stateName}: item ${index} alone makes a batch of ${bytes(childInput([item]))} bytes, over MaxInputBytesPerBatch ${maxBytes}`,
        );
      }
      batch.push(item);
    }
    if (batch.length > 0) plans.push({ input: childInput(batch), items: batch.length });
    return plans;
  }

  async #tolerance(): Promise<Tolerance> {
    const state = this.#site.state;
    const count = await this.#number(
      state.ToleratedFailureCount,
      state.ToleratedFailureCountPath,
      'ToleratedFailureCount',
      {
        integer: true,
      },
    );
    const percentage = await this.#number(
      state.ToleratedFailurePercentage,
      state.ToleratedFailurePercentagePath,
      'ToleratedFailurePercentage',
      {},
    );
    if (percentage !== undefined && percentage > 100) {
      throw new MapRunError(
        'States.Runtime',
        `${this.#site.stateName}: ToleratedFailurePercentage ${percentage} is over 100`,
      );
    }
    return { count, percentage };
  }

  async #concurrency(): Promise<number> {
    const state = this.#site.state;
    const max = await this.#number(state.MaxConcurrency, state.MaxConcurrencyPath, 'MaxConcurrency', {
      integer: true,
    });
    return max === undefined || max === 0 ? LOCAL_MAX_CONCURRENCY : Math.min(max, LOCAL_MAX_CONCURRENCY);
  }

  async #runChildren(plans: readonly ChildPlan[], concurrency: number): Promise<ExecutionResult[]> {
    const results: ExecutionResult[] = new Array(plans.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < plans.length) {
        const index = next++;
        const plan = plans[index] as ChildPlan;
        const name = randomUUID();
        const executionArn =
          this.#site.executionType === 'EXPRESS'
            ? `${this.#childStateMachineArn.replace(':stateMachine:', ':express:')}:${this.#id}:${name}`
            : `${this.#childStateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
        results[index] = await this.#env.runChild({
          definition: this.#site.processor,
          stateMachineArn: this.#childStateMachineArn,
          executionArn,
          name,
          input: plan.input,
          index,
          mapRunArn: this.#arn,
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, plans.length) }, worker));
    return results;
  }

  async #output(results: readonly ExecutionResult[]): Promise<unknown> {
    const writer = this.#site.state.ResultWriter;
    if (!isRecord(writer))
      return results.map((r) => (r.status === 'SUCCEEDED' ? (r.output ?? null) : this.#entry(r)));
    const config = isRecord(writer.WriterConfig) ? writer.WriterConfig : {};
    const transformation = typeof config.Transformation === 'string' ? config.Transformation : 'NONE';
    const succeeded = transform(
      results.filter((r) => r.status === 'SUCCEEDED'),
      transformation,
      (r) => this.#entry(r),
    );
    const failed = results.filter((r) => r.status !== 'SUCCEEDED').map((r) => this.#entry(r));
    const parameters = (await this.#evaluate(writer.Parameters, 'ResultWriter.Parameters')) as Record<
      string,
      unknown
    >;
    const bucket = parameters.Bucket;
    const prefix = parameters.Prefix ?? '';
    if (typeof bucket !== 'string' || typeof prefix !== 'string') {
      throw new MapRunError(
        'States.Runtime',
        `${this.#site.stateName}: ResultWriter.Parameters must give a string Bucket (and Prefix), got ${JSON.stringify(parameters)}`,
      );
    }
    const base = prefix === '' ? `${this.#id}/` : `${prefix.replace(/\/$/, '')}/${this.#id}/`;
    const jsonl = config.OutputType === 'JSONL';
    const files: Record<'FAILED' | 'PENDING' | 'SUCCEEDED', { Key: string; Size: number }[]> = {
      FAILED: [],
      PENDING: [],
      SUCCEEDED: [],
    };
    for (const [status, entries] of [
      ['SUCCEEDED', succeeded],
      ['FAILED', failed],
    ] as const) {
      if (entries.length === 0) continue;
      const body = jsonl ? entries.map((e) => `${JSON.stringify(e)}\n`).join('') : JSON.stringify(entries);
      const key = `${base}${status}_0.json`;
      await this.#putObject(bucket, key, body);
      files[status].push({ Key: key, Size: Buffer.byteLength(body, 'utf8') });
    }
    const manifestKey = `${base}manifest.json`;
    await this.#putObject(
      bucket,
      manifestKey,
      JSON.stringify({ DestinationBucket: bucket, MapRunArn: this.#arn, ResultFiles: files }),
    );
    return { MapRunArn: this.#arn, ResultWriterDetails: { Bucket: bucket, Key: manifestKey } };
  }

  async #putObject(bucket: string, key: string, body: string): Promise<void> {
    const s3 = this.#s3();
    try {
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }),
      );
    } catch (error) {
      throw new MapRunError(
        'States.ResultWriterFailed',
        `${this.#site.stateName}: writing s3://${bucket}/${key} failed: ${(error as Error).name}: ${(error as Error).message}`,
      );
    }
  }

  /** One child execution as a ResultWriter file lists it (Transformation NONE). */
  #entry(result: ExecutionResult): Record<string, unknown> {
    const succeeded = result.status === 'SUCCEEDED';
    return {
      ExecutionArn: result.executionArn,
      Input: JSON.stringify(result.input),
      InputDetails: { Included: true },
      Name: result.name,
      ...(succeeded
        ? { Output: JSON.stringify(result.output ?? null), OutputDetails: { Included: true } }
        : {
            ...(result.error !== undefined ? { Error: result.error } : {}),
            ...(result.cause !== undefined ? { Cause: result.cause } : {}),
          }),
      RedriveCount: 0,
      RedriveStatus: succeeded
        ? 'NOT_REDRIVABLE'
        : this.#site.executionType === 'EXPRESS'
          ? 'REDRIVABLE_BY_MAP_RUN'
          : 'REDRIVABLE',
      ...(succeeded ? { RedriveStatusReason: 'Execution is SUCCEEDED and cannot be redriven' } : {}),
      StartDate: result.startedAt.toISOString(),
      StateMachineArn: this.#childStateMachineArn,
      Status: result.status,
      StopDate: result.stoppedAt.toISOString(),
    };
  }

  /** A number field given directly or as a reference path; undefined when neither is set. */
  async #number(
    value: unknown,
    path: unknown,
    field: string,
    rules: { readonly integer?: boolean; readonly positive?: boolean },
  ): Promise<number | undefined> {
    const resolved = typeof path === 'string' ? await this.#path(path, `${field}Path`) : value;
    if (resolved === undefined) return undefined;
    if (
      typeof resolved !== 'number' ||
      !Number.isFinite(resolved) ||
      resolved < 0 ||
      (rules.integer && !Number.isInteger(resolved)) ||
      (rules.positive && resolved === 0)
    ) {
      throw new MapRunError(
        'States.Runtime',
        `${this.#site.stateName}: ${field} must be a ${rules.positive ? 'positive' : 'non-negative'} ${rules.integer ? 'integer' : 'number'}, got ${JSON.stringify(resolved)}`,
      );
    }
    return resolved;
  }

  #path(path: string, field: string): Promise<unknown> {
    return this.#evaluate({ 'value.$': path }, field).then((result) => (result as { value?: unknown }).value);
  }

  /**
   * Evaluates a payload template (paths, `$$` context paths, intrinsic functions) on the state input with
   * aws-local-stepfunctions itself, so it means what it means in the rest of the run: a Pass state with the
   * template as Parameters. The library resets `$$.Execution.Input`/`StartTime` to those of the run it
   * starts, so `$$.Execution` paths are read from the parent execution's context under another name.
   */
  #evaluate(template: unknown, field: string): Promise<unknown> {
    return this.#run({ Type: 'Pass', Parameters: withExecutionPaths(template), End: true }, field, {});
  }

  /** Runs one state on the state input, with the map run's context (and `extra` in it). */
  async #run(
    state: Record<string, unknown>,
    field: string,
    extra: Record<string, unknown>,
  ): Promise<unknown> {
    const definition = {
      StartAt: 'Evaluate',
      States: { Evaluate: state },
    } as unknown as StateMachineDefinition;
    const machine = new StateMachine(definition, { validationOptions: { noValidate: true } });
    const context = { ...this.#context, ...extra };
    try {
      return await machine.run(this.#input as Json, { context }).result;
    } catch (thrown) {
      const failure =
        thrown instanceof ExecutionError && thrown.cause instanceof Error ? thrown.cause : thrown;
      const message = failure instanceof Error ? failure.message : String(failure);
      throw new MapRunError('States.Runtime', `${this.#site.stateName}: ${field}: ${message}`);
    }
  }

  #emit(type: string, error?: unknown): void {
    const onTransition = this.#env.onTransition;
    if (!onTransition) return;
    try {
      onTransition({
        executionArn: this.#env.execution.Id,
        type,
        timestamp: Date.now(),
        stateName: this.#site.stateName,
        stateType: 'Map',
        mapRunArn: this.#arn,
        ...(error instanceof Error ? { error: error.name, cause: error.message } : {}),
      });
    } catch (failure) {
      console.error(`onTransition failed for ${type} ${this.#site.stateName}:`, failure);
    }
  }
}

/** Over ToleratedFailureCount or ToleratedFailurePercentage (with neither set, no failure is tolerated). */
function exceedsTolerance(failedItems: number, totalItems: number, tolerance: Tolerance): boolean {
  if (failedItems === 0) return false;
  if (tolerance.count === undefined && tolerance.percentage === undefined) return true;
  if (tolerance.count !== undefined && failedItems > tolerance.count) return true;
  return tolerance.percentage !== undefined && (failedItems * 100) / totalItems > tolerance.percentage;
}

/**
 * WriterConfig.Transformation of child results, in order: NONE gives each execution's entry, COMPACT its
 * output, FLATTEN its output with arrays spread; a failed child always gives its entry.
 */
function transform(
  results: readonly ExecutionResult[],
  transformation: string,
  entry: (result: ExecutionResult) => Record<string, unknown>,
): unknown[] {
  const out: unknown[] = [];
  for (const result of results) {
    if (result.status !== 'SUCCEEDED' || transformation === 'NONE') {
      out.push(entry(result));
    } else if (transformation === 'FLATTEN' && Array.isArray(result.output)) {
      out.push(...result.output);
    } else {
      out.push(result.output ?? null);
    }
  }
  return out;
}

/** `$$.Execution...` paths of a payload template (in `.$` values and intrinsic arguments) renamed. */
function withExecutionPaths(template: unknown): unknown {
  if (Array.isArray(template)) return template.map(withExecutionPaths);
  if (!isRecord(template)) return template;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template)) {
    out[key] =
      key.endsWith('.$') && typeof value === 'string'
        ? value.replace(/\$\$\.Execution(?=$|[.[,)\s])/g, '$$$$.LocalExecution')
        : withExecutionPaths(value);
  }
  return out;
}

/** Items of an S3 object per ReaderConfig.InputType: a JSON array, JSON Lines, or CSV rows as objects. */
function parseItems(body: string, config: Readonly<Record<string, unknown>>): unknown[] {
  if (config.InputType === 'JSON') {
    const parsed: unknown = JSON.parse(body);
    if (!Array.isArray(parsed)) throw new Error('the object is not a JSON array');
    return parsed;
  }
  if (config.InputType === 'JSONL') {
    return body.split(/\r?\n/).flatMap((line, i) => {
      if (line.trim() === '') return [];
      try {
        return [JSON.parse(line) as unknown];
      } catch (error) {
        throw new Error(`line ${i + 1}: ${(error as Error).message}`);
      }
    });
  }
  const rows = parseCsv(body);
  const headers =
    config.CSVHeaderLocation === 'GIVEN'
      ? (config.CSVHeaders as unknown[]).map(String)
      : (rows.shift() ?? []);
  // Every value is a string, as Step Functions passes CSV fields.
  return rows.map((row) => Object.fromEntries(headers.map((header, i) => [header, row[i] ?? ''])));
}

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and line breaks; a trailing newline ends the last row. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else {
      field += c;
    }
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
