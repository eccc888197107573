import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driftWindowResult } from '#contracts/drift/baseline.ts';
import { driftDetectedDetail } from '#events/drift-detected.ts';
import { evaluationRequestedDetail } from '#events/evaluation-requested.ts';
import { type DriftDemoResult, runDriftDemo } from '#infra/local/drift-demo.ts';
import { LocalRunner } from '#infra/local/runner.ts';

/**
 * The drift chain on the local stack, from the synthesized template: replayed traffic in the interaction
 * log, the DriftCheck state machine fired as its schedule fires (every SDK call of its functions judged
 * by the local IAM evaluator), its scores emitted as EMF, the synthesized alarms evaluated on them, the
 * page the composite alarm sends, CloudWatch's state change routed by the synthesized rule to the alarm
 * handler, `llmops.DriftDetected` on the project bus, and the evaluation of production it starts. The
 * online judge of the quality signal scores a sample of each checked window's answers (the offline judge
 * locally), and the baseline's once. The app's users rate a sample of each window's answers through
 * `POST /v1/feedback` before its check, so the feedback signal is scored in every window.
 */
let stack: LocalRunner;
let result: DriftDemoResult;

beforeAll(async () => {
  stack = await LocalRunner.start({ api: {} });
  result = await runDriftDemo(stack);
}, 240_000);
afterAll(async () => {
  await stack?.stop();
});

