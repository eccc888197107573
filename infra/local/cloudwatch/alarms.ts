/**
 * The template's alarms, evaluated locally against the local metric store, with state kept between
 * evaluations and every state change routed as CloudWatch routes it.
 *
 * Each evaluation runs the metric alarms first, then the composite alarms in dependency order (a
 * composite that names another is evaluated after it), so a composite sees its children's new states.
 * For each change: the "CloudWatch Alarm State Change" event goes to `publish` (the default bus), and,
 * when actions are enabled, each action of the new state (AlarmActions for ALARM, OKActions for OK,
 * InsufficientDataActions) that is an SNS topic of the template records a page with the subject and
 * message CloudWatch would publish. Alarms that cannot be evaluated locally (metric math, anomaly
 * detection, composites over them or over alarms the template lacks, unreadable rules) are listed with
 * the reason and stay in INSUFFICIENT_DATA.
 */
import type { EventEnvelope } from '../local-eventbridge.ts';
import { type AlarmMetric, alarmMetricOf } from './alarm-metric.ts';
import { type AlarmState, type AlarmStateValue, initialState } from './alarm-state.ts';
import { type AlarmRule, alarmsOf, evaluateAlarmRule, parseAlarmRule } from './composite-rule.ts';
import { evaluateMetricAlarm } from './evaluate-metric-alarm.ts';
import { cloudWatchTimestamp, longTime } from './formats.ts';
import type { LocalMetricStore } from './metric-store.ts';
import {
  type ChangeContext,
  compositeAlarmConfiguration,
  compositeAlarmMessage,
  metricAlarmConfiguration,
  metricAlarmMessage,
  notificationSubject,
  stateChangeEvent,
  type TriggeringAlarm,
} from './notifications.ts';
import type { LocalAlarmAction, LocalCompositeAlarm, LocalMetricAlarm } from './template-alarms.ts';
import { ExpressionError } from './tokens.ts';

/** One state change. */
export interface AlarmTransition {
  readonly alarmName: string;
  readonly from: AlarmStateValue;
  readonly to: AlarmStateValue;
  readonly reason: string;
  readonly composite: boolean;
}

/** A notification CloudWatch would have published to an SNS topic of the template. */
export interface AlarmPage {
  readonly topicArn: string;
  readonly topicLogicalId: string;
  readonly subject: string;
  /** The JSON message (what an e-mail or HTTPS subscriber receives as the notification's Message). */
  readonly message: string;
}

/** An alarm the local run does not evaluate, and why (AWS evaluates it). */
export interface UnevaluatedAlarm {
  readonly name: string;
  readonly reason: string;
}

/** Options of {@link LocalAlarms}. */
export interface LocalAlarmsOptions {
  readonly metricAlarms: readonly LocalMetricAlarm[];
  readonly compositeAlarms: readonly LocalCompositeAlarm[];
  readonly metrics: LocalMetricStore;
  readonly account: string;
  readonly region: string;
  /** Puts a state change event on the default bus. */
  readonly publish: (event: EventEnvelope) => void;
  /** Called with each page as it is recorded. */
  readonly onPage?: (page: AlarmPage) => void;
  /** When the alarms were created (their initial state's time). @default now */
  readonly createdAt?: Date;
}

interface Composite {
  readonly alarm: LocalCompositeAlarm;
  readonly rule: AlarmRule;
  readonly children: readonly string[];
}

/** The alarms of one local run. */
export class LocalAlarms {
  /** Every page recorded so far, oldest first. */
  readonly pages: AlarmPage[] = [];
  /** Alarms left to AWS. */
  readonly unevaluated: readonly UnevaluatedAlarm[];
  readonly #options: LocalAlarmsOptions;
  readonly #createdAt: number;
  readonly #metricAlarms: ReadonlyArray<{ readonly alarm: LocalMetricAlarm; readonly metric: AlarmMetric }>;
  /** Composite alarms, each after the composites it names. */
  readonly #composites: readonly Composite[];
  readonly #arns = new Map<string, string>();
  readonly #states = new Map<string, AlarmState>();

