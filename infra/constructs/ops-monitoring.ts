/**
 * Operations monitoring: one CloudWatch dashboard per stack, anomaly alarms on each catalog chat model's
 * p99 latency, cost per answer and output tokens per answer, and a daily cost budget alarm per app.
 *
 * Dashboard `<stackName>`, one section per text header: Traffic, Latency, Errors, Guardrail, Evaluation,
 * Pipelines, then the sections later constructs add with {@link OpsMonitoring.addSection} (the drift
 * checks). Widgets never list prompt names: those are not known at synth time.
 *
 * What the metrics allow, and so the design:
 *
 * - Powertools adds its `service` dimension (`POWERTOOLS_SERVICE_NAME`, {@link METRICS_SERVICE}) to every
 *   dimension set, so the gateway's call metrics (`Requests`, `Latency`, `ModelLatency`, `InputTokens`,
 *   `OutputTokens`, `CostUsd`; `ModelThrottles`, `ModelErrors`, `Errors`, `AnswerDeadlineExceeded`) are
 *   series of {service, Model, Prompt, App}, `GuardrailInterventions` of {service, Model, Policy},
 *   `EvaluationMetricValue` of {service, Suite, Target, Metric}, and the edge's `ServerErrors`,
 *   `ClientErrors` and the evaluation run counts of {service} alone. A Metrics Insights `SCHEMA()` must
 *   name exactly the dimensions of a series, `service` included, or it matches nothing.
 * - Sums over prompts and apps: Metrics Insights (`SELECT SUM(...) FROM SCHEMA(...) GROUP BY ...`), so
 *   prompts and apps nobody configured still chart. One query per widget (CloudWatch runs one Metrics
 *   Insights query per request), hence one widget per metric and grouping.
 * - Percentiles cannot be summed over series, and Metrics Insights has none (SUM, AVG, MIN, MAX, COUNT).
 * - A Metrics Insights alarm evaluates only the last three hours of data, so it cannot sum a day; and the
 *   anomaly detection band is documented for a metric or a metric math expression, not for a query.
 * - A plain metric (or metric math over plain metrics) must name every dimension value of its series,
 *   and prompt names are not known at synth time: no alarm on {service, Model, Prompt, App} can cover a
 *   model or an app over its prompts.
 *
 * So the alarms read the series the gateway emits beside its {service, Model, Prompt, App} set (see
 * {@link GATEWAY_ALARM_SERIES}: `Latency`, `CostUsd` and `OutputTokens` by {service, Model}, `CostUsd` by
 * {service, App}):
 *
 * - per chat model of the catalog: p99 `Latency`, cost per answer (Average `CostUsd`: one sample per
 *   answered call, so the average is the sum over the answers divided by their count) and tokens per
 *   answer (Average `OutputTokens`, likewise: answers growing longer, or a model that stops stopping),
 *   each above an `ANOMALY_DETECTION_BAND(m1, band)` for M of N 5-minute periods
 *   (`observability.anomaly`); they page when `observability.anomaly.page` (prod), and show on the
 *   dashboard either way;
 * - per app with `dailyCostBudgetUsd`: Sum `CostUsd` over a 1-day period at or above the budget; pages.
 *
 * Each series is the whole model or app: evaluation answers (app `evaluation`) count in the model's.
 * Missing data (no calls) does not breach. An anomaly model needs about two weeks of data before its band
 * means much; CloudWatch learns it from the alarm's metric, with no separate resource.
 *
 * The Traffic section sums requests, tokens and cost by model, by app and by prompt (Metrics Insights
 * groups by whatever prompt names the series carry); the Guardrail section sums interventions by policy
 * and by model, the dimensions `GuardrailInterventions` carries (not by app: it has no App dimension).
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { AppConfig, DeploymentConfig } from '#infra/config/index.ts';
import { ANOMALY_PERIOD_MINUTES } from '#infra/config/schema.ts';
import type { LlmOpsAlerts } from './alerts.ts';
import { METRICS_SERVICE } from './llmops-function.ts';
import { LLMOPS_METRICS_NAMESPACE } from './model-gateway.ts';

/**
 * The series the alarms read, which the gateway emits beside its {Model, Prompt, App} set for each
 * answered call (Powertools adds `service` to both): metric names by the one dimension besides `service`.
 */
export const GATEWAY_ALARM_SERIES = {
  /** {service, Model}: p99 latency, cost per answer and tokens per answer of each chat model. */
  Model: ['Latency', 'CostUsd', 'OutputTokens'],
  /** {service, App}: each app's cost over a day. */
  App: ['CostUsd'],
} as const satisfies Record<string, readonly string[]>;

/** A state machine charted in the Pipelines section. */
export interface MonitoredStateMachine {
  /** The pipeline's name, as its widget title says it (e.g. `DataPrep`). */
  readonly name: string;
  readonly stateMachine: sfn.IStateMachine;
}

