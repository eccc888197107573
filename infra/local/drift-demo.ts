/**
 * The drift demo, over the local stack: four windows of recorded traffic replayed into the interaction
 * log, the first like the traffic monitoring started with, the second like it, the last two about
 * another topic (Kubernetes and payments instead of Lambda questions), each checked by the DriftCheck
 * state machine as its schedule would fire at the window's end; then the synthesized drift alarms
 * evaluated on the scores the checks emitted (EMF), the page the composite alarm sends, the
 * `llmops.DriftDetected` the alarm's state change became, and the evaluation of production it started.
 *
 * The traffic is replayed into the interaction log as its delivery stream wrote it at the time: the
 * details the gateway records (`llmops.InteractionRecorded`), with call times inside each window, in one
 * buffer delivered as the window closed (Firehose partitions by delivery time). The windows lie in the
 * past, and the alarms are evaluated at each window's end.
 *
 * A share of each window's calls fail as a provider's errors do (`provider_error`, no payload, no
 * usage): 1% in the first two windows, 15% in the shifted ones, so that the quality signal (the error,
 * throttle and guardrail intervention rates against the baseline's) sees the shift too.
 *
 * Every answered call has an answer, for the online judge of the quality signal (the offline judge
 * locally) to score a sample of: in the first two windows an on-topic sentence that restates the
 * question; in the shifted ones, of every five answers, one noncommittal and one off-topic
 * ({@link replayedAnswer}).
 *
 * Before each window's check, the app's users rate a seeded sample of its answers through
 * `POST /v1/feedback` (`drift-feedback.ts`): a tenth more verdicts than the check's minimum window, thumbs
 * up on 85% of the on-topic answers and 15% of the noncommittal or off-topic ones, so that the feedback
 * signal (the thumbs-up rate and the mean rating against the baseline's) is scored in every window and
 * sees the shift: about 85% up in the first two windows, about 55% in the shifted ones. A third of the
 * negative verdicts carry a comment, which opens a review task (no reviewer labels them: the reviews
 * signal stays insufficient).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DriftPolicy, type DriftWindowResult, driftPolicy } from '#contracts/drift/baseline.ts';
import { type FeedbackCounts, RATING_LEVELS } from '#core/drift/labelled.ts';
import { DRIFT_CHECK_REQUESTED } from '#events/drift-check-requested.ts';
import { DRIFT_DETECTED, type DriftDetectedDetail } from '#events/drift-detected.ts';
import { SCHEMA_VERSION } from '#events/envelope.ts';
import { EVALUATION_REQUESTED } from '#events/evaluation-requested.ts';
import type { InteractionRecordedDetail } from '#events/interaction-recorded.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';
import { LocalApiClient } from './api-client.ts';
import {
  keepForFeedback,
  type PostedFeedback,
  planVerdicts,
  postVerdicts,
  startReplayApi,
  verdictsPerWindow,
} from './drift-feedback.ts';
import type { LocalRunner } from './runner.ts';
import { firedEvent, localSchedules } from './scheduler.ts';

/** The replayed traffic: recorded questions, one file per kind of window. */
export const DRIFT_TRAFFIC = {
  reference: join(REPO_ROOT, 'corpus/drift/reference.jsonl'),
  similar: join(REPO_ROOT, 'corpus/drift/reference-2.jsonl'),
  shifted: join(REPO_ROOT, 'corpus/drift/shifted.jsonl'),
} as const;
export type TrafficKind = keyof typeof DRIFT_TRAFFIC;

/** The windows the demo replays, oldest first. */
export const DEMO_WINDOWS: readonly TrafficKind[] = ['reference', 'similar', 'shifted', 'shifted'];

/** The share of each kind of window's calls that fail (`provider_error`). */
export const ERROR_SHARE: Readonly<Record<TrafficKind, number>> = {
  reference: 0.01,
  similar: 0.01,
  shifted: 0.15,
};

/** A noncommittal answer (the judge's rubric scores it 0) and an off-topic one, of the shifted windows. */
export const NONCOMMITTAL_ANSWER = "I don't know; it depends on your setup.";
export const OFF_TOPIC_ANSWER = 'Our office hours are nine to five, Monday to Friday.';

