import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { flattenNestedStacks } from '#infra/local/template/nested-stacks.ts';
import { LocalTemplate } from '#infra/local/template.ts';
import { announceSmoke, formatRatio, options, outDir, sized } from './options.ts';

/**
 * Cold-start proxy per function: the bundles `cdk synth` deploys (nested stacks included), each loaded
 * in a fresh Node process with its template environment (module load + top-level init: SDK clients,
 * config, schemas), against a bare handler that imports the same SDK client, bundled the same way. API
 * functions are also invoked once in that process, with a request their validation refuses, which runs
 * the middleware, schemas and error mapping without any network call; event-driven functions are not
 * invoked (that would call AWS). Source maps are enabled where the function's environment enables them
 * (NODE_OPTIONS), as in Lambda.
 *
 * Prints bundle size, the median of 7 runs (wall clock), the ratio to the bare handler run alternately
 * with the function (7 times too), the same for the CPU time of the process (steadier than wall clock
 * on a busy machine), and whether the bundle is over the 500 KiB budget. `--smoke`: one run each (the
 * synth, which bundles every function, is the same and takes most of the time).
 * Environment: BENCH_COLD_START_RUNS, BENCH_COLD_START_ONLY (entries containing this text),
 * BENCH_COLD_START_REUSE=1 (no new synth: the bundles of the previous full run),
 * BENCH_COLD_START_CPU_PROF=<folder> (a V8 CPU profile of every run of every function).
 */
const ROOT = join(import.meta.dirname, '..');
const OUT = outDir('cold-start');
const RUNS = sized('BENCH_COLD_START_RUNS', 7, 1);
/** Only the functions whose entry contains this (e.g. `functions/api/`); all by default. */
const ONLY = process.env.BENCH_COLD_START_ONLY ?? '';
/** `1`: measure the bundles of the previous full run again, without a new synth. */
const REUSE = !options.smoke && process.env.BENCH_COLD_START_REUSE === '1';
/** A folder: each function's cold starts also write a V8 CPU profile there (`node --cpu-prof`). */
const PROFILES = process.env.BENCH_COLD_START_CPU_PROF ?? '';

announceSmoke();
if (REUSE && existsSync(join(OUT, 'cdk.out'))) {
  console.log(`reusing the bundles of the previous run in ${join(OUT, 'cdk.out')}`);
} else {
  rmSync(OUT, { recursive: true, force: true });
  process.stdout.write('synthesizing (bundles every function) ... ');
  try {
    execFileSync(join(ROOT, 'node_modules/.bin/cdk'), ['synth', '--quiet', '-o', join(OUT, 'cdk.out')], {
      cwd: ROOT,
      env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: '1', AWS_EC2_METADATA_DISABLED: 'true' },
      stdio: 'pipe',
    });
  } catch (error) {
    console.error((error as { stderr?: Buffer }).stderr?.toString() ?? error);
    process.exit(1);
  }
  console.log('done');
}

/** The bare baselines, by the SDK client a function's own work needs. */
const BARE = {
  s3: { source: 'bare-handler.ts', label: 'bare handler (S3 client)' },
  bedrock: { source: 'bare-bedrock.ts', label: 'bare handler (Bedrock Runtime client)' },
  dynamodb: { source: 'bare-dynamodb.ts', label: 'bare handler (DynamoDB client)' },
  none: { source: 'bare-none.ts', label: 'bare handler (no SDK client)' },
} as const;
type Baseline = keyof typeof BARE;
const baselineOf = (entry: string): Baseline =>
  entry === 'functions/api/chat.ts'
    ? 'bedrock'
    : entry === 'functions/api/openapi.ts' || entry === 'functions/api/authorizer.ts'
      ? 'none'
      : entry.startsWith('functions/api/')
        ? 'dynamodb'
        : 's3';

for (const [name, { source }] of Object.entries(BARE)) {
  await build({
    entryPoints: [join(import.meta.dirname, source)],
    outfile: join(OUT, `bare-${name}`, 'index.mjs'),
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    mainFields: ['module', 'main'],
    banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
    // The same credential provider alias as every deployed function (infra/constructs/llmops-function.ts).
    alias: {
      '@aws-sdk/credential-provider-node': join(ROOT, 'layers/aws/src/lambda-credentials.ts'),
      '@aws-sdk/token-providers': join(ROOT, 'layers/aws/src/lambda-token-providers.ts'),
    },
    logLevel: 'silent',
  });
}

const readJson = (file: string) => JSON.parse(readFileSync(join(OUT, 'cdk.out', file), 'utf8'));
const templateFile =
  readdirSync(join(OUT, 'cdk.out')).find((f) => f.endsWith('.template.json') && !f.includes('.nested.')) ??
  '';