  constructor(options: LocalAlarmsOptions) {
    this.#options = options;
    this.#createdAt = (options.createdAt ?? new Date()).getTime();
    const unevaluated: UnevaluatedAlarm[] = [];
    const metricAlarms: Array<{ alarm: LocalMetricAlarm; metric: AlarmMetric }> = [];
    for (const alarm of options.metricAlarms) {
      const metric = alarmMetricOf(alarm);
      if ('unevaluated' in metric) unevaluated.push({ name: alarm.name, reason: metric.unevaluated });
      else metricAlarms.push({ alarm, metric });
    }
    for (const alarm of [...options.metricAlarms, ...options.compositeAlarms]) {
      this.#arns.set(alarm.name, alarm.arn);
      this.#states.set(alarm.name, initialState(this.#createdAt));
    }
    this.#metricAlarms = metricAlarms;
    this.#composites = orderComposites(options.compositeAlarms, new Set(this.#arns.keys()), unevaluated);
    this.unevaluated = unevaluated;
  }

  /** An alarm's current state (undefined for a name the template does not declare). */
  state(alarmName: string): AlarmState | undefined {
    return this.#states.get(alarmName);
  }

  /** Evaluates every alarm at `at`; returns the state changes, in the order they happened. */
  evaluate(at: Date): AlarmTransition[] {
    const context: ChangeContext = {
      account: this.#options.account,
      region: this.#options.region,
      at: at.getTime(),
    };
    const transitions: AlarmTransition[] = [];
    for (const watched of this.#metricAlarms) {
      const transition = this.#evaluateMetricAlarm(watched.alarm, watched.metric, context);
      if (transition) transitions.push(transition);
    }
    const changed = new Set(transitions.map((t) => t.alarmName));
    for (const composite of this.#composites) {
      const transition = this.#evaluateComposite(composite, changed, context);
      if (transition === undefined) continue;
      transitions.push(transition);
      changed.add(transition.alarmName);
    }
    return transitions;
  }

  #evaluateMetricAlarm(
    alarm: LocalMetricAlarm,
    metric: AlarmMetric,
    context: ChangeContext,
  ): AlarmTransition | undefined {
    const previous = this.#stateOf(alarm.name);
    const verdict = evaluateMetricAlarm(alarm, metric, this.#options.metrics, context.at, previous.value);
    if (verdict.state === undefined || verdict.state === previous.value) return undefined;
    const state: AlarmState = {
      value: verdict.state,
      reason: verdict.reason,
      reasonData: verdict.reasonData,
      timestamp: context.at,
    };
    const message = () =>
      metricAlarmMessage(alarm, state, previous, { ...context, createdAt: this.#createdAt });
    return this.#enter(alarm, previous, state, context, metricAlarmConfiguration(alarm), message);
  }

  /**
   * A composite's reason names the child whose change moved it (or, on its first evaluation, says it was
   * created), and its reason data lists the triggering children with their states.
   */
  #evaluateComposite(
    { alarm, rule, children }: Composite,
    changed: ReadonlySet<string>,
    context: ChangeContext,
  ): AlarmTransition | undefined {
    const previous = this.#stateOf(alarm.name);
    const value = evaluateAlarmRule(rule, (name) => this.#stateOf(name).value) ? 'ALARM' : 'OK';
    if (value === previous.value) return undefined;
    const moved = children.filter((child) => changed.has(child));
    const first = previous.value === 'INSUFFICIENT_DATA' ? undefined : moved[0];
    const triggering: TriggeringAlarm[] = (first === undefined ? children : moved).map((child) => ({
      arn: this.#arnOf(child),
      state: this.#stateOf(child),
    }));
    const reason =
      first === undefined
        ? `${alarm.arn} was created and its alarm rule evaluates to ${value}`
        : `${this.#arnOf(first)} transitioned to ${this.#stateOf(first).value} at ${longTime(this.#stateOf(first).timestamp)}`;
    const triggeringAlarms = triggering.map((t) => ({
      arn: t.arn,
      state: { value: t.state.value, timestamp: cloudWatchTimestamp(t.state.timestamp) },
    }));
    const state: AlarmState = {
      value,
      reason,
      reasonData: JSON.stringify({ triggeringAlarms }),
      timestamp: context.at,
    };
    const message = () => compositeAlarmMessage(alarm, state, previous, triggering, context);
    return this.#enter(alarm, previous, state, context, compositeAlarmConfiguration(alarm), message);
  }

  /** Puts the alarm in `state`: the state change event on the bus, then the pages. */
  #enter(
    alarm: LocalMetricAlarm | LocalCompositeAlarm,
    previous: AlarmState,
    state: AlarmState,
    context: ChangeContext,
    configuration: Record<string, unknown>,
    message: () => string,
  ): AlarmTransition {
    this.#states.set(alarm.name, state);
    this.#options.publish(stateChangeEvent(alarm, state, previous, configuration, context));
    this.#page(alarm, state, message);
    return {
      alarmName: alarm.name,
      from: previous.value,
      to: state.value,
      reason: state.reason,
      composite: 'alarmRule' in alarm,
    };
  }

  /**
   * Records a page that did not come from an alarm: an EventBridge rule whose target is an SNS topic of
   * the template (the closed loop's rollbacks), as SNS would deliver it to the topic's subscribers.
   */
  recordPage(page: AlarmPage): void {
    this.pages.push(page);
    this.#options.onPage?.(page);
  }

  /** Records a page for each SNS topic of the template among the actions of the new state. */
  #page(alarm: LocalMetricAlarm | LocalCompositeAlarm, state: AlarmState, message: () => string): void {
    if (!alarm.actionsEnabled) return;
    const actions: readonly LocalAlarmAction[] =
      state.value === 'ALARM'
        ? alarm.alarmActions
        : state.value === 'OK'
          ? alarm.okActions
          : alarm.insufficientDataActions;
    for (const action of actions) {
      if (action.topicLogicalId === undefined) continue;
      const page: AlarmPage = {
        topicArn: action.arn,
        topicLogicalId: action.topicLogicalId,
        subject: notificationSubject(alarm.name, state, this.#options.region),
        message: message(),
      };
      this.recordPage(page);
    }
  }

  #stateOf(name: string): AlarmState {
    const state = this.#states.get(name);
    if (state === undefined) throw new Error(`No alarm ${name}`);
    return state;
  }

  #arnOf(name: string): string {
    return this.#arns.get(name) ?? name;
  }
}

