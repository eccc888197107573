/**
 * A pipeline's state machine with the house guarantees: STANDARD type, JSONPath, X-Ray tracing, logs in
 * an encrypted log group, a paging alarm on failed/timed-out/aborted executions, and an EventBridge rule
 * that sends every failed execution to the stack's shared failure handler (which emits
 * `llmops.PipelineFailed`).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { DeploymentConfig } from '#infra/config/index.ts';
import type { LlmOpsAlerts } from './alerts.ts';
import { LlmOpsDeadLetterQueue } from './dead-letter-queue.ts';
import { acknowledge } from './nag.ts';

/** Metadata key recorded on the CloudFormation state machine. */
export const PIPELINE_METADATA = 'llmops:pipeline';

/** Lambda errors worth retrying (throttling and service-side faults); never `States.Timeout`. */
export const LAMBDA_TRANSIENT_ERRORS = [
  'Lambda.TooManyRequestsException',
  'Lambda.ServiceException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
] as const;

/** How a step retries the handler's own retryable errors (Lambda service errors are always retried). */
export interface StepRetry {
  /** Error names that are retried: `RETRYABLE_ERROR_NAMES` of the contracts. */
  readonly errors: readonly string[];
  readonly interval: Duration;
  readonly maxAttempts: number;
  readonly backoffRate: number;
  /** Full jitter on the backoff (for errors many executions may hit at once, such as throttling). */
  readonly jitter?: boolean;
}

export interface PipelineStepOptions {
  /**
   * Where the function's answer goes in the state (the rest of the state is kept).
   *
   * @default - the answer replaces the state
   */
  readonly resultPath?: string;
}

/**
 * A pipeline step: the function invoked with the full Lambda response and its `Payload` kept as the
 * state, Lambda service errors retried with jittered backoff, and the handler's own retryable errors
 * retried as `retry` says. `retryOnServiceExceptions` is off so that the two retries are the only ones.
 */
export function pipelineStep(
  scope: Construct,
  stateName: string,
  fn: lambda.IFunction,
  retry: StepRetry,
  payload?: sfn.TaskInput,
  options: PipelineStepOptions = {},
): tasks.LambdaInvoke {
  const task = new tasks.LambdaInvoke(scope, stateName, {
    lambdaFunction: fn,
    payload,
    ...(options.resultPath === undefined
      ? { payloadResponseOnly: false, outputPath: '$.Payload' }
      : // The function's answer is added to the state at resultPath (the function ARN as Resource).
        { payloadResponseOnly: true, resultPath: options.resultPath }),
    retryOnServiceExceptions: false,
  });
  task.addRetry({
    errors: [...LAMBDA_TRANSIENT_ERRORS],
    interval: Duration.seconds(2),
    maxAttempts: 6,
    backoffRate: 2,
    jitterStrategy: sfn.JitterType.FULL,
  });
  task.addRetry({
    errors: [...retry.errors],
    interval: retry.interval,
    maxAttempts: retry.maxAttempts,
    backoffRate: retry.backoffRate,
    ...(retry.jitter ? { jitterStrategy: sfn.JitterType.FULL } : {}),
  });
  return task;
}

/** Execution statuses that count as a pipeline failure. */
export const FAILED_STATUSES = ['FAILED', 'TIMED_OUT', 'ABORTED'] as const;

export interface PipelineStateMachineProps {
  /** Pipeline name (PascalCase, e.g. `DataPrep`); recorded as `llmops:pipeline` metadata. */
  readonly pipelineName: string;
  /** The definition (JSONPath states). */
  readonly definition: sfn.IChainable;
  /** Execution timeout. */
  readonly timeout: Duration;
  /** Pages on failed executions. */
  readonly alerts: LlmOpsAlerts;
  /** The stack's shared failure handler, invoked for every failed/timed-out/aborted execution. */
  readonly failureHandler: lambda.IFunction;
  /** The deployment (log level, retention, removal). */
  readonly config: DeploymentConfig;
  /** Encrypts the execution log group and the failure rule's dead-letter queue. */
  readonly encryptionKey: kms.IKey;
  /**
   * Description shown in the console.
   *
   * @default - none
   */
  readonly comment?: string;
}

const PIPELINE_NAME = /^[A-Z][A-Za-z0-9]{0,63}$/;

