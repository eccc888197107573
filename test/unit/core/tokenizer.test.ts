import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import libraryRanks from 'gpt-tokenizer/bpeRanks/o200k_base';
import { countTokens as libraryCount } from 'gpt-tokenizer/encoding/o200k_base';
import { afterAll, describe, expect, it } from 'vitest';
import {
  countTokens,
  O200K_RANK_COUNT,
  O200K_RANKS_FILE,
  o200kRanksJson,
  o200kTiktokenPath,
  parseTiktokenRanks,
  readO200kRanks,
  TokenizerDataError,
} from '#core/tokenizer/o200k.ts';

const AS_TEXT = { disallowedSpecial: new Set<string>() };
const SPECIAL = [
  '<|endoftext|>',
  '<|fim_prefix|>',
  '<|fim_middle|>',
  '<|fim_suffix|>',
  '<|im_start|>',
  '<|im_end|>',
  '<|im_sep|>',
  '<|endofprompt|>',
];

/** Text that stresses the pre-tokenizer and the merges: scripts, marks, emoji, special tokens, runs. */
const pieces = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom(
    ...SPECIAL,
    '\uFEFF',
    '\uFEFFusing',
    "don't",
    "WE'LL",
    '  \n\n\t ',
    '\r\n',
    '12345678',
    'Привет, мир',
    'こんにちは世界',
    '👩‍👩‍👧‍👦',
    'e\u0301',
    '\u{10FFFF}',
    '\uD800',
  ),
  fc
    .tuple(fc.constantFrom('a', ' ', '\n', '7', '.', 'é', '中', '🙂', '<|'), fc.integer({ min: 1, max: 300 }))
    .map(([c, n]) => c.repeat(n)),
);
const texts = fc.array(pieces, { maxLength: 8 }).map((parts) => parts.join(''));

describe('the o200k_base tokenizer read as data', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('reads the same ranks from the tiktoken data as gpt-tokenizer compiles from JavaScript', () => {
    const ranks = parseTiktokenRanks(readFileSync(o200kTiktokenPath(), 'latin1'));
    expect(ranks).toHaveLength(O200K_RANK_COUNT);
    expect(ranks).toEqual(libraryRanks);
  });

  it('counts exactly as gpt-tokenizer on arbitrary text, special-token text and long runs (property)', () => {
    fc.assert(
      fc.property(texts, (text) => {
        expect(countTokens(text)).toBe(libraryCount(text, AS_TEXT));
      }),
      { numRuns: 2000 },
    );
    for (const text of ['', 'hello world', SPECIAL.join(' '), 'x'.repeat(5000), ' '.repeat(4097)]) {
      expect(countTokens(text)).toBe(libraryCount(text, AS_TEXT));
    }
  });

  it('passes gpt-tokenizer options on: refused special tokens throw, allowed ones count as one', () => {
    expect(() => countTokens('a <|endoftext|>', {})).toThrow(/Disallowed special token/);
    expect(countTokens('a <|endoftext|>', { allowedSpecial: new Set(['<|endoftext|>']) })).toBe(
      libraryCount('a <|endoftext|>', { allowedSpecial: new Set(['<|endoftext|>']) }),
    );
  });

  it('reads the ranks file beside a bundle before the installed data', () => {
    const dir = mkdtempSync(join(tmpdir(), 'o200k-'));
    dirs.push(dir);
    const json = o200kRanksJson();
    writeFileSync(join(dir, O200K_RANKS_FILE), json);
    const bundle = pathToFileURL(join(dir, 'index.mjs')).href;
    expect(readO200kRanks(bundle)).toEqual(libraryRanks);
    // Without the file there, the installed tiktoken data.
    expect(readO200kRanks(pathToFileURL(join(tmpdir(), 'elsewhere', 'index.mjs')).href)).toHaveLength(
      O200K_RANK_COUNT,
    );
  });

  it('refuses a ranks file that does not hold the o200k_base ranks, naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'o200k-'));
    dirs.push(dir);
    writeFileSync(join(dir, O200K_RANKS_FILE), '["a","b"]');
    const read = () => readO200kRanks(pathToFileURL(join(dir, 'index.mjs')).href);
    expect(read).toThrow(TokenizerDataError);
    expect(read).toThrow(O200K_RANKS_FILE);
  });

  it('refuses tiktoken data whose ranks are not consecutive, naming the line', () => {
    expect(() => parseTiktokenRanks('IQ== 0\nIg== 2\n')).toThrow(/line 2 .*"<base64> 1"/);
    expect(() => parseTiktokenRanks('IQ==\n')).toThrow(TokenizerDataError);
    expect(parseTiktokenRanks('IQ== 0\n/w== 1\n')).toEqual(['!', [255]]);
  });
});
