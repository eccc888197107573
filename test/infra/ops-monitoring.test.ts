/**
 * Operations monitoring in the synthesized stack: the dashboard (named after the stack, its sections in
 * order, Metrics Insights queries on the exact dimension sets the functions emit, one chart per
 * pipeline), the anomaly alarms on each chat model's p99 latency, cost per answer and tokens per answer
 * (the band, the M of N, paging by profile), and the daily cost budget alarm of each app that has a budget. dev is
 * synthesized with the cdk-nag plugin on, so an unacknowledged finding fails synthesis here too. The
 * construct alone (a bare stack) covers apps without a budget and `addSection`.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as kms from 'aws-cdk-lib/aws-kms';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { emitCallMetrics } from '#aws/gateway.ts';
import { metrics } from '#aws/logging.ts';
import { DENY_ALL } from '#contracts/http/access.ts';
import { type AppConfig, deploymentOf, loadConfig } from '#infra/config/index.ts';
import { ANOMALY_PERIOD_MINUTES } from '#infra/config/schema.ts';
import { LlmOpsAlerts } from '#infra/constructs/alerts.ts';
import { METRICS_SERVICE } from '#infra/constructs/llmops-function.ts';
import { LLMOPS_METRICS_NAMESPACE } from '#infra/constructs/model-gateway.ts';
import { GATEWAY_ALARM_SERIES, OpsMonitoring } from '#infra/constructs/ops-monitoring.ts';
import { functionOfEntry } from './support/iam.ts';
import {
  type CfnJson,
  type CfnResource,
  type CfnTemplate,
  flatten,
  resourcesOfType,
  type Synthesized,
  synth,
} from './support/synth.ts';

let dev: Synthesized;
let prod: Synthesized;

beforeAll(() => {
  dev = synth({ profile: 'dev' }, { cfnValidation: false });
  prod = synth({ profile: 'prod' }, { nag: false, cfnValidation: false });
});

const profiles = () =>
  [
    ['dev', dev],
    ['prod', prod],
  ] as const;

const props = (r: CfnResource) => (r.Properties ?? {}) as Record<string, CfnJson>;

/** The sections every stack has, in this order; later constructs add theirs after them. */
const SECTIONS = ['Traffic', 'Latency', 'Errors', 'Guardrail', 'Evaluation', 'Pipelines'];
const CALL_SCHEMA = `SCHEMA("${LLMOPS_METRICS_NAMESPACE}", App, Model, Prompt, service)`;

interface Widget {
  type: string;
  width: number;
  properties: Record<string, CfnJson>;
}

/** The one dashboard: its name and its widgets, by section (the text header that precedes them). */
function dashboardOf(json: CfnTemplate): { name: string; sections: Map<string, Widget[]> } {
  const dashboards = resourcesOfType(json, 'AWS::CloudWatch::Dashboard');
  expect(dashboards).toHaveLength(1);
  const [, dashboard] = dashboards[0] as [string, CfnResource];
  const body = JSON.parse(flatten(props(dashboard).DashboardBody)) as { widgets: Widget[] };
  const sections = new Map<string, Widget[]>();
  let current: Widget[] | undefined;
  for (const widget of body.widgets) {
    const header = widget.type === 'text' ? /^## (.+)$/.exec(String(widget.properties.markdown)) : null;
    if (header?.[1]) {
      current = [];
      sections.set(header[1], current);
    } else {
      expect(current, 'every widget follows a section header').toBeDefined();
      current?.push(widget);
    }
  }
  return { name: props(dashboard).DashboardName, sections };
}

/** The widgets of a section. */
function section(json: CfnTemplate, title: string): Widget[] {
  const widgets = dashboardOf(json).sections.get(title);
  expect(widgets, title).toBeDefined();
  return widgets ?? [];
}

/** The query (expression) of each expression line of a widget. */
const expressions = (w: Widget): string[] =>
  (w.properties.metrics ?? []).flatMap((line: CfnJson[]) =>
    line.flatMap((part) =>
      part && typeof part === 'object' && 'expression' in part ? [part.expression] : [],
    ),
  );

/** The metric lines of a widget as `[namespace, name, ...dimension pairs]`, options dropped. */
const metricLines = (w: Widget): string[][] =>
  (w.properties.metrics ?? [])
    .filter((line: CfnJson[]) => typeof line[0] === 'string')
    .map((line: CfnJson[]) => line.filter((part) => typeof part === 'string'));

const chatModels = (config: AppConfig) => config.models.catalog.filter((m) => m.kind === 'chat');