const parent = readJson(templateFile);
/** A template less the CLI's version-reporting resource, which every stack of `cdk synth` carries alike. */
function withoutCdkMetadata(template: {
  Resources?: Record<string, unknown>;
  Conditions?: Record<string, unknown>;
}) {
  delete template.Resources?.CDKMetadata;
  delete template.Conditions?.CDKMetadataAvailable;
  return template;
}
// The functions of nested stacks too: each nested template, flattened into the parent as the local run does.
const nested = Object.entries(
  parent.Resources as Record<string, { Type: string; Metadata?: Record<string, string> }>,
).flatMap(([logicalId, r]) => {
  const file = r.Metadata?.['aws:asset:path'];
  return r.Type === 'AWS::CloudFormation::Stack' && file
    ? [{ logicalId, template: withoutCdkMetadata(readJson(file)) }]
    : [];
});
const raw = flattenNestedStacks(parent, nested) as {
  Resources: Record<string, { Metadata?: Record<string, unknown> }>;
};
const template = new LocalTemplate(raw, {
  ignoreFunctions: (_id, resource) => resource.Metadata?.['llmops:entry'] === undefined,
});

/**
 * A first request that each API function answers without the network: refused at validation (an unknown
 * body field, a bad query value or path name) or, for the OpenAPI document, served from memory. It runs
 * the whole middleware.
 */
const REFUSED_REQUEST = {
  resource: '/v1/models',
  path: '/v1/models',
  httpMethod: 'GET',
  headers: {},
  queryStringParameters: { kind: 'nonsense' },
  pathParameters: null,
  body: null,
  isBase64Encoded: false,
  requestContext: { requestId: 'cold-start', identity: { apiKeyId: 'k', userArn: null } },
};
const refusedFor = (entry: string) =>
  entry === 'functions/api/chat.ts'
    ? {
        ...REFUSED_REQUEST,
        resource: '/v1/chat',
        path: '/v1/chat',
        httpMethod: 'POST',
        queryStringParameters: null,
        body: '{"nonsense":1}',
      }
    : entry === 'functions/api/prompts.ts'
      ? {
          ...REFUSED_REQUEST,
          resource: '/v1/prompts/{name}',
          path: '/v1/prompts/BAD',
          pathParameters: { name: 'BAD' },
        }
      : entry === 'functions/api/openapi.ts'
        ? { ...REFUSED_REQUEST, resource: '/v1/openapi.json', path: '/v1/openapi.json' }
        : entry === 'functions/api/authorizer.ts'
          ? // The authorizer answers a request with a key (no AWS call): its whole path, allowed.
            {
              type: 'REQUEST',
              methodArn: 'arn:aws:execute-api:us-east-1:123456789012:abc/dev/GET/v1/models',
              path: '/v1/models',
              headers: { authorization: `Bearer ${'k'.repeat(40)}` },
            }
          : REFUSED_REQUEST;

/** A minimal `awslambda` global, as the Lambda runtime provides, for response-streaming handlers. */
const STREAMING_SHIM = `globalThis.awslambda = { streamifyResponse: (f) => f, HttpResponseStream: { from: (s) => s } };
const { Writable } = await import('node:stream');
const sink = () => new Writable({ write(_c, _e, cb) { cb(); } });`;

/** One cold start, wall-clock and CPU (all threads of the process) milliseconds. */
interface ColdStart {
  readonly wall: number;
  readonly cpu: number;
}

/** One cold start of the bundle in `bundleDir`, in a fresh Node process. */
function coldStartOnce(
  bundleDir: string,
  env: Record<string, string>,
  invokeWith?: unknown,
  profileName?: string,
): ColdStart {
  const bundle = pathToFileURL(join(bundleDir, 'index.mjs')).href;
  const invoke =
    invokeWith === undefined
      ? ''
      : `const ctx = { awsRequestId: 'cold', functionName: 'fn', getRemainingTimeInMillis: () => 30000 };
const ev = ${JSON.stringify(invokeWith)};
const r = m.handler.length >= 3 ? await m.handler(ev, sink(), ctx) : await m.handler(ev, ctx);
const answered = r && (r.statusCode < 500 || r.policyDocument !== undefined);
if (m.handler.length < 3 && !answered) throw new Error('unexpected answer ' + JSON.stringify(r));`;
  const script = `${STREAMING_SHIM}
const c = process.cpuUsage(); const t = performance.now(); const m = await import(${JSON.stringify(bundle)}); if (typeof m.handler !== 'function') throw new Error('no handler');
${invoke}
const wall = performance.now() - t; const { user, system } = process.cpuUsage(c);
console.log(JSON.stringify({ wall, cpu: (user + system) / 1000 }));`;
  // Source maps are on where the function's own NODE_OPTIONS turn them on, as in Lambda.
  const profile =
    PROFILES && profileName ? ['--cpu-prof', '--cpu-prof-dir', join(PROFILES, profileName)] : [];
  const out = execFileSync(process.execPath, [...profile, '--input-type=module', '-e', script], {
    env: {
      PATH: process.env.PATH ?? '',
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      ...env,
    },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop() ?? '') as ColdStart;
}

const median = (times: readonly number[]) =>
  [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)] ?? Number.NaN;
