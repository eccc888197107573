/**
 * What the house function's bundling puts in a deployment package: the tokenizer's ranks as a data file
 * and the PDF parser as a module of its own, beside the bundles whose code reads them, and nowhere else.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPdfParser, PDF_PARSER_FILE } from '#core/rag/parse/pdf.ts';
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
      for (const entry of ['functions/rag/chunk.ts', 'functions/rag/plan.ts', 'functions/api/models.ts']) {
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

  it('ships the PDF parser as a module beside a bundle that parses PDFs, imported on the first PDF', async () => {
    const dir = assetDir('functions/rag/plan.ts');
    expect(existsSync(join(dir, PDF_PARSER_FILE))).toBe(true);
    // Text of pdf.js: in the parser's module, not in the bundle that loads it.
    expect(readFileSync(join(dir, PDF_PARSER_FILE), 'utf8')).toContain('Invalid PDF structure');
    expect(readFileSync(join(dir, 'index.mjs'), 'utf8')).not.toContain('Invalid PDF structure');
    const pdf = await PDFDocument.create();
    const font = await pdf.embedFont(StandardFonts.Helvetica);
    pdf.addPage([300, 300]).drawText('Parsed beside the bundle', { x: 20, y: 200, font, size: 12 });
    const parser = await loadPdfParser(pathToFileURL(join(dir, 'index.mjs')).href);
    const document = await parser.getDocumentProxy(new Uint8Array(await pdf.save()));
    expect((await parser.extractText(document, { mergePages: true })).text).toBe('Parsed beside the bundle');
    await document.loadingTask.destroy();
  });

  it('leaves the ranks and the PDF parser out of a bundle that never reads them (an API function)', () => {
    const dir = assetDir('functions/api/models.ts');
    expect(existsSync(join(dir, 'index.mjs'))).toBe(true);
    expect(existsSync(join(dir, O200K_RANKS_FILE))).toBe(false);
    expect(existsSync(join(dir, PDF_PARSER_FILE))).toBe(false);
  });

  it('refuses to pass the shell a path it cannot quote', () => {
    expect(() => bundledDataCommands('/tmp/a"b')).toThrow(/cannot bundle data into or from/);
    expect(() => bundledDataCommands('/tmp/$HOME')).toThrow(/cannot bundle data into or from/);
  });
});
