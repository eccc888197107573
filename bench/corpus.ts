import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The AWS Lambda Developer Guide corpus of the RAG benchmarks: the full guide under the shared folder
 * (`../shared/corpus/aws-lambda-developer-guide/doc_source`, 377 Markdown files) when it is there, else
 * the excerpt bundled with the repository (`corpus/lambda-guide`), as in a clean clone. BENCH_SHARED_DIR
 * points the shared folder elsewhere.
 */
export interface Corpus {
  readonly origin: 'shared' | 'bundled';
  readonly dir: string;
  /** Absolute paths of the Markdown files, sorted by name. */
  readonly files: readonly string[];
}

const ROOT = join(import.meta.dirname, '..');
export const BUNDLED_CORPUS = join(ROOT, 'corpus', 'lambda-guide');
export const defaultSharedDir = (env: NodeJS.ProcessEnv = process.env) =>
  env.BENCH_SHARED_DIR ?? join(ROOT, '..', 'shared');

export function lambdaGuideCorpus(options: { sharedDir?: string; limit?: number } = {}): Corpus {
  const shared = join(
    options.sharedDir ?? defaultSharedDir(),
    'corpus',
    'aws-lambda-developer-guide',
    'doc_source',
  );
  const [origin, dir] = existsSync(shared)
    ? (['shared', shared] as const)
    : (['bundled', BUNDLED_CORPUS] as const);
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.md'))
    .sort()
    .slice(0, options.limit ?? Number.POSITIVE_INFINITY)
    .map((name) => join(dir, name));
  if (files.length === 0) throw new Error(`no Markdown files in ${dir}`);
  return { origin, dir, files };
}

export const describeCorpus = (corpus: Corpus) =>
  `${corpus.origin === 'shared' ? 'full guide' : 'bundled excerpt (no shared corpus)'} at ${corpus.dir}`;
