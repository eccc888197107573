/**
 * SQS queues and EventBridge Pipes, locally, from the synthesized template. Every `AWS::SQS::Queue` is an
 * in-memory queue that rule targets send to; every `AWS::Pipes::Pipe` whose source is one of them and whose
 * target is a state machine drains it as the SQS poller of a pipe does:
 *
 * - it waits for messages; the first one opens a batching window of MaximumBatchingWindowInSeconds
 *   (scaled by `windowScale` for local runs); a batch starts as soon as BatchSize messages are waiting,
 *   or when the window closes with what is there (several batches when more than BatchSize are);
 * - each batch becomes the JSON array of SQS records Pipes passes its target (messageId, receiptHandle,
 *   body, attributes, messageAttributes, md5OfBody, eventSource, eventSourceARN, awsRegion), in arrival
 *   order, and starts one execution (FIRE_AND_FORGET: the pipe does not wait for it to end);
 * - a batch whose execution cannot start (the pipe's role may not `states:StartExecution` the target, or
 *   read the queue, or decrypt it) goes back to the queue and is received again after the queue's
 *   visibility timeout (scaled like the window); a message received `maxReceiveCount` times moves to the
 *   queue's dead-letter queue (RedrivePolicy), whose depth the runner reports as the SQS metric its alarm
 *   reads.
 *
 * Work in progress (an open window, a batch being started, a message waiting to be received again) is
 * handed to `track`, so that the runner's `idle()` waits for it. Pipes with another source or target, an
 * enrichment, a filter or an input template are refused by name rather than run differently.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { getDenialReasons, runSimulation } from '@cloud-copilot/iam-simulate';
import { TemplatePolicies } from './iam/policies.ts';
import { isRecord } from './template/cfn.ts';
import type { LocalRule, LocalRuleTarget, LocalTemplate } from './template.ts';

/** A queue of the template. */
export interface LocalQueueSpec {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly url: string;
  /** Seconds a received message stays invisible (SQS's default 30). */
  readonly visibilityTimeoutSeconds: number;
  /** The key the queue is encrypted with, when it is a KMS key (a consumer needs `kms:Decrypt`). */
  readonly kmsKeyArn: string | undefined;
  /** RedrivePolicy: where messages received `maxReceiveCount` times go. */
  readonly redrive: { readonly deadLetterArn: string; readonly maxReceiveCount: number } | undefined;
}

/** A pipe of the template, as the local run drains it. */
export interface LocalPipe {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly roleArn: string;
  readonly source: LocalQueueSpec;
  readonly targetArn: string;
  readonly targetLogicalId: string;
  /** The SQS source's BatchSize (Pipes' default 10). */
  readonly batchSize: number;
  /** The SQS source's MaximumBatchingWindowInSeconds (default 0). */
  readonly windowSeconds: number;
  /** `RUNNING` (drains its queue) or `STOPPED`. */
  readonly desiredState: 'RUNNING' | 'STOPPED';
  /** The pipe as the rule-like source of its executions (the runner starts them as a rule's). */
  readonly rule: LocalRule;
  readonly target: LocalRuleTarget;
}

/** An SQS record, as a pipe with an SQS source passes it to its target. */
export interface SqsRecord {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly attributes: {
    readonly ApproximateReceiveCount: string;
    readonly SentTimestamp: string;
    readonly SenderId: string;
    readonly ApproximateFirstReceiveTimestamp: string;
  };
  readonly messageAttributes: Record<string, never>;
  readonly md5OfBody: string;
  readonly eventSource: 'aws:sqs';
  readonly eventSourceARN: string;
  readonly awsRegion: string;
}

/** A batch a pipe started (or failed to start). */
export interface PipeBatch {
  readonly pipe: string;
  readonly messageIds: readonly string[];
  readonly ok: boolean;
  readonly error?: string;
}

/** A template pipe or queue the local run cannot emulate faithfully. */
export class LocalPipesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalPipesError';
  }
}