/**
 * The answer a replayed call got: an on-topic sentence restating the question; in the shifted windows,
 * the k-th answer of every five is noncommittal (k = 0) or off-topic (k = 1).
 */
export function replayedAnswer(text: string, kind: TrafficKind, k: number): string {
  if (kind === 'shifted' && k % 5 === 0) return NONCOMMITTAL_ANSWER;
  if (kind === 'shifted' && k % 5 === 1) return OFF_TOPIC_ANSWER;
  let topic = text.trim();
  while (topic.endsWith('?')) topic = topic.slice(0, -1).trimEnd();
  return `On "${topic}": start from the settings it names, then read the logs of the calls.`;
}

/**
 * Whether the k-th of n calls fails when a `share` of them do: spread evenly, exactly round(n · share)
 * of them (the same calls on every run).
 */
export function failsAt(k: number, share: number): boolean {
  return Math.floor((k + 1) * share + 0.5) > Math.floor(k * share + 0.5);
}

export interface DriftDemoWindow {
  readonly traffic: TrafficKind;
  readonly result: DriftWindowResult;
  /** The alarms that changed state when evaluated at the window's end. */
  readonly transitions: readonly { alarmName: string; from: string; to: string }[];
  /** The verdicts posted on the window's answers before its check; `null` without the local API. */
  readonly feedback: PostedFeedback | null;
}

export interface DriftDemoResult {
  readonly check: string;
  readonly cadenceMinutes: number;
  readonly windows: readonly DriftDemoWindow[];
  /** Pages of alarms that entered ALARM, as SNS delivered them. */
  readonly pages: readonly { subject: string; alarmName: string }[];
  readonly driftDetected: DriftDetectedDetail | null;
  /** The evaluation run the drift started, and how its execution ended. */
  readonly evaluation: { runId: string; status: string; output: unknown } | null;
}

/** The recorded questions of a traffic file. */
export function trafficTexts(kind: TrafficKind): string[] {
  return readFileSync(DRIFT_TRAFFIC[kind], 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => (JSON.parse(line) as { text: string }).text);
}

/**
 * One replayed call, as the gateway records a sampled chat call (with `answer`, the answer it got);
 * `failed`: as it records a call the model provider failed (no payload, no usage, the provider's error
 * code).
 */
export function replayedCall(
  text: string,
  at: Date,
  app: string,
  options: { failed?: boolean; answer?: string } = {},
): InteractionRecordedDetail {
  if (options.failed === true) {
    return {
      ...replayedCall(text, at, app),
      usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
      latencyMs: 2_300,
      modelLatencyMs: null,
      status: 'provider_error',
      errorCode: 'ModelErrorException',
      stopReason: null,
      payload: null,
    };
  }
  return {
    schemaVersion: SCHEMA_VERSION,
    interactionId: randomUUID(),
    occurredAt: at.toISOString(),
    requestId: randomUUID(),
    app,
    tenant: null,
    route: 'chat',
    stream: false,
    prompt: null,
    model: { id: 'offline-chat', provider: 'offline', modelId: 'offline' },
    usage: {
      inputTokens: Math.ceil(text.length / 4),
      outputTokens: Math.ceil((options.answer ?? '').length / 4),
      costUsd: 0,
    },
    latencyMs: 120,
    modelLatencyMs: 100,
    status: 'ok',
    errorCode: null,
    stopReason: 'end_turn',
    guardrail: null,
    payload: {
      system: null,
      messages: [{ role: 'user', content: { text, truncated: false } }],
      answer: options.answer === undefined ? null : { text: options.answer, truncated: false },
      redactions: {},
    },
  };
}

function policyOf(stack: LocalRunner): DriftPolicy {
  const collect = stack.template.lambdaFunctions().find((f) => f.entry === 'functions/drift/collect.ts');
  const raw = collect?.environment.DRIFT_POLICY;
  if (raw === undefined) throw new Error('The template has no DriftCheck Collect function');
  return driftPolicy.parse(JSON.parse(raw));
}

