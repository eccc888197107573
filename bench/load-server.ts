import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import type { ChatMessage, ChatRequest } from '#core/models/types.ts';
import {
  type AppLimits,
  chatBody,
  completionsBody,
  LOAD_APP,
  LOAD_MODEL,
  LOAD_PROMPT,
  LOAD_VARIANTS,
  PROFILE,
  type ServerMessage,
} from './load-config.ts';

/**
 * One server of `bench/load.ts`, in its own process so that its memory is its own and the load
 * generator never shares its event loop. Talks to the parent over IPC: `ready` (URL, key, the limits
 * that apply), then a `memory` sample every second (RSS, V8 heap used, ArrayBuffers, CPU time used) and a `gc`
 * message after each full garbage collection (the heap used then) until the parent sends
 * `stop`.
 *
 * - `stack`: `LocalRunner.start()` with the API on 127.0.0.1 and the offline model provider, profile
 *   `prod`, and one app, `load`, whose access allows the load's prompt, model and raw chat; its limits
 *   (usage plan throttles, quota, token budget) are read back from the synthesized template and reported.
 *   Before `ready` it creates the load's prompt through the admin route and calls each route once.
 * - `bare`: a `node:http` server on 127.0.0.1 that answers the same two routes by calling the offline
 *   provider directly with the same messages (no authorizer, usage plan, proxy event, handler, prompt
 *   registry, pricing, budget, interaction record or metrics) and writes the answer as JSON or as a
 *   stream with the same closing events: the floor of serving the same model answers over HTTP here.
 */

/** A named failure of a load server, reported to the parent through its exit. */
export class LoadServerError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LoadServerError';
  }
}

const send = (message: ServerMessage) => process.send?.(message);

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

interface BareBody {
  readonly variables?: { readonly question?: string; readonly context?: string };
  readonly messages?: ReadonlyArray<{ readonly role: string; readonly content: string }>;
  readonly stream?: boolean;
}