export interface LocalPipesOptions {
  readonly region: string;
  /**
   * Multiplies every batching window and visibility timeout: 1 waits as long as AWS would.
   * @default {@link DEFAULT_WINDOW_SCALE}
   */
  readonly windowScale?: number;
  /** Starts the pipe's target with a batch; resolves once it started (not when it ends). */
  readonly startExecution: (pipe: LocalPipe, records: readonly SqsRecord[]) => void | Promise<void>;
  /** Receives every piece of work in progress, so that the caller can wait for all of it. */
  readonly track: (work: Promise<unknown>) => void;
  /**
   * Says why the pipe's role may not make a call it makes (undefined when it may). Without it, every
   * call is allowed.
   */
  readonly authorize?: (
    pipe: LocalPipe,
    action: string,
    resource: string,
    context?: Readonly<Record<string, string>>,
  ) => Promise<string | undefined>;
  readonly onProgress?: (message: string) => void;
  /** Called with a queue's visible messages whenever they change (SQS's ApproximateNumberOfMessagesVisible). */
  readonly onQueueDepth?: (queue: LocalQueueSpec, visible: number) => void;
}

/**
 * The local windows by default: a 10 s window waits 1 s. Everything runs in one process locally, so a
 * burst of uploads arrives more slowly than on AWS (the executions it started compete with it); a tenth
 * of the window still gathers full batches of such a burst, and a lone upload waits a second.
 */
export const DEFAULT_WINDOW_SCALE = 0.1;

/** Pipes' default BatchSize for an SQS source. */
const DEFAULT_BATCH_SIZE = 10;
/** SQS's default visibility timeout. */
const DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30;
/** Stands for the id of EventBridge's sender in the local records. */
const EVENTBRIDGE_SENDER_ID = 'AIDAEVENTBRIDGELOCAL';

interface Message {
  readonly messageId: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly sentAt: number;
  receiveCount: number;
  firstReceivedAt: number | undefined;
}

interface QueueState {
  readonly spec: LocalQueueSpec;
  readonly visible: Message[];
}

interface Window {
  readonly timer: NodeJS.Timeout;
  readonly done: () => void;
}

/** The template's queues (in memory) and the pipes that drain them. */
export class LocalPipes {
  readonly pipes: readonly LocalPipe[];
  /** Every batch the pipes started or failed to start, oldest first. */
  readonly batches: PipeBatch[] = [];
  readonly #queues = new Map<string, QueueState>();
  readonly #windows = new Map<string, Window>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #options: LocalPipesOptions;
  readonly #scale: number;

  constructor(template: LocalTemplate, options: LocalPipesOptions) {
    this.#options = options;
    this.#scale = options.windowScale ?? DEFAULT_WINDOW_SCALE;
    if (!Number.isFinite(this.#scale) || this.#scale < 0) {
      throw new LocalPipesError(`windowScale must be a number of at least 0, got ${this.#scale}`);
    }
    for (const spec of readQueues(template)) this.#queues.set(spec.arn, { spec, visible: [] });
    this.pipes = readPipes(
      template,
      [...this.#queues.values()].map((q) => q.spec),
    );
  }

  /** The queue of the template with this ARN, URL or name. */
  queue(ref: string): LocalQueueSpec | undefined {
    return this.#state(ref)?.spec;
  }

  /** The messages waiting in a queue (sent, not yet taken into a batch), oldest first. */
  messages(ref: string): readonly { messageId: string; body: string; receiveCount: number }[] {
    return (this.#state(ref)?.visible ?? []).map(({ messageId, body, receiveCount }) => ({
      messageId,
      body,
      receiveCount,
    }));
  }

  /** Sends a message to a queue (what EventBridge does for a rule target that is a queue): its id. */
  sendMessage(queueRef: string, body: string): string {
    const queue = this.#state(queueRef);
    if (!queue) throw new LocalPipesError(`No queue ${queueRef} in the template`);
    const message: Message = {
      messageId: randomUUID(),
      body,
      md5OfBody: createHash('md5').update(body, 'utf8').digest('hex'),
      sentAt: Date.now(),
      receiveCount: 0,
      firstReceivedAt: undefined,
    };
    this.#enqueue(queue, message);
    return message.messageId;
  }

