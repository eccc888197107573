import { describe, expect, it } from 'vitest';
import { UsageError } from '#infra/local/cli/command.ts';
import { legacyCommandLine } from '#infra/local/cli/legacy-flags.ts';

describe('legacyCommandLine', () => {
  it('leaves a command line without old-only flags to the demo', () => {
    expect(legacyCommandLine({})).toBeUndefined();
    expect(legacyCommandLine({ json: true, verbose: true, port: '0', out: 'd' })).toBeUndefined();
  });

  it('rewrites --upload FILE --purpose P [--out DIR] into prepare', () => {
    expect(legacyCommandLine({ upload: 'f.jsonl', purpose: 'finetune', out: 'd' })).toEqual([
      'prepare',
      '--purpose',
      'finetune',
      '--out',
      'd',
      '--',
      'f.jsonl',
    ]);
    expect(
      legacyCommandLine({ upload: '-odd.jsonl', purpose: 'rag', json: true, serve: true, port: '3001' }),
    ).toEqual(['prepare', '--purpose', 'rag', '--json', '--port', '3001', '--serve', '--', '-odd.jsonl']);
  });

  it('rewrites --ingest DIR with --ask or --questions into ask, the question after --', () => {
    expect(legacyCommandLine({ ingest: 'docs', questions: 'q.jsonl', json: true })).toEqual([
      'ask',
      '--ingest',
      'docs',
      '--questions',
      'q.jsonl',
      '--json',
    ]);
    expect(legacyCommandLine({ ingest: 'docs', ask: '--what?', apiKey: 'k'.repeat(20) })).toEqual([
      'ask',
      '--ingest',
      'docs',
      '--api-key',
      'k'.repeat(20),
      '--',
      '--what?',
    ]);
  });

  it('keeps what --serve and --out did with --ingest: the port moves, nothing is served or written', () => {
    expect(legacyCommandLine({ ingest: 'docs', ask: 'q', serve: true, out: 'd' })).toEqual([
      'ask',
      '--ingest',
      'docs',
      '--port',
      '3000',
      '--',
      'q',
    ]);
  });

  it('rewrites --serve into serve, with the demo options', () => {
    expect(legacyCommandLine({ serve: true, port: '3001', out: 'd', verbose: true })).toEqual([
      'serve',
      '--out',
      'd',
      '--verbose',
      '--port',
      '3001',
    ]);
  });

  it('refuses the combinations the old flags refused, with their messages', () => {
    const refused = (flags: Parameters<typeof legacyCommandLine>[0]) => {
      try {
        legacyCommandLine(flags);
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
        return (error as Error).message;
      }
      return undefined;
    };
    expect(refused({ upload: 'f.jsonl' })).toBe('--upload and --purpose go together.');
    expect(refused({ purpose: 'rag' })).toBe('--upload and --purpose go together.');
    expect(refused({ upload: 'f', purpose: 'rag', ingest: 'd' })).toBe(
      '--ingest and --upload are separate runs.',
    );
    expect(refused({ ask: 'q' })).toBe(
      '--ask and --questions need --ingest DIR (the documents to answer from).',
    );
    expect(refused({ ingest: 'd' })).toBe(
      '--ingest takes exactly one of --ask QUESTION or --questions FILE.',
    );
    expect(refused({ ingest: 'd', ask: 'q', questions: 'f' })).toBe(
      '--ingest takes exactly one of --ask QUESTION or --questions FILE.',
    );
  });
});
