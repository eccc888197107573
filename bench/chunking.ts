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
 * 2048 / 256 characters for reference. The splitters take turns, a slice of passes each per round, so
 * that a busy machine slows them alike; the ratio is printed for the whole run and per round.
 * BENCH_RAG_SECONDS (default 3): the least time measured for each splitter. `--smoke`: 4 files, 0.05 s each.
 */
const corpus = lambdaGuideCorpus(options.smoke ? { limit: 4 } : {});
const minSeconds = sized('BENCH_RAG_SECONDS', 3, 0.05);
const ROUNDS = 6;
const MAX_TOKENS = 512;
const OVERLAP_TOKENS = 64;
const TARGET_RATIO = 3;

const docs = corpus.files.map((file) => ({ id: basename(file), text: readFileSync(file, 'utf8') }));
const bytes = docs.reduce((sum, d) => sum + Buffer.byteLength(d.text), 0);

interface Splitter {
  readonly name: string;
  readonly pass: () => Promise<string[]> | string[];
}

interface Result {
  name: string;
  mbps: number;
  /** MB/s of each round. */
  rounds: number[];
  chunks: number;
  meanTokens: number;
  maxTokens: number;
}

/**
 * Runs each splitter once to warm up, then in ROUNDS rounds, each splitter in turn for at least
 * `minSeconds / ROUNDS` (one pass at least) per round.
 */
async function measure(splitters: readonly Splitter[]): Promise<Result[]> {
  const outputs: string[][] = [];
  for (const s of splitters) outputs.push(await s.pass());
  const passes = splitters.map(() => 0);
  const elapsed = splitters.map(() => 0);
  const rounds: number[][] = splitters.map(() => []);
  const slice = (minSeconds * 1000) / ROUNDS;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, s] of splitters.entries()) {
      let roundPasses = 0;
      const t0 = performance.now();
      let roundElapsed = 0;
      while (roundPasses < 1 || roundElapsed < slice) {
        await s.pass();
        roundPasses++;
        roundElapsed = performance.now() - t0;
      }
      passes[i] = (passes[i] ?? 0) + roundPasses;
      elapsed[i] = (elapsed[i] ?? 0) + roundElapsed;
      rounds[i]?.push((bytes * roundPasses) / 1e6 / (roundElapsed / 1000));
    }
  }
  return splitters.map((s, i) => {
    const tokens = (outputs[i] ?? []).map(countTokens);
    return {
      name: s.name,
      mbps: (bytes * (passes[i] ?? 0)) / 1e6 / ((elapsed[i] ?? 1) / 1000),
      rounds: rounds[i] ?? [],
      chunks: tokens.length,
      meanTokens: tokens.reduce((a, b) => a + b, 0) / Math.max(1, tokens.length),
      maxTokens: Math.max(0, ...tokens),
    };
  });
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
const results = await measure([
  { name: `chunkDocument ${MAX_TOKENS}/${OVERLAP_TOKENS} tokens`, pass: ours },
  {
    name: `LangChain recursive ${MAX_TOKENS}/${OVERLAP_TOKENS} tokens`,
    pass: () => splitAll(langchainTokens),
  },
  { name: 'LangChain recursive 2048/256 chars', pass: () => splitAll(langchainChars) },
]);
for (const r of results) {
  console.log(
    `  ${r.name.padEnd(38)} ${r.mbps.toFixed(2).padStart(7)} MB/s ${String(r.chunks).padStart(6)} chunks  tokens/chunk mean ${r.meanTokens.toFixed(0).padStart(4)} max ${String(r.maxTokens).padStart(5)}`,
  );
}
const [mine, fair] = results;
if (mine !== undefined && fair !== undefined) {
  const perRound = mine.rounds.map((mbps, i) => mbps / (fair.rounds[i] ?? Number.NaN)).sort((a, b) => a - b);
  const range = `${formatRatio(perRound[0] ?? Number.NaN)} to ${formatRatio(perRound[perRound.length - 1] ?? Number.NaN)}`;
  console.log(
    `\nratio chunkDocument / LangChain (same size and overlap in tokens): ${formatRatio(mine.mbps / fair.mbps)} (per round ${range}; target ≥ ${TARGET_RATIO.toFixed(1)})`,
  );
}