  /** Cancels open windows and pending receives (their messages stay where they are). */
  stop(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const window of this.#windows.values()) {
      clearTimeout(window.timer);
      window.done();
    }
    this.#windows.clear();
  }

  #state(ref: string): QueueState | undefined {
    const direct = this.#queues.get(ref);
    if (direct) return direct;
    for (const state of this.#queues.values()) {
      if (state.spec.url === ref || state.spec.name === ref) return state;
    }
    return undefined;
  }

  #enqueue(queue: QueueState, message: Message): void {
    queue.visible.push(message);
    this.#options.onQueueDepth?.(queue.spec, queue.visible.length);
    const pipe = this.pipes.find((p) => p.source.arn === queue.spec.arn && p.desiredState === 'RUNNING');
    if (pipe) this.#poll(pipe, queue);
  }

  /** What the pipe's poller does when messages are visible: full batches now, the rest when the window closes. */
  #poll(pipe: LocalPipe, queue: QueueState): void {
    while (queue.visible.length >= pipe.batchSize) this.#receive(pipe, queue, pipe.batchSize);
    if (queue.visible.length === 0) {
      this.#closeWindow(pipe);
      return;
    }
    if (this.#windows.has(pipe.logicalId)) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(
      () => {
        this.#windows.delete(pipe.logicalId);
        while (queue.visible.length > 0) this.#receive(pipe, queue, pipe.batchSize);
        resolve();
      },
      pipe.windowSeconds * 1000 * this.#scale,
    );
    this.#windows.set(pipe.logicalId, { timer, done: resolve });
    this.#options.track(promise);
  }

  #closeWindow(pipe: LocalPipe): void {
    const window = this.#windows.get(pipe.logicalId);
    if (!window) return;
    clearTimeout(window.timer);
    this.#windows.delete(pipe.logicalId);
    window.done();
  }

  /** Takes up to `count` messages into a batch and starts the pipe's target with it. */
  #receive(pipe: LocalPipe, queue: QueueState, count: number): void {
    const taken = queue.visible.splice(0, count);
    this.#options.onQueueDepth?.(queue.spec, queue.visible.length);
    const now = Date.now();
    for (const message of taken) {
      message.receiveCount += 1;
      message.firstReceivedAt ??= now;
    }
    this.#options.track(this.#deliver(pipe, queue, taken));
  }

  async #deliver(pipe: LocalPipe, queue: QueueState, messages: Message[]): Promise<void> {
    const records = messages.map((m) => toRecord(m, queue.spec, this.#options.region));
    const messageIds = messages.map((m) => m.messageId);
    try {
      await this.#authorizeBatch(pipe);
      await this.#options.startExecution(pipe, records);
      this.batches.push({ pipe: pipe.logicalId, messageIds, ok: true });
    } catch (error) {
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this.batches.push({ pipe: pipe.logicalId, messageIds, ok: false, error: reason });
      this.#options.onProgress?.(`${pipe.logicalId}: batch of ${messages.length} not started: ${reason}`);
      this.#retryOrDeadLetter(pipe, queue, messages);
    }
  }

  /** What the pipe's role needs for a batch: read and delete the messages, decrypt them, start the target. */
  async #authorizeBatch(pipe: LocalPipe): Promise<void> {
    const authorize = this.#options.authorize;
    if (!authorize) return;
    // SQS decrypts a received message with the queue's key on the caller's behalf.
    const throughSqs = {
      'kms:ViaService': `sqs.${this.#options.region}.amazonaws.com`,
      'kms:EncryptionContext:aws:sqs:arn': pipe.source.arn,
    };
    const calls: [string, string, Record<string, string>?][] = [
      ['sqs:ReceiveMessage', pipe.source.arn],
      ['sqs:DeleteMessage', pipe.source.arn],
      ['sqs:GetQueueAttributes', pipe.source.arn],
      ...(pipe.source.kmsKeyArn
        ? [['kms:Decrypt', pipe.source.kmsKeyArn, throughSqs] as [string, string, Record<string, string>]]
        : []),
      ['states:StartExecution', pipe.targetArn],
    ];
    for (const [action, resource, context] of calls) {
      const denied = await authorize(pipe, action, resource, context);
      if (denied !== undefined) {
        throw new PipeAccessDeniedError(
          `${pipe.roleArn} (pipe ${pipe.logicalId}) is not authorized to perform: ${action} on resource: ${resource} ${denied} (local IAM evaluation)`,
        );
      }
    }
  }

  /** Failed messages are received again after the visibility timeout, or dead-lettered by the redrive policy. */
  #retryOrDeadLetter(pipe: LocalPipe, queue: QueueState, messages: Message[]): void {
    const redrive = queue.spec.redrive;
    const deadLetter = redrive ? this.#queues.get(redrive.deadLetterArn) : undefined;
    const again: Message[] = [];
    for (const message of messages) {
      if (redrive && deadLetter && message.receiveCount >= redrive.maxReceiveCount) {
        this.#options.onProgress?.(
          `${queue.spec.logicalId}: message ${message.messageId} received ${message.receiveCount} times → ${deadLetter.spec.logicalId}`,
        );
        this.#enqueue(deadLetter, { ...message, receiveCount: 0, firstReceivedAt: undefined });
      } else again.push(message);
    }
    if (again.length === 0) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(
      () => {
        this.#timers.delete(timer);
        queue.visible.unshift(...again);
        this.#options.onQueueDepth?.(queue.spec, queue.visible.length);
        this.#poll(pipe, queue);
        resolve();
      },
      queue.spec.visibilityTimeoutSeconds * 1000 * this.#scale,
    );
    this.#timers.add(timer);
    this.#options.track(promise);
  }
}