/** A STANDARD state machine with logging, tracing, a failure alarm and a failure rule. */
export class PipelineStateMachine extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;
  /** ALARM on at least one failed, timed-out or aborted execution in 5 minutes. */
  public readonly failureAlarm: cloudwatch.Alarm;
  /** Default-bus rule sending failed executions to the failure handler. */
  public readonly failureRule: events.Rule;
  /** Dead-letter queue of the failure rule's target. */
  public readonly failureRuleDeadLetterQueue: LlmOpsDeadLetterQueue;

  /**
   * Acknowledges, on the state machine's role, the `<function ARN>:*` resource each `tasks.LambdaInvoke`
   * grants: it covers the versions and aliases of that one function.
   */
  public acknowledgeInvokedFunctions(functions: readonly lambda.IFunction[]): void {
    const rolePolicy = this.stateMachine.role.node.tryFindChild('DefaultPolicy');
    if (!rolePolicy) return;
    for (const fn of functions) {
      const logicalId = Stack.of(this).getLogicalId(fn.node.defaultChild as lambda.CfnFunction);
      acknowledge(
        rolePolicy,
        `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>:*]`,
        'tasks.LambdaInvoke grants lambda:InvokeFunction on the function and its versions/aliases (ARN:*) of this one function.',
      );
    }
  }

  constructor(scope: Construct, id: string, props: PipelineStateMachineProps) {
    super(scope, id);
    const { config, pipelineName } = props;
    if (!PIPELINE_NAME.test(pipelineName)) {
      throw new Error(
        `PipelineStateMachine ${id}: pipelineName must be PascalCase (A-Z first), got "${pipelineName}"`,
      );
    }
    const timeout = props.timeout;
    if (!timeout.isUnresolved() && (timeout.toSeconds() < 1 || timeout.toSeconds() > 365 * 24 * 3600)) {
      throw new Error(
        `PipelineStateMachine ${id}: timeout must be 1 second to 1 year, got ${timeout.toHumanString()}`,
      );
    }

    // The /aws/vendedlogs/ prefix keeps Step Functions log delivery from growing the account-wide
    // CloudWatch Logs resource policy.
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/vendedlogs/states/${config.stackName}-${pipelineName}`,
      retention: config.logRetention,
      removalPolicy: config.removal.logs,
      encryptionKey: props.encryptionKey,
    });

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(props.definition),
      stateMachineType: sfn.StateMachineType.STANDARD,
      // No queryLanguage: the ASL default, JSONPath (the local runner ignores JSONata).
      timeout,
      comment: props.comment,
      tracingEnabled: true,
      logs: {
        destination: this.logGroup,
        level: config.observability.stateMachineLogLevel === 'ALL' ? sfn.LogLevel.ALL : sfn.LogLevel.ERROR,
        includeExecutionData: config.observability.stateMachineIncludeExecutionData,
      },
    });
    (this.stateMachine.node.defaultChild as sfn.CfnStateMachine).addMetadata(PIPELINE_METADATA, pipelineName);
    const rolePolicy = this.stateMachine.role.node.tryFindChild('DefaultPolicy');
    if (rolePolicy) {
      acknowledge(
        rolePolicy,
        'AwsSolutions-IAM5[Resource::*]',
        'Only X-Ray (PutTraceSegments, GetSamplingRules...) and CloudWatch Logs delivery actions use "*": neither supports resource-level permissions.',
      );
    }
    if (config.observability.stateMachineLogLevel !== 'ALL') {
      acknowledge(
        this.stateMachine,
        'AwsSolutions-SF1',
        'Profile logs ERROR events only, without execution data (user data stays out of logs); X-Ray traces every execution.',
      );
    }

    const period = Duration.minutes(5);
    const failures = new cloudwatch.MathExpression({
      expression: 'failed + timedOut + aborted',
      label: `${pipelineName} failed + timed out + aborted executions`,
      period,
      usingMetrics: {
        failed: this.stateMachine.metricFailed({ period, statistic: cloudwatch.Stats.SUM }),
        timedOut: this.stateMachine.metricTimedOut({ period, statistic: cloudwatch.Stats.SUM }),
        aborted: this.stateMachine.metricAborted({ period, statistic: cloudwatch.Stats.SUM }),
      },
    });
    this.failureAlarm = new cloudwatch.Alarm(this, 'ExecutionsFailed', {
      alarmDescription: `${pipelineName} executions failed, timed out or were aborted. See the execution history and the llmops.PipelineFailed event.`,
      metric: failures,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    props.alerts.page(this.failureAlarm);

    this.failureRuleDeadLetterQueue = new LlmOpsDeadLetterQueue(this, 'FailureRuleDeadLetterQueue', {
      alerts: props.alerts,
      description: `the ${pipelineName} failure rule (failed executions not delivered to the failure handler)`,
      encryptionKey: props.encryptionKey,
      allowEventBridge: true,
    });
    this.failureRule = new events.Rule(this, 'ExecutionFailedRule', {
      description: `${pipelineName}: failed, timed-out or aborted executions → failure handler`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          status: [...FAILED_STATUSES],
          stateMachineArn: [this.stateMachine.stateMachineArn],
        },
      },
      targets: [new targets.LambdaFunction(props.failureHandler, this.failureRuleDeadLetterQueue.delivery)],
    });
  }
}
