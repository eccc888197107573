import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { LocalTemplate } from '../infra/local/template.ts';

/**
 * Cold-start proxy per function: the bundles `cdk synth` deploys, each loaded in a fresh Node process
 * with its template environment (module load + top-level init: SDK clients, config, schemas), against a
 * bare handler that imports only the S3 client, bundled the same way. The invoke itself is not timed:
 * it would call AWS. Prints bundle size, median init time of 7 runs and the ratio to the bare handler.
 */
const ROOT = join(import.meta.dirname, '..');
const OUT = join(import.meta.dirname, '.out', 'cold-start');
const RUNS = 7;

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

await build({
  entryPoints: [join(import.meta.dirname, 'bare-handler.ts')],
  outfile: join(OUT, 'bare', 'index.mjs'),
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  mainFields: ['module', 'main'],
  banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
  logLevel: 'silent',
});

const templateFile = readdirSync(join(OUT, 'cdk.out')).find((f) => f.endsWith('.template.json')) ?? '';
const raw = JSON.parse(readFileSync(join(OUT, 'cdk.out', templateFile), 'utf8'));
const template = new LocalTemplate(raw, {
  ignoreFunctions: (_id, resource) => resource.Metadata?.['llmops:entry'] === undefined,
});

function initMs(bundleDir: string, env: Record<string, string>): number {
  const bundle = pathToFileURL(join(bundleDir, 'index.mjs')).href;
  const script = `const t = performance.now(); const m = await import(${JSON.stringify(bundle)}); if (typeof m.handler !== 'function') throw new Error('no handler'); console.log(performance.now() - t);`;
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const out = execFileSync(
      process.execPath,
      ['--enable-source-maps', '--input-type=module', '-e', script],
      {
        env: {
          PATH: process.env.PATH ?? '',
          AWS_REGION: 'us-east-1',
          AWS_EC2_METADATA_DISABLED: 'true',
          ...env,
        },
        encoding: 'utf8',
      },
    );
    times.push(Number(out.trim()));
  }
  return times.sort((a, b) => a - b)[Math.floor(RUNS / 2)] ?? Number.NaN;
}

const size = (dir: string) => statSync(join(dir, 'index.mjs')).size / 1024;
const bareDir = join(OUT, 'bare');
const bare = initMs(bareDir, {});
console.log(`\n${'function'.padEnd(36)} ${'bundle'.padStart(10)} ${'init (median)'.padStart(14)}  ratio`);
console.log(
  `${'bare handler (S3 client only)'.padEnd(36)} ${`${size(bareDir).toFixed(0)} KiB`.padStart(10)} ${`${bare.toFixed(0)} ms`.padStart(14)}  1.00x`,
);
for (const fn of template.lambdaFunctions()) {
  const asset = raw.Resources[fn.logicalId]?.Metadata?.['aws:asset:path'] as string;
  const dir = join(OUT, 'cdk.out', asset);
  const ms = initMs(dir, fn.environment);
  console.log(
    `${fn.entry.padEnd(36)} ${`${size(dir).toFixed(0)} KiB`.padStart(10)} ${`${ms.toFixed(0)} ms`.padStart(14)}  ${(ms / bare).toFixed(2)}x`,
  );
}