describe('drift: alarm → page → DriftDetected → evaluation, locally', () => {
  it('pins the first window as the baseline, finds no drift in similar traffic, and drift in the shifted windows', () => {
    const [first, similar, shifted1, shifted2] = result.windows.map((w) => driftWindowResult.parse(w.result));
    expect(first?.status).toBe('baseline-pinned');
    expect(first?.baseline).toBe(1);
    expect(similar?.status).toBe('checked');
    expect(similar?.drift).toBe(false);
    // Every score below 1, the feedback signal's included; no reviewer labelled a complaint, so the
    // reviews signal has nothing to compare: insufficient, no score.
    for (const [name, s] of Object.entries(similar?.signals ?? {})) {
      if (name === 'reviews') expect(s, name).toMatchObject({ score: null, insufficient: true });
      else expect(s.score, name).toBeLessThan(1);
    }
    expect(similar?.signals.answerEmbedding).toMatchObject({ drift: false, insufficient: false });
    for (const window of [shifted1, shifted2]) {
      expect(window?.drift).toBe(true);
      expect(window?.baseline).toBe(1);
      expect(window?.signals.embedding?.score).toBeGreaterThanOrEqual(1);
      expect(window?.signals.descriptors?.score).toBeGreaterThanOrEqual(1);
      // The answers moved with the questions: their own family sees it too.
      expect(window?.signals.answerEmbedding?.score).toBeGreaterThanOrEqual(1);
    }
  });

  it('the quality signal: the error rate of the shifted windows (15%) against the baseline’s (1%)', () => {
    const [first, similar, shifted1, shifted2] = result.windows.map((w) => driftWindowResult.parse(w.result));
    // Every call counts, failed or not; only the answered ones are read for the other signals.
    const ok = { throttles: 0, guardrailInterventions: 0 };
    // Collect looked up the verdicts on every answered call, and found those the demo posted.
    const feedback = (i: number, answered: number) => {
      const posted = result.windows[i]?.feedback;
      return {
        feedback: {
          answered,
          verdicts: posted?.verdicts,
          positive: posted?.up,
          negative: posted?.down,
          ratings: [posted?.down, 0, 0, 0, posted?.up],
          reviewed: 0,
          confirmed: 0,
        },
      };
    };
    expect(first?.outcomes).toEqual({
      reference: null,
      current: { calls: 200, errors: 2, ...ok, ...feedback(0, 198) },
    });
    expect(first?.n.current).toBe(198);
    expect(similar?.outcomes).toEqual({
      reference: { calls: 200, errors: 2, ...ok, ...feedback(0, 198) },
      current: { calls: 200, errors: 2, ...ok, ...feedback(1, 198) },
    });
    expect(similar?.signals.quality).toMatchObject({ drift: false, insufficient: false });
    expect(similar?.signals.quality?.score).toBeLessThan(1);
    for (const [i, window] of [
      [2, shifted1],
      [3, shifted2],
    ] as const) {
      expect(window?.outcomes?.current).toEqual({ calls: 200, errors: 30, ...ok, ...feedback(i, 170) });
      expect(window?.n.current).toBe(170);
      expect(window?.signals.quality).toMatchObject({ drift: true, method: 'errorRate' });
      expect(window?.signals.quality?.score).toBeGreaterThanOrEqual(1);
    }
    // The quality alarm entered ALARM with the others, under the same composite.
    expect(result.windows[3]?.transitions.filter((t) => t.alarmName.includes('quality'))).toContainEqual(
      expect.objectContaining({ to: 'ALARM' }),
    );
  });

  it('the feedback signal: the thumbs-up rate and mean rating of each window against the baseline’s', () => {
    const results = result.windows.map((w) => driftWindowResult.parse(w.result));
    const upRate = (i: number) => {
      const c = results[i]?.outcomes?.current.feedback;
      return (c?.positive ?? 0) / ((c?.positive ?? 0) + (c?.negative ?? 0));
    };
    // Every window's verdicts went through POST /v1/feedback, thumbs only, on answers of that window.
    for (const w of result.windows) {
      expect(w.feedback?.verdicts).toBeGreaterThan(0);
      expect((w.feedback?.up ?? 0) + (w.feedback?.down ?? 0)).toBe(w.feedback?.verdicts);
    }
    // About 85% up on the first two windows' answers, about 55% on the shifted ones'.
    expect(upRate(0)).toBeGreaterThan(0.8);
    expect(upRate(1)).toBeGreaterThan(0.8);
    expect(upRate(2)).toBeLessThan(0.65);
    expect(upRate(3)).toBeLessThan(0.65);
    // Scored in every checked window (enough verdicts on both sides): below the threshold in the similar
    // one, above it in the shifted ones, where it drifts.
    const [, similar, shifted1, shifted2] = results;
    expect(similar?.signals.feedback).toMatchObject({ insufficient: false, drift: false });
    expect(similar?.signals.feedback?.score).toBeLessThan(1);
    for (const window of [shifted1, shifted2]) {
      expect(window?.signals.feedback).toMatchObject({ insufficient: false, drift: true });
      expect(window?.signals.feedback?.score).toBeGreaterThanOrEqual(1);
      expect(['thumbsUpRate', 'meanRating']).toContain(window?.signals.feedback?.method);
    }
    // A share of the negative verdicts carry a comment: review tasks, which no reviewer has labelled, so
    // the reviews signal (the complaints' precision) has nothing to compare.
    expect(result.windows.reduce((n, w) => n + (w.feedback?.complaints ?? 0), 0)).toBeGreaterThan(0);
    for (const window of results.slice(1)) {
      expect(window.signals.reviews).toMatchObject({ score: null, insufficient: true });
    }
    // The feedback alarm pages with the others: OK through one shifted window, ALARM after the second.
    const feedbackAlarm = (i: number) =>
      result.windows[i]?.transitions.filter((t) => t.alarmName.includes('feedback')).map((t) => t.to) ?? [];
    expect(feedbackAlarm(2)).not.toContain('ALARM');
    expect(feedbackAlarm(3)).toContain('ALARM');
  });

  it('the online judge scores a capped sample of each checked window’s answers, and the baseline’s once', async () => {
    const [first, ...checked] = result.windows.map((w) => driftWindowResult.parse(w.result));
    // The pinned window is the baseline: nothing to compare it with yet.
    expect(first?.judge).toBeUndefined();
    expect(checked).toHaveLength(3);
    for (const window of checked) {
      // The offline judge stands in for the rubric version the registry resolved (seeded by Check).
      expect(window.judge).toMatchObject({ model: 'offline', rubric: 'judge-answer-relevance:1' });
      expect(window.judge?.current.judged).toBeGreaterThan(0);
      expect(window.judge?.current.failed).toBe(0);
      expect(window.judge?.current.mean).toEqual(expect.any(Number));
      // ⌈10% × 198⌉ = 20 of the baseline's answers, judged once: the same scores in every window.
      expect(window.judge?.reference).toEqual({
        sampled: 20,
        judged: 20,
        failed: 0,
        mean: expect.any(Number),
      });
      expect(window.judge?.reference).toEqual(checked[0]?.judge?.reference);
    }
    // ⌈10% × 198⌉ = 20 answers of the similar window, ⌈10% × 170⌉ = 17 of each shifted one.
    expect(checked.map((w) => w.judge?.current.sampled)).toEqual([20, 17, 17]);
    // A share of the shifted windows' answers are noncommittal or off-topic: judged less relevant.
    const [similar, shifted] = checked;
    expect(shifted?.judge?.current.mean).toBeLessThan(similar?.judge?.current.mean as number);
    // The baseline's scores are kept beside its records.
    const bucket = result.windows[1]?.result.report?.bucket as string;
    const listed = await stack.s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: 'drift/baselines/all-traffic/' }),
    );
    expect((listed.Contents ?? []).map((o) => o.Key).filter((k) => k?.includes('.judged-'))).toEqual([
      expect.stringMatching(
        /^drift\/baselines\/all-traffic\/window-.*\.judged-judge-answer-relevance-1\.json$/,
      ),
    ]);
  });

  it('the drift alarms stay OK through one shifted window and enter ALARM after M of N', () => {
    const drift = (i: number) =>
      result.windows[i]?.transitions.filter((t) => t.alarmName.includes('Drift')).map((t) => t.to) ?? [];
    expect(drift(2)).not.toContain('ALARM');
    expect(drift(3)).toContain('ALARM');
  });

  it('pages once, through the composite alarm, as SNS delivers it', () => {
    expect(result.pages).toHaveLength(1);
    expect(result.pages[0]?.subject).toMatch(/^ALARM: ".*DriftCheckAlarmalltraffic.*" in US East/);
  });

  it('the state change becomes llmops.DriftDetected with the window, the baseline and the test', () => {
    const detail = driftDetectedDetail.parse(result.driftDetected);
    expect(detail.check).toBe('all-traffic');
    expect(detail.threshold).toBe(1);
    expect(detail.value).toBeGreaterThanOrEqual(1);
    expect(detail.baseline).toBe(1);
    expect(detail.method).not.toBeNull();
    expect(detail.window.end).toBe(result.windows[3]?.result.window.end);
  });

  it('DriftDetected starts an evaluation of production, once', () => {
    // The paging signals of the check alarmed on the same window (the feedback signal's with them): each
    // became DriftDetected and asked for an evaluation with the same run id, which the Evaluate state
    // machine claims once.
    const requests = stack.events
      .filter((e) => e.event['detail-type'] === 'llmops.EvaluationRequested')
      .map((e) => evaluationRequestedDetail.parse(e.event.detail))
      .filter((d) => d.trigger === 'drift');
    expect(requests.length).toBeGreaterThanOrEqual(1);
    expect(new Set(requests.map((r) => r.runId)).size).toBe(1);
    expect(requests[0]?.request).toMatchObject({
      suite: 'golden',
      target: { prompt: 'rag-answer@production' },
    });
    expect(result.evaluation?.runId).toBe(
      `drift-all-traffic-${result.windows[3]?.result.window.end.replace(/[^0-9]/g, '').slice(0, 14)}`,
    );
    const outputs = stack.deliveries.map(
      (d) => (d.execution?.output ?? {}) as { runId?: string; status?: string },
    );
    const statuses = outputs.filter((o) => o.runId === result.evaluation?.runId).map((o) => o.status);
    // One execution per request; the first claims the run, the others find it claimed.
    expect(statuses).toHaveLength(requests.length);
    expect(statuses.filter((status) => status !== 'duplicate')).toEqual(['skipped']);
    // No golden suite is registered in this run: the Evaluate state machine runs and records the run skipped.
    expect(result.evaluation?.status).toBe('SUCCEEDED');
  });
});
