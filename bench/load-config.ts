import type { LoadOutcome, LoadRequest } from './load-generator.ts';

/**
 * What `bench/load.ts` sends and as whom: the app its stack server configures, the prompt it creates, and
 * the request mix. Request i goes to `POST /v1/chat` when i is even and to `POST /v1/chat/completions`
 * when it is odd (half each); every fourth request of each route asks for `stream: true` (a quarter
 * streamed); the question and its context cycle through {@link LOAD_VARIANTS}.
 */

/** The prompt `/v1/chat` renders in the load (the `stack` server creates it before `ready`). */
export const LOAD_PROMPT = {
  name: 'load-support',
  system: 'Answer only from this context:\n{{context}}',
  user: '{{question}}',
} as const;

/** The catalog model of the OpenAI-compatible requests. */
export const LOAD_MODEL = 'nova-micro';

/** The app the load calls as: allowed its prompt, model and raw chat; its limits are the profile's. */
export const LOAD_APP = {
  name: 'load',
  // The prod stage's limits (200/s, burst 400): the chat routes' own limit per app then comes from the
  // profile's `api.chatThrottling` (prod: 20/s, burst 50, per route), the lower of the two.
  rateLimit: 200,
  burstLimit: 400,
  quotaPerDay: 1_000_000,
  access: {
    prompts: ['load-*'],
    models: ['nova-*'],
    collections: ['upload'],
    rawChat: true,
    tokensPerDay: 20_000_000,
  },
} as const;

/** The profile the stack is synthesized with: prod, whose chat routes allow an app 20/s (burst 50) each. */
export const PROFILE = 'prod';

/** A limit that applies to the load's app, as the template declares it. */
export interface RouteLimit {
  readonly rateLimit: number | undefined;
  readonly burstLimit: number | undefined;
}

export interface AppLimits {
  /** Per-method throttles of the app's usage plan, keyed `POST /v1/chat`. */
  readonly routes: Readonly<Record<string, RouteLimit>>;
  /** The plan's own throttle (all methods without an override). */
  readonly key: RouteLimit | undefined;
  readonly quota: { readonly limit: number; readonly period: string } | undefined;
  /** The app's token budget a UTC day (null: none). */
  readonly tokensPerDay: number | null;
}

/** What a load server tells the benchmark over IPC. */
export type ServerMessage =
  | {
      readonly type: 'ready';
      readonly url: string;
      readonly apiKey: string;
      readonly limits: AppLimits | undefined;
      /** Input + output tokens of one setup call per route (the larger), to check the budget against. */
      readonly tokensPerRequest: number | undefined;
    }
  | {
      readonly type: 'memory';
      readonly at: number;
      readonly rss: number;
      readonly heapUsed: number;
      /** Bytes of ArrayBuffers (Buffers included), outside the V8 heap. */
      readonly arrayBuffers: number;
      /** CPU time the process has used so far, user + system, in microseconds. */
      readonly cpuMicros: number;
    }
  /** After each full (mark-compact) garbage collection: the heap then holds little but live objects. */
  | { readonly type: 'gc'; readonly at: number; readonly heapUsed: number };

/** Questions and the context that answers them: the load cycles through them. */
export const LOAD_VARIANTS: ReadonlyArray<{ readonly question: string; readonly context: string }> = [
  {
    question: 'How long can a Lambda function run?',
    context:
      'A Lambda function can run for up to 15 minutes per invocation. Lambda bills by the millisecond. ' +
      'Memory can be set from 128 MB to 10,240 MB, and CPU scales with it.',
  },
  {
    question: 'What happens to an asynchronous invocation that keeps failing?',
    context:
      'For asynchronous invocation, Lambda retries failed events twice, with a delay between attempts. ' +
      'After the last attempt the event goes to the on-failure destination or the dead-letter queue. ' +
      'Events can also expire when they stay in the queue longer than the maximum event age.',
  },
  {
    question: 'How does provisioned concurrency reduce cold starts?',
    context:
      'Provisioned concurrency keeps a number of execution environments initialized ahead of traffic. ' +
      'Requests routed to them start without an init phase. Reserved concurrency caps how many ' +
      'environments a function may use at once, and guarantees them to it.',
  },
  {
    question: 'Which runtimes can a function use?',
    context:
      'Lambda supports Node.js, Python, Java, .NET, Ruby and custom runtimes on Amazon Linux. A container ' +
      'image of up to 10 GB can also package a function. Arm64 functions cost less per millisecond.',
  },
];

