// The training script reads the curated files exactly as DataPrep writes them: the two fine-tuning
// samples go through the data-preparation core (ProcessPart, then Finalize's merge, with the dev
// profile's settings), the curated train/validation files are written as SageMaker input channels, and
// the script's own loader reads them in a fresh Python process.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { planRanges } from '#core/dataprep/lines.ts';
import { mergeParts } from '#core/dataprep/merge.ts';
import { type LineSink, processPart } from '#core/dataprep/part.ts';
import type { Purpose } from '#core/dataprep/records.ts';
import { DEV } from '#infra/config/profiles.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const trainDir = join(root, 'functions', 'finetune', 'train');
const samples = join(root, 'infra', 'local', 'samples');
const work = mkdtempSync(join(tmpdir(), 'llmops-dataprep-contract-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

class MemorySink implements LineSink {
  readonly lines: string[] = [];
  writeLine(line: string): void {
    this.lines.push(line);
  }
}

async function* chunksOf(bytes: Buffer, from: number, to: number): AsyncGenerator<Uint8Array> {
  const size = 64 * 1024;
  for (let i = from; i < to; i += size) yield bytes.subarray(i, Math.min(to, i + size));
}

/** The sample through ProcessPart and Finalize's merge; the curated lines by output name. */
async function curate(file: string, purpose: Purpose) {
  const bytes = readFileSync(join(samples, file));
  const options = DEV.dataPrep;
  const staged = [];
  for (const part of planRanges(bytes.length, {
    partSize: options.partSizeBytes,
    maxParts: options.maxParts,
  })) {
    const staging = new MemorySink();
    const quarantine = new MemorySink();
    const stats = await processPart(
      chunksOf(bytes, Math.max(0, part.start - 1), bytes.length),
      { purpose, maxRecordBytes: options.maxRecordBytes, start: part.start, end: part.end },
      { staging, quarantine: () => quarantine },
    );
    staged.push({ stats, staging, quarantine });
  }
  const outputs = new Map<string, MemorySink>();
  const merged = await mergeParts(
    staged.map(({ stats, staging, quarantine }) => ({
      staging: async function* () {
        yield* staging.lines;
      },
      quarantine: async function* () {
        yield* quarantine.lines;
      },
      lines: stats.lines,
      records: stats.good,
    })),
    {
      purpose,
      validationRatio: options.validationRatio,
      nearDuplicateThreshold: options.nearDuplicateThreshold,
    },
    (name) => {
      const sink = new MemorySink();
      outputs.set(name, sink);
      return sink;
    },
  );
  const lines = (name: string) => outputs.get(name)?.lines ?? [];
  return { merged, train: lines('train'), validation: lines('validation'), quarantine: lines('quarantine') };
}

/** Writes the curated files as the training job's `train` and `validation` channels. */
function channels(name: string, train: readonly string[], validation: readonly string[]) {
  const dirs = { train: join(work, name, 'train'), validation: join(work, name, 'validation') };
  // Finalize's writer ends every record with a newline.
  const body = (lines: readonly string[]) => lines.map((line) => `${line}\n`).join('');
  mkdirSync(dirs.train, { recursive: true });
  mkdirSync(dirs.validation, { recursive: true });
  writeFileSync(join(dirs.train, 'train.jsonl'), body(train));
  writeFileSync(join(dirs.validation, 'validation.jsonl'), body(validation));
  return dirs;
}

interface Loaded {
  format: string;
  train: Record<string, unknown>[];
  validation: Record<string, unknown>[];
}

const LOAD = [
  'import json, sys',
  'sys.path.insert(0, sys.argv[1])',
  'from llmops_train.data import load_training_data',
  'data = load_training_data(sys.argv[2], sys.argv[3], sys.argv[4])',
  'print(json.dumps({"format": data.format, "train": data.train, "validation": data.validation}))',
].join('\n');

/** `load_training_data(recipe, train, validation)` of the training script, in a fresh Python process. */
function load(recipe: string, dirs: { train: string; validation: string }): Loaded {
  const result = spawnSync('python3', ['-c', LOAD, trainDir, recipe, dirs.train, dirs.validation], {
    cwd: root,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONIOENCODING: 'utf-8' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
  return JSON.parse(result.stdout) as Loaded;
}

const parsed = (lines: readonly string[]) => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

describe('DataPrep output through the training script’s loader', () => {
  it('reads the curated finetune sample (chat and completion records) as conversational, every record of both splits', async () => {
    const curated = await curate('support-chats.jsonl', 'finetune');
    // The sample exercises both splits and the quarantine.
    expect(curated.train.length).toBeGreaterThan(0);
    expect(curated.validation.length).toBeGreaterThan(0);
    expect(curated.quarantine.length).toBeGreaterThan(0);
    expect(curated.merged.splits).toEqual({
      train: curated.train.length,
      validation: curated.validation.length,
    });
    const records = [...parsed(curated.train), ...parsed(curated.validation)];
    const completionsOnly = records.every((r) => 'completion' in r);

    const loaded = load(
      DEV.fineTuning.recipes.finetune,
      channels('finetune', curated.train, curated.validation),
    );

    expect(loaded.format).toBe(completionsOnly ? 'prompt-completion' : 'conversational');
    expect(loaded.train).toHaveLength(curated.train.length);
    expect(loaded.validation).toHaveLength(curated.validation.length);
    for (const record of [...loaded.train, ...loaded.validation]) {
      expect(Object.keys(record)).toEqual(['messages']);
      const messages = record.messages as { role: string; content: string }[];
      expect(messages.at(-1)?.role).toBe('assistant');
      expect(messages.some((m) => m.role === 'user')).toBe(true);
    }
    // A chat record reaches the trainer as DataPrep curated it (normalized and redacted).
    const chats = parsed(curated.train).filter((r) => 'messages' in r);
    expect(chats.length).toBeGreaterThan(0);
    expect(loaded.train).toEqual(expect.arrayContaining(chats.map((r) => ({ messages: r.messages }))));
  });

  it('reads the curated preference sample as DPO pairs, the texts as DataPrep curated them', async () => {
    const curated = await curate('helpfulness.jsonl', 'preference');
    expect(curated.train.length).toBeGreaterThan(0);
    expect(curated.validation.length).toBeGreaterThan(0);
    expect(curated.merged.splits).toEqual({
      train: curated.train.length,
      validation: curated.validation.length,
    });

    const loaded = load(
      DEV.fineTuning.recipes.preference,
      channels('preference', curated.train, curated.validation),
    );

    const pair = ({ prompt, chosen, rejected }: Record<string, unknown>) => ({ prompt, chosen, rejected });
    expect(loaded.format).toBe('preference');
    expect(loaded.train).toEqual(parsed(curated.train).map(pair));
    expect(loaded.validation).toEqual(parsed(curated.validation).map(pair));
  });
});
