import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LocalCommand } from '#infra/local/cli/command.ts';
import { DriftInputError, readDriftWindow } from '#infra/local/cli/drift.ts';
import { runCli } from '#infra/local/cli/program.ts';

const dir = mkdtempSync(join(tmpdir(), 'llmops-drift-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the program with a recording executor: nothing runs, the parsed request is captured. */
async function cli(...argv: string[]) {
  const run = { code: -1, command: undefined as string | undefined, request: undefined as unknown, err: '' };
  run.code = await runCli(argv, {
    execute: async (command: LocalCommand<unknown>, request: unknown) => {
      run.command = command.name;
      run.request = request;
      return 0;
    },
    output: {
      out: () => {},
      err: (text) => {
        run.err += text;
      },
    },
  });
  return run;
}

function file(name: string, lines: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.join('\n'));
  return path;
}

describe('npm start -- drift', () => {
  it('parses both windows, the output folder, --json and --seed', async () => {
    const run = await cli('drift', '--reference', 'a.jsonl', '--current', 'b.jsonl', '--out', 'o', '--json');
    expect(run.code, run.err).toBe(0);
    expect(run.command).toBe('drift');
    expect(run.request).toEqual({
      reference: resolve('a.jsonl'),
      current: resolve('b.jsonl'),
      out: resolve('o'),
      json: true,
      seed: undefined,
    });
    expect((await cli('drift', '--reference', 'a', '--current', 'b', '--seed', '7')).request).toMatchObject({
      seed: '7',
      out: undefined,
      json: false,
    });
  });

  it('exits 2 without both windows, or with an empty seed', async () => {
    for (const argv of [
      ['drift'],
      ['drift', '--reference', 'a.jsonl'],
      ['drift', '--current', 'b.jsonl'],
      ['drift', '--reference', 'a', '--current', 'b', '--seed', ' '],
    ]) {
      const run = await cli(...argv);
      expect(run.code, argv.join(' ')).toBe(2);
      expect(run.command).toBeUndefined();
    }
  });
});

describe('readDriftWindow', () => {
  it('reads {text}, {embedding} and both, skipping blank lines and other fields, keeping line numbers', () => {
    const path = file('ok.jsonl', [
      '{"text": "How do I raise the memory?", "id": 1}',
      '',
      '{"embedding": [0.1, 0.2]}',
      '{"text": "Both", "embedding": [1, 2]}',
    ]);
    expect(readDriftWindow(path)).toEqual({
      file: path,
      records: [
        { text: 'How do I raise the memory?' },
        { embedding: [0.1, 0.2] },
        { text: 'Both', embedding: [1, 2] },
      ],
      lines: [1, 3, 4],
    });
  });

  it('names the file and line of a bad line', () => {
    const cases: [string[], string][] = [
      [['{"text": "a"}', '{"text": "b"', '{"text": "c"}'], 'line 2: is not valid JSON'],
      [['{"text": "a"}', '[1, 2]'], 'line 2: must be a JSON object'],
      [['{"text": "a"}', '', '{"id": 3}'], 'line 3: has neither "text" nor "embedding"'],
      [['{"text": 5}'], 'line 1: "text" must be a string'],
      [['{"text": "a"}', '{"embedding": [1, "x"]}'], 'line 2: "embedding"[1] must be a finite number'],
      [['{"embedding": []}'], 'line 1: "embedding" must be a non-empty array'],
    ];
    cases.forEach(([lines, message], i) => {
      const path = file(`bad-${i}.jsonl`, lines);
      expect(() => readDriftWindow(path)).toThrow(DriftInputError);
      expect(() => readDriftWindow(path)).toThrow(`${path} ${message}`);
    });
  });

  it('names a file that is missing or holds no record', () => {
    expect(() => readDriftWindow(join(dir, 'missing.jsonl'))).toThrow(
      /missing\.jsonl: cannot read it \(no such file\)/,
    );
    expect(() => readDriftWindow(file('empty.jsonl', ['', '  ']))).toThrow(/empty\.jsonl: holds no record/);
  });
});