/**
 * The composites that can be evaluated, each after the composites it names; the others are added to
 * `unevaluated` (an unreadable rule, a name the template lacks, a cycle, or a child not evaluated locally).
 */
function orderComposites(
  composites: readonly LocalCompositeAlarm[],
  known: ReadonlySet<string>,
  unevaluated: UnevaluatedAlarm[],
): Composite[] {
  const byName = new Map(composites.map((alarm) => [alarm.name, alarm]));
  const skipped = new Set(unevaluated.map((u) => u.name));
  const ordered: Composite[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();

  /** Why a child stops its parent from being evaluated, or undefined when it does not. */
  const childProblem = (child: string): string | undefined => {
    if (!known.has(child)) return `its rule names ${child}, which is not an alarm of the template`;
    if (visiting.has(child)) return `its rule forms a cycle through ${child}`;
    const nested = byName.get(child);
    if (nested !== undefined) visit(nested);
    return skipped.has(child) ? `it depends on ${child}, which is not evaluated locally` : undefined;
  };

  /** Orders `alarm` after what it names, or records why it cannot be evaluated. */
  const visit = (alarm: LocalCompositeAlarm): void => {
    if (done.has(alarm.name) || skipped.has(alarm.name)) return;
    let rule: AlarmRule;
    try {
      rule = parseAlarmRule(alarm.alarmRule);
    } catch (error) {
      if (!(error instanceof ExpressionError)) throw error;
      skipped.add(alarm.name);
      unevaluated.push({ name: alarm.name, reason: `its rule cannot be read: ${error.message}` });
      return;
    }
    const children = alarmsOf(rule);
    visiting.add(alarm.name);
    let problem: string | undefined;
    for (const child of children) {
      problem = childProblem(child);
      if (problem !== undefined) break;
    }
    visiting.delete(alarm.name);
    if (problem !== undefined) {
      skipped.add(alarm.name);
      unevaluated.push({ name: alarm.name, reason: problem });
      return;
    }
    done.add(alarm.name);
    ordered.push({ alarm, rule, children });
  };
  for (const alarm of composites) visit(alarm);
  return ordered;
}
