import { type ChildProcess, fork } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import {
  type AppLimits,
  classifyOutcome,
  LOAD_APP,
  LOAD_ROUTES,
  loadRequest,
  PROFILE,
  type ServerMessage,
  throttleText,
} from './load-config.ts';
import { type LoadOutcome, type LoadResult, percentile, runOpenLoop, slope } from './load-generator.ts';
import { announceSmoke, childEnv, formatRatio, sized } from './options.ts';

/**
 * `npm run bench:load`: a bounded, sustained load on the local API, side by side with a bare baseline.
 *
 * Starts the local stack (`LocalRunner.start()`: the synthesized template, the API on 127.0.0.1, the
 * offline model provider; profile prod, one app `load`, see bench/load-config.ts) in a child process and
 * holds an open-loop request rate against it: arrivals on a fixed schedule, latency measured from each
 * request's scheduled send time to the last byte of its answer, so queueing in the server is not hidden
 * (no coordinated omission). Half the requests go to `POST /v1/chat` (the load's prompt) and half to the
 * OpenAI-compatible `POST /v1/chat/completions` (a raw chat), a quarter of each streamed. A warm-up at the
 * same rate comes first and is left out of every number.
 *
 * Prints, per route and mode, p50/p90/p99/max latency of the 2xx answers; throughput achieved against
 * offered; statuses (429s apart, each attributed to the limit that produced it: the usage plan's
 * throttle or quota, or the app's token budget); the server process's memory, RSS, V8 heap used and
 * ArrayBuffers sampled every second, as start / peak / end over the measured part and the least-squares
 * slope over its second half (flat: no growth per request), and the heap after each full collection (the
 * live heap, whose trend is not blurred by garbage); and the server's CPU time per request. The limits
 * that apply to the app are read back from the synthesized template and compared with the offered load
 * before it starts.
 *
 * Baseline, the same load (rate, mix, warm-up) against a bare `node:http` server on loopback that answers
 * both routes by calling the same offline provider directly (bench/load-server.ts, `bare`): the floor of
 * serving the same model answers over HTTP on this machine, so the ratio is what the API adds per request
 * (gateway emulation, authorizer, usage plans, the Lambda proxy event and streaming shim, the handler with
 * its prompt registry, pricing, token budget, interaction record and metrics, the emulators' I/O).
 *
 * Exit code 1 when any answer is neither 2xx nor a 429 of the app's configured limits (or a stream ends
 * without its closing event, or an answer never comes), in either run. A request whose kept-alive socket
 * the server reset as it went out is sent again once (counted, printed), as HTTP clients do.
 *
 * BENCH_LOAD_SECONDS (default 180) measured seconds; BENCH_LOAD_RPS (default 20: 10/s per chat route,
 * half the prod per-app limit, and about a fifth of one core for the stack, which it still gets on the
 * shared 2-core machine; at 30 it needs a third of a core and queues for seconds whenever other work
 * takes the cores); BENCH_LOAD_WARMUP_SECONDS (default 15); BENCH_LOAD_BASELINE_SECONDS (default 60, at
 * most BENCH_LOAD_SECONDS: the bare server's latencies settle within seconds). `--smoke`: 3 s at
 * 10 req/s after 1 s of warm-up, baseline 3 s. Loopback only; stops by itself.
 */
const SECONDS = sized('BENCH_LOAD_SECONDS', 180, 3);
const RATE = sized('BENCH_LOAD_RPS', 20, 10);
const WARMUP_SECONDS = sized('BENCH_LOAD_WARMUP_SECONDS', 15, 1);
const BASELINE_SECONDS = Math.min(SECONDS, sized('BENCH_LOAD_BASELINE_SECONDS', 60, 3));
const START_TIMEOUT_MS = 300_000;
const MB = 1024 * 1024;

/** A benchmark setting that cannot run. */
class LoadBenchError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LoadBenchError';
  }
}

for (const [name, value] of [
  ['BENCH_LOAD_SECONDS', SECONDS],
  ['BENCH_LOAD_RPS', RATE],
  ['BENCH_LOAD_BASELINE_SECONDS', BASELINE_SECONDS],
] as const) {
  if (!(Number.isFinite(value) && value > 0)) throw new LoadBenchError(`${name} must be a positive number`);
}
if (!(Number.isFinite(WARMUP_SECONDS) && WARMUP_SECONDS >= 0)) {
  throw new LoadBenchError('BENCH_LOAD_WARMUP_SECONDS must be 0 or more');
}