/** The anomaly alarms, with the metric each watches (the `m1` of its band). */
function anomalyAlarms(json: CfnTemplate): { id: string; p: Record<string, CfnJson>; m1: CfnJson }[] {
  return resourcesOfType(json, 'AWS::CloudWatch::Alarm')
    .filter(([, a]) => props(a).ComparisonOperator === 'GreaterThanUpperThreshold')
    .map(([id, a]) => ({
      id,
      p: props(a),
      m1: (props(a).Metrics as CfnJson[]).find((m) => m.Id === 'm1')?.MetricStat,
    }));
}

const topicOf = (json: CfnTemplate) => {
  const topics = resourcesOfType(json, 'AWS::SNS::Topic');
  expect(topics).toHaveLength(1);
  return { Ref: (topics[0] as [string, CfnResource])[0] };
};

describe('the dashboard', () => {
  it.each(['dev', 'prod'] as const)('%s: one, named after the stack, with the sections in order', (p) => {
    const s = p === 'dev' ? dev : prod;
    const { name, sections } = dashboardOf(s.json);
    expect(name).toBe(s.config.stackName);
    expect([...sections.keys()].slice(0, SECTIONS.length)).toEqual(SECTIONS);
    for (const [title, widgets] of sections) expect(widgets.length, title).toBeGreaterThan(0);
  });

  it('Traffic: requests, tokens in and out and cost, by model, by app and by prompt', () => {
    const queries = section(dev.json, 'Traffic').flatMap(expressions);
    for (const metric of ['Requests', 'InputTokens', 'OutputTokens', 'CostUsd']) {
      for (const by of ['Model', 'App', 'Prompt']) {
        expect(queries).toContain(`SELECT SUM(${metric}) FROM ${CALL_SCHEMA} GROUP BY ${by}`);
      }
    }
    expect(queries).toHaveLength(4 * 3);
    // No prompt is named anywhere (the queries group by whatever prompts the series carry): prompt names
    // are not known at synth time.
    expect(JSON.stringify(dashboardOf(dev.json).sections.get('Traffic'))).not.toMatch(/"Prompt","/);
  });

  it("Traffic: each chat model's cost and output tokens per answer, and each budget against its threshold", () => {
    const widgets = section(dev.json, 'Traffic');
    for (const [title, metric] of [
      ['Cost per answer (USD) by chat model', 'CostUsd'],
      ['Output tokens per answer by chat model', 'OutputTokens'],
    ]) {
      const perAnswer = widgets.find((w) => w.properties.title === title);
      expect(perAnswer, title).toBeDefined();
      expect(metricLines(perAnswer as Widget)).toEqual(
        chatModels(dev.config).map((m) => [
          LLMOPS_METRICS_NAMESPACE,
          metric,
          'Model',
          m.id,
          'service',
          METRICS_SERVICE,
        ]),
      );
      // Average, the dashboard's default statistic (left out of the widget's JSON).
      for (const line of (perAnswer as Widget).properties.metrics as CfnJson[][]) {
        expect(line.at(-1)?.stat ?? 'Average', title).toBe('Average');
      }
    }
    const budgets = widgets.filter((w) => String(w.properties.title).startsWith('Cost a day: '));
    expect(budgets.map((w) => w.properties.title)).toEqual(['Cost a day: default']);
    expect(budgets[0]?.properties.annotations.alarms).toHaveLength(1);
  });

  it('Latency: p50 and p99 of each chat model (no embedding model), every series, and the anomaly alarms', () => {
    const widgets = section(dev.json, 'Latency');
    for (const p of ['p50', 'p99']) {
      const chart = widgets.find((w) => w.properties.title === `Latency ${p} (ms) by chat model`);
      expect(chart, p).toBeDefined();
      const lines = (chart as Widget).properties.metrics as CfnJson[][];
      expect(lines.map((line) => line[3])).toEqual(chatModels(dev.config).map((m) => m.id));
      for (const line of lines) expect(line.at(-1)).toMatchObject({ stat: p });
    }
    expect(widgets.flatMap(expressions)).toContain(
      `SEARCH('{${LLMOPS_METRICS_NAMESPACE},App,Model,Prompt,service} MetricName="Latency"', 'p99', 300)`,
    );
    const status = widgets.find((w) => w.type === 'alarm');
    expect(status?.properties.alarms).toHaveLength(3 * chatModels(dev.config).length);
    expect(status?.properties.title).toMatch(/not paging/);
    expect(section(prod.json, 'Latency').find((w) => w.type === 'alarm')?.properties.title).toMatch(
      /\(paging\)/,
    );
  });

  it('Errors: 5xx and 4xx at the edge, and model throttles, model errors, errors and deadlines by model', () => {
    const widgets = section(dev.json, 'Errors');
    expect(widgets.flatMap(metricLines)).toEqual([
      [LLMOPS_METRICS_NAMESPACE, 'ServerErrors', 'service', METRICS_SERVICE],
      [LLMOPS_METRICS_NAMESPACE, 'ClientErrors', 'service', METRICS_SERVICE],
    ]);
    expect(widgets.flatMap(expressions)).toEqual(
      ['ModelThrottles', 'ModelErrors', 'Errors', 'AnswerDeadlineExceeded'].map(
        (metric) => `SELECT SUM(${metric}) FROM ${CALL_SCHEMA} GROUP BY Model`,
      ),
    );
  });

  it('Guardrail: interventions by policy and by model, the dimensions the gateway emits them with', () => {
    expect(section(dev.json, 'Guardrail').flatMap(expressions)).toEqual(
      ['Policy', 'Model'].map(
        (by) =>
          `SELECT SUM(GuardrailInterventions) FROM SCHEMA("${LLMOPS_METRICS_NAMESPACE}", Model, Policy, service) GROUP BY ${by}`,
      ),
    );
  });

  it('Evaluation: each metric by suite, target and metric, the run counts, and the regression alarm', () => {
    const widgets = section(dev.json, 'Evaluation');
    expect(widgets.flatMap(expressions)).toEqual([
      `SELECT AVG(EvaluationMetricValue) FROM SCHEMA("${LLMOPS_METRICS_NAMESPACE}", Metric, Suite, Target, service) GROUP BY Suite, Target, Metric`,
    ]);
    expect(widgets.flatMap(metricLines).map((line) => line[1])).toEqual([
      'EvaluationRuns',
      'EvaluationRegressions',
      'EvaluationGateFailures',
    ]);
    for (const w of widgets.filter((w) => w.properties.metrics !== undefined)) {
      expect(w.properties).toMatchObject({ start: '-P14D', period: 86400 });
    }
    const alarm = widgets.find((w) => w.properties.title === 'Regression alarm');
    expect(JSON.stringify(alarm?.properties.annotations.alarms)).toContain('EvaluationRegressionAlarm');
  });

  it('Pipelines: started, succeeded, failed, timed-out and aborted executions of every pipeline', () => {
    const widgets = section(dev.json, 'Pipelines');
    const pipelines = resourcesOfType(dev.json, 'AWS::StepFunctions::StateMachine').map(([id, r]) => ({
      id,
      name: r.Metadata?.['llmops:pipeline'] as string,
    }));
    expect(pipelines.map((p) => p.name).sort()).toEqual([
      'DataPrep',
      'DriftCheck',
      'Evaluate',
      'FineTune',
      'RagIngest',
      'Rollout',
    ]);
    expect(widgets).toHaveLength(pipelines.length);
    for (const { id, name } of pipelines) {
      const chart = widgets.find((w) => w.properties.title === `${name} executions (hourly)`);
      expect(chart, name).toBeDefined();
      expect(metricLines(chart as Widget)).toEqual(
        ['Started', 'Succeeded', 'Failed', 'TimedOut', 'Aborted'].map((what) => [
          'AWS/States',
          `Executions${what}`,
          'StateMachineArn',
          `<${id}>`,
        ]),
      );
    }
  });

  it('the functions emit under the service dimension the queries name', () => {
    const env = props(functionOfEntry(dev.json, 'functions/api/chat.ts')).Environment.Variables;
    expect(env.POWERTOOLS_SERVICE_NAME).toBe(METRICS_SERVICE);
    expect(env.POWERTOOLS_METRICS_NAMESPACE).toBe(LLMOPS_METRICS_NAMESPACE);
  });
});

describe('anomaly alarms', () => {
  afterEach(() => vi.restoreAllMocks());

  it.each(['dev', 'prod'] as const)(
    '%s: p99 latency, cost per answer and output tokens per answer of each chat model, above the configured band',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const { band, evaluationPeriods, datapointsToAlarm } = s.config.observability.anomaly;
      const alarms = anomalyAlarms(s.json);
      const chat = chatModels(s.config);
      expect(alarms).toHaveLength(3 * chat.length);
      const watched = alarms.map(
        ({ m1 }) => `${m1.Metric.MetricName} ${m1.Stat} ${m1.Metric.Dimensions[0].Value}`,
      );
      expect(watched.sort()).toEqual(
        chat
          .flatMap((m) => [`CostUsd Average ${m.id}`, `Latency p99 ${m.id}`, `OutputTokens Average ${m.id}`])
          .sort(),
      );
      for (const { id, p: alarm, m1 } of alarms) {
        const band_ = (alarm.Metrics as CfnJson[]).find((m) => m.Expression !== undefined);
        expect(band_?.Expression, id).toBe(`ANOMALY_DETECTION_BAND(m1, ${band})`);
        expect(alarm.ThresholdMetricId, id).toBe(band_?.Id);
        expect(alarm).toMatchObject({
          EvaluationPeriods: evaluationPeriods,
          DatapointsToAlarm: datapointsToAlarm,
          TreatMissingData: 'notBreaching',
        });
        expect(m1.Period, id).toBe(ANOMALY_PERIOD_MINUTES * 60);
        expect(m1.Metric.Namespace, id).toBe(LLMOPS_METRICS_NAMESPACE);
        // Exactly the {service, Model} series the gateway emits for the alarms.
        expect(
          m1.Metric.Dimensions.map((d: CfnJson) => d.Name),
          id,
        ).toEqual(['Model', 'service']);
        expect(m1.Metric.Dimensions[1].Value, id).toBe(METRICS_SERVICE);
        expect(GATEWAY_ALARM_SERIES.Model, id).toContain(m1.Metric.MetricName);
      }
    },
  );

  it('read exactly the single-dimension series the gateway emits for each answered call', () => {
    const emitted: { name: string; dimensions: Record<string, string> }[] = [];
    vi.spyOn(metrics, 'addDimensions').mockImplementation(() => metrics);
    vi.spyOn(metrics, 'addMetric').mockImplementation(() => metrics);
    vi.spyOn(metrics, 'singleMetric').mockImplementation(() => {
      const dimensions: Record<string, string> = {};
      return {
        addDimensions: (d: Record<string, string>) => Object.assign(dimensions, d),
        addMetric: (name: string) => emitted.push({ name, dimensions }),
      } as unknown as ReturnType<typeof metrics.singleMetric>;
    });
    emitCallMetrics('m', 'p', 'a', {
      latencyMs: 1,
      modelLatencyMs: 1,
      usage: { inputTokens: 1, outputTokens: 1, costUsd: 1 },
      guardrailPolicies: [],
    });
    const by = (dimension: string) =>
      emitted.filter((e) => Object.keys(e.dimensions).join() === dimension).map((e) => e.name);
    expect(by('Model').sort()).toEqual([...GATEWAY_ALARM_SERIES.Model].sort());
    expect(by('App').sort()).toEqual([...GATEWAY_ALARM_SERIES.App].sort());
  });

  it('none for the embedding model', () => {
    const embedding = dev.config.models.catalog.filter((m) => m.kind === 'embedding').map((m) => m.id);
    expect(embedding.length).toBeGreaterThan(0);
    for (const { m1 } of anomalyAlarms(dev.json))
      expect(embedding).not.toContain(m1.Metric.Dimensions[0].Value);
  });

  it('page on ALARM and OK in prod only (observability.anomaly.page); dev shows them on the dashboard', () => {
    expect(dev.config.observability.anomaly.page).toBe(false);
    expect(prod.config.observability.anomaly.page).toBe(true);
    for (const { id, p } of anomalyAlarms(dev.json)) {
      expect(p.AlarmActions, id).toBeUndefined();
      expect(p.OKActions, id).toBeUndefined();
    }
    const topic = topicOf(prod.json);
    for (const { id, p } of anomalyAlarms(prod.json)) {
      expect(p.AlarmActions, id).toEqual([topic]);
      expect(p.OKActions, id).toEqual([topic]);
    }
  });
});

