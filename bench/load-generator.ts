import { Agent, request } from 'node:http';

/**
 * The open-loop load generator of `bench/load.ts`, and the statistics it reports.
 *
 * Arrivals follow a fixed schedule (request i at start + i / rate), whatever the server does: a slow
 * answer never delays the next send, so queueing in the server shows as latency instead of as a lower
 * send rate (no coordinated omission). Each latency is measured from the request's scheduled send time
 * to the last byte of its answer, so a generator that falls behind its schedule adds its lag too; the
 * lag is reported apart (`sendLagMs`). Sockets are kept alive and never capped, as an open loop needs; a
 * request that went out on a kept-alive socket as the server closed it is sent again once (`resent`).
 */

/** One request of the load: what to send, and the label its latency is reported under. */
export interface LoadRequest {
  /** Route and mode, e.g. `POST /v1/chat (json)`. */
  readonly label: string;
  readonly path: string;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  /** True when the answer is a stream: it must end with its closing event. */
  readonly streamed: boolean;
}

/** What became of one request. */
export interface LoadOutcome {
  readonly label: string;
  /** Scheduled send time, milliseconds from the start of the schedule. */
  readonly scheduledMs: number;
  /** Scheduled send to the last byte of the answer (or to the failure). */
  readonly latencyMs: number;
  /** HTTP status; 0 when no answer came (connection error, timeout). */
  readonly status: number;
  /** The answer's `error.code` for a non-2xx JSON answer; `stream_incomplete` for a 2xx stream cut short. */
  readonly errorCode: string | undefined;
  /** The answer's `error.message` (or API Gateway's `message`), for a non-2xx answer. */
  readonly errorMessage?: string | undefined;
  /** In the measured part of the run (scheduled after the warm-up). */
  readonly measured: boolean;
}

export interface LoadPlan {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Offered requests per second. */
  readonly rate: number;
  /** Seconds of warm-up at the same rate, excluded from the statistics. */
  readonly warmupSeconds: number;
  /** Measured seconds after the warm-up. */
  readonly seconds: number;
  /** The i-th request of the schedule. */
  readonly request: (index: number) => LoadRequest;
  /** How long to wait for answers still in flight after the last send. @default 30000 */
  readonly drainTimeoutMs?: number;
}

export interface LoadResult {
  readonly outcomes: readonly LoadOutcome[];
  /** Wall-clock (epoch ms) of the schedule's start, of the end of the warm-up and of the last send. */
  readonly startedAt: number;
  readonly measuredFrom: number;
  readonly sendsEndedAt: number;
  /** Epoch ms when the last measured answer arrived. */
  readonly lastAnswerAt: number;
  /** How late the generator sent, behind its schedule, over every request (ms): p50, p99, max. */
  readonly sendLagMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Requests still unanswered at the drain timeout (counted as failures with status 0). */
  readonly unanswered: number;
  /** Requests sent again because the server reset the kept-alive socket they went out on. */
  readonly resent: number;
}

/** The code and message of a JSON error body (`{error: {code, message}}`, or API Gateway's `{message}`). */
function errorOf(body: string): { code: string | undefined; message: string | undefined } {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown }; message?: unknown };
    const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
    return { code: text(parsed.error?.code), message: text(parsed.error?.message) ?? text(parsed.message) };
  } catch {
    return { code: undefined, message: body.slice(0, 200) };
  }
}