/** A window's traffic as replayed: each call, its place in the window, whether its answer is poor. */
interface ReplayedWindow {
  readonly traffic: TrafficKind;
  readonly end: number;
  readonly calls: readonly { call: InteractionRecordedDetail; k: number; poor: boolean }[];
}

/** The verdicts being posted: one promise a window, and `close` to end the replay's API. */
interface FeedbackReplay {
  readonly windows: readonly Promise<PostedFeedback>[];
  /** Waits for every post to settle, then stops the replay's API. */
  close(): Promise<void>;
}

/**
 * Starts sending the verdicts on the windows' answers, window after window: each window's rated calls
 * kept for feedback, then its verdicts posted. A promise a window, resolved when its verdicts are stored,
 * so that the next window's go out while a window is checked. Without the local API, none.
 */
async function startFeedback(
  stack: LocalRunner,
  replays: readonly ReplayedWindow[],
  perWindow: number,
  onStep: (line: string) => void,
): Promise<FeedbackReplay | undefined> {
  if (stack.api === undefined) {
    onStep('the local API is not served: no feedback on the replayed answers');
    return undefined;
  }
  const api = await startReplayApi(stack);
  const client = new LocalApiClient({ url: api.url, apiKey: api.apiKey });
  onStep(
    `${perWindow} answers a window rated through POST /v1/feedback (the API served again for the replay at ${api.url}, without the usage plan's throttle)`,
  );
  let previous: Promise<unknown> = Promise.resolve();
  const windows = replays.map((replay, i) => {
    const answered = replay.calls.filter((c) => c.call.status === 'ok');
    const verdicts = planVerdicts(
      answered.map((c) => ({ interactionId: c.call.interactionId, k: c.k, poor: c.poor })),
      i,
      perWindow,
    );
    const rated = new Set(verdicts.map((v) => v.interactionId));
    const posted = previous.then(async () => {
      // The chat function keeps every answered call; only the rated ones are read here.
      await keepForFeedback(
        stack,
        answered.filter((c) => rated.has(c.call.interactionId)).map((c) => c.call),
      );
      return postVerdicts(client, verdicts);
    });
    previous = posted;
    // Awaited in turn by the demo, which reports a failure there; handled here so that the windows after
    // a failed one never surface as unhandled rejections.
    posted.catch(() => undefined);
    return posted;
  });
  return {
    windows,
    close: async () => {
      await Promise.allSettled(windows);
      await api.stop();
    },
  };
}