export interface OpsMonitoringProps {
  /** The deployment: the dashboard's name, and `observability.anomaly` for the anomaly alarms. */
  readonly deployment: DeploymentConfig;
  /** The model catalog: each chat model gets anomaly alarms and a line in the latency charts. */
  readonly catalog: AppConfig['models']['catalog'];
  /** The API's apps: each with `dailyCostBudgetUsd` gets a budget alarm. */
  readonly apps: AppConfig['api']['apps'];
  /** Pages on budget alarms, and on anomaly alarms when `observability.anomaly.page`. */
  readonly alerts: LlmOpsAlerts;
  /** The pipelines whose executions the Pipelines section charts, in this order. */
  readonly stateMachines: readonly MonitoredStateMachine[];
  /**
   * Evaluation's regression alarm, charted in the Evaluation section.
   *
   * @default - the section charts the run counts only
   */
  readonly regressionAlarm?: cloudwatch.IAlarm;
}

const FIVE_MINUTES = Duration.minutes(5);
const ONE_HOUR = Duration.hours(1);
const ONE_DAY = Duration.days(1);
/** Daily series (evaluations) are charted over two weeks, whatever the dashboard's range. */
const TWO_WEEKS = '-P14D';
/** The Metrics Insights source of the gateway's call metrics (exactly their dimensions). */
const CALL_SCHEMA = `SCHEMA("${LLMOPS_METRICS_NAMESPACE}", App, Model, Prompt, service)`;

/** A Metrics Insights query; `label: ''` keeps each group's own label (the model, the app). */
function insights(query: string, period: Duration = FIVE_MINUTES): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({ expression: query, label: '', period });
}

/** A metric of the project namespace with exactly `dimensions` (plus `service`). */
function series(
  metricName: string,
  dimensions: Record<string, string>,
  options: { statistic: string; period: Duration; label?: string },
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: LLMOPS_METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: METRICS_SERVICE, ...dimensions },
    ...options,
  });
}

/** A chart of one or more metrics. */
function graph(
  title: string,
  left: cloudwatch.IMetric[],
  options: Partial<cloudwatch.GraphWidgetProps> = {},
): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({ title, left, width: 6, height: 6, ...options });
}

/** The dashboard, the operations anomaly alarms and the daily cost budget alarms. */
export class OpsMonitoring extends Construct {
  /** The stack's dashboard, named after the stack. */
  public readonly dashboard: cloudwatch.Dashboard;
  /** By chat model id: ALARM when the model's p99 latency is above its anomaly band. */
  public readonly latencyAnomalyAlarms: Readonly<Record<string, cloudwatch.Alarm>>;
  /** By chat model id: ALARM when the model's cost per answer is above its anomaly band. */
  public readonly costAnomalyAlarms: Readonly<Record<string, cloudwatch.Alarm>>;
  /** By chat model id: ALARM when the model's output tokens per answer are above their anomaly band. */
  public readonly tokensAnomalyAlarms: Readonly<Record<string, cloudwatch.Alarm>>;
  /** By app name, for the apps with `dailyCostBudgetUsd`: ALARM when a day of its calls costs that much. */
  public readonly costBudgetAlarms: Readonly<Record<string, cloudwatch.Alarm>>;