/** The pipe's role may not make a call (AWS fails the batch, and the pipe's logs say why). */
export class PipeAccessDeniedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccessDeniedException';
  }
}

function toRecord(message: Message, queue: LocalQueueSpec, region: string): SqsRecord {
  return {
    messageId: message.messageId,
    receiptHandle: randomBytes(96).toString('base64'),
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(message.receiveCount),
      SentTimestamp: String(message.sentAt),
      SenderId: EVENTBRIDGE_SENDER_ID,
      ApproximateFirstReceiveTimestamp: String(message.firstReceivedAt ?? message.sentAt),
    },
    messageAttributes: {},
    md5OfBody: message.md5OfBody,
    eventSource: 'aws:sqs',
    eventSourceARN: queue.arn,
    awsRegion: region,
  };
}

/** The template's SQS queues. */
export function readQueues(t: LocalTemplate): LocalQueueSpec[] {
  return t.resourcesOfType('AWS::SQS::Queue').map(({ logicalId, resource }) => {
    const props = (t.resolve(resource.Properties ?? {}) ?? {}) as Record<string, unknown>;
    const visibility = props.VisibilityTimeout === undefined ? undefined : Number(props.VisibilityTimeout);
    const key = typeof props.KmsMasterKeyId === 'string' ? props.KmsMasterKeyId : undefined;
    const keyLogicalId = key === undefined ? undefined : t.logicalIdForArn(key);
    let redrive: LocalQueueSpec['redrive'];
    const policy =
      typeof props.RedrivePolicy === 'string' ? JSON.parse(props.RedrivePolicy) : props.RedrivePolicy;
    if (isRecord(policy) && typeof policy.deadLetterTargetArn === 'string') {
      redrive = {
        deadLetterArn: policy.deadLetterTargetArn,
        maxReceiveCount: Number(policy.maxReceiveCount),
      };
    }
    return {
      logicalId,
      name: t.getAtt(logicalId, 'QueueName'),
      arn: t.getAtt(logicalId, 'Arn'),
      url: t.ref(logicalId),
      visibilityTimeoutSeconds: visibility ?? DEFAULT_VISIBILITY_TIMEOUT_SECONDS,
      // `alias/aws/sqs` (the AWS managed key) needs no grant of the consumer; a key of the template does.
      kmsKeyArn: keyLogicalId === undefined ? undefined : t.getAtt(keyLogicalId, 'Arn'),
      redrive,
    };
  });
}