describe('daily cost budgets', () => {
  const budgetAlarms = (json: CfnTemplate) =>
    resourcesOfType(json, 'AWS::CloudWatch::Alarm').filter(([id]) => id.startsWith('MonitoringCostBudget'));

  it.each(['dev', 'prod'] as const)(
    "%s: the default app's cost over a day, at or above its budget, pages",
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const budget = s.config.api.apps.find((a) => a.name === 'default')?.dailyCostBudgetUsd;
      expect(budget).toBe(p === 'dev' ? 5 : 25);
      const alarms = budgetAlarms(s.json);
      expect(alarms).toHaveLength(1);
      const topic = topicOf(s.json);
      expect(props((alarms[0] as [string, CfnResource])[1])).toMatchObject({
        Namespace: LLMOPS_METRICS_NAMESPACE,
        MetricName: 'CostUsd',
        Dimensions: [
          { Name: 'App', Value: 'default' },
          { Name: 'service', Value: METRICS_SERVICE },
        ],
        Statistic: 'Sum',
        Period: 86400,
        EvaluationPeriods: 1,
        Threshold: budget,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [topic],
        OKActions: [topic],
      });
      expect(GATEWAY_ALARM_SERIES.App).toContain('CostUsd');
    },
  );

  it('the budget travels in no function environment: APP_ACCESS holds the access of each app only', () => {
    for (const [, s] of profiles()) {
      const env = props(functionOfEntry(s.json, 'functions/api/chat.ts')).Environment.Variables;
      expect(JSON.parse(env.APP_ACCESS)).toEqual(
        Object.fromEntries(s.config.api.apps.map((a) => [a.name, a.access ?? DENY_ALL])),
      );
      for (const [id, fn] of resourcesOfType(s.json, 'AWS::Lambda::Function')) {
        expect(JSON.stringify(props(fn).Environment ?? {}), id).not.toContain('dailyCostBudgetUsd');
      }
    }
  });
});