  constructor(scope: Construct, id: string, props: OpsMonitoringProps) {
    super(scope, id);
    const { deployment, alerts } = props;
    const anomaly = deployment.observability.anomaly;
    const chatModels = props.catalog.filter((m) => m.kind === 'chat');

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: deployment.stackName,
      defaultInterval: ONE_DAY,
    });

    // Anomaly alarms: each chat model's whole traffic, above the band for M of N periods.
    const anomalyPeriod = Duration.minutes(ANOMALY_PERIOD_MINUTES);
    const anomalyAlarm = (
      alarmId: string,
      metric: cloudwatch.Metric,
      description: string,
    ): cloudwatch.Alarm => {
      const alarm = new cloudwatch.Alarm(this, alarmId, {
        alarmDescription: description,
        metric: new cloudwatch.MathExpression({
          expression: `ANOMALY_DETECTION_BAND(m1, ${anomaly.band})`,
          usingMetrics: { m1: metric },
          label: `${metric.label ?? metric.metricName} (expected band)`,
          period: anomalyPeriod,
        }),
        threshold: cloudwatch.Alarm.ANOMALY_DETECTION_NO_THRESHOLD,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
        evaluationPeriods: anomaly.evaluationPeriods,
        datapointsToAlarm: anomaly.datapointsToAlarm,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (anomaly.page) alerts.page(alarm);
      return alarm;
    };
    const window = `${anomaly.datapointsToAlarm} of ${anomaly.evaluationPeriods} ${ANOMALY_PERIOD_MINUTES}-minute periods`;
    const latencyAlarms: Record<string, cloudwatch.Alarm> = {};
    const costAlarms: Record<string, cloudwatch.Alarm> = {};
    const tokensAlarms: Record<string, cloudwatch.Alarm> = {};
    const anomalyAlarms: cloudwatch.Alarm[] = [];
    for (const model of chatModels) {
      const latency = anomalyAlarm(
        `LatencyAnomaly-${model.id}`,
        series(
          'Latency',
          { Model: model.id },
          { statistic: 'p99', period: anomalyPeriod, label: `${model.id} p99 latency` },
        ),
        `The p99 latency of model ${model.id} (every prompt and app) was above its anomaly band (${anomaly.band} standard deviations) for ${window}. See the model's latency, throttles, errors and deadlines on the dashboard (a slow provider, retrieval, or longer answers).`,
      );
      const cost = anomalyAlarm(
        `CostAnomaly-${model.id}`,
        series(
          'CostUsd',
          { Model: model.id },
          {
            statistic: cloudwatch.Stats.AVERAGE,
            period: anomalyPeriod,
            label: `${model.id} cost per answer`,
          },
        ),
        `The cost per answer of model ${model.id} (every prompt and app) was above its anomaly band (${anomaly.band} standard deviations) for ${window}: longer prompts or answers, more retrieved context, or a changed price. See tokens in and out by model on the dashboard.`,
      );
      const tokens = anomalyAlarm(
        `TokensAnomaly-${model.id}`,
        series(
          'OutputTokens',
          { Model: model.id },
          {
            statistic: cloudwatch.Stats.AVERAGE,
            period: anomalyPeriod,
            label: `${model.id} output tokens per answer`,
          },
        ),
        `The output tokens per answer of model ${model.id} (every prompt and app) were above their anomaly band (${anomaly.band} standard deviations) for ${window}: answers growing longer (a prompt or model change, a model that runs to its token limit), which raises latency and cost too. See output tokens by model and by prompt on the dashboard.`,
      );
      latencyAlarms[model.id] = latency;
      costAlarms[model.id] = cost;
      tokensAlarms[model.id] = tokens;
      anomalyAlarms.push(latency, cost, tokens);
    }
    this.latencyAnomalyAlarms = latencyAlarms;
    this.costAnomalyAlarms = costAlarms;
    this.tokensAnomalyAlarms = tokensAlarms;

    // Daily cost budgets: the app's whole cost over a 1-day period (not aligned to the UTC day).
    const budgetAlarms: Record<string, cloudwatch.Alarm> = {};
    for (const app of props.apps) {
      if (app.dailyCostBudgetUsd === undefined) continue;
      const alarm = new cloudwatch.Alarm(this, `CostBudget-${app.name}`, {
        alarmDescription: `A day of app "${app.name}"'s model calls cost $${app.dailyCostBudgetUsd} (api.apps dailyCostBudgetUsd) or more. Nothing is refused: see cost by app and by model on the dashboard, and the app's tokensPerDay.`,
        metric: series('CostUsd', { App: app.name }, { statistic: cloudwatch.Stats.SUM, period: ONE_DAY }),
        threshold: app.dailyCostBudgetUsd,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alerts.page(alarm);
      budgetAlarms[app.name] = alarm;
    }
    this.costBudgetAlarms = budgetAlarms;

    this.addSection('Traffic', [
      ...(
        [
          ['Requests', 'Requests'],
          ['InputTokens', 'Input tokens'],
          ['OutputTokens', 'Output tokens'],
          ['CostUsd', 'Cost (USD)'],
        ] as const
      ).flatMap(([metric, what]) =>
        (['Model', 'App', 'Prompt'] as const).map((by) =>
          graph(`${what} by ${by.toLowerCase()}`, [
            insights(`SELECT SUM(${metric}) FROM ${CALL_SCHEMA} GROUP BY ${by}`),
          ]),
        ),
      ),
      graph(
        'Cost per answer (USD) by chat model',
        chatModels.map((m) =>
          series('CostUsd', { Model: m.id }, { statistic: 'Average', period: FIVE_MINUTES, label: m.id }),
        ),
      ),
      graph(
        'Output tokens per answer by chat model',
        chatModels.map((m) =>
          series(
            'OutputTokens',
            { Model: m.id },
            { statistic: 'Average', period: FIVE_MINUTES, label: m.id },
          ),
        ),
      ),
      ...Object.entries(budgetAlarms).map(
        ([app, alarm]) =>
          new cloudwatch.AlarmWidget({ title: `Cost a day: ${app}`, alarm, width: 6, height: 6 }),
      ),
    ]);

    this.addSection('Latency', [
      ...(['p50', 'p99'] as const).map((p) =>
        graph(
          `Latency ${p} (ms) by chat model`,
          chatModels.map((m) =>
            series('Latency', { Model: m.id }, { statistic: p, period: FIVE_MINUTES, label: m.id }),
          ),
          { width: 8 },
        ),
      ),
      graph(
        'Latency p99 (ms) by model, prompt and app',
        [
          new cloudwatch.SearchExpression({
            expression: `SEARCH('{${LLMOPS_METRICS_NAMESPACE},App,Model,Prompt,service} MetricName="Latency"', 'p99', ${FIVE_MINUTES.toSeconds()})`,
            label: '',
            period: FIVE_MINUTES,
          }),
        ],
        { width: 8 },
      ),
      ...(anomalyAlarms.length > 0
        ? [
            new cloudwatch.AlarmStatusWidget({
              title: `Anomaly alarms (${anomaly.page ? 'paging' : 'not paging'}): p99 latency, cost and tokens per answer`,
              alarms: anomalyAlarms,
              width: 24,
            }),
          ]
        : []),
    ]);

    this.addSection('Errors', [
      graph('API edge errors (4xx, 5xx)', [
        series('ServerErrors', {}, { statistic: 'Sum', period: FIVE_MINUTES, label: '5xx (ServerErrors)' }),
        series('ClientErrors', {}, { statistic: 'Sum', period: FIVE_MINUTES, label: '4xx (ClientErrors)' }),
      ]),
      ...(
        [
          ['ModelThrottles', 'Model throttles'],
          ['ModelErrors', 'Model errors'],
          ['Errors', 'Gateway errors'],
          ['AnswerDeadlineExceeded', 'Answer deadline exceeded'],
        ] as const
      ).map(([metric, what]) =>
        graph(`${what} by model`, [insights(`SELECT SUM(${metric}) FROM ${CALL_SCHEMA} GROUP BY Model`)]),
      ),
    ]);

    this.addSection(
      'Guardrail',
      (['Policy', 'Model'] as const).map((by) =>
        graph(
          `Guardrail interventions by ${by.toLowerCase()}`,
          [
            insights(
              `SELECT SUM(GuardrailInterventions) FROM SCHEMA("${LLMOPS_METRICS_NAMESPACE}", Model, Policy, service) GROUP BY ${by}`,
            ),
          ],
          { width: 12 },
        ),
      ),
    );

    this.addSection('Evaluation', [
      graph(
        'Evaluation metrics by suite, target and metric (daily)',
        [
          insights(
            `SELECT AVG(EvaluationMetricValue) FROM SCHEMA("${LLMOPS_METRICS_NAMESPACE}", Metric, Suite, Target, service) GROUP BY Suite, Target, Metric`,
            ONE_DAY,
          ),
        ],
        { width: 12, start: TWO_WEEKS, period: ONE_DAY },
      ),
      graph(
        'Evaluation runs, regressions, gate failures (daily)',
        (
          [
            ['EvaluationRuns', 'runs'],
            ['EvaluationRegressions', 'regressions'],
            ['EvaluationGateFailures', 'gate failures'],
          ] as const
        ).map(([metric, label]) => series(metric, {}, { statistic: 'Sum', period: ONE_DAY, label })),
        { start: TWO_WEEKS, period: ONE_DAY },
      ),
      ...(props.regressionAlarm
        ? [new cloudwatch.AlarmWidget({ title: 'Regression alarm', alarm: props.regressionAlarm, width: 6 })]
        : []),
    ]);

    this.addSection(
      'Pipelines',
      props.stateMachines.map(({ name, stateMachine }) =>
        graph(
          `${name} executions (hourly)`,
          [
            stateMachine.metricStarted({ period: ONE_HOUR, statistic: 'Sum', label: 'started' }),
            stateMachine.metricSucceeded({ period: ONE_HOUR, statistic: 'Sum', label: 'succeeded' }),
            stateMachine.metricFailed({ period: ONE_HOUR, statistic: 'Sum', label: 'failed' }),
            stateMachine.metricTimedOut({ period: ONE_HOUR, statistic: 'Sum', label: 'timed out' }),
            stateMachine.metricAborted({ period: ONE_HOUR, statistic: 'Sum', label: 'aborted' }),
          ],
          { width: 8 },
        ),
      ),
    );
  }

  /**
   * Adds a section at the end of the dashboard: a text header with `title`, then `widgets` left to right,
   * wrapping at the dashboard's width. A section with no widgets is left out.
   */
  public addSection(title: string, widgets: readonly cloudwatch.IWidget[]): void {
    if (widgets.length === 0) return;
    this.dashboard.addWidgets(new cloudwatch.TextWidget({ markdown: `## ${title}`, width: 24, height: 1 }));
    this.dashboard.addWidgets(...widgets);
  }
}