/** True when a streamed answer ended with its closing event (`done`, or OpenAI's `[DONE]`) and no error. */
export function streamCompleted(body: string): boolean {
  const text = body.trimEnd();
  if (text.endsWith('data: [DONE]')) return !/^data: \{"error"/m.test(text);
  return /(^|\n)event: done\n/.test(text) && !/(^|\n)event: error\n/.test(text);
}

/** Runs the plan's schedule against its server and resolves when every answer is in (or the drain timed out). */
export async function runOpenLoop(plan: LoadPlan): Promise<LoadResult> {
  const interval = 1000 / plan.rate;
  const total = Math.round(plan.rate * (plan.warmupSeconds + plan.seconds));
  const warmupCount = Math.round(plan.rate * plan.warmupSeconds);
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, maxFreeSockets: 256 });
  const target = new URL(plan.url);
  const outcomes: LoadOutcome[] = [];
  const lags = new Float64Array(total);
  let pending = 0;
  let resent = 0;
  let lastAnswerAt = 0;
  let allSent: () => void = () => undefined;
  const drained = new Promise<void>((resolve) => {
    allSent = resolve;
  });
  let sent = 0;
  const origin = performance.now() + 50;
  const startedAt = performance.timeOrigin + origin;

  const send = (index: number, scheduled: number) => {
    const spec = plan.request(index);
    const measured = index >= warmupCount;
    pending++;
    let settled = false;
    const settle = (status: number, errorCode: string | undefined, errorMessage?: string) => {
      if (settled) return;
      settled = true;
      const now = performance.now();
      if (measured) lastAnswerAt = Math.max(lastAnswerAt, performance.timeOrigin + now);
      outcomes.push({
        label: spec.label,
        scheduledMs: scheduled - origin,
        latencyMs: now - scheduled,
        status,
        errorCode,
        errorMessage,
        measured,
      });
      pending--;
      if (pending === 0 && sent === total) allSent();
    };
    const attempt = (retried: boolean) => {
      let answered = false;
      const req = request(
        {
          host: target.hostname,
          port: target.port,
          method: 'POST',
          path: spec.path,
          agent,
          headers: { ...spec.headers, 'content-length': Buffer.byteLength(spec.body) },
        },
        (res) => {
          answered = true;
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', () => settle(0, 'response_error'));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const body = Buffer.concat(chunks).toString('utf8');
            if (status < 200 || status > 299) {
              const error = errorOf(body);
              settle(status, error.code, error.message);
            } else if (spec.streamed && !streamCompleted(body)) settle(status, 'stream_incomplete');
            else settle(status, undefined);
          });
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) => {
        // A kept-alive socket the server closed as the request went out (its idle timer fired first):
        // nothing reached the server's handler, so the request goes again on a fresh socket, once, as
        // Node's documentation advises; the latency still counts from the scheduled send.
        if (!retried && !answered && req.reusedSocket && error.code === 'ECONNRESET') {
          resent++;
          attempt(true);
          return;
        }
        settle(0, error.code ?? 'request_error');
      });
      req.end(spec.body);
    };
    attempt(false);
  };

  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      // Every request whose time has come goes now, late ones included: the schedule never slips.
      while (sent < total && origin + sent * interval <= now) {
        const scheduled = origin + sent * interval;
        lags[sent] = now - scheduled;
        const index = sent;
        sent++;
        send(index, scheduled);
      }
      if (sent === total) {
        resolve();
        return;
      }
      wait(origin + sent * interval);
    };
    // Timers fire a millisecond or so late: sleep until just before the next send, then yield to the
    // event loop (answers keep flowing) until its time comes.
    const wait = (due: number) => {
      const ahead = due - performance.now();
      if (ahead > 2) setTimeout(tick, ahead - 2);
      else if (ahead > 0) setImmediate(tick);
      else tick();
    };
    wait(origin);
  });
  const sendsEndedAt = performance.timeOrigin + performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, plan.drainTimeoutMs ?? 30_000);
  });
  if (pending > 0) await Promise.race([drained, timedOut]);
  clearTimeout(timer);
  const unanswered = pending;
  agent.destroy();
  const sortedLags = Float64Array.from(lags).sort();
  return {
    outcomes,
    startedAt,
    measuredFrom: startedAt + warmupCount * interval,
    sendsEndedAt,
    lastAnswerAt,
    sendLagMs: {
      p50: percentile(sortedLags, 50),
      p99: percentile(sortedLags, 99),
      max: sortedLags[sortedLags.length - 1] ?? 0,
    },
    unanswered,
    resent,
  };
}

/** The nearest-rank percentile of sorted values (0 when there are none). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? 0;
}

/** Least-squares slope of `y` over `x` (0 with fewer than two points). */
export function slope(points: ReadonlyArray<{ readonly x: number; readonly y: number }>): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (const p of points) {
    sx += p.x;
    sy += p.y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}
