import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LocalCommand } from '#infra/local/cli/command.ts';
import { runCli } from '#infra/local/cli/program.ts';

interface Run {
  code: number;
  request: Record<string, unknown> | undefined;
  err: string;
}

/** Runs the program with a recording executor: nothing starts, the parsed request is captured. */
async function cli(...argv: string[]): Promise<Run> {
  const run: Run = { code: -1, request: undefined, err: '' };
  run.code = await runCli(argv, {
    execute: async (_command: LocalCommand<unknown>, request: unknown) => {
      run.request = request as Record<string, unknown>;
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

describe('npm start -- evaluate', () => {
  it('asks for the pairwise win rate with --pairwise, next to --prompt and --baseline', async () => {
    const run = await cli(
      'evaluate',
      'golden.jsonl',
      '--prompt',
      'rag-answer:2',
      '--baseline',
      'rag-answer:1',
      '--pairwise',
    );
    expect(run.code, run.err).toBe(0);
    expect(run.request).toMatchObject({
      suite: resolve('golden.jsonl'),
      prompt: 'rag-answer:2',
      baseline: 'rag-answer:1',
      pairwise: true,
    });
    const plain = await cli(
      'evaluate',
      'golden.jsonl',
      '--prompt',
      'rag-answer:2',
      '--baseline',
      'rag-answer:1',
    );
    expect(plain.request).toMatchObject({ pairwise: false });
  });

  it('refuses --pairwise without a baseline to compare with', async () => {
    const run = await cli('evaluate', 'golden.jsonl', '--prompt', 'rag-answer:2', '--pairwise');
    expect(run.code).toBe(2);
    expect(run.err).toContain('--pairwise compares --prompt with --baseline: give --baseline too.');
    expect(run.request).toBeUndefined();
  });
});