type Ready = Extract<ServerMessage, { type: 'ready' }>;
type MemorySample = Extract<ServerMessage, { type: 'memory' }>;
type GcSample = Extract<ServerMessage, { type: 'gc' }>;

interface RunningServer {
  readonly ready: Ready;
  readonly samples: MemorySample[];
  readonly collections: GcSample[];
  stop(): Promise<void>;
}

/** Starts bench/load-server.ts in `mode` and resolves when it is ready; rejects with its stderr if it dies. */
function startServer(mode: 'stack' | 'bare'): Promise<RunningServer> {
  const child: ChildProcess = fork(join(import.meta.dirname, 'load-server.ts'), [mode], {
    execArgv: ['--import', 'tsx'],
    env: childEnv(),
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (data: string) => {
    stderr = (stderr + data).slice(-8000);
  });
  const samples: MemorySample[] = [];
  const collections: GcSample[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise<RunningServer>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new LoadBenchError(`${mode} server not ready after ${START_TIMEOUT_MS / 1000} s:\n${stderr}`));
    }, START_TIMEOUT_MS);
    child.on('message', (message: ServerMessage) => {
      if (message.type === 'memory') samples.push(message);
      if (message.type === 'gc') collections.push(message);
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      resolve({
        ready: message,
        samples,
        collections,
        async stop() {
          child.send({ type: 'stop' });
          const code = await exited;
          if (code !== 0) throw new LoadBenchError(`${mode} server exited with ${code}:\n${stderr}`);
        },
      });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new LoadBenchError(`${mode} server exited with ${code} before it was ready:\n${stderr}`));
    });
  });
}

const fixed = (v: number) => v.toFixed(v < 10 ? 2 : 1);

interface Latencies {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

function latencies(outcomes: readonly LoadOutcome[]): Latencies {
  const sorted = Float64Array.from(outcomes.map((o) => o.latencyMs)).sort();
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? 0,
  };
}

interface RunReport {
  /** Latencies per route (all modes), of the measured 2xx answers. */
  readonly routes: ReadonlyMap<string, Latencies>;
  readonly failures: number;
  /** Server CPU time per answered request over the measured part. */
  readonly cpuMsPerRequest: number | undefined;
}

/** Prints one run's latency table, throughput, statuses and memory; returns what the ratios need. */
function report(
  name: string,
  result: LoadResult,
  server: Pick<RunningServer, 'samples' | 'collections'>,
  limits: AppLimits | undefined,
  seconds: number,
): RunReport {
  const measured = result.outcomes.filter((o) => o.measured);
  const ok = measured.filter((o) => classifyOutcome(o, limits).kind === 'ok');
  const routes = new Map<string, Latencies>();
  console.log(
    `  ${'route (mode)'.padEnd(40)} ${'n'.padStart(6)} ${'p50 ms'.padStart(8)} ${'p90 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)}`,
  );
  for (const route of LOAD_ROUTES) {
    for (const mode of ['json', 'stream', 'all'] as const) {
      const stats = latencies(
        ok.filter((o) =>
          mode === 'all' ? o.label.startsWith(`${route} (`) : o.label === `${route} (${mode})`,
        ),
      );
      if (mode === 'all') routes.set(route, stats);
      console.log(
        `  ${name.padEnd(5)} ${`${route} (${mode})`.padEnd(34)} ${String(stats.n).padStart(6)} ${[stats.p50, stats.p90, stats.p99, stats.max].map((v) => fixed(v).padStart(8)).join(' ')}`,
      );
    }
  }
  const offered = measured.length / seconds;
  // Answers over the time from the first measured send to the last answer (at least the send window):
  // a server that keeps up answers at the offered rate, one that falls behind drains after the window.
  const span = Math.max(seconds, (result.lastAnswerAt - result.measuredFrom) / 1000);
  const achieved = ok.length / span;
  const drain = Math.max(0, (result.lastAnswerAt - result.sendsEndedAt) / 1000);
  console.log(
    `  ${name.padEnd(5)} throughput: offered ${offered.toFixed(2)} req/s, achieved ${achieved.toFixed(2)} req/s (${ok.length} 2xx of ${measured.length} sent in ${seconds} s; last answer ${drain.toFixed(2)} s after the last send)`,
  );
  const byKind = new Map<string, number>();
  let failures = result.unanswered;
  let throttledByLimit = 0;
  for (const outcome of result.outcomes) {
    const { kind, what } = classifyOutcome(outcome, limits);
    byKind.set(what, (byKind.get(what) ?? 0) + 1);
    if (kind === 'failure') failures++;
    if (kind === 'limit') throttledByLimit++;
  }
  if (result.unanswered > 0) byKind.set('no answer (drain timeout)', result.unanswered);
  const statuses = [...byKind].map(([what, count]) => `${what}: ${count}`).join('; ');
  console.log(
    `  ${name.padEnd(5)} statuses (all ${result.outcomes.length + result.unanswered} requests, warm-up included): ${statuses}; resent after a kept-alive socket was reset ${result.resent}; 429 of configured limits ${throttledByLimit}; failures ${failures}`,
  );
  console.log(
    `  ${name.padEnd(5)} send lag behind schedule: p50 ${fixed(result.sendLagMs.p50)} ms, p99 ${fixed(result.sendLagMs.p99)} ms, max ${fixed(result.sendLagMs.max)} ms`,
  );
  const cpuMsPerRequest = printMemory(name, server, result, ok.length);
  return { routes, failures, cpuMsPerRequest };
}

