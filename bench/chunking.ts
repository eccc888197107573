import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { RecursiveCharacterTextSplitter } from '@langchain/textsplitters';
import { countTokens } from '#core/dataprep/tokens.ts';
import { chunkDocument } from '#core/rag/chunk.ts';
import { describeCorpus, lambdaGuideCorpus } from './corpus.ts';
import { announceSmoke, formatRatio, options, sized } from './options.ts';

/**
 * `npm run bench:rag`: RAG chunking throughput over the Markdown of the AWS Lambda Developer Guide
 * (see ../shared/corpus/aws-lambda-developer-guide/SOURCE.md; the bundled excerpt in corpus/lambda-guide
 * when ../shared is absent), in one process after a warm-up pass: `chunkDocument` at 512 tokens / 64
 * overlap with the exact o200k counter, LangChain's RecursiveCharacterTextSplitter at the same size and
 * overlap in tokens (same counter: the fair comparison), and LangChain's default character splitter at
 * 2048 / 256 characters for reference. BENCH_RAG_SECONDS (default 3): the least time measured for each
 * splitter. `--smoke`: 4 files, 0.05 s each.
 */
const corpus = lambdaGuideCorpus(options.smoke ? { limit: 4 } : {});
const minSeconds = sized('BENCH_RAG_SECONDS', 3, 0.05);
const MAX_TOKENS = 512;
const OVERLAP_TOKENS = 64;

const docs = corpus.files.map((file) => ({ id: basename(file), text: readFileSync(file, 'utf8') }));
const bytes = docs.reduce((sum, d) => sum + Buffer.byteLength(d.text), 0);

interface Result {
  name: string;
  mbps: number;
  chunks: number;
  meanTokens: number;
  maxTokens: number;
}

/** Runs `pass` once to warm up, then repeatedly for at least `minSeconds` (two passes at least). */
async function measure(name: string, pass: () => Promise<string[]> | string[]): Promise<Result> {
  const texts = await pass();
  let passes = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (passes < 2 || elapsed < minSeconds * 1000) {
    await pass();
    passes++;
    elapsed = performance.now() - t0;
  }
  const tokens = texts.map(countTokens);
  return {
    name,
    mbps: (bytes * passes) / 1e6 / (elapsed / 1000),
    chunks: texts.length,
    meanTokens: tokens.reduce((a, b) => a + b, 0) / Math.max(1, tokens.length),
    maxTokens: Math.max(0, ...tokens),
  };
}

const ours = () =>
  docs.flatMap((d) =>
    chunkDocument(
      { id: d.id, text: d.text, format: 'markdown' },
      { maxTokens: MAX_TOKENS, overlapTokens: OVERLAP_TOKENS },
    ).map((c) => c.text),
  );

const langchainTokens = new RecursiveCharacterTextSplitter({
  chunkSize: MAX_TOKENS,
  chunkOverlap: OVERLAP_TOKENS,
  lengthFunction: countTokens,
});
const langchainChars = new RecursiveCharacterTextSplitter({ chunkSize: 2048, chunkOverlap: 256 });
const splitAll = async (splitter: RecursiveCharacterTextSplitter) => {
  const out: string[] = [];
  for (const d of docs) out.push(...(await splitter.splitText(d.text)));
  return out;
};

announceSmoke();
console.log(
  `RAG chunking benchmark: ${docs.length} Markdown files, ${(bytes / 1e6).toFixed(2)} MB (node ${process.version})`,
);
console.log(`  corpus: ${describeCorpus(corpus)}`);
const results = [
  await measure(`chunkDocument ${MAX_TOKENS}/${OVERLAP_TOKENS} tokens`, ours),
  await measure(`LangChain recursive ${MAX_TOKENS}/${OVERLAP_TOKENS} tokens`, () =>
    splitAll(langchainTokens),
  ),
  await measure('LangChain recursive 2048/256 chars', () => splitAll(langchainChars)),
];
for (const r of results) {
  console.log(
    `  ${r.name.padEnd(38)} ${r.mbps.toFixed(2).padStart(7)} MB/s ${String(r.chunks).padStart(6)} chunks  tokens/chunk mean ${r.meanTokens.toFixed(0).padStart(4)} max ${String(r.maxTokens).padStart(5)}`,
  );
}
const [mine, fair] = results;
if (mine !== undefined && fair !== undefined) {
  console.log(
    `\nratio chunkDocument / LangChain (same size and overlap in tokens): ${formatRatio(mine.mbps / fair.mbps)} (target ≥ 1.0)`,
  );
}