/**
 * The template's pipes, checked: an SQS queue of the template as the source, a state machine of the
 * template as the target, started FIRE_AND_FORGET; no enrichment, filter or input template.
 * @throws LocalPipesError naming the pipe and what the local run does not emulate
 */
export function readPipes(t: LocalTemplate, queues: readonly LocalQueueSpec[]): LocalPipe[] {
  return t.resourcesOfType('AWS::Pipes::Pipe').map(({ logicalId, resource }) => {
    const props = (t.resolve(resource.Properties ?? {}) ?? {}) as Record<string, unknown>;
    const refuse = (what: string) =>
      new LocalPipesError(`Pipe ${logicalId}: ${what} is not emulated locally`);
    const source = queues.find((q) => q.arn === props.Source);
    if (!source) throw refuse(`a source other than an SQS queue of the template (${String(props.Source)})`);
    const targetArn = String(props.Target ?? '');
    const targetLogicalId = t.logicalIdForArn(targetArn);
    if (
      targetLogicalId === undefined ||
      t.resource(targetLogicalId).Type !== 'AWS::StepFunctions::StateMachine'
    ) {
      throw refuse(`a target other than a state machine of the template (${targetArn})`);
    }
    for (const unsupported of ['Enrichment', 'EnrichmentParameters'] as const) {
      if (props[unsupported] !== undefined) throw refuse(unsupported);
    }
    const sourceParameters = (props.SourceParameters ?? {}) as Record<string, unknown>;
    if (sourceParameters.FilterCriteria !== undefined) throw refuse('FilterCriteria');
    const sqsParameters = (sourceParameters.SqsQueueParameters ?? {}) as Record<string, unknown>;
    const targetParameters = (props.TargetParameters ?? {}) as Record<string, unknown>;
    if (targetParameters.InputTemplate !== undefined) throw refuse('an InputTemplate');
    const sfnParameters = (targetParameters.StepFunctionStateMachineParameters ?? {}) as Record<
      string,
      unknown
    >;
    const invocation = sfnParameters.InvocationType ?? 'REQUEST_RESPONSE';
    if (invocation !== 'FIRE_AND_FORGET') {
      throw refuse(
        `InvocationType ${String(invocation)} (a STANDARD state machine takes only FIRE_AND_FORGET)`,
      );
    }
    const batchSize = Number(sqsParameters.BatchSize ?? DEFAULT_BATCH_SIZE);
    const windowSeconds = Number(sqsParameters.MaximumBatchingWindowInSeconds ?? 0);
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
      throw new LocalPipesError(`Pipe ${logicalId}: BatchSize must be 1 to 10000, got ${String(batchSize)}`);
    }
    if (!Number.isInteger(windowSeconds) || windowSeconds < 0 || windowSeconds > 300) {
      throw new LocalPipesError(
        `Pipe ${logicalId}: MaximumBatchingWindowInSeconds must be 0 to 300, got ${String(windowSeconds)}`,
      );
    }
    const name = typeof props.Name === 'string' ? props.Name : logicalId;
    const arn = `arn:${t.partition}:pipes:${t.region}:${t.account}:pipe/${name}`;
    const target: LocalRuleTarget = {
      Id: 'Target',
      Arn: targetArn,
      targetLogicalId,
      targetType: 'AWS::StepFunctions::StateMachine',
    };
    return {
      logicalId,
      name,
      arn,
      roleArn: String(props.RoleArn ?? ''),
      source,
      targetArn,
      targetLogicalId,
      batchSize,
      windowSeconds,
      desiredState: props.DesiredState === 'STOPPED' ? 'STOPPED' : 'RUNNING',
      rule: {
        logicalId,
        name,
        arn,
        busName: 'pipes',
        pattern: undefined,
        scheduleExpression: undefined,
        state: 'ENABLED',
        targets: [target],
      },
      target,
    };
  });
}

