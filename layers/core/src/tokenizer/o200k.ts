/**
 * The o200k_base tokenizer, with its merge ranks read as data on first use.
 *
 * gpt-tokenizer's own `gpt-tokenizer/encoding/o200k_base` module carries its 200k ranks as a 2.4 MB
 * JavaScript array literal, compiled by every function that imports it, at init, whether it counts a
 * token or not (about 250 ms of a cold start). Here the same `GptEncoding` is built from the same ranks,
 * read the first time a count is asked for:
 * - in a Lambda bundle, from {@link O200K_RANKS_FILE} beside the bundle (JSON, written at bundling
 *   time by `LlmOpsFunction` into every bundle that contains this module);
 * - in source runs (tests, the local runner, benchmarks), from the `.tiktoken` file that gpt-tokenizer
 *   ships under `data/`.
 * Counts are those of gpt-tokenizer's `countTokens`; the unit tests compare both on arbitrary text.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { GptEncoding } from 'gpt-tokenizer/GptEncoding';

/** The ranks file a bundle carries beside its `index.mjs`; the name also marks bundles that need it. */
export const O200K_RANKS_FILE = 'o200k_base.ranks.json';

/** Where gpt-tokenizer ships the o200k_base ranks as data (base64 token bytes and rank per line). */
export const O200K_TIKTOKEN = 'gpt-tokenizer/data/o200k_base.tiktoken';

/** Number of mergeable ranks of o200k_base (special tokens excluded). */
export const O200K_RANK_COUNT = 199_998;

/**
 * Merge ranks as gpt-tokenizer's `bpeRanks` modules hold them: index = rank; the token as a string when
 * its bytes are UTF-8 that decodes back to exactly those bytes, else the bytes themselves.
 */
export type BytePairRanks = (string | number[])[];

/** The tokenizer's data is missing or malformed. */
export class TokenizerDataError extends Error {
  override readonly name = 'TokenizerDataError';
}

// Fatal, and stripping a leading byte-order mark as gpt-tokenizer's decoder does: a token that starts
// with one then fails the length check and stays bytes, as in gpt-tokenizer's tables.
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

function rankValue(bytes: Buffer): string | number[] {
  let text: string;
  try {
    text = STRICT_UTF8.decode(bytes);
  } catch {
    return [...bytes];
  }
  return Buffer.byteLength(text, 'utf8') === bytes.length ? text : [...bytes];
}

/** Ranks from the text of a `.tiktoken` file (`<base64 token> <rank>` per line), dense from rank 0. */
export function parseTiktokenRanks(tiktoken: string): BytePairRanks {
  const ranks: BytePairRanks = [];
  let line = 0;
  for (let start = 0; start < tiktoken.length; ) {
    const newline = tiktoken.indexOf('\n', start);
    const end = newline === -1 ? tiktoken.length : newline;
    line++;
    if (end > start) {
      const space = tiktoken.indexOf(' ', start);
      const rank = space > start && space < end ? Number(tiktoken.slice(space + 1, end)) : Number.NaN;
      if (!Number.isInteger(rank) || rank !== ranks.length) {
        throw new TokenizerDataError(
          `line ${line} of the tiktoken ranks: expected "<base64> ${ranks.length}"`,
        );
      }
      ranks.push(rankValue(Buffer.from(tiktoken.slice(start, space), 'base64')));
    }
    start = end + 1;
  }
  return ranks;
}

/** The path of gpt-tokenizer's o200k_base `.tiktoken` file (installed packages only: source runs, bundling). */
export function o200kTiktokenPath(): string {
  try {
    return createRequire(import.meta.url).resolve(O200K_TIKTOKEN);
  } catch (cause) {
    throw new TokenizerDataError(
      `the o200k_base ranks are neither beside this module (${O200K_RANKS_FILE}) nor installed (${O200K_TIKTOKEN})`,
      { cause },
    );
  }
}

/** The ranks file a bundle carries ({@link O200K_RANKS_FILE}): the installed ranks as JSON. */
export function o200kRanksJson(tiktokenPath: string = o200kTiktokenPath()): string {
  return JSON.stringify(checked(parseTiktokenRanks(readFileSync(tiktokenPath, 'latin1')), tiktokenPath));
}

function checked(ranks: unknown, from: string): BytePairRanks {
  if (!Array.isArray(ranks) || ranks.length !== O200K_RANK_COUNT) {
    throw new TokenizerDataError(`${from} does not hold the ${O200K_RANK_COUNT} o200k_base ranks`);
  }
  return ranks as BytePairRanks;
}

/**
 * The o200k_base ranks: from {@link O200K_RANKS_FILE} in the folder of `moduleUrl` (a bundle's), else
 * from the installed gpt-tokenizer data.
 */
export function readO200kRanks(moduleUrl: string = import.meta.url): BytePairRanks {
  const beside = fileURLToPath(new URL(O200K_RANKS_FILE, moduleUrl));
  if (existsSync(beside)) return checked(JSON.parse(readFileSync(beside, 'utf8')), beside);
  const tiktoken = o200kTiktokenPath();
  return checked(parseTiktokenRanks(readFileSync(tiktoken, 'latin1')), tiktoken);
}

/** The options of gpt-tokenizer's `countTokens` (which special tokens are allowed, which refused). */
export type CountOptions = Parameters<GptEncoding['countTokens']>[1];

let encoding: GptEncoding | undefined;

function o200k(): GptEncoding {
  encoding ??= GptEncoding.getEncodingApi('o200k_base', () => readO200kRanks());
  return encoding;
}

// Special-token text such as `<|endoftext|>` is counted as ordinary text instead of throwing.
const AS_TEXT: CountOptions = { disallowedSpecial: new Set<string>() };

/**
 * Number of o200k_base tokens in `text`, exactly as gpt-tokenizer's `countTokens` with the same options;
 * by default special-token strings count as plain text. The ranks are read on the first call.
 */
export function countTokens(text: string, options: CountOptions = AS_TEXT): number {
  return o200k().countTokens(text, options);
}
