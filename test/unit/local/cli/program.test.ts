import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LocalCommand } from '#infra/local/cli/command.ts';
import { COMMANDS, runCli } from '#infra/local/cli/program.ts';

const dir = mkdtempSync(join(tmpdir(), 'llmops-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number;
  command: string | undefined;
  request: Record<string, unknown> | undefined;
  out: string;
  err: string;
}

/** Runs the program with a recording executor: nothing starts, the parsed request is captured. */
async function cli(...argv: string[]): Promise<Run> {
  const run: Run = { code: -1, command: undefined, request: undefined, out: '', err: '' };
  run.code = await runCli(argv, {
    execute: async (command: LocalCommand<unknown>, request: unknown) => {
      run.command = command.name;
      run.request = request as Record<string, unknown>;
      return 0;
    },
    output: {
      out: (text) => {
        run.out += text;
      },
      err: (text) => {
        run.err += text;
      },
    },
  });
  return run;
}

const stack = (overrides: Record<string, unknown> = {}) => ({
  port: 0,
  apiKey: undefined,
  verbose: false,
  serve: false,
  ...overrides,
});

describe('npm start verbs', () => {
  it('runs the demo without a command, and with demo', async () => {
    for (const argv of [[], ['demo'], ['--json', '--out', 'd'], ['demo', '--json', '--out', 'd']]) {
      const run = await cli(...argv);
      expect(run.code, run.err).toBe(0);
      expect(run.command).toBe('demo');
    }
    expect((await cli('--json', '--out', 'd')).request).toEqual({ out: 'd', json: true, stack: stack() });
  });

  it('parses prepare into the file, purpose, output folder and stack options', async () => {
    const run = await cli(
      'prepare',
      'f.jsonl',
      '--purpose',
      'finetune',
      '--out',
      'd',
      '--json',
      '--port',
      '0',
    );
    expect(run.command).toBe('prepare');
    expect(run.request).toEqual({
      file: resolve('f.jsonl'),
      purpose: 'finetune',
      out: 'd',
      json: true,
      stack: stack(),
    });
  });

  it('parses ask with one question or a question file, over the bundled corpus or a folder', async () => {
    expect((await cli('ask', 'What is Lambda?')).request).toEqual({
      questions: { kind: 'one', question: 'What is Lambda?' },
      ingest: undefined,
      json: false,
      stack: stack(),
    });
    const file = await cli('ask', '--questions', 'q.jsonl', '--ingest', dir, '--json');
    expect(file.request).toEqual({
      questions: { kind: 'file', path: resolve('q.jsonl') },
      ingest: dir,
      json: true,
      stack: stack(),
    });
  });

  it('parses ingest and serve, serve on port 3000 unless told otherwise', async () => {
    expect((await cli('ingest', dir, '--json')).request).toEqual({ dir, json: true, stack: stack() });
    expect((await cli('serve')).request).toEqual({
      out: undefined,
      json: false,
      stack: stack({ port: 3000, serve: true }),
    });
    expect((await cli('serve', '--port', '3001', '--api-key', 'k'.repeat(24))).request).toMatchObject({
      stack: stack({ port: 3001, apiKey: 'k'.repeat(24), serve: true }),
    });
  });
});

describe('npm start with the flags of earlier versions', () => {
  const same = async (old: string[], verbs: string[]) => {
    const before = await cli(...old);
    const after = await cli(...verbs);
    expect(before.code, before.err).toBe(0);
    expect(before.command).toBe(after.command);
    expect(before.request).toEqual(after.request);
    return before;
  };

  it('runs --upload --purpose --out as prepare', async () => {
    const run = await same(
      ['--upload', 'f.jsonl', '--purpose', 'finetune', '--out', 'd'],
      ['prepare', 'f.jsonl', '--purpose', 'finetune', '--out', 'd'],
    );
    expect(run.command).toBe('prepare');
  });

  it('runs --ingest with --questions or --ask as ask', async () => {
    expect(
      (
        await same(
          ['--ingest', dir, '--questions', 'q.jsonl', '--json'],
          ['ask', '--ingest', dir, '--questions', 'q.jsonl', '--json'],
        )
      ).command,
    ).toBe('ask');
    await same(
      ['--ingest', dir, '--ask', 'Why?', '--verbose'],
      ['ask', 'Why?', '--ingest', dir, '--verbose'],
    );
  });

  it('runs --serve --port as serve, and --upload --serve as prepare --serve', async () => {
    expect((await same(['--serve', '--port', '3001'], ['serve', '--port', '3001'])).command).toBe('serve');
    const prepare = await same(
      ['--upload', 'f.jsonl', '--purpose', 'rag', '--serve'],
      ['prepare', 'f.jsonl', '--purpose', 'rag', '--serve'],
    );
    expect(prepare.request).toMatchObject({ stack: stack({ port: 3000, serve: true }) });
  });
});

describe('npm start exit codes', () => {
  it('exits 2 with the reason for bad values, old flags or verbs', async () => {
    const old = await cli('--upload', 'x.jsonl', '--purpose', 'pretraining');
    expect(old.code).toBe(2);
    expect(old.err).toContain(
      '--purpose must be one of finetune, preference, rag, golden (got "pretraining")',
    );
    const verb = await cli('prepare', 'x.jsonl', '--purpose', 'pretraining');
    expect(verb.code).toBe(2);
    expect(verb.err).toContain(
      '--purpose must be one of finetune, preference, rag, golden (got "pretraining")',
    );
    expect((await cli('serve', '--port', '70000')).err).toContain(
      '--port must be a port number from 0 to 65535',
    );
    expect((await cli('ask', '--api-key', 'short', 'q')).err).toContain('--api-key must be 20 to 128');
    expect((await cli('ingest', join(dir, 'missing'))).err).toContain('must name a folder');
    expect((await cli('--ingest', dir)).err).toContain(
      '--ingest takes exactly one of --ask QUESTION or --questions FILE',
    );
  });

  it("maps commander's usage errors to 2, with a pointer to the help", async () => {
    for (const argv of [
      ['--bogus'],
      ['prepare', 'f.jsonl'],
      ['prepare', 'f.jsonl', '--purpose', 'rag', '--nope'],
      ['ask'],
      ['ask', 'q', '--questions', 'q.jsonl'],
      ['nonsense'],
      ['ingest'],
    ]) {
      const run = await cli(...argv);
      expect(run.code, argv.join(' ')).toBe(2);
      expect(run.command).toBeUndefined();
      expect(run.err).toMatch(/^error: /);
      expect(run.err).toContain('(add --help for usage)');
    }
  });

  it('prints help for the program and for each command, and exits 0', async () => {
    const program = await cli('--help');
    expect(program.code).toBe(0);
    const verbs = ['demo', 'prepare', 'ingest', 'ask', 'evaluate', 'drift', 'finetune', 'feedback', 'serve'];
    // Every verb the program has is in this list, so a new one gets its help checked here too.
    expect(COMMANDS.map((c) => c.name).sort()).toEqual([...verbs].sort());
    for (const name of verbs) expect(program.out).toContain(name);
    expect(program.out).toContain('--upload FILE --purpose P');
    for (const name of verbs) {
      const run = await cli(name, '--help');
      expect(run.code, name).toBe(0);
      expect(run.command, name).toBeUndefined();
      expect(run.out).toContain(`Usage: npm start -- ${name}`);
      expect(run.out, name).toContain('Examples:');
    }
    expect((await cli('help', 'ask')).out).toContain('--questions <file>');
  });

  it('exits 1 with the message when the work itself fails', async () => {
    const code = await runCli(['ask', 'q'], {
      execute: async () => {
        throw new Error('the stack did not start');
      },
      output: { out: () => undefined, err: (text) => expect(text).toBe('Error: the stack did not start\n') },
    });
    expect(code).toBe(1);
  });
});