/** The body of a `POST /v1/chat` request of the load: the load's prompt with its two variables. */
export function chatBody(question: string, context: string, stream: boolean) {
  return { prompt: LOAD_PROMPT.name, variables: { question, context }, ...(stream ? { stream: true } : {}) };
}

/** The body of an OpenAI-compatible request of the load: the context as system message, a raw chat. */
export function completionsBody(question: string, context: string, stream: boolean) {
  return {
    model: LOAD_MODEL,
    messages: [
      { role: 'system', content: LOAD_PROMPT.system.replace('{{context}}', context) },
      { role: 'user', content: question },
    ],
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  };
}

/** The routes of the load, in the order their rows are printed. */
export const LOAD_ROUTES = ['POST /v1/chat', 'POST /v1/chat/completions'] as const;

/** Request `index` of the schedule, sent with `apiKey`. */
export function loadRequest(index: number, apiKey: string): LoadRequest {
  const openai = index % 2 === 1;
  const perRoute = Math.floor(index / 2);
  const stream = perRoute % 4 === 3;
  const { question, context } = LOAD_VARIANTS[perRoute % LOAD_VARIANTS.length] ?? {
    question: '',
    context: '',
  };
  const route = LOAD_ROUTES[openai ? 1 : 0];
  return {
    label: `${route} (${stream ? 'stream' : 'json'})`,
    path: openai ? '/v1/chat/completions' : '/v1/chat',
    body: JSON.stringify(
      openai ? completionsBody(question, context, stream) : chatBody(question, context, stream),
    ),
    headers: {
      'x-api-key': apiKey,
      'content-type': 'application/json',
      accept: stream ? 'text/event-stream' : 'application/json',
    },
    streamed: stream,
  };
}

/** A throttle as printed: `20/s burst 50`. */
export const throttleText = (t: RouteLimit | undefined) =>
  t === undefined ? 'none' : `${t.rateLimit ?? '∞'}/s burst ${t.burstLimit ?? '∞'}`;

/** The message of API Gateway's THROTTLED response in the template (a model throttle says otherwise). */
const USAGE_PLAN_THROTTLE = /for this API key/;

/**
 * What one answer means: `ok` (2xx, and a stream that ended with its closing event); `limit`, a 429 that a
 * limit of the app produced (its usage plan's throttle of the route or quota, or its token budget), named
 * in `what`; else `failure` (any other status, a 429 from elsewhere such as a throttled model, a stream
 * cut short, no answer).
 */
export function classifyOutcome(
  outcome: Pick<LoadOutcome, 'label' | 'status' | 'errorCode' | 'errorMessage'>,
  limits: AppLimits | undefined,
): { kind: 'ok' | 'limit' | 'failure'; what: string } {
  if (outcome.status >= 200 && outcome.status < 300 && outcome.errorCode === undefined) {
    return { kind: 'ok', what: String(outcome.status) };
  }
  const route = outcome.label.replace(/ \((?:json|stream)\)$/, '');
  if (outcome.status === 429 && limits) {
    if (outcome.errorCode === 'throttled' && USAGE_PLAN_THROTTLE.test(outcome.errorMessage ?? '')) {
      return {
        kind: 'limit',
        what: `429 throttled: usage plan throttle of ${route} (${throttleText(limits.routes[route] ?? limits.key)})`,
      };
    }
    if (outcome.errorCode === 'quota_exceeded' && limits.quota) {
      return {
        kind: 'limit',
        what: `429 quota_exceeded: usage plan quota (${limits.quota.limit}/${limits.quota.period})`,
      };
    }
    if (outcome.errorCode === 'token_budget_exceeded' && limits.tokensPerDay !== null) {
      return {
        kind: 'limit',
        what: `429 token_budget_exceeded: app token budget (${limits.tokensPerDay} tokens/day)`,
      };
    }
  }
  return {
    kind: 'failure',
    what: `${outcome.status || 'no answer'}${outcome.errorCode ? ` ${outcome.errorCode}` : ''}`,
  };
}