const medians = (runs: readonly ColdStart[]) => ({
  wall: median(runs.map((r) => r.wall)),
  cpu: median(runs.map((r) => r.cpu)),
});

const size = (dir: string) => statSync(join(dir, 'index.mjs')).size / 1024;
const BUDGET_KIB = 500;
const isApi = (entry: string) => entry.startsWith('functions/api/');
const BASELINE_WIDTH = 'dynamodb (+ first invoke)  '.length;
let functions = 0;
let overBudget = 0;
console.log(
  `\ncold start: median of ${RUNS} run${RUNS === 1 ? '' : 's'}, each in a fresh process (bundle budget ${BUDGET_KIB} KiB)`,
);
console.log(
  `${'function'.padEnd(40)} ${'bundle'.padStart(10)} ${'cold start'.padStart(11)}  ${'ratio'.padStart(6)}  ${'baseline'.padEnd(BASELINE_WIDTH)}${'cpu time'.padStart(11)}  ratio`,
);
for (const [name, { label }] of Object.entries(BARE) as [Baseline, (typeof BARE)[Baseline]][]) {
  const dir = join(OUT, `bare-${name}`);
  // Loaded only: their first invoke would call AWS, so the API functions' ratios include an invoke these lack.
  const { wall, cpu } = medians(Array.from({ length: RUNS }, () => coldStartOnce(dir, {})));
  console.log(
    `${label.padEnd(40)} ${`${size(dir).toFixed(0)} KiB`.padStart(10)} ${`${wall.toFixed(0)} ms`.padStart(11)}  ${'1.00x'.padStart(6)}  ${''.padEnd(BASELINE_WIDTH)}cpu ${`${cpu.toFixed(0)} ms`.padStart(7)}  1.00x`,
  );
}
for (const fn of template.lambdaFunctions().filter((f) => f.entry.includes(ONLY))) {
  const asset = raw.Resources[fn.logicalId]?.Metadata?.['aws:asset:path'] as string;
  const dir = join(OUT, 'cdk.out', asset);
  const baseline = baselineOf(fn.entry);
  // Each run of the function follows a run of its bare handler, and the ratio is that of the medians of
  // these interleaved runs: load on the machine that changes during the benchmark weighs on both alike.
  const own: ColdStart[] = [];
  const bare: ColdStart[] = [];
  for (let i = 0; i < RUNS; i++) {
    bare.push(coldStartOnce(join(OUT, `bare-${baseline}`), {}));
    own.push(
      coldStartOnce(
        dir,
        fn.environment,
        isApi(fn.entry) ? refusedFor(fn.entry) : undefined,
        fn.entry.replace(/\.ts$/, '').replaceAll('/', '-'),
      ),
    );
  }
  const fnTime = medians(own);
  const bareTime = medians(bare);
  const kib = size(dir);
  const ratio = fnTime.wall / bareTime.wall;
  const cpuRatio = fnTime.cpu / bareTime.cpu;
  functions++;
  if (kib > BUDGET_KIB) overBudget++;
  console.log(
    `${fn.entry.padEnd(40)} ${`${kib.toFixed(0)} KiB`.padStart(10)} ${`${fnTime.wall.toFixed(0)} ms`.padStart(11)}  ${formatRatio(ratio).padStart(6)}  ${`${baseline}${isApi(fn.entry) ? ' (+ first invoke)' : ''}`.padEnd(BASELINE_WIDTH)}cpu ${`${fnTime.cpu.toFixed(0)} ms`.padStart(7)} ${formatRatio(cpuRatio).padStart(6)}${kib > BUDGET_KIB ? `  OVER ${BUDGET_KIB} KiB` : ''}`,
  );
}
console.log(
  `\nratio = cold start / that of the bare handler with the same SDK client, run alternately with it (wall clock, then CPU time of the process: steadier on a busy machine); ${functions} functions, ${overBudget} over ${BUDGET_KIB} KiB.`,
);