/** Runs the demo (see the module's documentation). */
export async function runDriftDemo(
  stack: LocalRunner,
  onStep: (line: string) => void = () => undefined,
): Promise<DriftDemoResult> {
  const schedule = localSchedules(stack.template).find((s) => s.detailType === DRIFT_CHECK_REQUESTED);
  if (schedule === undefined) throw new Error('The template has no drift check schedule');
  const check = (JSON.parse(schedule.input) as { check: string }).check;
  const policy = policyOf(stack);
  const cadence = policy.cadenceMinutes * 60_000;
  const stream = stack.output('InteractionLogDeliveryStreamName');
  const lastEnd = Math.floor(Date.now() / cadence) * cadence;
  const context = { account: stack.template.account, region: stack.template.region };

  // Every window's traffic, with call times inside the window.
  const replays = DEMO_WINDOWS.map((traffic, i) => {
    const end = lastEnd - (DEMO_WINDOWS.length - 1 - i) * cadence;
    const texts = trafficTexts(traffic);
    const calls = texts.map((text, k) => {
      const answer = replayedAnswer(text, traffic, k);
      const at = new Date(end - cadence + Math.floor(((k + 0.5) * cadence) / texts.length));
      const call = replayedCall(text, at, 'default', { failed: failsAt(k, ERROR_SHARE[traffic]), answer });
      return { call, k, poor: answer === NONCOMMITTAL_ANSWER || answer === OFF_TOPIC_ANSWER };
    });
    return { traffic, end, calls };
  });
  const posting = await startFeedback(stack, replays, verdictsPerWindow(policy), onStep);
  const windows: DriftDemoWindow[] = [];
  try {
    for (const [i, { traffic, end, calls }] of replays.entries()) {
      const failed = calls.filter((c) => c.call.status !== 'ok').length;
      onStep(
        `replaying ${calls.length} ${traffic} calls (${failed} failing) into the window ending ${new Date(end).toISOString()}`,
      );
      // As the delivery stream wrote them then: one buffer, delivered as the window closed.
      await stack.firehose.putRecordBatch(
        stream,
        calls.map((c) => JSON.stringify(c.call)),
        new Date(end - 1000),
      );
      await stack.idle();
      // The verdicts on the window's answers, stored before its check reads them.
      const feedback = (await posting?.windows[i]) ?? null;
      if (feedback !== null) {
        onStep(
          `${feedback.verdicts} verdicts on the window's answers through POST /v1/feedback: ${feedback.up} up, ${feedback.down} down, ${feedback.complaints} with a comment (review tasks)`,
        );
      }
      onStep(`the ${schedule.name} schedule fires at ${new Date(end).toISOString()}: DriftCheck`);
      const fired = firedEvent(schedule, new Date(end), context);
      const before = stack.deliveries.length;
      stack.publish(fired.bus, fired.event);
      await stack.idle();
      const execution = stack.deliveries
        .slice(before)
        .find((d) => d.execution !== undefined && d.execution.status !== undefined)?.execution;
      if (execution?.status !== 'SUCCEEDED') {
        throw new Error(
          `DriftCheck for the window ending ${new Date(end).toISOString()} ended ${execution?.status}`,
        );
      }
      const result = execution.output as DriftWindowResult;
      // CloudWatch evaluates every minute: the first evaluation after the check has run.
      const transitions = (await stack.evaluateAlarms(new Date(end + 60_000))).map((t) => ({
        alarmName: t.alarmName,
        from: t.from,
        to: t.to,
      }));
      await stack.idle();
      windows.push({ traffic, result, transitions, feedback });
    }
  } finally {
    await posting?.close();
  }

  const pages = stack.pages
    .filter((p) => p.subject.startsWith('ALARM'))
    .map((p) => ({
      subject: p.subject,
      alarmName: (JSON.parse(p.message) as { AlarmName: string }).AlarmName,
    }));
  const detected = stack.events.find((e) => e.event['detail-type'] === DRIFT_DETECTED);
  const requested = stack.events.find(
    (e) =>
      e.event['detail-type'] === EVALUATION_REQUESTED &&
      (e.event.detail as { trigger?: string }).trigger === 'drift',
  );
  const runId = (requested?.event.detail as { runId?: string } | undefined)?.runId;
  const run = stack.deliveries.find(
    (d) => d.execution !== undefined && JSON.stringify(d.execution.input ?? {}).includes(runId ?? '\u0000'),
  );
  return {
    check,
    cadenceMinutes: policy.cadenceMinutes,
    windows,
    pages,
    driftDetected: (detected?.event.detail as DriftDetectedDetail | undefined) ?? null,
    evaluation:
      runId === undefined
        ? null
        : { runId, status: run?.execution?.status ?? 'NOT_STARTED', output: run?.execution?.output ?? null },
  };
}

const score = (value: number | null | undefined) =>
  value === null || value === undefined ? '—' : value.toFixed(2);

const percent = (count: number, calls: number) =>
  calls === 0 ? '—' : `${((100 * count) / calls).toFixed(1)}%`;

/**
 * A window's outcomes in words: its calls and error rate (and its throttle and guardrail intervention
 * rates when either window had any), each beside the baseline's.
 */
function outcomesLine(outcomes: DriftWindowResult['outcomes']): string | undefined {
  if (outcomes === undefined) return undefined;
  const { current, reference } = outcomes;
  const rates = [
    ['errors', 'errors'],
    ['throttles', 'throttles'],
    ['guardrail interventions', 'guardrailInterventions'],
  ] as const;
  const parts = rates
    .filter(([, key]) => key === 'errors' || current[key] > 0 || (reference?.[key] ?? 0) > 0)
    .map(
      ([label, key]) =>
        `${label} ${percent(current[key], current.calls)}${reference !== null ? ` (baseline ${percent(reference[key], reference.calls)})` : ''}`,
    );
  return `    outcomes of ${current.calls} calls: ${parts.join(', ')}`;
}