/** The bare server: the offline provider behind `node:http`, nothing else. */
async function startBare(): Promise<{ url: string; stop: () => Promise<void> }> {
  const { OfflineProvider } = await import('#core/models/offline.ts');
  const provider = new OfflineProvider();
  const respond = async (req: IncomingMessage, res: ServerResponse) => {
    const body = JSON.parse(await readBody(req)) as BareBody;
    const openai = req.url === '/v1/chat/completions';
    let system: string | undefined;
    let messages: ChatMessage[];
    if (openai) {
      system = body.messages?.find((m) => m.role === 'system')?.content;
      messages = (body.messages ?? [])
        .filter((m) => m.role === 'user' || m.role === 'assistant')
        .map((m) => ({ role: m.role as ChatMessage['role'], content: m.content }));
    } else {
      system = LOAD_PROMPT.system.replace('{{context}}', body.variables?.context ?? '');
      messages = [{ role: 'user', content: body.variables?.question ?? '' }];
    }
    const request: ChatRequest = { modelId: LOAD_MODEL, messages, ...(system ? { system } : {}) };
    if (!body.stream) {
      const result = await provider.chat(request);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ answer: result.text, usage: result.usage }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for await (const event of provider.chatStream(request)) {
      if (event.type === 'delta') {
        res.write(
          openai
            ? `data: ${JSON.stringify({ text: event.text })}\n\n`
            : `event: delta\ndata: ${JSON.stringify({ text: event.text })}\n\n`,
        );
      } else {
        const done = JSON.stringify({ answer: event.result.text, usage: event.result.usage });
        res.write(openai ? `data: ${done}\n\n` : `event: done\ndata: ${done}\n\n`);
      }
    }
    res.end(openai ? 'data: [DONE]\n\n' : '');
  };
  const server = createServer((req, res) => {
    respond(req, res).catch(() => {
      res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new LoadServerError('bare server has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The local stack with the load's app, its prompt created; the limits that apply to the app. */
async function startStack(): Promise<{
  url: string;
  apiKey: string;
  limits: AppLimits | undefined;
  tokensPerRequest: number;
  stop: () => Promise<void>;
}> {
  const [{ LocalRunner }, { LocalApiClient }] = await Promise.all([
    import('#infra/local/runner.ts'),
    import('#infra/local/api-client.ts'),
  ]);
  const stack = await LocalRunner.start({
    profile: PROFILE,
    api: { appName: LOAD_APP.name },
    context: { apiApps: JSON.stringify([LOAD_APP]) },
  });
  try {
    const api = stack.api;
    if (!api) throw new LoadServerError('the synthesized template declares no REST API');
    const plan = stack.template.usagePlans().find((p) => p.apiKeyIds.includes(api.apiKeyId));
    const stageThrottles = plan?.apiStages.find((s) => s.stage === api.stage)?.throttle ?? {};
    const chat = stack.template.lambdaFunctions().find((f) => f.entry === 'functions/api/chat.ts');
    const access = JSON.parse(chat?.environment.APP_ACCESS ?? '{}') as Record<
      string,
      { tokensPerDay?: number | null }
    >;
    const limits: AppLimits | undefined = plan && {
      routes: Object.fromEntries(
        Object.entries(stageThrottles).map(([key, throttle]) => {
          const slash = key.lastIndexOf('/');
          return [`${key.slice(slash + 1)} ${key.slice(0, slash)}`, throttle];
        }),
      ),
      key: plan.throttle,
      quota: plan.quota && { limit: plan.quota.limit, period: plan.quota.period },
      tokensPerDay: access[LOAD_APP.name]?.tokensPerDay ?? null,
    };

    const client = new LocalApiClient({ url: api.url, apiKey: api.apiKey });
    const draft = {
      messages: [
        { role: 'system', content: LOAD_PROMPT.system },
        { role: 'user', content: LOAD_PROMPT.user },
      ],
      variables: { question: { type: 'string' }, context: { type: 'string' } },
      commitMessage: 'Load test prompt',
    };
    const path = `/v1/prompts/${LOAD_PROMPT.name}`;
    const created = await client.call<{ version: number }>(
      'create prompt',
      'POST',
      `${path}/versions`,
      draft,
      201,
    );
    await client.call('label prompt', 'PUT', `${path}/labels/production`, { version: created.version });
    const { question, context } = LOAD_VARIANTS[0] ?? { question: '', context: '' };
    const viaChat = await client.call<{ usage: { inputTokens: number; outputTokens: number } }>(
      'POST /v1/chat',
      'POST',
      '/v1/chat',
      chatBody(question, context, false),
    );
    const viaOpenAi = await client.call<{ usage: { total_tokens: number } }>(
      'POST /v1/chat/completions',
      'POST',
      '/v1/chat/completions',
      completionsBody(question, context, false),
    );
    const tokensPerRequest = Math.max(
      viaChat.usage.inputTokens + viaChat.usage.outputTokens,
      viaOpenAi.usage.total_tokens,
    );
    return { url: api.url, apiKey: api.apiKey, limits, tokensPerRequest, stop: () => stack.stop() };
  } catch (error) {
    await stack.stop();
    throw error;
  }
}

async function main(mode: string): Promise<void> {
  const server =
    mode === 'stack'
      ? await startStack()
      : mode === 'bare'
        ? { ...(await startBare()), apiKey: 'bare', limits: undefined, tokensPerRequest: undefined }
        : undefined;
  if (!server) throw new LoadServerError(`unknown mode "${mode}" (stack or bare)`);
  const sample = () => {
    const { rss, heapUsed, arrayBuffers } = process.memoryUsage();
    const { user, system } = process.cpuUsage();
    send({ type: 'memory', at: Date.now(), rss, heapUsed, arrayBuffers, cpuMicros: user + system });
  };
  sample();
  const sampler = setInterval(sample, 1000);
  // The heap right after a full collection is the live heap: its trend tells retention from garbage.
  const collections = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      // Node sets `detail.kind` on gc entries; the type of PerformanceEntry does not declare it.
      const kind = (entry as { readonly detail?: { readonly kind?: number } | null }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        send({ type: 'gc', at: Date.now(), heapUsed: process.memoryUsage().heapUsed });
      }
    }
  });
  collections.observe({ entryTypes: ['gc'] });
  process.on('message', (message: { type?: string }) => {
    if (message.type !== 'stop') return;
    clearInterval(sampler);
    collections.disconnect();
    server
      .stop()
      .then(() => process.disconnect?.())
      .catch((error: unknown) => {
        console.error(error);
        process.exit(1);
      });
  });
  // Without its parent the server has no reason to live.
  process.on('disconnect', () => process.exit(0));
  send({
    type: 'ready',
    url: server.url,
    apiKey: server.apiKey,
    limits: server.limits,
    tokensPerRequest: server.tokensPerRequest,
  });
}

main(process.argv[2] ?? '').catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