const MEMORY_FIELDS = [
  ['rss', 'rss'],
  ['heapUsed', 'heap used'],
  ['arrayBuffers', 'array buffers'],
] as const;

const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;

/**
 * The server process over the measured part: RSS, heap used and ArrayBuffers as start / peak / end with
 * the least-squares slope over the second half (also per request); the heap after each full collection
 * (the live heap: heap used between collections is mostly garbage, so its slope depends on when the
 * collections fell); and the CPU time per request. Returns the CPU milliseconds per request (undefined
 * without two samples).
 */
function printMemory(
  name: string,
  { samples, collections }: Pick<RunningServer, 'samples' | 'collections'>,
  result: LoadResult,
  answered: number,
): number | undefined {
  const inWindow = (s: { readonly at: number }) => s.at >= result.measuredFrom && s.at <= result.sendsEndedAt;
  const window = samples.filter(inWindow);
  const half = (result.measuredFrom + result.sendsEndedAt) / 2;
  const secondHalf = window.filter((s) => s.at >= half);
  const perRequestKb = (mbPerMinute: number) => (mbPerMinute * 1024) / (RATE * 60);
  for (const [field, label] of MEMORY_FIELDS) {
    const values = window.map((s) => s[field] / MB);
    const start = values[0] ?? 0;
    const end = values[values.length - 1] ?? 0;
    const peak = Math.max(0, ...values);
    const perMinute = slope(secondHalf.map((s) => ({ x: s.at / 60_000, y: s[field] / MB })));
    console.log(
      `  ${name.padEnd(5)} memory ${label}: start ${start.toFixed(1)} MB / peak ${peak.toFixed(1)} MB / end ${end.toFixed(1)} MB; slope over the second half ${signed(perMinute)} MB/min (${signed(perRequestKb(perMinute))} KB/request, ${secondHalf.length} samples)`,
    );
  }
  // Full collections are rarer than samples: the slope takes every one of the measured part.
  const full = collections.filter(inWindow);
  const live = full.map((c) => c.heapUsed / MB);
  const liveSlope = slope(full.map((c) => ({ x: c.at / 60_000, y: c.heapUsed / MB })));
  console.log(
    `  ${name.padEnd(5)} memory heap after full GC: ${full.length} collections; first ${(live[0] ?? 0).toFixed(1)} MB / last ${(live[live.length - 1] ?? 0).toFixed(1)} MB; slope ${full.length < 2 ? 'n/a (fewer than 2)' : `${signed(liveSlope)} MB/min (${signed(perRequestKb(liveSlope))} KB/request)`}`,
  );
  const first = window[0];
  const last = window[window.length - 1];
  if (!first || !last || last === first || answered === 0) return undefined;
  const cpuMs = (last.cpuMicros - first.cpuMicros) / 1000;
  const share = cpuMs / (last.at - first.at);
  // Answers a millisecond over the measured part, times the milliseconds the samples span.
  const answeredPerMs = answered / Math.max(1, result.sendsEndedAt - result.measuredFrom);
  const perRequest = cpuMs / (answeredPerMs * (last.at - first.at));
  console.log(
    `  ${name.padEnd(5)} cpu: ${perRequest.toFixed(3)} ms per request (server process, user + system; ${(share * 100).toFixed(1)}% of one core; machine load average ${(loadavg()[0] ?? 0).toFixed(1)} on ${cpus().length} cores)`,
  );
  return perRequest;
}

