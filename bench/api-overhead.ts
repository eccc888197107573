import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BEDROCK_CATALOG } from '#infra/config/bedrock-catalog.ts';
import { announceSmoke, childEnv, formatRatio } from './options.ts';

/**
 * The chat handler's own overhead: everything but the model call, measured side by side with a bare
 * handler that only calls the same offline provider, each in a fresh process with metrics and logs
 * written to stdout as in Lambda. Prints p50/p99 of both, the overhead (difference) and the ratio.
 * BENCH_ITERATIONS (default 20000) calls after 2000 warm-up calls; `--smoke`: 200 after 50.
 */
interface Result {
  mode: string;
  p50: number;
  p99: number;
  iterations: number;
}

/** The catalog entry of the stack's default embedding model (titan-embed-text-v2). */
const EMBEDDING_MODEL = BEDROCK_CATALOG.find((m) => m.id === 'titan-embed-text-v2');

function run(mode: 'full' | 'bare'): Result {
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'api-overhead-worker.ts'), mode],
    {
      env: {
        ...childEnv(),
        POWERTOOLS_SERVICE_NAME: 'llmops',
        POWERTOOLS_METRICS_NAMESPACE: 'LLMOps',
        POWERTOOLS_METRICS_DISABLED: 'false',
        POWERTOOLS_LOG_LEVEL: 'WARN',
        PROMPTS_TABLE: 'bench',
        CATALOG_TABLE: 'bench',
        USAGE_TABLE: 'bench',
        INTERACTIONS_TABLE: 'bench',
        INTERACTION_TTL_DAYS: '7',
        CATALOG_SEED: '[]',
        EVENT_BUS_NAME: 'bench',
        INTERACTION_SAMPLE_RATE: '1',
        CHAT_TIMEOUT_MS: '30000',
        PROMPT_CACHE_TTL_SECONDS: '10',
        MAX_REQUEST_BYTES: '262144',
        // The chat module reads the embedding model of retrieval (RAG) at import; retrieval is not called.
        VECTOR_STORE_KIND: 'embedded',
        EMBEDDING_MODEL: JSON.stringify(EMBEDDING_MODEL),
        AWS_REGION: 'us-east-1',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
    },
  );
  if (child.status !== 0) throw new Error(`${mode} worker failed: ${child.stderr}`);
  return JSON.parse(child.stderr.trim().split('\n').pop() ?? '{}') as Result;
}

announceSmoke();
const full = run('full');
const bare = run('bare');
const ms = (v: number) => `${v.toFixed(3)} ms`;
console.log(
  `\nChat handler overhead (offline provider, ${full.iterations} calls after warm-up; node ${process.version})`,
);
console.log(`  bare handler (provider call only)  p50 ${ms(bare.p50)}  p99 ${ms(bare.p99)}`);
console.log(`  chat handler                       p50 ${ms(full.p50)}  p99 ${ms(full.p99)}`);
console.log(
  `  overhead                           p50 ${ms(full.p50 - bare.p50)}  p99 ${ms(full.p99 - bare.p99)}  ratio p50 ${formatRatio(full.p50 / bare.p50)}  (target: overhead p50 < 1 ms)`,
);