describe('OpsMonitoring alone', () => {
  /** The construct in a bare stack, with two apps of which one has a budget, and no pipeline. */
  function bare(page: boolean) {
    const config = loadConfig({});
    const deployment = deploymentOf(config);
    const stack = new Stack(new App(), 'Bare');
    const alerts = new LlmOpsAlerts(stack, 'Alerts', {
      deployment,
      config: { emails: [], httpsEndpoints: [] },
      encryptionKey: new kms.Key(stack, 'Key'),
    });
    const app = { rateLimit: 1, burstLimit: 1, quotaPerDay: 1 };
    const monitoring = new OpsMonitoring(stack, 'Monitoring', {
      deployment: {
        ...deployment,
        observability: {
          ...deployment.observability,
          anomaly: { ...deployment.observability.anomaly, band: 2.5, page },
        },
      },
      catalog: config.models.catalog,
      apps: [
        { ...app, name: 'web', dailyCostBudgetUsd: 12.5 },
        { ...app, name: 'batch' },
      ],
      alerts,
      stateMachines: [],
    });
    return { stack, alerts, monitoring, config };
  }

  it('a budget alarm only for the apps that set one', () => {
    const { stack, monitoring } = bare(false);
    expect(Object.keys(monitoring.costBudgetAlarms)).toEqual(['web']);
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'CostUsd',
      Dimensions: [
        { Name: 'App', Value: 'web' },
        { Name: 'service', Value: METRICS_SERVICE },
      ],
      Threshold: 12.5,
    });
    const batch = Object.values(t.findResources('AWS::CloudWatch::Alarm')).filter((a) =>
      JSON.stringify(a).includes('"batch"'),
    );
    expect(batch).toEqual([]);
  });

  it('the band and paging come from observability.anomaly', () => {
    for (const page of [false, true]) {
      const { monitoring, alerts, config } = bare(page);
      const alarms = [
        ...Object.values(monitoring.latencyAnomalyAlarms),
        ...Object.values(monitoring.costAnomalyAlarms),
        ...Object.values(monitoring.tokensAnomalyAlarms),
      ];
      expect(alarms).toHaveLength(3 * chatModels(config).length);
      const paged = new Set(alerts.pagedAlarms);
      for (const alarm of alarms) expect(paged.has(alarm.node.path), alarm.node.path).toBe(page);
      for (const alarm of Object.values(monitoring.costBudgetAlarms))
        expect(paged.has(alarm.node.path)).toBe(true);
    }
    const { stack } = bare(true);
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: [{ Expression: 'ANOMALY_DETECTION_BAND(m1, 2.5)' }, {}],
    });
  });

  it('addSection appends a header and its widgets; an empty section is left out', () => {
    const { stack, monitoring } = bare(false);
    monitoring.addSection('Drift', [
      new cloudwatch.GraphWidget({
        title: 'Drift score',
        left: [new cloudwatch.Metric({ namespace: LLMOPS_METRICS_NAMESPACE, metricName: 'DriftScore' })],
      }),
    ]);
    monitoring.addSection('Nothing', []);
    const json = Template.fromStack(stack).toJSON() as CfnTemplate;
    const { sections } = dashboardOf(json);
    // No pipelines given: no Pipelines section.
    expect([...sections.keys()]).toEqual([
      'Traffic',
      'Latency',
      'Errors',
      'Guardrail',
      'Evaluation',
      'Drift',
    ]);
    expect(sections.get('Drift')?.map((w) => w.properties.title)).toEqual(['Drift score']);
  });
});