/**
 * Evaluates the calls of a pipe's role against its identity policies (inline, `AWS::IAM::Policy`,
 * customer managed policies of the template) and the resource policy of the queue or key, with
 * `@cloud-copilot/iam-simulate`, as the runner evaluates its functions' calls. Decisions are cached.
 */
export function pipeRoleAuthorizer(template: LocalTemplate): NonNullable<LocalPipesOptions['authorize']> {
  const resourcePolicies = new TemplatePolicies(template);
  const decisions = new Map<string, Promise<string | undefined>>();
  return (pipe, action, resource, context = {}) => {
    const key = JSON.stringify([pipe.roleArn, action, resource, context]);
    let decision = decisions.get(key);
    if (!decision) {
      decision = evaluate(template, resourcePolicies, pipe, action, resource, context);
      decisions.set(key, decision);
    }
    return decision;
  };
}

async function evaluate(
  t: LocalTemplate,
  resourcePolicies: TemplatePolicies,
  pipe: LocalPipe,
  action: string,
  resource: string,
  context: Readonly<Record<string, string>>,
): Promise<string | undefined> {
  const roleLogicalId = t.logicalIdForArn(pipe.roleArn);
  if (roleLogicalId === undefined || t.resource(roleLogicalId).Type !== 'AWS::IAM::Role') {
    return `because its role ${pipe.roleArn} is not an AWS::IAM::Role of the template`;
  }
  const roleName = t.ref(roleLogicalId);
  const resourcePolicy = resourcePolicies.resourcePolicyFor(resource);
  const response = await runSimulation(
    {
      request: {
        principal: `arn:${t.partition}:sts::${t.account}:assumed-role/${roleName}/${pipe.name}`,
        action,
        resource: { resource, accountId: resource.split(':')[4] || t.account },
        contextVariables: {
          'aws:PrincipalArn': pipe.roleArn,
          'aws:PrincipalAccount': t.account,
          'aws:PrincipalType': 'AssumedRole',
          'aws:SecureTransport': 'true',
          'aws:RequestedRegion': t.region,
          ...context,
        },
      },
      identityPolicies: rolePolicies(t, roleLogicalId).map((policy, i) => ({ name: `p${i}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(resourcePolicy ? { resourcePolicy: resourcePolicy.document } : {}),
    },
    {},
  );
  if (response.resultType === 'error') {
    return `(the policies could not be evaluated: ${response.errors.message})`;
  }
  if (response.overallResult === 'Allowed') return undefined;
  const analysis =
    response.resultType === 'single' ? response.result.analysis : response.results[0]?.analysis;
  const explicit = (analysis ? getDenialReasons(analysis) : []).some((d) => d.denialType === 'Explicit');
  return explicit ? 'with an explicit deny' : 'because no identity-based policy allows it';
}

/** The identity policy documents of a role of the template. */
function rolePolicies(t: LocalTemplate, roleLogicalId: string): Record<string, unknown>[] {
  const roleName = t.ref(roleLogicalId);
  const role = (t.resolve(t.resource(roleLogicalId).Properties ?? {}) ?? {}) as Record<string, unknown>;
  const documents: Record<string, unknown>[] = [];
  for (const inline of Array.isArray(role.Policies) ? role.Policies : []) {
    if (isRecord(inline) && isRecord(inline.PolicyDocument)) documents.push(inline.PolicyDocument);
  }
  const managed = new Set(Array.isArray(role.ManagedPolicyArns) ? role.ManagedPolicyArns : []);
  for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']) {
    for (const { logicalId, resource } of t.resourcesOfType(type)) {
      const props = (t.resolve(resource.Properties ?? {}) ?? {}) as Record<string, unknown>;
      const roles = Array.isArray(props.Roles) ? props.Roles : [];
      const attached =
        roles.includes(roleName) || (type === 'AWS::IAM::ManagedPolicy' && managed.has(t.ref(logicalId)));
      if (attached && isRecord(props.PolicyDocument)) documents.push(props.PolicyDocument);
    }
  }
  return documents;
}
