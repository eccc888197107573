import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BUNDLED_CORPUS, defaultSharedDir, lambdaGuideCorpus } from '../../bench/corpus.ts';
import { parseBenchOptions } from '../../bench/options.ts';
import { expectSuccess, positiveNumbers, runSmoke } from './support.ts';

const scratch = mkdtempSync(join(tmpdir(), 'bench-corpus-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the corpus of the RAG benchmarks', () => {
  it('is the shared guide when the shared folder has it', () => {
    const shared = join(scratch, 'shared');
    const docs = join(shared, 'corpus', 'aws-lambda-developer-guide', 'doc_source');
    mkdirSync(docs, { recursive: true });
    for (const name of ['b.md', 'a.md', 'notes.txt']) writeFileSync(join(docs, name), '# Title\n\nText.\n');

    const corpus = lambdaGuideCorpus({ sharedDir: shared });

    expect(corpus.origin).toBe('shared');
    expect(corpus.files).toEqual([join(docs, 'a.md'), join(docs, 'b.md')]);
    expect(lambdaGuideCorpus({ sharedDir: shared, limit: 1 }).files).toEqual([join(docs, 'a.md')]);
  });

  it('falls back to the bundled excerpt when the shared folder is absent', () => {
    const corpus = lambdaGuideCorpus({ sharedDir: join(scratch, 'missing') });

    expect(corpus.origin).toBe('bundled');
    expect(corpus.dir).toBe(BUNDLED_CORPUS);
    expect(corpus.files.length).toBeGreaterThan(10);
    expect(corpus.files.every((file) => file.startsWith(BUNDLED_CORPUS) && file.endsWith('.md'))).toBe(true);
  });

  it('reads the shared folder from BENCH_SHARED_DIR', () => {
    expect(defaultSharedDir({ BENCH_SHARED_DIR: '/elsewhere' })).toBe('/elsewhere');
    expect(defaultSharedDir({})).toMatch(/shared$/);
  });

  it('is what the chunking benchmark uses in a clean clone without ../shared', async () => {
    const out = expectSuccess(await runSmoke('chunking.ts', { BENCH_SHARED_DIR: join(scratch, 'missing') }));
    expect(out).toContain(`corpus: bundled excerpt (no shared corpus) at ${BUNDLED_CORPUS}`);
    positiveNumbers(out, /^ratio chunkDocument \/ LangChain .*: (\d+(?:\.\d+)?)x/);
  });
});

describe('benchmark options', () => {
  it('turn smoke mode on with --smoke or BENCH_SMOKE, the same in every benchmark', () => {
    expect(parseBenchOptions([], {})).toEqual({ smoke: false });
    expect(parseBenchOptions(['--smoke'], {})).toEqual({ smoke: true });
    expect(parseBenchOptions([], { BENCH_SMOKE: '1' })).toEqual({ smoke: true });
    expect(parseBenchOptions([], { BENCH_SMOKE: 'true' })).toEqual({ smoke: true });
    expect(parseBenchOptions([], { BENCH_SMOKE: '0' })).toEqual({ smoke: false });
  });
});
