/**
 * What the house function's bundling puts in a deployment package: the tokenizer's ranks as a data file
 * beside the bundles whose code reads them, and nowhere else.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { O200K_RANK_COUNT, O200K_RANKS_FILE, o200kRanksJson } from '#core/tokenizer/o200k.ts';
import { deploymentOf, loadConfig } from '#infra/config/index.ts';
import { bundledDataCommands, LlmOpsFunction } from '#infra/constructs/llmops-function.ts';
import { cdkJsonContext } from '#infra/stacks/llmops-stack.ts';

const deployment = deploymentOf(loadConfig({}));

describe('LlmOpsFunction bundling', () => {
  let outdir: string;
  const assets = new Map<string, string>();

  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'llmops-bundling-'));
    const app = new App({ outdir, context: { ...cdkJsonContext(), 'aws:cdk:enable-asset-metadata': true } });
    const stack = new Stack(app, 'Bundling');
    const previous = process.env.CDK_VALIDATION;
    process.env.CDK_VALIDATION = 'false';
    try {
      for (const entry of ['functions/rag/chunk.ts', 'functions/api/models.ts']) {
        new LlmOpsFunction(stack, entry.replace(/\W/g, ''), {
          config: deployment,
          entry,
          description: entry,
        });
      }
      const assembly = app.synth();
      const template = assembly.getStackByName(stack.stackName).template as {
        Resources: Record<string, { Metadata?: Record<string, string> }>;
      };
      for (const { Metadata } of Object.values(template.Resources)) {
        const entry = Metadata?.['llmops:entry'];
        if (entry) assets.set(entry, Metadata?.['aws:asset:path'] ?? 'missing');
      }
    } finally {
      if (previous === undefined) delete process.env.CDK_VALIDATION;
      else process.env.CDK_VALIDATION = previous;
    }
  }, 120_000);

  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  const assetDir = (entry: string) => join(outdir, assets.get(entry) ?? 'missing');

  it('ships the tokenizer ranks as data beside a bundle that counts tokens, not compiled into it', () => {
    const dir = assetDir('functions/rag/chunk.ts');
    const ranks = join(dir, O200K_RANKS_FILE);
    expect(existsSync(ranks)).toBe(true);
    expect(readFileSync(ranks, 'utf8')).toBe(o200kRanksJson());
    expect(JSON.parse(readFileSync(ranks, 'utf8'))).toHaveLength(O200K_RANK_COUNT);
    const bundle = readFileSync(join(dir, 'index.mjs'), 'utf8');
    // A token of the o200k table: present in gpt-tokenizer's JavaScript ranks, absent from the bundle.
    expect(bundle).not.toContain('彩票平台开户');
    // Its source map maps to the TypeScript sources without carrying their text.
    const map = JSON.parse(readFileSync(join(dir, 'index.mjs.map'), 'utf8'));
    expect(map.sources.some((source: string) => source.endsWith('/functions/rag/chunk.ts'))).toBe(true);
    expect(map.sourcesContent).toBeUndefined();
  });

  it('leaves the ranks out of a bundle that never reads them (an API function)', () => {
    const dir = assetDir('functions/api/models.ts');
    expect(existsSync(join(dir, 'index.mjs'))).toBe(true);
    expect(existsSync(join(dir, O200K_RANKS_FILE))).toBe(false);
  });

  it('refuses to pass the shell a path it cannot quote', () => {
    expect(() => bundledDataCommands('/tmp/a"b')).toThrow(/cannot bundle data into or from/);
    expect(() => bundledDataCommands('/tmp/$HOME')).toThrow(/cannot bundle data into or from/);
  });
});