/** The online judge's sample of a window in words: answers judged, the mean score, beside the baseline's. */
function judgeLine(judge: DriftWindowResult['judge']): string | undefined {
  if (judge === undefined) return undefined;
  const { current: c, reference: r } = judge;
  const failed = c.failed > 0 ? `, ${c.failed} failed` : '';
  return `    online judge (${judge.model}, ${judge.rubric}): ${c.judged} of ${c.sampled} answers judged${failed}, mean ${score(c.mean)} (baseline ${score(r.mean)} on ${r.judged})`;
}

/**
 * What people said of a window's answers in words: its verdicts, their thumbs-up rate and mean rating
 * beside the baseline's, and the complaints posted for review (with the reviewers' labels so far).
 */
function feedbackLine(
  outcomes: DriftWindowResult['outcomes'],
  posted: PostedFeedback | null,
): string | undefined {
  const current = outcomes?.current.feedback;
  if (current === undefined) return undefined;
  const reference = outcomes?.reference?.feedback;
  const up = (c: FeedbackCounts) => percent(c.positive, c.positive + c.negative);
  const mean = (c: FeedbackCounts) =>
    score(
      c.verdicts === 0
        ? null
        : c.ratings.reduce((s, k, i) => s + k * (RATING_LEVELS[i] as number), 0) / c.verdicts,
    );
  const parts = [
    `${current.verdicts} verdicts on ${current.answered} answered calls`,
    `${up(current)} up${reference !== undefined ? ` (baseline ${up(reference)} of ${reference.verdicts})` : ''}`,
    `mean rating ${mean(current)}${reference !== undefined ? ` (baseline ${mean(reference)})` : ''}`,
  ];
  if (posted !== null) {
    parts.push(`${posted.complaints} complaints queued for review (${current.reviewed} reviewed)`);
  }
  return `    feedback: ${parts.join(', ')}`;
}

/** The demo's result in lines, for the terminal. */
export function describeDriftDemo(result: DriftDemoResult): string[] {
  const lines: string[] = [];
  for (const w of result.windows) {
    const r = w.result;
    const signals = Object.entries(r.signals)
      .map(([name, s]) => `${name} ${score(s.score)}${s.method ? ` (${s.method})` : ''}`)
      .join(', ');
    const calls = r.outcomes !== undefined ? `${r.outcomes.current.calls} calls, ` : '';
    lines.push(
      `  window ending ${r.window.end} (${w.traffic}, ${calls}${r.n.current} answered and sampled): ${r.status}${r.baseline !== null ? ` vs baseline v${r.baseline}` : ''}${signals ? ` — scores ${signals}` : ''}`,
    );
    const outcomes = outcomesLine(r.outcomes);
    if (outcomes !== undefined) lines.push(outcomes);
    const judged = judgeLine(r.judge);
    if (judged !== undefined) lines.push(judged);
    const feedback = feedbackLine(r.outcomes, w.feedback);
    if (feedback !== undefined) lines.push(feedback);
    // Alarms entering or leaving ALARM (every alarm leaves INSUFFICIENT_DATA at its first evaluation).
    for (const t of w.transitions.filter((t) => t.to === 'ALARM' || t.from === 'ALARM')) {
      lines.push(`    alarm ${t.alarmName}: ${t.from} → ${t.to}`);
    }
  }
  for (const page of result.pages) lines.push(`  page (SNS): ${page.subject}`);
  const d = result.driftDetected;
  if (d !== null) {
    lines.push(
      `  ${DRIFT_DETECTED}: check ${d.check}, ${d.metric.signal} score ${score(d.value)} ≥ ${d.threshold} in ${d.window.datapointsToAlarm} of ${d.window.evaluationPeriods} windows, baseline v${d.baseline ?? '?'}, test ${d.method ?? '?'}`,
    );
  }
  const e = result.evaluation;
  if (e !== null)
    lines.push(`  evaluation of production started on drift: run ${e.runId}, execution ${e.status}`);
  return lines;
}