/** Says, before the load, whether the offered load fits the app's limits (else which 429s to expect). */
function headroom(limits: AppLimits | undefined, tokensPerRequest: number | undefined): string {
  if (!limits) return 'no usage plan applies';
  const perRoute = RATE / LOAD_ROUTES.length;
  const requests = Math.round(RATE * (WARMUP_SECONDS + SECONDS));
  const over: string[] = [];
  for (const route of LOAD_ROUTES) {
    const rate = (limits.routes[route] ?? limits.key)?.rateLimit;
    if (rate !== undefined && perRoute > rate) over.push(`throttle of ${route}`);
  }
  if (limits.key?.rateLimit !== undefined && RATE > limits.key.rateLimit) over.push('key throttle');
  if (limits.quota && requests > limits.quota.limit) over.push('quota');
  const tokens = tokensPerRequest === undefined ? undefined : requests * tokensPerRequest * 1.5;
  if (tokens !== undefined && limits.tokensPerDay !== null && tokens > limits.tokensPerDay)
    over.push('token budget');
  return (
    `offered ${perRoute.toFixed(1)}/s per chat route; ${requests} requests vs quota ${limits.quota?.limit ?? 'none'}; ` +
    `~${tokens === undefined ? '?' : Math.round(tokens)} tokens (${tokensPerRequest} a request, +50%) vs budget ${limits.tokensPerDay ?? 'none'}: ` +
    (over.length === 0 ? 'within every limit, no 429 expected' : `over the ${over.join(', ')}: 429s expected`)
  );
}

/** Starts a server, holds the load on it for `seconds`, stops it, and prints the run. */
async function loadRun(mode: 'stack' | 'bare', name: string, seconds: number): Promise<RunReport> {
  const server = await startServer(mode);
  const { url, apiKey, limits, tokensPerRequest } = server.ready;
  if (mode === 'stack') {
    console.log(
      `  stack: LocalRunner, profile ${PROFILE}, offline provider, API at ${url}, app "${LOAD_APP.name}"`,
    );
    if (limits) {
      const routes = LOAD_ROUTES.map((r) => `${r} ${throttleText(limits.routes[r] ?? limits.key)}`).join(
        ', ',
      );
      console.log(
        `  limits of the app (usage plan, from the template): ${routes}; other methods ${throttleText(limits.key)}; quota ${limits.quota ? `${limits.quota.limit}/${limits.quota.period}` : 'none'}; token budget ${limits.tokensPerDay ?? 'none'} a day`,
      );
    }
    console.log(`  headroom: ${headroom(limits, tokensPerRequest)}`);
  } else {
    console.log(`  bare: node:http + OfflineProvider at ${url}`);
  }
  let result: LoadResult;
  try {
    result = await runOpenLoop({
      url,
      rate: RATE,
      warmupSeconds: WARMUP_SECONDS,
      seconds,
      request: (index) => loadRequest(index, apiKey),
    });
  } finally {
    await server.stop();
  }
  return report(name, result, server, limits, seconds);
}

announceSmoke();
console.log(
  `\nLoad: open loop, ${RATE} req/s offered, ${WARMUP_SECONDS} s warm-up (excluded) then ${SECONDS} s measured (baseline ${BASELINE_SECONDS} s); ` +
    `half POST /v1/chat, half POST /v1/chat/completions, a quarter of each streamed; latency from the scheduled send to the last byte; ` +
    `node ${process.version}, ${cpus().length} cores`,
);
const api = await loadRun('stack', 'api', SECONDS);
const bare = await loadRun('bare', 'bare', BASELINE_SECONDS);
console.log(
  '  ratio = api / bare (what the API costs per request over serving the same offline answers with node:http)',
);
for (const route of LOAD_ROUTES) {
  const a = api.routes.get(route);
  const b = bare.routes.get(route);
  if (!a || !b || b.p50 === 0 || b.p99 === 0) continue;
  console.log(
    `  ratio ${route.padEnd(26)} p50 ${fixed(a.p50)} vs ${fixed(b.p50)} ms: ${formatRatio(a.p50 / b.p50)}; p99 ${fixed(a.p99)} vs ${fixed(b.p99)} ms: ${formatRatio(a.p99 / b.p99)}`,
  );
}
if (api.cpuMsPerRequest !== undefined && bare.cpuMsPerRequest) {
  console.log(
    `  ratio server cpu per request       ${api.cpuMsPerRequest.toFixed(3)} vs ${bare.cpuMsPerRequest.toFixed(3)} ms: ${formatRatio(api.cpuMsPerRequest / bare.cpuMsPerRequest)}`,
  );
}
if (api.failures + bare.failures > 0) {
  console.log(
    `FAILED: ${api.failures} api and ${bare.failures} bare answers were neither 2xx nor a 429 of a configured limit`,
  );
  process.exitCode = 1;
}
